#include "rendezvous/records.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lpm.h"
#include "base/varint.h"
#include "base/mem.h"
#include "crypto/record.h"

/* ---- requests ------------------------------------------------------------ */

int records_handle(const struct records_dialect *d, struct rdv_service *s,
                   const struct peer_id *remote, double now, const uint8_t *msg, size_t len,
                   struct buf *out, bool *added)
{
    double t0 = ev_time();
    uint64_t errors0 = s->stats.errors[d->dialect];
    /* Most requests decode, and most pages build, within this: no malloc. */
    alignas(max_align_t) uint8_t mem[RECORDS_ARENA_BYTES];
    struct arena arena;
    arena_init(&arena, mem, sizeof mem);
    struct records_req rq = {
        .svc = s, .dialect = d->dialect, .remote = remote, .now = now, .out = out,
        .arena = &arena, .log = {.status = -1},
    };
    int type = d->request(&rq, msg, len);
    arena_free(&arena);
    *added = rq.added;
    if (log_enabled(s->log, LOG_DEBUG)) {
        const ProtobufCEnumValue *tv = type >= 0 ? protobuf_c_enum_descriptor_get_value(d->types, type) : NULL;
        const ProtobufCEnumValue *sv = rq.log.status >= 0
            ? protobuf_c_enum_descriptor_get_value(d->statuses, rq.log.status) : NULL;
        rq.log.type = tv ? tv->name : NULL;
        rq.log.status_name = sv ? sv->name : NULL;
        rdv_request_log_write(s, d->dialect, &rq.log, remote, t0);
    }
    if (type < 0)
        return -1;
    s->stats.requests[d->dialect][type]++;
    rdv_stats_request(&s->stats, d->dialect, type, errors0, t0);
    return 0;
}

void records_note_ns(struct records_req *rq, const char *ns)
{
    if (ns != NULL && log_enabled(rq->svc->log, LOG_DEBUG))
        rdv_request_log_ns(&rq->log, rq->svc, ns, strlen(ns));
}

/* ---- the stream ---------------------------------------------------------- *
 * Many requests per stream, answered in order. A request is answered only
 * while the stream has room for output (stream_writable): the rest wait in
 * the reader, withheld from the peer's window, until on_writable - so a peer
 * that pipelines requests without reading the answers stops itself, and what
 * it makes us hold is its window of requests, not their answers. When the
 * client half-closes we close too once everything is answered. Something
 * that is not a request of the dialect resets the stream. */

struct records_stream {
    struct rdv_service *svc;
    const struct records_dialect *d;
    struct lpm in;
    bool eof;                 /* the client is done asking */
    /* With a durable store (svc->durable), an OK to a REGISTER must not
     * reach the client before its registration is on disk: it is held until
     * the commit of this loop iteration, and the answers after it wait
     * behind it, in order. Held bytes count as written against the room
     * stream_writable gives. */
    struct rdv_waiter wait;
    struct stream *st;
    struct buf held;
    struct records_span {
        size_t off, len;
        uint64_t ticket;      /* cluster mode: the write behind it */
    } *oks;                   /* where the held OKs are in held */
    size_t noks, oks_cap;
};

static void records__serve(struct stream *st);

/* Appends out to the held answers; ok: it is an OK to a REGISTER whose
 * change the next commit writes. */
static void records__hold(struct records_stream *rs, const struct buf *out, bool ok)
{
    if (ok) {
        if (rs->noks == rs->oks_cap) {
            rs->oks_cap = rs->oks_cap ? rs->oks_cap * 2 : 4;
            rs->oks = xrealloc(rs->oks, rs->oks_cap * sizeof *rs->oks);
        }
        rs->oks[rs->noks++] = (struct records_span){buf_size(&rs->held), buf_size(out),
                                                    rs->svc->write_ticket};
    }
    buf_append(&rs->held, buf_head(out), buf_size(out));
    rdv_service_wait(rs->svc, &rs->wait);
}

static void records__registry_refused(struct records_answer *a, enum rdv_status st);

/* The commit is done: the held answers go out - each held OK replaced by
 * E_UNAVAILABLE if the commit failed - and serving goes on. */
static void records__release(struct rdv_waiter *w, bool committed)
{
    struct records_stream *rs = (struct records_stream *)((char *)w - offsetof(struct records_stream, wait));
    struct buf out = BUF_INIT;
    const uint8_t *h = buf_head(&rs->held);
    size_t off = 0;

    struct rdv_service *s = rs->svc;
    if (!committed || rdv_service_clustered(s)) {
        struct records_req rq = {.svc = s, .dialect = rs->d->dialect, .out = &out};
        for (size_t i = 0; i < rs->noks; i++) {
            struct records_answer a = {.status = RECORDS_E_UNAVAILABLE,
                                       .text = "the registration could not be stored; try again later"};
            enum rdv_status st = RDV_E_UNAVAILABLE;
            if (committed && (st = s->writes.outcome(s->writes.ctx, rs->oks[i].ticket)) == RDV_OK)
                continue; /* Redis took it: the OK stands */
            if (rdv_service_clustered(s))
                records__registry_refused(&a, st);
            buf_append(&out, h + off, rs->oks[i].off - off);
            rs->d->register_reply(&rq, &a);
            off = rs->oks[i].off + rs->oks[i].len;
        }
    }
    buf_append(&out, h + off, buf_size(&rs->held) - off);
    buf_reset(&rs->held);
    rs->noks = 0;
    if (buf_size(&out))
        stream_write(rs->st, buf_head(&out), buf_size(&out));
    buf_free(&out);
    records__serve(rs->st);
}

/* Room for answers: what the stream takes, less what is held. */
static size_t records__room(const struct records_stream *rs, const struct stream *st)
{
    size_t w = stream_writable(st);
    return w > buf_size(&rs->held) ? w - buf_size(&rs->held) : 0;
}

int records_open(struct stream *st, const struct records_dialect *d)
{
    struct rdv_service *s = st->proto->arg;
    struct records_stream *rs = xcalloc(1, sizeof *rs);
    rs->svc = s;
    rs->d = d;
    rs->st = st;
    rs->wait.release = records__release;
    lpm_init(&rs->in, s->cfg.max_message);
    st->state = rs;
    s->stats.sessions_open[d->dialect]++;
    return 0;
}

/* Answers the requests received so far while the stream has room. */
static void records__serve(struct stream *st)
{
    struct records_stream *rs = st->state;
    struct rdv_service *s = rs->svc;
    struct buf out = BUF_INIT;
    const uint8_t *msg;
    size_t len;
    int rc;

    /* While answers wait for the commit under way, the next ones would wait
     * for the one after: they are served once those are released. */
    while (rs->wait.list != &s->committing && records__room(rs, st) > 0 &&
           (rc = lpm_next(&rs->in, &msg, &len)) != 0) {
        bool added;
        if (rc < 0 || records_handle(rs->d, s, conn_peer(stream_conn(st)), rdv_service_now(s), msg,
                                     len, &out, &added) != 0) {
            LOGD(s->log, "%s from %s: not a %s request, resetting the stream", st->proto->id,
                 CONN_PEER_TEXT(stream_conn(st)), rs->d->name);
            stream_reset(st);
            break;
        }
        if (added)
            rdv_service_schedule_expiry(s);
        if (buf_size(&out)) {
            bool ok = added && s->durable;
            if (ok || rs->wait.list != NULL)
                records__hold(rs, &out, ok);
            else
                stream_write(st, buf_head(&out), buf_size(&out));
            buf_reset(&out);
        }
    }
    buf_free(&out);
    /* A request cut off by the FIN is an error; held answers go first. */
    if (rs->eof && rs->in.whole == 0 && rs->wait.list == NULL) {
        if (buf_size(&rs->in.in) != 0 || rs->in.bad)
            stream_reset(st);
        else
            stream_close(st);
    }
    stream_hold_input(st, buf_size(&rs->in.in), rs->in.whole);
}

static void records__data(struct stream *st, const uint8_t *d, size_t n)
{
    struct records_stream *rs = st->state;
    lpm_push(&rs->in, d, n);
    records__serve(st);
}

static void records__eof(struct stream *st)
{
    struct records_stream *rs = st->state;
    rs->eof = true;
    records__serve(st);
}

static void records__close(struct stream *st)
{
    struct records_stream *rs = st->state;
    if (rs == NULL)
        return;
    rs->svc->stats.sessions_open[rs->d->dialect]--;
    rdv_service_unwait(rs->svc, &rs->wait);
    buf_free(&rs->held);
    free(rs->oks);
    lpm_free(&rs->in);
    free(rs);
    st->state = NULL;
}

void records_protocol(struct protocol *p, struct rdv_service *s, const char *id,
                      int (*on_open)(struct stream *st))
{
    *p = (struct protocol){
        .id = id,
        .on_open = on_open,
        .on_data = records__data,
        .on_eof = records__eof,
        .on_writable = records__serve,
        .on_close = records__close,
        .arg = s,
    };
}

/* ---- REGISTER ------------------------------------------------------------ */

static void records__refuse(struct records_answer *a, enum records_status st, const char *text)
{
    a->status = st;
    a->ttl = 0;
    a->text = text;
}

/* The registration the registry already holds for (peer, ns) if its signed
 * record is byte for byte the one in q, else NULL. Clients refresh by
 * re-sending the same envelope, and verifying it again (Ed25519) was most of
 * the time spent on such a REGISTER. Skipping it proves nothing less: only
 * records_register stores envelopes, so the stored copy passed record_open
 * and was bound to this same authenticated peer when it was stored, and
 * identical bytes verify identically, so its addresses are exactly what a
 * new record_open would return. Different bytes, even by one, are verified
 * in full. */
static const struct rdv_reg *records__same_record(const struct rdv_service *s,
                                                  const struct peer_id *peer,
                                                  const struct records_register *q, size_t ns_len)
{
    const struct rdv_reg *old = registry_find(&s->reg, q->ns, ns_len, peer);
    if (old == NULL || old->envelope == NULL || old->envelope_len != q->envelope_len ||
        memcmp(old->envelope, q->envelope, q->envelope_len) != 0)
        return NULL;
    return old;
}

/* How the registry's refusals are answered (anything else: E_INTERNAL). */
static const struct {
    enum records_status status;
    const char *text;
} records__refusals[] = {
    [RDV_E_NAMESPACE] = {RECORDS_E_NAMESPACE, "invalid namespace"},
    [RDV_E_ADDRS] = {RECORDS_E_RECORD, "too many or too long addresses in the record"},
    [RDV_E_TTL] = {RECORDS_E_TTL, "ttl refused"},
    [RDV_E_PEER_LIMIT] = {RECORDS_E_UNAVAILABLE, "too many registrations for this peer"},
    [RDV_E_TOTAL_LIMIT] = {RECORDS_E_UNAVAILABLE, "registry is full"},
    [RDV_E_RATE_LIMIT] = {RECORDS_E_UNAVAILABLE,
                          "registration changes too frequent for this peer, retry later"},
    [RDV_E_UNAVAILABLE] = {RECORDS_E_UNAVAILABLE,
                           "the cluster's registry is unreachable; try again later"},
};

static void records__registry_refused(struct records_answer *a, enum rdv_status st)
{
    size_t i = (size_t)st;
    if (i < sizeof records__refusals / sizeof *records__refusals && records__refusals[i].text)
        records__refuse(a, records__refusals[i].status, records__refusals[i].text);
    else
        records__refuse(a, RECORDS_E_INTERNAL, "registration failed");
}

void records_register(struct records_req *rq, const struct records_register *q,
                      struct records_answer *a)
{
    struct rdv_service *s = rq->svc;
    size_t ns_len = q->ns ? strlen(q->ns) : 0;

    if (!rdv_service_admit(s)) {
        records__refuse(a, RECORDS_E_UNAVAILABLE, RDV_MEMORY_FULL_TEXT);
        return;
    }
    if (s->store_failing) { /* nothing could be made durable now */
        records__refuse(a, RECORDS_E_UNAVAILABLE, "registrations cannot be stored now; try again later");
        return;
    }

    if (q->ns == NULL || q->ns_nul || registry_check_ns(&s->reg, q->ns, ns_len) != 0) {
        snprintf(a->buf, sizeof a->buf, "namespace must be 1 to %zu bytes of UTF-8",
                 s->reg.limits.max_ns_len);
        records__refuse(a, RECORDS_E_NAMESPACE, a->buf);
        return;
    }
    if (!rdv_service_allows(s, rq->dialect, RDV_ACTION_REGISTER, q->ns, ns_len, rq->remote)) {
        records__refuse(a, RECORDS_E_AUTH, "not authorized to register in this namespace");
        return;
    }
    if (q->envelope == NULL || q->envelope_len == 0) {
        records__refuse(a, RECORDS_E_RECORD, "no signed peer record");
        return;
    }

    /* The addresses to store: the stored registration's, or those of the
     * record verified now (rec owns them until it is freed). */
    struct peer_record rec;
    bool opened = false;
    const struct rdv_addr *addrs;
    size_t naddrs;
    struct rdv_addr fresh[RECORD_MAX_ADDRS];
    const struct rdv_reg *old = records__same_record(s, rq->remote, q, ns_len);
    if (old) {
        /* registry_register copies these before it frees old */
        addrs = old->addrs;
        naddrs = old->naddrs;
    } else {
        char err[128];
        if (record_open(&rec, q->envelope, q->envelope_len, err, sizeof err) != 0) {
            snprintf(a->buf, sizeof a->buf, "invalid signed peer record: %s", err);
            records__refuse(a, RECORDS_E_RECORD, a->buf);
            return;
        }
        opened = true;
        if (!peerid_eq(&rec.id, rq->remote)) {
            peer_record_free(&rec);
            records__refuse(a, RECORDS_E_AUTH, "signed peer record is not the sender's");
            return;
        }
        for (size_t i = 0; i < rec.naddrs; i++) {
            fresh[i].bytes = rec.addrs[i].bytes;
            fresh[i].len = rec.addrs[i].len;
        }
        addrs = fresh;
        naddrs = rec.naddrs;
    }

    const struct records_ttl *t = &q->ttl;
    uint64_t ttl = t->want ? t->want : t->dflt;
    if (t->negative || ttl < t->min || ttl > t->max) {
        if (opened)
            peer_record_free(&rec);
        snprintf(a->buf, sizeof a->buf, "ttl must be between %" PRIu64 " and %" PRIu64 " seconds",
                 t->min, t->max);
        records__refuse(a, RECORDS_E_TTL, a->buf);
        return;
    }

    struct rdv_register r = {
        .ns = q->ns,
        .ns_len = ns_len,
        .peer = rq->remote,
        .dialect = rq->dialect,
        .addrs = addrs,
        .naddrs = naddrs,
        .envelope = q->envelope, /* stored as received */
        .envelope_len = q->envelope_len,
        .ttl = ttl,
        .owner = NULL,
        .now = rq->now,
    };
    enum rdv_status st = rdv_service_register(s, &r, &s->write_ticket);
    if (opened)
        peer_record_free(&rec);
    if (st != RDV_OK) {
        records__registry_refused(a, st);
        return;
    }
    *a = (struct records_answer){.status = RECORDS_OK, .ttl = ttl};
    rq->added = true;
}

/* ---- DISCOVER answers ---------------------------------------------------- */

/* Seconds left of r at now, rounded up and at least 1 (a registration due
 * but not yet reaped by the timer is still there for this answer). */
static uint64_t records__ttl_left(const struct rdv_reg *r, double now, uint64_t session_ttl)
{
    uint32_t ttl = registry_ttl(r);
    if (ttl == 0)
        return session_ttl; /* session-bound: no deadline to report */
    double left = registry_expires(r) - now;
    if (!(left > 1))
        return 1;
    uint64_t secs = (uint64_t)left;
    if ((double)secs < left)
        secs++;
    return secs < ttl ? secs : ttl;
}

/* n elements of size bytes from a, zeroed; n is at most discover_max. */
static void *records__zalloc(struct arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        abort();
    void *p = arena_alloc(a, n * size);
    return memset(p, 0, n * size);
}

void records_page_init(struct records_page *p, uint64_t limit, struct arena *a)
{
    *p = (struct records_page){.regs = records__zalloc(a, (size_t)limit, sizeof *p->regs), .arena = a};
}

void records_frame(struct buf *out, const ProtobufCMessage *m, size_t bound)
{
    if (bound == 0) {
        size_t len = protobuf_c_message_get_packed_size(m);
        buf_append_uvarint(out, len);
        buf_commit(out, protobuf_c_message_pack(m, buf_reserve(out, len)));
        return;
    }
    /* Packed after room for the longest prefix, then moved up to the real
     * one: a length prefix must be the shortest varint. */
    size_t room = uvarint_size(bound);
    uint8_t *at = buf_reserve(out, room + bound);
    size_t len = protobuf_c_message_pack(m, at + room);
    if (len > bound)
        abort(); /* a wrong bound has already written past the reservation */
    size_t n = uvarint_put(at, len);
    if (n < room)
        memmove(at + n, at + room, len);
    buf_commit(out, n + len);
}

void records_page_build(struct records_page *p, records_entry_fn *entry, size_t item_size,
                        double now, uint64_t session_ttl, size_t overhead)
{
    p->bound = overhead;
    if (p->count == 0)
        return;
    p->items = records__zalloc(p->arena, p->count, item_size);
    /* All pointers to structures share one representation, so this array
     * holds the dialect's Register pointers as well as any. */
    p->ptrs = records__zalloc(p->arena, p->count, sizeof(ProtobufCMessage *));
    size_t used = overhead;
    for (p->n = 0; p->n < p->count; p->n++) {
        const struct rdv_reg *r = p->regs[p->n];
        ProtobufCMessage *m = entry(p, p->n, r, records__ttl_left(r, now, session_ttl));
        size_t sz = protobuf_c_message_get_packed_size(m);
        sz += 1 + 5; /* field tag and length of the entry */
        if (used + sz > RECORDS_MAX_RESPONSE)
            break; /* the ones before it make the answer */
        used += sz;
    }
    p->bound = used;
}
