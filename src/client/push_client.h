/* Push-mode client: one session (an outbound stream) with a rendezvous
 * server speaking /rendezvous/legacy/1.0.0. Requests are encoded with
 * protobuf-c and written at once; every Message received is decoded and
 * handed to the owner in order.
 *
 * Push mode has no acknowledgements: a request that is accepted is not
 * answered. To know that the requests sent so far were handled, send a
 * DISCOVER after them - its answer comes after any rejection of them. */
#ifndef RDV_CLIENT_PUSH_CLIENT_H
#define RDV_CLIENT_PUSH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/lpm.h"
#include "host/host.h"
#include "push.pb-c.h"
#include "registry/registry.h"

/* DISCOVER answers are one Message however many entries they hold. */
#define PUSH_CLIENT_MAX_MESSAGE (8u << 20)
/* Stack bytes a received Message is decoded into (more spills to the heap),
 * and the input buffer an idle session keeps. */
#define PUSH_CLIENT_ARENA 4096
#define PUSH_CLIENT_KEEP 4096

struct push_client;

struct push_client_handler {
    /* The server agreed on the protocol (optional). */
    void (*on_open)(struct push_client *pc);
    /* Each Message received; m is freed after the call. */
    void (*on_message)(struct push_client *pc, const Push__Message *m);
    /* The session is over; why says how. pc may be freed from here on. */
    void (*on_end)(struct push_client *pc, const char *why);
};

struct push_client {
    struct protocol proto;      /* ours: it outlives the stream */
    struct stream *stream;      /* NULL once the session ended */
    struct lpm in;
    const struct push_client_handler *h;
    void *user;
    bool opened, eof;
    struct buf out;             /* encoding scratch */
};

/* Opens the session on c with protocol id `id` (NULL: WIRE_PUSH_PROTOCOL_ID).
 * Requests may be sent at once. -1 if the connection takes no new stream. */
int push_client_open(struct push_client *pc, struct conn *c, const char *id,
                     const struct push_client_handler *h, void *user);
/* REGISTER{ns, peer{id, addrs}}; peer_id NULL sends none (= the sender). */
void push_client_register(struct push_client *pc, const char *ns, const char *peer_id,
                          const struct rdv_addr *addrs, size_t naddrs);
/* The same with presence metadata (Peer field 3; none if meta is NULL). */
void push_client_register_meta(struct push_client *pc, const char *ns, const char *peer_id,
                               const struct rdv_addr *addrs, size_t naddrs, const uint8_t *meta,
                               size_t meta_len);
void push_client_unregister(struct push_client *pc, const char *ns);
void push_client_rendezvous(struct push_client *pc, const char *ns);
/* limit <= 0: the server's default. */
void push_client_discover(struct push_client *pc, const char *ns, int64_t limit);
/* Any Message, and raw bytes (tests of malformed input). */
void push_client_send(struct push_client *pc, const Push__Message *m);
void push_client_send_raw(struct push_client *pc, const void *d, size_t n);
/* Half-closes (the server ends the session and closes its side) or resets. */
void push_client_close(struct push_client *pc);
void push_client_reset(struct push_client *pc);

#endif
