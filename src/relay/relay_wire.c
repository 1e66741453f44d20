#include "relay/relay_wire.h"

#include <stdlib.h>

#include "base/mem.h"
#include "base/varint.h"
#include "circuit.pb-c.h"
#include "crypto/record.h"

static const uint8_t relay_wire__voucher_type[] = {0x03, 0x02}; /* multicodec libp2p-relay-rsvp */

int relay_wire_frame(const uint8_t *in, size_t n, size_t max, const uint8_t **msg, size_t *len,
                     size_t *used)
{
    uint64_t l = 0;
    int h = uvarint_get(in, n, &l);
    if (h < 0)
        return -1;
    if (h == 0)
        return n >= UVARINT_MAX_INPUT ? -1 : 0;
    if (l > max)
        return -1;
    if (n - (size_t)h < l)
        return 0;
    *msg = in + h;
    *len = (size_t)l;
    *used = (size_t)h + (size_t)l;
    return 1;
}

int relay_wire_hop(const uint8_t *msg, size_t len, struct relay_hop_req *req)
{
    Circuit__HopMessage *m = circuit__hop_message__unpack(NULL, len, msg);
    int rc = 0;

    if (m == NULL || !m->has_type)
        rc = -1;
    else if (m->type == CIRCUIT__HOP_MESSAGE__TYPE__RESERVE)
        req->type = RELAY_HOP_RESERVE;
    else if (m->type != CIRCUIT__HOP_MESSAGE__TYPE__CONNECT)
        req->type = RELAY_HOP_OTHER;
    else if (m->peer == NULL || !m->peer->has_id ||
             peerid_from_bytes(&req->peer, m->peer->id.data, m->peer->id.len) < 0)
        rc = -1;
    else
        req->type = RELAY_HOP_CONNECT;
    if (m)
        circuit__hop_message__free_unpacked(m, NULL);
    return rc;
}

int relay_wire_stop_status(const uint8_t *msg, size_t len)
{
    Circuit__StopMessage *m = circuit__stop_message__unpack(NULL, len, msg);
    int rc = -1;
    if (m && m->has_type && m->type == CIRCUIT__STOP_MESSAGE__TYPE__STATUS && m->has_status)
        rc = (int)m->status;
    if (m)
        circuit__stop_message__free_unpacked(m, NULL);
    return rc;
}

static void relay_wire__frame(struct buf *out, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    buf_append_uvarint(out, n);
    buf_commit(out, protobuf_c_message_pack(m, buf_reserve(out, n)));
}

static void relay_wire__limit(Circuit__Limit *l, const struct relay_limit *limit)
{
    circuit__limit__init(l);
    if (limit->duration) {
        l->has_duration = 1;
        l->duration = limit->duration;
    }
    if (limit->data) {
        l->has_data = 1;
        l->data = limit->data;
    }
}

void relay_wire_hop_status(struct buf *out, enum relay_status st, const struct relay_limit *limit,
                           const struct relay_grant *grant)
{
    Circuit__HopMessage m = CIRCUIT__HOP_MESSAGE__INIT;
    Circuit__Limit l;
    Circuit__Reservation rsvp = CIRCUIT__RESERVATION__INIT;
    ProtobufCBinaryData *addrs = NULL;

    m.has_type = 1;
    m.type = CIRCUIT__HOP_MESSAGE__TYPE__STATUS;
    m.has_status = 1;
    m.status = (Circuit__Status)st;
    if (limit && (limit->duration || limit->data)) {
        relay_wire__limit(&l, limit);
        m.limit = &l;
    }
    if (grant) {
        rsvp.has_expire = 1;
        rsvp.expire = grant->expire;
        if (grant->naddrs) {
            addrs = xcalloc(grant->naddrs, sizeof *addrs);
            for (size_t i = 0; i < grant->naddrs; i++)
                addrs[i] = (ProtobufCBinaryData){grant->addr_lens[i], (uint8_t *)grant->addrs[i]};
        }
        rsvp.n_addrs = grant->naddrs;
        rsvp.addrs = addrs;
        if (grant->voucher_len) {
            rsvp.has_voucher = 1;
            rsvp.voucher = (ProtobufCBinaryData){grant->voucher_len, (uint8_t *)grant->voucher};
        }
        m.reservation = &rsvp;
    }
    relay_wire__frame(out, &m.base);
    free(addrs);
}

void relay_wire_stop_connect(struct buf *out, const struct peer_id *source,
                             const struct relay_limit *limit)
{
    Circuit__StopMessage m = CIRCUIT__STOP_MESSAGE__INIT;
    Circuit__Peer p = CIRCUIT__PEER__INIT;
    Circuit__Limit l;

    m.has_type = 1;
    m.type = CIRCUIT__STOP_MESSAGE__TYPE__CONNECT;
    p.has_id = 1;
    p.id = (ProtobufCBinaryData){source->len, (uint8_t *)source->b};
    m.peer = &p;
    if (limit && (limit->duration || limit->data)) {
        relay_wire__limit(&l, limit);
        m.limit = &l;
    }
    relay_wire__frame(out, &m.base);
}

void relay_wire_voucher(struct buf *out, const struct privkey *k, const struct peer_id *relay,
                        const struct peer_id *peer, uint64_t expire)
{
    Circuit__Voucher v = CIRCUIT__VOUCHER__INIT;
    uint8_t payload[2 * (PEERID_MAX + 2) + 1 + UVARINT_MAX_LEN];

    /* protobuf-c writes fields in number order: the canonical form. */
    v.has_relay = 1;
    v.relay = (ProtobufCBinaryData){relay->len, (uint8_t *)relay->b};
    v.has_peer = 1;
    v.peer = (ProtobufCBinaryData){peer->len, (uint8_t *)peer->b};
    v.has_expiration = 1;
    v.expiration = expire;
    size_t n = circuit__voucher__pack(&v, payload);
    envelope_seal(k, RELAY_VOUCHER_DOMAIN, relay_wire__voucher_type, sizeof relay_wire__voucher_type,
                  payload, n, out);
}
