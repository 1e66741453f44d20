#include "base/arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/mem.h"

struct arena_block {
    struct arena_block *next;
    alignas(max_align_t) uint8_t data[];
};

#define ARENA_ALIGN alignof(max_align_t)

static void *arena__pb_alloc(void *ctx, size_t n) { return arena_alloc(ctx, n); }

static void arena__pb_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* everything goes at arena_free */
}

void arena_init(struct arena *a, void *mem, size_t cap)
{
    /* The buffer's start may be unaligned: skip to the first aligned byte. */
    size_t skip = (ARENA_ALIGN - (uintptr_t)mem % ARENA_ALIGN) % ARENA_ALIGN;
    a->mem = mem;
    a->cap = cap;
    a->used = skip < cap ? skip : cap;
    a->heap = NULL;
    a->pb = (ProtobufCAllocator){.alloc = arena__pb_alloc, .free = arena__pb_free, .allocator_data = a};
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t rounded = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (rounded >= n && rounded <= a->cap - a->used) {
        void *p = a->mem + a->used;
        a->used += rounded;
        return p;
    }
    if (n > SIZE_MAX - sizeof(struct arena_block))
        abort();
    struct arena_block *b = xmalloc(sizeof *b + n);
    b->next = a->heap;
    a->heap = b;
    return b->data;
}

void arena_free(struct arena *a)
{
    while (a->heap) {
        struct arena_block *b = a->heap;
        a->heap = b->next;
        free(b);
    }
    arena_init(a, a->mem, a->cap);
}
