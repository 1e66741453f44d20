/* yamux: a client and a server session wired back to back in memory (each
 * side's out buffer fed to the other, optionally in random chunks), plus
 * single sessions fed hand-made frames to check exact bytes and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "yamux/yamux.h"

#define TS_MAX 64
#define MIB (1024u * 1024u)

struct side;

/* What the owner keeps per stream; kept until the side is torn down so tests
 * can look at a stream after it was closed. */
struct tstream {
    struct side *side;
    struct yamux_stream *st; /* NULL once on_close ran */
    uint32_t id;
    struct buf rx;
    size_t data_calls;
    int fins, resets, closes, writables;
};

struct side {
    struct yamux_session s;
    struct tstream ts[TS_MAX];
    size_t nts;
    /* behaviour */
    bool refuse;          /* on_open returns -1 */
    bool reset_in_open;   /* on_open resets the new stream and returns 0 */
    bool write_in_open;   /* on_open writes "hello" */
    bool echo;            /* on_data writes the bytes back */
    bool reset_in_data;   /* on_data resets the stream, then writes (ignored) */
    bool close_in_data;   /* on_data closes, then writes (ignored) */
    bool close_on_fin;    /* on_fin closes our side */
    bool reap_in_data;    /* on_data calls yamux_reap (must be deferred) */
    bool hold;            /* on_data holds everything received (yamux_set_held) */
    bool open_in_close;   /* on_close tries to open a stream */
    bool write_in_reset;  /* on_reset writes/closes/resets (all ignored) */
    /* observations */
    int goaways, pongs, total_closes, opens;
    uint32_t goaway_code, pong;
};

struct pair {
    struct side c, sv;
    uint64_t rng;
    size_t max_chunk; /* 0: move everything at once */
};

static struct tstream *attach(struct side *sd, struct yamux_stream *st)
{
    assert_true(sd->nts < TS_MAX);
    struct tstream *t = &sd->ts[sd->nts++];
    memset(t, 0, sizeof *t);
    t->side = sd;
    t->st = st;
    t->id = st->id;
    buf_init(&t->rx);
    st->user = t;
    return t;
}

static int cb_open(void *ctx, struct yamux_stream *st)
{
    struct side *sd = ctx;
    sd->opens++;
    attach(sd, st);
    if (sd->write_in_open)
        yamux_write(st, (const uint8_t *)"hello", 5);
    if (sd->reset_in_open) {
        yamux_reset(st);
        return 0;
    }
    return sd->refuse ? -1 : 0;
}

static void cb_data(void *ctx, struct yamux_stream *st, const uint8_t *d, size_t n)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    assert_false(st->dead);
    assert_true(n > 0);
    t->data_calls++;
    buf_append(&t->rx, d, n);
    if (sd->echo)
        yamux_write(st, d, n);
    if (sd->reset_in_data) {
        yamux_reset(st);
        yamux_write(st, d, n);
        yamux_reset(st);
    }
    if (sd->close_in_data) {
        yamux_close(st);
        yamux_write(st, d, n);
        yamux_close(st);
    }
    if (sd->reap_in_data)
        yamux_reap(&sd->s);
    if (sd->hold)
        yamux_set_held(st, buf_size(&t->rx));
}

static void cb_fin(void *ctx, struct yamux_stream *st)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    t->fins++;
    if (sd->close_on_fin)
        yamux_close(st);
}

static void cb_reset(void *ctx, struct yamux_stream *st)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    assert_true(st->dead);
    t->resets++;
    if (sd->write_in_reset) {
        yamux_write(st, (const uint8_t *)"x", 1);
        yamux_close(st);
        yamux_reset(st);
    }
}

static void cb_writable(void *ctx, struct yamux_stream *st)
{
    (void)ctx;
    struct tstream *t = st->user;
    t->writables++;
}

static void cb_close(void *ctx, struct yamux_stream *st)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    assert_non_null(t);
    assert_ptr_equal(t->st, st);
    t->closes++;
    assert_int_equal(t->closes, 1);
    t->st = NULL;
    sd->total_closes++;
    if (sd->open_in_close)
        assert_null(yamux_open(&sd->s));
}

static void cb_goaway(void *ctx, uint32_t code)
{
    struct side *sd = ctx;
    sd->goaways++;
    sd->goaway_code = code;
}

static void cb_pong(void *ctx, uint32_t opaque)
{
    struct side *sd = ctx;
    sd->pongs++;
    sd->pong = opaque;
}

static const struct yamux_callbacks test_cb = {
    .on_open = cb_open,
    .on_data = cb_data,
    .on_fin = cb_fin,
    .on_reset = cb_reset,
    .on_writable = cb_writable,
    .on_close = cb_close,
    .on_goaway = cb_goaway,
    .on_pong = cb_pong,
};

static void side_init(struct side *sd, bool client, size_t max_streams)
{
    memset(sd, 0, sizeof *sd);
    yamux_init(&sd->s, client, max_streams, &test_cb, sd);
}

/* Frees the session and checks every stream the owner saw got one on_close. */
static void side_free(struct side *sd)
{
    yamux_free(&sd->s);
    for (size_t i = 0; i < sd->nts; i++) {
        assert_int_equal(sd->ts[i].closes, 1);
        assert_null(sd->ts[i].st);
        buf_free(&sd->ts[i].rx);
    }
    assert_int_equal(sd->total_closes, (int)sd->nts);
}

static struct tstream *topen(struct side *sd)
{
    struct yamux_stream *st = yamux_open(&sd->s);
    assert_non_null(st);
    return attach(sd, st);
}

static void pair_init(struct pair *p, size_t max_chunk, uint64_t seed)
{
    side_init(&p->c, true, 128);
    side_init(&p->sv, false, 128);
    p->rng = seed ? seed : 1;
    p->max_chunk = max_chunk;
}

static void pair_free(struct pair *p)
{
    side_free(&p->c);
    side_free(&p->sv);
}

static size_t rnd(struct pair *p, size_t max)
{
    /* xorshift64: deterministic chunk sizes per test */
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return 1 + (size_t)(p->rng % max);
}

/* Moves everything `from` has queued into `to`, in chunks. Each chunk is an
 * exactly sized heap copy, so ASan catches reads past it. Returns bytes moved. */
static size_t xfer(struct pair *p, struct side *from, struct side *to)
{
    size_t moved = 0;
    while (buf_size(yamux_out(&from->s)) > 0) {
        size_t k = buf_size(yamux_out(&from->s));
        if (p->max_chunk && k > p->max_chunk)
            k = rnd(p, p->max_chunk);
        uint8_t *chunk = malloc(k);
        assert_non_null(chunk);
        memcpy(chunk, buf_head(yamux_out(&from->s)), k);
        buf_consume(yamux_out(&from->s), k);
        int rc = yamux_feed(&to->s, chunk, k);
        free(chunk);
        if (rc != 0)
            fail_msg("feed failed: %s", to->s.error);
        moved += k;
    }
    return moved;
}

/* Runs both directions until nothing is queued, reaping between rounds. */
static void pump(struct pair *p)
{
    for (int round = 0; round < 100000; round++) {
        size_t moved = xfer(p, &p->c, &p->sv) + xfer(p, &p->sv, &p->c);
        yamux_reap(&p->c.s);
        yamux_reap(&p->sv.s);
        if (moved == 0)
            return;
    }
    fail_msg("pump did not settle");
}

static void fill_pattern(uint8_t *d, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)((i * 31 + seed * 7 + (i >> 8)) & 0xff);
}

/* One frame header, big endian. */
static void put_hdr(uint8_t *p, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    uint8_t h[YAMUX_HEADER_LEN] = {0,
                                   type,
                                   (uint8_t)(flags >> 8),
                                   (uint8_t)flags,
                                   (uint8_t)(id >> 24),
                                   (uint8_t)(id >> 16),
                                   (uint8_t)(id >> 8),
                                   (uint8_t)id,
                                   (uint8_t)(len >> 24),
                                   (uint8_t)(len >> 16),
                                   (uint8_t)(len >> 8),
                                   (uint8_t)len};
    memcpy(p, h, sizeof h);
}

static int feed_hdr(struct side *sd, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    uint8_t h[YAMUX_HEADER_LEN];
    put_hdr(h, type, flags, id, len);
    return yamux_feed(&sd->s, h, sizeof h);
}

/* Checks that sd queued exactly this one frame (no payload) and drops it. */
static void expect_frame(struct side *sd, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    uint8_t want[YAMUX_HEADER_LEN];
    put_hdr(want, type, flags, id, len);
    assert_true(buf_size(yamux_out(&sd->s)) >= YAMUX_HEADER_LEN);
    assert_memory_equal(buf_head(yamux_out(&sd->s)), want, YAMUX_HEADER_LEN);
    buf_consume(yamux_out(&sd->s), YAMUX_HEADER_LEN);
}

static void expect_empty(struct side *sd) { assert_int_equal(buf_size(yamux_out(&sd->s)), 0); }

static struct tstream *find_ts(struct side *sd, uint32_t id)
{
    for (size_t i = sd->nts; i-- > 0;)
        if (sd->ts[i].id == id)
            return &sd->ts[i];
    return NULL;
}

/* ---- exact bytes ---- */

static void frame_bytes(void **state)
{
    (void)state;
    struct side c, sv;
    side_init(&c, true, 8);
    side_init(&sv, false, 8);

    struct tstream *t = topen(&c);
    assert_int_equal(t->id, 1);
    static const uint8_t syn[] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(buf_size(yamux_out(&c.s)), sizeof syn);
    assert_memory_equal(buf_head(yamux_out(&c.s)), syn, sizeof syn);
    assert_int_equal(yamux_feed(&sv.s, buf_head(yamux_out(&c.s)), buf_size(yamux_out(&c.s))), 0);
    buf_reset(yamux_out(&c.s));
    assert_int_equal(sv.opens, 1);
    static const uint8_t ack[] = {0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(buf_size(yamux_out(&sv.s)), sizeof ack);
    assert_memory_equal(buf_head(yamux_out(&sv.s)), ack, sizeof ack);
    buf_reset(yamux_out(&sv.s));

    yamux_write(t->st, (const uint8_t *)"hi", 2);
    static const uint8_t data[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 'h', 'i'};
    assert_int_equal(buf_size(yamux_out(&c.s)), sizeof data);
    assert_memory_equal(buf_head(yamux_out(&c.s)), data, sizeof data);
    buf_reset(yamux_out(&c.s));

    yamux_ping(&c.s, 0x01020304);
    static const uint8_t ping[] = {0, 2, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_memory_equal(buf_head(yamux_out(&c.s)), ping, sizeof ping);
    assert_int_equal(yamux_feed(&sv.s, ping, sizeof ping), 0);
    static const uint8_t pong[] = {0, 2, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(buf_size(yamux_out(&sv.s)), sizeof pong);
    assert_memory_equal(buf_head(yamux_out(&sv.s)), pong, sizeof pong);
    buf_reset(yamux_out(&c.s));
    buf_reset(yamux_out(&sv.s));

    yamux_close(t->st);
    static const uint8_t fin[] = {0, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_memory_equal(buf_head(yamux_out(&c.s)), fin, sizeof fin);
    buf_reset(yamux_out(&c.s));

    struct tstream *t2 = topen(&c);
    assert_int_equal(t2->id, 3);
    buf_reset(yamux_out(&c.s));
    yamux_reset(t2->st);
    static const uint8_t rst[] = {0, 1, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0};
    assert_memory_equal(buf_head(yamux_out(&c.s)), rst, sizeof rst);
    buf_reset(yamux_out(&c.s));

    yamux_goaway(&c.s, YAMUX_GOAWAY_INTERNAL);
    yamux_goaway(&c.s, YAMUX_GOAWAY_NORMAL); /* queued once only */
    static const uint8_t ga[] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    assert_int_equal(buf_size(yamux_out(&c.s)), sizeof ga);
    assert_memory_equal(buf_head(yamux_out(&c.s)), ga, sizeof ga);

    /* The server's first outbound stream is 2. */
    struct tstream *ts = topen(&sv);
    assert_int_equal(ts->id, 2);
    assert_int_equal(topen(&sv)->id, 4);

    side_free(&c);
    side_free(&sv);
}

/* An inbound stream's ACK rides on the first frame written from on_open. */
static void ack_on_first_write(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.write_in_open = true;
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 7, 0), 0);
    static const uint8_t want[] = {0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(buf_size(yamux_out(&sv.s)), sizeof want);
    assert_memory_equal(buf_head(yamux_out(&sv.s)), want, sizeof want);
    side_free(&sv);
}

/* ---- streams both ways ---- */

static void echo_both_ways(size_t max_chunk, uint64_t seed)
{
    struct pair p;
    pair_init(&p, max_chunk, seed);
    uint8_t msg[3000];

    struct tstream *cs[3], *ss[2];
    for (int i = 0; i < 3; i++)
        cs[i] = topen(&p.c);
    for (int i = 0; i < 2; i++)
        ss[i] = topen(&p.sv);
    p.sv.echo = true; /* server echoes the client's streams */
    for (int i = 0; i < 3; i++) {
        fill_pattern(msg, sizeof msg, (uint32_t)i);
        yamux_write(cs[i]->st, msg, sizeof msg - (size_t)i * 100);
    }
    pump(&p);
    for (int i = 0; i < 3; i++) {
        fill_pattern(msg, sizeof msg, (uint32_t)i);
        assert_int_equal(buf_size(&cs[i]->rx), sizeof msg - (size_t)i * 100);
        assert_memory_equal(buf_head(&cs[i]->rx), msg, sizeof msg - (size_t)i * 100);
    }
    assert_int_equal(p.sv.opens, 3);
    assert_int_equal(p.c.opens, 2);

    /* Now the client echoes on the server's streams. */
    p.sv.echo = false;
    p.c.echo = true;
    for (int i = 0; i < 2; i++) {
        fill_pattern(msg, sizeof msg, 10u + (uint32_t)i);
        yamux_write(ss[i]->st, msg, sizeof msg);
    }
    pump(&p);
    for (int i = 0; i < 2; i++) {
        fill_pattern(msg, sizeof msg, 10u + (uint32_t)i);
        assert_int_equal(buf_size(&ss[i]->rx), sizeof msg);
        assert_memory_equal(buf_head(&ss[i]->rx), msg, sizeof msg);
        struct tstream *peer = find_ts(&p.c, ss[i]->id);
        assert_non_null(peer);
        assert_int_equal(buf_size(&peer->rx), sizeof msg);
    }
    assert_int_equal(p.c.s.nstreams, 5);
    assert_int_equal(p.sv.s.nstreams, 5);
    pair_free(&p);
}

static void open_both_ways_echo(void **state)
{
    (void)state;
    echo_both_ways(0, 1);
    echo_both_ways(7, 2);
    echo_both_ways(1000, 3);
}

static void one_byte_at_a_time(void **state)
{
    (void)state;
    echo_both_ways(1, 4);
}

/* A data frame split over feeds is delivered as it arrives. */
static void data_delivered_incrementally(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    uint8_t f[YAMUX_HEADER_LEN + 10];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, 10);
    memcpy(f + YAMUX_HEADER_LEN, "0123456789", 10);
    assert_int_equal(yamux_feed(&sv.s, f, 5), 0);
    assert_int_equal(sv.opens, 0);
    assert_int_equal(yamux_feed(&sv.s, f + 5, YAMUX_HEADER_LEN - 5 + 3), 0);
    struct tstream *t = find_ts(&sv, 1);
    assert_non_null(t);
    assert_int_equal(buf_size(&t->rx), 3);
    assert_int_equal(yamux_feed(&sv.s, f + YAMUX_HEADER_LEN + 3, 7), 0);
    assert_int_equal(buf_size(&t->rx), 10);
    assert_memory_equal(buf_head(&t->rx), "0123456789", 10);
    assert_int_equal(t->data_calls, 2);
    assert_int_equal(t->st->recv_window, YAMUX_WINDOW - 10);
    assert_int_equal(t->st->recv_unacked, 10);
    side_free(&sv);
}

/* ---- flow control ---- */

struct frame_stats {
    size_t data_bytes, data_frames, max_frame;
};

/* Parses a queued byte stream (without consuming it) and sums data frames. */
static struct frame_stats scan_frames(const struct buf *b)
{
    struct frame_stats fs = {0, 0, 0};
    const uint8_t *p = buf_head(b);
    size_t n = buf_size(b), off = 0;
    while (off < n) {
        assert_true(n - off >= YAMUX_HEADER_LEN);
        assert_int_equal(p[off], 0);
        uint32_t len = (uint32_t)p[off + 8] << 24 | (uint32_t)p[off + 9] << 16 |
                       (uint32_t)p[off + 10] << 8 | p[off + 11];
        off += YAMUX_HEADER_LEN;
        if (p[off - YAMUX_HEADER_LEN + 1] == YAMUX_DATA) {
            assert_true(n - off >= len);
            fs.data_bytes += len;
            fs.data_frames++;
            if (len > fs.max_frame)
                fs.max_frame = len;
            off += len;
        }
    }
    return fs;
}

static void window_exhaustion_and_resume(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 5);
    uint8_t *big = malloc(MIB);
    assert_non_null(big);
    fill_pattern(big, MIB, 99);

    struct tstream *t = topen(&p.c);
    assert_null(t->st->pending); /* none until the window is short */
    yamux_write(t->st, big, YAMUX_WINDOW / 2);
    assert_null(t->st->pending);
    yamux_write(t->st, big + YAMUX_WINDOW / 2, MIB - YAMUX_WINDOW / 2);
    assert_non_null(t->st->pending);
    /* Only the initial window goes out, in frames of at most 64 KiB. */
    struct frame_stats fs = scan_frames(yamux_out(&p.c.s));
    assert_int_equal(fs.data_bytes, YAMUX_WINDOW);
    assert_int_equal(fs.max_frame, YAMUX_MAX_FRAME);
    assert_int_equal(fs.data_frames, YAMUX_WINDOW / YAMUX_MAX_FRAME);
    assert_int_equal(t->st->send_window, 0);
    assert_int_equal(yamux_pending(t->st), MIB - YAMUX_WINDOW);

    pump(&p);
    struct tstream *r = find_ts(&p.sv, t->id);
    assert_non_null(r);
    assert_int_equal(buf_size(&r->rx), MIB);
    assert_memory_equal(buf_head(&r->rx), big, MIB);
    assert_int_equal(yamux_pending(t->st), 0);
    assert_null(t->st->pending); /* freed once drained */
    assert_int_equal(p.c.s.pending_bytes, 0);
    assert_true(t->writables > 0);
    /* The receiver never lets the peer's credit run past the initial window. */
    assert_true(r->st->recv_window + r->st->recv_unacked == YAMUX_WINDOW);
    assert_int_equal(t->st->send_window, r->st->recv_window);
    pair_free(&p);
    free(big);
}

/* yamux_writev sends what yamux_write of the concatenation would: the
 * same frames up to the window, the rest pending. */
static void writev_gathers(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 9);
    uint8_t *big = malloc(MIB);
    assert_non_null(big);
    fill_pattern(big, MIB, 7);
    struct iovec v[5] = {
        {big, 10}, {big + 10, 0}, {big + 10, 100000}, {big + 100010, 300000}, {big + 400010, MIB - 400010},
    };

    struct tstream *t = topen(&p.c);
    yamux_writev(t->st, v, 5);
    struct frame_stats fs = scan_frames(yamux_out(&p.c.s));
    assert_int_equal(fs.data_bytes, YAMUX_WINDOW);
    assert_int_equal(fs.max_frame, YAMUX_MAX_FRAME);
    assert_int_equal(yamux_pending(t->st), MIB - YAMUX_WINDOW);
    pump(&p);
    struct tstream *r = find_ts(&p.sv, t->id);
    assert_non_null(r);
    assert_int_equal(buf_size(&r->rx), MIB);
    assert_memory_equal(buf_head(&r->rx), big, MIB);
    pair_free(&p);
    free(big);
}

/* yamux_data_header: the header yamux_write would send (the ACK of an
 * inbound stream on the first), the window taken, nothing in out; refused
 * where yamux_write would not send at once. */
static void data_header_for_owner_sealing(void **state)
{
    (void)state;
    struct side sv;
    uint8_t h[YAMUX_HEADER_LEN], want[YAMUX_HEADER_LEN];
    side_init(&sv, false, 8);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 7, 0), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 7, 0); /* accepted: ACK sent at once */
    struct yamux_stream *st = yamux_find(&sv.s, 7);
    assert_non_null(st);
    assert_int_equal(yamux_data_header(st, 0, h), -1);
    assert_int_equal(yamux_data_header(st, YAMUX_MAX_FRAME + 1, h), -1);
    assert_int_equal(yamux_data_header(st, 100, h), 0);
    put_hdr(want, YAMUX_DATA, 0, 7, 100);
    assert_memory_equal(h, want, sizeof h);
    assert_int_equal(st->send_window, YAMUX_WINDOW - 100);
    expect_empty(&sv);
    /* Past the window, or behind pending data: no. */
    assert_int_equal(yamux_data_header(st, YAMUX_WINDOW - 99, h), -1);
    uint8_t *big = calloc(1, YAMUX_WINDOW);
    assert_non_null(big);
    yamux_write(st, big, YAMUX_WINDOW); /* the window's rest goes, 100 bytes wait */
    assert_int_equal(yamux_pending(st), 100);
    assert_int_equal(yamux_data_header(st, 1, h), -1);
    free(big);
    side_free(&sv);

    /* An inbound stream's first frame carries its ACK; after our FIN, no. */
    side_init(&sv, false, 8);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 9, 0), 0);
    st = yamux_find(&sv.s, 9);
    assert_non_null(st);
    st->need_ack = true; /* as inside on_open, before anything was written */
    assert_int_equal(yamux_data_header(st, 5, h), 0);
    put_hdr(want, YAMUX_DATA, YAMUX_ACK, 9, 5);
    assert_memory_equal(h, want, sizeof h);
    yamux_close(st);
    assert_int_equal(yamux_data_header(st, 5, h), -1);
    side_free(&sv);
}

/* What the receiver holds is not granted back: the sender stops after one
 * window; releasing it lets the rest through. */
static void held_bytes_close_the_window(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 1000, 3);
    uint8_t *big = malloc(MIB);
    assert_non_null(big);
    fill_pattern(big, MIB, 5);
    p.sv.hold = true;

    struct tstream *t = topen(&p.c);
    yamux_write(t->st, big, MIB);
    pump(&p);
    struct tstream *r = find_ts(&p.sv, t->id);
    assert_non_null(r);
    assert_int_equal(buf_size(&r->rx), YAMUX_WINDOW);
    assert_int_equal(t->st->send_window, 0);
    assert_int_equal(r->st->held, YAMUX_WINDOW);
    p.sv.hold = false;
    yamux_set_held(r->st, 0);
    pump(&p);
    assert_int_equal(buf_size(&r->rx), MIB);
    assert_memory_equal(buf_head(&r->rx), big, MIB);
    pair_free(&p);
    free(big);
}

/* 1 MiB each way at once, echoed back, through random chunking. */
static void bidirectional_1mib_echo(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 40000, 6);
    uint8_t *big = malloc(MIB);
    assert_non_null(big);
    fill_pattern(big, MIB, 7);

    p.sv.echo = true;
    struct tstream *a = topen(&p.c);
    yamux_write(a->st, big, MIB);
    yamux_close(a->st);
    p.sv.close_on_fin = true;
    pump(&p);
    assert_int_equal(buf_size(&a->rx), MIB);
    assert_memory_equal(buf_head(&a->rx), big, MIB);
    assert_int_equal(a->fins, 1);
    /* Both FINs went through and the pending data drained: reaped both sides. */
    assert_int_equal(a->closes, 1);
    assert_int_equal(p.c.s.nstreams, 0);
    assert_int_equal(p.sv.s.nstreams, 0);
    pair_free(&p);
    free(big);
}

static void syn_with_window_delta(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 1, 100000), 0);
    struct yamux_stream *st = yamux_find(&sv.s, 1);
    assert_non_null(st);
    assert_int_equal(st->send_window, YAMUX_WINDOW + 100000);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 1, 0);
    /* An ACK with a delta grows an outbound stream's window too. */
    struct tstream *t = topen(&sv);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 2, 0);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 2, 5), 0);
    assert_int_equal(t->st->send_window, YAMUX_WINDOW + 5);
    expect_empty(&sv);
    side_free(&sv);
}

/* Consuming half the window grants it back in one update. */
static void window_update_after_half(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    size_t n = YAMUX_HEADER_LEN + YAMUX_WINDOW / 2;
    uint8_t *f = calloc(1, n);
    assert_non_null(f);
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, YAMUX_WINDOW / 2 - 1);
    assert_int_equal(yamux_feed(&sv.s, f, n - 1), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 1, 0);
    expect_empty(&sv);
    put_hdr(f, YAMUX_DATA, 0, 1, 1);
    assert_int_equal(yamux_feed(&sv.s, f, YAMUX_HEADER_LEN + 1), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, 0, 1, YAMUX_WINDOW / 2);
    expect_empty(&sv);
    struct yamux_stream *st = yamux_find(&sv.s, 1);
    assert_int_equal(st->recv_window, YAMUX_WINDOW);
    assert_int_equal(st->recv_unacked, 0);
    free(f);
    side_free(&sv);
}

/* ---- FIN and RST ---- */

static void fin_half_close(bool client_first)
{
    struct pair p;
    pair_init(&p, 5, client_first ? 8 : 9);
    struct tstream *c = topen(&p.c);
    yamux_write(c->st, (const uint8_t *)"req", 3);
    pump(&p);
    struct tstream *s = find_ts(&p.sv, c->id);
    assert_non_null(s);
    struct tstream *first = client_first ? c : s, *second = client_first ? s : c;

    yamux_close(first->st);
    yamux_write(first->st, (const uint8_t *)"ignored", 7); /* after local FIN */
    pump(&p);
    assert_int_equal(second->fins, 1);
    assert_int_equal(first->fins, 0);
    assert_false(first->st->dead);
    /* The other direction still works. */
    yamux_write(second->st, (const uint8_t *)"reply", 5);
    pump(&p);
    /* The server got "req" earlier, the FIN side got "reply" now. */
    assert_int_equal(buf_size(&s->rx), client_first ? 3 : 8);
    assert_int_equal(buf_size(&c->rx), client_first ? 5 : 0);
    assert_int_equal(first->closes, 0);
    yamux_close(second->st);
    pump(&p);
    assert_int_equal(first->fins, 1);
    assert_int_equal(first->closes, 1);
    assert_int_equal(second->closes, 1);
    assert_int_equal(p.c.s.nstreams, 0);
    assert_int_equal(p.sv.s.nstreams, 0);
    pair_free(&p);
}

static void fin_client_first(void **state)
{
    (void)state;
    fin_half_close(true);
}

static void fin_server_first(void **state)
{
    (void)state;
    fin_half_close(false);
}

/* FIN goes out only after pending data; the stream lives until it has. */
static void close_with_pending(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 10);
    uint8_t *big = malloc(MIB);
    assert_non_null(big);
    fill_pattern(big, MIB, 3);
    p.sv.close_on_fin = true;
    struct tstream *t = topen(&p.c);
    yamux_write(t->st, big, MIB);
    yamux_close(t->st);
    assert_true(t->st->fin_pending);
    struct frame_stats fs = scan_frames(yamux_out(&p.c.s));
    assert_int_equal(fs.data_bytes, YAMUX_WINDOW);
    pump(&p);
    struct tstream *r = find_ts(&p.sv, t->id);
    assert_int_equal(buf_size(&r->rx), MIB);
    assert_memory_equal(buf_head(&r->rx), big, MIB);
    assert_int_equal(r->fins, 1);
    assert_int_equal(t->fins, 1);
    assert_int_equal(t->closes, 1);
    assert_int_equal(r->closes, 1);
    pair_free(&p);
    free(big);
}

static void reset_both_ways(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 3, 11);
    p.c.write_in_reset = true;
    struct tstream *a = topen(&p.c), *b = topen(&p.c);
    yamux_write(a->st, (const uint8_t *)"a", 1);
    yamux_write(b->st, (const uint8_t *)"b", 1);
    pump(&p);
    struct tstream *sa = find_ts(&p.sv, a->id), *sb = find_ts(&p.sv, b->id);

    /* Remote reset: on_reset, stream dead at once; writes after are ignored. */
    yamux_reset(sa->st);
    assert_int_equal(p.sv.s.nstreams, 1);
    pump(&p);
    assert_int_equal(a->resets, 1);
    assert_int_equal(a->closes, 1);
    assert_int_equal(sa->closes, 1);
    assert_int_equal(sa->resets, 0);

    /* Local reset with data in flight from the peer: the late data is
     * skipped without error. */
    yamux_write(sb->st, (const uint8_t *)"late data", 9);
    yamux_reset(b->st);
    pump(&p);
    assert_int_equal(buf_size(&b->rx), 0);
    assert_int_equal(sb->resets, 1);
    assert_int_equal(b->resets, 0);
    assert_int_equal(p.c.s.nstreams, 0);
    assert_int_equal(p.sv.s.nstreams, 0);
    assert_null(p.c.s.error);
    assert_null(p.sv.s.error);
    pair_free(&p);
}

/* A peer's RST drops our pending data. */
static void reset_drops_pending(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 12);
    uint8_t *big = calloc(1, MIB);
    assert_non_null(big);
    struct tstream *t = topen(&p.c);
    yamux_write(t->st, big, MIB);
    xfer(&p, &p.c, &p.sv);
    struct tstream *r = find_ts(&p.sv, t->id);
    yamux_reset(r->st);
    xfer(&p, &p.sv, &p.c);
    assert_true(t->st->dead);
    assert_int_equal(yamux_pending(t->st), 0); /* freed when it died */
    assert_int_equal(t->resets, 1);
    pump(&p);
    assert_int_equal(t->closes, 1);
    pair_free(&p);
    free(big);
}

/* ---- session frames ---- */

static void ping_pong(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 2, 13);
    yamux_ping(&p.c.s, 0xdeadbeef);
    yamux_ping(&p.sv.s, 42);
    pump(&p);
    assert_int_equal(p.c.pongs, 1);
    assert_true(p.c.pong == 0xdeadbeef);
    assert_int_equal(p.sv.pongs, 1);
    assert_int_equal(p.sv.pong, 42);
    pair_free(&p);
}

static void goaway_stops_new_streams(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 14);
    struct tstream *old = topen(&p.c);
    pump(&p);
    yamux_goaway(&p.sv.s, YAMUX_GOAWAY_NORMAL);
    assert_null(yamux_open(&p.sv.s));
    /* The client opens before it has seen the Go Away: refused with RST. */
    struct tstream *late = topen(&p.c);
    yamux_write(late->st, (const uint8_t *)"dropped", 7);
    pump(&p);
    assert_int_equal(p.c.goaways, 1);
    assert_int_equal(p.c.goaway_code, YAMUX_GOAWAY_NORMAL);
    assert_true(p.c.s.goaway_recv);
    assert_null(yamux_open(&p.c.s));
    assert_int_equal(late->resets, 1);
    assert_int_equal(p.sv.opens, 1);
    /* Existing streams keep working. */
    yamux_write(old->st, (const uint8_t *)"still", 5);
    pump(&p);
    assert_int_equal(buf_size(&find_ts(&p.sv, old->id)->rx), 5);
    pair_free(&p);
}

static void max_streams_refusal(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 15);
    p.sv.s.max_streams = 2;
    struct tstream *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = topen(&p.c);
        yamux_write(t[i]->st, (const uint8_t *)"x", 1);
    }
    pump(&p);
    assert_int_equal(p.sv.opens, 2);
    assert_int_equal(t[0]->resets + t[1]->resets, 0);
    assert_int_equal(t[2]->resets, 1);
    /* Our own open is refused at the limit too. */
    assert_null(yamux_open(&p.sv.s));
    /* Once one finishes, there is room again. */
    yamux_reset(t[0]->st);
    pump(&p);
    struct tstream *again = topen(&p.c);
    pump(&p);
    assert_int_equal(again->resets, 0);
    assert_int_equal(p.sv.opens, 3);
    pair_free(&p);
}

static void refuse_in_on_open(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 16);
    p.sv.refuse = true;
    struct tstream *t = topen(&p.c);
    yamux_write(t->st, (const uint8_t *)"x", 1);
    pump(&p);
    assert_int_equal(t->resets, 1);
    assert_int_equal(p.sv.opens, 1);
    assert_int_equal(p.sv.ts[0].closes, 1); /* the owner saw it: on_close */
    assert_int_equal(buf_size(&p.sv.ts[0].rx), 0);
    pair_free(&p);
}

/* Session with NULL optional callbacks and no on_open: inbound refused. */
static void null_callbacks(void **state)
{
    (void)state;
    static const struct yamux_callbacks none = {0};
    struct yamux_session s;
    yamux_init(&s, false, 4, &none, NULL);
    uint8_t f[2 * YAMUX_HEADER_LEN + 3];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, 3);
    memcpy(f + YAMUX_HEADER_LEN, "abc", 3);
    put_hdr(f + YAMUX_HEADER_LEN + 3, YAMUX_PING, YAMUX_ACK, 0, 1);
    assert_int_equal(yamux_feed(&s, f, sizeof f), 0);
    struct yamux_stream *st = yamux_open(&s);
    assert_non_null(st);
    uint8_t g[YAMUX_HEADER_LEN];
    put_hdr(g, YAMUX_WINDOW_UPDATE, YAMUX_ACK | YAMUX_FIN, 2, 1);
    assert_int_equal(yamux_feed(&s, g, sizeof g), 0);
    put_hdr(g, YAMUX_GO_AWAY, 0, 0, 0);
    assert_int_equal(yamux_feed(&s, g, sizeof g), 0);
    put_hdr(g, YAMUX_WINDOW_UPDATE, YAMUX_RST, 2, 0);
    assert_int_equal(yamux_feed(&s, g, sizeof g), 0);
    yamux_reap(&s);
    assert_int_equal(s.nstreams, 0);
    yamux_free(&s);
}

/* ---- protocol errors ---- */

/* Feeds bytes that must fail; checks the Go Away and that later feeds fail. */
static void expect_protocol_error(struct side *sd, const uint8_t *d, size_t n)
{
    assert_int_equal(yamux_feed(&sd->s, d, n), -1);
    assert_non_null(sd->s.error);
    assert_true(sd->s.goaway_sent);
    size_t q = buf_size(yamux_out(&sd->s));
    assert_true(q >= YAMUX_HEADER_LEN);
    static const uint8_t ga[] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(buf_head(yamux_out(&sd->s)) + q - YAMUX_HEADER_LEN, ga, sizeof ga);
    uint8_t ping[YAMUX_HEADER_LEN];
    put_hdr(ping, YAMUX_PING, YAMUX_SYN, 0, 1);
    assert_int_equal(yamux_feed(&sd->s, ping, sizeof ping), -1);
    assert_int_equal(buf_size(yamux_out(&sd->s)), q); /* nothing more answered */
    assert_null(yamux_open(&sd->s));
}

static void error_bad_version(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    uint8_t f[YAMUX_HEADER_LEN];
    put_hdr(f, YAMUX_PING, YAMUX_SYN, 0, 1);
    f[0] = 1;
    expect_protocol_error(&sv, f, sizeof f);
    side_free(&sv);
}

static void error_unknown_type(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    uint8_t f[YAMUX_HEADER_LEN];
    put_hdr(f, 4, 0, 0, 0);
    /* Split so the error comes from a header assembled over two feeds. */
    assert_int_equal(yamux_feed(&sv.s, f, 7), 0);
    expect_protocol_error(&sv, f + 7, sizeof f - 7);
    side_free(&sv);
}

static void error_data_beyond_window(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    /* New stream: the SYN frame itself is too big. */
    uint8_t f[YAMUX_HEADER_LEN];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, YAMUX_WINDOW + 1);
    expect_protocol_error(&sv, f, sizeof f);
    assert_int_equal(sv.opens, 0);
    side_free(&sv);

    /* Existing stream: 200000 then 100000 bytes without a grant between. */
    side_init(&sv, false, 8);
    size_t n = YAMUX_HEADER_LEN + 200000;
    uint8_t *d = calloc(1, n);
    assert_non_null(d);
    put_hdr(d, YAMUX_DATA, YAMUX_SYN, 1, 200000);
    /* Delivered in two parts, so only the first 128 KiB are granted back. */
    size_t first = YAMUX_HEADER_LEN + YAMUX_WINDOW / 2;
    assert_int_equal(yamux_feed(&sv.s, d, first), 0);
    assert_int_equal(yamux_feed(&sv.s, d + first, n - first), 0);
    struct yamux_stream *st = yamux_find(&sv.s, 1);
    assert_int_equal(st->recv_window, YAMUX_WINDOW - 200000 + YAMUX_WINDOW / 2);
    put_hdr(f, YAMUX_DATA, 0, 1, st->recv_window + 1);
    expect_protocol_error(&sv, f, sizeof f);
    free(d);
    side_free(&sv);
}

static void error_wrong_parity_syn(void **state)
{
    (void)state;
    struct side sv, c;
    uint8_t f[YAMUX_HEADER_LEN];
    side_init(&sv, false, 8);
    put_hdr(f, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 2, 0); /* client ids are odd */
    expect_protocol_error(&sv, f, sizeof f);
    side_free(&sv);

    side_init(&c, true, 8);
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 3, 0); /* server ids are even */
    expect_protocol_error(&c, f, sizeof f);
    side_free(&c);

    side_init(&sv, false, 8);
    put_hdr(f, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 0, 0); /* 0 is the session */
    expect_protocol_error(&sv, f, sizeof f);
    side_free(&sv);
}

static void error_syn_on_live_id(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 5, 0), 0);
    uint8_t f[YAMUX_HEADER_LEN];
    put_hdr(f, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 5, 0);
    expect_protocol_error(&sv, f, sizeof f);
    assert_int_equal(sv.opens, 1);
    side_free(&sv);
}

static void error_window_overflow(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN, 1, 0), 0);
    uint8_t f[YAMUX_HEADER_LEN];
    put_hdr(f, YAMUX_WINDOW_UPDATE, 0, 1, UINT32_MAX - YAMUX_WINDOW + 1);
    expect_protocol_error(&sv, f, sizeof f);
    side_free(&sv);
}

/* ---- callbacks acting on their own stream ---- */

static void reset_in_on_data(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.reset_in_data = true;
    uint8_t f[YAMUX_HEADER_LEN + 100];
    memset(f, 'z', sizeof f);
    put_hdr(f, YAMUX_DATA, YAMUX_SYN | YAMUX_FIN, 1, 100);
    /* First 10 payload bytes reach on_data, which resets; the other 90 are
     * skipped even though they arrive in later feeds, FIN is not reported. */
    assert_int_equal(yamux_feed(&sv.s, f, YAMUX_HEADER_LEN + 10), 0);
    assert_int_equal(yamux_feed(&sv.s, f + YAMUX_HEADER_LEN + 10, 40), 0);
    yamux_reap(&sv.s); /* frees the stream mid-frame: the rest still skipped */
    assert_int_equal(yamux_feed(&sv.s, f + YAMUX_HEADER_LEN + 50, 50), 0);
    struct tstream *t = &sv.ts[0];
    assert_int_equal(buf_size(&t->rx), 10);
    assert_int_equal(t->fins, 0);
    assert_int_equal(t->closes, 1);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 1, 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_RST, 1, 0);
    expect_empty(&sv);
    /* Later frames for the id are skipped silently. */
    put_hdr(f, YAMUX_DATA, 0, 1, 100);
    assert_int_equal(yamux_feed(&sv.s, f, sizeof f), 0);
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_FIN, 1, 1000), 0);
    expect_empty(&sv);
    side_free(&sv);
}

static void reset_in_on_open(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.reset_in_open = true;
    uint8_t f[YAMUX_HEADER_LEN + 4];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, 4);
    memcpy(f + YAMUX_HEADER_LEN, "data", 4);
    assert_int_equal(yamux_feed(&sv.s, f, sizeof f), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_RST, 1, 0);
    expect_empty(&sv);
    assert_int_equal(buf_size(&sv.ts[0].rx), 0);
    assert_int_equal(sv.s.nstreams, 0);
    side_free(&sv);
}

static void close_in_on_data(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.close_in_data = true;
    uint8_t f[YAMUX_HEADER_LEN + 4];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, 4);
    memcpy(f + YAMUX_HEADER_LEN, "data", 4);
    assert_int_equal(yamux_feed(&sv.s, f, sizeof f), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 1, 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_FIN, 1, 0);
    expect_empty(&sv);
    /* Peer's data still arrives after our FIN; its FIN ends the stream. */
    sv.close_in_data = false;
    put_hdr(f, YAMUX_DATA, YAMUX_FIN, 1, 4);
    assert_int_equal(yamux_feed(&sv.s, f, sizeof f), 0);
    assert_int_equal(buf_size(&sv.ts[0].rx), 8);
    assert_int_equal(sv.ts[0].fins, 1);
    assert_int_equal(sv.s.nstreams, 0);
    yamux_reap(&sv.s);
    assert_int_equal(sv.ts[0].closes, 1);
    side_free(&sv);
}

/* on_fin closing the stream it is called for finishes it at once. */
static void close_in_on_fin(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.close_on_fin = true;
    assert_int_equal(feed_hdr(&sv, YAMUX_WINDOW_UPDATE, YAMUX_SYN | YAMUX_FIN, 1, 0), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_ACK, 1, 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_FIN, 1, 0);
    expect_empty(&sv);
    assert_int_equal(sv.ts[0].fins, 1);
    assert_int_equal(sv.s.nstreams, 0);
    side_free(&sv);
}

static void reap_in_callback_deferred(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.reap_in_data = true;
    sv.reset_in_data = true;
    uint8_t f[YAMUX_HEADER_LEN + 4];
    put_hdr(f, YAMUX_DATA, YAMUX_SYN, 1, 4);
    assert_int_equal(yamux_feed(&sv.s, f, sizeof f - 2), 0);
    assert_int_equal(sv.ts[0].closes, 0); /* not freed under the feed */
    yamux_reap(&sv.s);
    assert_int_equal(sv.ts[0].closes, 1);
    assert_int_equal(yamux_feed(&sv.s, f + sizeof f - 2, 2), 0);
    side_free(&sv);
}

/* ---- skipping ---- */

/* Data for unknown ids and for refused streams is skipped, not stored. */
static void unknown_and_refused_data_skipped(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 0); /* every inbound stream is over the limit */
    size_t n = YAMUX_HEADER_LEN + 100000;
    uint8_t *d = calloc(1, n);
    assert_non_null(d);
    put_hdr(d, YAMUX_DATA, 0, 9, 100000);
    for (size_t off = 0; off < n; off += 777)
        assert_int_equal(yamux_feed(&sv.s, d + off, off + 777 <= n ? 777 : n - off), 0);
    put_hdr(d, YAMUX_DATA, YAMUX_SYN, 11, 100000);
    assert_int_equal(yamux_feed(&sv.s, d, n), 0);
    expect_frame(&sv, YAMUX_WINDOW_UPDATE, YAMUX_RST, 11, 0);
    /* Still in sync: a ping right after is answered. */
    assert_int_equal(feed_hdr(&sv, YAMUX_PING, YAMUX_SYN, 0, 77), 0);
    expect_frame(&sv, YAMUX_PING, YAMUX_ACK, 0, 77);
    expect_empty(&sv);
    assert_int_equal(sv.opens, 0);
    free(d);
    side_free(&sv);
}

static void id_space_exhausted(void **state)
{
    (void)state;
    struct side c;
    side_init(&c, true, 8);
    c.s.next_id = UINT32_MAX;
    struct tstream *t = topen(&c);
    assert_true(t->id == UINT32_MAX);
    assert_null(yamux_open(&c.s));
    side_free(&c);
}

/* ---- teardown ---- */

static void free_calls_on_close_once(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0, 17);
    struct tstream *live = topen(&p.c), *dead_unreaped = topen(&p.c), *reaped = topen(&p.c);
    uint8_t *big = calloc(1, MIB);
    assert_non_null(big);
    pump(&p);
    yamux_write(live->st, big, MIB); /* leaves pending data */
    assert_true(yamux_pending(live->st) > 0);
    yamux_reset(reaped->st);
    yamux_reap(&p.c.s);
    assert_int_equal(reaped->closes, 1);
    yamux_reset(dead_unreaped->st);
    assert_int_equal(dead_unreaped->closes, 0);
    assert_int_equal(live->closes, 0);
    p.c.open_in_close = true; /* yamux_open must fail while freeing */
    side_free(&p.c); /* checks once each */
    assert_int_equal(p.c.total_closes, 3);
    side_free(&p.sv);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_bytes),
        cmocka_unit_test(data_header_for_owner_sealing),
        cmocka_unit_test(ack_on_first_write),
        cmocka_unit_test(open_both_ways_echo),
        cmocka_unit_test(one_byte_at_a_time),
        cmocka_unit_test(data_delivered_incrementally),
        cmocka_unit_test(window_exhaustion_and_resume),
        cmocka_unit_test(writev_gathers),
        cmocka_unit_test(held_bytes_close_the_window),
        cmocka_unit_test(bidirectional_1mib_echo),
        cmocka_unit_test(syn_with_window_delta),
        cmocka_unit_test(window_update_after_half),
        cmocka_unit_test(fin_client_first),
        cmocka_unit_test(fin_server_first),
        cmocka_unit_test(close_with_pending),
        cmocka_unit_test(reset_both_ways),
        cmocka_unit_test(reset_drops_pending),
        cmocka_unit_test(ping_pong),
        cmocka_unit_test(goaway_stops_new_streams),
        cmocka_unit_test(max_streams_refusal),
        cmocka_unit_test(refuse_in_on_open),
        cmocka_unit_test(null_callbacks),
        cmocka_unit_test(error_bad_version),
        cmocka_unit_test(error_unknown_type),
        cmocka_unit_test(error_data_beyond_window),
        cmocka_unit_test(error_wrong_parity_syn),
        cmocka_unit_test(error_syn_on_live_id),
        cmocka_unit_test(error_window_overflow),
        cmocka_unit_test(reset_in_on_data),
        cmocka_unit_test(reset_in_on_open),
        cmocka_unit_test(close_in_on_data),
        cmocka_unit_test(close_in_on_fin),
        cmocka_unit_test(reap_in_callback_deferred),
        cmocka_unit_test(unknown_and_refused_data_skipped),
        cmocka_unit_test(id_space_exhausted),
        cmocka_unit_test(free_calls_on_close_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
