/* Fuzzes the length-prefixed reader.
 *
 * Input: byte 0 picks max, byte 1 a split point, the rest is the stream. The
 * stream is read three ways (one push, two pushes, one byte per push), always
 * draining after each push. Each way must give the same messages and the
 * same end state, and re-framing the messages must reproduce the input
 * prefix exactly (lengths are minimal varints). Pushed bytes are exactly
 * sized heap copies, so ASan reports any read past n. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/lpm.h"
#include "fuzz_check.h"

struct outcome {
    struct buf reframed; /* every message returned, framed again */
    int end;             /* last lpm_next result: 0 or -1 */
};

static void push_copy(struct lpm *r, const uint8_t *d, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    if (n)
        memcpy(c, d, n);
    lpm_push(r, c, n);
    free(c);
}

static void drive(struct outcome *o, size_t max, const uint8_t *d, size_t n, size_t step, size_t cut)
{
    struct lpm r;
    lpm_init(&r, max);
    buf_init(&o->reframed);
    o->end = 0;
    size_t pos = 0;
    do {
        size_t take = step ? step : (pos < cut ? cut - pos : n - pos);
        if (take > n - pos)
            take = n - pos;
        push_copy(&r, d + pos, take);
        pos += take;
        const uint8_t *msg;
        size_t len;
        while ((o->end = lpm_next(&r, &msg, &len)) == 1) {
            CHECK(len <= max);
            lpm_frame(&o->reframed, msg, len);
        }
        CHECK(o->end == 0 || o->end == -1);
        /* Drained: only the message in progress is held. */
        CHECK(r.whole == 0);
        CHECK(buf_size(&r.in) <= 10 || buf_size(&r.in) - 10 <= max);
    } while (pos < n && o->end == 0);
    lpm_free(&r);
    CHECK(buf_size(&o->reframed) <= n);
    CHECK(buf_size(&o->reframed) == 0 || memcmp(buf_head(&o->reframed), d, buf_size(&o->reframed)) == 0);
}

static void same(const struct outcome *a, const struct outcome *b)
{
    CHECK(a->end == b->end);
    CHECK(buf_size(&a->reframed) == buf_size(&b->reframed));
    CHECK(buf_size(&a->reframed) == 0 ||
          memcmp(buf_head(&a->reframed), buf_head(&b->reframed), buf_size(&a->reframed)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {0, 1, 5, 127, 128, 300, 1024, 16383, 16384, 65536, SIZE_MAX};
    if (size < 2)
        return 0;
    size_t max = maxes[data[0] % (sizeof maxes / sizeof *maxes)];
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    size_t cut = (size_t)data[1] * n / 255;

    struct outcome whole, split, bytes;
    drive(&whole, max, d, n, 0, n);
    drive(&split, max, d, n, 0, cut);
    same(&whole, &split);
    if (n <= 8192) {
        drive(&bytes, max, d, n, 1, 0);
        same(&whole, &bytes);
        buf_free(&bytes.reframed);
    }
    buf_free(&whole.reframed);
    buf_free(&split.reframed);
    return 0;
}
