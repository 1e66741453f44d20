/* DISCOVER floods against the real service (host + /rendezvous/1.0.0) in
 * one process, over loopback TCP with Noise and yamux.
 *
 * A peer registers 1,000 signed records (~1.7 KB each) under its own id,
 * then on one stream grants a +4 GB window and pipelines 4,000
 * DISCOVER(ns="", limit=1000) - ~40 KB of requests asking for ~4 GB of
 * answers - without ever reading; a variant spreads 2 DISCOVERs over each
 * of 255 streams with the default window. Throughout, that connection's
 * buffered output stays within max_out plus one Noise frame, the process
 * grows by less than 64 MB, and a well-behaved client on another
 * connection gets its pings and DISCOVERs answered. With a small memory
 * budget, the same held output makes the daemon refuse new connections and
 * requests (E_UNAVAILABLE) until it drains. Over mplex, which has no
 * window, pipelined requests past a window's worth reset their stream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "codec/multiaddr.h"
#include "crypto/record.h"
#include "host/internal.h"
#include "loop_helpers.h"
#include "host/ping.h"
#include "rendezvous.pb-c.h"
#include "rendezvous/rdv1.h"
#include "rendezvous/service.h"

#define NOISE_FRAME (65535 + 2)
#define RECORDS 1000
/* ASan's quarantine keeps freed memory resident: the bound is for a plain
 * build, a sanitized one gets room for the quarantine. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUND (320u << 20)
#else
#define RSS_BOUND (64u << 20)
#endif

/* ---- a client stream: counts answers ---------------------------------- */

struct cli {
    struct stream *s;
    struct lpm in;
    size_t answers, ok, unavailable;
    bool opened, closed;
};

static int cli_open(struct stream *s)
{
    ((struct cli *)s->state)->opened = true;
    return 0;
}

static void cli_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct cli *c = s->state;
    const uint8_t *msg;
    size_t len;
    lpm_push(&c->in, d, n);
    while (lpm_next(&c->in, &msg, &len) == 1) {
        Rendezvous__Message *m = rendezvous__message__unpack(NULL, len, msg);
        c->answers++;
        if (m && ((m->registerresponse && m->registerresponse->status == 0) ||
                  (m->discoverresponse && m->discoverresponse->status == 0)))
            c->ok++;
        if (m && ((m->registerresponse && m->registerresponse->status == 400) ||
                  (m->discoverresponse && m->discoverresponse->status == 400)))
            c->unavailable++;
        rendezvous__message__free_unpacked(m, NULL);
    }
}

static void cli_close(struct stream *s)
{
    struct cli *c = s->state;
    c->closed = true;
    c->s = NULL;
}

static const struct protocol cli_proto = {
    .id = RDV1_PROTOCOL_ID,
    .on_open = cli_open,
    .on_data = cli_data,
    .on_close = cli_close,
};

/* A ping stream: counts echoed bytes. */
struct pinger {
    struct stream *s;
    size_t got;
    bool opened;
};

static int png_open(struct stream *s)
{
    ((struct pinger *)s->state)->opened = true;
    return 0;
}

static void png_data(struct stream *s, const uint8_t *d, size_t n)
{
    (void)d;
    ((struct pinger *)s->state)->got += n;
}

static void png_close(struct stream *s) { ((struct pinger *)s->state)->s = NULL; }

static const struct protocol png_proto = {
    .id = PING_PROTOCOL_ID, .on_open = png_open, .on_data = png_data, .on_close = png_close,
};

/* ---- the loop ------------------------------------------------------------ */

struct env {
    struct ev_loop *loop;
    struct log log;
    struct host *server, *attacker, *good; /* big (read buffers): on the heap */
    struct rdv_service svc;
    struct rdv_config cfg;
    struct privkey akey;
    char addr[MULTIADDR_TEXT_MAX + PEERID_TEXT_MAX + 8];
    ev_timer tick;
    struct cli reg, asked;    /* streams that outlive the functions opening them */
    struct pinger ping;
    struct conn *watch;       /* server side of the attacker's connection */
    size_t watch_max;         /* its buffered output, highest seen */
};

/* VmRSS of this process, bytes. */
static size_t rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static void env_start(struct env *e, size_t max_memory)
{
    struct host_limits hl;
    struct privkey k;

    memset(e, 0, sizeof(*e));
    e->server = xcalloc(1, sizeof(*e->server));
    e->attacker = xcalloc(1, sizeof(*e->attacker));
    e->good = xcalloc(1, sizeof(*e->good));
    e->loop = ev_loop_new(EVFLAG_AUTO);
    log_init(&e->log, LOG_ERROR, LOG_TEXT, stderr);
    host_limits_default(&hl);
    hl.max_memory = max_memory;
    privkey_generate(&k);
    host_init(e->server, e->loop, &e->log, &k, &hl);
    host_handle(e->server, &ping_protocol);
    rdv_config_default(&e->cfg);
    e->cfg.limits.register_rate = 0; /* the 1,000 records are set up at once */
    rdv_service_init(&e->svc, e->server, &e->cfg);
    rdv1_init(&e->svc);
    for (size_t i = 0; i < e->svc.cfg.rdv1_ids.n; i++)
        host_handle(e->server, &e->svc.rdv1[i]);
    loop_listen(e->server, e->addr, sizeof(e->addr));
    privkey_generate(&e->akey);
    host_init(e->attacker, e->loop, &e->log, &e->akey, NULL);
    privkey_generate(&k);
    host_init(e->good, e->loop, &e->log, &k, NULL);
    ev_timer_init(&e->tick, loop_tick_cb, 0.005, 0.005);
    ev_timer_start(e->loop, &e->tick);
}

static void env_stop(struct env *e)
{
    ev_timer_stop(e->loop, &e->tick);
    host_free(e->attacker);
    host_free(e->good);
    host_free(e->server);
    rdv_service_free(&e->svc);
    ev_loop_destroy(e->loop);
    lpm_free(&e->reg.in);
    lpm_free(&e->asked.in);
    free(e->server);
    free(e->attacker);
    free(e->good);
}

/* After each iteration: the highest the watched connection's output reached. */
static void sample(void *arg)
{
    struct env *e = arg;
    if (e->watch && e->watch->out_counted > e->watch_max)
        e->watch_max = e->watch->out_counted;
}

static bool run_until(struct env *e, bool (*done)(void *), void *arg, double secs)
{
    return loop_until(e->loop, done, arg, secs, sample, e);
}

static bool cli_opened(void *arg) { return ((struct cli *)arg)->opened; }

struct want {
    struct cli *c;
    size_t n;
};

static bool has_answers(void *arg)
{
    struct want *w = arg;
    return w->c->answers >= w->n || w->c->closed;
}

static bool pinged(void *arg)
{
    struct pinger *p = arg;
    return p->got >= 32 || p->s == NULL;
}

static struct conn *dial(struct env *e, struct host *h)
{
    char err[256];
    struct conn *c = host_dial(h, e->addr, NULL, NULL, err, sizeof(err));
    assert_non_null(c);
    assert_true(run_until(e, loop_conn_ready, c, 20));
    return c;
}

static void open_cli(struct env *e, struct conn *c, struct cli *cl)
{
    memset(cl, 0, sizeof(*cl));
    lpm_init(&cl->in, 4u << 20);
    cl->s = conn_open_stream(c, &cli_proto, cl);
    assert_non_null(cl->s);
    assert_true(run_until(e, cli_opened, cl, 20));
}

static void send_msg(struct stream *s, const Rendezvous__Message *m)
{
    struct buf b = BUF_INIT;
    size_t n = rendezvous__message__get_packed_size(m);
    buf_append_uvarint(&b, n);
    buf_commit(&b, rendezvous__message__pack(m, buf_reserve(&b, n)));
    stream_write(s, buf_head(&b), buf_size(&b));
    buf_free(&b);
}

static void send_discover(struct stream *s, const char *ns, uint64_t limit)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Discover d = RENDEZVOUS__MESSAGE__DISCOVER__INIT;
    d.ns = (char *)ns;
    d.has_limit = 1;
    d.limit = limit;
    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER;
    m.discover = &d;
    send_msg(s, &m);
}

/* The attacker's 1,000 registrations: one ~1.7 KB record in 1,000
 * namespaces, in batches its own output limits take. */
static void register_records(struct env *e, struct conn *c)
{
    struct record_addr a[30];
    uint8_t bin[30][64];
    char t[96], err[64], ns[16];
    struct buf env = BUF_INIT;
    struct cli *cl = &e->reg;

    for (size_t i = 0; i < 30; i++) {
        snprintf(t, sizeof(t), "/dns4/host-%02zu.a-rather-long-domain-name.example/tcp/4001", i);
        int n = multiaddr_from_text(t, bin[i], sizeof(bin[i]), err, sizeof(err));
        assert_true(n > 0);
        a[i] = (struct record_addr){.bytes = bin[i], .len = (size_t)n};
    }
    record_seal(&e->akey, RECORD_STANDARD, 1, a, 30, &env);
    assert_true(buf_size(&env) > 1500);
    open_cli(e, c, cl);
    for (size_t i = 0; i < RECORDS; i++) {
        Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
        Rendezvous__Message__Register r = RENDEZVOUS__MESSAGE__REGISTER__INIT;
        snprintf(ns, sizeof(ns), "n%zu", i);
        r.ns = ns;
        r.has_signedpeerrecord = 1;
        r.signedpeerrecord = (ProtobufCBinaryData){.len = buf_size(&env), .data = buf_head(&env)};
        r.has_ttl = 1;
        r.ttl = 7200;
        m.has_type = 1;
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
        m.register_ = &r;
        send_msg(cl->s, &m);
        if (i % 100 == 99) {
            struct want w = {cl, i + 1};
            assert_true(run_until(e, has_answers, &w, 20));
        }
    }
    assert_int_equal(cl->ok, RECORDS);
    stream_close(cl->s);
    buf_free(&env);
}

/* The well-behaved client, during the flood: a ping and a DISCOVER on its
 * own connection are answered. */
static void good_client_served(struct env *e, struct conn *gc)
{
    struct pinger *p = &e->ping;
    struct cli *cl = &e->asked;
    uint8_t ping[32] = {1, 2, 3};

    memset(p, 0, sizeof(*p));
    p->s = conn_open_stream(gc, &png_proto, p);
    assert_non_null(p->s);
    stream_write(p->s, ping, sizeof(ping));
    assert_true(run_until(e, pinged, p, 10));
    assert_int_equal(p->got, 32);
    if (p->s)
        stream_close(p->s);
    lpm_free(&cl->in);
    open_cli(e, gc, cl);
    send_discover(cl->s, "n7", 10);
    struct want w = {cl, 1};
    assert_true(run_until(e, has_answers, &w, 10));
    assert_int_equal(cl->ok, 1);
    stream_close(cl->s);
}

static struct conn *server_side_of(struct env *e)
{
    for (unsigned i = 0; i < HOST_CONN_LISTS; i++)
        for (struct conn *c = host_conn_list(e->server, i); c; c = c->tnext)
            if (peerid_eq(conn_peer(c), &e->attacker->id))
                return c;
    fail_msg("no server connection from the attacker");
    return NULL;
}

static void check_bounds(struct env *e, size_t rss0)
{
    size_t grown = rss() > rss0 ? rss() - rss0 : 0;
    assert_true(e->watch_max <= e->server->limits.max_out + NOISE_FRAME);
    if (grown >= RSS_BOUND)
        fail_msg("RSS grew by %zu bytes", grown);
    assert_false(e->watch->closing);
}

/* Both clients connected (offering `muxers`, 0: the default), the
 * attacker's records registered and the server side of its connection
 * watched; returns the attacker's connection. */
static struct conn *attack_setup_mux(struct env *e, size_t max_memory, unsigned muxers,
                                     struct conn **gc)
{
    env_start(e, max_memory);
    host_dial_muxers(e->attacker, muxers);
    host_dial_muxers(e->good, muxers);
    struct conn *ac = dial(e, e->attacker);
    *gc = dial(e, e->good);
    register_records(e, ac);
    e->watch = server_side_of(e);
    return ac;
}

static struct conn *attack_setup(struct env *e, size_t max_memory, struct conn **gc)
{
    return attack_setup_mux(e, max_memory, 0, gc);
}

/* 4,000 DISCOVER(ns="", limit=1000) on one stream, +4 GB window, no reading. */
static void discover_flood_one_stream(void **state)
{
    struct env *e = xmalloc(sizeof(*e));
    struct cli cl;
    (void)state;

    struct conn *gc, *ac = attack_setup(e, 0, &gc);
    size_t rss0 = rss();

    open_cli(e, ac, &cl);
    loop_grant(ac, cl.s, UINT32_MAX - YAMUX_WINDOW);
    conn_set_reading(ac, false);
    for (size_t i = 0; i < 4000; i++)
        send_discover(cl.s, "", 1000);
    run_until(e, loop_never, NULL, 1.0);
    check_bounds(e, rss0);
    good_client_served(e, gc);
    run_until(e, loop_never, NULL, 1.0);
    check_bounds(e, rss0);
    /* It was answered as far as its budget allowed, no further. */
    assert_true(e->svc.stats.requests[RDV_DIALECT_STANDARD][RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER] > 1);
    assert_true(e->svc.stats.requests[RDV_DIALECT_STANDARD][RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER] < 100);
    env_stop(e);
    free(e);
    lpm_free(&cl.in);
}

/* Stops e and frees it with the n client streams of a test. */
static void env_end(struct env *e, struct cli *cl, size_t n)
{
    env_stop(e);
    free(e);
    for (size_t i = 0; i < n; i++)
        lpm_free(&cl[i].in);
    free(cl);
}

/* 2 DISCOVERs on each of 255 streams, default window, no reading. */
static void discover_flood_many_streams(void **state)
{
    enum { S = 255 };
    struct env *e = xmalloc(sizeof(*e));
    struct cli *cl = xcalloc(S, sizeof(*cl));
    (void)state;

    struct conn *gc, *ac = attack_setup(e, 0, &gc);
    size_t rss0 = rss();

    for (size_t i = 0; i < S; i++)
        open_cli(e, ac, &cl[i]);
    conn_set_reading(ac, false);
    for (size_t i = 0; i < S; i++) {
        send_discover(cl[i].s, "", 1000);
        send_discover(cl[i].s, "", 1000);
    }
    run_until(e, loop_never, NULL, 1.0);
    check_bounds(e, rss0);
    good_client_served(e, gc);
    check_bounds(e, rss0);
    env_end(e, cl, S);
}

static bool conn_gone(void *arg) { return *(struct conn **)arg == NULL; }

static void on_closed(struct conn *c, void *user, const char *reason)
{
    (void)c;
    (void)reason;
    *(struct conn **)user = NULL;
}

static const struct conn_events track = {.on_closed = on_closed};

/* A connection holding its answers unread spends a small memory budget:
 * a new connection is refused and a well-behaved client's DISCOVER is
 * answered E_UNAVAILABLE, without cutting anything; once the output
 * drains, both work again. */
static void memory_budget(void **state)
{
    struct env *e = xmalloc(sizeof(*e));
    struct cli cl;
    char err[256];
    (void)state;

    struct conn *gc, *ac = attack_setup(e, 4u << 20, &gc);
    open_cli(e, ac, &cl);
    loop_grant(ac, cl.s, UINT32_MAX - YAMUX_WINDOW);
    conn_set_reading(ac, false);
    /* A small send buffer: what is not read stays in the daemon. */
    int small = 4096;
    assert_int_equal(setsockopt(e->watch->io.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    for (size_t i = 0; i < 100; i++)
        send_discover(cl.s, "", 1000);
    run_until(e, loop_never, NULL, 1.0);
    assert_true(host_memory_full(e->server));

    struct cli *g = &e->asked;
    lpm_free(&g->in);
    open_cli(e, gc, g);
    send_discover(g->s, "n7", 10);
    struct want w = {g, 1};
    assert_true(run_until(e, has_answers, &w, 10));
    assert_int_equal(g->unavailable, 1);
    struct conn *nc = host_dial(e->good, e->addr, &track, &nc, err, sizeof(err));
    assert_non_null(nc);
    assert_true(run_until(e, conn_gone, &nc, 10));
    assert_true(e->server->stats.conns_refused_memory >= 1);
    assert_true(e->server->stats.requests_refused_memory >= 1);
    assert_false(e->watch->closing);

    /* The reader comes back: the budget frees up. */
    int large = 4 << 20;
    assert_int_equal(setsockopt(e->watch->io.fd, SOL_SOCKET, SO_SNDBUF, &large, sizeof(large)), 0);
    conn_set_reading(ac, true);
    struct want all = {&cl, 100};
    assert_true(run_until(e, has_answers, &all, 30));
    run_until(e, loop_never, NULL, 0.2);
    assert_false(host_memory_full(e->server));
    send_discover(g->s, "n7", 10);
    struct want w2 = {g, 2};
    assert_true(run_until(e, has_answers, &w2, 10));
    assert_int_equal(g->ok, 1);
    (void)dial(e, e->good);
    env_stop(e);
    free(e);
    lpm_free(&cl.in);
}

/* mplex has no flow control: 2 streams each pipeline ~320 KB of
 * DISCOVER(ns="", limit=1000) - more than a yamux window, less than the
 * connection's max_in together - asking for gigabytes of answers, and the
 * peer never reads. The streams whose unanswered requests pass what a
 * window would have let through are reset; the connection's output stays
 * within max_out, the process within its RSS bound, and a well-behaved
 * mplex client is served meanwhile. */
static void mplex_flood_never_reading(void **state)
{
    enum { S = 2, PER_STREAM = 32000 };
    struct env *e = xmalloc(sizeof(*e));
    struct cli *cl = xcalloc(S, sizeof(*cl));
    (void)state;

    struct conn *gc, *ac = attack_setup_mux(e, 0, HOST_MUX_MPLEX, &gc);
    assert_true(ac->mplex && gc->mplex && e->watch->mplex);
    ac->host->limits.max_out = (size_t)1 << 30; /* the attacker queues all it sends */
    size_t rss0 = rss();

    for (size_t i = 0; i < S; i++)
        open_cli(e, ac, &cl[i]);
    conn_set_reading(ac, false);
    for (size_t i = 0; i < S; i++)
        for (size_t k = 0; k < PER_STREAM; k++)
            send_discover(cl[i].s, "", 1000);
    run_until(e, loop_never, NULL, 1.5);
    check_bounds(e, rss0);
    assert_true(e->server->stats.streams_over_input >= 1);
    assert_true(e->watch->in_held <= e->server->limits.max_in);
    good_client_served(e, gc);
    check_bounds(e, rss0);
    env_end(e, cl, S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(discover_flood_one_stream),
        cmocka_unit_test(discover_flood_many_streams),
        cmocka_unit_test(memory_budget),
        cmocka_unit_test(mplex_flood_never_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
