#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/varint.h"

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

struct buf *buf_held(struct buf **slot)
{
    if (*slot == NULL)
        *slot = xcalloc(1, sizeof(**slot));
    return *slot;
}

void buf_held_release(struct buf **slot)
{
    if (*slot) {
        buf_free(*slot);
        free(*slot);
        *slot = NULL;
    }
}

void buf_reset(struct buf *b) { b->off = b->len = 0; }

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->data + b->len;
    size_t used = buf_size(b);
    if (b->off > 0 && b->cap - used >= n && b->off >= used) {
        /* Compacting is enough and cheap (moves at most as much as it frees). */
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        return b->data + b->len;
    }
    if (n > UINT32_MAX - used) { /* beyond any limit: a program error */
        fprintf(stderr, "buffer of %zu + %zu bytes: over 4 GiB\n", used, n);
        abort();
    }
    size_t need = used + n, cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    uint8_t *d = xmalloc(cap);
    if (used)
        memcpy(d, b->data + b->off, used);
    free(b->data);
    b->data = d;
    b->off = 0;
    b->len = used;
    b->cap = cap;
    return b->data + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void buf_append_u8(struct buf *b, uint8_t v) { buf_append(b, &v, 1); }

void buf_append_be16(struct buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 2);
}

void buf_append_be32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 4);
}

void buf_append_uvarint(struct buf *b, uint64_t v)
{
    b->len += uvarint_put(buf_reserve(b, UVARINT_MAX_LEN), v);
}

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

void buf_shrink(struct buf *b, size_t keep)
{
    if (buf_size(b) == 0 && b->cap > keep) {
        free(b->data);
        buf_init(b);
    }
}
