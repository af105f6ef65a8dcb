#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# rust_tun guest test suite: prints KTAP, exits with kselftest codes.
# Runs inside the test guest (scripts/guest.sh), as root.
cd "$(dirname "$0")" || exit 1
. ./lib.sh
. ./t_module.sh
. ./t_datapath.sh
. ./t_drops.sh
. ./t_reasons.sh
. ./t_abi.sh
. ./t_upstream.sh
. ./t_bench.sh
. ./t_qemu.sh
. ./t_dropin.sh
. ./t_reliability.sh
. ./t_lifecycle.sh
. ./t_fuzz.sh
. ./t_stress.sh
. ./t_races.sh
. ./t_kcsan.sh
. ./t_observe.sh

TESTS="
module_load_unload
upstream_tun_selftest
upstream_skf_net_off
drop_traced_in_trace_pipe
observe_bpftrace
observe_dropwatch
observe_perf
tap_ping_through_forwarder
tun_ping_through_forwarder
same_ping_over_c_tun
delete_device_under_blocked_reader
nonblocking_read
poll_readiness
multi_queue_attach_detach
persist_and_delete
eperm_for_unprivileged_user
owner_may_attach_without_cap
tap_mac_is_random_and_settable
drop_dev_ready_write_down
drop_dev_ready_xmit_no_reader
drop_full_ring
drop_hdr_trunc
drop_skb_ucopy_fault
drop_nomem
drop_napi_frags_segment
drop_tap_txfilter
drop_socket_filter
drop_tap_filter
drop_nomem_trim
drop_dev_hdr
drop_skb_csum
drop_skb_gso_seg
drop_full_ring_segments
rtunctl_top_once_counts_drops
every_frame_accounted_under_load
offload_negotiated_reader_gets_gso
offload_features_follow_negotiation
rmmod_refused_while_open_then_clean
abi_detached_queue_ops
abi_reattach_unprivileged
abi_second_attacher_flags
abi_zero_length_read
abi_counters_reset_on_rebind
abi_purge_on_detach
abi_napi
abi_napi_frags_layout
abi_rx_queue
abi_errnos
abi_ring_resize
abi_fdinfo_and_sysfs
abi_fasync
abi_compat32
abi_steering
abi_backpressure
abi_backpressure_detach_middle
race_napi_write_vs_delete
race_napi_frags_write_vs_delete
netpoll_backpressure_xmit
abi_sndbuf
abi_nowait
qemu_multiqueue_vm
dropin_identity_matches_tun
dropin_excludes_tun_ko
dropin_tun_selftest
dropin_qemu_multiqueue_vm
debugfs_follows_renames_and_netns
close_256_queues
lifecycle_insmod_rmmod_cycles
lifecycle_rmmod_refused_while_open
lifecycle_rmmod_right_after_close
lifecycle_netns_delete_blocked_readers
lifecycle_delete_races_blocked_write
fuzz_seeded
stress_seeded
stress_lifecycle
no_unnamed_drops
bench_quick_runs
kmemleak_clean
no_splat_in_dmesg
"
# Arguments, if any, pick tests by name (sh /tests/guest/run.sh drop_full_ring ...).
[ $# -gt 0 ] && TESTS="$*"

# The reasons rtun may report, from skb_reason.rs through rtunctl (built from
# the same tree); anything else fails no_unnamed_drops. Without them every
# drop would count as unnamed: the suite stops before it starts.
KNOWN_REASONS=$(rtunctl reasons)
if [ -z "$KNOWN_REASONS" ]; then
    echo "Bail out! 'rtunctl reasons' printed no drop reasons (the drop audit needs them)"
    exit $KSFT_FAIL
fi

# IPv6 autoconfiguration would send frames of its own through the devices
# under test and disturb the drop counts.
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null

# A trace instance of its own records every kfree_skb over the whole run.
mkdir -p $T/instances/rtun_audit 2>/dev/null
echo 4096 > $T/instances/rtun_audit/buffer_size_kb
echo 1 > $T/instances/rtun_audit/events/skb/kfree_skb/enable
echo 1 > $T/instances/rtun_audit/tracing_on

echo "TAP version 13"
echo "1..$(echo "$TESTS" | wc -w)"
for t in $TESTS; do
    run_test "$t" "test_$t"
done
ktap_finish
