/* Fuzzes a yamux session with arbitrary peer bytes.
 *
 * Input: byte 0 picks the role and the owner's habits, byte 1 the stream
 * limit, byte 2 how the rest is split into feeds, byte 3 seeds the chunk
 * sizes; the rest is what the peer sends. With the top bit of byte 2 set the
 * rest is a list of records instead: literal chunks, each fed in one call
 * (so the fuzzer picks the split points), and runs of filler bytes, so that
 * more than a window's worth of data fits in a small input. The callbacks
 * echo, close, reset,
 * open and ping depending on the bytes they are given, so every re-entry the
 * API allows is exercised. After each feed the session's invariants are
 * checked and the frames we queued are parsed; at the end every stream the
 * owner saw must have had on_close exactly once (ASan sees the rest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "yamux/yamux.h"
#include "fuzz_check.h"

#define FS_MAGIC 0x59414d58u

enum {
    CFG_CLIENT = 1,        /* run the client role (peer opens even ids) */
    CFG_OPEN_FIRST = 2,    /* open two streams of our own before feeding */
    CFG_CLOSE_ON_FIN = 4,  /* answer FIN with FIN */
    CFG_WRITE_ON_OPEN = 8, /* reply from on_open */
    CFG_FILL_WRITABLE = 16, /* write more from on_writable */
    CFG_REAP_OFTEN = 32,   /* reap after every feed (else only at the end) */
};

struct fuzz_owner {
    struct yamux_session s;
    uint8_t cfg;
    size_t live_users; /* fstreams allocated and not yet closed */
    size_t opened;
};

#define FZ_FILLER_MAX (1024u * 1024) /* filler bytes per input: four windows */

static const uint8_t fz_zeros[YAMUX_MAX_FRAME];

struct fstream {
    uint32_t magic;
    uint32_t id;
    size_t received;
};

static void fz_attach(struct fuzz_owner *o, struct yamux_stream *st)
{
    struct fstream *f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    f->magic = FS_MAGIC;
    f->id = st->id;
    st->user = f;
    o->live_users++;
    o->opened++;
}

static void fz_open_own(struct fuzz_owner *o, const uint8_t *d, size_t n)
{
    struct yamux_stream *st = yamux_open(&o->s);
    if (st == NULL)
        return;
    CHECK(st->id % 2 == (o->s.client ? 1u : 0u));
    fz_attach(o, st);
    yamux_write(st, d, n);
}

static int fz_on_open(void *ctx, struct yamux_stream *st)
{
    struct fuzz_owner *o = ctx;
    CHECK(st->user == NULL && !st->dead && st->need_ack);
    CHECK(yamux_find(&o->s, st->id) == st);
    fz_attach(o, st);
    if (o->cfg & CFG_WRITE_ON_OPEN)
        yamux_write(st, (const uint8_t *)"hi", 2);
    switch ((st->id >> 1) % 8) {
    case 0:
        return -1;
    case 1:
        yamux_reset(st);
        return 0;
    case 2:
        yamux_close(st);
        return 0;
    default:
        return 0;
    }
}

static void fz_on_data(void *ctx, struct yamux_stream *st, const uint8_t *d, size_t n)
{
    struct fuzz_owner *o = ctx;
    struct fstream *f = st->user;
    CHECK(f != NULL && f->magic == FS_MAGIC && f->id == st->id);
    CHECK(!st->dead && !st->remote_fin && n > 0);
    f->received += n;
    switch (d[0] % 11) {
    case 0: /* echo, gathered from two parts when there are two */
        if (n > 1) {
            struct iovec v[3] = {{(void *)d, 1}, {(void *)(d + 1), 0}, {(void *)(d + 1), n - 1}};
            yamux_writev(st, v, 3);
        } else {
            yamux_write(st, d, n);
        }
        break;
    case 1: /* amplify, so the send window runs out and pending fills; only
             * while nothing is pending, as an owner bounding its queue would */
        if (yamux_pending(st) == 0)
            for (int i = 0; i < 1 + d[0] % 7; i++)
                yamux_write(st, fz_zeros, sizeof fz_zeros);
        yamux_write(st, d, n);
        break;
    case 2:
        yamux_write(st, d, n);
        yamux_close(st);
        yamux_write(st, d, n); /* ignored after FIN */
        break;
    case 3:
        yamux_reset(st);
        yamux_write(st, d, n); /* ignored on a dead stream */
        yamux_close(st);
        break;
    case 4:
        fz_open_own(o, d, n);
        break;
    case 5:
        yamux_ping(&o->s, (uint32_t)n);
        break;
    case 6:
        yamux_goaway(&o->s, YAMUX_GOAWAY_NORMAL);
        break;
    case 7:
        yamux_reap(&o->s); /* must wait until the feed returns */
        break;
    case 8:
        if (d[0] == 0xf8) { /* misuse: feeding from a callback fails the session */
            CHECK(yamux_feed(&o->s, d, n) == -1);
            CHECK(o->s.error != NULL);
        } else {
            yamux_set_held(st, 0); /* what was held is released (granted) */
        }
        break;
    case 9: /* hold what came (not granted back until released) */
        yamux_set_held(st, st->held + n);
        break;
    default:
        break;
    }
}

static void fz_on_fin(void *ctx, struct yamux_stream *st)
{
    struct fuzz_owner *o = ctx;
    CHECK(st->user != NULL && !st->dead && st->remote_fin);
    if (o->cfg & CFG_CLOSE_ON_FIN)
        yamux_close(st);
}

static void fz_on_reset(void *ctx, struct yamux_stream *st)
{
    (void)ctx;
    CHECK(st->user != NULL && st->dead && st->reset);
    yamux_write(st, (const uint8_t *)"x", 1);
    yamux_reset(st);
}

static void fz_on_writable(void *ctx, struct yamux_stream *st)
{
    struct fuzz_owner *o = ctx;
    CHECK(st->user != NULL && !st->dead && !st->local_fin);
    if ((o->cfg & CFG_FILL_WRITABLE) && yamux_pending(st) == 0) {
        static const uint8_t more[1000];
        yamux_write(st, more, sizeof more);
    }
}

static void fz_on_close(void *ctx, struct yamux_stream *st)
{
    struct fuzz_owner *o = ctx;
    struct fstream *f = st->user;
    CHECK(st->dead);
    CHECK(f != NULL && f->magic == FS_MAGIC && f->id == st->id);
    f->magic = 0;
    free(f);
    st->user = NULL;
    CHECK(o->live_users > 0);
    o->live_users--;
}

static void fz_on_goaway(void *ctx, uint32_t code)
{
    struct fuzz_owner *o = ctx;
    (void)code;
    CHECK(o->s.goaway_recv);
}

static void fz_on_pong(void *ctx, uint32_t opaque)
{
    (void)ctx;
    (void)opaque;
}

static const struct yamux_callbacks fz_cb = {
    .on_open = fz_on_open,
    .on_data = fz_on_data,
    .on_fin = fz_on_fin,
    .on_reset = fz_on_reset,
    .on_writable = fz_on_writable,
    .on_close = fz_on_close,
    .on_goaway = fz_on_goaway,
    .on_pong = fz_on_pong,
};

static uint32_t fz_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Our output must be whole, well-formed frames; it is dropped afterwards. */
static void fz_check_out(struct fuzz_owner *o)
{
    size_t n = buf_size(yamux_out(&o->s)), off = 0;
    if (n == 0)
        return; /* buf_head of a never-used buffer is NULL + 0 */
    const uint8_t *p = buf_head(yamux_out(&o->s));
    while (off < n) {
        CHECK(n - off >= YAMUX_HEADER_LEN);
        CHECK(p[off] == 0 && p[off + 1] <= YAMUX_GO_AWAY);
        uint32_t id = fz_be32(p + off + 4), len = fz_be32(p + off + 8);
        if (p[off + 1] == YAMUX_PING || p[off + 1] == YAMUX_GO_AWAY)
            CHECK(id == 0);
        else
            CHECK(id != 0);
        off += YAMUX_HEADER_LEN;
        if (p[off - YAMUX_HEADER_LEN + 1] == YAMUX_DATA) {
            CHECK(len <= YAMUX_MAX_FRAME && n - off >= len);
            off += len;
        }
    }
    buf_reset(yamux_out(&o->s));
}

static void fz_check_session(struct fuzz_owner *o)
{
    struct yamux_session *s = &o->s;
    struct yamux_stream *st;
    size_t count = 0;
    CHECK(s->busy == 0 && s->hdr_len < YAMUX_HEADER_LEN);
    size_t pending = 0;
    for (size_t i = 0; i < s->nstreams; i++) {
        st = s->streams[i];
        pending += yamux_pending(st);
        CHECK(st->pending == NULL || buf_size(st->pending) > 0); /* only while it holds data */
        CHECK(i == 0 || s->streams[i - 1]->id < st->id);
        count++;
        CHECK(!st->dead && st->sess == s && st->user != NULL);
        CHECK(!st->need_ack);
        if (yamux_pending(st) > 0)
            CHECK(st->send_window == 0);
        if (st->fin_pending)
            CHECK(st->local_fin && yamux_pending(st) > 0);
        uint64_t in_flight = s->rx_stream == st ? s->rx_remaining : 0;
        CHECK((uint64_t)st->recv_window + st->recv_unacked + st->held + in_flight <= YAMUX_WINDOW);
        CHECK(!(st->local_fin && st->remote_fin && !st->fin_pending));
    }
    CHECK(count == s->nstreams && s->nstreams <= s->streams_cap);
    CHECK(pending == s->pending_bytes);
    CHECK(count <= s->max_streams);
    size_t seen = 0; /* the dead list may be long between reaps: sample it */
    for (st = s->dead; st != NULL && seen++ < 32; st = st->next_dead) {
        CHECK(st->dead && yamux_find(s, st->id) != st);
        CHECK(yamux_pending(st) == 0);
    }
    if (s->rx_stream != NULL)
        CHECK(s->rx_remaining > 0);
    if (s->error != NULL)
        CHECK(s->goaway_sent);
}

/* One feed of exactly k bytes from p (a heap copy, so ASan catches reads past
 * it), then the checks. Returns the feed's result. */
static int fz_feed(struct fuzz_owner *o, const uint8_t *p, size_t k, int prev)
{
    uint8_t *chunk = malloc(k ? k : 1);
    CHECK(chunk != NULL);
    if (k)
        memcpy(chunk, p, k);
    int r = yamux_feed(&o->s, chunk, k);
    free(chunk);
    CHECK(r == 0 || r == -1);
    if (prev == -1)
        CHECK(r == -1); /* errors stick */
    if (r == -1)
        CHECK(o->s.error != NULL);
    fz_check_session(o);
    fz_check_out(o);
    if (o->cfg & CFG_REAP_OFTEN)
        yamux_reap(&o->s);
    return r;
}

/* Raw mode: the bytes split by a small PRNG (split 0: at once, 1: bytewise). */
static void fz_raw(struct fuzz_owner *o, const uint8_t *d, size_t n, uint8_t split, uint32_t rng)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < n) {
        size_t k = n - pos;
        if (split == 1) {
            k = 1;
        } else if (split > 1) {
            rng = rng * 1103515245u + 12345u;
            size_t want = 1 + (size_t)(rng >> 8) % ((size_t)split * 4);
            if (want < k)
                k = want;
        }
        rc = fz_feed(o, d + pos, k, rc);
        pos += k;
    }
}

/* Record mode: op < 0x80 feeds the next op+1 bytes as one chunk; op >= 0x80
 * feeds ((op & 0x7f) + 1) * 2 KiB copies of the next byte, 4 KiB per feed. */
static void fz_records(struct fuzz_owner *o, const uint8_t *d, size_t n)
{
    uint8_t fill[4096];
    size_t pos = 0, filler = 0;
    int rc = 0;
    while (pos < n) {
        uint8_t op = d[pos++];
        if (op < 0x80) {
            size_t k = (size_t)op + 1;
            if (k > n - pos)
                k = n - pos;
            rc = fz_feed(o, d + pos, k, rc);
            pos += k;
            continue;
        }
        if (pos >= n)
            break;
        size_t total = ((size_t)(op & 0x7f) + 1) * 2048;
        memset(fill, d[pos++], sizeof fill);
        if (total > FZ_FILLER_MAX - filler)
            total = FZ_FILLER_MAX - filler;
        filler += total;
        while (total > 0) {
            size_t k = total < sizeof fill ? total : sizeof fill;
            rc = fz_feed(o, fill, k, rc);
            total -= k;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    struct fuzz_owner o;
    memset(&o, 0, sizeof o);
    o.cfg = data[0];
    yamux_init(&o.s, (o.cfg & CFG_CLIENT) != 0, data[1] % 17, &fz_cb, &o);
    if (o.cfg & CFG_OPEN_FIRST) {
        fz_open_own(&o, (const uint8_t *)"req", 3);
        fz_open_own(&o, NULL, 0);
    }
    fz_check_out(&o);

    if (data[2] & 0x80)
        fz_records(&o, data + 4, size - 4);
    else
        fz_raw(&o, data + 4, size - 4, data[2], (uint32_t)data[3] * 2654435761u + 1);

    yamux_reap(&o.s);
    CHECK(o.s.dead == NULL);
    CHECK(o.live_users == o.s.nstreams);
    yamux_free(&o.s);
    CHECK(o.live_users == 0);
    return 0;
}
