/* Signed envelopes holding peer records (WIRE.md §8). The signature is
 * checked over the rebuilt signed bytes before the payload is decoded, so an
 * unauthenticated payload never reaches the PeerRecord parser. */
#include "crypto/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "envelope.pb-c.h"
#include "keys.pb-c.h"
#include "peer_record.pb-c.h"

struct record__dialect {
    const char *domain;
    const uint8_t *type;
    size_t type_len;
};

static const uint8_t record__std_type[] = {0x03, 0x01}; /* multicodec 0x0301, big-endian */
static const uint8_t record__legacy_type[] = "/libp2p/routing-state-record";

static const struct record__dialect record__dialects[] = {
    [RECORD_STANDARD] = {"libp2p-peer-record", record__std_type, sizeof record__std_type},
    [RECORD_LEGACY] = {"libp2p-routing-state", record__legacy_type,
                       sizeof record__legacy_type - 1},
};

static int record__fail(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

static void record__put_field(struct buf *b, const void *p, size_t n)
{
    buf_append_uvarint(b, n);
    buf_append(b, p, n);
}

/* uvarint(len(domain)) ‖ domain ‖ uvarint(len(type)) ‖ type ‖
 * uvarint(len(payload)) ‖ payload: what the envelope signature covers. */
static void record__signed_bytes(struct buf *b, const char *domain, const uint8_t *type,
                                 size_t type_len, const uint8_t *payload, size_t plen)
{
    record__put_field(b, domain, strlen(domain));
    record__put_field(b, type, type_len);
    record__put_field(b, payload, plen);
}

void peer_record_free(struct peer_record *rec)
{
    free(rec->storage);
    rec->storage = NULL;
    rec->naddrs = 0;
}

/* Decodes and checks the (already authenticated) PeerRecord payload. */
static int record__decode_payload(struct peer_record *rec, const struct pubkey *signer,
                                  const uint8_t *payload, size_t plen, char *err, size_t errlen)
{
    Peer__PeerRecord *pr = peer__peer_record__unpack(NULL, plen, payload);
    if (pr == NULL)
        return record__fail(err, errlen, "malformed peer record");

    int rc = -1;
    struct peer_id signer_id;
    if (!pr->has_peer_id || pr->peer_id.len == 0) {
        record__fail(err, errlen, "peer record has no peer id");
    } else if (peerid_from_bytes(&rec->id, pr->peer_id.data, pr->peer_id.len) != 0) {
        record__fail(err, errlen, "record peer id is invalid");
    } else if (peerid_from_pubkey(&signer_id, signer) != 0 || !peerid_eq(&rec->id, &signer_id)) {
        record__fail(err, errlen, "record peer id is not the signer");
    } else if (pr->n_addresses > RECORD_MAX_ADDRS) {
        record__fail(err, errlen, "too many addresses in peer record");
    } else {
        size_t total = 0;
        rc = 0;
        for (size_t i = 0; i < pr->n_addresses; i++) {
            const Peer__PeerRecord__AddressInfo *ai = pr->addresses[i];
            /* proto3 senders omit empty bytes: absent is the empty address */
            size_t len = ai->has_multiaddr ? ai->multiaddr.len : 0;
            if (len == 0 || len > RECORD_MAX_ADDR_LEN) {
                rc = record__fail(err, errlen, len ? "address in peer record is too long"
                                                   : "empty address in peer record");
                break;
            }
            if (multiaddr_validate(ai->multiaddr.data, len) != 0) {
                rc = record__fail(err, errlen, "invalid multiaddr in peer record");
                break;
            }
            total += len;
        }
        if (rc == 0) {
            /* One block for all addresses, in the record's order. */
            uint8_t *store = pr->n_addresses ? xmalloc(total) : NULL;
            size_t off = 0;
            for (size_t i = 0; i < pr->n_addresses; i++) {
                const ProtobufCBinaryData *ma = &pr->addresses[i]->multiaddr;
                memcpy(store + off, ma->data, ma->len);
                rec->addrs[i].bytes = store + off;
                rec->addrs[i].len = ma->len;
                off += ma->len;
            }
            rec->storage = store;
            rec->naddrs = pr->n_addresses;
            rec->seq = pr->has_seq ? pr->seq : 0; /* proto3 omits seq 0 */
        }
    }
    peer__peer_record__free_unpacked(pr, NULL);
    return rc;
}

int record_open(struct peer_record *rec, const uint8_t *env, size_t len, char *err, size_t errlen)
{
    memset(rec, 0, sizeof *rec);
    if (len > RECORD_MAX_ENVELOPE)
        return record__fail(err, errlen, "envelope too large");
    if (len == 0 || env == NULL)
        return record__fail(err, errlen, "empty envelope");

    Record__Envelope *e = record__envelope__unpack(NULL, len, env);
    if (e == NULL)
        return record__fail(err, errlen, "malformed envelope");

    int rc = -1;
    struct pubkey key;
    const Keys__PublicKey *pk = e->public_key;
    const struct record__dialect *d = NULL;
    enum record_dialect which = RECORD_STANDARD;
    for (size_t i = 0; i < ARRAY_LEN(record__dialects); i++) {
        const struct record__dialect *c = &record__dialects[i];
        if (e->has_payload_type && e->payload_type.len == c->type_len &&
            memcmp(e->payload_type.data, c->type, c->type_len) == 0) {
            d = c;
            which = (enum record_dialect)i;
        }
    }
    size_t plen = e->has_payload ? e->payload.len : 0;
    size_t slen = e->has_signature ? e->signature.len : 0;

    if (pk == NULL || !pk->has_type || !pk->has_data) {
        record__fail(err, errlen, "envelope has no public key");
    } else if (pubkey_from_data(&key, (int)pk->type, pk->data.data, pk->data.len) != 0) {
        record__fail(err, errlen, "envelope public key is invalid or unsupported");
    } else if (d == NULL) {
        record__fail(err, errlen, "envelope payload is not a peer record");
    } else if (slen == 0) {
        record__fail(err, errlen, "envelope is not signed");
    } else {
        struct buf sb = BUF_INIT;
        record__signed_bytes(&sb, d->domain, d->type, d->type_len, e->payload.data, plen);
        int ok = pubkey_verify(&key, buf_head(&sb), buf_size(&sb), e->signature.data, slen);
        buf_free(&sb);
        if (ok != 0) {
            record__fail(err, errlen, "signature does not verify");
        } else {
            rec->dialect = which;
            rc = record__decode_payload(rec, &key, e->payload.data, plen, err, errlen);
        }
    }
    record__envelope__free_unpacked(e, NULL);
    if (rc != 0)
        peer_record_free(rec);
    return rc;
}

void record_seal(const struct privkey *k, enum record_dialect dialect, uint64_t seq,
                 const struct record_addr *addrs, size_t naddrs, struct buf *out)
{
    const struct record__dialect *d =
        &record__dialects[dialect == RECORD_LEGACY ? RECORD_LEGACY : RECORD_STANDARD];
    struct pubkey pub;
    struct peer_id id;
    privkey_public(k, &pub);
    (void)peerid_from_pubkey(&id, &pub); /* cannot fail for an Ed25519 key */

    /* The payload: PeerRecord{peer_id, seq, addresses}. */
    Peer__PeerRecord pr = PEER__PEER_RECORD__INIT;
    Peer__PeerRecord__AddressInfo *infos = naddrs ? xcalloc(naddrs, sizeof *infos) : NULL;
    Peer__PeerRecord__AddressInfo **ptrs = naddrs ? xcalloc(naddrs, sizeof *ptrs) : NULL;
    for (size_t i = 0; i < naddrs; i++) {
        peer__peer_record__address_info__init(&infos[i]);
        infos[i].has_multiaddr = 1;
        infos[i].multiaddr.len = addrs[i].len;
        infos[i].multiaddr.data = (uint8_t *)addrs[i].bytes; /* only read by pack */
        ptrs[i] = &infos[i];
    }
    pr.has_peer_id = 1;
    pr.peer_id.len = id.len;
    pr.peer_id.data = id.b;
    pr.has_seq = 1;
    pr.seq = seq;
    pr.n_addresses = naddrs;
    pr.addresses = ptrs;
    size_t plen = peer__peer_record__get_packed_size(&pr);
    uint8_t *payload = xmalloc(plen);
    peer__peer_record__pack(&pr, payload);
    free(ptrs);
    free(infos);

    envelope_seal(k, d->domain, d->type, d->type_len, payload, plen, out);
    free(payload);
}

void envelope_seal(const struct privkey *k, const char *domain, const uint8_t *type,
                   size_t type_len, const uint8_t *payload, size_t plen, struct buf *out)
{
    struct pubkey pub;
    struct buf sb = BUF_INIT;
    uint8_t sig[64];

    privkey_public(k, &pub);
    record__signed_bytes(&sb, domain, type, type_len, payload, plen);
    privkey_sign(k, buf_head(&sb), buf_size(&sb), sig);
    buf_free(&sb);

    Keys__PublicKey kp = KEYS__PUBLIC_KEY__INIT;
    kp.has_type = 1;
    kp.type = KEYS__KEY_TYPE__Ed25519;
    kp.has_data = 1;
    kp.data.len = pub.len;
    kp.data.data = pub.data;
    Record__Envelope e = RECORD__ENVELOPE__INIT;
    e.public_key = &kp;
    e.has_payload_type = 1;
    e.payload_type.len = type_len;
    e.payload_type.data = (uint8_t *)type; /* only read by pack */
    e.has_payload = 1;
    e.payload.len = plen;
    e.payload.data = (uint8_t *)payload;
    e.has_signature = 1;
    e.signature.len = sizeof sig;
    e.signature.data = sig;
    size_t need = record__envelope__get_packed_size(&e);
    buf_commit(out, record__envelope__pack(&e, buf_reserve(out, need)));
}
