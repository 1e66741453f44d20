/* yamux session (WIRE.md §5). The contract is in yamux.h; the notes here are
 * about how it is kept.
 *
 * A stream is live while it is in the table (counted in nstreams). When
 * it finishes it leaves the table at once - so its id reads as unknown and
 * late frames for it are skipped - and waits on the dead list until
 * yamux_reap, so pointers held up the stack (rx_stream, a callback's `st`)
 * stay valid for the rest of the call. */
#include "yamux/yamux.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* Grant window back once this much has been consumed (go and js do the same). */
#define YAMUX__GRANT_AT (YAMUX_WINDOW / 2)

static uint32_t yamux__be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static size_t yamux__min(size_t a, size_t b) { return a < b ? a : b; }

static void yamux__header_put(uint8_t *p, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
    p[0] = 0;
    p[1] = type;
    p[2] = (uint8_t)(flags >> 8);
    p[3] = (uint8_t)flags;
    p[4] = (uint8_t)(id >> 24);
    p[5] = (uint8_t)(id >> 16);
    p[6] = (uint8_t)(id >> 8);
    p[7] = (uint8_t)id;
    p[8] = (uint8_t)(len >> 24);
    p[9] = (uint8_t)(len >> 16);
    p[10] = (uint8_t)(len >> 8);
    p[11] = (uint8_t)len;
}

struct buf *yamux_out(struct yamux_session *s) { return buf_held(&s->out); }

void yamux_out_release(struct yamux_session *s) { buf_held_release(&s->out); }

static void yamux__frame(struct yamux_session *s, uint8_t type, uint16_t flags, uint32_t id,
                         uint32_t len)
{
    struct buf *out = yamux_out(s);
    yamux__header_put(buf_reserve(out, YAMUX_HEADER_LEN), type, flags, id, len);
    buf_commit(out, YAMUX_HEADER_LEN);
}

/* The ACK of an inbound stream rides on the first frame we send for it, so a
 * reply written from on_open needs no separate window update. */
static uint16_t yamux__take_ack(struct yamux_stream *st)
{
    if (!st->need_ack)
        return 0;
    st->need_ack = false;
    return YAMUX_ACK;
}

static int yamux__fail(struct yamux_session *s, const char *why)
{
    if (s->error == NULL) {
        s->error = why;
        /* The parser stops here; leave no frame half-way. */
        s->rx_stream = NULL;
        s->rx_remaining = 0;
        if (!s->goaway_sent) {
            s->goaway_sent = true;
            yamux__frame(s, YAMUX_GO_AWAY, 0, 0, YAMUX_GOAWAY_PROTOCOL);
        }
    }
    return -1;
}

/* Live streams sit in an array sorted by id, searched by bisection: a
 * connection usually carries one or two streams, and a hash table's first
 * bucket array alone would cost half a kilobyte per idle connection. */
static size_t yamux__slot(const struct yamux_session *s, uint32_t id)
{
    size_t lo = 0, hi = s->nstreams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->streams[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A lone stream's slot is in the session (s->one): most connections
 * carry one, and a one-pointer array would cost a 32 B allocation. */
static void yamux__table_add(struct yamux_session *s, struct yamux_stream *st)
{
    if (s->nstreams == s->streams_cap) {
        if (s->streams_cap == 0) {
            s->streams = &s->one;
            s->streams_cap = 1;
        } else if (s->streams == &s->one) {
            s->streams = xmalloc(4 * sizeof(*s->streams));
            s->streams[0] = s->one;
            s->streams_cap = 4;
        } else {
            s->streams_cap *= 2;
            s->streams = xrealloc(s->streams, s->streams_cap * sizeof(*s->streams));
        }
    }
    size_t i = yamux__slot(s, st->id);
    memmove(s->streams + i + 1, s->streams + i, (s->nstreams - i) * sizeof(*s->streams));
    s->streams[i] = st;
    s->nstreams++;
}

static void yamux__table_del(struct yamux_session *s, struct yamux_stream *st)
{
    size_t i = yamux__slot(s, st->id);
    memmove(s->streams + i, s->streams + i + 1, (s->nstreams - i - 1) * sizeof(*s->streams));
    if (--s->nstreams <= 1 && s->streams != &s->one) { /* back to the session's slot */
        s->one = s->nstreams ? s->streams[0] : NULL;
        free(s->streams);
        s->streams = &s->one;
        s->streams_cap = 1;
    }
}

/* The owner's room follows the stream: 8-aligned (yamux_stream_room). */
_Static_assert(sizeof(struct yamux_stream) % 8 == 0, "yamux_stream keeps its room 8-aligned");
_Static_assert(YAMUX_WINDOW < (1u << 19), "a stream's receive counts are 19-bit fields");

static struct yamux_stream *yamux__new(struct yamux_session *s, uint32_t id)
{
    struct yamux_stream *st = xcalloc(1, sizeof *st + s->room);
    st->id = id;
    st->sess = s;
    st->send_window = YAMUX_WINDOW;
    st->recv_window = YAMUX_WINDOW;
    yamux__table_add(s, st);
    return st;
}

/* Moves st from the table to the dead list; no frame is sent. */
static void yamux__kill(struct yamux_stream *st)
{
    struct yamux_session *s = st->sess;
    if (st->dead)
        return;
    s->pending_bytes -= yamux_pending(st);
    buf_held_release(&st->pending); /* nothing more will be sent: release it now */
    st->dead = true;
    st->fin_pending = false;
    yamux__table_del(s, st);
    st->next_dead = s->dead; /* in pending's place */
    s->dead = st;
}

static void yamux__maybe_done(struct yamux_stream *st)
{
    if (!st->dead && st->local_fin && !st->fin_pending && st->remote_fin)
        yamux__kill(st);
}

static void yamux__send_fin(struct yamux_stream *st)
{
    yamux__frame(st->sess, YAMUX_WINDOW_UPDATE, (uint16_t)(yamux__take_ack(st) | YAMUX_FIN), st->id, 0);
    st->fin_pending = false;
    yamux__maybe_done(st);
}

static void yamux__send_data(struct yamux_stream *st, const uint8_t *d, size_t n)
{
    /* Callers bound n by send_window and YAMUX_MAX_FRAME. */
    yamux__frame(st->sess, YAMUX_DATA, yamux__take_ack(st), st->id, (uint32_t)n);
    buf_append(yamux_out(st->sess), d, n);
    st->send_window -= (uint32_t)n;
}

/* Sends as much of pending as the window allows, then a deferred FIN. */
static void yamux__flush(struct yamux_stream *st)
{
    while (yamux_pending(st) > 0 && st->send_window > 0) {
        size_t k = yamux__min(buf_size(st->pending), yamux__min(st->send_window, YAMUX_MAX_FRAME));
        yamux__send_data(st, buf_head(st->pending), k);
        buf_consume(st->pending, k);
        st->sess->pending_bytes -= k;
    }
    if (yamux_pending(st) == 0) {
        buf_held_release(&st->pending); /* pending is rare; idle streams hold none */
        if (st->fin_pending)
            yamux__send_fin(st);
    }
}

/* Counts n delivered bytes as consumed and grants them back in batches. */
static void yamux__consumed(struct yamux_stream *st, size_t n)
{
    /* n was part of frames that fit recv_window, so this cannot pass
     * YAMUX_WINDOW (held bytes are counted once, when released). */
    st->recv_unacked += (uint32_t)n;
    if (st->recv_unacked >= YAMUX__GRANT_AT && !st->remote_fin) {
        yamux__frame(st->sess, YAMUX_WINDOW_UPDATE, yamux__take_ack(st), st->id, st->recv_unacked);
        st->recv_window += st->recv_unacked;
        st->recv_unacked = 0;
    }
}

/* Applies FIN/RST of a frame to st, after the frame's data. */
static void yamux__remote_flags(struct yamux_stream *st, uint16_t flags)
{
    struct yamux_session *s = st->sess;
    if (st->dead)
        return;
    if (flags & YAMUX_RST) {
        st->reset = true;
        yamux__kill(st);
        if (s->cb->on_reset)
            s->cb->on_reset(s->ctx, st);
        return;
    }
    if ((flags & YAMUX_FIN) && !st->remote_fin) {
        st->remote_fin = true;
        if (s->cb->on_fin)
            s->cb->on_fin(s->ctx, st);
        yamux__maybe_done(st);
    }
}

static void yamux__grow(struct yamux_stream *st, uint32_t delta)
{
    struct yamux_session *s = st->sess;
    bool blocked = st->send_window == 0 || yamux_pending(st) > 0;
    st->send_window += delta; /* overflow was checked by the caller */
    if (!blocked)
        return;
    yamux__flush(st);
    if (!st->dead && !st->local_fin && s->cb->on_writable)
        s->cb->on_writable(s->ctx, st);
}

/* Finishes the current data frame: its FIN/RST apply now. */
static void yamux__end_frame(struct yamux_session *s)
{
    struct yamux_stream *st = s->rx_stream;
    s->rx_stream = NULL;
    if (st != NULL)
        yamux__remote_flags(st, s->rx_flags);
}

/* A new stream opened by the peer: validated by the caller, within limits. */
static struct yamux_stream *yamux__accept(struct yamux_session *s, uint32_t id, uint32_t delta)
{
    struct yamux_stream *st = yamux__new(s, id);
    /* A window grown on the SYN is usable from on_open on. */
    st->send_window += delta;
    st->need_ack = true;
    int rc = s->cb->on_open ? s->cb->on_open(s->ctx, st) : -1;
    if (st->dead)
        return NULL; /* on_open reset it */
    if (rc != 0) {
        yamux_reset(st);
        return NULL;
    }
    if (st->need_ack) {
        st->need_ack = false;
        yamux__frame(s, YAMUX_WINDOW_UPDATE, YAMUX_ACK, id, 0);
    }
    return st;
}

/* Data or Window Update. For data, sets up rx_* so the payload that follows
 * goes to the stream, or is skipped when rx_stream is NULL. */
static void yamux__stream_frame(struct yamux_session *s, uint8_t type, uint16_t flags, uint32_t id,
                                uint32_t len)
{
    bool data = type == YAMUX_DATA;
    uint32_t delta = data ? 0 : len;
    struct yamux_stream *st;

    s->rx_stream = NULL;
    s->rx_remaining = data ? len : 0;
    s->rx_flags = flags;

    if (flags & YAMUX_SYN) {
        if (id == 0 || (id & 1u) == (s->client ? 1u : 0u)) {
            yamux__fail(s, "SYN on a stream id of the wrong parity");
            return;
        }
        if (yamux_find(s, id) != NULL) {
            yamux__fail(s, "SYN on a live stream id");
            return;
        }
        if (data && len > YAMUX_WINDOW) {
            yamux__fail(s, "data beyond the receive window");
            return;
        }
        if (delta > UINT32_MAX - YAMUX_WINDOW) {
            yamux__fail(s, "send window overflow");
            return;
        }
        if (s->goaway_sent || s->nstreams >= s->max_streams) {
            yamux__frame(s, YAMUX_WINDOW_UPDATE, YAMUX_RST, id, 0);
            return; /* its data, if any, is skipped */
        }
        st = yamux__accept(s, id, delta);
        if (st == NULL)
            return;
        delta = 0;
    } else {
        st = yamux_find(s, id);
        if (st == NULL)
            return; /* unknown or finished stream: skip silently */
        if (data && len > st->recv_window) {
            yamux__fail(s, "data beyond the receive window");
            return;
        }
        if (delta > UINT32_MAX - st->send_window) {
            yamux__fail(s, "send window overflow");
            return;
        }
    }

    if (data) {
        st->recv_window -= len;
        s->rx_stream = st;
        if (len == 0)
            yamux__end_frame(s);
        return;
    }
    if (delta > 0)
        yamux__grow(st, delta);
    yamux__remote_flags(st, flags);
}

static void yamux__header(struct yamux_session *s)
{
    const uint8_t *h = s->hdr;
    uint16_t flags = (uint16_t)(h[2] << 8 | h[3]);
    uint32_t id = yamux__be32(h + 4), len = yamux__be32(h + 8);

    if (h[0] != 0) {
        yamux__fail(s, "unsupported yamux version");
        return;
    }
    switch (h[1]) {
    case YAMUX_DATA:
    case YAMUX_WINDOW_UPDATE:
        yamux__stream_frame(s, h[1], flags, id, len);
        return;
    case YAMUX_PING:
        if (flags & YAMUX_SYN)
            yamux__frame(s, YAMUX_PING, YAMUX_ACK, 0, len);
        else if ((flags & YAMUX_ACK) && s->cb->on_pong)
            s->cb->on_pong(s->ctx, len);
        return;
    case YAMUX_GO_AWAY:
        if (!s->goaway_recv) {
            s->goaway_recv = true;
            if (s->cb->on_goaway)
                s->cb->on_goaway(s->ctx, len);
        }
        return;
    default:
        yamux__fail(s, "unknown yamux frame type");
        return;
    }
}

/* Hands payload bytes of the current frame to its stream, or drops them. */
static void yamux__deliver(struct yamux_session *s, const uint8_t *d, size_t n)
{
    struct yamux_stream *st = s->rx_stream;
    /* Data after the peer's FIN is a peer bug; dropping it is harmless. */
    if (st == NULL || st->dead || st->remote_fin)
        return;
    uint32_t held0 = st->held;
    st->delivering = true;
    if (s->cb->on_data)
        s->cb->on_data(s->ctx, st, d, n);
    st->delivering = false;
    /* Consumed: what came in plus what was held before, less what is held
     * now (the owner may have released older bytes as well). */
    size_t used = n + held0 > st->held ? n + held0 - st->held : 0;
    if (!st->dead && used)
        yamux__consumed(st, used);
}

void yamux_init(struct yamux_session *s, bool client, size_t max_streams,
                const struct yamux_callbacks *cb, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->client = client;
    s->next_id = client ? 1 : 2;
    s->streams = NULL;
    s->streams_cap = 0;
    s->dead = NULL;
    s->max_streams = max_streams < UINT32_MAX ? (uint32_t)max_streams : UINT32_MAX - 1;
    s->out = NULL;
    s->rx_stream = NULL;
    s->cb = cb;
    s->ctx = ctx;
    s->error = NULL;
}

int yamux_feed(struct yamux_session *s, const uint8_t *d, size_t n)
{
    if (s->error != NULL)
        return -1;
    if (s->busy)
        return yamux__fail(s, "yamux_feed called from a callback");
    s->busy++;
    while (n > 0 && s->error == NULL) {
        if (s->rx_remaining > 0) {
            size_t k = yamux__min(n, s->rx_remaining);
            s->rx_remaining -= (uint32_t)k;
            yamux__deliver(s, d, k);
            d += k;
            n -= k;
            if (s->rx_remaining == 0)
                yamux__end_frame(s);
            continue;
        }
        size_t k = yamux__min(n, YAMUX_HEADER_LEN - s->hdr_len);
        memcpy(s->hdr + s->hdr_len, d, k);
        s->hdr_len += k;
        d += k;
        n -= k;
        if (s->hdr_len < YAMUX_HEADER_LEN)
            break;
        s->hdr_len = 0;
        yamux__header(s);
    }
    s->busy--;
    return s->error != NULL ? -1 : 0;
}

struct yamux_stream *yamux_open(struct yamux_session *s)
{
    if (s->error != NULL || s->goaway_sent || s->goaway_recv || s->next_id == 0 ||
        s->nstreams >= s->max_streams)
        return NULL;
    uint32_t id = s->next_id;
    /* 0 marks the id space as used up; ids are never reused. */
    s->next_id = id > UINT32_MAX - 2 ? 0 : id + 2;
    struct yamux_stream *st = yamux__new(s, id);
    yamux__frame(s, YAMUX_WINDOW_UPDATE, YAMUX_SYN, id, 0);
    return st;
}

void yamux_write(struct yamux_stream *st, const uint8_t *d, size_t n)
{
    if (st->dead || st->local_fin || n == 0)
        return;
    /* Behind pending data nothing may overtake it. */
    while (n > 0 && st->send_window > 0 && yamux_pending(st) == 0) {
        size_t k = yamux__min(n, yamux__min(st->send_window, YAMUX_MAX_FRAME));
        yamux__send_data(st, d, k);
        d += k;
        n -= k;
    }
    if (n > 0) {
        buf_append(buf_held(&st->pending), d, n);
        st->sess->pending_bytes += n;
    }
}

void yamux_writev(struct yamux_stream *st, const struct iovec *v, size_t n)
{
    size_t total = 0, i = 0, off = 0;
    for (size_t j = 0; j < n; j++)
        total += v[j].iov_len;
    if (st->dead || st->local_fin || total == 0)
        return;
    /* Frames as yamux_write would cut them, each gathered from the parts. */
    while (total > 0 && st->send_window > 0 && yamux_pending(st) == 0) {
        size_t k = yamux__min(total, yamux__min(st->send_window, YAMUX_MAX_FRAME));
        yamux__frame(st->sess, YAMUX_DATA, yamux__take_ack(st), st->id, (uint32_t)k);
        st->send_window -= (uint32_t)k;
        total -= k;
        while (k > 0) {
            size_t m = yamux__min(k, v[i].iov_len - off);
            buf_append(yamux_out(st->sess), (const uint8_t *)v[i].iov_base + off, m);
            k -= m;
            off += m;
            if (off == v[i].iov_len) {
                i++;
                off = 0;
            }
        }
    }
    for (; i < n; i++, off = 0) {
        size_t m = v[i].iov_len - off;
        if (m == 0)
            continue;
        buf_append(buf_held(&st->pending), (const uint8_t *)v[i].iov_base + off, m);
        st->sess->pending_bytes += m;
    }
}

int yamux_data_header(struct yamux_stream *st, size_t n, uint8_t hdr[YAMUX_HEADER_LEN])
{
    if (st->dead || st->local_fin || n == 0 || n > YAMUX_MAX_FRAME || n > st->send_window ||
        yamux_pending(st) > 0)
        return -1;
    yamux__header_put(hdr, YAMUX_DATA, yamux__take_ack(st), st->id, (uint32_t)n);
    st->send_window -= (uint32_t)n;
    return 0;
}

void yamux_close(struct yamux_stream *st)
{
    if (st->dead || st->local_fin)
        return;
    st->local_fin = true;
    if (yamux_pending(st) > 0)
        st->fin_pending = true;
    else
        yamux__send_fin(st);
}

void yamux_reset(struct yamux_stream *st)
{
    if (st->dead)
        return;
    st->need_ack = false; /* RST answers the SYN by itself */
    yamux__frame(st->sess, YAMUX_WINDOW_UPDATE, YAMUX_RST, st->id, 0);
    st->reset = true;
    yamux__kill(st);
}

void yamux_ping(struct yamux_session *s, uint32_t opaque)
{
    yamux__frame(s, YAMUX_PING, YAMUX_SYN, 0, opaque);
}

void yamux_goaway(struct yamux_session *s, uint32_t code)
{
    if (s->goaway_sent)
        return;
    s->goaway_sent = true;
    yamux__frame(s, YAMUX_GO_AWAY, 0, 0, code);
}

/* Pops one stream at a time, so streams killed from on_close are reaped too. */
static void yamux__reap(struct yamux_session *s)
{
    while (s->dead != NULL) {
        struct yamux_stream *st = s->dead;
        s->dead = st->next_dead;
        if (s->rx_stream == st)
            s->rx_stream = NULL; /* rest of its frame is skipped */
        if (s->cb->on_close)
            s->cb->on_close(s->ctx, st);
        free(st); /* its pending buffer went when it died */
    }
}

void yamux_reap(struct yamux_session *s)
{
    if (s->busy)
        return; /* a stream may still be on the stack; the next reap gets it */
    yamux__reap(s);
}

void yamux_free(struct yamux_session *s)
{
    /* Makes yamux_open fail, so on_close cannot add streams behind us. */
    if (s->error == NULL)
        s->error = "session freed";
    while (s->nstreams != 0 || s->dead != NULL) {
        while (s->nstreams != 0)
            yamux__kill(s->streams[s->nstreams - 1]);
        yamux__reap(s);
    }
    yamux_out_release(s);
    s->rx_stream = NULL;
    s->rx_remaining = 0;
    s->hdr_len = 0;
}

struct yamux_stream *yamux_find(struct yamux_session *s, uint32_t id)
{
    size_t i = yamux__slot(s, id);
    return i < s->nstreams && s->streams[i]->id == id ? s->streams[i] : NULL;
}

struct yamux_stream *yamux_next(struct yamux_session *s, uint32_t after)
{
    if (after == UINT32_MAX)
        return NULL;
    size_t i = yamux__slot(s, after + 1);
    return i < s->nstreams ? s->streams[i] : NULL;
}

void yamux_set_held(struct yamux_stream *st, size_t held)
{
    uint32_t h = held > YAMUX_WINDOW ? YAMUX_WINDOW : (uint32_t)held;
    uint32_t before = st->held;
    st->held = h;
    if (!st->delivering && !st->dead && h < before)
        yamux__consumed(st, before - h);
}
