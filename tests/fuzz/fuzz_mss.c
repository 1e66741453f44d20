/* Fuzzes both multistream-select roles with arbitrary peer bytes.
 *
 * Input: byte 0 picks a split point, the rest is what the peer sends. Each
 * role is driven three ways (all at once, split in two, one byte at a time)
 * and must reach the same result, consume the same bytes and write the same
 * output. Every call gets an exactly sized heap copy of the pending input, so
 * ASan reports any read past n. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "mss/mss.h"
#include "fuzz_check.h"

static const char *const listener_protos[] = {"/noise", "/a", "/ab", "/yamux/1.0.0", "ls"};
static const char *const dialer_protos[] = {"/tls/1.0.0", "/noise", "/a"};

struct outcome {
    enum mss_result r;
    size_t used; /* total bytes consumed over all calls */
    int selected;
    struct buf out;
};


/* Feeds d[0, n) in chunks of `step` bytes (0 = split once at `cut`). */
static void drive(struct outcome *o, int dialer, const uint8_t *d, size_t n, size_t step, size_t cut)
{
    struct mss m;
    struct buf pend = BUF_INIT;
    buf_init(&o->out);
    if (dialer)
        mss_dialer_init(&m, dialer_protos, sizeof dialer_protos / sizeof *dialer_protos, &o->out);
    else
        mss_listener_init(&m, listener_protos, sizeof listener_protos / sizeof *listener_protos, &o->out);
    o->r = MSS_AGAIN;
    o->used = 0;
    size_t pos = 0;
    while (o->r == MSS_AGAIN && pos < n) {
        size_t take = step ? step : (pos < cut ? cut - pos : n - pos);
        if (take > n - pos)
            take = n - pos;
        buf_append(&pend, d + pos, take);
        pos += take;

        size_t have = buf_size(&pend), used = (size_t)-1;
        uint8_t *copy = malloc(have ? have : 1);
        CHECK(copy != NULL);
        if (have)
            memcpy(copy, buf_head(&pend), have);
        o->r = mss_feed(&m, copy, have, &used, &o->out);
        free(copy);
        CHECK(used <= have);
        /* Unconsumed input is one partial message: at most a 2-byte length
         * plus MSS_MAX_MSG, so the caller's buffering stays bounded. */
        if (o->r == MSS_AGAIN)
            CHECK(have - used <= 2 + MSS_MAX_MSG);
        buf_consume(&pend, used);
        o->used += used;
    }
    o->selected = m.selected;
    if (o->r == MSS_FAILED)
        CHECK(m.error != NULL);
    if (o->r == MSS_SELECTED) {
        size_t np = dialer ? sizeof dialer_protos / sizeof *dialer_protos
                           : sizeof listener_protos / sizeof *listener_protos;
        const char *const *p = dialer ? dialer_protos : listener_protos;
        CHECK(m.selected >= 0 && (size_t)m.selected < np);
        CHECK(p[m.selected][0] == '/');
        /* The selecting message is the last thing consumed. */
        size_t l = strlen(p[m.selected]);
        CHECK(o->used >= l + 2);
        CHECK(d[o->used - 1] == '\n' && memcmp(d + o->used - 1 - l, p[m.selected], l) == 0);
        if (!dialer) {
            /* The listener echoes it as its last output. */
            CHECK(buf_size(&o->out) >= l + 2);
            CHECK(memcmp(buf_head(&o->out) + buf_size(&o->out) - 1 - l, p[m.selected], l) == 0);
        }
        /* Later calls consume nothing. */
        size_t again = 1;
        CHECK(mss_feed(&m, d, n, &again, &o->out) == MSS_SELECTED && again == 0);
    } else {
        CHECK(m.selected == -1);
    }
    CHECK(o->used <= n);
    buf_free(&pend);
}

static void same(const struct outcome *a, const struct outcome *b)
{
    CHECK(a->r == b->r);
    CHECK(a->used == b->used);
    CHECK(a->selected == b->selected);
    CHECK(buf_size(&a->out) == buf_size(&b->out));
    CHECK(memcmp(buf_head(&a->out), buf_head(&b->out), buf_size(&a->out)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    size_t cut = (size_t)data[0] * n / 255;
    /* Exactly sized copy so reads past the peer bytes are caught. */
    uint8_t *d = malloc(n ? n : 1);
    if (!d)
        return 0;
    if (n)
        memcpy(d, data + 1, n);

    for (int dialer = 0; dialer < 2; dialer++) {
        struct outcome whole, split, bytes;
        drive(&whole, dialer, d, n, 0, n);
        drive(&split, dialer, d, n, 0, cut);
        same(&whole, &split);
        if (n <= 4096) {
            drive(&bytes, dialer, d, n, 1, 0);
            same(&whole, &bytes);
            buf_free(&bytes.out);
        }
        buf_free(&whole.out);
        buf_free(&split.out);
    }
    free(d);
    return 0;
}
