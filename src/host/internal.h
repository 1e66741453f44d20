/* Shared between host.c and conn.c only. */
#ifndef RDV_HOST_INTERNAL_H
#define RDV_HOST_INTERNAL_H

#include "host/host.h"

/* A connection is in at most one timeout list. */
enum { TLIST_NONE = 0, TLIST_PENDING, TLIST_ESTABLISHED };

/* Creates a connection for a connected (or connecting) socket. */
struct conn *conn_new(struct host *h, int fd, bool dialer, bool connecting,
                      const struct sockaddr *sa, socklen_t salen);
/* Seals and writes what is queued; frees the connection if it is closing and
 * everything is out. Only called from the host's flush hook. Returns true if
 * the connection was freed. */
bool conn_flush(struct conn *c);
/* Frees a connection now (host_free only). */
void conn_destroy(struct conn *c);
void conn_mark_dirty(struct conn *c);
/* Drops every unsent byte (the peer had its chance to read them). */
void conn_drop_output(struct conn *c);
/* Timeout bookkeeping (host.c). */
void host_tlist_move(struct host *h, struct conn *c, int list);
void host_ip_release(struct host *h, struct conn *c);

#endif
