# The metrics endpoint cannot be held by idle clients: with 32 connections
# open and silent, a scrape still succeeds at once (newcomers take the
# oldest idle client's slot), and an idle client is closed by the 5 s
# deadline.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

start_daemon d --metrics 127.0.0.1:0
MPORT=$(metrics_port d)

held=()
for _ in $(seq 32); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$MPORT"
    held+=("$fd")
done
timeout 3 bash -c "$(declare -f http); MPORT=$MPORT; http /metrics" >"$TMP/answer" ||
    fail "scrape with 32 idle clients connected did not finish"
head -1 "$TMP/answer" | grep -q '^HTTP/1.1 200 OK' || fail "scrape: $(head -1 "$TMP/answer")"
sed '1,/^\r$/d' "$TMP/answer" >"$TMP/scrape"
# 32 idle clients and the scraper went through 16 slots.
expect 'rendezvousd_metrics_clients_closed_total{reason="evicted"}' 17
for fd in "${held[@]}"; do exec {fd}>&-; done

# A client that sends half a request and waits: closed by the deadline
# (5 s from accept), without an answer.
timeout 15 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$MPORT"'
    printf "GET /metr" >&3
    [ -z "$(cat <&3)" ]' || fail "a silent client was not closed without an answer"
scrape
expect 'rendezvousd_metrics_clients_closed_total{reason="deadline"}' 1

stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
no_sanitizer_report d
echo "ALL CHECKS PASSED"
