#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark: rtun.ko against the C tun.ko, in one boot of the benchmark
# kernel (configs/bench.config: no lockdep, no fault injection), with one client,
# tools/rtunbench, that drives both through the same code.
#
#   scripts/bench.sh [--quick] [--icount SHIFT] [--out FILE] [RTUNBENCH OPTIONS...]
#   scripts/bench.sh --chart-only [CSV...]
#
# Builds (or reuses) the bench kernel, builds rtun.ko against it in a scratch
# copy of the sources (the test build's rtun.ko in the repo is left alone),
# boots it with scripts/guest.sh, loads tun.ko and rtun.ko and runs rtunbench.
# Prints rtunbench's table and `path=... tracepoint=... tun=... rtun=...
# ratio=...` lines, and writes the summary CSV to FILE (default
# bench/results-icount.csv with --icount, bench/results-wall.csv without;
# bench/quick.csv with --quick; only from a tree without uncommitted
# changes, as anything under bench/), the per-run samples beside
# it (*.samples.csv) and the whole log (*.log). Options after --out go to
# rtunbench (`--rounds N`, `--duration-ms MS`, `--paths a,b`, ...; see
# `target/release/rtunbench --help`). --icount SHIFT boots the guest with
# QEMU's instruction counting (scripts/guest.sh --icount): the guest's clock
# then follows the instructions it executes, not the host's load, so the
# numbers repeat to about 1% on a busy machine; the two vCPUs share one host
# thread. It is a benchmark, not a test: the exit status says whether every run
# worked, never anything about the numbers.
#
# After the CSV, it draws the chart beside it (FILE without .csv, plus .svg:
# the rtun/tun ratio of every path, tracepoint off and on, against the 1.00
# line) with tools/rtunchart, a host tool; a chart that fails is logged, and
# leaves the exit status to the runs. --chart-only draws the charts of CSVs
# already written (default: bench/results-wall.csv and
# bench/results-icount.csv) without booting anything; its exit status says
# whether every chart was drawn. Charts under bench/ also come only from a
# tree without uncommitted changes.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# committed_only FILE: dies if FILE is under bench/ and the tree has
# uncommitted changes (bench/ itself aside). Results that are committed
# (bench/*) come only from committed code: a tree with uncommitted changes may
# write only to a scratch file elsewhere.
committed_only() {
    local file=$1
    case "$(cd "$(dirname "$file")" && pwd)/" in
        "$RTUN_TOP/bench/"*)
            if [ -n "$(git -C "$RTUN_TOP" status --porcelain --untracked-files=no -- . ":(exclude)bench" 2>/dev/null)" ]; then
                die "the tree has uncommitted changes: commit them, or write outside bench/ (--out FILE)"
            fi ;;
    esac
}

# draw_chart CSV: draws the chart of the summary CSV beside it (CSV without
# .csv, plus .svg) with tools/rtunchart, built first; fails, saying why, if
# it cannot.
draw_chart() {
    local csv=$1 svg=${1%.csv}.svg
    (cd "$RTUN_TOP" && cargo build --quiet --release -p rtunchart) || { log "cannot build tools/rtunchart"; return 1; }
    "$RTUN_TOP/target/release/rtunchart" "$csv" "$svg" || { log "no chart for $csv"; return 1; }
    log "wrote $svg"
}

out=
quick=0
args=()
gargs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --chart-only)
            if [ -n "$out" ] || [ $quick = 1 ] || [ ${#args[@]} -gt 0 ] || [ ${#gargs[@]} -gt 0 ]; then
                die "--chart-only takes CSV files, no other option"
            fi
            shift
            csvs=("$@")
            [ ${#csvs[@]} -gt 0 ] || csvs=("$RTUN_TOP/bench/results-wall.csv" "$RTUN_TOP/bench/results-icount.csv")
            for f in "${csvs[@]}"; do
                [ -f "$f" ] || die "$f missing"
                committed_only "$f"
            done
            rc=0
            for f in "${csvs[@]}"; do draw_chart "$f" || rc=1; done
            exit "$rc" ;;
        --out) [ $# -ge 2 ] || die "--out needs a file"; out=$2; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        --quick) quick=1; args+=("$1"); shift ;;
        --icount) [ $# -ge 2 ] || die "--icount needs a shift"; gargs+=(--icount "$2"); shift 2 ;;
        -h|--help) awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ -z "$out" ]; then
    if [ $quick = 1 ]; then
        out=$RTUN_TOP/bench/quick.csv
    elif [ ${#gargs[@]} -gt 0 ]; then
        out=$RTUN_TOP/bench/results-icount.csv
    else
        out=$RTUN_TOP/bench/results-wall.csv
    fi
fi
mkdir -p "$(dirname "$out")"
committed_only "$out"
base=${out%.csv}
t_start=$(date +%s)

"$RTUN_TOP/scripts/setup.sh"
KDIR=$("$RTUN_TOP/scripts/kernel.sh" bench)
export KDIR

# rtun.ko for the bench kernel, from a scratch copy of the working tree's sources.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rtun-bench-module.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
module_for_tree "$KDIR" "$scratch"
[ -f "$KDIR/drivers/net/tun.ko" ] || die "$KDIR has no drivers/net/tun.ko"
log "building tools/rtunctl, tools/rtunbench, tools/rtunfuzz and tools/rtunstress (the guest carries them all)"
(cd "$RTUN_TOP" && cargo build --quiet --release -p rtunctl -p rtunabi -p rtunbench -p rtunfuzz -p rtunstress)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
qemu=$(qemu-system-x86_64 --version | head -1 | sed 's/^QEMU emulator version //')
# The driver measured: the last commit that touched the module's sources, and
# whether the working tree changes them.
src=(Kbuild ':(glob)*.rs' ':(glob)*.c' ':(glob)*.h' abstractions driver logic)
rtun_rev=$(git -C "$RTUN_TOP" log -1 --format='%h %s' -- "${src[@]}" 2>/dev/null || echo unknown)
[ -z "$(git -C "$RTUN_TOP" status --porcelain -- "${src[@]}" 2>/dev/null)" ] || rtun_rev="$rtun_rev, with uncommitted changes"
{
    echo "# bench kernel: $(basename "$KDIR") (Linux $(make -s -C "$KDIR" kernelversion 2>/dev/null), configs/bench.config)"
    echo "# rtun sources: $rtun_rev"
    echo "# host: $cpu, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
    if [ ${#gargs[@]} -gt 0 ]; then
        echo "# guest: QEMU $qemu, TCG with -icount shift=${gargs[1]},sleep=off (guest time = instructions x $((1 << gargs[1])) ns; both vCPUs on one host thread), 2 vCPUs, 1 GiB"
    else
        echo "# guest: QEMU $qemu, TCG (multi-threaded: one host thread per vCPU), 2 vCPUs, 1 GiB"
    fi
} | tee "$base.log"

# One run is warm-up + duration, and a second or so of setup under TCG.
timeout=${RTUN_TIMEOUT:-$([ $quick = 1 ] && echo 900 || echo 5400)}
quoted=
[ ${#args[@]} = 0 ] || quoted=$(printf '%q ' "${args[@]}")
cmd=". /tests/guest/lib.sh; insmod /modules/tun.ko && load_rtun && rtunbench $quoted"
set +e
RTUN_KO=$scratch/rtun.ko RTUN_TIMEOUT=$timeout "$RTUN_TOP/scripts/guest.sh" "${gargs[@]}" "$cmd" | tee -a "$base.log"
rc=${PIPESTATUS[0]}
set -e
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; bench.sh took $(( $(date +%s) - t_start )) s" | tee -a "$base.log"

extract() { sed -n "/^$1-BEGIN\$/,/^$1-END\$/p" "$base.log" | sed '1d;$d'; }
if [ -n "$(extract RTUNBENCH-CSV)" ]; then
    extract RTUNBENCH-CSV > "$out"
    extract RTUNBENCH-SAMPLES > "$base.samples.csv"
    log "wrote $out, $base.samples.csv and $base.log"
    # The chart is a picture of the CSV: without it the runs still count.
    draw_chart "$out" || log "the chart failed (above); the CSV is there all the same"
else
    log "no CSV in the guest's output (see $base.log)"
    [ "$rc" != 0 ] || rc=1
fi
[ "$rc" = 0 ] || log "the benchmark reported failed runs or did not finish (exit $rc); see above"
exit "$rc"
