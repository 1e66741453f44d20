/* Push mode (WIRE.md §2, DESIGN.md "Push-mode semantics" and "Fan-out
 * notifier"): the server side of /rendezvous/legacy/1.0.0.
 *
 * A stream is a session. Its requests are handled as they arrive; everything
 * it is sent - answers, snapshots, announcements - goes through one ordered
 * queue of references to shared, already framed Messages, which the notifier
 * moves into the stream once per loop iteration as far as the yamux send
 * window allows. The queue, not the stream, holds a slow reader's backlog,
 * and the session is cut when that backlog passes its limits.
 *
 * The session functions are separate from the stream callbacks so that the
 * fuzz target and the unit tests can drive a session without a connection
 * (stream == NULL: output stays queued). */
#ifndef RDV_RENDEZVOUS_PUSH_H
#define RDV_RENDEZVOUS_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/lpm.h"
#include "rendezvous/service.h"

/* One framed Message (uvarint(len) ‖ protobuf), encoded once and shared by
 * every queue that sends it; freed when the last reference goes. */
struct push_buf {
    size_t refs;
    size_t len;
    bool announcement;        /* a registry change (counted in the stats) */
    double made;              /* when it was encoded (announcements: ev_time()) */
    uint8_t bytes[];
};

struct push_state;

/* The dialect: fills s->push and the notifier's state (push_free releases
 * it, after the registry is freed). The notifier must also receive every
 * registry change: registry_listen(&s->reg, &push_registry_events, s). */
void push_init(struct rdv_service *s);
void push_free(struct rdv_service *s);
extern const struct registry_events push_registry_events;

struct push_session {
    struct rdv_session rs;    /* the registry's view; rs.user = this */
    struct push_state *st;
    struct stream *stream;    /* NULL without a connection */
    struct lpm in;
    struct push_buf **q;      /* ring of references, oldest at qhead */
    size_t qhead, qlen, qcap;
    size_t qoff;              /* bytes of the oldest already written */
    size_t queued;            /* bytes still to write */
    double over_soft_since;   /* when queued went over the soft limit; < 0: it is not */
    struct push_session *dprev, *dnext; /* the notifier's dirty list */
    bool dirty;
    bool ended;               /* the registry session is over (FIN or cut) */
    bool closing;             /* FIN once the queue is written */
    bool cut;                 /* over its output limit: nothing more is queued */
};

/* A session of the authenticated peer on stream st (which may be NULL). */
struct push_session *push_session_open(struct rdv_service *s, const struct peer_id *peer,
                                       struct stream *st);
/* Bytes received on the session: every whole Message is handled in order.
 * -1 if the input is not push-mode Messages (undecodable, or a length over
 * max_message): the caller resets the stream. */
int push_session_input(struct push_session *ps, const uint8_t *d, size_t n);
/* Removes everything the session owns (announcing it) and its
 * subscriptions; its queue keeps draining. Idempotent. */
void push_session_end(struct push_session *ps);
/* Ends the session if needed and frees it with its queue. */
void push_session_free(struct push_session *ps);
/* The next queued Message (NULL if none) and dropping it: for tests and the
 * fuzz target, which have no stream to write to. */
const struct push_buf *push_session_peek(const struct push_session *ps);
void push_session_pop(struct push_session *ps);

#endif
