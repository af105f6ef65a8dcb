#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the benchmark's two modes side by side, as a Markdown table: the
# median rtun/tun ratio of every path and tracepoint state, counted in
# instructions (--icount) and in wall-clock time.
#
#   scripts/bench-table.sh [ICOUNT_CSV [WALL_CSV]]
#
# Defaults: bench/results-icount.csv and bench/results-wall.csv, as written by
# `scripts/bench.sh --icount 3 --rounds 9 --out bench/results-icount.csv` and
# `scripts/bench.sh --rounds 9 --out bench/results-wall.csv`.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

icount=${1:-$RTUN_TOP/bench/results-icount.csv}
wall=${2:-$RTUN_TOP/bench/results-wall.csv}
for f in "$icount" "$wall"; do [ -f "$f" ] || die "$f missing"; done

echo "| path | tracepoint | rtun/tun, instructions (icount) | rtun/tun, wall clock |"
echo "|---|---|--:|--:|"
# Columns: path,tracepoint,rounds,tun_median,...,ratio,paired_ratio.
awk -F, 'NR == FNR { if (FNR > 1) r[$1 "," $2] = $10; next }
    FNR > 1 { k = $1 "," $2; printf "| `%s` | %s | %s | %s |\n", $1, $2, (k in r ? r[k] : "-"), $10 }' \
    "$icount" "$wall"
