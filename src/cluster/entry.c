#include "cluster/entry.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SEQ_N_BITS 20

/* A decimal of at most 19 digits spanning the whole of [p, p+n). */
static int entry__u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

static int entry__hex(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int cluster_seq_parse(const char *id, size_t len, uint64_t *seq)
{
    const char *dash = memchr(id, '-', len);
    uint64_t ms, n;
    if (dash == NULL || entry__u64(id, (size_t)(dash - id), &ms) != 0 ||
        entry__u64(dash + 1, len - (size_t)(dash - id) - 1, &n) != 0)
        return -1;
    if (n >> SEQ_N_BITS || ms >> (64 - SEQ_N_BITS) || (ms == 0 && n == 0))
        return -1;
    *seq = ms << SEQ_N_BITS | n;
    return 0;
}

size_t cluster_seq_format(uint64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%" PRIu64 "-%" PRIu64, seq >> SEQ_N_BITS,
                     seq & ((1u << SEQ_N_BITS) - 1));
    return n < 0 ? 0 : (size_t)n;
}

size_t cluster_key_make(uint8_t *out, const struct peer_id *peer, const char *ns, size_t ns_len)
{
    out[0] = peer->len;
    memcpy(out + 1, peer->b, peer->len);
    memcpy(out + 1 + peer->len, ns, ns_len);
    return 1 + peer->len + ns_len;
}

int cluster_owner_parse(struct cluster_span owner, uint64_t *node, uint64_t *session)
{
    const char *colon = memchr(owner.p, ':', owner.len);
    if (colon == NULL)
        return -1;
    size_t a = (size_t)(colon - owner.p);
    return entry__hex(owner.p, a, node) == 0 &&
                   entry__hex(colon + 1, owner.len - a - 1, session) == 0
               ? 0
               : -1;
}

static int entry__key(struct cluster_change *c, struct cluster_span k)
{
    if (k.len < 2)
        return -1;
    size_t plen = (uint8_t)k.p[0];
    if (plen == 0 || plen > PEERID_MAX || k.len < 1 + plen + 1 || k.len - 1 - plen > RDV_NS_MAX)
        return -1;
    if (peerid_from_bytes(&c->peer, (const uint8_t *)k.p + 1, plen) != 0)
        return -1;
    c->ns = k.p + 1 + plen;
    c->ns_len = k.len - 1 - plen;
    return 0;
}

/* "OWNER\nEXPIRES_MS\nBODY" */
static int entry__value(struct cluster_change *c, struct cluster_span v)
{
    const char *a = memchr(v.p, '\n', v.len);
    if (a == NULL)
        return -1;
    const char *b = memchr(a + 1, '\n', v.len - (size_t)(a + 1 - v.p));
    if (b == NULL)
        return -1;
    struct cluster_span owner = {v.p, (size_t)(a - v.p)};
    uint64_t exp;
    if (entry__u64(a + 1, (size_t)(b - a - 1), &exp) != 0)
        return -1;
    c->owned = owner.len > 0;
    if (c->owned && cluster_owner_parse(owner, &c->owner_node, &c->owner_session) != 0)
        return -1;
    c->expires = (double)exp / 1000.0;
    size_t blen = v.len - (size_t)(b + 1 - v.p);
    c->body = cluster__body__unpack(NULL, blen, (const uint8_t *)b + 1);
    if (c->body == NULL)
        return -1;
    const Cluster__Body *y = c->body;
    uint64_t ttl = y->has_ttl ? y->ttl : 0;
    /* push: an owner, no TTL, no deadline; TTL: a deadline, no owner */
    if ((!y->has_dialect || y->dialect > RDV_DIALECT_WAKU) || (c->owned != (ttl == 0)) ||
        (c->owned != (exp == 0)) || (y->has_envelope && y->envelope.len == 0)) {
        cluster__body__free_unpacked(c->body, NULL);
        c->body = NULL;
        return -1;
    }
    return 0;
}

static bool entry__is(struct cluster_span s, const char *name)
{
    size_t n = strlen(name);
    return s.len == n && memcmp(s.p, name, n) == 0;
}

int cluster_change_decode(struct cluster_change *c, struct cluster_span id,
                          const struct cluster_span *f, size_t nf)
{
    struct cluster_span n = {0}, op = {0}, k = {0}, v = {0}, s = {0}, why = {0};
    memset(c, 0, sizeof *c);
    if (nf % 2 != 0 || cluster_seq_parse(id.p, id.len, &c->seq) != 0)
        return -1;
    for (size_t i = 0; i < nf; i += 2) {
        struct cluster_span *to = entry__is(f[i], "n")     ? &n
                                  : entry__is(f[i], "op")  ? &op
                                  : entry__is(f[i], "k")   ? &k
                                  : entry__is(f[i], "v")   ? &v
                                  : entry__is(f[i], "s")   ? &s
                                  : entry__is(f[i], "why") ? &why
                                                           : NULL;
        if (to == NULL || to->p != NULL || f[i + 1].p == NULL)
            return -1; /* unknown or repeated */
        *to = f[i + 1];
    }
    if (n.p == NULL || entry__u64(n.p, n.len, &c->n) != 0 || k.p == NULL || entry__key(c, k) != 0)
        return -1;
    if (entry__is(op, "r")) {
        c->add = true;
        return v.p != NULL && s.p == NULL && why.p == NULL ? entry__value(c, v) : -1;
    }
    if (!entry__is(op, "u") || s.p == NULL || why.p == NULL || v.p != NULL ||
        cluster_seq_parse(s.p, s.len, &c->removed_seq) != 0)
        return -1;
    static const char *const whys[] = {[CLUSTER_WHY_UNREGISTER] = "u", [CLUSTER_WHY_SESSION] = "s",
                                       [CLUSTER_WHY_EXPIRED] = "x", [CLUSTER_WHY_REAP] = "reap"};
    for (size_t i = 0; i < sizeof whys / sizeof *whys; i++) {
        if (entry__is(why, whys[i])) {
            c->why = (enum cluster_why)i;
            return 0;
        }
    }
    return -1;
}

int cluster_value_decode(struct cluster_change *c, struct cluster_span key, struct cluster_span value)
{
    memset(c, 0, sizeof *c);
    const char *nl = memchr(value.p, '\n', value.len);
    if (nl == NULL || cluster_seq_parse(value.p, (size_t)(nl - value.p), &c->seq) != 0 ||
        entry__key(c, key) != 0)
        return -1;
    c->add = true;
    struct cluster_span rest = {nl + 1, value.len - (size_t)(nl + 1 - value.p)};
    return entry__value(c, rest);
}

void cluster_change_free(struct cluster_change *c)
{
    if (c->body)
        cluster__body__free_unpacked(c->body, NULL);
    c->body = NULL;
}
