# Configuration: --check-config on good and bad files (exit codes and
# FILE:LINE messages), file < flags precedence seen in the running daemon,
# the seed-001 flags taking effect, and SIGHUP changing a limit and the log
# level while an rdv session stays connected.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDVD=("$BIN/rendezvousd" --metrics off)
ETC=$(cd "$(dirname "$0")/../../etc" && pwd)

# --- --check-config ----------------------------------------------------------------
out=$("${RDVD[@]}" --config "$ETC/rendezvousd.conf" --check-config) || fail "example config: $out"
[ "$out" = "config ok" ] || fail "example config printed: $out"
out=$("${RDVD[@]}" --check-config) || fail "no config file: $out"
[ "$out" = "config ok" ] || fail "flags only printed: $out"

cat >"$TMP/good.conf" <<CONF
# a comment
listen = /ip4/127.0.0.1/tcp/0
max-connections-per-ip = 3   ; inline comment
log-level = warn
key = $TMP/id.key
CONF
out=$("${RDVD[@]}" -c "$TMP/good.conf" --check-config) || fail "good.conf: $out"
[ "$out" = "config ok" ] || fail "good.conf printed: $out"
[ ! -e "$TMP/id.key" ] || fail "--check-config created the key file"

# check NAME TEXT CODE MESSAGE: the file fails with that exit code and message.
check_bad() {
    printf '%b' "$2" >"$TMP/$1.conf"
    local rc=0
    "${RDVD[@]}" --config "$TMP/$1.conf" --check-config >"$TMP/out" 2>"$TMP/err" || rc=$?
    [ $rc -eq "$3" ] || fail "$1: exit code $rc, not $3: $(cat "$TMP/err")"
    [ ! -s "$TMP/out" ] || fail "$1: printed on stdout: $(cat "$TMP/out")"
    [ "$(cat "$TMP/err")" = "rendezvousd: $TMP/$1.conf:$4" ] || fail "$1: $(cat "$TMP/err")"
}
check_bad unknown 'listen = /ip4/127.0.0.1/tcp/0\n\nmax-conections = 5\n' 1 "3: unknown option 'max-conections'"
check_bad range '# limits\nmax-streams = 0\n' 1 "2: max-streams: '0' is not a count from 1 to 100000000"
check_bad syntax 'max-streams = 3\nmax-streams 4\n' 1 "2: expected NAME = VALUE"
check_bad twice 'max-streams = 3\nmax-streams = 4\n' 1 "2: max-streams: already set on line 1"
check_bad ma 'listen = /ip4/127.0.0.1/tcp/0\nlisten = /ip4/127.0.0.1/udp/9\n' 1 "2: listen: unsupported transport: /udp"
check_bad ttl 'ttl-min = 600\nttl-max = 300\n' 1 "2: ttl-max: ttl-min must be at most ttl-max"
printf '{"id":"Qm","privKey":"CAAS"}' >"$TMP/peer.json"
check_bad jskey "key = $TMP/peer.json\n" 1 "1: key: $TMP/peer.json is a PeerId JSON file whose privKey is not a libp2p PrivateKey protobuf"

rc=0; "${RDVD[@]}" --config "$TMP/missing.conf" --check-config 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] && grep -q "cannot read $TMP/missing.conf: No such file" "$TMP/err" || fail "missing file: $rc $(cat "$TMP/err")"
rc=0; "${RDVD[@]}" --check-config --max-streams 0 2>"$TMP/err" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--max-streams: '0'" "$TMP/err" || fail "bad flag: $rc $(cat "$TMP/err")"
# A bad file keeps the daemon from starting at all.
rc=0; "$BIN/rendezvousd" --config "$TMP/twice.conf" >"$TMP/out" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] && ! grep -q '^/' "$TMP/out" || fail "started with a bad file: $rc"

# --- precedence: the file, then flags on top ------------------------------------------
# max-connections-per-ip = 1 from the file: a second raw connection is refused.
printf 'max-connections-per-ip = 1\nhandshake-timeout = 30\nlog-level = warn\n' >"$TMP/limit.conf"
start_daemon file --metrics off --config "$TMP/limit.conf"
exec 5<>"/dev/tcp/127.0.0.1/$DPORT"
expect_eof "$DPORT" 3 || fail "file limit of 1 connection per IP not applied"
exec 5<&-
stop_daemon
# Only warnings from the file's log level: the startup lines are info.
[ -s "$TMP/file.out" ] && ! grep -q ' info ' "$TMP/file.err" ||
    fail "log-level = warn from the file not applied: $(cat "$TMP/file.err")"
# The same file with --max-connections-per-ip 2: a second connection beside
# the raw one completes a handshake.
start_daemon flags --metrics off --config "$TMP/limit.conf" --max-connections-per-ip 2 --log-level info
exec 5<>"/dev/tcp/127.0.0.1/$DPORT"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "the flag did not override the file's limit"
grep -q ' info ' "$TMP/flags.err" || fail "--log-level info did not override the file"
exec 5<&-
stop_daemon

# --- seed 001 flags ---------------------------------------------------------------------
"$BIN/rdv" keygen "$TMP/seed.key" >"$TMP/seed.id" || fail "rdv keygen"
start_daemon seed --enableMemoryDatabase --listenMultiaddrs /ip4/127.0.0.1/tcp/0 /ip6/::1/tcp/0/ws \
    --announceMultiaddrs /dns4/rdv.example/tcp/443/wss /ip4/192.0.2.1/tcp/4001 \
    --peerId "$TMP/seed.key" --metricsPort 0 --maxPeerRegistrations 1
[ "$(grep -c '^/' "$TMP/seed.out")" -eq 3 ] || fail "listen lines: $(cat "$TMP/seed.out")"
grep -q '^/ip6/::1/tcp/[0-9]*/ws/p2p/' "$TMP/seed.out" || fail "--listenMultiaddrs second address"
[ "$DID" = "$(cat "$TMP/seed.id")" ] || fail "--peerId: $DID is not $(cat "$TMP/seed.id")"
grep -Eq '^Metrics: http://0\.0\.0\.0:[1-9][0-9]*/metrics$' "$TMP/seed.out" || fail "--metricsPort: $(cat "$TMP/seed.out")"
# identify tells the announce addresses
"$BIN/rdv" id --server "$DADDR" >/dev/null || fail "rdv id --server"
# One registration per peer: the second namespace is refused.
"$BIN/rdv" register --server "$DADDR" --dialect standard --key "$TMP/p.key" ns-one >/dev/null ||
    fail "first registration refused"
rc=0; "$BIN/rdv" register --server "$DADDR" --dialect standard --key "$TMP/p.key" ns-two >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q '(status 400)$' "$TMP/e" || fail "--maxPeerRegistrations 1 not applied: rc $rc $(cat "$TMP/e")"
stop_daemon
start_daemon nometrics --disableMetrics
grep -q '^/' "$TMP/nometrics.out" && ! grep -q '^Metrics:' "$TMP/nometrics.out" ||
    fail "--disableMetrics still serves metrics: $(cat "$TMP/nometrics.out")"
stop_daemon

# --- SIGHUP ---------------------------------------------------------------------------
printf 'max-connections-per-ip = 5\nlog-level = info\n' >"$TMP/hup.conf"
start_daemon hup --metrics off --config "$TMP/hup.conf"
spawn W "$BIN/rdv" watch --server "$DADDR" presence
wait_for "$TMP/hup.err" "connection from 12D3KooW"
# Lower the limit to the one connection the watcher holds, and log more.
printf 'max-connections-per-ip = 1\nlog-level = debug\n' >"$TMP/hup.conf"
kill -HUP "$DPID"
wait_for "$TMP/hup.err" "reloaded $TMP/hup.conf"
expect_eof "$DPORT" 3 || fail "the reloaded limit of 1 connection per IP is not applied"
wait_for "$TMP/hup.err" "too many connections from this address"
rc=0; "$BIN/rdv" register --server "$DADDR" -t 10 presence >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "a second connection was accepted after the reload: rc $rc $(cat "$TMP/e")"
[ "$(grep -c ' debug /ip4/[^ ]*: too many connections from this address$' "$TMP/hup.err")" -eq 2 ] ||
    fail "the second connection was not refused for the per-IP limit: $(cat "$TMP/e")"
kill -0 "$PID_W" 2>/dev/null || fail "the watcher was dropped by the reload"
# Raise it again: the same watcher session hears a new member.
printf 'max-connections-per-ip = 5\nlog-level = debug\nannounce = /ip4/192.0.2.1/tcp/1\n' >"$TMP/hup.conf"
kill -HUP "$DPID"
wait_for "$TMP/hup.err" "restart to apply: announce"
spawn R "$BIN/rdv" register --server "$DADDR" presence
R=$(registered R)
wait_for "$TMP/W.out" "^\+ $R\$"
grep -q ' debug ' "$TMP/hup.err" || fail "log-level = debug not applied by the reload"
# A broken file is refused as a whole; the daemon keeps running as it was.
printf 'max-connections-per-ip = 0\n' >"$TMP/hup.conf"
kill -HUP "$DPID"
wait_for "$TMP/hup.err" "reload refused.*hup.conf:1: max-connections-per-ip"
kill -0 "$DPID" 2>/dev/null || fail "the daemon died on a bad reload"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "not serving after a refused reload"
kill "$PID_R" "$PID_W"
stop_daemon
echo 'ALL CHECKS PASSED'
