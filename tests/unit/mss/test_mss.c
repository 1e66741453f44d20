/* multistream-select: byte-exact encodings (WIRE.md §3), both roles talking
 * to each other, arbitrary chunking, pipelining, and every failure path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "mss/mss.h"

#define HDR "\x13/multistream/1.0.0\n"
#define HDR_LEN 20
#define NA "\x03na\n"
#define NOISE "\x07/noise\n"
#define TLS "\x0b/tls/1.0.0\n"
#define RDV "\x12/rendezvous/1.0.0\n"

static const char *const noise_only[] = {"/noise"};
static const char *const go_order[] = {"/tls/1.0.0", "/noise"};

static enum mss_result feed_str(struct mss *m, const char *s, size_t n, size_t *used, struct buf *out)
{
    return mss_feed(m, (const uint8_t *)s, n, used, out);
}

static void out_is(const struct buf *b, const char *want, size_t n)
{
    assert_int_equal(buf_size(b), n);
    assert_memory_equal(buf_head(b), want, n);
}

static void encodings(void **state)
{
    (void)state;
    struct mss l, d;
    struct buf lo = BUF_INIT, dout = BUF_INIT;
    size_t used;

    mss_listener_init(&l, noise_only, 1, &lo);
    const uint8_t hdr[] = {0x13, '/', 'm', 'u', 'l', 't', 'i', 's', 't', 'r', 'e', 'a', 'm',
                           '/', '1', '.', '0', '.', '0', '\n'};
    out_is(&lo, (const char *)hdr, sizeof hdr);
    buf_reset(&lo);

    /* Unknown proposal → exactly 03 6e 61 0a. */
    assert_int_equal(feed_str(&l, HDR "\x05/tls\n", HDR_LEN + 6, &used, &lo), MSS_AGAIN);
    assert_int_equal(used, HDR_LEN + 6);
    const uint8_t na[] = {0x03, 0x6e, 0x61, 0x0a};
    out_is(&lo, (const char *)na, sizeof na);

    /* Dialer: header and first proposal in one go; /noise = 07 2f 6e 6f 69 73 65 0a. */
    mss_dialer_init(&d, noise_only, 1, &dout);
    const uint8_t noise[] = {0x07, 0x2f, 0x6e, 0x6f, 0x69, 0x73, 0x65, 0x0a};
    assert_int_equal(buf_size(&dout), sizeof hdr + sizeof noise);
    assert_memory_equal(buf_head(&dout), hdr, sizeof hdr);
    assert_memory_equal(buf_head(&dout) + sizeof hdr, noise, sizeof noise);

    /* Longer ids from §3: /rendezvous/1.0.0 has length byte 0x12. */
    static const char *const rdv[] = {"/rendezvous/1.0.0"};
    buf_reset(&dout);
    mss_dialer_init(&d, rdv, 1, &dout);
    out_is(&dout, HDR RDV, HDR_LEN + 19);
    buf_free(&lo);
    buf_free(&dout);
}

/* Moves `src`'s output into `dst`'s pending input, then feeds dst with all
 * of its pending input, `chunk` bytes more at a time (0 = everything). */
struct side {
    struct mss m;
    struct buf out, in;
    enum mss_result r;
};

static void deliver(struct side *from, struct side *to, size_t chunk)
{
    buf_append(&to->in, buf_head(&from->out), buf_size(&from->out));
    buf_reset(&from->out);
    size_t avail = 0;
    while (to->r == MSS_AGAIN && avail < buf_size(&to->in)) {
        avail = chunk ? avail + chunk : buf_size(&to->in);
        if (avail > buf_size(&to->in))
            avail = buf_size(&to->in);
        size_t used = 99999;
        to->r = mss_feed(&to->m, buf_head(&to->in), avail, &used, &to->out);
        assert_true(used <= avail);
        buf_consume(&to->in, used);
        avail -= used;
    }
}

static void converse(const char *const *lp, size_t nl, const char *const *dp, size_t nd, size_t chunk,
                     struct side *l, struct side *d)
{
    memset(l, 0, sizeof *l);
    memset(d, 0, sizeof *d);
    mss_listener_init(&l->m, lp, nl, &l->out);
    mss_dialer_init(&d->m, dp, nd, &d->out);
    for (int round = 0; round < 10 && (l->r == MSS_AGAIN || d->r == MSS_AGAIN); round++) {
        deliver(d, l, chunk);
        deliver(l, d, chunk);
    }
}

static void free_side(struct side *s)
{
    buf_free(&s->out);
    buf_free(&s->in);
}

static void talk_direct(void **state)
{
    (void)state;
    struct side l, d;
    converse(noise_only, 1, noise_only, 1, 0, &l, &d);
    assert_int_equal(l.r, MSS_SELECTED);
    assert_int_equal(d.r, MSS_SELECTED);
    assert_int_equal(l.m.selected, 0);
    assert_int_equal(d.m.selected, 0);
    assert_int_equal(buf_size(&l.in), 0);
    assert_int_equal(buf_size(&d.in), 0);
    free_side(&l);
    free_side(&d);
}

static void talk_with_one_na(void **state)
{
    (void)state;
    static const char *const server[] = {"/yamux/1.0.0", "/noise"};
    struct side l, d;
    converse(server, 2, go_order, 2, 0, &l, &d);
    assert_int_equal(l.r, MSS_SELECTED);
    assert_int_equal(d.r, MSS_SELECTED);
    assert_int_equal(l.m.selected, 1);
    assert_int_equal(d.m.selected, 1);
    assert_int_equal(l.m.attempts, 1);
    free_side(&l);
    free_side(&d);
}

static void talk_byte_at_a_time(void **state)
{
    (void)state;
    struct side l, d;
    converse(noise_only, 1, go_order, 2, 1, &l, &d);
    assert_int_equal(l.r, MSS_SELECTED);
    assert_int_equal(d.r, MSS_SELECTED);
    assert_int_equal(l.m.selected, 0);
    assert_int_equal(d.m.selected, 1);
    free_side(&l);
    free_side(&d);
}

static void talk_no_common_protocol(void **state)
{
    (void)state;
    static const char *const server[] = {"/yamux/1.0.0"};
    struct side l, d;
    converse(server, 1, go_order, 2, 0, &l, &d);
    assert_int_equal(l.r, MSS_AGAIN); /* still waiting; the dialer gives up */
    assert_int_equal(d.r, MSS_FAILED);
    assert_string_equal(d.m.error, "protocol not supported by peer");
    free_side(&l);
    free_side(&d);
}

/* Listener fed one byte more per call, always with everything pending. */
static void listener_byte_at_a_time(void **state)
{
    (void)state;
    static const char in[] = HDR TLS NOISE "tail";
    const size_t n = sizeof in - 1;
    struct mss l;
    struct buf out = BUF_INIT;
    mss_listener_init(&l, noise_only, 1, &out);
    buf_reset(&out);
    size_t start = 0, used;
    enum mss_result r = MSS_AGAIN;
    for (size_t end = 1; end <= n && r == MSS_AGAIN; end++) {
        r = mss_feed(&l, (const uint8_t *)in + start, end - start, &used, &out);
        assert_true(used <= end - start);
        start += used;
    }
    assert_int_equal(r, MSS_SELECTED);
    assert_int_equal(start, n - 4);
    out_is(&out, NA NOISE, 4 + 8);
    buf_free(&out);
}

/* rust V1Lazy / js lazy select: header ‖ proposal ‖ protocol data at once. */
static void pipelined_data_preserved(void **state)
{
    (void)state;
    static const char *const protos[] = {"/ipfs/id/1.0.0", "/rendezvous/1.0.0"};
    static const char in[] = HDR RDV "\x05\x08\x03\x2a\x00\x0a" "more";
    const size_t n = sizeof in - 1;
    struct mss l;
    struct buf out = BUF_INIT;
    size_t used;
    mss_listener_init(&l, protos, 2, &out);
    buf_reset(&out);
    assert_int_equal(feed_str(&l, in, n, &used, &out), MSS_SELECTED);
    assert_int_equal(used, HDR_LEN + 19);
    assert_memory_equal(in + used, "\x05\x08\x03\x2a\x00\x0a" "more", n - used);
    assert_int_equal(l.selected, 1);
    out_is(&out, RDV, 19);

    /* Data that looks like more multistream messages is not touched either. */
    static const char in2[] = HDR NOISE NA HDR;
    struct mss l2;
    buf_reset(&out);
    mss_listener_init(&l2, noise_only, 1, &out);
    assert_int_equal(feed_str(&l2, in2, sizeof in2 - 1, &used, &out), MSS_SELECTED);
    assert_int_equal(used, HDR_LEN + 8);

    /* Once selected, further calls consume nothing. */
    assert_int_equal(feed_str(&l2, in2 + used, sizeof in2 - 1 - used, &used, &out), MSS_SELECTED);
    assert_int_equal(used, 0);
    buf_free(&out);
}

static void dialer_pipelined_reply(void **state)
{
    (void)state;
    struct mss d;
    struct buf out = BUF_INIT;
    size_t used;
    mss_dialer_init(&d, go_order, 2, &out);
    buf_reset(&out);
    /* Header, na, echo and the first noise bytes of the listener, all at once. */
    static const char in[] = HDR NA NOISE "\x00\x20";
    assert_int_equal(feed_str(&d, in, sizeof in - 1, &used, &out), MSS_SELECTED);
    assert_int_equal(used, sizeof in - 1 - 2);
    assert_int_equal(d.selected, 1);
    out_is(&out, NOISE, 8); /* the next proposal after na */
    buf_free(&out);
}

static void dialer_header_split_from_reply(void **state)
{
    (void)state;
    struct mss d;
    struct buf out = BUF_INIT;
    size_t used;
    mss_dialer_init(&d, noise_only, 1, &out);
    /* Listener's header arrives later than ours was sent, on its own. */
    assert_int_equal(feed_str(&d, "", 0, &used, &out), MSS_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(feed_str(&d, HDR, 10, &used, &out), MSS_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(feed_str(&d, HDR "\x07/no", HDR_LEN + 4, &used, &out), MSS_AGAIN);
    assert_int_equal(used, HDR_LEN);
    assert_int_equal(feed_str(&d, NOISE, 8, &used, &out), MSS_SELECTED);
    assert_int_equal(used, 8);
    assert_int_equal(d.selected, 0);
    buf_free(&out);
}

static void go_style_tls_then_noise(void **state)
{
    (void)state;
    struct mss l;
    struct buf out = BUF_INIT;
    size_t used;
    static const char *const protos[] = {"/noise"};
    mss_listener_init(&l, protos, 1, &out);
    /* go writes header + /tls/1.0.0, waits for na, then /noise. */
    assert_int_equal(feed_str(&l, HDR TLS, HDR_LEN + 12, &used, &out), MSS_AGAIN);
    assert_int_equal(used, HDR_LEN + 12);
    assert_int_equal(feed_str(&l, NOISE, 8, &used, &out), MSS_SELECTED);
    assert_int_equal(used, 8);
    assert_int_equal(l.selected, 0);
    out_is(&out, HDR NA NOISE, HDR_LEN + 4 + 8);
    buf_free(&out);
}

static void wrong_header(void **state)
{
    (void)state;
    struct mss m;
    struct buf out = BUF_INIT;
    size_t used;
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x13/multistream/2.0.0\n", 20, &used, &out), MSS_FAILED);
    assert_non_null(m.error);
    /* A proposal instead of the header is also refused. */
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, NOISE, 8, &used, &out), MSS_FAILED);
    /* Dialer side. */
    mss_dialer_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, NA, 4, &used, &out), MSS_FAILED);
    assert_non_null(m.error);
    /* Stays failed. */
    assert_int_equal(feed_str(&m, HDR, HDR_LEN, &used, &out), MSS_FAILED);
    assert_int_equal(used, 0);
    buf_free(&out);
}

static void oversize_length(void **state)
{
    (void)state;
    struct mss m;
    struct buf out = BUF_INIT;
    size_t used;
    /* 1025 = 81 08: refused from the length alone. */
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x81\x08", 2, &used, &out), MSS_FAILED);
    assert_string_equal(m.error, "message too long");
    /* 1024 = 80 08 is allowed: waits for the body. */
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x80\x08", 2, &used, &out), MSS_AGAIN);
    assert_int_equal(used, 0);
    /* Two continuation bytes can only start a length >= 16384. */
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x80", 1, &used, &out), MSS_AGAIN);
    assert_int_equal(feed_str(&m, "\x80\x80", 2, &used, &out), MSS_FAILED);
    /* Non-minimal varint. */
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x83\x00na\n", 5, &used, &out), MSS_FAILED);
    /* A full 1024-byte proposal is fine (and unknown). */
    uint8_t big[2 + 1024];
    big[0] = 0x80;
    big[1] = 0x08;
    memset(big + 2, 'a', 1023);
    big[2 + 1023] = '\n';
    big[2] = '/';
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, HDR, HDR_LEN, &used, &out), MSS_AGAIN);
    buf_reset(&out);
    assert_int_equal(mss_feed(&m, big, sizeof big, &used, &out), MSS_AGAIN);
    assert_int_equal(used, sizeof big);
    out_is(&out, NA, 4);
    buf_free(&out);
}

static void missing_newline_and_empty(void **state)
{
    (void)state;
    struct mss m;
    struct buf out = BUF_INIT;
    size_t used;
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, "\x13/multistream/1.0.0X", 20, &used, &out), MSS_FAILED);
    assert_string_equal(m.error, "message without trailing newline");
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, HDR "\x06/noise", HDR_LEN + 7, &used, &out), MSS_FAILED);
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, HDR "\x00", HDR_LEN + 1, &used, &out), MSS_FAILED);
    mss_listener_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, HDR "\x01\n", HDR_LEN + 2, &used, &out), MSS_FAILED);
    assert_string_equal(m.error, "empty message");
    mss_dialer_init(&m, noise_only, 1, &out);
    assert_int_equal(feed_str(&m, HDR "\x07/noiseX", HDR_LEN + 8, &used, &out), MSS_FAILED);
    buf_free(&out);
}

static void ls_and_non_slash_get_na(void **state)
{
    (void)state;
    /* "noise" is listed but lacks the '/': still never selected. */
    static const char *const protos[] = {"noise", "/noise"};
    struct mss m;
    struct buf out = BUF_INIT;
    size_t used;
    mss_listener_init(&m, protos, 2, &out);
    buf_reset(&out);
    static const char in[] = HDR "\x03ls\n" "\x06noise\n" "\x1d/libp2p/simultaneous-connect\n";
    assert_int_equal(feed_str(&m, in, sizeof in - 1, &used, &out), MSS_AGAIN);
    assert_int_equal(used, sizeof in - 1);
    out_is(&out, NA NA NA, 12);
    assert_int_equal(m.attempts, 3);
    assert_int_equal(feed_str(&m, NOISE, 8, &used, &out), MSS_SELECTED);
    assert_int_equal(m.selected, 1);
    buf_free(&out);
}

static void attempts_limit(void **state)
{
    (void)state;
    struct mss m;
    struct buf out = BUF_INIT, in = BUF_INIT;
    size_t used;
    buf_append(&in, HDR, HDR_LEN);
    for (int i = 0; i < MSS_MAX_ATTEMPTS; i++)
        buf_append(&in, TLS, 12);

    /* MSS_MAX_ATTEMPTS unsupported proposals are answered; a supported one
     * after them still wins. */
    mss_listener_init(&m, noise_only, 1, &out);
    buf_reset(&out);
    assert_int_equal(mss_feed(&m, buf_head(&in), buf_size(&in), &used, &out), MSS_AGAIN);
    assert_int_equal(used, buf_size(&in));
    assert_int_equal(buf_size(&out), 4 * MSS_MAX_ATTEMPTS);
    assert_int_equal(feed_str(&m, NOISE, 8, &used, &out), MSS_SELECTED);

    /* One more unsupported proposal fails the negotiation. */
    buf_append(&in, "\x03ls\n", 4);
    mss_listener_init(&m, noise_only, 1, &out);
    buf_reset(&out);
    assert_int_equal(mss_feed(&m, buf_head(&in), buf_size(&in), &used, &out), MSS_FAILED);
    assert_string_equal(m.error, "too many unsupported proposals");
    assert_int_equal(buf_size(&out), 4 * MSS_MAX_ATTEMPTS);
    buf_free(&out);
    buf_free(&in);
}

static void dialer_exhaustion(void **state)
{
    (void)state;
    struct mss d;
    struct buf out = BUF_INIT;
    size_t used;
    mss_dialer_init(&d, go_order, 2, &out);
    out_is(&out, HDR TLS, HDR_LEN + 12);
    buf_reset(&out);
    assert_int_equal(feed_str(&d, HDR NA, HDR_LEN + 4, &used, &out), MSS_AGAIN);
    out_is(&out, NOISE, 8);
    assert_int_equal(feed_str(&d, NA, 4, &used, &out), MSS_FAILED);
    assert_string_equal(d.error, "protocol not supported by peer");
    assert_int_equal(d.selected, -1);
    buf_free(&out);
}

static void dialer_bad_answers(void **state)
{
    (void)state;
    struct mss d;
    struct buf out = BUF_INIT;
    size_t used;
    /* Echo of a protocol we did not propose. */
    mss_dialer_init(&d, go_order, 2, &out);
    assert_int_equal(feed_str(&d, HDR NOISE, HDR_LEN + 8, &used, &out), MSS_FAILED);
    /* Nothing to propose, or an id a listener would never accept. */
    buf_reset(&out);
    mss_dialer_init(&d, go_order, 0, &out);
    assert_int_equal(feed_str(&d, HDR, HDR_LEN, &used, &out), MSS_FAILED);
    static const char *const bad[] = {"/noise", "yamux"};
    mss_dialer_init(&d, bad, 2, &out);
    assert_int_equal(feed_str(&d, HDR, HDR_LEN, &used, &out), MSS_FAILED);
    assert_string_equal(d.error, "invalid protocol id");
    assert_int_equal(buf_size(&out), 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodings),
        cmocka_unit_test(talk_direct),
        cmocka_unit_test(talk_with_one_na),
        cmocka_unit_test(talk_byte_at_a_time),
        cmocka_unit_test(talk_no_common_protocol),
        cmocka_unit_test(listener_byte_at_a_time),
        cmocka_unit_test(pipelined_data_preserved),
        cmocka_unit_test(dialer_pipelined_reply),
        cmocka_unit_test(dialer_header_split_from_reply),
        cmocka_unit_test(go_style_tls_then_noise),
        cmocka_unit_test(wrong_header),
        cmocka_unit_test(oversize_length),
        cmocka_unit_test(missing_newline_and_empty),
        cmocka_unit_test(ls_and_non_slash_get_na),
        cmocka_unit_test(attempts_limit),
        cmocka_unit_test(dialer_exhaustion),
        cmocka_unit_test(dialer_bad_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
