# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# The data path and tun's ABI: forwarding, poll, nonblocking reads, queues,
# persistence, permissions.

# forwarder_ping MODE A B [DEVNODE]: two namespaces joined only by two rtun devices and a
# userspace forwarder; ping across.
forwarder_ping() {
    local mode=$1 a=$2 b=$3 node=${4:-/dev/net/rtun} fwd rc rx
    load_rtun || return 1
    rm -f /tmp/fwd.ready
    rtunctl --dev "$node" forward "$a" "$b" --"$mode" --no-pi --ready-file /tmp/fwd.ready &
    fwd=$!
    wait_for_file /tmp/fwd.ready || { kill $fwd; return 1; }
    ip netns add nsa && ip netns add nsb
    ip link set "$a" netns nsa && ip link set "$b" netns nsb
    if [ "$mode" = tap ]; then
        ip -n nsa addr add 10.9.0.1/24 dev "$a"
        ip -n nsb addr add 10.9.0.2/24 dev "$b"
    else
        ip -n nsa addr add 10.9.0.1 peer 10.9.0.2 dev "$a"
        ip -n nsb addr add 10.9.0.2 peer 10.9.0.1 dev "$b"
    fi
    ip -n nsa link set "$a" up && ip -n nsb link set "$b" up
    ip netns exec nsa ping -c 3 -W 2 10.9.0.2 > /tmp/ping.txt 2>&1
    rc=$?
    rx=$(ip netns exec nsb cat /sys/class/net/"$b"/statistics/rx_packets)
    kill $fwd; wait $fwd 2>/dev/null
    ip netns del nsa; ip netns del nsb
    sed -n '/packets transmitted/p' /tmp/ping.txt | sed 's/^/# /'
    [ $rc = 0 ] || { cat /tmp/ping.txt; fail "ping failed"; return 1; }
    [ "$rx" -ge 3 ] || { fail "$b rx_packets $rx < 3"; return 1; }
}

test_tap_ping_through_forwarder() { forwarder_ping tap rtapa rtapb; }
test_tun_ping_through_forwarder() { forwarder_ping tun rtuna rtunb; }

# The same forwarder and test over the C reference driver: the tool and the
# test speak tun's ABI, not something of rtun's own.
test_same_ping_over_c_tun() {
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun || return 1
    forwarder_ping tap ctapa ctapb /dev/net/tun || return 1
    forwarder_ping tun ctuna ctunb /dev/net/tun
}

# pid_asleep PID: PID is in interruptible sleep (state S).
pid_asleep() { [ "$(awk '{ print $3 }' /proc/"$1"/stat)" = S ]; }

# Deleting a device wakes a reader blocked in read(), which returns 0; the
# unregistration does not wait forever for its reference.
test_delete_device_under_blocked_reader() {
    local pid
    load_rtun || return 1
    rtunctl add rb0 --tap --no-pi >/dev/null || return 1
    rm -f /tmp/blk.ready
    rtunctl recv rb0 --tap --no-pi --no-poll --ready-file /tmp/blk.ready > /tmp/blk.out &
    pid=$!
    wait_for_file /tmp/blk.ready || { kill $pid; return 1; }
    # Wait until the reader sleeps: the only sleep left after the ready file is
    # the blocking read.
    wait_until 15 pid_asleep $pid
    ip link del rb0 || { kill $pid; fail "ip link del"; return 1; }
    wait_until 6 pid_gone $pid
    if kill -0 $pid 2>/dev/null; then kill $pid; fail "the blocked reader was not woken"; return 1; fi
    # tun fails a reader blocked when its device goes away with EFAULT.
    expect_eq "blocked read" "$(cat /tmp/blk.out)" "errno=EFAULT" || return 1
    [ ! -e /sys/class/net/rb0 ] || { fail "rb0 still there"; return 1; }
}

test_nonblocking_read() {
    local out
    load_rtun || return 1
    out=$(rtunctl nonblock-check rtap8 --tap --no-pi)
    expect_eq "nonblocking read" "$out" "read errno=EAGAIN"
}

# poll: writable but not readable while the ring is empty; readable once the
# stack transmits a frame.
test_poll_readiness() {
    local pid
    load_rtun || return 1
    rtunctl add rtap7 --tap --no-pi >/dev/null || return 1
    ip link set rtap7 up
    rm -f /tmp/poll.ready
    rtunctl poll-check rtap7 --tap --no-pi --ready-file /tmp/poll.ready --timeout-ms 3000 > /tmp/poll.txt &
    pid=$!
    wait_for_file /tmp/poll.ready || { kill $pid; return 1; }
    rtunctl inject rtap7 --count 1 >/dev/null
    wait $pid
    rtunctl del rtap7 --tap --no-pi >/dev/null
    sed 's/^/# /' /tmp/poll.txt
    grep -q '^initial revents=POLLOUT$' /tmp/poll.txt || { fail "initial poll: want only POLLOUT"; return 1; }
    grep -q '^after revents=.*POLLIN' /tmp/poll.txt || { fail "no POLLIN after a frame was sent"; return 1; }
    grep -q '^frame len=60$' /tmp/poll.txt || { fail "did not read the 60-byte frame"; return 1; }
}

test_multi_queue_attach_detach() {
    local out
    load_rtun || return 1
    out=$(rtunctl queue-check rtap6 --tap --multi-queue --no-pi --queues 3)
    echo "$out" | sed 's/^/# /'
    echo "$out" | tr '\n' ' ' | grep -q 'txqueues=3 detach ok txqueues=2 attach ok txqueues=3 mismatch errno=EINVAL' ||
        { fail "unexpected queue sequence"; return 1; }
    [ ! -e /sys/class/net/rtap6 ] || { fail "non-persistent device outlived its queues"; return 1; }
}

test_persist_and_delete() {
    local name out c
    load_rtun || return 1
    name=$(rtunctl add 'rtun%d' --tun --no-pi) || { fail "add"; return 1; }
    diag "created $name"
    [ -e /sys/class/net/"$name" ] || { fail "$name gone after its creator closed"; return 1; }
    out=$(rtunctl getiff "$name" --tun --no-pi)
    expect_eq "getiff" "$(oneline "$out")" "name=$name flags=0x1801 features=0x71f3" || return 1
    # Carrier follows attachment: off with no reader, on while one is attached.
    ip link set "$name" up
    expect_eq "carrier without a reader" "$(cat /sys/class/net/"$name"/carrier)" 0 || return 1
    hold "$name" --tun --no-pi || return 1
    c=$(cat /sys/class/net/"$name"/carrier)
    unhold
    expect_eq "carrier with a reader" "$c" 1 || return 1
    expect_eq "carrier after the reader left" "$(cat /sys/class/net/"$name"/carrier)" 0 || return 1
    rtunctl del "$name" --tun --no-pi >/dev/null || { fail "del"; return 1; }
    [ ! -e /sys/class/net/"$name" ] || { fail "$name still there after del"; return 1; }
}

test_eperm_for_unprivileged_user() {
    local out
    load_rtun || return 1
    out=$(rtunctl --as-uid 65534 add rtap5 --tap)
    expect_eq "create as nobody" "$out" "errno=EPERM" || return 1
    rtunctl add rtap5 --tap >/dev/null || return 1
    out=$(rtunctl --as-uid 65534 send rtap5 --tap --hex "$ETH_FRAME")
    rtunctl del rtap5 --tap >/dev/null
    expect_eq "attach as nobody" "$out" "errno=EPERM"
}

test_owner_may_attach_without_cap() {
    local out other member
    load_rtun || return 1
    rtunctl add rtap4 --tap --owner 1000 >/dev/null || return 1
    rtunctl add rtap3 --tap --group 1000 >/dev/null || return 1
    ip link set rtap4 up
    ip link set rtap3 up
    out=$(rtunctl --as-uid 1000 send rtap4 --tap --hex "$ETH_FRAME" --pad-to 60)
    other=$(rtunctl --as-uid 1001 send rtap4 --tap --hex "$ETH_FRAME" --pad-to 60)
    member=$(rtunctl --as-uid 1001:1000 send rtap3 --tap --hex "$ETH_FRAME" --pad-to 60)
    rtunctl del rtap4 --tap >/dev/null
    rtunctl del rtap3 --tap >/dev/null
    expect_eq "owner writes" "$out" "wrote 64" || return 1
    expect_eq "other user" "$other" "errno=EPERM" || return 1
    expect_eq "group member writes" "$member" "wrote 64"
}

# TAP: a random locally administered MAC, which can be changed.
test_tap_mac_is_random_and_settable() {
    local mac first new
    load_rtun || return 1
    rtunctl add rtap2 --tap >/dev/null || return 1
    mac=$(cat /sys/class/net/rtap2/address)
    diag "random MAC $mac"
    first=$(printf '%d' 0x"${mac%%:*}")
    { [ $((first & 2)) = 2 ] && [ $((first & 1)) = 0 ]; } || { fail "$mac is not a local unicast address"; return 1; }
    ip link set rtap2 address 02:11:22:33:44:55 || { fail "cannot set the MAC"; return 1; }
    new=$(cat /sys/class/net/rtap2/address)
    rtunctl del rtap2 --tap >/dev/null
    expect_eq "new MAC" "$new" "02:11:22:33:44:55"
}

# rmmod is refused while a file is open, and then takes the persistent devices
# with it.
test_rmmod_refused_while_open_then_clean() {
    load_rtun || return 1
    rtunctl add rp0 --tap >/dev/null || return 1
    hold rp1 --tap || return 1
    if rmmod rtun 2>/dev/null; then
        fail "rmmod succeeded with a file open"
        return 1
    fi
    unhold
    [ ! -e /sys/class/net/rp1 ] || { fail "rp1 outlived its only file"; return 1; }
    audit_pause
    rmmod rtun || { audit_resume; fail "rmmod failed with no file open"; return 1; }
    audit_resume
    [ ! -e /sys/class/net/rp0 ] || { fail "persistent rp0 survived rmmod"; return 1; }
    [ ! -e /sys/kernel/debug/rtun ] || { fail "debugfs directory left behind"; return 1; }
    load_rtun
}

test_no_splat_in_dmesg() {
    local s
    s=$(splats)
    [ -z "$s" ] || { echo "$s"; fail "kernel splat during the run"; return 1; }
}
