#!/bin/sh
# rust_tun guest test suite: prints KTAP, exits with kselftest codes.
# Runs inside the test guest (scripts/guest.sh), as root.
cd "$(dirname "$0")"
. ./lib.sh
. ./t_module.sh
. ./t_datapath.sh
. ./t_drops.sh

TESTS="
module_load_unload
drop_traced_in_trace_pipe
tap_ping_through_forwarder
tun_ping_through_forwarder
nonblocking_read
poll_readiness
multi_queue_attach_detach
persist_and_delete
eperm_for_unprivileged_user
owner_may_attach_without_cap
drop_dev_ready_write_down
drop_dev_ready_xmit_no_reader
drop_full_ring
drop_hdr_trunc
drop_skb_ucopy_fault
drop_nomem
no_splat_in_dmesg
"

# IPv6 autoconfiguration would send frames of its own through the devices
# under test and disturb the drop counts.
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null

echo "TAP version 13"
echo "1..$(echo $TESTS | wc -w)"
for t in $TESTS; do
    run_test "$t" "test_$t"
done
ktap_finish
