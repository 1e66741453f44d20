/* Fuzzes an mplex session with arbitrary peer bytes.
 *
 * Input: byte 0 picks the role and the owner's habits, byte 1 the stream
 * limit, byte 2 how the rest is split into feeds (0: in one call), then the
 * bytes the peer sends. The callbacks echo, close, reset and open depending
 * on what they are given, so every re-entry the API allows is exercised.
 * After each feed the session's invariants are checked and the messages we
 * queued are parsed back (well formed, *_RECEIVER flags only on streams the
 * peer opened); at the end every stream the owner saw must have had
 * on_close exactly once (ASan sees the rest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/varint.h"
#include "mplex/mplex.h"
#include "fuzz_check.h"

#define FS_MAGIC 0x4d504c58u

enum {
    CFG_CLIENT = 1,        /* the dialer's role (our ids odd) */
    CFG_OPEN_FIRST = 2,    /* open two streams of our own before feeding */
    CFG_CLOSE_ON_FIN = 4,  /* answer a close with a close */
    CFG_REAP_OFTEN = 8,    /* reap after every feed (else only at the end) */
    CFG_GOAWAY = 16,       /* go away half-way */
};

struct fuzz_owner {
    struct mplex_session s;
    uint8_t cfg;
    size_t live_users;
};

struct fstream {
    uint32_t magic;
    uint64_t id;
    bool local;
    size_t received;
};

static void fz_attach(struct fuzz_owner *o, struct mplex_stream *st)
{
    struct fstream *f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    f->magic = FS_MAGIC;
    f->id = st->id;
    f->local = st->local;
    st->user = f;
    o->live_users++;
}

static void fz_open_own(struct fuzz_owner *o, const uint8_t *d, size_t n)
{
    struct mplex_stream *st = mplex_open(&o->s);
    if (st == NULL)
        return;
    CHECK(st->local && st->id % 2 == (o->s.client ? 1u : 0u));
    CHECK(mplex_find(&o->s, st->id, true) == st);
    fz_attach(o, st);
    mplex_write(st, d, n);
}

static int fz_on_open(void *ctx, struct mplex_stream *st)
{
    struct fuzz_owner *o = ctx;
    CHECK(st->user == NULL && !st->dead && !st->local);
    CHECK(mplex_find(&o->s, st->id, false) == st);
    fz_attach(o, st);
    switch (st->id % 8) {
    case 5:
        return -1; /* refused */
    case 6:
        mplex_reset(st);
        return 0;
    case 7:
        fz_open_own(o, (const uint8_t *)"x", 1);
        return 0;
    default:
        return 0;
    }
}

static void fz_on_data(void *ctx, struct mplex_stream *st, const uint8_t *d, size_t n)
{
    struct fuzz_owner *o = ctx;
    struct fstream *f = st->user;
    CHECK(f && f->magic == FS_MAGIC && !st->dead && !st->remote_fin && n > 0);
    CHECK(n <= MPLEX_MAX_MSG);
    f->received += n;
    switch (d[0] % 8) {
    case 0:
        mplex_write(st, d, n);
        break;
    case 1:
        mplex_close(st);
        mplex_write(st, d, n); /* ignored */
        break;
    case 2:
        mplex_reset(st);
        mplex_write(st, d, n); /* ignored */
        mplex_close(st);
        break;
    case 3:
        fz_open_own(o, d, n < 16 ? n : 16);
        break;
    case 4:
        mplex_reap(&o->s); /* deferred inside a feed */
        break;
    default:
        break;
    }
}

static void fz_on_fin(void *ctx, struct mplex_stream *st)
{
    struct fuzz_owner *o = ctx;
    CHECK(st->remote_fin && !st->dead);
    if (o->cfg & CFG_CLOSE_ON_FIN)
        mplex_close(st);
}

static void fz_on_reset(void *ctx, struct mplex_stream *st)
{
    (void)ctx;
    CHECK(st->dead && st->reset);
}

static void fz_on_close(void *ctx, struct mplex_stream *st)
{
    struct fuzz_owner *o = ctx;
    struct fstream *f = st->user;
    CHECK(st->dead);
    if (f == NULL)
        return;
    CHECK(f->magic == FS_MAGIC && f->id == st->id && f->local == st->local);
    f->magic = 0;
    free(f);
    st->user = NULL;
    CHECK(o->live_users > 0);
    o->live_users--;
}

static const struct mplex_callbacks fz_cbs = {
    .on_open = fz_on_open, .on_data = fz_on_data, .on_fin = fz_on_fin,
    .on_reset = fz_on_reset, .on_close = fz_on_close,
};

/* Our output: whole, well-formed messages with flags that fit who opened. */
static void fz_check_out(struct fuzz_owner *o)
{
    const uint8_t *p = buf_head(mplex_out(&o->s));
    size_t n = buf_size(mplex_out(&o->s)), off = 0;
    while (off < n) {
        uint64_t h, len;
        int a = uvarint_get(p + off, n - off, &h);
        CHECK(a > 0);
        int b = uvarint_get(p + off + a, n - off - (size_t)a, &len);
        CHECK(b > 0);
        uint8_t flag = (uint8_t)(h & 7);
        CHECK(flag <= MPLEX_RESET_INITIATOR);
        CHECK(len <= MPLEX_MAX_FRAME);
        CHECK(flag == MPLEX_NEW_STREAM || flag == MPLEX_MSG_RECEIVER || flag == MPLEX_MSG_INITIATOR || len == 0);
        off += (size_t)a + (size_t)b + len;
        CHECK(off <= n);
    }
    buf_reset(mplex_out(&o->s));
}

static void fz_check_session(struct fuzz_owner *o)
{
    struct mplex_session *s = &o->s;
    CHECK(s->busy == 0);
    CHECK(s->nstreams <= s->max_streams);
    uint64_t prev = 0;
    for (size_t i = 0; i < s->nstreams; i++) {
        struct mplex_stream *st = s->streams[i];
        CHECK(!st->dead && !(st->local_fin && st->remote_fin));
        CHECK(mplex_pos(st) > prev);
        prev = mplex_pos(st);
    }
    if (s->error == NULL)
        CHECK(s->hdr_len < sizeof(s->hdr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct fuzz_owner o;
    memset(&o, 0, sizeof o);
    o.cfg = data[0];
    size_t max_streams = 1 + data[1] % 16, split = data[2];
    data += 3;
    size = size - 3;
    mplex_init(&o.s, o.cfg & CFG_CLIENT, max_streams, &fz_cbs, &o);
    if (o.cfg & CFG_OPEN_FIRST) {
        fz_open_own(&o, (const uint8_t *)"a", 1);
        fz_open_own(&o, (const uint8_t *)"b", 1);
    }
    fz_check_out(&o);
    size_t off = 0, step = split ? split : size;
    while (off < size && o.s.error == NULL) {
        size_t k = size - off < step ? size - off : step;
        mplex_feed(&o.s, data + off, k);
        off += k;
        fz_check_session(&o);
        fz_check_out(&o);
        if (o.cfg & CFG_REAP_OFTEN)
            mplex_reap(&o.s);
        if ((o.cfg & CFG_GOAWAY) && off * 2 >= size) {
            mplex_goaway(&o.s);
            CHECK(mplex_open(&o.s) == NULL);
        }
    }
    mplex_reap(&o.s);
    mplex_free(&o.s);
    CHECK(o.live_users == 0);
    return 0;
}
