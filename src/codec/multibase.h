/* multibase: a one-character prefix naming the base. Decoding supports
 * b/B (base32 rfc4648, no padding), z (base58btc), f/F (base16),
 * m (base64), u (base64url); encoding the ones we print. */
#ifndef RDV_CODEC_MULTIBASE_H
#define RDV_CODEC_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>

/* Returns the decoded length, or -1 on unknown prefix, bad text or short cap. */
int multibase_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Encodes with prefix `base` ('b', 'z', 'f', 'u'); NUL-terminated; returns length or -1. */
int multibase_encode(char base, const uint8_t *in, size_t n, char *out, size_t cap);

#endif
