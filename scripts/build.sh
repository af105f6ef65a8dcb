#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build everything: the test kernel (cached), rtun.ko, the host tools
# (rtunctl, rtunbench, rtunfuzz, rtunstress), the 32-bit compat_ioctl client tools/compat32/tun32.c
# (skipped without gcc -m32), and the kernel's own tun selftest for the guest
# (cached with the kernel).
# Fails if objtool reports a function falling through into a panic path: module
# code must not panic.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
tree_check "$KDIR" modules
log "building rtun.ko against $KDIR"
out=$(make -C "$RTUN_TOP" KDIR="$KDIR" 2>&1) || module_build_failed "$out" "$KDIR"
echo "$out" | grep -v '^make' >&2 || true
if echo "$out" | grep -q 'falls through to next function'; then
    die "objtool found a panic path in module code (see above)"
fi
log "building tools/rtunctl, tools/rtunbench, tools/rtunfuzz and tools/rtunstress"
cargo build --quiet --release -p rtunctl -p rtunabi -p rtunbench -p rtunfuzz -p rtunstress

# A static 32-bit binary: the guest has no 32-bit libc. gcc-multilib gives -m32.
TUN32=$RTUN_TOP/target/tun32
if echo 'int main(void) { return 0; }' | gcc -m32 -static -x c -o /dev/null - 2>/dev/null; then
    log "building tools/compat32/tun32 (gcc -m32 -static)"
    mkdir -p "$(dirname "$TUN32")"
    gcc -m32 -static -O2 -Wall -Wextra -Werror -o "$TUN32" "$RTUN_TOP/tools/compat32/tun32.c"
else
    rm -f "$TUN32"
    log "skipping tools/compat32/tun32: gcc -m32 -static does not work (install gcc-multilib); test_abi_compat32 will skip"
fi
log "building the upstream tun selftest (cached)"
KDIR=$KDIR "$RTUN_TOP/scripts/selftest.sh" >/dev/null
