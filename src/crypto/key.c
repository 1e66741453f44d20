/* libp2p keys (WIRE.md §7). Ed25519 goes through libsodium; secp256k1,
 * ECDSA and RSA public keys through OpenSSL 3's EVP layer. Every PublicKey
 * we accept is checked for its type and held in canonical form, so that the
 * peer id computed from it matches what go/rust/js compute. */
#include "crypto/key.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "keys.pb-c.h"

/* A PrivateKey protobuf is at most 2 + 2 + 96 bytes; anything much larger is
 * not one of ours and is refused before protobuf-c allocates for it. */
#define PRIVKEY_PROTO_MAX 128

#define SECP_COMPRESSED_LEN 33
#define SECP_UNCOMPRESSED_LEN 65

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

const char *key_type_name(enum key_type t)
{
    switch (t) {
    case KEY_RSA: return "RSA";
    case KEY_ED25519: return "Ed25519";
    case KEY_SECP256K1: return "secp256k1";
    case KEY_ECDSA: return "ECDSA";
    }
    return "unknown";
}

/* ---- OpenSSL helpers ------------------------------------------------------ */

/* Builds an EVP_PKEY from a secp256k1 SEC1 point (compressed or not).
 * OpenSSL decodes the point and refuses one that is not on the curve. */
static EVP_PKEY *key__secp_pkey(const uint8_t *pt, size_t n)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"secp256k1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, n),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* Parses a DER SubjectPublicKeyInfo that must use every input byte. */
static EVP_PKEY *key__spki_pkey(const uint8_t *der, size_t n)
{
    if (n == 0 || n > PUBKEY_MAX_DATA)
        return NULL;
    const unsigned char *q = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &q, (long)n);
    if (pkey != NULL && q != der + n) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* 0 if re-encoding pkey as SPKI gives exactly der: a key with an unusual DER
 * encoding would get a different peer id here than at its owner. */
static int key__spki_canonical(EVP_PKEY *pkey, const uint8_t *der, size_t n)
{
    unsigned char *out = NULL;
    int len = i2d_PUBKEY(pkey, &out);
    int rc = (len > 0 && (size_t)len == n && memcmp(out, der, n) == 0) ? 0 : -1;
    OPENSSL_free(out);
    return rc;
}

/* A full public-key check (on the curve, right order). */
static int key__ec_public_ok(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL)
        return -1;
    int ok = EVP_PKEY_public_check(ctx);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1 ? 0 : -1;
}

static int key__check_secp256k1(struct pubkey *k, const uint8_t *d, size_t n)
{
    if (!((n == SECP_COMPRESSED_LEN && (d[0] == 0x02 || d[0] == 0x03)) ||
          (n == SECP_UNCOMPRESSED_LEN && d[0] == 0x04)))
        return -1;
    EVP_PKEY *pkey = key__secp_pkey(d, n);
    if (pkey == NULL)
        return -1;
    int rc = key__ec_public_ok(pkey);
    EVP_PKEY_free(pkey);
    if (rc != 0)
        return -1;
    /* Canonical form is compressed (as go re-encodes it): the prefix carries
     * the parity of y, then x. The point was validated above. */
    k->len = SECP_COMPRESSED_LEN;
    if (n == SECP_UNCOMPRESSED_LEN) {
        k->data[0] = (uint8_t)(0x02 | (d[64] & 1));
        memcpy(k->data + 1, d + 1, 32);
    } else {
        memcpy(k->data, d, SECP_COMPRESSED_LEN);
    }
    return 0;
}

static int key__check_ecdsa(const uint8_t *d, size_t n)
{
    EVP_PKEY *pkey = key__spki_pkey(d, n);
    if (pkey == NULL)
        return -1;
    int rc = -1;
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1 &&
        (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0 ||
         strcmp(group, "secp521r1") == 0) &&
        key__ec_public_ok(pkey) == 0 && key__spki_canonical(pkey, d, n) == 0)
        rc = 0;
    EVP_PKEY_free(pkey);
    return rc;
}

static int key__check_rsa(const uint8_t *d, size_t n)
{
    EVP_PKEY *pkey = key__spki_pkey(d, n);
    if (pkey == NULL)
        return -1;
    int rc = -1;
    BIGNUM *e = NULL;
    int bits = EVP_PKEY_get_bits(pkey);
    /* A public exponent is small in practice (go refuses e ≥ 2^31); a huge
     * one would make every verification as slow as a private-key operation. */
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA && bits >= RSA_MIN_BITS &&
        bits <= RSA_MAX_BITS && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
        BN_num_bits(e) <= 31 && BN_is_odd(e) && !BN_is_one(e) &&
        key__spki_canonical(pkey, d, n) == 0)
        rc = 0;
    BN_free(e);
    EVP_PKEY_free(pkey);
    return rc;
}

/* ---- public keys ---------------------------------------------------------- */

int pubkey_from_data(struct pubkey *k, int type, const uint8_t *d, size_t n)
{
    int rc = -1;
    if (n > PUBKEY_MAX_DATA || (n > 0 && d == NULL))
        return -1;
    switch (type) {
    case KEY_ED25519:
        /* Any 32 bytes; libsodium refuses weak or non-canonical points when
         * verifying, as it should. */
        if (n == crypto_sign_PUBLICKEYBYTES) {
            memcpy(k->data, d, n);
            k->len = n;
            rc = 0;
        }
        break;
    case KEY_SECP256K1:
        rc = key__check_secp256k1(k, d, n);
        break;
    case KEY_ECDSA:
    case KEY_RSA:
        rc = type == KEY_ECDSA ? key__check_ecdsa(d, n) : key__check_rsa(d, n);
        if (rc == 0) {
            memcpy(k->data, d, n);
            k->len = n;
        }
        break;
    default:
        break;
    }
    if (rc == 0)
        k->type = (enum key_type)type;
    else
        ERR_clear_error(); /* keep OpenSSL's per-thread queue from growing */
    return rc;
}

int pubkey_from_proto(struct pubkey *k, const uint8_t *p, size_t n)
{
    if (n > PUBKEY_PROTO_MAX)
        return -1;
    Keys__PublicKey *m = keys__public_key__unpack(NULL, n, p);
    if (m == NULL)
        return -1;
    int rc = -1;
    if (m->has_type && m->has_data)
        rc = pubkey_from_data(k, (int)m->type, m->data.data, m->data.len);
    keys__public_key__free_unpacked(m, NULL);
    return rc;
}

int pubkey_to_proto(const struct pubkey *k, uint8_t *out, size_t cap)
{
    if (k->len > PUBKEY_MAX_DATA)
        return -1;
    Keys__PublicKey m = KEYS__PUBLIC_KEY__INIT;
    /* Both fields always present; protobuf-c writes them in tag order, which
     * is the deterministic encoding the spec asks for. */
    m.has_type = 1;
    m.type = (Keys__KeyType)k->type;
    m.has_data = 1;
    m.data.len = k->len;
    m.data.data = (uint8_t *)k->data; /* only read by pack */
    size_t need = keys__public_key__get_packed_size(&m);
    if (need > cap)
        return -1;
    return (int)keys__public_key__pack(&m, out);
}

/* ECDSA-family and RSA signatures: EVP with SHA-256 does the hashing, and for
 * RSA the default padding is PKCS#1 v1.5. OpenSSL insists on strict DER for
 * ECDSA signatures. */
static int key__evp_verify(EVP_PKEY *pkey, const uint8_t *msg, size_t n, const uint8_t *sig,
                           size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, msg, n) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int pubkey_verify(const struct pubkey *k, const uint8_t *msg, size_t n, const uint8_t *sig,
                  size_t siglen)
{
    if (sig == NULL || siglen == 0 || siglen > SIG_MAX || k->len > PUBKEY_MAX_DATA)
        return -1;
    if (msg == NULL && n > 0)
        return -1;
    static const uint8_t empty[1] = {0};
    if (msg == NULL)
        msg = empty; /* EVP and libsodium want a pointer even for no bytes */

    if (k->type == KEY_ED25519) {
        if (k->len != crypto_sign_PUBLICKEYBYTES || siglen != crypto_sign_BYTES)
            return -1;
        return crypto_sign_verify_detached(sig, msg, n, k->data) == 0 ? 0 : -1;
    }

    EVP_PKEY *pkey = NULL;
    switch (k->type) {
    case KEY_SECP256K1:
        pkey = key__secp_pkey(k->data, k->len);
        break;
    case KEY_ECDSA:
        pkey = key__spki_pkey(k->data, k->len);
        if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        break;
    case KEY_RSA:
        pkey = key__spki_pkey(k->data, k->len);
        if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        break;
    default:
        break;
    }
    int rc = pkey != NULL ? key__evp_verify(pkey, msg, n, sig, siglen) : -1;
    EVP_PKEY_free(pkey);
    if (rc != 0)
        ERR_clear_error();
    return rc;
}

/* ---- Ed25519 private keys ------------------------------------------------- */

static void key__sodium_init(void)
{
    /* Idempotent and thread-safe; a failure means no usable RNG. */
    if (sodium_init() < 0)
        abort();
}

void privkey_generate(struct privkey *k)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    key__sodium_init();
    crypto_sign_keypair(pk, k->sk);
}

void privkey_public(const struct privkey *k, struct pubkey *pub)
{
    pub->type = KEY_ED25519;
    pub->len = crypto_sign_PUBLICKEYBYTES;
    memcpy(pub->data, k->sk + crypto_sign_SEEDBYTES, crypto_sign_PUBLICKEYBYTES);
}

void privkey_sign(const struct privkey *k, const uint8_t *msg, size_t n, uint8_t sig[64])
{
    static const uint8_t empty[1] = {0};
    crypto_sign_detached(sig, NULL, msg != NULL ? msg : empty, n, k->sk);
}

/* Takes seed ‖ pub (‖ pub again in the legacy form), checks that the public
 * half belongs to the seed, and fills k. */
static int key__ed25519_from_data(struct privkey *k, const uint8_t *d, size_t n)
{
    const size_t seedlen = crypto_sign_SEEDBYTES, publen = crypto_sign_PUBLICKEYBYTES;
    if (n != seedlen + publen && n != seedlen + 2 * publen)
        return -1;
    if (n == seedlen + 2 * publen && sodium_memcmp(d + seedlen, d + seedlen + publen, publen) != 0)
        return -1;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair(pk, k->sk, d);
    if (sodium_memcmp(pk, d + seedlen, publen) != 0) {
        sodium_memzero(k->sk, sizeof k->sk);
        return -1;
    }
    return 0;
}

int privkey_from_proto(struct privkey *k, const uint8_t *p, size_t n)
{
    if (n > PRIVKEY_PROTO_MAX)
        return -1;
    key__sodium_init();
    Keys__PrivateKey *m = keys__private_key__unpack(NULL, n, p);
    if (m == NULL)
        return -1;
    int rc = -1;
    if (m->has_type && m->type == KEYS__KEY_TYPE__Ed25519 && m->has_data)
        rc = key__ed25519_from_data(k, m->data.data, m->data.len);
    if (m->has_data && m->data.data != NULL)
        sodium_memzero(m->data.data, m->data.len); /* protobuf-c's copy of the secret */
    keys__private_key__free_unpacked(m, NULL);
    return rc;
}

void privkey_to_proto(const struct privkey *k, struct buf *out)
{
    Keys__PrivateKey m = KEYS__PRIVATE_KEY__INIT;
    m.has_type = 1;
    m.type = KEYS__KEY_TYPE__Ed25519;
    m.has_data = 1;
    m.data.len = sizeof k->sk;
    m.data.data = (uint8_t *)k->sk; /* only read by pack */
    size_t need = keys__private_key__get_packed_size(&m);
    uint8_t *dst = buf_reserve(out, need);
    buf_commit(out, keys__private_key__pack(&m, dst));
}

void privkey_wipe(struct privkey *k) { sodium_memzero(k->sk, sizeof k->sk); }
