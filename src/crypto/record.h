/* Signed envelopes (RFC 0002) carrying peer records (RFC 0003), WIRE.md §8.
 * Two dialects are accepted and produced:
 *   standard: domain "libp2p-peer-record", payload type 03 01 (go, js, waku)
 *   legacy:   domain "libp2p-routing-state", payload type
 *             "/libp2p/routing-state-record" (rust-libp2p through core 0.44) */
#ifndef RDV_CRYPTO_RECORD_H
#define RDV_CRYPTO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"

#define RECORD_MAX_ENVELOPE 8192  /* envelopes larger than this are refused */
#define RECORD_MAX_ADDRS 32       /* addresses per record */
#define RECORD_MAX_ADDR_LEN 512   /* bytes per binary multiaddr */

enum record_dialect { RECORD_STANDARD = 0, RECORD_LEGACY = 1 };

struct record_addr {
    const uint8_t *bytes;   /* binary multiaddr, points into the record's copy */
    size_t len;
};

struct peer_record {
    enum record_dialect dialect;
    struct peer_id id;      /* == peer id of the signing key */
    uint64_t seq;
    size_t naddrs;
    struct record_addr addrs[RECORD_MAX_ADDRS];
    void *storage;          /* owned; freed by peer_record_free */
};

/* Verifies a serialized Envelope holding a peer record in either dialect:
 * the signature first, then the payload decode, then that the record's peer
 * id is the signer's and every address is a valid multiaddr. -1 with a reason
 * in err on any failure. */
int record_open(struct peer_record *rec, const uint8_t *env, size_t len, char *err, size_t errlen);
void peer_record_free(struct peer_record *rec);

/* Signs a peer record for our own key (addresses are binary multiaddrs) and
 * appends the serialized Envelope to out. */
void record_seal(const struct privkey *k, enum record_dialect dialect, uint64_t seq,
                 const struct record_addr *addrs, size_t naddrs, struct buf *out);

/* Signs payload with our own key under domain and payload type (RFC 0002)
 * and appends the serialized Envelope to out: peer records above, relay
 * reservation vouchers. */
void envelope_seal(const struct privkey *k, const char *domain, const uint8_t *type,
                   size_t type_len, const uint8_t *payload, size_t plen, struct buf *out);

#endif
