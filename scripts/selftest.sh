#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the kernel's own tun selftest, tools/testing/selftests/net/tun.c of the
# test kernel's tree, unmodified and statically linked, so that the guest runs
# it without any library; and beside it skf_net_off (a classic filter reading
# headers that lie in an IFF_NAPI_FRAGS frame's fragments), with its script.
# Prints the tun binary's path on stdout.
#
# The kernel's makefiles do the work: `make headers` installs 7.3's UAPI
# headers into $KDIR/usr/include (tun.c needs 7.3's linux/if_tun.h and
# linux/virtio_net.h, newer than the host's), and the net selftests Makefile
# builds tun with the ynl library and its generated rt-* families (ynl.mk; the
# generator needs python3 with PyYAML and jsonschema). The binary is cached in
# $KDIR/rtun-selftest/, whose key is the kernel's; a stamp covers this script,
# the test's sources and the host's gcc and libc, so later runs take no time.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
bin=$(tun_selftest_path "$KDIR")
out=$(dirname "$bin")
src=$KDIR/tools/testing/selftests/net
[ -f "$src/tun.c" ] || die "$src/tun.c missing: KDIR must be a full Linux 7.3 source tree"

stamp=$( {
    cat "${BASH_SOURCE[0]}" "$src/tun.c" "$src/tuntap_helpers.h" "$src/skf_net_off.c" "$src/skf_net_off.sh"
    gcc --version | head -1
    dpkg-query -W -f='${Version}' libc6-dev
} | sha256sum | cut -c1-16)

mkdir -p "$out"
# One build per tree at a time: a second caller waits, then reuses the binary.
exec 8>"$out/.lock"
flock 8

if [ -x "$bin" ] && [ -x "$out/skf_net_off" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$bin"
    exit 0
fi

log "building the upstream tun selftest from $src"
start=$(date +%s)
rm -f "$bin" "$out/.stamp"

# The ynl code generator runs as `#!/usr/bin/env python3`: make that Debian's
# python3, which has python3-yaml and python3-jsonschema, whatever else comes
# first in PATH.
pybin=$out/python-bin
mkdir -p "$pybin"
ln -sf /usr/bin/python3 "$pybin/python3"
/usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null ||
    die "python3-yaml or python3-jsonschema missing: run scripts/setup.sh"

build_log=$out/build.log
run() { "$@" >>"$build_log" 2>&1 || { tail -n 40 "$build_log" >&2; die "selftest build failed: $*"; }; }
: >"$build_log"
# UAPI headers into the tree's usr/include, where the selftest Makefile looks.
run make -C "$KDIR" -s RUSTC="$RUSTC" BINDGEN="$BINDGEN" LIBCLANG_PATH="$LIBCLANG_PATH" headers
# tun and its libynl.a (built in tools/net/ynl, copied into $out). LDFLAGS on
# the command line reaches the link only; the Makefile's CFLAGS stay as they are.
run env PATH="$pybin:$PATH" make -C "$src" OUTPUT="$out" LDFLAGS=-static "$out/tun"
run make -C "$src" OUTPUT="$out" LDFLAGS=-static "$out/skf_net_off"
install -m 0644 "$src/skf_net_off.sh" "$out/skf_net_off.sh"

for b in "$bin" "$out/skf_net_off"; do
    [ -x "$b" ] || die "the selftest build produced no $b"
    case $(readelf -l "$b") in
        *INTERP*) die "$b is dynamically linked; the guest needs a static binary" ;;
    esac
done
echo "$stamp" >"$out/.stamp"
log "upstream tun and skf_net_off selftests built in $(( $(date +%s) - start )) s: $bin"
echo "$bin"
