/* mplex session. The contract is in mplex.h; the notes here are about how it
 * is kept.
 *
 * A stream is live while it is in the table. When it finishes it leaves the
 * table at once - so its id reads as unknown and late messages for it are
 * skipped - and waits on the dead list until mplex_reap, so pointers held up
 * the stack stay valid for the rest of the call. Payloads are never
 * buffered: they are handed to the stream (or skipped) as they arrive, so a
 * session holds at most one partial header of input. */
#include "mplex/mplex.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/varint.h"

static size_t mplex__min(size_t a, size_t b) { return a < b ? a : b; }

struct buf *mplex_out(struct mplex_session *s) { return buf_held(&s->out); }

void mplex_out_release(struct mplex_session *s) { buf_held_release(&s->out); }

static void mplex__frame(struct mplex_session *s, uint8_t flag, uint64_t id, size_t len)
{
    struct buf *out = mplex_out(s);
    uint8_t *p = buf_reserve(out, 2 * UVARINT_MAX_LEN);
    size_t k = uvarint_put(p, id << 3 | flag);
    k += uvarint_put(p + k, len);
    buf_commit(out, k);
}

/* The flag for a message of `kind` (MPLEX_*_RECEIVER) on st: the stream's
 * opener writes the *_INITIATOR one, one above. */
static uint8_t mplex__flag(const struct mplex_stream *st, uint8_t kind)
{
    return (uint8_t)(kind + (st->local ? 1 : 0));
}

static int mplex__fail(struct mplex_session *s, const char *why)
{
    if (s->error == NULL) {
        s->error = why;
        s->rx_stream = NULL;
        s->rx_remaining = 0;
    }
    return -1;
}

/* Live streams sit in an array sorted by mplex_pos and searched by
 * bisection, as in yamux: a connection usually carries one or two. */
static size_t mplex__slot(const struct mplex_session *s, uint64_t pos)
{
    size_t lo = 0, hi = s->nstreams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mplex_pos(s->streams[mid]) < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct mplex_stream *mplex__new(struct mplex_session *s, uint64_t id, bool local)
{
    struct mplex_stream *st = xcalloc(1, sizeof *st);
    st->id = id;
    st->local = local;
    st->sess = s;
    if (s->nstreams == s->streams_cap) {
        s->streams_cap = s->streams_cap ? s->streams_cap * 2 : 2;
        s->streams = xrealloc(s->streams, s->streams_cap * sizeof(*s->streams));
    }
    size_t i = mplex__slot(s, mplex_pos(st));
    memmove(s->streams + i + 1, s->streams + i, (s->nstreams - i) * sizeof(*s->streams));
    s->streams[i] = st;
    s->nstreams++;
    return st;
}

/* Moves st from the table to the dead list; nothing is sent. */
static void mplex__kill(struct mplex_stream *st)
{
    struct mplex_session *s = st->sess;
    if (st->dead)
        return;
    st->dead = true;
    size_t i = mplex__slot(s, mplex_pos(st));
    memmove(s->streams + i, s->streams + i + 1, (s->nstreams - i - 1) * sizeof(*s->streams));
    if (--s->nstreams == 0) {
        free(s->streams);
        s->streams = NULL;
        s->streams_cap = 0;
    }
    st->next_dead = s->dead;
    s->dead = st;
}

static void mplex__maybe_done(struct mplex_stream *st)
{
    if (st->local_fin && st->remote_fin)
        mplex__kill(st);
}

/* NewStream from the peer. Its payload (the stream's name) is skipped. */
static void mplex__open_inbound(struct mplex_session *s, uint64_t id)
{
    if (mplex_find(s, id, false) != NULL) {
        mplex__fail(s, "NewStream on a live stream id");
        return;
    }
    if (s->closed || s->nstreams >= s->max_streams) {
        mplex__frame(s, MPLEX_RESET_RECEIVER, id, 0);
        return;
    }
    struct mplex_stream *st = mplex__new(s, id, false);
    int rc = s->cb->on_open ? s->cb->on_open(s->ctx, st) : -1;
    if (rc != 0)
        mplex_reset(st); /* no-op if on_open reset it already */
}

static void mplex__remote_close(struct mplex_stream *st)
{
    struct mplex_session *s = st->sess;
    if (st->remote_fin)
        return;
    st->remote_fin = true;
    if (s->cb->on_fin)
        s->cb->on_fin(s->ctx, st);
    if (!st->dead)
        mplex__maybe_done(st);
}

static void mplex__remote_reset(struct mplex_stream *st)
{
    struct mplex_session *s = st->sess;
    st->reset = true;
    mplex__kill(st);
    if (s->cb->on_reset)
        s->cb->on_reset(s->ctx, st);
}

/* A whole header: sets up rx_* so the payload that follows goes to its
 * stream, or is skipped. */
static void mplex__message(struct mplex_session *s, uint64_t header, uint64_t len)
{
    uint8_t flag = (uint8_t)(header & 7);
    uint64_t id = header >> 3;

    if (flag > MPLEX_RESET_INITIATOR) {
        mplex__fail(s, "unknown mplex flag");
        return;
    }
    if (len > MPLEX_MAX_MSG) {
        mplex__fail(s, "mplex message over 1 MiB");
        return;
    }
    s->rx_stream = NULL;
    s->rx_remaining = (uint32_t)len;
    s->rx_flag = flag;
    if (flag == MPLEX_NEW_STREAM) {
        mplex__open_inbound(s, id);
        return;
    }
    /* The peer writes *_RECEIVER (odd) flags on streams we opened. */
    struct mplex_stream *st = mplex_find(s, id, (flag & 1) != 0);
    if (st == NULL) {
        s->unknown_msgs++; /* late (we reset or finished it) or bogus: skipped */
        return;
    }
    switch (flag) {
    case MPLEX_MSG_RECEIVER:
    case MPLEX_MSG_INITIATOR:
        if (!st->remote_fin)
            s->rx_stream = st; /* data after the peer's close is dropped */
        return;
    case MPLEX_CLOSE_RECEIVER:
    case MPLEX_CLOSE_INITIATOR:
        mplex__remote_close(st);
        return;
    default:
        mplex__remote_reset(st);
        return;
    }
}

static void mplex__deliver(struct mplex_session *s, const uint8_t *d, size_t n)
{
    struct mplex_stream *st = s->rx_stream;
    if (st == NULL || st->dead || st->remote_fin)
        return;
    if (s->cb->on_data)
        s->cb->on_data(s->ctx, st, d, n);
}

void mplex_init(struct mplex_session *s, bool client, size_t max_streams,
                const struct mplex_callbacks *cb, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->client = client;
    s->next_id = client ? 1 : 0;
    s->max_streams = max_streams < UINT32_MAX ? (uint32_t)max_streams : UINT32_MAX - 1;
    s->out = NULL;
    s->streams = NULL;
    s->dead = NULL;
    s->rx_stream = NULL;
    s->cb = cb;
    s->ctx = ctx;
    s->error = NULL;
}

int mplex_feed(struct mplex_session *s, const uint8_t *d, size_t n)
{
    if (s->error != NULL)
        return -1;
    if (s->busy)
        return mplex__fail(s, "mplex_feed called from a callback");
    s->busy++;
    while (n > 0 && s->error == NULL) {
        if (s->rx_remaining > 0) {
            size_t k = mplex__min(n, s->rx_remaining);
            s->rx_remaining -= (uint32_t)k;
            mplex__deliver(s, d, k);
            d += k;
            n -= k;
            if (s->rx_remaining == 0)
                s->rx_stream = NULL;
            continue;
        }
        /* Copy what may be header, parse, then give back what was payload. */
        size_t before = s->hdr_len;
        size_t k = mplex__min(n, sizeof(s->hdr) - before);
        memcpy(s->hdr + before, d, k);
        s->hdr_len = (uint8_t)(before + k);
        uint64_t header, len;
        int a = uvarint_get(s->hdr, s->hdr_len, &header);
        int b = a > 0 ? uvarint_get(s->hdr + a, s->hdr_len - (size_t)a, &len) : 0;
        if (a < 0 || b < 0) {
            mplex__fail(s, "malformed mplex header");
            break;
        }
        if (b == 0) { /* incomplete: all of it was header */
            d += k;
            n -= k;
            continue;
        }
        size_t used = (size_t)a + (size_t)b - before;
        d += used;
        n -= used;
        s->hdr_len = 0;
        mplex__message(s, header, len);
    }
    s->busy--;
    return s->error != NULL ? -1 : 0;
}

struct mplex_stream *mplex_open(struct mplex_session *s)
{
    if (s->error != NULL || s->closed || s->next_id > MPLEX_MAX_ID ||
        s->nstreams >= s->max_streams)
        return NULL;
    uint64_t id = s->next_id;
    s->next_id += 2; /* ids are never reused; past MPLEX_MAX_ID none are left */
    struct mplex_stream *st = mplex__new(s, id, true);
    mplex__frame(s, MPLEX_NEW_STREAM, id, 0);
    return st;
}

void mplex_writev(struct mplex_stream *st, const struct iovec *v, size_t n)
{
    size_t total = 0, i = 0, off = 0;
    for (size_t j = 0; j < n; j++)
        total += v[j].iov_len;
    if (st->dead || st->local_fin)
        return;
    struct buf *out = mplex_out(st->sess);
    while (total > 0) {
        size_t k = mplex__min(total, MPLEX_MAX_FRAME);
        mplex__frame(st->sess, mplex__flag(st, MPLEX_MSG_RECEIVER), st->id, k);
        total -= k;
        while (k > 0) {
            size_t m = mplex__min(k, v[i].iov_len - off);
            buf_append(out, (const uint8_t *)v[i].iov_base + off, m);
            k -= m;
            off += m;
            if (off == v[i].iov_len) {
                i++;
                off = 0;
            }
        }
    }
}

void mplex_write(struct mplex_stream *st, const uint8_t *d, size_t n)
{
    struct iovec v = {.iov_base = (void *)d, .iov_len = n};
    mplex_writev(st, &v, 1);
}

void mplex_close(struct mplex_stream *st)
{
    if (st->dead || st->local_fin)
        return;
    st->local_fin = true;
    mplex__frame(st->sess, mplex__flag(st, MPLEX_CLOSE_RECEIVER), st->id, 0);
    mplex__maybe_done(st);
}

void mplex_reset(struct mplex_stream *st)
{
    if (st->dead)
        return;
    mplex__frame(st->sess, mplex__flag(st, MPLEX_RESET_RECEIVER), st->id, 0);
    st->reset = true;
    mplex__kill(st);
}

void mplex_goaway(struct mplex_session *s) { s->closed = true; }

/* Pops one stream at a time, so streams killed from on_close are reaped too. */
static void mplex__reap(struct mplex_session *s)
{
    while (s->dead != NULL) {
        struct mplex_stream *st = s->dead;
        s->dead = st->next_dead;
        if (s->rx_stream == st)
            s->rx_stream = NULL; /* the rest of its payload is skipped */
        if (s->cb->on_close)
            s->cb->on_close(s->ctx, st);
        free(st);
    }
}

void mplex_reap(struct mplex_session *s)
{
    if (s->busy)
        return;
    mplex__reap(s);
}

void mplex_free(struct mplex_session *s)
{
    /* Makes mplex_open fail, so on_close cannot add streams behind us. */
    if (s->error == NULL)
        s->error = "session freed";
    while (s->nstreams != 0 || s->dead != NULL) {
        while (s->nstreams != 0)
            mplex__kill(s->streams[s->nstreams - 1]);
        mplex__reap(s);
    }
    mplex_out_release(s);
    s->rx_stream = NULL;
    s->rx_remaining = 0;
    s->hdr_len = 0;
}

struct mplex_stream *mplex_find(struct mplex_session *s, uint64_t id, bool local)
{
    if (id > MPLEX_MAX_ID)
        return NULL;
    uint64_t pos = (id << 1 | (local ? 1u : 0u)) + 1;
    size_t i = mplex__slot(s, pos);
    return i < s->nstreams && mplex_pos(s->streams[i]) == pos ? s->streams[i] : NULL;
}

struct mplex_stream *mplex_next(struct mplex_session *s, uint64_t after)
{
    if (after == UINT64_MAX)
        return NULL;
    size_t i = mplex__slot(s, after + 1);
    return i < s->nstreams ? s->streams[i] : NULL;
}
