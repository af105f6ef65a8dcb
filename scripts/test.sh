#!/usr/bin/env bash
# The test command: set up, build, run the host unit tests, then boot the test
# guest and run the KTAP suite in tests/guest/. Exit status 0 only if all pass.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

prepare

log "host unit tests"
(cd "$RTUN_TOP" && cargo test --quiet --workspace)

log "guest tests"
ktap=$(mktemp)
trap 'rm -f "$ktap"' EXIT
set +e
# The upstream tun selftest caps each of its two runs (tun.ko, rtun) at 300 s;
# the rest of the suite takes about a minute.
RTUN_TIMEOUT=${RTUN_TIMEOUT:-3600} "$RTUN_TOP/scripts/guest.sh" sh /tests/guest/run.sh | tee "$ktap"
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -cE '^ok [0-9]+ [^#]*$' "$ktap" || true)
skip=$(grep -cE '^ok [0-9]+ .*# SKIP' "$ktap" || true)
fail=$(grep -cE '^not ok [0-9]+' "$ktap" || true)
planned=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$ktap" | head -1)
ran=$((pass + skip + fail))
if [ "$rc" = 0 ] && [ -n "$planned" ] && [ "$ran" != "$planned" ]; then
    log "the guest planned $planned tests but reported $ran"
    rc=1
fi
echo "guest: $pass passed, $fail failed, $skip skipped"
exit "$rc"
