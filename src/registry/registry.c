/* The shared registry (see registry.h and DESIGN.md "Registry").
 *
 * Layout of the memory:
 *   - a namespace is one block: struct reg__ns (the public rdv_ns and a pin
 *     count) followed by its name;
 *   - a registration is one block: struct rdv_reg, its rdv_addr array, the
 *     address bytes, the envelope copy, the metadata copy (found from the
 *     end of what precedes it: registry_metadata). A re-register builds a new block and
 *     puts it in the old one's place in every list, array and heap,
 *     so the caller's buffers may even alias the old registration; it
 *     points at its peer's id, interned in registry->ids (struct peer_ref),
 *     whose owner is the peer's entry (struct rdv_peer);
 *   - a subscription is one struct rdv_sub.
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
 *     subscription (registry_session_init has no registry to count in);
 *   - a refresh (re-register changing nothing but the TTL) keeps the block:
 *     pointers to it stay valid, and on_refresh reports it.
 *
 * Token buckets: a peer's bucket lives in its struct rdv_peer. When the
 * peer's last registration goes, the entry stays (on registry->idle_peers)
 * until the bucket has refilled, so that unregistering and registering
 * again does not start from a full bucket; registry_register and
 * registry_expire free the entries that are due. A change draws a token, a
 * refresh a tenth of one (REG__REFRESH_COST): it announces nothing, but a
 * flood of them still costs the loop, so it gets a rate too - ten times the
 * change rate, and a full bucket still refreshes all of max_regs_per_peer
 * at once with the defaults (100 / 0.1 = 1000). Removals are never refused
 * (a peer can only take back what it was allowed to add, so announcements
 * stay within twice the rate). */
#include "registry/registry.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <utlist.h>

#include "base/mem.h"

struct rdv_peer {
    /* Its id, interned in registry->ids (whose entry points back here as
     * its owner): connections of the same peer share it. */
    struct peer_ref *ref;
    size_t count;           /* registrations = distinct namespaces */
    struct rdv_reg *regs;   /* pe_prev/pe_next */
    double tokens, last;    /* token bucket: tokens left at time `last` */
    struct rdv_peer *idle_prev, *idle_next; /* registry->idle_peers, while count == 0 */
};

struct reg__ns {
    struct rdv_ns pub;      /* first: a struct rdv_ns * is a struct reg__ns * */
    unsigned pins;          /* > 0 while an event about one of its regs runs */
};

#define REG__NO_HEAP UINT32_MAX
#define REG__DENSE_MIN 4
#define REG__HEAP_MIN 64
#define REG__SEQ_MIN 8

enum reg__event_kind { REG__EV_REGISTER, REG__EV_REFRESH, REG__EV_UNREGISTER };

static struct reg__ns *reg__ns_w(struct rdv_ns *ns) { return (struct reg__ns *)ns; }

/* A registration's block and what hangs off it. */
static void reg__free_block(struct rdv_reg *g)
{
    free(g->wire);
    free(g);
}

/* ---- limits, validation ---------------------------------------------- */

void registry_limits_default(struct registry_limits *l)
{
    l->max_ns_len = RDV_NS_MAX;
    l->max_addrs = 32;
    l->max_addr_bytes = 2048;
    l->max_envelope = 8192;
    l->max_metadata = 1024;
    l->max_regs_per_peer = 1000;
    l->max_regs_total = 1000000;
    l->max_namespaces = 100000;
    l->max_subs_per_session = 1000;
    /* a client refreshes every few seconds at most, and refreshes are free */
    l->register_rate = 10;
    l->register_burst = 100;
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
    peer_ids_init(&r->ids);
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
    HASH_ITER(hh, r->namespaces, ns, ntmp) {
        struct rdv_sub *s, *stmp;
        struct rdv_reg *g, *gtmp;
        HASH_DELETE(hh, r->namespaces, ns);
        DL_FOREACH_SAFE2(ns->subs, s, stmp, ns_next) {
            /* leave the caller's session empty rather than dangling */
            s->session->subs = NULL;
            s->session->nsubs = 0;
            free(s);
        }
        DL_FOREACH_SAFE2(ns->regs, g, gtmp, ns_next) {
            if (g->owner)
                g->owner->regs = NULL;
            reg__free_block(g);
        }
        free(ns->dense);
        free(ns->signed_seq.v);
        free(reg__ns_w(ns));
    }
    struct peer_ref *e, *etmp;
    HASH_ITER(hh, r->ids.table, e, etmp) {
        if (e->owner) {
            free(e->owner);
            e->owner = NULL;
        }
    }
    peer_ids_free(&r->ids);
    free(r->heap);
    free(r->signed_seq.v);
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

void registry_session_init(struct rdv_session *s) { memset(s, 0, sizeof *s); }

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
    free(ns->signed_seq.v);
    free(w);
    r->stats.namespaces--;
}

/* dense: swap-remove array of the signed regs, grown by doubling, shrunk at
 * a quarter */
static void reg__dense_add(struct rdv_ns *ns, struct rdv_reg *g)
{
    if (ns->nsigned == ns->dense_cap) {
        size_t cap = ns->dense_cap ? ns->dense_cap * 2 : REG__DENSE_MIN;
        ns->dense = xrealloc(ns->dense, cap * sizeof *ns->dense);
        ns->dense_cap = cap;
    }
    g->ns_index = ns->nsigned;
    ns->dense[ns->nsigned++] = g;
}

static void reg__dense_del(struct rdv_ns *ns, struct rdv_reg *g)
{
    size_t i = g->ns_index;
    struct rdv_reg *last = ns->dense[--ns->nsigned];
    ns->dense[i] = last;
    last->ns_index = i;
    if (ns->nsigned == 0) {
        free(ns->dense);
        ns->dense = NULL;
        ns->dense_cap = 0;
    } else if (ns->dense_cap > REG__DENSE_MIN && ns->nsigned <= ns->dense_cap / 4) {
        ns->dense_cap /= 2;
        ns->dense = xrealloc(ns->dense, ns->dense_cap * sizeof *ns->dense);
    }
}

/* ---- seq index (see struct rdv_seq_index) ------------------------------- */

/* The first slot whose seq is above `after` (len if none). */
static size_t reg__seq_after(const struct rdv_seq_index *x, uint64_t after)
{
    size_t lo = 0, hi = x->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->v[mid].seq <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void reg__seq_append(struct rdv_seq_index *x, struct rdv_reg *g)
{
    /* a registration joins with a seq just issued: the highest */
    assert(x->len == 0 || x->v[x->len - 1].seq < g->seq);
    if (x->len == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : REG__SEQ_MIN;
        x->v = xrealloc(x->v, cap * sizeof *x->v);
        x->cap = cap;
    }
    x->v[x->len++] = (struct rdv_seq_slot){.seq = g->seq, .reg = g};
}

static void reg__seq_del(struct rdv_seq_index *x, const struct rdv_reg *g)
{
    size_t i = reg__seq_after(x, g->seq - 1); /* seqs start at 1 */
    assert(i < x->len && x->v[i].reg == g);
    x->v[i].reg = NULL;
    x->dead++;
    while (x->len && x->v[x->len - 1].reg == NULL) { /* the tail goes at once */
        x->len--;
        x->dead--;
    }
    if (x->dead * 4 > x->len) {
        size_t k = 0;
        for (size_t j = 0; j < x->len; j++)
            if (x->v[j].reg)
                x->v[k++] = x->v[j];
        x->len = k;
        x->dead = 0;
    }
    if (x->len == 0) {
        free(x->v);
        *x = (struct rdv_seq_index){0};
    } else if (x->cap > REG__SEQ_MIN && x->len <= x->cap / 4) {
        x->cap /= 2;
        x->v = xrealloc(x->v, x->cap * sizeof *x->v);
    }
}

/* Registrations with a signed record are the ones DISCOVER answers carry. */
static bool reg__signed(const struct rdv_reg *g) { return g->envelope != NULL; }

static void reg__signed_add(struct registry *r, struct rdv_reg *g)
{
    if (!reg__signed(g))
        return;
    reg__seq_append(&g->ns->signed_seq, g);
    reg__seq_append(&r->signed_seq, g);
    reg__dense_add(g->ns, g);
}

static void reg__signed_del(struct registry *r, struct rdv_reg *g)
{
    if (!reg__signed(g))
        return;
    reg__seq_del(&g->ns->signed_seq, g);
    reg__seq_del(&r->signed_seq, g);
    reg__dense_del(g->ns, g);
}

/* ---- peers ------------------------------------------------------------ */

static struct rdv_peer *reg__peer_find(const struct registry *r, const struct peer_id *id)
{
    struct peer_ref *e = peer_ids_find(&r->ids, id);
    return e ? e->owner : NULL;
}

/* (peer, ns)'s registration: the shorter of the two lists it is on is
 * walked, the peer's (at most max_regs_per_peer) or the namespace's. */
static struct rdv_reg *reg__find(const struct rdv_ns *ns, const struct rdv_peer *p,
                                 const struct peer_id *id)
{
    struct rdv_reg *g;
    if (ns == NULL || p == NULL)
        return NULL;
    if (p->count <= ns->nregs) {
        for (g = p->regs; g; g = g->pe_next)
            if (g->ns == ns)
                return g;
        return NULL;
    }
    for (g = ns->regs; g; g = g->ns_next)
        if (peerid_eq(g->peer, id))
            return g;
    return NULL;
}

/* s's subscription to ns, by the shorter list (the session's is at most
 * max_subs_per_session long). */
static struct rdv_sub *reg__sub_find(const struct rdv_ns *ns, const struct rdv_session *s)
{
    struct rdv_sub *sub;
    if (s->nsubs <= ns->nsubs) {
        for (sub = s->subs; sub; sub = sub->se_next)
            if (sub->ns == ns)
                return sub;
        return NULL;
    }
    for (sub = ns->subs; sub; sub = sub->ns_next)
        if (sub->session == s)
            return sub;
    return NULL;
}

static bool reg__rate_limited(const struct registry *r) { return r->limits.register_rate > 0; }

static double reg__burst(const struct registry *r)
{
    return r->limits.register_burst ? (double)r->limits.register_burst : 1.0;
}

/* Tokens in p's bucket at now (the clock may step back: no refill then). */
static double reg__tokens(const struct registry *r, const struct rdv_peer *p, double now)
{
    double t = p->tokens, burst = reg__burst(r);
    if (now > p->last)
        t += (now - p->last) * r->limits.register_rate;
    return t < burst ? t : burst;
}

/* What a refresh (a re-register that changes nothing) costs, in tokens. */
#define REG__REFRESH_COST 0.1

static void reg__take_tokens(struct registry *r, struct rdv_peer *p, double now, double cost)
{
    p->tokens = reg__tokens(r, p, now) - cost;
    p->last = now;
}

/* Refuses a new request (not a restore: req->seq) of p that costs `cost`
 * tokens when p's bucket has fewer. */
static bool reg__over_rate(struct registry *r, const struct rdv_peer *p,
                           const struct rdv_register *req, double cost)
{
    if (req->seq || !reg__rate_limited(r) || !p || reg__tokens(r, p, req->now) >= cost)
        return false;
    r->stats.rate_limited++;
    return true;
}

static void reg__peer_free(struct registry *r, struct rdv_peer *p)
{
    p->ref->owner = NULL;
    peer_ids_put(&r->ids, p->ref);
    free(p);
}

/* Frees the idle peers whose bucket has refilled by now. The list is in the
 * order the peers became idle, which is close to the order they are due:
 * one may wait behind another for at most burst / rate seconds. */
static void reg__idle_collect(struct registry *r, double now)
{
    struct rdv_peer *p;
    while ((p = r->idle_peers) != NULL) {
        if (reg__rate_limited(r) && reg__tokens(r, p, now) < reg__burst(r))
            break;
        DL_DELETE2(r->idle_peers, p, idle_prev, idle_next);
        reg__peer_free(r, p);
    }
}

/* g's peer entry (created if needed) takes g; g->peer points at its id. */
static void reg__peer_add(struct registry *r, struct rdv_reg *g, const struct peer_id *id,
                          double now)
{
    struct rdv_peer *p = reg__peer_find(r, id);
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->ref = peer_ids_get(&r->ids, id);
        p->ref->owner = p;
        p->tokens = reg__burst(r);
        p->last = now;
    } else if (p->count == 0) {
        DL_DELETE2(r->idle_peers, p, idle_prev, idle_next);
    }
    if (p->count == 0)
        r->stats.peers++;
    DL_APPEND2(p->regs, g, pe_prev, pe_next);
    p->count++;
    g->peer = &p->ref->id;
}

static struct rdv_peer *reg__peer_of(const struct rdv_reg *g)
{
    return peer_ref_of(g->peer)->owner;
}

/* A peer left without registrations goes on the idle list even with a
 * full bucket: the registration being removed still points at its id
 * until its on_unregister returns, and the list frees it later
 * (reg__idle_collect). */
static void reg__peer_del(struct registry *r, struct rdv_reg *g)
{
    struct rdv_peer *p = reg__peer_of(g);
    DL_DELETE2(p->regs, g, pe_prev, pe_next);
    if (--p->count == 0) {
        r->stats.peers--;
        DL_APPEND2(r->idle_peers, p, idle_prev, idle_next);
    }
}

/* ---- expiry heap (min on expires, ties by seq) ------------------------ */

static bool reg__heap_less(const struct rdv_reg *a, const struct rdv_reg *b)
{
    return a->exp.at < b->exp.at || (a->exp.at == b->exp.at && a->seq < b->seq);
}

static void reg__heap_set(struct registry *r, size_t i, struct rdv_reg *g)
{
    r->heap[i] = g;
    g->exp.heap_index = i;
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
    reg__heap_up(r, g->exp.heap_index);
}

static void reg__heap_del(struct registry *r, struct rdv_reg *g)
{
    size_t i = g->exp.heap_index;
    struct rdv_reg *last = r->heap[--r->heap_len];
    g->exp.heap_index = REG__NO_HEAP;
    if (last == g)
        return;
    reg__heap_set(r, i, last);
    reg__heap_up(r, i);
    reg__heap_down(r, last->exp.heap_index);
}

/* Puts nr where old was in the heap (or in/out of it), old leaves it. */
static void reg__heap_replace(struct registry *r, struct rdv_reg *old, struct rdv_reg *nr)
{
    bool was = old->owner == NULL, is = nr->owner == NULL; /* in the heap: TTL regs */
    if (was && is) {
        size_t i = old->exp.heap_index;
        old->exp.heap_index = REG__NO_HEAP;
        reg__heap_set(r, i, nr);
        reg__heap_up(r, i);
        reg__heap_down(r, nr->exp.heap_index);
    } else if (was) {
        reg__heap_del(r, old);
    } else if (is) {
        reg__heap_push(r, nr);
    }
}

/* ---- registrations ---------------------------------------------------- */

static void reg__event(const struct registry *r, enum reg__event_kind kind, const struct rdv_reg *g)
{
    for (size_t i = 0; i < r->nlisteners; i++) {
        const struct registry_events *ev = r->listeners[i].ev;
        void (*fn)(void *, const struct rdv_reg *) =
            kind == REG__EV_REGISTER ? ev->on_register
            : kind == REG__EV_REFRESH ? ev->on_refresh : ev->on_unregister;
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
    if (q->naddrs > l->max_addrs || q->naddrs > UINT16_MAX || (q->naddrs && !q->addrs))
        return RDV_E_ADDRS;
    size_t bytes = 0;
    for (size_t i = 0; i < q->naddrs; i++) {
        if (q->addrs[i].len > l->max_addr_bytes - bytes || (q->addrs[i].len && !q->addrs[i].bytes))
            return RDV_E_ADDRS;
        bytes += q->addrs[i].len;
    }
    /* an oversized signed record has no code of its own: it is address data */
    size_t env = q->envelope ? q->envelope_len : 0;
    if (env > l->max_envelope || env > UINT32_MAX)
        return RDV_E_ADDRS;
    size_t meta = q->metadata ? q->metadata_len : 0;
    if (meta > l->max_metadata || meta > UINT32_MAX)
        return RDV_E_METADATA;
    /* a TTL registration has no owner, a push one has no TTL */
    if ((q->ttl == 0) != (q->owner != NULL))
        return RDV_E_TTL;
    if (q->ttl > UINT32_MAX || (q->ttl && !isfinite(q->now + (double)q->ttl)))
        return RDV_E_TTL;
    /* a restored registration keeps its deadline and its place in the order
     * (a push one, applied from a cluster's log, has a seq and no deadline) */
    if (q->seq == UINT64_MAX || (q->expires != 0 && (q->seq == 0 || !isfinite(q->expires))) ||
        (q->seq && q->ttl && q->expires == 0) || (q->ttl == 0 && q->expires != 0))
        return RDV_E_NOT_FOUND;
    size_t total = sizeof(struct rdv_reg);
    if (q->naddrs > (SIZE_MAX - total) / sizeof(struct rdv_addr))
        return RDV_E_ADDRS;
    total += q->naddrs * sizeof(struct rdv_addr);
    if (bytes > SIZE_MAX - total || env > SIZE_MAX - total - bytes ||
        meta > SIZE_MAX - total - bytes - env)
        return RDV_E_ADDRS;
    *block = total + bytes + env + meta;
    return RDV_OK;
}

void registry_set_wire(const struct rdv_reg *g, uint8_t *wire)
{
    struct rdv_reg *w = (struct rdv_reg *)g; /* the registry's own block */
    free(w->wire);
    w->wire = wire;
}

/* g's seq (q's own when restored or applied from a log, else the next one),
 * TTL and deadline. */
static void reg__stamp(struct registry *r, struct rdv_reg *g, const struct rdv_register *q)
{
    if (q->seq) {
        g->seq = q->seq;
        if (q->seq >= r->next_seq)
            r->next_seq = q->seq + 1;
    } else {
        g->seq = r->next_seq++;
    }
    if (q->owner == NULL) { /* an owned one has no deadline, and no room for one */
        g->exp.ttl = (uint32_t)q->ttl;
        g->exp.at = q->seq ? q->expires : q->now + (double)q->ttl;
    }
}

/* One block: struct, address array, address bytes, envelope, metadata. */
static struct rdv_reg *reg__build(struct registry *r, const struct rdv_register *q, size_t block)
{
    struct rdv_reg *g = xcalloc(1, block);
    uint8_t *p = (uint8_t *)g->addrs;
    reg__stamp(r, g, q);
    g->dialect = q->dialect;
    g->owner = q->owner;
    if (g->owner == NULL)
        g->exp.heap_index = REG__NO_HEAP;
    g->naddrs = (uint16_t)q->naddrs;
    if (q->naddrs) {
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
        g->envelope_len = (uint32_t)q->envelope_len;
        if (q->envelope_len)
            memcpy(p, q->envelope, q->envelope_len);
        p += q->envelope_len;
    }
    if (q->metadata && q->metadata_len) {
        g->metadata_len = (uint32_t)q->metadata_len;
        memcpy(p, q->metadata, q->metadata_len);
    }
    return g;
}

const uint8_t *registry_metadata(const struct rdv_reg *g)
{
    if (g->envelope)
        return g->envelope + g->envelope_len;
    if (g->naddrs)
        return g->addrs[g->naddrs - 1].bytes + g->addrs[g->naddrs - 1].len;
    return (const uint8_t *)g->addrs;
}

static void reg__insert(struct registry *r, struct rdv_ns *ns, struct rdv_reg *g,
                        const struct peer_id *id, double now)
{
    g->ns = ns;
    reg__peer_add(r, g, id, now);
    DL_APPEND2(ns->regs, g, ns_prev, ns_next);
    ns->nregs++;
    reg__signed_add(r, g);
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
    struct rdv_peer *p = reg__peer_of(old);
    nr->ns = ns;
    nr->peer = old->peer;
    DL_DELETE2(ns->regs, old, ns_prev, ns_next);
    DL_APPEND2(ns->regs, nr, ns_prev, ns_next);
    reg__signed_del(r, old);
    reg__signed_add(r, nr);
    DL_DELETE2(p->regs, old, pe_prev, pe_next);
    DL_APPEND2(p->regs, nr, pe_prev, pe_next);
    /* add before removing, so a session keeping its registration never
     * looks idle in between */
    reg__owner_add(r, nr);
    reg__owner_del(r, old);
    reg__heap_replace(r, old, nr);
    r->stats.regs_by_dialect[old->dialect]--;
    r->stats.regs_by_dialect[nr->dialect]++;
}

static void reg__unlink(struct registry *r, struct rdv_reg *g)
{
    struct rdv_ns *ns = g->ns;
    DL_DELETE2(ns->regs, g, ns_prev, ns_next);
    ns->nregs--;
    reg__signed_del(r, g);
    reg__peer_del(r, g);
    reg__owner_del(r, g);
    if (g->owner == NULL)
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
    reg__event(r, REG__EV_UNREGISTER, g);
    w->pins--;
    reg__free_block(g);
    reg__ns_gc(r, ns);
}

/* Whether q would store exactly what g holds, apart from the TTL. */
static bool reg__same(const struct rdv_reg *g, const struct rdv_register *q)
{
    if (g->dialect != q->dialect || g->owner != q->owner || g->naddrs != q->naddrs)
        return false;
    for (size_t i = 0; i < g->naddrs; i++)
        if (g->addrs[i].len != q->addrs[i].len ||
            (g->addrs[i].len && memcmp(g->addrs[i].bytes, q->addrs[i].bytes, g->addrs[i].len) != 0))
            return false;
    size_t meta = q->metadata ? q->metadata_len : 0;
    if (g->metadata_len != meta ||
        (meta && memcmp(registry_metadata(g), q->metadata, meta) != 0))
        return false;
    if ((g->envelope != NULL) != (q->envelope != NULL))
        return false;
    return g->envelope == NULL ||
           (g->envelope_len == q->envelope_len &&
            (g->envelope_len == 0 || memcmp(g->envelope, q->envelope, g->envelope_len) == 0));
}

/* An unchanged re-register: new seq and expiry, in place. */
static void reg__refresh(struct registry *r, struct rdv_reg *g, const struct rdv_register *q)
{
    struct rdv_ns *ns = g->ns;
    if (reg__signed(g)) {
        reg__seq_del(&ns->signed_seq, g);
        reg__seq_del(&r->signed_seq, g);
    }
    reg__stamp(r, g, q);
    DL_DELETE2(ns->regs, g, ns_prev, ns_next);
    DL_APPEND2(ns->regs, g, ns_prev, ns_next);
    if (reg__signed(g)) {
        reg__seq_append(&ns->signed_seq, g);
        reg__seq_append(&r->signed_seq, g);
    }
    if (g->owner == NULL) {
        reg__heap_up(r, g->exp.heap_index);
        reg__heap_down(r, g->exp.heap_index);
    }
}

/* A restored registration goes at the end of every seq order it joins: its
 * seq must be above the newest there (a store loads in seq order). */
static bool reg__restorable(const struct registry *r, const struct rdv_ns *ns, uint64_t seq)
{
    const struct rdv_seq_index *all = &r->signed_seq;
    if (all->len && all->v[all->len - 1].seq >= seq)
        return false;
    return ns == NULL || ns->regs == NULL || ns->regs->ns_prev->seq < seq;
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
    reg__idle_collect(r, req->now);
    struct rdv_ns *ns = registry_ns(r, req->ns, req->ns_len);
    struct rdv_peer *p = reg__peer_find(r, req->peer);
    struct rdv_reg *old = reg__find(ns, p, req->peer);
    if (!old) {
        if (p && p->count >= r->limits.max_regs_per_peer)
            return RDV_E_PEER_LIMIT;
        if (r->stats.regs >= r->limits.max_regs_total || r->stats.regs >= UINT32_MAX - 1)
            return RDV_E_TOTAL_LIMIT;
        if (!ns && r->stats.namespaces >= r->limits.max_namespaces)
            return RDV_E_TOTAL_LIMIT;
    }
    if (r->next_seq == UINT64_MAX)   /* never in practice; keeps seqs unique */
        return RDV_E_TOTAL_LIMIT;
    if (req->seq && !reg__restorable(r, ns, req->seq))
        return RDV_E_NOT_FOUND;
    if (old && reg__same(old, req)) {
        if (reg__over_rate(r, p, req, REG__REFRESH_COST))
            return RDV_E_RATE_LIMIT;
        reg__refresh(r, old, req);
        if (!req->seq && reg__rate_limited(r))
            reg__take_tokens(r, p, req->now, REG__REFRESH_COST);
        if (out)
            *out = old;
        reg__event(r, REG__EV_REFRESH, old);
        return RDV_OK;
    }
    /* a peer without an entry has a full bucket; restoring spends nothing */
    if (reg__over_rate(r, p, req, 1.0))
        return RDV_E_RATE_LIMIT;
    struct rdv_reg *g = reg__build(r, req, block);
    if (old) {
        reg__replace(r, old, g);
        reg__free_block(old);
    } else {
        if (!ns)
            ns = reg__ns_create(r, req->ns, req->ns_len);
        reg__insert(r, ns, g, req->peer, req->now);
    }
    if (!req->seq && reg__rate_limited(r))
        reg__take_tokens(r, reg__peer_find(r, req->peer), req->now, 1.0);
    if (out)
        *out = g;
    reg__event(r, REG__EV_REGISTER, g);
    return RDV_OK;
}

const struct rdv_reg *registry_find(const struct registry *r, const char *ns, size_t ns_len,
                                    const struct peer_id *peer)
{
    struct rdv_ns *n = registry_ns(r, ns, ns_len);
    if (!n || !peer || peer->len == 0 || peer->len > PEERID_MAX)
        return NULL;
    return reg__find(n, reg__peer_find(r, peer), peer);
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
        if (reg__sub_find(n, s)) {
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
    struct rdv_sub *w = xcalloc(1, sizeof *w);
    w->ns = n;
    w->session = s;
    if (reg__session_idle(s))
        r->stats.sessions++;
    DL_APPEND2(n->subs, w, ns_prev, ns_next);
    n->nsubs++;
    LL_PREPEND2(s->subs, w, se_next);
    s->nsubs++;
    r->stats.subs++;
    if (ns_out)
        *ns_out = n;
    return RDV_OK;
}

/* Removes the first subscription of its session. */
static void reg__sub_remove(struct registry *r, struct rdv_sub *sub)
{
    assert(sub == sub->session->subs);
    struct rdv_ns *ns = sub->ns;
    struct rdv_session *s = sub->session;
    DL_DELETE2(ns->subs, sub, ns_prev, ns_next);
    ns->nsubs--;
    s->subs = sub->se_next; /* sub is the session's first (registry_session_end) */
    s->nsubs--;
    if (reg__session_idle(s))
        r->stats.sessions--;
    r->stats.subs--;
    free(sub);
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

void registry_session_move(struct registry *r, struct rdv_session *from, struct rdv_session *to)
{
    struct rdv_reg *g;
    while ((g = from->regs) != NULL) {
        reg__owner_del(r, g);
        g->owner = to;
        reg__owner_add(r, g);
    }
}

/* ---- queries ------------------------------------------------------------ */

size_t registry_list(const struct registry *r, const struct rdv_ns *ns, uint64_t after,
                     const struct rdv_reg **out, size_t limit)
{
    const struct rdv_seq_index *x = ns ? &ns->signed_seq : &r->signed_seq;
    size_t n = 0;
    if (!out)
        return 0;
    for (size_t i = reg__seq_after(x, after); i < x->len && n < limit; i++)
        if (x->v[i].reg)
            out[n++] = x->v[i].reg;
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

/* Partial Fisher-Yates in place on ns->dense (the signed regs only): its
 * order means nothing, so permuting it (and the ns_index fields) is
 * invisible and costs no copy. O(limit). */
size_t registry_sample(const struct registry *r, const struct rdv_ns *ns,
                       const struct rdv_reg **out, size_t limit)
{
    (void)r;
    size_t n = 0;
    if (!ns || !out)
        return 0;
    struct rdv_reg **d = ns->dense;
    for (size_t i = 0; i < ns->nsigned && n < limit; i++) {
        size_t j = i + reg__uniform(ns->nsigned - i);
        struct rdv_reg *t = d[i];
        d[i] = d[j];
        d[j] = t;
        d[i]->ns_index = i;
        d[j]->ns_index = j;
        out[n++] = d[i];
    }
    return n;
}

/* ---- expiry ------------------------------------------------------------- */

double registry_next_expiry(const struct registry *r)
{
    return r->heap_len ? r->heap[0]->exp.at : -1.0;
}

size_t registry_expire(struct registry *r, double now)
{
    size_t n = 0;
    reg__idle_collect(r, now);
    /* the top is re-read each time: a callback may have changed the heap */
    while (r->heap_len && r->heap[0]->exp.at <= now) {
        r->stats.expired++;
        reg__remove(r, r->heap[0]);
        n++;
    }
    return n;
}
