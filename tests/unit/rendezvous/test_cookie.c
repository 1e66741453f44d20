/* /rendezvous/1.0.0 cookies (BE64(seq) ‖ ns): layout, round trips, every
 * way a cookie is refused; and the wire helper that spots NUL bytes in
 * namespace fields protobuf-c would silently cut short. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "rendezvous/cookie.h"

static void layout(void **state)
{
    (void)state;
    uint8_t c[COOKIE_MAX];
    assert_int_equal(cookie_encode(c, 0x0102030405060708ull, "chat", 4), 12);
    assert_memory_equal(c, "\x01\x02\x03\x04\x05\x06\x07\x08" "chat", 12);
    /* all namespaces: just the sequence number */
    assert_int_equal(cookie_encode(c, 1, NULL, 0), COOKIE_SEQ_LEN);
    assert_memory_equal(c, "\0\0\0\0\0\0\0\x01", 8);
    assert_int_equal(cookie_encode(c, UINT64_MAX, "", 0), 8);
    assert_memory_equal(c, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
}

static void round_trips(void **state)
{
    (void)state;
    uint8_t c[COOKIE_MAX];
    char ns[RDV_NS_MAX];
    memset(ns, 'x', sizeof ns);
    const uint64_t seqs[] = {0, 1, 255, 256, 1700000000000000ull, UINT64_MAX - 1};
    const size_t lens[] = {0, 1, 4, RDV_NS_MAX};
    for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++) {
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            uint64_t back = 12345;
            size_t n = cookie_encode(c, seqs[i], ns, lens[k]);
            assert_int_equal(n, COOKIE_SEQ_LEN + lens[k]);
            assert_int_equal(cookie_decode(c, n, ns, lens[k], UINT64_MAX, &back), COOKIE_OK);
            assert_true(back == seqs[i]);
        }
    }
}

static void short_cookies(void **state)
{
    (void)state;
    uint8_t c[COOKIE_MAX];
    uint64_t seq = 77;
    cookie_encode(c, 1, NULL, 0);
    for (size_t n = 0; n < COOKIE_SEQ_LEN; n++)
        assert_int_equal(cookie_decode(c, n, NULL, 0, 100, &seq), COOKIE_SHORT);
    assert_true(seq == 77); /* untouched on failure */
    assert_string_equal(cookie_result_text(COOKIE_SHORT), "cookie is shorter than 8 bytes");
}

static void namespace_must_match(void **state)
{
    (void)state;
    uint8_t c[COOKIE_MAX];
    uint64_t seq;
    size_t n = cookie_encode(c, 5, "chat", 4);

    assert_int_equal(cookie_decode(c, n, "chat", 4, 10, &seq), COOKIE_OK);
    assert_int_equal(cookie_decode(c, n, "chas", 4, 10, &seq), COOKIE_WRONG_NS);
    assert_int_equal(cookie_decode(c, n, "cha", 3, 10, &seq), COOKIE_WRONG_NS);
    assert_int_equal(cookie_decode(c, n, "chats", 5, 10, &seq), COOKIE_WRONG_NS);
    /* a namespace cookie used for all namespaces, and the reverse */
    assert_int_equal(cookie_decode(c, n, NULL, 0, 10, &seq), COOKIE_WRONG_NS);
    n = cookie_encode(c, 5, NULL, 0);
    assert_int_equal(cookie_decode(c, n, "chat", 4, 10, &seq), COOKIE_WRONG_NS);
    assert_int_equal(cookie_decode(c, n, NULL, 0, 10, &seq), COOKIE_OK);
    /* byte-exact: case and trailing bytes count */
    n = cookie_encode(c, 5, "Chat", 4);
    assert_int_equal(cookie_decode(c, n, "chat", 4, 10, &seq), COOKIE_WRONG_NS);
}

static void seq_never_issued(void **state)
{
    (void)state;
    uint8_t c[COOKIE_MAX];
    uint64_t seq = 0;
    size_t n = cookie_encode(c, 1000, "ns", 2);
    assert_int_equal(cookie_decode(c, n, "ns", 2, 1000, &seq), COOKIE_OK);
    assert_true(seq == 1000);
    assert_int_equal(cookie_decode(c, n, "ns", 2, 999, &seq), COOKIE_FUTURE);
    n = cookie_encode(c, UINT64_MAX, "ns", 2);
    assert_int_equal(cookie_decode(c, n, "ns", 2, 1u << 30, &seq), COOKIE_FUTURE);
    /* seq 0 ("nothing seen yet") is always acceptable */
    n = cookie_encode(c, 0, "ns", 2);
    assert_int_equal(cookie_decode(c, n, "ns", 2, 1, &seq), COOKIE_OK);
    assert_true(seq == 0);
    for (int r = COOKIE_OK; r <= COOKIE_FUTURE; r++)
        assert_non_null(cookie_result_text((enum cookie_result)r));
}

/* Message{type=3, discover{ns=<ns>}} with field numbers of the standard dialect. */
static size_t discover_msg(uint8_t *out, const char *ns, size_t n)
{
    size_t k = 0;
    out[k++] = 0x08;
    out[k++] = 0x03;
    out[k++] = 0x2a;
    out[k++] = (uint8_t)(n + 2);
    out[k++] = 0x0a;
    out[k++] = (uint8_t)n;
    memcpy(out + k, ns, n);
    return k + n;
}

static void nul_in_namespace(void **state)
{
    (void)state;
    uint8_t m[64];
    size_t n = discover_msg(m, "a\0b", 3);
    assert_true(rdv_wire_string_has_nul(m, n, 5, 1));
    assert_false(rdv_wire_string_has_nul(m, n, 2, 1)); /* another sub-message */
    assert_false(rdv_wire_string_has_nul(m, n, 5, 3)); /* another field */
    n = discover_msg(m, "abc", 3);
    assert_false(rdv_wire_string_has_nul(m, n, 5, 1));
    n = discover_msg(m, "", 0);
    assert_false(rdv_wire_string_has_nul(m, n, 5, 1));

    /* a second occurrence of the sub-message (protobuf merges them) */
    uint8_t two[64];
    size_t a = discover_msg(two, "ok", 2);
    size_t b = discover_msg(two + a, "\0", 1);
    assert_true(rdv_wire_string_has_nul(two, a + b, 5, 1));

    /* other wire types around it are stepped over: fixed64, fixed32, varint */
    uint8_t mixed[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8,      /* field 1, fixed64 */
                       0x15, 1, 2, 3, 4,                  /* field 2, fixed32 */
                       0x2a, 0x06, 0x10, 0xff, 0x01, 0x0a, 0x01, 0x00}; /* 5{2:varint, 1:"\0"} */
    assert_true(rdv_wire_string_has_nul(mixed, sizeof mixed, 5, 1));
}

static void malformed_input_is_not_a_match(void **state)
{
    (void)state;
    uint8_t m[64];
    size_t n = discover_msg(m, "a\0b", 3);
    /* every truncation either still contains the whole NUL field or is refused */
    for (size_t k = 0; k < n; k++)
        assert_false(rdv_wire_string_has_nul(m, k, 5, 1));
    const uint8_t group[] = {0x2b, 0x0a, 0x01, 0x00};            /* wire type 3 */
    assert_false(rdv_wire_string_has_nul(group, sizeof group, 5, 1));
    const uint8_t endless[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_false(rdv_wire_string_has_nul(endless, sizeof endless, 5, 1));
    const uint8_t huge[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x01, 0x00};
    assert_false(rdv_wire_string_has_nul(huge, sizeof huge, 5, 1));
    assert_false(rdv_wire_string_has_nul(NULL, 0, 5, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(short_cookies),
        cmocka_unit_test(namespace_must_match),
        cmocka_unit_test(seq_never_issued),
        cmocka_unit_test(nul_in_namespace),
        cmocka_unit_test(malformed_input_is_not_a_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
