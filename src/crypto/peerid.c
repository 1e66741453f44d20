/* Peer ids (WIRE.md §7): multihash of the canonical PublicKey protobuf. */
#include "crypto/peerid.h"

#include <sodium.h>

#include "base/varint.h"
#include "codec/base58.h"
#include "codec/multibase.h"

#define MH_IDENTITY 0x00
#define MH_SHA2_256 0x12
#define MH_SHA2_256_LEN 32
#define PEERID_IDENTITY_MAX 42   /* keys up to this size are inlined */
#define CID_V1 0x01
#define CID_LIBP2P_KEY 0x72
/* Longest peer id text we try to parse: a CID of a 48-byte multihash in
 * base16 is 1 + 2 * 50 characters; base58/base32 forms are shorter. */
#define PEERID_TEXT_IN_MAX 128
#define CID_MAX (2 + PEERID_MAX)

const struct peer_id peerid_none;

int peerid_from_pubkey(struct peer_id *id, const struct pubkey *k)
{
    uint8_t proto[PUBKEY_PROTO_MAX];
    int n = pubkey_to_proto(k, proto, sizeof proto);
    if (n < 0)
        return -1;
    if (n <= PEERID_IDENTITY_MAX) {
        id->b[0] = MH_IDENTITY;
        id->b[1] = (uint8_t)n; /* < 128, so a one-byte varint */
        memcpy(id->b + 2, proto, (size_t)n);
        id->len = (uint8_t)(n + 2);
    } else {
        id->b[0] = MH_SHA2_256;
        id->b[1] = MH_SHA2_256_LEN;
        crypto_hash_sha256(id->b + 2, proto, (unsigned long long)n);
        id->len = 2 + MH_SHA2_256_LEN;
    }
    return 0;
}

int peerid_from_bytes(struct peer_id *id, const uint8_t *p, size_t n)
{
    if (n > PEERID_MAX || (n > 0 && p == NULL))
        return -1;
    uint64_t code, dlen;
    int a = uvarint_get(p, n, &code);
    if (a <= 0)
        return -1;
    int b = uvarint_get(p + a, n - (size_t)a, &dlen);
    if (b <= 0)
        return -1;
    size_t hdr = (size_t)a + (size_t)b;
    if (dlen != n - hdr)
        return -1;
    if (code == MH_SHA2_256) {
        if (dlen != MH_SHA2_256_LEN)
            return -1;
    } else if (code == MH_IDENTITY) {
        /* The inlined key must be one we accept and in the canonical
         * encoding; otherwise the id could never equal a derived one. */
        if (dlen > PEERID_IDENTITY_MAX)
            return -1;
        struct pubkey k;
        uint8_t again[PUBKEY_PROTO_MAX];
        if (pubkey_from_proto(&k, p + hdr, (size_t)dlen) != 0)
            return -1;
        int m = pubkey_to_proto(&k, again, sizeof again);
        if (m < 0 || (uint64_t)m != dlen || memcmp(again, p + hdr, (size_t)dlen) != 0)
            return -1;
    } else {
        return -1;
    }
    memcpy(id->b, p, n);
    id->len = (uint8_t)n;
    return 0;
}

/* CIDv1 bytes: version 1, codec libp2p-key, then the multihash. */
static int peerid__from_cid(struct peer_id *id, const uint8_t *c, size_t n)
{
    uint64_t ver, codec;
    int a = uvarint_get(c, n, &ver);
    if (a <= 0 || ver != CID_V1)
        return -1;
    int b = uvarint_get(c + a, n - (size_t)a, &codec);
    if (b <= 0 || codec != CID_LIBP2P_KEY)
        return -1;
    size_t off = (size_t)a + (size_t)b;
    return peerid_from_bytes(id, c + off, n - off);
}

int peerid_from_text(struct peer_id *id, const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > PEERID_TEXT_IN_MAX)
        return -1;
    if (memchr(s, '\0', n) != NULL)
        return -1;
    /* Spec rule: "1…" (identity) and "Qm…" (sha256) are bare base58btc
     * multihashes; anything else must be a multibase CID. */
    if (s[0] == '1' || (n >= 2 && s[0] == 'Q' && s[1] == 'm')) {
        uint8_t mh[PEERID_MAX];
        int m = base58_decode(s, n, mh, sizeof mh);
        if (m <= 0)
            return -1;
        return peerid_from_bytes(id, mh, (size_t)m);
    }
    uint8_t cid[CID_MAX];
    int m = multibase_decode(s, n, cid, sizeof cid);
    if (m <= 0)
        return -1;
    return peerid__from_cid(id, cid, (size_t)m);
}

int peerid_to_text(const struct peer_id *id, char *out, size_t cap)
{
    if (id->len == 0 || id->len > PEERID_MAX)
        return -1;
    return base58_encode(id->b, id->len, out, cap);
}

int peerid_to_cid_text(const struct peer_id *id, char *out, size_t cap)
{
    if (id->len == 0 || id->len > PEERID_MAX)
        return -1;
    uint8_t cid[CID_MAX];
    cid[0] = CID_V1;
    cid[1] = CID_LIBP2P_KEY; /* 0x72 < 0x80: one varint byte */
    memcpy(cid + 2, id->b, id->len);
    return multibase_encode('b', cid, (size_t)id->len + 2, out, cap);
}

int peerid_pubkey(const struct peer_id *id, struct pubkey *k)
{
    if (id->len < 2 || id->len > PEERID_MAX || id->b[0] != MH_IDENTITY)
        return -1;
    if ((size_t)id->b[1] != (size_t)id->len - 2)
        return -1;
    return pubkey_from_proto(k, id->b + 2, id->len - 2u);
}
