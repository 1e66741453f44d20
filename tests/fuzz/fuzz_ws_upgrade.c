/* Fuzzes the WebSocket upgrade: arbitrary bytes as the request a server
 * reads, and as the answer a dialing client reads.
 *
 * Input: byte 0 picks a split point and whether an Origin allow-list is set,
 * the rest is what the peer sends. Each side is fed three ways (all at once,
 * split in two, one byte at a time) and must reach the same result, pass on
 * the same stream bytes and, for the server, give the same HTTP answer.
 * Every call gets an exactly sized heap copy, so ASan reports a read past n. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "host/ws.h"
#include "fuzz_check.h"

struct outcome {
    int rc;              /* first non-OK answer */
    int open;
    struct buf app;      /* stream bytes passed on */
    struct buf answer;   /* the server's HTTP answer */
};

static int feed(struct ws *w, const uint8_t *d, size_t n, struct buf *app)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, d, n);
    int rc = ws_input(w, copy, n, app);
    free(copy);
    return rc;
}

static void drive(struct outcome *o, struct ws_config *cfg, int client, const uint8_t *d, size_t n,
                  size_t step, size_t cut)
{
    char err[256];
    struct ws *w = client ? ws_client_new(cfg, "example.com", 443, 0, "example.com", err, sizeof(err))
                          : ws_server_new(cfg, 0, err, sizeof(err));
    CHECK(w != NULL);
    memset(o, 0, sizeof(*o));
    struct buf none = BUF_INIT;
    if (client)
        CHECK(ws_output(w, &none, 0) == WS_OK); /* the request goes out first */
    buf_reset(ws_wire(w));

    /* One byte at a time (step 1), or two pieces split at cut (either may be empty). */
    size_t off = 0;
    int pieces = 0;
    while (step ? off < n : pieces < 2) {
        size_t k = step ? step : (pieces == 0 ? cut : n - off);
        if (k > n - off)
            k = n - off;
        int rc = feed(w, d + off, k, &o->app);
        if (rc != WS_OK && o->rc == WS_OK)
            o->rc = rc;
        off += k;
        pieces++;
    }
    o->open = ws_is_open(w);
    /* The HTTP answer: everything up to the blank line. */
    struct buf *wire = ws_wire(w);
    const uint8_t *p = buf_head(wire);
    size_t len = buf_size(wire);
    for (size_t i = 0; i + 3 < len; i++) {
        if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
            buf_append(&o->answer, p, i + 4);
            break;
        }
    }
    /* Whatever state it is in, output must be safe to ask for. */
    struct buf more = BUF_INIT;
    buf_append(&more, "x", 1);
    ws_output(w, &more, 1);
    buf_free(&more);
    ws_free(w);
}

static void same(const struct outcome *a, const struct outcome *b)
{
    /* After the upgrade, frame errors may be seen or not depending on how
     * the input is cut (see fuzz_ws_frames.c); the HTTP part must agree. */
    bool error = a->rc == WS_ERROR || b->rc == WS_ERROR;
    bool upgraded = buf_size(&a->answer) >= 13 && memcmp(buf_head(&a->answer), "HTTP/1.1 101 ", 13) == 0;
    CHECK(a->rc == b->rc || (upgraded && error));
    CHECK(a->open == b->open || (upgraded && error));
    size_t na = buf_size(&a->app), nb = buf_size(&b->app), n = na < nb ? na : nb;
    if (!error)
        CHECK(na == nb);
    CHECK(n == 0 || memcmp(buf_head(&a->app), buf_head(&b->app), n) == 0);
    CHECK(buf_size(&a->answer) == buf_size(&b->answer));
    CHECK(buf_size(&a->answer) == 0 ||
          memcmp(buf_head(&a->answer), buf_head(&b->answer), buf_size(&a->answer)) == 0);
}

static void release(struct outcome *o)
{
    buf_free(&o->app);
    buf_free(&o->answer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 20000)
        return 0;
    struct ws_config cfg = {0};
    char err[64];
    if (data[0] & 0x80)
        CHECK(ws_config_allow_origin(&cfg, "https://app.example", err, sizeof(err)) == 0);
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    size_t cut = n ? (data[0] & 0x7f) % (n + 1) : 0;

    for (int client = 0; client < 2; client++) {
        struct outcome whole, split, bytes;
        drive(&whole, &cfg, client, d, n, 0, n);
        drive(&split, &cfg, client, d, n, 0, cut);
        drive(&bytes, &cfg, client, d, n, 1, 0);
        same(&whole, &split);
        same(&whole, &bytes);
        /* The server answers 101 or refuses with a 4xx (a frame error after
         * a 101 leaves the 101). */
        if (!client && buf_size(&whole.answer))
            CHECK(memcmp(buf_head(&whole.answer), "HTTP/1.1 101 ", 13) == 0 ||
                  memcmp(buf_head(&whole.answer), "HTTP/1.1 4", 10) == 0);
        if (!client && whole.open)
            CHECK(memcmp(buf_head(&whole.answer), "HTTP/1.1 101 ", 13) == 0);
        release(&whole);
        release(&split);
        release(&bytes);
    }
    ws_config_free(&cfg);
    return 0;
}
