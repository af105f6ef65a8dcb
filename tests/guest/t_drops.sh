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
