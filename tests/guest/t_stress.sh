# A bounded, seeded stress run: tools/rtunstress (see its main.rs) forks
# workers that create, configure, attach, detach, move and delete devices,
# move frames both ways and try rmmod, for RTUN_STRESS_SECONDS (default 60)
# seconds, then check that every frame is accounted for per device and over
# the run. Then the module must be unused, unload, and load again, with no
# device left in any namespace and nothing in dmesg.
#
# The seed is RTUN_STRESS_SEED (environment, or the kernel command line that
# scripts/guest.sh writes it to), else the date; it is printed first, so a
# failure replays with RTUN_STRESS_SEED=<seed> scripts/guest.sh '...'.

# cmdline_value NAME: NAME=VALUE from /proc/cmdline.
cmdline_value() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -1; }

# The rtun devices left, in every namespace: "NETNS: NAME" lines.
stress_leftovers() {
    for n in $(ls /sys/class/net); do
        case $n in rs[0-9]*x[0-9]*) echo "init: $n" ;; esac
    done
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        ip -n "$ns" -o link show 2>/dev/null | awk -F': ' -v ns="$ns" '$2 ~ /^rs[0-9]+x[0-9]+/ { print ns ": " $2 }'
    done
}

test_stress_seeded() {
    load_rtun || return 1
    seconds=${RTUN_STRESS_SECONDS:-$(cmdline_value RTUN_STRESS_SECONDS)}
    seconds=${seconds:-60}
    seed=${RTUN_STRESS_SEED:-$(cmdline_value RTUN_STRESS_SEED)}
    seed=${seed:-$(date +%s)}
    diag "seed $seed, $seconds s (replay: RTUN_STRESS_SEED=$seed RTUN_STRESS_SECONDS=$seconds)"
    # As run.sh: IPv6 autoconfiguration would add frames of its own.
    echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
    echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
    dmesg_from=$(dmesg | wc -l)
    t0=$(cut -d' ' -f1 /proc/uptime)
    rtunstress --seed "$seed" --seconds "$seconds" --procs 4 > /tmp/stress.out 2>&1
    rc=$?
    t1=$(cut -d' ' -f1 /proc/uptime)
    sed 's/^/# /' /tmp/stress.out
    diag "rtunstress took $(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.1f", b - a }') s, exit $rc"
    ok=0
    [ $rc = 0 ] || { fail "rtunstress: the invariants do not hold (seed $seed)"; ok=1; }
    grep -q '^result: ' /tmp/stress.out || { fail "rtunstress printed no result"; ok=1; }

    # Everything goes away: devices (namespace teardown is asynchronous),
    # debugfs entries, the module's references.
    i=0
    while [ $i -lt 120 ]; do
        [ -z "$(stress_leftovers)" ] && [ -z "$(ls /sys/kernel/debug/rtun 2>/dev/null)" ] &&
            [ "$(cat /sys/module/rtun/refcnt)" = 0 ] && break
        sleep 0.5
        i=$((i + 1))
    done
    left=$(stress_leftovers)
    [ -z "$left" ] || { echo "$left" | sed 's/^/# left: /'; fail "rtun devices left after the run"; ok=1; }
    dbg=$(ls /sys/kernel/debug/rtun 2>/dev/null)
    [ -z "$dbg" ] || { fail "debugfs entries left: $dbg"; ok=1; }
    leftns=$(ip netns list 2>/dev/null | grep '^rsns' | cut -d' ' -f1)
    [ -z "$leftns" ] || { fail "namespaces left: $leftns"; ok=1; for ns in $leftns; do ip netns del $ns; done; }
    refcnt=$(cat /sys/module/rtun/refcnt)
    expect_eq "rtun refcnt after the run" "$refcnt" 0 || ok=1
    if rmmod rtun; then
        [ ! -e /dev/net/rtun ] || { fail "/dev/net/rtun still there after rmmod"; ok=1; }
        load_rtun || { fail "insmod rtun after the run failed"; ok=1; }
    else
        fail "rmmod rtun failed after the run"
        ok=1
    fi
    # Also skb_dump()'s header ("skb len="): the core prints it when it finds
    # an skb it cannot handle (skb_checksum_help, bad offloads), next to a
    # WARN that a kernel built without CONFIG_BUG does not print.
    s=$(dmesg | tail -n +$((dmesg_from + 1)) | grep -E 'BUG:|WARNING:|Oops|Call Trace:|RIP:|general protection|refcount_t:|UBSAN|KASAN|possible recursive locking|inconsistent lock state|sleeping function called from invalid context|Kernel panic|kmemleak|skb len=')
    [ -z "$s" ] || { echo "$s" | head -40 | sed 's/^/# dmesg: /'; fail "kernel splat during the stress run"; ok=1; }
    return $ok
}
