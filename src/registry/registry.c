/* The shared registry (see registry.h and DESIGN.md "Registry").
 *
 * Layout of the memory:
 *   - a namespace is one block: struct reg__ns (the public rdv_ns, a table of
 *     its subscriptions keyed by session, a pin count) followed by its name;
 *   - a registration is one block: struct rdv_reg, its rdv_addr array, the
 *     address bytes, the envelope copy. A re-register builds a new block and
 *     puts it in the old one's place in every table, list, array and heap,
 *     so the caller's buffers may even alias the old registration;
 *   - a subscription is one block: struct reg__sub (the public rdv_sub and
 *     its handle in the namespace's by-session table).
 *
 * Removal order is always: unlink everywhere (the registry is consistent
 * without the registration), report on_unregister with the registration
 * still readable, free it, then free its namespace if that became empty.
 * The namespace is pinned during the callback so that a callback which
 * re-enters the registry (e.g. ends a slow subscriber's session) cannot free
 * it under us.
 *
 * Contract details the header leaves open:
 *   - a re-register reports on_register only (no on_unregister first), also
 *     when the owner or dialect changes; the old block is freed, so a
 *     const struct rdv_reg * is valid only until that (peer, ns) is
 *     re-registered or removed;
 *   - during on_unregister every field of the registration is intact (ns,
 *     owner, peer, addrs, envelope) but it is in no table or list any more;
 *   - callbacks may read anything and may end other sessions; they must not
 *     remove the registration an on_register is reporting;
 *   - stats.sessions counts sessions that hold at least one registration or
 *     subscription (registry_session_init has no registry to count in). */
#include "registry/registry.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <utlist.h>

#include "base/mem.h"

struct rdv_peer {
    UT_hash_handle hh;      /* registry->peers, key = id.b[0..id.len) */
    struct peer_id id;
    size_t count;           /* registrations = distinct namespaces */
    struct rdv_reg *regs;   /* pe_prev/pe_next */
};

struct reg__sub {
    struct rdv_sub pub;     /* first: a struct rdv_sub * is a struct reg__sub * */
    UT_hash_handle hh;      /* reg__ns.by_session, key = pub.session (pointer) */
};

struct reg__ns {
    struct rdv_ns pub;      /* first: a struct rdv_ns * is a struct reg__ns * */
    struct reg__sub *by_session; /* O(1) "already subscribed?" */
    unsigned pins;          /* > 0 while an event about one of its regs runs */
};

#define REG__NO_HEAP SIZE_MAX
#define REG__DENSE_MIN 4
#define REG__HEAP_MIN 64

static struct reg__ns *reg__ns_w(struct rdv_ns *ns) { return (struct reg__ns *)ns; }
static struct reg__sub *reg__sub_w(struct rdv_sub *s) { return (struct reg__sub *)s; }

/* ---- limits, validation ---------------------------------------------- */

void registry_limits_default(struct registry_limits *l)
{
    l->max_ns_len = RDV_NS_MAX;
    l->max_addrs = 32;
    l->max_addr_bytes = 2048;
    l->max_envelope = 8192;
    l->max_regs_per_peer = 1000;
    l->max_regs_total = 1000000;
    l->max_namespaces = 100000;
    l->max_subs_per_session = 1000;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF; NUL is refused too because names are also used as C strings. */
static bool reg__utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the first continuation */
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0)
                lo = 0xA0;      /* overlong */
            else if (c == 0xED)
                hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0)
                lo = 0x90;      /* overlong */
            else if (c == 0xF4)
                hi = 0x8F;      /* > U+10FFFF */
        } else {
            return false;       /* continuation byte, C0/C1, F5..FF */
        }
        if (n - i - 1 < more)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= more; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += more + 1;
    }
    return true;
}

int registry_check_ns(const struct registry *r, const char *ns, size_t n)
{
    if (ns == NULL || n == 0 || n > r->limits.max_ns_len)
        return -1;
    return reg__utf8_ok((const uint8_t *)ns, n) ? 0 : -1;
}

/* ---- init / free ---------------------------------------------------- */

void registry_init(struct registry *r, const struct registry_limits *l, uint64_t seq_seed,
                   const struct registry_events *ev, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (l)
        r->limits = *l;
    else
        registry_limits_default(&r->limits);
    /* seq 0 is "nothing seen yet" in a cookie, so it is never issued */
    r->next_seq = seq_seed ? seq_seed : 1;
    randombytes_buf(r->hash_key, sizeof(r->hash_key));
    if (ev)
        registry_listen(r, ev, ctx);
}

void registry_listen(struct registry *r, const struct registry_events *ev, void *ctx)
{
    /* wiring is fixed at start: running out is a program error */
    if (r->nlisteners == REGISTRY_MAX_LISTENERS)
        abort();
    r->listeners[r->nlisteners++] = (struct registry_listener){.ev = ev, .ctx = ctx};
}

void registry_free(struct registry *r)
{
    struct rdv_ns *ns, *ntmp;
    /* a table's bookkeeping lives in its elements: clear before freeing them */
    HASH_CLEAR(hh_seq, r->by_seq);
    HASH_ITER(hh, r->namespaces, ns, ntmp) {
        struct rdv_sub *s, *stmp;
        struct rdv_reg *g, *gtmp;
        HASH_DELETE(hh, r->namespaces, ns);
        HASH_CLEAR(hh, reg__ns_w(ns)->by_session);
        DL_FOREACH_SAFE2(ns->subs, s, stmp, ns_next) {
            /* leave the caller's session empty rather than dangling */
            s->session->subs = NULL;
            s->session->nsubs = 0;
            free(reg__sub_w(s));
        }
        HASH_CLEAR(hh, ns->by_peer);
        DL_FOREACH_SAFE2(ns->regs, g, gtmp, ns_next) {
            if (g->owner)
                g->owner->regs = NULL;
            free(g);
        }
        free(ns->dense);
        free(reg__ns_w(ns));
    }
    struct rdv_peer *p, *ptmp;
    HASH_ITER(hh, r->peers, p, ptmp) {
        HASH_DELETE(hh, r->peers, p);
        free(p);
    }
    free(r->heap);
    memset(r, 0, sizeof *r);
}

/* ---- sessions (for the stats.sessions count) ----------------------- */

/* stats.sessions counts sessions holding at least one registration or
 * subscription: registry_session_init has no registry to count in. */
static bool reg__session_idle(const struct rdv_session *s)
{
    return s->regs == NULL && s->subs == NULL;
}

static void reg__owner_add(struct registry *r, struct rdv_reg *g)
{
    struct rdv_session *s = g->owner;
    if (!s)
        return;
    if (reg__session_idle(s))
        r->stats.sessions++;
    DL_APPEND2(s->regs, g, ow_prev, ow_next);
}

static void reg__owner_del(struct registry *r, struct rdv_reg *g)
{
    struct rdv_session *s = g->owner;
    if (!s)
        return;
    DL_DELETE2(s->regs, g, ow_prev, ow_next);
    if (reg__session_idle(s))
        r->stats.sessions--;
}

void registry_session_init(struct rdv_session *s, const struct peer_id *peer, void *user)
{
    memset(s, 0, sizeof *s);
    if (peer)
        s->peer = *peer;
    s->user = user;
}

/* Namespaces and peer ids come from the network: hash them with a key
 * secret to this process (SipHash) so that nobody can choose keys that all
 * fall into one bucket and turn lookups into scans. */
static unsigned reg__hash(const struct registry *r, const void *key, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    unsigned v;
    crypto_shorthash(h, key, len, r->hash_key);
    memcpy(&v, h, sizeof(v));
    return v;
}

/* ---- namespaces ------------------------------------------------------ */

struct rdv_ns *registry_ns(const struct registry *r, const char *ns, size_t ns_len)
{
    struct rdv_ns *out = NULL;
    if (ns == NULL || ns_len == 0)
        return NULL;
    HASH_FIND_BYHASHVALUE(hh, r->namespaces, ns, ns_len, reg__hash(r, ns, ns_len), out);
    return out;
}

/* Precondition: the name was checked and the namespace limit enforced. */
static struct rdv_ns *reg__ns_create(struct registry *r, const char *name, size_t len)
{
    struct reg__ns *w = xcalloc(1, sizeof *w + len + 1);
    struct rdv_ns *ns = &w->pub;
    ns->name = (char *)(w + 1);
    memcpy(ns->name, name, len);
    ns->name[len] = '\0';
    ns->len = len;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, r->namespaces, ns->name, ns->len, reg__hash(r, ns->name, ns->len), ns);
    r->stats.namespaces++;
    return ns;
}

static void reg__ns_gc(struct registry *r, struct rdv_ns *ns)
{
    struct reg__ns *w = reg__ns_w(ns);
    if (ns->nregs || ns->nsubs || w->pins)
        return;
    HASH_DELETE(hh, r->namespaces, ns);
    free(ns->dense);
    free(w);
    r->stats.namespaces--;
}

/* dense: swap-remove array, grown by doubling, shrunk at a quarter */
static void reg__dense_add(struct rdv_ns *ns, struct rdv_reg *g)
{
    if (ns->nregs == ns->dense_cap) {
        size_t cap = ns->dense_cap ? ns->dense_cap * 2 : REG__DENSE_MIN;
        ns->dense = xrealloc(ns->dense, cap * sizeof *ns->dense);
        ns->dense_cap = cap;
    }
    g->ns_index = ns->nregs;
    ns->dense[ns->nregs++] = g;
}

static void reg__dense_del(struct rdv_ns *ns, struct rdv_reg *g)
{
    size_t i = g->ns_index;
    struct rdv_reg *last = ns->dense[--ns->nregs];
    ns->dense[i] = last;
    last->ns_index = i;
    if (ns->nregs == 0) {
        free(ns->dense);
        ns->dense = NULL;
        ns->dense_cap = 0;
    } else if (ns->dense_cap > REG__DENSE_MIN && ns->nregs <= ns->dense_cap / 4) {
        ns->dense_cap /= 2;
        ns->dense = xrealloc(ns->dense, ns->dense_cap * sizeof *ns->dense);
    }
}

/* ---- peers ------------------------------------------------------------ */

static struct rdv_peer *reg__peer_find(const struct registry *r, const struct peer_id *id)
{
    struct rdv_peer *p = NULL;
    HASH_FIND_BYHASHVALUE(hh, r->peers, id->b, id->len, reg__hash(r, id->b, id->len), p);
    return p;
}

static void reg__peer_add(struct registry *r, struct rdv_reg *g)
{
    struct rdv_peer *p = reg__peer_find(r, &g->peer);
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->id = g->peer;
        HASH_ADD_KEYPTR_BYHASHVALUE(hh, r->peers, p->id.b, p->id.len, reg__hash(r, p->id.b, p->id.len), p);
        r->stats.peers++;
    }
    DL_APPEND2(p->regs, g, pe_prev, pe_next);
    p->count++;
}

static void reg__peer_del(struct registry *r, struct rdv_reg *g)
{
    struct rdv_peer *p = reg__peer_find(r, &g->peer);
    assert(p != NULL);
    DL_DELETE2(p->regs, g, pe_prev, pe_next);
    if (--p->count == 0) {
        HASH_DELETE(hh, r->peers, p);
        free(p);
        r->stats.peers--;
    }
}

/* ---- expiry heap (min on expires, ties by seq) ------------------------ */

static bool reg__heap_less(const struct rdv_reg *a, const struct rdv_reg *b)
{
    return a->expires < b->expires || (a->expires == b->expires && a->seq < b->seq);
}

static void reg__heap_set(struct registry *r, size_t i, struct rdv_reg *g)
{
    r->heap[i] = g;
    g->heap_index = i;
}

static void reg__heap_up(struct registry *r, size_t i)
{
    struct rdv_reg *g = r->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!reg__heap_less(g, r->heap[parent]))
            break;
        reg__heap_set(r, i, r->heap[parent]);
        i = parent;
    }
    reg__heap_set(r, i, g);
}

static void reg__heap_down(struct registry *r, size_t i)
{
    struct rdv_reg *g = r->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->heap_len)
            break;
        if (c + 1 < r->heap_len && reg__heap_less(r->heap[c + 1], r->heap[c]))
            c++;
        if (!reg__heap_less(r->heap[c], g))
            break;
        reg__heap_set(r, i, r->heap[c]);
        i = c;
    }
    reg__heap_set(r, i, g);
}

static void reg__heap_push(struct registry *r, struct rdv_reg *g)
{
    if (r->heap_len == r->heap_cap) {
        size_t cap = r->heap_cap ? r->heap_cap * 2 : REG__HEAP_MIN;
        r->heap = xrealloc(r->heap, cap * sizeof *r->heap);
        r->heap_cap = cap;
    }
    reg__heap_set(r, r->heap_len++, g);
    reg__heap_up(r, g->heap_index);
}

static void reg__heap_del(struct registry *r, struct rdv_reg *g)
{
    size_t i = g->heap_index;
    struct rdv_reg *last = r->heap[--r->heap_len];
    g->heap_index = REG__NO_HEAP;
    if (last == g)
        return;
    reg__heap_set(r, i, last);
    reg__heap_up(r, i);
    reg__heap_down(r, last->heap_index);
}

/* Puts nr where old was in the heap (or in/out of it), old leaves it. */
static void reg__heap_replace(struct registry *r, struct rdv_reg *old, struct rdv_reg *nr)
{
    bool was = old->heap_index != REG__NO_HEAP, is = nr->owner == NULL;
    if (was && is) {
        size_t i = old->heap_index;
        old->heap_index = REG__NO_HEAP;
        reg__heap_set(r, i, nr);
        reg__heap_up(r, i);
        reg__heap_down(r, nr->heap_index);
    } else if (was) {
        reg__heap_del(r, old);
    } else if (is) {
        reg__heap_push(r, nr);
    }
}

/* ---- registrations ---------------------------------------------------- */

static void reg__event(const struct registry *r, bool added, const struct rdv_reg *g)
{
    for (size_t i = 0; i < r->nlisteners; i++) {
        const struct registry_events *ev = r->listeners[i].ev;
        void (*fn)(void *, const struct rdv_reg *) = added ? ev->on_register : ev->on_unregister;
        if (fn)
            fn(r->listeners[i].ctx, g);
    }
}

/* Validates everything that does not depend on the registry's contents and
 * computes the size of the registration block. */
static enum rdv_status reg__check_request(const struct registry *r, const struct rdv_register *q,
                                          size_t *block)
{
    const struct registry_limits *l = &r->limits;
    if (registry_check_ns(r, q->ns, q->ns_len) != 0)
        return RDV_E_NAMESPACE;
    /* caller bugs: refused rather than read out of bounds */
    assert(q->peer && q->peer->len > 0 && q->peer->len <= PEERID_MAX);
    assert((unsigned)q->dialect <= RDV_DIALECT_WAKU);
    if (!q->peer || q->peer->len == 0 || q->peer->len > PEERID_MAX ||
        (unsigned)q->dialect > RDV_DIALECT_WAKU)
        return RDV_E_NOT_FOUND;
    if (q->naddrs > l->max_addrs || (q->naddrs && !q->addrs))
        return RDV_E_ADDRS;
    size_t bytes = 0;
    for (size_t i = 0; i < q->naddrs; i++) {
        if (q->addrs[i].len > l->max_addr_bytes - bytes || (q->addrs[i].len && !q->addrs[i].bytes))
            return RDV_E_ADDRS;
        bytes += q->addrs[i].len;
    }
    /* an oversized signed record has no code of its own: it is address data */
    size_t env = q->envelope ? q->envelope_len : 0;
    if (env > l->max_envelope)
        return RDV_E_ADDRS;
    /* a TTL registration has no owner, a push one has no TTL */
    if ((q->ttl == 0) != (q->owner != NULL))
        return RDV_E_TTL;
    if (q->ttl && !isfinite(q->now + (double)q->ttl))
        return RDV_E_TTL;
    size_t total = sizeof(struct rdv_reg);
    if (q->naddrs > (SIZE_MAX - total) / sizeof(struct rdv_addr))
        return RDV_E_ADDRS;
    total += q->naddrs * sizeof(struct rdv_addr);
    if (bytes > SIZE_MAX - total || env > SIZE_MAX - total - bytes)
        return RDV_E_ADDRS;
    *block = total + bytes + env;
    return RDV_OK;
}

/* One block: struct, address array, address bytes, envelope. */
static struct rdv_reg *reg__build(struct registry *r, const struct rdv_register *q, size_t block)
{
    struct rdv_reg *g = xcalloc(1, block);
    uint8_t *p = (uint8_t *)(g + 1);
    g->peer = *q->peer;
    g->seq = r->next_seq++;
    g->dialect = q->dialect;
    g->ttl = q->ttl;
    g->expires = q->ttl ? q->now + (double)q->ttl : 0.0;
    g->owner = q->owner;
    g->heap_index = REG__NO_HEAP;
    g->naddrs = q->naddrs;
    if (q->naddrs) {
        g->addrs = (struct rdv_addr *)(void *)p;
        p += q->naddrs * sizeof(struct rdv_addr);
        for (size_t i = 0; i < q->naddrs; i++) {
            g->addrs[i].bytes = p;
            g->addrs[i].len = q->addrs[i].len;
            if (q->addrs[i].len)
                memcpy(p, q->addrs[i].bytes, q->addrs[i].len);
            p += q->addrs[i].len;
        }
    }
    if (q->envelope) {
        g->envelope = p;
        g->envelope_len = q->envelope_len;
        if (q->envelope_len)
            memcpy(p, q->envelope, q->envelope_len);
    }
    return g;
}

static void reg__insert(struct registry *r, struct rdv_ns *ns, struct rdv_reg *g)
{
    g->ns = ns;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, ns->by_peer, g->peer.b, g->peer.len, reg__hash(r, g->peer.b, g->peer.len), g);
    HASH_ADD(hh_seq, r->by_seq, seq, sizeof g->seq, g);
    DL_APPEND2(ns->regs, g, ns_prev, ns_next);
    DL_APPEND2(r->all, g, all_prev, all_next);
    reg__dense_add(ns, g);
    reg__peer_add(r, g);
    reg__owner_add(r, g);
    if (!g->owner)
        reg__heap_push(r, g);
    r->stats.regs++;
    r->stats.regs_by_dialect[g->dialect]++;
}

/* nr takes old's place everywhere, at the end of the seq orders. The peer
 * count does not change: same (peer, ns). */
static void reg__replace(struct registry *r, struct rdv_reg *old, struct rdv_reg *nr)
{
    struct rdv_ns *ns = old->ns;
    struct rdv_peer *p = reg__peer_find(r, &old->peer);
    nr->ns = ns;
    HASH_DELETE(hh, ns->by_peer, old);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, ns->by_peer, nr->peer.b, nr->peer.len, reg__hash(r, nr->peer.b, nr->peer.len), nr);
    HASH_DELETE(hh_seq, r->by_seq, old);
    HASH_ADD(hh_seq, r->by_seq, seq, sizeof nr->seq, nr);
    DL_DELETE2(ns->regs, old, ns_prev, ns_next);
    DL_APPEND2(ns->regs, nr, ns_prev, ns_next);
    DL_DELETE2(r->all, old, all_prev, all_next);
    DL_APPEND2(r->all, nr, all_prev, all_next);
    DL_DELETE2(p->regs, old, pe_prev, pe_next);
    DL_APPEND2(p->regs, nr, pe_prev, pe_next);
    /* add before removing, so a session keeping its registration never
     * looks idle in between */
    reg__owner_add(r, nr);
    reg__owner_del(r, old);
    ns->dense[old->ns_index] = nr;
    nr->ns_index = old->ns_index;
    reg__heap_replace(r, old, nr);
    r->stats.regs_by_dialect[old->dialect]--;
    r->stats.regs_by_dialect[nr->dialect]++;
}

static void reg__unlink(struct registry *r, struct rdv_reg *g)
{
    struct rdv_ns *ns = g->ns;
    HASH_DELETE(hh, ns->by_peer, g);
    HASH_DELETE(hh_seq, r->by_seq, g);
    DL_DELETE2(ns->regs, g, ns_prev, ns_next);
    DL_DELETE2(r->all, g, all_prev, all_next);
    reg__dense_del(ns, g);
    reg__peer_del(r, g);
    reg__owner_del(r, g);
    if (g->heap_index != REG__NO_HEAP)
        reg__heap_del(r, g);
    r->stats.regs--;
    r->stats.regs_by_dialect[g->dialect]--;
}

/* Unlink, report (fields intact, links stale), free, collect the namespace. */
static void reg__remove(struct registry *r, struct rdv_reg *g)
{
    struct rdv_ns *ns = g->ns;
    struct reg__ns *w = reg__ns_w(ns);
    reg__unlink(r, g);
    w->pins++;
    reg__event(r, false, g);
    w->pins--;
    free(g);
    reg__ns_gc(r, ns);
}

enum rdv_status registry_register(struct registry *r, const struct rdv_register *req,
                                  const struct rdv_reg **out)
{
    size_t block = 0;
    enum rdv_status st = reg__check_request(r, req, &block);
    if (out)
        *out = NULL;
    if (st != RDV_OK)
        return st;
    struct rdv_ns *ns = registry_ns(r, req->ns, req->ns_len);
    struct rdv_reg *old = NULL;
    if (ns)
        HASH_FIND_BYHASHVALUE(hh, ns->by_peer, req->peer->b, req->peer->len, reg__hash(r, req->peer->b, req->peer->len), old);
    if (!old) {
        const struct rdv_peer *p = reg__peer_find(r, req->peer);
        if (p && p->count >= r->limits.max_regs_per_peer)
            return RDV_E_PEER_LIMIT;
        if (r->stats.regs >= r->limits.max_regs_total)
            return RDV_E_TOTAL_LIMIT;
        if (!ns && r->stats.namespaces >= r->limits.max_namespaces)
            return RDV_E_TOTAL_LIMIT;
    }
    if (r->next_seq == UINT64_MAX)   /* never in practice; keeps seqs unique */
        return RDV_E_TOTAL_LIMIT;
    struct rdv_reg *g = reg__build(r, req, block);
    if (old) {
        reg__replace(r, old, g);
        free(old);
    } else {
        if (!ns)
            ns = reg__ns_create(r, req->ns, req->ns_len);
        reg__insert(r, ns, g);
    }
    if (out)
        *out = g;
    reg__event(r, true, g);
    return RDV_OK;
}

const struct rdv_reg *registry_find(const struct registry *r, const char *ns, size_t ns_len,
                                    const struct peer_id *peer)
{
    struct rdv_ns *n = registry_ns(r, ns, ns_len);
    struct rdv_reg *g = NULL;
    if (!n || !peer || peer->len == 0 || peer->len > PEERID_MAX)
        return NULL;
    HASH_FIND_BYHASHVALUE(hh, n->by_peer, peer->b, peer->len, reg__hash(r, peer->b, peer->len), g);
    return g;
}

enum rdv_status registry_unregister(struct registry *r, const char *ns, size_t ns_len,
                                    const struct peer_id *peer, const struct rdv_session *owner)
{
    struct rdv_reg *g = (struct rdv_reg *)registry_find(r, ns, ns_len, peer);
    if (!g || (owner && g->owner != owner))
        return RDV_E_NOT_FOUND;
    reg__remove(r, g);
    return RDV_OK;
}

/* ---- subscriptions ---------------------------------------------------- */

enum rdv_status registry_subscribe(struct registry *r, struct rdv_session *s, const char *ns,
                                   size_t ns_len, struct rdv_ns **ns_out)
{
    if (ns_out)
        *ns_out = NULL;
    if (registry_check_ns(r, ns, ns_len) != 0)
        return RDV_E_NAMESPACE;
    struct rdv_ns *n = registry_ns(r, ns, ns_len);
    if (n) {
        struct reg__sub *found = NULL;
        HASH_FIND(hh, reg__ns_w(n)->by_session, &s, sizeof s, found);
        if (found) {
            if (ns_out)
                *ns_out = n;
            return RDV_OK;
        }
    }
    if (s->nsubs >= r->limits.max_subs_per_session)
        return RDV_E_SUB_LIMIT;
    if (!n) {
        if (r->stats.namespaces >= r->limits.max_namespaces)
            return RDV_E_TOTAL_LIMIT;
        n = reg__ns_create(r, ns, ns_len);
    }
    struct reg__sub *w = xcalloc(1, sizeof *w);
    w->pub.ns = n;
    w->pub.session = s;
    HASH_ADD(hh, reg__ns_w(n)->by_session, pub.session, sizeof w->pub.session, w);
    if (reg__session_idle(s))
        r->stats.sessions++;
    DL_APPEND2(n->subs, &w->pub, ns_prev, ns_next);
    n->nsubs++;
    DL_APPEND2(s->subs, &w->pub, se_prev, se_next);
    s->nsubs++;
    r->stats.subs++;
    if (ns_out)
        *ns_out = n;
    return RDV_OK;
}

static void reg__sub_remove(struct registry *r, struct rdv_sub *sub)
{
    struct rdv_ns *ns = sub->ns;
    struct rdv_session *s = sub->session;
    HASH_DELETE(hh, reg__ns_w(ns)->by_session, reg__sub_w(sub));
    DL_DELETE2(ns->subs, sub, ns_prev, ns_next);
    ns->nsubs--;
    DL_DELETE2(s->subs, sub, se_prev, se_next);
    s->nsubs--;
    if (reg__session_idle(s))
        r->stats.sessions--;
    r->stats.subs--;
    free(reg__sub_w(sub));
    reg__ns_gc(r, ns);
}

void registry_session_end(struct registry *r, struct rdv_session *s)
{
    /* Subscriptions go first, so the session is in no ns->subs while its
     * own removals are announced. Each loop takes the head afresh: a
     * callback may have changed the lists (even ended this session). */
    while (s->subs)
        reg__sub_remove(r, s->subs);
    while (s->regs)
        reg__remove(r, s->regs);
}

/* ---- queries ------------------------------------------------------------ */

static const struct rdv_reg *reg__next(const struct rdv_reg *g, bool all)
{
    return all ? g->all_next : g->ns_next;
}

static const struct rdv_reg *reg__prev(const struct rdv_reg *g, bool all)
{
    return all ? g->all_prev : g->ns_prev;
}

size_t registry_list(const struct registry *r, const struct rdv_ns *ns, uint64_t after,
                     bool signed_only, const struct rdv_reg **out, size_t limit)
{
    bool all = ns == NULL;
    const struct rdv_reg *head = all ? r->all : ns->regs;
    const struct rdv_reg *g = NULL, *start = NULL;
    size_t n = 0;
    if (!head || !out || limit == 0)
        return 0;
    HASH_FIND(hh_seq, r->by_seq, &after, sizeof after, g);
    if (g && (all || g->ns == ns)) {
        start = reg__next(g, all);
    } else if (after < head->seq) {
        start = head; /* everything is newer: no walk (a first DISCOVER) */
    } else {
        /* after is gone or from elsewhere: walk back over what is newer;
         * utlist keeps the tail in head->prev */
        for (g = reg__prev(head, all);; g = reg__prev(g, all)) {
            if (g->seq <= after)
                break;
            start = g;
            if (g == head)
                break;
        }
    }
    /* with signed_only this also steps over the unsigned ones in between */
    for (g = start; g && n < limit; g = reg__next(g, all))
        if (!signed_only || g->envelope)
            out[n++] = g;
    return n;
}

/* Uniform in [0, n), n > 0, also beyond 32 bits. */
static size_t reg__uniform(size_t n)
{
    if (n <= UINT32_MAX)
        return (size_t)randombytes_uniform((uint32_t)n);
    uint64_t v, lim = UINT64_MAX - UINT64_MAX % (uint64_t)n;
    do
        randombytes_buf(&v, sizeof v);
    while (v >= lim);
    return (size_t)(v % (uint64_t)n);
}

/* Partial Fisher-Yates in place on ns->dense: its order means nothing, so
 * permuting it (and the ns_index fields) is invisible and costs no copy.
 * Without signed_only this is O(limit). With it, unsigned picks are
 * stepped over: O(limit * nregs / nsigned) expected, O(nregs) worst case
 * (a namespace of push registrations asked for signed ones). */
size_t registry_sample(const struct registry *r, const struct rdv_ns *ns, bool signed_only,
                       const struct rdv_reg **out, size_t limit)
{
    (void)r;
    size_t n = 0;
    if (!ns || !out)
        return 0;
    struct rdv_reg **d = ns->dense;
    for (size_t i = 0; i < ns->nregs && n < limit; i++) {
        size_t j = i + reg__uniform(ns->nregs - i);
        struct rdv_reg *t = d[i];
        d[i] = d[j];
        d[j] = t;
        d[i]->ns_index = i;
        d[j]->ns_index = j;
        if (!signed_only || d[i]->envelope)
            out[n++] = d[i];
    }
    return n;
}

/* ---- expiry ------------------------------------------------------------- */

double registry_next_expiry(const struct registry *r)
{
    return r->heap_len ? r->heap[0]->expires : -1.0;
}

size_t registry_expire(struct registry *r, double now)
{
    size_t n = 0;
    /* the top is re-read each time: a callback may have changed the heap */
    while (r->heap_len && r->heap[0]->expires <= now) {
        r->stats.expired++;
        reg__remove(r, r->heap[0]);
        n++;
    }
    return n;
}
