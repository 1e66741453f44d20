/* Growable byte buffer with a read offset, so consuming from the front is
 * O(1) and appending compacts only when needed. Valid bytes: data[off, len).
 * Every connection and stream embeds some, so offsets are 32-bit (24 B a
 * buffer, not 32): every buffer's size is bounded by a limit far below
 * 4 GiB, and one that would grow past it aborts like a failed allocation. */
#ifndef RDV_BASE_BUF_H
#define RDV_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    uint32_t off;
    uint32_t len;
    uint32_t cap;
};

#define BUF_INIT {NULL, 0, 0, 0}

static inline void buf_init(struct buf *b) { b->data = NULL; b->off = b->len = b->cap = 0; }
static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
/* NULL for a buffer never allocated (NULL + 0 is undefined behaviour). */
static inline uint8_t *buf_head(const struct buf *b) { return b->data ? b->data + b->off : NULL; }

void buf_free(struct buf *b);
/* A buffer that exists only while it holds bytes: *slot is created on first
 * use and buf_held_release frees it (data and struct) and clears *slot. */
struct buf *buf_held(struct buf **slot);
void buf_held_release(struct buf **slot);
/* Drops all bytes; keeps the allocation. */
void buf_reset(struct buf *b);
/* Makes room for n more bytes and returns where they go; buf_commit(b, n) then
 * makes them part of the buffer. */
uint8_t *buf_reserve(struct buf *b, size_t n);
static inline void buf_commit(struct buf *b, size_t n) { b->len += n; }
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_u8(struct buf *b, uint8_t v);
void buf_append_be16(struct buf *b, uint16_t v);
void buf_append_be32(struct buf *b, uint32_t v);
void buf_append_uvarint(struct buf *b, uint64_t v);
/* Keeps the first n bytes (n <= buf_size). */
static inline void buf_truncate(struct buf *b, size_t n) { b->len = b->off + n; }
/* Removes n bytes from the front (n <= buf_size). */
void buf_consume(struct buf *b, size_t n);
/* Releases memory of a large, now empty buffer (idle connections stay small). */
void buf_shrink(struct buf *b, size_t keep);

#endif
