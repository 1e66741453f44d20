/* /vac/waku/rendezvous/0.0.1 (go-waku-rendezvous, seed 004, LANDSCAPE.md
 * WK0): the rendezvous idea with short TTLs, no UNREGISTER, no cookies, and
 * its own numbering (DISCOVER = 2, DISCOVER_RESPONSE = 3, Message.discover
 * = 4, discoverResponse = 5). The original is proto3, so zero values are
 * omitted on the wire: an absent type is REGISTER, absent numbers are 0.
 *
 * Same stream model as rdv1.c, and the same REGISTER and DISCOVER answer
 * building (records.c): many requests per stream, answered in order; FIN is
 * answered with FIN; something that is not a Waku request resets the stream.
 * This file is the Waku wire format and policy.
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rendezvous/cookie.h"
#include "rendezvous/records.h"
#include "rendezvous/service.h"
#include "rendezvous/waku.h"
#include "waku.pb-c.h"

#define WAKU_RESPONSE_OVERHEAD 64

#define WST_OK WAKU__MESSAGE__RESPONSE_STATUS__OK
#define WST_NS WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE
#define WST_RECORD WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER_INFO
#define WST_TTL WAKU__MESSAGE__RESPONSE_STATUS__E_INVALID_TTL
#define WST_AUTH WAKU__MESSAGE__RESPONSE_STATUS__E_NOT_AUTHORIZED
#define WST_INTERNAL WAKU__MESSAGE__RESPONSE_STATUS__E_INTERNAL_ERROR
#define WST_UNAVAILABLE WAKU__MESSAGE__RESPONSE_STATUS__E_UNAVAILABLE

/* records_register reports in these numbers. */
_Static_assert(WST_OK == (int)RECORDS_OK && WST_NS == (int)RECORDS_E_NAMESPACE &&
               WST_RECORD == (int)RECORDS_E_RECORD && WST_TTL == (int)RECORDS_E_TTL &&
               WST_AUTH == (int)RECORDS_E_AUTH && WST_INTERNAL == (int)RECORDS_E_INTERNAL &&
               WST_UNAVAILABLE == (int)RECORDS_E_UNAVAILABLE,
               "waku.proto ResponseStatus differs from enum records_status");

/* Message field numbers (for rdv_wire_string_has_nul). */
enum { WAKU_F_REGISTER = 2, WAKU_F_DISCOVER = 4, WAKU_F_NS = 1 };

/* ---- answers ------------------------------------------------------------- */

/* int64 on this wire; TTLs never come near its top, but stay in range. */
static int64_t waku__seconds(uint64_t secs)
{
    return secs > INT64_MAX ? INT64_MAX : (int64_t)secs;
}

static void waku__register_reply(struct records_req *rq, const struct records_answer *a)
{
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__RegisterResponse rr = WAKU__MESSAGE__REGISTER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE;
    m.registerresponse = &rr;
    rq->log.status = (int)a->status;
    rr.has_status = 1;
    rr.status = (Waku__Message__ResponseStatus)a->status;
    if (a->status == RECORDS_OK) {
        rr.has_ttl = 1;
        rr.ttl = waku__seconds(a->ttl);
    } else {
        rr.statustext = (char *)a->text; /* only read by pack */
        rq->svc->stats.errors[RDV_DIALECT_WAKU]++;
    }
    records_frame(rq->out, &m.base, 0);
}

/* An OK answer carries the page's entries; an error status and text. */
static void waku__discover_reply(struct records_req *rq, Waku__Message__ResponseStatus status,
                                 const char *text, const struct records_page *p)
{
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__DiscoverResponse dr = WAKU__MESSAGE__DISCOVER_RESPONSE__INIT;

    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE;
    m.discoverresponse = &dr;
    rq->log.status = (int)status;
    dr.has_status = 1;
    dr.status = status;
    if (status == WST_OK) {
        dr.n_registrations = p->n;
        dr.registrations = p->ptrs;
    } else {
        dr.statustext = (char *)text; /* only read by pack */
        rq->svc->stats.errors[RDV_DIALECT_WAKU]++;
    }
    /* The page's bound covers an OK answer (WAKU_RESPONSE_OVERHEAD). */
    records_frame(rq->out, &m.base, status == WST_OK ? p->bound : 0);
}

static ProtobufCMessage *waku__entry(struct records_page *p, size_t i, const struct rdv_reg *r,
                                     uint64_t ttl)
{
    Waku__Message__Register *it = (Waku__Message__Register *)p->items + i;
    waku__message__register__init(it);
    it->ns = r->ns->name; /* only read by pack */
    it->has_signedpeerrecord = 1;
    it->signedpeerrecord.data = r->envelope;
    it->signedpeerrecord.len = r->envelope_len;
    it->has_ttl = 1;
    it->ttl = waku__seconds(ttl);
    ((Waku__Message__Register **)p->ptrs)[i] = it;
    return &it->base;
}

/* ---- requests ------------------------------------------------------------ */

static void waku__register(struct records_req *rq, const Waku__Message__Register *req, bool ns_nul)
{
    const struct rdv_config *c = &rq->svc->cfg;
    int64_t want = req->has_ttl ? req->ttl : 0;
    /* No minimum: any TTL from 1 up is fine; the default fits under the
     * maximum even if configured above it. */
    uint64_t dflt = c->waku_ttl_default < c->waku_ttl_max ? c->waku_ttl_default : c->waku_ttl_max;
    records_note_ns(rq, req->ns);
    struct records_register q = {
        .ns = req->ns,
        .ns_nul = ns_nul,
        .envelope = req->has_signedpeerrecord ? req->signedpeerrecord.data : NULL,
        .envelope_len = req->has_signedpeerrecord ? req->signedpeerrecord.len : 0,
        .ttl = {.want = want > 0 ? (uint64_t)want : 0, .negative = want < 0,
                .dflt = dflt ? dflt : 1, .min = 1, .max = c->waku_ttl_max},
    };
    struct records_answer a;
    records_register(rq, &q, &a);
    waku__register_reply(rq, &a);
}

static void waku__discover(struct records_req *rq, const Waku__Message__Discover *req, bool ns_nul)
{
    struct rdv_service *s = rq->svc;
    char text[160];
    const char *ns = req ? req->ns : NULL;
    size_t ns_len = ns ? strlen(ns) : 0;

    records_note_ns(rq, ns);
    if (!rdv_service_admit(s)) {
        waku__discover_reply(rq, WST_UNAVAILABLE, RDV_MEMORY_FULL_TEXT, NULL);
        return;
    }
    if (ns == NULL || ns_nul || registry_check_ns(&s->reg, ns, ns_len) != 0) {
        snprintf(text, sizeof text, "namespace must be 1 to %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        waku__discover_reply(rq, WST_NS, text, NULL);
        return;
    }
    if (!rdv_service_allows(s, RDV_DIALECT_WAKU, RDV_ACTION_DISCOVER, ns, ns_len, rq->remote)) {
        waku__discover_reply(rq, WST_AUTH, "not authorized to discover in this namespace", NULL);
        return;
    }
    uint64_t limit = s->cfg.waku_discover_max;
    if (req->has_limit && req->limit > 0 && (uint64_t)req->limit < limit)
        limit = (uint64_t)req->limit;
    if (limit == 0)
        limit = 1;

    const struct rdv_ns *nsp = registry_ns(&s->reg, ns, ns_len);
    struct records_page p;
    records_page_init(&p, limit, rq->arena);
    if (nsp)
        p.count = registry_sample(&s->reg, nsp, p.regs, (size_t)limit);
    /* a sample has no order: when the cap cuts it, fewer is as good */
    records_page_build(&p, waku__entry, sizeof(Waku__Message__Register), rq->now,
                       s->cfg.waku_ttl_max, WAKU_RESPONSE_OVERHEAD);
    waku__discover_reply(rq, WST_OK, NULL, &p);
}

/* One request (records_dialect.request). */
static int waku__request(struct records_req *rq, const uint8_t *msg, size_t len)
{
    /* Decoded into the request's arena: released with it, no free_unpacked. */
    Waku__Message *m = waku__message__unpack(&rq->arena->pb, len, msg);
    if (m == NULL)
        return -1;
    int type = m->has_type ? (int)m->type : WAKU__MESSAGE__MESSAGE_TYPE__REGISTER;
    switch (type) {
    case WAKU__MESSAGE__MESSAGE_TYPE__REGISTER:
        if (m->register_ == NULL) {
            type = -1;
            break;
        }
        waku__register(rq, m->register_,
                       rdv_wire_string_has_nul(msg, len, WAKU_F_REGISTER, WAKU_F_NS));
        break;
    case WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER:
        waku__discover(rq, m->discover,
                       rdv_wire_string_has_nul(msg, len, WAKU_F_DISCOVER, WAKU_F_NS));
        break;
    default:
        type = -1;
        break;
    }
    return type;
}

const struct records_dialect waku_dialect = {
    .dialect = RDV_DIALECT_WAKU,
    .name = "Waku rendezvous",
    .types = &waku__message__message_type__descriptor,
    .statuses = &waku__message__response_status__descriptor,
    .request = waku__request,
    .register_reply = waku__register_reply,
};

static int waku_open(struct stream *st) { return records_open(st, &waku_dialect); }

void waku_init(struct rdv_service *s)
{
    for (size_t i = 0; i < s->cfg.waku_ids.n; i++)
        records_protocol(&s->waku[i], s, s->cfg.waku_ids.id[i], waku_open);
}
