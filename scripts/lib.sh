# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash # sourced by the scripts, all bash
# Shared settings for the scripts. Sourced, never run.
RTUN_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RTUN_CACHE=${RTUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust_tun}
RUSTC=/usr/bin/rustc
LIBCLANG_PATH=/usr/lib/llvm-19/lib
# shellcheck disable=SC2034 # used by the scripts that source this file
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

# module_for_tree KDIR DIR [MAKE ARGUMENTS...]: builds rtun.ko against the
# kernel tree KDIR in DIR, a scratch copy of the working tree's sources
# (committed or not; never the build outputs of the test build, whose rtun.ko
# in the repo is left alone), with the compiler of KDIR (the Makefile's
# CONFIG_CC_IS_CLANG) and the MAKE ARGUMENTS (scripts/lint.sh: CLIPPY=1).
# Prints the build's output on stderr. Fails as scripts/build.sh does, also on
# objtool's panic paths. Leaves DIR/rtun.ko.
module_for_tree() {
    local kdir=$1 dir=$2 out f
    shift 2
    mkdir -p "$dir"
    if git -C "$RTUN_TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$RTUN_TOP" && git ls-files -co --exclude-standard) |
            while IFS= read -r f; do [ -f "$RTUN_TOP/$f" ] && printf '%s\n' "$f"; done |
            tar -C "$RTUN_TOP" -T - -cf - | tar -C "$dir" -xf -
    else
        cp -r "$RTUN_TOP"/Makefile "$RTUN_TOP"/Kbuild "$RTUN_TOP"/*.rs "$RTUN_TOP"/*.c "$RTUN_TOP"/*.h "$RTUN_TOP"/abstractions "$RTUN_TOP"/driver "$RTUN_TOP"/logic "$dir"/
    fi
    log "building rtun.ko against $kdir (in $dir)"
    out=$(make -C "$dir" KDIR="$kdir" "$@" 2>&1) || { echo "$out" >&2; die "module build failed"; }
    echo "$out" | grep -v '^make' >&2 || true
    if echo "$out" | grep -q 'falls through to next function'; then
        die "objtool found a panic path in module code (see above)"
    fi
    [ -f "$dir/rtun.ko" ] || die "no rtun.ko after the build in $dir"
}

# tun_selftest_path KDIR: where scripts/selftest.sh caches the static build of
# the tree's tools/testing/selftests/net/tun.c.
tun_selftest_path() { echo "$1/rtun-selftest/tun"; }

log() { printf '[rust_tun] %s\n' "$*" >&2; }
die() { printf '[rust_tun] error: %s\n' "$*" >&2; exit 1; }

# build_progress LABEL [ESTIMATE]: the progress of a kernel build, whose make
# (without -s) writes one line a build step on stdout ("  CC      net/core/dev.o",
# "  RUSTC L rust/core.o", "  LD [M]  drivers/net/tun.ko"). Reads those lines,
# and every 30 s, whether steps come or not (a long link, the Rust core),
# prints on stderr how many steps are done (of about ESTIMATE, the count of
# the last such build, when known), the time so far and the latest step.
# Other lines are passed on to stderr. At the end, prints the count of steps on
# stdout. RTUN_PROGRESS_SECONDS changes the 30 s.
build_progress() {
    local label=$1 est=${2:-} every=${RTUN_PROGRESS_SECONDS:-30} line part='' n=0 latest='' t0=$SECONDS next
    local step_re='^  ([A-Z0-9_]+( \[M\])?) +([^ ].*)$'
    next=$((SECONDS + every))
    while :; do
        if IFS= read -r -t 5 line; then
            line=$part$line
            part=''
        elif [ $? -gt 128 ]; then
            # A timeout: line has what came of a line not finished yet.
            part=$part$line
            line=''
        else
            line=$part$line
            part=''
            [ -n "$line" ] || break
        fi
        if [[ $line =~ $step_re ]]; then
            n=$((n + 1))
            latest="${BASH_REMATCH[1]} ${BASH_REMATCH[3]}"
        elif [ -n "$line" ]; then
            printf '%s\n' "$line" >&2
        fi
        if [ "$SECONDS" -ge "$next" ]; then
            log "$label: $n build steps${est:+ of about $est} done, $(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s${latest:+; latest: $latest}"
            next=$((SECONDS + every))
        fi
    done
    printf '%s\n' "$n"
}
