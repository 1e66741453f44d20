#include "host/identify.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "host/ws.h"
#include "identify.pb-c.h"

/* Writes one Identify message and closes our side. */
static int identify_open(struct stream *s)
{
    struct conn *c = stream_conn(s);
    struct host *h = c->host;
    Identify__Identify msg = IDENTIFY__IDENTIFY__INIT;
    uint8_t pub[PUBKEY_PROTO_MAX], observed[64];
    const uint8_t *addrs[HOST_MAX_LISTENERS];
    size_t lens[HOST_MAX_LISTENERS];
    ProtobufCBinaryData listen[HOST_MAX_LISTENERS];

    int publen = pubkey_to_proto(&h->pub, pub, sizeof(pub));
    if (publen < 0)
        return -1;
    msg.has_publickey = 1;
    msg.publickey.data = pub;
    msg.publickey.len = (size_t)publen;
    size_t n = host_addrs(h, addrs, lens, HOST_MAX_LISTENERS);
    for (size_t i = 0; i < n; i++) {
        listen[i].data = (uint8_t *)addrs[i];
        listen[i].len = lens[i];
    }
    msg.n_listenaddrs = n;
    msg.listenaddrs = listen;
    msg.n_protocols = h->nprotocols;
    msg.protocols = (char **)h->protocol_ids;
    int olen = multiaddr_from_sockaddr(&c->addr.sa, observed, sizeof(observed));
    if (olen > 0 && conn_ws(c)) {
        /* The peer dialed a WebSocket listener: /tcp/P/ws, or /tcp/P/tls/ws. */
        static const uint8_t tls_ws[] = {0xc0, 0x03, 0xdd, 0x03}; /* /tls (448) /ws (477) */
        size_t extra = ws_is_tls(conn_ws(c)) ? 4 : 2;
        if ((size_t)olen + extra <= sizeof(observed)) {
            memcpy(observed + olen, tls_ws + 4 - extra, extra);
            olen += (int)extra;
        }
    }
    if (olen > 0) {
        msg.has_observedaddr = 1;
        msg.observedaddr.data = observed;
        msg.observedaddr.len = (size_t)olen;
    }
    msg.protocolversion = IDENTIFY_PROTOCOL_VERSION;
    msg.agentversion = HOST_AGENT;
    if (buf_size(&h->record)) {
        msg.has_signedpeerrecord = 1;
        msg.signedpeerrecord.data = buf_head(&h->record);
        msg.signedpeerrecord.len = buf_size(&h->record);
    }

    size_t len = identify__identify__get_packed_size(&msg);
    struct buf *out = &h->scratch;
    buf_reset(out);
    buf_append_uvarint(out, len);
    identify__identify__pack(&msg, buf_reserve(out, len));
    buf_commit(out, len);
    stream_write(s, buf_head(out), buf_size(out));
    buf_reset(out);
    stream_close(s);
    return 0;
}

/* The asker sends nothing; anything it does send is ignored. */
static void identify_data(struct stream *s, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
}

const struct protocol identify_protocol = {
    .id = IDENTIFY_PROTOCOL_ID,
    .on_open = identify_open,
    .on_data = identify_data,
};
