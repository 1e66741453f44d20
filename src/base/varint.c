#include "base/varint.h"

size_t uvarint_put(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

size_t uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int uvarint_get(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == UVARINT_MAX_INPUT)
            return -1;
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (p[i] == 0 && i > 0)
                return -1; /* a trailing zero group is not minimal */
            *v = x;
            return (int)(i + 1);
        }
    }
    return n >= UVARINT_MAX_INPUT ? -1 : 0;
}
