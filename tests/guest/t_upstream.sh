# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash # busybox ash, the guest's shell: dash is the nearest dialect shellcheck knows
# The kernel's own tun selftest, tools/testing/selftests/net/tun.c of the test
# kernel's tree, built unmodified and static by scripts/selftest.sh. It opens
# /dev/net/tun by name, so it runs first against C tun.ko, then against rtun
# with /dev/net/rtun bind-mounted over /dev/net/tun, in the same boot.
#
# Twelve of its cases wait out a 10 s receive timeout (XFAIL), so one run in
# one process takes about three minutes under TCG. Each run is split by the
# harness's own filters (-f/-v) into TUN_SELFTEST_SHARDS shards that run side
# by side, each in a network namespace of its own, since the cases use fixed
# interface names (geneve1) and addresses. Two, not more: the cases that do
# not wait mostly create and delete devices, which does not go faster in
# parallel, and with five shards on a loaded host tun.ko itself failed cases
# (a fixture's 2 s wait for the local route of its IPv6 address ran out, and
# the geneve1 it left made the following cases fail). IPv6, which the
# tun_vnet_udptnl fixtures need, is enabled in those namespaces only: run.sh
# keeps it disabled in the initial one for the other tests.

TUN_SELFTEST=/usr/bin/tun_selftest
TUN_SELFTEST_SHARDS=2
# Wall-clock cap on one shard (the harness's own limit is 30 s per case);
# generous, for the KASAN test kernel on a loaded host.
TUN_SELFTEST_CAP=${TUN_SELFTEST_CAP:-900}

# Interfaces the selftest creates: tap%d/tun%d through the driver, geneve1.
SELFTEST_IFACES='^(tap|tun)[0-9]+$|^geneve1$'

# selftest_shards: the harness's filter arguments, one shard per line. The
# variants are grouped in families by the prefix before their first "_" (4in4,
# 6in4, ...: three cases of each wait 10 s), dealt out to the shards in turn;
# the fixtures without variants go to the first. `tun_selftest -l` prints
# FIXTURE (20 wide), VARIANT (25 wide) and TEST columns. An empty line (one
# shard, no filter: every case) if the listing gives nothing.
selftest_shards() {
    $TUN_SELFTEST -l 2>&1 | awk -v k=$TUN_SELFTEST_SHARDS '
        NR == 1 || /^-+$/ { next }
        {
            f = substr($0, 1, 20); v = substr($0, 22, 25)
            gsub(/ /, "", f); gsub(/ /, "", v)
            if (f != "") cur = f
            if (v == "") { plain[cur] = 1; next }
            has_variants[cur] = 1
            fam = v; sub(/_.*/, "", fam)
            if (!(fam in shard)) shard[fam] = nfam++ % k
            args[shard[fam]] = args[shard[fam]] " -v " v
        }
        END {
            for (c in plain) if (!(c in has_variants)) args[0] = args[0] " -f " c
            for (i = 0; i < k; i++) if (args[i] != "") { print args[i]; n++ }
            if (!n) print ""
        }'
}

# selftest_shard LOG ARGS...: one shard in a new network namespace. Reports
# and deletes the selftest's interfaces still there when it ends.
selftest_shard() {
    local log=$1
    shift
    # shellcheck disable=SC2016 # expanded by the shell in the namespace
    unshare -n sh -c '
        cap=$1 ifaces=$2 bin=$3
        shift 3
        /usr/sbin/ip link set lo up
        echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6
        echo 0 > /proc/sys/net/ipv6/conf/default/disable_ipv6
        timeout "$cap" "$bin" "$@"
        rc=$?
        for i in $(/usr/sbin/ip -o link show | cut -d: -f2 | cut -d@ -f1 | tr -d " " | grep -E "$ifaces"); do
            echo "# left behind: $i"
            /usr/sbin/ip link del "$i"
        done
        exit $rc' sh "$TUN_SELFTEST_CAP" "$SELFTEST_IFACES" "$TUN_SELFTEST" "$@" > "$log" 2>&1
}

# selftest_run LABEL: all shards side by side, logs in /tmp/selftest.LABEL.N.log.
selftest_run() {
    local t0 n pids args t1 p
    rm -f /tmp/selftest."$1".*.log
    t0=$(cut -d' ' -f1 /proc/uptime)
    n=0
    pids=
    while read -r args; do
        n=$((n + 1))
        # shellcheck disable=SC2086 # the harness's filter arguments, split
        selftest_shard "/tmp/selftest.$1.$n.log" $args &
        pids="$pids $!"
    done <<EOF
$(selftest_shards)
EOF
    for p in $pids; do wait "$p"; done
    t1=$(cut -d' ' -f1 /proc/uptime)
    diag "$1: $n shards in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
}

# The kselftest_harness TAP lines of a log: "ok N NAME [# XFAIL|XPASS|SKIP ...]"
# or "not ok N NAME". Passed is what kselftest counts as passed minus SKIP:
# plain ok, XFAIL (an XFAIL_ADD case that failed, as expected) and XPASS.
# They are reported apart (selftest_summary, selftest_ktap); a case "passes"
# on rtun when it ends as on tun.ko, XFAIL included.
selftest_passed() { awk '$1 == "ok" && $2 ~ /^[0-9]+$/ && !/# SKIP/ { print $3 }' "$@"; }
selftest_skipped() { awk '$1 == "ok" && $2 ~ /^[0-9]+$/ && /# SKIP/ { print $3 }' "$@"; }
selftest_failed() { awk '$1 == "not" && $2 == "ok" && $3 ~ /^[0-9]+$/ { print $4 }' "$@"; }
selftest_xfail() { awk '$1 == "ok" && $2 ~ /^[0-9]+$/ && /# XFAIL/ { print $3 }' "$@"; }
selftest_xpass() { awk '$1 == "ok" && $2 ~ /^[0-9]+$/ && /# XPASS/ { print $3 }' "$@"; }

# selftest_check_shard LOG: fails if the shard did not report a result for
# every case it planned, or disagrees with the harness's own summary line.
selftest_check_shard() {
    local plan got summary behind
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$1" | head -1)
    [ -n "$plan" ] || { fail "$1: no TAP plan"; tail -n 3 "$1"; return 1; }
    [ "$plan" -gt 0 ] || { fail "$1: a shard with no cases"; return 1; }
    got=$(( $(selftest_passed "$1" | wc -l) + $(selftest_skipped "$1" | wc -l) + $(selftest_failed "$1" | wc -l) ))
    [ "$got" = "$plan" ] || { fail "$1: $got results for $plan planned cases (killed or crashed?)"; return 1; }
    # The harness counts SKIP as passed.
    summary=$(awk '$1 == "#" && ($2 == "PASSED:" || $2 == "FAILED:") && $4 == "/" && $6 == "tests" { s = $3 " " $5 } END { print s }' "$1")
    expect_eq "$1: the harness's summary (passed / run)" "$summary" \
        "$(( $(selftest_passed "$1" | wc -l) + $(selftest_skipped "$1" | wc -l) )) $plan" || return 1
    behind=$(grep '^# left behind: ' "$1")
    [ -z "$behind" ] || { echo "$behind"; fail "$1: the selftest left interfaces behind"; return 1; }
}

# Logs of a run: its shards', then its retry's if any (the retry comes last,
# so its result and reason win).
selftest_logs() {
    ls /tmp/selftest."$1".*.log
    [ ! -f /tmp/selftest-retry."$1".log ] || echo /tmp/selftest-retry."$1".log
}

# selftest_passed_all LABEL: the cases that passed in the shards or the retry.
# shellcheck disable=SC2046 # the log names, one a word
selftest_passed_all() { selftest_passed $(selftest_logs "$1") | awk '!seen[$0]++'; }

# selftest_failing LABEL [ONLY]: "NAME: WHY" for each case of LABEL's run
# that passed neither in a shard nor on retry (and that the file ONLY lists,
# one name a line), in the order of ONLY, or of the run. WHY is the first two
# lines the harness printed for the case (errno messages, failed
# expectations), between its RUN line and its OK/FAIL line. One awk pass: the
# suite's shell is slow to fork under TCG.
selftest_failing() {
    local only=${2:-/dev/null}
    # shellcheck disable=SC2046 # the log names, one a word
    awk -v only="$only" '
        FILENAME == only { order[++n] = $1; next }
        $2 == "RUN" { cur = $3; why[cur] = ""; k = 0; next }
        cur != "" && ($2 == "OK" || $2 == "FAIL") && $3 == cur { cur = ""; next }
        cur != "" { if (k++ < 2) { l = $0; sub(/^# */, "", l); why[cur] = why[cur] (k > 1 ? " | " : "") l }; next }
        $1 == "ok" && $2 ~ /^[0-9]+$/ && !/# SKIP/ { passed[$3] = 1 }
        $1 == "ok" && $2 ~ /^[0-9]+$/ { t = $3 }
        $1 == "not" && $2 == "ok" && $3 ~ /^[0-9]+$/ { t = $4 }
        t != "" { if (!(t in seen)) { seen[t] = 1; run[++m] = t }; t = "" }
        END {
            if (n == 0) for (i = 1; i <= m; i++) order[++n] = run[i]
            for (i = 1; i <= n; i++) if (!(order[i] in passed)) print order[i] ": " why[order[i]]
        }' "$only" $(selftest_logs "$1")
}

# selftest_retry LABEL LIST: runs once more, alone and one after the other,
# the cases the file LIST names, when there are at most TUN_SELFTEST_RETRY_MAX:
# a case that fails under the load of the shards (the fixtures wait 2 s for a
# route, 10 s for a packet) gets a second chance. More failures than that are
# not flakes, and retrying them would only cost time.
TUN_SELFTEST_RETRY_MAX=10
selftest_retry() {
    local count t
    rm -f /tmp/selftest-retry."$1".log
    count=$(wc -l < "$2")
    [ "$count" -gt 0 ] && [ "$count" -le $TUN_SELFTEST_RETRY_MAX ] || return 0
    diag "$1: retrying alone: $(oneline "$(cat "$2")")"
    # shellcheck disable=SC2046 # "-r CASE" for each case: the harness's arguments
    selftest_shard /tmp/selftest-retry."$1".log $(sed 's/^/-r /' "$2")
    for t in $(selftest_passed /tmp/selftest-retry."$1".log); do
        diag "$1: $t passed on retry: flaky"
    done
}

# selftest_summary LABEL: checks its shards and retry, prints its counts:
# plain passes, XFAIL and XPASS apart, and the cases that passed only on
# retry (flaky) apart from those.
selftest_summary() {
    local sok log logs total ok_all skipped xfail xpass flaky plain
    sok=0
    for log in $(selftest_logs "$1"); do selftest_check_shard "$log" || sok=1; done
    logs=$(ls /tmp/selftest."$1".*.log)
    # shellcheck disable=SC2086 # $logs: the shards' logs, one a word
    total=$(awk '/^1\.\.[0-9]+$/ { sub(/^1\.\./, ""); t += $0 } END { print t + 0 }' $logs)
    ok_all=$(selftest_passed_all "$1" | wc -l)
    # shellcheck disable=SC2086 # as above
    skipped=$(selftest_skipped $logs | wc -l)
    # shellcheck disable=SC2086 # as above
    xfail=$(selftest_xfail $logs | wc -l)
    # shellcheck disable=SC2086 # as above
    xpass=$(selftest_xpass $logs | wc -l)
    flaky=0
    [ ! -f /tmp/selftest-retry."$1".log ] || flaky=$(selftest_passed /tmp/selftest-retry."$1".log | wc -l)
    plain=$((ok_all - xfail - xpass - flaky))
    diag "$1: $total cases: $plain passed, $xfail XFAIL, $xpass XPASS, $flaky flaky (failed, then passed alone on retry), $((total - ok_all - skipped)) failed, $skipped skipped"
    return $sok
}

# selftest_ktap LABEL INDENT NUMBER [REFERENCE]: the run of LABEL as a KTAP
# subtest (every line indented by INDENT), numbered NUMBER in its parent: a
# line for each case, in the order the shards ran them, with the harness's
# directive (XFAIL, XPASS, SKIP). A case that failed in its shard and passed
# alone on retry is `ok ... # flaky`, after the output of its first failure
# (at most 30 lines); one that failed both times is `not ok`, or, when the
# file REFERENCE (the cases tun.ko passes) does not list it, `not ok ...
# # SKIP fails on tun.ko too`. The subtest's own line is `not ok` if a case
# REFERENCE lists failed; for the reference run (no REFERENCE), cases that
# fail make it `not ok ... # SKIP`: rtun is not asked to pass them. Writes
# the number of flaky cases to /tmp/selftest.flaky.LABEL.
selftest_ktap() {
    # shellcheck disable=SC2046 # the log names, one a word
    awk -v label="$1" -v ind="$2" -v num="$3" -v ref="${4:-}" -v retry=/tmp/selftest-retry."$1".log \
        -v flakyfile=/tmp/selftest.flaky."$1" '
        function res(line) {
            if (line ~ /# XFAIL/) return "xfail"
            if (line ~ /# XPASS/) return "xpass"
            if (line ~ /# SKIP/) return "skip"
            return line ~ /^not ok/ ? "fail" : "pass"
        }
        function directive(line) { return sub(/^[^#]*# /, "", line) ? line : "" }
        FILENAME == ref { inref[$1] = 1; next }
        $2 == "RUN" { cur = $3; blk = ""; k = 0; next }
        cur != "" && ($2 == "OK" || $2 == "FAIL") && $3 == cur { cur = ""; next }
        cur != "" { if (k++ < 30) blk = blk "\n" $0; next }
        ($1 == "ok" && $2 ~ /^[0-9]+$/) || ($1 == "not" && $2 == "ok" && $3 ~ /^[0-9]+$/) {
            name = $1 == "ok" ? $3 : $4
            if (FILENAME == retry) { again[name] = res($0); next }
            if (!(name in first)) { order[++n] = name; first[name] = res($0); dir[name] = directive($0); out[name] = blk }
            blk = ""
        }
        END {
            sub_ind = ind "  "
            print sub_ind "KTAP version 1"
            print sub_ind "1.." n
            bad = 0; refbad = 0; flaky = 0
            for (i = 1; i <= n; i++) {
                c = order[i]; r = first[c]
                if (r == "pass") print sub_ind "ok " i " " c
                else if (r == "xfail" || r == "xpass" || r == "skip") print sub_ind "ok " i " " c " # " dir[c]
                else if (again[c] == "pass" || again[c] == "xfail" || again[c] == "xpass") {
                    flaky++
                    print sub_ind "# " label ": the first run of " c " failed:"
                    m = split(substr(out[c], 2), l, "\n")
                    for (j = 1; j <= m; j++) print sub_ind "#   " l[j]
                    print sub_ind "ok " i " " c " # flaky: failed in its shard, passed alone on retry"
                } else if (ref != "" && !(c in inref)) {
                    print sub_ind "not ok " i " " c " # SKIP fails on tun.ko too"
                } else {
                    bad++
                    print sub_ind "not ok " i " " c
                }
            }
            if (ref == "" && bad > 0)
                print ind "not ok " num " " label " # SKIP the reference: " bad " case(s) fail on " label " itself, not required of rtun"
            else if (bad > 0)
                print ind "not ok " num " " label
            else if (flaky > 0)
                print ind "ok " num " " label " # flaky: " flaky " case(s) passed only on retry"
            else
                print ind "ok " num " " label
            print flaky > flakyfile
        }' ${4:+"$4"} $(selftest_logs "$1")
}

# tun_beside_rtun: rtun loaded, and tun.ko beside it (unless it is loaded
# already), with /dev/net/tun. Sets HAD_TUN: 1 if tun.ko was loaded before,
# else 0 (tun_unload_if_loaded then unloads it).
tun_beside_rtun() {
    load_rtun || { fail "rtun not loaded"; return 1; }
    HAD_TUN=0
    grep -q '^tun ' /proc/modules && HAD_TUN=1
    [ $HAD_TUN = 1 ] || insmod /modules/tun.ko || { fail "insmod tun.ko"; return 1; }
    wait_for_file /dev/net/tun || return 1
}

# tun_unload_if_loaded: unloads tun.ko if tun_beside_rtun loaded it. The drop
# audit resolves tun.ko's locations before it goes.
tun_unload_if_loaded() {
    [ "$HAD_TUN" = 1 ] || { audit_pause; rmmod tun || diag "rmmod tun failed"; audit_resume; }
}

test_upstream_tun_selftest() {
    local ok flaky_tun flaky_rtun lost pass_tun pass_rtun left i
    [ -x $TUN_SELFTEST ] || { skip "no $TUN_SELFTEST in this guest (scripts/selftest.sh)"; return "$KSFT_SKIP"; }
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    tun_beside_rtun || return 1

    selftest_run tun.ko
    selftest_failing tun.ko | cut -d: -f1 > /tmp/selftest.retry.list
    selftest_retry tun.ko /tmp/selftest.retry.list
    # The reference: every case that passed on C tun.
    selftest_passed_all tun.ko > /tmp/selftest.reference
    ok=1
    if mount --bind /dev/net/rtun /dev/net/tun; then
        selftest_run rtun
        selftest_failing rtun /tmp/selftest.reference | cut -d: -f1 > /tmp/selftest.retry.list
        selftest_retry rtun /tmp/selftest.retry.list
        umount /dev/net/tun || { fail "umount /dev/net/tun"; ok=0; }
    else
        fail "mount --bind /dev/net/rtun /dev/net/tun"; ok=0
    fi
    tun_unload_if_loaded
    [ $ok = 1 ] || return 1
    ! grep -q ' /dev/net/tun ' /proc/mounts || { fail "a mount over /dev/net/tun is left"; return 1; }
    # When a namespace goes away, its devices without rtnl_link_ops move to
    # the initial one instead of being deleted.
    # shellcheck disable=SC2010 # interface names have no blank
    left=$(ls /sys/class/net | grep -E "$SELFTEST_IFACES")
    for i in $left; do ip link del "$i"; done
    [ -z "$left" ] || { fail "interfaces left behind: $(oneline "$left")"; return 1; }

    selftest_summary tun.ko || ok=0
    selftest_summary rtun || ok=0
    selftest_failing tun.ko | sed 's/^/# fails on tun.ko: /'
    # Both runs as KTAP subtests, one line a case.
    echo "  KTAP version 1"
    echo "  1..2"
    selftest_ktap tun.ko "  " 1
    selftest_ktap rtun "  " 2 /tmp/selftest.reference
    flaky_tun=$(cat /tmp/selftest.flaky.tun.ko)
    flaky_rtun=$(cat /tmp/selftest.flaky.rtun)

    # Every case C tun passes must pass on rtun.
    selftest_failing rtun /tmp/selftest.reference > /tmp/selftest.lost
    sed 's/^/# passes on tun.ko, fails on rtun: /' /tmp/selftest.lost
    lost=$(wc -l < /tmp/selftest.lost)
    pass_tun=$(wc -l < /tmp/selftest.reference)
    pass_rtun=$(selftest_passed_all rtun | wc -l)
    [ $ok = 1 ] || return 1
    [ "$pass_tun" -gt 0 ] || { fail "not one case passes on tun.ko: no reference to compare with"; return 1; }
    { [ "$lost" = 0 ] && [ "$pass_rtun" -ge "$pass_tun" ]; } ||
        { fail "rtun passes $pass_rtun cases, tun.ko $pass_tun; $lost case(s) passing on tun.ko fail on rtun"; return 1; }
    [ "$flaky_tun$flaky_rtun" = 00 ] ||
        flaky "cases that passed only on retry: tun.ko $flaky_tun, rtun $flaky_rtun"
}

# The kernel's skf_net_off selftest and its script, unmodified: a classic
# filter on a raw socket reads the IPv6 and UDP headers of a frame written
# with IFF_NAPI_FRAGS, whose headers lie in page fragments (SKF_NET_OFF), and
# of a linear one. The script runs once on tun.ko and once on rtun
# (/dev/net/rtun bind-mounted over /dev/net/tun in a mount namespace); both
# print the same, and the net:napi_gro_frags_entry tracepoint shows that each
# driver handed GRO the same non-linear frame.
SKF_DIR=/selftests/net

# skf_run LABEL [unshare -m ...]: the script's output in /tmp/skf.LABEL, the
# GRO events in /tmp/skf.LABEL.gro; its exit status.
skf_run() {
    local label=$1 inst=$T/instances/rtun_skf rc
    shift
    rmdir "$inst" 2>/dev/null
    mkdir "$inst" || { fail "cannot make the trace instance $inst"; return 1; }
    echo 1 > "$inst/events/net/napi_gro_frags_entry/enable"
    if [ $# -gt 0 ]; then
        # shellcheck disable=SC2016 # expanded by the shell in the namespace
        "$@" sh -c 'mount --bind /dev/net/rtun /dev/net/tun && cd "$1" && exec bash ./skf_net_off.sh' sh "$SKF_DIR" > "/tmp/skf.$label" 2>&1
    else
        (cd "$SKF_DIR" && bash ./skf_net_off.sh) > "/tmp/skf.$label" 2>&1
    fi
    rc=$?
    echo 0 > "$inst/events/net/napi_gro_frags_entry/enable"
    grep -o 'napi_gro_frags_entry: .*' "$inst/trace" |
        sed 's/.* \(len=[0-9]*\) \(data_len=[0-9]*\) .* \(nr_frags=[0-9]*\) .*/\1 \2 \3/' > "/tmp/skf.$label.gro"
    rmdir "$inst"
    sed 's/^/#   /' "/tmp/skf.$label"
    diag "napi_gro_frags_entry: $(oneline "$(cat "/tmp/skf.$label.gro")")"
    return $rc
}

test_upstream_skf_net_off() {
    local rc_tun rc_rtun
    [ -x $SKF_DIR/skf_net_off ] || { skip "no $SKF_DIR/skf_net_off in this guest (scripts/selftest.sh)"; return "$KSFT_SKIP"; }
    [ -f /modules/tun.ko ] || { skip "no tun.ko in this guest"; return "$KSFT_SKIP"; }
    tun_beside_rtun || return 1
    diag "tun.ko:"
    skf_run tun; rc_tun=$?
    diag "rtun:"
    skf_run rtun unshare -m; rc_rtun=$?
    tun_unload_if_loaded
    expect_eq "the script's exit status on tun.ko" "$rc_tun" 0 || return 1
    expect_eq "the script's exit status on rtun" "$rc_rtun" 0 || return 1
    # Three runs (no filter, linear, fragmented), each ending in OK.
    expect_eq "OK lines on tun.ko" "$(grep -c '^OK$' /tmp/skf.tun)" 3 || return 1
    cmp -s /tmp/skf.tun /tmp/skf.rtun || { fail "the script's output differs between tun.ko and rtun"; return 1; }
    # Only the -F run goes through napi_gro_frags: its IPv6 header, UDP
    # header and payload are three fragments after the linear Ethernet header.
    expect_eq "GRO's view on tun.ko" "$(cat /tmp/skf.tun.gro)" "len=52 data_len=52 nr_frags=3" || return 1
    expect_eq "GRO's view on rtun" "$(cat /tmp/skf.rtun.gro)" "$(cat /tmp/skf.tun.gro)"
}
