/* The push notifier (push_notify.c): session output queues, their limits,
 * and the fan-out of registry changes to subscribers. Shared by push.c
 * only. */
#ifndef RDV_RENDEZVOUS_PUSH_NOTIFY_H
#define RDV_RENDEZVOUS_PUSH_NOTIFY_H

#include <sodium.h>

#include "rendezvous/push.h"

struct push_state {
    struct rdv_service *svc;
    struct push_batch batch;     /* announcements, snapshots, DISCOVER answers */
    struct rdv_addr *addrs;      /* a REGISTER's addresses (at most max_addrs) */
    size_t addrs_cap;
    uint8_t key[crypto_generichash_KEYBYTES]; /* for push_buf.key */
    struct rdv_request_log req;  /* the Message being handled, for its debug line */
    /* Where the refusals of the Message being handled are collected, when
     * they are answered together (push.c); NULL: each is sent at once. */
    struct push_refusals *refused;
    /* Request entries all sessions may still have handled in this pass of
     * the loop (push.c), the pass it is for (ev_now), and the sessions
     * whose Messages wait (for the next pass, or for their peer's rate),
     * resumed by a timer. */
    size_t pass_left;
    double pass_stamp;
    struct push_deferred *deferred;
    size_t ndeferred, deferred_cap;
    ev_timer resume;
    bool rate_limited;           /* the Message being handled hit register-rate */
};

struct push_deferred {
    struct push_session *ps;
    double at;                   /* ev_now time from which it may go on */
};

/* Sends b to the session after everything before it: a reference to b is
 * queued and written at the connection's flush (at once past a full frame)
 * as far as the stream has room. While the stream has none (blocked), an
 * announcement replaces a queued one of the same (peer, namespace) when
 * nothing else was queued after that one. Checks the output limits (the
 * session may be cut). */
void push_notify_send(struct push_session *ps, struct push_buf *b);
/* Writes queued bytes into the stream while it has room (on_writable,
 * asked for or not); sends our FIN once a closing session's queue is
 * empty. */
void push_notify_fill(struct push_session *ps);
/* Drops the oldest queued Message (tests and the fuzz target read the
 * queue of a session without a stream). */
void push_notify_pop(struct push_session *ps);
/* Drops the queue (the session is cut or freed). */
void push_notify_drop(struct push_session *ps);

void push_notify_init(struct push_state *st, struct rdv_service *s);
void push_notify_free(struct push_state *st);

#endif
