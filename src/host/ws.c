/* WebSocket transport: http-parser reads the upgrade request (or, dialing,
 * the answer), OpenSSL's SHA-1 and base64 make Sec-WebSocket-Accept, and a
 * wslay event context per open connection frames the stream. wslay's
 * callbacks read from the slice being fed and append to our buffers, so no
 * callback ever touches the socket and nothing is written by wslay alone.
 *
 * Memory: the upgrade state is freed once the upgrade is done; received
 * frames are passed on chunk by chunk (wslay's no-buffering mode), so an
 * open connection holds wslay's context and nothing else between reads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <wslay/wslay.h>

#include "base/mem.h"
#include "host/ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 §1.3 */
#define WS_KEY_LEN 24      /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */
#define WS_FIELD_MAX 32    /* longer header names are none we read */
#define WS_VALUE_MAX 256   /* longer values of headers we read are refused */

enum ws_state { WS_UPGRADING, WS_OPEN, WS_CLOSED };
enum ws_hdr { H_OTHER, H_UPGRADE, H_KEY, H_VERSION, H_ORIGIN, H_ACCEPT };

/* Only while upgrading. */
struct ws_upgrade {
    http_parser parser;
    size_t seen;                 /* header bytes fed to the parser */
    bool in_value, done;
    enum ws_hdr hdr;             /* the header whose value is being read */
    char field[WS_FIELD_MAX];
    size_t field_len;
    char value[WS_VALUE_MAX];
    size_t value_len;
    bool value_long;
    /* What the headers said. */
    bool upgrade_ws, origin_bad, accept_ok;
    unsigned nkey, nversion, naccept;
    bool version_ok;
    /* Server: the client's key. Client: the accept value we expect. */
    char key[WS_ACCEPT_LEN + 1];
    char *request;               /* client: not sent yet */
};

struct ws {
    struct ws_config *cfg;
    enum ws_state state;
    bool client, close_queued, tls_started;
    struct ws_upgrade *up;
    wslay_event_context_ptr ev;
    struct tls *tls;
    struct buf wire;             /* for the socket */
    struct buf plain;            /* for TLS to encrypt (emptied by ws_seal) */
    struct buf *app;             /* during ws_input: where stream bytes go */
    const uint8_t *in;           /* during wslay_event_recv: bytes not yet taken */
    size_t in_len;
    bool data_frame;             /* the frame being received carries stream bytes */
    bool peer_sent;              /* stream bytes have come from the peer */
    const char *error;
    char errbuf[192];
};

static void ws_set_error(struct ws *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ws_set_error(struct ws *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errbuf, sizeof(w->errbuf), fmt, ap);
    va_end(ap);
    w->error = w->errbuf;
}

/* ---- configuration ---------------------------------------------------- */

int ws_config_allow_origin(struct ws_config *cfg, const char *origin, char *err, size_t errlen)
{
    if (cfg->norigins == WS_MAX_ORIGINS) {
        snprintf(err, errlen, "at most %d allowed origins", WS_MAX_ORIGINS);
        return -1;
    }
    if (origin[0] == '\0' || strlen(origin) >= WS_VALUE_MAX) {
        snprintf(err, errlen, "'%s' is not an origin", origin);
        return -1;
    }
    cfg->origins[cfg->norigins++] = xstrdup(origin);
    return 0;
}

void ws_config_free(struct ws_config *cfg)
{
    for (size_t i = 0; i < cfg->norigins; i++)
        free(cfg->origins[i]);
    cfg->norigins = 0;
    tls_config_free(&cfg->tls);
}

/* ---- output helpers --------------------------------------------------- */

/* Bytes for the peer: straight to the wire, or staged for TLS. */
static void ws_emit(struct ws *w, const void *d, size_t n)
{
    buf_append(w->tls ? &w->plain : &w->wire, d, n);
}

/* Encrypts what is staged. */
static int ws_seal(struct ws *w)
{
    int rc = WS_OK;
    if (w->tls && buf_size(&w->plain) && tls_ready(w->tls)) {
        if (tls_write(w->tls, buf_head(&w->plain), buf_size(&w->plain), &w->wire) != TLS_OK) {
            ws_set_error(w, "%s", tls_error(w->tls));
            w->state = WS_CLOSED;
            rc = WS_ERROR;
        }
        buf_free(&w->plain);
    }
    return rc;
}

/* ---- the upgrade ------------------------------------------------------ */

/* base64(SHA-1(key ‖ GUID)), RFC 6455 §4.2.2. */
static int ws_accept_value(const char *key, size_t klen, char out[WS_ACCEPT_LEN + 1])
{
    uint8_t in[WS_KEY_LEN + sizeof(WS_GUID)];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (klen != WS_KEY_LEN)
        return -1;
    memcpy(in, key, klen);
    memcpy(in + klen, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(in, klen + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

/* A Sec-WebSocket-Key must decode to 16 bytes (RFC 6455 §4.1). */
static bool ws_key_valid(const char *v, size_t n)
{
    unsigned char raw[WS_KEY_LEN];
    return n == WS_KEY_LEN && v[22] == '=' && v[23] == '=' &&
           EVP_DecodeBlock(raw, (const unsigned char *)v, WS_KEY_LEN) == 18;
}

static bool ws_is_space(char c) { return c == ' ' || c == '\t'; }

/* True if the comma-separated list v[0, n) holds `token` (any case). */
static bool ws_has_token(const char *v, size_t n, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < n) {
        size_t start = i, end;
        while (i < n && v[i] != ',')
            i++;
        end = i++;
        while (start < end && ws_is_space(v[start]))
            start++;
        while (end > start && ws_is_space(v[end - 1]))
            end--;
        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
            return true;
    }
    return false;
}

static enum ws_hdr ws_classify(const char *f, size_t n)
{
    static const struct { const char *name; enum ws_hdr h; } known[] = {
        {"upgrade", H_UPGRADE},
        {"sec-websocket-key", H_KEY},
        {"sec-websocket-version", H_VERSION},
        {"origin", H_ORIGIN},
        {"sec-websocket-accept", H_ACCEPT},
    };
    for (size_t i = 0; i < ARRAY_LEN(known); i++)
        if (strlen(known[i].name) == n && strncasecmp(f, known[i].name, n) == 0)
            return known[i].h;
    return H_OTHER;
}

static bool ws_origin_allowed(const struct ws_config *cfg, const char *v, size_t n)
{
    for (size_t i = 0; i < cfg->norigins; i++)
        if (strlen(cfg->origins[i]) == n && strncasecmp(cfg->origins[i], v, n) == 0)
            return true;
    return false;
}

/* A header's value is complete: note what it says. */
static void ws_header_done(struct ws *w)
{
    struct ws_upgrade *up = w->up;
    const char *v = up->value;
    size_t n = up->value_len;

    while (n && ws_is_space(*v))
        v++, n--;
    while (n && ws_is_space(v[n - 1]))
        n--;
    switch (up->hdr) {
    case H_UPGRADE:
        if (!up->value_long && ws_has_token(v, n, "websocket"))
            up->upgrade_ws = true;
        break;
    case H_KEY:
        if (w->client)
            break;
        up->nkey++;
        if (!up->value_long && ws_key_valid(v, n)) {
            memcpy(up->key, v, n);
            up->key[n] = '\0';
        } else {
            up->key[0] = '\0';
        }
        break;
    case H_VERSION:
        up->nversion++;
        up->version_ok = !up->value_long && n == 2 && memcmp(v, "13", 2) == 0;
        break;
    case H_ORIGIN:
        /* Only browsers send Origin; a restricted server refuses other sites' pages. */
        if (!w->client && w->cfg->norigins && (up->value_long || !ws_origin_allowed(w->cfg, v, n)))
            up->origin_bad = true;
        break;
    case H_ACCEPT:
        up->naccept++;
        up->accept_ok = w->client && !up->value_long && n == WS_ACCEPT_LEN &&
                        memcmp(v, up->key, WS_ACCEPT_LEN) == 0;
        break;
    case H_OTHER:
        break;
    }
}

static int ws_on_field(http_parser *p, const char *at, size_t len)
{
    struct ws *w = p->data;
    struct ws_upgrade *up = w->up;

    if (up->in_value) {
        ws_header_done(w);
        up->in_value = false;
        up->field_len = 0;
    }
    /* A name that does not fit is no name we look for: make it unmatchable. */
    size_t room = sizeof(up->field) - up->field_len;
    if (len > room) {
        memset(up->field, 0, sizeof(up->field));
        up->field_len = sizeof(up->field);
        return 0;
    }
    memcpy(up->field + up->field_len, at, len);
    up->field_len += len;
    return 0;
}

static int ws_on_value(http_parser *p, const char *at, size_t len)
{
    struct ws *w = p->data;
    struct ws_upgrade *up = w->up;

    if (!up->in_value) {
        up->in_value = true;
        up->hdr = ws_classify(up->field, up->field_len);
        up->value_len = 0;
        up->value_long = false;
    }
    if (up->hdr == H_OTHER || up->value_long)
        return 0;
    if (len > sizeof(up->value) - up->value_len) {
        up->value_long = true;
        return 0;
    }
    memcpy(up->value + up->value_len, at, len);
    up->value_len += len;
    return 0;
}

static int ws_on_headers_complete(http_parser *p)
{
    struct ws *w = p->data;
    struct ws_upgrade *up = w->up;

    if (up->in_value)
        ws_header_done(w);
    up->in_value = false;
    up->done = true;
    /* Not an upgrade: nothing after the headers is read (no body, no
     * pipelined request). An upgrade makes the parser stop by itself,
     * exactly at the end of the headers. */
    if (!p->upgrade)
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings ws_parser_settings = {
    .on_header_field = ws_on_field,
    .on_header_value = ws_on_value,
    .on_headers_complete = ws_on_headers_complete,
};

/* ---- frames ----------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    struct ws *w = user;
    (void)flags;
    if (w->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t k = len < w->in_len ? len : w->in_len;
    memcpy(buf, w->in, k);
    w->in += k;
    w->in_len -= k;
    return (ssize_t)k;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)ctx;
    (void)flags;
    ws_emit(user, data, len); /* never blocks: the caller writes the wire buffer */
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    randombytes_buf(buf, len);
    return 0;
}

static void ws_on_frame_start(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    struct ws *w = user;
    (void)ctx;
    /* Binary, text and continuation frames all carry stream bytes (WIRE.md §12). */
    w->data_frame = !wslay_is_ctrl_frame(arg->opcode);
}

static void ws_on_frame_chunk(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    struct ws *w = user;
    (void)ctx;
    if (w->data_frame && w->app && arg->data_length) {
        buf_append(w->app, arg->data, arg->data_length);
        w->peer_sent = true;
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_frame_recv_start_callback = ws_on_frame_start,
    .on_frame_recv_chunk_callback = ws_on_frame_chunk,
};

/* The upgrade is done: drop its state and start framing. */
static int ws_open(struct ws *w)
{
    int r = w->client ? wslay_event_context_client_init(&w->ev, &ws_callbacks, w)
                      : wslay_event_context_server_init(&w->ev, &ws_callbacks, w);
    free(w->up->request);
    free(w->up);
    w->up = NULL;
    if (r != 0) {
        w->ev = NULL;
        w->state = WS_CLOSED;
        ws_set_error(w, "cannot set up WebSocket framing");
        return WS_ERROR;
    }
    wslay_event_config_set_no_buffering(w->ev, 1);
    wslay_event_config_set_max_recv_msg_length(w->ev, WS_MAX_FRAME);
    w->state = WS_OPEN;
    return WS_OK;
}

/* Sends what wslay has queued (pongs, Close) into the wire buffer. */
static int ws_send_queued(struct ws *w)
{
    if (wslay_event_send(w->ev) != 0) {
        ws_set_error(w, "WebSocket send failed");
        w->state = WS_CLOSED;
        return WS_ERROR;
    }
    return WS_OK;
}

static int ws_recv_frames(struct ws *w, const uint8_t *p, size_t n)
{
    w->in = p;
    w->in_len = n;
    int r = wslay_event_recv(w->ev);
    w->in = NULL;
    w->in_len = 0;
    if (r != 0) {
        ws_set_error(w, "WebSocket receive failed");
        w->state = WS_CLOSED;
        return WS_ERROR;
    }
    if (ws_send_queued(w) != WS_OK)
        return WS_ERROR;
    if (wslay_event_get_read_enabled(w->ev))
        return WS_OK;
    /* wslay stops reading at a Close from the peer (answered above) or at a
     * protocol error (a Close with the reason was just sent). */
    w->state = WS_CLOSED;
    if (wslay_event_get_close_received(w->ev)) {
        ws_set_error(w, "closed by peer (WebSocket close %u)",
                     wslay_event_get_status_code_received(w->ev));
        return WS_EOF;
    }
    uint16_t code = wslay_event_get_status_code_sent(w->ev);
    ws_set_error(w, "WebSocket %s (close %u)",
                 code == WSLAY_CODE_MESSAGE_TOO_BIG ? "frame too large" : "protocol error", code);
    return WS_ERROR;
}

/* ---- server ----------------------------------------------------------- */

static int ws_refuse(struct ws *w, int status, const char *why)
{
    const char *text = status == 403   ? "Forbidden"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Bad Request";
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n%s\r\n", status,
                     text, status == 400 ? "Sec-WebSocket-Version: 13\r\n" : "");
    ws_emit(w, resp, (size_t)n);
    ws_set_error(w, "WebSocket upgrade refused (%d): %s", status, why);
    w->state = WS_CLOSED;
    return WS_ERROR;
}

/* The request's headers are in: answer 101 or refuse. */
static int ws_answer(struct ws *w)
{
    struct ws_upgrade *up = w->up;
    const http_parser *p = &up->parser;
    char accept[WS_ACCEPT_LEN + 1];

    if (p->method != HTTP_GET)
        return ws_refuse(w, 400, "not a GET request");
    if (p->http_major != 1 || p->http_minor < 1)
        return ws_refuse(w, 400, "not HTTP/1.1");
    if (!p->upgrade || !up->upgrade_ws)
        return ws_refuse(w, 400, "no Upgrade: websocket / Connection: Upgrade");
    if (up->nkey != 1 || up->key[0] == '\0')
        return ws_refuse(w, 400, "missing or invalid Sec-WebSocket-Key");
    if (up->nversion != 1 || !up->version_ok)
        return ws_refuse(w, 400, "Sec-WebSocket-Version is not 13");
    if (up->origin_bad)
        return ws_refuse(w, 403, "Origin not allowed");
    if (ws_accept_value(up->key, strlen(up->key), accept) < 0)
        return ws_refuse(w, 400, "cannot compute Sec-WebSocket-Accept");

    char resp[160];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    ws_emit(w, resp, (size_t)n);
    return ws_open(w);
}

/* The answer's headers are in: 101 with the right accept value, or fail. */
static int ws_check_answer(struct ws *w)
{
    struct ws_upgrade *up = w->up;
    const http_parser *p = &up->parser;

    if (p->status_code != 101) {
        ws_set_error(w, "WebSocket upgrade refused: HTTP %u", p->status_code);
    } else if (!p->upgrade || !up->upgrade_ws) {
        ws_set_error(w, "WebSocket upgrade answer lacks Upgrade: websocket");
    } else if (up->naccept != 1 || !up->accept_ok) {
        ws_set_error(w, "WebSocket upgrade answer has a wrong Sec-WebSocket-Accept");
    } else {
        return ws_open(w);
    }
    w->state = WS_CLOSED;
    return WS_ERROR;
}

/* Feeds the upgrade parser; *used says how much of p it took. */
static int ws_upgrade_input(struct ws *w, const uint8_t *p, size_t n, size_t *used)
{
    struct ws_upgrade *up = w->up;
    size_t room = WS_MAX_HEADER - up->seen;
    size_t k = n < room ? n : room;

    *used = http_parser_execute(&up->parser, &ws_parser_settings, (const char *)p, k);
    up->seen += *used;
    if (up->done)
        return w->client ? ws_check_answer(w) : ws_answer(w);
    enum http_errno e = HTTP_PARSER_ERRNO(&up->parser);
    if (e != HPE_OK) {
        if (w->client) {
            ws_set_error(w, "bad WebSocket upgrade answer: %s", http_errno_description(e));
            w->state = WS_CLOSED;
            return WS_ERROR;
        }
        return ws_refuse(w, 400, http_errno_description(e));
    }
    if (up->seen >= WS_MAX_HEADER) {
        if (w->client) {
            ws_set_error(w, "WebSocket upgrade answer too long");
            w->state = WS_CLOSED;
            return WS_ERROR;
        }
        return ws_refuse(w, 431, "headers too large");
    }
    return WS_OK;
}

/* Plaintext from the peer (after TLS, if any). */
static int ws_feed(struct ws *w, const uint8_t *p, size_t n)
{
    if (w->state == WS_UPGRADING) {
        size_t used = 0;
        int rc = ws_upgrade_input(w, p, n, &used);
        if (rc != WS_OK || w->state != WS_OPEN)
            return rc;
        p += used;
        n -= used;
    }
    if (w->state != WS_OPEN || n == 0)
        return WS_OK;
    return ws_recv_frames(w, p, n);
}

static int ws_tls_deliver(void *arg, const uint8_t *d, size_t n)
{
    int rc = ws_feed(arg, d, n);
    return rc == WS_OK ? 0 : rc == WS_EOF ? 1 : -1;
}

/* ---- public ----------------------------------------------------------- */

static struct ws *ws_new(struct ws_config *cfg, bool client)
{
    struct ws *w = xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->client = client;
    w->state = WS_UPGRADING;
    w->up = xcalloc(1, sizeof(*w->up));
    http_parser_init(&w->up->parser, client ? HTTP_RESPONSE : HTTP_REQUEST);
    w->up->parser.data = w;
    return w;
}

struct ws *ws_server_new(struct ws_config *cfg, bool tls, char *err, size_t errlen)
{
    struct ws *w = ws_new(cfg, false);
    if (tls && (w->tls = tls_server_new(&cfg->tls, err, errlen)) == NULL) {
        ws_free(w);
        return NULL;
    }
    return w;
}

struct ws *ws_client_new(struct ws_config *cfg, const char *host, uint16_t port, bool tls,
                         const char *tls_name, char *err, size_t errlen)
{
    struct ws *w = ws_new(cfg, true);
    uint8_t nonce[16];
    char key[WS_KEY_LEN + 1];

    if (tls && (w->tls = tls_client_new(&cfg->tls, tls_name, err, errlen)) == NULL) {
        ws_free(w);
        return NULL;
    }
    randombytes_buf(nonce, sizeof(nonce));
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    ws_accept_value(key, WS_KEY_LEN, w->up->key);
    bool v6 = strchr(host, ':') != NULL;
#define WS_REQUEST "GET / HTTP/1.1\r\nHost: %s%s%s:%u\r\nUpgrade: websocket\r\n" \
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"            \
                   "Sec-WebSocket-Version: 13\r\n\r\n"
    int n = snprintf(NULL, 0, WS_REQUEST, v6 ? "[" : "", host, v6 ? "]" : "", port, key);
    w->up->request = xmalloc((size_t)n + 1);
    snprintf(w->up->request, (size_t)n + 1, WS_REQUEST, v6 ? "[" : "", host, v6 ? "]" : "", port,
             key);
#undef WS_REQUEST
    return w;
}

void ws_free(struct ws *w)
{
    if (w == NULL)
        return;
    if (w->up)
        free(w->up->request);
    free(w->up);
    if (w->ev)
        wslay_event_context_free(w->ev);
    tls_free(w->tls);
    buf_free(&w->wire);
    buf_free(&w->plain);
    free(w);
}

int ws_input(struct ws *w, const uint8_t *p, size_t n, struct buf *app)
{
    int rc;

    if (w->state == WS_CLOSED)
        return WS_OK; /* already ending; what follows does not matter */
    if (n == 0)
        return WS_OK; /* http-parser would take an empty feed for end of input */
    w->app = app;
    if (w->tls) {
        rc = tls_input(w->tls, p, n, &w->wire, ws_tls_deliver, w);
        if (rc < 0 && w->error == NULL) {
            ws_set_error(w, "%s", tls_error(w->tls));
            w->state = WS_CLOSED;
        } else if (rc == TLS_EOF && w->error == NULL) {
            ws_set_error(w, "closed by peer (TLS close_notify)");
            w->state = WS_CLOSED;
        }
        rc = rc < 0 ? WS_ERROR : rc > 0 ? WS_EOF : WS_OK;
    } else {
        rc = ws_feed(w, p, n);
    }
    w->app = NULL;
    if (ws_seal(w) != WS_OK)
        rc = WS_ERROR;
    return rc;
}

/* Dialing: TLS handshake first, then the upgrade request. */
static int ws_client_start(struct ws *w)
{
    if (w->tls && !w->tls_started) {
        w->tls_started = true;
        if (tls_handshake(w->tls, &w->wire) != TLS_OK) {
            ws_set_error(w, "%s", tls_error(w->tls));
            w->state = WS_CLOSED;
            return WS_ERROR;
        }
    }
    if (w->up->request && (w->tls == NULL || tls_ready(w->tls))) {
        ws_emit(w, w->up->request, strlen(w->up->request));
        free(w->up->request);
        w->up->request = NULL;
    }
    return WS_OK;
}

int ws_output(struct ws *w, struct buf *app, bool closing)
{
    int rc = WS_OK;

    if (w->client && w->state == WS_UPGRADING)
        rc = ws_client_start(w);
    /* The server's stream waits for the client's first bytes: Node's `ws`
     * client (js-libp2p in Node) emits a message that came with the 101
     * answer before js-libp2p listens, and the message is lost. libp2p
     * dialers always speak first (multistream-select), so this costs nothing. */
    bool may_send = w->client || w->peer_sent;
    if (w->state == WS_OPEN) {
        while (buf_size(app) && rc == WS_OK && may_send) {
            size_t n = buf_size(app) < WS_OUT_MSG ? buf_size(app) : WS_OUT_MSG;
            struct wslay_event_msg m = {WSLAY_BINARY_FRAME, buf_head(app), n};
            if (wslay_event_queue_msg(w->ev, &m) != 0)
                break; /* a Close went out: nothing more may be sent */
            buf_consume(app, n);
            rc = ws_send_queued(w); /* one message at a time: wslay copies each */
        }
        if (closing && !w->close_queued && rc == WS_OK) {
            w->close_queued = true;
            wslay_event_queue_close(w->ev, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        }
        if (rc == WS_OK)
            rc = ws_send_queued(w);
    } else if (w->ev && w->state == WS_CLOSED) {
        ws_send_queued(w); /* the answer to a Close or error, if still queued */
    }
    if (buf_size(app) && (closing || w->state == WS_CLOSED))
        buf_reset(app); /* can never be sent */
    if (buf_size(app) == 0)
        buf_free(app);
    if (ws_seal(w) != WS_OK)
        rc = WS_ERROR;
    if (closing && w->tls)
        tls_close(w->tls, &w->wire);
    return rc;
}

struct buf *ws_wire(struct ws *w) { return &w->wire; }

bool ws_is_open(const struct ws *w) { return w->state == WS_OPEN; }
bool ws_is_tls(const struct ws *w) { return w->tls != NULL; }

const char *ws_error(const struct ws *w) { return w->error ? w->error : "WebSocket error"; }
