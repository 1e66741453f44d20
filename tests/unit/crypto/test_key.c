/* Keys: the peer-ids.md test vectors for all four key types, signatures made
 * here with libsodium/OpenSSL and verified through our API (plus tampered and
 * wrong-key cases), malformed PublicKey protobufs, PrivateKey forms, and the
 * key file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "keys.pb-c.h"

/* ---- test vectors (libp2p/specs peer-ids/peer-ids.md, "Test vectors") ----
 * Hex of PublicKey / PrivateKey protobufs. The expected peer ids were
 * computed independently (SHA-256 + base58btc) and agree with other
 * libp2p implementations' tests of the same vectors. */

static const char ED25519_PUB_HEX[] =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
static const char ED25519_PRIV_HEX[] =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
static const char ED25519_ID[] = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

static const char SECP_PUB_HEX[] =
    "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99";
static const char SECP_PRIV_HEX[] =
    "0802122053DADF1D5A164D6B4ACDB15E24AA4C5B1D3461BDBD42ABEDB0A4404D56CED8FB";
static const char SECP_ID[] = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";

static const char ECDSA_PUB_HEX[] =
    "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa3"
    "6ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d"
    "6851510c098e5c47c646a597fb4dcec034e9f77c409e62";
static const char ECDSA_PRIV_HEX[] =
    "08031279307702010104203E5B1FE9712E6C314942A750BD67485DE3C1EFE85B1BFB520A"
    "E8F9AE3DFA4A4CA00A06082A8648CE3D030107A14403420004DE3D300FA36AE0E8F5D530"
    "899D83ABAB44ABF3161F162A4BC901D8E6ECDA020E8B6D5F8DA30525E71D6851510C098E"
    "5C47C646A597FB4DCEC034E9F77C409E62";
static const char ECDSA_ID[] = "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk";

static const char RSA_PUB_HEX[] =
    "080012a60430820222300d06092a864886f70d01010105000382020f003082020a0282020100e1beab071d0820"
    "0bde24eef00d049449b07770ff9910257b2d7d5dda242ce8f0e2f12e1af4b32d9efd2c090f66b0f29986dbb645"
    "dae9880089704a94e5066d594162ae6ee8892e6ec70701db0a6c445c04778eb3de1293aa1a23c3825b85c6620a"
    "2bc3f82f9b0c309bc0ab3aeb1873282bebd3da03c33e76c21e9beb172fd44c9e43be32e2c99827033cf8d0f0c6"
    "06f4579326c930eb4e854395ad941256542c793902185153c474bed109d6ff5141ebf9cd256cf58893a37f8372"
    "9f97e7cb435ec679d2e33901d27bb35aa0d7e20561da08885ef0abbf8e2fb48d6a5487047a9ecb1ad41fa7ed84"
    "f6e3e8ecd5d98b3982d2a901b4454991766da295ab78822add5612a2df83bcee814cf50973e80d7ef38111b1bd"
    "87da2ae92438a2c8cbcc70b31ee319939a3b9c761dbc13b5c086d6b64bf7ae7dacc14622375d92a8ff9af7eb96"
    "2162bbddebf90acb32adb5e4e4029f1c96019949ecfbfeffd7ac1e3fbcc6b6168c34be3d5a2e5999fcbb39bba7"
    "adbca78eab09b9bc39f7fa4b93411f4cc175e70c0a083e96bfaefb04a9580b4753c1738a6a760ae1afd851a1a4"
    "bdad231cf56e9284d832483df215a46c1c21bdf0c6cfe951c18f1ee4078c79c13d63edb6e14feaeffabc90ad31"
    "7e4875fe648101b0864097e998f0ca3025ef9638cd2b0caecd3770ab54a1d9c6ca959b0f5dcbc90caeefc4135b"
    "aca6fd475224269bbe1b0203010001";
static const char RSA_ID[] = "QmaeANgBs1DTSxWSrPPtobgQuxW8XTfsS4ydbK4rCHzqxG";

/* ---- helpers -------------------------------------------------------------- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* A PublicKey/PrivateKey protobuf with the given fields, via protobuf-c. */
static size_t key_proto(int has_type, int type, int has_data, const uint8_t *d, size_t n,
                        uint8_t *out, size_t cap)
{
    Keys__PublicKey m = KEYS__PUBLIC_KEY__INIT;
    m.has_type = has_type;
    m.type = (Keys__KeyType)type;
    m.has_data = has_data;
    m.data.len = n;
    m.data.data = (uint8_t *)d;
    size_t need = keys__public_key__get_packed_size(&m);
    assert_true(need <= cap);
    return keys__public_key__pack(&m, out);
}

static void check_vector(const char *hex, enum key_type type, const char *want_id,
                         size_t want_id_len)
{
    uint8_t p[PUBKEY_PROTO_MAX], again[PUBKEY_PROTO_MAX];
    size_t n = unhex(hex, p, sizeof p);
    struct pubkey k;
    assert_int_equal(pubkey_from_proto(&k, p, n), 0);
    assert_int_equal(k.type, type);
    /* The vectors are canonical: encoding gives the same bytes back. */
    assert_int_equal(pubkey_to_proto(&k, again, sizeof again), (int)n);
    assert_memory_equal(again, p, n);
    assert_int_equal(pubkey_to_proto(&k, again, n - 1), -1);

    struct peer_id id;
    char text[PEERID_TEXT_MAX];
    assert_int_equal(peerid_from_pubkey(&id, &k), 0);
    assert_int_equal(id.len, want_id_len);
    assert_int_equal(peerid_to_text(&id, text, sizeof text), (int)strlen(want_id));
    assert_string_equal(text, want_id);
}

static void vectors_peer_ids(void **state)
{
    (void)state;
    check_vector(ED25519_PUB_HEX, KEY_ED25519, ED25519_ID, 38); /* identity */
    check_vector(SECP_PUB_HEX, KEY_SECP256K1, SECP_ID, 39);     /* identity */
    check_vector(ECDSA_PUB_HEX, KEY_ECDSA, ECDSA_ID, 34);       /* sha2-256 */
    check_vector(RSA_PUB_HEX, KEY_RSA, RSA_ID, 34);             /* sha2-256 */
}

/* The spec says implementations SHOULD derive the vector public keys from
 * the vector private keys; Ed25519 through our API, the others through
 * OpenSSL to show the vectors are consistent with how we read them. */
static void vectors_private_match_public(void **state)
{
    (void)state;
    uint8_t p[256], want[PUBKEY_PROTO_MAX], got[PUBKEY_PROTO_MAX];

    /* Ed25519 */
    struct privkey sk;
    struct pubkey pub;
    size_t n = unhex(ED25519_PRIV_HEX, p, sizeof p);
    assert_int_equal(privkey_from_proto(&sk, p, n), 0);
    privkey_public(&sk, &pub);
    size_t wn = unhex(ED25519_PUB_HEX, want, sizeof want);
    assert_int_equal(pubkey_to_proto(&pub, got, sizeof got), (int)wn);
    assert_memory_equal(got, want, wn);
    privkey_wipe(&sk);

    /* secp256k1: Data is the 32-byte scalar; public = d·G, compressed. */
    n = unhex(SECP_PRIV_HEX, p, sizeof p);
    assert_int_equal(n, 4 + 32);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_secp256k1);
    BIGNUM *d = BN_bin2bn(p + 4, 32, NULL);
    EC_POINT *pt = EC_POINT_new(g);
    assert_int_equal(EC_POINT_mul(g, pt, d, NULL, NULL, NULL), 1);
    uint8_t comp[33];
    assert_int_equal(EC_POINT_point2oct(g, pt, POINT_CONVERSION_COMPRESSED, comp, sizeof comp,
                                        NULL), 33);
    wn = unhex(SECP_PUB_HEX, want, sizeof want);
    assert_memory_equal(comp, want + 4, 33);
    EC_POINT_free(pt);
    BN_free(d);
    EC_GROUP_free(g);

    /* ECDSA: Data is a DER SEC1 ECPrivateKey; its public half as SPKI. */
    n = unhex(ECDSA_PRIV_HEX, p, sizeof p);
    const unsigned char *q = p + 4;
    EVP_PKEY *ec = d2i_PrivateKey(EVP_PKEY_EC, NULL, &q, (long)(n - 4));
    assert_non_null(ec);
    unsigned char *spki = NULL;
    int sl = i2d_PUBKEY(ec, &spki);
    wn = unhex(ECDSA_PUB_HEX, want, sizeof want);
    assert_int_equal(sl, (int)(wn - 4));
    assert_memory_equal(spki, want + 4, wn - 4);
    OPENSSL_free(spki);
    EVP_PKEY_free(ec);
}

/* ---- signatures ----------------------------------------------------------- */

static const uint8_t MSG[] = "libp2p rendezvous test message";

static void ed25519_sign_verify(void **state)
{
    (void)state;
    struct privkey a, b;
    struct pubkey pa, pb;
    uint8_t sig[64];
    privkey_generate(&a);
    privkey_generate(&b);
    privkey_public(&a, &pa);
    privkey_public(&b, &pb);
    privkey_sign(&a, MSG, sizeof MSG, sig);
    assert_int_equal(pubkey_verify(&pa, MSG, sizeof MSG, sig, sizeof sig), 0);
    assert_int_equal(pubkey_verify(&pb, MSG, sizeof MSG, sig, sizeof sig), -1); /* wrong key */
    assert_int_equal(pubkey_verify(&pa, MSG, sizeof MSG - 1, sig, sizeof sig), -1);
    assert_int_equal(pubkey_verify(&pa, MSG, sizeof MSG, sig, 63), -1);
    sig[10] ^= 0x01;
    assert_int_equal(pubkey_verify(&pa, MSG, sizeof MSG, sig, sizeof sig), -1); /* tampered */
    sig[10] ^= 0x01;

    /* Empty message is fine both ways. */
    privkey_sign(&a, NULL, 0, sig);
    assert_int_equal(pubkey_verify(&pa, NULL, 0, sig, sizeof sig), 0);

    /* Through the protobuf: generated keys round-trip. */
    uint8_t p[PUBKEY_PROTO_MAX];
    struct pubkey back;
    int n = pubkey_to_proto(&pa, p, sizeof p);
    assert_int_equal(n, 36);
    assert_memory_equal(p, "\x08\x01\x12\x20", 4);
    assert_int_equal(pubkey_from_proto(&back, p, (size_t)n), 0);
    assert_int_equal(back.len, 32);
    assert_memory_equal(back.data, pa.data, 32);
    privkey_wipe(&a);
    privkey_wipe(&b);
}

/* Signs MSG with OpenSSL: SHA-256 then the key's scheme (ECDSA → DER). */
static size_t ossl_sign(EVP_PKEY *k, const uint8_t *m, size_t n, uint8_t *sig, size_t cap)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = cap;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, m, n), 1);
    EVP_MD_CTX_free(ctx);
    return sl;
}

static size_t ec_point(EVP_PKEY *k, int compressed, uint8_t *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                    compressed ? "compressed" : "uncompressed"),
                     1);
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, cap, &n), 1);
    assert_int_equal(n, compressed ? 33 : 65);
    return n;
}

static size_t spki(EVP_PKEY *k, uint8_t *out, size_t cap)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    assert_true(n > 0 && (size_t)n <= cap);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    return (size_t)n;
}

/* Libp2p public key of an OpenSSL key, parsed through the PublicKey protobuf. */
static void to_pubkey(EVP_PKEY *k, enum key_type t, struct pubkey *out)
{
    uint8_t d[PUBKEY_MAX_DATA], p[PUBKEY_PROTO_MAX];
    size_t n = t == KEY_SECP256K1 ? ec_point(k, 1, d, sizeof d) : spki(k, d, sizeof d);
    size_t pn = key_proto(1, t, 1, d, n, p, sizeof p);
    assert_int_equal(pubkey_from_proto(out, p, pn), 0);
    assert_int_equal(out->type, t);
}

/* Valid signature verifies; a flipped byte, another key, another message,
 * and an Ed25519-sized garbage signature do not. */
static void check_ossl_scheme(EVP_PKEY *k1, EVP_PKEY *k2, enum key_type t)
{
    struct pubkey p1, p2;
    uint8_t sig[SIG_MAX];
    to_pubkey(k1, t, &p1);
    to_pubkey(k2, t, &p2);
    size_t sl = ossl_sign(k1, MSG, sizeof MSG, sig, sizeof sig);
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, sig, sl), 0);
    assert_int_equal(pubkey_verify(&p2, MSG, sizeof MSG, sig, sl), -1);
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG - 1, sig, sl), -1);
    sig[sl / 2] ^= 0x40;
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, sig, sl), -1);
    sig[sl / 2] ^= 0x40;
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, sig, sl - 1), -1);
    uint8_t junk[64];
    memset(junk, 0x30, sizeof junk);
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, junk, sizeof junk), -1);
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, sig, 0), -1);
    assert_int_equal(pubkey_verify(&p1, MSG, sizeof MSG, sig, SIG_MAX + 1), -1);
}

static void secp256k1_verify(void **state)
{
    (void)state;
    EVP_PKEY *k1 = EVP_EC_gen("secp256k1"), *k2 = EVP_EC_gen("secp256k1");
    assert_non_null(k1);
    assert_non_null(k2);
    check_ossl_scheme(k1, k2, KEY_SECP256K1);

    /* An uncompressed point is accepted and canonicalised to compressed, so
     * it gives the same peer id. */
    uint8_t comp[65], unc[65], p[PUBKEY_PROTO_MAX];
    size_t cn = ec_point(k1, 1, comp, sizeof comp);
    size_t un = ec_point(k1, 0, unc, sizeof unc);
    assert_int_equal(cn, 33);
    assert_int_equal(un, 65);
    struct pubkey a, b;
    assert_int_equal(pubkey_from_proto(&a, p, key_proto(1, KEY_SECP256K1, 1, comp, cn, p, sizeof p)), 0);
    assert_int_equal(pubkey_from_proto(&b, p, key_proto(1, KEY_SECP256K1, 1, unc, un, p, sizeof p)), 0);
    assert_int_equal(b.len, 33);
    assert_memory_equal(a.data, b.data, 33);
    struct peer_id ia, ib;
    assert_int_equal(peerid_from_pubkey(&ia, &a), 0);
    assert_int_equal(peerid_from_pubkey(&ib, &b), 0);
    assert_true(peerid_eq(&ia, &ib));
    assert_int_equal(ia.len, 39);

    /* Off-curve point: flip a bit of y. */
    unc[50] ^= 0x01;
    assert_int_equal(pubkey_from_data(&b, KEY_SECP256K1, unc, un), -1);
    /* Wrong prefixes and lengths. */
    comp[0] = 0x04;
    assert_int_equal(pubkey_from_data(&b, KEY_SECP256K1, comp, 33), -1);
    comp[0] = 0x05;
    assert_int_equal(pubkey_from_data(&b, KEY_SECP256K1, comp, 33), -1);
    comp[0] = 0x02;
    assert_int_equal(pubkey_from_data(&b, KEY_SECP256K1, comp, 32), -1);
    /* x ≥ p cannot be a point. */
    memset(comp + 1, 0xff, 32);
    assert_int_equal(pubkey_from_data(&b, KEY_SECP256K1, comp, 33), -1);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

static void ecdsa_verify(void **state)
{
    (void)state;
    EVP_PKEY *k1 = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
    check_ossl_scheme(k1, k2, KEY_ECDSA);
    struct pubkey pk;
    struct peer_id id;
    to_pubkey(k1, KEY_ECDSA, &pk);
    assert_int_equal(pk.len, 91);
    assert_int_equal(peerid_from_pubkey(&id, &pk), 0);
    assert_int_equal(id.len, 34); /* 95-byte protobuf: hashed */
    assert_int_equal(id.b[0], 0x12);

    /* P-384 is accepted too. */
    EVP_PKEY *k3 = EVP_EC_gen("P-384"), *k4 = EVP_EC_gen("P-384");
    check_ossl_scheme(k3, k4, KEY_ECDSA);

    /* An SPKI on a curve we do not take, and SPKIs of other algorithms. */
    uint8_t d[PUBKEY_MAX_DATA];
    EVP_PKEY *k5 = EVP_EC_gen("secp256k1");
    size_t n = spki(k5, d, sizeof d);
    assert_int_equal(pubkey_from_data(&pk, KEY_ECDSA, d, n), -1);
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    n = spki(ed, d, sizeof d);
    assert_int_equal(pubkey_from_data(&pk, KEY_ECDSA, d, n), -1);
    assert_int_equal(pubkey_from_data(&pk, KEY_RSA, d, n), -1);
    /* Trailing bytes after the DER. */
    n = spki(k1, d, sizeof d);
    d[n] = 0;
    assert_int_equal(pubkey_from_data(&pk, KEY_ECDSA, d, n + 1), -1);
    assert_int_equal(pubkey_from_data(&pk, KEY_ECDSA, d, n - 1), -1);
    /* An ECDSA key is not an RSA key. */
    assert_int_equal(pubkey_from_data(&pk, KEY_RSA, d, n), -1);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(k4);
    EVP_PKEY_free(k5);
    EVP_PKEY_free(ed);
}

static void rsa_verify(void **state)
{
    (void)state;
    EVP_PKEY *k1 = EVP_RSA_gen(2048), *k2 = EVP_RSA_gen(2048);
    assert_non_null(k1);
    assert_non_null(k2);
    check_ossl_scheme(k1, k2, KEY_RSA);

    /* The signature is PKCS#1 v1.5: a PSS signature by the same key fails. */
    struct pubkey pk;
    to_pubkey(k1, KEY_RSA, &pk);
    uint8_t sig[SIG_MAX];
    size_t sl = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, k1), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, MSG, sizeof MSG), 1);
    EVP_MD_CTX_free(ctx);
    assert_int_equal(pubkey_verify(&pk, MSG, sizeof MSG, sig, sl), -1);

    /* Too small a key is refused. */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    uint8_t d[PUBKEY_MAX_DATA];
    size_t n = spki(small, d, sizeof d);
    assert_int_equal(pubkey_from_data(&pk, KEY_RSA, d, n), -1);
    /* An RSA key is not an ECDSA key. */
    n = spki(k1, d, sizeof d);
    assert_int_equal(pubkey_from_data(&pk, KEY_ECDSA, d, n), -1);
    assert_int_equal(pubkey_from_data(&pk, KEY_RSA, d, n), 0);
    EVP_PKEY_free(small);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

/* ---- malformed PublicKey protobufs ---------------------------------------- */

static void malformed_pubkeys(void **state)
{
    (void)state;
    struct pubkey k;
    uint8_t good[64], p[PUBKEY_PROTO_MAX + 16];
    size_t gn = unhex(ED25519_PUB_HEX, good, sizeof good);

    assert_int_equal(pubkey_from_proto(&k, good, gn), 0);
    assert_int_equal(pubkey_from_proto(&k, good, 0), -1);          /* empty */
    for (size_t cut = 1; cut < gn; cut++)                          /* truncated */
        assert_int_equal(pubkey_from_proto(&k, good, cut), -1);
    assert_int_equal(pubkey_from_proto(&k, (const uint8_t *)"\xff\xff\xff", 3), -1);

    uint8_t key32[32] = {1};
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(0, 1, 1, key32, 32, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 1, 0, key32, 32, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 4, 1, key32, 32, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 99, 1, key32, 32, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 1, 1, key32, 31, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 1, 1, NULL, 0, p, sizeof p)), -1);
    uint8_t key33[33] = {0};
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 1, 1, key33, 33, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 2, 1, key33, 33, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 3, 1, key33, 33, p, sizeof p)), -1);
    assert_int_equal(pubkey_from_proto(&k, p, key_proto(1, 0, 1, key33, 33, p, sizeof p)), -1);

    /* Oversized input is refused before it is parsed. */
    memset(p, 0, sizeof p);
    memcpy(p, good, gn);
    assert_int_equal(pubkey_from_proto(&k, p, PUBKEY_PROTO_MAX + 1), -1);

    /* A wrong wire type for Data (varint instead of bytes). */
    assert_int_equal(pubkey_from_proto(&k, (const uint8_t *)"\x08\x01\x10\x20", 4), -1);
}

/* ---- PrivateKey ----------------------------------------------------------- */

static size_t priv_proto(int type, const uint8_t *d, size_t n, uint8_t *out, size_t cap)
{
    Keys__PrivateKey m = KEYS__PRIVATE_KEY__INIT;
    m.has_type = 1;
    m.type = (Keys__KeyType)type;
    m.has_data = 1;
    m.data.len = n;
    m.data.data = (uint8_t *)d;
    assert_true(keys__private_key__get_packed_size(&m) <= cap);
    return keys__private_key__pack(&m, out);
}

static void private_key_forms(void **state)
{
    (void)state;
    uint8_t v[128], d[96], p[128];
    size_t vn = unhex(ED25519_PRIV_HEX, v, sizeof v);
    assert_int_equal(vn, 68);
    memcpy(d, v + 4, 64);

    /* 64-byte form; encoding it again gives the vector's bytes. */
    struct privkey k64, k96;
    assert_int_equal(privkey_from_proto(&k64, v, vn), 0);
    struct buf b = BUF_INIT;
    privkey_to_proto(&k64, &b);
    assert_int_equal(buf_size(&b), vn);
    assert_memory_equal(buf_head(&b), v, vn);
    sodium_memzero(b.data, b.cap);
    buf_free(&b);

    /* Legacy 96-byte form seed ‖ pub ‖ pub: same key. */
    memcpy(d + 64, d + 32, 32);
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(1, d, 96, p, sizeof p)), 0);
    assert_memory_equal(k64.sk, k96.sk, 64);

    /* The two public copies must match. */
    d[95] ^= 1;
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(1, d, 96, p, sizeof p)), -1);
    /* The public half must belong to the seed. */
    d[63] ^= 1;
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(1, d, 64, p, sizeof p)), -1);
    d[63] ^= 1;
    /* Other lengths and types. */
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(1, d, 32, p, sizeof p)), -1);
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(1, d, 65, p, sizeof p)), -1);
    assert_int_equal(privkey_from_proto(&k96, p, priv_proto(2, d, 64, p, sizeof p)), -1);
    size_t sn = unhex(SECP_PRIV_HEX, v, sizeof v);
    assert_int_equal(privkey_from_proto(&k96, v, sn), -1);
    assert_int_equal(privkey_from_proto(&k96, v, 0), -1);

    /* A key signs what its public half verifies. */
    struct pubkey pub;
    uint8_t sig[64];
    privkey_public(&k64, &pub);
    privkey_sign(&k64, MSG, sizeof MSG, sig);
    assert_int_equal(pubkey_verify(&pub, MSG, sizeof MSG, sig, 64), 0);

    privkey_wipe(&k64);
    uint8_t zero[64] = {0};
    assert_memory_equal(k64.sk, zero, 64);
    privkey_wipe(&k96);
    sodium_memzero(d, sizeof d);
}

/* ---- key file ------------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void keyfile_create_reload_corrupt(void **state)
{
    (void)state;
    char dir[] = "/tmp/rdv-keyfile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/identity.key", dir);

    struct privkey k1, k2;
    int created = -1;
    assert_int_equal(keyfile_load_or_create(path, &k1, &created, err, sizeof err), 0);
    assert_int_equal(created, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 68);

    /* Reload: the same key, not a new one. */
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), 0);
    assert_int_equal(created, 0);
    assert_memory_equal(k1.sk, k2.sk, 64);
    /* No temporary file left behind. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "ls %s | wc -l", dir);
    FILE *ls = popen(tmp, "r");
    int count = 0;
    assert_int_equal(fscanf(ls, "%d", &count), 1);
    pclose(ls);
    assert_int_equal(count, 1);

    /* A key file written by go/kubo (the spec vector) loads. */
    uint8_t v[128];
    size_t vn = unhex(ED25519_PRIV_HEX, v, sizeof v);
    write_file(path, v, vn);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), 0);
    struct pubkey pub;
    uint8_t pp[64];
    privkey_public(&k2, &pub);
    assert_int_equal(pubkey_to_proto(&pub, pp, sizeof pp), 36);
    uint8_t want[64];
    unhex(ED25519_PUB_HEX, want, sizeof want);
    assert_memory_equal(pp, want, 36);

    /* Corrupt content is an error with a reason, never a new key. */
    write_file(path, "not a key at all\n", 17);
    err[0] = '\0';
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_int_equal(created, 0);
    assert_non_null(strstr(err, path));
    v[20] ^= 0x01; /* seed no longer matches the public half */
    write_file(path, v, vn);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "Ed25519"));
    write_file(path, "", 0);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    size_t sn = unhex(SECP_PRIV_HEX, v, sizeof v);
    write_file(path, v, sn);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "a secp256k1 key"));
    assert_non_null(strstr(err, "Ed25519 only"));
    static uint8_t big[KEYFILE_MAX + 1];
    write_file(path, big, sizeof big);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "too large"));
    unlink(path);

    /* A directory where the file should be. */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    rmdir(path);

    /* Missing directory. */
    snprintf(path, sizeof path, "%s/no/such/dir/identity.key", dir);
    assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
    assert_non_null(strstr(err, "directory does not exist"));

    /* Unreadable file and unwritable directory (root ignores modes). */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/locked.key", dir);
        write_file(path, "x", 1);
        chmod(path, 0);
        assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
        assert_non_null(strstr(err, "permission denied"));
        unlink(path);
        chmod(dir, 0500);
        snprintf(path, sizeof path, "%s/new.key", dir);
        assert_int_equal(keyfile_load_or_create(path, &k2, &created, err, sizeof err), -1);
        assert_non_null(strstr(err, "writable"));
        chmod(dir, 0700);
    }
    assert_int_equal(keyfile_load_or_create("", &k2, &created, err, sizeof err), -1);
    assert_int_equal(rmdir(dir), 0);
    privkey_wipe(&k1);
    privkey_wipe(&k2);
}

/* Parses text with keyfile_parse; returns its result, why in why. */
static int parse_text(const char *text, struct privkey *k, char *why, size_t cap)
{
    why[0] = '\0';
    return keyfile_parse((const uint8_t *)text, strlen(text), k, why, cap);
}

static void peerid_json(void **state)
{
    struct privkey k, back;
    struct pubkey pub;
    struct peer_id id;
    struct buf b = BUF_INIT;
    char text[PEERID_TEXT_MAX], why[300], doc[2048];
    (void)state;

    /* keyfile_to_json and keyfile_parse round trip, keeping the peer id. */
    privkey_generate(&k);
    privkey_public(&k, &pub);
    assert_int_equal(peerid_from_pubkey(&id, &pub), 0);
    assert_true(peerid_to_text(&id, text, sizeof text) > 0);
    assert_int_equal(keyfile_to_json(&k, &b), 0);
    buf_append(&b, "", 1);
    const char *json = (const char *)buf_head(&b);
    assert_non_null(strstr(json, text));
    assert_int_equal(parse_text(json, &back, why, sizeof why), 0);
    assert_memory_equal(back.sk, k.sk, sizeof k.sk);

    /* The fields as js-libp2p writes them, in another order, unpadded. */
    const char *priv = strstr(json, "\"privKey\": \"") + 12;
    const char *pubk = strstr(json, "\"pubKey\": \"") + 11;
    int plen = (int)(strchr(priv, '"') - priv), qlen = (int)(strchr(pubk, '"') - pubk);
    snprintf(doc, sizeof doc, "{\"pubKey\":\"%.*s\",\"privKey\":\"%.*s\",\"id\":\"%s\"}", qlen, pubk,
             plen - 1 /* drop one '=' */, priv, text);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), 0);
    /* No pubKey: fine. */
    snprintf(doc, sizeof doc, "  {\"id\":\"%s\",\"privKey\":\"%.*s\"}", text, plen, priv);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), 0);

    /* Another peer's id: both ids in the message. */
    struct privkey other;
    struct pubkey opub;
    struct peer_id oid;
    char otext[PEERID_TEXT_MAX];
    privkey_generate(&other);
    privkey_public(&other, &opub);
    assert_int_equal(peerid_from_pubkey(&oid, &opub), 0);
    assert_true(peerid_to_text(&oid, otext, sizeof otext) > 0);
    snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"privKey\":\"%.*s\"}", otext, plen, priv);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, otext));
    assert_non_null(strstr(why, text));
    assert_non_null(strstr(why, "does not match"));
    /* A pubKey that is not the key's. */
    uint8_t pp[PUBKEY_PROTO_MAX];
    char p64[128];
    int pn = pubkey_to_proto(&opub, pp, sizeof pp);
    sodium_bin2base64(p64, sizeof p64, pp, (size_t)pn, sodium_base64_VARIANT_ORIGINAL);
    snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"privKey\":\"%.*s\",\"pubKey\":\"%s\"}", text, plen,
             priv, p64);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "pubKey"));

    /* Not a PeerId file, bad base64, a secp256k1 key, broken JSON. */
    assert_int_equal(parse_text("{\"id\":1}", &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "needs \"id\" and \"privKey\""));
    assert_int_equal(parse_text("[]", &back, why, sizeof why), -1);
    snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"privKey\":\"@@@\"}", text);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "not base64"));
    uint8_t sk[64];
    char s64[128];
    size_t sn = unhex(SECP_PRIV_HEX, sk, sizeof sk);
    sodium_bin2base64(s64, sizeof s64, sk, sn, sodium_base64_VARIANT_ORIGINAL);
    snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"privKey\":\"%s\"}", SECP_ID, s64);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "secp256k1"));
    assert_int_equal(parse_text("{\"id\":", &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "not valid JSON"));
    snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"id\":\"%s\",\"privKey\":\"%.*s\"}", text, text,
             plen, priv);
    assert_int_equal(parse_text(doc, &back, why, sizeof why), -1);

    sodium_memzero(b.data, b.cap);
    buf_free(&b);
    privkey_wipe(&k);
    privkey_wipe(&other);
    privkey_wipe(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_peer_ids),
        cmocka_unit_test(vectors_private_match_public),
        cmocka_unit_test(ed25519_sign_verify),
        cmocka_unit_test(secp256k1_verify),
        cmocka_unit_test(ecdsa_verify),
        cmocka_unit_test(rsa_verify),
        cmocka_unit_test(malformed_pubkeys),
        cmocka_unit_test(private_key_forms),
        cmocka_unit_test(keyfile_create_reload_corrupt),
        cmocka_unit_test(peerid_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
