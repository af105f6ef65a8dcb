# SPDX-License-Identifier: GPL-2.0
# KCSAN (issue 14): the last test of the KCSAN slice, which scripts/test.sh
# runs on the KCSAN kernel (kernel/kcsan.config) after a few tests of the suite.
# Sourced by run.sh.

KCSAN_DEBUGFS=/sys/kernel/debug/kcsan

# kcsan_reports: every KCSAN report in dmesg, whole (from its "BUG: KCSAN:"
# line to the closing line of '='), timestamps cut, one empty line after each.
kcsan_reports() {
    dmesg | sed 's/^\[[ 0-9.]*\] //' | awk '
        /^BUG: KCSAN: / { inr = 1 }
        inr { print }
        inr && /^=+$/ { inr = 0; print "" }'
}

# kcsan_counter NAME: one counter of /sys/kernel/debug/kcsan.
kcsan_counter() { sed -n "s/^$1: //p" $KCSAN_DEBUGFS; }

# The detector was on and armed watchpoints during the tests before this one,
# and reported no race, in rtun or anywhere else, since boot. A report that
# names rtun (a frame or a function "[rtun]") is counted apart; the kernel's
# own races fail the test too: the slice is short, and a report nobody reads
# is no report.
test_kcsan_no_reports() {
    [ -e $KCSAN_DEBUGFS ] || { skip "kernel without CONFIG_KCSAN"; return "$KSFT_SKIP"; }
    expect_eq "KCSAN enabled" "$(kcsan_counter enabled)" 1 || return 1
    diag "kcsan: $(grep -E '^[a-z_]+: [0-9-]+$' $KCSAN_DEBUGFS | tr '\n' ' ')"
    # A watchpoint is set up on one access in KCSAN_SKIP_WATCH (4000) per CPU:
    # none means the tests ran nothing instrumented, and checked nothing.
    setup=$(kcsan_counter setup_watchpoints)
    [ "${setup:-0}" -gt 0 ] || { fail "KCSAN set up no watchpoint"; return 1; }
    reports=$(kcsan_reports)
    n=$(echo "$reports" | grep -c '^BUG: KCSAN: ')
    [ "$n" = 0 ] && return 0
    mine=$(echo "$reports" | awk '
        /^BUG: KCSAN: / { blk = "" }
        { blk = blk $0 "\n" }
        /^=+$/ { if (blk ~ /\[rtun\]/) n++ }
        END { print n + 0 }')
    echo "$reports" | grep '^BUG: KCSAN: ' | sort | uniq -c | sed 's/^/# /'
    echo "$reports" | head -n 300 | sed 's/^/# /'
    fail "$n KCSAN report(s) since boot, $mine naming rtun"
}
