/* /rendezvous/1.0.0, the libp2p rendezvous protocol (spec r3, WIRE.md §1).
 *
 * A stream carries any number of requests, each a length-prefixed Message;
 * REGISTER and DISCOVER are answered in order, UNREGISTER never. When the
 * client half-closes we close our side (every answer is written at once, so
 * nothing is pending then). A request that is not a rendezvous request at
 * all - undecodable, an unknown or response type, a REGISTER without its
 * body - resets the stream, per WIRE.md §1.4 step 1.
 *
 * Decisions (beyond the spec text):
 *  - Every response carries `status`, also OK; an OK REGISTER_RESPONSE
 *    carries `ttl` and an OK DISCOVER_RESPONSE a cookie, because rust-libp2p
 *    clients fail without them (§1.7). Error responses carry status and
 *    statusText only.
 *  - DISCOVER returns only registrations with a signed record (standard and
 *    Waku ones); each entry's ttl is the time left, rounded up, at least 1.
 *  - Cookie = BE64(seq) ‖ ns (cookie.h). When the answer holds everything
 *    there was to return, the cookie points at the newest seq issued, so the
 *    next poll starts from there; when the limit or the 1 MiB cap cut it,
 *    it points at the last registration included.
 *  - An empty cookie is the same as none (proto3 senders cannot tell them
 *    apart).
 *  - UNREGISTER removes the authenticated peer's registration in ns whatever
 *    dialect made it: it is the same peer speaking for itself.
 *  - An absent or zero TTL means ttl_default, clamped into the accepted
 *    range, so a daemon run with a narrow range still has a usable default.
 *
 * rdv1_handle() is the whole protocol minus the stream: it decodes one
 * request and appends the framed answer, so the fuzz target (which
 * #includes this file) drives it without a host. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "crypto/record.h"
#include "rendezvous.pb-c.h"
#include "rendezvous/cookie.h"
#include "rendezvous/service.h"

/* rust-libp2p refuses messages over 1 MiB; keeping the message a little
 * under it also keeps the frame (length prefix included) within 1 MiB. */
#define RDV1_MAX_RESPONSE ((size_t)(1u << 20) - 16)
/* Bytes of a DISCOVER_RESPONSE besides its registrations: type, the
 * sub-message header, status and a cookie of the longest namespace. */
#define RDV1_RESPONSE_OVERHEAD 512

#define ST_OK RENDEZVOUS__MESSAGE__RESPONSE_STATUS__OK
#define ST_NS RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE
#define ST_RECORD RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_INVALID_SIGNED_PEER_RECORD
#define ST_TTL RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_INVALID_TTL
#define ST_COOKIE RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_INVALID_COOKIE
#define ST_AUTH RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_NOT_AUTHORIZED
#define ST_INTERNAL RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_INTERNAL_ERROR
#define ST_UNAVAILABLE RENDEZVOUS__MESSAGE__RESPONSE_STATUS__E_UNAVAILABLE

/* Message field numbers (for rdv_wire_string_has_nul). */
enum { RDV1_F_REGISTER = 2, RDV1_F_UNREGISTER = 4, RDV1_F_DISCOVER = 5, RDV1_F_NS = 1 };

struct rdv1_stream {
    struct rdv_service *svc;
    struct lpm in;
};

/* ---- answers ------------------------------------------------------------- */

/* Appends uvarint(len) ‖ msg to out. */
static void rdv1__frame(struct buf *out, const Rendezvous__Message *m)
{
    size_t len = rendezvous__message__get_packed_size(m);
    buf_append_uvarint(out, len);
    buf_commit(out, rendezvous__message__pack(m, buf_reserve(out, len)));
}

static void rdv1__register_reply(struct rdv_service *s, struct buf *out,
                                 Rendezvous__Message__ResponseStatus status, const char *text,
                                 uint64_t ttl)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__RegisterResponse rr = RENDEZVOUS__MESSAGE__REGISTER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE;
    m.registerresponse = &rr;
    rr.has_status = 1; /* written even when OK: rust requires it */
    rr.status = status;
    if (status == ST_OK) {
        rr.has_ttl = 1;
        rr.ttl = ttl;
    } else {
        rr.statustext = (char *)text; /* only read by pack */
        s->stats.errors[RDV_DIALECT_STANDARD]++;
    }
    rdv1__frame(out, &m);
}

static void rdv1__discover_error(struct rdv_service *s, struct buf *out,
                                 Rendezvous__Message__ResponseStatus status, const char *text)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__DiscoverResponse dr = RENDEZVOUS__MESSAGE__DISCOVER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    dr.has_status = 1;
    dr.status = status;
    dr.statustext = (char *)text;
    s->stats.errors[RDV_DIALECT_STANDARD]++;
    rdv1__frame(out, &m);
}

/* ---- requests ------------------------------------------------------------ */

/* Seconds left of r at now, rounded up and at least 1 (a registration due
 * but not yet reaped by the timer is still there for this answer). */
static uint64_t rdv1__ttl_left(const struct rdv_service *s, const struct rdv_reg *r, double now)
{
    if (r->ttl == 0)
        return s->cfg.ttl_max; /* session-bound: no deadline to report */
    double left = r->expires - now;
    if (!(left > 1))
        return 1;
    uint64_t secs = (uint64_t)left;
    if ((double)secs < left)
        secs++;
    return secs < r->ttl ? secs : r->ttl;
}

/* The default TTL within [ttl_min, ttl_max]. */
static uint64_t rdv1__default_ttl(const struct rdv_config *c)
{
    uint64_t t = c->ttl_default;
    if (t < c->ttl_min)
        t = c->ttl_min;
    if (t > c->ttl_max)
        t = c->ttl_max;
    return t;
}

/* WIRE.md §1.4 steps 2-7. Returns true if a TTL registration was stored. */
static bool rdv1__register(struct rdv_service *s, const struct peer_id *remote, double now,
                           const Rendezvous__Message__Register *req, bool ns_nul, struct buf *out)
{
    char text[160];
    size_t ns_len = req->ns ? strlen(req->ns) : 0;

    if (req->ns == NULL || ns_nul || registry_check_ns(&s->reg, req->ns, ns_len) != 0) {
        snprintf(text, sizeof text, "namespace must be 1 to %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        rdv1__register_reply(s, out, ST_NS, text, 0);
        return false;
    }
    if (!req->has_signedpeerrecord || req->signedpeerrecord.len == 0) {
        rdv1__register_reply(s, out, ST_RECORD, "no signed peer record", 0);
        return false;
    }
    struct peer_record rec;
    char err[128];
    if (record_open(&rec, req->signedpeerrecord.data, req->signedpeerrecord.len, err,
                    sizeof err) != 0) {
        snprintf(text, sizeof text, "invalid signed peer record: %s", err);
        rdv1__register_reply(s, out, ST_RECORD, text, 0);
        return false;
    }
    if (!peerid_eq(&rec.id, remote)) {
        peer_record_free(&rec);
        rdv1__register_reply(s, out, ST_AUTH, "signed peer record is not the sender's", 0);
        return false;
    }
    uint64_t ttl = req->has_ttl && req->ttl != 0 ? req->ttl : rdv1__default_ttl(&s->cfg);
    if (ttl < s->cfg.ttl_min || ttl > s->cfg.ttl_max) {
        peer_record_free(&rec);
        snprintf(text, sizeof text, "ttl must be between %" PRIu64 " and %" PRIu64 " seconds",
                 s->cfg.ttl_min, s->cfg.ttl_max);
        rdv1__register_reply(s, out, ST_TTL, text, 0);
        return false;
    }

    struct rdv_addr addrs[RECORD_MAX_ADDRS];
    for (size_t i = 0; i < rec.naddrs; i++) {
        addrs[i].bytes = rec.addrs[i].bytes;
        addrs[i].len = rec.addrs[i].len;
    }
    struct rdv_register r = {
        .ns = req->ns,
        .ns_len = ns_len,
        .peer = remote,
        .dialect = RDV_DIALECT_STANDARD,
        .addrs = addrs,
        .naddrs = rec.naddrs,
        .envelope = req->signedpeerrecord.data, /* stored as received */
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
        rdv1__register_reply(s, out, ST_OK, NULL, ttl);
        return true;
    case RDV_E_NAMESPACE:
        rdv1__register_reply(s, out, ST_NS, "invalid namespace", 0);
        break;
    case RDV_E_ADDRS:
        rdv1__register_reply(s, out, ST_RECORD, "too many or too long addresses in the record", 0);
        break;
    case RDV_E_TTL:
        rdv1__register_reply(s, out, ST_TTL, "ttl refused", 0);
        break;
    case RDV_E_PEER_LIMIT:
        rdv1__register_reply(s, out, ST_UNAVAILABLE, "too many registrations for this peer", 0);
        break;
    case RDV_E_TOTAL_LIMIT:
        rdv1__register_reply(s, out, ST_UNAVAILABLE, "registry is full", 0);
        break;
    default:
        rdv1__register_reply(s, out, ST_INTERNAL, "registration failed", 0);
        break;
    }
    return false;
}

static void rdv1__unregister(struct rdv_service *s, const struct peer_id *remote,
                             const Rendezvous__Message__Unregister *req, bool ns_nul)
{
    /* No answer exists, so a bad namespace is simply nothing to remove. */
    if (req == NULL || req->ns == NULL || ns_nul)
        return;
    size_t ns_len = strlen(req->ns);
    if (registry_check_ns(&s->reg, req->ns, ns_len) != 0)
        return;
    (void)registry_unregister(&s->reg, req->ns, ns_len, remote, NULL);
}

static void rdv1__discover(struct rdv_service *s, double now,
                           const Rendezvous__Message__Discover *req, bool ns_nul, struct buf *out)
{
    char text[160];
    const char *ns = req && req->ns && req->ns[0] ? req->ns : NULL; /* "" = all, as go does */
    size_t ns_len = ns ? strlen(ns) : 0;

    if (ns_nul || (ns && registry_check_ns(&s->reg, ns, ns_len) != 0)) {
        snprintf(text, sizeof text, "namespace must be at most %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        rdv1__discover_error(s, out, ST_NS, text);
        return;
    }
    uint64_t after = 0;
    bool has_cookie = req && req->has_cookie && req->cookie.len > 0;
    if (has_cookie) {
        enum cookie_result cr = cookie_decode(req->cookie.data, req->cookie.len, ns, ns_len,
                                              registry_last_seq(&s->reg), &after);
        if (cr != COOKIE_OK) {
            rdv1__discover_error(s, out, ST_COOKIE, cookie_result_text(cr));
            return;
        }
    }
    uint64_t limit = req && req->has_limit && req->limit != 0 ? req->limit
                                                              : s->cfg.discover_default;
    if (limit > s->cfg.discover_max)
        limit = s->cfg.discover_max;
    if (limit == 0)
        limit = 1;

    /* A namespace nobody ever registered in has nothing to list (NULL would
     * mean all namespaces to registry_list). */
    const struct rdv_ns *nsp = ns ? registry_ns(&s->reg, ns, ns_len) : NULL;
    const struct rdv_reg **regs = xcalloc((size_t)limit, sizeof *regs);
    size_t count = (ns && nsp == NULL) ? 0 : registry_list(&s->reg, nsp, after, true, regs,
                                                          (size_t)limit);

    Rendezvous__Message__Register *items = count ? xcalloc(count, sizeof *items) : NULL;
    Rendezvous__Message__Register **ptrs = count ? xcalloc(count, sizeof *ptrs) : NULL;
    size_t used = RDV1_RESPONSE_OVERHEAD, n = 0;
    for (; n < count; n++) {
        const struct rdv_reg *r = regs[n];
        Rendezvous__Message__Register *it = &items[n];
        rendezvous__message__register__init(it);
        it->ns = r->ns->name; /* only read by pack */
        it->has_signedpeerrecord = 1;
        it->signedpeerrecord.data = r->envelope;
        it->signedpeerrecord.len = r->envelope_len;
        it->has_ttl = 1;
        it->ttl = rdv1__ttl_left(s, r, now);
        size_t sz = protobuf_c_message_get_packed_size(&it->base);
        sz += 1 + 5; /* field tag and length of the entry */
        if (used + sz > RDV1_MAX_RESPONSE)
            break; /* the cookie then continues from the last one included */
        used += sz;
        ptrs[n] = it;
    }
    /* Everything there was fitted: continue from the newest seq issued;
     * otherwise from the last registration included. */
    uint64_t next = (n == count && count < limit) ? registry_last_seq(&s->reg)
                                                  : (n ? regs[n - 1]->seq : after);
    uint8_t cookie[COOKIE_MAX];
    size_t clen = cookie_encode(cookie, next, ns, ns_len);

    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__DiscoverResponse dr = RENDEZVOUS__MESSAGE__DISCOVER_RESPONSE__INIT;
    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    dr.has_status = 1;
    dr.status = ST_OK;
    dr.has_cookie = 1;
    dr.cookie.data = cookie;
    dr.cookie.len = clen;
    dr.n_registrations = n;
    dr.registrations = ptrs;
    rdv1__frame(out, &m);
    free(ptrs);
    free(items);
    free(regs);
}

/* Handles one request message from `remote`, appending the framed answer
 * (if the request has one) to out. Returns -1 if msg is not a request of
 * this protocol (the caller resets the stream), else 0; *added is set when
 * a TTL registration was stored (the expiry timer may need to move). */
static int rdv1_handle(struct rdv_service *s, const struct peer_id *remote, double now,
                       const uint8_t *msg, size_t len, struct buf *out, bool *added)
{
    double t0 = ev_time();
    uint64_t errors0 = s->stats.errors[RDV_DIALECT_STANDARD];
    *added = false;
    Rendezvous__Message *m = rendezvous__message__unpack(NULL, len, msg);
    if (m == NULL)
        return -1;
    /* proto3 senders omit type 0, which is REGISTER. */
    int type = m->has_type ? (int)m->type : RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
    int rc = 0;
    switch (type) {
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER:
        if (m->register_ == NULL) {
            rc = -1;
            break;
        }
        s->stats.requests[RDV_DIALECT_STANDARD][type]++;
        *added = rdv1__register(s, remote, now, m->register_,
                                rdv_wire_string_has_nul(msg, len, RDV1_F_REGISTER, RDV1_F_NS), out);
        break;
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__UNREGISTER:
        s->stats.requests[RDV_DIALECT_STANDARD][type]++;
        rdv1__unregister(s, remote, m->unregister,
                         rdv_wire_string_has_nul(msg, len, RDV1_F_UNREGISTER, RDV1_F_NS));
        break;
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER:
        s->stats.requests[RDV_DIALECT_STANDARD][type]++;
        rdv1__discover(s, now, m->discover,
                       rdv_wire_string_has_nul(msg, len, RDV1_F_DISCOVER, RDV1_F_NS), out);
        break;
    default:
        rc = -1; /* a response, or a type this protocol does not have */
        break;
    }
    if (rc == 0)
        rdv_stats_request(&s->stats, RDV_DIALECT_STANDARD, type, errors0, t0);
    rendezvous__message__free_unpacked(m, NULL);
    return rc;
}

/* ---- the stream ---------------------------------------------------------- */

static bool rdv1__writable(const struct stream *st)
{
    return st->ys != NULL && !st->ys->reset && !st->ys->local_fin;
}

static int rdv1_open(struct stream *st)
{
    struct rdv_service *s = st->proto->arg;
    struct rdv1_stream *rs = xcalloc(1, sizeof *rs);
    rs->svc = s;
    lpm_init(&rs->in, s->cfg.max_message);
    st->state = rs;
    s->stats.sessions_open[RDV_DIALECT_STANDARD]++;
    return 0;
}

static void rdv1_data(struct stream *st, const uint8_t *d, size_t n)
{
    struct rdv1_stream *rs = st->state;
    struct rdv_service *s = rs->svc;
    struct buf out = BUF_INIT;
    const uint8_t *msg;
    size_t len;
    int rc;

    lpm_push(&rs->in, d, n);
    while (rdv1__writable(st) && (rc = lpm_next(&rs->in, &msg, &len)) != 0) {
        bool added;
        if (rc < 0 || rdv1_handle(s, &stream_conn(st)->remote, rdv_service_now(s), msg, len,
                                  &out, &added) != 0) {
            LOGD(s->log, "%s from %s: not a rendezvous request, resetting the stream",
                 RDV1_PROTOCOL_ID, stream_conn(st)->remote_text);
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

/* The client is done asking; everything has been answered already. A
 * request cut off by the FIN is an error. */
static void rdv1_eof(struct stream *st)
{
    struct rdv1_stream *rs = st->state;
    if (buf_size(&rs->in.in) != 0)
        stream_reset(st);
    else
        stream_close(st);
}

static void rdv1_close(struct stream *st)
{
    struct rdv1_stream *rs = st->state;
    if (rs == NULL)
        return;
    rs->svc->stats.sessions_open[RDV_DIALECT_STANDARD]--;
    lpm_free(&rs->in);
    free(rs);
    st->state = NULL;
}

void rdv1_init(struct rdv_service *s)
{
    s->rdv1 = (struct protocol){
        .id = RDV1_PROTOCOL_ID,
        .on_open = rdv1_open,
        .on_data = rdv1_data,
        .on_eof = rdv1_eof,
        .on_close = rdv1_close,
        .arg = s,
    };
}
