# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# Helpers for the guest tests (busybox sh). Sourced by tests/guest/run.sh.
# KTAP output: tools/testing/selftests/kselftest/ktap_helpers.sh conventions.

T=/sys/kernel/tracing

# busybox sh runs its own applets before PATH: use iproute2's ip by path.
ip() { /usr/sbin/ip "$@"; }
KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

# The suite's counts: globals that run_test updates and ktap_finish prints.
_n=0
_fails=0
_skips=0
_flakies=0

# diag MSG: a diagnostic line.
diag() { echo "# $*"; }

# oneline TEXT: the words of TEXT on one line, one space apart.
# shellcheck disable=SC2048,SC2086 # splitting TEXT into words is the point
oneline() { echo $*; }

# fail MSG: print a diagnostic and fail the current test.
fail() { echo "# FAIL: $*"; return 1; }

# skip MSG: skip the current test.
skip() { echo "# SKIP: $*"; return $KSFT_SKIP; }

# flaky MSG: something failed at first and passed on retry. The test's own
# result stands (a retry that passes does not fail it), but its KTAP line is
# `ok N NAME # flaky: MSG`, never a plain ok.
flaky() { echo "# FLAKY: $*"; }

# The state a test must leave as it found it: the links of the initial
# network namespace, the named network namespaces, the loaded modules.
# _state sets _STATE (a deliberate global: no subshell, so no process) to
# their names as "link:NAME", "netns:NAME" and "module:NAME" words, with shell
# builtins only: run_test takes it before and after every test.
_state() {
    local p m rest
    _STATE=
    for p in /sys/class/net/* /run/netns/*; do
        [ -e "$p" ] || continue
        case $p in
            /sys/*) _STATE="$_STATE link:${p##*/}" ;;
            *) _STATE="$_STATE netns:${p##*/}" ;;
        esac
    done
    while read -r m rest; do _STATE="$_STATE module:$m"; done < /proc/modules
}

# _cleanup BEFORE: removes what the test left behind that BEFORE (its
# _state from before the test) did not have, in this order: named network
# namespaces (with the devices in them), links of the initial namespace,
# modules. rtun is the exception: the suite keeps the module under test loaded
# from its first test on (every test that needs it starts with load_rtun).
# Each removal is a diagnostic line; the test's result stays what it was.
_cleanup() {
    local before=" $1 " kind w name unload=
    _state
    for kind in netns link module; do
        for w in $_STATE; do
            case $w in "$kind":*) ;; *) continue ;; esac
            case $before in *" $w "*) continue ;; esac
            name=${w#*:}
            case $kind in
                netns)
                    diag "cleanup: the test left network namespace $name: ip netns del $name"
                    ip netns del "$name" || diag "cleanup: ip netns del $name failed" ;;
                link)
                    # Gone already if it was in a deleted namespace's care.
                    [ -e "/sys/class/net/$name" ] || continue
                    diag "cleanup: the test left link $name: ip link del $name"
                    ip link del "$name" || diag "cleanup: ip link del $name failed" ;;
                module)
                    [ "$name" != rtun ] || continue
                    unload="$unload $name" ;;
            esac
        done
    done
    [ -n "$unload" ] || return 0
    # As a test that unloads a module: the drop audit resolves its trace first.
    audit_pause
    for name in $unload; do
        diag "cleanup: the test left module $name loaded: rmmod $name"
        rmmod "$name" || diag "cleanup: rmmod $name failed"
    done
    audit_resume
}

# _subtest_line LINE: LINE is a KTAP line of a subtest: indented by two spaces
# a level, a version line, a plan, a result or a diagnostic.
_subtest_line() {
    local rest=$1 n
    while :; do
        case $rest in "  "*) rest=${rest#  } ;; *) break ;; esac
    done
    [ "$rest" != "$1" ] || return 1
    case $rest in
        "KTAP version 1") return 0 ;;
        "# "*) return 0 ;;
        1..*) n=${rest#1..} ;;
        "ok "*) n=${rest#ok }; [ "${n#* }" != "$n" ] || return 1; n=${n%% *} ;;
        "not ok "*) n=${rest#not ok }; [ "${n#* }" != "$n" ] || return 1; n=${n%% *} ;;
        *) return 1 ;;
    esac
    case $n in ''|*[!0-9]*) return 1 ;; esac
}

# _as_diag: copies its input to its output line by line as it comes (shell
# builtins only, no read-ahead), as KTAP lines: subtest lines and diagnostics
# as they are, any other line as a diagnostic; empty lines go.
_as_diag() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
            '') ;;
            '#'*) printf '%s\n' "$line" ;;
            *) if _subtest_line "$line"; then printf '%s\n' "$line"; else printf '# %s\n' "$line"; fi ;;
        esac
    done
}

# run_test NAME FUNCTION: runs FUNCTION in a subshell and prints its KTAP line.
# Its output becomes diagnostic lines, except KTAP subtest lines (indented by
# two spaces a level: version, plan, results, diagnostics), which stay as they
# are; they are printed as the test prints them, so that a long test shows its
# progress (scripts/guest.sh streams the guest's output to the host). A
# `# running: NAME` line comes first, a `# time: NAME SECONDS s` line after the
# test. Then _cleanup removes the links, namespaces and modules it left behind.
# /tmp/run_test.out keeps the test's output (for its SKIP and FLAKY reasons),
# /tmp/run_test.rc its status.
run_test() {
    local name=$1 rc t0 t1 why flaky_why before
    shift
    _n=$((_n + 1))
    # The drop audit's locations, resolved while the modules that made them
    # are loaded: a test may unload one.
    audit_pause
    audit_resume
    _state
    before=$_STATE
    diag "running: $name"
    : > /tmp/run_test.rc
    t0=$(cut -d' ' -f1 /proc/uptime)
    { ( set -u; "$@" ) 2>&1; echo "$?" > /tmp/run_test.rc; } | tee /tmp/run_test.out | _as_diag
    t1=$(cut -d' ' -f1 /proc/uptime)
    read -r rc < /tmp/run_test.rc
    # No status: the test's subshell did not finish normally.
    rc=${rc:-1}
    echo "# time: $name $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
    why=$(sed -n 's/^# SKIP: //p' /tmp/run_test.out | tail -1)
    flaky_why=$(sed -n 's/^# FLAKY: //p' /tmp/run_test.out | tail -1)
    _cleanup "$before"
    case $rc in
        0) if [ -n "$flaky_why" ]; then
               echo "ok $_n $name # flaky: $flaky_why"; _flakies=$((_flakies + 1))
           else
               echo "ok $_n $name"
           fi ;;
        "$KSFT_SKIP") echo "ok $_n $name # SKIP $why"; _skips=$((_skips + 1)) ;;
        *) echo "not ok $_n $name"; _fails=$((_fails + 1)) ;;
    esac
}

ktap_finish() {
    echo "# Totals: pass:$((_n - _fails - _skips - _flakies)) fail:$_fails skip:$_skips flaky:$_flakies"
    [ $_fails = 0 ] || exit $KSFT_FAIL
    exit $KSFT_PASS
}

# ---- waiting ----------------------------------------------------------------------

# Under TCG with KASAN every exec costs 0.1-0.5 s: waits poll with shell
# builtins only, and run no process of their own.

# nap SECONDS: sleep without an exec (a read that times out on a fifo).
nap() {
    local line
    [ -p /tmp/nap.fifo ] || mkfifo /tmp/nap.fifo
    # shellcheck disable=SC3045 # busybox ash's read has -t (dash's has not)
    read -r -t "$1" line <> /tmp/nap.fifo
    return 0
}

# _uptime: _CS is the time since boot in hundredths of a second, read from
# /proc/uptime by the shell itself (a deliberate global: no subshell).
_uptime() {
    local up rest
    read -r up rest < /proc/uptime
    _CS=$(( ${up%.*} * 100 + 1${up#*.} - 100 ))
}

# wait_until TIMEOUT_S CMD...: runs CMD (a command or a shell function, with
# its arguments) every 0.1 s until it succeeds, for TIMEOUT_S seconds at most
# (a whole number or with decimals: 0.5) of the guest's clock. Returns 0 as
# soon as CMD succeeds, 1 if it never did. The only way the tests wait for
# something; CMD should be cheap (a builtin, or one process).
wait_until() {
    # Prefixed names: CMD sees (and could set) the locals of its caller.
    local _wu_s=${1%%.*} _wu_f _wu_end
    case $1 in *.*) _wu_f=${1#*.}00 ;; *) _wu_f=00 ;; esac
    _wu_f=${_wu_f%"${_wu_f#??}"}
    shift
    _uptime
    _wu_end=$(( _CS + ${_wu_s:-0} * 100 + 1$_wu_f - 100 ))
    while :; do
        "$@" && return 0
        _uptime
        [ "$_CS" -lt "$_wu_end" ] || return 1
        nap 0.1
    done
}

# pid_gone PID: the process has exited (for wait_until).
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- the module ---------------------------------------------------------------

# load_rtun: rtun loaded in its default mode, with /dev/net/rtun: the rtun
# already loaded is used as it is. When it cannot be, says why and what to do
# (on stderr) and fails.
load_rtun() {
    local out why
    if ! grep -q '^rtun ' /proc/modules; then
        if ! out=$(insmod /modules/rtun.ko 2>&1); then
            why=$(dmesg | grep 'rtun: ' | tail -n 1 | sed 's/^\[[^]]*\] //')
            case $out in
                *"File exists"*)
                    echo "rtun is already loaded: rmmod rtun first, or use it as it is ($out)" >&2 ;;
                *"unknown symbol"*|*"invalid module format"*|*"Exec format error"*)
                    echo "rtun.ko does not fit this kernel ($out${why:+; dmesg: $why}): rebuild it against the kernel the guest boots (make, with that KDIR)" >&2 ;;
                *)
                    echo "insmod rtun.ko failed: $out${why:+ (dmesg: $why)}" >&2 ;;
            esac
            return 1
        fi
    fi
    wait_until 10 [ -c /dev/net/rtun ] && return 0
    # In its default mode rtun's misc device is "rtun" in /proc/misc; with
    # as_tun=1 it is "tun".
    if ! grep -q ' rtun$' /proc/misc; then
        echo "rtun is loaded with as_tun=1 (it serves /dev/net/tun, not /dev/net/rtun): rmmod rtun, then load it without as_tun=1" >&2
    else
        echo "rtun is loaded, but /dev/net/rtun did not appear (dmesg: $(dmesg | grep 'rtun: ' | tail -n 1 | sed 's/^\[[^]]*\] //'))" >&2
    fi
    return 1
}

# Kernel warnings, oopses and friends since boot.
splats() {
    dmesg | grep -E 'BUG:|WARNING:|Oops|Call Trace:|RIP:|general protection|refcount_t:|UBSAN|KASAN|possible recursive locking|inconsistent lock state|possible circular locking|sleeping function called from invalid context|Kernel panic|suspicious RCU usage|ODEBUG|list_add corruption|list_del corruption|rcu_sched self-detected stall|rcu: INFO' |
        grep -Ev "$KCSAN_KNOWN_RE"
}

# The races KCSAN reports in the kernel's own code that were read, and found
# benign, with the line of 7.3 each comes from: the first line of their
# report, in either order. splats() leaves them out, and kcsan_no_reports
# prints them apart (docs/reliability.md, "KCSAN, the data-race detector").
# - napi_complete_done / napi_schedule_prep: net/core/dev.c's
#   napi_complete_done reads n->state plain, for NPSVC and IN_BUSY_POLL only,
#   while napi_schedule_prep sets SCHED or MISSED in it with a cmpxchg on
#   another CPU (a writer scheduling the instance the poll completes, on
#   tun.ko and on rtun alike): the bits read are not those written.
KCSAN_KNOWN_RE='BUG: KCSAN: data-race in (napi_complete_done / napi_schedule_prep|napi_schedule_prep / napi_complete_done)$'

# ---- tracing ------------------------------------------------------------------

# Start a fresh trace of skb:kfree_skb.
trace_start() {
    echo 0 > "$T/tracing_on"
    echo > "$T/trace"
    echo 1 > "$T/events/skb/kfree_skb/enable"
    echo 1 > "$T/tracing_on"
}

trace_stop() {
    echo 0 > "$T/tracing_on"
    echo 0 > "$T/events/skb/kfree_skb/enable"
}

# kfree_skb lines recorded since trace_start.
trace_drops() { grep 'kfree_skb:' "$T/trace"; }

# location LINE: the location field of a kfree_skb trace line. 7.3 prints it
# symbolically ("func+0x2fa/0x4e0 [rtun]"); older kernels print an address.
location() { echo "$1" | sed -n 's/.*location=\(.*\) reason: .*/\1/p'; }

# where_is LOCATION: "SYMBOL [MODULE]"; resolves a raw address through kallsyms.
where_is() {
    local loc
    case "$1" in
        0x*)
            loc=${1#0x}
            awk -v loc="$loc" 'length($1) == length(loc) && $1 <= loc && $1 > best { best = $1; sym = $3; mod = $4 }
                END { print sym, (mod == "" ? "[kernel]" : mod) }' /proc/kallsyms ;;
        *" ["*"]") echo "$1" ;;
        *) echo "$1 [kernel]" ;;
    esac
}

# rtun_drops REASON: lines with exactly this reason whose location is in rtun.
rtun_drops() {
    local line
    trace_drops | grep " reason: $1\$" | while read -r line; do
        case "$(where_is "$(location "$line")")" in *"[rtun]") echo "$line" ;; esac
    done
}

# expect_drops REASON N: exactly N drops with REASON from rtun since trace_start.
expect_drops() {
    local got line
    got=$(rtun_drops "$1" | wc -l)
    if [ "$got" != "$2" ]; then
        diag "trace:"; trace_drops | tail -5 | sed 's/^/#   /'
        fail "expected $2 $1 drop(s) located in rtun, traced $got"
        return 1
    fi
    line=$(rtun_drops "$1" | head -1)
    [ -z "$line" ] || diag "trace: ${line##*kfree_skb: }"
}

# reason_names: "NUMBER NAME" lines for enum skb_drop_reason, from the
# __print_symbolic table in the kfree_skb tracepoint's format (the names the
# trace prints).
reason_names() {
    grep -o '{ *[0-9][0-9]*, *"[A-Z0-9_]*" *}' "$T/events/skb/kfree_skb/format" |
        sed 's/{ *\([0-9]*\), *"\([A-Z0-9_]*\)" *}/\1 \2/'
}

# name_reasons: copies bpftrace's output from stdin to stdout with the drop
# reasons named: bpftrace prints an enum as its number, "@drops[77, f]: 3"
# becomes "@drops[DEV_READY, f]: 3".
name_reasons() {
    reason_names > /tmp/reason_names.txt
    awk 'NR == FNR { name[$1] = $2; next }
        /^@[A-Za-z_]*\[[0-9]+, / { split($0, a, /[[,]/); if (a[2] in name) sub(/\[[0-9]+,/, "[" name[a[2]] ",") }
        { print }' /tmp/reason_names.txt -
}

# ---- the suite's drop audit (run.sh sets it up, no_unnamed_drops reads it) ----

# audit_pause: resolves the locations recorded so far (the trace prints them
# against the modules loaded when it is read), keeps them in
# /tmp/audit.saved, empties the buffer and stops recording: a test that
# unloads and loads modules calls it first, and audit_resume after, so that
# no earlier drop is read against another module's addresses.
audit_pause() {
    local i=$T/instances/rtun_audit
    [ -d "$i" ] || return 0
    echo 0 > "$i/tracing_on"
    grep 'kfree_skb:' "$i/trace" >> /tmp/audit.saved
    echo > "$i/trace"
}

audit_resume() {
    local i=$T/instances/rtun_audit
    [ -d "$i" ] || return 0
    echo 1 > "$i/tracing_on"
}

# ---- counters ---------------------------------------------------------------------

# stat DEV NAME: one counter from ip -s link's source, /sys/class/net/DEV/statistics.
stat() { cat "/sys/class/net/$1/statistics/$2"; }

# ethtool_stat DEV NAME: one per-reason counter from ethtool -S.
ethtool_stat() { ethtool -S "$1" | awk -v k="$2:" '$1 == k { print $2 }'; }

# expect_eq WHAT GOT WANT
expect_eq() {
    [ "$2" = "$3" ] || { fail "$1: got '$2', want '$3'"; return 1; }
}

# expect_ethtool DEV REASON N: the driver's per-reason counter, as ethtool -S
# and /sys/kernel/debug/rtun/DEV both show it.
expect_ethtool() {
    local dbg
    expect_eq "ethtool -S $1 $2" "$(ethtool_stat "$1" "$2")" "$3" || return 1
    dbg=$(awk -v k="$2" '$1 == k { print $2 }' "/sys/kernel/debug/rtun/$1" 2>/dev/null)
    expect_eq "debugfs rtun/$1 $2" "$dbg" "$3"
}

# errno_table RTUN_OUT TUN_OUT WIDTH: the "errno: CALL ERRNO COUNT" lines of
# rtunfuzz's or rtunstress's output on rtun and on tun.ko, as diagnostic rows
# "CALL ERRNO RTUN-COUNT TUN-COUNT" (CALL padded to WIDTH; it may hold
# spaces), each (call, errno) once, those seen on one driver only marked
# "<- rtun only" or "<- tun.ko only"; sorted.
errno_table() {
    { sed -n 's/^errno: \(.*\) \([^ ]*\) \([0-9]*\)$/rtun\t\1\t\2\t\3/p' "$1"
      sed -n 's/^errno: \(.*\) \([^ ]*\) \([0-9]*\)$/tun\t\1\t\2\t\3/p' "$2"; } |
        awk -F'\t' -v w="$3" '{ k = $2 "\t" $3; seen[k] = 1; n[$1, k] = $4 }
            END { for (k in seen) { split(k, p, "\t"); r = n["rtun", k] + 0; t = n["tun", k] + 0
                  printf "#   %-" w "s %-14s %7d %7d%s\n", p[1], p[2], r, t, (r && !t) ? "  <- rtun only" : (!r && t) ? "  <- tun.ko only" : "" } }' |
        sort
}

# ---- fault injection ------------------------------------------------------------

# symbol_range PATTERN: "START END" of the rtun function whose name matches.
symbol_range() {
    sort /proc/kallsyms | awk -v pat="$1" 'found { print "0x" start, "0x" $1; exit }
        $4 == "[rtun]" && $3 ~ pat && ($2 == "t" || $2 == "T") { start = $1; found = 1 }'
}

# arm_fault KIND PATTERN: KIND (failslab or fail_page_alloc) fails the next
# allocation made from within the rtun function matching PATTERN, and only that
# one: the stack-trace filter restricts it to that function's address range.
# FAULT, the fault's debugfs directory, is a deliberate global: disarm_fault
# reads it.
arm_fault() {
    local range
    FAULT=/sys/kernel/debug/$1
    [ -d "$FAULT" ] || { skip "no $1 in this kernel"; return $KSFT_SKIP; }
    range=$(symbol_range "$2")
    [ -n "$range" ] || { fail "no rtun function matches $2"; return 1; }
    # shellcheck disable=SC2086 # "START END": two words
    set -- $range
    diag "$(basename "$FAULT"): failing one allocation made from [$1, $2)"
    echo 0 > "$FAULT/probability"
    echo "$1" > "$FAULT/require-start"
    echo "$2" > "$FAULT/require-end"
    echo 32 > "$FAULT/stacktrace-depth"
    echo N > "$FAULT/task-filter"
    echo N > "$FAULT/ignore-gfp-wait"
    [ -e "$FAULT/ignore-gfp-highmem" ] && echo N > "$FAULT/ignore-gfp-highmem"
    [ -e "$FAULT/min-order" ] && echo 0 > "$FAULT/min-order"
    [ -e "$FAULT/cache-filter" ] && echo N > "$FAULT/cache-filter"
    echo 0 > "$FAULT/space"
    echo 0 > "$FAULT/verbose"
    echo 1 > "$FAULT/interval"
    echo 1 > "$FAULT/times"
    echo 100 > "$FAULT/probability"
}

disarm_fault() { echo 0 > "$FAULT/probability"; }

# ---- readers --------------------------------------------------------------------

# hold ARGS...: `rtunctl attach ARGS` in the background until `unhold`; its
# output (frames read with --read) goes to /tmp/hold.out. HOLD, its pid, is a
# deliberate global: unhold reads it.
hold() {
    rm -f /tmp/hold.ready
    rtunctl attach "$@" --ready-file /tmp/hold.ready > /tmp/hold.out 2>&1 &
    HOLD=$!
    wait_for_file /tmp/hold.ready || { kill "$HOLD"; cat /tmp/hold.out; return 1; }
}

unhold() { kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null; }

# frames_read: frames the held reader has printed so far.
frames_read() { grep -c '^frame ' /tmp/hold.out; }

# frames_read_reach N: the held reader has read N frames or more.
frames_read_reach() { [ "$(frames_read)" -ge "$1" ]; }

# wait_frames N: until the held reader has read N frames (10 s at most).
wait_frames() {
    wait_until 10 frames_read_reach "$1"
    expect_eq "frames read" "$(frames_read)" "$1"
}

# wait_for_file PATH: up to 10 s.
wait_for_file() {
    wait_until 10 [ -e "$1" ] || { fail "timed out waiting for $1"; return 1; }
}

# A 60-byte Ethernet frame: broadcast, local source, ethertype 0x88b5, zeros.
# shellcheck disable=SC2034 # for the tests (t_*.sh)
ETH_FRAME=ffffffffffff02000000000188b5
