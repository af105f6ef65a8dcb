# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Loading, unloading, and the first traced drop.

test_module_load_unload() {
    local s
    if grep -q '^rtun ' /proc/modules; then rmmod rtun || return 1; fi
    insmod /modules/rtun.ko || { fail "insmod failed"; return 1; }
    load_rtun || { fail "/dev/net/rtun did not appear"; return 1; }
    grep -q '^rtun ' /proc/modules || { fail "rtun not in /proc/modules"; return 1; }
    rmmod rtun || { fail "rmmod failed"; return 1; }
    [ ! -e /dev/net/rtun ] || { fail "/dev/net/rtun still there after rmmod"; return 1; }
    load_rtun || { fail "reload failed"; return 1; }
    s=$(splats)
    [ -z "$s" ] || { echo "$s"; fail "splat in dmesg"; return 1; }
}

# A write while the interface is down is dropped with DEV_READY; the drop shows
# up in trace_pipe with its reason and a location inside rtun.
test_drop_traced_in_trace_pipe() {
    local pid out line where
    load_rtun || return 1
    rtunctl add rtap9 --tap --no-pi >/dev/null || { fail "add"; return 1; }
    trace_start
    cat "$T"/trace_pipe > /tmp/pipe.txt &
    pid=$!
    out=$(rtunctl send rtap9 --tap --no-pi --hex "$ETH_FRAME" --pad-to 60)
    sleep 0.5
    kill $pid
    trace_stop
    rtunctl del rtap9 --tap --no-pi >/dev/null
    expect_eq "write errno" "$out" "errno=EIO" || return 1
    line=$(grep 'kfree_skb:.* reason: DEV_READY$' /tmp/pipe.txt | head -1)
    [ -n "$line" ] || { tail -3 /tmp/pipe.txt; fail "no DEV_READY line in trace_pipe"; return 1; }
    where=$(where_is "$(location "$line")")
    diag "trace_pipe: ${line##*kfree_skb: }"
    diag "location: $where"
    case "$where" in *"[rtun]") ;; *) fail "location not in rtun"; return 1 ;; esac
}
