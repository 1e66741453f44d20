/* Noise_XX_25519_ChaChaPoly_SHA256 for noise-libp2p (WIRE.md §4), written
 * from the Noise Protocol Framework rev 34 (§5 processing rules) and the
 * libp2p noise spec. Primitives are libsodium's; the handshake payload is
 * the NoiseHandshakePayload protobuf (proto/noise.proto).
 *
 * Handshake state machine (hs->step):
 *   initiator: STEP_I_WAIT2 --msg2--> DONE (msg1 sent by noise_hs_init,
 *              msg3 sent while reading msg2)
 *   responder: STEP_R_WAIT1 --msg1--> STEP_R_WAIT3 --msg3--> DONE
 * Any failure moves to STEP_FAILED and wipes the secrets at once. */
#include "noise/noise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "noise.pb-c.h"

enum {
    STEP_I_WAIT2 = 1,
    STEP_R_WAIT1,
    STEP_R_WAIT3,
    STEP_DONE,
    STEP_FAILED,
    STEP_WIPED,
};

#define NOISE_DHLEN 32
#define NOISE_HASHLEN 32
#define NOISE_KEYLEN 32

/* Exactly 32 bytes, so it is used as h without hashing (Noise §5.2). */
static const char noise__protocol_name[] = "Noise_XX_25519_ChaChaPoly_SHA256";
_Static_assert(sizeof(noise__protocol_name) - 1 == NOISE_HASHLEN, "protocol name is HASHLEN bytes");

static const char noise__sig_prefix[] = "noise-libp2p-static-key:";
#define NOISE_SIG_PREFIX_LEN (sizeof(noise__sig_prefix) - 1)

/* ---------- primitives ---------- */

/* ChaChaPoly nonce: 32 bits of zeros followed by little-endian n (Noise §12.3). */
static void noise__nonce(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

static void noise__hmac(const uint8_t key[NOISE_HASHLEN], const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen, uint8_t out[NOISE_HASHLEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, NOISE_HASHLEN);
    /* Empty parts are skipped so libsodium never sees a NULL pointer. */
    if (alen > 0)
        crypto_auth_hmacsha256_update(&st, a, alen);
    if (blen > 0)
        crypto_auth_hmacsha256_update(&st, b, blen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF with two outputs (Noise §4.3); ikm is empty or DHLEN bytes. */
static void noise__hkdf2(const uint8_t ck[NOISE_HASHLEN], const uint8_t *ikm, size_t ikm_len,
                         uint8_t o1[NOISE_HASHLEN], uint8_t o2[NOISE_HASHLEN])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t t[NOISE_HASHLEN], tmp1[NOISE_HASHLEN];
    noise__hmac(ck, ikm, ikm_len, NULL, 0, t);
    noise__hmac(t, &one, 1, NULL, 0, tmp1);
    noise__hmac(t, tmp1, NOISE_HASHLEN, &two, 1, o2);
    /* o1 may alias ck (MixKey updates ck in place): write it last. */
    memcpy(o1, tmp1, NOISE_HASHLEN);
    sodium_memzero(t, sizeof t);
    sodium_memzero(tmp1, sizeof tmp1);
}

/* X25519; an all-zero result means a low-order remote point (Noise §12.1
 * allows rejecting it), and libsodium already reports that as -1. */
static int noise__dh(uint8_t out[NOISE_DHLEN], const uint8_t priv[32], const uint8_t pub[32])
{
    if (crypto_scalarmult(out, priv, pub) != 0 || sodium_is_zero(out, NOISE_DHLEN)) {
        sodium_memzero(out, NOISE_DHLEN);
        return -1;
    }
    return 0;
}

static int noise__keypair(uint8_t priv[32], uint8_t pub[32])
{
    randombytes_buf(priv, 32);
    return crypto_scalarmult_base(pub, priv);
}

/* ---------- symmetric state (Noise §5.2) ---------- */

static void noise__mix_hash(struct noise_hs *hs, const uint8_t *p, size_t n)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, hs->h, sizeof hs->h);
    if (n > 0)
        crypto_hash_sha256_update(&st, p, n);
    crypto_hash_sha256_final(&st, hs->h);
}

static void noise__mix_key(struct noise_hs *hs, const uint8_t ikm[NOISE_DHLEN])
{
    noise__hkdf2(hs->ck, ikm, NOISE_DHLEN, hs->ck, hs->k);
    hs->n = 0;
    hs->has_k = true;
}

/* MixKey(DH(priv, pub)); -1 on a low-order remote key. */
static int noise__mix_dh(struct noise_hs *hs, const uint8_t priv[32], const uint8_t pub[32])
{
    uint8_t dh[NOISE_DHLEN];
    if (noise__dh(dh, priv, pub) != 0)
        return -1;
    noise__mix_key(hs, dh);
    sodium_memzero(dh, sizeof dh);
    return 0;
}

/* EncryptAndHash / DecryptAndHash. Both run only in msg2 and msg3, after
 * the first MixKey, so a key is always set (msg1's clear payload is hashed
 * directly); handshake nonces never get near 2^64. */
static size_t noise__encrypt_and_hash(struct noise_hs *hs, const uint8_t *p, size_t n, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen;
    noise__nonce(nonce, hs->n++);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, p, n, hs->h, sizeof hs->h, NULL, nonce,
                                              hs->k);
    noise__mix_hash(hs, out, (size_t)clen);
    return (size_t)clen;
}

/* c is clen >= 16 bytes; clen - 16 plaintext bytes go to out. */
static int noise__decrypt_and_hash(struct noise_hs *hs, const uint8_t *c, size_t clen, uint8_t *out)
{
    uint8_t nonce[12];
    if (!hs->has_k || clen < NOISE_TAG_LEN)
        return -1;
    noise__nonce(nonce, hs->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, c, clen, hs->h, sizeof hs->h,
                                                  nonce, hs->k) != 0)
        return -1;
    hs->n++;
    noise__mix_hash(hs, c, clen);
    return 0;
}

/* ---------- handshake ---------- */

static void noise__wipe_secrets(struct noise_hs *hs)
{
    sodium_memzero(hs->h, sizeof hs->h);
    sodium_memzero(hs->ck, sizeof hs->ck);
    sodium_memzero(hs->k, sizeof hs->k);
    sodium_memzero(hs->e_priv, sizeof hs->e_priv);
    sodium_memzero(hs->e_pub, sizeof hs->e_pub);
    sodium_memzero(hs->re, sizeof hs->re);
    sodium_memzero(hs->rs, sizeof hs->rs);
    hs->n = 0;
    hs->has_k = false;
}

static enum noise_result noise__fail(struct noise_hs *hs, const char *why)
{
    noise__wipe_secrets(hs);
    hs->step = STEP_FAILED;
    hs->error = why;
    return NOISE_FAILED;
}

static void noise__append_framed(struct buf *out, const uint8_t *m, size_t n)
{
    buf_append_be16(out, (uint16_t)n);
    buf_append(out, m, n);
}

/* ---------- verified payload cache ---------- */

/* A slot holds a keyed BLAKE2b digest of (identity key ‖ static key ‖
 * signature) and the peer id they gave. The digest stands in for the triple
 * (equal digests mean equal triples); the random key keeps a peer from
 * choosing which slot its triples land in. */
struct noise_vcache_slot {
    uint8_t digest[32];
    struct peer_id id;
};

struct noise_vcache {
    uint8_t key[crypto_generichash_KEYBYTES];
    uint64_t hits, misses;
    struct noise_vcache_slot slot[NOISE_VCACHE_SLOTS];
};

void noise_identity_cache_verified(struct noise_identity *ni)
{
    if (ni->vcache != NULL)
        return;
    ni->vcache = calloc(1, sizeof *ni->vcache);
    if (ni->vcache == NULL)
        return; /* no cache: every handshake verifies */
    randombytes_buf(ni->vcache->key, sizeof ni->vcache->key);
}

void noise_vcache_counts(const struct noise_identity *ni, uint64_t *hits, uint64_t *misses)
{
    *hits = ni->vcache ? ni->vcache->hits : 0;
    *misses = ni->vcache ? ni->vcache->misses : 0;
}

static void noise__vcache_digest(const struct noise_vcache *vc, const ProtobufCBinaryData *key,
                                 const uint8_t rs[32], const ProtobufCBinaryData *sig,
                                 uint8_t out[32])
{
    crypto_generichash_state st;
    /* Both fit 16 bits: the payload is at most NOISE_MAX_PAYLOAD bytes. */
    uint8_t lens[4] = {(uint8_t)(key->len >> 8), (uint8_t)key->len, (uint8_t)(sig->len >> 8),
                       (uint8_t)sig->len};
    crypto_generichash_init(&st, vc->key, sizeof vc->key, 32);
    crypto_generichash_update(&st, lens, sizeof lens); /* lengths make the split unambiguous */
    crypto_generichash_update(&st, key->data, key->len);
    crypto_generichash_update(&st, rs, 32);
    crypto_generichash_update(&st, sig->data, sig->len);
    crypto_generichash_final(&st, out, 32);
}

static struct noise_vcache_slot *noise__vcache_slot(struct noise_vcache *vc, const uint8_t d[32])
{
    return &vc->slot[((size_t)d[0] | (size_t)d[1] << 8) % NOISE_VCACHE_SLOTS];
}

/* Verifies identity_sig over the static key the remote just proved it holds
 * (hs->rs) and learns its peer id. Returns NULL or the reason. */
static const char *noise__check_identity(struct noise_hs *hs, const ProtobufCBinaryData *key,
                                         const ProtobufCBinaryData *sig)
{
    struct pubkey pk; /* ~1 KiB, on the stack: nothing here may be shared */
    uint8_t signed_msg[NOISE_SIG_PREFIX_LEN + 32];
    struct noise_vcache *vc = hs->local->vcache;
    struct noise_vcache_slot *slot = NULL;
    uint8_t digest[32];

    if (sig->len == 0 || sig->len > SIG_MAX)
        return "bad identity signature length";
    if (key->len == 0)
        return "invalid identity key";
    if (vc != NULL) {
        noise__vcache_digest(vc, key, hs->rs, sig, digest);
        slot = noise__vcache_slot(vc, digest);
        if (slot->id.len > 0 && sodium_memcmp(slot->digest, digest, sizeof digest) == 0) {
            vc->hits++;
            hs->remote = slot->id;
            return NULL;
        }
        vc->misses++;
    }
    if (pubkey_from_proto(&pk, key->data, key->len) != 0)
        return "invalid identity key";
    memcpy(signed_msg, noise__sig_prefix, NOISE_SIG_PREFIX_LEN);
    memcpy(signed_msg + NOISE_SIG_PREFIX_LEN, hs->rs, 32);
    if (pubkey_verify(&pk, signed_msg, sizeof signed_msg, sig->data, sig->len) != 0)
        return "identity signature does not verify";
    if (peerid_from_pubkey(&hs->remote, &pk) != 0)
        return "cannot derive peer id";
    if (slot != NULL) {
        memcpy(slot->digest, digest, sizeof digest);
        slot->id = hs->remote;
    }
    return NULL;
}

/* Decodes the remote's NoiseHandshakePayload and checks it. Extensions are
 * decoded and ignored: we never advertise stream_muxers, so the muxer is
 * always negotiated with multistream-select afterwards. */
static const char *noise__verify_payload(struct noise_hs *hs, const uint8_t *p, size_t n)
{
    Noise__NoiseHandshakePayload *pl = noise__noise_handshake_payload__unpack(NULL, n, p);
    const char *why;

    if (pl == NULL)
        return "malformed handshake payload";
    if (!pl->has_identity_key || !pl->has_identity_sig)
        why = "handshake payload lacks identity key or signature";
    else
        why = noise__check_identity(hs, &pl->identity_key, &pl->identity_sig);
    noise__noise_handshake_payload__free_unpacked(pl, NULL);
    return why;
}

/* Decrypts the trailing payload of msg2/msg3 (c, clen >= 16) and verifies it. */
static enum noise_result noise__read_payload(struct noise_hs *hs, const uint8_t *c, size_t clen)
{
    uint8_t pt[NOISE_MAX_PAYLOAD];
    if (clen - NOISE_TAG_LEN > sizeof pt)
        return noise__fail(hs, "handshake payload too large");
    if (noise__decrypt_and_hash(hs, c, clen, pt) != 0)
        return noise__fail(hs, "decryption failed");
    const char *why = noise__verify_payload(hs, pt, clen - NOISE_TAG_LEN);
    if (why != NULL)
        return noise__fail(hs, why);
    return NOISE_AGAIN;
}

/* -> e (initiator, from noise_hs_init). The payload is empty. */
static enum noise_result noise__write_msg1(struct noise_hs *hs, struct buf *out)
{
    uint8_t m[32];
    if (noise__keypair(hs->e_priv, hs->e_pub) != 0)
        return noise__fail(hs, "ephemeral key generation failed");
    memcpy(m, hs->e_pub, 32);
    noise__mix_hash(hs, hs->e_pub, 32);
    noise__mix_hash(hs, NULL, 0); /* EncryptAndHash(empty payload) without a key */
    noise__append_framed(out, m, sizeof m);
    return NOISE_AGAIN;
}

/* <- e, ee, s, es + payload (responder). */
static enum noise_result noise__write_msg2(struct noise_hs *hs, struct buf *out)
{
    const struct noise_identity *ni = hs->local;
    uint8_t m[32 + 32 + NOISE_TAG_LEN + sizeof ni->payload + NOISE_TAG_LEN];
    size_t len = 0;
    if (ni->payload_len > sizeof ni->payload)
        return noise__fail(hs, "local identity not initialised");
    if (noise__keypair(hs->e_priv, hs->e_pub) != 0)
        return noise__fail(hs, "ephemeral key generation failed");
    memcpy(m, hs->e_pub, 32);
    len = 32;
    noise__mix_hash(hs, hs->e_pub, 32);
    if (noise__mix_dh(hs, hs->e_priv, hs->re) != 0) /* ee */
        return noise__fail(hs, "invalid remote ephemeral key");
    len += noise__encrypt_and_hash(hs, ni->s_pub, 32, m + len);
    if (noise__mix_dh(hs, ni->s_priv, hs->re) != 0) /* es */
        return noise__fail(hs, "invalid remote ephemeral key");
    len += noise__encrypt_and_hash(hs, ni->payload, ni->payload_len, m + len);
    noise__append_framed(out, m, len);
    sodium_memzero(m, sizeof m);
    return NOISE_AGAIN;
}

/* -> s, se + payload (initiator). */
static enum noise_result noise__write_msg3(struct noise_hs *hs, struct buf *out)
{
    const struct noise_identity *ni = hs->local;
    uint8_t m[32 + NOISE_TAG_LEN + sizeof ni->payload + NOISE_TAG_LEN];
    size_t len = 0;
    if (ni->payload_len > sizeof ni->payload)
        return noise__fail(hs, "local identity not initialised");
    len += noise__encrypt_and_hash(hs, ni->s_pub, 32, m);
    if (noise__mix_dh(hs, ni->s_priv, hs->re) != 0) /* se */
        return noise__fail(hs, "invalid remote ephemeral key");
    len += noise__encrypt_and_hash(hs, ni->payload, ni->payload_len, m + len);
    noise__append_framed(out, m, len);
    sodium_memzero(m, sizeof m);
    return NOISE_AGAIN;
}

/* -> e as the responder. Bytes after e are msg1's payload, in clear because
 * no key exists yet; peers send none, but Noise says to hash them. */
static enum noise_result noise__read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len,
                                          struct buf *out)
{
    if (len < 32)
        return noise__fail(hs, "bad handshake message length");
    if (len - 32 > NOISE_MAX_PAYLOAD)
        return noise__fail(hs, "handshake payload too large");
    memcpy(hs->re, msg, 32);
    noise__mix_hash(hs, hs->re, 32);
    noise__mix_hash(hs, msg + 32, len - 32); /* DecryptAndHash without a key */
    if (noise__write_msg2(hs, out) != NOISE_AGAIN)
        return NOISE_FAILED;
    hs->step = STEP_R_WAIT3;
    return NOISE_AGAIN;
}

/* <- e, ee, s, es + payload as the initiator; answers with msg3. */
static enum noise_result noise__read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len,
                                          struct buf *out)
{
    if (len < 32 + 32 + NOISE_TAG_LEN + NOISE_TAG_LEN)
        return noise__fail(hs, "bad handshake message length");
    memcpy(hs->re, msg, 32);
    noise__mix_hash(hs, hs->re, 32);
    if (noise__mix_dh(hs, hs->e_priv, hs->re) != 0) /* ee */
        return noise__fail(hs, "invalid remote ephemeral key");
    if (noise__decrypt_and_hash(hs, msg + 32, 32 + NOISE_TAG_LEN, hs->rs) != 0)
        return noise__fail(hs, "decryption failed");
    if (noise__mix_dh(hs, hs->e_priv, hs->rs) != 0) /* es */
        return noise__fail(hs, "invalid remote static key");
    if (noise__read_payload(hs, msg + 80, len - 80) != NOISE_AGAIN)
        return NOISE_FAILED;
    if (noise__write_msg3(hs, out) != NOISE_AGAIN)
        return NOISE_FAILED;
    hs->step = STEP_DONE;
    return NOISE_DONE;
}

/* -> s, se + payload as the responder. */
static enum noise_result noise__read_msg3(struct noise_hs *hs, const uint8_t *msg, size_t len)
{
    if (len < 32 + NOISE_TAG_LEN + NOISE_TAG_LEN)
        return noise__fail(hs, "bad handshake message length");
    if (noise__decrypt_and_hash(hs, msg, 32 + NOISE_TAG_LEN, hs->rs) != 0)
        return noise__fail(hs, "decryption failed");
    if (noise__mix_dh(hs, hs->e_priv, hs->rs) != 0) /* se */
        return noise__fail(hs, "invalid remote static key");
    if (noise__read_payload(hs, msg + 48, len - 48) != NOISE_AGAIN)
        return NOISE_FAILED;
    hs->step = STEP_DONE;
    return NOISE_DONE;
}

void noise_hs_init(struct noise_hs *hs, bool initiator, const struct noise_identity *local,
                   struct buf *out)
{
    memset(hs, 0, sizeof *hs);
    hs->initiator = initiator;
    hs->local = local;
    memcpy(hs->h, noise__protocol_name, NOISE_HASHLEN);
    memcpy(hs->ck, hs->h, NOISE_HASHLEN);
    noise__mix_hash(hs, NULL, 0); /* empty prologue, still mixed in */
    if (initiator) {
        if (noise__write_msg1(hs, out) == NOISE_AGAIN)
            hs->step = STEP_I_WAIT2;
    } else {
        hs->step = STEP_R_WAIT1;
    }
}

enum noise_result noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len, struct buf *out)
{
    if (hs->step == STEP_FAILED)
        return NOISE_FAILED; /* keep the first reason */
    if (len > NOISE_MAX_MSG)
        return noise__fail(hs, "bad handshake message length");
    switch (hs->step) {
    case STEP_I_WAIT2:
        return noise__read_msg2(hs, msg, len, out);
    case STEP_R_WAIT1:
        return noise__read_msg1(hs, msg, len, out);
    case STEP_R_WAIT3:
        return noise__read_msg3(hs, msg, len);
    default: /* done or wiped: nothing more is expected */
        return noise__fail(hs, "unexpected handshake message");
    }
}

void noise_hs_split(struct noise_hs *hs, struct noise_cipher *tx, struct noise_cipher *rx)
{
    uint8_t k1[NOISE_HASHLEN], k2[NOISE_HASHLEN];
    if (hs->step != STEP_DONE) {
        /* Misuse: hand out ciphers that refuse to work rather than zero keys. */
        randombytes_buf(tx->k, sizeof tx->k);
        randombytes_buf(rx->k, sizeof rx->k);
        tx->n = rx->n = UINT64_MAX;
        noise_hs_wipe(hs);
        return;
    }
    noise__hkdf2(hs->ck, NULL, 0, k1, k2);
    /* k1 carries initiator -> responder traffic, k2 the other way. */
    memcpy(tx->k, hs->initiator ? k1 : k2, NOISE_KEYLEN);
    memcpy(rx->k, hs->initiator ? k2 : k1, NOISE_KEYLEN);
    tx->n = rx->n = 0;
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    noise_hs_wipe(hs);
}

void noise_hs_wipe(struct noise_hs *hs)
{
    noise__wipe_secrets(hs);
    if (hs->step != STEP_FAILED)
        hs->step = STEP_WIPED;
}

/* ---------- transport ---------- */

/* Noise reserves n = 2^64-1: a cipher that reaches it is exhausted (§5.1). */
int noise_seal(struct noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t nonce[12];
    if (n > NOISE_MAX_PLAINTEXT || c->n == UINT64_MAX)
        return -1;
    noise__nonce(nonce, c->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, n, NULL, 0, NULL, nonce, c->k);
    c->n++;
    return 0;
}

/* OpenSSL's ChaCha20-Poly1305 against libsodium's on this project's
 * machines (BENCHMARKS.md): 0.6x as fast for a 150-byte message (its
 * per-message set-up), 1.2x at 1 KB, 1.5x at 3.5 KB, 2x at 16 KB. */
#define NOISE__BULK_MIN 1024
/* Parts shorter than this are copied to their place in out and encrypted
 * there together with their neighbours: a cipher call per small part costs
 * more than the copy it saves. */
#define NOISE__PART_MIN 256

struct noise_bulk {
    EVP_CIPHER_CTX *ctx;
};

struct noise_bulk *noise_bulk_new(void)
{
    struct noise_bulk *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->ctx = EVP_CIPHER_CTX_new();
    if (b->ctx == NULL || EVP_EncryptInit_ex(b->ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL) != 1) {
        noise_bulk_free(b);
        return NULL;
    }
    return b;
}

void noise_bulk_free(struct noise_bulk *b)
{
    if (b == NULL)
        return;
    EVP_CIPHER_CTX_free(b->ctx); /* clears the key */
    free(b);
}

/* OpenSSL's AEAD over the parts: short ones gathered in out and encrypted in
 * place (a run), long ones read where they lie. -1 if OpenSSL failed. */
static int noise__seal_bulk(struct noise_bulk *b, const uint8_t k[32], const uint8_t nonce[12],
                            const struct iovec *v, size_t n, size_t total, uint8_t *out)
{
    EVP_CIPHER_CTX *x = b->ctx;
    size_t pos = 0, run = 0; /* out[run, pos): copied, not encrypted yet */
    int l;

    if (EVP_EncryptInit_ex(x, NULL, NULL, k, nonce) != 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t len = v[i].iov_len;
        if (len < NOISE__PART_MIN) {
            if (len > 0)
                memcpy(out + pos, v[i].iov_base, len);
            pos += len;
            continue;
        }
        if ((pos > run && EVP_EncryptUpdate(x, out + run, &l, out + run, (int)(pos - run)) != 1) ||
            EVP_EncryptUpdate(x, out + pos, &l, v[i].iov_base, (int)len) != 1)
            return -1;
        pos += len;
        run = pos;
    }
    if ((pos > run && EVP_EncryptUpdate(x, out + run, &l, out + run, (int)(pos - run)) != 1) ||
        EVP_EncryptFinal_ex(x, out + total, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, NOISE_TAG_LEN, out + total) != 1)
        return -1;
    return 0;
}

int noise_sealv(struct noise_cipher *c, struct noise_bulk *bulk, const struct iovec *v, size_t n,
                uint8_t *out)
{
    uint8_t nonce[12];
    size_t total = 0, pos = 0;

    for (size_t i = 0; i < n; i++)
        total += v[i].iov_len;
    if (total > NOISE_MAX_PLAINTEXT || c->n == UINT64_MAX)
        return -1;
    noise__nonce(nonce, c->n);
    if (bulk == NULL || total < NOISE__BULK_MIN ||
        noise__seal_bulk(bulk, c->k, nonce, v, n, total, out) != 0) {
        /* One part is read where it lies; several are gathered in out
         * first, then sealed there in one call. */
        const uint8_t *in = n == 1 ? v[0].iov_base : out;
        for (size_t i = 0; n > 1 && i < n; i++) {
            if (v[i].iov_len > 0)
                memcpy(out + pos, v[i].iov_base, v[i].iov_len);
            pos += v[i].iov_len;
        }
        crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, total, NULL, 0, NULL, nonce, c->k);
    }
    c->n++;
    return 0;
}

int noise_open(struct noise_cipher *c, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t nonce[12];
    if (n < NOISE_TAG_LEN || n > NOISE_MAX_MSG || c->n == UINT64_MAX)
        return -1;
    noise__nonce(nonce, c->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, n, NULL, 0, nonce, c->k) != 0)
        return -1;
    c->n++; /* only on success: a forged message must not desynchronise us */
    return 0;
}

/* ---------- identity ---------- */

void noise_identity_init(struct noise_identity *ni, const struct privkey *id)
{
    uint8_t key_pb[64], signed_msg[NOISE_SIG_PREFIX_LEN + 32], sig[64];
    struct pubkey pub;
    int key_len;

    if (sodium_init() < 0) {
        fputs("rendezvous: libsodium failed to initialise\n", stderr);
        abort();
    }
    memset(ni, 0, sizeof *ni);
    do {
        randombytes_buf(ni->s_priv, sizeof ni->s_priv);
    } while (crypto_scalarmult_base(ni->s_pub, ni->s_priv) != 0);

    privkey_public(id, &pub);
    key_len = pubkey_to_proto(&pub, key_pb, sizeof key_pb);
    memcpy(signed_msg, noise__sig_prefix, NOISE_SIG_PREFIX_LEN);
    memcpy(signed_msg + NOISE_SIG_PREFIX_LEN, ni->s_pub, 32);
    privkey_sign(id, signed_msg, sizeof signed_msg, sig);

    Noise__NoiseHandshakePayload pl = NOISE__NOISE_HANDSHAKE_PAYLOAD__INIT;
    pl.has_identity_key = 1;
    pl.identity_key.data = key_pb;
    pl.identity_key.len = key_len > 0 ? (size_t)key_len : 0;
    pl.has_identity_sig = 1;
    pl.identity_sig.data = sig;
    pl.identity_sig.len = sizeof sig;
    /* An Ed25519 identity gives 104 bytes; anything else is a broken build. */
    if (key_len <= 0 || noise__noise_handshake_payload__get_packed_size(&pl) > sizeof ni->payload) {
        fputs("rendezvous: cannot encode the noise handshake payload\n", stderr);
        abort();
    }
    ni->payload_len = noise__noise_handshake_payload__pack(&pl, ni->payload);
    sodium_memzero(sig, sizeof sig);
}

void noise_identity_wipe(struct noise_identity *ni)
{
    if (ni->vcache != NULL) {
        sodium_memzero(ni->vcache, sizeof *ni->vcache);
        free(ni->vcache);
    }
    sodium_memzero(ni, sizeof *ni);
}
