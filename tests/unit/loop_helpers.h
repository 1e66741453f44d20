/* What the tests that run hosts on one loop share: running the loop until
 * a condition holds, the listen address of a server, and raw yamux frames a
 * misbehaving peer sends. Header-only: each test is one program. */
#ifndef RDV_TESTS_LOOP_HELPERS_H
#define RDV_TESTS_LOOP_HELPERS_H

#include <stdbool.h>
#include <stdio.h>

#include "codec/multiaddr.h"
#include "host/internal.h"

/* A timer that only makes EVRUN_ONCE return often, so deadlines are seen. */
static inline void loop_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static inline bool loop_never(void *arg)
{
    (void)arg;
    return false;
}

static inline bool loop_conn_ready(void *arg) { return ((struct conn *)arg)->mux_ready; }

/* Runs the loop until done(arg) or `secs` pass, calling each(each_arg)
 * (if given) after every iteration; returns done(arg). */
static inline bool loop_until(struct ev_loop *loop, bool (*done)(void *), void *arg, double secs,
                              void (*each)(void *), void *each_arg)
{
    ev_tstamp end = ev_time() + secs;
    while (!done(arg)) {
        if (ev_time() > end)
            return false;
        ev_run(loop, EVRUN_ONCE);
        if (each)
            each(each_arg);
    }
    return true;
}

/* h listens on 127.0.0.1, an ephemeral port; addr gets its /p2p/ address. */
static inline void loop_listen(struct host *h, char *addr, size_t cap)
{
    char err[256], ma[MULTIADDR_TEXT_MAX];
    assert_int_equal(host_listen(h, "/ip4/127.0.0.1/tcp/0", err, sizeof(err)), 0);
    assert_true(multiaddr_to_text(h->listeners[0].ma, h->listeners[0].ma_len, ma, sizeof(ma)) > 0);
    snprintf(addr, cap, "%s/p2p/%s", ma, h->id_text);
}

/* Grants the other side `delta` more send window on our stream s, as a
 * peer may (a raw yamux window update). */
static inline void loop_grant(struct conn *c, struct stream *s, uint32_t delta)
{
    uint8_t h[YAMUX_HEADER_LEN] = {0, YAMUX_WINDOW_UPDATE, 0, 0};
    uint32_t id = s->ys->id;
    for (int i = 0; i < 4; i++) {
        h[4 + i] = (uint8_t)(id >> (24 - 8 * i));
        h[8 + i] = (uint8_t)(delta >> (24 - 8 * i));
    }
    buf_append(yamux_out(&c->mux), h, sizeof(h));
    conn_mark_dirty(c);
}

#endif
