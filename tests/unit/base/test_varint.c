/* Unsigned varints: spec examples, minimal-encoding rule, 9-byte limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/varint.h"

static void roundtrip(uint64_t v, const uint8_t *want, size_t wlen)
{
    uint8_t out[UVARINT_MAX_LEN];
    uint64_t back;
    assert_int_equal(uvarint_put(out, v), wlen);
    assert_memory_equal(out, want, wlen);
    assert_int_equal(uvarint_size(v), wlen);
    assert_int_equal(uvarint_get(out, wlen, &back), (int)wlen);
    assert_true(back == v);
}

static void spec_examples(void **state)
{
    (void)state;
    roundtrip(1, (const uint8_t *)"\x01", 1);
    roundtrip(127, (const uint8_t *)"\x7f", 1);
    roundtrip(128, (const uint8_t *)"\x80\x01", 2);
    roundtrip(255, (const uint8_t *)"\xff\x01", 2);
    roundtrip(300, (const uint8_t *)"\xac\x02", 2);
    roundtrip(16384, (const uint8_t *)"\x80\x80\x01", 3);
    roundtrip(421, (const uint8_t *)"\xa5\x03", 2);
    roundtrip(0, (const uint8_t *)"\x00", 1);
}

static void rejects_non_minimal(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(uvarint_get((const uint8_t *)"\x81\x00", 2, &v), -1);
    assert_int_equal(uvarint_get((const uint8_t *)"\x80\x80\x00", 3, &v), -1);
}

static void incomplete_needs_more(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(uvarint_get((const uint8_t *)"\x80", 1, &v), 0);
    assert_int_equal(uvarint_get((const uint8_t *)"", 0, &v), 0);
}

static void max_nine_bytes(void **state)
{
    (void)state;
    uint64_t v;
    uint8_t nine[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(uvarint_get(nine, 9, &v), 9);
    assert_true(v == 0x7fffffffffffffffULL);
    uint8_t ten[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(uvarint_get(ten, 10, &v), -1);
    assert_int_equal(uvarint_get(ten, 9, &v), -1); /* already too long */
}

static void buf_append_and_consume(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_append_uvarint(&b, (uint64_t)i);
    size_t off = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t v;
        int n = uvarint_get(buf_head(&b) + off, buf_size(&b) - off, &v);
        assert_true(n > 0);
        assert_true(v == (uint64_t)i);
        off += (size_t)n;
    }
    assert_int_equal(off, buf_size(&b));
    buf_consume(&b, off);
    assert_int_equal(buf_size(&b), 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_examples),
        cmocka_unit_test(rejects_non_minimal),
        cmocka_unit_test(incomplete_needs_more),
        cmocka_unit_test(max_nine_bytes),
        cmocka_unit_test(buf_append_and_consume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
