/* Shared between host.c and conn.c only. */
#ifndef RDV_HOST_INTERNAL_H
#define RDV_HOST_INTERNAL_H

#include "host/host.h"

/* A live connection is in exactly one timeout list (NONE: being freed). */
enum { TLIST_NONE = 0, TLIST_PENDING, TLIST_ESTABLISHED, TLIST_EXPIRED };

/* Creates a connection for a connected (or connecting) socket; ws: it will
 * have a WebSocket transport (conn_set_ws). */
struct conn *conn_new(struct host *h, int fd, bool dialer, bool connecting,
                      const struct sockaddr *sa, socklen_t salen, bool ws);
/* Its WebSocket transport (conn_new made room for it: ws was set). */
void conn_set_ws(struct conn *c, struct ws *ws);
/* A dialed connection's owner (conn_new with dialer set made room for it). */
void conn_set_events(struct conn *c, const struct conn_events *ev, void *user);
/* Seals and writes what is queued; frees the connection if it is closing and
 * everything is out. Only called from the host's flush hook. Returns true if
 * the connection was freed. */
bool conn_flush(struct conn *c);
/* Frees a connection now (host_free only). */
void conn_destroy(struct conn *c);
void conn_mark_dirty(struct conn *c);
/* A lean host's flush hook goes back on the loop (host.c). */
void host_wake_flush(struct host *h);
/* Starts or stops reading the socket (writing goes on). */
void conn_set_reading(struct conn *c, bool on);
/* Draining: the muxer takes no new streams (yamux says so with Go Away). */
void conn_mux_goaway(struct conn *c);
/* Drops every unsent byte (the peer had its chance to read them). */
void conn_drop_output(struct conn *c);
/* Timeout bookkeeping (host.c). */
void host_tlist_move(struct host *h, struct conn *c, int list);

/* Admission (admission.c). host_admit decides on an accepted socket from sa
 * before anything else is done with it: REFUSE_REASONS means admitted (the
 * source's connection is counted; host_admitted, once the connection
 * exists, takes its handshake slot), anything else is the refusal reason
 * for host_refuse, which closes fd and counts it. */
enum host_refusal host_admit(struct host *h, const struct sockaddr *sa);
void host_admitted(struct host *h, struct conn *c);
void host_refuse(struct host *h, int fd, const struct sockaddr *sa, enum host_refusal r);
/* The connection's handshake is over (ready, or gone): frees its slot. */
void host_handshake_end(struct host *h, struct conn *c);
/* The connection is gone: its source's count drops (and its slot). */
void host_ip_release(struct host *h, struct conn *c);
/* Drops idle source entries whose bucket is full again; frees them all. */
void host_sources_expire(struct host *h, ev_tstamp now);
void host_sources_free(struct host *h);
/* Starts or stops the listeners: they run unless the host is draining, at
 * max-handshakes, or backing off after a flood of refusals. */
void host_listeners_update(struct host *h);
/* Rests the listeners briefly (most of an accept batch was refused). */
void host_accept_backoff(struct host *h);

/* A connection log line (open, close, refused): rate-limited per second. */
#define HOST_LOG_CONN(h, lvl, ...)                                                                 \
    LOG_LIMITED((h)->log, &(h)->conn_lines, lvl, (h)->limits.log_conn_lines, ev_now((h)->loop),   \
                __VA_ARGS__)

#endif
