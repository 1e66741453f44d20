# --log-format json: every line the daemon writes to stderr is one JSON
# object with ts, level and msg, including messages that carry text with
# quotes, backslashes and control characters (a configuration path here).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

CONF="$TMP/we\"ird\\name"$'\t'".conf"
printf 'log-level = debug\nlog-format = json\n' >"$CONF"
start_daemon j --config "$CONF"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping"
expect_eof "$DPORT" 3 '\xff\xff\xff\xff garbage' || fail "garbage not closed"
"$BIN/tests/rdv-probe" hostile "$DPORT" yamux-type >/dev/null || fail "yamux-type not closed"
# A reload that fails names the file in its message.
printf 'max-connections = 0\n' >>"$CONF"
kill -HUP "$DPID"
wait_for "$TMP/j.err" 'reload refused'
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
no_sanitizer_report j

python3 - "$TMP/j.err" "$CONF" <<'PY' || fail "JSON log check failed: $(cat "$TMP/j.err")"
import json, re, sys
path, conf = sys.argv[1], sys.argv[2]
lines = open(path, encoding="utf-8").read().split("\n")
assert lines[-1] == "", "the last line is not terminated"
entries = []
for n, line in enumerate(lines[:-1], 1):
    e = json.loads(line)  # raises on anything that is not one JSON value
    assert isinstance(e, dict) and sorted(e) == ["level", "msg", "ts"], "line %d: %r" % (n, line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["ts"]), "line %d: ts %r" % (n, e["ts"])
    assert e["level"] in ("error", "warn", "info", "debug", "trace"), "line %d: level %r" % (n, e["level"])
    assert e["msg"] and "\n" not in e["msg"], "line %d: msg %r" % (n, e["msg"])
    entries.append(e)
def has(level, pattern):
    return any(e["level"] == level and re.search(pattern, e["msg"]) for e in entries)
assert has("info", r"^rendezvousd \S+, peer id 12D3KooW"), "no start line"
assert has("info", r"^connection from 12D3KooW\S+ /ip4/127\.0\.0\.1/tcp/\d+$"), "no connection line"
assert has("debug", r"before the handshake"), "no debug line"
assert has("info", r": unknown yamux frame type$"), "no yamux error line"
assert any(e["level"] == "error" and "reload refused" in e["msg"] and conf in e["msg"] for e in entries), \
    "the refused reload does not name %r" % conf
assert has("info", r"^received SIGTERM"), "no SIGTERM line"
print("%d lines" % len(entries))
PY
echo "ALL CHECKS PASSED"
