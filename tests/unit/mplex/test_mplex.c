/* mplex: a dialer and a listener session wired back to back in memory (each
 * side's out buffer fed to the other, optionally in random chunks), plus
 * single sessions fed hand-made messages to check exact bytes and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/varint.h"
#include "mplex/mplex.h"

#define TS_MAX 64

struct side;

/* What the owner keeps per stream; kept until the side is torn down so tests
 * can look at a stream after it was freed. */
struct tstream {
    struct side *side;
    struct mplex_stream *st; /* NULL once on_close ran */
    uint64_t id;
    bool local;
    struct buf rx;
    int fins, resets, closes;
};

struct side {
    struct mplex_session s;
    struct tstream ts[TS_MAX];
    size_t nts;
    bool refuse;          /* on_open returns -1 */
    bool reset_in_open;   /* on_open resets the stream and returns 0 */
    bool echo;            /* on_data writes the bytes back */
    bool reset_in_data;   /* on_data resets, then writes (ignored) */
    bool reap_in_data;    /* on_data calls mplex_reap (deferred) */
    bool close_on_fin;    /* on_fin closes our side */
    bool open_in_close;   /* on_close tries to open a stream */
    int opens, total_closes;
};

struct pair {
    struct side c, sv;
    uint64_t rng;
    size_t max_chunk; /* 0: everything at once */
};

static struct tstream *attach(struct side *sd, struct mplex_stream *st)
{
    assert_true(sd->nts < TS_MAX);
    struct tstream *t = &sd->ts[sd->nts++];
    memset(t, 0, sizeof *t);
    t->side = sd;
    t->st = st;
    t->id = st->id;
    t->local = st->local;
    buf_init(&t->rx);
    st->user = t;
    return t;
}

static int cb_open(void *ctx, struct mplex_stream *st)
{
    struct side *sd = ctx;
    sd->opens++;
    attach(sd, st);
    if (sd->reset_in_open) {
        mplex_reset(st);
        return 0;
    }
    return sd->refuse ? -1 : 0;
}

static void cb_data(void *ctx, struct mplex_stream *st, const uint8_t *d, size_t n)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    assert_false(st->dead);
    assert_true(n > 0);
    buf_append(&t->rx, d, n);
    if (sd->echo)
        mplex_write(st, d, n);
    if (sd->reset_in_data) {
        mplex_reset(st);
        mplex_write(st, d, n);
        mplex_close(st);
    }
    if (sd->reap_in_data)
        mplex_reap(&sd->s);
}

static void cb_fin(void *ctx, struct mplex_stream *st)
{
    struct side *sd = ctx;
    ((struct tstream *)st->user)->fins++;
    if (sd->close_on_fin)
        mplex_close(st);
}

static void cb_reset(void *ctx, struct mplex_stream *st)
{
    (void)ctx;
    assert_true(st->dead);
    ((struct tstream *)st->user)->resets++;
}

static void cb_close(void *ctx, struct mplex_stream *st)
{
    struct side *sd = ctx;
    struct tstream *t = st->user;
    sd->total_closes++;
    if (t) {
        t->closes++;
        t->st = NULL;
    }
    if (sd->open_in_close)
        assert_null(mplex_open(&sd->s));
}

static const struct mplex_callbacks cbs = {
    .on_open = cb_open, .on_data = cb_data, .on_fin = cb_fin, .on_reset = cb_reset, .on_close = cb_close,
};

static const struct mplex_callbacks no_cbs = {0};

static void side_init(struct side *sd, bool client, size_t max_streams)
{
    memset(sd, 0, sizeof *sd);
    mplex_init(&sd->s, client, max_streams, &cbs, sd);
}

static void side_free(struct side *sd)
{
    mplex_free(&sd->s);
    for (size_t i = 0; i < sd->nts; i++)
        buf_free(&sd->ts[i].rx);
}

static void pair_init(struct pair *p, size_t max_chunk)
{
    memset(p, 0, sizeof *p);
    side_init(&p->c, true, 64);
    side_init(&p->sv, false, 64);
    p->rng = 0x9e3779b97f4a7c15ull;
    p->max_chunk = max_chunk;
}

static void pair_free(struct pair *p)
{
    side_free(&p->c);
    side_free(&p->sv);
}

static size_t rnd(struct pair *p, size_t n)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return (size_t)(p->rng % n);
}

/* Moves from's output into to, in chunks; false if nothing was moved. */
static bool move(struct pair *p, struct side *from, struct side *to)
{
    struct buf b = *mplex_out(&from->s); /* take it: callbacks append to a fresh one */
    buf_init(mplex_out(&from->s));
    size_t n = buf_size(&b), off = 0;
    while (off < n) {
        size_t k = n - off;
        if (p->max_chunk)
            k = 1 + rnd(p, k < p->max_chunk ? k : p->max_chunk);
        assert_int_equal(mplex_feed(&to->s, buf_head(&b) + off, k), 0);
        off += k;
    }
    buf_free(&b);
    mplex_reap(&to->s);
    return n > 0;
}

static void settle(struct pair *p)
{
    for (int i = 0; i < 1000; i++) {
        bool a = move(p, &p->c, &p->sv);
        bool b = move(p, &p->sv, &p->c);
        mplex_reap(&p->c.s);
        mplex_reap(&p->sv.s);
        if (!a && !b)
            return;
    }
    fail_msg("sessions did not settle");
}

static void expect_out(struct side *sd, const uint8_t *want, size_t n)
{
    assert_int_equal(buf_size(mplex_out(&sd->s)), n);
    assert_memory_equal(buf_head(mplex_out(&sd->s)), want, n);
    buf_reset(mplex_out(&sd->s));
}

static void feed_msg(struct side *sd, uint64_t id, uint8_t flag, const void *d, size_t n, int rc)
{
    uint8_t h[2 * UVARINT_MAX_LEN];
    size_t k = uvarint_put(h, id << 3 | flag);
    k += uvarint_put(h + k, n);
    struct buf b = BUF_INIT;
    buf_append(&b, h, k);
    buf_append(&b, d, n);
    assert_int_equal(mplex_feed(&sd->s, buf_head(&b), buf_size(&b)), rc);
    buf_free(&b);
}

/* ---- tests ---------------------------------------------------------------- */

static void message_bytes(void **state)
{
    (void)state;
    struct side c;
    side_init(&c, true, 8);
    struct mplex_stream *st = mplex_open(&c.s);
    assert_non_null(st);
    assert_int_equal(st->id, 1); /* the dialer's ids are odd */
    expect_out(&c, (const uint8_t[]){0x08, 0x00}, 2);             /* NewStream 1 */
    mplex_write(st, (const uint8_t *)"hi", 2);
    expect_out(&c, (const uint8_t[]){0x0a, 0x02, 'h', 'i'}, 4);   /* MessageInitiator */
    mplex_close(st);
    expect_out(&c, (const uint8_t[]){0x0c, 0x00}, 2);             /* CloseInitiator */
    mplex_write(st, (const uint8_t *)"x", 1);                      /* after close: dropped */
    assert_int_equal(buf_size(mplex_out(&c.s)), 0);
    struct mplex_stream *st2 = mplex_open(&c.s);
    assert_int_equal(st2->id, 3);
    buf_reset(mplex_out(&c.s));
    mplex_reset(st2);
    expect_out(&c, (const uint8_t[]){0x1e, 0x00}, 2);             /* ResetInitiator 3 */

    /* The peer's stream 1: we answer with *_RECEIVER flags. */
    feed_msg(&c, 1, MPLEX_NEW_STREAM, "name", 4, 0);
    assert_int_equal(c.opens, 1);
    struct mplex_stream *in = mplex_find(&c.s, 1, false);
    assert_non_null(in);
    assert_ptr_not_equal(in, st); /* same id, other opener */
    mplex_write(in, (const uint8_t *)"ok", 2);
    expect_out(&c, (const uint8_t[]){0x09, 0x02, 'o', 'k'}, 4);
    mplex_close(in);
    expect_out(&c, (const uint8_t[]){0x0b, 0x00}, 2);
    side_free(&c);
}

static void listener_ids_even(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    assert_int_equal(mplex_open(&sv.s)->id, 0);
    assert_int_equal(mplex_open(&sv.s)->id, 2);
    side_free(&sv);
}

/* Both sides open stream 0 and 1 and stream ids collide across openers:
 * each message reaches the right one. */
static void same_ids_both_ways(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.echo = true;
    struct mplex_stream *ours = mplex_open(&sv.s); /* id 0, ours */
    attach(&sv, ours);
    buf_reset(mplex_out(&sv.s));
    feed_msg(&sv, 0, MPLEX_NEW_STREAM, NULL, 0, 0);                 /* id 0, theirs */
    feed_msg(&sv, 0, MPLEX_MSG_INITIATOR, "to-theirs", 9, 0);
    feed_msg(&sv, 0, MPLEX_MSG_RECEIVER, "to-ours", 7, 0);
    struct tstream *theirs = mplex_find(&sv.s, 0, false)->user;
    struct tstream *mine = ours->user;
    assert_int_equal(buf_size(&theirs->rx), 9);
    assert_memory_equal(buf_head(&theirs->rx), "to-theirs", 9);
    assert_int_equal(buf_size(&mine->rx), 7);
    /* Echoes went out with the right flags: receiver on theirs, initiator on ours. */
    const uint8_t *o = buf_head(mplex_out(&sv.s));
    assert_int_equal(o[0], 0x01);
    assert_int_equal(o[11], 0x02);
    /* A close for one leaves the other open. */
    feed_msg(&sv, 0, MPLEX_CLOSE_RECEIVER, NULL, 0, 0);
    assert_int_equal(mine->fins, 1);
    assert_int_equal(theirs->fins, 0);
    side_free(&sv);
}

static void echo_in_chunks(void **state)
{
    (void)state;
    static const size_t chunks[] = {0, 1, 13, 70000}; /* 0: all at once; 1: byte by byte */
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct pair p;
        pair_init(&p, chunks[c]);
        p.sv.echo = true;
        uint8_t *big = malloc(300000);
        for (size_t i = 0; i < 300000; i++)
            big[i] = (uint8_t)(i * 7);
        struct mplex_stream *st = mplex_open(&p.c.s);
        struct tstream *t = attach(&p.c, st);
        mplex_write(st, big, 300000);
        mplex_write(st, (const uint8_t *)"tail", 4);
        settle(&p);
        assert_int_equal(buf_size(&t->rx), 300004);
        assert_memory_equal(buf_head(&t->rx), big, 300000);
        free(big);
        pair_free(&p);
    }
}

static void writev_gathers(void **state)
{
    (void)state;
    struct side c;
    side_init(&c, true, 8);
    struct mplex_stream *st = mplex_open(&c.s);
    buf_reset(mplex_out(&c.s));
    struct iovec v[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    mplex_writev(st, v, 3);
    expect_out(&c, (const uint8_t[]){0x0a, 0x05, 'a', 'b', 'c', 'd', 'e'}, 7);
    /* Over MPLEX_MAX_FRAME: cut into messages. */
    static uint8_t big[MPLEX_MAX_FRAME + 10];
    mplex_write(st, big, sizeof big);
    assert_int_equal(buf_size(mplex_out(&c.s)), 1 + 3 + MPLEX_MAX_FRAME + 1 + 1 + 10);
    side_free(&c);
}

static void half_close_then_finish(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0);
    p.sv.close_on_fin = true;
    struct mplex_stream *st = mplex_open(&p.c.s);
    struct tstream *t = attach(&p.c, st);
    mplex_write(st, (const uint8_t *)"q", 1);
    mplex_close(st);
    settle(&p);
    assert_int_equal(p.sv.ts[0].fins, 1);
    assert_int_equal(t->fins, 1);
    assert_int_equal(t->closes, 1);
    assert_int_equal(p.sv.ts[0].closes, 1);
    assert_int_equal(p.c.s.nstreams, 0);
    assert_int_equal(p.sv.s.nstreams, 0);
    pair_free(&p);
}

static void reset_both_ways_and_late_data(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    feed_msg(&sv, 5, MPLEX_NEW_STREAM, NULL, 0, 0);
    struct tstream *t = &sv.ts[0];
    feed_msg(&sv, 5, MPLEX_RESET_INITIATOR, NULL, 0, 0);
    assert_int_equal(t->resets, 1);
    mplex_reap(&sv.s);
    assert_int_equal(t->closes, 1);
    /* Late messages for it are skipped and counted. */
    feed_msg(&sv, 5, MPLEX_MSG_INITIATOR, "late", 4, 0);
    feed_msg(&sv, 5, MPLEX_CLOSE_INITIATOR, NULL, 0, 0);
    feed_msg(&sv, 99, MPLEX_RESET_RECEIVER, NULL, 0, 0);
    assert_int_equal(sv.s.unknown_msgs, 3);
    assert_int_equal(buf_size(&t->rx), 0);
    /* The id may be used again once the stream is gone. */
    feed_msg(&sv, 5, MPLEX_NEW_STREAM, NULL, 0, 0);
    assert_int_equal(sv.opens, 2);
    /* Our reset. */
    buf_reset(mplex_out(&sv.s));
    mplex_reset(sv.ts[1].st);
    expect_out(&sv, (const uint8_t[]){0x2d, 0x00}, 2); /* ResetReceiver 5 */
    side_free(&sv);
}

static void data_after_remote_close_dropped(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    feed_msg(&sv, 1, MPLEX_MSG_INITIATOR, "a", 1, 0);
    feed_msg(&sv, 1, MPLEX_CLOSE_INITIATOR, NULL, 0, 0);
    feed_msg(&sv, 1, MPLEX_MSG_INITIATOR, "b", 1, 0);
    feed_msg(&sv, 1, MPLEX_CLOSE_INITIATOR, NULL, 0, 0); /* twice: once counted */
    assert_int_equal(buf_size(&sv.ts[0].rx), 1);
    assert_int_equal(sv.ts[0].fins, 1);
    assert_non_null(sv.ts[0].st); /* our side still open */
    side_free(&sv);
}

static void stream_limit_and_goaway(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 2);
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    feed_msg(&sv, 3, MPLEX_NEW_STREAM, NULL, 0, 0);
    buf_reset(mplex_out(&sv.s));
    feed_msg(&sv, 5, MPLEX_NEW_STREAM, "n", 1, 0);
    expect_out(&sv, (const uint8_t[]){0x2d, 0x00}, 2); /* refused: ResetReceiver 5 */
    feed_msg(&sv, 5, MPLEX_MSG_INITIATOR, "x", 1, 0);  /* skipped */
    assert_int_equal(sv.opens, 2);
    assert_null(mplex_open(&sv.s));                    /* our own count is the same limit */
    mplex_reset(sv.ts[0].st);
    mplex_reap(&sv.s);
    buf_reset(mplex_out(&sv.s));
    mplex_goaway(&sv.s);
    feed_msg(&sv, 7, MPLEX_NEW_STREAM, NULL, 0, 0);
    expect_out(&sv, (const uint8_t[]){0x3d, 0x00}, 2);
    assert_null(mplex_open(&sv.s));
    side_free(&sv);
}

static void refuse_and_reset_in_open(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.refuse = true;
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    expect_out(&sv, (const uint8_t[]){0x0d, 0x00}, 2);
    sv.refuse = false;
    sv.reset_in_open = true;
    feed_msg(&sv, 3, MPLEX_NEW_STREAM, NULL, 0, 0);
    expect_out(&sv, (const uint8_t[]){0x1d, 0x00}, 2); /* one reset only */
    mplex_reap(&sv.s);
    assert_int_equal(sv.total_closes, 2);
    side_free(&sv);

    /* No callbacks at all: inbound streams are refused. */
    struct mplex_session s;
    mplex_init(&s, false, 8, &no_cbs, NULL);
    uint8_t m[] = {0x08, 0x00};
    assert_int_equal(mplex_feed(&s, m, 2), 0);
    assert_int_equal(buf_size(mplex_out(&s)), 2);
    mplex_free(&s);
}

static void reset_in_data_and_deferred_reap(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    sv.reset_in_data = true;
    sv.reap_in_data = true;
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    buf_reset(mplex_out(&sv.s));
    /* The rest of the payload after the reset is skipped; the stream is not
     * freed inside the feed. */
    uint8_t msg[] = {0x0a, 0x04, 'a', 'b', 'c', 'd'};
    assert_int_equal(mplex_feed(&sv.s, msg, 3), 0);
    assert_int_equal(sv.ts[0].closes, 0);
    assert_int_equal(mplex_feed(&sv.s, msg + 3, 3), 0);
    expect_out(&sv, (const uint8_t[]){0x0d, 0x00}, 2);
    assert_int_equal(buf_size(&sv.ts[0].rx), 1);
    mplex_reap(&sv.s);
    assert_int_equal(sv.ts[0].closes, 1);
    side_free(&sv);
}

static void big_messages(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 8);
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    uint8_t *big = calloc(1, MPLEX_MAX_MSG + 1);
    feed_msg(&sv, 1, MPLEX_MSG_INITIATOR, big, MPLEX_MAX_MSG, 0); /* 1 MiB: fine */
    assert_int_equal(buf_size(&sv.ts[0].rx), MPLEX_MAX_MSG);
    feed_msg(&sv, 1, MPLEX_MSG_INITIATOR, big, MPLEX_MAX_MSG + 1, -1);
    assert_string_equal(sv.s.error, "mplex message over 1 MiB");
    assert_int_equal(buf_size(&sv.ts[0].rx), MPLEX_MAX_MSG);
    free(big);
    side_free(&sv);
}

static void errors(void **state)
{
    (void)state;
    struct side sv;
    /* Unknown flag. */
    side_init(&sv, false, 8);
    feed_msg(&sv, 1, 7, NULL, 0, -1);
    assert_string_equal(sv.s.error, "unknown mplex flag");
    assert_int_equal(mplex_feed(&sv.s, (const uint8_t[]){0x08, 0x00}, 2), -1); /* stays failed */
    side_free(&sv);
    /* NewStream on a live id. */
    side_init(&sv, false, 8);
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, 0);
    feed_msg(&sv, 1, MPLEX_NEW_STREAM, NULL, 0, -1);
    assert_string_equal(sv.s.error, "NewStream on a live stream id");
    side_free(&sv);
    /* Non-minimal varint, and one of ten bytes. */
    side_init(&sv, false, 8);
    assert_int_equal(mplex_feed(&sv.s, (const uint8_t[]){0x88, 0x00, 0x00}, 3), -1);
    side_free(&sv);
    side_init(&sv, false, 8);
    uint8_t ten[10];
    memset(ten, 0xff, 9);
    ten[9] = 0x01;
    assert_int_equal(mplex_feed(&sv.s, ten, 10), -1);
    assert_string_equal(sv.s.error, "malformed mplex header");
    side_free(&sv);
    /* The largest id is fine. */
    side_init(&sv, false, 8);
    feed_msg(&sv, MPLEX_MAX_ID, MPLEX_NEW_STREAM, NULL, 0, 0);
    assert_non_null(mplex_find(&sv.s, MPLEX_MAX_ID, false));
    side_free(&sv);
}

static void header_split_everywhere(void **state)
{
    (void)state;
    /* A long header (9-byte id varint, 3-byte length) cut at every point. */
    uint8_t msg[64];
    size_t k = uvarint_put(msg, (MPLEX_MAX_ID - 3) << 3 | MPLEX_NEW_STREAM);
    k += uvarint_put(msg + k, 0);
    size_t m = uvarint_put(msg + k, (MPLEX_MAX_ID - 3) << 3 | MPLEX_MSG_INITIATOR);
    m += uvarint_put(msg + k + m, 20000);
    size_t total = k + m + 20000;
    uint8_t *all = calloc(1, total);
    memcpy(all, msg, k + m);
    all[total - 1] = 0x5a;
    for (size_t cut = 1; cut < k + m + 2; cut++) {
        struct side sv;
        side_init(&sv, false, 8);
        assert_int_equal(mplex_feed(&sv.s, all, cut), 0);
        assert_int_equal(mplex_feed(&sv.s, all + cut, total - cut), 0);
        assert_int_equal(sv.opens, 1);
        assert_int_equal(buf_size(&sv.ts[0].rx), 20000);
        assert_int_equal(buf_head(&sv.ts[0].rx)[19999], 0x5a);
        side_free(&sv);
    }
    free(all);
}

static void free_calls_on_close_once(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p, 0);
    p.c.open_in_close = true;
    for (int i = 0; i < 5; i++)
        attach(&p.c, mplex_open(&p.c.s));
    settle(&p);
    mplex_reset(p.c.ts[0].st); /* one on the dead list, four live */
    side_free(&p.c);
    assert_int_equal(p.c.total_closes, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(p.c.ts[i].closes, 1);
    side_free(&p.sv);
}

static void next_walks_in_order(void **state)
{
    (void)state;
    struct side sv;
    side_init(&sv, false, 16);
    mplex_open(&sv.s); /* 0, ours: pos 2 */
    feed_msg(&sv, 0, MPLEX_NEW_STREAM, NULL, 0, 0); /* 0, theirs: pos 1 */
    feed_msg(&sv, 9, MPLEX_NEW_STREAM, NULL, 0, 0);
    uint64_t pos = 0, seen[3];
    int n = 0;
    struct mplex_stream *st;
    while ((st = mplex_next(&sv.s, pos)) != NULL) {
        pos = mplex_pos(st);
        seen[n++] = pos;
    }
    assert_int_equal(n, 3);
    assert_true(seen[0] == 1 && seen[1] == 2 && seen[2] == 19);
    side_free(&sv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_bytes),
        cmocka_unit_test(listener_ids_even),
        cmocka_unit_test(same_ids_both_ways),
        cmocka_unit_test(echo_in_chunks),
        cmocka_unit_test(writev_gathers),
        cmocka_unit_test(half_close_then_finish),
        cmocka_unit_test(reset_both_ways_and_late_data),
        cmocka_unit_test(data_after_remote_close_dropped),
        cmocka_unit_test(stream_limit_and_goaway),
        cmocka_unit_test(refuse_and_reset_in_open),
        cmocka_unit_test(reset_in_data_and_deferred_reap),
        cmocka_unit_test(big_messages),
        cmocka_unit_test(errors),
        cmocka_unit_test(header_split_everywhere),
        cmocka_unit_test(free_calls_on_close_once),
        cmocka_unit_test(next_walks_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
