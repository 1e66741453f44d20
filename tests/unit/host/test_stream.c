/* The stream interface's flow control (src/host/conn.c), with a server and
 * a client host on one loop over loopback TCP, Noise and yamux:
 *  - a peer that pipelines requests, grants a huge window and never reads
 *    gets answers only while the connection's output is under its
 *    high-water mark: the buffered output never passes max_out plus one
 *    Noise frame, and once the peer reads again on_writable brings every
 *    answer, in order;
 *  - requests a handler holds unanswered are withheld from the peer's
 *    window, so the peer stops sending;
 *  - input held on one connection (partial requests on many streams) is
 *    bounded by max_in: the streams that pass it are reset;
 *  - a peer that makes us answer at the muxer level (pings) without reading
 *    stops being read while the answers wait;
 *  - a burst from several connections is read over several passes of the
 *    loop, each within the pass's read budget. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "host/internal.h"
#include "loop_helpers.h"

#define ANSWER 4096                   /* bytes of one answer, unless a test sets less */
#define NOISE_FRAME (65535 + 2)       /* largest sealed frame with its length */

/* ---- the server's protocol: one request byte, one ANSWER-byte answer ----- */

struct srv {
    size_t held;              /* requests received, not answered yet */
    size_t answered;
    size_t writable_calls;
    bool answer;              /* false: hold every request */
    size_t answer_len;        /* bytes of one answer (at most ANSWER) */
    bool partial;             /* hold the input as a partial request (granted back) */
};

/* Per stream: the partial request it holds. */
struct srv_stream {
    struct srv *v;
    size_t partial_bytes;
};

struct env {
    struct ev_loop *loop;
    struct log log;
    struct host server, client;
    struct srv srv;
    struct protocol proto;
    char addr[MULTIADDR_TEXT_MAX + PEERID_TEXT_MAX + 8];
    ev_timer tick;
    size_t max_out_seen;      /* server's buffered output, highest seen */
    size_t max_in_seen;       /* server's held input, highest seen */
    uint64_t bytes_in;        /* server's bytes read, at the last sample */
    size_t max_read_pass;     /* ... and the most in one pass of the loop */
};

static void srv_serve(struct stream *s)
{
    struct srv_stream *ss = s->state;
    struct srv *v = ss->v;
    static const uint8_t blob[ANSWER];
    while (v->answer && v->held && stream_writable(s) > 0) {
        uint8_t a[ANSWER];
        memcpy(a, blob, sizeof(a));
        memcpy(a, &v->answered, sizeof(v->answered)); /* numbered, to check the order */
        stream_write(s, a, v->answer_len);
        v->held--;
        v->answered++;
    }
    if (v->partial)
        stream_hold_input(s, ss->partial_bytes, 0);
    else
        stream_hold_input(s, v->held, v->held);
}

static int srv_open(struct stream *s)
{
    struct env *e = s->proto->arg;
    struct srv_stream *ss = xcalloc(1, sizeof(*ss));
    ss->v = &e->srv;
    s->state = ss;
    return 0;
}

static void srv_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct srv_stream *ss = s->state;
    (void)d;
    if (ss->v->partial)
        ss->partial_bytes += n;
    else
        ss->v->held += n;
    srv_serve(s);
}

static void srv_writable(struct stream *s)
{
    struct srv_stream *ss = s->state;
    ss->v->writable_calls++;
    srv_serve(s);
}

static void srv_close(struct stream *s)
{
    free(s->state);
    s->state = NULL;
}

/* ---- the client: a stream that counts what it gets ------------------------- */

struct cli {
    struct stream *s;
    size_t got;               /* answer bytes received */
    size_t answer_len;        /* as the server's */
    bool order_ok;
    bool opened, closed;
};

static int cli_open(struct stream *s)
{
    struct cli *c = s->state;
    c->opened = true;
    return 0;
}

static void cli_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct cli *c = s->state;
    for (size_t i = 0; i < n; i++, c->got++) {
        size_t k = c->got / c->answer_len, at = c->got % c->answer_len;
        if (at < sizeof(size_t) && d[i] != ((const uint8_t *)&k)[at])
            c->order_ok = false;
    }
}

static void cli_close(struct stream *s)
{
    struct cli *c = s->state;
    c->closed = true;
    c->s = NULL;
}

static const struct protocol cli_proto = {
    .id = "/test/answer/1",
    .on_open = cli_open,
    .on_data = cli_data,
    .on_close = cli_close,
};

/* ---- the loop ---------------------------------------------------------------- */

static void env_start(struct env *e, size_t max_out, size_t max_in)
{
    struct host_limits hl;
    struct privkey k;

    memset(e, 0, sizeof(*e));
    e->srv.answer_len = ANSWER;
    e->loop = ev_loop_new(EVFLAG_AUTO);
    log_init(&e->log, LOG_ERROR, LOG_TEXT, stderr);
    host_limits_default(&hl);
    hl.max_out = max_out;
    hl.max_in = max_in;
    privkey_generate(&k);
    host_init(&e->server, e->loop, &e->log, &k, &hl);
    e->proto = (struct protocol){
        .id = cli_proto.id,
        .on_open = srv_open,
        .on_data = srv_data,
        .on_writable = srv_writable,
        .on_close = srv_close,
        .arg = e,
    };
    host_handle(&e->server, &e->proto);
    loop_listen(&e->server, e->addr, sizeof(e->addr));
    privkey_generate(&k);
    host_init(&e->client, e->loop, &e->log, &k, NULL);
    e->srv.answer = true;
    ev_timer_init(&e->tick, loop_tick_cb, 0.005, 0.005);
    ev_timer_start(e->loop, &e->tick);
}

static void env_stop(struct env *e)
{
    ev_timer_stop(e->loop, &e->tick);
    host_free(&e->client);
    host_free(&e->server);
    ev_loop_destroy(e->loop);
}

/* After each iteration: the highest the server's buffers reached. */
static void sample(void *arg)
{
    struct env *e = arg;
    if (e->server.mem_out > e->max_out_seen)
        e->max_out_seen = e->server.mem_out;
    if (e->server.mem_in > e->max_in_seen)
        e->max_in_seen = e->server.mem_in;
    size_t pass = (size_t)(e->server.stats.bytes_in - e->bytes_in);
    if (pass > e->max_read_pass)
        e->max_read_pass = pass;
    e->bytes_in = e->server.stats.bytes_in;
}

static bool run_until(struct env *e, bool (*done)(void *), void *arg, double secs)
{
    return loop_until(e->loop, done, arg, secs, sample, e);
}

static bool cli_opened(void *arg) { return ((struct cli *)arg)->opened; }
static bool cli_closed(void *arg) { return ((struct cli *)arg)->closed; }

struct want_bytes {
    struct cli *c;
    size_t n;
};

static bool cli_has(void *arg)
{
    struct want_bytes *w = arg;
    return w->c->got >= w->n;
}

static struct conn *dial(struct env *e)
{
    char err[256];
    struct conn *c = host_dial(&e->client, e->addr, NULL, NULL, err, sizeof(err));
    assert_non_null(c);
    assert_true(run_until(e, loop_conn_ready, c, 20));
    return c;
}

static void open_cli(struct env *e, struct conn *c, struct cli *cl)
{
    memset(cl, 0, sizeof(*cl));
    cl->order_ok = true;
    cl->answer_len = e->srv.answer_len;
    cl->s = conn_open_stream(c, &cli_proto, cl);
    assert_non_null(cl->s);
    assert_true(run_until(e, cli_opened, cl, 20));
}

/* 4,000 pipelined requests, a window of +4 GB, a client that does not read:
 * the server answers only while its output is under the high-water mark;
 * the client reads again and gets all 4,000 answers in order. */
static void pipelined_no_read(void **state)
{
    const size_t max_out = 1u << 20, N = 4000;
    struct env e;
    struct cli cl;
    (void)state;

    env_start(&e, max_out, 1u << 20);
    struct conn *c = dial(&e);
    open_cli(&e, c, &cl);
    loop_grant(c, cl.s, UINT32_MAX - YAMUX_WINDOW);
    conn_set_reading(c, false); /* never reads */
    uint8_t req[4000];
    memset(req, 'q', sizeof(req));
    stream_write(cl.s, req, N);
    run_until(&e, loop_never, NULL, 1.0);

    struct conn *sc = e.server.established;
    assert_non_null(sc);
    assert_true(e.srv.answered > 0);
    assert_true(e.srv.answered < N);
    assert_int_equal(e.srv.answered + e.srv.held, N);
    assert_true(e.max_out_seen <= max_out + NOISE_FRAME);
    assert_true(sc->out_blocked);
    assert_false(sc->closing);
    /* Held requests are not granted back: the client's window shrank. */
    assert_int_equal(sc->mux.streams[0]->held, e.srv.held);

    conn_set_reading(c, true);
    struct want_bytes w = {&cl, N * ANSWER};
    assert_true(run_until(&e, cli_has, &w, 60));
    assert_int_equal(cl.got, N * ANSWER);
    assert_true(cl.order_ok);
    assert_true(e.srv.writable_calls > 0);
    assert_int_equal(e.srv.held, 0);
    assert_true(e.max_out_seen <= max_out + NOISE_FRAME);
    env_stop(&e);
}

/* A handler that holds every request: the peer's window closes after one
 * window of requests, and the server holds no more than that. */
static void held_requests_close_the_window(void **state)
{
    struct env e;
    struct cli cl;
    (void)state;

    env_start(&e, 16u << 20, 1u << 20);
    e.srv.answer = false;
    e.srv.answer_len = 16; /* 786,432 answers: small ones, or this test is a cipher benchmark */
    struct conn *c = dial(&e);
    open_cli(&e, c, &cl);
    static uint8_t req[3 * YAMUX_WINDOW];
    stream_write(cl.s, req, sizeof(req));
    run_until(&e, loop_never, NULL, 0.5);
    /* The window less the protocol negotiation. */
    assert_true(e.srv.held <= YAMUX_WINDOW && e.srv.held > YAMUX_WINDOW - 64);
    assert_int_equal(cl.s->ys->send_window, 0);
    assert_int_equal(yamux_pending(cl.s->ys), sizeof(req) - e.srv.held);
    /* Answering releases them, and the rest comes. */
    e.srv.answer = true;
    srv_serve(e.server.established->mux.streams[0]->user);
    struct want_bytes w = {&cl, sizeof(req) * e.srv.answer_len};
    assert_true(run_until(&e, cli_has, &w, 60));
    assert_true(cl.order_ok);
    env_stop(&e);
}

/* 40 streams each parking a 64 KiB partial request on one connection: past
 * max_in (1 MiB) the streams that add to it are reset; the others stay. */
static void partial_input_budget(void **state)
{
    enum { S = 40 };
    const size_t max_in = 1u << 20;
    struct env e;
    struct cli cl[S];
    static uint8_t part[65536];
    (void)state;

    env_start(&e, 16u << 20, max_in);
    e.srv.partial = true;
    struct conn *c = dial(&e);
    for (size_t i = 0; i < S; i++) {
        open_cli(&e, c, &cl[i]);
        stream_write(cl[i].s, part, sizeof(part));
    }
    run_until(&e, loop_never, NULL, 0.5);
    size_t reset = 0;
    for (size_t i = 0; i < S; i++)
        reset += cl[i].closed;
    assert_true(reset >= S - max_in / sizeof(part));
    assert_true(reset < S);
    assert_int_equal(e.server.stats.streams_over_input, reset);
    assert_true(e.max_in_seen <= max_in + sizeof(part));
    assert_true(e.server.established->in_held <= max_in);
    assert_false(c->closing);
    for (size_t i = 0; i < S; i++)
        if (cl[i].s)
            stream_reset(cl[i].s);
    for (size_t i = 0; i < S; i++)
        assert_true(run_until(&e, cli_closed, &cl[i], 10));
    run_until(&e, loop_never, NULL, 0.1);
    assert_int_equal(e.server.mem_in, 0);
    env_stop(&e);
}

struct want_held {
    struct env *e;
    size_t n;
};

static bool srv_holds(void *arg)
{
    struct want_held *w = arg;
    return w->e->server.mem_in >= w->n;
}

/* 4 connections each send 512 KiB at once: the server reads them over
 * several passes of its loop, never more in one than the pass's budget
 * plus HOST_READ_MIN per connection, and gets everything. */
static void read_budget_per_pass(void **state)
{
    enum { C = 4, PARTS = 8 };
    struct env e;
    struct cli cl[C];
    struct conn *c[C];
    static uint8_t part[65536];
    (void)state;

    env_start(&e, 16u << 20, 16u << 20);
    e.srv.partial = true;
    for (size_t i = 0; i < C; i++) {
        c[i] = dial(&e);
        open_cli(&e, c[i], &cl[i]);
    }
    run_until(&e, loop_never, NULL, 0.05);
    e.max_read_pass = 0;
    for (size_t i = 0; i < C; i++)
        for (size_t k = 0; k < PARTS; k++)
            stream_write(cl[i].s, part, sizeof(part));
    struct want_held w = {&e, C * PARTS * sizeof(part)};
    assert_true(run_until(&e, srv_holds, &w, 20));
    assert_int_equal(e.server.mem_in, C * PARTS * sizeof(part));
    assert_true(e.max_read_pass <= HOST_READ_BUDGET + C * HOST_READ_MIN);
    assert_true(e.max_read_pass > HOST_READ_MIN); /* it did read in bulk */
    for (size_t i = 0; i < C; i++)
        stream_reset(cl[i].s);
    for (size_t i = 0; i < C; i++)
        assert_true(run_until(&e, cli_closed, &cl[i], 10));
    env_stop(&e);
}

/* A peer that sends pings and never reads the answers: the server stops
 * reading its socket while the pongs wait, instead of queueing past its
 * output limit. */
static void ping_flood_pauses_reading(void **state)
{
    const size_t max_out = 1u << 20;
    struct env e;
    (void)state;

    env_start(&e, max_out, 1u << 20);
    struct conn *c = dial(&e);
    conn_set_reading(c, false);
    for (uint32_t i = 0; i < 1000000; i++)
        yamux_ping(&c->mux, i);
    conn_mark_dirty(c);
    run_until(&e, loop_never, NULL, 1.0);
    struct conn *sc = e.server.established;
    assert_non_null(sc);
    assert_false(sc->closing);
    assert_true(sc->read_paused);
    assert_true(e.server.stats.read_pauses >= 1);
    assert_true(e.max_out_seen <= max_out);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipelined_no_read),
        cmocka_unit_test(held_requests_close_the_window),
        cmocka_unit_test(partial_input_budget),
        cmocka_unit_test(ping_flood_pauses_reading),
        cmocka_unit_test(read_budget_per_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
