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
 * The stream, REGISTER and the building of DISCOVER answers are shared with
 * the Waku dialect (records.c); this file is the wire format and the policy.
 * records_handle(&rdv1_dialect, ...) is the whole protocol minus the stream,
 * so the fuzz target (which #includes this file) drives it without a host. */
#include <stdbool.h>
#include <string.h>

#include "rendezvous.pb-c.h"
#include "rendezvous/cookie.h"
#include "rendezvous/rdv1.h"
#include "rendezvous/records.h"
#include "rendezvous/service.h"

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

/* records_register reports in these numbers. */
_Static_assert(ST_OK == (int)RECORDS_OK && ST_NS == (int)RECORDS_E_NAMESPACE &&
               ST_RECORD == (int)RECORDS_E_RECORD && ST_TTL == (int)RECORDS_E_TTL &&
               ST_AUTH == (int)RECORDS_E_AUTH && ST_INTERNAL == (int)RECORDS_E_INTERNAL &&
               ST_UNAVAILABLE == (int)RECORDS_E_UNAVAILABLE,
               "rendezvous.proto ResponseStatus differs from enum records_status");

/* Message field numbers (for rdv_wire_string_has_nul). */
enum { RDV1_F_REGISTER = 2, RDV1_F_UNREGISTER = 4, RDV1_F_DISCOVER = 5, RDV1_F_NS = 1 };

/* ---- answers ------------------------------------------------------------- */

static void rdv1__register_reply(struct records_req *rq, const struct records_answer *a)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__RegisterResponse rr = RENDEZVOUS__MESSAGE__REGISTER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE;
    m.registerresponse = &rr;
    rq->log.status = (int)a->status;
    rr.has_status = 1; /* written even when OK: rust requires it */
    rr.status = (Rendezvous__Message__ResponseStatus)a->status;
    if (a->status == RECORDS_OK) {
        rr.has_ttl = 1;
        rr.ttl = a->ttl;
    } else {
        rr.statustext = (char *)a->text; /* only read by pack */
        rq->svc->stats.errors[RDV_DIALECT_STANDARD]++;
    }
    records_frame(rq->out, &m.base, 0);
}

/* An OK answer carries the page's entries and a cookie; an error only
 * status and text. */
static void rdv1__discover_reply(struct records_req *rq, Rendezvous__Message__ResponseStatus status,
                                 const char *text, const struct records_page *p,
                                 const uint8_t *cookie, size_t clen)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__DiscoverResponse dr = RENDEZVOUS__MESSAGE__DISCOVER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    rq->log.status = (int)status;
    dr.has_status = 1;
    dr.status = status;
    if (status == ST_OK) {
        dr.has_cookie = 1;
        dr.cookie.data = (uint8_t *)cookie; /* only read by pack */
        dr.cookie.len = clen;
        dr.n_registrations = p->n;
        dr.registrations = p->ptrs;
    } else {
        dr.statustext = (char *)text;
        rq->svc->stats.errors[RDV_DIALECT_STANDARD]++;
    }
    /* The page's bound covers an OK answer (RDV1_RESPONSE_OVERHEAD). */
    records_frame(rq->out, &m.base, status == ST_OK ? p->bound : 0);
}

static ProtobufCMessage *rdv1__entry(struct records_page *p, size_t i, const struct rdv_reg *r,
                                     uint64_t ttl)
{
    Rendezvous__Message__Register *it = (Rendezvous__Message__Register *)p->items + i;
    rendezvous__message__register__init(it);
    it->ns = r->ns->name; /* only read by pack */
    it->has_signedpeerrecord = 1;
    it->signedpeerrecord.data = r->envelope;
    it->signedpeerrecord.len = r->envelope_len;
    it->has_ttl = 1;
    it->ttl = ttl;
    ((Rendezvous__Message__Register **)p->ptrs)[i] = it;
    return &it->base;
}

/* ---- requests ------------------------------------------------------------ */

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

static void rdv1__register(struct records_req *rq, const Rendezvous__Message__Register *req,
                           bool ns_nul)
{
    const struct rdv_config *c = &rq->svc->cfg;
    records_note_ns(rq, req->ns);
    struct records_register q = {
        .ns = req->ns,
        .ns_nul = ns_nul,
        .envelope = req->has_signedpeerrecord ? req->signedpeerrecord.data : NULL,
        .envelope_len = req->has_signedpeerrecord ? req->signedpeerrecord.len : 0,
        .ttl = {.want = req->has_ttl ? req->ttl : 0, .dflt = rdv1__default_ttl(c),
                .min = c->ttl_min, .max = c->ttl_max},
    };
    struct records_answer a;
    records_register(rq, &q, &a);
    rdv1__register_reply(rq, &a);
}

static void rdv1__unregister(struct records_req *rq, const Rendezvous__Message__Unregister *req,
                             bool ns_nul)
{
    struct registry *reg = &rq->svc->reg;
    /* No answer exists, so a bad namespace is simply nothing to remove. */
    if (req == NULL || req->ns == NULL || ns_nul)
        return;
    records_note_ns(rq, req->ns);
    size_t ns_len = strlen(req->ns);
    if (registry_check_ns(reg, req->ns, ns_len) != 0)
        return;
    rdv_service_unregister(rq->svc, req->ns, ns_len, rq->remote);
}

static void rdv1__discover(struct records_req *rq, const Rendezvous__Message__Discover *req,
                           bool ns_nul)
{
    struct rdv_service *s = rq->svc;
    char text[160];
    const char *ns = req && req->ns && req->ns[0] ? req->ns : NULL; /* "" = all, as go does */
    size_t ns_len = ns ? strlen(ns) : 0;

    records_note_ns(rq, ns);
    if (!rdv_service_admit(s)) {
        rdv1__discover_reply(rq, ST_UNAVAILABLE, RDV_MEMORY_FULL_TEXT, NULL, NULL, 0);
        return;
    }
    if (ns_nul || (ns && registry_check_ns(&s->reg, ns, ns_len) != 0)) {
        snprintf(text, sizeof text, "namespace must be at most %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        rdv1__discover_reply(rq, ST_NS, text, NULL, NULL, 0);
        return;
    }
    if (!rdv_service_allows(s, RDV_DIALECT_STANDARD, RDV_ACTION_DISCOVER, ns ? ns : "", ns_len,
                            rq->remote)) {
        rdv1__discover_reply(rq, ST_AUTH,
                             ns ? "not authorized to discover in this namespace"
                                : "not authorized to discover every namespace",
                             NULL, NULL, 0);
        return;
    }
    uint64_t after = 0;
    bool has_cookie = req && req->has_cookie && req->cookie.len > 0;
    if (has_cookie) {
        enum cookie_result cr = cookie_decode(req->cookie.data, req->cookie.len, ns, ns_len,
                                              rdv_service_cookie_bound(s), &after);
        if (cr != COOKIE_OK) {
            rdv1__discover_reply(rq, ST_COOKIE, cookie_result_text(cr), NULL, NULL, 0);
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
    struct records_page p;
    records_page_init(&p, limit, rq->arena);
    if (!ns || nsp)
        p.count = registry_list(&s->reg, nsp, after, p.regs, (size_t)limit);
    records_page_build(&p, rdv1__entry, sizeof(Rendezvous__Message__Register), rq->now,
                       s->cfg.ttl_max, RDV1_RESPONSE_OVERHEAD);
    /* Everything there was fitted: continue from the newest seq issued;
     * otherwise from the last registration included. */
    uint64_t next = (p.n == p.count && p.count < limit) ? registry_last_seq(&s->reg)
                                                        : (p.n ? p.regs[p.n - 1]->seq : after);
    if (next < after)
        next = after; /* a cookie from a node further on: never page backwards */
    uint8_t cookie[COOKIE_MAX];
    size_t clen = cookie_encode(cookie, next, ns, ns_len);
    rdv1__discover_reply(rq, ST_OK, NULL, &p, cookie, clen);
}

/* One request (records_dialect.request). */
static int rdv1__request(struct records_req *rq, const uint8_t *msg, size_t len)
{
    /* Decoded into the request's arena: released with it, no free_unpacked. */
    Rendezvous__Message *m = rendezvous__message__unpack(&rq->arena->pb, len, msg);
    if (m == NULL)
        return -1;
    /* proto3 senders omit type 0, which is REGISTER. */
    int type = m->has_type ? (int)m->type : RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
    switch (type) {
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER:
        if (m->register_ == NULL) {
            type = -1;
            break;
        }
        rdv1__register(rq, m->register_,
                       rdv_wire_string_has_nul(msg, len, RDV1_F_REGISTER, RDV1_F_NS));
        break;
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__UNREGISTER:
        rdv1__unregister(rq, m->unregister,
                         rdv_wire_string_has_nul(msg, len, RDV1_F_UNREGISTER, RDV1_F_NS));
        break;
    case RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER:
        rdv1__discover(rq, m->discover,
                       rdv_wire_string_has_nul(msg, len, RDV1_F_DISCOVER, RDV1_F_NS));
        break;
    default:
        type = -1; /* a response, or a type this protocol does not have */
        break;
    }
    return type;
}

const struct records_dialect rdv1_dialect = {
    .dialect = RDV_DIALECT_STANDARD,
    .name = "rendezvous",
    .types = &rendezvous__message__message_type__descriptor,
    .statuses = &rendezvous__message__response_status__descriptor,
    .request = rdv1__request,
    .register_reply = rdv1__register_reply,
};

static int rdv1_open(struct stream *st) { return records_open(st, &rdv1_dialect); }

void rdv1_init(struct rdv_service *s)
{
    for (size_t i = 0; i < s->cfg.rdv1_ids.n; i++)
        records_protocol(&s->rdv1[i], s, s->cfg.rdv1_ids.id[i], rdv1_open);
}
