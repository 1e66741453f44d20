/* /vac/waku/rendezvous/0.0.1 (go-waku-rendezvous, seed 004, LANDSCAPE.md
 * WK0): the rendezvous idea with short TTLs, no UNREGISTER, no cookies, and
 * its own numbering (DISCOVER = 2, DISCOVER_RESPONSE = 3, Message.discover
 * = 4, discoverResponse = 5). The original is proto3, so zero values are
 * omitted on the wire: an absent type is REGISTER, absent numbers are 0.
 *
 * Same stream model as rdv1.c: many requests per stream, answered in order;
 * FIN is answered with FIN; something that is not a Waku request resets the
 * stream.
 *
 * Decisions:
 *  - TTL is in seconds (the Go original meant seconds but added them as
 *    nanoseconds). Absent or 0 → waku_ttl_default; negative or above
 *    waku_ttl_max → E_INVALID_TTL. There is no minimum.
 *  - A record naming another peer than the authenticated one gets
 *    E_NOT_AUTHORIZED (200), as in the standard dialect; go-waku answered
 *    E_INVALID_PEER_INFO, but any non-OK status fails a go-waku client.
 *  - DISCOVER needs a namespace; limit absent, 0 or negative means
 *    waku_discover_max, and larger limits are capped to it. The answer is a
 *    uniform random sample of the namespace's registrations that carry a
 *    signed record (whichever dialect made them), within 1 MiB.
 *  - status is always written, also OK: proto3 readers take it as the
 *    default, and proto2 readers need it. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "crypto/record.h"
#include "rendezvous/cookie.h"
#include "rendezvous/service.h"
#include "waku.pb-c.h"

#define WAKU_MAX_RESPONSE ((size_t)(1u << 20) - 16)
#define WAKU_RESPONSE_OVERHEAD 64

#define WST_OK WAKU__MESSAGE__RESPONSE_STATUS__OK
#define WST_NS WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE
#define WST_RECORD WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER_INFO
#define WST_TTL WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_TTL
#define WST_AUTH WAKU__MESSAGE__RESPONSE_STATUS__E_NOT_AUTHORIZED
#define WST_INTERNAL WAKU__MESSAGE__RESPONSE_STATUS__E_INTERNAL_ERROR
#define WST_UNAVAILABLE WAKU__MESSAGE__RESPONSE_STATUS__E_UNAVAILABLE

/* Message field numbers (for rdv_wire_string_has_nul). */
enum { WAKU_F_REGISTER = 2, WAKU_F_DISCOVER = 4, WAKU_F_NS = 1 };

struct waku_stream {
    struct rdv_service *svc;
    struct lpm in;
};

/* ---- answers ------------------------------------------------------------- */

static void waku__frame(struct buf *out, const Waku__Message *m)
{
    size_t len = waku__message__get_packed_size(m);
    buf_append_uvarint(out, len);
    buf_commit(out, waku__message__pack(m, buf_reserve(out, len)));
}

static void waku__register_reply(struct rdv_service *s, struct buf *out,
                                 Waku__Message__ResponseStatus status, const char *text,
                                 int64_t ttl)
{
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__RegisterResponse rr = WAKU__MESSAGE__REGISTER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE;
    m.registerresponse = &rr;
    rr.has_status = 1;
    rr.status = status;
    if (status == WST_OK) {
        rr.has_ttl = 1;
        rr.ttl = ttl;
    } else {
        rr.statustext = (char *)text; /* only read by pack */
        s->stats.errors[RDV_DIALECT_WAKU]++;
    }
    waku__frame(out, &m);
}

static void waku__discover_error(struct rdv_service *s, struct buf *out,
                                 Waku__Message__ResponseStatus status, const char *text)
{
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__DiscoverResponse dr = WAKU__MESSAGE__DISCOVER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    dr.has_status = 1;
    dr.status = status;
    dr.statustext = (char *)text;
    s->stats.errors[RDV_DIALECT_WAKU]++;
    waku__frame(out, &m);
}

/* ---- requests ------------------------------------------------------------ */

/* Seconds left of r at now, rounded up, at least 1. */
static int64_t waku__ttl_left(const struct rdv_service *s, const struct rdv_reg *r, double now)
{
    if (r->ttl == 0)
        return (int64_t)s->cfg.waku_ttl_max; /* session-bound: no deadline */
    double left = r->expires - now;
    if (!(left > 1))
        return 1;
    uint64_t secs = (uint64_t)left;
    if ((double)secs < left)
        secs++;
    if (secs > r->ttl)
        secs = r->ttl;
    return secs > INT64_MAX ? INT64_MAX : (int64_t)secs;
}

/* Returns true if a TTL registration was stored. */
static bool waku__register(struct rdv_service *s, const struct peer_id *remote, double now,
                           const Waku__Message__Register *req, bool ns_nul, struct buf *out)
{
    char text[160];
    size_t ns_len = req->ns ? strlen(req->ns) : 0;

    if (req->ns == NULL || ns_nul || registry_check_ns(&s->reg, req->ns, ns_len) != 0) {
        snprintf(text, sizeof text, "namespace must be 1 to %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        waku__register_reply(s, out, WST_NS, text, 0);
        return false;
    }
    if (!req->has_signedpeerrecord || req->signedpeerrecord.len == 0) {
        waku__register_reply(s, out, WST_RECORD, "no signed peer record", 0);
        return false;
    }
    struct peer_record rec;
    char err[128];
    if (record_open(&rec, req->signedpeerrecord.data, req->signedpeerrecord.len, err,
                    sizeof err) != 0) {
        snprintf(text, sizeof text, "invalid signed peer record: %s", err);
        waku__register_reply(s, out, WST_RECORD, text, 0);
        return false;
    }
    if (!peerid_eq(&rec.id, remote)) {
        peer_record_free(&rec);
        waku__register_reply(s, out, WST_AUTH, "signed peer record is not the sender's", 0);
        return false;
    }
    int64_t want = req->has_ttl ? req->ttl : 0;
    if (want < 0 || (uint64_t)want > s->cfg.waku_ttl_max) {
        peer_record_free(&rec);
        snprintf(text, sizeof text, "ttl must be between 1 and %" PRIu64 " seconds",
                 s->cfg.waku_ttl_max);
        waku__register_reply(s, out, WST_TTL, text, 0);
        return false;
    }
    uint64_t ttl = want ? (uint64_t)want : s->cfg.waku_ttl_default;
    if (ttl > s->cfg.waku_ttl_max)
        ttl = s->cfg.waku_ttl_max; /* a default above the configured maximum */
    if (ttl == 0)
        ttl = 1;

    struct rdv_addr addrs[RECORD_MAX_ADDRS];
    for (size_t i = 0; i < rec.naddrs; i++) {
        addrs[i].bytes = rec.addrs[i].bytes;
        addrs[i].len = rec.addrs[i].len;
    }
    struct rdv_register r = {
        .ns = req->ns,
        .ns_len = ns_len,
        .peer = remote,
        .dialect = RDV_DIALECT_WAKU,
        .addrs = addrs,
        .naddrs = rec.naddrs,
        .envelope = req->signedpeerrecord.data,
        .envelope_len = req->signedpeerrecord.len,
        .ttl = ttl,
        .owner = NULL,
        .now = now,
    };
    const struct rdv_reg *reg = NULL;
    enum rdv_status st = registry_register(&s->reg, &r, &reg);
    peer_record_free(&rec);
    switch (st) {
    case RDV_OK:
        waku__register_reply(s, out, WST_OK, NULL, (int64_t)ttl);
        return true;
    case RDV_E_NAMESPACE:
        waku__register_reply(s, out, WST_NS, "invalid namespace", 0);
        break;
    case RDV_E_ADDRS:
        waku__register_reply(s, out, WST_RECORD, "too many or too long addresses in the record", 0);
        break;
    case RDV_E_TTL:
        waku__register_reply(s, out, WST_TTL, "ttl refused", 0);
        break;
    case RDV_E_PEER_LIMIT:
        waku__register_reply(s, out, WST_UNAVAILABLE, "too many registrations for this peer", 0);
        break;
    case RDV_E_TOTAL_LIMIT:
        waku__register_reply(s, out, WST_UNAVAILABLE, "registry is full", 0);
        break;
    default:
        waku__register_reply(s, out, WST_INTERNAL, "registration failed", 0);
        break;
    }
    return false;
}

static void waku__discover(struct rdv_service *s, double now, const Waku__Message__Discover *req,
                           bool ns_nul, struct buf *out)
{
    char text[160];
    const char *ns = req ? req->ns : NULL;
    size_t ns_len = ns ? strlen(ns) : 0;

    if (ns == NULL || ns_nul || registry_check_ns(&s->reg, ns, ns_len) != 0) {
        snprintf(text, sizeof text, "namespace must be 1 to %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        waku__discover_error(s, out, WST_NS, text);
        return;
    }
    uint64_t limit = s->cfg.waku_discover_max;
    if (req->has_limit && req->limit > 0 && (uint64_t)req->limit < limit)
        limit = (uint64_t)req->limit;
    if (limit == 0)
        limit = 1;

    const struct rdv_ns *nsp = registry_ns(&s->reg, ns, ns_len);
    const struct rdv_reg **regs = xcalloc((size_t)limit, sizeof *regs);
    size_t count = nsp ? registry_sample(&s->reg, nsp, true, regs, (size_t)limit) : 0;

    Waku__Message__Register *items = count ? xcalloc(count, sizeof *items) : NULL;
    Waku__Message__Register **ptrs = count ? xcalloc(count, sizeof *ptrs) : NULL;
    size_t used = WAKU_RESPONSE_OVERHEAD, n = 0;
    for (size_t i = 0; i < count; i++) {
        const struct rdv_reg *r = regs[i];
        Waku__Message__Register *it = &items[n];
        waku__message__register__init(it);
        it->ns = r->ns->name; /* only read by pack */
        it->has_signedpeerrecord = 1;
        it->signedpeerrecord.data = r->envelope;
        it->signedpeerrecord.len = r->envelope_len;
        it->has_ttl = 1;
        it->ttl = waku__ttl_left(s, r, now);
        size_t sz = protobuf_c_message_get_packed_size(&it->base) + 1 + 5;
        if (used + sz > WAKU_MAX_RESPONSE)
            break; /* a sample has no order: fewer is as good */
        used += sz;
        ptrs[n++] = it;
    }

    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__DiscoverResponse dr = WAKU__MESSAGE__DISCOVER_RESPONSE__INIT;
    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    dr.has_status = 1;
    dr.status = WST_OK;
    dr.n_registrations = n;
    dr.registrations = ptrs;
    waku__frame(out, &m);
    free(ptrs);
    free(items);
    free(regs);
}

/* One request from `remote`: appends the framed answer to out. -1 if msg is
 * not a Waku request (reset the stream); *added when a TTL registration was
 * stored. Host-free, for the fuzz target that #includes this file. */
static int waku_handle(struct rdv_service *s, const struct peer_id *remote, double now,
                       const uint8_t *msg, size_t len, struct buf *out, bool *added)
{
    double t0 = ev_time();
    uint64_t errors0 = s->stats.errors[RDV_DIALECT_WAKU];
    *added = false;
    Waku__Message *m = waku__message__unpack(NULL, len, msg);
    if (m == NULL)
        return -1;
    int type = m->has_type ? (int)m->type : WAKU__MESSAGE__MESSAGE_TYPE__REGISTER;
    int rc = 0;
    switch (type) {
    case WAKU__MESSAGE__MESSAGE_TYPE__REGISTER:
        if (m->register_ == NULL) {
            rc = -1;
            break;
        }
        s->stats.requests[RDV_DIALECT_WAKU][type]++;
        *added = waku__register(s, remote, now, m->register_,
                                rdv_wire_string_has_nul(msg, len, WAKU_F_REGISTER, WAKU_F_NS), out);
        break;
    case WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER:
        s->stats.requests[RDV_DIALECT_WAKU][type]++;
        waku__discover(s, now, m->discover,
                       rdv_wire_string_has_nul(msg, len, WAKU_F_DISCOVER, WAKU_F_NS), out);
        break;
    default:
        rc = -1;
        break;
    }
    if (rc == 0)
        rdv_stats_request(&s->stats, RDV_DIALECT_WAKU, type, errors0, t0);
    waku__message__free_unpacked(m, NULL);
    return rc;
}

/* ---- the stream ---------------------------------------------------------- */

static bool waku__writable(const struct stream *st)
{
    return st->ys != NULL && !st->ys->reset && !st->ys->local_fin;
}

static int waku_open(struct stream *st)
{
    struct rdv_service *s = st->proto->arg;
    struct waku_stream *ws = xcalloc(1, sizeof *ws);
    ws->svc = s;
    lpm_init(&ws->in, s->cfg.max_message);
    st->state = ws;
    s->stats.sessions_open[RDV_DIALECT_WAKU]++;
    return 0;
}

static void waku_data(struct stream *st, const uint8_t *d, size_t n)
{
    struct waku_stream *ws = st->state;
    struct rdv_service *s = ws->svc;
    struct buf out = BUF_INIT;
    const uint8_t *msg;
    size_t len;
    int rc;

    lpm_push(&ws->in, d, n);
    while (waku__writable(st) && (rc = lpm_next(&ws->in, &msg, &len)) != 0) {
        bool added;
        if (rc < 0 || waku_handle(s, &stream_conn(st)->remote, rdv_service_now(s), msg, len,
                                  &out, &added) != 0) {
            LOGD(s->log, "%s from %s: not a Waku rendezvous request, resetting the stream",
                 WAKU_PROTOCOL_ID, stream_conn(st)->remote_text);
            stream_reset(st);
            break;
        }
        if (added)
            rdv_service_schedule_expiry(s);
        if (buf_size(&out)) {
            stream_write(st, buf_head(&out), buf_size(&out));
            buf_reset(&out);
        }
    }
    buf_free(&out);
}

static void waku_eof(struct stream *st)
{
    struct waku_stream *ws = st->state;
    if (buf_size(&ws->in.in) != 0)
        stream_reset(st);
    else
        stream_close(st);
}

static void waku_close(struct stream *st)
{
    struct waku_stream *ws = st->state;
    if (ws == NULL)
        return;
    ws->svc->stats.sessions_open[RDV_DIALECT_WAKU]--;
    lpm_free(&ws->in);
    free(ws);
    st->state = NULL;
}

void waku_init(struct rdv_service *s)
{
    s->waku = (struct protocol){
        .id = WAKU_PROTOCOL_ID,
        .on_open = waku_open,
        .on_data = waku_data,
        .on_eof = waku_eof,
        .on_close = waku_close,
        .arg = s,
    };
}
