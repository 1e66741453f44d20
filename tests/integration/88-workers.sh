# --workers N: the master and its workers. Without --cluster more than one
# worker is refused; one worker under a master: a worker killed with -9 is
# started again on the same port with the same identity, SIGHUP reaches the
# workers, SIGTERM stops everything with exit 0, a worker that cannot start
# is retried with a doubling delay and then given up (exit 1), and workers
# whose master dies stop too. Two workers on a real redis-server: connections
# are spread over both, a subscriber on one sees members come and go through
# the other, a killed worker is replaced while the other serves on.
source "$(dirname "$0")/lib.sh"

# worker_pid NAME INDEX: the pid of the last start of that worker.
worker_pid() {
    sed -n "s/.*\[master\] worker $2 started, pid \([0-9]*\)$/\1/p" "$TMP/$1.err" | tail -n 1
}

# ---- more than one worker needs --cluster: a usage error (2), or a file error (1)
rc=0; "$BIN/rendezvousd" --workers 2 --listen /ip4/127.0.0.1/tcp/0 >"$TMP/nc.out" 2>"$TMP/nc.err" || rc=$?
[ "$rc" -eq 2 ] || fail "--workers 2 without --cluster: exit code $rc, expected 2"
grep -q -- '--workers: more than one worker needs --cluster' "$TMP/nc.err" ||
    fail "--workers 2 without --cluster: $(cat "$TMP/nc.err")"
printf 'workers = 3\n' >"$TMP/w.conf"
rc=0; "$BIN/rendezvousd" --config "$TMP/w.conf" --check-config >"$TMP/ncf.out" 2>"$TMP/ncf.err" || rc=$?
[ "$rc" -eq 1 ] || fail "workers = 3 in a file without cluster: exit code $rc, expected 1"
grep -q "w.conf:1: workers: more than one worker needs --cluster" "$TMP/ncf.err" ||
    fail "workers = 3 in a file: $(cat "$TMP/ncf.err")"
rc=0; "$BIN/rendezvousd" --workers 65 >/dev/null 2>"$TMP/big.err" || rc=$?
[ "$rc" -eq 2 ] || fail "--workers 65: exit code $rc, expected 2"

# ---- one worker under a master
start_daemon one --workers 1 --metrics 127.0.0.1:0 --key "$TMP/one.key"
MASTER=$DPID
wait_log one '\[worker 0\] rendezvousd .* peer id '
w0=$(worker_pid one 0)
[ -n "$w0" ] && [ "$(cut -d' ' -f4 /proc/"$w0"/stat)" = "$MASTER" ] || fail "no worker 0 under the master"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping through worker 0"

# kill -9: started again after the first backoff step, same port and identity
kill -9 "$w0"
wait_log one "\[master\] worker 0 \(pid $w0\) was killed by signal 9 .*; restarting it in 0\.25 s"
retry 15 bash -c "[ \"\$(sed -n 's/.*\[master\] worker 0 started, pid \([0-9]*\)$/\1/p' '$TMP/one.err' | tail -n 1)\" != $w0 ]" ||
    fail "worker 0 was not started again: $(cat "$TMP/one.err")"
w1=$(worker_pid one 0)
retry 15 "$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "no answer after the restart: $(cat "$TMP/one.err")"
[ "$(grep -c '^Rendezvous server listening on:$' "$TMP/one.out")" -eq 2 ] || fail "listening blocks: $(cat "$TMP/one.out")"
[ "$(grep '^/' "$TMP/one.out" | sort -u | wc -l)" -eq 1 ] || fail "the address or identity changed: $(cat "$TMP/one.out")"

# SIGHUP reaches the worker (and a reload on the same command line changes nothing)
kill -HUP "$MASTER"
wait_log one '\[worker 0\] SIGHUP: reloaded'
wait_log one '\[master\] SIGHUP: passed on to 1 workers'
grep -q 'need a restart' "$TMP/one.err" && fail "reload saw changes: $(cat "$TMP/one.err")"

# SIGTERM: the worker drains, both exit 0
stop_daemon
kill -0 "$w1" 2>/dev/null && fail "worker $w1 outlived its master"
grep -q "\[worker 0\] received SIGTERM, draining" "$TMP/one.err" || fail "the worker did not drain: $(cat "$TMP/one.err")"
grep -q "\[master\] worker 0 (pid $w1) exited with status 0" "$TMP/one.err" || fail "worker exit: $(cat "$TMP/one.err")"

# ---- JSON log lines say which process wrote them
start_daemon js --workers 1 --metrics off --log-format json
wait_log js '"proc":"worker","worker":0,"msg":"rendezvousd '
grep -q '"proc":"master","msg":"worker 0 started, pid' "$TMP/js.err" || fail "json master line: $(cat "$TMP/js.err")"
stop_daemon

# ---- the master dies: its worker gets SIGTERM and drains
start_daemon orphan --workers 1 --metrics off
wait_log orphan '\[worker 0\] rendezvousd '
w=$(worker_pid orphan 0)
kill -9 "$DPID"
retry 20 bash -c "! kill -0 $w 2>/dev/null" || fail "worker $w outlived a killed master"
grep -q '\[worker 0\] received SIGTERM, draining' "$TMP/orphan.err" || fail "orphan: $(cat "$TMP/orphan.err")"
wait "$DPID" 2>/dev/null || true
unset "DNAMES[$DPID]" # killed on purpose

# ---- a worker that cannot start: retried after 0.25, 0.5, 1 and 2 s, then given up
start_daemon holder --metrics 127.0.0.1:0
held=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/holder.out")
rc=0
timeout 60 "$BIN/rendezvousd" --workers 1 --listen /ip4/127.0.0.1/tcp/0 --metrics "$held" \
    >"$TMP/loop.out" 2>"$TMP/loop.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a crash-looping worker: master exit code $rc, expected 1: $(cat "$TMP/loop.err")"
delays=$(sed -n 's/.*\[master\] worker 0 (pid [0-9]*) exited with status 1 after [0-9.]* s; restarting it in \([0-9.]*\) s$/\1/p' "$TMP/loop.err" | tr '\n' ' ')
[ "$delays" = "0.25 0.50 1.00 2.00 " ] || fail "restart delays '$delays': $(cat "$TMP/loop.err")"
grep -q '\[master\] worker 0 (pid [0-9]*) exited with status 1 after .*the 5-th time in a row within 10 s of its start: giving up' "$TMP/loop.err" ||
    fail "no give-up line: $(cat "$TMP/loop.err")"
[ "$(grep -c '\[worker 0\] metrics: cannot bind' "$TMP/loop.err")" -eq 5 ] || fail "worker starts: $(cat "$TMP/loop.err")"
# Each restart came no sooner than its delay (the log's millisecond stamps).
starts=$(sed -n 's/^[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\)Z info  \[master\] worker 0 started.*/\1 \2 \3/p' "$TMP/loop.err" |
    awk '{ printf "%d ", ($1 * 3600 + $2 * 60 + $3) * 1000 }')
set -- $starts
[ $# -eq 5 ] || fail "worker starts logged: $starts"
prev=$1; shift
for want in 250 500 1000 2000; do
    gap=$(( $1 - prev ))
    [ "$gap" -ge "$want" ] || fail "restart after ${gap} ms, before its ${want} ms delay"
    prev=$1; shift
done
stop_daemon

# ---- two workers on one redis-server: connections spread over both, and a
# subscriber on one worker sees what is registered through the other
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
start_redis

start_daemon two --workers 2 --cluster "$CLUSTER" --metrics 127.0.0.1:0 --log-connection-rate 0
MASTER=$DPID
wait_log two '\[worker 0\] cluster: in sync with'
wait_log two '\[worker 1\] cluster: in sync with'
retry 15 bash -c "[ \$(grep -c '^Metrics: ' '$TMP/two.out') -eq 2 ]" || fail "metrics lines: $(cat "$TMP/two.out")"
mports=($(metrics_port two))
[ "${#mports[@]}" -eq 2 ] && [ "${mports[0]}" != "${mports[1]}" ] || fail "metrics ports: ${mports[*]}"
for _ in $(seq 16); do "$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping through the workers"; done
for MPORT in "${mports[@]}"; do
    scrape
    n=$(metric 'rendezvousd_connections_accepted_total{transport="tcp"}')
    (( ${n:-0} > 0 )) || fail "the worker with metrics on $MPORT accepted no connection of 16"
done

# worker_of PEER: the worker that logged the connection of PEER.
worker_of() {
    wait_log two "\[worker [01]\] connection from $1 "
    sed -n "s/.*\[worker \([01]\)\] connection from $1 .*/\1/p" "$TMP/two.err" | head -n 1
}
spawn W "$BIN/rdv" watch --server "$DADDR" --register --addr /ip4/10.9.9.9/tcp/9 --keepalive 2 members
W=$(registered W)
ww=$(worker_of "$W")
other=
for i in $(seq 20); do
    spawn "R$i" "$BIN/rdv" register --server "$DADDR" --addr "/ip4/10.0.0.$i/tcp/1" members
    R=$(registered "R$i")
    rw=$(worker_of "$R")
    if [ "$rw" != "$ww" ]; then
        other=$R
        wait_for "$TMP/W.out" "^\+ $R /ip4/10\.0\.0\.$i/tcp/1\$"
        pid_var=PID_R$i
        RPID=${!pid_var}
        break
    fi
    pid_var=PID_R$i
    kill "${!pid_var}"
done
[ -n "$other" ] || fail "20 registrants all landed on the watcher's worker $ww"
# ... and its end, through the other worker too
kill "$RPID"
wait_for "$TMP/W.out" "^- $other\$"

# kill -9 the other worker: it is started again, and the service goes on
ow=$((1 - ww))
victim=$(worker_pid two "$ow")
kill -9 "$victim"
wait_log two "\[master\] worker $ow \(pid $victim\) was killed by signal 9"
retry 15 bash -c "[ \"\$(sed -n 's/.*\[master\] worker $ow started, pid \([0-9]*\)$/\1/p' '$TMP/two.err' | tail -n 1)\" != $victim ]" ||
    fail "worker $ow was not started again: $(cat "$TMP/two.err")"
for _ in $(seq 8); do retry 10 "$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping after the restart"; done
spawn LATE "$BIN/rdv" register --server "$DADDR" --addr /ip4/10.1.1.1/tcp/1 members
L=$(registered LATE)
wait_for "$TMP/W.out" "^\+ $L /ip4/10\.1\.1\.1/tcp/1\$"
kill "$PID_LATE" "$PID_W"

# SIGTERM: every worker drains and exits 0, then the master
pids=$(sed -n 's/.*\[master\] worker [01] started, pid \([0-9]*\)$/\1/p' "$TMP/two.err" | tail -n 2)
stop_daemon
for p in $pids; do kill -0 "$p" 2>/dev/null && fail "worker $p outlived the master"; done
[ "$(grep -c '\[master\] worker [01] (pid [0-9]*) exited with status 0$' "$TMP/two.err")" -eq 2 ] ||
    fail "workers' exits: $(cat "$TMP/two.err")"
echo 'ALL CHECKS PASSED'
