#include "rendezvous/cookie.h"

#include <string.h>

size_t cookie_encode(uint8_t *out, uint64_t seq, const char *ns, size_t ns_len)
{
    for (int i = COOKIE_SEQ_LEN - 1; i >= 0; i--, seq >>= 8)
        out[i] = (uint8_t)seq;
    if (ns_len)
        memcpy(out + COOKIE_SEQ_LEN, ns, ns_len);
    return COOKIE_SEQ_LEN + ns_len;
}

enum cookie_result cookie_decode(const uint8_t *c, size_t n, const char *ns, size_t ns_len,
                                 uint64_t last_seq, uint64_t *seq)
{
    if (n < COOKIE_SEQ_LEN)
        return COOKIE_SHORT;
    /* The tail must be the query's namespace byte for byte: a cookie of
     * namespace X cannot page through Y, nor through all namespaces. */
    if (n - COOKIE_SEQ_LEN != ns_len || (ns_len && memcmp(c + COOKIE_SEQ_LEN, ns, ns_len) != 0))
        return COOKIE_WRONG_NS;
    uint64_t v = 0;
    for (size_t i = 0; i < COOKIE_SEQ_LEN; i++)
        v = v << 8 | c[i];
    /* Sequence numbers only grow, so one above the last issued was made up. */
    if (v > last_seq)
        return COOKIE_FUTURE;
    *seq = v;
    return COOKIE_OK;
}

const char *cookie_result_text(enum cookie_result r)
{
    switch (r) {
    case COOKIE_OK: return "ok";
    case COOKIE_SHORT: return "cookie is shorter than 8 bytes";
    case COOKIE_WRONG_NS: return "cookie belongs to another namespace";
    case COOKIE_FUTURE: return "cookie was not issued by this server";
    }
    return "invalid cookie";
}

/* ---- protobuf wire walking ---------------------------------------------- */

/* Protobuf varint (up to 10 bytes, non-minimal allowed as protobuf-c does). */
static int cookie__varint(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *off < n; shift += 7) {
        uint8_t b = p[(*off)++];
        if (shift < 64)
            *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Next field of p[0, n) at *off: its number, and for length-delimited
 * fields (*val, *vlen). 1 = a field, 0 = end, -1 = malformed. */
static int cookie__field(const uint8_t *p, size_t n, size_t *off, uint64_t *field,
                         const uint8_t **val, size_t *vlen)
{
    uint64_t key, v;
    if (*off >= n)
        return 0;
    if (cookie__varint(p, n, off, &key) < 0)
        return -1;
    *field = key >> 3;
    *val = NULL;
    *vlen = 0;
    switch (key & 7) {
    case 0: return cookie__varint(p, n, off, &v) < 0 ? -1 : 1;
    case 1: if (n - *off < 8) return -1; *off += 8; return 1;
    case 5: if (n - *off < 4) return -1; *off += 4; return 1;
    case 2:
        if (cookie__varint(p, n, off, &v) < 0 || v > n - *off)
            return -1;
        *val = p + *off;
        *vlen = (size_t)v;
        *off += (size_t)v;
        return 1;
    default: return -1; /* groups: not in these schemas */
    }
}

bool rdv_wire_string_has_nul(const uint8_t *msg, size_t len, uint32_t outer, uint32_t inner)
{
    size_t off = 0, ioff;
    uint64_t f, g;
    const uint8_t *sub, *s;
    size_t sublen, slen;

    while (cookie__field(msg, len, &off, &f, &sub, &sublen) == 1) {
        if (f != outer || sub == NULL)
            continue;
        ioff = 0;
        while (cookie__field(sub, sublen, &ioff, &g, &s, &slen) == 1)
            if (g == inner && s != NULL && memchr(s, 0, slen) != NULL)
                return true;
    }
    return false;
}
