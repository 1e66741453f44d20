/* Length-prefixed messages: framing bytes, any split of the input, no copy
 * for whole messages, early refusal of bad lengths, bounded buffering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/lpm.h"

static const size_t sizes[] = {0, 1, 127, 128, 300, 5000, 16384};

/* Frames sizes[] messages whose bytes are (i + k) & 0xff into out. */
static void frame_all(struct buf *out)
{
    uint8_t m[16384];
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (size_t k = 0; k < sizes[i]; k++)
            m[k] = (uint8_t)(i + k);
        lpm_frame(out, m, sizes[i]);
    }
}

static void check_msg(size_t i, const uint8_t *msg, size_t len)
{
    assert_int_equal(len, sizes[i]);
    for (size_t k = 0; k < len; k++)
        assert_int_equal(msg[k], (uint8_t)(i + k));
}

static void frame_bytes(void **state)
{
    (void)state;
    struct buf out = BUF_INIT;
    lpm_frame(&out, NULL, 0);
    assert_int_equal(buf_size(&out), 1);
    assert_int_equal(buf_head(&out)[0], 0x00);
    buf_reset(&out);
    uint8_t m[300];
    memset(m, 0x5a, sizeof m);
    lpm_frame(&out, m, sizeof m);
    assert_int_equal(buf_size(&out), 302);
    assert_memory_equal(buf_head(&out), "\xac\x02", 2); /* 300 → ac 02 */
    assert_memory_equal(buf_head(&out) + 2, m, sizeof m);
    buf_free(&out);
}

/* Pushes `in` in chunks of `step` bytes, draining after each push. */
static void read_in_steps(const struct buf *in, size_t step)
{
    struct lpm r;
    lpm_init(&r, 16384);
    size_t got = 0;
    for (size_t off = 0; off < buf_size(in); off += step) {
        size_t n = buf_size(in) - off < step ? buf_size(in) - off : step;
        lpm_push(&r, buf_head(in) + off, n);
        const uint8_t *msg;
        size_t len;
        int rc;
        while ((rc = lpm_next(&r, &msg, &len)) == 1)
            check_msg(got++, msg, len);
        assert_int_equal(rc, 0);
        assert_true(buf_size(&r.in) <= 16384 + 10);
    }
    assert_int_equal(got, sizeof sizes / sizeof *sizes);
    assert_int_equal(buf_size(&r.in), 0);
    lpm_free(&r);
}

/* The same with lpm_take; counts the messages handed out where they lay
 * in the input (not copied). */
static size_t take_in_steps(const struct buf *in, size_t step)
{
    struct lpm r;
    lpm_init(&r, 16384);
    size_t got = 0, in_place = 0;
    for (size_t off = 0; off < buf_size(in); off += step) {
        size_t n = buf_size(in) - off < step ? buf_size(in) - off : step;
        const uint8_t *d = buf_head(in) + off, *msg;
        size_t len;
        int rc;
        while ((rc = lpm_take(&r, &d, &n, &msg, &len)) == 1) {
            check_msg(got++, msg, len);
            if (msg >= buf_head(in) && msg < buf_head(in) + buf_size(in))
                in_place++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(n, 0);
        assert_true(buf_size(&r.in) <= 16384 + 10);
    }
    assert_int_equal(got, sizeof sizes / sizeof *sizes);
    assert_int_equal(buf_size(&r.in), 0);
    lpm_free(&r);
    return in_place;
}

static void roundtrip_any_split(void **state)
{
    (void)state;
    struct buf in = BUF_INIT;
    frame_all(&in);
    read_in_steps(&in, buf_size(&in)); /* all at once */
    read_in_steps(&in, 1);
    read_in_steps(&in, 2);
    read_in_steps(&in, 7);
    read_in_steps(&in, 129);
    read_in_steps(&in, 4096);
    const size_t all = sizeof sizes / sizeof *sizes;
    assert_int_equal(take_in_steps(&in, buf_size(&in)), all); /* none copied */
    take_in_steps(&in, 1);
    take_in_steps(&in, 2);
    take_in_steps(&in, 7);
    take_in_steps(&in, 129);
    assert_true(take_in_steps(&in, 4096) > 0);
    buf_free(&in);
}

/* lpm_take: messages before a bad length are handed out, then -1; a
 * message completed from the reader is followed by ones taken in place. */
static void take_errors_and_resume(void **state)
{
    (void)state;
    struct lpm r;
    const uint8_t *d, *m;
    size_t n, len;

    lpm_init(&r, 8);
    d = (const uint8_t *)"\x02hi\x03you\x09toolong!!";
    n = 17;
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1);
    assert_memory_equal(m, "hi", 2);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1);
    assert_memory_equal(m, "you", 3);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), -1);
    assert_int_equal(n, 0);
    assert_int_equal(buf_size(&r.in), 0); /* nothing past the bad length */
    lpm_free(&r);

    lpm_init(&r, 8);
    const uint8_t first[] = "\x03yo";
    const uint8_t second[] = "u\x02" "ab\x01";
    d = first;
    n = 3;
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 0);
    d = second;
    n = 5;
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1); /* from the reader */
    assert_memory_equal(m, "you", 3);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1);
    assert_memory_equal(m, "ab", 2);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 0); /* "\x01" waits */
    d = (const uint8_t *)"z\x01w";
    n = 3;
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1);
    assert_memory_equal(m, "z", 1);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1); /* pushed with it */
    assert_memory_equal(m, "w", 1);
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 0);
    assert_int_equal(r.in.cap, 0); /* drained: no buffer */
    d = (const uint8_t *)"\x01q";
    n = 2;
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 1);
    assert_ptr_equal(m, d - 1); /* the reader was empty: in place */
    assert_int_equal(lpm_take(&r, &d, &n, &m, &len), 0);
    assert_int_equal(r.in.cap, 0);
    lpm_free(&r);
}

static void whole_message_not_copied(void **state)
{
    (void)state;
    struct lpm r;
    lpm_init(&r, 1024);
    lpm_push(&r, (const uint8_t *)"\x03" "abc" "\x02" "de", 7);
    const uint8_t *a, *b;
    size_t alen, blen;
    assert_int_equal(lpm_next(&r, &a, &alen), 1);
    assert_ptr_equal(a, r.in.data + 1); /* a slice of the reader's buffer */
    assert_int_equal(alen, 3);
    assert_memory_equal(a, "abc", 3);
    assert_int_equal(lpm_next(&r, &b, &blen), 1);
    assert_ptr_equal(b, r.in.data + 5);
    assert_memory_equal(b, "de", 2);
    assert_int_equal(lpm_next(&r, &b, &blen), 0);
    lpm_free(&r);
}

static void empty_message(void **state)
{
    (void)state;
    struct lpm r;
    const uint8_t *m;
    size_t len = 99;
    lpm_init(&r, 0);
    lpm_push(&r, (const uint8_t *)"\x00\x00", 2);
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(len, 0);
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(lpm_next(&r, &m, &len), 0);
    lpm_push(&r, (const uint8_t *)"\x01x", 2); /* over max = 0 */
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);
}

static void oversize_refused_early(void **state)
{
    (void)state;
    struct lpm r;
    const uint8_t *m;
    size_t len;
    uint8_t junk[4096];
    memset(junk, 'x', sizeof junk);

    /* 101 > max 100, refused before any body byte is buffered. */
    lpm_init(&r, 100);
    lpm_push(&r, (const uint8_t *)"\x65", 1);
    lpm_push(&r, junk, sizeof junk);
    assert_int_equal(buf_size(&r.in), 0);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);

    /* 100 is fine. */
    lpm_init(&r, 100);
    lpm_push(&r, (const uint8_t *)"\x64", 1);
    lpm_push(&r, junk, 100);
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(len, 100);
    lpm_free(&r);

    /* Two continuation bytes already mean >= 16384: no need to wait. */
    lpm_init(&r, 1000);
    lpm_push(&r, (const uint8_t *)"\x80", 1);
    assert_int_equal(lpm_next(&r, &m, &len), 0);
    lpm_push(&r, (const uint8_t *)"\x80", 1);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);

    /* A single continuation byte is already too much for max < 128. */
    lpm_init(&r, 127);
    lpm_push(&r, (const uint8_t *)"\x80", 1);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);
}

static void invalid_varint(void **state)
{
    (void)state;
    struct lpm r;
    const uint8_t *m;
    size_t len;
    /* Non-minimal. */
    lpm_init(&r, 1 << 20);
    lpm_push(&r, (const uint8_t *)"\x81\x00" "a", 3);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);
    /* Longer than 9 bytes, even with an unbounded max. */
    lpm_init(&r, SIZE_MAX);
    lpm_push(&r, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);
}

static void messages_before_error_delivered(void **state)
{
    (void)state;
    struct lpm r;
    const uint8_t *m;
    size_t len;
    lpm_init(&r, 8);
    lpm_push(&r, (const uint8_t *)"\x02hi\x03you\x09toolong!!", 17);
    assert_int_equal(buf_size(&r.in), 7); /* nothing past the bad length */
    lpm_push(&r, (const uint8_t *)"\x01z", 2);  /* ignored after it */
    assert_int_equal(buf_size(&r.in), 7);
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_memory_equal(m, "hi", 2);
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_memory_equal(m, "you", 3);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    assert_int_equal(lpm_next(&r, &m, &len), -1);
    lpm_free(&r);
}

static void partial_bounded(void **state)
{
    (void)state;
    struct lpm r;
    const size_t max = 1000;
    uint8_t junk[3000];
    memset(junk, 'y', sizeof junk);
    lpm_init(&r, max);
    /* A peer trickling one max-size message: never more than max + 10 held. */
    struct buf f = BUF_INIT;
    lpm_frame(&f, junk, max);
    for (size_t i = 0; i + 1 < buf_size(&f); i++) {
        lpm_push(&r, buf_head(&f) + i, 1);
        assert_true(buf_size(&r.in) <= max + 10);
        const uint8_t *m;
        size_t len;
        assert_int_equal(lpm_next(&r, &m, &len), 0);
    }
    lpm_push(&r, buf_head(&f) + buf_size(&f) - 1, 1);
    const uint8_t *m;
    size_t len;
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(len, max);
    /* Many whole messages in one push are held until read, and then at most
     * the partial one remains. */
    buf_reset(&f);
    for (int i = 0; i < 5; i++)
        lpm_frame(&f, junk, max);
    lpm_push(&r, buf_head(&f), buf_size(&f) - 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(lpm_next(&r, &m, &len), 0);
    assert_true(buf_size(&r.in) <= max + 10);
    buf_free(&f);
    lpm_free(&r);
}

static void large_buffer_released(void **state)
{
    (void)state;
    struct lpm r;
    struct buf f = BUF_INIT;
    const size_t big = 100000;
    lpm_init(&r, big);
    buf_append_uvarint(&f, big);
    memset(buf_reserve(&f, big), 0x77, big);
    buf_commit(&f, big);
    lpm_push(&r, buf_head(&f), buf_size(&f));
    const uint8_t *m;
    size_t len;
    assert_int_equal(lpm_next(&r, &m, &len), 1);
    assert_int_equal(len, big);
    assert_int_equal(m[big - 1], 0x77);
    assert_true(r.in.cap >= big); /* m still points into it */
    assert_int_equal(lpm_next(&r, &m, &len), 0);
    assert_int_equal(r.in.cap, 0);       /* the next call gave it back */
    buf_free(&f);
    lpm_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_bytes),
        cmocka_unit_test(roundtrip_any_split),
        cmocka_unit_test(take_errors_and_resume),
        cmocka_unit_test(whole_message_not_copied),
        cmocka_unit_test(empty_message),
        cmocka_unit_test(oversize_refused_early),
        cmocka_unit_test(invalid_varint),
        cmocka_unit_test(messages_before_error_delivered),
        cmocka_unit_test(partial_bounded),
        cmocka_unit_test(large_buffer_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
