/* multibase: a one-character prefix naming the base. Decoding supports
 * b/B (base32 rfc4648, no padding), z (base58btc), f/F (base16),
 * m (base64), u (base64url); encoding the ones we print. */
#ifndef RDV_CODEC_MULTIBASE_H
#define RDV_CODEC_MULTIBASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the decoded length, or -1 on unknown prefix, bad text or short cap. */
int multibase_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Encodes with prefix `base` ('b', 'z', 'f', 'u'); NUL-terminated; returns length or -1. */
int multibase_encode(char base, const uint8_t *in, size_t n, char *out, size_t cap);

/* The RFC 4648 codecs behind the prefixes, with the alphabet as a parameter
 * (multiaddr's onion and garlic forms use their own). `alpha` holds 32 or 64
 * characters; `pad` selects '=' padding, which decoding then requires (and
 * otherwise rejects). Decoding is strict: characters outside the alphabet,
 * impossible lengths and non-zero trailing bits are errors, so every byte
 * string has exactly one text. Same returns as above. */
extern const char multibase_b32_lower[33];  /* "abcdefghijklmnopqrstuvwxyz234567" */
extern const char multibase_b32_upper[33];
extern const char multibase_b64_std[65];
extern const char multibase_b64_url[65];
int multibase_base32_encode(const char *alpha, bool pad, const uint8_t *in, size_t n,
                            char *out, size_t cap);
int multibase_base32_decode(const char *alpha, bool pad, const char *in, size_t n,
                            uint8_t *out, size_t cap);
int multibase_base64_encode(const char *alpha, bool pad, const uint8_t *in, size_t n,
                            char *out, size_t cap);
int multibase_base64_decode(const char *alpha, bool pad, const char *in, size_t n,
                            uint8_t *out, size_t cap);

#endif
