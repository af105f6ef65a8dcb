# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# KCSAN: the tests of the KCSAN slice that only make sense on the
# KCSAN kernel (configs/kcsan.config), where scripts/test.sh runs them after a
# few tests of the suite; they skip elsewhere. Sourced by run.sh.

KCSAN_DEBUGFS=/sys/kernel/debug/kcsan
KCSAN_PARAMS=/sys/module/kcsan/parameters

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
# and reported no race, in rtun or anywhere else, since boot (KCSAN_SELFTEST's
# line shows that the log still starts at the boot). A report that
# names rtun (a frame or a function "[rtun]") is counted apart; the kernel's
# own races fail the test too: the slice is short, and a report nobody reads
# is no report. Those that were read and found benign (KCSAN_KNOWN_RE in
# lib.sh, each with its reason) are printed, and do not fail it.
test_kcsan_no_reports() {
    local setup reports n mine known
    [ -e $KCSAN_DEBUGFS ] || { skip "kernel without CONFIG_KCSAN"; return "$KSFT_SKIP"; }
    expect_eq "KCSAN enabled" "$(kcsan_counter enabled)" 1 || return 1
    diag "kcsan: $(grep -E '^[a-z_]+: [0-9-]+$' $KCSAN_DEBUGFS | tr '\n' ' ')"
    # A watchpoint is set up on one access in KCSAN_SKIP_WATCH (4000) per CPU:
    # none means the tests ran nothing instrumented, and checked nothing.
    setup=$(kcsan_counter setup_watchpoints)
    [ "${setup:-0}" -gt 0 ] || { fail "KCSAN set up no watchpoint"; return 1; }
    # The reports are read from the kernel log: it must still hold the boot.
    # (data_races may exceed the reports: a race that changed no value is
    # counted, not reported.)
    dmesg | grep -q 'kcsan: selftest: ' || { fail "the kernel log no longer holds the boot: reports may be lost"; return 1; }
    reports=$(kcsan_reports)
    known=$(echo "$reports" | grep -E "^$KCSAN_KNOWN_RE" | sort | uniq -c)
    if [ -n "$known" ]; then
        echo "$known" | sed 's/^/# known upstream race, benign (lib.sh): /'
    fi
    # Only the others from here on.
    reports=$(echo "$reports" | awk -v re="^$KCSAN_KNOWN_RE" '
        /^BUG: KCSAN: / { skip = ($0 ~ re) }
        !skip { print }')
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

# kh_read_all: the reader has read every frame kh0 transmitted.
kh_read_all() { [ "$(frames_read)" = "$(stat kh0 tx_packets)" ]; }

# KCSAN samples: it watches one access in up to KCSAN_SKIP_WATCH (4000) per
# CPU, for up to KCSAN_UDELAY_TASK (80) us, and reports a race only if the
# other CPU touches the same word in that window. A race in rtun is found only
# where both sides run often and at the same time, which the rest of the slice
# does not do: races injected on purpose into rtun's write and transmit paths
# went unreported there, and were reported by this hammer
# (docs/reliability.md, "KCSAN, the data-race detector"). For a bounded run,
# KCSAN watches one access in up to 100 for up to 400 us (the defaults come
# back after), while both data paths run from both CPUs: two writers on two
# queues of kh1 (write(), rx counters), two injectors through kh0
# (ndo_select_queue, ndo_start_xmit) and one reader polling and reading kh0's
# two queues, and a loop reading the counters of both (ndo_get_stats64,
# ethtool -S, debugfs). Checked here: every write and every injected frame
# went through, every frame read was counted; the races, by kcsan_no_reports.
test_kcsan_hammer() {
    local n skip0 delay0 w0 t0 pids i stats ok p t1 w1 read_n rx tx d
    [ -e $KCSAN_DEBUGFS ] || { skip "kernel without CONFIG_KCSAN"; return "$KSFT_SKIP"; }
    load_rtun || return 1
    n=${KCSAN_HAMMER_FRAMES:-4000}
    skip0=$(cat $KCSAN_PARAMS/skip_watch)
    delay0=$(cat $KCSAN_PARAMS/udelay_task)
    rtunctl add kh0 kh1 --tap --no-pi --multi-queue >/dev/null || { fail "add kh0 kh1"; return 1; }
    if ! hold kh0 --tap --no-pi --multi-queue --queues 2 --read --hexlen 0; then
        fail "no reader on kh0"
        for d in kh0 kh1; do rtunctl del $d --tap --no-pi --multi-queue >/dev/null; done
        return 1
    fi
    ip link set kh0 up
    ip link set kh1 up
    w0=$(kcsan_counter setup_watchpoints)
    t0=$(cut -d' ' -f1 /proc/uptime)
    echo 100 > $KCSAN_PARAMS/skip_watch
    echo 400 > $KCSAN_PARAMS/udelay_task
    pids=
    for i in 1 2; do
        rtunctl send kh1 --tap --no-pi --multi-queue --hex "$ETH_FRAME" --pad-to 60 --count "$n" > /tmp/kh.send$i 2>&1 &
        pids="$pids $!"
        rtunctl inject kh0 --count "$n" > /tmp/kh.inject$i 2>&1 &
        pids="$pids $!"
    done
    touch /tmp/kh.run
    (
        while [ -e /tmp/kh.run ]; do
            for d in kh0 kh1; do
                ip -s link show $d >/dev/null
                ethtool -S $d >/dev/null
                cat /sys/kernel/debug/rtun/$d >/dev/null
            done
        done
    ) &
    stats=$!
    ok=0
    for p in $pids; do wait "$p" || ok=1; done
    rm -f /tmp/kh.run
    wait $stats
    echo "$skip0" > $KCSAN_PARAMS/skip_watch
    echo "$delay0" > $KCSAN_PARAMS/udelay_task
    t1=$(cut -d' ' -f1 /proc/uptime)
    w1=$(kcsan_counter setup_watchpoints)
    # The reader reads what the ring still holds, then sleeps in poll().
    wait_until 20 kh_read_all
    unhold
    read_n=$(frames_read)
    rx=$(stat kh1 rx_packets)
    tx=$(stat kh0 tx_packets)
    diag "$((4 * n)) frames in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; $((w1 - w0)) watchpoints; written to kh1: rx_packets=$rx; injected into kh0: $((2 * n)), read: $read_n, tx_packets=$tx, tx_dropped=$(stat kh0 tx_dropped)"
    [ $ok = 0 ] || { cat /tmp/kh.send* /tmp/kh.inject* | sed 's/^/# /' | tail -8; fail "a writer or an injector failed"; }
    for i in 1 2; do
        grep -qx "sent $n" /tmp/kh.inject$i || { fail "injector $i: $(tail -1 /tmp/kh.inject$i)"; ok=1; }
    done
    expect_eq "kh1 rx_packets (every write)" "$rx" $((2 * n)) || ok=1
    expect_eq "kh0 tx_packets (every frame read)" "$tx" "$read_n" || ok=1
    [ "$read_n" -gt 0 ] || { fail "the reader read nothing"; ok=1; }
    [ $((w1 - w0)) -gt 0 ] || { fail "KCSAN set up no watchpoint during the hammer"; ok=1; }
    for d in kh0 kh1; do rtunctl del $d --tap --no-pi --multi-queue >/dev/null; done
    return $ok
}
