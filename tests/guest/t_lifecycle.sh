# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Lifecycle: module load/unload cycles with live devices,
# rmmod refused while any file is open, a network namespace deleted under
# blocked readers, and a device deleted under a writer blocked on its send
# buffer. Tests 3 and 4 run the same sequence on C tun.ko first, in the same
# boot, and require rtun to end the same way.
#
# Every device these tests create is named lc*, so that a device left behind
# is easy to find in any namespace. LC_DEV=/dev/net/tun runs tun.ko where tests
# 3 and 4 run rtun, which checks the harness (both halves must then agree).

LC_FRAME=ffffffffffff02000000000188b5
# A minimal IPv4 header, for TUN devices (the packet socket sends it as is).
LC_IPV4=450000140000000040000000
# An Ethernet frame to a MAC nobody has: a bridge floods it to its other ports.
LC_UNICAST=02000000009902000000000a88b5

# Under TCG with KASAN every exec costs 0.2-0.5 s: the helpers below poll with
# shell builtins only (wait_until and nap, in lib.sh, run no process either).

# lc_state PID: LC_S is the state letter of /proc/PID/stat (empty once gone).
# LC_S is a deliberate global, which the callers read.
lc_state() {
    LC_S=
    read -r LC_S 2>/dev/null < /proc/"$1"/stat || [ -n "$LC_S" ] || return 0
    LC_S=${LC_S##*) }
    LC_S=${LC_S%% *}
}

# lc_alive PID: the task exists and is not a zombie.
lc_alive() { lc_state "$1"; [ -n "$LC_S" ] && [ "$LC_S" != Z ]; }

# lc_settled PID: PID sleeps (S or D), or is gone (LC_S, as lc_state).
lc_settled() { lc_state "$1"; case $LC_S in S|D|""|Z) return 0 ;; esac; return 1; }

# lc_wait_sleep PID: until PID sleeps (S or D), 5 s at most; fails at once
# if PID is gone.
lc_wait_sleep() {
    wait_until 5 lc_settled "$1"
    case $LC_S in S|D) return 0 ;; esac
    return 1
}

# lc_gone PID: the task is gone, or a zombie.
lc_gone() { ! lc_alive "$1"; }

# lc_wait_exit PID SECONDS: until PID has exited, SECONDS at most.
lc_wait_exit() { wait_until "$2" lc_gone "$1"; }

# lc_has FILE PATTERN...: FILE has a line matching one of the shell PATTERNs.
lc_has() {
    local f=$1 l pat
    shift
    while read -r l; do
        # shellcheck disable=SC2254 # the PATTERNs are globs
        for pat in "$@"; do case $l in $pat) return 0 ;; esac; done
    done < "$f"
    return 1
}

# lc_wchan PID: what /proc/PID/wchan says.
lc_wchan() { local w=; read -r w 2>/dev/null < /proc/"$1"/wchan; echo "wchan=$w"; }

# lc_blocked_in PID: the kernel functions PID sleeps in, from /proc/PID/stack
# (wchan as well, which stops at the first non-scheduler function).
lc_blocked_in() {
    # shellcheck disable=SC2046 # the function names, one a word
    echo "wchan=$(cat /proc/"$1"/wchan 2>/dev/null) stack:" \
        $(sed -n 's/^\[<[0-9a-f]*>\] \([^+]*\)+.*/\1/p' /proc/"$1"/stack 2>/dev/null | grep -v -e lock_ -e schedule -e '^__init_waitqueue' | head -5)
}

# lc_ready_or_gone READY PID: the file READY exists, or PID is gone.
lc_ready_or_gone() { [ -e "$1" ] || ! lc_alive "$2"; }

# lc_bg OUT READY CMD...: CMD in the background with stdout to OUT; waits for
# the ready file CMD creates; LC_PID (a deliberate global) is its pid.
lc_bg() {
    local out=$1 ready=$2
    shift 2
    rm -f "$ready"
    "$@" > "$out" 2>&1 &
    LC_PID=$!
    # 30 s: creating a multi-queue device (256 queues) takes 5-10 s under KASAN.
    wait_until 30 lc_ready_or_gone "$ready" $LC_PID
    [ -e "$ready" ] || { lc_kill $LC_PID; sed 's/^/#   /' "$out"; fail "$* did not get ready"; return 1; }
}

# lc_kill PID...: SIGTERM and reap.
lc_kill() { local p; for p in "$@"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; return 0; }

lc_need_tun() {
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    grep -q '^tun ' /proc/modules || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun
}

# lc_unload_rtun: rmmod rtun if loaded.
lc_unload_rtun() {
    grep -q '^rtun ' /proc/modules || return 0
    audit_pause
    rmmod rtun || { audit_resume; fail "rmmod rtun"; return 1; }
    audit_resume
}

# lc_leftovers: any lc* device in any namespace, one "NETNS: NAME" per line.
lc_leftovers() {
    local d f
    for d in /sys/class/net/lc*; do [ -e "$d" ] && echo "init: ${d##*/}"; done
    for f in /run/netns/*; do
        [ -e "$f" ] || continue
        ip -n "${f##*/}" -o link show | awk -v ns="${f##*/}" '$2 ~ /^lc/ { sub(/[:@].*/, "", $2); print ns ": " $2 }'
    done
}

# lc_netns_add NAME: a fresh namespace without IPv6, whose autoconfiguration
# would send frames of its own through the devices under test.
lc_netns_add() {
    [ ! -e /run/netns/"$1" ] || ip netns del "$1"
    ip netns add "$1" || { fail "ip netns add $1"; return 1; }
    ip netns exec "$1" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null
    return 0
}

# ---- 1. insmod/rmmod cycles with live devices -----------------------------------

# `rtunctl cycles` (tools/rtunctl/src/cycles.rs) runs the cycles in one process:
# under TCG with KASAN every exec costs 0.2-0.5 s, more than a cycle's kernel
# work. Each cycle: insmod; persistent devices whose creating files are closed:
# lct0 (TUN, up, with an address) and lcp0 (TAP, moved into lcns, up there with
# an address); every 50th cycle (0 and 50) also lcq0 (a TAP created from a file opened in
# lcns) and lcm0 (multi-queue TAP, up: 256 queues, each with its sysfs
# directories, cost as much as ten plain cycles); then rmmod, which must delete
# them all. After every rmmod the tool checks that /dev/net/rtun and
# /sys/module/rtun are gone and that no lc* device is left in init_net or lcns.
test_lifecycle_insmod_rmmod_cycles() {
    local n out rc left s
    n=${LC_CYCLES:-100}
    lc_unload_rtun || return 1
    lc_netns_add lcns || return 1
    # The suite's drop audit (no_unnamed_drops) resolves each location when
    # it reads the trace: drops of module instances unloaded since would show
    # as bare addresses. It pauses for the cycles.
    audit_pause
    out=$(rtunctl cycles /modules/rtun.ko /run/netns/lcns --count "$n" --extra-every 50)
    rc=$?
    audit_resume
    echo "$out" | sed 's/^/# /'
    ip netns del lcns
    [ ! -d /sys/module/rtun ] || rmmod rtun
    [ $rc = 0 ] || { fail "$(echo "$out" | tail -1)"; load_rtun; return 1; }
    # shellcheck disable=SC2046 # "CYCLES DEVICES SECONDS": three words
    set -- $(echo "$out" | sed -n 's/^cycles=\([0-9]*\) devices=\([0-9]*\) seconds=\([0-9.]*\)$/\1 \2 \3/p')
    expect_eq "cycles done" "${1:-none}" "$n" || { load_rtun; return 1; }
    diag "cycles: $1, devices: $2, in $3 s"
    diag "cycles/s: $(awk -v c="$1" -v s="$3" 'BEGIN { printf "%.2f", c / s }')"
    left=$(lc_leftovers)
    [ -z "$left" ] || { echo "$left" | sed 's/^/#   /'; fail "devices left after the cycles"; load_rtun; return 1; }
    s=$(splats)
    [ -z "$s" ] || { echo "$s"; fail "splat in dmesg"; return 1; }
    load_rtun || { fail "insmod after the cycles"; return 1; }
}

# ---- 2. rmmod refused while a file is open --------------------------------------

# lc_frame_reaches NS DEV TUN|TAP OUT: a frame sent out through DEV (in NS,
# or "-") reaches its reader, whose output is OUT ("frame ..." or "read len=").
# tun counts tx_packets when a frame is read, so a reader must read.
lc_frame_reaches() {
    local ns=$1 dev=$2 kind=$3 out=$4 x
    if [ "$ns" = - ]; then x=; else x="/usr/sbin/ip netns exec $ns"; fi
    $x /usr/sbin/ip link set "$dev" up || { fail "$dev up"; return 1; }
    if [ "$kind" = TUN ]; then
        $x rtunctl inject "$dev" --hex $LC_IPV4 --proto 0x0800 >/dev/null
    else
        $x rtunctl inject "$dev" --hex $LC_FRAME >/dev/null
    fi || { fail "inject on $dev"; return 1; }
    wait_until 3 lc_has "$out" 'frame *len=60 *' 'read len=60'
    lc_has "$out" 'frame *len=60 *' 'read len=60' || { sed 's/^/#   /' "$out"; fail "$dev: the reader did not get the frame sent out through $dev"; return 1; }
}

# lc_fd3_rtun PID: PID's fd 3 is open on /dev/net/rtun.
lc_fd3_rtun() { [ "$(readlink /proc/"$1"/fd/3 2>/dev/null)" = /dev/net/rtun ]; }

# One mode: open a file in MODE, rmmod must fail (non-zero exit, module loaded,
# /dev/net/rtun there, refcnt > 0), the device must still work, and after the
# file is closed rmmod must succeed and leave nothing behind.
lc_refused_mode() {
    local mode=$1 dev ns kind pid refs out rmrc ok left
    load_rtun || { fail "$mode: insmod"; return 1; }
    dev='' ns=- kind=TAP pid=''
    case $mode in
        fresh)
            # An open file that never saw TUNSETIFF.
            sleep 600 3<>/dev/net/rtun &
            pid=$!
            wait_until 10 lc_fd3_rtun $pid ;;
        tun) dev=lcr0 kind=TUN; lc_bg /tmp/lc.out /tmp/lc.ready rtunctl attach $dev --tun --no-pi --read --ready-file /tmp/lc.ready || return 1; pid=$LC_PID ;;
        tap) dev=lcr1; lc_bg /tmp/lc.out /tmp/lc.ready rtunctl attach $dev --tap --no-pi --read --ready-file /tmp/lc.ready || return 1; pid=$LC_PID ;;
        mq_detached)
            dev=lcr2
            lc_bg /tmp/lc.out /tmp/lc.ready rtunctl attach $dev --tap --no-pi --multi-queue --queues 2 --detach-one --read --ready-file /tmp/lc.ready || return 1
            pid=$LC_PID
            lc_has /tmp/lc.out detached || { fail "mq_detached: TUNSETQUEUE IFF_DETACH_QUEUE: $(cat /tmp/lc.out)"; lc_kill $pid; return 1; } ;;
        persistent)
            dev=lcr3
            rtunctl add $dev --tap --no-pi >/dev/null || { fail "persistent: add"; return 1; }
            lc_bg /tmp/lc.out /tmp/lc.ready rtunctl attach $dev --tap --no-pi --read --ready-file /tmp/lc.ready || return 1; pid=$LC_PID ;;
        napi) dev=lcr4; lc_bg /tmp/lc.out /tmp/lc.ready rtunctl attach $dev --tap --no-pi --napi --read --ready-file /tmp/lc.ready || return 1; pid=$LC_PID ;;
        blocked_read)
            dev=lcr5
            lc_bg /tmp/lc.out /tmp/lc.ready rtunctl block read $dev --tap --no-pi --ready-file /tmp/lc.ready || return 1
            pid=$LC_PID
            lc_wait_sleep $pid || { fail "blocked_read: the reader does not sleep"; lc_kill $pid; return 1; } ;;
        netns)
            dev=lcr6 ns=lcns2
            lc_netns_add lcns2 || return 1
            lc_bg /tmp/lc.out /tmp/lc.ready /usr/sbin/ip netns exec lcns2 rtunctl attach $dev --tap --no-pi --read --ready-file /tmp/lc.ready || return 1
            pid=$LC_PID ;;
    esac
    read -r refs < /sys/module/rtun/refcnt
    out=$(rmmod rtun 2>&1)
    rmrc=$?
    diag "$mode: refcnt=$refs, rmmod exit $rmrc: $out"
    ok=1
    [ $rmrc != 0 ] || { fail "$mode: rmmod succeeded with a file open"; load_rtun; lc_kill $pid; return 1; }
    [ -d /sys/module/rtun ] || { fail "$mode: rtun not loaded after the refused rmmod"; ok=0; }
    [ -c /dev/net/rtun ] || { fail "$mode: /dev/net/rtun gone after the refused rmmod"; ok=0; }
    [ "$refs" -gt 0 ] 2>/dev/null || { fail "$mode: refcnt $refs with a file open"; ok=0; }
    case "$out" in *"in use"*|*"temporarily unavailable"*|*busy*|*Busy*) ;; *) fail "$mode: rmmod's message is not EBUSY/EAGAIN/'in use'"; ok=0 ;; esac
    # The device (or, for a fresh file, the driver) still works: a frame
    # sent out through it reaches the reader.
    if [ "$mode" = fresh ]; then
        { rtunctl add lcr9 --tap >/dev/null && rtunctl del lcr9 --tap >/dev/null; } || { fail "fresh: creating a device after the refused rmmod"; ok=0; }
    else
        lc_frame_reaches $ns $dev $kind /tmp/lc.out || ok=0
    fi
    lc_kill $pid
    [ $ns = - ] || ip netns del $ns
    [ "$mode" != persistent ] || rtunctl del $dev --tap --no-pi >/dev/null
    read -r refs < /sys/module/rtun/refcnt
    out=$(rmmod rtun 2>&1) || { fail "$mode: rmmod after the file was closed (refcnt $refs): $out"; return 1; }
    [ ! -e /dev/net/rtun ] || { fail "$mode: /dev/net/rtun still there after rmmod"; ok=0; }
    left=$(lc_leftovers)
    [ -z "$left" ] || { echo "$left" | sed 's/^/#   /'; fail "$mode: devices left after rmmod"; ok=0; }
    [ $ok = 1 ]
}

test_lifecycle_rmmod_refused_while_open() {
    local rc mode
    rc=0
    for mode in fresh tun tap mq_detached persistent napi blocked_read netns; do
        lc_refused_mode $mode || rc=1
    done
    load_rtun || { fail "insmod at the end"; return 1; }
    return $rc
}

# ---- 2b. rmmod right after the last close ----------------------------------------

# With no file open, nothing holds the module: `rmmod` right after the last
# close must succeed at the first try, as on tun.ko. `rtunctl close-rmmod`
# runs LC_CLOSE_RMMOD_ROUNDS rounds of: load, open, TUNSETIFF (a new TAP),
# close, delete_module at once (O_NONBLOCK, as rmmod), in one process, so
# that nothing else gives deferred work the time to finish; a refused first
# try is printed with the module's refcnt and how long it stayed refused. The
# same on tun.ko first; then on rtun with a persistent device too, which does
# not pin rtun (rmmod deletes it; tun pins itself while one exists).
LC_CLOSE_RMMOD_ROUNDS=${LC_CLOSE_RMMOD_ROUNDS:-20}

# lc_unloaded MODULE: MODULE is not loaded, or rmmod unloads it now.
lc_unloaded() { ! grep -q "^$1 " /proc/modules || rmmod "$1" 2>/dev/null; }

# lc_unload MODULE: rmmod it if loaded, retrying for up to 15 s.
lc_unload() {
    wait_until 15 lc_unloaded "$1" ||
        { fail "$1 cannot be unloaded before the test (refcnt $(cat /sys/module/"$1"/refcnt))"; return 1; }
}

test_lifecycle_rmmod_right_after_close() {
    local had_tun n rc run label rest ko node persist
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    had_tun=0
    grep -q '^tun ' /proc/modules && had_tun=1
    # Modules come and go: the drop audit resolves what it has first.
    audit_pause
    lc_unload tun || { audit_resume; return 1; }
    lc_unload rtun || { audit_resume; return 1; }
    n=$LC_CLOSE_RMMOD_ROUNDS
    rc=0
    for run in "tun.ko:/modules/tun.ko:/dev/net/tun:" "rtun:/modules/rtun.ko:/dev/net/rtun:" \
        "rtun, persistent device:/modules/rtun.ko:/dev/net/rtun:persist"; do
        label=${run%%:*} rest=${run#*:}
        ko=${rest%%:*} rest=${rest#*:}
        node=${rest%%:*} persist=${rest#*:}
        rtunctl close-rmmod "$ko" ${persist:+"$persist"} --dev "$node" --count "$n" > /tmp/lc.closermmod 2>&1
        sed "s/^/$label: /" /tmp/lc.closermmod
        expect_eq "$label: rmmod right after the close, first tries that succeeded" \
            "$(tail -1 /tmp/lc.closermmod)" "rounds=$n first_try_ok=$n" || rc=1
    done
    load_rtun || { fail "insmod rtun at the end"; rc=1; }
    [ $had_tun = 0 ] || insmod /modules/tun.ko || { fail "insmod tun.ko at the end"; rc=1; }
    audit_resume
    return $rc
}

# ---- 3. netns deletion under blocked readers ------------------------------------

# lc_nsid_gone ID: `ip netns list-id` (kept in /tmp/lc.ids) no longer lists
# the namespace id ID.
lc_nsid_gone() { ! { ip netns list-id > /tmp/lc.ids && lc_has /tmp/lc.ids "nsid $1" "nsid $1 *"; }; }

# lc_netns_case NODE: five readers, blocked in read(), poll() and epoll_wait()
# on a TUN, a persistent TAP and a 3-queue TAP, whose files were opened in
# init_net; the devices are moved into a namespace of their own, which is then
# deleted. Prints one line per reader with what each call returned, then the
# state of the namespace and the devices. Returns 1 when a reader was not woken
# (it is then ended with SIGUSR1), 2 when the setup failed.
lc_netns_case() {
    # pids: lc_netns_run's readers, which it sets here ("PID:TAG" words).
    local r d pids=
    lc_netns_run "$@"
    r=$?
    if [ $r = 2 ]; then
        # shellcheck disable=SC2046 # the pids, one a word
        lc_kill $(echo "$pids" | sed 's/:[^ ]*//g')
        [ ! -e /run/netns/lcdel ] || ip netns del lcdel
        for d in lcdt lcdp lcdm; do [ ! -e /sys/class/net/$d ] || ip link del $d; done
    fi
    return $r
}

lc_netns_run() {
    local node=$1 early r dev mode tag p there before hung l x after
    pids='' early=''
    lc_netns_add lcdel || return 2
    # An id for the namespace in init_net: it goes away when the namespace
    # is dismantled, which only happens once nothing holds it any more.
    ip netns set lcdel 77 || { fail "ip netns set lcdel 77"; return 2; }
    rtunctl --dev "$node" add lcdp --tap --no-pi >/dev/null || { fail "$node: add lcdp"; return 2; }
    for r in "lcdt read --tun --no-pi" "lcdp epoll --tap --no-pi" \
             "lcdm read --tap --no-pi --multi-queue" "lcdm poll --tap --no-pi --multi-queue" "lcdm epoll --tap --no-pi --multi-queue"; do
        # shellcheck disable=SC2086 # "DEV MODE FLAGS...": split into words
        set -- $r
        dev=$1 mode=$2
        shift 2
        tag=$dev.$mode
        lc_bg /tmp/lc."$tag" /tmp/lc."$tag".ready rtunctl --dev "$node" block "$mode" "$dev" "$@" --ready-file /tmp/lc."$tag".ready || return 2
        pids="$pids $LC_PID:$tag"
    done
    for p in $pids; do
        lc_wait_sleep "${p%%:*}" || { fail "$node: ${p#*:} does not sleep"; lc_kill "${p%%:*}"; }
    done
    printf 'link set lcdt netns lcdel\nlink set lcdp netns lcdel\nlink set lcdm netns lcdel\n' | ip -b - ||
        { fail "$node: moving the devices into lcdel"; return 2; }
    printf 'link set lcdp up\naddress add 10.79.0.1/24 dev lcdp\nlink set lcdm up\nlink set lcdt up\n' | ip -n lcdel -b - ||
        { fail "$node: configuring the devices in lcdel"; return 2; }
    there=$(ip -n lcdel -o link show | awk '{ sub(/:$/, "", $2); printf "%s ", $2 }')
    echo "# $node: in lcdel: $there"
    case "$there" in *lcdp*lcdt*lcdm*|*lcdt*lcdp*lcdm*) ;; *) fail "$node: lcdt, lcdp and lcdm not all in lcdel"; return 2 ;; esac
    for p in $pids; do
        lc_alive "${p%%:*}" || { fail "$node: ${p#*:} returned before the namespace was deleted: $(tr '\n' '|' < /tmp/lc."${p#*:}")"; early=1; }
        echo "# $node: ${p#*:} blocked: state $LC_S, $(lc_wchan "${p%%:*}")"
    done
    [ -z "$early" ] || return 2
    ip netns list-id > /tmp/lc.ids
    lc_has /tmp/lc.ids 'nsid 77' 'nsid 77 *' || { fail "$node: no nsid 77 before the deletion"; return 2; }
    # shellcheck disable=SC2012 # interface names have no blank
    before=$(ls /sys/class/net | tr '\n' ' ')
    ip netns del lcdel || { fail "$node: ip netns del"; return 2; }
    hung=0
    for p in $pids; do
        if ! lc_wait_exit "${p%%:*}" 5; then
            echo "# $node: ${p#*:} still blocked 5 s after the namespace was deleted: $(lc_blocked_in "${p%%:*}"); SIGUSR1"
            kill -USR1 "${p%%:*}"
            lc_wait_exit "${p%%:*}" 3 || kill -9 "${p%%:*}"
            hung=1
        fi
        wait "${p%%:*}" 2>/dev/null
        l=
        while read -r x; do case $x in fd=*) ;; *) l="$l$x|" ;; esac; done < /tmp/lc."${p#*:}"
        echo "${p#*:}: $l"
    done
    # The readers were woken by the devices' unregistration, which cleanup_net
    # does after it dropped the namespace's ids: nsid 77 is normally gone now.
    wait_until 6 lc_nsid_gone 77
    if lc_has /tmp/lc.ids 'nsid 77' 'nsid 77 *'; then echo "netns: still there (nsid 77 listed)"; else echo "netns: dismantled"; fi
    # shellcheck disable=SC2012 # as before
    after=$(ls /sys/class/net | tr '\n' ' ')
    if [ "$before" = "$after" ]; then echo "init_net: unchanged"; else echo "init_net: was '$before', now '$after'"; fi
    [ -e /run/netns/lcdel ] && echo "ip netns: lcdel still listed"
    return $hung
}

# lc_pinned_case NODE: the other way round: a reader whose file was opened
# inside the namespace. That file holds the namespace (tun's socket takes a
# reference on it), so `ip netns del` only removes its name: the reader stays
# blocked and the namespace's id stays listed until the file is closed.
lc_pinned_case() {
    local node=$1 pin l x
    lc_netns_add lcpin || return 2
    ip netns set lcpin 78 || { fail "ip netns set lcpin 78"; return 2; }
    lc_bg /tmp/lc.pin /tmp/lc.pin.ready /usr/sbin/ip netns exec lcpin rtunctl --dev "$node" block read lcdx --tap --no-pi --ready-file /tmp/lc.pin.ready || return 2
    pin=$LC_PID
    lc_wait_sleep $pin || { fail "$node: the reader in lcpin does not sleep"; lc_kill $pin; ip netns del lcpin; return 2; }
    ip netns del lcpin
    nap 1
    if lc_alive $pin; then echo "pinned: reader after ip netns del: blocked"; else echo "pinned: reader after ip netns del: returned"; fi
    ip netns list-id > /tmp/lc.ids
    if lc_has /tmp/lc.ids 'nsid 78' 'nsid 78 *'; then echo "pinned: netns after ip netns del: alive"; else echo "pinned: netns after ip netns del: dismantled"; fi
    kill -USR1 $pin
    lc_wait_exit $pin 3 || { kill -9 $pin; echo "pinned: reader after SIGUSR1: blocked"; }
    wait $pin 2>/dev/null
    l=
    while read -r x; do case $x in fd=*) ;; *) l="$l$x|" ;; esac; done < /tmp/lc.pin
    echo "pinned: $l"
    wait_until 6 lc_nsid_gone 78
    if lc_has /tmp/lc.ids 'nsid 78' 'nsid 78 *'; then echo "pinned: netns after close: alive"; else echo "pinned: netns after close: dismantled"; fi
    return 0
}

test_lifecycle_netns_delete_blocked_readers() {
    local tun_rc rtun_rc rc key left out
    lc_need_tun || return $?
    load_rtun || return 1
    { lc_netns_case /dev/net/tun; tun_rc=$?; lc_pinned_case /dev/net/tun || tun_rc=2; } > /tmp/lc.tun.txt
    { lc_netns_case "${LC_DEV:-/dev/net/rtun}"; rtun_rc=$?; lc_pinned_case "${LC_DEV:-/dev/net/rtun}" || rtun_rc=2; } > /tmp/lc.rtun.txt
    grep '^#' /tmp/lc.tun.txt
    grep '^#' /tmp/lc.rtun.txt
    grep -v '^#' /tmp/lc.tun.txt > /tmp/lc.tun.res
    grep -v '^#' /tmp/lc.rtun.txt > /tmp/lc.rtun.res
    diag "tun.ko:"; sed 's/^/#   /' /tmp/lc.tun.res
    rc=0
    [ $tun_rc != 2 ] || { fail "tun.ko: setup failed"; return 1; }
    [ $tun_rc = 0 ] || { fail "tun.ko: a reader was not woken (harness or kernel problem)"; rc=1; }
    # tun's own outcome, as measured: the sequence must work on the reference.
    for key in 'netns: dismantled' 'init_net: unchanged' 'pinned: reader after ip netns del: blocked' 'pinned: netns after ip netns del: alive' 'pinned: netns after close: dismantled'; do
        grep -qxF "$key" /tmp/lc.tun.res || { fail "tun.ko: expected '$key'"; rc=1; }
    done
    if ! cmp -s /tmp/lc.tun.res /tmp/lc.rtun.res; then
        diag "rtun:"; sed 's/^/#   /' /tmp/lc.rtun.res
        diag "differences (- tun.ko, + rtun):"
        diff /tmp/lc.tun.res /tmp/lc.rtun.res | grep '^[-+][^-+]' | sed 's/^/#   /'
        fail "rtun's readers or namespace end differently from tun.ko's"
        rc=1
    else
        diag "rtun: the same"
    fi
    [ $rtun_rc != 2 ] || { fail "rtun: setup failed"; rc=1; }
    [ $rtun_rc != 1 ] || { fail "rtun: a reader was not woken by the namespace's deletion"; rc=1; }
    left=$(ls -d /sys/kernel/debug/rtun/lcd* 2>/dev/null)
    [ -z "$left" ] || { fail "rtun debugfs entries left: $left"; rc=1; }
    out=$(rmmod rtun 2>&1) || { fail "rmmod rtun at the end: $out"; rc=1; }
    load_rtun || { fail "insmod at the end"; return 1; }
    return $rc
}

# ---- 4. device deletion racing a writer blocked on its send buffer --------------

# lc_port_forwarding PORT: the bridge port PORT is forwarding (state 3).
lc_port_forwarding() { local st; read -r st < /sys/class/net/"$1"/brport/state; [ "$st" = 3 ]; }

# The setup that makes a tun writer block in write(): frames written to a TAP
# are charged to the writer's socket (TUNSETSNDBUF) until they are freed or
# orphaned. A bridge forwards them (not orphaned) to a second TAP, created with
# IFF_BACKPRESSURE and txqueuelen 4, whose reader never reads: its ring fills
# (tun orphans frames it puts on the ring), its queue stops, and the next frames
# wait in its pfifo_fast qdisc, still charged to the writer. With TUNSETSNDBUF
# 4096 and 1000-byte frames the writer sleeps in sock_alloc_send_pskb() after
# about 6 writes.
#
# lc_write_case NODE: the writer blocks; `ip link del` of its device starts;
# the pressure is freed (the second TAP is deleted, its qdisc purged); the
# writer is nudged with SIGUSR1 if freeing did not wake it. Prints what it saw,
# one line per stage; returns 1 when the writer never blocked.
lc_write_case() {
    local node=$1 holder writer st0 st1 rx0 rx1 where del drc msg
    # lcw0 gets IFF_BACKPRESSURE too, but its writer attaches without it, and
    # tun takes the flags of the latest attach.
    rtunctl --dev "$node" add lcw1 lcw0 --tap --no-pi --backpressure >/dev/null || { fail "$node: add lcw1 lcw0"; return 2; }
    printf 'link add lcbr0 type bridge forward_delay 0\nlink set lcbr0 up\nlink set lcw1 txqueuelen 4 master lcbr0 up\nlink set lcw0 master lcbr0 up\n' | ip -b - ||
        { fail "$node: the bridge"; return 2; }
    lc_bg /tmp/lc.hold /tmp/lc.hold.ready rtunctl --dev "$node" attach lcw1 --tap --no-pi --backpressure --ready-file /tmp/lc.hold.ready || return 2
    holder=$LC_PID
    rm -f /tmp/lc.w.ready /tmp/lc.go
    RTUNCTL_GO_FILE=/tmp/lc.go rtunctl --dev "$node" block write lcw0 --tap --no-pi --sndbuf 4096 --hex $LC_UNICAST \
        --pad-to 1000 --count 200 --ready-file /tmp/lc.w.ready > /tmp/lc.w 2>&1 &
    writer=$!
    # The writer attached: its port forwards once the carrier is seen (the
    # link watch runs late under KASAN); only then does it write.
    wait_until 10 lc_port_forwarding lcw0
    read -r st0 < /sys/class/net/lcw0/brport/state
    touch /tmp/lc.go
    read -r st1 < /sys/class/net/lcw1/brport/state
    echo "# $node: bridge port states (3: forwarding) lcw0=$st0 lcw1=$st1"
    # Blocked: alive, asleep, and no more frames coming in for 0.5 s.
    nap 0.5
    read -r rx0 < /sys/class/net/lcw0/statistics/rx_packets
    nap 0.5
    read -r rx1 < /sys/class/net/lcw0/statistics/rx_packets
    if ! lc_alive $writer || [ "$rx0" != "$rx1" ] || ! lc_wait_sleep $writer; then
        wait $writer 2>/dev/null
        echo "# $node: writer output: $(tr '\n' '|' < /tmp/lc.w)"
        echo "# $node: lcw0 rx_packets $rx0 then $rx1; lcw1 qdisc: $(ip -s link show lcw1 | tr -s ' \n' ' ')"
        echo "never blocked: $(sed -n 's/^written=//p' /tmp/lc.w) writes of 1000 bytes with TUNSETSNDBUF 4096 returned ($(grep '^write ' /tmp/lc.w))"
        lc_kill $holder
        ip link del lcw1 2>/dev/null; ip link del lcw0 2>/dev/null; ip link del lcbr0
        return 1
    fi
    where=$(lc_blocked_in $writer)
    echo "# $node: writer blocked after $rx1 frames: state $LC_S, $where"
    echo "blocked: yes"
    case "$where" in *sock_alloc_send_pskb*) echo "blocked in: sock_alloc_send_pskb" ;; esac
    /usr/sbin/ip link del lcw0 > /tmp/lc.del 2>&1 &
    del=$!
    nap 1
    if lc_alive $del; then echo "ip link del while the writer is blocked: waits"; else echo "ip link del while the writer is blocked: returned"; fi
    if lc_alive $writer; then echo "writer after ip link del: blocked"; else echo "writer after ip link del: returned"; fi
    ip link del lcw1 || echo "ip link del lcw1: failed"
    lc_wait_exit $writer 2
    if lc_alive $writer; then
        echo "writer after the pressure was freed: blocked"
        echo "# $node: still blocked 2 s after its frames were freed: $(lc_blocked_in $writer); SIGUSR1"
        kill -USR1 $writer
        lc_wait_exit $writer 3 || { echo "writer after SIGUSR1: blocked"; kill -9 $writer; }
    else
        echo "writer after the pressure was freed: returned"
    fi
    wait $writer 2>/dev/null
    grep -v -e '^fd=' -e '^written=' /tmp/lc.w
    echo "# $node: $(grep '^written=' /tmp/lc.w) before blocking"
    lc_wait_exit $del 10 || { echo "ip link del: hangs"; kill -9 $del; }
    wait $del
    drc=$?
    msg=$(cat /tmp/lc.del)
    echo "ip link del: exit $drc${msg:+ $msg}"
    [ -e /sys/class/net/lcw0 ] && echo "lcw0: still there"
    lc_kill $holder
    ip link del lcbr0
    return 0
}

test_lifecycle_delete_races_blocked_write() {
    local tun_rc rc key rtun_rc
    lc_need_tun || return $?
    load_rtun || return 1
    if ! ip link add lcbr9 type bridge 2>/dev/null; then
        skip "no bridge in this kernel (CONFIG_BRIDGE=y needed: the setup forwards a TAP writer's frames through a bridge)"
        return "$KSFT_SKIP"
    fi
    ip link del lcbr9
    lc_write_case /dev/net/tun > /tmp/lc.tun.txt
    tun_rc=$?
    grep '^#' /tmp/lc.tun.txt
    grep -v '^#' /tmp/lc.tun.txt > /tmp/lc.tun.res
    diag "tun.ko:"; sed 's/^/#   /' /tmp/lc.tun.res
    rc=0
    [ $tun_rc = 0 ] || { fail "tun.ko: the writer never blocked: the setup does not work on this kernel"; return 1; }
    for key in 'blocked: yes' 'blocked in: sock_alloc_send_pskb' 'ip link del: exit 0'; do
        grep -qxF "$key" /tmp/lc.tun.res || { fail "tun.ko: expected '$key'"; rc=1; }
    done
    grep -q '^write errno=' /tmp/lc.tun.res || { fail "tun.ko: the blocked write did not fail"; rc=1; }
    lc_write_case "${LC_DEV:-/dev/net/rtun}" > /tmp/lc.rtun.txt
    rtun_rc=$?
    grep '^#' /tmp/lc.rtun.txt
    grep -v '^#' /tmp/lc.rtun.txt > /tmp/lc.rtun.res
    if [ $rtun_rc != 0 ]; then
        diag "rtun:"; sed 's/^/#   /' /tmp/lc.rtun.res
        fail "rtun: the writer never blocked: written frames are not charged against TUNSETSNDBUF (tun.ko blocks after $(sed -n 's/.*written=\([0-9]*\) before blocking/\1/p' /tmp/lc.tun.txt))"
        return 1
    fi
    # Whether freeing the frames wakes the writer is informational: tun.ko's
    # tun_sock_write_space() only wakes it if poll() had set
    # SOCKWQ_ASYNC_NOSPACE, so a plain blocking writer sleeps on.
    grep -v '^writer after the pressure was freed: ' /tmp/lc.tun.res > /tmp/lc.tun.cmp
    grep -v '^writer after the pressure was freed: ' /tmp/lc.rtun.res > /tmp/lc.rtun.cmp
    if ! cmp -s /tmp/lc.tun.cmp /tmp/lc.rtun.cmp; then
        diag "rtun:"; sed 's/^/#   /' /tmp/lc.rtun.res
        diag "differences (- tun.ko, + rtun):"
        diff /tmp/lc.tun.cmp /tmp/lc.rtun.cmp | grep '^[-+][^-+]' | sed 's/^/#   /'
        fail "rtun's blocked writer or device deletion ends differently from tun.ko's"
        rc=1
    else
        diag "rtun: the same$(cmp -s /tmp/lc.tun.res /tmp/lc.rtun.res || echo ", except: $(grep '^writer after the pressure' /tmp/lc.rtun.res)")"
    fi
    return $rc
}
