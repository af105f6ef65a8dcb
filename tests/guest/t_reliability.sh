# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Reliability: code that cannot leak, debugfs that follows its
# devices, closing without a grace period per queue, and the debug kernel's
# own detectors (kmemleak) at the end of the suite. Sourced by run.sh.

# The netns inode number that rtun's debugfs names use: `net:[N]` -> N.
netns_inum() { ip netns exec "$1" readlink /proc/self/ns/net | tr -dc 0-9; }

# dir_line DIR: the entries of DIR on one line.
# shellcheck disable=SC2012 # debugfs names of devices: no blank in them
dir_line() { ls "$1" | tr '\n' ' '; }

test_debugfs_follows_renames_and_netns() {
    local D n a b left
    load_rtun || return 1
    D=/sys/kernel/debug/rtun
    ip netns del rtunrel 2>/dev/null
    rtunctl add rtrel0 --tap --no-pi >/dev/null || { fail "add rtrel0"; return 1; }
    [ -f $D/rtrel0 ] || { fail "no $D/rtrel0"; return 1; }
    ip link set rtrel0 name rtrel1 || { fail "rename"; return 1; }
    [ -f $D/rtrel1 ] || { fail "no $D/rtrel1 after the rename"; return 1; }
    [ ! -e $D/rtrel0 ] || { fail "$D/rtrel0 outlived the rename"; return 1; }
    grep -q '^DEV_READY ' $D/rtrel1 || { fail "$D/rtrel1 shows no counters"; return 1; }
    # A move to another namespace: the entry takes the namespace's number,
    # and a device of the same name in this namespace gets its own entry.
    ip netns add rtunrel || { fail "netns add"; return 1; }
    n=$(netns_inum rtunrel)
    ip link set rtrel1 netns rtunrel || { fail "move to rtunrel"; return 1; }
    [ -f "$D/rtrel1@$n" ] || { fail "no $D/rtrel1@$n after the move ($(dir_line "$D"))"; return 1; }
    [ ! -e $D/rtrel1 ] || { fail "$D/rtrel1 outlived the move"; return 1; }
    rtunctl add rtrel1 --tap --no-pi --multi-queue >/dev/null || { fail "add a second rtrel1"; return 1; }
    { [ -f $D/rtrel1 ] && [ -f "$D/rtrel1@$n" ]; } || { fail "the namespaces' entries collide ($(dir_line "$D"))"; return 1; }
    # Counters are the device's own: a drop on one shows on it alone (no
    # reader behind a detached queue: DEV_READY).
    hold rtrel1 --tap --no-pi --multi-queue --detach || { fail "hold rtrel1"; return 1; }
    ip link set rtrel1 up
    rtunctl inject rtrel1 --count 3 >/dev/null 2>&1
    unhold
    a=$(sed -n 's/^DEV_READY //p' $D/rtrel1)
    b=$(sed -n 's/^DEV_READY //p' "$D/rtrel1@$n")
    diag "DEV_READY: rtrel1=$a rtrel1@$n=$b"
    { [ "$a" = 3 ] && [ "$b" = 0 ]; } || { fail "counters not per device: $a, $b"; return 1; }
    ip netns exec rtunrel /usr/sbin/ip link set rtrel1 name rtrel2 || { fail "rename in rtunrel"; return 1; }
    { [ -f "$D/rtrel2@$n" ] && [ ! -e "$D/rtrel1@$n" ]; } || { fail "rename in rtunrel not followed ($(dir_line "$D"))"; return 1; }
    rtunctl del rtrel1 --tap --no-pi --multi-queue >/dev/null
    ip netns del rtunrel
    wait_until 20 [ ! -e "$D/rtrel2@$n" ]
    # shellcheck disable=SC2010 # as dir_line
    left=$(ls "$D" | grep rtrel)
    [ -z "$left" ] || { fail "entries left: $left"; return 1; }
}

# tx_queues DEV: the number of DEV's transmit queues in sysfs (0 once DEV is gone).
tx_queues() {
    local n=0 q
    for q in /sys/class/net/"$1"/queues/tx-*; do [ -e "$q" ] && n=$((n + 1)); done
    echo "$n"
}

# one_tx_queue DEV: DEV is down to one transmit queue.
one_tx_queue() { [ "$(tx_queues "$1")" = 1 ]; }

# 256 queues of one device close without a grace period each: rtun purges
# what came late and shrinks the real queue count after one grace period, in
# the background, for all the closes at once. Checked: the device is deleted
# with its last queue; a persistent device's queue count (64 queues) comes
# down to 1 once they are all closed, as on tun.ko. The times are printed for
# reference only (scripts/bench.sh measures them on the benchmark kernel).
test_close_256_queues() {
    local d r n
    load_rtun || return 1
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    for d in /dev/net/tun /dev/net/rtun; do
        r=$(rtunctl close-many c256 --tap --no-pi --multi-queue --queues 256 --dev $d) || { fail "$d: $r"; return 1; }
        diag "$d, non-persistent: $(oneline "$r")"
        echo "$r" | grep -q 'queues=256 txqueues=256' || { fail "$d: 256 queues not attached"; return 1; }
        echo "$r" | grep -q 'device_gone=true' || { fail "$d: the device outlived its queues"; return 1; }
        rtunctl add p256 --tap --no-pi --multi-queue --dev $d >/dev/null || { fail "$d: add p256"; return 1; }
        r=$(rtunctl close-many p256 --tap --no-pi --multi-queue --queues 64 --dev $d) || { fail "$d: $r"; return 1; }
        diag "$d, persistent: $(oneline "$r")"
        wait_until 40 one_tx_queue p256
        n=$(tx_queues p256)
        [ "$n" = 1 ] || { fail "$d: $n tx queues left after every queue closed"; return 1; }
        rtunctl del p256 --tap --no-pi --multi-queue --dev $d >/dev/null
    done
}

# kmemleak: a scan at the end of the suite finds nothing unreachable that
# rtun allocated, and no unreachable skb (whoever allocated it). Skipped on a
# kernel without kmemleak.
test_kmemleak_clean() {
    local K leaks n mine
    K=/sys/kernel/debug/kmemleak
    [ -e $K ] || { skip "kernel without CONFIG_DEBUG_KMEMLEAK"; return "$KSFT_SKIP"; }
    # Every rtun device and file of the suite is gone by now, while the module
    # stays loaded so that backtraces still name its functions. kmemleak
    # reports only objects older than 5 s, and stale pointers (stacks, CPU
    # caches) can hide one for a scan: wait, then scan three times.
    sleep 6
    for _ in 1 2 3; do echo scan > $K; sleep 1; done
    leaks=$(cat $K)
    n=$(echo "$leaks" | grep -c '^unreferenced object')
    diag "kmemleak: $n unreferenced object(s) in all"
    # Ours: allocated in rtun, or an skb (what rtun holds: a frame it leaked
    # was most likely allocated by its sender, a socket or the stack).
    mine=$(echo "$leaks" | awk -v re='rtun|__alloc_skb|build_skb|napi_alloc_skb|alloc_skb_with_frags' '
        /^unreferenced object/ { if (blk ~ re) { print blk; n++ } blk = "" }
        { blk = blk "\n" $0 }
        END { if (blk ~ re) print blk }')
    if [ -n "$mine" ]; then
        echo "$mine" | sed 's/^/# /' | head -60
        fail "kmemleak reports objects from rtun"
        return 1
    fi
}
