#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel under QEMU with a busybox initramfs and run one command
# in the guest. The exit status is the guest command's. A guest that hangs is
# killed after RTUN_TIMEOUT seconds (default 600) and the run fails. The
# command's output is printed line by line as the guest prints it; the console
# and that output are kept in target/guest-logs/ (RTUN_GUEST_LOGS: elsewhere).
#
#   scripts/guest.sh [--kvm] [--icount SHIFT] [--show-dmesg] COMMAND...
#
# --icount SHIFT: TCG with instruction counting (-icount shift=SHIFT,sleep=off):
# the guest's clock advances 2^SHIFT ns per instruction, whatever the host's
# load, so that time measured in the guest does not depend on other processes
# (the vCPUs then share one host thread).
#
# The initramfs holds busybox, the host's ip/ethtool, tools/rtunctl,
# tools/rtunbench, tools/rtunfuzz and tools/rtunstress (with the shared libraries they need), rtun.ko, the C
# reference tun.ko of the same kernel tree, tests/, the static 32-bit client
# tun32 when scripts/build.sh could build it, and the static upstream tun
# selftest when built (/usr/bin/tun_selftest); for a command that runs
# tests/guest/t_qemu.sh (or run.sh), also QEMU and the kernel and initramfs of
# the VM that test boots inside the guest. KDIR picks the kernel tree
# (default: the test kernel), RTUN_KO the module (default: ./rtun.ko).
# TCG is the default: KVM hangs on the machines this was built on (--kvm to try).
# Before anything is built, it checks QEMU and the host tools it copies, and
# for --kvm a /dev/kvm it can open; a guest that QEMU did not start (KVM
# failing among the causes) or that hung is reported with what to do.
# RTUN_QEMU_EXTRA: more QEMU arguments (word-split), e.g. tools/tbprof's -plugin.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

accel=tcg
cpu=max
show_dmesg=0
icount=()
while [ $# -gt 0 ]; do
    case "$1" in
        --kvm) accel=kvm; cpu=host; shift ;;
        --icount) [ $# -ge 2 ] || die "--icount needs a shift"; icount=(-icount "shift=$2,sleep=off"); shift 2 ;;
        --show-dmesg) show_dmesg=1; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || die "usage: scripts/guest.sh [--kvm] COMMAND..."

# What the host needs (scripts/setup.sh installs it all), checked before a
# kernel build, so that a missing piece is named at once.
for c in qemu-system-x86_64 ip ethtool cpio; do
    p=$(command -v "$c" || true)
    { [ -n "$p" ] && [ -x "$p" ]; } || die "$c missing: run scripts/setup.sh (it installs QEMU and the guest's tools)"
done
[ -x /bin/busybox ] || die "/bin/busybox missing: run scripts/setup.sh (busybox-static)"
# --kvm needs a /dev/kvm that this user can open for reading and writing.
if [ "$accel" = kvm ] && ! { [ -c /dev/kvm ] && (: <>/dev/kvm) 2>/dev/null; }; then
    die "no usable /dev/kvm (missing, or $(id -un) cannot open it): run without --kvm; TCG is the default"
fi

KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
tree_check "$KDIR" boot
KO=${RTUN_KO:-$RTUN_TOP/rtun.ko}
RTUNCTL=${RTUNCTL:-$RTUN_TOP/target/release/rtunctl}
RTUNBENCH=${RTUNBENCH:-$RTUN_TOP/target/release/rtunbench}
RTUNFUZZ=${RTUNFUZZ:-$RTUN_TOP/target/release/rtunfuzz}
RTUNSTRESS=${RTUNSTRESS:-$RTUN_TOP/target/release/rtunstress}
[ -f "$KO" ] || die "$KO missing: run make"
[ -x "$RTUNCTL" ] || die "$RTUNCTL missing: run cargo build --release"
[ -x "$RTUNBENCH" ] || die "$RTUNBENCH missing: run cargo build --release"
[ -x "$RTUNFUZZ" ] || die "$RTUNFUZZ missing: run cargo build --release"
[ -x "$RTUNSTRESS" ] || die "$RTUNSTRESS missing: run cargo build --release"
# rtun.ko must be built against the kernel booted (its Rust symbols carry
# that tree's crate hashes): kbuild's .rtun.ko.cmd beside it names the tree
# whose module.lds linked it.
ko_cmd=$(dirname "$KO")/.rtun.ko.cmd
ko_tree=$(sed -n 's|.* -T \([^ ]*\)/scripts/module\.lds .*|\1|p' "$ko_cmd" 2>/dev/null | head -n 1)
if [ -n "$ko_tree" ] && [ "$(realpath -m "$ko_tree")" != "$(realpath -m "$KDIR")" ]; then
    die "$KO was built against $ko_tree, not against the kernel this guest boots ($KDIR): rebuild it with make (it builds against KDIR if set, else the cached test kernel)"
fi

# Settings for the guest's tests go on the kernel command line: the kernel
# hands NAME=VALUE parameters it does not know to /init as environment
# variables, and /proc/cmdline shows them (tests/guest/t_stress.sh reads
# both). RTUN_STRESS_SECONDS, RTUN_STRESS_SEED, RTUN_LIFECYCLE_SECONDS and
# RTUN_LIFECYCLE_SEED (digits only) are passed on; a longer stress run also
# gets a longer timeout.
guest_env=
for v in RTUN_STRESS_SECONDS RTUN_STRESS_SEED RTUN_LIFECYCLE_SECONDS RTUN_LIFECYCLE_SEED; do
    val=${!v:-}
    [ -n "$val" ] || continue
    case "$val" in *[!0-9]*) die "$v must be a number, not '$val'" ;; esac
    guest_env="$guest_env $v=$val"
done
if [ -n "${RTUN_STRESS_SECONDS:-}${RTUN_LIFECYCLE_SECONDS:-}" ] && [ -z "${RTUN_TIMEOUT:-}" ]; then
    # The lifecycle stress runs twice (rtun, then tun.ko).
    RTUN_TIMEOUT=$((600 + 3 * ${RTUN_STRESS_SECONDS:-0} + 6 * ${RTUN_LIFECYCLE_SECONDS:-0}))
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rtun-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,lib,lib64,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,modules,var}
ln -s ../run "$root/var/run"

# copy_bin SRC DST [ROOT]: a binary and every shared library it loads.
copy_bin() {
    local src=$1 dst=$2 r=${3:-$root}
    mkdir -p "$r$(dirname "$dst")"
    install -m 0755 "$src" "$r$dst"
    local lib
    for lib in $(ldd "$src" 2>/dev/null | grep -oE '/[^ ]+' || true); do
        [ -e "$r$lib" ] || { mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; }
    done
}
copy_bin /bin/busybox /bin/busybox
copy_bin "$(command -v ip)" /usr/sbin/ip
copy_bin "$(command -v ethtool)" /usr/sbin/ethtool
copy_bin "$RTUNCTL" /usr/bin/rtunctl
copy_bin "$RTUNBENCH" /usr/bin/rtunbench
copy_bin "$RTUNFUZZ" /usr/bin/rtunfuzz
copy_bin "$RTUNSTRESS" /usr/bin/rtunstress
copy_bin "${RTUNABI:-$RTUN_TOP/target/release/rtunabi}" /usr/bin/rtunabi
# The 32-bit compat_ioctl client, static (scripts/build.sh builds it if it can).
TUN32=${TUN32:-$RTUN_TOP/target/tun32}
if [ -x "$TUN32" ]; then install -m 0755 "$TUN32" "$root/usr/bin/tun32"; fi
cp "$KO" "$root/modules/rtun.ko"
[ -f "$KDIR/drivers/net/tun.ko" ] && cp "$KDIR/drivers/net/tun.ko" "$root/modules/tun.ko"
# The kernel's own tun selftest, static, when scripts/selftest.sh has built it.
selftest=$(tun_selftest_path "$KDIR")
[ -x "$selftest" ] && install -m 0755 "$selftest" "$root/usr/bin/tun_selftest"
# skf_net_off and its script (bash), which runs ./skf_net_off from its folder.
if [ -x "$(dirname "$selftest")/skf_net_off" ]; then
    mkdir -p "$root/selftests/net"
    install -m 0755 "$(dirname "$selftest")/skf_net_off" "$(dirname "$selftest")/skf_net_off.sh" "$root/selftests/net/"
    copy_bin /bin/bash /bin/bash
fi
cp -r "$RTUN_TOP/tests" "$root/tests"

# The drop observers of tests/guest/t_observe.sh and the demo: Debian's
# bpftrace, dropwatch and perf. bpftrace needs no more than its libraries
# (LLVM and clang among them, about 200 MB) and the kernel's BTF
# (/sys/kernel/btf/vmlinux), so they come only with a command that may run
# them: RTUN_GUEST_OBSERVE=auto (the command names run.sh, t_observe.sh or
# demo.sh), 1 or 0. A tool that is not installed is left out (its test skips).
case "${RTUN_GUEST_OBSERVE:-auto}" in
    0|1) with_observe=$RTUN_GUEST_OBSERVE ;;
    *) case "$*" in *run.sh*|*t_observe.sh*|*demo.sh*) with_observe=1 ;; *) with_observe=0 ;; esac ;;
esac
if [ "$with_observe" = 1 ]; then
    for tool in bpftrace dropwatch perf; do
        path=$(command -v "$tool" || true)
        [ -z "$path" ] || copy_bin "$path" "/usr/bin/$tool"
    done
fi

# The inner VM of the guest test test_qemu_multiqueue_vm (tests/guest/t_qemu.sh):
# QEMU and the firmware it loads, the small kernel of `scripts/kernel.sh inner`,
# and the VM's uncompressed initramfs (busybox, ethtool, and
# tests/guest/inner_init.sh as /init). That is about 60 MB, which add 3 s to the
# boot, so they come only with a command that runs the test:
# RTUN_GUEST_QEMU=auto (the default: the command names run.sh or t_qemu.sh), 1 or 0.
case "${RTUN_GUEST_QEMU:-auto}" in
    0|1) with_qemu=$RTUN_GUEST_QEMU ;;
    *) case "$*" in *run.sh*|*t_qemu.sh*) with_qemu=1 ;; *) with_qemu=0 ;; esac ;;
esac
if [ "$with_qemu" = 1 ]; then
    INNER_KDIR=${INNER_KDIR:-$("$RTUN_TOP/scripts/kernel.sh" inner)}
    qemu_bin=$(command -v qemu-system-x86_64)
    copy_bin "$qemu_bin" /usr/bin/qemu-system-x86_64
    mkdir -p "$root/usr/share/qemu" "$root/qemu"
    for fw in qboot.rom linuxboot_dma.bin kvmvapic.bin; do
        for d in $("$qemu_bin" -L help) ""; do
            [ -n "$d" ] || die "QEMU's $fw not found"
            [ -f "$d/$fw" ] && { cp -L "$d/$fw" "$root/usr/share/qemu/"; break; }
        done
    done
    cp "$INNER_KDIR/arch/x86/boot/bzImage" "$root/qemu/bzImage"
    inner=$work/inner
    mkdir -p "$inner"/{bin,usr/sbin,proc,sys,dev,tmp}
    copy_bin /bin/busybox /bin/busybox "$inner"
    # The applets as symlinks: `busybox --install` takes seconds under nested TCG.
    for a in $(/bin/busybox --list); do [ -e "$inner/bin/$a" ] || ln -s busybox "$inner/bin/$a"; done
    copy_bin "$(command -v ethtool)" /usr/sbin/ethtool "$inner"
    install -m 0755 "$RTUN_TOP/tests/guest/inner_init.sh" "$inner/init"
    (cd "$inner" && find . | cpio -o -H newc --quiet) > "$root/qemu/initramfs"
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\nuser:x:1000:1000:user:/:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n' > "$root/etc/group"

printf '%s\n' "$*" > "$root/rtun-cmd"
cat > "$root/init" <<'EOI'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up
cd /
echo "RTUN-GUEST-START"
# The command's output goes to the second serial port, which scripts/guest.sh
# prints line by line as it arrives; the console keeps the kernel's messages.
# Without a second port, the console carries it (and the host prints it at the end).
if [ -c /dev/ttyS1 ] && (exec 3>/dev/ttyS1) 2>/dev/null; then
    exec 3>/dev/ttyS1
    stty -onlcr <&3 2>/dev/null
else
    echo "RTUN-OUTPUT-ON-CONSOLE"
    exec 3>&1
fi
sh -c "$(cat /rtun-cmd)" >&3 2>&3 3>&-
rc=$?
exec 3>&-
echo "RTUN-DMESG-BEGIN"
dmesg
echo "RTUN-DMESG-END"
echo "RTUN-RESULT: $rc"
sync
reboot -f
EOI
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

# log_buf_len: the checks that read the kernel log (no_splat_in_dmesg,
# kcsan_no_reports) need it to hold the whole boot; the default 128 KiB does
# not survive a long stress run's netconsole and tracing lines.
#
# The logs of the run, kept after it (each run replaces them):
# $RTUN_GUEST_LOGS/console.log is the serial console (boot, kernel messages,
# the dmesg dump, the result line), output.log the command's output, both
# written as the guest runs. QEMU writes the second serial port, the command's
# output, to $work/output; follow prints each of its lines as it arrives.
logs=${RTUN_GUEST_LOGS:-$RTUN_TOP/target/guest-logs}
mkdir -p "$logs"
console=$logs/console.log
output=$work/output
: > "$output"
log "booting the guest ($accel${icount:+ ${icount[*]}}): $*"
log "console: $console; the command's output: $logs/output.log"

# follow FILE PID: prints the lines of FILE (without CRs) as they are written,
# also to $logs/output.log, until process PID has ended and FILE is read to its end.
follow() {
    local file=$1 pid=$2 line part='' ended=0
    exec 7>"$logs/output.log" 8<"$file"
    while :; do
        if IFS= read -r line <&8; then
            line=$part$line
            part=
            line=${line%$'\r'}
            printf '%s\n' "$line"
            printf '%s\n' "$line" >&7
        else
            # At the end of what is written so far: line has the start of a
            # line still being written.
            part=$part$line
            [ $ended = 0 ] || break
            kill -0 "$pid" 2>/dev/null || ended=1
            [ $ended = 1 ] || sleep 0.2
        fi
    done
    if [ -n "$part" ]; then
        printf '%s\n' "${part%$'\r'}"
        printf '%s\n' "${part%$'\r'}" >&7
    fi
    exec 7>&- 8<&-
}

set +e
# shellcheck disable=SC2086 # RTUN_QEMU_EXTRA is word-split on purpose (see above)
timeout --kill-after=10 "${RTUN_TIMEOUT:-600}" qemu-system-x86_64 \
    -accel "$accel" "${icount[@]}" ${RTUN_QEMU_EXTRA:-} -cpu "$cpu" -m "${RTUN_GUEST_MEM:-2048}" -smp 2 -nographic -no-reboot -net none \
    -serial mon:stdio -serial "file:$output" \
    -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 panic=-1 oops=panic panic_on_warn=0 quiet loglevel=4 log_buf_len=16M$guest_env" \
    </dev/null >"$console" 2>&1 &
qpid=$!
# An interrupted run takes the guest with it (timeout passes the signal on).
trap 'kill "$qpid" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
follow "$output" "$qpid"
wait "$qpid"
qrc=$?
set -e
trap 'rm -rf "$work"' EXIT

# A kernel without a second serial port: the output was on the console.
if grep -q '^RTUN-OUTPUT-ON-CONSOLE' "$console"; then
    sed -n '/RTUN-OUTPUT-ON-CONSOLE/,/RTUN-DMESG-BEGIN/p' "$console" | sed '1d;$d' | tr -d '\r' | tee "$logs/output.log"
fi
rc=$(sed -n 's/^RTUN-RESULT: \([0-9]*\).*/\1/p' "$console" | tr -d '\r' | tail -1)
if [ -z "$rc" ]; then
    # QEMU's own error, if it stopped before the guest ran (it writes to the console log).
    qemu_err=$(tr -d '\r' < "$console" | grep -m 1 '^qemu-system-x86_64: ' || true)
    if [ $qrc = 124 ] || [ $qrc = 137 ]; then
        if [ "$accel" = kvm ]; then
            echo "[rust_tun] error: the guest hung under KVM and was killed after ${RTUN_TIMEOUT:-600} s (KVM hangs on some hosts): run without --kvm; TCG is the default" >&2
        else
            echo "[rust_tun] error: the guest hung and was killed after ${RTUN_TIMEOUT:-600} s" >&2
        fi
    elif [ "$accel" = kvm ] && ! grep -q '^RTUN-GUEST-START' "$console" && tr -d '\r' < "$console" | grep -qi kvm; then
        echo "[rust_tun] error: KVM failed (${qemu_err:-$(tr -d '\r' < "$console" | grep -i -m 1 kvm)}): run without --kvm; TCG is the default" >&2
    elif [ -n "$qemu_err" ] && ! grep -q '^RTUN-GUEST-START' "$console"; then
        echo "[rust_tun] error: QEMU did not start the guest (exit $qrc; ${qemu_err}): see the console below" >&2
    else
        echo "[rust_tun] error: the guest ended without a result (qemu exit $qrc): crash or panic" >&2
    fi
    echo "----- guest console ($console) -----" >&2
    tr -d '\r' < "$console" | tail -n 200 >&2
    exit 1
fi
if [ "$rc" != 0 ] || [ $show_dmesg = 1 ]; then
    echo "----- guest dmesg -----" >&2
    sed -n '/RTUN-DMESG-BEGIN/,/RTUN-DMESG-END/p' "$console" | sed '1d;$d' | tr -d '\r' >&2
fi
exit "$rc"
