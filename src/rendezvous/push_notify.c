/* The push notifier (DESIGN.md "Fan-out notifier").
 *
 * A registry change is encoded once into a push_buf; each subscriber of the
 * namespace whose peer is not the registration's peer gets a reference
 * queued, and its stream asks for on_writable at its connection's flush
 * (stream_want_writable): there the queued Messages are written in one
 * gathered write, as far as stream_writable says the stream has room (the
 * connection's budget and the peer's window, both), sealed at once from
 * the shared buffers (stream_writev_now): the cipher writing the Noise
 * output is the only copy of a delivery's bytes. What does not fit
 * stays queued and the session is blocked until on_writable comes from the
 * stream itself (window or budget back). So the queue holds only what the
 * stream could not take: the backlog the output limits measure.
 *
 * Coalescing. While a session is blocked, an announcement waiting in its
 * queue has not been sent at all (a Message partly written is past that
 * point), so a newer one of the same (peer, namespace) takes its place: the subscriber gets the latest
 * state, in the place of the first change it missed, and a peer that
 * changes its registration over and over occupies one slot per subscriber
 * whatever the rate. It replaces in place only if nothing but
 * announcements was queued after it (an answer to the subscriber's own
 * request - a snapshot, a DISCOVER - must not be followed by older state
 * than it shows); else the new one is queued at the end and becomes the
 * one later changes replace. An UNREGISTER replacing a REGISTER is kept,
 * not dropped with it: the subscriber may have seen an earlier REGISTER of
 * that pair, and an UNREGISTER of a member it does not know is harmless.
 *
 * Memory: a Message waiting in at least one queue counts once, whatever the
 * number of queues, in the host's mem_queued, which the daemon-wide memory
 * budget (--max-memory) includes: past it new requests and connections are
 * refused before anything held is cut.
 *
 * Output limits (redis' client-output-buffer-limit): a session whose queue
 * holds more than out_hard_limit bytes, or more than out_soft_limit for
 * out_soft_seconds, is cut: its queue is dropped, its stream reset, and the
 * session ends like any other (its registrations are announced gone). */
#include "rendezvous/push_notify.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/mem.h"

#define PUSH_Q_MIN 8         /* ring slots allocated first */
#define PUSH_IOV STREAM_WRITEV_PARTS /* Messages gathered into one write */

static size_t push__min(size_t a, size_t b) { return a < b ? a : b; }

/* A queue takes or drops its reference to b: the first and the last one
 * account for b's bytes in the host's memory budget. */
static void push__qref(struct push_session *ps, struct push_buf *b)
{
    struct host *h = ps->st->svc->host;
    b->refs++;
    if (b->queues++ == 0 && h)
        h->mem_queued += b->len;
}

static void push__qunref(struct push_session *ps, struct push_buf *b)
{
    struct host *h = ps->st->svc->host;
    if (--b->queues == 0 && h)
        h->mem_queued -= b->len;
    push_buf_unref(b);
}

static struct push_buf **push__slot(struct push_queue *q, uint64_t pos)
{
    return &q->ring[(q->head + (size_t)(pos - q->base)) % q->cap];
}

static void push__forget(struct push_queue *q, const struct push_buf *b, uint64_t pos)
{
    struct push_pending *p;
    HASH_FIND(hh, q->pending, &b->key, sizeof(b->key), p);
    if (p && p->pos == pos) {
        HASH_DEL(q->pending, p);
        free(p);
    }
}

static void push__drop_head(struct push_session *ps)
{
    struct push_queue *q = ps->q;
    struct push_buf *b = q->ring[q->head];
    if (b->announcement && q->pending)
        push__forget(q, b, q->base);
    q->queued -= b->len - q->off;
    q->off = 0;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->base++;
    push__qunref(ps, b);
}

/* The queue goes once it is empty: an idle session holds none (the next
 * Message allocates the smallest again). Its coalescing index is empty by
 * then: every entry names a queued position. */
static void push__queue_release(struct push_session *ps)
{
    if (ps->q && ps->q->len == 0) {
        free(ps->q);
        ps->q = NULL;
    }
}

void push_notify_pop(struct push_session *ps)
{
    if (ps->q) {
        push__drop_head(ps);
        push__queue_release(ps);
    }
}

void push_notify_drop(struct push_session *ps)
{
    struct push_queue *q = ps->q;
    if (q == NULL)
        return;
    struct push_pending *p, *tmp;
    HASH_ITER(hh, q->pending, p, tmp) {
        HASH_DEL(q->pending, p);
        free(p);
    }
    while (q->len)
        push__drop_head(ps);
    push__queue_release(ps);
}

static void push__cut(struct push_session *ps, const char *why)
{
    struct rdv_service *s = ps->st->svc;
    char id[PEERID_TEXT_MAX];

    if (ps->cut)
        return;
    peerid_to_text(ps->peer, id, sizeof(id));
    LOGW(s->log, "push: cutting slow subscriber %s: %zu bytes queued (%s)", id,
         push_session_queued(ps), why);
    s->stats.slow_subscribers_cut++;
    ps->cut = true;
    push_notify_drop(ps);
    /* The session ends when the reset stream is reaped (on_close), within
     * this loop iteration; nothing more is queued to it meanwhile. */
    if (ps->stream)
        stream_reset(ps->stream);
}

/* Cuts the session if its backlog is past the limits. The soft limit's
 * clock lives in the queue: an empty queue is under every limit. */
static void push__check_limits(struct push_session *ps)
{
    const struct rdv_config *cfg = &ps->st->svc->cfg;
    struct push_queue *q = ps->q;
    if (q == NULL)
        return;
    if (q->queued > cfg->out_hard_limit) {
        push__cut(ps, "over the hard limit");
        return;
    }
    if (q->queued <= cfg->out_soft_limit) {
        q->over_soft_since = -1;
        return;
    }
    double now = rdv_service_now(ps->st->svc);
    if (q->over_soft_since < 0)
        q->over_soft_since = now;
    else if (now - q->over_soft_since >= cfg->out_soft_seconds)
        push__cut(ps, "over the soft limit for too long");
}

/* *now is read once per fill, on the first announcement. */
static void push__sent(struct push_session *ps, const struct push_buf *b, double *now)
{
    if (b->announcement) {
        struct rdv_stats *stats = &ps->st->svc->stats;
        if (*now == 0)
            *now = ev_time();
        stats->announcements_sent++;
        histogram_observe(&stats->announce_seconds, *now - b->made);
    }
}

/* A newer announcement of a pair already queued and not sent, behind a
 * stream without room: true if it took the old one's place. */
static bool push__coalesce(struct push_session *ps, struct push_buf *b)
{
    struct push_queue *q = ps->q;
    struct push_pending *p;
    if (q == NULL)
        return false;
    HASH_FIND(hh, q->pending, &b->key, sizeof(b->key), p);
    if (p == NULL || p->pos < q->barrier || (p->pos == q->base && q->off > 0))
        return false;
    struct push_buf **slot = push__slot(q, p->pos);
    q->queued = q->queued - (*slot)->len + b->len;
    push__qunref(ps, *slot);
    *slot = b;
    push__qref(ps, b);
    ps->st->svc->stats.announcements_coalesced++;
    return true;
}

/* Indexes the announcement at pos as the latest queued of its pair. Only a
 * blocked session keeps the index: the others never coalesce, and pay
 * nothing for it. */
static void push__index(struct push_queue *q, const struct push_buf *b, uint64_t pos)
{
    struct push_pending *p;
    HASH_FIND(hh, q->pending, &b->key, sizeof(b->key), p);
    if (p == NULL) {
        p = xmalloc(sizeof(*p));
        p->key = b->key;
        HASH_ADD(hh, q->pending, key, sizeof(p->key), p);
    }
    p->pos = pos;
}

/* A queue with room for one more Message: the first one allocates it, a
 * full ring doubles (unrolled to start at 0; positions do not move). */
static struct push_queue *push__queue_room(struct push_session *ps)
{
    struct push_queue *q = ps->q;
    if (q == NULL) {
        q = xmalloc(sizeof(*q) + PUSH_Q_MIN * sizeof(q->ring[0]));
        *q = (struct push_queue){.over_soft_since = -1, .cap = PUSH_Q_MIN};
        ps->q = q;
    } else if (q->len == q->cap) {
        uint32_t cap = q->cap * 2;
        struct push_queue *n = xmalloc(sizeof(*n) + cap * sizeof(n->ring[0]));
        *n = *q;
        for (uint32_t i = 0; i < q->len; i++)
            n->ring[i] = q->ring[(q->head + i) % q->cap];
        n->head = 0;
        n->cap = cap;
        free(q);
        ps->q = q = n;
    }
    return q;
}

static void push__append(struct push_session *ps, struct push_buf *b)
{
    struct push_queue *q = push__queue_room(ps);
    uint64_t pos = q->base + q->len;
    q->ring[(q->head + q->len) % q->cap] = b;
    q->len++;
    push__qref(ps, b);
    q->queued += b->len;
    if (!b->announcement)
        q->barrier = pos + 1;
    else if (ps->blocked)
        push__index(q, b, pos);
}

void push_notify_send(struct push_session *ps, struct push_buf *b)
{
    if (ps->cut)
        return;
    if (b->announcement)
        ps->st->svc->stats.announcements_queued++;
    if (ps->blocked && b->announcement && push__coalesce(ps, b))
        return;
    push__append(ps, b);
    if (ps->stream && !ps->blocked) {
        /* Written at this iteration's flush, or at once past a full frame:
         * only what the stream cannot take is backlog, so a burst handled
         * within one iteration does not look like a slow reader. */
        if (ps->q->queued >= YAMUX_MAX_FRAME)
            push_notify_fill(ps);
        else
            stream_want_writable(ps->stream);
    }
    push__check_limits(ps);
}

void push_notify_fill(struct push_session *ps)
{
    struct push_queue *q = ps->q;
    size_t room;
    double now = 0;

    if (ps->stream == NULL || ps->cut)
        return;
    while (q && q->len && (room = stream_writable(ps->stream)) > 0) {
        struct iovec v[PUSH_IOV];
        size_t n = 0, bytes = 0;
        for (size_t i = 0; i < q->len && n < PUSH_IOV && bytes < room; i++) {
            struct push_buf *b = q->ring[(q->head + i) % q->cap];
            size_t off = i == 0 ? q->off : 0;
            size_t k = push__min(b->len - off, room - bytes);
            v[n++] = (struct iovec){.iov_base = b->bytes + off, .iov_len = k};
            bytes += k;
        }
        stream_writev_now(ps->stream, v, n);
        while (bytes) {
            struct push_buf *b = q->ring[q->head];
            size_t k = push__min(b->len - q->off, bytes);
            bytes -= k;
            if (q->off + k < b->len) {
                q->off += k;
                q->queued -= k;
            } else {
                push__sent(ps, b, &now);
                push__drop_head(ps);
            }
        }
    }
    if (q && q->len > 0) {
        /* Left over: the stream has no room; on_writable comes when it
         * has. What waits from now on may be coalesced: index it. */
        if (!ps->blocked) {
            ps->blocked = true;
            for (uint32_t i = 0; i < q->len; i++) {
                const struct push_buf *b = q->ring[(q->head + i) % q->cap];
                if (b->announcement)
                    push__index(q, b, q->base + i);
            }
        }
        push__check_limits(ps); /* the soft limit's clock runs on */
        return;
    }
    ps->blocked = false;
    push__queue_release(ps);
    if (ps->closing)
        stream_close(ps->stream);
}

/* ---- registry events --------------------------------------------------- */

static uint64_t push__key(const struct push_state *st, const struct rdv_reg *r)
{
    crypto_generichash_state h;
    uint8_t out[crypto_generichash_BYTES_MIN];
    uint64_t k;

    crypto_generichash_init(&h, st->key, sizeof(st->key), sizeof(out));
    crypto_generichash_update(&h, &r->peer->len, 1);
    crypto_generichash_update(&h, r->peer->b, r->peer->len);
    crypto_generichash_update(&h, (const uint8_t *)r->ns->name, r->ns->len);
    crypto_generichash_final(&h, out, sizeof(out));
    memcpy(&k, out, sizeof(k));
    return k;
}

/* Sends b to every subscriber of r's namespace except r's own peer. The
 * host polls once more before it writes them: changes that arrive close
 * together (a registrant's pipelined requests, several registrants) then
 * reach each subscriber in one Noise message and one write. */
static void push__fan_out(struct push_state *st, const struct rdv_reg *r, struct push_buf *b)
{
    b->key = push__key(st, r);
    for (struct rdv_sub *sub = r->ns->subs; sub; sub = sub->ns_next) {
        struct push_session *ps = push_session_of(sub->session);
        if (peerid_eq(ps->peer, r->peer))
            continue;
        push_notify_send(ps, b);
    }
    push_buf_unref(b);
    if (st->svc->host)
        host_poll_before_flush(st->svc->host);
}

/* Nothing is announced in a namespace nobody watches; in a big one the
 * entry is still packed now (and kept, see PUSH_WIRE_CACHE_MIN), so that
 * the next subscriber's snapshot does not encode every member at once. */
static void push__on_register(void *ctx, const struct rdv_reg *r)
{
    struct push_state *st = ((struct rdv_service *)ctx)->push_state;
    if (r->ns->subs == NULL) {
        if (r->ns->nregs >= PUSH_WIRE_CACHE_MIN) {
            push_batch_add(&st->batch, r);
            push_batch_clear(&st->batch);
        }
        return;
    }
    push_batch_add(&st->batch, r);
    push__fan_out(st, r, push_batch_take(&st->batch, true));
}

static void push__on_unregister(void *ctx, const struct rdv_reg *r)
{
    struct push_state *st = ((struct rdv_service *)ctx)->push_state;
    if (r->ns->subs == NULL)
        return;
    push__fan_out(st, r, push_wire_unregister(r));
}

const struct registry_events push_registry_events = {
    .on_register = push__on_register,
    .on_unregister = push__on_unregister,
};

void push_notify_init(struct push_state *st, struct rdv_service *s)
{
    st->svc = s;
    crypto_generichash_keygen(st->key);
}

void push_notify_free(struct push_state *st)
{
    push_batch_free(&st->batch);
    free(st->addrs);
    sodium_memzero(st->key, sizeof(st->key));
}
