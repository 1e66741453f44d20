# Metrics endpoint clients that misbehave: an idle one and one that stops
# half-way through its request are cut at the 5 s deadline (clients over
# the slot count are 84-metrics-slots.sh); a reader that takes the answer slowly through a tiny
# receive buffer does not hold up the event loop and still gets every byte;
# input after the answer is discarded up to a bound, then the client is cut.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

start_daemon d --metrics 127.0.0.1:0 --log-level debug
MPORT=$(metrics_port d)

# client MODE: one metrics client in Python (raw sockets, SO_RCVBUF), see below.
client() {
    python3 - "$MPORT" "$@" <<'PY'
import os, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
def mono_ms():
    return time.monotonic_ns() // 1000000
def closed_after(s, limit_s):
    """Seconds until the server closes s (EOF or reset), discarding input."""
    start = time.monotonic()
    s.settimeout(limit_s)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return time.monotonic() - start
s = socket.socket()
if mode == "slow":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(("127.0.0.1", port))
if mode == "idle" or mode == "partial":
    print("connected", flush=True)
    if mode == "partial":
        s.sendall(b"GET /metr")
    t = closed_after(s, 20)
    print("closed after %.1f s" % t if t is not None else "still open")
elif mode == "slow":
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    print("sent", flush=True)
    while not os.path.exists(sys.argv[3]):  # the script says when to start reading
        time.sleep(0.01)
    data = b""
    while True:
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
        time.sleep(0.002)
    head, _, body = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    ok = head.startswith(b"HTTP/1.1 200 OK") and length == [len(body)] and body.endswith(b"\n")
    print("complete" if ok else "incomplete: %d bytes, %r" % (len(data), head[:200]))
elif mode == "chatty":
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    # The answer, then more than 64 KiB the server has no use for.
    try:
        s.sendall(b"x" * 200000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t = closed_after(s, 20)
    print("cut" if t is not None and t < 1.5 else "not cut (%s)" % t)
PY
}

# The idle client and the one that stops half-way both start now; their
# deadline runs while the rest is checked.
client idle >"$TMP/idle" &
IDLE=$!
client partial >"$TMP/partial" &
PARTIAL=$!
wait_for "$TMP/idle" '^connected'
wait_for "$TMP/partial" '^connected'
# A slow reader: its answer waits in the daemon while others are served.
client slow "$TMP/go" >"$TMP/slow" &
SLOW=$!
wait_for "$TMP/slow" '^sent$'
scrape
[ -n "$(metric rendezvousd_metrics_scrapes_total)" ] || fail "a scrape beside the slow reader failed"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping beside the slow reader failed"
touch "$TMP/go"
wait "$SLOW"
[ "$(tail -1 "$TMP/slow")" = complete ] || fail "slow reader: $(cat "$TMP/slow")"

out=$(client chatty)
[ "$out" = cut ] || fail "input after the answer: $out"

wait "$IDLE" "$PARTIAL"
for f in idle partial; do
    read -r _ _ secs _ < <(tail -1 "$TMP/$f")
    [ -n "$secs" ] || fail "$f client: $(cat "$TMP/$f")"
    # METRICS_TIMEOUT is 5 s from accept.
    awk -v t="$secs" 'BEGIN { exit !(t >= 4.5 && t < 10) }' || fail "$f client closed after $secs s"
done
grep -q 'metrics: client timed out' "$TMP/d.err" || fail "no timeout logged"
scrape
[ -n "$(metric rendezvousd_metrics_scrapes_total)" ] || fail "the endpoint stopped answering"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
grep -qi 'AddressSanitizer\|LeakSanitizer\|runtime error' "$TMP/d.err" && fail "sanitizer report: $(cat "$TMP/d.err")"
echo "ALL CHECKS PASSED"
