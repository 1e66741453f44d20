/* base58btc. Both directions are the schoolbook base conversion, done in
 * place in the caller's output buffer so no allocation is needed: the inputs
 * are peer ids and CIDs (tens of bytes), where O(n^2) is irrelevant. */
#include "codec/base58.h"

#include <limits.h>
#include <string.h>

static const char base58_alphabet[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Value of an alphabet character, -1 for anything else (including 0, O, I, l
 * and every non-ASCII byte). */
static int base58__value(unsigned char c)
{
    if (c >= '1' && c <= '9')
        return c - '1';
    if (c >= 'A' && c <= 'H')
        return c - 'A' + 9;
    if (c >= 'J' && c <= 'N')
        return c - 'J' + 17;
    if (c >= 'P' && c <= 'Z')
        return c - 'P' + 22;
    if (c >= 'a' && c <= 'k')
        return c - 'a' + 33;
    if (c >= 'm' && c <= 'z')
        return c - 'm' + 44;
    return -1;
}

/* Reverses p[0, n). */
static void base58__reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        uint8_t t = p[i];
        p[i] = p[j - 1];
        p[j - 1] = t;
    }
}

int base58_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    uint8_t *dig = (uint8_t *)out; /* base-58 digits, least significant first */
    size_t zeros = 0, len = 0;

    if (cap > INT_MAX)
        cap = INT_MAX; /* the length must fit the int return */
    if (cap == 0)
        return -1;
    while (zeros < n && in[zeros] == 0)
        zeros++;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = in[i];
        for (size_t j = 0; j < len; j++) {
            carry += (unsigned)dig[j] << 8;
            dig[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            if (len >= cap)
                return -1;
            dig[len++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    /* Leading zero bytes become leading '1's; plus the NUL. */
    if (zeros >= cap || len >= cap - zeros)
        return -1;
    base58__reverse(dig, len);
    if (zeros && len)
        memmove(out + zeros, dig, len);
    memset(out, '1', zeros);
    for (size_t i = zeros; i < zeros + len; i++)
        out[i] = base58_alphabet[(uint8_t)out[i]];
    out[zeros + len] = '\0';
    return (int)(zeros + len);
}

int base58_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t ones = 0, len = 0; /* out[0, len) holds the value, little-endian */

    if (cap > INT_MAX)
        cap = INT_MAX;
    while (ones < n && in[ones] == '1')
        ones++;
    for (size_t i = ones; i < n; i++) {
        int v = base58__value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        unsigned carry = (unsigned)v;
        for (size_t j = 0; j < len; j++) {
            carry += (unsigned)out[j] * 58;
            out[j] = (uint8_t)(carry & 0xff);
            carry >>= 8;
        }
        while (carry) {
            if (len >= cap)
                return -1;
            out[len++] = (uint8_t)(carry & 0xff);
            carry >>= 8;
        }
    }
    if (ones > cap || len > cap - ones)
        return -1;
    base58__reverse(out, len);
    if (ones && len)
        memmove(out + ones, out, len);
    if (ones)
        memset(out, 0, ones);
    return (int)(ones + len);
}
