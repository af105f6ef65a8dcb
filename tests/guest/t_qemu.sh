# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# QEMU on rtun: a real VMM's multi-queue tap backend. The test guest
# runs two inner QEMUs (TCG) side by side, each with a virtio-net NIC (mq=on,
# 4 queue pairs, MSI-X) on a persistent multi-queue TAP: one on C tun.ko, one
# on rtun. QEMU opens /dev/net/tun by path, so the rtun one runs in a mount
# namespace of its own where /dev/net/rtun is bind-mounted over /dev/net/tun.
# On each of the four queues QEMU calls TUNGETFEATURES, TUNSETIFF
# (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE), TUNSETOFFLOAD,
# TUNSETVNETHDRSZ and TUNSETSNDBUF; it detaches (TUNSETQUEUE IFF_DETACH_QUEUE)
# the three queues the VM does not use at boot, re-attaches them when the VM
# runs `ethtool -L eth0 combined 4`, and sets the offloads the VM negotiated.
# A failing ioctl shows as QEMU's exit status, on its stderr, or in the VM.
# Each VM (/init is inner_init.sh) pings the test guest, moves data over TCP
# both ways, and switches between 1 and 4 queue pairs. Its "INNER: " result
# lines must hold the expected results on tun.ko and be the same on rtun.

# Seconds one inner VM may run: 50-80 s under nested TCG on 2 shared cores,
# several times that on the KASAN test kernel when the host is loaded.
QEMU_TIMEOUT=${QEMU_TIMEOUT:-1200}

# The results on tun.ko (drivers/net/tun.c), in the order the VM prints them.
QEMU_EXPECTED='INNER: combined channels at boot: 1
INNER: ethtool -L eth0 combined 4: rc=0
INNER: combined channels: 4
INNER: ping: 3/3
INNER: tcp from the host: ok
INNER: tcp to the host: rc=0
INNER: ethtool -L eth0 combined 1: rc=0
INNER: combined channels: 1
INNER: ping: 1/1
INNER: ethtool -L eth0 combined 4: rc=0
INNER: combined channels: 4
INNER: ping: 2/2'

QEMU_TAP_FLAGS="--tap --no-pi --multi-queue --vnet-hdr"

qemu_prepare() {
    { [ -x /usr/bin/qemu-system-x86_64 ] && [ -f /qemu/bzImage ] && [ -f /qemu/initramfs ]; } ||
        { skip "no inner QEMU in this guest (RTUN_GUEST_QEMU=0?)"; return "$KSFT_SKIP"; }
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun || return 1
    load_rtun || { fail "rtun did not load"; return 1; }
}

# qemu_vm DRIVER NET: runs one inner VM whose NIC is on the tap qemu_DRIVER,
# in the subnet 10.0.NET.0/24, with the test guest's TCP ends on port
# 5000 + 10 * NET + 1 (upload) and + 2 (download). The VM's console goes to
# /tmp/qemu.DRIVER.console. no_timer_check: nested TCG on a loaded host can
# miss the boot-time timer IRQ check, which then panics ("IO-APIC + timer
# doesn't work!"), the same on either driver.
qemu_vm() {
    local drv=$1 net=$2 port
    port=$((5000 + 10 * net + 1))
    set -- qemu-system-x86_64 -accel tcg -cpu max -m 128 -smp 1 \
        -nodefaults -no-user-config -display none -no-reboot \
        -bios /usr/share/qemu/qboot.rom -serial file:/tmp/qemu."$drv".console \
        -kernel /qemu/bzImage -initrd /qemu/initramfs \
        -append "console=ttyS0 panic=-1 quiet no_timer_check q_host=10.0.$net.1 q_addr=10.0.$net.2/24 q_port=$port" \
        -netdev tap,id=n0,ifname=qemu_"$drv",script=no,downscript=no,vhost=off,queues=4 \
        -device virtio-net-pci,netdev=n0,mq=on,vectors=10,romfile=
    if [ "$drv" = rtun ]; then
        unshare -m sh -c 'mount --bind /dev/net/rtun /dev/net/tun && exec "$@"' sh \
            timeout -s KILL "$QEMU_TIMEOUT" "$@"
    else
        timeout -s KILL "$QEMU_TIMEOUT" "$@"
    fi
}

# qemu_node DRIVER, qemu_driver DRIVER: the misc device of DRIVER (tun: tun.ko,
# rtun: rtun, astun: rtun loaded with as_tun=1, t_dropin.sh), and what
# ethtool -i says of its devices.
qemu_node() { case $1 in astun) echo /dev/net/tun ;; *) echo /dev/net/"$1" ;; esac; }
qemu_driver() { case $1 in astun) echo tun ;; *) echo "$1" ;; esac; }

# qemu_start DRIVER NET: creates the tap and the test guest's TCP ends, then
# starts qemu_vm in the background. Leaves /tmp/qemu.DRIVER.{err,rc,time,up}.
qemu_start() {
    local drv=$1 net=$2 out port
    out=/tmp/qemu.$drv
    port=$((5000 + 10 * net + 1))
    rm -f "$out".*
    # shellcheck disable=SC2086 # QEMU_TAP_FLAGS: rtunctl's flags, split
    rtunctl --dev "$(qemu_node "$drv")" add qemu_"$drv" $QEMU_TAP_FLAGS > /dev/null ||
        { fail "$drv: rtunctl add qemu_$drv"; return 1; }
    # The VM's NIC must end up on this tap: QEMU fails to attach to a device
    # of the other driver (tun_set_iff: EINVAL).
    expect_eq "driver of qemu_$drv" "$(ethtool -i qemu_"$drv" | sed -n 's/^driver: //p')" "$(qemu_driver "$drv")" || return 1
    ip addr add 10.0."$net".1/24 dev qemu_"$drv"
    ip link set qemu_"$drv" up
    # With -e, each closes the connection after the last byte, and not before.
    timeout "$QEMU_TIMEOUT" nc -l -p $port -e sh -c "cat > $out.up" &
    echo $! > "$out".nc
    timeout "$QEMU_TIMEOUT" nc -l -p $((port + 1)) -e seq 1 20000 &
    echo $! >> "$out".nc
    (
        t0=$(cut -d' ' -f1 /proc/uptime)
        qemu_vm "$drv" "$net" < /dev/null > "$out".err 2>&1
        echo $? > "$out".rc
        awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.0f\n", b - a }' > "$out".time
    ) &
    echo $! > "$out".pid
}

# qemu_stop DRIVER: after its VM ended: the TCP ends and the tap go.
qemu_stop() {
    local out pid
    out=/tmp/qemu.$1
    # shellcheck disable=SC2013 # one pid a line
    for pid in $(cat "$out".nc); do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    # shellcheck disable=SC2086 # QEMU_TAP_FLAGS: rtunctl's flags, split
    rtunctl --dev "$(qemu_node "$1")" del qemu_"$1" $QEMU_TAP_FLAGS > /dev/null ||
        { fail "$1: rtunctl del qemu_$1"; return 1; }
}

# qemu_check DRIVER: what the VM of DRIVER must show.
qemu_check() {
    local drv=$1 out rc
    out=/tmp/qemu.$drv
    touch "$out".up "$out".console
    tr -d '\r' < "$out".console > "$out".log
    grep '^INNER: ' "$out".log > "$out".results
    diag "$drv: QEMU exit $(cat "$out".rc) after $(cat "$out".time) s; VM: $(sed -n 's/^INNER-STAT: //p' "$out".log | tr '\n' ';' | sed 's/ *;/; /g')"
    rc=0
    [ "$(cat "$out".rc)" = 0 ] || { diag "$drv: QEMU exited with $(cat "$out".rc) (137: killed after $QEMU_TIMEOUT s)"; rc=1; }
    if [ -s "$out".err ]; then
        diag "$drv: QEMU's stderr:"
        sed 's/^/#   /' "$out".err
        grep -qiE 'tap|tun|ioctl|vnet|queue|offload' "$out".err && { diag "$drv: QEMU reported a tap error"; rc=1; }
    fi
    grep -qx 'INNER-DONE' "$out".log || { diag "$drv: the inner VM did not finish"; rc=1; }
    seq 1 20000 | cmp -s - "$out".up ||
        { diag "$drv: the test guest received $(wc -c < "$out".up) bytes of the VM's upload, wanted $(seq 1 20000 | wc -c)"; rc=1; }
    echo "$QEMU_EXPECTED" | while IFS= read -r key; do
        grep -qxF -- "$key" "$out".results || diag "$drv: missing the expected line '$key'"
    done | grep . && rc=1
    if [ $rc != 0 ]; then
        diag "$drv: inner console (tail):"
        tail -n 40 "$out".log | sed 's/^/#   /'
    fi
    return $rc
}

test_qemu_multiqueue_vm() {
    local rc drv
    qemu_prepare || return $?
    qemu_start tun 9 || return 1
    qemu_start rtun 10 || { wait "$(cat /tmp/qemu.tun.pid)"; qemu_stop tun; return 1; }
    wait "$(cat /tmp/qemu.tun.pid)" "$(cat /tmp/qemu.rtun.pid)"
    rc=0
    for drv in tun rtun; do
        qemu_stop $drv || rc=1
        qemu_check $drv || rc=1
    done
    if ! cmp -s /tmp/qemu.tun.results /tmp/qemu.rtun.results; then
        diag "differences (- tun.ko, + rtun):"
        diff -u /tmp/qemu.tun.results /tmp/qemu.rtun.results | grep '^[-+][^-+]' | sed 's/^/#   /'
        rc=1
    fi
    [ $rc = 0 ] || { fail "QEMU on rtun does not behave as on tun.ko"; return 1; }
    diag "$(wc -l < /tmp/qemu.tun.results) identical result lines"
}
