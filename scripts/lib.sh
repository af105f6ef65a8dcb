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
    tree_check "$kdir" modules
    log "building rtun.ko against $kdir (in $dir)"
    out=$(make -C "$dir" KDIR="$kdir" "$@" 2>&1) || module_build_failed "$out" "$kdir"
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

# need_cache: $RTUN_CACHE exists and this user can write in it, or the run
# dies saying so (the kernels and bindgen are built there).
need_cache() {
    local probe
    if mkdir -p "$RTUN_CACHE" 2>/dev/null && probe=$(mktemp "$RTUN_CACHE/.write-test.XXXXXX" 2>/dev/null); then
        rm -f "$probe"
        return 0
    fi
    die "the cache $RTUN_CACHE is not writable by $(id -un): fix its permissions, or set RTUN_CACHE to a writable directory (docs/setup.md#the-cache)"
}

# tree_name KDIR: KDIR for a message: "the cached kernel in KDIR" for one of
# scripts/kernel.sh's trees, else "the kernel tree KDIR".
tree_name() {
    case $1 in
        "$RTUN_CACHE"/linux-*) echo "the cached kernel in $1" ;;
        *) echo "the kernel tree $1" ;;
    esac
}

# tree_fix KDIR: what to do about KDIR when it is incomplete or stale.
tree_fix() {
    case $1 in
        "$RTUN_CACHE"/linux-*) echo "remove $1 and rerun (scripts/kernel.sh rebuilds it)" ;;
        *) echo "rebuild it (make bzImage modules in it), or unset KDIR to use the cached test kernel" ;;
    esac
}

# tree_stale KDIR WHAT: dies: the kernel tree KDIR is not fit for use (WHAT
# says how), with what to do. A cached tree without its stamp whose lock is
# held is a build still under way.
tree_stale() {
    local kdir=$1 what=$2
    if [ ! -f "$kdir/.rtun-complete" ] && [ -e "$kdir.lock" ] && ! flock -n "$kdir.lock" true 2>/dev/null; then
        die "$(tree_name "$kdir") is still being built by another run (it holds $kdir.lock): wait for it to finish"
    fi
    die "$(tree_name "$kdir") looks incomplete or stale ($what): $(tree_fix "$kdir")"
}

# tree_check KDIR USE...: dies, saying what to do, unless the kernel tree
# KDIR is built for each USE: `modules` (building rtun.ko against it: the
# files kbuild reads, and for a kernel with Rust, its `kernel` crate built by
# $RUSTC: a Rust module must be built by its kernel's rustc) or `boot`
# (booting it: its bzImage). A cached tree fails it when files were deleted
# after its build (a `make clean` in it, a disk cleaner), or when KDIR still
# names the tree of an older toolchain.
tree_check() {
    local kdir=$1 use f files=() built now
    shift
    [ -d "$kdir" ] || die "the kernel tree $kdir (KDIR) does not exist: unset KDIR to use the cached test kernel (scripts/kernel.sh builds it), or point KDIR at a built Linux 7.3 tree"
    [ -f "$kdir/.config" ] || tree_stale "$kdir" "no .config"
    for use in "$@"; do
        case $use in
            modules)
                grep -qx 'CONFIG_MODULES=y' "$kdir/.config" ||
                    die "$(tree_name "$kdir") has no module support (CONFIG_MODULES): point KDIR at a kernel with modules, or unset it for the cached test kernel"
                files+=(include/config/kernel.release include/generated/autoconf.h Module.symvers scripts/module.lds scripts/mod/modpost)
                if grep -qx 'CONFIG_RUST=y' "$kdir/.config"; then files+=(rust/libkernel.rmeta); fi ;;
            boot) files+=(arch/x86/boot/bzImage) ;;
            *) die "tree_check: unknown use '$use'" ;;
        esac
    done
    for f in "${files[@]}"; do
        [ -e "$kdir/$f" ] || tree_stale "$kdir" "no $f"
    done
    case " $* " in *" modules "*) ;; *) return 0 ;; esac
    built=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$kdir/.config")
    now=$("$RUSTC" --version)
    if [ -n "$built" ] && [ "$built" != "$now" ]; then
        die "$(tree_name "$kdir") was built by $built, this build uses $now, and a Rust module needs its kernel's rustc: unset KDIR if it names an old tree (scripts/kernel.sh builds one with this rustc), or rebuild $kdir with $RUSTC"
    fi
}

# module_build_failed OUT KDIR: prints OUT, the output of rtun.ko's failed
# build against KDIR, and dies; when the build failed on the kernel tree (its
# Rust crates or Module.symvers) rather than on rtun's code, says what to do.
module_build_failed() {
    local out=$1 kdir=$2
    printf '%s\n' "$out" >&2
    if printf '%s\n' "$out" | grep -Eq 'error\[E0(460|463|514|786)\]|Module\.symvers is missing|Kernel configuration is invalid'; then
        die "module build failed on $(tree_name "$kdir") itself (its Rust crates or Module.symvers do not fit; see above): $(tree_fix "$kdir")"
    fi
    die "module build failed"
}

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
