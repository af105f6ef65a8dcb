#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Guest side of scripts/demo.sh: load rtun, provoke one drop of each kind the
# companion tool can cause, and show what trace_pipe, bpftrace, ip -s link,
# ethtool -S and rtunctl top report.
cd "$(dirname "$0")" || exit 1
. ./lib.sh
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null

# A fresh guest has no rtun yet; one loaded before the demo is used as it is.
if grep -q '^rtun ' /proc/modules; then
    echo "== rtun is already loaded: using it as it is (rmmod rtun first for a fresh load)"
fi
load_rtun || exit 1
echo "== rtun loaded: $(grep '^rtun ' /proc/modules)"
rtunctl add rdemo --tap --no-pi --multi-queue >/dev/null
ip link set rdemo txqueuelen 2

echo 1 > $T/events/skb/kfree_skb/enable
cat $T/trace_pipe > /tmp/trace.txt &
tp=$!

# The device and its flags, for every rtunctl call below.
set -- rdemo --tap --no-pi --multi-queue
echo "== write while rdemo is down:  $(rtunctl send "$@" --hex $ETH_FRAME --pad-to 60)"
ip link set rdemo up
echo "== 10-byte frame on a TAP:     $(rtunctl send "$@" --hex 00112233445566778899)"
echo "== write from a bad buffer:    $(rtunctl send "$@" --bad-buffer --pad-to 100)"
# As with tun, a queue that is detached (TUNSETQUEUE) keeps the carrier on
# while nothing receives.
rtunctl attach "$@" --detach --ready-file /tmp/ready1 >/dev/null &
hold=$!
wait_for_file /tmp/ready1 >/dev/null
echo "== xmit with no reader:        $(rtunctl inject rdemo --count 1 --bypass-qdisc)"
kill $hold; wait $hold 2>/dev/null
rtunctl attach "$@" --ready-file /tmp/ready &
hold=$!
wait_for_file /tmp/ready >/dev/null
echo "== 5 frames to a 2-slot ring:  $(rtunctl inject rdemo --count 5 --bypass-qdisc)"
kill $hold; wait $hold 2>/dev/null
sleep 0.5
kill $tp

echo
echo "== trace_pipe (skb:kfree_skb); location is the rtun function that dropped the frame:"
grep 'kfree_skb:' /tmp/trace.txt | while read -r line; do
    echo "   ${line##*kfree_skb: }"
done

# The same kind of drop seen by bpftrace (with the kernel's BTF): it attaches,
# runs the command given with -c, and prints its map when the command ends.
echo
if command -v bpftrace >/dev/null && [ -e /sys/kernel/btf/vmlinux ]; then
    echo "== bpftrace, counting drops by reason and function while 3 frames are written to rdemo2, which is down:"
    rtunctl add rdemo2 --tap --no-pi >/dev/null
    echo "   bpftrace -e 'tracepoint:skb:kfree_skb { @drops[args->reason, ksym(args->location)] = count(); }'"
    echo "   (bpftrace prints a reason as its number: named below from the tracepoint's format)"
    bpftrace -e 'tracepoint:skb:kfree_skb { @drops[args->reason, ksym(args->location)] = count(); }' \
        -c "rtunctl send rdemo2 --tap --no-pi --hex $ETH_FRAME --pad-to 60 --count 3" 2>&1 |
        name_reasons | grep -v '^$' | sed 's/^/   /'
    rtunctl del rdemo2 --tap --no-pi >/dev/null
else
    echo "== (no bpftrace part: this guest has no bpftrace or the kernel no BTF)"
fi
echo
echo "== ip -s link show rdemo"
ip -s link show rdemo
echo
echo "== ethtool -S rdemo"
ethtool -S rdemo
echo
echo "== rtunctl top --once rdemo (any user may run it; without --once it refreshes like top)"
rtunctl top --once rdemo
rtunctl del "$@" >/dev/null
