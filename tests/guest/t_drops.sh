# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Each drop reason, provoked on purpose: the trace line names the exact reason
# at a location inside rtun, and the device's counters (what ip -s link shows)
# grow by exactly the number of drops provoked.

# new_dev NAME ARGS...: a persistent device, plus its counters before the test:
# rx0 and tx0 are deliberate globals, which expect_counters (and a test or
# two) read.
new_dev() {
    local dev=$1
    shift
    rtunctl add "$dev" "$@" >/dev/null || { fail "cannot create $dev"; return 1; }
    rx0=$(stat "$dev" rx_dropped)
    tx0=$(stat "$dev" tx_dropped)
}

# expect_counters DEV RX TX: rx/tx_dropped grew by RX and TX; `ip -s link` agrees.
expect_counters() {
    local rx tx
    rx=$(( $(stat "$1" rx_dropped) - rx0 ))
    tx=$(( $(stat "$1" tx_dropped) - tx0 ))
    ip -s link show "$1" | sed -n '/RX:/,$p' | sed 's/^/#   /'
    expect_eq "$1 rx_dropped delta" "$rx" "$2" || return 1
    expect_eq "$1 tx_dropped delta" "$tx" "$3"
}

test_drop_dev_ready_write_down() {
    local out
    load_rtun || return 1
    new_dev rd0 --tap --no-pi || return 1
    trace_start
    out=$(rtunctl send rd0 --tap --no-pi --hex "$ETH_FRAME" --pad-to 60 --count 3)
    trace_stop
    expect_eq "errnos" "$(oneline "$out")" "errno=EIO errno=EIO errno=EIO" || return 1
    expect_drops DEV_READY 3 || return 1
    expect_counters rd0 3 0 || return 1
    expect_ethtool rd0 DEV_READY 3 || return 1
    rtunctl del rd0 --tap --no-pi >/dev/null
}

# A persistent device with no reader whose carrier was forced on: xmit has no
# queue to put the frame on.
test_drop_dev_ready_xmit_no_reader() {
    local out
    load_rtun || return 1
    new_dev rd1 --tap --no-pi --multi-queue || return 1
    # tun refuses carrier without a queue; a detached queue keeps the device's
    # carrier on while nothing receives.
    out=$(ip link set rd1 carrier on 2>&1)
    expect_eq "carrier on without a queue" "$out" "RTNETLINK answers: Operation not permitted" || return 1
    hold rd1 --tap --no-pi --multi-queue --detach || return 1
    ip link set rd1 up
    trace_start
    out=$(rtunctl inject rd1 --count 2)
    trace_stop
    unhold
    expect_eq "inject" "$out" "sent 2" || return 1
    expect_drops DEV_READY 2 || return 1
    expect_counters rd1 0 2 || return 1
    expect_ethtool rd1 DEV_READY 2 || return 1
    rtunctl del rd1 --tap --no-pi --multi-queue >/dev/null
}

# A reader that does not read, with a 4-frame ring: 10 frames, 6 dropped.
test_drop_full_ring() {
    local out pid
    load_rtun || return 1
    new_dev rd2 --tap --no-pi || return 1
    ip link set rd2 txqueuelen 4
    rm -f /tmp/hold.ready
    rtunctl attach rd2 --tap --no-pi --ready-file /tmp/hold.ready &
    pid=$!
    wait_for_file /tmp/hold.ready || { kill $pid; return 1; }
    ip link set rd2 up
    trace_start
    out=$(rtunctl inject rd2 --count 10)
    expect_eq "inject" "$out" "sent 10" || { kill $pid; return 1; }
    expect_drops FULL_RING 6 || { kill $pid; return 1; }
    expect_counters rd2 0 6 || { kill $pid; return 1; }
    # Closing the reader purges the 4 frames it never read.
    kill $pid; wait $pid 2>/dev/null
    trace_stop
    expect_drops QUEUE_PURGE 4 || return 1
    expect_counters rd2 0 10 || return 1
    expect_ethtool rd2 FULL_RING 6 || return 1
    expect_ethtool rd2 QUEUE_PURGE 4 || return 1
    rtunctl del rd2 --tap --no-pi >/dev/null
}

# Frames shorter than the header they must carry: a 10-byte TAP frame, and a
# TUN frame that claims IPv4 in 12 bytes.
test_drop_hdr_trunc() {
    local out
    load_rtun || return 1
    new_dev rd3 --tap --no-pi || return 1
    ip link set rd3 up
    trace_start
    out=$(rtunctl send rd3 --tap --no-pi --hex 00112233445566778899)
    trace_stop
    expect_eq "short tap write" "$out" "errno=EINVAL" || return 1
    expect_drops HDR_TRUNC 1 || return 1
    expect_counters rd3 1 0 || return 1
    expect_ethtool rd3 HDR_TRUNC 1 || return 1
    rtunctl del rd3 --tap --no-pi >/dev/null

    new_dev rd4 --tun --no-pi || return 1
    ip link set rd4 up
    trace_start
    # tun accepts a short IP packet (the stack drops it); only a frame with no
    # byte to read the IP version from is refused.
    out=$(rtunctl send rd4 --tun --no-pi --hex 4500)
    expect_eq "short tun write" "$out" "wrote 2" || return 1
    out=$(rtunctl send rd4 --tun --no-pi --hex "")
    trace_stop
    expect_eq "empty tun write" "$out" "errno=EINVAL" || return 1
    expect_drops HDR_TRUNC 1 || return 1
    expect_counters rd4 1 0 || return 1
    expect_ethtool rd4 HDR_TRUNC 1 || return 1
    rtunctl del rd4 --tun --no-pi >/dev/null
}

test_drop_skb_ucopy_fault() {
    local out
    load_rtun || return 1
    new_dev rd5 --tap --no-pi || return 1
    ip link set rd5 up
    trace_start
    out=$(rtunctl send rd5 --tap --no-pi --bad-buffer --pad-to 100)
    trace_stop
    expect_eq "bad buffer" "$out" "errno=EFAULT" || return 1
    expect_drops SKB_UCOPY_FAULT 1 || return 1
    expect_counters rd5 1 0 || return 1
    expect_ethtool rd5 SKB_UCOPY_FAULT 1 || return 1
    rtunctl del rd5 --tap --no-pi >/dev/null
}

# IFF_NAPI_FRAGS frames are laid out after the write's segments, as tun does:
# one past the first larger than a page cannot be a page fragment (DEV_HDR,
# EINVAL, rx_dropped; tun frees it unnamed). A split Ethernet header is pulled
# into the linear part and the frame goes through.
test_drop_napi_frags_segment() {
    local out
    load_rtun || return 1
    new_dev rd9 --tap --no-pi --napi-frags || return 1
    ip link set rd9 up
    trace_start
    out=$(rtunctl send rd9 --tap --no-pi --napi-frags --hex "$ETH_FRAME" --pad-to 4200 --segments 14)
    trace_stop
    expect_eq "segment over a page" "$out" "errno=EINVAL" || return 1
    expect_drops DEV_HDR 1 || return 1
    rtun_drops DEV_HDR | grep -q 'location=rtun_file_write' || { fail "DEV_HDR not located in rtun_file_write"; return 1; }
    expect_counters rd9 1 0 || return 1
    expect_ethtool rd9 DEV_HDR 1 || return 1
    # (The stack counts this one in rx_dropped: no protocol takes 0x88b5.)
    out=$(rtunctl send rd9 --tap --no-pi --napi-frags --hex "$ETH_FRAME" --pad-to 3000 --segments 6,8,1000)
    expect_eq "Ethernet header split 6 | 8" "$out" "wrote 3000" || return 1
    rtunctl del rd9 --tap --no-pi --napi-frags >/dev/null
}

# Page allocation for a large frame fails: fail_page_alloc, restricted by its
# stack filter to allocations made from rtun's add_page_frag, fails one.
test_drop_nomem() {
    local out
    load_rtun || return 1
    new_dev rd6 --tap --no-pi || return 1
    ip link set rd6 up
    trace_start
    arm_fault fail_page_alloc 'SkBuff13add_page_frag' || return $?
    out=$(rtunctl send rd6 --tap --no-pi --hex "$ETH_FRAME" --pad-to 8000)
    disarm_fault
    trace_stop
    expect_eq "large write" "$out" "errno=ENOMEM" || return 1
    expect_drops NOMEM 1 || return 1
    expect_counters rd6 1 0 || return 1
    expect_ethtool rd6 NOMEM 1 || return 1
    out=$(rtunctl send rd6 --tap --no-pi --hex "$ETH_FRAME" --pad-to 8000)
    expect_eq "same write without the fault" "$out" "wrote 8000" || return 1
    rtunctl del rd6 --tap --no-pi >/dev/null
}

# json_object JSON KEY: the object KEY (drops, rates) of rtunctl top's
# one-line JSON.
json_object() {
    echo "$1" | sed -n "s/.*\"$2\":\({[^}]*}\).*/\1/p"
}

# top_rates_add_up FILE REASON N: over the refreshes of `rtunctl top --json`
# in FILE, REASON's rate times the seconds it covers adds up to N drops
# (within 0.05: both are printed to 3 decimals).
top_rates_add_up() {
    sed -n "s/.*\"rates\":{[^}]*\"$2\":\([0-9.]*\).*\"interval\":\([0-9.]*\)}$/\1 \2/p" "$1" |
        awk -v n="$3" '{ s += $1 * $2 } END { d = s - n; exit !(d < 0.05 && d > -0.05) }'
}

# rtunctl top reads the per-reason counters through ethtool's ioctl, which
# any user may make, and the packet counts from sysfs: 3 DEV_READY (writes
# while down) and 6 FULL_RING (10 frames to a 4-frame ring nobody reads)
# show exactly, to root and to nobody; then 10 more FULL_RING while it runs
# show as rates, and closing the reader as 4 QUEUE_PURGE.
test_rtunctl_top_once_counts_drops() {
    local out want line pid
    load_rtun || return 1
    new_dev rtop0 --tap --no-pi || return 1
    out=$(rtunctl send rtop0 --tap --no-pi --hex "$ETH_FRAME" --pad-to 60 --count 3)
    expect_eq "writes while down" "$(oneline "$out")" "errno=EIO errno=EIO errno=EIO" || return 1
    ip link set rtop0 txqueuelen 4
    hold rtop0 --tap --no-pi || return 1
    ip link set rtop0 up
    out=$(rtunctl inject rtop0 --count 10)
    expect_eq "inject" "$out" "sent 10" || { unhold; return 1; }
    expect_ethtool rtop0 FULL_RING 6 || { unhold; return 1; }
    expect_ethtool rtop0 DEV_READY 3 || { unhold; return 1; }

    want='{"device":"rtop0","rx_packets":0,"tx_packets":0,"rx_dropped":3,"tx_dropped":6,"drops":{"FULL_RING":6,"DEV_READY":3},"rates":null,"interval":null}'
    out=$(rtunctl top --once --json rtop0)
    diag "top --once --json rtop0: $out"
    expect_eq "top --once --json rtop0" "$out" "$want" || { unhold; return 1; }
    out=$(rtunctl --as-uid 65534 top --once --json rtop0)
    expect_eq "the same as uid 65534" "$out" "$want" || { unhold; return 1; }
    # Every rtun device when none is named: rtop0 among them.
    out=$(rtunctl top --once --json | grep '"device":"rtop0"')
    expect_eq "top --once --json (every device)" "$out" "$want" || { unhold; return 1; }
    out=$(rtunctl top --once rtop0)
    echo "$out" | sed 's/^/#   /'
    line=$(echo "$out" | grep '^  FULL_RING ')
    expect_eq "text line" "$(oneline "$line")" "FULL_RING 6 -" || { unhold; return 1; }
    # Over an interval without drops, every rate is 0.
    out=$(rtunctl top --once --json --interval 0.5 rtop0)
    expect_eq "rates over 0.5 s" "$(json_object "$out" rates)" '{"FULL_RING":0.000,"DEV_READY":0.000}' || { unhold; return 1; }

    # The view running, 3 refreshes 2 s apart: 10 frames more to the full
    # ring after the first. The later refreshes' rates add up to them.
    rm -f /tmp/top.out
    rtunctl top --json --count 3 --interval 2 rtop0 > /tmp/top.out 2>&1 &
    pid=$!
    wait_until 10 [ -s /tmp/top.out ] || { fail "no first refresh"; kill $pid; unhold; return 1; }
    out=$(rtunctl inject rtop0 --count 10)
    expect_eq "inject while top runs" "$out" "sent 10" || { kill $pid; unhold; return 1; }
    wait_until 20 pid_gone $pid || { fail "top --count 3 did not end"; kill $pid; unhold; return 1; }
    sed 's/^/#   /' /tmp/top.out
    expect_eq "refreshes" "$(grep -c '^{"device":"rtop0",' /tmp/top.out)" 3 || { unhold; return 1; }
    expect_eq "last drops" "$(json_object "$(tail -1 /tmp/top.out)" drops)" '{"FULL_RING":16,"DEV_READY":3}' || { unhold; return 1; }
    top_rates_add_up /tmp/top.out FULL_RING 10 || { fail "FULL_RING rates do not add up to 10 drops"; unhold; return 1; }
    top_rates_add_up /tmp/top.out DEV_READY 0 || { fail "DEV_READY rates do not add up to 0 drops"; unhold; return 1; }

    # Closing the reader purges the 4 frames on its ring.
    unhold
    out=$(rtunctl top --once --json rtop0)
    expect_eq "after the reader closed" "$out" '{"device":"rtop0","rx_packets":0,"tx_packets":0,"rx_dropped":3,"tx_dropped":20,"drops":{"FULL_RING":16,"QUEUE_PURGE":4,"DEV_READY":3},"rates":null,"interval":null}' || return 1

    # Bad input: a clear errno, or a usage error (exit 2).
    expect_eq "not an rtun device" "$(rtunctl top --once lo 2>/dev/null)" "errno=EOPNOTSUPP" || return 1
    expect_eq "no such device" "$(rtunctl top --once nosuch0 2>/dev/null)" "errno=ENODEV" || return 1
    rtunctl top --once --interval 0 rtop0 >/dev/null 2>&1
    expect_eq "--interval 0: exit status" "$?" 2 || return 1
    # Not a terminal: no ANSI escapes between refreshes.
    out=$(rtunctl top --count 2 --interval 0.2 rtop0 | grep -c "$(printf '\033')")
    expect_eq "escape sequences on a pipe" "$out" 0 || return 1
    rtunctl del rtop0 --tap --no-pi >/dev/null
}
