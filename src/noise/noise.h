/* Noise XX handshake and transport ciphers for noise-libp2p (WIRE.md §4):
 * Noise_XX_25519_ChaChaPoly_SHA256, empty prologue, libp2p handshake payload
 * in messages 2 and 3, no early muxer negotiation (no stream_muxers sent).
 * No I/O: the caller de-frames `u16 BE length ‖ message` and feeds messages. */
#ifndef RDV_NOISE_NOISE_H
#define RDV_NOISE_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"

#define NOISE_PROTOCOL_ID "/noise"
#define NOISE_MAX_MSG 65535
#define NOISE_TAG_LEN 16
#define NOISE_MAX_PLAINTEXT (NOISE_MAX_MSG - NOISE_TAG_LEN) /* 65519 */
#define NOISE_MAX_PAYLOAD 8192 /* handshake payload we accept (RSA keys are large) */

struct noise_vcache;

/* Our side's long-lived part: the libp2p identity and a static X25519 key,
 * made once per process, with the signed handshake payload precomputed so a
 * handshake costs no Ed25519 signature. */
struct noise_identity {
    uint8_t s_priv[32];
    uint8_t s_pub[32];
    uint8_t payload[256];
    size_t payload_len;
    /* Remote (identity key, static key, signature) triples that verified,
     * or NULL (the default): every handshake verifies. Owned, see below. */
    struct noise_vcache *vcache;
};

void noise_identity_init(struct noise_identity *ni, const struct privkey *id);
/* Frees the cache too. */
void noise_identity_wipe(struct noise_identity *ni);

/* Remembers the last NOISE_VCACHE_SLOTS verified remote payloads, so a peer
 * that reconnects with the same static key (libp2p clients keep one per
 * process) costs no Ed25519 verify. Fixed size, allocated here; a new triple
 * only replaces the one in its slot, and only after it verified. */
#define NOISE_VCACHE_SLOTS 256
void noise_identity_cache_verified(struct noise_identity *ni);
/* Cache hits and misses so far (0, 0 without a cache). */
void noise_vcache_counts(const struct noise_identity *ni, uint64_t *hits, uint64_t *misses);

/* One direction of the transport: key and 64-bit nonce counter. */
struct noise_cipher {
    uint8_t k[32];
    uint64_t n;
};

/* Encrypts n <= NOISE_MAX_PLAINTEXT bytes into out (n + 16 bytes); in and out
 * may be the same buffer. -1 once the nonce is exhausted. */
int noise_seal(struct noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out);
/* A cipher context for sealing big messages with OpenSSL's ChaCha20-Poly1305
 * (faster than libsodium's past about a kilobyte, slower below): one per
 * host, reused by every connection. NULL if OpenSSL cannot provide it. */
struct noise_bulk;
struct noise_bulk *noise_bulk_new(void);
void noise_bulk_free(struct noise_bulk *b);
/* noise_seal of the concatenation of the n parts of v (NOISE_MAX_PLAINTEXT
 * bytes at most, together) into out (their total + 16 bytes), without
 * gathering them in a buffer of the caller's first: the parts are copied
 * only to their place in out, or (long parts of a big message, with bulk)
 * read where they lie by the cipher. out must not overlap the parts. bulk
 * may be NULL (libsodium only). -1 once the nonce is exhausted or past the size. */
int noise_sealv(struct noise_cipher *c, struct noise_bulk *bulk, const struct iovec *v, size_t n,
                uint8_t *out);
/* Decrypts a transport message of n >= 16 bytes into out (n - 16 bytes); in
 * and out may be the same buffer. -1 on authentication failure. */
int noise_open(struct noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out);

enum noise_result {
    NOISE_AGAIN = 0,   /* handshake continues; send what was appended to out */
    NOISE_DONE = 1,    /* handshake complete; remote identity known */
    NOISE_FAILED = -1, /* hs->error says why; close the connection */
};

struct noise_hs {
    bool initiator;
    uint8_t step;
    uint8_t h[32], ck[32], k[32];
    uint64_t n;
    bool has_k;
    uint8_t e_priv[32], e_pub[32];
    uint8_t re[32], rs[32];
    const struct noise_identity *local;
    struct peer_id remote;        /* valid after NOISE_DONE */
    const char *error;
};

/* Starts a handshake. The initiator's first message (framed) is appended to
 * out at once; the responder waits for it. */
void noise_hs_init(struct noise_hs *hs, bool initiator, const struct noise_identity *local,
                   struct buf *out);
/* Processes one handshake message (without its u16 length) and appends our
 * next message, framed, to out when one is due. */
enum noise_result noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len, struct buf *out);
/* After NOISE_DONE: the transport ciphers (tx = ours to send), then wipes hs. */
void noise_hs_split(struct noise_hs *hs, struct noise_cipher *tx, struct noise_cipher *rx);
void noise_hs_wipe(struct noise_hs *hs);

#endif
