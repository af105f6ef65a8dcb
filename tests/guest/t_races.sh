# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Races and lifecycles: each test runs the same sequence on tun.ko
# (the control) and on rtun in one boot, and fails on any kernel report it
# provokes. Sourced by run.sh.

# new_splats SINCE: kernel reports after the first SINCE lines of splats().
new_splats() { splats | tail -n +$(($1 + 1)); }

# check_no_new_splats SINCE WHAT: fails with the reports, if any.
check_no_new_splats() {
    if [ "$(splats | wc -l)" != "$1" ]; then
        diag "kernel reports during $2:"
        new_splats "$1" | head -40 | sed 's/^/#   /'
        fail "$2 left kernel reports (above)"
        return 1
    fi
}

# IFF_NAPI: writers on the one queue of a TAP device while it is deleted
# (RTM_DELLINK). The NAPI instance must not be scheduled once detach has
# freed it (a use-after-free KASAN reports, or an oops on NULL). Seeded;
# RTUN_RACE_ROUNDS rounds per driver (default 40: about 30 s each on the
# KASAN kernel under TCG).
test_race_napi_write_vs_delete() {
    local seed rounds before rc dev out st
    abi_prepare || return $?
    seed=${RTUN_STRESS_SEED:-$(date +%s)}
    rounds=${RTUN_RACE_ROUNDS:-40}
    diag "seed $seed, $rounds rounds per driver"
    before=$(splats | wc -l)
    rc=0
    for dev in /dev/net/tun /dev/net/rtun; do
        out=$(rtunctl --dev "$dev" race napi-del --count "$rounds" --seed "$seed")
        st=$?
        diag "$dev: $out"
        [ $st = 0 ] || { fail "$dev: the race run failed"; rc=1; }
        check_no_new_splats "$before" "$dev's race" || rc=1
        before=$(splats | wc -l)
    done
    return $rc
}

# IFF_NAPI_FRAGS: the same race, each frame written in two segments (a page
# fragment), built in an skb of the NAPI instance's and handed to GRO by the
# writer itself, while the device and its instance go away. rtun only: on
# tun.ko this race is a use-after-free of the writer's skb (tun's detach frees
# napi->skb without the napi_mutex its writer holds; docs/reliability.md), a
# KASAN report that would fail the rest of the boot, so its control is
# reported as skipped, not run.
test_race_napi_frags_write_vs_delete() {
    local seed rounds before out st
    abi_prepare || return $?
    seed=${RTUN_STRESS_SEED:-$(date +%s)}
    rounds=${RTUN_RACE_ROUNDS:-40}
    diag "seed $seed, $rounds rounds; control on tun.ko: SKIP (use-after-free in tun_get_user)"
    before=$(splats | wc -l)
    out=$(rtunctl --dev /dev/net/rtun race napi-frags-del --count "$rounds" --seed "$seed")
    st=$?
    diag "/dev/net/rtun: $out"
    [ $st = 0 ] || { fail "the race run failed"; return 1; }
    check_no_new_splats "$before" "rtun's race"
}

# netconsole on a TAP with IFF_BACKPRESSURE whose reader does not read:
# netpoll calls ndo_start_xmit with IRQs off, so the transmit path must not
# touch the BH state when a frame fills the ring and stops the queue (tun's
# never does). netpoll bypasses the qdisc and holds back what it cannot send
# while the queue is stopped; once the reader reads, the ring's frames (and
# then netpoll's) come out: netconsole's UDP frames, to port 6666.
test_netpoll_backpressure_xmit() {
    local cfg before rc dev name t i got udp
    abi_prepare || return $?
    cfg=/sys/kernel/config
    grep -q " $cfg configfs" /proc/mounts || mount -t configfs none "$cfg" || { fail "cannot mount configfs"; return 1; }
    [ -d "$cfg/netconsole" ] || { skip "no dynamic netconsole in this kernel"; return "$KSFT_SKIP"; }
    before=$(splats | wc -l)
    rc=0
    for dev in /dev/net/tun /dev/net/rtun; do
        name=ncbp$(basename "$dev")
        rm -f /tmp/nc.go
        hold --dev "$dev" --no-pi --backpressure --read-after /tmp/nc.go "$name" ||
            { fail "$dev: attach $name"; return 1; }
        if ! { ip link set dev "$name" txqueuelen 4 && ip addr add 10.77.0.1/24 dev "$name" &&
            ip link set dev "$name" up; }; then
            unhold
            fail "$dev: set up $name"
            return 1
        fi
        t=$cfg/netconsole/$name
        if ! { mkdir "$t" && echo "$name" > "$t/dev_name" && echo 10.77.0.1 > "$t/local_ip" &&
            echo 10.77.0.2 > "$t/remote_ip" && echo 1 > "$t/enabled"; }; then
            rmdir "$t" 2>/dev/null
            unhold
            fail "$dev: enable netconsole on $name"
            return 1
        fi
        i=0
        # KERN_ERR: the guest's console loglevel (4) lets it reach consoles.
        while [ $i -lt 12 ]; do echo "<3>rtun netpoll test line $i" > /dev/kmsg; i=$((i + 1)); done
        touch /tmp/nc.go
        sleep 1
        echo 0 > "$t/enabled"
        rmdir "$t"
        got=$(frames_read)
        udp=$(sed -n 's/^frame q=0 len=[0-9]* hex=\(.*\)/\1/p' /tmp/hold.out | cut -c 73-76 | grep -c '^1a0a$')
        diag "$dev: read $got frames, $udp of them netconsole's (UDP to port 6666)"
        [ "$udp" -ge 4 ] || { fail "$dev: the ring did not fill with netconsole frames"; rc=1; }
        unhold
        check_no_new_splats "$before" "netconsole on $dev" || rc=1
        before=$(splats | wc -l)
    done
    return $rc
}
