/* A bump allocator over a caller's buffer (usually on the stack), for
 * decoding one message with protobuf-c: no malloc per field, and nothing to
 * free piece by piece. What does not fit in the buffer comes from the heap
 * and is released by arena_free with the rest. Not for long-lived data. */
#ifndef RDV_BASE_ARENA_H
#define RDV_BASE_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct arena_block;

struct arena {
    uint8_t *mem;
    size_t cap, used;
    struct arena_block *heap; /* overflow blocks, newest first */
    ProtobufCAllocator pb;    /* hands out arena memory; its free does nothing */
};

void arena_init(struct arena *a, void *mem, size_t cap);
/* n bytes aligned for any type; aborts when out of memory, as xmalloc does. */
void *arena_alloc(struct arena *a, size_t n);
/* Releases the overflow blocks; the arena may be used again after it. */
void arena_free(struct arena *a);

#endif
