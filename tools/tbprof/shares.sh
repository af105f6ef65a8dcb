#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# How much of each benchmark path the drivers' own code is: for every
# rtunbench path (or those named), tools/tbprof/profile.sh counts the
# instructions per frame on tun.ko and on rtun, and analyze.py splits off
# the modules' own functions; each driver order once, and the mean of the
# two. Writes one line per path to OUT (default bench/tbprof/shares.txt) and
# each run's whole analysis beside it (OUT without .txt, then
# -PATH-tun-first.txt and -PATH-rtun-first.txt). Files under bench/ come only from a
# tree without uncommitted changes, as bench.sh's do. About 26 s a path.
#
#   tools/tbprof/shares.sh [--out FILE] [PATH...]
#
# The share bounds what a driver can gain on a path: a driver whose own
# code cost nothing would be faster by that fraction of the frame, no more.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

out=$RTUN_TOP/bench/tbprof/shares.txt
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
    echo "# instructions per frame, the mean of the two driver orders (tun, rtun; insn_ratio: rtun/tun, lower is less work); own: the module's own functions (for rtun, its Rust and its C file); share: tun_own / tun"
    printf '%-16s %9s %9s %10s %9s %9s %7s\n' path tun rtun insn_ratio tun_own rtun_own share
} > "$out.new"
# totals FILE: "tun rtun tun_own rtun_own" from an analyze.py output.
totals() {
    awk '
        $1 == "tun" && $3 == "instructions" { t = $2 }
        $1 == "rtun" && $3 == "instructions" { r = $2 }
        $1 == "own" { split($0, a, /[ ,]+/); to = a[4]; ro = a[6] }
        END { if (!t || !r) exit 1; print t, r, to, ro }' "$1"
}
for p in "${paths[@]}"; do
    # The driver that runs second meets an older system (the page allocator's
    # and the scheduler's state): each order once, and the mean of the two.
    sums=""
    for order in tun-first rtun-first; do
        log "profiling $p, $order"
        flag=()
        [ $order = rtun-first ] && flag=(--rtun-first)
        "$RTUN_TOP/tools/tbprof/profile.sh" "${flag[@]}" --path "$p" "$scratch/module/rtun.ko" "$scratch/$p-$order" 2> "$scratch/$p.log" ||
            { cat "$scratch/$p.log" >&2; die "tbprof failed on $p ($order)"; }
        full=${out%.txt}-$p-$order.txt
        python3 "$RTUN_TOP/tools/tbprof/analyze.py" "$scratch/$p-$order" > "$full"
        sums="$sums $(totals "$full")" || die "no totals in $full"
    done
    echo "$sums" | awk -v p="$p" '{
        t = ($1 + $5) / 2; r = ($2 + $6) / 2; to = ($3 + $7) / 2; ro = ($4 + $8) / 2
        printf "%-16s %9d %9d %10.4f %9d %9d %6.2f%%\n", p, t, r, r / t, to, ro, 100 * to / t
    }' >> "$out.new"
done
mv "$out.new" "$out"
cat "$out"
log "wrote $out and ${out%.txt}-PATH-*.txt"
