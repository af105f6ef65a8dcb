#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install everything rust_tun needs, from Debian's packages and crates.io only.
# Idempotent: when everything is already there it only checks, in a few seconds.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BINDGEN_VERSION=0.73.2

# Packages from the suites the machine already lists. libc6-dev (libc.a) and
# python3-yaml + python3-jsonschema (the ynl code generator) build the upstream
# tun selftest; rustfmt-web, rust-web-clippy (rustfmt, cargo-fmt,
# clippy-driver, cargo-clippy, of rustc-web's version) and shellcheck are
# scripts/lint.sh's. dwarves (pahole) makes the test kernel's BTF; bpftrace,
# dropwatch and linux-perf are copied into the guest for
# tests/guest/t_observe.sh and the demo.
BASE_PKGS=(rustc-web rust-web-src libclang-19-dev clang-19 llvm-19
           flex bison bc libelf-dev libssl-dev cpio kmod busybox-static
           iproute2 ethtool xz-utils make gcc gcc-multilib
           libc6-dev python3-yaml python3-jsonschema
           rustfmt-web rust-web-clippy shellcheck
           dwarves bpftrace dropwatch linux-perf)
# linux-source-7.3 comes from trixie-backports, QEMU from bookworm-backports.
SRC_PKG=linux-source-7.3
QEMU_PKG=qemu-system-x86

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${BASE_PKGS[@]}" "$SRC_PKG" "$QEMU_PKG"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    # Add the two backports suites on the mirror the machine already uses.
    list=/etc/apt/sources.list.d/rust_tun-backports.sources
    if [ ! -f "$list" ]; then
        uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' \
              /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
        [ -n "$uri" ] || die "cannot find the Debian mirror URI in the apt sources"
        as_root tee "$list" >/dev/null <<EOT
Types: deb
URIs: $uri
Suites: trixie-backports bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
    fi
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    base=()
    for p in "${missing[@]}"; do
        case "$p" in "$SRC_PKG"|"$QEMU_PKG") ;; *) base+=("$p") ;; esac
    done
    [ ${#base[@]} -eq 0 ] || as_root apt-get install -y -qq --no-install-recommends "${base[@]}"
    as_root apt-get install -y -qq --no-install-recommends "$SRC_PKG/trixie-backports"
    as_root apt-get install -y -qq --no-install-recommends -t bookworm-backports "$QEMU_PKG"
fi

# bindgen, pinned, installed into the cache so it never touches the user's cargo bin.
if ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
    need_cache
    log "installing bindgen-cli $BINDGEN_VERSION from crates.io"
    cargo install --quiet --locked --root "$RTUN_CACHE/bindgen-$BINDGEN_VERSION" \
        bindgen-cli --version "$BINDGEN_VERSION"
fi
log "setup complete"
