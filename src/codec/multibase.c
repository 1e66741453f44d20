/* multibase and the RFC 4648 codecs it is made of. base32 and base64 share
 * one bit-group implementation: a group of `gbytes` bytes is `gchars`
 * characters of `bits` bits each (5 -> 8 for base32, 3 -> 4 for base64). */
#include "codec/multibase.h"

#include <string.h>

#include "codec/base58.h"

const char multibase_b32_lower[33] = "abcdefghijklmnopqrstuvwxyz234567";
const char multibase_b32_upper[33] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const char multibase_b64_std[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char multibase_b64_url[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Inputs beyond this are refused so that size arithmetic cannot overflow and
 * results fit the int return. */
#define MB_MAX_IN ((size_t)1 << 28)

struct mb_radix {
    unsigned bits, gbytes, gchars;
};

static const struct mb_radix mb_r32 = {5, 5, 8};
static const struct mb_radix mb_r64 = {6, 3, 4};

/* True if a final partial group of `rem` characters can come from whole
 * bytes, i.e. re-encoding those bytes gives exactly `rem` characters. */
static int mb__rem_ok(const struct mb_radix *r, size_t rem)
{
    size_t bytes = rem * r->bits / 8;
    return rem == 0 || (bytes * 8 + r->bits - 1) / r->bits == rem;
}

static int mb__encode(const struct mb_radix *r, const char *alpha, bool pad,
                      const uint8_t *in, size_t n, char *out, size_t cap)
{
    if (n > MB_MAX_IN)
        return -1;
    size_t chars = (n * 8 + r->bits - 1) / r->bits;
    size_t total = chars;
    if (pad && chars % r->gchars)
        total += r->gchars - chars % r->gchars;
    if (total >= cap)
        return -1;

    unsigned acc = 0, nacc = 0, mask = (1u << r->bits) - 1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        nacc += 8;
        while (nacc >= r->bits) {
            nacc -= r->bits;
            out[o++] = alpha[(acc >> nacc) & mask];
        }
        acc &= (1u << nacc) - 1; /* keep only unread bits: no overflow */
    }
    if (nacc)
        out[o++] = alpha[(acc << (r->bits - nacc)) & mask];
    while (o < total)
        out[o++] = '=';
    out[o] = '\0';
    return (int)o;
}

static int mb__decode(const struct mb_radix *r, const char *alpha, bool pad,
                      const char *in, size_t n, uint8_t *out, size_t cap)
{
    signed char rev[256];
    size_t alen = (size_t)1 << r->bits;

    if (n > MB_MAX_IN)
        return -1;
    if (pad) {
        if (n % r->gchars)
            return -1;
        size_t pads = 0;
        while (pads < n && in[n - 1 - pads] == '=')
            pads++;
        size_t rem = (r->gchars - pads % r->gchars) % r->gchars;
        /* The padding must be exactly what the encoder adds. */
        if (pads >= r->gchars || !mb__rem_ok(r, rem))
            return -1;
        n -= pads;
    } else if (!mb__rem_ok(r, n % r->gchars)) {
        return -1;
    }
    size_t outlen = n * r->bits / 8;
    if (outlen > cap)
        return -1;

    memset(rev, -1, sizeof rev);
    for (size_t i = 0; i < alen; i++)
        rev[(unsigned char)alpha[i]] = (signed char)i;

    unsigned acc = 0, nacc = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = rev[(unsigned char)in[i]];
        if (v < 0)
            return -1;
        acc = (acc << r->bits) | (unsigned)v;
        nacc += r->bits;
        if (nacc >= 8) {
            nacc -= 8;
            out[o++] = (uint8_t)(acc >> nacc);
        }
        acc &= (1u << nacc) - 1;
    }
    /* Left-over bits are padding of the last character; a canonical
     * encoder leaves them zero. */
    if (acc != 0)
        return -1;
    return (int)o;
}

int multibase_base32_encode(const char *alpha, bool pad, const uint8_t *in, size_t n,
                            char *out, size_t cap)
{
    return mb__encode(&mb_r32, alpha, pad, in, n, out, cap);
}

int multibase_base32_decode(const char *alpha, bool pad, const char *in, size_t n,
                            uint8_t *out, size_t cap)
{
    return mb__decode(&mb_r32, alpha, pad, in, n, out, cap);
}

int multibase_base64_encode(const char *alpha, bool pad, const uint8_t *in, size_t n,
                            char *out, size_t cap)
{
    return mb__encode(&mb_r64, alpha, pad, in, n, out, cap);
}

int multibase_base64_decode(const char *alpha, bool pad, const char *in, size_t n,
                            uint8_t *out, size_t cap)
{
    return mb__decode(&mb_r64, alpha, pad, in, n, out, cap);
}

static int mb__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int mb__hex_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 2 || n / 2 > cap || n > MB_MAX_IN)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = mb__hexval((unsigned char)in[i]), lo = mb__hexval((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

static int mb__hex_encode(const char *digits, const uint8_t *in, size_t n, char *out,
                          size_t cap)
{
    if (n > MB_MAX_IN || 2 * n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
    return (int)(2 * n);
}

int multibase_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n == 0)
        return -1;
    const char *t = in + 1;
    size_t tn = n - 1;
    switch (in[0]) {
    case 'b': return multibase_base32_decode(multibase_b32_lower, false, t, tn, out, cap);
    case 'B': return multibase_base32_decode(multibase_b32_upper, false, t, tn, out, cap);
    case 'z': return base58_decode(t, tn, out, cap);
    case 'f':
    case 'F': return mb__hex_decode(t, tn, out, cap);
    case 'm': return multibase_base64_decode(multibase_b64_std, false, t, tn, out, cap);
    case 'u': return multibase_base64_decode(multibase_b64_url, false, t, tn, out, cap);
    default: return -1;
    }
}

int multibase_encode(char base, const uint8_t *in, size_t n, char *out, size_t cap)
{
    int r;
    if (cap < 2)
        return -1;
    char *t = out + 1;
    size_t tc = cap - 1;
    switch (base) {
    case 'b': r = multibase_base32_encode(multibase_b32_lower, false, in, n, t, tc); break;
    case 'B': r = multibase_base32_encode(multibase_b32_upper, false, in, n, t, tc); break;
    case 'z': r = base58_encode(in, n, t, tc); break;
    case 'f': r = mb__hex_encode("0123456789abcdef", in, n, t, tc); break;
    case 'F': r = mb__hex_encode("0123456789ABCDEF", in, n, t, tc); break;
    case 'm': r = multibase_base64_encode(multibase_b64_std, false, in, n, t, tc); break;
    case 'u': r = multibase_base64_encode(multibase_b64_url, false, in, n, t, tc); break;
    default: return -1;
    }
    if (r < 0)
        return -1;
    out[0] = base;
    return r + 1;
}
