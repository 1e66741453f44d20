/* base58btc (Bitcoin alphabet), used for text peer ids. */
#ifndef RDV_CODEC_BASE58_H
#define RDV_CODEC_BASE58_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated text into out; returns its length or -1 if cap is short. */
int base58_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Returns the decoded length, or -1 on a bad character or a short cap. */
int base58_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
