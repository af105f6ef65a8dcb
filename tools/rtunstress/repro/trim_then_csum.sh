#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Reproducer (found by rtunstress): a TAP reader without IFF_VNET_HDR that
# negotiated TUN_F_CSUM, and a classic BPF filter that keeps 20 bytes of each
# frame. A CHECKSUM_PARTIAL frame (TCP/IPv4, checksum offload, 100 bytes) is
# trimmed to 20 bytes, past its checksum start; rtun then completes the
# checksum in software for the reader (skb_checksum_help), which refuses:
# "offset >= skb_headlen()" (skb_dump at KERN_ERR, plus a WARN_ONCE that the
# test kernel, built with CONFIG_BUG=n, does not print), and the frame is
# dropped as SKB_CSUM. tun.ko hands the reader the 20 bytes.
# In the guest (copy to tests/guest/ first):
#   scripts/guest.sh 'sh /tests/guest/trim_then_csum.sh'
cd /tests/guest && . ./lib.sh
load_rtun || exit 1
insmod /modules/tun.ko 2>/dev/null
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
for dev in /dev/net/tun /dev/net/rtun; do
    name=$(rtunctl --dev "$dev" add 'trim%d' --tap --no-pi) || exit 1
    hold "$name" --dev "$dev" --tap --no-pi --read --offload 1 --cbpf-ret 20 || exit 1
    ip link set "$name" up
    before=$(dmesg | wc -l)
    rtunctl --dev "$dev" inject "$name" --gso 0 --len 100 >/dev/null
    sleep 1
    unhold
    echo "$dev: frames read: $(frames_read) ($(grep '^frame ' /tmp/hold.out | head -1)); tx_dropped $(stat "$name" tx_dropped)"
    [ "$dev" = /dev/net/rtun ] && echo "rtun per-reason: $(ethtool -S "$name" | awk '/: / && $2 > 0' | tr -s ' \n' ' ')"
    dmesg | tail -n +$((before + 1)) | grep -A3 'skb len=' | sed 's/^/  dmesg: /'
    rtunctl --dev "$dev" del "$name" --tap --no-pi >/dev/null
done
