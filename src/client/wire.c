#include "client/wire.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The record cache's key is a whole signed record (a few hundred bytes);
 * its tail, the signature, is as good a hash input and a tenth of the work
 * (the key is still compared whole). */
#define WIRE_HASHED_TAIL 32
#define HASH_FUNCTION(keyptr, keylen, hashv)                                                      \
    HASH_JEN((const uint8_t *)(keyptr) + ((keylen) > WIRE_HASHED_TAIL ? (keylen) - WIRE_HASHED_TAIL : 0), \
             (keylen) > WIRE_HASHED_TAIL ? WIRE_HASHED_TAIL : (keylen), hashv)
#include <uthash.h>
#include <utlist.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "crypto/peerid.h"
#include "crypto/record.h"
#include "rendezvous.pb-c.h"
#include "waku.pb-c.h"

/* From the arena m if given, else from the heap. */
static void *wire__alloc(struct arena *m, size_t n) { return m ? arena_alloc(m, n) : xmalloc(n); }

static char *wire__strndup_in(struct arena *m, const void *d, size_t n)
{
    char *s = wire__alloc(m, n + 1);
    if (n)
        memcpy(s, d, n);
    s[n] = '\0';
    return s;
}

static char *wire__strndup(const void *d, size_t n) { return wire__strndup_in(NULL, d, n); }

/* A peer id as the server sent it, kept only if it parses. */
static char *wire__peer_text(const uint8_t *d, size_t n)
{
    struct peer_id id;
    if (d == NULL || n == 0 || n >= PEERID_TEXT_MAX || peerid_from_text(&id, (const char *)d, n) < 0)
        return wire__strndup("", 0);
    return wire__strndup(d, n);
}

/* Keeps the addresses that are valid multiaddrs (at most WIRE_MAX_ADDRS):
 * get(i) gives the i-th of n. */
struct wire__bin { const uint8_t *d; size_t n; };

static void wire__add_addrs_in(struct arena *m, struct wire_reg *r, const struct wire__bin *b, size_t n)
{
    char text[MULTIADDR_TEXT_MAX];
    if (n == 0)
        return;
    size_t cap = n < WIRE_MAX_ADDRS ? n : WIRE_MAX_ADDRS;
    r->addrs = wire__alloc(m, cap * sizeof(*r->addrs));
    for (size_t i = 0; i < n && r->naddrs < WIRE_MAX_ADDRS; i++) {
        int len = multiaddr_to_text(b[i].d, b[i].n, text, sizeof text);
        if (len >= 0)
            r->addrs[r->naddrs++] = wire__strndup_in(m, text, (size_t)len);
    }
}

static void wire__add_addrs(struct wire_reg *r, const struct wire__bin *b, size_t n)
{
    wire__add_addrs_in(NULL, r, b, n);
}

void wire_reg_free(struct wire_reg *r)
{
    for (size_t i = 0; i < r->naddrs; i++)
        free(r->addrs[i]);
    free(r->addrs);
    free(r->ns);
    free(r->peer_id);
    free(r->meta);
    memset(r, 0, sizeof(*r));
}

/* ---- standard and Waku ---------------------------------------------------- */

static void wire__request(const struct wire_request *rq, bool framed, struct buf *out)
{
    size_t len;
    if (rq->waku) {
        Waku__Message m = WAKU__MESSAGE__INIT;
        Waku__Message__Register reg = WAKU__MESSAGE__REGISTER__INIT;
        Waku__Message__Discover disc = WAKU__MESSAGE__DISCOVER__INIT;
        m.has_type = 1;
        if (rq->op == WIRE_REGISTER) {
            m.type = WAKU__MESSAGE__MESSAGE_TYPE__REGISTER;
            m.register_ = &reg;
            reg.ns = (char *)rq->ns;
            reg.has_signedpeerrecord = 1;
            reg.signedpeerrecord.data = (uint8_t *)rq->record;
            reg.signedpeerrecord.len = rq->record_len;
            reg.has_ttl = rq->ttl > 0;
            reg.ttl = rq->ttl > INT64_MAX ? INT64_MAX : (int64_t)rq->ttl;
        } else {
            m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER;
            m.discover = &disc;
            disc.ns = (char *)rq->ns;
            disc.has_limit = rq->limit > 0;
            disc.limit = rq->limit > INT64_MAX ? INT64_MAX : (int64_t)rq->limit;
        }
        len = waku__message__get_packed_size(&m);
        if (framed)
            buf_append_uvarint(out, len);
        buf_commit(out, waku__message__pack(&m, buf_reserve(out, len)));
        return;
    }
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Register reg = RENDEZVOUS__MESSAGE__REGISTER__INIT;
    Rendezvous__Message__Unregister unreg = RENDEZVOUS__MESSAGE__UNREGISTER__INIT;
    Rendezvous__Message__Discover disc = RENDEZVOUS__MESSAGE__DISCOVER__INIT;
    m.has_type = 1;
    switch (rq->op) {
    case WIRE_REGISTER:
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
        m.register_ = &reg;
        reg.ns = (char *)rq->ns;
        reg.has_signedpeerrecord = 1;
        reg.signedpeerrecord.data = (uint8_t *)rq->record;
        reg.signedpeerrecord.len = rq->record_len;
        reg.has_ttl = rq->ttl > 0;
        reg.ttl = rq->ttl;
        break;
    case WIRE_UNREGISTER:
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__UNREGISTER;
        m.unregister = &unreg;
        unreg.ns = (char *)rq->ns;
        break;
    case WIRE_DISCOVER:
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER;
        m.discover = &disc;
        disc.ns = (char *)rq->ns;
        disc.has_limit = rq->limit > 0;
        disc.limit = rq->limit;
        disc.has_cookie = rq->cookie != NULL;
        disc.cookie.data = (uint8_t *)rq->cookie;
        disc.cookie.len = rq->cookie_len;
        break;
    }
    len = rendezvous__message__get_packed_size(&m);
    if (framed)
        buf_append_uvarint(out, len);
    buf_commit(out, rendezvous__message__pack(&m, buf_reserve(out, len)));
}

void wire_request_encode(const struct wire_request *rq, struct buf *out)
{
    wire__request(rq, true, out);
}

void wire_request_body(const struct wire_request *rq, struct buf *out)
{
    wire__request(rq, false, out);
}

/* ---- verified records --------------------------------------------------- */

struct wire_cached {
    uint8_t *env;                /* the record's bytes: the key */
    size_t env_len;
    char *peer_id;               /* what opening it gave */
    char **addrs;
    size_t naddrs;
    UT_hash_handle hh;
    struct wire_cached *prev, *next; /* oldest first */
};

static void wire__cached_free(struct wire_cached *e)
{
    for (size_t i = 0; i < e->naddrs; i++)
        free(e->addrs[i]);
    free(e->addrs);
    free(e->peer_id);
    free(e->env);
    free(e);
}

void wire_record_cache_free(struct wire_record_cache *rc)
{
    struct wire_cached *e, *tmp;
    HASH_ITER(hh, rc->by_env, e, tmp) {
        HASH_DEL(rc->by_env, e);
        wire__cached_free(e);
    }
    rc->oldest = NULL;
    rc->n = 0;
}

/* r takes copies of what e says, from m. */
static void wire__from_cached(struct arena *m, struct wire_reg *r, const struct wire_cached *e)
{
    r->peer_id = wire__strndup_in(m, e->peer_id, strlen(e->peer_id));
    r->addrs = e->naddrs ? arena_alloc(m, e->naddrs * sizeof(*r->addrs)) : NULL;
    for (size_t i = 0; i < e->naddrs; i++)
        r->addrs[i] = wire__strndup_in(m, e->addrs[i], strlen(e->addrs[i]));
    r->naddrs = e->naddrs;
}

/* Remembers what the record env verified to (r), dropping the oldest entry
 * when full. */
static void wire__cache_put(struct wire_record_cache *rc, const ProtobufCBinaryData *env,
                            const struct wire_reg *r)
{
    if (env->len > WIRE_RECORD_CACHE_MAX_BYTES)
        return;
    if (rc->n >= WIRE_RECORD_CACHE_ENTRIES) {
        struct wire_cached *old = rc->oldest;
        DL_DELETE(rc->oldest, old);
        HASH_DEL(rc->by_env, old);
        wire__cached_free(old);
        rc->n--;
    }
    struct wire_cached *e = xcalloc(1, sizeof(*e));
    e->env = xmemdup(env->data, env->len);
    e->env_len = env->len;
    e->peer_id = xstrdup(r->peer_id);
    e->addrs = r->naddrs ? xcalloc(r->naddrs, sizeof(*e->addrs)) : NULL;
    for (size_t i = 0; i < r->naddrs; i++)
        e->addrs[i] = xstrdup(r->addrs[i]);
    e->naddrs = r->naddrs;
    HASH_ADD_KEYPTR(hh, rc->by_env, e->env, e->env_len, e);
    DL_APPEND(rc->oldest, e);
    rc->n++;
}

/* A registration from its signed record: the peer and addresses are the
 * record's (what the server says beside it is not trusted). A record rc
 * verified before is not verified again. */
static void wire__from_record(struct wire_record_cache *rc, struct arena *m, struct wire_reg *r,
                              const char *ns, uint64_t ttl, bool has_record,
                              const ProtobufCBinaryData *env)
{
    struct peer_record rec;
    char err[128], id[PEERID_TEXT_MAX];

    /* The decoded Message lives in m until the answer is freed. */
    r->ns = ns ? (char *)ns : wire__strndup_in(m, "", 0);
    r->ttl = ttl;
    if (has_record && rc) {
        struct wire_cached *e;
        HASH_FIND(hh, rc->by_env, env->data, env->len, e);
        if (e) {
            wire__from_cached(m, r, e);
            return;
        }
    }
    if (!has_record || record_open(&rec, env->data, env->len, err, sizeof err) < 0) {
        r->peer_id = wire__strndup_in(m, "", 0);
        return;
    }
    if (peerid_to_text(&rec.id, id, sizeof id) < 0)
        id[0] = '\0';
    r->peer_id = wire__strndup_in(m, id, strlen(id));
    struct wire__bin b[RECORD_MAX_ADDRS];
    for (size_t i = 0; i < rec.naddrs; i++)
        b[i] = (struct wire__bin){rec.addrs[i].bytes, rec.addrs[i].len};
    wire__add_addrs_in(m, r, b, rec.naddrs);
    peer_record_free(&rec);
    if (rc && r->peer_id[0])
        wire__cache_put(rc, env, r);
}

static void wire__status_text(struct wire_answer *a, int status, const char *text)
{
    a->status = status;
    if (text && text[0])
        a->status_text = (char *)text; /* in the decoded Message, in a->mem */
}

/* n zeroed entries from a's arena (NULL for none). */
static struct wire_reg *wire__regs(struct wire_answer *a, size_t n)
{
    if (n == 0)
        return NULL;
    struct wire_reg *r = arena_alloc(&a->mem, n * sizeof(*r));
    memset(r, 0, n * sizeof(*r));
    return r;
}

static int wire__std_answer(struct wire_record_cache *rc, enum wire_op op, const Rendezvous__Message *m, struct wire_answer *a)
{
    if (op == WIRE_REGISTER && m->registerresponse) {
        const Rendezvous__Message__RegisterResponse *r = m->registerresponse;
        wire__status_text(a, r->has_status ? (int)r->status : 0, r->statustext);
        a->ttl = r->has_ttl ? r->ttl : 0;
        return 0;
    }
    if (op != WIRE_DISCOVER || m->discoverresponse == NULL)
        return -1;
    const Rendezvous__Message__DiscoverResponse *r = m->discoverresponse;
    wire__status_text(a, r->has_status ? (int)r->status : 0, r->statustext);
    if (a->status != 0)
        return 0;
    a->regs = wire__regs(a, r->n_registrations);
    for (size_t i = 0; i < r->n_registrations; i++) {
        const Rendezvous__Message__Register *g = r->registrations[i];
        wire__from_record(rc, &a->mem, &a->regs[a->nregs++], g->ns, g->has_ttl ? g->ttl : 0,
                          g->has_signedpeerrecord, &g->signedpeerrecord);
    }
    if (r->has_cookie && r->cookie.len) {
        a->cookie = r->cookie.data;
        a->cookie_len = r->cookie.len;
    }
    return 0;
}

static int wire__waku_answer(struct wire_record_cache *rc, enum wire_op op, const Waku__Message *m, struct wire_answer *a)
{
    if (op == WIRE_REGISTER && m->registerresponse) {
        const Waku__Message__RegisterResponse *r = m->registerresponse;
        wire__status_text(a, r->has_status ? (int)r->status : 0, r->statustext);
        a->ttl = r->has_ttl && r->ttl > 0 ? (uint64_t)r->ttl : 0;
        return 0;
    }
    if (op != WIRE_DISCOVER || m->discoverresponse == NULL)
        return -1;
    const Waku__Message__DiscoverResponse *r = m->discoverresponse;
    wire__status_text(a, r->has_status ? (int)r->status : 0, r->statustext);
    if (a->status != 0)
        return 0;
    a->regs = wire__regs(a, r->n_registrations);
    for (size_t i = 0; i < r->n_registrations; i++) {
        const Waku__Message__Register *g = r->registrations[i];
        wire__from_record(rc, &a->mem, &a->regs[a->nregs++], g->ns, g->has_ttl && g->ttl > 0 ? (uint64_t)g->ttl : 0,
                          g->has_signedpeerrecord, &g->signedpeerrecord);
    }
    return 0;
}

int wire_answer_decode(bool waku, enum wire_op op, const uint8_t *msg, size_t len,
                       struct wire_answer *a)
{
    return wire_answer_decode_cached(NULL, waku, op, msg, len, a);
}

int wire_answer_decode_cached(struct wire_record_cache *rc, bool waku, enum wire_op op,
                              const uint8_t *msg, size_t len, struct wire_answer *a)
{
    int ret = -1;
    /* The Message is decoded into the arena and the entries point into it
     * (namespace, status text, cookie): nothing is freed one by one. */
    memset(a, 0, offsetof(struct wire_answer, mem));
    arena_init(&a->mem, a->room, sizeof a->room);
    if (waku) {
        Waku__Message *m = waku__message__unpack(&a->mem.pb, len, msg);
        if (m)
            ret = wire__waku_answer(rc, op, m, a);
    } else {
        Rendezvous__Message *m = rendezvous__message__unpack(&a->mem.pb, len, msg);
        if (m)
            ret = wire__std_answer(rc, op, m, a);
    }
    if (ret < 0)
        wire_answer_free(a);
    return ret;
}

void wire_answer_free(struct wire_answer *a)
{
    arena_free(&a->mem);
    memset(a, 0, offsetof(struct wire_answer, mem));
}

/* ---- push ------------------------------------------------------------------- */

static void wire__push_entry(struct wire_reg *r, const ProtobufCBinaryData *ns, bool has_ns,
                             const Push__Message__Peer *p)
{
    r->ns = has_ns ? wire__strndup(ns->data, ns->len) : wire__strndup("", 0);
    r->peer_id = p && p->has_id ? wire__peer_text(p->id.data, p->id.len) : wire__strndup("", 0);
    if (p && p->has_metadata && p->metadata.len) {
        r->meta = xmemdup(p->metadata.data, p->metadata.len);
        r->meta_len = p->metadata.len;
    }
    if (p == NULL || p->n_addrs == 0)
        return;
    size_t n = p->n_addrs < WIRE_MAX_ADDRS ? p->n_addrs : WIRE_MAX_ADDRS;
    struct wire__bin b[WIRE_MAX_ADDRS];
    for (size_t i = 0; i < n; i++)
        b[i] = (struct wire__bin){p->addrs[i].data, p->addrs[i].len};
    wire__add_addrs(r, b, n);
}

void wire_push_decode(const Push__Message *m, struct wire_push *out)
{
    memset(out, 0, sizeof(*out));
    out->type = m->has_type ? (int)m->type : 0;
    out->status = m->has_status ? (int)m->status : 0;
    if (m->statustext)
        out->status_text = wire__strndup(m->statustext, strlen(m->statustext));
    if (out->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER && m->n_register_) {
        out->regs = xcalloc(m->n_register_, sizeof(*out->regs));
        for (size_t i = 0; i < m->n_register_; i++)
            wire__push_entry(&out->regs[out->nregs++], &m->register_[i]->ns,
                             m->register_[i]->has_ns, m->register_[i]->peer);
    } else if (out->type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER && m->n_unregister) {
        out->regs = xcalloc(m->n_unregister, sizeof(*out->regs));
        for (size_t i = 0; i < m->n_unregister; i++)
            wire__push_entry(&out->regs[out->nregs++], &m->unregister[i]->ns,
                             m->unregister[i]->has_ns, m->unregister[i]->peer);
    }
}

void wire_push_free(struct wire_push *p)
{
    for (size_t i = 0; i < p->nregs; i++)
        wire_reg_free(&p->regs[i]);
    free(p->regs);
    free(p->status_text);
    memset(p, 0, sizeof(*p));
}
