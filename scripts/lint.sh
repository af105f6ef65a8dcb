#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The lint command: static checks of the whole tree, in sections. Each section
# prints its name, then what it found; the exit status is 0 only if every
# section that ran passed (all of them run, whatever the first one found).
#
#   scripts/lint.sh [SECTION...]
#
# SECTIONs, all of them by default (or those of RTUN_LINT_SECTIONS, a
# space-separated list, when no argument is given), in this order:
#
#   * shellcheck: shellcheck -x over every tracked shell file (*.sh and
#     .ci/run); .shellcheckrc says where sourced files are
#   * spdx: every tracked *.rs, *.c, *.h, *.sh, *.toml, Kbuild, Makefile and
#     .ci/run has SPDX-License-Identifier in its first 3 lines
#   * rustfmt: the module (rustfmt follows rust_tun.rs's mods) is formatted
#     with the kernel's .rustfmt.toml, and the top-level rustfmt.toml has the
#     same settings as that file
#   * clippy: the module builds with CLIPPY=1 (clippy-driver) in a scratch
#     copy of the tree, without a warning or an error
#   * host: cargo fmt --check and cargo clippy -D warnings over the
#     workspace (tools/, tests/host/)
#   * layers: the module's layers: abstractions/ uses nothing of driver/,
#     logic/ or skb_reason.rs (the text `crate::driver`, `crate::logic`,
#     `crate::skb_reason`, comments included); logic/ and skb_reason.rs
#     nothing of driver/; and the module's sources name no issue numbers
#
# rustfmt and clippy need the test kernel's tree: KDIR, else
# scripts/kernel.sh's (built on first use). The Rust tools are Debian's
# (rustfmt-web, rust-web-clippy; scripts/setup.sh installs them).
# scripts/test.sh runs this after its build, before it boots the guest.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ALL_SECTIONS="shellcheck spdx rustfmt clippy host layers"
RUSTFMT=/usr/bin/rustfmt
CARGO_FMT=/usr/bin/cargo-fmt
CARGO_CLIPPY=/usr/bin/cargo-clippy
CLIPPY_DRIVER=/usr/bin/clippy-driver

if [ $# -gt 0 ]; then
    sections=("$@")
else
    read -r -a sections <<< "${RTUN_LINT_SECTIONS:-$ALL_SECTIONS}"
fi
for s in "${sections[@]}"; do
    case " $ALL_SECTIONS " in
        *" $s "*) ;;
        *) die "unknown section '$s' (scripts/lint.sh [SECTION...]; sections: $ALL_SECTIONS)" ;;
    esac
done

cd "$RTUN_TOP"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$RTUN_TOP is not a git work tree"

# kdir: the kernel tree, KDIR or the test kernel's (built on first use).
kdir() {
    if [ -z "${KDIR:-}" ]; then
        KDIR=$("$RTUN_TOP/scripts/kernel.sh")
        export KDIR
    fi
    echo "$KDIR"
}

# tracked PATHSPEC...: the tracked files that match, one a line.
tracked() { git ls-files -- "$@"; }

# shell_files: every tracked shell file.
shell_files() { tracked '*.sh' .ci/run; }

lint_shellcheck() {
    local files=()
    mapfile -t files < <(shell_files)
    echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'), ${#files[@]} files"
    shellcheck -x "${files[@]}"
}

lint_spdx() {
    local f bad=0
    while IFS= read -r f; do
        [ -f "$f" ] || continue
        if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier'; then
            echo "$f: no SPDX-License-Identifier in its first 3 lines"
            bad=1
        fi
    done < <(tracked '*.rs' '*.c' '*.h' '*.sh' '*.toml' ':(glob)**/Kbuild' ':(glob)**/Makefile' .ci/run)
    return "$bad"
}

# settings FILE: a TOML file's settings, without comments and blank lines,
# sorted.
settings() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$1" | grep -v '^$' | sort; }

lint_rustfmt() {
    local k rc=0
    k=$(kdir)
    [ -f "$k/.rustfmt.toml" ] || { echo "$k/.rustfmt.toml missing"; return 1; }
    echo "$RUSTFMT --check --config-path $k/.rustfmt.toml rust_tun.rs"
    "$RUSTFMT" --check --config-path "$k/.rustfmt.toml" rust_tun.rs || rc=1
    if ! diff <(settings rustfmt.toml) <(settings "$k/.rustfmt.toml"); then
        echo "rustfmt.toml and $k/.rustfmt.toml have different settings (< ours, > the kernel's)"
        rc=1
    fi
    return "$rc"
}

# kbuild's own notes, not the compiler's: a pahole other than the one the
# kernel was built with (dwarves installed after a kernel built without BTF).
KBUILD_NOTES='^warning: pahole version differs'

lint_clippy() {
    local k scratch rc=0
    k=$(kdir)
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/rtun-clippy.XXXXXX")
    # In a subshell: module_for_tree dies on a failed build.
    if ! (module_for_tree "$k" "$scratch" CLIPPY=1 CLIPPY_DRIVER="$CLIPPY_DRIVER") 2> "$scratch.log"; then
        cat "$scratch.log"
        rc=1
    elif grep -Ev "$KBUILD_NOTES" "$scratch.log" | grep -Eq '^(warning|error)(\[[^]]*\])?:'; then
        cat "$scratch.log"
        echo "clippy: $(grep -Ev "$KBUILD_NOTES" "$scratch.log" | grep -Ec '^(warning|error)(\[[^]]*\])?:') warning or error line(s) (above)"
        rc=1
    else
        grep -v '^\[rust_tun\]' "$scratch.log" || true
    fi
    rm -rf "$scratch" "$scratch.log"
    return "$rc"
}

lint_host() {
    local rc=0
    echo "cargo fmt --all --check"
    RUSTFMT=$RUSTFMT "$CARGO_FMT" fmt --all --check || rc=1
    echo "cargo clippy --workspace --all-targets -- -D warnings"
    "$CARGO_CLIPPY" clippy --quiet --workspace --all-targets -- -D warnings || rc=1
    return "$rc"
}

# grep_layer WHAT PATTERN PATH...: prints the lines of PATH... (files, or
# folders searched whole) that match the extended regex PATTERN; fails if
# there are any, saying WHAT they break.
grep_layer() {
    local what=$1 pattern=$2 hits=()
    shift 2
    mapfile -t hits < <(grep -rnE --include='*.rs' -- "$pattern" "$@" || true)
    [ ${#hits[@]} -gt 0 ] || return 0
    echo "$what:"
    printf '  %s\n' "${hits[@]}"
    return 1
}

lint_layers() {
    local rc=0
    grep_layer "abstractions/ uses a layer above it" 'crate::(driver|logic|skb_reason)' abstractions || rc=1
    grep_layer "logic/ or skb_reason.rs uses driver/" 'crate::driver' logic skb_reason.rs || rc=1
    grep_layer "the module's sources name issue numbers (say what the code does)" '[Ii]ssue [0-9]' \
        abstractions driver logic skb_reason.rs rust_tun.rs || rc=1
    return "$rc"
}

failed=()
for s in "${sections[@]}"; do
    echo "== lint: $s"
    if "lint_$s"; then
        echo "== lint: $s: ok"
    else
        echo "== lint: $s: FAILED"
        failed+=("$s")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    log "lint failed: ${failed[*]} (scripts/lint.sh ${failed[*]} runs those again)"
    exit 1
fi
log "lint: ${sections[*]}: ok"
