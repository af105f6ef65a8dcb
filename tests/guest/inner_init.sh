#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# /init of the VM that test_qemu_multiqueue_vm (t_qemu.sh) boots inside the
# test guest, under an inner QEMU whose virtio-net NIC (mq=on, 4 queue pairs)
# has a multi-queue tap on tun.ko or on rtun as its backend. scripts/guest.sh
# packs it with busybox and ethtool into /qemu/initramfs; the kernel is the
# small one of configs/inner.config.
#
# The kernel command line sets q_host (the tap's address in the test guest),
# q_addr (this VM's, with prefix) and q_port: the test guest stores what
# arrives on q_port, and sends `seq 1 20000` to whoever connects to q_port + 1.
# Each "INNER: " line is a result that must be the same on both drivers; the
# test compares them. "INNER-STAT: " lines are diagnostics only.
export PATH=/usr/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "INNER: $*"; }
stat() { echo "INNER-STAT: $*"; }
host=${q_host:-10.0.9.1}
port=${q_port:-5001}

# combined: the queue pairs in use (real_num_tx_queues, as ethtool -l's
# current "Combined"; cheaper than running ethtool under nested TCG).
# shellcheck disable=SC2012 # counting tx-N directories
combined() { ls -d /sys/class/net/eth0/queues/tx-* | wc -l; }

# pings N: "received/N" for N pings to the test guest, each sent when the
# previous one is answered.
pings() {
    local got
    got=$(ping -c "$1" -A -W 20 "$host" 2>&1 | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    echo "${got:-0}/$1"
}

# setlimits N: ethtool -L eth0 combined N. virtio-net sends the new number of
# queue pairs to QEMU, which attaches or detaches the tap's queues to match
# (TUNSETQUEUE); QEMU aborts if that fails.
setlimits() {
    local out rc
    out=$(ethtool -L eth0 combined "$1" 2>&1)
    rc=$?
    # shellcheck disable=SC2086,SC2116 # echo joins the words of the message on one line
    say "ethtool -L eth0 combined $1: rc=$rc${out:+ $(echo $out)}"
    say "combined channels: $(combined)"
}

echo "INNER-START"
stat "init started at $(cut -d' ' -f1 /proc/uptime) s"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
ip addr add "${q_addr:-10.0.9.2/24}" dev eth0
ip link set eth0 up
# One queue pair per CPU at boot (this VM has one): QEMU has detached the
# other three queues of the tap. Enabling all four re-attaches them.
say "combined channels at boot: $(combined)"
setlimits 4
say "ping: $(pings 3)"
# TCP both ways: segmentation offloads and the virtio-net header on the tap.
# Each nc ends when the other side closes, after the last byte.
seq 1 20000 > /tmp/blob
timeout 120 nc "$host" $((port + 1)) < /dev/null > /tmp/down
if cmp -s /tmp/blob /tmp/down; then
    say "tcp from the host: ok"
else
    say "tcp from the host: got $(wc -c < /tmp/down) bytes, wanted $(wc -c < /tmp/blob)"
fi
timeout 120 nc "$host" "$port" < /tmp/blob
say "tcp to the host: rc=$?"
# Detach three queues again, then re-attach them.
setlimits 1
say "ping: $(pings 1)"
setlimits 4
say "ping: $(pings 2)"
# Which queues carried traffic: the interrupts of each queue's MSI-X vector.
stat "interrupts per queue:$(awk '/virtio0-(input|output)/ { printf " %s=%s", $NF, $2 }' /proc/interrupts)"
stat "done at $(cut -d' ' -f1 /proc/uptime) s"
echo "INNER-DONE"
reboot -f
