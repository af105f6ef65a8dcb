#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# How much of each benchmark path the drivers' own code is: for every
# rtunbench path (or those named), tools/tbprof/profile.sh counts the
# instructions per frame on tun.ko and on rtun, and analyze.py splits off
# the modules' own functions. Writes one line per path to OUT (default
# bench/tbprof-shares.txt) and each path's whole analysis beside it
# (OUT without .txt, then -PATH.txt). Files under bench/ come only from a
# tree without uncommitted changes, as bench.sh's do. About 20 s a path.
#
#   tools/tbprof/shares.sh [--out FILE] [PATH...]
#
# The share bounds what a driver can gain on a path: a driver whose own
# code cost nothing would be faster by that fraction of the frame, no more.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

out=$RTUN_TOP/bench/tbprof-shares.txt
if [ "${1:-}" = --out ]; then
    out=$2
    shift 2
fi
out=$(realpath -m "$out")
case "$out" in
    "$RTUN_TOP/bench/"*)
        if [ -n "$(git -C "$RTUN_TOP" status --porcelain --untracked-files=no -- . ":(exclude)bench" 2>/dev/null)" ]; then
            die "the tree has uncommitted changes: commit them, or write outside bench/ (--out FILE)"
        fi ;;
esac
mkdir -p "$(dirname "$out")"
(cd "$RTUN_TOP" && cargo build --quiet --release -p rtunbench)
paths=("$@")
if [ ${#paths[@]} = 0 ]; then
    mapfile -t paths < <("$RTUN_TOP/target/release/rtunbench" list | awk '{ print $1 }')
fi

KDIR=$("$RTUN_TOP/scripts/kernel.sh" bench)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rtun-tbprof.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
module_for_tree "$KDIR" "$scratch/module"

{
    echo "# tools/tbprof/shares.sh: instructions per frame, bench kernel $(basename "$KDIR"), rtun at $(git -C "$RTUN_TOP" log -1 --format=%h)"
    echo "# instructions per frame (tun, rtun; insn_ratio: rtun/tun, lower is less work); own: the module's own functions (for rtun, its Rust and its C file); share: tun_own / tun"
    printf '%-16s %9s %9s %10s %9s %9s %7s\n' path tun rtun insn_ratio tun_own rtun_own share
} > "$out.new"
for p in "${paths[@]}"; do
    log "profiling $p"
    "$RTUN_TOP/tools/tbprof/profile.sh" --path "$p" "$scratch/module/rtun.ko" "$scratch/$p" 2> "$scratch/$p.log" ||
        { cat "$scratch/$p.log" >&2; die "tbprof failed on $p"; }
    full=${out%.txt}-$p.txt
    python3 "$RTUN_TOP/tools/tbprof/analyze.py" "$scratch/$p" > "$full"
    awk -v p="$p" '
        $1 == "tun" && $3 == "instructions" { t = $2 }
        $1 == "rtun" && $3 == "instructions" { r = $2 }
        $1 == "own" { split($0, a, /[ ,]+/); to = a[4]; ro = a[6] }
        END {
            if (!t || !r) exit 1
            printf "%-16s %9d %9d %10.4f %9d %9d %6.2f%%\n", p, t, r, r / t, to, ro, 100 * to / t
        }' "$full" >> "$out.new" || die "no totals in $full"
done
mv "$out.new" "$out"
cat "$out"
log "wrote $out and ${out%.txt}-PATH.txt"
