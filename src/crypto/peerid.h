/* Peer ids (WIRE.md §7): the multihash of the canonical PublicKey protobuf,
 * identity-hashed up to 42 bytes, sha2-256 above. Text form is base58btc;
 * CIDv1 (libp2p-key codec 0x72) in any supported multibase is also parsed. */
#ifndef RDV_CRYPTO_PEERID_H
#define RDV_CRYPTO_PEERID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/key.h"

#define PEERID_MAX 48     /* 0x00 ‖ varint(42) ‖ 42 bytes = 44; sha256 = 34 */
#define PEERID_TEXT_MAX 72 /* base58 of 48 bytes is at most 66 chars, plus NUL */

struct peer_id {
    uint8_t len;
    uint8_t b[PEERID_MAX];
};

/* The empty id (len 0): no peer authenticated yet. */
extern const struct peer_id peerid_none;

int peerid_from_pubkey(struct peer_id *id, const struct pubkey *k);
/* Binary form (a multihash): identity (≤ 42 bytes of a valid PublicKey) or sha2-256. */
int peerid_from_bytes(struct peer_id *id, const uint8_t *p, size_t n);
/* base58btc text, or a CIDv1 with codec libp2p-key. -1 if invalid. */
int peerid_from_text(struct peer_id *id, const char *s, size_t n);
/* base58btc text, NUL-terminated; returns length or -1 if cap is short. */
int peerid_to_text(const struct peer_id *id, char *out, size_t cap);
/* CIDv1 text (libp2p-key codec, base32 lower case, prefix 'b'),
 * NUL-terminated; returns length or -1 if cap is short. */
#define PEERID_CID_TEXT_MAX 96 /* 'b' + base32 of 2 + 48 bytes = 81 chars, plus NUL */
int peerid_to_cid_text(const struct peer_id *id, char *out, size_t cap);
/* The public key inlined in an identity-hash peer id; -1 for sha256 ids. */
int peerid_pubkey(const struct peer_id *id, struct pubkey *k);

static inline bool peerid_eq(const struct peer_id *a, const struct peer_id *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

#endif
