# Connection log lines are rate-limited: a reconnect loop writes at most
# log-connection-rate of them per second, and the others are accounted for,
# exactly, by "N more connection lines suppressed" summaries.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

N=20
start_daemon d --metrics off --log-level info --log-connection-rate 2
t0=$(date +%s%3N)
for _ in $(seq $N); do
    "$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping"
done
# Each connection makes two lines (opened, closed); wait until every one is
# written or counted in a summary (one comes each second at most).
shown=0 hidden=0
for _ in $(seq 100); do
    shown=$(grep -c ' info  \(connection from\|closed\) 12D3KooW' "$TMP/d.err" || true)
    hidden=$(sed -n 's/.* info  \([0-9]*\) more connection lines suppressed$/\1/p' "$TMP/d.err" |
        awk '{ s += $1 } END { print s + 0 }')
    [ $((shown + hidden)) -ge $((2 * N)) ] && break
    sleep 0.1
done
t1=$(date +%s%3N)
[ $((shown + hidden)) -eq $((2 * N)) ] ||
    fail "$shown lines written + $hidden suppressed, expected $((2 * N)): $(cat "$TMP/d.err")"
[ "$hidden" -gt 0 ] || fail "nothing suppressed: $(cat "$TMP/d.err")"
# At most 2 per one-second window over the time it took (plus the window
# open when it started and the one it ended in).
windows=$(((t1 - t0) / 1000 + 2))
[ "$shown" -le $((2 * windows)) ] || fail "$shown lines in $windows windows: $(cat "$TMP/d.err")"

stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
no_sanitizer_report d
echo "ALL CHECKS PASSED"
