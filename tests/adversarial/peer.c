/* Client building blocks for the attacks: dialing from a chosen loopback
 * source address, many identities through one host, signed records, request
 * encoding, and the low-level moves an attacker makes that a client library
 * never would (granting window it will not use, not reading). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attack.h"
#include "base/mem.h"
#include "client/wire.h"
#include "crypto/record.h"
#include "host/internal.h"
#include "rendezvous.pb-c.h"
#include "rendezvous/service.h"
#include "waku.pb-c.h"

void peer_host_init(struct host *h, struct ev_loop *loop, struct log *log)
{
    struct host_limits lim;
    struct privkey k;
    host_limits_default(&lim);
    lim.max_conns = 1000000;
    lim.max_conns_per_ip = 1000000;
    lim.max_streams = 4096;
    lim.max_out = (size_t)1 << 34;
    lim.idle_timeout = 3600;
    lim.handshake_timeout = 60;
    privkey_generate(&k);
    host_init(h, loop, log, &k, &lim);
    privkey_wipe(&k);
}

void peer_identity(struct host *h, const struct privkey *k)
{
    h->key = *k;
    privkey_public(&h->key, &h->pub);
    peerid_from_pubkey(&h->id, &h->pub);
    peerid_to_text(&h->id, h->id_text, sizeof(h->id_text));
    noise_identity_wipe(&h->noise);
    noise_identity_init(&h->noise, &h->key);
}

uint32_t peer_src(enum attack_net net, uint32_t idx)
{
    uint32_t n = idx + 1; /* never 127.net.0.0 */
    return htonl(127u << 24 | ((uint32_t)net & 255) << 16 | ((n >> 8) & 255) << 8 | (n & 255));
}

struct conn *peer_dial(struct host *h, const struct attack_ctx *x, enum attack_net net,
                       uint32_t idx, const struct conn_events *ev, void *user)
{
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = peer_src(net, idx)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
        close(fd);
        return NULL;
    }
    bool connecting = false;
    if (connect(fd, (const struct sockaddr *)&x->daemon_sa, sizeof(x->daemon_sa)) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return NULL;
        }
        connecting = true;
    }
    struct conn *c = conn_new(h, fd, true, connecting, (const struct sockaddr *)&x->daemon_sa,
                              sizeof(x->daemon_sa), false);
    conn_set_events(c, ev, user);
    return c;
}

/* ---- signed records ----------------------------------------------------- */

void peer_envelope(const struct privkey *k, bool large, struct buf *out)
{
    enum { NADDR = 32, NAME = 40 };
    uint8_t ma[NADDR][2 + NAME + 3];
    struct record_addr a[NADDR];
    size_t n = large ? NADDR : 1;

    for (size_t i = 0; i < n; i++) {
        if (!large) { /* /ip4/127.0.0.1/tcp/4001 */
            static const uint8_t ip4[] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1};
            memcpy(ma[i], ip4, sizeof(ip4));
            a[i] = (struct record_addr){ma[i], sizeof(ip4)};
            break;
        }
        /* /dns4/<40 characters>/tcp/<4001 + i>: 45 bytes */
        uint8_t *p = ma[i];
        *p++ = 0x36;
        *p++ = NAME;
        snprintf((char *)p, NAME + 1, "relay-%02zu.a-rather-long-host-name.example", i);
        p += NAME;
        *p++ = 0x06;
        *p++ = (uint8_t)((4001 + i) >> 8);
        *p++ = (uint8_t)(4001 + i);
        a[i] = (struct record_addr){ma[i], (size_t)(p - ma[i])};
    }
    record_seal(k, RECORD_STANDARD, 1, a, n, out);
}

/* ---- requests ----------------------------------------------------------- */

/* Encoded by the client library's wire layer (src/client/wire.c), as
 * rdv-bench's are. */
void rdv1_register(struct buf *out, const char *ns, const struct buf *env, uint64_t ttl)
{
    struct wire_request rq = {.op = WIRE_REGISTER, .ns = ns, .record = buf_head(env),
                              .record_len = buf_size(env), .ttl = ttl};
    wire_request_encode(&rq, out);
}

void rdv1_discover(struct buf *out, const char *ns, uint64_t limit, const uint8_t *cookie,
                   size_t cookie_len)
{
    struct wire_request rq = {.op = WIRE_DISCOVER, .ns = ns, .limit = limit,
                              .cookie = cookie_len ? cookie : NULL, .cookie_len = cookie_len};
    wire_request_encode(&rq, out);
}

void waku_register(struct buf *out, const char *ns, const struct buf *env)
{
    struct wire_request rq = {.op = WIRE_REGISTER, .waku = true, .ns = ns,
                              .record = buf_head(env), .record_len = buf_size(env)};
    wire_request_encode(&rq, out);
}

void waku_discover(struct buf *out, const char *ns, int64_t limit)
{
    struct wire_request rq = {.op = WIRE_DISCOVER, .waku = true, .ns = ns,
                              .limit = limit > 0 ? (uint64_t)limit : 0};
    wire_request_encode(&rq, out);
}

int rdv1_answer(const uint8_t *m, size_t n, bool discover, int *status, size_t *nregs,
                uint8_t *cookie, size_t *clen)
{
    Rendezvous__Message *msg = rendezvous__message__unpack(NULL, n, m);
    int rc = -1;
    if (msg == NULL)
        return -1;
    if (discover && msg->type == RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE &&
        msg->discoverresponse) {
        *status = (int)msg->discoverresponse->status;
        *nregs = msg->discoverresponse->n_registrations;
        if (cookie && clen) {
            size_t cl = msg->discoverresponse->has_cookie ? msg->discoverresponse->cookie.len : 0;
            if (cl > *clen)
                cl = 0;
            memcpy(cookie, msg->discoverresponse->cookie.data, cl);
            *clen = cl;
        }
        rc = 0;
    } else if (!discover && msg->type == RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE &&
               msg->registerresponse) {
        *status = (int)msg->registerresponse->status;
        *nregs = 0;
        rc = 0;
    }
    rendezvous__message__free_unpacked(msg, NULL);
    return rc;
}

int waku_answer(const uint8_t *m, size_t n, bool discover, int *status, size_t *nregs)
{
    Waku__Message *msg = waku__message__unpack(NULL, n, m);
    int rc = -1;
    if (msg == NULL)
        return -1;
    if (discover && msg->type == WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE &&
        msg->discoverresponse) {
        *status = (int)msg->discoverresponse->status;
        *nregs = msg->discoverresponse->n_registrations;
        rc = 0;
    } else if (!discover && msg->type == WAKU__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE &&
               msg->registerresponse) {
        *status = (int)msg->registerresponse->status;
        *nregs = 0;
        rc = 0;
    }
    waku__message__free_unpacked(msg, NULL);
    return rc;
}

/* ---- request streams ---------------------------------------------------- */

static int req__open(struct stream *s)
{
    struct req_stream *r = s->state;
    r->s = s;
    r->open = true;
    if (r->on_open)
        r->on_open(r);
    return 0;
}

static void req__data(struct stream *s, const uint8_t *d, size_t n)
{
    struct req_stream *r = s->state;
    const uint8_t *m;
    size_t len;
    int rc;
    lpm_push(&r->in, d, n);
    while (r->s && (rc = lpm_next(&r->in, &m, &len)) == 1)
        r->on_msg(r, m, len);
}

static void req__close(struct stream *s)
{
    struct req_stream *r = s->state;
    struct conn *c = stream_conn(s);
    r->s = NULL;
    r->ended = true;
    lpm_free(&r->in);
    if (r->on_end)
        r->on_end(r, !r->open     ? "protocol refused"
                     : c->closing ? (conn_close_reason(c) ? conn_close_reason(c) : "connection closed")
                                  : "stream reset");
}

int req_stream_open(struct req_stream *r, struct conn *c, const char *id, void *user)
{
    r->proto = (struct protocol){.id = id, .on_open = req__open, .on_data = req__data,
                                 .on_close = req__close};
    r->user = user;
    r->s = NULL;
    r->open = r->ended = false;
    lpm_init(&r->in, 4u << 20);
    if (conn_open_stream(c, &r->proto, r) == NULL) {
        lpm_free(&r->in);
        return -1;
    }
    return 0;
}

void req_stream_send(struct req_stream *r, const struct buf *b)
{
    if (r->s)
        stream_write(r->s, buf_head(b), buf_size(b));
}

/* ---- attacker moves ----------------------------------------------------- */

void peer_grant_window(struct conn *c, uint32_t stream_id, uint32_t delta)
{
    uint8_t h[YAMUX_HEADER_LEN] = {0, YAMUX_WINDOW_UPDATE, 0, 0};
    h[4] = (uint8_t)(stream_id >> 24);
    h[5] = (uint8_t)(stream_id >> 16);
    h[6] = (uint8_t)(stream_id >> 8);
    h[7] = (uint8_t)stream_id;
    h[8] = (uint8_t)(delta >> 24);
    h[9] = (uint8_t)(delta >> 16);
    h[10] = (uint8_t)(delta >> 8);
    h[11] = (uint8_t)delta;
    buf_append(yamux_out(&c->mux), h, sizeof(h));
    conn_mark_dirty(c);
}

void peer_stop_reading(struct conn *c)
{
    conn_set_reading(c, false);
}
