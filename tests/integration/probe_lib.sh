# Helpers for the tests that drive rdv-probe (sourced after lib.sh).
PROBE=$BIN/tests/rdv-probe

# hold_start N: `rdv-probe hold` with N sessions to the daemon at $DPORT,
# driven through two pipes; returns once the sessions are up.
hold_start() {
    local line
    rm -f "$TMP/hold.in" "$TMP/hold.out"
    mkfifo "$TMP/hold.in" "$TMP/hold.out"
    "$PROBE" hold "$DPORT" "$1" <"$TMP/hold.in" >"$TMP/hold.out" &
    HOLD_PID=$!
    DPIDS+=("$HOLD_PID")
    exec {HOLD_IN}>"$TMP/hold.in" {HOLD_OUT}<"$TMP/hold.out"
    read -r -t 15 line <&"$HOLD_OUT" || fail "hold $1: no answer"
    [ "$line" = "ready $1" ] || fail "hold $1: $line"
}

# hold_cmd CMD EXPECTED: a command to the held sessions and their answer.
hold_cmd() {
    local line
    echo "$1" >&"$HOLD_IN"
    read -r -t 15 line <&"$HOLD_OUT" || fail "$1: no answer"
    [ "$line" = "$2" ] || fail "$1: '$line', expected '$2'"
}

# hold_end: closes the sessions.
hold_end() {
    exec {HOLD_IN}>&- {HOLD_OUT}<&-
    wait "$HOLD_PID" || fail "hold exited with an error"
}
