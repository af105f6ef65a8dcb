# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# The drop reasons of filters, virtio-net headers and offloads. Each
# test asserts the trace line's exact reason at a location in rtun, the
# matching ethtool -S counter, and ip -s link's drop counter.

# A TAP reader that asked for one unicast MAC: broadcast frames are dropped,
# the frame to its MAC is delivered.
test_drop_tap_txfilter() {
    load_rtun || return 1
    new_dev rf0 --tap --no-pi || return 1
    hold rf0 --tap --no-pi --txfilter 02:00:00:00:00:0a --read || return 1
    ip link set rf0 up
    trace_start
    rtunctl inject rf0 --count 3 >/dev/null
    rtunctl inject rf0 --hex 02000000000a02000000000188b5 >/dev/null
    wait_frames 1 || { unhold; return 1; }
    trace_stop
    unhold
    expect_drops TAP_TXFILTER 3 || return 1
    expect_ethtool rf0 TAP_TXFILTER 3 || return 1
    expect_counters rf0 0 3 || return 1
    rtunctl del rf0 --tap --no-pi >/dev/null
}

# A classic BPF filter "ret #0" rejects everything.
test_drop_socket_filter() {
    load_rtun || return 1
    new_dev rf1 --tap --no-pi || return 1
    hold rf1 --tap --no-pi --cbpf-ret 0 || return 1
    ip link set rf1 up
    trace_start
    rtunctl inject rf1 --count 2 >/dev/null
    trace_stop
    unhold
    expect_drops SOCKET_FILTER 2 || return 1
    expect_ethtool rf1 SOCKET_FILTER 2 || return 1
    expect_counters rf1 0 2 || return 1
    rtunctl del rf1 --tap --no-pi >/dev/null
}

# An eBPF socket-filter program returning 0 drops; returning 20 trims.
test_drop_tap_filter() {
    load_rtun || return 1
    new_dev rf2 --tap --no-pi || return 1
    hold rf2 --tap --no-pi --ebpf-ret 0 || return 1
    ip link set rf2 up
    trace_start
    rtunctl inject rf2 --count 2 >/dev/null
    trace_stop
    unhold
    expect_drops TAP_FILTER 2 || return 1
    expect_ethtool rf2 TAP_FILTER 2 || return 1
    expect_counters rf2 0 2 || return 1
    hold rf2 --tap --no-pi --ebpf-ret 20 --read || return 1
    rtunctl inject rf2 >/dev/null
    wait_frames 1 || { unhold; return 1; }
    unhold
    grep -q '^frame q=0 len=20 ' /tmp/hold.out || { cat /tmp/hold.out; fail "frame not trimmed to 20 bytes"; return 1; }
    rtunctl del rf2 --tap --no-pi >/dev/null
}

# Trimming to the eBPF program's length fails: the frame is non-linear and
# shared with a packet tap, so the trim must reallocate, and failslab fails it.
test_drop_nomem_trim() {
    local cap ok
    load_rtun || return 1
    new_dev rf3 --tap --no-pi || return 1
    ip link set rf3 mtu 9000
    hold rf3 --tap --no-pi --ebpf-ret 20 --read || return 1
    rtunctl capture rf3 --ready-file /tmp/cap.ready &
    cap=$!
    wait_for_file /tmp/cap.ready || { kill $cap; unhold; return 1; }
    ip link set rf3 up
    trace_start
    arm_fault failslab 'SkBuff4trim' || { kill $cap; unhold; return 1; }
    rtunctl inject rf3 --pad-to 6000 >/dev/null
    disarm_fault
    rtunctl inject rf3 --pad-to 6000 >/dev/null
    wait_frames 1
    ok=$?
    trace_stop
    kill $cap; unhold
    [ $ok = 0 ] || return 1
    expect_drops NOMEM 1 || return 1
    expect_ethtool rf3 NOMEM 1 || return 1
    expect_counters rf3 0 1 || return 1
    grep -q '^frame q=0 len=20 ' /tmp/hold.out || { fail "the frame after the fault was not trimmed"; return 1; }
    rtunctl del rf3 --tap --no-pi >/dev/null
}

# A virtio-net header with an unknown GSO type.
test_drop_dev_hdr() {
    local fe0 out
    load_rtun || return 1
    new_dev rf4 --tap --no-pi --vnet-hdr || return 1
    fe0=$(stat rf4 rx_frame_errors)
    ip link set rf4 up
    trace_start
    out=$(rtunctl send rf4 --tap --no-pi --vnet-hdr --vnet 00ff --hex "$ETH_FRAME" --pad-to 60)
    trace_stop
    expect_eq "write with a bad vnet header" "$out" "errno=EINVAL" || return 1
    expect_drops DEV_HDR 1 || return 1
    expect_ethtool rf4 DEV_HDR 1 || return 1
    # Counted where tun counts it: a frame error, not a drop.
    expect_counters rf4 0 0 || return 1
    expect_eq "rf4 rx_frame_errors delta" "$(( $(stat rf4 rx_frame_errors) - fe0 ))" 1 || return 1
    out=$(rtunctl send rf4 --tap --no-pi --vnet-hdr --hex "$ETH_FRAME" --pad-to 60)
    expect_eq "the same frame with a valid header" "$out" "wrote 70" || return 1
    rtunctl del rf4 --tap --no-pi --vnet-hdr >/dev/null
}

# A CHECKSUM_PARTIAL frame towards a reader without checksum offload: the
# driver fills the checksum in. The frame is shared with a packet tap, so that
# needs memory, and failslab fails it once.
test_drop_skb_csum() {
    local cap ok
    load_rtun || return 1
    new_dev rf5 --tap --no-pi || return 1
    # The reader takes checksum offload (TUN_F_CSUM), so the stack leaves the
    # checksum to the device, but has no virtio-net header to receive it in.
    hold rf5 --tap --no-pi --read --offload 1 || return 1
    rtunctl capture rf5 --ready-file /tmp/cap5.ready &
    cap=$!
    wait_for_file /tmp/cap5.ready || { kill $cap; unhold; return 1; }
    ip link set rf5 up
    trace_start
    arm_fault failslab 'SkBuff13checksum_help' || { kill $cap; unhold; return 1; }
    rtunctl inject rf5 --gso 0 --len 100 >/dev/null
    disarm_fault
    rtunctl inject rf5 --gso 0 --len 100 >/dev/null
    wait_frames 1
    ok=$?
    trace_stop
    kill $cap; unhold
    [ $ok = 0 ] || return 1
    expect_drops SKB_CSUM 1 || return 1
    expect_ethtool rf5 SKB_CSUM 1 || return 1
    expect_counters rf5 0 1 || return 1
    rtunctl del rf5 --tap --no-pi >/dev/null
}

# A TCP GSO frame (4000 bytes, MSS 1000) towards a reader without offloads is
# segmented in software; failslab fails the segmentation once.
test_drop_skb_gso_seg() {
    local ok
    load_rtun || return 1
    new_dev rf6 --tap --no-pi || return 1
    # TSO negotiated without a virtio-net header: the device segments.
    hold rf6 --tap --no-pi --read --offload 3 || return 1
    ip link set rf6 up
    trace_start
    arm_fault failslab 'SkBuff11gso_segment' || { unhold; return 1; }
    rtunctl inject rf6 --gso 1000 --len 4000 >/dev/null
    disarm_fault
    rtunctl inject rf6 --gso 1000 --len 4000 >/dev/null
    wait_frames 4
    ok=$?
    trace_stop
    unhold
    [ $ok = 0 ] || return 1
    expect_drops SKB_GSO_SEG 1 || return 1
    expect_ethtool rf6 SKB_GSO_SEG 1 || return 1
    expect_counters rf6 0 1 || return 1
    grep -q '^frame q=0 len=1054 ' /tmp/hold.out || { cat /tmp/hold.out; fail "segments are not MSS-sized"; return 1; }
    rtunctl del rf6 --tap --no-pi >/dev/null
}

# Segments that do not fit the ring are freed as one list with FULL_RING.
test_drop_full_ring_segments() {
    load_rtun || return 1
    new_dev rf7 --tap --no-pi || return 1
    ip link set rf7 txqueuelen 2
    hold rf7 --tap --no-pi --offload 3 || return 1
    ip link set rf7 up
    trace_start
    rtunctl inject rf7 --gso 1000 --len 4000 >/dev/null
    trace_stop
    expect_drops FULL_RING 2 || { unhold; return 1; }
    expect_ethtool rf7 FULL_RING 2 || { unhold; return 1; }
    expect_counters rf7 0 2 || { unhold; return 1; }
    unhold
    rtunctl del rf7 --tap --no-pi >/dev/null
}

# A reader that negotiated TSO through its virtio-net header gets the GSO frame
# whole, described by the header (gso_type TCPV4 = 1, gso_size 1000).
test_offload_negotiated_reader_gets_gso() {
    load_rtun || return 1
    new_dev rf8 --tap --no-pi --vnet-hdr || return 1
    hold rf8 --tap --no-pi --vnet-hdr --offload 3 --read --hexlen 10 || return 1
    ip link set rf8 up
    rtunctl inject rf8 --gso 1000 --len 4000 >/dev/null
    wait_frames 1 || { unhold; return 1; }
    unhold
    grep -q '^frame q=0 len=4064 hex=0101' /tmp/hold.out || { cat /tmp/hold.out; fail "no whole GSO frame with its header"; return 1; }
    rtunctl del rf8 --tap --no-pi --vnet-hdr >/dev/null
}

# Every drop rtun made during the whole run (recorded by a trace instance of
# its own since the suite began) carries a named reason, none NOT_SPECIFIED.
test_no_unnamed_drops() {
    local I total bad line unreadable
    I=$T/instances/rtun_audit
    [ -d "$I" ] || { fail "the audit trace instance is missing"; return 1; }
    echo 0 > "$I"/tracing_on
    # What tests that cycle modules resolved before (audit_pause), then the rest.
    { cat /tmp/audit.saved 2>/dev/null; grep 'kfree_skb:' "$I"/trace; } > /tmp/audit.txt
    # Symbolic locations ("func+0x../0x.. [rtun]") in one pass; raw addresses
    # (older kernels) through kallsyms, line by line.
    # shellcheck disable=SC2046 # "TOTAL BAD": two words
    set -- $(awk -v known=" $KNOWN_REASONS " '
        / \[rtun\] reason: / { n++; r = $NF; if (index(known, " " r " ") == 0) { bad++; print r > "/tmp/audit.bad"; print > "/tmp/audit.badlines" } }
        END { print n + 0, bad + 0 }' /tmp/audit.txt)
    total=$1
    bad=$2
    # In one pass (a kallsyms lookup per line took hours for thousands of
    # lines): a raw address counts as rtun's if it lies between the first and
    # the last symbol rtun has now. The audit resolves the trace before any
    # module is unloaded (audit_pause), so raw addresses are rare.
    grep 'location=0x' /tmp/audit.txt > /tmp/audit.hex
    : > /tmp/audit.raw
    if [ -s /tmp/audit.hex ]; then
        diag "$(wc -l < /tmp/audit.hex) drops located by a raw address"
        awk 'NR == FNR { if ($4 == "[rtun]") { if (lo == "" || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }; next }
             { a = $0; sub(/.*location=0x/, "", a); sub(/ .*/, "", a)
               if (lo != "" && length(a) == length(lo) && a >= lo && a <= hi) print }' /proc/kallsyms /tmp/audit.hex > /tmp/audit.raw
    fi
    while read -r line; do
        total=$((total + 1))
        case " $KNOWN_REASONS " in *" ${line##* reason: } "*) ;; *) echo "$line"; bad=$((bad + 1)) ;; esac
    done < /tmp/audit.raw
    [ -s /tmp/audit.bad ] && sort /tmp/audit.bad | uniq -c | sed 's/^/# unnamed: /'
    # Where they were dropped, by function.
    [ -s /tmp/audit.badlines ] && sed -n 's/.*location=\([^ ]*\) .*/\1/p' /tmp/audit.badlines | sort | uniq -c | sed 's/^/# unnamed at: /'
    diag "rtun drops recorded over the run: $total"
    [ "$total" -ge 30 ] || { fail "too few rtun drops recorded ($total): the audit saw nothing"; return 1; }
    [ "$bad" = 0 ] || { fail "$bad rtun drops without a named reason"; return 1; }
    # Every location is a readable rtun function (dropwatch truncates mangled
    # Rust symbols to nothing useful).
    sed -n 's/.*location=\([^+ ]*\)+[^ ]* \[rtun\] reason: .*/\1/p' /tmp/audit.txt | sort | uniq -c | sed 's/^/# location: /'
    unreadable=$(sed -n 's/.*location=\([^+ ]*\)+[^ ]* \[rtun\] reason: .*/\1/p' /tmp/audit.txt | grep -vc '^rtun_')
    [ "$unreadable" = 0 ] || { fail "$unreadable rtun drops located in a function without a readable rtun_ name"; return 1; }
}

# Under load (two concurrent senders, a reader, an 8-frame ring), every frame is
# accounted for: read (tx_packets) or dropped with a reason (tx_dropped), and
# tx_dropped is the sum of the per-reason counters.
test_every_frame_accounted_under_load() {
    local a read_n dropped by_reason
    load_rtun || return 1
    new_dev rs0 --tap --no-pi || return 1
    ip link set rs0 txqueuelen 8
    hold rs0 --tap --no-pi --read --hexlen 0 || return 1
    ip link set rs0 up
    # Straight to the driver: a qdisc would drop past its own limit, outside rtun.
    rtunctl inject rs0 --count 1500 --bypass-qdisc >/dev/null &
    a=$!
    rtunctl inject rs0 --count 1500 --bypass-qdisc >/dev/null
    wait $a
    sleep 0.5
    unhold
    read_n=$(stat rs0 tx_packets)
    # shellcheck disable=SC2154 # tx0: new_dev's (t_drops.sh)
    dropped=$(( $(stat rs0 tx_dropped) - tx0 ))
    by_reason=$(ethtool -S rs0 | awk '/: / { s += $2 } END { print s }')
    diag "3000 sent: $read_n read, $dropped dropped ($(ethtool -S rs0 | awk '/: / && $2 > 0 { printf "%s%s", $1, $2 }'))"
    expect_eq "read + dropped" "$((read_n + dropped))" 3000 || return 1
    expect_eq "per-reason sum" "$by_reason" "$dropped" || return 1
    rtunctl del rs0 --tap --no-pi >/dev/null
}

# The device's offloads follow what its reader negotiated (TUNSETOFFLOAD), on
# rtun as on tun.ko: off with none, on after TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6.
# `ethtool -k` must not claim more than the reader takes.
offload_state() {
    ethtool -k "$1" | awk -F': ' '/^tx-checksumming:|^tcp-segmentation-offload:|^	tx-tcp-segmentation:|^	tx-tcp6-segmentation:/ { gsub(/^[ \t]+/, "", $1); sub(/ \[requested on\]/, "", $2); printf "%s=%s ", $1, $2 }'
}

test_offload_features_follow_negotiation() {
    local dev name none tso none_tun none_rtun tso_tun tso_rtun
    load_rtun || return 1
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    for dev in /dev/net/tun /dev/net/rtun; do
        name=$(rtunctl --dev $dev add 'ofl%d' --tap --no-pi --vnet-hdr) || { fail "add on $dev"; return 1; }
        hold "$name" --dev $dev --tap --no-pi --vnet-hdr || return 1
        none=$(offload_state "$name")
        unhold
        hold "$name" --dev $dev --tap --no-pi --vnet-hdr --offload 7 || return 1
        tso=$(offload_state "$name")
        unhold
        rtunctl --dev $dev del "$name" --tap --no-pi --vnet-hdr >/dev/null
        diag "$dev: none: $none"
        diag "$dev: csum|tso4|tso6: $tso"
        eval "none_${dev##*/}='$none'; tso_${dev##*/}='$tso'"
    done
    expect_eq "rtun without offloads" "$none_rtun" "tx-checksumming=off tcp-segmentation-offload=off tx-tcp-segmentation=off tx-tcp6-segmentation=off " || return 1
    expect_eq "rtun with csum|tso4|tso6" "$tso_rtun" "tx-checksumming=on tcp-segmentation-offload=on tx-tcp-segmentation=on tx-tcp6-segmentation=on " || return 1
    expect_eq "rtun as tun.ko, no offloads" "$none_rtun" "$none_tun" || return 1
    expect_eq "rtun as tun.ko, offloads" "$tso_rtun" "$tso_tun"
}
