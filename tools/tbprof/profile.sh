#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where one rtunbench path's instructions go, per frame and per kernel
# function, on tun.ko and on rtun, counted exactly: the benchmark kernel boots
# under TCG with -icount (scripts/guest.sh --icount 3) and tbcount.c's plugin
# counts every translation block executed. Each driver runs the path twice,
# for SHORT and LONG ms (after 300 ms of warm-up); analyze.py subtracts the
# short run from the long one, which cancels the setup and teardown, and
# divides by the frames transmitted in between (ndo_start_xmit entries, or
# write() entries on the write paths).
#
#   tools/tbprof/profile.sh [--rtun-first] [--path P] [--short MS] [--long MS] RTUN_KO OUTDIR
#
# RTUN_KO must be built against the benchmark kernel (scripts/bench.sh does it
# in a scratch copy; or `make KDIR=<bench kernel tree>` in a copy of the tree).
# The runs come in order, so the second driver runs on an older system (its
# per-frame total is a few hundred instructions higher either way, from the
# page allocator and the scheduler): --rtun-first swaps it; compare both.
# Then: tools/tbprof/analyze.py OUTDIR [THRESHOLD]. About a minute.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

first=tun second=rtun path=tso64k_vnet short=1000 long=3000
while [ $# -gt 0 ]; do
    case "$1" in
        --rtun-first) first=rtun second=tun; shift ;;
        --path) path=$2; shift 2 ;;
        --short) short=$2; shift 2 ;;
        --long) long=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# = 2 ] || die "usage: tools/tbprof/profile.sh [--rtun-first] [--path P] [--short MS] [--long MS] RTUN_KO OUTDIR"
ko=$(realpath "$1")
out=$2
mkdir -p "$out"
out=$(realpath "$out")
rm -f "$out"/tb.*

KDIR=$("$RTUN_TOP/scripts/kernel.sh" bench)
gcc -O2 -Wall -shared -fPIC -fvisibility=hidden -o "$out/tbcount.so" "$RTUN_TOP/tools/tbprof/tbcount.c"
# `sync` in the guest marks the phases: tb.1/tb.2 the first driver's short
# and long runs, tb.3/tb.4 the second's.
trigger=$(awk '$3 == "__x64_sys_sync" { print $1 }' "$KDIR/System.map")
[ -n "$trigger" ] || die "no __x64_sys_sync in $KDIR/System.map"
# The modules' symbols for the analysis (the bench kernel has no KASLR).
cmd=". /tests/guest/lib.sh; insmod /modules/tun.ko && load_rtun || exit 1
echo KSYMS-BEGIN; grep -E '\\[(rtun|tun)\\]' /proc/kallsyms; echo KSYMS-END
R() { rtunbench run $path --dev /dev/net/\$1 --name tbprof0 --net 10.1 --warmup-ms 300 --duration-ms \$2; }
sync; R $first $short; sync; R $first $long; sync; R $second $short; sync; R $second $long; sync"
echo "$first $second" > "$out/order"
cp "$KDIR/System.map" "$out/System.map"
KDIR=$KDIR RTUN_KO=$ko RTUN_GUEST_MEM=1024 \
    RTUN_QEMU_EXTRA="-plugin $out/tbcount.so,trigger=$trigger,out=$out/tb" \
    "$RTUN_TOP/scripts/guest.sh" --icount 3 "$cmd" > "$out/log"
log "counts in $out (tb.1-tb.4); tools/tbprof/analyze.py $out"
