# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# The drops as the usual observers show them: bpftrace on the skb:kfree_skb
# tracepoint, dropwatch through drop_monitor's netlink, and perf record + perf
# script. Each watches the same provoked drops (observe_provoke) and must
# report each reason at the rtun function that dropped the frame, as many
# times as it was provoked. scripts/guest.sh copies the host's bpftrace,
# dropwatch and perf into the guest; a tool that is missing, or a kernel
# without what it needs, is a SKIP with the reason.

# What observe_provoke causes, as "REASON FUNCTION COUNT" lines, sorted.
OBSERVE_WANT="DEV_READY rtun_file_write 3
FULL_RING rtun_ndo_start_xmit 6
QUEUE_PURGE rtun_queue_purge 4"
OBSERVE_TOTAL=13

# observe_provoke: on a new TAP device ob0, 3 frames written while it is down
# (DEV_READY, in rtun_file_write), 10 frames sent to it while its only reader,
# with a 4-frame ring, does not read (6 FULL_RING, in rtun_ndo_start_xmit),
# then the reader closes with 4 frames unread (4 QUEUE_PURGE, in
# rtun_queue_purge). Deletes ob0. Run as the workload of the observer
# (observe_workload), or with the observer already watching.
observe_provoke() {
    local out pid
    rtunctl add ob0 --tap --no-pi >/dev/null || { fail "cannot create ob0"; return 1; }
    out=$(rtunctl send ob0 --tap --no-pi --hex "$ETH_FRAME" --pad-to 60 --count 3)
    expect_eq "writes while ob0 is down" "$(oneline "$out")" "errno=EIO errno=EIO errno=EIO" || return 1
    ip link set ob0 txqueuelen 4
    rm -f /tmp/observe.ready
    rtunctl attach ob0 --tap --no-pi --ready-file /tmp/observe.ready &
    pid=$!
    wait_for_file /tmp/observe.ready || { kill $pid; return 1; }
    ip link set ob0 up
    out=$(rtunctl inject ob0 --count 10)
    kill $pid
    wait $pid 2>/dev/null
    expect_eq "inject" "$out" "sent 10" || return 1
    rtunctl del ob0 --tap --no-pi >/dev/null
}

# observe_workload: a script that runs observe_provoke, for an observer that
# starts its own workload (bpftrace -c, perf record -- ...): it attaches
# before the workload starts, so no drop is missed. The script prints
# OBSERVE-PROVOKED if observe_provoke succeeded (provoked_ok FILE checks).
observe_workload() {
    printf '%s\n' 'cd /tests/guest && . ./lib.sh && . ./t_observe.sh && observe_provoke && echo OBSERVE-PROVOKED' > /tmp/observe_provoke.sh
    echo "sh /tmp/observe_provoke.sh"
}

# provoked_ok FILE: the workload's output in FILE says it provoked every drop.
provoked_ok() {
    grep -q '^OBSERVE-PROVOKED$' "$1" || { sed 's/^/#   /' "$1"; fail "the workload did not provoke the drops"; return 1; }
}

# expect_observed TOOL FILE: FILE holds "REASON FUNCTION" lines, one a drop,
# as TOOL reported them; the ones in rtun functions must be OBSERVE_WANT
# exactly. The others (drops elsewhere in the kernel) are shown only.
expect_observed() {
    local got others
    got=$(grep ' rtun_' "$2" | sort | uniq -c | awk '{ print $2, $3, $1 }')
    others=$(grep -vc ' rtun_' "$2")
    [ "$others" = 0 ] || diag "$1: $others drop(s) outside rtun: $(oneline "$(grep -v ' rtun_' "$2" | sort | uniq -c)")"
    echo "$got" | sed "s/^/# $1: /"
    [ "$got" = "$OBSERVE_WANT" ] || {
        fail "$1 reported, as REASON FUNCTION COUNT: '$(oneline "$got")'; want '$(oneline "$OBSERVE_WANT")'"
        return 1
    }
}

# ---- bpftrace ----------------------------------------------------------------

# The program: drops counted by reason and by the function of their location.
# args->reason and args->location are the tracepoint's fields (its format
# file); the enum's type comes from the kernel's BTF.
BPFTRACE_PROG='tracepoint:skb:kfree_skb { @drops[args->reason, ksym(args->location)] = count(); }'

test_observe_bpftrace() {
    local pid out
    command -v bpftrace >/dev/null || { skip "no bpftrace in the guest (install Debian's bpftrace on the host)"; return "$KSFT_SKIP"; }
    [ -e /sys/kernel/btf/vmlinux ] || { skip "no /sys/kernel/btf/vmlinux: the kernel has no CONFIG_DEBUG_INFO_BTF, and the guest no kernel headers"; return "$KSFT_SKIP"; }
    load_rtun || return 1
    # -c: bpftrace attaches, runs the workload, and prints the map when it ends.
    bpftrace -e "$BPFTRACE_PROG" -c "$(observe_workload)" > /tmp/bpftrace.out 2>&1 &
    pid=$!
    wait_until 600 pid_gone $pid || { kill $pid; sed 's/^/#   /' /tmp/bpftrace.out; fail "bpftrace did not end"; return 1; }
    wait $pid || { sed 's/^/#   /' /tmp/bpftrace.out; fail "bpftrace failed"; return 1; }
    provoked_ok /tmp/bpftrace.out || return 1
    name_reasons < /tmp/bpftrace.out | sed 's/^/#   /'
    # "@drops[DEV_READY, rtun_file_write]: 3": that line 3 times.
    out=$(name_reasons < /tmp/bpftrace.out | sed -n 's/^@drops\[\([^,]*\), \(.*\)\]: \([0-9]*\)$/\1 \2 \3/p')
    [ -n "$out" ] || { fail "no @drops entry in bpftrace's output"; return 1; }
    echo "$out" | awk '{ for (i = 0; i < $3; i++) print $1, $2 }' > /tmp/bpftrace.drops
    expect_observed bpftrace /tmp/bpftrace.drops
}

# ---- dropwatch (drop_monitor) ------------------------------------------------

# dropwatch_receiving PID: dropwatch sleeps in recvmsg (syscall 47 on
# x86_64), which it does only once the kernel has acknowledged "start": each
# earlier request's ack is queued before its sendmsg returns, so receiving it
# never sleeps.
dropwatch_receiving() {
    local nr rest state
    read -r nr rest < "/proc/$1/syscall" || return 1
    read -r rest rest state rest < "/proc/$1/stat" || return 1
    [ "$nr" = 47 ] && [ "$state" = S ]
}

test_observe_dropwatch() {
    local pid
    command -v dropwatch >/dev/null || { skip "no dropwatch in the guest (install Debian's dropwatch on the host)"; return "$KSFT_SKIP"; }
    load_rtun || return 1
    # Packet mode: one alert a drop, with the symbol of its location and its
    # reason. dropwatch prints only alerts that arrive while it receives and
    # buffers its output (not a terminal), so it stops by itself: after
    # OBSERVE_TOTAL alerts (alertlimit), then reads "exit".
    printf 'set alertmode packet\nset alertlimit %s\nstart\nexit\n' "$OBSERVE_TOTAL" > /tmp/dropwatch.in
    dropwatch -l kas < /tmp/dropwatch.in > /tmp/dropwatch.out 2>&1 &
    pid=$!
    if ! wait_until 120 dropwatch_receiving $pid; then
        kill $pid 2>/dev/null
        wait $pid
        sed 's/^/#   /' /tmp/dropwatch.out
        if grep -q 'NET_DM' /tmp/dropwatch.out; then
            skip "no drop_monitor (NET_DM) netlink family in this kernel (CONFIG_NET_DROP_MONITOR)"
            return "$KSFT_SKIP"
        fi
        fail "dropwatch did not start monitoring"
        return 1
    fi
    observe_provoke || { kill -INT $pid; wait $pid; return 1; }
    wait_until 60 pid_gone $pid || { kill -INT $pid; wait_until 10 pid_gone $pid || kill $pid; }
    wait $pid
    grep -E '^(drop at|drop reason|input port name|Alert limit)' /tmp/dropwatch.out | head -12 | sed 's/^/#   /'
    # One alert: "drop at: rtun_file_write+0x2fa/0x4e0 [rtun] (0xffff...)",
    # "drop reason: DEV_READY", ... and a blank line.
    awk '/^drop at: / { sub(/^drop at: /, ""); sub(/\+.*/, ""); f = $1 }
        /^drop reason: / { r = $3 }
        /^$/ && f != "" { print (r == "" ? "NO_REASON" : r), f; f = ""; r = "" }' /tmp/dropwatch.out > /tmp/dropwatch.drops
    expect_observed dropwatch /tmp/dropwatch.drops
}

# ---- perf ------------------------------------------------------------------------

test_observe_perf() {
    local out
    command -v perf >/dev/null || { skip "no perf in the guest (install Debian's linux-perf on the host)"; return "$KSFT_SKIP"; }
    load_rtun || return 1
    # -a: every CPU, for as long as the workload runs.
    # shellcheck disable=SC2046 # the workload command is two words
    if ! perf record -q -a -e skb:kfree_skb -o /tmp/perf.data -- $(observe_workload) > /tmp/perf.out 2>&1; then
        sed 's/^/#   /' /tmp/perf.out
        fail "perf record failed"
        return 1
    fi
    provoked_ok /tmp/perf.out || return 1
    perf script -i /tmp/perf.data > /tmp/perf.script 2>/tmp/perf.err || {
        sed 's/^/#   /' /tmp/perf.err
        fail "perf script failed"
        return 1
    }
    grep 'rtun_' /tmp/perf.script | head -3 | sed 's/^/#   /'
    # "... skb:kfree_skb: skbaddr=... location=rtun_file_write+0x2fa reason: DEV_READY"
    out=$(sed -n 's/.*skb:kfree_skb:.* location=\([^ ]*\).* reason: \([A-Z0-9_]*\).*/\2 \1/p' /tmp/perf.script)
    [ -n "$out" ] || { tail -3 /tmp/perf.script | sed 's/^/#   /'; fail "no skb:kfree_skb sample in perf script's output"; return 1; }
    echo "$out" | while read -r reason loc; do
        case $loc in
            0x*) loc=$(where_is "$loc") ;;
        esac
        echo "$reason ${loc%%+*}"
    done | sed 's/ \[.*//' > /tmp/perf.drops
    expect_observed perf /tmp/perf.drops
}
