/* The relay's messages (WIRE.md §11): uvarint-framed HopMessage and
 * StopMessage protobufs, decoded into what the relay acts on and encoded
 * from it, and the reservation voucher (a signed envelope). No state: the
 * fuzz target drives these directly. */
#ifndef RDV_RELAY_RELAY_WIRE_H
#define RDV_RELAY_RELAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"

#define RELAY_VOUCHER_DOMAIN "libp2p-relay-rsvp"

/* Status codes (circuit.proto Status). */
enum relay_status {
    RELAY_OK = 100,
    RELAY_RESERVATION_REFUSED = 200,
    RELAY_RESOURCE_LIMIT_EXCEEDED = 201,
    RELAY_PERMISSION_DENIED = 202,
    RELAY_CONNECTION_FAILED = 203,
    RELAY_NO_RESERVATION = 204,
    RELAY_MALFORMED_MESSAGE = 400,
    RELAY_UNEXPECTED_MESSAGE = 401,
};

/* A hop request as the relay sees it. */
enum relay_hop_type { RELAY_HOP_RESERVE, RELAY_HOP_CONNECT, RELAY_HOP_OTHER };
struct relay_hop_req {
    enum relay_hop_type type;
    struct peer_id peer;      /* CONNECT: the target */
};

struct relay_limit {
    uint32_t duration;        /* seconds, 0 = none */
    uint64_t data;            /* bytes each way, 0 = none */
};

/* The first whole frame of in: 1 with *msg and *len (the frame is *used bytes,
 * header included; the caller consumes them), 0 if more bytes are needed,
 * -1 if the length is invalid or over max. */
int relay_wire_frame(const uint8_t *in, size_t n, size_t max, const uint8_t **msg, size_t *len,
                     size_t *used);

/* Decodes a HopMessage. 0, or -1 if it is undecodable or a CONNECT without
 * a valid peer id (MALFORMED_MESSAGE); a STATUS or an unknown type is
 * RELAY_HOP_OTHER. */
int relay_wire_hop(const uint8_t *msg, size_t len, struct relay_hop_req *req);
/* Decodes a StopMessage answer: its status, or -1 if it is not a STATUS. */
int relay_wire_stop_status(const uint8_t *msg, size_t len);

/* Appends a framed HopMessage STATUS: limit may be NULL (no limits, or a
 * refusal); for a reservation, expire, the relay's addresses (binary, with
 * /p2p/<relay>) and the voucher envelope. */
struct relay_grant {
    uint64_t expire;
    const uint8_t *const *addrs;
    const size_t *addr_lens;
    size_t naddrs;
    const uint8_t *voucher;
    size_t voucher_len;
};
void relay_wire_hop_status(struct buf *out, enum relay_status st, const struct relay_limit *limit,
                           const struct relay_grant *grant);
/* Appends a framed StopMessage CONNECT from source. */
void relay_wire_stop_connect(struct buf *out, const struct peer_id *source,
                             const struct relay_limit *limit);
/* Appends the voucher envelope for peer, signed with the relay's key. */
void relay_wire_voucher(struct buf *out, const struct privkey *k, const struct peer_id *relay,
                        const struct peer_id *peer, uint64_t expire);

#endif
