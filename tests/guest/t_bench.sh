# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# The benchmark client (tools/rtunbench) in quick mode, so that it cannot rot:
# every path runs on tun.ko and on rtun, with the kfree_skb tracepoint off and
# on, and prints its `path=` line. The numbers are not judged here (this is the
# lockdep test kernel; scripts/bench.sh measures on the bench kernel).
test_bench_quick_runs() {
    local rc n bad p tp line
    load_rtun || return 1
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun || return 1
    rtunbench --quick > /tmp/bench.out 2>&1
    rc=$?
    n=0
    bad=0
    for p in $(rtunbench list | awk '{ print $1 }'); do
        for tp in off on; do
            n=$((n + 1))
            line=$(grep "^path=$p tracepoint=$tp " /tmp/bench.out)
            if ! echo "$line" | grep -Eq "^path=$p tracepoint=$tp tun=[0-9]+(\.[0-9]+)? rtun=[0-9]+(\.[0-9]+)? ratio=[0-9]+\.[0-9]+\$"; then
                echo "missing or malformed line for path=$p tracepoint=$tp: '$line'"
                bad=$((bad + 1))
                continue
            fi
            # Frames moved on both drivers.
            if ! echo "$line" | awk '{ split($3, t, "="); split($4, r, "="); exit !(t[2] + 0 > 0 && r[2] + 0 > 0) }'; then
                echo "no frames: $line"
                bad=$((bad + 1))
            fi
        done
    done
    grep -E '^FAILED ' /tmp/bench.out
    diag "$n path lines checked; $(grep -c '^# round' /tmp/bench.out) runs; $(sed -n 's/^# \([0-9]* runs in .*\)/\1/p' /tmp/bench.out)"
    [ $n -ge 22 ] || { fail "rtunbench list gave only $((n / 2)) paths"; return 1; }
    [ $bad = 0 ] || { fail "$bad of $n path lines missing, malformed or without frames"; return 1; }
    [ $rc = 0 ] || { fail "rtunbench --quick exited $rc"; return 1; }
}
