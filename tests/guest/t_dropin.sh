# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Drop-in mode: rtun loaded with as_tun=1 stands in for tun.ko. It serves
# /dev/net/tun at tun's minor, registers link kind "tun" with tun's
# IFLA_TUN_* attributes, names devices tun%d/tap%d, and says "tun" in
# ethtool -i. Clients and tools that know only tun (ip tuntap, the kernel's
# tun selftest, QEMU) then reach rtun with no bind mount. Each test unloads
# tun.ko and the default-mode rtun first, and leaves the default-mode rtun
# loaded again at the end (as the rest of the suite expects).

# dropin_enter: rtun as_tun=1 holds /dev/net/tun, and tun.ko is not loaded.
dropin_enter() {
    audit_pause
    if grep -q '^tun ' /proc/modules; then rmmod tun || { audit_resume; fail "rmmod tun"; return 1; }; fi
    if grep -q '^rtun ' /proc/modules; then rmmod rtun || { audit_resume; fail "rmmod rtun"; return 1; }; fi
    insmod /modules/rtun.ko as_tun=1 || { audit_resume; fail "insmod rtun.ko as_tun=1"; return 1; }
    audit_resume
    wait_until 10 [ -c /dev/net/tun ] || { fail "no /dev/net/tun after insmod rtun.ko as_tun=1"; return 1; }
}

# dropin_leave: back to the suite's state: rtun in its default mode.
dropin_leave() {
    audit_pause
    if grep -q '^rtun ' /proc/modules; then rmmod rtun || diag "rmmod rtun (as_tun=1) failed"; fi
    audit_resume
    load_rtun || diag "reloading rtun in its default mode failed"
}

# dropin_use_tun_ko: tun.ko holds /dev/net/tun, rtun is not loaded.
dropin_use_tun_ko() {
    audit_pause
    if grep -q '^rtun ' /proc/modules; then rmmod rtun || { audit_resume; fail "rmmod rtun"; return 1; }; fi
    audit_resume
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_until 10 [ -c /dev/net/tun ] || { fail "no /dev/net/tun after insmod tun.ko"; return 1; }
}

# dropin_is_rtun: /dev/net/tun is rtun's (not tun.ko's).
dropin_is_rtun() {
    grep -q '^rtun ' /proc/modules && ! grep -q '^tun ' /proc/modules && [ -d /sys/kernel/debug/rtun ]
}

# dropin_link_attrs DEV: what `ip -d link` says of DEV, without what differs
# between any two devices (index, MAC address): the flags line and the
# kind's attribute clause (from "tun type" to before the generic fields).
dropin_link_attrs() {
    ip -d link show dev "$1" | sed -E -e '1s/^[0-9]+: //' -e 's/link\/ether [0-9a-f:]+ brd [0-9a-f:]+/link\/ether MAC brd BRD/' \
        -e 's/ (addrgenmode|numtxqueues) .*//' -e 's/^ +//'
}

# dropin_sequence OUT: creates devices the way a user does with iproute2,
# and records in OUT what iproute2, ethtool, sysfs and /proc/misc report.
dropin_sequence() {
    local out=$1 d
    : > "$out"
    ip tuntap add dev dtun0 mode tun user 65534 group 65534 || { fail "ip tuntap add dtun0"; return 1; }
    ip tuntap add dev dtap0 mode tap multi_queue vnet_hdr || { fail "ip tuntap add dtap0"; return 1; }
    # No name: the driver picks one (tun's: tap0, tun0).
    ip tuntap add mode tap || { fail "ip tuntap add mode tap"; return 1; }
    ip tuntap add mode tun || { fail "ip tuntap add mode tun"; return 1; }
    {
        echo "== /proc/misc"
        grep -w tun /proc/misc
        echo "== /dev/net/tun"
        # shellcheck disable=SC2012 # the major and minor numbers are the point
        ls -l /dev/net/tun | awk '{ print $1, $5, $6 }'
        echo "== ip tuntap show"
        ip tuntap show | sort
        for d in dtun0 dtap0 tap0 tun0; do
            echo "== $d"
            dropin_link_attrs "$d"
            ethtool -i "$d" | grep -E '^(driver|bus-info):'
            echo "tun_flags $(cat /sys/class/net/"$d"/tun_flags) owner $(cat /sys/class/net/"$d"/owner) group $(cat /sys/class/net/"$d"/group)"
        done
    } >> "$out" 2>&1
    for d in dtun0 tun0; do ip tuntap del dev "$d" mode tun || { fail "ip tuntap del $d"; return 1; }; done
    ip tuntap del dev tap0 mode tap || { fail "ip tuntap del tap0"; return 1; }
    ip tuntap del dev dtap0 mode tap multi_queue || { fail "ip tuntap del dtap0"; return 1; }
    [ -z "$(ip tuntap show)" ] || { fail "devices left after ip tuntap del: $(oneline "$(ip tuntap show)")"; return 1; }
}

test_dropin_identity_matches_tun() {
    local rc=0
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    trap dropin_leave EXIT
    dropin_use_tun_ko || return 1
    dropin_sequence /tmp/dropin.tun || return 1
    rmmod tun || { fail "rmmod tun"; return 1; }
    dropin_enter || return 1
    dropin_is_rtun || { fail "/dev/net/tun is not rtun's"; return 1; }
    dropin_sequence /tmp/dropin.rtun || return 1
    diag "tun.ko's view:"
    sed 's/^/#   /' /tmp/dropin.tun
    # Every line must be there, with content: a kind or a name that went
    # missing on both drivers would otherwise compare equal.
    grep -q '^tun type tun pi off vnet_hdr off persist on user ' /tmp/dropin.tun ||
        { fail "tun.ko's dtun0 attributes are not what this test expects"; rc=1; }
    grep -q '^tun type tap pi off vnet_hdr on multi_queue numqueues 0 numdisabled 0 persist on' /tmp/dropin.tun ||
        { fail "tun.ko's dtap0 attributes are not what this test expects"; rc=1; }
    grep -qx 'driver: tun' /tmp/dropin.rtun || { fail "ethtool -i: rtun does not say driver tun"; rc=1; }
    grep -q '^tap0: tap' /tmp/dropin.rtun || { fail "ip tuntap show lists no tap0 (default name, kind tun)"; rc=1; }
    if ! cmp -s /tmp/dropin.tun /tmp/dropin.rtun; then
        diag "differences (- tun.ko, + rtun as_tun=1):"
        diff -u /tmp/dropin.tun /tmp/dropin.rtun | grep '^[-+][^-+]' | sed 's/^/#   /'
        fail "iproute2, ethtool, sysfs or /proc/misc see rtun as_tun=1 differently from tun.ko"
        rc=1
    fi
    return $rc
}

# The kernel's tun selftest against /dev/net/tun as rtun serves it, with no
# bind mount: every case tun.ko passes (upstream_tun_selftest's reference,
# made earlier in the same boot, or made here) must pass.
test_dropin_tun_selftest() {
    local lost pass_ref pass_rtun flaky ok=1
    [ -x "$TUN_SELFTEST" ] || { skip "no $TUN_SELFTEST in this guest (scripts/selftest.sh)"; return "$KSFT_SKIP"; }
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    trap dropin_leave EXIT
    if [ ! -s /tmp/selftest.reference ]; then
        dropin_use_tun_ko || return 1
        selftest_run tun.ko
        selftest_failing tun.ko | cut -d: -f1 > /tmp/selftest.retry.list
        selftest_retry tun.ko /tmp/selftest.retry.list
        selftest_passed_all tun.ko > /tmp/selftest.reference
    fi
    dropin_enter || return 1
    dropin_is_rtun || { fail "/dev/net/tun is not rtun's"; return 1; }
    ! grep -q ' /dev/net/tun ' /proc/mounts || { fail "a mount over /dev/net/tun"; return 1; }
    selftest_run as_tun
    selftest_failing as_tun /tmp/selftest.reference | cut -d: -f1 > /tmp/selftest.retry.list
    selftest_retry as_tun /tmp/selftest.retry.list
    selftest_summary as_tun || ok=0
    echo "  KTAP version 1"
    echo "  1..1"
    selftest_ktap as_tun "  " 1 /tmp/selftest.reference
    flaky=$(cat /tmp/selftest.flaky.as_tun)
    selftest_failing as_tun /tmp/selftest.reference > /tmp/selftest.lost
    sed 's/^/# passes on tun.ko, fails on rtun as_tun=1: /' /tmp/selftest.lost
    lost=$(wc -l < /tmp/selftest.lost)
    pass_ref=$(wc -l < /tmp/selftest.reference)
    pass_rtun=$(selftest_passed_all as_tun | wc -l)
    [ $ok = 1 ] || return 1
    [ "$pass_ref" -gt 0 ] || { fail "not one case passes on tun.ko: no reference to compare with"; return 1; }
    { [ "$lost" = 0 ] && [ "$pass_rtun" -ge "$pass_ref" ]; } ||
        { fail "rtun as_tun=1 passes $pass_rtun cases, tun.ko $pass_ref; $lost case(s) passing on tun.ko fail"; return 1; }
    [ "$flaky" = 0 ] || flaky "cases that passed only on retry: $flaky"
}

# tun.ko and rtun as_tun=1 want the same minor and link kind: whichever
# loads second fails cleanly, with a clear errno and message, and the first
# keeps working. The default-mode rtun loads beside tun.ko.
test_dropin_excludes_tun_ko() {
    local out
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    trap dropin_leave EXIT
    dropin_use_tun_ko || return 1
    dmesg -c > /dev/null
    out=$(insmod /modules/rtun.ko as_tun=1 2>&1) && { fail "insmod rtun.ko as_tun=1 succeeded with tun.ko loaded"; return 1; }
    diag "insmod rtun.ko as_tun=1 with tun.ko loaded: $out"
    case $out in *"Device or resource busy"*) ;; *) fail "want EBUSY (Device or resource busy)"; return 1 ;; esac
    dmesg | grep -q 'rtun: link kind tun is taken: is tun.ko loaded' ||
        { fail "no message in dmesg saying why: $(oneline "$(dmesg | tail -n 3)")"; return 1; }
    diag "dmesg: $(dmesg | grep 'rtun:' | tail -n 1)"
    [ -d /sys/module/rtun ] && { fail "a failed load left rtun loaded"; return 1; }
    insmod /modules/rtun.ko || { fail "the default-mode rtun does not load beside tun.ko"; return 1; }
    wait_until 10 [ -c /dev/net/rtun ] || { fail "no /dev/net/rtun beside tun.ko"; return 1; }
    ip tuntap add dev dx0 mode tap || { fail "tun.ko stopped working"; return 1; }
    ip tuntap del dev dx0 mode tap || { fail "ip tuntap del dx0 (tun.ko)"; return 1; }
    rmmod tun || { fail "rmmod tun"; return 1; }
    dropin_enter || return 1
    dmesg -c > /dev/null
    out=$(insmod /modules/tun.ko 2>&1) && { fail "tun.ko loaded while rtun as_tun=1 holds its names"; rmmod tun; return 1; }
    diag "insmod tun.ko with rtun as_tun=1 loaded: $out"
    # tun's init fails with EEXIST, which the module loader reports as EBUSY.
    case $out in *"Device or resource busy"*) ;; *) fail "want EBUSY (Device or resource busy)"; return 1 ;; esac
    dmesg | grep -q "tun: Can't register link_ops" || { fail "tun.ko did not say why"; return 1; }
    grep -q '^tun ' /proc/modules && { fail "a failed load left tun.ko loaded"; return 1; }
    diag "dmesg: $(oneline "$(dmesg | grep -i tun | tail -n 2)")"
    dropin_is_rtun || { fail "/dev/net/tun is no longer rtun's"; return 1; }
    ip tuntap add dev dx0 mode tap || { fail "rtun as_tun=1 stopped working after tun.ko's failed load"; return 1; }
    expect_eq "ethtool -i dx0 driver" "$(ethtool -i dx0 | sed -n 's/^driver: //p')" tun || return 1
    ip tuntap del dev dx0 mode tap || { fail "ip tuntap del dx0"; return 1; }
}

# QEMU's tap backend, multi-queue, on rtun as_tun=1: QEMU opens
# /dev/net/tun itself, no mount namespace. The VM must show what it shows on
# tun.ko (QEMU_EXPECTED, t_qemu.sh).
test_dropin_qemu_multiqueue_vm() {
    local rc=0
    { [ -x /usr/bin/qemu-system-x86_64 ] && [ -f /qemu/bzImage ] && [ -f /qemu/initramfs ]; } ||
        { skip "no inner QEMU in this guest (RTUN_GUEST_QEMU=0?)"; return "$KSFT_SKIP"; }
    trap dropin_leave EXIT
    dropin_enter || return 1
    qemu_start astun 11 || return 1
    wait "$(cat /tmp/qemu.astun.pid)"
    [ -e /sys/kernel/debug/rtun/qemu_astun ] || { fail "qemu_astun is not an rtun device"; rc=1; }
    qemu_stop astun || rc=1
    qemu_check astun || rc=1
    [ $rc = 0 ] || { fail "QEMU on rtun as_tun=1 does not behave as on tun.ko"; return 1; }
    diag "$(wc -l < /tmp/qemu.astun.results) result lines as expected"
}
