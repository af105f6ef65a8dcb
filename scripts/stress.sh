#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The lifecycle stress, long: boots the test guest and runs the guest test
# stress_lifecycle (tests/guest/t_stress.sh: `rtunstress lifecycle` on tun.ko,
# the control, then on rtun, with the same seed) for N seconds per driver.
#
#   scripts/stress.sh [--seconds N] [--seed S] [--no-build]
#
# N defaults to 300, S to the date (printed: a failure replays with
# --seed S). Builds the module and tools first (scripts/build.sh) unless
# --no-build. The settings reach the guest as RTUN_LIFECYCLE_SECONDS and
# RTUN_LIFECYCLE_SEED on the kernel command line (scripts/guest.sh), which
# also gives the guest a timeout long enough for both runs. Exit status: the
# test's.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

seconds=300
seed=$(date +%s)
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) [ $# -ge 2 ] || die "--seconds needs a number"; seconds=$2; shift 2 ;;
        --seed) [ $# -ge 2 ] || die "--seed needs a number"; seed=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        *) die "unknown argument '$1' (scripts/stress.sh [--seconds N] [--seed S] [--no-build])" ;;
    esac
done
case "$seconds$seed" in *[!0-9]*) die "--seconds and --seed take numbers" ;; esac

if [ $build = 1 ]; then
    KDIR=${KDIR:-$("$RTUN_TOP/scripts/kernel.sh")}
    export KDIR
    "$RTUN_TOP/scripts/build.sh"
fi
log "lifecycle stress: seed $seed, $seconds s per driver"
export RTUN_LIFECYCLE_SECONDS=$seconds RTUN_LIFECYCLE_SEED=$seed
exec "$RTUN_TOP/scripts/guest.sh" 'cd /tests/guest && . ./lib.sh && . ./t_stress.sh && run_test stress_lifecycle test_stress_lifecycle && ktap_finish'
