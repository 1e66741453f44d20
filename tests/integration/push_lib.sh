# Helpers for the push-mode tests (sourced after lib.sh): background rdv
# processes with their output in files, and waiting for a line to appear.

# Timeouts are generous: the suite also runs under ASan.
WAIT=${RDV_TEST_WAIT:-15}

# spawn NAME CMD...: runs CMD in the background, stdout in $TMP/NAME.out,
# stderr in $TMP/NAME.err; its pid is in PID_NAME. Killed at exit.
spawn() {
    local name=$1; shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    printf -v "PID_$name" '%s' "$!"
    DPIDS+=("$!")
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches REGEX.
wait_for() {
    local f=$1 re=$2 secs=${3:-$WAIT} i
    for ((i = 0; i < secs * 20; i++)); do
        grep -Eq -- "$re" "$f" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no line matching /$re/ in $(basename "$f") after ${secs}s: $(cat "$f" 2>/dev/null)"
}

# wait_exit PID [SECONDS]: until the process is gone; sets XRC to its code.
wait_exit() {
    local pid=$1 secs=${2:-$WAIT} i
    for ((i = 0; i < secs * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            XRC=0
            wait "$pid" 2>/dev/null || XRC=$?
            return 0
        fi
        sleep 0.05
    done
    fail "process $pid still running after ${secs}s"
}

# registered NAME: the peer id from "registered ID in NS" (stdout of
# `rdv register`, stderr of `rdv watch --register`), once it is there.
registered() {
    local i f
    for ((i = 0; i < WAIT * 20; i++)); do
        for f in "$TMP/$1.out" "$TMP/$1.err"; do
            if grep -q '^registered 12D3KooW' "$f" 2>/dev/null; then
                sed -n 's/^registered \([^ ]*\) in .*/\1/p' "$f" | head -1
                return 0
            fi
        done
        sleep 0.05
    done
    fail "$1 did not register: $(cat "$TMP/$1.out" "$TMP/$1.err" 2>/dev/null)"
}

# same FILE EXPECTED: FILE holds exactly the lines of EXPECTED.
same() {
    local got
    got=$(cat "$1")
    [ "$got" = "$2" ] || fail "$(basename "$1"):"$'\n'"$got"$'\n'"--- expected:"$'\n'"$2"
}
