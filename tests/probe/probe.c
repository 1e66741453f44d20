/* rdv-probe: a libp2p client that misbehaves on purpose, for the
 * integration tests of the daemon's I/O edges. It speaks the real protocol
 * stack (multistream-select, Noise XX, yamux) with the project's own state
 * machines over a blocking socket, so that after a genuine handshake it can
 * do what no well-behaved client does: stop reading, send malformed yamux,
 * tamper with a sealed frame, hold connections open.
 *
 *   rdv-probe flood PORT [--rcvbuf N] [--hold]   ping echoes piled up unread
 *   rdv-probe hostile PORT KIND                  one bad input after the handshake
 *   rdv-probe hold PORT N                        N sessions, driven from stdin
 *   rdv-probe tls-close-notify PORT              /tls/ws: close_notify after the upgrade
 *   rdv-probe tls-reset PORT                     /tls/ws: a reset in the middle of a record
 *
 * With --tls-ws before the scenario, it runs over /tls/ws (the project's
 * WebSocket and TLS client, certificate not checked).
 * Output: one line saying what happened; exit 0 when the daemon behaved
 * as the scenario expects, 1 otherwise. The daemon listens on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "host/ping.h"
#include "host/tls.h"
#include "host/ws.h"
#include "mss/mss.h"
#include "noise/noise.h"
#include "yamux/yamux.h"

#define PROBE_TIMEOUT_MS 10000
#define PROBE_WINDOW_GRANT (64u << 20) /* send window we grant the daemon per stream */
#define PROBE_CHUNK 16384              /* ping bytes per data frame */

struct peer {
    int fd;
    struct ws *ws;    /* /tls/ws transport, or NULL for TCP */
    struct buf app;   /* stream bytes the transport has not taken yet */
    struct noise_cipher tx, rx;
    struct buf in;    /* raw bytes not yet de-framed */
    struct buf plain; /* decrypted bytes not yet consumed */
};

static struct noise_identity probe_identity;
static struct ws_config probe_ws;  /* certificate not checked */
static bool probe_tls_ws;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *why)
{
    printf("FAIL: %s\n", why);
    exit(1);
}

/* A TCP connection to 127.0.0.1:port; rcvbuf > 0 sets SO_RCVBUF first (the
 * advertised window follows it, so the daemon's output stays with the
 * daemon). -1 if the connect fails. */
static int probe_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0)
        die("socket");
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *d, size_t n)
{
    const uint8_t *p = d;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes stream bytes through the transport. -1 if the daemon closed. */
static int wire_send(struct peer *p, const void *d, size_t n)
{
    if (p->ws == NULL)
        return send_all(p->fd, d, n);
    buf_append(&p->app, d, n);
    if (ws_output(p->ws, &p->app, false) != WS_OK)
        return -1;
    struct buf *w = ws_wire(p->ws);
    int rc = send_all(p->fd, buf_head(w), buf_size(w));
    buf_reset(w);
    return rc;
}

/* Reads what is there, waiting up to ms, and appends the stream's bytes to
 * b. 0 on data (possibly none yet, while the transport upgrades), -1 on
 * EOF, error or timeout. */
static int recv_some(struct peer *p, struct buf *b, int ms)
{
    uint8_t data[65536];
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    ssize_t r = recv(p->fd, data, sizeof(data), 0);
    if (r <= 0)
        return -1;
    if (p->ws == NULL) {
        buf_append(b, data, (size_t)r);
        return 0;
    }
    if (ws_input(p->ws, data, (size_t)r, b) != WS_OK)
        return -1;
    return wire_send(p, NULL, 0); /* handshake answers, and what waited for the upgrade */
}

/* Waits for the daemon to close the connection, discarding input. True if
 * it did (EOF or reset) within ms. */
static bool closed_within(int fd, int ms)
{
    long long end = now_ms() + ms;
    uint8_t sink[65536];
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t r = recv(fd, sink, sizeof(sink), 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

/* ---- the handshake ------------------------------------------------------ */

static int peer_connect(struct peer *p, int port, int rcvbuf)
{
    char err[256];
    memset(p, 0, sizeof(*p));
    if ((p->fd = probe_connect(port, rcvbuf)) < 0)
        return -1;
    if (probe_tls_ws && (p->ws = ws_client_new(&probe_ws, "127.0.0.1", (uint16_t)port, true,
                                               "127.0.0.1", err, sizeof(err))) == NULL)
        die(err);
    return 0;
}

/* Appends d sealed into Noise transport frames to out. */
static void seal_append(struct peer *p, const uint8_t *d, size_t n, struct buf *out)
{
    while (n > 0) {
        size_t k = n < NOISE_MAX_PLAINTEXT ? n : NOISE_MAX_PLAINTEXT;
        uint8_t *o = buf_reserve(out, k + NOISE_TAG_LEN + 2);
        o[0] = (uint8_t)((k + NOISE_TAG_LEN) >> 8);
        o[1] = (uint8_t)(k + NOISE_TAG_LEN);
        noise_seal(&p->tx, d, k, o + 2);
        buf_commit(out, k + NOISE_TAG_LEN + 2);
        d += k;
        n -= k;
    }
}

/* Seals and sends; -1 if the daemon closed the connection. */
static int seal_try_send(struct peer *p, const uint8_t *d, size_t n)
{
    struct buf out = BUF_INIT;
    seal_append(p, d, n, &out);
    int rc = wire_send(p, buf_head(&out), buf_size(&out));
    buf_free(&out);
    return rc;
}

static void seal_send(struct peer *p, const uint8_t *d, size_t n)
{
    if (seal_try_send(p, d, n) < 0)
        die("send failed");
}

/* Decrypts whole frames from p->in into p->plain. */
static void open_frames(struct peer *p)
{
    while (buf_size(&p->in) >= 2) {
        const uint8_t *h = buf_head(&p->in);
        size_t flen = (size_t)h[0] << 8 | h[1];
        if (buf_size(&p->in) < 2 + flen)
            return;
        if (flen < NOISE_TAG_LEN)
            die("short frame from the daemon");
        uint8_t *o = buf_reserve(&p->plain, flen);
        if (noise_open(&p->rx, h + 2, flen, o) != 0)
            die("cannot decrypt the daemon's frame");
        buf_commit(&p->plain, flen - NOISE_TAG_LEN);
        buf_consume(&p->in, 2 + flen);
    }
}

/* Connects and upgrades: /noise, the XX handshake, /yamux/1.0.0. -1 if the
 * daemon closes or stalls before the end (it refused us). */
static int peer_upgrade(struct peer *p, int port, int rcvbuf)
{
    static const char *const sec[] = {NOISE_PROTOCOL_ID};
    static const char *const mux[] = {YAMUX_PROTOCOL_ID};
    struct buf out = BUF_INIT;
    struct mss m;
    struct noise_hs hs;
    size_t used;
    enum mss_result r;

    if (peer_connect(p, port, rcvbuf) < 0)
        return -1;
    mss_dialer_init(&m, sec, 1, &out);
    while ((r = mss_feed(&m, buf_head(&p->in), buf_size(&p->in), &used, &out)) == MSS_AGAIN) {
        buf_consume(&p->in, used);
        if (buf_size(&out) && wire_send(p, buf_head(&out), buf_size(&out)) < 0)
            goto fail;
        buf_reset(&out);
        if (recv_some(p, &p->in, PROBE_TIMEOUT_MS) < 0)
            goto fail;
    }
    buf_consume(&p->in, used);
    if (r != MSS_SELECTED)
        goto fail;
    noise_hs_init(&hs, true, &probe_identity, &out);
    enum noise_result nr = NOISE_AGAIN;
    while (nr == NOISE_AGAIN) {
        if (buf_size(&out) && wire_send(p, buf_head(&out), buf_size(&out)) < 0)
            goto fail;
        buf_reset(&out);
        const uint8_t *h = buf_head(&p->in);
        size_t flen = buf_size(&p->in) >= 2 ? ((size_t)h[0] << 8 | h[1]) : 0;
        if (buf_size(&p->in) < 2 || buf_size(&p->in) < 2 + flen) {
            if (recv_some(p, &p->in, PROBE_TIMEOUT_MS) < 0)
                goto fail;
            continue;
        }
        nr = noise_hs_read(&hs, h + 2, flen, &out);
        buf_consume(&p->in, 2 + flen);
    }
    if (nr != NOISE_DONE)
        goto fail;
    if (buf_size(&out) && wire_send(p, buf_head(&out), buf_size(&out)) < 0)
        goto fail;
    buf_reset(&out);
    noise_hs_split(&hs, &p->tx, &p->rx);
    mss_dialer_init(&m, mux, 1, &out);
    while ((r = mss_feed(&m, buf_head(&p->plain), buf_size(&p->plain), &used, &out)) == MSS_AGAIN) {
        buf_consume(&p->plain, used);
        if (buf_size(&out))
            seal_send(p, buf_head(&out), buf_size(&out));
        buf_reset(&out);
        if (recv_some(p, &p->in, PROBE_TIMEOUT_MS) < 0)
            goto fail;
        open_frames(p);
    }
    buf_consume(&p->plain, used);
    buf_free(&out);
    return r == MSS_SELECTED ? 0 : -1;
fail:
    buf_free(&out);
    close(p->fd);
    p->fd = -1;
    ws_free(p->ws);
    p->ws = NULL;
    buf_free(&p->app);
    return -1;
}

static void peer_free(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    ws_free(p->ws);
    buf_free(&p->app);
    buf_free(&p->in);
    buf_free(&p->plain);
}

/* ---- yamux by hand ---------------------------------------------------- */

static void yamux_hdr(struct buf *b, uint8_t version, uint8_t type, uint16_t flags, uint32_t id,
                      uint32_t len)
{
    buf_append_u8(b, version);
    buf_append_u8(b, type);
    buf_append_be16(b, flags);
    buf_append_be32(b, id);
    buf_append_be32(b, len);
}

/* Opens stream id with a window grant and proposes ping, pipelined. */
static void open_ping(struct buf *b, uint32_t id, uint32_t grant)
{
    static const char nego[] = "\x13" MSS_PROTOCOL "\n\x11" PING_PROTOCOL_ID "\n";
    yamux_hdr(b, 0, YAMUX_WINDOW_UPDATE, YAMUX_SYN, id, grant);
    yamux_hdr(b, 0, YAMUX_DATA, 0, id, sizeof(nego) - 1);
    buf_append(b, nego, sizeof(nego) - 1);
}

/* A ping on a new stream of p and its echo: proves the session works. */
static bool ping_once(struct peer *p, uint32_t id)
{
    uint8_t ping[32];
    struct buf b = BUF_INIT;
    randombytes_buf(ping, sizeof(ping));
    open_ping(&b, id, 0);
    yamux_hdr(&b, 0, YAMUX_DATA, 0, id, sizeof(ping));
    buf_append(&b, ping, sizeof(ping));
    seal_send(p, buf_head(&b), buf_size(&b));
    buf_free(&b);
    /* The answer: frames for this stream carry the mss echo, then the ping. */
    struct buf data = BUF_INIT;
    long long end = now_ms() + PROBE_TIMEOUT_MS;
    bool ok = false;
    while (!ok && now_ms() < end) {
        while (buf_size(&p->plain) >= YAMUX_HEADER_LEN) {
            const uint8_t *h = buf_head(&p->plain);
            uint32_t fid = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
            uint32_t len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
            size_t body = h[1] == YAMUX_DATA ? len : 0;
            if (buf_size(&p->plain) < YAMUX_HEADER_LEN + body)
                break;
            if (fid == id && body)
                buf_append(&data, h + YAMUX_HEADER_LEN, body);
            buf_consume(&p->plain, YAMUX_HEADER_LEN + body);
        }
        if (buf_size(&data) >= sizeof(ping) &&
            memcmp(buf_head(&data) + buf_size(&data) - sizeof(ping), ping, sizeof(ping)) == 0) {
            ok = true;
            break;
        }
        if (recv_some(p, &p->in, (int)(end - now_ms())) < 0)
            break;
        open_frames(p);
    }
    buf_free(&data);
    return ok;
}

/* ---- scenarios ---------------------------------------------------------- */

/* Ping streams whose echoes the daemon may send at once (we grant it a
 * large window) but we never read: the daemon echoes up to its output
 * budget, then stops reading us (with a large max-connection-output, the
 * echoes pile up to that). Each stream gets at most the daemon's initial
 * receive window of input, so everything we send is legal. */
static int scenario_flood(int port, int rcvbuf, bool hold)
{
    struct peer p;
    if (peer_upgrade(&p, port, rcvbuf) < 0)
        die("handshake failed");
    /* A daemon that stops reading without closing must not hang us. */
    struct timeval tv = {.tv_sec = PROBE_TIMEOUT_MS / 1000};
    setsockopt(p.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    uint8_t chunk[PROBE_CHUNK];
    memset(chunk, 0x5a, sizeof(chunk));
    size_t sent = 0;
    struct buf b = BUF_INIT;
    for (uint32_t id = 1; id < 2 * 256; id += 2) {
        open_ping(&b, id, PROBE_WINDOW_GRANT);
        for (size_t k = 0; k + PROBE_CHUNK <= YAMUX_WINDOW - 64; k += PROBE_CHUNK) {
            yamux_hdr(&b, 0, YAMUX_DATA, 0, id, PROBE_CHUNK);
            buf_append(&b, chunk, PROBE_CHUNK);
        }
        /* A write that fails means the daemon closed us: the expected end. */
        int rc = seal_try_send(&p, buf_head(&b), buf_size(&b));
        sent += buf_size(&b);
        buf_reset(&b);
        if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            printf("FAIL: the daemon stopped reading but kept the connection open after %zu "
                   "bytes sent\n", sent);
            buf_free(&b);
            peer_free(&p);
            return 1;
        }
        if (rc < 0) {
            printf("closed by the daemon after %zu bytes sent\n", sent);
            buf_free(&b);
            peer_free(&p);
            return 0;
        }
        if (hold && sent >= (8u << 20)) {
            /* Enough left unread in the daemon: stay connected, never
             * read, until killed. */
            printf("holding after %zu bytes sent\n", sent);
            fflush(stdout);
            for (;;)
                pause();
        }
    }
    buf_free(&b);
    /* Every stream used: the daemon may still be writing into its buffers. */
    bool closed = closed_within(p.fd, PROBE_TIMEOUT_MS);
    printf("%s after %zu bytes sent\n", closed ? "closed by the daemon" : "FAIL: still open", sent);
    peer_free(&p);
    return closed ? 0 : 1;
}

/* One hostile input after a real handshake; the daemon must close this
 * connection. */
static int scenario_hostile(int port, const char *kind)
{
    struct peer p;
    struct buf b = BUF_INIT;
    bool raw = false; /* b goes out unsealed (it is a frame already) */

    if (strcmp(kind, "muxer-garbage") == 0) {
        /* Noise completes, then the muxer negotiation gets a message
         * without its newline: multistream-select fails. */
        static const char *const sec[] = {NOISE_PROTOCOL_ID};
        struct mss m;
        struct noise_hs hs;
        size_t used;
        if (peer_connect(&p, port, 0) < 0)
            die("connect");
        mss_dialer_init(&m, sec, 1, &b);
        wire_send(&p, buf_head(&b), buf_size(&b));
        buf_reset(&b);
        while (mss_feed(&m, buf_head(&p.in), buf_size(&p.in), &used, &b) == MSS_AGAIN) {
            buf_consume(&p.in, used);
            if (recv_some(&p, &p.in, PROBE_TIMEOUT_MS) < 0)
                die("no security negotiation");
        }
        buf_consume(&p.in, used);
        noise_hs_init(&hs, true, &probe_identity, &b);
        enum noise_result nr = NOISE_AGAIN;
        while (nr == NOISE_AGAIN) {
            if (buf_size(&b))
                wire_send(&p, buf_head(&b), buf_size(&b));
            buf_reset(&b);
            const uint8_t *h = buf_head(&p.in);
            size_t flen = buf_size(&p.in) >= 2 ? ((size_t)h[0] << 8 | h[1]) : 0;
            if (buf_size(&p.in) < 2 || buf_size(&p.in) < 2 + flen) {
                if (recv_some(&p, &p.in, PROBE_TIMEOUT_MS) < 0)
                    die("handshake cut");
                continue;
            }
            nr = noise_hs_read(&hs, h + 2, flen, &b);
            buf_consume(&p.in, 2 + flen);
        }
        wire_send(&p, buf_head(&b), buf_size(&b));
        buf_reset(&b);
        noise_hs_split(&hs, &p.tx, &p.rx);
        static const char garbage[] = "\x13" MSS_PROTOCOL "\n\x05hello";
        buf_append(&b, garbage, sizeof(garbage) - 1);
    } else {
        if (peer_upgrade(&p, port, 0) < 0)
            die("handshake failed");
        if (strcmp(kind, "yamux-version") == 0) {
            yamux_hdr(&b, 1, YAMUX_PING, YAMUX_SYN, 0, 1);
        } else if (strcmp(kind, "yamux-type") == 0) {
            yamux_hdr(&b, 0, 9, 0, 0, 0);
        } else if (strcmp(kind, "window-overflow") == 0) {
            open_ping(&b, 1, 0);
            yamux_hdr(&b, 0, YAMUX_WINDOW_UPDATE, 0, 1, 0xfffffff0u);
        } else if (strcmp(kind, "beyond-window") == 0) {
            /* Data on a stream nobody opened, larger than any window. */
            yamux_hdr(&b, 0, YAMUX_DATA, YAMUX_SYN, 1, YAMUX_WINDOW + 1);
        } else if (strcmp(kind, "syn-parity") == 0) {
            yamux_hdr(&b, 0, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 2, 0);
        } else if (strcmp(kind, "noise-flip") == 0 || strcmp(kind, "noise-short") == 0) {
            uint8_t frame[2 + YAMUX_HEADER_LEN + NOISE_TAG_LEN];
            struct buf ping = BUF_INIT;
            yamux_hdr(&ping, 0, YAMUX_PING, YAMUX_SYN, 0, 7);
            frame[0] = 0;
            frame[1] = YAMUX_HEADER_LEN + NOISE_TAG_LEN;
            noise_seal(&p.tx, buf_head(&ping), YAMUX_HEADER_LEN, frame + 2);
            buf_free(&ping);
            if (kind[6] == 'f') {
                frame[2 + 5] ^= 0x01;
                buf_append(&b, frame, sizeof(frame));
            } else {
                buf_append(&b, "\x00\x05hello", 7);
            }
            raw = true;
        } else {
            die("unknown kind");
        }
    }
    if (raw)
        wire_send(&p, buf_head(&b), buf_size(&b));
    else
        seal_send(&p, buf_head(&b), buf_size(&b));
    buf_free(&b);
    bool closed = closed_within(p.fd, PROBE_TIMEOUT_MS);
    printf("%s: %s\n", kind, closed ? "closed by the daemon" : "FAIL: still open");
    peer_free(&p);
    return closed ? 0 : 1;
}

/* n sessions held open, driven by commands on stdin (one per line):
 * "ping" pings over each on a new stream and prints "answering K of N";
 * "extra" tries one more session and prints "extra refused" or "extra
 * accepted" (and closes it). Ends at EOF. */
static int scenario_hold(int port, int n)
{
    struct peer *ps = calloc((size_t)n, sizeof(*ps));
    uint32_t next_id = 1;
    char line[64];

    if (ps == NULL)
        die("calloc");
    for (int i = 0; i < n; i++)
        if (peer_upgrade(&ps[i], port, 0) < 0)
            die("a session was refused");
    printf("ready %d\n", n);
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        if (strncmp(line, "ping", 4) == 0) {
            int ok = 0;
            for (int i = 0; i < n; i++)
                ok += ping_once(&ps[i], next_id);
            next_id += 2;
            printf("answering %d of %d\n", ok, n);
        } else if (strncmp(line, "extra", 5) == 0) {
            struct peer extra;
            bool refused = peer_upgrade(&extra, port, 0) < 0;
            if (!refused)
                peer_free(&extra);
            printf("extra %s\n", refused ? "refused" : "accepted");
        }
        fflush(stdout);
    }
    for (int i = 0; i < n; i++)
        peer_free(&ps[i]);
    free(ps);
    return 0;
}

static int tls_deliver_ignore(void *arg, const uint8_t *d, size_t n)
{
    (void)arg;
    (void)d;
    (void)n;
    return 0;
}

/* A TLS session with the /tls/ws listener, below the WebSocket: set up,
 * then either closed with close_notify (the daemon must close too) or cut
 * by a reset after half of a record (nothing to see here: the script checks
 * that the daemon still serves). */
static int scenario_tls(int port, bool reset)
{
    char err[256];
    struct buf wire = BUF_INIT, in = BUF_INIT;
    int fd = probe_connect(port, 0);
    if (fd < 0)
        die("connect");
    struct tls *t = tls_client_new(&probe_ws.tls, "127.0.0.1", err, sizeof(err));
    if (t == NULL)
        die(err);
    int rc = tls_handshake(t, &wire);
    while (rc == TLS_OK && !tls_ready(t)) {
        if (buf_size(&wire) && send_all(fd, buf_head(&wire), buf_size(&wire)) < 0)
            die("send");
        buf_reset(&wire);
        uint8_t data[16384];
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t r = poll(&pfd, 1, PROBE_TIMEOUT_MS) == 1 ? recv(fd, data, sizeof(data), 0) : -1;
        if (r <= 0)
            die("TLS handshake cut");
        rc = tls_input(t, data, (size_t)r, &wire, tls_deliver_ignore, NULL);
    }
    if (rc != TLS_OK)
        die(tls_error(t));
    send_all(fd, buf_head(&wire), buf_size(&wire));
    buf_reset(&wire);
    bool ok;
    if (reset) {
        static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        tls_write(t, (const uint8_t *)req, sizeof(req) - 1, &wire);
        send_all(fd, buf_head(&wire), buf_size(&wire) / 2);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
        fd = -1;
        ok = true;
        printf("tls-reset: sent half a record and a reset\n");
    } else {
        tls_close(t, &wire);
        send_all(fd, buf_head(&wire), buf_size(&wire));
        ok = closed_within(fd, PROBE_TIMEOUT_MS);
        printf("tls-close-notify: %s\n", ok ? "closed by the daemon" : "FAIL: still open");
    }
    if (fd >= 0)
        close(fd);
    tls_free(t);
    buf_free(&wire);
    buf_free(&in);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct privkey k;

    if (sodium_init() < 0)
        die("sodium_init");
    signal(SIGPIPE, SIG_IGN);
    privkey_generate(&k);
    noise_identity_init(&probe_identity, &k);
    probe_ws.tls.insecure = true;
    if (argc >= 2 && strcmp(argv[1], "--tls-ws") == 0) {
        probe_tls_ws = true;
        argc--;
        argv++;
    }
    if (argc == 3 && strcmp(argv[1], "tls-close-notify") == 0)
        return scenario_tls(atoi(argv[2]), false);
    if (argc == 3 && strcmp(argv[1], "tls-reset") == 0)
        return scenario_tls(atoi(argv[2]), true);
    if (argc >= 3 && strcmp(argv[1], "flood") == 0) {
        int rcvbuf = 0;
        bool hold = false;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--rcvbuf") == 0 && i + 1 < argc)
                rcvbuf = atoi(argv[++i]);
            else if (strcmp(argv[i], "--hold") == 0)
                hold = true;
        }
        return scenario_flood(atoi(argv[2]), rcvbuf, hold);
    }
    if (argc == 4 && strcmp(argv[1], "hostile") == 0)
        return scenario_hostile(atoi(argv[2]), argv[3]);
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return scenario_hold(atoi(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: rdv-probe [--tls-ws] flood PORT [--rcvbuf N] [--hold] | hostile PORT "
                    "KIND | hold PORT N | tls-close-notify PORT | tls-reset PORT\n");
    return 2;
}
