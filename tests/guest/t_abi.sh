# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# ABI fidelity: the same call sequence on C tun.ko (/dev/net/tun)
# and on rtun (/dev/net/rtun), in one boot. `rtunabi SCENARIO` prints one
# `step: result` line per call, with nothing device-specific in it, so the two
# outputs must be identical. Each test also checks that tun.ko's output holds
# the expected result of the scenario's key steps (from drivers/net/tun.c), so
# that it cannot pass by both sides failing the same way.

# Loads both drivers; IPv6 autoconfiguration off, so that no device sends
# frames of its own while a scenario counts them.
abi_prepare() {
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun || return 1
    load_rtun || { fail "rtun did not load"; return 1; }
    echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
    echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
    return 0
}

# abi_compare SCENARIO 'KEY LINE'...: runs SCENARIO on both devices. Fails if
# the outputs differ (both are printed, then the differing lines), or if tun.ko's
# output lacks one of the key lines. ABI_DEV=/dev/net/tun compares tun.ko with
# itself: a check of the harness (every test must pass).
abi_compare() {
    local sc=$1 f rc key
    shift
    abi_prepare || return $?
    rtunabi "$sc" --dev /dev/net/tun > /tmp/abi.tun 2> /tmp/abi.tun.err
    rtunabi "$sc" --dev "${ABI_DEV:-/dev/net/rtun}" > /tmp/abi.rtun 2> /tmp/abi.rtun.err
    # Lines for behaviour where rtun differs from tun on purpose (docs/abi.md,
    # "Intended differences in behaviour", says why) are compared apart and
    # only reported.
    if [ -n "${ABI_INTENDED:-}" ]; then
        for f in /tmp/abi.tun /tmp/abi.rtun; do
            grep -E -- "$ABI_INTENDED" $f > $f.intended
            grep -v -E -- "$ABI_INTENDED" $f > $f.cmp
        done
        if ! cmp -s /tmp/abi.tun.intended /tmp/abi.rtun.intended; then
            diag "intended differences (- tun.ko, + rtun; see docs/abi.md):"
            diff -u /tmp/abi.tun.intended /tmp/abi.rtun.intended | grep '^[-+][^-+]' | sed 's/^/#   /'
        fi
    else
        cp /tmp/abi.tun /tmp/abi.tun.cmp
        cp /tmp/abi.rtun /tmp/abi.rtun.cmp
    fi
    rc=0
    for key in "$@"; do
        grep -qxF -- "$key" /tmp/abi.tun || { diag "tun.ko output lacks the expected line '$key'"; rc=1; }
    done
    if ! cmp -s /tmp/abi.tun.cmp /tmp/abi.rtun.cmp; then
        diag "tun.ko (/dev/net/tun):"
        sed 's/^/#   /' /tmp/abi.tun
        diag "rtun (${ABI_DEV:-/dev/net/rtun}):"
        sed 's/^/#   /' /tmp/abi.rtun
        diag "differences (- tun.ko, + rtun):"
        diff -u /tmp/abi.tun.cmp /tmp/abi.rtun.cmp | grep '^[-+][^-+]' | sed 's/^/#   /'
        for f in /tmp/abi.tun.err /tmp/abi.rtun.err; do
            [ -s $f ] && { diag "stderr of ${f#/tmp/abi.}:"; sed 's/^/#   /' $f; }
        done
        fail "rtun's output differs from tun.ko's"
        rc=1
    elif [ $rc = 0 ]; then
        diag "$(wc -l < /tmp/abi.tun.cmp) identical lines"
    fi
    return $rc
}

# C1: a detached queue keeps working as an fd of its device. TUNSETIFF on it
# gives EEXIST, not tun_set_iff's EINVAL: the fd is still bound to its device
# (tfile->tun), which __tun_chr_ioctl checks first.
test_abi_detached_queue_ops() {
    abi_compare detached_queue_ops \
        'detached TUNSETVNETHDRSZ 12: 0' \
        'detached TUNGETIFF: 0 flags=0x1502' \
        'detached nonblocking read: EAGAIN' \
        'detached write 60-byte frame: 60' \
        'detached poll: POLLOUT,POLLWRNORM' \
        'detached TUNSETIFF: EEXIST' \
        'reattach: 0' \
        'reattached TUNGETIFF: 0 flags=0x1102'
}

# C2: re-attaching a detached queue needs no CAP_NET_ADMIN.
test_abi_reattach_unprivileged() {
    abi_compare reattach_unprivileged \
        'child drops privileges (uid 1000): 0' \
        'unprivileged reattach: 0' \
        'unprivileged TUNSETIFF new queue: EPERM'
}

# M1: a second queue does not change the device's feature flags; the first
# attach to a persistent device without queues sets them.
test_abi_second_attacher_flags() {
    abi_compare second_attacher_flags \
        'mq fd1 TUNGETIFF: 0 flags=0x5102' \
        'mq fd2 TUNGETIFF: 0 flags=0x5102' \
        'mq2 fd2 TUNGETIFF: 0 flags=0x1102' \
        'persistent reopened TUNGETIFF: 0 flags=0x1802' \
        'persistent reopened tun_flags: 0x802' \
        'persistent mq reopened TUNGETIFF: 0 flags=0x1902'
}

# M4: a zero-length read returns 0 and consumes nothing.
test_abi_zero_length_read() {
    abi_compare zero_length_read \
        'read 0 bytes, nothing queued: 0' \
        'read 0 bytes: 0' \
        'read: 60' \
        'read 10 bytes of it: 10' \
        'read after the short read: EAGAIN'
}

# M5: a new device's counters start at zero.
test_abi_counters_reset_on_rebind() {
    # rtun counts the frames a closing queue leaves unread (QUEUE_PURGE) in
    # tx_dropped; tun frees them uncounted.
    ABI_INTENDED='^A counters after (close|reattach):' abi_compare counters_reset_on_rebind \
        'same fd TUNSETIFF new device B: 0' \
        'B counters: all zero' \
        'C counters: all zero'
}

# M8: detaching a queue purges its ring.
test_abi_purge_on_detach() {
    abi_compare purge_on_detach \
        'a queue holds the frames: yes' \
        'read after reattach: EAGAIN'
}

# m3: errnos and small ioctls.
test_abi_errnos() {
    abi_compare errnos \
        'TUNGETFEATURES: 0 features=0x71f3' \
        'TUNSETIFF twice on one fd: EEXIST' \
        'TUNSETIFF tun|tap: 0' \
        'tun|tap TUNGETIFF: 0 flags=0x1001' \
        'unattached TUNGETIFF: EBADFD' \
        'TUNGETIFF bytes 18..39: 00000000000000000000000000000000000000000000' \
        'detached TUNSETCARRIER 1 (no queue): EPERM' \
        'ip carrier on, no fd: EPERM' \
        'tun: 1-byte IPv4 write: 1' \
        'tun: version 5 write: EINVAL' \
        'device ifindex: match' \
        'TUNSETLINK while up: EBUSY' \
        'TUNSETLINK none while down: 0' \
        'TUNSETVNETBE 1: EINVAL' \
        'TUNGETDEVNETNS: fd, same netns' \
        'SIOCGSKNS: fd, same netns' \
        'TUNSETSTEERINGEBPF -1: 0' \
        'TUNSETOFFLOAD csum|tso4|udp_tunnel_gso: 0' \
        'TUNSETOFFLOAD unknown bit 0x200: EINVAL' \
        'TUNSETOFFLOAD csum|1<<32: EINVAL' \
        'TUNSETOFFLOAD 1<<63: EINVAL' \
        'single-queue TUNSETQUEUE detach: EINVAL' \
        'blocked read returns: EFAULT'
}

# m5: txqueuelen resizes the rings of attached queues.
test_abi_ring_resize() {
    # As above: frames a smaller ring cannot keep are counted drops in rtun.
    ABI_INTENDED='^tx_dropped' abi_compare ring_resize \
        'readable after txqueuelen 4: 4' \
        'readable after txqueuelen 16: 10'
}

# fdinfo, the sysfs attributes, ethtool -i, TUNGETIFF after TUNSETPERSIST.
test_abi_fdinfo_and_sysfs() {
    abi_compare fdinfo_and_sysfs \
        'fdinfo iff: name' \
        'sysfs tun_flags: 0x5002' \
        'sysfs owner: -1' \
        'sysfs tun_flags after persist: 0x5802' \
        'TUNGETIFF after persist: 0 flags=0x5802' \
        'ethtool -i fields: driver=yes version=yes bus-info=yes'
}

# O_ASYNC: SIGIO when a frame is queued for the reader.
test_abi_fasync() {
    abi_compare fasync \
        'sigio on frame: yes' \
        'sigio after O_ASYNC off: no'
}

# A 32-bit client (tools/compat32/tun32.c, gcc -m32 -static): every ioctl
# goes through compat_ioctl, which passes the argument as a 32-bit value and
# copies a 32-byte compat_ifreq. tun has no compat conversion for the 32-bit
# sock_fprog of TUNATTACHFILTER: its 32-bit number is unknown to tun (EINVAL).
test_abi_compat32() {
    command -v tun32 > /dev/null || { skip "no tun32 in this guest (gcc -m32 unavailable at build time)"; return "$KSFT_SKIP"; }
    abi_compare compat32 \
        'client: 32-bit, sizeof(struct ifreq)=32' \
        'TUNGETFEATURES: 0 features=0x71f3' \
        'TUNSETIFF tap no_pi multi_queue vnet_hdr: 0' \
        'TUNGETIFF flags: 0x5102' \
        'TUNGETIFF bytes 16..31: 02510000000000000000000000000000' \
        'TUNGETIFF bytes 32..47 (past compat_ifreq): untouched' \
        'TUNGETVNETHDRSZ: 0 size=12' \
        'fd2 TUNSETQUEUE detach: 0' \
        'txqueues after detach: 1' \
        'fd2 TUNSETQUEUE attach: 0' \
        'SIOCGIFHWADDR family: 1' \
        'TUNATTACHFILTER 32-bit number, 32-bit sock_fprog: EINVAL' \
        'TUNATTACHFILTER 64-bit number, 32-bit sock_fprog: EINVAL' \
        'TUNATTACHFILTER 64-bit number, 64-bit sock_fprog: 0' \
        'TUNSETTXFILTER ff:ff:ff:ff:ff:ff: 1' \
        'write 60-byte frame: 72' \
        'nonblocking read, nothing queued: EAGAIN' \
        'nonblocking read: 72'
}

# TUNSETSTEERINGEBPF: the program's result picks the queue, modulo the
# number of queues after tun_ebpf_select_queue keeps it in a u16 (0x10000 is
# queue 0).
test_abi_steering() {
    abi_compare steering \
        'TUNSETSTEERINGEBPF non-bpf fd: EINVAL' \
        'TUNSETSTEERINGEBPF closed fd: EBADF' \
        'program returning 1: frames per queue: q0=0 q1=8' \
        'program returning 0: frames per queue: q0=8 q1=0' \
        'TUNSETSTEERINGEBPF -1: 0' \
        'no program: frames read on both queues: 8' \
        '3 queues, program returning 0x5: frames per queue: q0=0 q1=0 q2=8' \
        '3 queues, program returning 0x10000: frames per queue: q0=8 q1=0 q2=0'
}

# IFF_BACKPRESSURE (new in 7.3): a full ring stops the queue, the qdisc holds
# the rest, reads wake the queue; no FULL_RING drops. With txqueuelen 4 tun
# keeps 4 frames on the ring, 1 requeued and 4 in pfifo_fast; the qdisc drops
# the 10th (ENOBUFS to the sender). Without the flag, the ring takes 4 and the
# driver drops 6, which the sender does not see (the qdisc said "sent").
test_abi_backpressure() {
    abi_compare backpressure \
        'plain: qdisc: pfifo_fast' \
        'plain: inject 10 frames through the qdisc: sent=10' \
        'plain: tx_dropped before reading: 6' \
        'plain: readable in total, the queue woken by reads: 4' \
        'backpressure: TUNGETIFF: 0 flags=0x1082' \
        'backpressure: qdisc: pfifo_fast' \
        'backpressure: inject 10 frames through the qdisc: sent=9 ENOBUFS=1' \
        'backpressure: tx_dropped before reading: 0' \
        'backpressure: readable in total, the queue woken by reads: 9' \
        'backpressure: tx_dropped after reading: 0'
}

# IFF_NAPI and IFF_NAPI_FRAGS: tun's checks, GRO delivery, and EBUSY for a
# write on a detached queue, whose NAPI instance is off.
test_abi_napi() {
    abi_compare napi \
        'TUNSETIFF napi_frags without napi: EINVAL' \
        'TUNSETIFF napi_frags on tun: EINVAL' \
        'napi: write on the detached queue: EBUSY' \
        'napi: rx_dropped by that write: 0' \
        'napi: write after reattach: 60' \
        'napi_frags: write on the detached queue: EBUSY' \
        'napi_frags: rx_dropped by that write: 0'
}

# IFF_NAPI_FRAGS as tun lays the frame out (tun_napi_alloc_frags): the first
# segment linear, every later one a page fragment, handed to napi_gro_frags();
# the net:napi_gro_frags_entry tracepoint shows the fragments GRO got, and a
# packet socket the bytes. tun's limits: EINVAL for a later segment empty or
# over a page, EMSGSIZE past MAX_SKB_FRAGS + 1 segments or 65471 bytes (the
# values of x86-64's defaults, which the test kernel has: MAX_SKB_FRAGS 17,
# 4 KiB pages). Whether a queue takes the path is its own TUNSETIFF's choice.
test_abi_napi_frags_layout() {
    abi_compare napi_frags_layout \
        'one segment: writev: 3000' \
        'one segment: read back: 3000 bytes, same' \
        'eth | ip | rest: writev: 3000' \
        'eth | ip | rest: read back: 3000 bytes, same' \
        'eth | ip | rest: GRO saw: len=2986 data_len=2986 nr_frags=2' \
        'eth header split 6 | 8 | rest: read back: 3000 bytes, same' \
        '18 segments: writev: 3000' \
        '19 segments: writev: EMSGSIZE' \
        '19 segments: rx_dropped: 1' \
        'empty middle segment: writev: EINVAL' \
        'empty middle segment: rx_dropped: 1' \
        'segment over a page: writev: EINVAL' \
        'segment over a page: rx_dropped: 1' \
        '65472 bytes: writev: EMSGSIZE' \
        'vnet_hdr: plain header: GRO saw: len=2986 data_len=2986 nr_frags=2' \
        'vnet_hdr: GSO TCPv4 without size: writev 10 | 14 | 40 | rest: EINVAL' \
        'frags, then napi: 19 segments on fd1: EMSGSIZE' \
        'frags, then napi: 19 segments on fd2: 3000' \
        'napi, then frags: 19 segments on fd1: 3000' \
        'napi, then frags: 19 segments on fd2: EMSGSIZE'
}

# skb_record_rx_queue: a frame written on queue N reaches the stack with
# receive queue N recorded (skb->queue_mapping N + 1), on the plain, IFF_NAPI
# and IFF_NAPI_FRAGS paths; a packet socket's classic filter reads it
# (SKF_AD_QUEUE) and returns it as the snap length.
test_abi_rx_queue() {
    abi_compare rx_queue \
        'plain: write 0: recorded: rx-1' \
        'plain: write 1: recorded: rx-0' \
        'plain: write 2: recorded: rx-1' \
        'napi: write 0: recorded: rx-1' \
        'napi: write 1: recorded: rx-0' \
        'napi_frags: write 0: recorded: rx-1' \
        'napi_frags: write 1: recorded: rx-0'
}

# TUNSETSNDBUF: written frames are charged to the queue's socket until freed;
# a write waits (or fails with EAGAIN when non-blocking) while they fill its
# send buffer. Frames stay charged in the ARP proxy queue (a broadcast ARP
# request for an address behind another device's route, proxy_arp and
# forwarding on, proxy_delay of days); removing the TAP's only IPv4 address
# frees them. tun's sk_write_space wakes a waiting writer only after a poll
# found the file not writable; without one, the next frame transmitted to the
# queue (sk_data_ready) wakes it. A signal ends the wait (EINTR, counted in
# rx_dropped); EAGAIN is not counted.
test_abi_sndbuf() {
    abi_compare sndbuf \
        'unattached TUNGETSNDBUF: EBADFD' \
        'mq fd1 TUNGETSNDBUF default: 2147483647' \
        'mq fd1 TUNSETSNDBUF 0: EINVAL' \
        'mq fd2 TUNGETSNDBUF: 4096' \
        'mq fd3 (detached) TUNGETSNDBUF: 2147483647' \
        'mq fd1 TUNGETSNDBUF after fd3'"'"'s: 8192' \
        'mq fd4 (new) TUNGETSNDBUF: 2147483647' \
        'nonblocking write, 2 frames held: EAGAIN' \
        'nonblocking write after: 60' \
        'nonblocking write, 1 frame held: EAGAIN' \
        'rx_dropped grew: no' \
        'blocking write asleep: yes' \
        'blocking write still asleep 500 ms later: yes' \
        'blocked write returns after the transmit: 60' \
        'poll POLLOUT, 1 frame held: none' \
        'blocked write returns: 60' \
        'sigio when writable: yes' \
        'poll POLLOUT after: POLLOUT,POLLWRNORM' \
        'blocked write after SIGUSR1: EINTR' \
        'rx_dropped grew by: 1' \
        'write with the buffer unlimited, 1 frame held: 60'
}

# A queue leaving from the middle of an IFF_BACKPRESSURE device: the queue
# that takes its index gets the frames its stopped transmit queue held, and
# indexes map to tun's queues afterwards (move-the-last, __tun_detach).
test_abi_backpressure_detach_middle() {
    abi_compare backpressure_detach_middle \
        'close: fd2 (index 1) has frames: yes' \
        'close: fd3 reads what the qdisc held: 2' \
        'close: fd3 reads the new frames: 3' \
        'detach: fd2 (index 1) has frames: yes' \
        'detach: fd3 reads what the qdisc held: 2' \
        'detach: fd3 reads the new frames: 3' \
        'reindex: program returning 0: frames on fd1, fd2, fd3: q0=0 q1=0 q2=4' \
        'reindex: program returning 1: frames on fd1, fd2, fd3: q0=0 q1=4 q2=0'
}

# IOCB_NOWAIT (M2): tun's file has FMODE_NOWAIT, and its read and
# write treat IOCB_NOWAIT as O_NONBLOCK. On a blocking fd, preadv2/pwritev2
# with RWF_NOWAIT give EAGAIN where they would wait (a driver without
# FMODE_NOWAIT gets EOPNOTSUPP from the VFS). An io_uring read of an empty
# queue stays pending, waiting for POLLIN in the kernel (no io-wq worker),
# and completes with the frame the kernel then transmits; one of a queued
# frame completes within io_uring_enter.
test_abi_nowait() {
    abi_compare nowait \
        'preadv2 RWF_NOWAIT, nothing queued: EAGAIN' \
        'pwritev2 RWF_NOWAIT 60-byte frame: 60' \
        'preadv2 RWF_NOWAIT: 60' \
        'preadv2 RWF_NOWAIT read: the frame' \
        'preadv2 RWF_NOWAIT again, nothing queued: EAGAIN' \
        'io_uring read 300 ms later: pending' \
        'io-wq workers while it waits: 0' \
        'io_uring read after the transmit: 60' \
        'io_uring read after the transmit, what it read: user_data=1 the frame' \
        'io_uring read completed by io_uring_enter: 60' \
        'io_uring read completed by io_uring_enter, what it read: user_data=2 the frame' \
        'preadv2 RWF_NOWAIT after, nothing queued: EAGAIN' \
        'pwritev2 RWF_NOWAIT, 1 frame held: EAGAIN' \
        'rx_dropped grew: no' \
        'pwritev2 RWF_NOWAIT after: 60'
}
