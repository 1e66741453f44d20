/* Push mode: sessions, requests, and the fan-out notifier (see push.h).
 *
 * Requests (proto/push.proto says what each is answered with):
 *  - REGISTER binds (authenticated peer, ns) to the session; a second
 *    session of the same peer takes it over (the registry moves ownership),
 *    and a re-REGISTER is announced again.
 *  - UNREGISTER removes the peer's registration in ns, whatever made it.
 *  - RENDEZVOUS subscribes: the snapshot (members except the peer itself,
 *    batched into Messages of at most push_batch_bytes) is queued and the
 *    subscription made in the same call, so every later change queues behind
 *    the snapshot - no gap, no repeat. Subscribing again sends nothing.
 *  - DISCOVER queues exactly one REGISTER Message: the first min(limit, n)
 *    members other than the asker, in registration order.
 *  - A Peer.id that is not the connection's peer is refused (E_NOT_AUTHORIZED
 *    if it is a valid id, E_INVALID_PEER if not); an empty one means "me".
 *
 * Notifier. A registry change is encoded once into a push_buf; each
 * subscriber of the namespace whose peer is not the registration's peer
 * gets a reference appended to its queue and goes on the dirty list. The
 * notifier's ev_prepare runs at EV_MAXPRI, before the host's flush hook
 * (default priority), and moves queued bytes into each dirty stream - whole
 * or partial Messages gathered into one yamux data frame at a time, never
 * past the send window, so nothing waits in yamux's own pending buffer.
 * The host then seals and writes each connection once. A window that opens
 * again (on_writable) puts the session back on the dirty list. A queue that
 * reaches a full frame (64 KiB) is moved at once, so what the queue holds
 * beyond that is only what the peer's window cannot take: the backlog the
 * output limits measure.
 *
 * Sessions that end during the host's flush (a stream is reaped there)
 * announce after the notifier ran in that iteration; an ev_idle watcher,
 * started whenever the dirty list gains a session, keeps the loop from
 * blocking so the next iteration delivers them.
 *
 * Output limits (redis' client-output-buffer-limit): a session whose queue
 * holds more than out_hard_limit bytes, or more than out_soft_limit for
 * out_soft_seconds, is cut: its queue is dropped, its stream reset, and the
 * session ends like any other (its registrations are announced gone). */
#include "rendezvous/push.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utlist.h>

#include "base/mem.h"
#include "base/varint.h"
#include "codec/multiaddr.h"
#include "push.pb-c.h"

#define PUSH_Q_MIN 8         /* ring slots allocated first */
#define PUSH_TYPES 4         /* REGISTER, UNREGISTER, RENDEZVOUS, DISCOVER */

/* One register entry being built: the peer id text and the pointers into
 * the registration are fixed up only when the Message is packed, because
 * the arrays holding them grow while entries are added. */
struct push_entry {
    Push__Message__Register reg;
    Push__Message__Peer peer;
    size_t addr0;            /* its first address in push_batch.addrs */
    char id[PEERID_TEXT_MAX];
};

/* A REGISTER Message under construction (snapshots, DISCOVER answers and
 * register announcements). Reused: it only ever grows to the largest
 * Message built, which the registry's limits bound. */
struct push_batch {
    struct push_entry *e;
    Push__Message__Register **ptrs;
    size_t n, cap;
    ProtobufCBinaryData *addrs;
    size_t naddrs, addrs_cap;
    size_t size;             /* packed bytes of the entries so far */
};

struct push_state {
    struct rdv_service *svc;
    ev_prepare flush;
    ev_idle wake;
    struct push_session *dirty;  /* DL list (dprev/dnext) */
    struct push_batch batch;
    struct rdv_addr *addrs;      /* a REGISTER's addresses (at most max_addrs) */
    size_t addrs_cap;
    struct buf frame;            /* bytes gathered for one yamux data frame */
    struct rdv_request_log req;  /* the Message being handled, for its debug line */
};

static struct push_state *push__state(const struct rdv_service *s) { return s->push_state; }
static size_t push__min(size_t a, size_t b) { return a < b ? a : b; }

/* ---- shared buffers ------------------------------------------------- */

/* The new buffer holds one reference, its creator's: queues add theirs, and
 * the creator drops its own when done, so a queue that is cut (and drops
 * everything) in the middle of a fan-out cannot free the buffer under it. */
static struct push_buf *push__pack(const Push__Message *m, bool announcement)
{
    size_t n = push__message__get_packed_size(m);
    size_t h = uvarint_size(n);
    struct push_buf *b = xmalloc(sizeof(*b) + h + n);
    b->refs = 1;
    b->announcement = announcement;
    b->made = announcement ? ev_time() : 0;
    b->len = h + push__message__pack(m, b->bytes + uvarint_put(b->bytes, n));
    return b;
}

static void push__unref(struct push_buf *b)
{
    if (--b->refs == 0)
        free(b);
}

/* ---- REGISTER Messages ---------------------------------------------- */

static void push__batch_add(struct push_batch *b, const struct rdv_reg *r)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->e = xrealloc(b->e, b->cap * sizeof(*b->e));
        b->ptrs = xrealloc(b->ptrs, b->cap * sizeof(*b->ptrs));
    }
    if (r->naddrs > b->addrs_cap - b->naddrs) {
        while (r->naddrs > b->addrs_cap - b->naddrs)
            b->addrs_cap = b->addrs_cap ? b->addrs_cap * 2 : 64;
        b->addrs = xrealloc(b->addrs, b->addrs_cap * sizeof(*b->addrs));
    }
    struct push_entry *e = &b->e[b->n];
    push__message__register__init(&e->reg);
    push__message__peer__init(&e->peer);
    int idlen = peerid_to_text(&r->peer, e->id, sizeof(e->id));
    e->peer.has_id = 1;
    e->peer.id.data = (uint8_t *)e->id;
    e->peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    e->addr0 = b->naddrs;
    for (size_t i = 0; i < r->naddrs; i++) {
        b->addrs[b->naddrs + i].data = (uint8_t *)r->addrs[i].bytes;
        b->addrs[b->naddrs + i].len = r->addrs[i].len;
    }
    e->peer.n_addrs = r->naddrs;
    e->peer.addrs = b->addrs + e->addr0;
    b->naddrs += r->naddrs;
    e->reg.has_ns = 1;
    e->reg.ns.data = (uint8_t *)r->ns->name;
    e->reg.ns.len = r->ns->len;
    e->reg.peer = &e->peer;
    /* The entry as field 2 of the Message: tag, length, body. Only used to
     * decide where a batch ends; the Message itself is packed by protobuf-c. */
    size_t body = protobuf_c_message_get_packed_size(&e->reg.base);
    b->size += 1 + uvarint_size(body) + body;
    b->n++;
}

/* Packs the entries as one REGISTER Message and empties the batch. */
static struct push_buf *push__batch_take(struct push_batch *b, bool announcement)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    for (size_t i = 0; i < b->n; i++) {
        struct push_entry *e = &b->e[i];
        e->peer.id.data = (uint8_t *)e->id;
        e->peer.addrs = b->addrs + e->addr0;
        e->reg.peer = &e->peer;
        b->ptrs[i] = &e->reg;
    }
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.n_register_ = b->n;
    m.register_ = b->ptrs;
    struct push_buf *out = push__pack(&m, announcement);
    b->n = b->naddrs = b->size = 0;
    return out;
}

static void push__batch_free(struct push_batch *b)
{
    free(b->e);
    free(b->ptrs);
    free(b->addrs);
    memset(b, 0, sizeof(*b));
}

static struct push_buf *push__unregister_msg(const struct rdv_reg *r)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT;
    Push__Message__Unregister *up = &u;
    Push__Message__Peer peer = PUSH__MESSAGE__PEER__INIT;
    char id[PEERID_TEXT_MAX];
    int idlen = peerid_to_text(&r->peer, id, sizeof(id));

    peer.has_id = 1;
    peer.id.data = (uint8_t *)id;
    peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    u.has_ns = 1;
    u.ns.data = (uint8_t *)r->ns->name;
    u.ns.len = r->ns->len;
    u.peer = &peer;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    m.n_unregister = 1;
    m.unregister = &up;
    return push__pack(&m, true);
}

/* ---- queue and limits ---------------------------------------------- */

static void push__wake(struct push_state *st)
{
    if (!ev_is_active(&st->wake))
        ev_idle_start(st->svc->host->loop, &st->wake);
}

static void push__mark_dirty(struct push_session *ps)
{
    if (ps->dirty || ps->stream == NULL)
        return;
    ps->dirty = true;
    DL_APPEND2(ps->st->dirty, ps, dprev, dnext);
    push__wake(ps->st);
}

static void push__unmark_dirty(struct push_session *ps)
{
    if (!ps->dirty)
        return;
    ps->dirty = false;
    DL_DELETE2(ps->st->dirty, ps, dprev, dnext);
}

static void push__drop_head(struct push_session *ps)
{
    struct push_buf *b = ps->q[ps->qhead];
    ps->queued -= b->len - ps->qoff;
    ps->qoff = 0;
    ps->qhead = (ps->qhead + 1) % ps->qcap;
    ps->qlen--;
    push__unref(b);
}

static void push__drop_queue(struct push_session *ps)
{
    while (ps->qlen)
        push__drop_head(ps);
    free(ps->q);
    ps->q = NULL;
    ps->qcap = ps->qhead = 0;
}

static void push__cut(struct push_session *ps, const char *why)
{
    struct rdv_service *s = ps->st->svc;
    char id[PEERID_TEXT_MAX];

    if (ps->cut)
        return;
    peerid_to_text(&ps->rs.peer, id, sizeof(id));
    LOGW(s->log, "push: cutting slow subscriber %s: %zu bytes queued (%s)", id, ps->queued, why);
    s->stats.slow_subscribers_cut++;
    ps->cut = true;
    push__drop_queue(ps);
    /* The session ends when the reset stream is reaped (on_close), within
     * this loop iteration; nothing more is queued to it meanwhile. */
    if (ps->stream)
        stream_reset(ps->stream);
}

/* Cuts the session if its backlog is past the limits; true if it did. */
static bool push__check_limits(struct push_session *ps)
{
    const struct rdv_config *cfg = &ps->st->svc->cfg;
    if (ps->queued > cfg->out_hard_limit) {
        push__cut(ps, "over the hard limit");
        return true;
    }
    if (ps->queued <= cfg->out_soft_limit) {
        ps->over_soft_since = -1;
        return false;
    }
    double now = rdv_service_now(ps->st->svc);
    if (ps->over_soft_since < 0)
        ps->over_soft_since = now;
    else if (now - ps->over_soft_since >= cfg->out_soft_seconds) {
        push__cut(ps, "over the soft limit for too long");
        return true;
    }
    return false;
}

static void push__drain(struct push_session *ps);

static void push__enqueue(struct push_session *ps, struct push_buf *b)
{
    if (ps->cut)
        return;
    if (ps->qlen == ps->qcap) {
        size_t cap = ps->qcap ? ps->qcap * 2 : PUSH_Q_MIN;
        struct push_buf **q = xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < ps->qlen; i++)
            q[i] = ps->q[(ps->qhead + i) % ps->qcap];
        free(ps->q);
        ps->q = q;
        ps->qcap = cap;
        ps->qhead = 0;
    }
    ps->q[(ps->qhead + ps->qlen) % ps->qcap] = b;
    ps->qlen++;
    b->refs++;
    ps->queued += b->len;
    if (b->announcement)
        ps->st->svc->stats.announcements_queued++;
    /* A full frame's worth goes into the stream at once: only what the
     * peer's window cannot take is backlog, so a burst handled within one
     * loop iteration does not look like a slow reader. */
    if (ps->queued >= YAMUX_MAX_FRAME)
        push__drain(ps);
    if (!push__check_limits(ps) && ps->qlen)
        push__mark_dirty(ps);
}

/* Moves queued bytes into the stream while its send window has room. */
static void push__drain(struct push_session *ps)
{
    struct push_state *st = ps->st;
    struct yamux_stream *ys = ps->stream ? ps->stream->ys : NULL;
    double now = 0;

    if (ys == NULL || ys->dead || ys->local_fin || ps->cut)
        return;
    while (ps->qlen && ys->send_window > 0 && buf_size(&ys->pending) == 0) {
        size_t room = push__min(ys->send_window, YAMUX_MAX_FRAME);
        buf_reset(&st->frame);
        while (ps->qlen && room) {
            struct push_buf *b = ps->q[ps->qhead];
            size_t k = push__min(b->len - ps->qoff, room);
            buf_append(&st->frame, b->bytes + ps->qoff, k);
            room -= k;
            if (ps->qoff + k < b->len) {
                ps->qoff += k;
                ps->queued -= k;
                break;
            }
            if (b->announcement) {
                struct rdv_stats *stats = &st->svc->stats;
                if (now == 0)
                    now = ev_time();
                stats->announcements_sent++;
                histogram_observe(&stats->announce_seconds, now - b->made);
            }
            push__drop_head(ps);
        }
        stream_write(ps->stream, buf_head(&st->frame), buf_size(&st->frame));
    }
    buf_shrink(&st->frame, 1u << 16);
    if (ps->qlen == 0) {
        if (ps->qcap > PUSH_Q_MIN) { /* a backlog's ring goes once it is written */
            free(ps->q);
            ps->q = NULL;
            ps->qcap = 0;
        }
        ps->qhead = 0;
        if (ps->closing)
            stream_close(ps->stream);
    }
}

/* Runs before the host's flush hook: fills the streams it will write. */
static void push__on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct push_state *st = w->data;
    struct push_session *ps;
    (void)revents;

    ev_idle_stop(loop, &st->wake);
    while ((ps = st->dirty) != NULL) {
        push__unmark_dirty(ps);
        push__drain(ps);
        push__check_limits(ps); /* the soft limit's clock runs on */
    }
}

/* Only there to keep the loop from blocking while sessions are dirty. */
static void push__on_wake(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(loop, w);
}

/* ---- registry events --------------------------------------------------- */

/* Queues b to every subscriber of r's namespace except r's own peer. */
static void push__fan_out(const struct rdv_reg *r, struct push_buf *b)
{
    for (struct rdv_sub *sub = r->ns->subs; sub; sub = sub->ns_next) {
        if (peerid_eq(&sub->session->peer, &r->peer))
            continue;
        push__enqueue(sub->session->user, b);
    }
    push__unref(b);
}

/* Nothing is encoded for a namespace nobody watches. */
static void push__on_register(void *ctx, const struct rdv_reg *r)
{
    struct push_state *st = push__state(ctx);
    if (r->ns->subs == NULL)
        return;
    push__batch_add(&st->batch, r);
    push__fan_out(r, push__batch_take(&st->batch, true));
}

static void push__on_unregister(void *ctx, const struct rdv_reg *r)
{
    (void)ctx;
    if (r->ns->subs == NULL)
        return;
    push__fan_out(r, push__unregister_msg(r));
}

const struct registry_events push_registry_events = {
    .on_register = push__on_register,
    .on_unregister = push__on_unregister,
};

/* ---- requests ------------------------------------------------------------ */

static void push__status(struct push_session *ps, Push__Message__MessageType type,
                         Push__Message__ResponseStatus status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Queues a rejection; the session carries on. */
static void push__status(struct push_session *ps, Push__Message__MessageType type,
                         Push__Message__ResponseStatus status, const char *fmt, ...)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    char text[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    m.has_type = 1;
    m.type = type;
    m.has_status = 1;
    m.status = status;
    m.statustext = text;
    ps->st->req.status = (int)status;
    ps->st->svc->stats.errors[RDV_DIALECT_PUSH]++;
    struct push_buf *b = push__pack(&m, false);
    push__enqueue(ps, b);
    push__unref(b);
}

/* A namespace field: 0 if valid, else the rejection has been queued. */
static int push__check_ns(struct push_session *ps, Push__Message__MessageType type,
                          protobuf_c_boolean has, const ProtobufCBinaryData *ns)
{
    const struct registry *r = &ps->st->svc->reg;
    if (!has || ns->len == 0) {
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE,
                     "missing namespace");
        return -1;
    }
    if (registry_check_ns(r, (const char *)ns->data, ns->len) != 0) {
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE,
                     "namespace must be 1 to %zu bytes of UTF-8", r->limits.max_ns_len);
        return -1;
    }
    return 0;
}

/* The access policy: 0 if the session's peer may do `a` in ns, else the
 * refusal has been queued. */
static int push__check_acl(struct push_session *ps, Push__Message__MessageType type,
                           enum rdv_action a, const ProtobufCBinaryData *ns)
{
    if (rdv_service_allows(ps->st->svc, RDV_DIALECT_PUSH, a, (const char *)ns->data, ns->len,
                           &ps->rs.peer))
        return 0;
    push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_NOT_AUTHORIZED,
                 "not authorized to %s in this namespace", rdv_action_names[a]);
    return -1;
}

/* Peer.id, when present and not empty, must name the session's own peer. */
static int push__check_peer(struct push_session *ps, Push__Message__MessageType type,
                            const Push__Message__Peer *p)
{
    struct peer_id id;
    if (p == NULL || !p->has_id || p->id.len == 0)
        return 0;
    if (peerid_from_text(&id, (const char *)p->id.data, p->id.len) != 0) {
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER,
                     "peer.id is not a peer id");
        return -1;
    }
    if (!peerid_eq(&id, &ps->rs.peer)) {
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_NOT_AUTHORIZED,
                     "peer.id is not the authenticated peer of this connection");
        return -1;
    }
    return 0;
}

static void push__limit_status(struct push_session *ps, Push__Message__MessageType type,
                               enum rdv_status rc)
{
    const struct registry_limits *l = &ps->st->svc->reg.limits;
    const Push__Message__ResponseStatus busy = PUSH__MESSAGE__RESPONSE_STATUS__E_UNAVAILABLE;

    switch (rc) {
    case RDV_E_NAMESPACE:
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_NAMESPACE,
                     "namespace must be 1 to %zu bytes of UTF-8", l->max_ns_len);
        break;
    case RDV_E_ADDRS:
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER,
                     "at most %zu addresses of %zu bytes in all", l->max_addrs, l->max_addr_bytes);
        break;
    case RDV_E_PEER_LIMIT:
        push__status(ps, type, busy, "at most %zu registrations per peer", l->max_regs_per_peer);
        break;
    case RDV_E_SUB_LIMIT:
        push__status(ps, type, busy, "at most %zu subscriptions per session",
                     l->max_subs_per_session);
        break;
    case RDV_E_TOTAL_LIMIT:
        push__status(ps, type, busy, "the server holds as many registrations or namespaces as it may");
        break;
    case RDV_E_RATE_LIMIT:
        push__status(ps, type, busy, "registration changes too frequent for this peer, retry later");
        break;
    default:
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INTERNAL_ERROR,
                     "registry error %d", (int)rc);
        break;
    }
}

static void push__register(struct push_session *ps, const Push__Message__Register *e)
{
    const Push__Message__MessageType T = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    struct push_state *st = ps->st;
    struct rdv_service *s = st->svc;
    const Push__Message__Peer *p = e->peer;
    size_t naddrs = p ? p->n_addrs : 0;

    if (push__check_ns(ps, T, e->has_ns, &e->ns) || push__check_peer(ps, T, p) ||
        push__check_acl(ps, T, RDV_ACTION_REGISTER, &e->ns))
        return;
    if (naddrs > s->reg.limits.max_addrs) {
        push__limit_status(ps, T, RDV_E_ADDRS);
        return;
    }
    if (naddrs > st->addrs_cap) { /* the limit may grow on a reload */
        st->addrs = xrealloc(st->addrs, naddrs * sizeof(*st->addrs));
        st->addrs_cap = naddrs;
    }
    for (size_t i = 0; i < naddrs; i++) {
        if (multiaddr_validate(p->addrs[i].data, p->addrs[i].len) != 0) {
            push__status(ps, T, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER,
                         "address %zu is not a valid multiaddr", i + 1);
            return;
        }
        st->addrs[i].bytes = p->addrs[i].data;
        st->addrs[i].len = p->addrs[i].len;
    }
    struct rdv_register req = {
        .ns = (const char *)e->ns.data,
        .ns_len = e->ns.len,
        .peer = &ps->rs.peer,
        .dialect = RDV_DIALECT_PUSH,
        .addrs = st->addrs,
        .naddrs = naddrs,
        .owner = &ps->rs,
        .now = rdv_service_now(s),
    };
    enum rdv_status rc = registry_register(&s->reg, &req, NULL);
    if (rc != RDV_OK)
        push__limit_status(ps, T, rc);
}

static void push__unregister(struct push_session *ps, const Push__Message__Unregister *e)
{
    const Push__Message__MessageType T = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    if (push__check_ns(ps, T, e->has_ns, &e->ns) || push__check_peer(ps, T, e->peer))
        return;
    /* Not registered there: nothing to do, and nothing to complain about. */
    registry_unregister(&ps->st->svc->reg, (const char *)e->ns.data, e->ns.len, &ps->rs.peer, NULL);
}

/* Queues the members of ns other than the session's peer, in seq order,
 * batched into Messages of at most push_batch_bytes (a single larger entry
 * goes alone). */
static void push__snapshot(struct push_session *ps, const struct rdv_ns *ns)
{
    struct push_batch *b = &ps->st->batch;
    size_t max = ps->st->svc->cfg.push_batch_bytes;

    for (const struct rdv_reg *r = ns->regs; r && !ps->cut; r = r->ns_next) {
        if (peerid_eq(&r->peer, &ps->rs.peer))
            continue;
        size_t before = b->size;
        push__batch_add(b, r);
        /* 2 bytes: the Message's type field. */
        if (b->n > 1 && 2 + b->size > max) {
            /* The new entry does not fit: send the others, keep it. */
            b->n--;
            b->naddrs = b->e[b->n].addr0;
            b->size = before;
            struct push_buf *out = push__batch_take(b, false);
            push__enqueue(ps, out);
            push__unref(out);
            push__batch_add(b, r);
        }
    }
    if (b->n && !ps->cut) {
        struct push_buf *out = push__batch_take(b, false);
        push__enqueue(ps, out);
        push__unref(out);
    }
    b->n = b->naddrs = b->size = 0;
}

static void push__rendezvous(struct push_session *ps, const Push__Message__Rendezvous *e)
{
    const Push__Message__MessageType T = PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS;
    struct rdv_ns *ns = NULL;
    size_t before = ps->rs.nsubs;

    if (push__check_ns(ps, T, e->has_ns, &e->ns) || push__check_acl(ps, T, RDV_ACTION_SUBSCRIBE, &e->ns))
        return;
    enum rdv_status rc =
        registry_subscribe(&ps->st->svc->reg, &ps->rs, (const char *)e->ns.data, e->ns.len, &ns);
    if (rc != RDV_OK) {
        push__limit_status(ps, T, rc);
        return;
    }
    /* Nothing else runs between subscribing and queueing the snapshot, so
     * the first change after it queues behind it. */
    if (ps->rs.nsubs > before)
        push__snapshot(ps, ns);
}

static void push__discover(struct push_session *ps, const Push__Message__Discover *e)
{
    const Push__Message__MessageType T = PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER;
    const struct rdv_config *cfg = &ps->st->svc->cfg;
    struct push_batch *b = &ps->st->batch;

    if (push__check_ns(ps, T, e->has_ns, &e->ns) || push__check_acl(ps, T, RDV_ACTION_DISCOVER, &e->ns))
        return;
    uint64_t limit = e->has_limit && e->limit > 0 ? (uint64_t)e->limit : cfg->push_discover_default;
    if (limit > cfg->push_discover_max)
        limit = cfg->push_discover_max;
    const struct rdv_ns *ns = registry_ns(&ps->st->svc->reg, (const char *)e->ns.data, e->ns.len);
    for (const struct rdv_reg *r = ns ? ns->regs : NULL; r && b->n < limit; r = r->ns_next)
        if (!peerid_eq(&r->peer, &ps->rs.peer))
            push__batch_add(b, r);
    struct push_buf *out = push__batch_take(b, false);
    push__enqueue(ps, out);
    push__unref(out);
}

/* The namespace of a Message's first entry of its type, for the debug line. */
static void push__log_ns(struct push_session *ps, const Push__Message *m, int type)
{
    const ProtobufCBinaryData *ns = NULL;
    switch (type) {
    case PUSH__MESSAGE__MESSAGE_TYPE__REGISTER:
        ns = m->n_register_ && m->register_[0]->has_ns ? &m->register_[0]->ns : NULL;
        break;
    case PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER:
        ns = m->n_unregister && m->unregister[0]->has_ns ? &m->unregister[0]->ns : NULL;
        break;
    case PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS:
        ns = m->n_rendezvous && m->rendezvous[0]->has_ns ? &m->rendezvous[0]->ns : NULL;
        break;
    case PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER:
        ns = m->n_discovery && m->discovery[0]->has_ns ? &m->discovery[0]->ns : NULL;
        break;
    default:
        break;
    }
    if (ns)
        rdv_request_log_ns(&ps->st->req, ps->st->svc, (const char *)ns->data, ns->len);
}

/* One Message: each entry of its type in order. */
static int push__handle(struct push_session *ps, const uint8_t *d, size_t n)
{
    struct rdv_service *s = ps->st->svc;
    uint64_t errors0 = s->stats.errors[RDV_DIALECT_PUSH];
    double t0 = ev_time();
    Push__Message *m = push__message__unpack(NULL, n, d);
    if (m == NULL)
        return -1;
    int type = m->has_type ? (int)m->type : PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    size_t counts[PUSH_TYPES] = {m->n_register_, m->n_unregister, m->n_rendezvous, m->n_discovery};
    size_t kinds = 0;
    for (size_t i = 0; i < PUSH_TYPES; i++)
        kinds += counts[i] > 0;

    s->stats.requests[RDV_DIALECT_PUSH][type >= 0 && type < 8 ? type : 7]++;
    ps->st->req = (struct rdv_request_log){.status = -1};
    if (log_enabled(s->log, LOG_DEBUG))
        push__log_ns(ps, m, type);
    if (type < 0 || type >= PUSH_TYPES) {
        push__status(ps, PUSH__MESSAGE__MESSAGE_TYPE__REGISTER,
                     PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_REQUEST, "unknown message type %d",
                     type);
    } else if (counts[type] == 0 || kinds > 1) {
        static const char *const names[PUSH_TYPES] = {"REGISTER", "UNREGISTER", "RENDEZVOUS",
                                                      "DISCOVER"};
        push__status(ps, (Push__Message__MessageType)type,
                     PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_REQUEST,
                     counts[type] == 0 ? "%s message without a %s entry"
                                       : "%s message with entries of another type",
                     names[type], names[type]);
    } else {
        for (size_t i = 0; i < counts[type] && !ps->cut && !ps->ended; i++) {
            switch (type) {
            case PUSH__MESSAGE__MESSAGE_TYPE__REGISTER: push__register(ps, m->register_[i]); break;
            case PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER: push__unregister(ps, m->unregister[i]); break;
            case PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS: push__rendezvous(ps, m->rendezvous[i]); break;
            default: push__discover(ps, m->discovery[i]); break;
            }
        }
    }
    push__message__free_unpacked(m, NULL);
    if (log_enabled(s->log, LOG_DEBUG)) {
        struct rdv_request_log *rl = &ps->st->req;
        const ProtobufCEnumValue *tv =
            protobuf_c_enum_descriptor_get_value(&push__message__message_type__descriptor, type);
        if (rl->status < 0)
            rl->status = 0; /* no refusal: push mode answers success with nothing */
        const ProtobufCEnumValue *sv =
            protobuf_c_enum_descriptor_get_value(&push__message__response_status__descriptor, rl->status);
        rl->type = tv ? tv->name : NULL;
        rl->status_name = sv ? sv->name : NULL;
        rdv_request_log_write(s, RDV_DIALECT_PUSH, rl, &ps->rs.peer, t0);
    }
    rdv_stats_request(&s->stats, RDV_DIALECT_PUSH, type, errors0, t0);
    return 0;
}

/* ---- sessions ------------------------------------------------------------ */

struct push_session *push_session_open(struct rdv_service *s, const struct peer_id *peer,
                                       struct stream *stream)
{
    struct push_session *ps = xcalloc(1, sizeof(*ps));
    ps->st = push__state(s);
    ps->stream = stream;
    ps->over_soft_since = -1;
    registry_session_init(&ps->rs, peer, ps);
    lpm_init(&ps->in, s->cfg.max_message);
    s->stats.sessions_open[RDV_DIALECT_PUSH]++;
    return ps;
}

int push_session_input(struct push_session *ps, const uint8_t *d, size_t n)
{
    const uint8_t *msg;
    size_t len;
    int rc;

    if (ps->cut || ps->ended)
        return 0;
    lpm_push(&ps->in, d, n);
    while ((rc = lpm_next(&ps->in, &msg, &len)) == 1) {
        if (push__handle(ps, msg, len) < 0)
            return -1;
        if (ps->cut)
            return 0;
    }
    return rc;
}

void push_session_end(struct push_session *ps)
{
    if (ps->ended)
        return;
    ps->ended = true;
    registry_session_end(&ps->st->svc->reg, &ps->rs);
}

void push_session_free(struct push_session *ps)
{
    push_session_end(ps);
    push__unmark_dirty(ps);
    push__drop_queue(ps);
    lpm_free(&ps->in);
    ps->st->svc->stats.sessions_open[RDV_DIALECT_PUSH]--;
    free(ps);
}

const struct push_buf *push_session_peek(const struct push_session *ps)
{
    return ps->qlen ? ps->q[ps->qhead] : NULL;
}

void push_session_pop(struct push_session *ps)
{
    if (ps->qlen)
        push__drop_head(ps);
}

/* ---- stream protocol ----------------------------------------------------- */

static int push__open(struct stream *s)
{
    struct rdv_service *svc = s->proto->arg;
    s->state = push_session_open(svc, &stream_conn(s)->remote, s);
    return 0;
}

static void push__data(struct stream *s, const uint8_t *d, size_t n)
{
    struct push_session *ps = s->state;
    if (push_session_input(ps, d, n) < 0) {
        LOGD(ps->st->svc->log, "push: %s sent bytes that are not push messages; resetting",
             stream_conn(s)->remote_text);
        ps->st->svc->stats.errors[RDV_DIALECT_PUSH]++;
        stream_reset(s); /* the session ends in on_close, this iteration */
    }
}

/* The client half-closed: its session is over, but what it asked for
 * before still goes out, then our FIN. */
static void push__eof(struct stream *s)
{
    struct push_session *ps = s->state;
    LOGD(ps->st->svc->log, "push: %s half-closed its session", stream_conn(s)->remote_text);
    push_session_end(ps);
    ps->closing = true;
    if (ps->qlen == 0)
        stream_close(s);
}

static void push__writable(struct stream *s)
{
    push__mark_dirty(s->state);
}

static void push__close(struct stream *s)
{
    struct push_session *ps = s->state;
    ps->stream = NULL;
    push_session_free(ps);
    s->state = NULL;
}

void push_init(struct rdv_service *s)
{
    struct push_state *st = xcalloc(1, sizeof(*st));
    struct ev_loop *loop = s->host->loop;

    st->svc = s;
    s->push_state = st;
    s->push = (struct protocol){
        .id = s->cfg.push_protocol_id ? s->cfg.push_protocol_id : PUSH_PROTOCOL_ID,
        .on_open = push__open,
        .on_data = push__data,
        .on_eof = push__eof,
        .on_writable = push__writable,
        .on_close = push__close,
        .arg = s,
    };
    ev_prepare_init(&st->flush, push__on_prepare);
    st->flush.data = st;
    ev_set_priority(&st->flush, EV_MAXPRI); /* before the host's flush hook */
    ev_prepare_start(loop, &st->flush);
    ev_unref(loop); /* like the host's hook: it keeps no loop alive */
    ev_idle_init(&st->wake, push__on_wake);
    st->wake.data = st;
}

void push_free(struct rdv_service *s)
{
    struct push_state *st = push__state(s);
    struct ev_loop *loop = s->host->loop;
    if (st == NULL)
        return;
    ev_ref(loop);
    ev_prepare_stop(loop, &st->flush);
    ev_idle_stop(loop, &st->wake);
    /* host_free ended every session; none can still be dirty. */
    push__batch_free(&st->batch);
    buf_free(&st->frame);
    free(st->addrs);
    free(st);
    s->push_state = NULL;
}
