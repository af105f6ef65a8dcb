#!/usr/bin/env bash
# Build everything: the test kernel (cached), rtun.ko, and the host tools
# (rtunctl, rtunbench).
# Fails if objtool reports a function falling through into a panic path: module
# code must not panic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
log "building rtun.ko against $KDIR"
out=$(make -C "$RTUN_TOP" KDIR="$KDIR" 2>&1) || { echo "$out" >&2; die "module build failed"; }
echo "$out" | grep -v '^make' >&2 || true
if echo "$out" | grep -q 'falls through to next function'; then
    die "objtool found a panic path in module code (see above)"
fi
log "building tools/rtunctl and tools/rtunbench"
cargo build --quiet --release -p rtunctl -p rtunbench
