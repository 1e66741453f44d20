/* Push mode (WIRE.md §2, DESIGN.md "Push-mode semantics" and "Fan-out
 * notifier"): the server side of /rendezvous/legacy/1.0.0.
 *
 * A stream is a session. Its requests are handled as they arrive (push.c);
 * everything it is sent - answers, snapshots, announcements - goes out in
 * one order, through one queue of references to shared, already framed
 * Messages, which the notifier (push_notify.c) writes into the stream at
 * the connection's flush as far as the stream has room. The queue, not the
 * stream, holds a slow reader's backlog: announcements waiting there are
 * coalesced per (peer, namespace), and the session is cut when the backlog
 * passes its limits. Messages are encoded in push_wire.c.
 *
 * The session functions are separate from the stream callbacks so that the
 * fuzz target and the unit tests can drive a session without a connection
 * (stream == NULL: everything stays queued, in full). */
#ifndef RDV_RENDEZVOUS_PUSH_H
#define RDV_RENDEZVOUS_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "base/lpm.h"
#include "rendezvous/push_wire.h"
#include "rendezvous/service.h"

struct push_state;

/* The dialect: fills s->push and the notifier's state (push_free releases
 * it, after the registry is freed). The notifier must also receive every
 * registry change: registry_listen(&s->reg, &push_registry_events, s). */
void push_init(struct rdv_service *s);
void push_free(struct rdv_service *s);
extern const struct registry_events push_registry_events;

/* The queued announcement of one (peer, namespace), by its position. */
struct push_pending {
    UT_hash_handle hh;
    uint64_t key;             /* push_buf.key */
    uint64_t pos;             /* its position in the session's queue */
};

/* A session's output queue: a ring of references to shared, framed
 * Messages and its state, in one block that exists only while something is
 * queued (push_notify.c allocates it with the first Message and frees it
 * once the last is written or dropped). Positions restart from 0 with each
 * new queue: nothing refers to them while it is empty. */
struct push_queue {
    uint64_t base;            /* position of the oldest (positions only grow) */
    uint64_t barrier;         /* position after the last queued Message that is
                               * not an announcement: nothing moves before it */
    struct push_pending *pending; /* uthash by key: announcements waiting in ring */
    size_t off;               /* bytes of the oldest already written */
    size_t queued;            /* bytes still to write */
    double over_soft_since;   /* when queued went over the soft limit; < 0: it is not */
    uint32_t head, len, cap;
    struct push_buf *ring[];  /* cap slots, oldest at head */
};

/* One per subscriber connection, so it is kept small: on yamux it lives in
 * its stream's block (protocol.state_size), its request reader and its
 * queue exist only while something is received or queued, and its peer id
 * is the connection's. */
struct push_session {
    struct rdv_session rs;    /* the registry's view, first: push_session_of */
    struct push_state *st;
    struct stream *stream;    /* NULL without a connection */
    const struct peer_id *peer; /* the authenticated peer: the connection's, or
                               * the copy after the session (without a stream) */
    struct lpm *in;           /* requests received and not handled yet; NULL while
                               * there are none (most of a session's life) */
    struct push_queue *q;     /* what waits to be written; NULL while nothing does */
    bool ended : 1;           /* the registry session is over (FIN or cut) */
    bool fin : 1;             /* the client half-closed */
    bool closing : 1;         /* FIN once the queue is written */
    bool cut : 1;             /* over its output limit: nothing more is queued */
    bool serving : 1;         /* inside push_session_serve */
    bool blocked : 1;         /* its stream had no room for the queue: waiting for
                               * on_writable, announcements are coalesced */
    bool deferred : 1;        /* Messages wait for the next pass's entry budget */
    bool embedded : 1;        /* in its stream's block: not freed on its own */
};

/* The push session a registry session is the view of. */
static inline struct push_session *push_session_of(const struct rdv_session *s)
{
    return (struct push_session *)(void *)((char *)(uintptr_t)s - offsetof(struct push_session, rs));
}

/* Bytes queued to the session and not written yet. */
static inline size_t push_session_queued(const struct push_session *ps)
{
    return ps->q ? ps->q->queued : 0;
}

/* A session of the authenticated peer on stream st (which may be NULL: the
 * session then keeps its own copy of peer, else peer must outlive it), in
 * the stream's room if it has some. */
struct push_session *push_session_open(struct rdv_service *s, const struct peer_id *peer,
                                       struct stream *st);
/* Bytes received on the session: whole Messages are handled in order while
 * the session's backlog is small (always, without a stream); the others
 * wait for push_session_serve. -1 if the input is not push-mode Messages
 * (undecodable, or a length over max_message): the caller resets the
 * stream. */
int push_session_input(struct push_session *ps, const uint8_t *d, size_t n);
/* Handles the Messages that waited, as far as the backlog allows; -1 as
 * for push_session_input. */
int push_session_serve(struct push_session *ps);
/* Removes everything the session owns (announcing it) and its
 * subscriptions; its queue keeps draining. Idempotent. */
void push_session_end(struct push_session *ps);
/* Cluster mode: a REGISTER of session s that the cluster refused after it
 * was handled (a cluster-wide limit, or Redis lost): s is told now, as it
 * would have been at once on a single node. ctx is the service. */
void push_session_refused(void *ctx, struct rdv_session *s, enum rdv_status st);
/* Ends the session if needed and frees it with its queue. */
void push_session_free(struct push_session *ps);
/* The next queued Message (NULL if none) and dropping it: for tests and the
 * fuzz target, which have no stream to write to. */
const struct push_buf *push_session_peek(const struct push_session *ps);
void push_session_pop(struct push_session *ps);

#endif
