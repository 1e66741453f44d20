/* The registry: registration lifecycle, limits, namespace validation, push
 * sessions and takeovers, cookie listing, sampling, expiry, exact stats
 * (against a simple array model under random operations). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <utlist.h>

#include "base/mem.h"
#include "registry/registry.h"
#include "peer_helpers.h"

/* ---- fixtures ------------------------------------------------------------ */

#define EV_MAX 4096

struct ev_rec {
    bool added;
    uint64_t seq;
    uint8_t peer;        /* b[2] of the peer id: the test's peer number */
    char ns[RDV_NS_MAX + 1];
    const struct rdv_session *owner;
    double expires;
};

struct evlog {
    struct ev_rec ev[EV_MAX];
    size_t n, nreg, nunreg, nrefresh;
    const struct rdv_reg *refreshed;   /* the last on_refresh */
    /* optional hooks for the callback tests */
    struct registry *reg;
    void (*hook)(struct evlog *l, bool added, const struct rdv_reg *g);
    void *hook_arg;
};

static void log_ev(struct evlog *l, bool added, const struct rdv_reg *g)
{
    if (added)
        l->nreg++;
    else
        l->nunreg++;
    if (l->n < EV_MAX) {
        struct ev_rec *e = &l->ev[l->n++];
        e->added = added;
        e->seq = g->seq;
        e->peer = g->peer->b[2];
        memcpy(e->ns, g->ns->name, g->ns->len + 1);
        e->owner = g->owner;
        e->expires = registry_expires(g);
    }
    if (l->hook)
        l->hook(l, added, g);
}

static void on_reg(void *ctx, const struct rdv_reg *g) { log_ev(ctx, true, g); }
static void on_unreg(void *ctx, const struct rdv_reg *g) { log_ev(ctx, false, g); }

static void on_refresh(void *ctx, const struct rdv_reg *g)
{
    struct evlog *l = ctx;
    l->nrefresh++;
    l->refreshed = g;
}

static const struct registry_events events = {
    .on_register = on_reg, .on_unregister = on_unreg, .on_refresh = on_refresh,
};


struct tctx {
    struct registry r;
    struct evlog *log;
};

static int setup(void **state)
{
    struct tctx *t = calloc(1, sizeof *t);
    t->log = calloc(1, sizeof *t->log);
    t->log->reg = &t->r;
    registry_init(&t->r, NULL, 1000, &events, t->log);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tctx *t = *state;
    registry_free(&t->r);
    free(t->log);
    free(t);
    return 0;
}

static const uint8_t ADDR1[] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1};
static const uint8_t ADDR2[] = {0x04, 10, 0, 0, 2, 0x06, 0x0f, 0xa2};
static const uint8_t ENV[] = "signed-envelope-bytes";

/* A TTL registration (standard dialect, signed) or a push one (owner). */
static enum rdv_status reg_ttl(struct registry *r, const char *ns, unsigned peer, uint64_t ttl,
                               double now, bool sig, const struct rdv_reg **out)
{
    struct peer_id p = mkpeer(peer);
    struct rdv_addr a[2] = {{ADDR1, sizeof ADDR1}, {ADDR2, sizeof ADDR2}};
    struct rdv_register q = {
        .ns = ns, .ns_len = strlen(ns), .peer = &p, .dialect = RDV_DIALECT_STANDARD,
        .addrs = a, .naddrs = 2, .envelope = sig ? ENV : NULL, .envelope_len = sig ? sizeof ENV : 0,
        .ttl = ttl, .owner = NULL, .now = now,
    };
    return registry_register(r, &q, out);
}

/* A session's peer number, kept beside it here as a daemon's push session
 * keeps its peer (the registry does not know a session's peer). */
struct sess_tag {
    const struct rdv_session *s;
    unsigned peer;
};
static struct sess_tag *sess_tags;
static size_t nsess_tags, sess_tags_cap;

static void sess_init(struct rdv_session *s, unsigned peer)
{
    registry_session_init(s);
    for (size_t i = 0; i < nsess_tags; i++)
        if (sess_tags[i].s == s) {
            sess_tags[i].peer = peer;
            return;
        }
    if (nsess_tags == sess_tags_cap) {
        sess_tags_cap = sess_tags_cap ? 2 * sess_tags_cap : 64;
        sess_tags = xrealloc(sess_tags, sess_tags_cap * sizeof *sess_tags);
    }
    sess_tags[nsess_tags++] = (struct sess_tag){s, peer};
}

static unsigned sess_peer(const struct rdv_session *s)
{
    for (size_t i = 0; i < nsess_tags; i++)
        if (sess_tags[i].s == s)
            return sess_tags[i].peer;
    fail_msg("a session without a peer number");
    return 0;
}

static enum rdv_status reg_push(struct registry *r, const char *ns, struct rdv_session *s,
                                const struct rdv_reg **out)
{
    struct rdv_addr a[1] = {{ADDR1, sizeof ADDR1}};
    struct peer_id p = mkpeer(sess_peer(s));
    struct rdv_register q = {
        .ns = ns, .ns_len = strlen(ns), .peer = &p, .dialect = RDV_DIALECT_PUSH,
        .addrs = a, .naddrs = 1, .ttl = 0, .owner = s, .now = 0,
    };
    return registry_register(r, &q, out);
}

static const struct rdv_reg *find(struct registry *r, const char *ns, unsigned peer)
{
    struct peer_id p = mkpeer(peer);
    return registry_find(r, ns, strlen(ns), &p);
}

/* ---- basic lifecycle ----------------------------------------------------- */

static void register_find_unregister(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *g;
    assert_int_equal(reg_ttl(r, "chat", 1, 7200, 100.0, true, &g), RDV_OK);
    assert_non_null(g);
    assert_ptr_equal(find(r, "chat", 1), g);
    assert_null(find(r, "chat", 2));
    assert_null(find(r, "other", 1));
    assert_int_equal(g->seq, 1000);
    assert_int_equal(registry_last_seq(r), 1000);
    assert_string_equal(g->ns->name, "chat");
    assert_int_equal(g->naddrs, 2);
    assert_memory_equal(g->addrs[0].bytes, ADDR1, sizeof ADDR1);
    assert_memory_equal(g->addrs[1].bytes, ADDR2, sizeof ADDR2);
    assert_int_equal(g->envelope_len, sizeof ENV);
    assert_memory_equal(g->envelope, ENV, sizeof ENV);
    assert_true(registry_expires(g) == 7300.0);
    assert_null(g->owner);
    assert_int_equal(t->log->nreg, 1);
    assert_int_equal(r->stats.regs, 1);
    assert_int_equal(r->stats.namespaces, 1);
    assert_int_equal(r->stats.peers, 1);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_STANDARD], 1);

    struct peer_id p1 = mkpeer(1), p2 = mkpeer(2);
    assert_int_equal(registry_unregister(r, "chat", 4, &p2, NULL), RDV_E_NOT_FOUND);
    assert_int_equal(registry_unregister(r, "nope", 4, &p1, NULL), RDV_E_NOT_FOUND);
    assert_int_equal(registry_unregister(r, "chat", 4, &p1, NULL), RDV_OK);
    assert_int_equal(t->log->nunreg, 1);
    assert_false(t->log->ev[1].added);
    assert_int_equal(t->log->ev[1].seq, 1000);
    assert_string_equal(t->log->ev[1].ns, "chat");
    assert_null(find(r, "chat", 1));
    assert_null(registry_ns(r, "chat", 4));
    assert_int_equal(r->stats.regs, 0);
    assert_int_equal(r->stats.namespaces, 0);
    assert_int_equal(r->stats.peers, 0);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_STANDARD], 0);
    assert_true(registry_next_expiry(r) < 0);
}

static void reregister_moves_to_end(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *g, *out[8];
    assert_int_equal(reg_ttl(r, "ns", 1, 7200, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "ns", 2, 7200, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "ns", 3, 7200, 0, true, NULL), RDV_OK);
    /* same (peer, ns) again: new seq, last in order, new addresses, one reg */
    struct peer_id p1 = mkpeer(1);
    struct rdv_addr a = {ADDR2, sizeof ADDR2};
    struct rdv_register q = {.ns = "ns", .ns_len = 2, .peer = &p1, .dialect = RDV_DIALECT_WAKU,
                             .addrs = &a, .naddrs = 1, .envelope = ENV, .envelope_len = 3,
                             .ttl = 20, .now = 10};
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(g->seq, 1003);
    assert_int_equal(g->naddrs, 1);
    assert_memory_equal(g->addrs[0].bytes, ADDR2, sizeof ADDR2);
    assert_int_equal(g->envelope_len, 3);
    assert_int_equal(g->dialect, RDV_DIALECT_WAKU);
    assert_true(registry_expires(g) == 30.0);
    assert_int_equal(t->log->nreg, 4);
    assert_int_equal(t->log->nunreg, 0);
    assert_int_equal(t->log->ev[3].seq, 1003);
    assert_int_equal(r->stats.regs, 3);
    assert_int_equal(r->stats.peers, 3);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_STANDARD], 2);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_WAKU], 1);
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    assert_int_equal(registry_list(r, ns, 0, out, 8), 3);
    assert_int_equal(out[0]->peer->b[2], 2);
    assert_int_equal(out[1]->peer->b[2], 3);
    assert_ptr_equal(out[2], g);
    assert_int_equal(registry_list(r, NULL, 0, out, 8), 3);
    assert_ptr_equal(out[2], g);
    /* the earliest deadline is now the re-registered one */
    assert_true(registry_next_expiry(r) == 30.0);
    /* a cookie taken before the refresh sees it again */
    assert_int_equal(registry_list(r, ns, 1002, out, 8), 1);
    assert_ptr_equal(out[0], g);
}

static void reregister_longer_ttl_next_expiry(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    assert_int_equal(reg_ttl(r, "a", 1, 10, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "b", 2, 50, 0, true, NULL), RDV_OK);
    assert_true(registry_next_expiry(r) == 10.0);
    assert_int_equal(reg_ttl(r, "a", 1, 100, 0, true, NULL), RDV_OK);
    assert_true(registry_next_expiry(r) == 50.0);
    assert_int_equal(registry_expire(r, 60), 1);
    assert_true(registry_next_expiry(r) == 100.0);
    assert_int_equal(registry_expire(r, 99.9), 0);
    assert_int_equal(registry_expire(r, 100), 1);
    assert_true(registry_next_expiry(r) < 0);
    assert_int_equal(r->stats.expired, 2);
    assert_int_equal(r->stats.namespaces, 0);
}

/* ---- limits and validation ------------------------------------------- */

static void limits_default(void **state)
{
    (void)state;
    struct registry_limits l;
    registry_limits_default(&l);
    assert_int_equal(l.max_ns_len, 255);
    assert_int_equal(l.max_addrs, 32);
    assert_int_equal(l.max_addr_bytes, 2048);
    assert_int_equal(l.max_envelope, 8192);
    assert_int_equal(l.max_regs_per_peer, 1000);
    assert_int_equal(l.max_regs_total, 1000000);
    assert_int_equal(l.max_namespaces, 100000);
    assert_int_equal(l.max_subs_per_session, 1000);
}

static void limits_enforced(void **state)
{
    (void)state;
    struct registry r;
    struct registry_limits l;
    struct evlog *log = calloc(1, sizeof *log);
    registry_limits_default(&l);
    l.max_regs_per_peer = 3;
    l.max_regs_total = 5;
    l.max_namespaces = 4;
    l.max_subs_per_session = 2;
    l.max_addrs = 2;
    l.max_addr_bytes = 16;
    l.max_envelope = 30;
    registry_init(&r, &l, 1, &events, log);

    /* per peer: distinct namespaces; a re-register does not count twice */
    assert_int_equal(reg_ttl(&r, "n1", 1, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n2", 1, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n3", 1, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n1", 1, 70, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n4", 1, 60, 0, true, NULL), RDV_E_PEER_LIMIT);
    /* namespaces: 3 used, one more allowed */
    assert_int_equal(reg_ttl(&r, "n4", 2, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n5", 2, 60, 0, true, NULL), RDV_E_TOTAL_LIMIT);
    /* total: 4 used, one more allowed */
    assert_int_equal(reg_ttl(&r, "n1", 3, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(&r, "n2", 3, 60, 0, true, NULL), RDV_E_TOTAL_LIMIT);
    /* but a refresh at the total limit is fine */
    assert_int_equal(reg_ttl(&r, "n2", 1, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(r.stats.regs, 5);
    assert_int_equal(r.stats.namespaces, 4);
    assert_int_equal(log->nreg, 5);      /* the two re-registers changed nothing */
    assert_int_equal(log->nrefresh, 2);

    /* subscriptions per session; subscribing twice is a no-op */
    struct rdv_session s;
    struct rdv_ns *ns;
    sess_init(&s, 9);
    assert_int_equal(registry_subscribe(&r, &s, "n1", 2, &ns), RDV_OK);
    assert_ptr_equal(ns, registry_ns(&r, "n1", 2));
    assert_int_equal(registry_subscribe(&r, &s, "n1", 2, &ns), RDV_OK);
    assert_int_equal(s.nsubs, 1);
    assert_int_equal(registry_subscribe(&r, &s, "n2", 2, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(&r, &s, "n3", 2, &ns), RDV_E_SUB_LIMIT);
    assert_null(ns);
    assert_int_equal(registry_subscribe(&r, &s, "n2", 2, &ns), RDV_OK);
    assert_int_equal(r.stats.subs, 2);
    /* a subscription to a new namespace counts against max_namespaces */
    struct rdv_session s2;
    sess_init(&s2, 9);
    assert_int_equal(registry_subscribe(&r, &s2, "zz", 2, &ns), RDV_E_TOTAL_LIMIT);
    assert_int_equal(registry_subscribe(&r, &s2, "", 0, &ns), RDV_E_NAMESPACE);
    assert_int_equal(r.stats.sessions, 1);

    /* addresses and envelope */
    struct peer_id p4 = mkpeer(4);
    uint8_t big[31] = {0};
    struct rdv_addr a3[3] = {{ADDR1, 8}, {ADDR1, 8}, {ADDR1, 8}};
    struct rdv_register q = {.ns = "n1", .ns_len = 2, .peer = &p4,
                             .dialect = RDV_DIALECT_STANDARD, .addrs = a3, .naddrs = 3,
                             .ttl = 60, .now = 0};
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_ADDRS);   /* 3 addrs */
    a3[1].len = 9;
    q.naddrs = 2;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_ADDRS);   /* 17 bytes */
    a3[1].len = 8;
    q.envelope = big;
    q.envelope_len = sizeof big;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_ADDRS);   /* record too big */
    /* TTL and owner must agree */
    q.envelope_len = 30;
    q.ttl = 0;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_TTL);
    q.ttl = 60;
    q.owner = &s;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_TTL);
    q.owner = NULL;
    /* within limits, but the total is reached */
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_TOTAL_LIMIT);
    assert_int_equal(log->nreg, 5);
    assert_int_equal(log->nunreg, 0);

    registry_session_end(&r, &s);
    assert_int_equal(r.stats.subs, 0);
    assert_int_equal(r.stats.sessions, 0);
    registry_free(&r);
    free(log);
}

static void namespace_validation(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    char name[300];
    memset(name, 'a', sizeof name);
    assert_int_equal(registry_check_ns(r, "", 0), -1);
    assert_int_equal(registry_check_ns(r, NULL, 0), -1);
    assert_int_equal(registry_check_ns(r, name, 1), 0);
    assert_int_equal(registry_check_ns(r, name, 255), 0);
    assert_int_equal(registry_check_ns(r, name, 256), -1);
    assert_int_equal(registry_check_ns(r, "caf\xc3\xa9", 5), 0);       /* é */
    assert_int_equal(registry_check_ns(r, "\xe2\x82\xac", 3), 0);      /* € */
    assert_int_equal(registry_check_ns(r, "\xf0\x9f\x98\x80", 4), 0);  /* U+1F600 */
    assert_int_equal(registry_check_ns(r, "\xf4\x8f\xbf\xbf", 4), 0);  /* U+10FFFF */
    assert_int_equal(registry_check_ns(r, "\xed\x9f\xbf", 3), 0);      /* U+D7FF */
    assert_int_equal(registry_check_ns(r, "\xee\x80\x80", 3), 0);      /* U+E000 */
    assert_int_equal(registry_check_ns(r, "a\0b", 3), -1);             /* NUL */
    assert_int_equal(registry_check_ns(r, "\x80", 1), -1);             /* lone continuation */
    assert_int_equal(registry_check_ns(r, "\xc3", 1), -1);             /* truncated */
    assert_int_equal(registry_check_ns(r, "\xe2\x82", 2), -1);         /* truncated */
    assert_int_equal(registry_check_ns(r, "\xc0\xaf", 2), -1);         /* overlong '/' */
    assert_int_equal(registry_check_ns(r, "\xc1\xbf", 2), -1);         /* overlong */
    assert_int_equal(registry_check_ns(r, "\xe0\x80\xaf", 3), -1);     /* overlong */
    assert_int_equal(registry_check_ns(r, "\xe0\x9f\xbf", 3), -1);     /* overlong */
    assert_int_equal(registry_check_ns(r, "\xf0\x8f\xbf\xbf", 4), -1); /* overlong */
    assert_int_equal(registry_check_ns(r, "\xed\xa0\x80", 3), -1);     /* U+D800 */
    assert_int_equal(registry_check_ns(r, "\xed\xbf\xbf", 3), -1);     /* U+DFFF */
    assert_int_equal(registry_check_ns(r, "\xf4\x90\x80\x80", 4), -1); /* U+110000 */
    assert_int_equal(registry_check_ns(r, "\xf5\x80\x80\x80", 4), -1);
    assert_int_equal(registry_check_ns(r, "\xff", 1), -1);
    assert_int_equal(registry_check_ns(r, "\xe2\x28\xa1", 3), -1);     /* bad continuation */

    /* registering and subscribing apply the same check */
    name[255] = '\0';
    assert_int_equal(reg_ttl(r, name, 1, 60, 0, true, NULL), RDV_OK);
    name[255] = 'a';
    name[256] = '\0';
    assert_int_equal(reg_ttl(r, name, 1, 60, 0, true, NULL), RDV_E_NAMESPACE);
    assert_int_equal(reg_ttl(r, "", 1, 60, 0, true, NULL), RDV_E_NAMESPACE);
    assert_int_equal(reg_ttl(r, "\xed\xa0\x80", 1, 60, 0, true, NULL), RDV_E_NAMESPACE);
    struct rdv_session s;
    struct rdv_ns *ns;
    sess_init(&s, 1);
    assert_int_equal(registry_subscribe(r, &s, name, 256, &ns), RDV_E_NAMESPACE);
    assert_int_equal(registry_subscribe(r, &s, "\xc0\xaf", 2, &ns), RDV_E_NAMESPACE);
    assert_int_equal(r->stats.namespaces, 1);
    assert_int_equal(r->stats.subs, 0);
}

/* ---- sessions ------------------------------------------------------------ */

static size_t count_unreg(const struct evlog *l, size_t from, unsigned peer, const char *ns)
{
    size_t n = 0;
    for (size_t i = from; i < l->n; i++)
        if (!l->ev[i].added && l->ev[i].peer == peer && strcmp(l->ev[i].ns, ns) == 0)
            n++;
    return n;
}

static void session_end_removes_owned(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    struct rdv_session a, b;
    struct peer_id pa = mkpeer(1);
    struct rdv_ns *ns;
    const struct rdv_reg *g;
    sess_init(&a, 1);
    sess_init(&b, 2);
    assert_int_equal(r->stats.sessions, 0);
    assert_int_equal(reg_push(r, "x", &a, &g), RDV_OK);
    assert_ptr_equal(g->owner, &a);
    assert_int_equal(registry_ttl(g), 0);
    assert_true(registry_next_expiry(r) < 0);   /* push regs are not in the heap */
    assert_int_equal(reg_push(r, "y", &a, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "x", &b, NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "y", 3, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(registry_subscribe(r, &a, "x", 1, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(r, &a, "z", 1, &ns), RDV_OK);
    assert_int_equal(ns->nregs, 0);
    assert_int_equal(registry_subscribe(r, &b, "x", 1, &ns), RDV_OK);
    assert_int_equal(ns->nsubs, 2);
    assert_int_equal(r->stats.sessions, 2);
    assert_int_equal(r->stats.subs, 3);
    assert_int_equal(r->stats.regs, 4);
    assert_int_equal(r->stats.namespaces, 3);
    assert_int_equal(r->stats.peers, 3);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_PUSH], 3);

    /* UNREGISTER by a session that does not own it: refused */
    assert_int_equal(registry_unregister(r, "x", 1, &pa, &b), RDV_E_NOT_FOUND);

    size_t mark = t->log->n;
    registry_session_end(r, &a);
    assert_int_equal(t->log->n - mark, 2);
    assert_int_equal(count_unreg(t->log, mark, 1, "x"), 1);
    assert_int_equal(count_unreg(t->log, mark, 1, "y"), 1);
    assert_null(a.regs);
    assert_null(a.subs);
    assert_int_equal(a.nsubs, 0);
    assert_null(registry_ns(r, "z", 1));
    assert_non_null(find(r, "x", 2));
    assert_non_null(find(r, "y", 3));
    assert_int_equal(r->stats.sessions, 1);
    assert_int_equal(r->stats.subs, 1);
    assert_int_equal(r->stats.regs, 2);
    assert_int_equal(r->stats.namespaces, 2);
    assert_int_equal(r->stats.peers, 2);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_PUSH], 1);
    ns = registry_ns(r, "x", 1);
    assert_int_equal(ns->nsubs, 1);
    assert_ptr_equal(ns->subs->session, &b);

    /* ending again is harmless */
    mark = t->log->n;
    registry_session_end(r, &a);
    assert_int_equal(t->log->n, mark);

    registry_session_end(r, &b);
    assert_int_equal(t->log->n - mark, 1);
    assert_int_equal(count_unreg(t->log, mark, 2, "x"), 1);
    assert_null(registry_ns(r, "x", 1));
    assert_int_equal(r->stats.sessions, 0);
    assert_int_equal(r->stats.subs, 0);
    assert_int_equal(r->stats.regs, 1);
    assert_int_equal(r->stats.namespaces, 1);
}

static void takeover(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    struct rdv_session a, b;
    struct peer_id p = mkpeer(1);
    const struct rdv_reg *g;
    sess_init(&a, 1);   /* two streams of the same peer */
    sess_init(&b, 1);
    assert_int_equal(reg_push(r, "x", &a, &g), RDV_OK);
    uint64_t first = g->seq;
    assert_int_equal(reg_push(r, "x", &b, &g), RDV_OK);
    assert_true(g->seq > first);
    assert_ptr_equal(g->owner, &b);
    assert_null(a.regs);
    assert_ptr_equal(b.regs, g);
    assert_int_equal(r->stats.sessions, 1);
    assert_int_equal(t->log->nreg, 2);
    assert_int_equal(t->log->nunreg, 0);
    /* the first session no longer owns it */
    assert_int_equal(registry_unregister(r, "x", 1, &p, &a), RDV_E_NOT_FOUND);
    registry_session_end(r, &a);
    assert_int_equal(t->log->nunreg, 0);
    assert_ptr_equal(find(r, "x", 1), g);

    /* a TTL registration takes over a push one: it outlives the session */
    assert_int_equal(reg_ttl(r, "x", 1, 60, 0, true, &g), RDV_OK);
    assert_null(g->owner);
    assert_null(b.regs);
    assert_int_equal(r->stats.sessions, 0);
    assert_true(registry_next_expiry(r) == 60.0);
    registry_session_end(r, &b);
    assert_int_equal(t->log->nunreg, 0);
    assert_int_equal(r->stats.regs, 1);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_PUSH], 0);
    assert_int_equal(r->stats.regs_by_dialect[RDV_DIALECT_STANDARD], 1);

    /* and a push one takes it back: out of the heap, owned again */
    assert_int_equal(reg_push(r, "x", &a, &g), RDV_OK);
    assert_ptr_equal(g->owner, &a);
    assert_true(registry_next_expiry(r) < 0);
    assert_int_equal(registry_expire(r, 1e9), 0);
    assert_int_equal(r->stats.sessions, 1);
    /* an unowned unregister removes whatever is there */
    assert_int_equal(registry_unregister(r, "x", 1, &p, NULL), RDV_OK);
    assert_null(a.regs);
    assert_int_equal(r->stats.sessions, 0);
    assert_int_equal(t->log->nunreg, 1);
    assert_int_equal(r->stats.namespaces, 0);
}

/* The notifier reads the namespace while a session's removals are reported:
 * the removed registration is no longer listed, the ending session no
 * longer subscribed, and everything it walks is alive. */
static void check_consistent_hook(struct evlog *l, bool added, const struct rdv_reg *g)
{
    const struct rdv_session *ending = l->hook_arg;
    if (added)
        return;
    const struct rdv_reg *m;
    const struct rdv_sub *s;
    size_t n = 0;
    DL_FOREACH2(g->ns->regs, m, ns_next) {
        assert_ptr_not_equal(m, g);
        n++;
    }
    assert_int_equal(n, g->ns->nregs);
    n = 0;
    DL_FOREACH2(g->ns->subs, s, ns_next) {
        assert_ptr_not_equal(s->session, ending);
        assert_ptr_equal(s->ns, g->ns);
        n++;
    }
    assert_int_equal(n, g->ns->nsubs);
    assert_null(registry_find(l->reg, g->ns->name, g->ns->len, g->peer));
    /* fields are intact during the call */
    assert_ptr_equal(g->owner, ending);
    assert_int_equal(g->naddrs, 1);
    assert_memory_equal(g->addrs[0].bytes, ADDR1, sizeof ADDR1);
}

static void session_end_callback_reads(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    struct rdv_session a, b;
    struct rdv_ns *ns;
    sess_init(&a, 1);
    sess_init(&b, 2);
    assert_int_equal(reg_push(r, "x", &a, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "y", &a, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "x", &b, NULL), RDV_OK);
    assert_int_equal(registry_subscribe(r, &a, "x", 1, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(r, &a, "y", 1, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(r, &b, "x", 1, &ns), RDV_OK);
    t->log->hook = check_consistent_hook;
    t->log->hook_arg = &a;
    registry_session_end(r, &a);
    assert_int_equal(t->log->nunreg, 2);
    t->log->hook_arg = &b;
    registry_session_end(r, &b);
    assert_int_equal(t->log->nunreg, 3);
    assert_int_equal(r->stats.namespaces, 0);
    t->log->hook = NULL;
}

/* A callback that cuts a slow subscriber (ends another session) while a
 * session's removals are being reported. */
static void end_other_hook(struct evlog *l, bool added, const struct rdv_reg *g)
{
    (void)g;
    struct rdv_session *victim = l->hook_arg;
    if (!added && victim) {
        l->hook_arg = NULL;
        registry_session_end(l->reg, victim);
    }
}

static void session_end_reentrant(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    struct rdv_session a, c;
    struct rdv_ns *ns;
    sess_init(&a, 1);
    sess_init(&c, 3);
    assert_int_equal(reg_push(r, "x", &a, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "y", &a, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "x", &c, NULL), RDV_OK);
    assert_int_equal(registry_subscribe(r, &c, "x", 1, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(r, &c, "y", 1, &ns), RDV_OK);
    t->log->hook = end_other_hook;
    t->log->hook_arg = &c;
    registry_session_end(r, &a);
    t->log->hook = NULL;
    assert_int_equal(t->log->nunreg, 3);
    assert_int_equal(r->stats.regs, 0);
    assert_int_equal(r->stats.subs, 0);
    assert_int_equal(r->stats.sessions, 0);
    assert_int_equal(r->stats.namespaces, 0);
    assert_int_equal(r->stats.peers, 0);
}

/* ---- listing ------------------------------------------------------------- */

static void list_with_cookies(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[8];
    /* 5 in "ns", interleaved with others elsewhere */
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, NULL), RDV_OK);
        assert_int_equal(reg_ttl(r, "other", 100 + i, 60, 0, true, NULL), RDV_OK);
    }
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    uint64_t after = 0;
    size_t want[] = {2, 2, 1, 0}, seen = 0;
    for (size_t k = 0; k < ARRAY_LEN(want); k++) {
        size_t n = registry_list(r, ns, after, out, 2);
        assert_int_equal(n, want[k]);
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i]->seq > after);
            assert_ptr_equal(out[i]->ns, ns);
            assert_int_equal(out[i]->peer->b[2], seen);
            seen++;
            after = out[i]->seq;
        }
    }
    assert_int_equal(seen, 5);
    /* nothing new → 0; a new one → exactly it */
    assert_int_equal(registry_list(r, ns, after, out, 2), 0);
    assert_int_equal(reg_ttl(r, "ns", 7, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(registry_list(r, ns, after, out, 2), 1);
    assert_int_equal(out[0]->peer->b[2], 7);
    /* limit 0 */
    assert_int_equal(registry_list(r, ns, 0, out, 0), 0);

    /* all namespaces, in seq order */
    after = 0;
    size_t total = 0;
    uint64_t last = 0;
    for (;;) {
        size_t n = registry_list(r, NULL, after, out, 3);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i]->seq > last);
            last = out[i]->seq;
        }
        total += n;
        after = out[n - 1]->seq;
    }
    assert_int_equal(total, 11);
    /* the seq of a live reg of another namespace used as after in "ns" */
    const struct rdv_reg *o = find(r, "other", 102);
    assert_int_equal(registry_list(r, ns, o->seq, out, 8), 3);  /* peers 3, 4, 7 */
    assert_int_equal(out[0]->peer->b[2], 3);
}

static void list_after_removed(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[8], *g;
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, NULL), RDV_OK);
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    assert_int_equal(registry_list(r, ns, 0, out, 2), 2);
    uint64_t after = out[1]->seq;            /* peer 1 */
    struct peer_id p1 = mkpeer(1);
    assert_int_equal(registry_unregister(r, "ns", 2, &p1, NULL), RDV_OK);
    assert_int_equal(registry_list(r, ns, after, out, 8), 3);
    assert_int_equal(out[0]->peer->b[2], 2);
    assert_int_equal(registry_list(r, NULL, after, out, 8), 3);
    assert_int_equal(out[0]->peer->b[2], 2);
    /* refreshed peer 3 is re-reported after peer 4 */
    assert_int_equal(reg_ttl(r, "ns", 3, 60, 0, true, &g), RDV_OK);
    assert_int_equal(registry_list(r, ns, after, out, 8), 3);
    assert_int_equal(out[0]->peer->b[2], 2);
    assert_int_equal(out[1]->peer->b[2], 4);
    assert_ptr_equal(out[2], g);
    /* after the last one, or beyond everything */
    assert_int_equal(registry_list(r, ns, g->seq, out, 8), 0);
    assert_int_equal(registry_list(r, ns, UINT64_MAX, out, 8), 0);
    /* after older than everything */
    assert_int_equal(registry_list(r, ns, 1, out, 8), 4);
}

static void list_signed_only(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[16];
    struct rdv_session s[3];
    for (unsigned i = 0; i < 3; i++) {
        sess_init(&s[i], 50 + i);
    }
    assert_int_equal(reg_ttl(r, "ns", 0, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "ns", &s[0], NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "ns", 1, 60, 0, false, NULL), RDV_OK);  /* TTL, unsigned */
    assert_int_equal(reg_push(r, "ns", &s[1], NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "ns", 2, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_push(r, "ns", &s[2], NULL), RDV_OK);
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 2);
    assert_int_equal(out[0]->peer->b[2], 0);
    assert_int_equal(out[1]->peer->b[2], 2);
    assert_int_equal(registry_list(r, ns, 0, out, 1), 1);
    assert_int_equal(registry_list(r, ns, out[0]->seq, out, 1), 1);
    assert_int_equal(out[0]->peer->b[2], 2);
    assert_int_equal(registry_list(r, ns, out[0]->seq, out, 1), 0);
    assert_int_equal(registry_list(r, NULL, 0, out, 16), 2);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(registry_sample(r, ns, out, 16), 2);
    assert_int_equal(ns->nregs, 6);
    assert_int_equal(ns->nsigned, 2);
    for (unsigned i = 0; i < 3; i++)
        registry_session_end(r, &s[i]);
}

/* ---- sampling ----------------------------------------------------------- */

static void sampling(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[32];
    enum { N = 10 };
    unsigned hits[N] = {0};
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(reg_ttl(r, "elsewhere", 99, 60, 0, true, NULL), RDV_OK);
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    assert_int_equal(registry_sample(r, ns, out, 0), 0);
    assert_int_equal(registry_sample(r, NULL, out, 4), 0);
    for (unsigned trial = 0; trial < 2000; trial++) {
        size_t limit = trial % 13;
        size_t n = registry_sample(r, ns, out, limit);
        assert_int_equal(n, limit < N ? limit : N);
        for (size_t i = 0; i < n; i++) {
            assert_ptr_equal(out[i]->ns, ns);
            assert_ptr_equal(ns->dense[out[i]->ns_index], out[i]);
            for (size_t j = 0; j < i; j++)
                assert_ptr_not_equal(out[i], out[j]);
            hits[out[i]->peer->b[2]]++;
        }
    }
    /* every registration can be chosen, also as a single pick */
    unsigned single[N] = {0};
    for (unsigned trial = 0; trial < 1000; trial++) {
        assert_int_equal(registry_sample(r, ns, out, 1), 1);
        single[out[0]->peer->b[2]]++;
    }
    for (unsigned i = 0; i < N; i++) {
        assert_true(hits[i] > 0);
        assert_true(single[i] > 0);
    }
    /* dense stays in sync with removals after shuffling */
    struct peer_id p = mkpeer(4);
    assert_int_equal(registry_unregister(r, "ns", 2, &p, NULL), RDV_OK);
    assert_int_equal(registry_sample(r, ns, out, 32), N - 1);
    for (size_t i = 0; i < N - 1; i++)
        assert_int_not_equal(out[i]->peer->b[2], 4);
}

/* ---- signed-record index: push registrations are never looked at ------- */

/* A push session per peer number (push registrations are session-bound). */
static struct rdv_session *push_sessions(unsigned first, unsigned n)
{
    struct rdv_session *s = xcalloc(n, sizeof *s);
    for (unsigned i = 0; i < n; i++) {
        sess_init(&s[i], first + i);
    }
    return s;
}

static void signed_index_interleaved(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[16], *sig[4];
    enum { NPUSH = 600 };
    struct rdv_session *s = push_sessions(1000, NPUSH);
    struct rdv_ns *ns;
    /* only push members: nothing to list or sample, in ns or overall */
    for (unsigned i = 0; i < NPUSH / 2; i++)
        assert_int_equal(reg_push(r, "ns", &s[i], NULL), RDV_OK);
    ns = registry_ns(r, "ns", 2);
    assert_int_equal(ns->nregs, NPUSH / 2);
    assert_int_equal(ns->nsigned, 0);
    assert_null(ns->dense);
    assert_int_equal(ns->signed_seq.len, 0);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 0);
    assert_int_equal(registry_list(r, NULL, 0, out, 16), 0);
    assert_int_equal(registry_sample(r, ns, out, 16), 0);
    /* signed ones between and after more push ones */
    for (unsigned k = 0; k < 4; k++) {
        assert_int_equal(reg_ttl(r, "ns", k, 60, 0, true, &sig[k]), RDV_OK);
        for (unsigned i = NPUSH / 2 + k * 50; i < NPUSH / 2 + (k + 1) * 50; i++)
            assert_int_equal(reg_push(r, "ns", &s[i], NULL), RDV_OK);
    }
    assert_int_equal(ns->nregs, NPUSH / 2 + 4 + 200);
    assert_int_equal(ns->nsigned, 4);
    assert_int_equal(ns->signed_seq.len, 4);
    assert_int_equal(r->signed_seq.len, 4);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 4);
    for (unsigned k = 0; k < 4; k++)
        assert_ptr_equal(out[k], sig[k]);
    /* a cookie on a push registration's seq lands between signed ones */
    const struct rdv_reg *mid = find(r, "ns", 1000 + NPUSH / 2 + 60); /* after sig[1] */
    assert_int_equal(registry_list(r, ns, mid->seq, out, 16), 2);
    assert_ptr_equal(out[0], sig[2]);
    assert_int_equal(registry_list(r, NULL, mid->seq, out, 16), 2);
    assert_int_equal(registry_sample(r, ns, out, 16), 4);
    for (unsigned i = 0; i < 4; i++)
        assert_non_null(out[i]->envelope);
    /* a push takeover of a signed one leaves the index; the reverse joins it */
    struct rdv_session take;
    sess_init(&take, 1);
    assert_int_equal(reg_push(r, "ns", &take, NULL), RDV_OK);
    assert_int_equal(ns->nsigned, 3);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 3);
    assert_int_equal(registry_list(r, NULL, 0, out, 16), 3);
    const struct rdv_reg *back;
    assert_int_equal(reg_ttl(r, "ns", 1, 60, 0, true, &back), RDV_OK);
    assert_null(take.regs);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 4);
    assert_ptr_equal(out[3], back);
    /* the push members go with their sessions; the signed index is intact */
    for (unsigned i = 0; i < NPUSH; i++)
        registry_session_end(r, &s[i]);
    assert_int_equal(ns->nregs, 4);
    assert_int_equal(registry_list(r, ns, 0, out, 16), 4);
    free(s);
}

/* Cookies whose seq is in a gap: removed, re-registered, from another
 * namespace, forged (0, between, beyond): each finds its place. */
static void gap_cookies(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[64];
    enum { N = 40 };
    uint64_t seqs[N];
    for (unsigned i = 0; i < N; i++) {
        const struct rdv_reg *g;
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, &g), RDV_OK);
        seqs[i] = g->seq;
        assert_int_equal(reg_ttl(r, "other", 100 + i, 60, 0, true, NULL), RDV_OK);
    }
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    /* remove every third, re-register every fifth (it moves to the end) */
    for (unsigned i = 0; i < N; i += 3) {
        struct peer_id p = mkpeer(i);
        assert_int_equal(registry_unregister(r, "ns", 2, &p, NULL), RDV_OK);
    }
    for (unsigned i = 1; i < N; i += 5) {
        struct peer_id p = mkpeer(i);
        struct rdv_addr a = {ADDR2, sizeof ADDR2};  /* changed: on_register */
        struct rdv_register q = {.ns = "ns", .ns_len = 2, .peer = &p,
                                 .dialect = RDV_DIALECT_STANDARD, .addrs = &a, .naddrs = 1,
                                 .envelope = ENV, .envelope_len = sizeof ENV, .ttl = 60};
        if (find(r, "ns", i))
            assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    }
    /* every cookie value from 0 to beyond the last: the answer is exactly
     * the live signed members with a higher seq, in order */
    uint64_t last = registry_last_seq(r);
    for (uint64_t after = 0; after <= last + 2; after += after < 900 ? 450 : 1) {
        size_t want = 0;
        uint64_t prev = after;
        const struct rdv_reg *g;
        DL_FOREACH2(ns->regs, g, ns_next)
            want += g->seq > after;
        size_t n = registry_list(r, ns, after, out, 64);
        assert_int_equal(n, want);
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i]->seq > prev);
            assert_ptr_equal(out[i]->ns, ns);
            prev = out[i]->seq;
        }
    }
    /* a removed one's seq, a refreshed one's old seq */
    size_t n = registry_list(r, ns, seqs[3], out, 64);
    assert_true(n > 0 && out[0]->seq > seqs[3]);
    assert_int_equal(out[0]->peer->b[2], 4);
    n = registry_list(r, ns, seqs[6], out, 64);  /* peer 6: removed */
    assert_int_equal(out[0]->peer->b[2], 7);
    assert_int_equal(registry_list(r, ns, UINT64_MAX, out, 64), 0);
}

/* Paging with limit 2 while members are removed, refreshed and added: a
 * member that stays unchanged throughout is seen exactly once, in seq
 * order; nothing is seen twice unless it was re-registered in between. */
static void removal_during_paging(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[2];
    enum { N = 200 };
    unsigned seen[N + 100] = {0};
    bool touched[N + 100] = {false};
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, NULL), RDV_OK);
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    uint64_t after = 0, prev = 0;
    unsigned step = 0, added = N;
    for (;;) {
        size_t n = registry_list(r, ns, after, out, 2);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i]->seq > prev);
            prev = out[i]->seq;
            seen[out[i]->peer->b[2] | (unsigned)out[i]->peer->b[3] << 8]++;
        }
        after = out[n - 1]->seq;
        /* between pages: remove two ahead and the one just returned, refresh
         * one ahead (same record: a refresh, moved to the end), add one */
        step++;
        unsigned a = (step * 7) % N, b = (step * 13 + 1) % N;
        struct peer_id pa = mkpeer(a);
        if (registry_unregister(r, "ns", 2, &pa, NULL) == RDV_OK)
            touched[a] = true;
        if (find(r, "ns", b)) {
            assert_int_equal(reg_ttl(r, "ns", b, 90, 1, true, NULL), RDV_OK);
            touched[b] = true;
        }
        if (step % 3 == 0 && added < N + 100) {
            assert_int_equal(reg_ttl(r, "ns", added, 60, 0, true, NULL), RDV_OK);
            added++;
        }
        /* the compaction keeps removed slots under a quarter */
        assert_true(ns->signed_seq.dead * 4 <= ns->signed_seq.len);
    }
    for (unsigned i = 0; i < added; i++) {
        if (!touched[i])
            assert_int_equal(seen[i], 1);
        else
            assert_true(seen[i] <= 2);
    }
    assert_true(t->log->nrefresh > 0);
}

/* Signed slots are compacted: a namespace refreshed over and over keeps an
 * index of about its size, overall too. */
static void seq_index_compacts(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[8];
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(reg_ttl(r, "ns", i, 60, 0, true, NULL), RDV_OK);
    for (unsigned k = 0; k < 5000; k++)
        assert_int_equal(reg_ttl(r, "ns", k % 7, 60, 0, true, NULL), RDV_OK); /* refreshes */
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    assert_true(ns->signed_seq.len <= 8 + 8 / 3 + 1);
    assert_true(ns->signed_seq.cap <= 32);
    assert_true(r->signed_seq.len <= 8 + 8 / 3 + 1);
    assert_int_equal(registry_list(r, ns, 0, out, 8), 8);
    assert_int_equal(out[0]->peer->b[2], 7);     /* the one never refreshed */
    assert_int_equal(t->log->nrefresh, 5000);
    for (unsigned i = 0; i < 8; i++) {
        struct peer_id p = mkpeer(i);
        assert_int_equal(registry_unregister(r, "ns", 2, &p, NULL), RDV_OK);
    }
    assert_null(registry_ns(r, "ns", 2));
    assert_int_equal(r->signed_seq.len, 0);
    assert_null(r->signed_seq.v);
}

/* Waku's sample over 10 signed members among 2,000 push ones: every signed
 * one comes up about equally often (a loose bound: 10 standard deviations),
 * no push one ever. */
static void sampling_uniform_among_push(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *out[4];
    enum { NSIG = 10, NPUSH = 2000, TRIALS = 20000 };
    struct rdv_session *s = push_sessions(1000, NPUSH);
    unsigned hits[NSIG] = {0}, pairs = 0;
    for (unsigned i = 0; i < NPUSH; i++) {
        assert_int_equal(reg_push(r, "ns", &s[i], NULL), RDV_OK);
        if (i % (NPUSH / NSIG) == 0)
            assert_int_equal(reg_ttl(r, "ns", i / (NPUSH / NSIG), 60, 0, true, NULL), RDV_OK);
    }
    struct rdv_ns *ns = registry_ns(r, "ns", 2);
    for (unsigned k = 0; k < TRIALS; k++) {
        assert_int_equal(registry_sample(r, ns, out, 1), 1);
        assert_non_null(out[0]->envelope);
        hits[out[0]->peer->b[2]]++;
        assert_int_equal(registry_sample(r, ns, out, 2), 2);
        assert_ptr_not_equal(out[0], out[1]);
        pairs += out[0]->peer->b[2] == 0 || out[1]->peer->b[2] == 0;
    }
    /* p = 1/10, sd = sqrt(20000 * 0.1 * 0.9) = 42 */
    for (unsigned i = 0; i < NSIG; i++)
        assert_true(hits[i] > 2000 - 420 && hits[i] < 2000 + 420);
    /* peer 0 in a pair: p = 2/10, sd = 57 */
    assert_true(pairs > 4000 - 570 && pairs < 4000 + 570);
    for (unsigned i = 0; i < NPUSH; i++)
        registry_session_end(r, &s[i]);
    free(s);
}

/* ---- refresh: a REGISTER that changes nothing ---------------------------- */

/* Presence metadata: kept byte-exact at the block's tail (with or without
 * addresses and a signed record), part of "changed", capped. */
static void metadata(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    struct rdv_session s;
    const struct rdv_reg *g, *h;
    struct peer_id p1 = mkpeer(1);
    struct rdv_addr a[2] = {{ADDR1, sizeof ADDR1}, {ADDR2, sizeof ADDR2}};
    uint8_t big[1025];

    sess_init(&s, 1);
    struct rdv_register q = {.ns = "ns", .ns_len = 2, .peer = &p1, .dialect = RDV_DIALECT_PUSH,
                             .addrs = a, .naddrs = 2, .metadata = (const uint8_t *)"alice",
                             .metadata_len = 5, .owner = &s};
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(g->metadata_len, 5);
    assert_memory_equal(registry_metadata(g), "alice", 5);
    assert_memory_equal(g->addrs[1].bytes, ADDR2, sizeof ADDR2); /* not overwritten */
    size_t regs = t->log->nreg, refreshes = t->log->nrefresh;
    /* the same again: a refresh, nothing to announce */
    assert_int_equal(registry_register(r, &q, &h), RDV_OK);
    assert_ptr_equal(h, g);
    assert_int_equal(t->log->nrefresh, ++refreshes);
    /* only the metadata changes (same length, then another length): a change */
    q.metadata = (const uint8_t *)"alicf";
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    assert_memory_equal(registry_metadata(g), "alicf", 5);
    q.metadata = (const uint8_t *)"alice (away)";
    q.metadata_len = 12;
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    assert_memory_equal(registry_metadata(g), "alice (away)", 12);
    /* without addresses; then dropped (a change), then empty = none */
    q.naddrs = 0;
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(g->metadata_len, 12);
    assert_memory_equal(registry_metadata(g), "alice (away)", 12);
    q.metadata = NULL;
    q.metadata_len = 0;
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_int_equal(t->log->nreg, regs + 2);
    assert_int_equal(g->metadata_len, 0);
    q.metadata = (const uint8_t *)"";
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nrefresh, refreshes + 1);
    /* with a signed record before it */
    q.naddrs = 2;
    q.envelope = ENV;
    q.envelope_len = sizeof ENV;
    q.metadata = (const uint8_t *)"bob";
    q.metadata_len = 3;
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_memory_equal(g->envelope, ENV, sizeof ENV);
    assert_memory_equal(registry_metadata(g), "bob", 3);
    /* the cap (1 KiB by default) */
    memset(big, 'm', sizeof big);
    q.metadata = big;
    q.metadata_len = 1024;
    assert_int_equal(registry_register(r, &q, &g), RDV_OK);
    assert_memory_equal(registry_metadata(g), big, 1024);
    q.metadata_len = 1025;
    assert_int_equal(registry_register(r, &q, NULL), RDV_E_METADATA);
    assert_int_equal(find(r, "ns", 1)->metadata_len, 1024);
    registry_session_end(r, &s);
}

static void refresh_unchanged(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    const struct rdv_reg *g, *h, *out[4];
    assert_int_equal(reg_ttl(r, "ns", 1, 100, 0, true, &g), RDV_OK);
    assert_int_equal(reg_ttl(r, "ns", 2, 100, 0, true, NULL), RDV_OK);
    uint64_t seq0 = g->seq;
    /* same record and addresses, longer TTL later: a refresh in place */
    assert_int_equal(reg_ttl(r, "ns", 1, 300, 50, true, &h), RDV_OK);
    assert_ptr_equal(h, g);
    assert_int_equal(t->log->nreg, 2);
    assert_int_equal(t->log->nrefresh, 1);
    assert_ptr_equal(t->log->refreshed, g);
    assert_true(g->seq > seq0);                 /* cookie pollers see it again */
    assert_true(registry_expires(g) == 350.0);
    assert_int_equal(registry_ttl(g), 300);
    assert_true(registry_next_expiry(r) == 100.0);   /* peer 2's now */
    assert_int_equal(registry_list(r, registry_ns(r, "ns", 2), seq0, out, 4), 2);
    assert_ptr_equal(out[1], g);
    assert_int_equal(registry_expire(r, 100.0), 1);
    assert_ptr_equal(find(r, "ns", 1), g);
    assert_true(registry_next_expiry(r) == 350.0);

    /* each kind of change is a register */
    struct peer_id p1 = mkpeer(1);
    struct rdv_addr a[2] = {{ADDR1, sizeof ADDR1}, {ADDR2, sizeof ADDR2}};
    uint8_t env2[sizeof ENV];
    memcpy(env2, ENV, sizeof ENV);
    env2[0] ^= 1;
    struct rdv_register q = {.ns = "ns", .ns_len = 2, .peer = &p1, .dialect = RDV_DIALECT_STANDARD,
                             .addrs = a, .naddrs = 2, .envelope = ENV, .envelope_len = sizeof ENV,
                             .ttl = 100, .now = 60};
    size_t regs = t->log->nreg, refreshes = t->log->nrefresh;
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nrefresh, ++refreshes);
    q.naddrs = 1;                               /* fewer addresses */
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    a[0] = (struct rdv_addr){ADDR2, sizeof ADDR2}; /* other bytes, same length */
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    q.envelope = env2;                          /* another record, same length */
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    q.dialect = RDV_DIALECT_WAKU;
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    q.envelope = NULL;                          /* record gone */
    q.envelope_len = 0;
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    assert_int_equal(registry_list(r, NULL, 0, out, 4), 0);
    assert_int_equal(registry_register(r, &q, NULL), RDV_OK); /* again: nothing new */
    assert_int_equal(t->log->nrefresh, ++refreshes);

    /* push: same session and addresses is a refresh, another session of
     * the same peer takes over (a change) */
    struct rdv_session s1, s2;
    sess_init(&s1, 9);
    sess_init(&s2, 9);
    assert_int_equal(reg_push(r, "ns", &s1, &g), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    assert_int_equal(reg_push(r, "ns", &s1, &h), RDV_OK);
    assert_ptr_equal(h, g);
    assert_int_equal(t->log->nrefresh, ++refreshes);
    assert_ptr_equal(s1.regs, g);
    assert_ptr_equal(g->ns->regs->ns_prev, g);  /* moved to the end */
    assert_int_equal(reg_push(r, "ns", &s2, &h), RDV_OK);
    assert_int_equal(t->log->nreg, ++regs);
    assert_null(s1.regs);
    assert_ptr_equal(s2.regs, h);
    registry_session_end(r, &s2);
    assert_int_equal(t->log->nunreg, 2);
}

/* ---- token bucket on registration changes ------------------------------ */

static void rate_limit(void **state)
{
    (void)state;
    struct registry r;
    struct registry_limits l;
    struct evlog *log = calloc(1, sizeof *log);
    registry_limits_default(&l);
    assert_true(l.register_rate == 10.0);
    assert_int_equal(l.register_burst, 100);
    l.register_rate = 2;
    l.register_burst = 3;
    registry_init(&r, &l, 1, &events, log);
    char ns[8];
    /* a burst of 3 changes, then refused; another peer is unaffected */
    for (unsigned i = 0; i < 3; i++) {
        snprintf(ns, sizeof ns, "n%u", i);
        assert_int_equal(reg_ttl(&r, ns, 1, 60, 10.0, true, NULL), RDV_OK);
    }
    assert_int_equal(reg_ttl(&r, "n3", 1, 60, 10.0, true, NULL), RDV_E_RATE_LIMIT);
    assert_int_equal(r.stats.rate_limited, 1);
    assert_null(find(&r, "n3", 1));
    assert_int_equal(reg_ttl(&r, "n3", 2, 60, 10.0, true, NULL), RDV_OK);
    /* a refresh costs a tenth of a token: with an empty bucket it is
     * refused too (nothing moves), and a token's worth of refill lets ten
     * through */
    assert_int_equal(reg_ttl(&r, "n0", 1, 60, 10.0, true, NULL), RDV_E_RATE_LIMIT);
    assert_int_equal(r.stats.rate_limited, 2);
    assert_int_equal(log->nrefresh, 0);
    for (unsigned k = 0; k < 10; k++)
        assert_int_equal(reg_ttl(&r, "n0", 1, 60, 10.5, true, NULL), RDV_OK);
    assert_int_equal(log->nrefresh, 10);
    assert_int_equal(reg_ttl(&r, "n0", 1, 60, 10.5, true, NULL), RDV_E_RATE_LIMIT);
    assert_int_equal(r.stats.rate_limited, 3);
    /* peer 2 (a full bucket but one change) refreshes 20 times at once */
    for (unsigned k = 0; k < 20; k++)
        assert_int_equal(reg_ttl(&r, "n3", 2, 60, 10.5, true, NULL), RDV_OK);
    assert_int_equal(log->nrefresh, 30);
    /* a changed re-register is a change */
    struct peer_id p1 = mkpeer(1);
    struct rdv_addr a = {ADDR2, sizeof ADDR2};
    struct rdv_register q = {.ns = "n0", .ns_len = 2, .peer = &p1, .dialect = RDV_DIALECT_STANDARD,
                             .addrs = &a, .naddrs = 1, .envelope = ENV, .envelope_len = sizeof ENV,
                             .ttl = 60, .now = 10.0};
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_RATE_LIMIT);
    /* refill: 2 a second; half a second brings one token */
    q.now = 10.99;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_RATE_LIMIT);
    q.now = 11.0;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_OK);
    assert_int_equal(registry_register(&r, &q, NULL), RDV_E_RATE_LIMIT); /* a refresh, no token */
    q.now = 11.05;
    assert_int_equal(registry_register(&r, &q, NULL), RDV_OK);   /* a tenth is enough for it */
    assert_int_equal(reg_ttl(&r, "n4", 1, 60, 11.05, true, NULL), RDV_E_RATE_LIMIT);
    assert_int_equal(r.stats.rate_limited, 7);
    /* the clock stepping back refills nothing */
    assert_int_equal(reg_ttl(&r, "n4", 1, 60, 5.0, true, NULL), RDV_E_RATE_LIMIT);
    /* removals are never refused, and going to zero registrations keeps
     * the bucket: unregistering everything does not reset it */
    for (unsigned i = 0; i < 3; i++) {
        snprintf(ns, sizeof ns, "n%u", i);
        assert_int_equal(registry_unregister(&r, ns, 2, &p1, NULL), RDV_OK);
    }
    assert_int_equal(r.stats.peers, 1);            /* peer 2 */
    assert_non_null(r.idle_peers);
    assert_int_equal(reg_ttl(&r, "n4", 1, 60, 10.6, true, NULL), RDV_E_RATE_LIMIT);
    /* once full again (1.5 s for 3 tokens) the entry is dropped */
    assert_int_equal(registry_expire(&r, 12.5), 0);
    assert_non_null(r.idle_peers);
    assert_int_equal(registry_expire(&r, 12.6), 0);  /* last change 11.05 */
    assert_null(r.idle_peers);
    for (unsigned i = 0; i < 3; i++) {
        snprintf(ns, sizeof ns, "m%u", i);
        assert_int_equal(reg_ttl(&r, ns, 1, 60, 13.0, true, NULL), RDV_OK);
    }
    assert_int_equal(reg_ttl(&r, "m3", 1, 60, 13.0, true, NULL), RDV_E_RATE_LIMIT);
    /* a peer that comes back while its entry is idle takes it up again */
    for (unsigned i = 0; i < 3; i++) {
        snprintf(ns, sizeof ns, "m%u", i);
        assert_int_equal(registry_unregister(&r, ns, 2, &p1, NULL), RDV_OK);
    }
    assert_non_null(r.idle_peers);
    assert_int_equal(reg_ttl(&r, "m0", 1, 60, 13.5, true, NULL), RDV_OK);
    assert_null(r.idle_peers);
    assert_int_equal(reg_ttl(&r, "m1", 1, 60, 13.5, true, NULL), RDV_E_RATE_LIMIT);
    assert_int_equal(r.stats.peers, 2);
    /* limit off (a reload): everything passes, idle entries go */
    assert_int_equal(registry_unregister(&r, "m0", 2, &p1, NULL), RDV_OK);
    assert_non_null(r.idle_peers);
    r.limits.register_rate = 0;
    for (unsigned i = 0; i < 50; i++) {
        snprintf(ns, sizeof ns, "x%u", i);
        assert_int_equal(reg_ttl(&r, ns, 1, 60, 13.5, true, NULL), RDV_OK);
    }
    assert_null(r.idle_peers);
    assert_int_equal(r.stats.rate_limited, 11);
    registry_free(&r);
    free(log);
}

/* Idle bucket entries left at registry_free are freed (ASan checks). */
static void rate_limit_free_idle(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, NULL, 1, NULL, NULL);
    for (unsigned i = 0; i < 20; i++) {
        struct peer_id p = mkpeer(i);
        assert_int_equal(reg_ttl(&r, "ns", i, 60, 0, true, NULL), RDV_OK);
        assert_int_equal(registry_unregister(&r, "ns", 2, &p, NULL), RDV_OK);
    }
    assert_non_null(r.idle_peers);
    assert_int_equal(r.stats.peers, 0);
    registry_free(&r);
}

/* A peer's id is shared by its connections (references taken from the
 * registry's table, as the host does) and its registry entry: one entry,
 * which lives as long as either holds it, whichever lets go first. */
static void peer_id_shared_with_connections(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, NULL, 1, NULL, NULL); /* no rate limit: idle entries go at once */
    struct peer_id p = mkpeer(7);

    /* connection first, registration after; the registration goes first */
    struct peer_ref *conn = peer_ids_get(&r.ids, &p);
    const struct rdv_reg *g = NULL;
    assert_int_equal(reg_ttl(&r, "ns", 7, 60, 0, true, &g), RDV_OK);
    assert_ptr_equal(g->peer, &conn->id);
    assert_non_null(conn->owner);
    assert_int_equal(conn->refs, 2);
    assert_int_equal(r.ids.count, 1);
    assert_int_equal(registry_unregister(&r, "ns", 2, &p, NULL), RDV_OK);
    registry_expire(&r, 1); /* collects the idle peer entry */
    assert_null(conn->owner);
    assert_int_equal(conn->refs, 1);
    assert_true(peerid_eq(&conn->id, &p));
    peer_ids_put(&r.ids, conn);
    assert_int_equal(r.ids.count, 0);

    /* registration first; the connection comes and goes while it lasts */
    assert_int_equal(reg_ttl(&r, "ns", 7, 60, 0, true, &g), RDV_OK);
    assert_int_equal(r.ids.count, 1);
    conn = peer_ids_get(&r.ids, &p);
    assert_ptr_equal(g->peer, &conn->id);
    struct peer_ref *conn2 = peer_ids_get(&r.ids, &p); /* a second connection */
    assert_ptr_equal(conn2, conn);
    assert_int_equal(conn->refs, 3);
    peer_ids_put(&r.ids, conn);
    peer_ids_put(&r.ids, conn2);
    assert_int_equal(r.ids.count, 1);
    assert_ptr_equal(find(&r, "ns", 7), g);
    assert_true(peerid_eq(g->peer, &p));
    assert_int_equal(reg_ttl(&r, "ns2", 7, 60, 0, true, NULL), RDV_OK); /* same entry */
    assert_int_equal(r.ids.count, 1);
    assert_int_equal(registry_unregister(&r, "ns", 2, &p, NULL), RDV_OK);
    assert_int_equal(registry_unregister(&r, "ns2", 3, &p, NULL), RDV_OK);
    registry_expire(&r, 1);
    assert_int_equal(r.ids.count, 0);

    /* a connection still holding its id when the registry goes: the
     * registry frees its entries; the table must outlive the holders, so
     * this one lets go before */
    conn = peer_ids_get(&r.ids, &p);
    assert_int_equal(reg_ttl(&r, "ns", 7, 60, 0, true, NULL), RDV_OK);
    peer_ids_put(&r.ids, conn);
    registry_free(&r);
}

/* ---- expiry ------------------------------------------------------------ */

static void expiry_same_instant(void **state)
{
    struct tctx *t = *state;
    struct registry *r = &t->r;
    /* 200 at t=100 (TTL 100 from 0), 50 at t=90, others later */
    for (unsigned i = 0; i < 200; i++)
        assert_int_equal(reg_ttl(r, i % 2 ? "odd" : "even", i, 100, 0, true, NULL), RDV_OK);
    for (unsigned i = 200; i < 250; i++)
        assert_int_equal(reg_ttl(r, "early", i, 80, 10, true, NULL), RDV_OK);
    for (unsigned i = 250; i < 260; i++)
        assert_int_equal(reg_ttl(r, "late", i, 500, 0, true, NULL), RDV_OK);
    assert_true(registry_next_expiry(r) == 90.0);
    assert_int_equal(registry_expire(r, 89.999), 0);
    size_t mark = t->log->n;
    assert_int_equal(registry_expire(r, 100.0), 250);
    assert_int_equal(t->log->n - mark, 250);
    double last = 0;
    uint64_t last_seq = 0;
    for (size_t i = mark; i < t->log->n; i++) {
        assert_false(t->log->ev[i].added);
        assert_true(t->log->ev[i].expires >= last);
        if (t->log->ev[i].expires == last)
            assert_true(t->log->ev[i].seq > last_seq);   /* ties in seq order */
        last = t->log->ev[i].expires;
        last_seq = t->log->ev[i].seq;
    }
    assert_int_equal(r->stats.expired, 250);
    assert_int_equal(r->stats.regs, 10);
    assert_int_equal(r->stats.namespaces, 1);
    assert_true(registry_next_expiry(r) == 500.0);
}

/* ---- randomized model check ------------------------------------------- */

enum { M_PEERS = 12, M_NS = 8, M_SESS = 6, M_OPS = 6000 };

struct mreg {
    bool live;
    uint64_t seq;
    int owner;          /* session index, -1 = TTL */
    double expires;
    enum rdv_dialect dialect;
    bool sig;
};

struct model {
    struct mreg reg[M_PEERS][M_NS];
    double tokens[M_PEERS], last[M_PEERS];   /* token buckets, never forgotten */
    bool sub[M_SESS][M_NS];
    uint64_t expired;
};

static const char *const M_NAMES[M_NS] = {"a", "b", "c", "d", "eeeeeeee", "f\xc3\xa9", "g", "h"};

/* Cookie listing against the model: seq > after, in order, up to limit. */
static void model_list(struct registry *r, struct model *m, unsigned n, uint64_t after,
                       size_t limit)
{
    uint64_t want[M_PEERS];
    size_t k = 0;
    for (unsigned p = 0; p < M_PEERS; p++) {
        const struct mreg *e = &m->reg[p][n];
        if (e->live && e->seq > after && e->sig)
            want[k++] = e->seq;
    }
    for (size_t i = 1; i < k; i++)      /* insertion sort, k is tiny */
        for (size_t j = i; j > 0 && want[j - 1] > want[j]; j--) {
            uint64_t t = want[j];
            want[j] = want[j - 1];
            want[j - 1] = t;
        }
    if (k > limit)
        k = limit;
    const struct rdv_reg *out[M_PEERS];
    struct rdv_ns *ns = registry_ns(r, M_NAMES[n], strlen(M_NAMES[n]));
    size_t got = ns ? registry_list(r, ns, after, out, limit) : 0;
    assert_int_equal(got, k);
    for (size_t i = 0; i < k; i++)
        assert_true(out[i]->seq == want[i]);
}

static void model_check(struct registry *r, struct model *m, struct rdv_session *sess)
{
    size_t regs = 0, peers = 0, nss = 0, subs = 0, sessions = 0, by[3] = {0}, nsig = 0;
    double next = -1;
    for (unsigned p = 0; p < M_PEERS; p++) {
        bool any = false;
        for (unsigned n = 0; n < M_NS; n++) {
            struct mreg *e = &m->reg[p][n];
            const struct rdv_reg *g = find(r, M_NAMES[n], p);
            if (!e->live) {
                assert_null(g);
                continue;
            }
            assert_non_null(g);
            assert_true(g->seq == e->seq);
            assert_int_equal(g->dialect, e->dialect);
            assert_ptr_equal(g->owner, e->owner < 0 ? NULL : &sess[e->owner]);
            assert_int_equal(g->envelope != NULL, e->sig);
            if (e->owner < 0) {
                assert_true(registry_expires(g) == e->expires);
                assert_ptr_equal(r->heap[g->exp.heap_index], g);
                if (next < 0 || e->expires < next)
                    next = e->expires;
            }
            any = true;
            regs++;
            nsig += e->sig;
            by[e->dialect]++;
        }
        peers += any;
    }
    for (unsigned n = 0; n < M_NS; n++) {
        bool used = false;
        size_t nr = 0, ns_subs = 0, ns_sig = 0;
        for (unsigned p = 0; p < M_PEERS; p++) {
            nr += m->reg[p][n].live;
            ns_sig += m->reg[p][n].live && m->reg[p][n].sig;
        }
        for (unsigned s = 0; s < M_SESS; s++)
            ns_subs += m->sub[s][n];
        used = nr || ns_subs;
        struct rdv_ns *ns = registry_ns(r, M_NAMES[n], strlen(M_NAMES[n]));
        if (!used) {
            assert_null(ns);
            continue;
        }
        nss++;
        assert_non_null(ns);
        assert_int_equal(ns->nregs, nr);
        assert_int_equal(ns->nsigned, ns_sig);
        assert_int_equal(ns->nsubs, ns_subs);
        /* the member list is in seq order and complete */
        size_t members = 0;
        const struct rdv_reg *g, *prev = NULL;
        DL_FOREACH2(ns->regs, g, ns_next) {
            assert_true(prev == NULL || prev->seq < g->seq);
            prev = g;
            members++;
        }
        assert_int_equal(members, nr);
        /* the signed list is in seq order and complete */
        const struct rdv_reg *out[M_PEERS];
        size_t k = registry_list(r, ns, 0, out, M_PEERS);
        assert_int_equal(k, ns_sig);
        for (size_t i = 0; i < k; i++) {
            assert_non_null(out[i]->envelope);
            assert_true(i == 0 || out[i - 1]->seq < out[i]->seq);
        }
        for (size_t i = 0; i < ns_sig; i++) {
            assert_int_equal(ns->dense[i]->ns_index, i);
            assert_non_null(ns->dense[i]->envelope);
        }
        /* removed slots stay under a quarter of the index */
        assert_true(ns->signed_seq.dead * 4 <= ns->signed_seq.len);
    }
    for (unsigned s = 0; s < M_SESS; s++) {
        size_t ns_n = 0, own = 0;
        for (unsigned n = 0; n < M_NS; n++)
            ns_n += m->sub[s][n];
        for (unsigned p = 0; p < M_PEERS; p++)
            for (unsigned n = 0; n < M_NS; n++)
                own += m->reg[p][n].live && m->reg[p][n].owner == (int)s;
        assert_int_equal(sess[s].nsubs, ns_n);
        subs += ns_n;
        sessions += ns_n || own;
    }
    assert_int_equal(r->stats.regs, regs);
    assert_int_equal(r->stats.peers, peers);
    assert_int_equal(r->stats.namespaces, nss);
    assert_int_equal(r->stats.subs, subs);
    assert_int_equal(r->stats.sessions, sessions);
    assert_int_equal(r->stats.regs_by_dialect[0], by[0]);
    assert_int_equal(r->stats.regs_by_dialect[1], by[1]);
    assert_int_equal(r->stats.regs_by_dialect[2], by[2]);
    assert_true(r->stats.expired == m->expired);
    assert_int_equal(r->heap_len, by[1] + by[2]);
    assert_true(registry_next_expiry(r) == next);
    /* listing across everything is complete */
    const struct rdv_reg *all[M_PEERS * M_NS];
    assert_int_equal(registry_list(r, NULL, 0, all, M_PEERS * M_NS), nsig);
    assert_true(r->signed_seq.dead * 4 <= r->signed_seq.len);
}

static void randomized_against_model(void **state)
{
    (void)state;
    struct registry r;
    struct registry_limits l;
    struct evlog *log = calloc(1, sizeof *log);
    struct model *m = calloc(1, sizeof *m);
    struct rdv_session sess[M_SESS];
    registry_limits_default(&l);
    l.max_regs_per_peer = 4;
    l.max_regs_total = 40;
    l.max_namespaces = 6;
    l.max_subs_per_session = 3;
    l.register_rate = 0.5;
    l.register_burst = 3;
    registry_init(&r, &l, 5, &events, log);
    for (unsigned p = 0; p < M_PEERS; p++)
        m->tokens[p] = 3;
    log->reg = &r;
    for (unsigned s = 0; s < M_SESS; s++) {
        sess_init(&sess[s], s);
    }
    double now = 0;
    uint64_t seq = 5;
    size_t want_reg = 0, want_unreg = 0, want_refresh = 0, hit_status[RDV_E_RATE_LIMIT + 1] = {0};
    srand(12345);
    for (unsigned op = 0; op < M_OPS; op++) {
        int kind = rand() % 100;
        unsigned n = (unsigned)rand() % M_NS;
        if (kind < 40) {                               /* register */
            bool push = rand() % 2;
            unsigned s = (unsigned)rand() % M_SESS;
            unsigned p = push ? s : (unsigned)rand() % M_PEERS;
            enum rdv_dialect d = push ? RDV_DIALECT_PUSH
                                      : (rand() % 2 ? RDV_DIALECT_STANDARD : RDV_DIALECT_WAKU);
            bool sig = !push && rand() % 4 != 0;
            uint64_t ttl = push ? 0 : 1 + (uint64_t)(rand() % 50);
            struct peer_id pid = mkpeer(p);
            struct rdv_register q = {.ns = M_NAMES[n], .ns_len = strlen(M_NAMES[n]),
                                     .peer = &pid, .dialect = d, .envelope = sig ? ENV : NULL,
                                     .envelope_len = sig ? 5 : 0, .ttl = ttl,
                                     .owner = push ? &sess[s] : NULL, .now = now};
            /* predict */
            enum rdv_status want = RDV_OK;
            if (!m->reg[p][n].live) {
                size_t pc = 0, tot = 0, nsu = 0;
                bool ns_used = false;
                for (unsigned k = 0; k < M_NS; k++)
                    pc += m->reg[p][k].live;
                for (unsigned a = 0; a < M_PEERS; a++)
                    for (unsigned k = 0; k < M_NS; k++)
                        tot += m->reg[a][k].live;
                for (unsigned k = 0; k < M_NS; k++) {
                    bool u = false;
                    for (unsigned a = 0; a < M_PEERS; a++)
                        u |= m->reg[a][k].live;
                    for (unsigned a = 0; a < M_SESS; a++)
                        u |= m->sub[a][k];
                    nsu += u;
                    if (k == n)
                        ns_used = u;
                }
                if (pc >= l.max_regs_per_peer)
                    want = RDV_E_PEER_LIMIT;
                else if (tot >= l.max_regs_total || (!ns_used && nsu >= l.max_namespaces))
                    want = RDV_E_TOTAL_LIMIT;
            }
            const struct mreg *cur = &m->reg[p][n];
            bool same = cur->live && cur->dialect == d && cur->sig == sig &&
                        cur->owner == (push ? (int)s : -1);
            /* the bucket, computed as the registry does */
            double tk = m->tokens[p];
            if (now > m->last[p])
                tk += (now - m->last[p]) * l.register_rate;
            if (tk > (double)l.register_burst)
                tk = (double)l.register_burst;
            double cost = same ? 0.1 : 1.0;   /* a refresh costs a tenth */
            if (want == RDV_OK && tk < cost)
                want = RDV_E_RATE_LIMIT;
            const struct rdv_reg *g;
            hit_status[want]++;
            size_t refreshes = log->nrefresh;
            assert_int_equal(registry_register(&r, &q, &g), want);
            if (want == RDV_OK && same) {
                assert_int_equal(log->nrefresh, refreshes + 1);
                assert_ptr_equal(log->refreshed, g);
                want_refresh++;
                want_reg--;      /* counted below, but reported as a refresh */
            }
            if (want == RDV_OK) {
                m->tokens[p] = tk - cost;
                m->last[p] = now;
            }
            if (want == RDV_OK) {
                struct mreg *e = &m->reg[p][n];
                e->live = true;
                e->seq = seq++;
                e->owner = push ? (int)s : -1;
                e->expires = push ? 0 : now + (double)ttl;
                e->dialect = d;
                e->sig = sig;
                want_reg++;
                assert_true(g->seq == e->seq);
            }
        } else if (kind < 52) {                        /* unregister */
            unsigned p = (unsigned)rand() % M_PEERS;
            int owner = rand() % 3 == 0 ? -1 : rand() % M_SESS;
            struct peer_id pid = mkpeer(p);
            struct mreg *e = &m->reg[p][n];
            bool hit = e->live && (owner < 0 || e->owner == owner);
            assert_int_equal(registry_unregister(&r, M_NAMES[n], strlen(M_NAMES[n]), &pid,
                                                 owner < 0 ? NULL : &sess[owner]),
                             hit ? RDV_OK : RDV_E_NOT_FOUND);
            if (hit) {
                e->live = false;
                want_unreg++;
            }
        } else if (kind < 72) {                        /* subscribe */
            unsigned s = (unsigned)rand() % M_SESS;
            struct rdv_ns *ns;
            enum rdv_status want = RDV_OK;
            if (!m->sub[s][n]) {
                size_t cnt = 0, nsu = 0;
                bool ns_used = false;
                for (unsigned k = 0; k < M_NS; k++)
                    cnt += m->sub[s][k];
                for (unsigned k = 0; k < M_NS; k++) {
                    bool u = false;
                    for (unsigned a = 0; a < M_PEERS; a++)
                        u |= m->reg[a][k].live;
                    for (unsigned a = 0; a < M_SESS; a++)
                        u |= m->sub[a][k];
                    nsu += u;
                    if (k == n)
                        ns_used = u;
                }
                if (cnt >= l.max_subs_per_session)
                    want = RDV_E_SUB_LIMIT;
                else if (!ns_used && nsu >= l.max_namespaces)
                    want = RDV_E_TOTAL_LIMIT;
            }
            hit_status[want]++;
            assert_int_equal(registry_subscribe(&r, &sess[s], M_NAMES[n], strlen(M_NAMES[n]), &ns),
                             want);
            if (want == RDV_OK)
                m->sub[s][n] = true;
        } else if (kind < 80) {                        /* session end */
            unsigned s = (unsigned)rand() % M_SESS;
            for (unsigned p = 0; p < M_PEERS; p++)
                for (unsigned k = 0; k < M_NS; k++)
                    if (m->reg[p][k].live && m->reg[p][k].owner == (int)s) {
                        m->reg[p][k].live = false;
                        want_unreg++;
                    }
            for (unsigned k = 0; k < M_NS; k++)
                m->sub[s][k] = false;
            registry_session_end(&r, &sess[s]);
            sess_init(&sess[s], sess_peer(&sess[s]));
        } else if (kind < 95) {                        /* time passes, expire */
            now += (double)(rand() % 10);
            size_t due = 0;
            for (unsigned p = 0; p < M_PEERS; p++)
                for (unsigned k = 0; k < M_NS; k++) {
                    struct mreg *e = &m->reg[p][k];
                    if (e->live && e->owner < 0 && e->expires <= now) {
                        e->live = false;
                        due++;
                    }
                }
            assert_int_equal(registry_expire(&r, now), due);
            m->expired += due;
            want_unreg += due;
        } else {                                       /* sample */
            struct rdv_ns *ns = registry_ns(&r, M_NAMES[n], strlen(M_NAMES[n]));
            const struct rdv_reg *out[M_PEERS];
            size_t sig = 0, all = 0;
            for (unsigned p = 0; p < M_PEERS; p++) {
                all += m->reg[p][n].live;
                sig += m->reg[p][n].live && m->reg[p][n].sig;
            }
            size_t lim = (size_t)(rand() % 6);
            (void)all;
            assert_int_equal(registry_sample(&r, ns, out, lim), sig < lim ? sig : lim);
            for (size_t i = 0; i < (sig < lim ? sig : lim); i++)
                assert_non_null(out[i]->envelope);
        }
        assert_int_equal(log->nreg, want_reg);
        assert_int_equal(log->nunreg, want_unreg);
        assert_int_equal(log->nrefresh, want_refresh);
        model_check(&r, m, sess);
        /* a cookie: a live seq, a gone one, or anything up to the last */
        uint64_t after = (uint64_t)rand() % (seq + 2);
        if (rand() % 2) {
            const struct mreg *e = &m->reg[rand() % M_PEERS][rand() % M_NS];
            after = e->seq;   /* live, removed or 0 */
        }
        model_list(&r, m, n, after, 1 + (size_t)(rand() % 4));
    }
    /* every limit was actually reached */
    assert_true(hit_status[RDV_E_PEER_LIMIT] > 0);
    assert_true(hit_status[RDV_E_TOTAL_LIMIT] > 0);
    assert_true(hit_status[RDV_E_SUB_LIMIT] > 0);
    assert_true(hit_status[RDV_E_RATE_LIMIT] > 0);
    assert_true(r.stats.rate_limited == hit_status[RDV_E_RATE_LIMIT]);
    assert_true(want_refresh > 0);
    assert_true(m->expired > 0);
    /* leave live data for registry_free (ASan checks leaks) */
    assert_true(r.stats.regs > 0 || r.stats.subs > 0);
    registry_free(&r);
    for (unsigned s = 0; s < M_SESS; s++) {
        assert_null(sess[s].regs);
        assert_null(sess[s].subs);
    }
    free(m);
    free(log);
}

/* ---- free with live data ----------------------------------------------- */

static void free_with_live_data(void **state)
{
    (void)state;
    struct registry r;
    struct rdv_session s;
    struct rdv_ns *ns;
    registry_init(&r, NULL, 0, NULL, NULL);   /* no events at all is allowed */
    sess_init(&s, 1000);
    for (unsigned i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof name, "ns%u", i % 37);
        assert_int_equal(reg_ttl(&r, name, i, 10 + i, 0, i % 3 != 0, NULL), RDV_OK);
    }
    assert_int_equal(reg_push(&r, "ns1", &s, NULL), RDV_OK);
    assert_int_equal(registry_subscribe(&r, &s, "ns2", 3, &ns), RDV_OK);
    assert_int_equal(registry_subscribe(&r, &s, "fresh", 5, &ns), RDV_OK);
    assert_int_equal(registry_last_seq(&r), 301);    /* seed 0 starts at 1 */
    assert_int_equal(registry_expire(&r, 50), 41);
    registry_free(&r);
    assert_null(s.regs);
    assert_null(s.subs);
}

/* ---- several listeners --------------------------------------------------- */

/* Every listener hears every change, in the order they were added. */
static void listeners_in_order(void **state)
{
    (void)state;
    struct registry r;
    struct evlog *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    registry_init(&r, NULL, 1, &events, a);
    registry_listen(&r, &events, b);
    assert_int_equal(r.nlisteners, 2);
    assert_int_equal(reg_ttl(&r, "chat", 1, 60, 0, true, NULL), RDV_OK);
    assert_int_equal(registry_unregister(&r, "chat", 4, &(struct peer_id){0}, NULL), RDV_E_NOT_FOUND);
    struct peer_id p = mkpeer(1);
    assert_int_equal(registry_unregister(&r, "chat", 4, &p, NULL), RDV_OK);
    for (int i = 0; i < 2; i++) {
        struct evlog *l = i ? b : a;
        assert_int_equal(l->n, 2);
        assert_true(l->ev[0].added);
        assert_false(l->ev[1].added);
        assert_int_equal(l->ev[1].seq, 1);
    }
    registry_free(&r);
    free(a);
    free(b);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(register_find_unregister, setup, teardown),
        cmocka_unit_test_setup_teardown(reregister_moves_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(reregister_longer_ttl_next_expiry, setup, teardown),
        cmocka_unit_test(limits_default),
        cmocka_unit_test(peer_id_shared_with_connections),
        cmocka_unit_test(limits_enforced),
        cmocka_unit_test_setup_teardown(namespace_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(session_end_removes_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(session_end_callback_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(session_end_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(list_with_cookies, setup, teardown),
        cmocka_unit_test_setup_teardown(list_after_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(list_signed_only, setup, teardown),
        cmocka_unit_test_setup_teardown(sampling, setup, teardown),
        cmocka_unit_test_setup_teardown(signed_index_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(gap_cookies, setup, teardown),
        cmocka_unit_test_setup_teardown(removal_during_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(seq_index_compacts, setup, teardown),
        cmocka_unit_test_setup_teardown(sampling_uniform_among_push, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(metadata, setup, teardown),
        cmocka_unit_test(rate_limit),
        cmocka_unit_test(rate_limit_free_idle),
        cmocka_unit_test_setup_teardown(expiry_same_instant, setup, teardown),
        cmocka_unit_test(randomized_against_model),
        cmocka_unit_test(free_with_live_data),
        cmocka_unit_test(listeners_in_order),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(sess_tags);
    return rc;
}
