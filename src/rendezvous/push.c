/* Push mode: sessions and their requests (see push.h; the notifier is
 * push_notify.c, the encoding push_wire.c).
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
 * A Message's refused entries are answered together, by one status Message
 * after everything its other entries produced: the first refusal's status,
 * and a text that says how many entries were refused and which was first.
 * A peer that sends Messages of many entries it may not make (over its
 * rate, say) so gets one answer per Message, not per entry. DISCOVER is the
 * exception: each of its entries gets exactly one answer, its list or its
 * status.
 *
 * Request entries are handled within a budget per pass of the loop, all
 * sessions together (PUSH_PASS_ENTRIES; each session that has a Message
 * gets at least one handled per pass): a peer that sends Messages of many
 * entries as fast as it can cannot make one pass long. The rest waits, held
 * from the peer's window, for a zero timer (the next pass). A Message that
 * the peer's registration rate refused makes the session's next Messages
 * wait until a token is due (1 / register-rate): retrying at once would be
 * refused again, and would cost the loop as much.
 *
 * A session answers requests only while its backlog (what its stream could
 * not take) is under PUSH_SERVE_BACKLOG: the other requests wait in the
 * reader, withheld from the peer's window, until the stream takes the
 * backlog (on_writable). A peer that asks without reading stops itself. */
#include "rendezvous/push.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "rendezvous/push_notify.h"

#define PUSH_TYPES 4         /* REGISTER, UNREGISTER, RENDEZVOUS, DISCOVER */
#define PUSH_SERVE_BACKLOG (64u << 10) /* queued bytes above which requests wait */
#define PUSH_PASS_ENTRIES 500 /* request entries handled per pass of the loop (~0.5 ms) */

static struct push_state *push__state(const struct rdv_service *s) { return s->push_state; }

/* ---- requests ------------------------------------------------------------ */

static void push__status(struct push_session *ps, Push__Message__MessageType type,
                         Push__Message__ResponseStatus status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The refused entries of one Message: how many, and the first one's entry
 * (from 0), status and text. */
struct push_refusals {
    size_t n, entry, first;
    Push__Message__ResponseStatus status;
    char text[160];
};

/* Sends a rejection, or keeps it for the Message's one answer; the session
 * carries on. */
static void push__status(struct push_session *ps, Push__Message__MessageType type,
                         Push__Message__ResponseStatus status, const char *fmt, ...)
{
    struct push_refusals *rf = ps->st->refused;
    char text[sizeof(rf->text)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ps->st->req.status = (int)status;
    ps->st->svc->stats.errors[RDV_DIALECT_PUSH]++;
    if (rf) {
        if (rf->n++ == 0) {
            rf->first = rf->entry;
            rf->status = status;
            memcpy(rf->text, text, sizeof(text));
        }
        return;
    }
    struct push_buf *b = push_wire_status(type, status, text);
    push_notify_send(ps, b);
    push_buf_unref(b);
}

/* The one answer to the refused entries of a Message of n entries. */
static void push__status_refused(struct push_session *ps, Push__Message__MessageType type,
                                 const struct push_refusals *rf, size_t n)
{
    char text[sizeof(rf->text) + 128];
    if (rf->n == 0 || ps->cut || ps->ended)
        return;
    if (n == 1)
        snprintf(text, sizeof(text), "%s", rf->text);
    else
        snprintf(text, sizeof(text), "%zu of %zu entries refused, the first (entry %zu): %s", rf->n,
                 n, rf->first + 1, rf->text);
    struct push_buf *b = push_wire_status(type, rf->status, text);
    push_notify_send(ps, b);
    push_buf_unref(b);
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
                           ps->peer))
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
    if (!peerid_eq(&id, ps->peer)) {
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
        ps->st->rate_limited = true;
        push__status(ps, type, busy, "registration changes too frequent for this peer, retry later");
        break;
    case RDV_E_UNAVAILABLE:
        push__status(ps, type, busy, "the cluster's registry is unreachable; try again later");
        break;
    case RDV_E_METADATA:
        push__status(ps, type, PUSH__MESSAGE__RESPONSE_STATUS__E_INVALID_PEER,
                     "metadata is at most %zu bytes", l->max_metadata);
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
        .peer = ps->peer,
        .dialect = RDV_DIALECT_PUSH,
        .addrs = st->addrs,
        .naddrs = naddrs,
        .metadata = p && p->has_metadata ? p->metadata.data : NULL,
        .metadata_len = p && p->has_metadata ? p->metadata.len : 0,
        .owner = &ps->rs,
        .now = rdv_service_now(s),
    };
    uint64_t ticket;
    enum rdv_status rc = rdv_service_register(s, &req, &ticket);
    if (rc != RDV_OK)
        push__limit_status(ps, T, rc);
}

static void push__unregister(struct push_session *ps, const Push__Message__Unregister *e)
{
    const Push__Message__MessageType T = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    if (push__check_ns(ps, T, e->has_ns, &e->ns) || push__check_peer(ps, T, e->peer))
        return;
    /* Not registered there: nothing to do, and nothing to complain about. */
    rdv_service_unregister(ps->st->svc, (const char *)e->ns.data, e->ns.len, ps->peer);
}

/* Queues the members of ns other than the session's peer, in seq order,
 * batched into Messages of at most push_batch_bytes (a single larger entry
 * goes alone). */
static void push__snapshot(struct push_session *ps, const struct rdv_ns *ns)
{
    struct push_batch *b = &ps->st->batch;
    size_t max = ps->st->svc->cfg.push_batch_bytes;

    for (const struct rdv_reg *r = ns->regs; r && !ps->cut; r = r->ns_next) {
        if (peerid_eq(r->peer, ps->peer))
            continue;
        push_batch_add(b, r);
        /* 2 bytes: the Message's type field. */
        if (b->n > 1 && 2 + b->size > max) {
            /* The new entry does not fit: send the others, keep it. */
            push_batch_drop_last(b);
            struct push_buf *out = push_batch_take(b, false);
            push_notify_send(ps, out);
            push_buf_unref(out);
            push_batch_add(b, r);
        }
    }
    if (b->n && !ps->cut) {
        struct push_buf *out = push_batch_take(b, false);
        push_notify_send(ps, out);
        push_buf_unref(out);
    }
    push_batch_clear(b);
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
        if (!peerid_eq(r->peer, ps->peer))
            push_batch_add(b, r);
    struct push_buf *out = push_batch_take(b, false);
    push_notify_send(ps, out);
    push_buf_unref(out);
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

/* One Message: each entry of its type in order. Returns the number of
 * entries (at least 1), or -1 if it is not a Message. */
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
    size_t kinds = 0, entries = 1;
    for (size_t i = 0; i < PUSH_TYPES; i++) {
        kinds += counts[i] > 0;
        entries += counts[i];
    }

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
    } else if (type != PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER && !rdv_service_admit(s)) {
        /* Removals free memory: only they go on while the budget is spent. */
        push__status(ps, (Push__Message__MessageType)type,
                     PUSH__MESSAGE__RESPONSE_STATUS__E_UNAVAILABLE, "%s", RDV_MEMORY_FULL_TEXT);
    } else {
        struct push_state *st = ps->st;
        struct push_refusals rf = {0}, *outer = st->refused;
        st->refused = type != PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER ? &rf : NULL;
        for (size_t i = 0; i < counts[type] && !ps->cut && !ps->ended; i++) {
            rf.entry = i;
            switch (type) {
            case PUSH__MESSAGE__MESSAGE_TYPE__REGISTER: push__register(ps, m->register_[i]); break;
            case PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER: push__unregister(ps, m->unregister[i]); break;
            case PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS: push__rendezvous(ps, m->rendezvous[i]); break;
            default: push__discover(ps, m->discovery[i]); break;
            }
        }
        st->refused = outer;
        push__status_refused(ps, (Push__Message__MessageType)type, &rf, counts[type]);
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
        rdv_request_log_write(s, RDV_DIALECT_PUSH, rl, ps->peer, t0);
    }
    rdv_stats_request(&s->stats, RDV_DIALECT_PUSH, type, errors0, t0);
    return entries > INT32_MAX ? INT32_MAX : (int)entries;
}

/* ---- sessions ------------------------------------------------------------ */

struct push_session *push_session_open(struct rdv_service *s, const struct peer_id *peer,
                                       struct stream *stream)
{
    struct push_session *ps = stream ? stream_state_room(stream, sizeof(*ps)) : NULL;
    if (ps) {
        ps->embedded = true;
        ps->peer = peer;
    } else if (stream) {
        ps = xcalloc(1, sizeof(*ps));
        ps->peer = peer;
    } else {
        ps = xcalloc(1, sizeof(*ps) + sizeof(*peer));
        struct peer_id *own = (struct peer_id *)(void *)(ps + 1);
        *own = *peer;
        ps->peer = own;
    }
    ps->st = push__state(s);
    ps->stream = stream;
    registry_session_init(&ps->rs);
    s->stats.sessions_open[RDV_DIALECT_PUSH]++;
    return ps;
}

/* Entries left in this pass's budget (a new pass starts with a full one). */
static size_t push__pass_left(struct push_state *st)
{
    struct ev_loop *loop = st->svc->host->loop;
    if (ev_now(loop) != st->pass_stamp) {
        st->pass_stamp = ev_now(loop);
        st->pass_left = PUSH_PASS_ENTRIES;
    }
    return st->pass_left;
}

/* Arms the timer for the earliest deferred session. */
static void push__arm(struct push_state *st)
{
    struct ev_loop *loop = st->svc->host->loop;
    ev_timer_stop(loop, &st->resume);
    if (st->ndeferred == 0)
        return;
    double at = st->deferred[0].at;
    for (size_t i = 1; i < st->ndeferred; i++)
        if (st->deferred[i].at < at)
            at = st->deferred[i].at;
    double after = at - ev_now(loop);
    ev_timer_set(&st->resume, after > 0 ? after : 0., 0.);
    ev_timer_start(loop, &st->resume);
}

/* The session's next Messages wait until `at` (ev_now time; now: the next
 * pass). */
static void push__defer(struct push_session *ps, double at)
{
    struct push_state *st = ps->st;
    if (ps->deferred)
        return;
    if (st->ndeferred == st->deferred_cap) {
        st->deferred_cap = st->deferred_cap ? st->deferred_cap * 2 : 16;
        st->deferred = xrealloc(st->deferred, st->deferred_cap * sizeof(*st->deferred));
    }
    st->deferred[st->ndeferred++] = (struct push_deferred){ps, at};
    ps->deferred = true;
    push__arm(st);
}

static void push__undefer(struct push_session *ps)
{
    struct push_state *st = ps->st;
    if (!ps->deferred)
        return;
    ps->deferred = false;
    for (size_t i = 0; i < st->ndeferred; i++) {
        if (st->deferred[i].ps == ps) {
            st->ndeferred--;
            memmove(st->deferred + i, st->deferred + i + 1,
                    (st->ndeferred - i) * sizeof(*st->deferred));
            return;
        }
    }
}

/* How long a session waits after a Message that its peer's registration
 * rate refused: until a token is due (at most a second). 0: no rate. */
static double push__rate_pause(const struct push_state *st)
{
    double rate = st->svc->reg.limits.register_rate;
    return rate > 0 ? (rate >= 1 ? 1 / rate : 1) : 0;
}

/* Bytes of whole requests waiting to be handled. */
static size_t push__whole(const struct push_session *ps) { return ps->in ? ps->in->whole : 0; }

static void push__reader_free(struct push_session *ps)
{
    if (ps->in) {
        lpm_free(ps->in);
        free(ps->in);
        ps->in = NULL;
    }
}

int push_session_serve(struct push_session *ps)
{
    const uint8_t *msg;
    size_t len;
    int rc = 0;
    bool budget = ps->stream != NULL && ps->st->svc->host != NULL, handled = false;

    if (ps->serving) /* a request's own output woke the stream */
        return 0;
    ps->serving = true;
    while (!ps->cut && !ps->ended && (ps->stream == NULL || push_session_queued(ps) < PUSH_SERVE_BACKLOG)) {
        struct push_state *st = ps->st;
        if (ps->deferred) /* the timer resumes it */
            break;
        if (budget && handled && push__pass_left(st) == 0 && push__whole(ps) > 0) {
            push__defer(ps, ev_now(st->svc->host->loop));
            break;
        }
        if (ps->in == NULL || (rc = lpm_next(ps->in, &msg, &len)) != 1)
            break;
        st->rate_limited = false;
        int entries = push__handle(ps, msg, len);
        if (entries < 0) {
            rc = -1;
            break;
        }
        handled = true;
        if (budget) {
            size_t left = push__pass_left(st);
            st->pass_left = left > (size_t)entries ? left - (size_t)entries : 0;
            /* Refused for its rate: what it sends next waits until the
             * peer may change something again, held from its window. */
            if (st->rate_limited && push__rate_pause(st) > 0) {
                push__defer(ps, ev_now(st->svc->host->loop) + push__rate_pause(st));
                break;
            }
        }
    }
    ps->serving = false;
    if (ps->cut || ps->ended)
        return 0;
    if (rc >= 0 && ps->in && push__whole(ps) == 0 && buf_size(&ps->in->in) == 0)
        push__reader_free(ps); /* all handled: an idle session holds no reader */
    if (ps->stream)
        stream_hold_input(ps->stream, ps->in ? buf_size(&ps->in->in) : 0, push__whole(ps));
    return rc < 0 ? -1 : 0;
}

int push_session_input(struct push_session *ps, const uint8_t *d, size_t n)
{
    if (ps->cut || ps->ended)
        return 0;
    if (ps->in == NULL) {
        ps->in = xmalloc(sizeof(*ps->in));
        lpm_init(ps->in, ps->st->svc->cfg.max_message);
    }
    lpm_push(ps->in, d, n);
    return push_session_serve(ps);
}

void push_session_end(struct push_session *ps)
{
    if (ps->ended)
        return;
    ps->ended = true;
    rdv_service_session_end(ps->st->svc, &ps->rs);
}

void push_session_refused(void *ctx, struct rdv_session *s, enum rdv_status st)
{
    struct push_session *ps = push_session_of(s); /* the cluster tells only its own */
    (void)ctx;
    if (ps->ended || ps->cut)
        return;
    push__limit_status(ps, PUSH__MESSAGE__MESSAGE_TYPE__REGISTER, st);
}

void push_session_free(struct push_session *ps)
{
    push__undefer(ps);
    push_session_end(ps);
    push_notify_drop(ps);
    push__reader_free(ps);
    ps->st->svc->stats.sessions_open[RDV_DIALECT_PUSH]--;
    if (!ps->embedded)
        free(ps); /* else its stream's block goes after on_close */
}

const struct push_buf *push_session_peek(const struct push_session *ps)
{
    return ps->q ? ps->q->ring[ps->q->head] : NULL;
}

void push_session_pop(struct push_session *ps) { push_notify_pop(ps); }

/* ---- stream protocol ----------------------------------------------------- */

static int push__open(struct stream *s)
{
    struct rdv_service *svc = s->proto->arg;
    s->state = push_session_open(svc, conn_peer(stream_conn(s)), s);
    return 0;
}

static void push__bad_input(struct stream *s)
{
    struct push_session *ps = s->state;
    LOGD(ps->st->svc->log, "push: %s sent bytes that are not push messages; resetting",
         CONN_PEER_TEXT(stream_conn(s)));
    ps->st->svc->stats.errors[RDV_DIALECT_PUSH]++;
    stream_reset(s); /* the session ends in on_close, this iteration */
}

static void push__data(struct stream *s, const uint8_t *d, size_t n)
{
    if (push_session_input(s->state, d, n) < 0)
        push__bad_input(s);
}

/* After the client's FIN, once the requests it sent before are handled:
 * its session is over, what it asked for still goes out, then our FIN. */
static void push__finish(struct stream *s)
{
    struct push_session *ps = s->state;
    if (!ps->fin || push__whole(ps) != 0 || ps->closing)
        return;
    push_session_end(ps);
    ps->closing = true;
    if (ps->q == NULL)
        stream_close(s);
}

static void push__eof(struct stream *s)
{
    struct push_session *ps = s->state;
    LOGD(ps->st->svc->log, "push: %s half-closed its session", CONN_PEER_TEXT(stream_conn(s)));
    ps->fin = true;
    push__finish(s);
}

/* The stream has room again: the backlog goes first, then the requests
 * that waited for it. */
static void push__writable(struct stream *s)
{
    struct push_session *ps = s->state;
    push_notify_fill(ps);
    if (push_session_serve(ps) < 0)
        push__bad_input(s);
    else
        push__finish(s);
}

/* The sessions whose Messages waited (for the next pass, or for their
 * peer's rate) and may go on now do, oldest first; those that spend the
 * budget again wait anew. */
static void push__resume(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct push_state *st = w->data;
    double now = ev_now(loop);
    size_t n = st->ndeferred, i = 0;
    (void)revents;
    for (size_t k = 0; k < n && i < st->ndeferred; k++) {
        struct push_session *ps = st->deferred[i].ps;
        if (st->deferred[i].at > now) {
            i++;
            continue;
        }
        push__undefer(ps);
        if (ps->stream)
            push__writable(ps->stream);
    }
    push__arm(st);
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

    push_notify_init(st, s);
    ev_timer_init(&st->resume, push__resume, 0., 0.);
    st->resume.data = st;
    s->push_state = st;
    s->push = (struct protocol){
        .id = s->cfg.push_protocol_id ? s->cfg.push_protocol_id : PUSH_PROTOCOL_ID,
        .on_open = push__open,
        .on_data = push__data,
        .on_eof = push__eof,
        .on_writable = push__writable,
        .on_close = push__close,
        .arg = s,
        .state_size = sizeof(struct push_session),
    };
}

void push_free(struct rdv_service *s)
{
    struct push_state *st = push__state(s);
    if (st == NULL)
        return;
    /* host_free ended every session. */
    if (s->host)
        ev_timer_stop(s->host->loop, &st->resume);
    free(st->deferred);
    push_notify_free(st);
    free(st);
    s->push_state = NULL;
}
