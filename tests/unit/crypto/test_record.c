/* Signed peer records: seal/open in both dialects, the signed-bytes layout
 * checked independently, tampering, a signer that is not the record's peer,
 * bounds, and an envelope signed with a non-Ed25519 key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "base/buf.h"
#include "base/varint.h"
#include "codec/multiaddr.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "crypto/record.h"
#include "envelope.pb-c.h"
#include "keys.pb-c.h"
#include "peer_record.pb-c.h"

static const char STD_DOMAIN[] = "libp2p-peer-record";
static const uint8_t STD_TYPE[] = {0x03, 0x01};
static const char LEG_DOMAIN[] = "libp2p-routing-state";
static const char LEG_TYPE[] = "/libp2p/routing-state-record";

static const char *const ADDR_TEXT[] = {
    "/ip4/127.0.0.1/tcp/4001",
    "/ip6/::1/tcp/4001/ws",
    "/dns4/rendezvous.example.com/tcp/443/wss",
    "/ip4/10.0.0.1/udp/4001/quic-v1",
};
#define NADDR (sizeof ADDR_TEXT / sizeof ADDR_TEXT[0])

struct addrs {
    uint8_t bytes[NADDR][128];
    struct record_addr a[NADDR];
};

static void make_addrs(struct addrs *x)
{
    char err[128];
    for (size_t i = 0; i < NADDR; i++) {
        int n = multiaddr_from_text(ADDR_TEXT[i], x->bytes[i], sizeof x->bytes[i], err, sizeof err);
        if (n <= 0)
            fail_msg("%s: %s", ADDR_TEXT[i], err);
        x->a[i].bytes = x->bytes[i];
        x->a[i].len = (size_t)n;
    }
}

/* The signed bytes, built here from the spec text rather than by record.c. */
static size_t signed_bytes(uint8_t *out, const char *domain, const uint8_t *type, size_t tlen,
                           const uint8_t *payload, size_t plen)
{
    size_t o = 0, dl = strlen(domain);
    o += uvarint_put(out + o, dl);
    memcpy(out + o, domain, dl);
    o += dl;
    o += uvarint_put(out + o, tlen);
    memcpy(out + o, type, tlen);
    o += tlen;
    o += uvarint_put(out + o, plen);
    memcpy(out + o, payload, plen);
    return o + plen;
}

/* PeerRecord{peer_id, seq, addrs} packed with protobuf-c. */
static size_t make_payload(const uint8_t *pid, size_t pidlen, uint64_t seq,
                           const struct record_addr *a, size_t n, uint8_t **out)
{
    Peer__PeerRecord pr = PEER__PEER_RECORD__INIT;
    Peer__PeerRecord__AddressInfo *ai = calloc(n ? n : 1, sizeof *ai);
    Peer__PeerRecord__AddressInfo **pp = calloc(n ? n : 1, sizeof *pp);
    for (size_t i = 0; i < n; i++) {
        peer__peer_record__address_info__init(&ai[i]);
        ai[i].has_multiaddr = 1;
        ai[i].multiaddr.data = (uint8_t *)a[i].bytes;
        ai[i].multiaddr.len = a[i].len;
        pp[i] = &ai[i];
    }
    pr.has_peer_id = pid != NULL;
    pr.peer_id.data = (uint8_t *)pid;
    pr.peer_id.len = pidlen;
    pr.has_seq = 1;
    pr.seq = seq;
    pr.n_addresses = n;
    pr.addresses = pp;
    size_t len = peer__peer_record__get_packed_size(&pr);
    *out = malloc(len ? len : 1);
    peer__peer_record__pack(&pr, *out);
    free(ai);
    free(pp);
    return len;
}

/* An Envelope with the given key and fields, via protobuf-c. */
static void pack_env(int ktype, const uint8_t *kdata, size_t klen, const uint8_t *type,
                     size_t tlen, const uint8_t *payload, size_t plen, const uint8_t *sig,
                     size_t slen, struct buf *out)
{
    Keys__PublicKey kp = KEYS__PUBLIC_KEY__INIT;
    kp.has_type = 1;
    kp.type = (Keys__KeyType)ktype;
    kp.has_data = 1;
    kp.data.data = (uint8_t *)kdata;
    kp.data.len = klen;
    Record__Envelope e = RECORD__ENVELOPE__INIT;
    e.public_key = &kp;
    e.has_payload_type = 1;
    e.payload_type.data = (uint8_t *)type;
    e.payload_type.len = tlen;
    e.has_payload = 1;
    e.payload.data = (uint8_t *)payload;
    e.payload.len = plen;
    e.has_signature = 1;
    e.signature.data = (uint8_t *)sig;
    e.signature.len = slen;
    size_t need = record__envelope__get_packed_size(&e);
    buf_commit(out, record__envelope__pack(&e, buf_reserve(out, need)));
}

/* Envelope signed by k under any domain/type, for any payload. */
static void make_env(const struct privkey *k, const char *domain, const uint8_t *type, size_t tlen,
                     const uint8_t *payload, size_t plen, struct buf *out)
{
    uint8_t *sb = malloc(plen + 128);
    uint8_t sig[64];
    size_t sn = signed_bytes(sb, domain, type, tlen, payload, plen);
    privkey_sign(k, sb, sn, sig);
    free(sb);
    struct pubkey pub;
    privkey_public(k, &pub);
    pack_env(KEY_ED25519, pub.data, pub.len, type, tlen, payload, plen, sig, sizeof sig, out);
}

static void expect_fail(const uint8_t *env, size_t len, const char *want)
{
    struct peer_record rec;
    char err[128] = "";
    assert_int_equal(record_open(&rec, env, len, err, sizeof err), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\", wanted \"%s\"", err, want);
    assert_null(rec.storage);
    peer_record_free(&rec); /* harmless after a failure */
}

static void check_open(const uint8_t *env, size_t len, const struct privkey *k,
                       enum record_dialect dialect, uint64_t seq, const struct addrs *x, size_t n)
{
    struct peer_record rec;
    char err[128] = "";
    if (record_open(&rec, env, len, err, sizeof err) != 0)
        fail_msg("record_open: %s", err);
    struct pubkey pub;
    struct peer_id id;
    privkey_public(k, &pub);
    assert_int_equal(peerid_from_pubkey(&id, &pub), 0);
    assert_true(peerid_eq(&rec.id, &id));
    assert_int_equal(rec.dialect, dialect);
    assert_true(rec.seq == seq);
    assert_int_equal(rec.naddrs, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rec.addrs[i].len, x->a[i].len);
        assert_memory_equal(rec.addrs[i].bytes, x->a[i].bytes, x->a[i].len);
        assert_true(rec.addrs[i].bytes != x->a[i].bytes); /* a copy, not the caller's */
    }
    peer_record_free(&rec);
    assert_null(rec.storage);
}

static void seal_open_both_dialects(void **state)
{
    (void)state;
    struct privkey k;
    struct addrs x;
    privkey_generate(&k);
    make_addrs(&x);
    for (int d = RECORD_STANDARD; d <= RECORD_LEGACY; d++) {
        struct buf env = BUF_INIT;
        record_seal(&k, (enum record_dialect)d, 1700000000ULL + (uint64_t)d, x.a, NADDR, &env);
        assert_true(buf_size(&env) <= RECORD_MAX_ENVELOPE);
        check_open(buf_head(&env), buf_size(&env), &k, (enum record_dialect)d,
                   1700000000ULL + (uint64_t)d, &x, NADDR);
        buf_free(&env);
    }
    /* No addresses, seq 0, largest seq. */
    struct buf env = BUF_INIT;
    record_seal(&k, RECORD_STANDARD, 0, NULL, 0, &env);
    check_open(buf_head(&env), buf_size(&env), &k, RECORD_STANDARD, 0, &x, 0);
    buf_reset(&env);
    record_seal(&k, RECORD_LEGACY, UINT64_MAX, x.a, 1, &env);
    check_open(buf_head(&env), buf_size(&env), &k, RECORD_LEGACY, UINT64_MAX, &x, 1);
    buf_free(&env);
    privkey_wipe(&k);
}

/* What record_seal writes matches WIRE.md §8 byte for byte: the envelope's
 * fields, and a signature over the documented signed-bytes layout. */
static void sealed_layout(void **state)
{
    (void)state;
    struct privkey k;
    struct addrs x;
    privkey_generate(&k);
    make_addrs(&x);
    struct pubkey pub;
    privkey_public(&k, &pub);
    for (int d = RECORD_STANDARD; d <= RECORD_LEGACY; d++) {
        struct buf env = BUF_INIT;
        record_seal(&k, (enum record_dialect)d, 42, x.a, NADDR, &env);
        /* The envelope starts with the embedded PublicKey: 0a 24 08 01 12 20 … */
        assert_memory_equal(buf_head(&env), "\x0a\x24\x08\x01\x12\x20", 6);
        assert_memory_equal(buf_head(&env) + 6, pub.data, 32);
        Record__Envelope *e = record__envelope__unpack(NULL, buf_size(&env), buf_head(&env));
        assert_non_null(e);
        const uint8_t *type = d == RECORD_STANDARD ? STD_TYPE : (const uint8_t *)LEG_TYPE;
        size_t tlen = d == RECORD_STANDARD ? sizeof STD_TYPE : strlen(LEG_TYPE);
        const char *domain = d == RECORD_STANDARD ? STD_DOMAIN : LEG_DOMAIN;
        assert_int_equal(e->payload_type.len, tlen);
        assert_memory_equal(e->payload_type.data, type, tlen);
        assert_int_equal(e->signature.len, 64);

        uint8_t *sb = malloc(e->payload.len + 128);
        size_t sn = signed_bytes(sb, domain, type, tlen, e->payload.data, e->payload.len);
        if (d == RECORD_STANDARD)
            assert_memory_equal(sb, "\x12libp2p-peer-record\x02\x03\x01", 22);
        else
            assert_memory_equal(sb, "\x14libp2p-routing-state\x1c/libp2p/routing-state-record",
                                50);
        assert_int_equal(crypto_sign_verify_detached(e->signature.data, sb, sn, pub.data), 0);
        free(sb);

        /* The payload is PeerRecord{peer_id, seq, addresses} in order. */
        Peer__PeerRecord *pr = peer__peer_record__unpack(NULL, e->payload.len, e->payload.data);
        assert_non_null(pr);
        struct peer_id id;
        assert_int_equal(peerid_from_pubkey(&id, &pub), 0);
        assert_int_equal(pr->peer_id.len, id.len);
        assert_memory_equal(pr->peer_id.data, id.b, id.len);
        assert_true(pr->seq == 42);
        assert_int_equal(pr->n_addresses, NADDR);
        for (size_t i = 0; i < NADDR; i++)
            assert_memory_equal(pr->addresses[i]->multiaddr.data, x.a[i].bytes, x.a[i].len);
        peer__peer_record__free_unpacked(pr, NULL);
        record__envelope__free_unpacked(e, NULL);
        buf_free(&env);
    }
    privkey_wipe(&k);
}

/* Re-packs env after fn changed one field. */
static void tamper(const struct buf *env, void (*fn)(Record__Envelope *), struct buf *out)
{
    Record__Envelope *e = record__envelope__unpack(NULL, buf_size(env), buf_head(env));
    assert_non_null(e);
    fn(e);
    size_t need = record__envelope__get_packed_size(e);
    buf_commit(out, record__envelope__pack(e, buf_reserve(out, need)));
    record__envelope__free_unpacked(e, NULL);
}

static void flip_payload(Record__Envelope *e) { e->payload.data[e->payload.len - 1] ^= 0x01; }
static void flip_signature(Record__Envelope *e) { e->signature.data[5] ^= 0x80; }
static void cut_signature(Record__Envelope *e) { e->signature.len = 63; }
static void drop_signature(Record__Envelope *e) { e->has_signature = 0; }
static void drop_key(Record__Envelope *e)
{
    keys__public_key__free_unpacked(e->public_key, NULL);
    e->public_key = NULL;
}
static void bad_key(Record__Envelope *e) { e->public_key->data.len = 31; }
static void other_type(Record__Envelope *e) { e->payload_type.data[1] = 0x02; }
/* Same signature, but claiming the other dialect: the domain changes. */
static void to_legacy(Record__Envelope *e)
{
    free(e->payload_type.data); /* free_unpacked will free what we put here */
    e->payload_type.len = strlen(LEG_TYPE);
    e->payload_type.data = malloc(e->payload_type.len);
    memcpy(e->payload_type.data, LEG_TYPE, e->payload_type.len);
}

static void tampered(void **state)
{
    (void)state;
    struct privkey k, other;
    struct addrs x;
    privkey_generate(&k);
    privkey_generate(&other);
    make_addrs(&x);
    struct buf env = BUF_INIT, t = BUF_INIT;
    record_seal(&k, RECORD_STANDARD, 7, x.a, NADDR, &env);

    static const struct {
        void (*fn)(Record__Envelope *);
        const char *want;
    } cases[] = {
        {flip_payload, "signature does not verify"},
        {flip_signature, "signature does not verify"},
        {cut_signature, "signature does not verify"},
        {drop_signature, "not signed"},
        {drop_key, "no public key"},
        {bad_key, "public key"},
        {other_type, "not a peer record"},
        {to_legacy, "signature does not verify"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&t);
        tamper(&env, cases[i].fn, &t);
        expect_fail(buf_head(&t), buf_size(&t), cases[i].want);
    }

    /* Payload signed under the wrong domain (standard type, legacy domain). */
    uint8_t *payload;
    struct pubkey pub;
    struct peer_id id;
    privkey_public(&k, &pub);
    peerid_from_pubkey(&id, &pub);
    size_t plen = make_payload(id.b, id.len, 1, x.a, NADDR, &payload);
    buf_reset(&t);
    make_env(&k, LEG_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "signature does not verify");
    buf_reset(&t);
    make_env(&k, "libp2p-relay-rsvp", STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "signature does not verify");
    /* The helper itself makes openable envelopes (so the failures above are
     * due to the domain alone). */
    buf_reset(&t);
    make_env(&k, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    check_open(buf_head(&t), buf_size(&t), &k, RECORD_STANDARD, 1, &x, NADDR);
    /* Signed by another key that claims to be k's envelope. */
    uint8_t sb[1024], sig[64];
    size_t sn = signed_bytes(sb, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen);
    privkey_sign(&other, sb, sn, sig);
    buf_reset(&t);
    pack_env(KEY_ED25519, pub.data, 32, STD_TYPE, sizeof STD_TYPE, payload, plen, sig, 64, &t);
    expect_fail(buf_head(&t), buf_size(&t), "signature does not verify");
    free(payload);

    /* Garbage. */
    expect_fail((const uint8_t *)"\xff\xff\xff\xff", 4, "malformed envelope");
    expect_fail((const uint8_t *)"", 0, "empty envelope");
    expect_fail(buf_head(&env), buf_size(&env) - 1, "malformed envelope");

    buf_free(&env);
    buf_free(&t);
    privkey_wipe(&k);
    privkey_wipe(&other);
}

static void peer_id_mismatch(void **state)
{
    (void)state;
    struct privkey a, b;
    struct addrs x;
    privkey_generate(&a);
    privkey_generate(&b);
    make_addrs(&x);
    struct pubkey pb;
    struct peer_id idb;
    privkey_public(&b, &pb);
    peerid_from_pubkey(&idb, &pb);
    struct buf t = BUF_INIT;
    uint8_t *payload;

    /* b's id, signed by a. */
    size_t plen = make_payload(idb.b, idb.len, 1, x.a, NADDR, &payload);
    make_env(&a, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "record peer id is not the signer");
    free(payload);

    /* No peer id; an invalid one; a sha256 id that is not a's. */
    buf_reset(&t);
    plen = make_payload(NULL, 0, 1, x.a, NADDR, &payload);
    make_env(&a, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "no peer id");
    free(payload);
    buf_reset(&t);
    plen = make_payload((const uint8_t *)"\x00\x03\x01\x02\x03", 5, 1, x.a, NADDR, &payload);
    make_env(&a, LEG_DOMAIN, (const uint8_t *)LEG_TYPE, strlen(LEG_TYPE), payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "peer id is invalid");
    free(payload);
    buf_reset(&t);
    uint8_t sha[34] = {0x12, 0x20};
    plen = make_payload(sha, sizeof sha, 1, x.a, NADDR, &payload);
    make_env(&a, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen, &t);
    expect_fail(buf_head(&t), buf_size(&t), "not the signer");
    free(payload);

    /* A payload that is not a PeerRecord at all (signed, so it is decoded). */
    buf_reset(&t);
    make_env(&a, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, (const uint8_t *)"\x0a\xff", 2, &t);
    expect_fail(buf_head(&t), buf_size(&t), "malformed peer record");

    buf_free(&t);
    privkey_wipe(&a);
    privkey_wipe(&b);
}

static void bounds(void **state)
{
    (void)state;
    struct privkey k;
    privkey_generate(&k);
    struct buf env = BUF_INIT;
    uint8_t ma[8];
    char err[64];
    int mlen = multiaddr_from_text("/ip4/1.2.3.4/tcp/1", ma, sizeof ma, err, sizeof err);
    assert_true(mlen > 0);

    /* RECORD_MAX_ADDRS is fine, one more is not. */
    struct record_addr many[RECORD_MAX_ADDRS + 1];
    for (size_t i = 0; i <= RECORD_MAX_ADDRS; i++) {
        many[i].bytes = ma;
        many[i].len = (size_t)mlen;
    }
    struct peer_record rec;
    record_seal(&k, RECORD_STANDARD, 1, many, RECORD_MAX_ADDRS, &env);
    assert_int_equal(record_open(&rec, buf_head(&env), buf_size(&env), err, sizeof err), 0);
    assert_int_equal(rec.naddrs, RECORD_MAX_ADDRS);
    peer_record_free(&rec);
    buf_reset(&env);
    record_seal(&k, RECORD_STANDARD, 1, many, RECORD_MAX_ADDRS + 1, &env);
    expect_fail(buf_head(&env), buf_size(&env), "too many addresses");

    /* An address over RECORD_MAX_ADDR_LEN, and one that is not a multiaddr. */
    static uint8_t longma[RECORD_MAX_ADDR_LEN + 1];
    memset(longma, 'a', sizeof longma);
    longma[0] = 0x35; /* dns, then a varint length of 509 and a name */
    longma[1] = 0xfd;
    longma[2] = 0x03;
    struct record_addr one = {longma, sizeof longma};
    buf_reset(&env);
    record_seal(&k, RECORD_STANDARD, 1, &one, 1, &env);
    expect_fail(buf_head(&env), buf_size(&env), "too long");
    one.len = RECORD_MAX_ADDR_LEN; /* 3 + 509: exactly the limit, and valid */
    buf_reset(&env);
    record_seal(&k, RECORD_STANDARD, 1, &one, 1, &env);
    assert_int_equal(record_open(&rec, buf_head(&env), buf_size(&env), err, sizeof err), 0);
    assert_int_equal(rec.addrs[0].len, RECORD_MAX_ADDR_LEN);
    peer_record_free(&rec);
    one.bytes = (const uint8_t *)"\x04\x01\x02";
    one.len = 3; /* ip4 with 2 of its 4 bytes */
    buf_reset(&env);
    record_seal(&k, RECORD_LEGACY, 1, &one, 1, &env);
    expect_fail(buf_head(&env), buf_size(&env), "invalid multiaddr");
    one.len = 0;
    buf_reset(&env);
    record_seal(&k, RECORD_LEGACY, 1, &one, 1, &env);
    expect_fail(buf_head(&env), buf_size(&env), "empty address");

    /* A genuine envelope just over RECORD_MAX_ENVELOPE. */
    struct record_addr big[RECORD_MAX_ADDRS];
    for (size_t i = 0; i < RECORD_MAX_ADDRS; i++)
        big[i] = (struct record_addr){longma, 300};
    longma[1] = 0xa9; /* varint 297 */
    longma[2] = 0x02;
    buf_reset(&env);
    record_seal(&k, RECORD_STANDARD, 1, big, RECORD_MAX_ADDRS, &env);
    assert_true(buf_size(&env) > RECORD_MAX_ENVELOPE);
    expect_fail(buf_head(&env), buf_size(&env), "envelope too large");
    /* The same addresses in a smaller set are fine (so size alone failed). */
    buf_reset(&env);
    record_seal(&k, RECORD_STANDARD, 1, big, 20, &env);
    assert_true(buf_size(&env) <= RECORD_MAX_ENVELOPE);
    assert_int_equal(record_open(&rec, buf_head(&env), buf_size(&env), err, sizeof err), 0);
    peer_record_free(&rec);

    buf_free(&env);
    privkey_wipe(&k);
}

/* A peer signing with a secp256k1 key (Waku-style nodes do): its envelope
 * opens, and the peer id is the one derived from that key. */
static void secp256k1_signer(void **state)
{
    (void)state;
    EVP_PKEY *ek = EVP_EC_gen("secp256k1");
    assert_non_null(ek);
    uint8_t pt[33];
    size_t ptlen = 0;
    assert_int_equal(EVP_PKEY_set_utf8_string_param(ek, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                    "compressed"),
                     1);
    assert_int_equal(EVP_PKEY_get_octet_string_param(ek, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt,
                                                     &ptlen),
                     1);
    assert_int_equal(ptlen, 33);
    struct pubkey pub;
    struct peer_id id;
    assert_int_equal(pubkey_from_data(&pub, KEY_SECP256K1, pt, ptlen), 0);
    assert_int_equal(peerid_from_pubkey(&id, &pub), 0);

    struct addrs x;
    make_addrs(&x);
    uint8_t *payload;
    size_t plen = make_payload(id.b, id.len, 9, x.a, NADDR, &payload);
    uint8_t sb[1024], sig[SIG_MAX];
    size_t sn = signed_bytes(sb, STD_DOMAIN, STD_TYPE, sizeof STD_TYPE, payload, plen);
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ek), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, sb, sn), 1);
    EVP_MD_CTX_free(ctx);

    struct buf env = BUF_INIT;
    pack_env(KEY_SECP256K1, pt, ptlen, STD_TYPE, sizeof STD_TYPE, payload, plen, sig, sl, &env);
    struct peer_record rec;
    char err[128];
    if (record_open(&rec, buf_head(&env), buf_size(&env), err, sizeof err) != 0)
        fail_msg("record_open: %s", err);
    assert_true(peerid_eq(&rec.id, &id));
    assert_true(rec.seq == 9);
    assert_int_equal(rec.naddrs, NADDR);
    peer_record_free(&rec);

    /* Flip the signature: refused. */
    buf_reset(&env);
    sig[sl - 3] ^= 0x01;
    pack_env(KEY_SECP256K1, pt, ptlen, STD_TYPE, sizeof STD_TYPE, payload, plen, sig, sl, &env);
    expect_fail(buf_head(&env), buf_size(&env), "signature does not verify");

    buf_free(&env);
    free(payload);
    EVP_PKEY_free(ek);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_open_both_dialects),
        cmocka_unit_test(sealed_layout),
        cmocka_unit_test(tampered),
        cmocka_unit_test(peer_id_mismatch),
        cmocka_unit_test(bounds),
        cmocka_unit_test(secp256k1_signer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
