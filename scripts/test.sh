#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The test command: set up, build, lint (scripts/lint.sh), run the host unit
# tests, then boot the test guest and run the KTAP suite in tests/guest/, then
# the KCSAN slice: a few of those tests again on the KCSAN kernel
# (configs/kcsan.config), and its report check. Exit status 0 only if all pass;
# a lint failure stops the run before the tests.
#
# The guest's KTAP lines appear as the guest prints them; the guest's console
# and output are kept in target/guest-logs/suite and target/guest-logs/kcsan
# (under $RTUN_GUEST_LOGS if set).
#
# RTUN_LINT_SECTIONS: the lint sections to run (space-separated, e.g.
# "shellcheck spdx"; scripts/lint.sh lists them), all of them by default.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# The KCSAN slice: guest tests by name (tests/guest/run.sh takes names), run in
# this order on the KCSAN kernel; kcsan_no_reports, which checks what KCSAN
# saw, always comes last. Add a test here by its name (without test_).
# kcsan_hammer (tests/guest/t_kcsan.sh) is the one that gives KCSAN a real
# chance (docs/reliability.md, "KCSAN, the data-race detector"). Keep the
# slice to a few minutes: CI builds this kernel too.
KCSAN_SLICE="
lifecycle_insmod_rmmod_cycles
lifecycle_rmmod_refused_while_open
lifecycle_rmmod_right_after_close
lifecycle_netns_delete_blocked_readers
lifecycle_delete_races_blocked_write
race_napi_write_vs_delete
netpoll_backpressure_xmit
stress_seeded
stress_lifecycle
kcsan_hammer
"
# The slice's stress run is shorter than the suite's, and so are the insmod/rmmod
# cycles (the suite's 100 are 3-4 minutes on the KASAN kernel).
KCSAN_STRESS_SECONDS=${RTUN_KCSAN_STRESS_SECONDS:-30}
KCSAN_LC_CYCLES=${RTUN_KCSAN_LC_CYCLES:-20}

usage="scripts/test.sh [--stress-seconds N] [--stress-seed N] [--no-kcsan | --kcsan-only]"
# --stress-seconds N: how long test_stress_seeded runs in the suite (default 60);
# --stress-seed N: its seed, in the suite and the slice (default: from the
# date, printed in the output). --no-kcsan: not the KCSAN slice (nor its
# kernel's build); --kcsan-only: the KCSAN slice only.
suite=1
kcsan=1
while [ $# -gt 0 ]; do
    case "$1" in
        --stress-seconds) [ $# -ge 2 ] || die "--stress-seconds needs a number"; export RTUN_STRESS_SECONDS=$2; shift 2 ;;
        --stress-seed) [ $# -ge 2 ] || die "--stress-seed needs a number"; export RTUN_STRESS_SEED=$2; shift 2 ;;
        --no-kcsan) kcsan=0; shift ;;
        --kcsan-only) suite=0; shift ;;
        *) die "unknown argument '$1' ($usage)" ;;
    esac
done
[ $suite = 1 ] || [ $kcsan = 1 ] || die "--no-kcsan and --kcsan-only together run nothing"

ktap=$(mktemp)
logs=${RTUN_GUEST_LOGS:-$RTUN_TOP/target/guest-logs}
scratch=
trap 'rm -rf "$ktap" ${scratch:+"$scratch"}' EXIT

# guest_ktap LABEL LOGS: runs scripts/guest.sh with the remaining arguments,
# shows its KTAP output line by line as the guest prints it, and counts it;
# returns non-zero if the guest failed or reported fewer tests than it
# planned. The guest's console and output logs go to the directory LOGS.
guest_ktap() {
    local label=$1 logs=$2 rc pass flaky xfail skip fail planned ran sub_xfail sub_flaky
    shift 2
    set +e
    RTUN_GUEST_LOGS=$logs "$RTUN_TOP/scripts/guest.sh" "$@" | tee "$ktap"
    rc=${PIPESTATUS[0]}
    set -e
    # Top-level results only (subtests are indented). A plain pass has no
    # directive; `# flaky` (passed on retry) and `# XFAIL` are counted apart.
    pass=$(grep -cE '^ok [0-9]+ [^#]*$' "$ktap" || true)
    flaky=$(grep -cE '^ok [0-9]+ [^#]*# flaky' "$ktap" || true)
    xfail=$(grep -cE '^ok [0-9]+ [^#]*# XFAIL' "$ktap" || true)
    skip=$(grep -cE '^ok [0-9]+ [^#]*# SKIP' "$ktap" || true)
    fail=$(grep -cE '^not ok [0-9]+' "$ktap" || true)
    planned=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$ktap" | head -1)
    ran=$((pass + flaky + xfail + skip + fail))
    if [ "$rc" = 0 ] && [ -n "$planned" ] && [ "$ran" != "$planned" ]; then
        log "the guest planned $planned tests but reported $ran"
        rc=1
    fi
    sub_xfail=$(grep -cE '^ +ok [0-9]+ [^#]*# XFAIL' "$ktap" || true)
    sub_flaky=$(grep -cE '^ +ok [0-9]+ [^#]*# flaky' "$ktap" || true)
    echo "$label: $pass passed, $fail failed, $skip skipped, $flaky flaky (passed on retry), $xfail XFAIL; subtests: $sub_xfail XFAIL, $sub_flaky flaky"
    return "$rc"
}

prepare

log "lint (scripts/lint.sh${RTUN_LINT_SECTIONS:+: $RTUN_LINT_SECTIONS})"
"$RTUN_TOP/scripts/lint.sh" ||
    die "lint failed (above): the tests do not run. Fix what it found; scripts/lint.sh SECTION... runs sections again"

rc=0
if [ $suite = 1 ]; then
    log "host unit tests"
    (cd "$RTUN_TOP" && cargo test --quiet --workspace)

    log "guest tests"
    # The upstream tun selftest caps each of its two runs (tun.ko, rtun) at 900 s;
    # the rest of the suite takes a few minutes on the KASAN kernel, plus the
    # stress test's seconds (RTUN_STRESS_SECONDS, default 60).
    RTUN_TIMEOUT=${RTUN_TIMEOUT:-$((3600 + 3 * ${RTUN_STRESS_SECONDS:-60}))} guest_ktap guest "$logs/suite" sh /tests/guest/run.sh || rc=1
fi

if [ $kcsan = 1 ]; then
    log "the KCSAN slice"
    KCSAN_KDIR=${KCSAN_KDIR:-$("$RTUN_TOP/scripts/kernel.sh" kcsan)}
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/rtun-kcsan-module.XXXXXX")
    module_for_tree "$KCSAN_KDIR" "$scratch"
    tests=$(echo "$KCSAN_SLICE" | xargs)
    case " $tests " in *" qemu_multiqueue_vm "*) with_qemu=1 ;; *) with_qemu=0 ;; esac
    # bpftrace, dropwatch and perf (200 MB of libraries) only if a test uses them.
    case " $tests " in *" observe_"*) with_observe=1 ;; *) with_observe=0 ;; esac
    # The settings reach the tests through the guest command's environment.
    KDIR=$KCSAN_KDIR RTUN_KO=$scratch/rtun.ko RTUN_GUEST_QEMU=$with_qemu RTUN_GUEST_OBSERVE=$with_observe RTUN_STRESS_SECONDS='' \
        RTUN_TIMEOUT=$((1800 + 3 * KCSAN_STRESS_SECONDS)) guest_ktap "KCSAN slice" "$logs/kcsan" \
        "RTUN_STRESS_SECONDS=$KCSAN_STRESS_SECONDS LC_CYCLES=$KCSAN_LC_CYCLES sh /tests/guest/run.sh $tests kcsan_no_reports" || rc=1
fi
exit "$rc"
