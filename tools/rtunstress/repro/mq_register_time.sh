#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Reproducer (a finding of the stress runs): how long TUNSETIFF+TUNSETPERSIST of a
# single- and a multi-queue TAP take on tun.ko and on rtun, and how many queue
# directories the device has afterwards. In the guest:
#   scripts/guest.sh 'sh /tools/rtunstress/repro/mq_register_time.sh'
# (the initramfs carries tests/ only: copy this file to tests/guest/ first).
cd /tests/guest && . ./lib.sh && load_rtun && insmod /modules/tun.ko
for dev in /dev/net/tun /dev/net/rtun; do
  for mq in "" --multi-queue; do
    t0=$(cut -d' ' -f1 /proc/uptime)
    rtunctl --dev "$dev" add mqt0 --tap ${mq:+"$mq"} >/dev/null
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "$dev ${mq:-single}: add took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s; queues now: $(find /sys/class/net/mqt0/queues -mindepth 1 -maxdepth 1 | wc -l)"
    rtunctl --dev $dev del mqt0 --tap ${mq:+"$mq"} >/dev/null
  done
done
