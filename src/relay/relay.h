/* Circuit relay v2, the relay's side (WIRE.md §11): /libp2p/circuit/relay/
 * 0.2.0/hop for clients - RESERVE a slot, CONNECT to a peer that holds one -
 * and /libp2p/circuit/relay/0.2.0/stop, which the relay opens to the target
 * over the connection the target reserved on. Once the target answers OK,
 * the hop and stop streams are spliced: bytes go both ways through the
 * stream interface, each way at the pace its reader takes them (what one
 * side sends while the other cannot take it is held, withheld from the
 * sender's yamux window, so a circuit buffers at most a window each way).
 *
 * A reservation belongs to the connection it was made on: it ends at its
 * expiry or when that connection closes (host->on_conn_closed), whichever
 * comes first. Circuits end with either stream, at their duration or data
 * limit, or with the target's connection. */
#ifndef RDV_RELAY_RELAY_H
#define RDV_RELAY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "base/buf.h"
#include "host/host.h"

#define RELAY_HOP_ID "/libp2p/circuit/relay/0.2.0/hop"
#define RELAY_STOP_ID "/libp2p/circuit/relay/0.2.0/stop"
#define RELAY_MAX_MESSAGE 4096     /* a hop or stop message, as go-libp2p caps it */
#define RELAY_STOP_TIMEOUT 30.0    /* seconds for the target to answer a stop CONNECT */

struct relay_config {
    bool enabled;
    size_t max_reservations;          /* in all */
    size_t max_reservations_per_peer; /* one per connection of a peer */
    size_t max_reservations_per_ip;   /* IPv4 address, IPv6 /64 */
    double reservation_ttl;           /* seconds */
    size_t max_circuits_per_peer;     /* as source or target */
    double circuit_duration;          /* seconds; 0 = no limit */
    size_t circuit_data;              /* bytes each way; 0 = no limit */
};

void relay_config_default(struct relay_config *c);

/* Who may relay without limits (the daemon's access rules); NULL: nobody. */
struct relay_policy {
    bool (*unlimited)(const void *ctx, const struct peer_id *peer);
    const void *ctx;
};

/* Why a request was refused (stats.refused, metrics label). */
enum relay_refusal {
    RELAY_REFUSE_RESERVATIONS,      /* max-reservations reached */
    RELAY_REFUSE_PEER_RESERVATIONS, /* the peer holds max-reservations-per-peer */
    RELAY_REFUSE_IP_RESERVATIONS,   /* its address holds max-reservations-per-ip */
    RELAY_REFUSE_NO_RESERVATION,    /* CONNECT to a peer without one */
    RELAY_REFUSE_CIRCUITS,          /* source or target at max-circuits-per-peer */
    RELAY_REFUSE_SELF,              /* CONNECT to oneself */
    RELAY_REFUSE_CONNECTION_FAILED, /* the target refused or did not answer the stop */
    RELAY_REFUSE_MALFORMED,         /* undecodable or incomplete message */
    RELAY_REFUSE_UNEXPECTED,        /* a STATUS sent to the relay */
    RELAY_REFUSE_MEMORY,            /* max-memory reached */
    RELAY_REFUSE_REASONS
};
extern const char *const relay_refusal_names[RELAY_REFUSE_REASONS];

/* Why an open circuit ended. */
enum relay_end {
    RELAY_END_CLOSED,     /* both sides closed, or one reset or went away */
    RELAY_END_DURATION,   /* its duration limit */
    RELAY_END_DATA,       /* its data limit */
    RELAY_END_REASONS
};
extern const char *const relay_end_names[RELAY_END_REASONS];

struct relay_stats {
    uint64_t reservations_granted;  /* RESERVEs answered OK (refreshes included) */
    uint64_t circuits_opened;       /* CONNECTs answered OK */
    uint64_t bytes_relayed;         /* both ways */
    uint64_t refused[RELAY_REFUSE_REASONS];
    uint64_t ended[RELAY_END_REASONS];
    size_t reservations;            /* live */
    size_t circuits;                /* open, or waiting for the target */
};

struct relay_peer;
struct relay_ip;
struct relay_circuit;

struct relay {
    struct host *host;
    struct relay_config cfg;          /* limits read at each use (SIGHUP may change them) */
    struct relay_policy policy;
    struct protocol hop, stop;
    struct relay_peer *peers;         /* by peer id: reservations and circuit counts */
    struct relay_ip *ips;             /* by source address: reservation counts */
    struct relay_circuit *circuits;   /* every live circuit (for relay_free) */
    ev_timer sweep;                   /* drops expired reservations */
    uint8_t hash_key[16];             /* SipHash key of the tables (ids and addresses are chosen by peers) */
    struct relay_stats stats;
};

/* Sets up r (host handlers are registered by the caller: r->hop, r->stop)
 * and takes h->on_conn_closed. */
void relay_init(struct relay *r, struct host *h, const struct relay_config *cfg);
/* After host_free (the circuits are gone with their streams). */
void relay_free(struct relay *r);

#endif
