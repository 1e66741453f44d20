/* libFuzzer target for the metrics endpoint's HTTP handling: a client of
 * the metrics server sits on one end of a socket pair (accepted as the
 * listener would), the harness writes the input to the other end and runs
 * the loop, so bytes go through metrics__read (http-parser, the size
 * bounds, the one-request rule), the answer, the write path and the linger.
 *
 * Input: a flags byte, then chunks [u16 BE length][bytes] written one by
 * one with the loop run after each.
 *   bit 0: the harness does not read the answer until the end (the
 *          server's writes meet a full socket; the body is large);
 *   bit 1: half-close our side after the last chunk.
 * Checks: whatever comes back is one HTTP/1.1 answer with a known status,
 * a 200 carries exactly Content-Length bytes of body, and every client is
 * gone once the harness has closed its end. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/metrics.c"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fz_large; /* a body larger than the socket buffers */

/* Families of every kind, so an answer exercises the formatting helpers. */
static void fz_collect(struct buf *b, void *ctx)
{
    static const double bounds[] = {0.001, 0.01, 0.1, 1};
    struct histogram h = {.bounds = bounds, .nbounds = 4, .counts = {1, 2, 3, 4, 5}, .sum = 0.5,
                          .count = 15};
    (void)ctx;
    prom_family(b, "fz_total", "counter", "A counter\\with \"odd\"\nhelp.");
    prom_u64(b, "fz_total", NULL, 42);
    prom_u64(b, "fz_total", "a=\"b\"", UINT64_MAX);
    prom_f64(b, "fz_gauge", NULL, 1.0 / 3);
    prom_f64(b, "fz_gauge", "x=\"nan\"", NAN);
    prom_f64(b, "fz_gauge", "x=\"inf\"", -INFINITY);
    prom_histogram(b, "fz_seconds", "d=\"x\"", &h);
    for (int i = 0; fz_large && i < 20000; i++)
        prom_u64(b, "fz_padding_total", "i=\"padding\"", (uint64_t)i);
}

/* Reads what is there into out (bounded); true on EOF or error. */
static bool fz_read(int fd, struct buf *out)
{
    for (;;) {
        uint8_t *p = buf_reserve(out, 65536);
        ssize_t r = read(fd, p, 65536);
        if (r > 0) {
            buf_commit(out, (size_t)r);
            continue;
        }
        return r == 0 || errno != EAGAIN;
    }
}

static void fz_check_answer(const struct buf *a)
{
    size_t n = buf_size(a);
    const char *p = (const char *)buf_head(a);
    if (n == 0)
        return; /* cut before answering (EOF, reset, too many bytes) */
    CHECK(n >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0);
    int status = atoi(p + 9);
    CHECK(status == 200 || status == 400 || status == 404 || status == 405 || status == 414 ||
          status == 431);
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    CHECK(end != NULL);
    const char *cl = memmem(p, (size_t)(end - p), "Content-Length: ", 16);
    CHECK(cl != NULL);
    size_t body = (size_t)(p + n - (end + 4));
    /* HEAD answers carry the length without the body. */
    CHECK(body == strtoul(cl + 16, NULL, 10) || body == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct log lg;
    struct metrics_server m;
    struct buf answer = BUF_INIT;
    int sv[2];

    if (size < 1)
        return 0;
    log_init(&lg, LOG_ERROR, LOG_TEXT, stderr);
    memset(&m, 0, sizeof(m));
    m.fd = -1;
    m.loop = ev_default_loop(0);
    m.log = &lg;
    m.collect = fz_collect;
    fz_large = data[0] & 1;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    metrics__accept_one(&m, sv[0]);
    CHECK(m.nclients == 1);

    bool eof = false;
    size_t off = 1;
    while (off + 2 <= size && !eof) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        if (send(sv[1], data + off, n, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
            eof = true;
        off += n;
        ev_run(m.loop, EVRUN_NOWAIT);
        if (!(data[0] & 1))
            eof |= fz_read(sv[1], &answer);
    }
    if (data[0] & 2)
        shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 64 && m.nclients && !eof; i++) {
        ev_run(m.loop, EVRUN_NOWAIT);
        eof = fz_read(sv[1], &answer);
    }
    fz_check_answer(&answer);
    buf_free(&answer);
    close(sv[1]);
    for (int i = 0; i < 4 && m.nclients; i++)
        ev_run(m.loop, EVRUN_NOWAIT);
    while (m.clients) /* still waiting for its request, or lingering */
        metrics__client_free(m.clients);
    CHECK(m.nclients == 0);
    return 0;
}
