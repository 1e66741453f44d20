/* Push mode (src/rendezvous/push.c) at two levels.
 *
 * Sessions without a stream: requests go in through push_session_input and
 * what the session is sent is read back from its queue - snapshots and their
 * batching, DISCOVER, re-registration, takeover, subscriptions, every
 * rejection, the output limits, and registrations of the other dialects.
 *
 * The real thing in one process: a server host with the rendezvous service
 * and client hosts on the same loop, over loopback TCP with Noise and yamux,
 * driven with the library's push client - 2,000 subscribers checked for
 * exactly the expected announcements in order, a slow reader that holds up
 * nobody and is cut at its limit, malformed input on one stream of a
 * connection whose other streams carry on, and each way a session ends. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "base/mem.h"
#include "base/varint.h"
#include "codec/multiaddr.h"
#include "push.pb-c.h"
#include "rendezvous/push.h"
#include "client/push_client.h"
#include "host/internal.h"
#include "rendezvous/service.h"

#define ST(x) PUSH__MESSAGE__RESPONSE_STATUS__##x
#define TY(x) PUSH__MESSAGE__MESSAGE_TYPE__##x

/* ---- what a session was sent, as lines ------------------------------------ */

/* One line per entry: "+ns id addr,addr" / "-ns id" / "!status type text";
 * a REGISTER Message without entries is "(empty)". */
struct lines {
    char **v;
    size_t n, cap;
    size_t messages;
};

static void lines_add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lines_add(struct lines *l, const char *fmt, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = xstrdup(tmp);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void addrs_text(const Push__Message__Peer *p, struct buf *out)
{
    char t[MULTIADDR_TEXT_MAX];
    buf_reset(out);
    for (size_t i = 0; p && i < p->n_addrs; i++) {
        if (multiaddr_to_text(p->addrs[i].data, p->addrs[i].len, t, sizeof(t)) < 0)
            snprintf(t, sizeof(t), "?");
        if (i)
            buf_append_u8(out, ',');
        buf_append(out, t, strlen(t));
    }
    buf_append_u8(out, '\0');
}

static void lines_message(struct lines *l, const Push__Message *m)
{
    struct buf addrs = BUF_INIT;
    l->messages++;
    if (m->has_status && m->status != ST(OK)) {
        lines_add(l, "!%d %d %s", (int)m->status, (int)m->type, m->statustext ? m->statustext : "");
        return;
    }
    if (m->n_register_ == 0 && m->n_unregister == 0)
        lines_add(l, "(empty)");
    for (size_t i = 0; i < m->n_register_; i++) {
        const Push__Message__Register *r = m->register_[i];
        addrs_text(r->peer, &addrs);
        bool meta = r->peer && r->peer->has_metadata;
        lines_add(l, "+%.*s %.*s %s%s%.*s", (int)r->ns.len, (const char *)r->ns.data,
                  r->peer ? (int)r->peer->id.len : 0, r->peer ? (const char *)r->peer->id.data : "",
                  (const char *)buf_head(&addrs), meta ? " m=" : "",
                  meta ? (int)r->peer->metadata.len : 0,
                  meta ? (const char *)r->peer->metadata.data : "");
    }
    buf_free(&addrs);
    for (size_t i = 0; i < m->n_unregister; i++) {
        const Push__Message__Unregister *u = m->unregister[i];
        lines_add(l, "-%.*s %.*s", (int)u->ns.len, (const char *)u->ns.data,
                  u->peer ? (int)u->peer->id.len : 0, u->peer ? (const char *)u->peer->id.data : "");
    }
}

static void lines_expect(const struct lines *l, const char *const *want, size_t n)
{
    for (size_t i = 0; i < l->n || i < n; i++) {
        const char *got = i < l->n ? l->v[i] : "(nothing)";
        const char *exp = i < n ? want[i] : "(nothing)";
        if (strcmp(got, exp) != 0) {
            print_error("line %zu: got '%s', expected '%s'\n", i, got, exp);
            fail();
        }
    }
}

/* ---- a service on a loop ------------------------------------------------------ */

struct env {
    struct ev_loop *loop;
    struct log log;
    struct host server;
    struct rdv_service svc;
    struct rdv_config cfg;
    char addr[MULTIADDR_TEXT_MAX + PEERID_TEXT_MAX + 8];
    ev_timer tick;
};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void env_start(struct env *e, const struct rdv_config *cfg, bool listen)
{
    struct host_limits hl;
    struct privkey k;
    char err[256], ma[MULTIADDR_TEXT_MAX];

    memset(e, 0, sizeof(*e));
    e->loop = ev_loop_new(EVFLAG_AUTO);
    log_init(&e->log, LOG_ERROR, LOG_TEXT, stderr);
    host_limits_default(&hl);
    hl.max_conns_per_ip = 100000;
    hl.handshake_rate = hl.handshake_burst = 1e9; /* every client dials from 127.0.0.1 */
    hl.max_handshakes = 100000;
    privkey_generate(&k);
    host_init(&e->server, e->loop, &e->log, &k, &hl);
    if (cfg)
        e->cfg = *cfg;
    else
        rdv_config_default(&e->cfg);
    rdv_service_init(&e->svc, &e->server, &e->cfg);
    push_init(&e->svc);
    registry_listen(&e->svc.reg, &push_registry_events, &e->svc);
    host_handle(&e->server, &e->svc.push);
    if (listen) {
        assert_int_equal(host_listen(&e->server, "/ip4/127.0.0.1/tcp/0", err, sizeof(err)), 0);
        assert_true(multiaddr_to_text(e->server.listeners[0].ma, e->server.listeners[0].ma_len, ma,
                                      sizeof(ma)) > 0);
        snprintf(e->addr, sizeof(e->addr), "%s/p2p/%s", ma, e->server.id_text);
    }
    /* EVRUN_ONCE returns at least this often, so deadlines are checked. */
    ev_timer_init(&e->tick, tick_cb, 0.005, 0.005);
    ev_timer_start(e->loop, &e->tick);
}

static void env_stop(struct env *e)
{
    ev_timer_stop(e->loop, &e->tick);
    host_free(&e->server);
    rdv_service_free(&e->svc);
    push_free(&e->svc);
    ev_loop_destroy(e->loop);
}

/* Runs the loop until done(arg) or `secs` pass; returns done(arg). */
static bool run_until(struct env *e, bool (*done)(void *), void *arg, double secs)
{
    ev_tstamp end = ev_time() + secs;
    while (!done(arg)) {
        if (ev_time() > end)
            return false;
        ev_run(e->loop, EVRUN_ONCE);
    }
    return true;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Runs the loop for `secs` whatever happens. */
static void run_for(struct env *e, double secs) { run_until(e, never, NULL, secs); }

/* ---- sessions without a stream ---------------------------------------------------- */

struct fake {
    struct peer_id id;
    char text[PEERID_TEXT_MAX];
    struct push_session *ps;
    struct lines got;
};

static void fake_open(struct env *e, struct fake *f)
{
    struct privkey k;
    struct pubkey pub;
    memset(f, 0, sizeof(*f));
    privkey_generate(&k);
    privkey_public(&k, &pub);
    peerid_from_pubkey(&f->id, &pub);
    peerid_to_text(&f->id, f->text, sizeof(f->text));
    f->ps = push_session_open(&e->svc, &f->id, NULL);
}

/* A second session of the same peer. */
static void fake_open_as(struct env *e, struct fake *f, const struct fake *peer)
{
    memset(f, 0, sizeof(*f));
    f->id = peer->id;
    memcpy(f->text, peer->text, sizeof(f->text));
    f->ps = push_session_open(&e->svc, &f->id, NULL);
}

static void fake_close(struct fake *f)
{
    if (f->ps)
        push_session_free(f->ps);
    f->ps = NULL;
    lines_free(&f->got);
}

/* Moves everything queued to f into f->got. */
static void fake_read(struct fake *f)
{
    const struct push_buf *b;
    while ((b = push_session_peek(f->ps)) != NULL) {
        uint64_t len;
        int h = uvarint_get(b->bytes, b->len, &len);
        assert_true(h > 0);
        assert_int_equal((size_t)h + len, b->len);
        Push__Message *m = push__message__unpack(NULL, len, b->bytes + h);
        assert_non_null(m);
        lines_message(&f->got, m);
        push__message__free_unpacked(m, NULL);
        push_session_pop(f->ps);
    }
}

static int fake_send(struct fake *f, const Push__Message *m)
{
    uint8_t hdr[UVARINT_MAX_LEN];
    size_t n = push__message__get_packed_size(m);
    uint8_t *buf = xmalloc(UVARINT_MAX_LEN + n);
    size_t h = uvarint_put(hdr, n);
    memcpy(buf, hdr, h);
    push__message__pack(m, buf + h);
    int rc = push_session_input(f->ps, buf, h + n);
    free(buf);
    return rc;
}

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* REGISTER{ns, peer{id, addrs, metadata}} with addrs given as text
 * (NULL-terminated); no metadata field if meta is NULL. */
static int fake_register_meta(struct fake *f, const char *ns, const char *id,
                              const char *const *addrs, const char *meta)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r = PUSH__MESSAGE__REGISTER__INIT, *rp = &r;
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    uint8_t bin[40][MULTIADDR_MAX];
    ProtobufCBinaryData a[40];
    char err[128];
    size_t n = 0;

    for (; addrs && addrs[n]; n++) {
        int len = multiaddr_from_text(addrs[n], bin[n], MULTIADDR_MAX, err, sizeof(err));
        assert_true(len > 0);
        a[n] = (ProtobufCBinaryData){.len = (size_t)len, .data = bin[n]};
    }
    if (id) {
        p.has_id = 1;
        p.id = text(id);
    }
    p.n_addrs = n;
    p.addrs = a;
    if (meta) {
        p.has_metadata = 1;
        p.metadata = text(meta);
    }
    if (ns) {
        r.has_ns = 1;
        r.ns = text(ns);
    }
    r.peer = &p;
    m.n_register_ = 1; /* type absent: REGISTER */
    m.register_ = &rp;
    return fake_send(f, &m);
}

static int fake_register_as(struct fake *f, const char *ns, const char *id, const char *const *addrs)
{
    return fake_register_meta(f, ns, id, addrs, NULL);
}

static int fake_register(struct fake *f, const char *ns, const char *const *addrs)
{
    return fake_register_as(f, ns, f->text, addrs);
}

static int fake_simple(struct fake *f, Push__Message__MessageType type, const char *ns, int64_t limit)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT, *up = &u;
    Push__Message__Rendezvous r = PUSH__MESSAGE__RENDEZVOUS__INIT, *rp = &r;
    Push__Message__Discover d = PUSH__MESSAGE__DISCOVER__INIT, *dp = &d;
    m.has_type = 1;
    m.type = type;
    if (type == TY(UNREGISTER)) {
        u.has_ns = ns != NULL;
        u.ns = text(ns ? ns : "");
        m.n_unregister = 1;
        m.unregister = &up;
    } else if (type == TY(RENDEZVOUS)) {
        r.has_ns = ns != NULL;
        r.ns = text(ns ? ns : "");
        m.n_rendezvous = 1;
        m.rendezvous = &rp;
    } else {
        d.has_ns = ns != NULL;
        d.ns = text(ns ? ns : "");
        d.has_limit = limit != 0;
        d.limit = limit;
        m.n_discovery = 1;
        m.discovery = &dp;
    }
    return fake_send(f, &m);
}

#define UNREGISTER(f, ns) fake_simple(f, TY(UNREGISTER), ns, 0)
#define RENDEZVOUS(f, ns) fake_simple(f, TY(RENDEZVOUS), ns, 0)
#define DISCOVER(f, ns, limit) fake_simple(f, TY(DISCOVER), ns, limit)

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* A line to compare with (freed by free_all). */
static char *fmt(const char *f, ...)
{
    char tmp[8192];
    va_list ap;
    va_start(ap, f);
    vsnprintf(tmp, sizeof(tmp), f, ap);
    va_end(ap);
    return xstrdup(tmp);
}

static void free_all(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
}

#define EXPECT(f, ...)                                                                             \
    do {                                                                                           \
        char *want_[] = {__VA_ARGS__};                                                             \
        fake_read(f);                                                                              \
        lines_expect(&(f)->got, (const char *const *)want_, ARRAY_LEN(want_));                    \
        free_all(want_, ARRAY_LEN(want_));                                                         \
        lines_free(&(f)->got);                                                                     \
    } while (0)

#define EXPECT_NOTHING(f)                                                                          \
    do {                                                                                           \
        fake_read(f);                                                                              \
        lines_expect(&(f)->got, NULL, 0);                                                          \
    } while (0)

/* ---- semantics ----------------------------------------------------------------------- */

/* Seed 003 in order, then UNREGISTER, re-REGISTER and DISCOVER. */
static void seed_and_basics(void **state)
{
    struct env e;
    struct fake a, b, c, d;
    const char *aa[] = {"/ip4/10.0.0.1/tcp/1", NULL}, *ba[] = {"/ip4/10.0.0.2/tcp/2", NULL};
    const char *ca[] = {"/ip6/::1/tcp/3/ws", "/dns4/c.example/tcp/443/wss", NULL};
    const char *a2[] = {"/ip4/10.9.9.9/tcp/9", NULL};
    (void)state;

    env_start(&e, NULL, false);
    fake_open(&e, &a);
    fake_open(&e, &b);
    fake_open(&e, &c);
    fake_open(&e, &d);
    assert_int_equal(fake_register(&a, "my-app", aa), 0);
    assert_int_equal(RENDEZVOUS(&a, "my-app"), 0);
    EXPECT_NOTHING(&a);
    assert_int_equal(fake_register(&b, "my-app", ba), 0);
    assert_int_equal(RENDEZVOUS(&b, "my-app"), 0);
    EXPECT(&b, fmt("+my-app %s /ip4/10.0.0.1/tcp/1", a.text));
    EXPECT(&a, fmt("+my-app %s /ip4/10.0.0.2/tcp/2", b.text));
    /* Empty peer id = the sender. */
    assert_int_equal(fake_register_as(&c, "my-app", "", ca), 0);
    assert_int_equal(RENDEZVOUS(&c, "my-app"), 0);
    fake_read(&c);
    assert_int_equal(c.got.messages, 1); /* both members in one Message */
    lines_free(&c.got);
    assert_int_equal(DISCOVER(&c, "my-app", 0), 0);
    EXPECT(&c, fmt("+my-app %s /ip4/10.0.0.1/tcp/1", a.text), fmt("+my-app %s /ip4/10.0.0.2/tcp/2", b.text));
    EXPECT(&a, fmt("+my-app %s /ip6/::1/tcp/3/ws,/dns4/c.example/tcp/443/wss", c.text));
    EXPECT(&b, fmt("+my-app %s /ip6/::1/tcp/3/ws,/dns4/c.example/tcp/443/wss", c.text));
    assert_int_equal(DISCOVER(&d, "my-app", 0), 0);
    fake_read(&d);
    assert_int_equal(d.got.messages, 1);
    lines_free(&d.got);
    assert_int_equal(DISCOVER(&d, "my-app", 0), 0);
    EXPECT(&d, fmt("+my-app %s /ip4/10.0.0.1/tcp/1", a.text), fmt("+my-app %s /ip4/10.0.0.2/tcp/2", b.text),
           fmt("+my-app %s /ip6/::1/tcp/3/ws,/dns4/c.example/tcp/443/wss", c.text));
    assert_int_equal(DISCOVER(&d, "my-app", 2), 0);
    EXPECT(&d, fmt("+my-app %s /ip4/10.0.0.1/tcp/1", a.text), fmt("+my-app %s /ip4/10.0.0.2/tcp/2", b.text));
    /* No members: exactly one REGISTER Message without entries. */
    assert_int_equal(DISCOVER(&d, "nobody", 5), 0);
    EXPECT(&d, fmt("(empty)"));

    /* Re-REGISTER: new addresses, announced again, and it moves to the end. */
    assert_int_equal(fake_register(&a, "my-app", a2), 0);
    EXPECT(&b, fmt("+my-app %s /ip4/10.9.9.9/tcp/9", a.text));
    EXPECT(&c, fmt("+my-app %s /ip4/10.9.9.9/tcp/9", a.text));
    EXPECT_NOTHING(&a);
    assert_int_equal(DISCOVER(&d, "my-app", 0), 0);
    EXPECT(&d, fmt("+my-app %s /ip4/10.0.0.2/tcp/2", b.text),
           fmt("+my-app %s /ip6/::1/tcp/3/ws,/dns4/c.example/tcp/443/wss", c.text),
           fmt("+my-app %s /ip4/10.9.9.9/tcp/9", a.text));

    /* UNREGISTER: announced; again: nothing to remove, nothing said. */
    assert_int_equal(UNREGISTER(&b, "my-app"), 0);
    EXPECT(&a, fmt("-my-app %s", b.text));
    EXPECT(&c, fmt("-my-app %s", b.text));
    EXPECT_NOTHING(&b);
    assert_int_equal(UNREGISTER(&b, "my-app"), 0);
    EXPECT_NOTHING(&a);
    EXPECT_NOTHING(&b);
    /* UNREGISTER does not unsubscribe. */
    assert_int_equal(fake_register(&d, "my-app", NULL), 0);
    EXPECT(&b, fmt("+my-app %s ", d.text));
    EXPECT(&a, fmt("+my-app %s ", d.text));
    EXPECT(&c, fmt("+my-app %s ", d.text));

    /* Ending a session announces what it owned to everyone else. */
    fake_close(&c);
    EXPECT(&a, fmt("-my-app %s", c.text));
    EXPECT(&b, fmt("-my-app %s", c.text));
    fake_close(&a);
    EXPECT(&b, fmt("-my-app %s", a.text));
    fake_close(&d);
    EXPECT(&b, fmt("-my-app %s", d.text));
    fake_close(&b);
    assert_int_equal(e.svc.reg.stats.regs, 0);
    assert_int_equal(e.svc.reg.stats.subs, 0);
    assert_int_equal(e.svc.stats.sessions_open[RDV_DIALECT_PUSH], 0);
    env_stop(&e);
}

/* Several namespaces per session and per Message; subscribing twice sends
 * nothing; a peer never hears of its own registrations, from any session. */
static void subscriptions(void **state)
{
    struct env e;
    struct fake a, a2, b;
    (void)state;

    env_start(&e, NULL, false);
    fake_open(&e, &a);
    fake_open_as(&e, &a2, &a);
    fake_open(&e, &b);
    assert_int_equal(fake_register(&b, "x", NULL), 0);
    assert_int_equal(fake_register(&a, "y", NULL), 0);

    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Rendezvous r1 = PUSH__MESSAGE__RENDEZVOUS__INIT, r2 = PUSH__MESSAGE__RENDEZVOUS__INIT;
    Push__Message__Rendezvous *rs[] = {&r1, &r2};
    r1.has_ns = r2.has_ns = 1;
    r1.ns = text("x");
    r2.ns = text("y");
    m.has_type = 1;
    m.type = TY(RENDEZVOUS);
    m.n_rendezvous = 2;
    m.rendezvous = rs;
    assert_int_equal(fake_send(&a2, &m), 0);
    EXPECT(&a2, fmt("+x %s ", b.text)); /* y holds only a's own registration */
    assert_int_equal(RENDEZVOUS(&a2, "x"), 0);
    EXPECT_NOTHING(&a2);
    assert_int_equal(e.svc.reg.stats.subs, 2);

    assert_int_equal(fake_register(&b, "y", NULL), 0);
    assert_int_equal(fake_register(&a, "x", NULL), 0); /* a's other session: not told */
    assert_int_equal(UNREGISTER(&b, "x"), 0);
    EXPECT(&a2, fmt("+y %s ", b.text), fmt("-x %s", b.text));
    fake_close(&a);
    EXPECT_NOTHING(&a2);
    fake_close(&b);
    EXPECT(&a2, fmt("-y %s", b.text));
    fake_close(&a2);
    env_stop(&e);
}

/* The same peer registering the same namespace from a second session takes
 * the registration over; the first session's end removes nothing. */
static void takeover(void **state)
{
    struct env e;
    struct fake p1, p2, w;
    const char *one[] = {"/ip4/1.1.1.1/tcp/1", NULL}, *two[] = {"/ip4/2.2.2.2/tcp/2", NULL};
    (void)state;

    env_start(&e, NULL, false);
    fake_open(&e, &w);
    fake_open(&e, &p1);
    fake_open_as(&e, &p2, &p1);
    assert_int_equal(RENDEZVOUS(&w, "ns"), 0);
    assert_int_equal(fake_register(&p1, "ns", one), 0);
    assert_int_equal(fake_register(&p2, "ns", two), 0);
    EXPECT(&w, fmt("+ns %s /ip4/1.1.1.1/tcp/1", p1.text), fmt("+ns %s /ip4/2.2.2.2/tcp/2", p1.text));
    fake_close(&p1);
    EXPECT_NOTHING(&w);
    assert_int_equal(e.svc.reg.stats.regs, 1);
    /* The first session's UNREGISTER would have removed it: it is the peer's. */
    fake_close(&p2);
    EXPECT(&w, fmt("-ns %s", p2.text));
    fake_close(&w);
    env_stop(&e);
}

/* A snapshot is cut into Messages of at most push_batch_bytes; DISCOVER
 * is one Message however big. */
static void snapshot_batches(void **state)
{
    struct env e;
    struct fake peers[60], s;
    char names[30][80];
    const char *addrs[31];
    (void)state;

    env_start(&e, NULL, false);
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], sizeof(names[i]), "/dns4/host-%02d.a-rather-long-domain-name.example/tcp/4001", i);
        addrs[i] = names[i];
    }
    addrs[30] = NULL;
    for (size_t i = 0; i < ARRAY_LEN(peers); i++) {
        fake_open(&e, &peers[i]);
        assert_int_equal(fake_register(&peers[i], "big", addrs), 0);
    }
    fake_open(&e, &s);
    assert_int_equal(RENDEZVOUS(&s, "big"), 0);
    size_t total = 0, messages = 0;
    const struct push_buf *b;
    while ((b = push_session_peek(s.ps)) != NULL) {
        uint64_t len;
        int h = uvarint_get(b->bytes, b->len, &len);
        assert_true(len <= e.cfg.push_batch_bytes);
        Push__Message *m = push__message__unpack(NULL, len, b->bytes + h);
        assert_non_null(m);
        for (size_t i = 0; i < m->n_register_; i++) {
            /* In registration order. */
            assert_int_equal(m->register_[i]->peer->id.len, strlen(peers[total].text));
            assert_memory_equal(m->register_[i]->peer->id.data, peers[total].text, strlen(peers[total].text));
            assert_int_equal(m->register_[i]->peer->n_addrs, 30);
            total++;
        }
        messages++;
        push__message__free_unpacked(m, NULL);
        push_session_pop(s.ps);
    }
    assert_int_equal(total, ARRAY_LEN(peers));
    assert_true(messages >= 2);

    assert_int_equal(DISCOVER(&s, "big", 1000), 0);
    fake_read(&s);
    assert_int_equal(s.got.messages, 1);
    assert_int_equal(s.got.n, ARRAY_LEN(peers));
    fake_close(&s);
    for (size_t i = 0; i < ARRAY_LEN(peers); i++)
        fake_close(&peers[i]);
    env_stop(&e);
}

/* Drains f's queue: every Message must re-pack (protobuf-c) to exactly the
 * bytes sent; its lines go to f->got. */
static void fake_read_canonical(struct fake *f)
{
    const struct push_buf *b;
    while ((b = push_session_peek(f->ps)) != NULL) {
        uint64_t len;
        int h = uvarint_get(b->bytes, b->len, &len);
        Push__Message *m = push__message__unpack(NULL, len, b->bytes + h);
        assert_non_null(m);
        uint8_t *again = xmalloc(len);
        assert_int_equal(push__message__get_packed_size(m), len);
        push__message__pack(m, again);
        assert_memory_equal(again, b->bytes + h, len);
        free(again);
        lines_message(&f->got, m);
        push__message__free_unpacked(m, NULL);
        push_session_pop(f->ps);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A namespace of PUSH_WIRE_CACHE_MIN members or more keeps each member's
 * packed entry; snapshots built from them are what protobuf-c packs, and a
 * member that re-registers with other addresses is never sent stale. */
static void big_namespace_entries_kept(void **state)
{
    enum { N = PUSH_WIRE_CACHE_MIN + 6 };
    struct env e;
    struct fake *peers = xcalloc(N, sizeof(*peers)), s1, s2, few[2], fs;
    char addr[N][48], meta[N][48], *want[N];
    (void)state;

    env_start(&e, NULL, false);
    for (int i = 0; i < N; i++) {
        snprintf(addr[i], sizeof(addr[i]), "/ip4/10.0.%d.%d/tcp/1", i / 256, i % 256);
        /* every other one with presence metadata, which the entry carries */
        snprintf(meta[i], sizeof(meta[i]), i % 2 ? " m=status-%d" : "", i);
        const char *a[] = {addr[i], NULL};
        fake_open(&e, &peers[i]);
        assert_int_equal(fake_register_meta(&peers[i], "crowd", peers[i].text, a, i % 2 ? meta[i] + 3 : NULL), 0);
    }
    /* Packed as they came once the namespace was big, not before. */
    assert_null(registry_wire(registry_find(&e.svc.reg, "crowd", 5, &peers[0].id)));
    assert_non_null(registry_wire(registry_find(&e.svc.reg, "crowd", 5, &peers[N - 1].id)));
    fake_open(&e, &s1);
    assert_int_equal(RENDEZVOUS(&s1, "crowd"), 0);
    fake_read_canonical(&s1);
    assert_int_equal(s1.got.n, N);
    for (int i = 0; i < N; i++)
        assert_string_equal(s1.got.v[i], want[i] = fmt("+crowd %s %s%s", peers[i].text, addr[i], meta[i]));
    free_all(want, N);
    lines_free(&s1.got);
    /* Now every member's entry is kept. */
    assert_non_null(registry_wire(registry_find(&e.svc.reg, "crowd", 5, &peers[0].id)));

    const char *moved[] = {"/ip4/10.9.9.9/tcp/9", NULL};
    assert_int_equal(fake_register(&peers[5], "crowd", moved), 0);
    EXPECT(&s1, fmt("+crowd %s /ip4/10.9.9.9/tcp/9", peers[5].text));
    fake_open(&e, &s2);
    assert_int_equal(RENDEZVOUS(&s2, "crowd"), 0);
    fake_read_canonical(&s2);
    assert_int_equal(s2.got.n, N);
    for (int i = 0; i < N; i++)
        want[i] = fmt("+crowd %s %s%s", peers[i].text, i == 5 ? moved[0] : addr[i], i == 5 ? "" : meta[i]);
    qsort(want, N, sizeof(*want), cmp_str);
    qsort(s2.got.v, s2.got.n, sizeof(*s2.got.v), cmp_str);
    for (int i = 0; i < N; i++)
        assert_string_equal(s2.got.v[i], want[i]);
    free_all(want, N);
    lines_free(&s2.got);

    /* A small namespace keeps nothing. */
    const char *fa[] = {"/ip4/10.1.1.1/tcp/1", NULL};
    fake_open(&e, &few[0]);
    fake_open(&e, &few[1]);
    assert_int_equal(fake_register(&few[0], "few", fa), 0);
    assert_int_equal(fake_register(&few[1], "few", fa), 0);
    fake_open(&e, &fs);
    assert_int_equal(RENDEZVOUS(&fs, "few"), 0);
    EXPECT(&fs, fmt("+few %s /ip4/10.1.1.1/tcp/1", few[0].text),
           fmt("+few %s /ip4/10.1.1.1/tcp/1", few[1].text));
    assert_null(registry_wire(registry_find(&e.svc.reg, "few", 3, &few[0].id)));

    fake_close(&fs);
    fake_close(&few[0]);
    fake_close(&few[1]);
    fake_close(&s1);
    fake_close(&s2);
    for (int i = 0; i < N; i++)
        fake_close(&peers[i]);
    free(peers);
    env_stop(&e);
}

/* Every rejection has its status; the session carries on after each. */
static void rejections(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, other;
    char long_ns[300];
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.max_regs_per_peer = 2;
    cfg.limits.max_subs_per_session = 2;
    env_start(&e, &cfg, false);
    fake_open(&e, &a);
    fake_open(&e, &other);

    /* Missing, empty, too long, not UTF-8. */
    assert_int_equal(fake_register(&a, NULL, NULL), 0);
    assert_int_equal(fake_register(&a, "", NULL), 0);
    memset(long_ns, 'n', 256);
    long_ns[256] = '\0';
    assert_int_equal(RENDEZVOUS(&a, long_ns), 0);
    long_ns[255] = '\0';
    assert_int_equal(DISCOVER(&a, long_ns, 0), 0); /* 255 bytes is fine */
    assert_int_equal(UNREGISTER(&a, "\xff\xfe"), 0);
    assert_int_equal(DISCOVER(&a, NULL, 0), 0);
    EXPECT(&a, fmt("!100 0 missing namespace"), fmt("!100 0 missing namespace"),
           fmt("!100 2 namespace must be 1 to 255 bytes of UTF-8"), fmt("(empty)"),
           fmt("!100 1 namespace must be 1 to 255 bytes of UTF-8"), fmt("!100 3 missing namespace"));

    /* Foreign and malformed peer ids, bad and too many addresses. */
    assert_int_equal(fake_register_as(&a, "ns", other.text, NULL), 0);
    assert_int_equal(fake_register_as(&a, "ns", "not-a-peer-id", NULL), 0);
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r = PUSH__MESSAGE__REGISTER__INIT, *rp = &r;
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    uint8_t junk[] = {0x04, 1, 2, 3}; /* /ip4 with 3 bytes */
    ProtobufCBinaryData addrs[33];
    for (size_t i = 0; i < ARRAY_LEN(addrs); i++)
        addrs[i] = (ProtobufCBinaryData){.len = sizeof(junk), .data = junk};
    p.n_addrs = 1;
    p.addrs = addrs;
    r.has_ns = 1;
    r.ns = text("ns");
    r.peer = &p;
    m.n_register_ = 1;
    m.register_ = &rp;
    assert_int_equal(fake_send(&a, &m), 0);
    p.n_addrs = 33;
    assert_int_equal(fake_send(&a, &m), 0);
    EXPECT(&a, fmt("!200 0 peer.id is not the authenticated peer of this connection"),
           fmt("!101 0 peer.id is not a peer id"), fmt("!101 0 address 1 is not a valid multiaddr"),
           fmt("!101 0 at most 32 addresses of 2048 bytes in all"));
    assert_int_equal(e.svc.reg.stats.regs, 0);

    /* Unknown type, no entry of the type, entries of several types. */
    m = (Push__Message)PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = (Push__Message__MessageType)9;
    m.n_register_ = 1;
    m.register_ = &rp;
    p.n_addrs = 0;
    assert_int_equal(fake_send(&a, &m), 0);
    m.type = TY(DISCOVER);
    assert_int_equal(fake_send(&a, &m), 0);
    Push__Message__Discover dsc = PUSH__MESSAGE__DISCOVER__INIT, *dp = &dsc;
    dsc.has_ns = 1;
    dsc.ns = text("ns");
    m.n_discovery = 1;
    m.discovery = &dp;
    assert_int_equal(fake_send(&a, &m), 0);
    m = (Push__Message)PUSH__MESSAGE__INIT; /* nothing at all: a REGISTER without entries */
    assert_int_equal(fake_send(&a, &m), 0);
    EXPECT(&a, fmt("!102 0 unknown message type 9"), fmt("!102 3 DISCOVER message without a DISCOVER entry"),
           fmt("!102 3 DISCOVER message with entries of another type"),
           fmt("!102 0 REGISTER message without a REGISTER entry"));
    assert_int_equal(e.svc.reg.stats.regs, 0);

    /* Limits: registrations per peer, subscriptions per session. */
    assert_int_equal(fake_register(&a, "one", NULL), 0);
    assert_int_equal(fake_register(&a, "two", NULL), 0);
    assert_int_equal(fake_register(&a, "two", NULL), 0); /* a re-register is no new one */
    assert_int_equal(fake_register(&a, "three", NULL), 0);
    assert_int_equal(RENDEZVOUS(&a, "s1"), 0);
    assert_int_equal(RENDEZVOUS(&a, "s2"), 0);
    assert_int_equal(RENDEZVOUS(&a, "s3"), 0);
    EXPECT(&a, fmt("!400 0 at most 2 registrations per peer"), fmt("!400 2 at most 2 subscriptions per session"));
    assert_int_equal(e.svc.stats.errors[RDV_DIALECT_PUSH], 15);

    /* Still serving: the other session sees a's registrations. */
    assert_int_equal(DISCOVER(&other, "two", 0), 0);
    EXPECT(&other, fmt("+two %s ", a.text));

    /* Bytes that are not a Message, or a length over the limit: -1. */
    static const uint8_t garbage[] = {0x03, 0xff, 0xff, 0xff};
    assert_int_equal(push_session_input(a.ps, garbage, sizeof(garbage)), -1);
    uint8_t huge[UVARINT_MAX_LEN];
    size_t h = uvarint_put(huge, e.cfg.max_message + 1);
    assert_int_equal(push_session_input(other.ps, huge, h), -1);
    fake_close(&a);
    fake_close(&other);
    assert_int_equal(e.svc.reg.stats.regs, 0);
    env_stop(&e);
}

/* Registrations of the other dialects reach push subscribers, expiry too. */
static void other_dialects(void **state)
{
    struct env e;
    struct fake w, ttl_peer;
    uint8_t ma[64];
    char err[64];
    (void)state;

    env_start(&e, NULL, false);
    fake_open(&e, &w);
    fake_open(&e, &ttl_peer); /* only for its id */
    assert_int_equal(RENDEZVOUS(&w, "mixed"), 0);
    int n = multiaddr_from_text("/ip4/7.7.7.7/tcp/7", ma, sizeof(ma), err, sizeof(err));
    struct rdv_addr a = {.bytes = ma, .len = (size_t)n};
    struct rdv_register req = {
        .ns = "mixed", .ns_len = 5, .peer = &ttl_peer.id, .dialect = RDV_DIALECT_STANDARD,
        .addrs = &a, .naddrs = 1, .ttl = 60, .now = 1000,
    };
    assert_int_equal(registry_register(&e.svc.reg, &req, NULL), RDV_OK);
    EXPECT(&w, fmt("+mixed %s /ip4/7.7.7.7/tcp/7", ttl_peer.text));
    assert_int_equal(registry_expire(&e.svc.reg, 1061), 1);
    EXPECT(&w, fmt("-mixed %s", ttl_peer.text));
    fake_close(&ttl_peer);
    fake_close(&w);
    env_stop(&e);
}

/* A reload may raise the limits of a running service (the daemon writes
 * them into svc.cfg and the registry): more addresses than at start work. */
static void limits_raised(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, w;
    char names[40][40];
    const char *addrs[41];
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.max_addrs = 2;
    env_start(&e, &cfg, false);
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "/ip4/10.0.0.%d/tcp/1", i);
        addrs[i] = names[i];
    }
    addrs[40] = NULL;
    fake_open(&e, &a);
    fake_open(&e, &w);
    assert_int_equal(RENDEZVOUS(&w, "r"), 0);
    assert_int_equal(fake_register(&a, "r", addrs), 0);
    EXPECT(&a, fmt("!101 0 at most 2 addresses of 2048 bytes in all"));
    e.svc.reg.limits.max_addrs = 40;
    assert_int_equal(fake_register(&a, "r", addrs), 0);
    EXPECT_NOTHING(&a);
    fake_read(&w);
    assert_int_equal(w.got.n, 1);
    assert_non_null(strstr(w.got.v[0], "/ip4/10.0.0.39/tcp/1"));
    fake_close(&a);
    fake_close(&w);
    env_stop(&e);
}

/* A REGISTER that changes nothing is not announced again; changes draw on
 * the peer's token bucket, refreshes a tenth of a token each, and past it
 * REGISTER gets E_UNAVAILABLE with a text. */
static void unchanged_and_rate_limited(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, w;
    const char *one[] = {"/ip4/10.0.0.1/tcp/1", NULL};
    const char *two[] = {"/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/2", NULL};
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.register_rate = 0.001; /* nothing refills during the test */
    cfg.limits.register_burst = 4;
    env_start(&e, &cfg, false);
    fake_open(&e, &a);
    fake_open(&e, &w);
    assert_int_equal(RENDEZVOUS(&w, "r"), 0);
    assert_int_equal(fake_register(&a, "r", one), 0);         /* change 1: 3 tokens left */
    assert_int_equal(fake_register(&a, "r", one), 0);         /* refresh: 2.9 */
    assert_int_equal(fake_register(&a, "r", one), 0);         /* refresh: 2.8 */
    assert_int_equal(fake_register(&a, "r", two), 0);         /* change 2: 1.8 */
    assert_int_equal(fake_register(&a, "s", one), 0);         /* change 3: 0.8 */
    assert_int_equal(fake_register(&a, "t", one), 0);         /* refused */
    assert_int_equal(fake_register(&a, "r", one), 0);         /* a change: refused */
    /* refreshes (a tenth of a token each) go on until the bucket is empty */
    for (int i = 0; i < 7; i++)
        assert_int_equal(fake_register(&a, "r", two), 0);     /* 0.7 ... 0.1 */
    assert_int_equal(fake_register(&a, "r", two), 0);         /* a refresh: refused */
    EXPECT(&a, fmt("!400 0 registration changes too frequent for this peer, retry later"),
           fmt("!400 0 registration changes too frequent for this peer, retry later"),
           fmt("!400 0 registration changes too frequent for this peer, retry later"));
    fake_read(&w);
    assert_int_equal(w.got.n, 2);
    assert_null(strstr(w.got.v[0], "10.0.0.2"));
    assert_non_null(strstr(w.got.v[1], "10.0.0.2"));
    assert_true(e.svc.reg.stats.rate_limited == 3);
    /* removals are never refused */
    assert_int_equal(UNREGISTER(&a, "r"), 0);
    EXPECT_NOTHING(&a);
    fake_read(&w);
    assert_int_equal(w.got.n, 3);
    fake_close(&a);
    fake_close(&w);
    env_stop(&e);
}

/* Presence metadata (Peer field 3): sent back byte-exact in announcements,
 * snapshots and DISCOVER answers; a change of the metadata alone is
 * announced, the same metadata again is not; over the limit is refused. */
static void metadata(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, w, x;
    const char *one[] = {"/ip4/10.0.0.1/tcp/1", NULL};
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.max_metadata = 12;
    env_start(&e, &cfg, false);
    fake_open(&e, &a);
    fake_open(&e, &w);
    fake_open(&e, &x);
    assert_int_equal(RENDEZVOUS(&w, "r"), 0);
    assert_int_equal(fake_register_meta(&a, "r", a.text, one, "alice"), 0);
    assert_int_equal(fake_register_meta(&a, "r", a.text, one, "alice"), 0);   /* unchanged */
    assert_int_equal(fake_register_meta(&a, "r", "", one, "alice (away)"), 0); /* 12 bytes */
    assert_int_equal(fake_register_meta(&a, "r", a.text, one, "alice (away)!"), 0); /* 13 */
    EXPECT(&a, fmt("!101 0 metadata is at most 12 bytes"));
    EXPECT(&w, fmt("+r %s /ip4/10.0.0.1/tcp/1 m=alice", a.text),
           fmt("+r %s /ip4/10.0.0.1/tcp/1 m=alice (away)", a.text));
    /* the snapshot and DISCOVER carry it; addresses-only peers carry none */
    assert_int_equal(fake_register(&w, "r", one), 0);
    assert_int_equal(RENDEZVOUS(&x, "r"), 0);
    assert_int_equal(DISCOVER(&x, "r", 0), 0);
    EXPECT(&x, fmt("+r %s /ip4/10.0.0.1/tcp/1 m=alice (away)", a.text),
           fmt("+r %s /ip4/10.0.0.1/tcp/1", w.text),
           fmt("+r %s /ip4/10.0.0.1/tcp/1 m=alice (away)", a.text),
           fmt("+r %s /ip4/10.0.0.1/tcp/1", w.text));
    /* dropping the metadata is a change too; an empty field is none */
    assert_int_equal(fake_register(&a, "r", one), 0);
    assert_int_equal(fake_register_meta(&a, "r", a.text, one, ""), 0);
    EXPECT(&x, fmt("+r %s /ip4/10.0.0.1/tcp/1", a.text));
    EXPECT_NOTHING(&a);
    fake_close(&a);
    fake_close(&w);
    fake_close(&x);
    env_stop(&e);
}

/* Push backlogs count in the daemon's memory budget (--max-memory), each
 * queued Message once however many queues hold it: past the budget new
 * requests are refused; once the subscribers take their backlog, served
 * again. */
static void backlog_in_memory_budget(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, w1, w2, x;
    const char *one[] = {"/ip4/10.0.0.1/tcp/1", NULL};
    const char *two[] = {"/ip4/10.0.0.2/tcp/2", NULL};
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.register_rate = 0;
    env_start(&e, &cfg, false);
    e.server.limits.max_memory = 20000;
    fake_open(&e, &a);
    fake_open(&e, &w1);
    fake_open(&e, &w2);
    fake_open(&e, &x);
    assert_int_equal(RENDEZVOUS(&w1, "r"), 0);
    assert_int_equal(RENDEZVOUS(&w2, "r"), 0);
    assert_int_equal(e.server.mem_queued, 0);   /* empty snapshots: nothing queued */
    size_t n = 0;
    while (!host_memory_full(&e.server) && n < 10000)
        assert_int_equal(fake_register(&a, "r", n++ & 1 ? one : two), 0);
    assert_true(host_memory_full(&e.server));
    assert_true(n > 100);
    assert_int_equal(push_session_queued(w1.ps), push_session_queued(w2.ps));
    assert_int_equal(e.server.mem_queued, push_session_queued(w1.ps)); /* once, not twice */
    uint64_t refused = e.server.stats.requests_refused_memory;
    assert_int_equal(DISCOVER(&x, "r", 0), 0);
    assert_int_equal(fake_register(&x, "r", one), 0);
    EXPECT(&x, fmt("!400 3 %s", RDV_MEMORY_FULL_TEXT), fmt("!400 0 %s", RDV_MEMORY_FULL_TEXT));
    assert_true(e.server.stats.requests_refused_memory == refused + 2);
    /* one subscriber takes its backlog: the other still holds it all */
    fake_read(&w1);
    assert_int_equal(w1.got.n, n);
    assert_int_equal(e.server.mem_queued, push_session_queued(w2.ps));
    fake_read(&w2);
    assert_int_equal(e.server.mem_queued, 0);
    assert_int_equal(DISCOVER(&x, "r", 0), 0);
    int last = (n - 1) & 1 ? 1 : 2;
    EXPECT(&x, fmt("+r %s /ip4/10.0.0.%d/tcp/%d", a.text, last, last));
    assert_int_equal(e.server.mem_queued, 0);
    /* a cut or freed session gives its part back */
    assert_int_equal(fake_register(&a, "r", one), 0);
    assert_int_equal(fake_register(&a, "r", two), 0);
    assert_true(e.server.mem_queued > 0);
    fake_close(&w1);
    assert_true(e.server.mem_queued > 0);
    fake_close(&w2);
    assert_int_equal(e.server.mem_queued, 0);
    fake_close(&a);
    fake_close(&x);
    env_stop(&e);
}

/* A Message's refused entries get one status Message (after what its other
 * entries produced) naming how many and the first; DISCOVER entries keep
 * one answer each. */
static void one_status_per_message(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake a, b, w;
    (void)state;

    rdv_config_default(&cfg);
    cfg.limits.max_subs_per_session = 2;
    env_start(&e, &cfg, false);
    fake_open(&e, &a);
    fake_open(&e, &b);
    fake_open(&e, &w);
    assert_int_equal(RENDEZVOUS(&w, "ok"), 0);

    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r[5], *rp[5];
    Push__Message__Peer p[5];
    const char *ns[5] = {"ok", "", "ok2", "ok3", NULL};
    for (int i = 0; i < 5; i++) {
        push__message__register__init(&r[i]);
        push__message__peer__init(&p[i]);
        r[i].has_ns = ns[i] != NULL;
        r[i].ns = text(ns[i] ? ns[i] : "");
        r[i].peer = &p[i];
        rp[i] = &r[i];
    }
    p[3].has_id = 1;
    p[3].id = text(b.text);     /* somebody else's id */
    m.n_register_ = 5;
    m.register_ = rp;
    uint64_t errors = e.svc.stats.errors[RDV_DIALECT_PUSH];
    assert_int_equal(fake_send(&a, &m), 0);
    EXPECT(&a, fmt("!100 0 3 of 5 entries refused, the first (entry 2): missing namespace"));
    assert_true(e.svc.stats.errors[RDV_DIALECT_PUSH] == errors + 3); /* counted per entry */
    EXPECT(&w, fmt("+ok %s ", a.text));
    assert_int_equal(e.svc.reg.stats.regs, 2);     /* ok and ok2 */

    /* RENDEZVOUS: the snapshots of the accepted ones, then the one status */
    Push__Message__Rendezvous z[3], *zp[3];
    const char *zn[3] = {"ok", "ok2", "s3"};
    for (int i = 0; i < 3; i++) {
        push__message__rendezvous__init(&z[i]);
        z[i].has_ns = 1;
        z[i].ns = text(zn[i]);
        zp[i] = &z[i];
    }
    m = (Push__Message)PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = TY(RENDEZVOUS);
    m.n_rendezvous = 3;
    m.rendezvous = zp;
    assert_int_equal(fake_send(&b, &m), 0);
    EXPECT(&b, fmt("+ok %s ", a.text), fmt("+ok2 %s ", a.text),
           fmt("!400 2 1 of 3 entries refused, the first (entry 3): at most 2 subscriptions per session"));

    /* DISCOVER: one answer per entry, refused or not */
    Push__Message__Discover d[3], *dp[3];
    const char *dn[3] = {"", "ok", NULL};
    for (int i = 0; i < 3; i++) {
        push__message__discover__init(&d[i]);
        d[i].has_ns = dn[i] != NULL;
        d[i].ns = text(dn[i] ? dn[i] : "");
        dp[i] = &d[i];
    }
    m = (Push__Message)PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = TY(DISCOVER);
    m.n_discovery = 3;
    m.discovery = dp;
    assert_int_equal(fake_send(&w, &m), 0);
    EXPECT(&w, fmt("!100 3 missing namespace"), fmt("+ok %s ", a.text), fmt("!100 3 missing namespace"));
    fake_close(&a);
    fake_close(&b);
    fake_close(&w);
    env_stop(&e);
}

/* 30 addresses of ~55 bytes (~1.8 KB in an announcement), NULL-terminated. */
static void long_addrs(char names[30][80], const char *addrs[31])
{
    for (int i = 0; i < 30; i++) {
        snprintf(names[i], 80, "/dns4/host-%02d.a-rather-long-domain-name.example/tcp/1", i);
        addrs[i] = names[i];
    }
    addrs[30] = NULL;
}

/* A session's queue exists only while something is queued: none when it
 * opens, one with the first Message, gone once the last is read; the soft
 * limit's clock goes with it, so a queue that drained starts a new one. */
static void queue_on_demand(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake sub, src;
    char names[30][80];
    const char *addrs[31];
    size_t changes = 0;
    (void)state;

    rdv_config_default(&cfg);
    cfg.out_soft_limit = 10000;
    cfg.out_soft_seconds = 0.05;
    cfg.limits.register_rate = 0;
    env_start(&e, &cfg, false);
    long_addrs(names, addrs);
    fake_open(&e, &sub);
    fake_open(&e, &src);
    assert_null(sub.ps->q);
    assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
    fake_read(&src);
    assert_int_equal(RENDEZVOUS(&sub, "ns"), 0);
    assert_non_null(sub.ps->q); /* the snapshot waits in it */
    fake_read(&sub);
    assert_null(sub.ps->q);
    assert_int_equal(push_session_queued(sub.ps), 0);
    assert_int_equal(e.server.mem_queued, 0);

    /* Over the soft limit (~1.8 KB per announcement), then drained. */
    for (int i = 0; i < 8; i++)
        assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
    fake_read(&src);
    assert_true(push_session_queued(sub.ps) > cfg.out_soft_limit);
    assert_true(sub.ps->q->over_soft_since >= 0);
    assert_true(sub.ps->q->len > 8 - 1 && sub.ps->q->cap >= sub.ps->q->len);
    usleep(60000);
    ev_now_update(e.loop);
    fake_read(&sub);
    assert_null(sub.ps->q);
    /* Over it again: the clock starts anew, nothing is cut. */
    for (int i = 0; i < 8; i++)
        assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
    assert_false(sub.ps->cut);
    assert_true(push_session_queued(sub.ps) > cfg.out_soft_limit);
    assert_int_equal(e.svc.stats.slow_subscribers_cut, 0);
    fake_read(&sub);
    assert_int_equal(sub.got.n, 1 + 16);
    assert_null(sub.ps->q);
    fake_close(&sub);
    fake_close(&src);
    env_stop(&e);
}

/* A queue past the hard limit, or past the soft limit for too long, is cut:
 * dropped, counted, and nothing more is queued to it. */
static void output_limits(void **state)
{
    struct rdv_config cfg;
    struct env e;
    struct fake slow, fast, src;
    char names[30][80];
    const char *addrs[31];
    size_t changes = 0; /* every REGISTER differs from the last: 30 or 29 addresses */
    (void)state;

    rdv_config_default(&cfg);
    cfg.out_hard_limit = 40000;
    cfg.out_soft_limit = 10000;
    cfg.out_soft_seconds = 0.05;
    cfg.limits.register_rate = 0; /* src floods on purpose */
    env_start(&e, &cfg, false);
    long_addrs(names, addrs);
    fake_open(&e, &slow);
    fake_open(&e, &fast);
    fake_open(&e, &src);
    assert_int_equal(RENDEZVOUS(&slow, "ns"), 0);
    assert_int_equal(RENDEZVOUS(&fast, "ns"), 0);
    /* ~1.8 KB per announcement: the hard limit goes after ~22. */
    size_t sent = 0;
    while (!slow.ps->cut && sent < 100) {
        assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
        sent++;
        fake_read(&fast);
    }
    assert_true(slow.ps->cut);
    assert_true(sent > 15);
    assert_int_equal(e.svc.stats.slow_subscribers_cut, 1);
    assert_null(push_session_peek(slow.ps));
    assert_int_equal(push_session_queued(slow.ps), 0);
    assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
    assert_null(push_session_peek(slow.ps));
    fake_read(&fast);
    assert_int_equal(fast.got.n, sent + 1);

    /* Soft: over 10 KB, then still over it 50 ms later. */
    struct fake slow2;
    fake_open(&e, &slow2);
    assert_int_equal(RENDEZVOUS(&slow2, "ns"), 0); /* snapshot: 1 entry */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
        fake_read(&fast); /* the fast one stays under every limit */
    }
    assert_false(slow2.ps->cut);
    assert_true(push_session_queued(slow2.ps) > cfg.out_soft_limit);
    usleep(60000);
    ev_now_update(e.loop);
    assert_int_equal(fake_register(&src, "ns", addrs + (changes++ & 1)), 0);
    assert_true(slow2.ps->cut);
    assert_int_equal(e.svc.stats.slow_subscribers_cut, 2);
    fake_close(&slow2);
    fake_close(&slow);
    fake_close(&fast);
    fake_close(&src);
    env_stop(&e);
}

/* ---- over the network --------------------------------------------------------------- */

struct tpeer {
    struct host host;
};

static void tpeer_init(struct env *e, struct tpeer *p)
{
    struct privkey k;
    privkey_generate(&k);
    host_init(&p->host, e->loop, &e->log, &k, NULL);
}

/* A connection with one push session on it (more can be opened). */
struct tconn {
    struct env *e;
    struct tpeer *peer;
    struct conn *conn;
    bool ready, closed;
};

struct tsess {
    struct push_client pc;
    struct lines got;
    bool open, ended;
    char why[128];
};

static void ts_open(struct push_client *pc)
{
    struct tsess *t = pc->user;
    t->open = true;
}

static void ts_message(struct push_client *pc, const Push__Message *m)
{
    struct tsess *t = pc->user;
    lines_message(&t->got, m);
}

static void ts_end(struct push_client *pc, const char *why)
{
    struct tsess *t = pc->user;
    t->ended = true;
    snprintf(t->why, sizeof(t->why), "%s", why);
}

static const struct push_client_handler ts_handler = {
    .on_open = ts_open,
    .on_message = ts_message,
    .on_end = ts_end,
};

static void tc_ready(struct conn *c, void *user)
{
    struct tconn *t = user;
    (void)c;
    t->ready = true;
}

static void tc_closed(struct conn *c, void *user, const char *reason)
{
    struct tconn *t = user;
    (void)c;
    (void)reason;
    t->closed = true;
    t->conn = NULL;
}

static const struct conn_events tc_events = {.on_ready = tc_ready, .on_closed = tc_closed};

static void tc_dial(struct env *e, struct tpeer *p, struct tconn *t)
{
    char err[256];
    memset(t, 0, sizeof(*t));
    t->e = e;
    t->peer = p;
    t->conn = host_dial(&p->host, e->addr, &tc_events, t, err, sizeof(err));
    assert_non_null(t->conn);
}

static bool tc_is_ready(void *arg) { return ((struct tconn *)arg)->ready; }

static void ts_open_on(struct tconn *t, struct tsess *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(push_client_open(&s->pc, t->conn, NULL, &ts_handler, s), 0);
}

struct wait_lines {
    struct tsess *s;
    size_t n;
};

static bool has_lines(void *arg)
{
    struct wait_lines *w = arg;
    return w->s->got.n >= w->n;
}

static void wait_lines(struct env *e, struct tsess *s, size_t n)
{
    struct wait_lines w = {s, n};
    if (!run_until(e, has_lines, &w, 20)) {
        print_error("waited for %zu lines, have %zu\n", n, s->got.n);
        fail();
    }
}

static bool ts_is_ended(void *arg) { return ((struct tsess *)arg)->ended; }

static size_t count_empty(const struct tsess *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->got.n; i++)
        k += strcmp(s->got.v[i], "(empty)") == 0;
    return k;
}

struct sync_wait {
    struct tsess *s;
    size_t n;
    const size_t *before; /* "(empty)" lines each had before its DISCOVER */
};

static bool all_synced(void *arg)
{
    const struct sync_wait *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (count_empty(&w->s[i]) <= w->before[i] && !w->s[i].ended)
            return false;
    return true;
}

/* The answer to a DISCOVER sent after everything else proves that all of
 * it was handled, and that whatever the server queued for the session
 * before has arrived. It lists a namespace nobody uses, so its "(empty)"
 * line is told apart from announcements, and dropped. For n sessions at
 * once. */
static void sync_sessions(struct env *e, struct tsess *s, size_t n)
{
    size_t *before = xcalloc(n, sizeof(*before));
    for (size_t i = 0; i < n; i++) {
        before[i] = count_empty(&s[i]);
        push_client_discover(&s[i].pc, "-sync-", 1);
    }
    struct sync_wait w = {s, n, before};
    assert_true(run_until(e, all_synced, &w, 120));
    for (size_t i = 0; i < n; i++) {
        struct lines *l = &s[i].got;
        assert_false(s[i].ended);
        for (size_t j = 0, k = 0; j < l->n; j++) {
            if (strcmp(l->v[j], "(empty)") != 0 || k++ < before[i])
                continue;
            free(l->v[j]);
            memmove(&l->v[j], &l->v[j + 1], (l->n - j - 1) * sizeof(char *));
            l->n--;
            break;
        }
    }
    free(before);
}

static void sync_session(struct env *e, struct tsess *s) { sync_sessions(e, s, 1); }

#define FAN_SUBS 2000
#define FAN_REGISTRARS 20
#define FAN_OPS 10

struct fan {
    struct tconn conns[FAN_SUBS];
    struct tsess subs[FAN_SUBS];
    struct tpeer regp[FAN_REGISTRARS];
    struct tconn regc[FAN_REGISTRARS];
    struct tsess regs[FAN_REGISTRARS];
};

static bool fan_all_ready(void *arg)
{
    struct fan *f = arg;
    for (size_t i = 0; i < FAN_SUBS; i++)
        if (!f->conns[i].ready)
            return false;
    for (size_t i = 0; i < FAN_REGISTRARS; i++)
        if (!f->regc[i].ready)
            return false;
    return true;
}

/* Subscribed: the DISCOVER sent after the RENDEZVOUS was answered. */
static bool fan_all_subscribed(void *arg)
{
    struct fan *f = arg;
    for (size_t i = 0; i < FAN_SUBS; i++)
        if (f->subs[i].got.messages < 1)
            return false;
    return true;
}

static bool fan_all_received(void *arg)
{
    struct fan *f = arg;
    for (size_t i = 0; i < FAN_SUBS; i++)
        if (f->subs[i].got.n < 1 + FAN_REGISTRARS * FAN_OPS)
            return false;
    return true;
}

/* 2,000 sessions of one peer subscribed to one namespace; 20 other peers
 * make 200 changes at once (register, re-register with other addresses,
 * unregister). Every subscriber must receive exactly 200 announcements,
 * the same ones in the same order, each registrar's in the order it made
 * them, with the right addresses. */
static void fan_out_2000(void **state)
{
    struct env e;
    struct tpeer subp;
    struct fan *f = xcalloc(1, sizeof(*f));
    struct rlimit rl;
    (void)state;

    /* Two descriptors per session (client and server side) in this process.
     * Raised here if the hard limit allows (or we may raise that too, as
     * root); without them the test fails rather than testing less. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * FAN_SUBS + 256) {
        struct rlimit want = {2 * FAN_SUBS + 512, rl.rlim_max};
        if (want.rlim_max < want.rlim_cur)
            want.rlim_max = want.rlim_cur;
        if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
            print_error("fan_out_2000 needs %d open files; the limit is %llu (hard %llu) and "
                        "cannot be raised: %s\n",
                        2 * FAN_SUBS + 256, (unsigned long long)rl.rlim_cur,
                        (unsigned long long)rl.rlim_max, strerror(errno));
            fail();
        }
    }
    env_start(&e, NULL, true);
    tpeer_init(&e, &subp);
    for (size_t i = 0; i < FAN_SUBS; i++)
        tc_dial(&e, &subp, &f->conns[i]);
    for (size_t i = 0; i < FAN_REGISTRARS; i++) {
        tpeer_init(&e, &f->regp[i]);
        tc_dial(&e, &f->regp[i], &f->regc[i]);
    }
    assert_true(run_until(&e, fan_all_ready, f, 120));
    for (size_t i = 0; i < FAN_SUBS; i++) {
        ts_open_on(&f->conns[i], &f->subs[i]);
        push_client_rendezvous(&f->subs[i].pc, "fan");
        push_client_discover(&f->subs[i].pc, "fan", 1);
    }
    assert_true(run_until(&e, fan_all_subscribed, f, 120));
    for (size_t i = 0; i < FAN_SUBS; i++)
        assert_string_equal(f->subs[i].got.v[0], "(empty)");

    /* The 200 changes, all sent before the loop runs again. */
    for (size_t r = 0; r < FAN_REGISTRARS; r++) {
        ts_open_on(&f->regc[r], &f->regs[r]);
        for (size_t k = 0; k < FAN_OPS; k++) {
            if (k % 3 == 2) {
                push_client_unregister(&f->regs[r].pc, "fan");
                continue;
            }
            char t[64], err[64];
            uint8_t ma[64];
            snprintf(t, sizeof(t), "/ip4/10.%zu.%zu.1/tcp/%zu", r, k, 1000 + k);
            int n = multiaddr_from_text(t, ma, sizeof(ma), err, sizeof(err));
            struct rdv_addr a = {.bytes = ma, .len = (size_t)n};
            push_client_register(&f->regs[r].pc, "fan", NULL, &a, 1);
        }
    }
    assert_true(run_until(&e, fan_all_received, f, 120));
    /* Everything the registrars sent was handled, then everything queued
     * for the subscribers has arrived: anything extra would show now. */
    sync_sessions(&e, f->regs, FAN_REGISTRARS);
    sync_sessions(&e, f->subs, FAN_SUBS);

    struct lines *ref = &f->subs[0].got;
    assert_int_equal(ref->n, 1 + FAN_REGISTRARS * FAN_OPS);
    for (size_t i = 1; i < FAN_SUBS; i++) {
        struct lines *l = &f->subs[i].got;
        assert_int_equal(l->n, ref->n);
        for (size_t j = 0; j < ref->n; j++)
            if (strcmp(l->v[j], ref->v[j]) != 0) {
                print_error("subscriber %zu, line %zu: '%s' vs '%s'\n", i, j, l->v[j], ref->v[j]);
                fail();
            }
    }
    /* Each registrar's own announcements, in its order. */
    for (size_t r = 0; r < FAN_REGISTRARS; r++) {
        const char *id = f->regp[r].host.id_text;
        size_t k = 0;
        for (size_t j = 1; j < ref->n; j++) {
            if (strstr(ref->v[j], id) == NULL)
                continue;
            char want[256];
            if (k % 3 == 2)
                snprintf(want, sizeof(want), "-fan %s", id);
            else
                snprintf(want, sizeof(want), "+fan %s /ip4/10.%zu.%zu.1/tcp/%zu", id, r, k, 1000 + k);
            assert_string_equal(ref->v[j], want);
            k++;
        }
        assert_int_equal(k, FAN_OPS);
    }
    assert_int_equal(e.svc.stats.announcements_sent, (uint64_t)FAN_SUBS * FAN_REGISTRARS * FAN_OPS);
    assert_int_equal(e.svc.stats.slow_subscribers_cut, 0);

    for (size_t i = 0; i < FAN_REGISTRARS; i++)
        host_free(&f->regp[i].host);
    host_free(&subp.host);
    for (size_t i = 0; i < FAN_SUBS; i++)
        lines_free(&f->subs[i].got);
    for (size_t i = 0; i < FAN_REGISTRARS; i++)
        lines_free(&f->regs[i].got);
    free(f);
    env_stop(&e);
}

/* A registrar that re-registers in ns with ~1.5 KB of addresses, `count`
 * times: change k has /ip4/10.0.0.1/tcp/(first + k) as its first address. */
static void churn(struct tsess *s, const char *ns, size_t first, size_t count)
{
    char t[96], err[64];
    uint8_t bin[30][96];
    struct rdv_addr a[30];
    for (size_t i = 0; i < 30; i++) {
        snprintf(t, sizeof(t), "/dns4/host-%02zu.a-rather-long-domain-name.example/tcp/4001", i);
        int n = multiaddr_from_text(t, bin[i], sizeof(bin[i]), err, sizeof(err));
        assert_true(n > 0);
        a[i] = (struct rdv_addr){.bytes = bin[i], .len = (size_t)n};
    }
    for (size_t k = 0; k < count; k++) {
        snprintf(t, sizeof(t), "/ip4/10.0.0.1/tcp/%zu", first + k);
        int n = multiaddr_from_text(t, bin[0], sizeof(bin[0]), err, sizeof(err));
        assert_true(n > 0);
        a[0].len = (size_t)n;
        push_client_register(&s->pc, ns, NULL, a, 30);
    }
}

/* The change number (first address' port) of a churn line, 0 if none. */
static size_t churn_no(const char *line)
{
    const char *p = strstr(line, "/ip4/10.0.0.1/tcp/");
    return p ? (size_t)strtoul(p + 18, NULL, 10) : 0;
}

struct wait_churn {
    struct tsess *s;
    size_t last;
};

static bool has_churn(void *arg)
{
    struct wait_churn *w = arg;
    for (size_t i = 0; i < w->s->got.n; i++)
        if (churn_no(w->s->got.v[i]) == w->last)
            return true;
    return false;
}

/* What a subscriber got of a churn: changes in the order they were made,
 * none twice, ending with the last one (the registry's state). Returns how
 * many it got. */
static size_t churn_check(struct env *e, struct tsess *s, size_t last)
{
    struct wait_churn w = {s, last};
    size_t prev = 0, n = 0;
    assert_true(run_until(e, has_churn, &w, 20));
    for (size_t i = 0; i < s->got.n; i++) {
        size_t k = churn_no(s->got.v[i]);
        if (k == 0)
            continue;
        assert_true(k > prev);
        prev = k;
        n++;
    }
    assert_int_equal(prev, last);
    return n;
}

/* A subscriber that stops reading holds up nobody: the others get every
 * change while its backlog waits as references, and what waits for it is
 * coalesced per (peer, namespace), so a peer that re-registers over and
 * over costs it one pending announcement: once it reads again it gets the
 * latest state, and nothing stale after it. A backlog of distinct changes
 * past a small hard limit cuts it instead, and its own registration is
 * announced gone. */
static void slow_reader(void **state)
{
    (void)state;
    for (int cut = 0; cut < 2; cut++) {
        struct rdv_config cfg;
        struct env e;
        struct tpeer ps, pf, pr;
        struct tconn cs, cf, cr;
        struct tsess slow, fast, reg;
        const size_t N = cut ? 100 : 600, K = 300;

        rdv_config_default(&cfg);
        cfg.limits.register_rate = 0; /* the registrar churns on purpose */
        if (cut)
            cfg.out_hard_limit = 100000;
        env_start(&e, &cfg, true);
        tpeer_init(&e, &ps);
        tpeer_init(&e, &pf);
        tpeer_init(&e, &pr);
        tc_dial(&e, &ps, &cs);
        tc_dial(&e, &pf, &cf);
        tc_dial(&e, &pr, &cr);
        assert_true(run_until(&e, tc_is_ready, &cs, 20) && run_until(&e, tc_is_ready, &cf, 20) &&
                    run_until(&e, tc_is_ready, &cr, 20));
        ts_open_on(&cs, &slow);
        ts_open_on(&cf, &fast);
        ts_open_on(&cr, &reg);
        push_client_register(&slow.pc, "slow", NULL, NULL, 0);
        push_client_rendezvous(&slow.pc, "slow");
        for (size_t i = 0; cut && i < K; i++) {
            char ns[16];
            snprintf(ns, sizeof(ns), "s%zu", i);
            push_client_rendezvous(&slow.pc, ns);
        }
        push_client_rendezvous(&fast.pc, "slow");
        sync_session(&e, &slow);
        sync_session(&e, &fast);
        wait_lines(&e, &fast, 1); /* the slow one's registration */
        /* The slow subscriber stops reading its socket. */
        conn_set_reading(cs.conn, false);
        churn(&reg, "slow", 1, N);
        if (!cut) {
            size_t got = churn_check(&e, &fast, N);
            assert_int_equal(e.svc.stats.slow_subscribers_cut, 0);
            conn_set_reading(cs.conn, true);
            size_t slow_got = churn_check(&e, &slow, N);
            sync_session(&e, &slow); /* nothing else waited */
            assert_int_equal(churn_check(&e, &slow, N), slow_got);
            assert_true(slow_got < got);
            assert_true(e.svc.stats.announcements_coalesced >= N - slow_got);
            assert_int_equal(e.svc.stats.slow_subscribers_cut, 0);
        } else {
            /* ~1.6 KB in each of K namespaces: distinct, not coalesced. */
            for (size_t i = 0; i < K; i++) {
                char ns[16];
                snprintf(ns, sizeof(ns), "s%zu", i);
                churn(&reg, ns, 1, 1);
            }
            /* Its end is announced to the fast one, amid the churn. */
            char want[128];
            size_t seen = 0;
            snprintf(want, sizeof(want), "-slow %s", ps.host.id_text);
            churn_check(&e, &fast, N);
            sync_session(&e, &reg);
            sync_session(&e, &fast);
            for (size_t i = 0; i < fast.got.n; i++)
                seen += strcmp(fast.got.v[i], want) == 0;
            assert_int_equal(seen, 1);
            assert_int_equal(e.svc.stats.slow_subscribers_cut, 1);
            conn_set_reading(cs.conn, true);
            assert_true(run_until(&e, ts_is_ended, &slow, 20));
            assert_string_equal(slow.why, "stream reset");
        }
        host_free(&ps.host);
        host_free(&pf.host);
        host_free(&pr.host);
        lines_free(&slow.got);
        lines_free(&fast.got);
        lines_free(&reg.got);
        env_stop(&e);
    }
}

/* Garbage on one stream resets that stream only: the connection's other
 * session and the other connections carry on. */
static void bad_streams(void **state)
{
    struct env e;
    struct tpeer pa, pb;
    struct tconn ca, cb;
    struct tsess bad, good, w;
    (void)state;

    env_start(&e, NULL, true);
    tpeer_init(&e, &pa);
    tpeer_init(&e, &pb);
    tc_dial(&e, &pa, &ca);
    tc_dial(&e, &pb, &cb);
    assert_true(run_until(&e, tc_is_ready, &ca, 20) && run_until(&e, tc_is_ready, &cb, 20));
    ts_open_on(&cb, &w);
    push_client_rendezvous(&w.pc, "g");
    sync_session(&e, &w);

    static const uint8_t garbage[] = {0x04, 0xff, 0xff, 0xff, 0xff};
    uint8_t oversized[UVARINT_MAX_LEN];
    size_t on = uvarint_put(oversized, (2u << 20));
    const struct {
        const uint8_t *d;
        size_t n;
    } inputs[] = {{garbage, sizeof(garbage)}, {oversized, on}};
    for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
        ts_open_on(&ca, &good);
        push_client_register(&good.pc, "g", NULL, NULL, 0);
        ts_open_on(&ca, &bad);
        push_client_send_raw(&bad.pc, inputs[i].d, inputs[i].n);
        assert_true(run_until(&e, ts_is_ended, &bad, 20));
        assert_string_equal(bad.why, "stream reset");
        /* The other session on that connection is still served. */
        sync_session(&e, &good);
        assert_false(good.ended);
        char want[128];
        snprintf(want, sizeof(want), "+g %s ", pa.host.id_text);
        wait_lines(&e, &w, 2 * i + 1);
        assert_string_equal(w.got.v[2 * i], want);
        push_client_close(&good.pc);
        assert_true(run_until(&e, ts_is_ended, &good, 20));
        snprintf(want, sizeof(want), "-g %s", pa.host.id_text);
        wait_lines(&e, &w, 2 * i + 2);
        assert_string_equal(w.got.v[2 * i + 1], want);
        lines_free(&good.got);
        lines_free(&bad.got);
    }
    assert_false(ca.closed);
    host_free(&pa.host);
    host_free(&pb.host);
    lines_free(&w.got);
    env_stop(&e);
}

/* Each way a session ends removes what it owned and announces it: FIN (and
 * the server closes its side after answering), RST, the connection closed,
 * a socket error (RST at the TCP level). */
static void session_ends(void **state)
{
    struct env e;
    struct tpeer pw, pm;
    struct tconn cw, cm;
    struct tsess w, m;
    char want[128];
    (void)state;

    env_start(&e, NULL, true);
    tpeer_init(&e, &pw);
    tpeer_init(&e, &pm);
    tc_dial(&e, &pw, &cw);
    assert_true(run_until(&e, tc_is_ready, &cw, 20));
    ts_open_on(&cw, &w);
    push_client_rendezvous(&w.pc, "e");
    sync_session(&e, &w);
    snprintf(want, sizeof(want), "-e %s", pm.host.id_text);

    for (int how = 0; how < 4; how++) {
        size_t base = w.got.n;
        tc_dial(&e, &pm, &cm);
        assert_true(run_until(&e, tc_is_ready, &cm, 20));
        ts_open_on(&cm, &m);
        push_client_register(&m.pc, "e", NULL, NULL, 0);
        wait_lines(&e, &w, base + 1);
        switch (how) {
        case 0: /* FIN after a DISCOVER: the answer comes, then the server's FIN */
            push_client_discover(&m.pc, "e", 0);
            push_client_close(&m.pc);
            assert_true(run_until(&e, ts_is_ended, &m, 20));
            assert_string_equal(m.why, "closed by the server");
            assert_int_equal(m.got.n, 1);
            break;
        case 1:
            push_client_reset(&m.pc);
            break;
        case 2:
            conn_close(cm.conn, "test");
            break;
        default: {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            assert_int_equal(setsockopt(cm.conn->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
            conn_close(cm.conn, "test");
            break;
        }
        }
        wait_lines(&e, &w, base + 2);
        assert_string_equal(w.got.v[base + 1], want);
        assert_int_equal(e.svc.reg.stats.regs, 0);
        if (cm.conn)
            conn_close(cm.conn, "done");
        assert_true(run_until(&e, ts_is_ended, &m, 20));
        run_for(&e, 0.02);
        lines_free(&m.got);
    }
    assert_int_equal(e.svc.stats.sessions_open[RDV_DIALECT_PUSH], 1);
    host_free(&pw.host);
    host_free(&pm.host);
    lines_free(&w.got);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_and_basics),
        cmocka_unit_test(subscriptions),
        cmocka_unit_test(takeover),
        cmocka_unit_test(snapshot_batches),
        cmocka_unit_test(big_namespace_entries_kept),
        cmocka_unit_test(rejections),
        cmocka_unit_test(other_dialects),
        cmocka_unit_test(limits_raised),
        cmocka_unit_test(unchanged_and_rate_limited),
        cmocka_unit_test(metadata),
        cmocka_unit_test(backlog_in_memory_budget),
        cmocka_unit_test(one_status_per_message),
        cmocka_unit_test(output_limits),
        cmocka_unit_test(queue_on_demand),
        cmocka_unit_test(bad_streams),
        cmocka_unit_test(session_ends),
        cmocka_unit_test(slow_reader),
        cmocka_unit_test(fan_out_2000),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
