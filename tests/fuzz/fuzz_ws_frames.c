/* Fuzzes the WebSocket frame path after a valid upgrade: arbitrary bytes as
 * the frames a server reads from a client (masked expected) or a client reads
 * from a server (unmasked expected), then stream output and a Close.
 *
 * Input: byte 0 picks the side (bit 7) and a split point; the rest are the
 * frames. Each side is fed all at once, split in two and one byte at a time,
 * and must pass on the same stream bytes and reach the same result. Every
 * call gets an exactly sized heap copy, so ASan reports a read past n. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "host/ws.h"
#include "fuzz_check.h"

struct outcome {
    int rc;
    int open;
    struct buf app;
};

/* Moves from's wire into to; returns whether anything moved. */
static int pass(struct ws *from, struct ws *to, struct buf *app)
{
    struct buf *w = ws_wire(from);
    int moved = buf_size(w) > 0;
    if (moved)
        ws_input(to, buf_head(w), buf_size(w), app);
    buf_reset(w);
    return moved;
}

/* A client and a server past the upgrade, with nothing left on either wire. */
static void open_pair(struct ws_config *cfg, struct ws **c, struct ws **s)
{
    char err[256];
    struct buf app = BUF_INIT, none = BUF_INIT;
    *c = ws_client_new(cfg, "127.0.0.1", 80, 0, "127.0.0.1", err, sizeof(err));
    *s = ws_server_new(cfg, 0, err, sizeof(err));
    CHECK(*c && *s);
    for (int i = 0; i < 4; i++) {
        ws_output(*c, &none, 0);
        ws_output(*s, &none, 0);
        pass(*c, *s, &app);
        pass(*s, *c, &app);
    }
    CHECK(ws_is_open(*c) && ws_is_open(*s));
    CHECK(buf_size(&app) == 0);
    buf_free(&app);
}

static void drive(struct outcome *o, int to_client, const uint8_t *d, size_t n, size_t step,
                  size_t cut)
{
    struct ws_config cfg = {0};
    struct ws *c, *s;
    open_pair(&cfg, &c, &s);
    struct ws *w = to_client ? c : s;
    memset(o, 0, sizeof(*o));

    /* One byte at a time (step 1), or two pieces split at cut (either may be empty). */
    size_t off = 0;
    int pieces = 0;
    while (step ? off < n : pieces < 2) {
        size_t k = step ? step : (pieces == 0 ? cut : n - off);
        if (k > n - off)
            k = n - off;
        uint8_t *copy = malloc(k ? k : 1);
        memcpy(copy, d + off, k);
        int rc = ws_input(w, copy, k, &o->app);
        free(copy);
        if (rc != WS_OK && o->rc == WS_OK)
            o->rc = rc;
        off += k;
        pieces++;
    }
    o->open = ws_is_open(w);
    /* The stream goes on (or is dropped if it cannot), then a Close. */
    struct buf out = BUF_INIT;
    buf_append(&out, d, n < 70000 ? n : 70000);
    buf_append(&out, "tail", 4);
    int r1 = ws_output(w, &out, 0);
    int r2 = ws_output(w, &out, 1);
    CHECK(r1 == WS_OK || r1 == WS_ERROR);
    CHECK(r2 == WS_OK || r2 == WS_ERROR);
    CHECK(buf_size(&out) == 0); /* sent or dropped, never kept after a Close */
    buf_free(&out);
    ws_free(c);
    ws_free(s);
    ws_config_free(&cfg);
}

/* Same result and stream bytes, except around a protocol error: wslay
 * checks some things per received chunk (the UTF-8 of a Close reason is
 * checked from offset 2 of every chunk, and bytes of a text frame before a
 * bad one may already have been passed on), so how the input is cut can
 * decide whether and where an error is seen. Then the stream bytes of one
 * run must still be a prefix of the other's. */
static void same(const struct outcome *a, const struct outcome *b)
{
    bool error = a->rc == WS_ERROR || b->rc == WS_ERROR;
    CHECK(a->rc == b->rc || error);
    CHECK(a->open == b->open || error);
    size_t na = buf_size(&a->app), nb = buf_size(&b->app);
    if (!error)
        CHECK(na == nb);
    size_t n = na < nb ? na : nb;
    CHECK(n == 0 || memcmp(buf_head(&a->app), buf_head(&b->app), n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000)
        return 0;
    int to_client = data[0] >> 7;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    size_t cut = n ? (data[0] & 0x7f) % (n + 1) : 0;
    struct outcome whole, split, bytes;

    drive(&whole, to_client, d, n, 0, n);
    drive(&split, to_client, d, n, 0, cut);
    same(&whole, &split);
    buf_free(&split.app);
    if (n <= 4096) { /* one byte at a time is slow for big inputs */
        drive(&bytes, to_client, d, n, 1, 0);
        same(&whole, &bytes);
        buf_free(&bytes.app);
    }
    /* Stream bytes come only out of data frames: never more than was fed. */
    CHECK(buf_size(&whole.app) <= n);
    buf_free(&whole.app);
    return 0;
}
