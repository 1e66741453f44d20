/* The request arena: allocations come from the caller's buffer, aligned,
 * until it is used up, then from the heap; arena_free releases those and
 * starts over; protobuf-c decodes through it, larger than the buffer too. */
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/arena.h"
#include "rendezvous.pb-c.h"

static bool inside(const uint8_t *mem, size_t cap, const void *p)
{
    return (const uint8_t *)p >= mem && (const uint8_t *)p < mem + cap;
}

static void buffer_then_heap(void **state)
{
    (void)state;
    alignas(max_align_t) uint8_t mem[256];
    struct arena a;
    /* An unaligned start is skipped up to the next aligned byte. */
    arena_init(&a, mem + 1, sizeof mem - 1);
    void *p = arena_alloc(&a, 3), *q = arena_alloc(&a, 40);
    assert_true(inside(mem, sizeof mem, p) && inside(mem, sizeof mem, q));
    assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
    assert_int_equal((uintptr_t)q % alignof(max_align_t), 0);
    assert_true((uint8_t *)q >= (uint8_t *)p + 3);
    memset(p, 1, 3);
    memset(q, 2, 40);
    /* More than is left: from the heap, usable in full. */
    uint8_t *big = arena_alloc(&a, 1000);
    assert_false(inside(mem, sizeof mem, big));
    memset(big, 3, 1000);
    uint8_t *big2 = arena_alloc(&a, 5000);
    memset(big2, 4, 5000);
    assert_int_equal(((uint8_t *)q)[39], 2);
    /* Freed (ASan sees a leak otherwise) and reused from the start. */
    arena_free(&a);
    assert_ptr_equal(arena_alloc(&a, 3), p);
    arena_free(&a);
}

static void protobuf_decodes_through_it(void **state)
{
    (void)state;
    uint8_t env[3000], wire[3200];
    memset(env, 0xab, sizeof env);
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Register r = RENDEZVOUS__MESSAGE__REGISTER__INIT;
    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.register_ = &r;
    r.ns = "a-namespace";
    r.has_signedpeerrecord = 1;
    r.signedpeerrecord.data = env;
    r.signedpeerrecord.len = sizeof env;
    size_t n = rendezvous__message__pack(&m, wire);

    for (size_t cap = 64; cap <= 8192; cap *= 4) { /* from mostly heap to all in the buffer */
        alignas(max_align_t) uint8_t mem[8192];
        struct arena a;
        arena_init(&a, mem, cap);
        Rendezvous__Message *d = rendezvous__message__unpack(&a.pb, n, wire);
        assert_non_null(d);
        assert_non_null(d->register_);
        assert_string_equal(d->register_->ns, "a-namespace");
        assert_int_equal(d->register_->signedpeerrecord.len, sizeof env);
        assert_memory_equal(d->register_->signedpeerrecord.data, env, sizeof env);
        /* A truncated message fails cleanly; what it allocated goes below. */
        assert_null(rendezvous__message__unpack(&a.pb, n - 7, wire));
        arena_free(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffer_then_heap),
        cmocka_unit_test(protobuf_decodes_through_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
