# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Seeded fuzzing of the user-facing surface: tools/rtunfuzz runs one
# seeded sequence of opens, closes, TUNSETIFF/TUNSETQUEUE/TUNSETPERSIST, every
# TUN* and SIOC* ioctl with random arguments and bad pointers, random ioctl
# numbers, frames of random lengths and headers, short and bad reads, polls,
# and UDP traffic through the devices, on C tun.ko (the control) and on rtun.
#
# Fails on: an errno the "Errnos" table of docs/abi.md does not document for the
# call (on either driver: the table claims to be tun's), a frame rtun does not
# account for (rx_packets = successful writes, tx_packets = frames read, every
# ndo_start_xmit a frame read or counted in tx_dropped, per-reason counters =
# rx_dropped + rx_frame_errors + the driver's transmit drops, less the core's
# own drops; see docs/testing.md, "Seeded fuzzing"), and a kernel splat during the runs.
# The call-by-call traces of the two runs are compared for the ioctls, opens
# and closes, whose results do not depend on timing; differences are printed. The two drivers' (call, errno) histograms are printed side by side;
# they are not compared for equality: the reads and writes see frames whose
# arrival depends on timing, and rtun differs from tun on purpose in places
# (device names, a read into an unwritable buffer, counting purged frames).
# A (call, errno) seen on one driver only is listed as a finding.
#
# RTUN_FUZZ_SEED replays a seed; RTUN_FUZZ_ITERATIONS changes the length.

FUZZ_SEED_DEFAULT=9031
FUZZ_ITERATIONS_DEFAULT=500

# fuzz_run DEV OUT: one run; its exit status. seed and iters are those of
# its caller, test_fuzz_seeded.
fuzz_run() {
    rtunfuzz --seed "$seed" --iterations "$iters" --dev "$1" --trace "$2.trace" > "$2" 2> "$2.err"
}

test_fuzz_seeded() {
    local seed iters rc s0 trc s1 rrc s2 d found ndiff
    # Both drivers loaded, IPv6 autoconfiguration off (t_abi.sh).
    abi_prepare || return $?
    seed=${RTUN_FUZZ_SEED:-$FUZZ_SEED_DEFAULT}
    iters=${RTUN_FUZZ_ITERATIONS:-$FUZZ_ITERATIONS_DEFAULT}
    diag "seed $seed, $iters iterations per driver (replay: RTUN_FUZZ_SEED=$seed)"
    rc=0
    s0=$(splats | wc -l)
    fuzz_run /dev/net/tun /tmp/fuzz.tun; trc=$?
    s1=$(splats | wc -l)
    fuzz_run /dev/net/rtun /tmp/fuzz.rtun; rrc=$?
    s2=$(splats | wc -l)
    for d in tun rtun; do
        diag "$d: $(grep '^time: ' /tmp/fuzz.$d) $(grep '^result: ' /tmp/fuzz.$d)"
    done
    diag "calls per kind (rtun):"
    sed -n 's/^calls: /#   /p' /tmp/fuzz.rtun
    diag "errno histogram: call errno rtun tun.ko"
    errno_table /tmp/fuzz.rtun /tmp/fuzz.tun 22 > /tmp/fuzz.hist
    cat /tmp/fuzz.hist
    found=$(grep -c ' only$' /tmp/fuzz.hist)
    diag "$found (call, errno) pair(s) seen on one driver only (findings, not failures)"
    for d in tun rtun; do
        diag "$d: $(grep '^devices: ' /tmp/fuzz.$d)"
        diag "$d: time per action: $(sed -n 's/^action time: //p' /tmp/fuzz.$d | tr '\n' ';')"
    done
    # The call-by-call traces (device names normalised): where the ioctls'
    # results first differ. Reads, writes and polls depend on timing (frames
    # in flight) and on rtun's intended differences, so only the rest is shown.
    for d in tun rtun; do grep -v -E '^[0-9]+ (read|write|poll) ' /tmp/fuzz.$d.trace > /tmp/fuzz.$d.ioctls; done
    ndiff=$(diff /tmp/fuzz.tun.ioctls /tmp/fuzz.rtun.ioctls | grep -c '^[<>]')
    diag "call-by-call (ioctl, open, close): $(wc -l < /tmp/fuzz.rtun.ioctls) calls, $ndiff line(s) differ (< tun.ko, > rtun)"
    diff /tmp/fuzz.tun.ioctls /tmp/fuzz.rtun.ioctls | grep '^[<>]' | head -16 | sed 's/^/#   /'
    diag "rtun devices:"
    grep '^device ' /tmp/fuzz.rtun | sed 's/^/#   /'
    diag "tun.ko devices:"
    grep '^device ' /tmp/fuzz.tun | sed 's/^/#   /'
    for d in tun rtun; do
        grep '^note: ' /tmp/fuzz.$d | sed "s/^/# $d: /"
        [ -s /tmp/fuzz.$d.err ] && { diag "$d stderr:"; head -20 /tmp/fuzz.$d.err | sed 's/^/#   /'; }
    done
    if [ $trc != 0 ]; then
        grep '^FAIL: ' /tmp/fuzz.tun | head -20 | sed 's/^/# tun.ko: /'
        fail "tun.ko returned errnos the table of docs/abi.md lacks (exit $trc): the table must cover tun"
        rc=1
    fi
    if [ $rrc != 0 ]; then
        grep '^FAIL: ' /tmp/fuzz.rtun | head -20 | sed 's/^/# rtun: /'
        fail "rtun failed (exit $rrc): undocumented errno or unaccounted frames"
        rc=1
    fi
    if [ "$s1" != "$s0" ]; then
        splats | tail -n +$((s0 + 1)) | head -20 | sed 's/^/#   /'
        fail "kernel splat during the tun.ko run"
        rc=1
    fi
    if [ "$s2" != "$s1" ]; then
        splats | tail -n +$((s1 + 1)) | head -40 | sed 's/^/#   /'
        fail "kernel splat during the rtun run"
        rc=1
    fi
    return $rc
}
