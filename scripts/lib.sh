# Shared settings for the scripts. Sourced, never run.
RTUN_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RTUN_CACHE=${RTUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust_tun}
RUSTC=/usr/bin/rustc
LIBCLANG_PATH=/usr/lib/llvm-19/lib
BINDGEN=$RTUN_CACHE/bindgen-0.73.2/bin/bindgen
export RUSTC LIBCLANG_PATH

# prepare: set up, build (or reuse) the test kernel, build the module and tools.
# Exports KDIR.
prepare() {
    "$RTUN_TOP/scripts/setup.sh"
    KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
    export KDIR
    "$RTUN_TOP/scripts/build.sh"
}

# tun_selftest_path KDIR: where scripts/selftest.sh caches the static build of
# the tree's tools/testing/selftests/net/tun.c.
tun_selftest_path() { echo "$1/rtun-selftest/tun"; }

log() { printf '[rust_tun] %s\n' "$*" >&2; }
die() { printf '[rust_tun] error: %s\n' "$*" >&2; exit 1; }
