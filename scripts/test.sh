#!/usr/bin/env bash
# The test command: set up, build, run the host unit tests, then boot the test
# guest and run the KTAP suite in tests/guest/. Exit status 0 only if all pass.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# --stress-seconds N: how long test_stress_seeded runs (default 60);
# --stress-seed N: its seed (default: from the date, printed in the output).
while [ $# -gt 0 ]; do
    case "$1" in
        --stress-seconds) [ $# -ge 2 ] || die "--stress-seconds needs a number"; export RTUN_STRESS_SECONDS=$2; shift 2 ;;
        --stress-seed) [ $# -ge 2 ] || die "--stress-seed needs a number"; export RTUN_STRESS_SEED=$2; shift 2 ;;
        *) die "unknown argument '$1' (scripts/test.sh [--stress-seconds N] [--stress-seed N])" ;;
    esac
done

prepare

log "host unit tests"
(cd "$RTUN_TOP" && cargo test --quiet --workspace)

log "guest tests"
ktap=$(mktemp)
trap 'rm -f "$ktap"' EXIT
set +e
# The upstream tun selftest caps each of its two runs (tun.ko, rtun) at 900 s;
# the rest of the suite takes a few minutes on the KASAN kernel, plus the
# stress test's seconds (RTUN_STRESS_SECONDS, default 60).
RTUN_TIMEOUT=${RTUN_TIMEOUT:-$((3600 + 3 * ${RTUN_STRESS_SECONDS:-60}))} "$RTUN_TOP/scripts/guest.sh" sh /tests/guest/run.sh | tee "$ktap"
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
echo "guest: $pass passed, $fail failed, $skip skipped, $flaky flaky (passed on retry), $xfail XFAIL; subtests: $sub_xfail XFAIL, $sub_flaky flaky"
exit "$rc"
