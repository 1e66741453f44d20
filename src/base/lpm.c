/* Length-prefixed message reader.
 *
 * lpm_push validates lengths as bytes arrive and takes only as many bytes as
 * the message in progress still needs before looking at the next length, so
 * nothing is copied past a bad length and a partial message is bounded by
 * max plus its header. lpm_next then only slices whole, already checked
 * messages off the front of the buffer. */
#include "base/lpm.h"

#include "base/varint.h"

/* An emptied reader frees a buffer grown past this (idle streams stay small). */
#define LPM_KEEP 4096

void lpm_init(struct lpm *r, size_t max)
{
    buf_init(&r->in);
    r->max = max;
    r->whole = 0;
    r->bad = 0;
}

void lpm_free(struct lpm *r)
{
    buf_free(&r->in);
    r->whole = 0;
}

/* Header of the message at p[0, n): its size (> 0) with *len, 0 if more
 * bytes are needed, -1 if it is invalid or announces more than max. */
static int lpm_header(const struct lpm *r, const uint8_t *p, size_t n, uint64_t *len)
{
    int h = uvarint_get(p, n, len);
    if (h == 0) {
        /* n bytes all with the continuation bit mean len >= 2^(7n) (the
         * encoding is minimal), so an oversize length shows before it ends. */
        if (n > 0 && n < UVARINT_MAX_INPUT && ((uint64_t)1 << (7 * n)) > (uint64_t)r->max)
            return -1;
        return 0;
    }
    if (h > 0 && *len > (uint64_t)r->max)
        return -1;
    return h;
}

void lpm_push(struct lpm *r, const uint8_t *d, size_t n)
{
    buf_shrink(&r->in, LPM_KEEP);
    while (!r->bad) {
        size_t part = buf_size(&r->in) - r->whole; /* bytes of the message in progress */
        uint64_t len = 0;
        int h = part ? lpm_header(r, buf_head(&r->in) + r->whole, part, &len) : 0;
        if (h < 0) {
            /* Keep the whole messages before it; the bad header goes. */
            r->bad = 1;
            r->in.len = r->in.off + r->whole;
            return;
        }
        if (h > 0 && part - (size_t)h >= len) {
            r->whole += (size_t)h + (size_t)len;
            continue;
        }
        if (n == 0)
            return;
        /* Header bytes one at a time (so each length is checked before any
         * byte after it is taken); a body in one piece. */
        size_t take = h == 0 ? 1 : (size_t)len - (part - (size_t)h);
        if (take > n)
            take = n;
        buf_append(&r->in, d, take);
        d += take;
        n -= take;
    }
}

int lpm_next(struct lpm *r, const uint8_t **msg, size_t *len)
{
    buf_shrink(&r->in, LPM_KEEP);
    if (r->whole == 0) {
        /* Drained: an idle reader (an idle push session, say) keeps no
         * buffer at all, not even a small one. Freed only if empty. */
        buf_shrink(&r->in, 0);
        return r->bad ? -1 : 0;
    }
    uint64_t l;
    int h = uvarint_get(buf_head(&r->in), r->whole, &l);
    if (h <= 0 || l > r->whole - (size_t)h)
        return -1; /* cannot happen: push checked it */
    size_t total = (size_t)h + (size_t)l;
    *msg = buf_head(&r->in) + h;
    *len = (size_t)l;
    /* The bytes stay where they are until the next call appends or shrinks. */
    buf_consume(&r->in, total);
    r->whole -= total;
    return 1;
}

int lpm_take(struct lpm *r, const uint8_t **d, size_t *n, const uint8_t **msg, size_t *len)
{
    if (*n > 0 && buf_size(&r->in) == 0 && !r->bad) {
        uint64_t l;
        int h = lpm_header(r, *d, *n, &l);
        if (h > 0 && *n - (size_t)h >= l) {
            size_t total = (size_t)h + (size_t)l;
            *msg = *d + h;
            *len = (size_t)l;
            *d += total;
            *n -= total;
            return 1;
        }
    }
    if (*n > 0) {
        lpm_push(r, *d, *n);
        *d += *n;
        *n = 0;
    }
    return lpm_next(r, msg, len);
}

void lpm_frame(struct buf *out, const uint8_t *msg, size_t n)
{
    buf_append_uvarint(out, n);
    buf_append(out, msg, n);
}
