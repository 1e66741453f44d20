# Helpers for tests that read the metrics endpoint (sourced after lib.sh).

# metrics_port NAME: the port of the "Metrics: http://..." line of daemon NAME.
metrics_port() {
    sed -n 's#^Metrics: http://127\.0\.0\.1:\([0-9]*\)/metrics$#\1#p' "$TMP/$1.out"
}

# scrape: the body of GET /metrics on $MPORT, in $TMP/scrape.
scrape() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$MPORT"
    printf 'GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n' >&"$fd"
    sed '1,/^\r$/d' <&"$fd" >"$TMP/scrape"
    exec {fd}<&-
}

# metric 'NAME{LABELS}': its value in $TMP/scrape (empty if absent).
metric() {
    awk -v k="$1" '$1 == k { print $2 }' "$TMP/scrape"
}

# expect_metric 'NAME{LABELS}' VALUE: scrapes until it holds (up to 10 s:
# closes and counts happen in the daemon's loop, after the client saw them).
expect_metric() {
    for _ in $(seq 100); do
        scrape
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1 is '$(metric "$1")', expected $2"
}

# http PATH [METHOD]: the whole answer of the metrics endpoint on $MPORT.
http() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$MPORT"
    printf '%s %s HTTP/1.1\r\nHost: test\r\n\r\n' "${2:-GET}" "$1" >&"$fd"
    cat <&"$fd"
    exec {fd}<&-
}

# expect 'NAME{LABELS}' VALUE: it holds in $TMP/scrape as it is.
expect() {
    local got
    got=$(metric "$1")
    [ "$got" = "$2" ] || fail "$1 is '$got', expected $2"$'\n'"$(cat "$TMP/scrape")"
}
