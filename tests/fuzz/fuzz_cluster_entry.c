/* The cluster's decoders of what comes out of Redis (cluster/entry.h) and
 * the --cluster URL parser. The first byte picks one; the rest is cut into
 * spans, each one length byte and that many bytes:
 *  0: a change log entry (id, then field, value, ...);
 *  1: a snapshot registration (key, value);
 *  2: a URL; 3: a stream id.
 * A decoded record must lie within the input and within the limits, and a
 * seq must format back to an id that parses to the same seq. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/entry.h"
#include "cluster/url.h"

#define MAX_SPANS 16

static void check_change(const struct cluster_change *c, const uint8_t *data, size_t size)
{
    if (c->peer.len == 0 || c->peer.len > PEERID_MAX || c->ns_len == 0 || c->ns_len > RDV_NS_MAX)
        abort();
    if ((const uint8_t *)c->ns < data || (const uint8_t *)c->ns + c->ns_len > data + size)
        abort();
    if (c->add && (c->body == NULL || c->body->dialect > RDV_DIALECT_WAKU))
        abort();
    if (c->add && c->owned == (c->body->has_ttl && c->body->ttl > 0))
        abort();
    char id[48];
    uint64_t back;
    size_t n = cluster_seq_format(c->seq, id, sizeof id);
    if (cluster_seq_parse(id, n, &back) != 0 || back != c->seq)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cluster_span s[MAX_SPANS];
    size_t ns = 0, off = 1;
    if (size < 1)
        return 0;
    while (off < size && ns < MAX_SPANS) {
        size_t n = data[off++];
        if (n > size - off)
            n = size - off;
        s[ns++] = (struct cluster_span){(const char *)data + off, n};
        off += n;
    }
    struct cluster_change c;
    memset(&c, 0, sizeof c); /* freed below whether or not a decoder ran */
    switch (data[0] & 3) {
    case 0:
        if (ns >= 1 && cluster_change_decode(&c, s[0], s + 1, ns - 1) == 0)
            check_change(&c, data, size);
        cluster_change_free(&c);
        break;
    case 1:
        if (ns >= 2 && cluster_value_decode(&c, s[0], s[1]) == 0)
            check_change(&c, data, size);
        cluster_change_free(&c);
        break;
    case 2: {
        char text[300], err[256];
        struct cluster_url u;
        size_t n = size - 1 < sizeof text - 1 ? size - 1 : sizeof text - 1;
        memcpy(text, data + 1, n);
        text[n] = '\0';
        if (cluster_url_parse(&u, text, err, sizeof err) == 0) {
            if (u.unix_socket ? u.path[0] != '/' : (u.host[0] == '\0' || u.port < 1 || u.port > 65535))
                abort();
        }
        break;
    }
    default: {
        uint64_t seq, back;
        char id[48];
        if (ns >= 1 && cluster_seq_parse(s[0].p, s[0].len, &seq) == 0) {
            size_t n = cluster_seq_format(seq, id, sizeof id);
            if (seq == 0 || cluster_seq_parse(id, n, &back) != 0 || back != seq)
                abort();
        }
        break;
    }
    }
    return 0;
}
