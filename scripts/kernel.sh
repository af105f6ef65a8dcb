#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) a Linux 7.3 kernel, cached outside the repo. Prints the tree's
# path on stdout.
#
#   scripts/kernel.sh [test|bench|inner|kcsan]
#
# test (the default): configs/rtun.config, lockdep and fault injection, for the
# guest suite; bench: configs/bench.config, the same functional options without
# the debugging, for scripts/bench.sh; inner: configs/inner.config, the small
# kernel (bzImage only) of the VM that the guest test test_qemu_multiqueue_vm
# runs under an inner QEMU; kcsan: configs/rtun.config with configs/kcsan.config
# over it (KCSAN instead of KASAN, no lockdep), for the KCSAN slice of
# scripts/test.sh. The cache key covers the kernel source package, the
# config fragment and the toolchain, so changing any of them builds a new tree.
# A finished tree (.rtun-complete) is reused only while the files that rtun.ko's
# build and the guest read are there (scripts/lib.sh, tree_check); else the
# run stops and says to remove it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

kind=${1:-test}
cc=gcc
K=$RTUN_TOP/configs
# FRAGS: the fragments merged over tinyconfig, in order (a later line for the
# same symbol wins).
case "$kind" in
    test) FRAGS=("$K/rtun.config"); prefix=linux-7.3; targets=(bzImage modules); minutes=8-18; cc=clang-19 ;;
    bench) FRAGS=("$K/bench.config"); prefix=linux-7.3-bench; targets=(bzImage modules); minutes=6-10 ;;
    inner) FRAGS=("$K/inner.config"); prefix=linux-7.3-inner; targets=(bzImage); minutes=3-5 ;;
    kcsan) FRAGS=("$K/rtun.config" "$K/kcsan.config"); prefix=linux-7.3-kcsan; targets=(bzImage modules); minutes=10-14; cc=clang-19 ;;
    *) die "usage: scripts/kernel.sh [test|bench|inner|kcsan]" ;;
esac
names=$(for f in "${FRAGS[@]}"; do basename "$f"; done | paste -sd+)

SRC_TAR=/usr/src/linux-source-7.3.tar.xz
[ -f "$SRC_TAR" ] || die "$SRC_TAR missing: run scripts/setup.sh"
need_cache
[ -x "$BINDGEN" ] || die "bindgen missing: run scripts/setup.sh"

key=$( {
    dpkg-query -W -f='${Version}' linux-source-7.3
    cat "${FRAGS[@]}"
    "$RUSTC" --version
    "$BINDGEN" --version
    /usr/lib/llvm-19/bin/clang --version | head -1
    "$cc" --version | head -1
    # BTF is pahole's output: a kernel with BTF follows pahole's version too
    # (so does the KCSAN kernel, which turns BTF off over rtun.config: harmless).
    if grep -qx 'CONFIG_DEBUG_INFO_BTF=y' "${FRAGS[@]}"; then pahole --version; fi
} | sha256sum | cut -c1-16)
tree=$RTUN_CACHE/$prefix-$key

# One build per key at a time: a second caller waits, then reuses the tree.
# The lock is flock's, which ends with the process that holds it: a lock
# file left by a run that was killed holds nothing.
exec 9>"$tree.lock"
if ! flock -n 9; then
    log "waiting for another run that is building the $kind kernel in $tree (it holds $tree.lock)"
    flock 9
fi

# uses: what the tree must be fit for (scripts/lib.sh, tree_check).
uses=(boot)
case " ${targets[*]} " in *" modules "*) uses+=(modules) ;; esac
if [ -f "$tree/.rtun-complete" ]; then
    # Built, but files may have gone since (a make clean in it, a cleaner).
    tree_check "$tree" "${uses[@]}"
    echo "$tree"
    exit 0
fi

# Trees of the same kind under other keys (an older toolchain, linux-source
# or config) are never used again by this checkout once it has moved on.
for old in "$RTUN_CACHE/$prefix-"????????????????; do
    if [ ! -d "$old" ] || [ "$old" = "$tree" ]; then continue; fi
    log "$old is a $kind kernel of another key (an older toolchain, linux-source or config): remove it to free its space once no checkout uses it"
done
log "building the $kind kernel ($names) in $tree (first time: about $minutes minutes)"
rm -rf "$tree"
mkdir -p "$tree"
tar -xf "$SRC_TAR" -C "$tree" --strip-components=1
kmake() { make -C "$tree" --no-print-directory CC="$cc" HOSTCC=gcc RUSTC="$RUSTC" BINDGEN="$BINDGEN" LIBCLANG_PATH="$LIBCLANG_PATH" "$@"; }
kmake -s tinyconfig >/dev/null
(cd "$tree" && scripts/kconfig/merge_config.sh -m .config "${FRAGS[@]}" >/dev/null)
kmake -s olddefconfig >/dev/null

# Kconfig silently drops a symbol whose dependencies are off: check every line,
# "=y/m/value" lines and "is not set" lines alike; for a symbol set by more
# than one fragment, the last line.
bad=0
declare -A want=()
order=()
for f in "${FRAGS[@]}"; do
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=*) sym=${line%%=*}; val=${line#*=} ;;
            "# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}; val= ;;
            *) continue ;;
        esac
        [ -n "${want[$sym]+set}" ] || order+=("$sym")
        want[$sym]=$val
    done < "$f"
done
for sym in "${order[@]}"; do
    got=$(grep -E "^$sym=" "$tree/.config" | head -1 | cut -d= -f2- || true)
    if [ "$got" != "${want[$sym]}" ]; then
        echo "[rust_tun] config: $sym wanted '${want[$sym]:-not set}', got '${got:-not set}'" >&2
        bad=1
    fi
done
[ $bad = 0 ] || die "the kernel config does not match $names (see above)"

# The build prints its progress every 30 s (scripts/lib.sh, build_progress): the
# steps done, of about as many as the last build of this kind had
# ($RTUN_CACHE/$prefix.build-steps keeps that count), and the latest step.
start=$(date +%s)
steps_file=$RTUN_CACHE/$prefix.build-steps
est=$(cat "$steps_file" 2>/dev/null || true)
steps=$(kmake -j"$(( $(nproc) + 1 ))" "${targets[@]}" | build_progress "$kind kernel" "$est")
echo "$steps" > "$steps_file"
log "$kind kernel built in $(( $(date +%s) - start )) s ($steps build steps)"
touch "$tree/.rtun-complete"
echo "$tree"
