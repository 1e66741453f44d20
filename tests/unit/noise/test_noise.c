/* Noise XX (noise-libp2p): our initiator against our responder over randomly
 * chunked frames, tampering and truncation of every message, signature and
 * payload checks, nonce counters, and an independent initiator written with
 * OpenSSL primitives that pins the key schedule (MixHash, HKDF/MixKey,
 * Split, the nonce layout) and lets us send payloads our own code never
 * would (RSA keys, extensions, oversize, msg1 payloads). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "noise/noise.h"

static const char sig_prefix[] = "noise-libp2p-static-key:";
#define SIG_PREFIX_LEN (sizeof(sig_prefix) - 1)

/* ---------- small helpers ---------- */

static uint64_t rng_next(uint64_t *s) /* splitmix64: reproducible chunking */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Moves one whole frame from b into msg; its length, or -1 if b holds none yet. */
static long frame_pop(struct buf *b, uint8_t *msg)
{
    if (buf_size(b) < 2)
        return -1;
    const uint8_t *p = buf_head(b);
    size_t n = (size_t)p[0] << 8 | p[1];
    if (buf_size(b) < 2 + n)
        return -1;
    memcpy(msg, p + 2, n);
    buf_consume(b, 2 + n);
    return (long)n;
}

/* The single frame b must hold. */
static size_t frame_take(struct buf *b, uint8_t *msg)
{
    long n = frame_pop(b, msg);
    assert_true(n >= 0);
    assert_int_equal(buf_size(b), 0);
    return (size_t)n;
}

static size_t pb_varint(uint8_t *out, size_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

/* A length-delimited protobuf field. */
static size_t pb_bytes(uint8_t *out, unsigned field, const uint8_t *d, size_t n)
{
    size_t i = 0;
    out[i++] = (uint8_t)(field << 3 | 2);
    i += pb_varint(out + i, n);
    memcpy(out + i, d, n);
    return i + n;
}

/* PublicKey{Type, Data} written by hand, independent of key.c. */
static size_t pubkey_pb(uint8_t *out, int type, const uint8_t *d, size_t n)
{
    out[0] = 0x08;
    out[1] = (uint8_t)type;
    return 2 + pb_bytes(out + 2, 2, d, n);
}

/* The peer id go/js/rust compute for a PublicKey protobuf (WIRE.md §7). */
static size_t expected_peer_id(uint8_t *out, const uint8_t *pb, size_t n)
{
    if (n <= 42) {
        out[0] = 0x00;
        out[1] = (uint8_t)n;
        memcpy(out + 2, pb, n);
        return n + 2;
    }
    out[0] = 0x12;
    out[1] = 0x20;
    crypto_hash_sha256(out + 2, pb, n);
    return 34;
}

static void assert_peer_id(const struct peer_id *id, const uint8_t *want, size_t n)
{
    assert_int_equal(id->len, n);
    assert_memory_equal(id->b, want, n);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return sodium_is_zero(p, n) == 1;
}

/* ---------- our two sides ---------- */

struct side {
    struct privkey key;
    struct noise_identity ni;
    uint8_t id[PEERID_MAX];
    size_t id_len;
};

static void side_init(struct side *s)
{
    uint8_t pb[40];
    privkey_generate(&s->key);
    noise_identity_init(&s->ni, &s->key);
    size_t n = pubkey_pb(pb, 1, s->key.sk + 32, 32);
    s->id_len = expected_peer_id(s->id, pb, n);
}

struct end {
    struct noise_hs hs;
    struct buf out, in;
    enum noise_result res;
};

static void end_free(struct end *e)
{
    noise_hs_wipe(&e->hs);
    buf_free(&e->out);
    buf_free(&e->in);
}

/* Delivers everything from->out wrote to `to` in random chunk sizes and
 * feeds each complete frame to its handshake while it still expects one;
 * frames after the handshake stay in to->in, as a connection would keep them. */
static void pump(struct end *from, struct end *to, uint64_t *rng, uint8_t *msg)
{
    while (buf_size(&from->out) > 0) {
        size_t left = buf_size(&from->out);
        size_t c = 1 + (size_t)(rng_next(rng) % ((rng_next(rng) & 1) ? 4 : left));
        if (c > left)
            c = left;
        buf_append(&to->in, buf_head(&from->out), c);
        buf_consume(&from->out, c);
        long n;
        while (to->res == NOISE_AGAIN && (n = frame_pop(&to->in, msg)) >= 0)
            to->res = noise_hs_read(&to->hs, msg, (size_t)n, &to->out);
    }
}

/* Runs a handshake frame by frame without chunking. Returns 0 when both
 * sides are done, else the number of the message whose reader failed. */
static int run_hs(const struct noise_identity *ini, const struct noise_identity *resp,
                  struct end *i, struct end *r, uint8_t *msg)
{
    noise_hs_init(&i->hs, true, ini, &i->out);
    noise_hs_init(&r->hs, false, resp, &r->out);
    size_t n = frame_take(&i->out, msg);
    assert_int_equal(n, 32);
    if ((r->res = noise_hs_read(&r->hs, msg, n, &r->out)) != NOISE_AGAIN)
        return 1;
    n = frame_take(&r->out, msg);
    if ((i->res = noise_hs_read(&i->hs, msg, n, &i->out)) != NOISE_DONE)
        return 2;
    n = frame_take(&i->out, msg);
    if ((r->res = noise_hs_read(&r->hs, msg, n, &r->out)) != NOISE_DONE)
        return 3;
    assert_int_equal(buf_size(&r->out), 0);
    return 0;
}

static void roundtrip(struct noise_cipher *tx, struct noise_cipher *rx, size_t n, bool in_place)
{
    uint8_t *pt = malloc(n + 1), *ct = malloc(n + NOISE_TAG_LEN), *back = malloc(n + 1);
    assert_non_null(pt);
    assert_non_null(ct);
    assert_non_null(back);
    randombytes_buf(pt, n);
    uint64_t tn = tx->n, rn = rx->n;
    if (in_place) {
        memcpy(ct, pt, n);
        assert_int_equal(noise_seal(tx, ct, n, ct), 0);
        assert_int_equal(noise_open(rx, ct, n + NOISE_TAG_LEN, ct), 0);
        assert_memory_equal(ct, pt, n);
    } else {
        assert_int_equal(noise_seal(tx, pt, n, ct), 0);
        assert_int_equal(noise_open(rx, ct, n + NOISE_TAG_LEN, back), 0);
        assert_memory_equal(back, pt, n);
    }
    assert_true(tx->n == tn + 1);
    assert_true(rx->n == rn + 1);
    free(pt);
    free(ct);
    free(back);
}

/* ---------- an independent initiator on OpenSSL primitives ---------- */

struct ref {
    uint8_t h[32], ck[32], k[32];
    uint64_t n;
    bool has_k;
    uint8_t e_priv[32], e_pub[32], s_priv[32], s_pub[32], re[32], rs[32];
};

static void ref_nonce(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, sizeof *nonce * 12);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

static void ref_hmac(const uint8_t key[32], const uint8_t *d, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    static const uint8_t empty[1];
    assert_non_null(HMAC(EVP_sha256(), key, 32, n ? d : empty, n, out, &len));
    assert_int_equal(len, 32);
}

static void ref_hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t n, uint8_t o1[32], uint8_t o2[32])
{
    uint8_t t[32], x[33];
    ref_hmac(ck, ikm, n, t);
    x[0] = 1;
    ref_hmac(t, x, 1, x);
    memcpy(o1, x, 32);
    x[32] = 2;
    ref_hmac(t, x, 33, o2);
}

static void ref_mix_hash(struct ref *r, const uint8_t *d, size_t n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len;
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, r->h, 32), 1);
    if (n)
        assert_int_equal(EVP_DigestUpdate(ctx, d, n), 1);
    assert_int_equal(EVP_DigestFinal_ex(ctx, r->h, &len), 1);
    EVP_MD_CTX_free(ctx);
}

static void ref_x25519_pub(const uint8_t priv[32], uint8_t pub[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    size_t len = 32;
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &len), 1);
    EVP_PKEY_free(k);
}

static void ref_mix_dh(struct ref *r, const uint8_t priv[32], const uint8_t pub[32])
{
    EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(a, NULL);
    uint8_t dh[32];
    size_t len = sizeof dh;
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(ctx, b), 1);
    assert_int_equal(EVP_PKEY_derive(ctx, dh, &len), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    ref_hkdf(r->ck, dh, 32, r->ck, r->k);
    r->n = 0;
    r->has_k = true;
}

static void ref_seal(const uint8_t k[32], uint64_t n, const uint8_t *ad, size_t adlen,
                     const uint8_t *pt, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t nonce[12];
    int l;
    ref_nonce(nonce, n);
    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, k, nonce), 1);
    if (adlen)
        assert_int_equal(EVP_EncryptUpdate(c, NULL, &l, ad, (int)adlen), 1);
    if (len)
        assert_int_equal(EVP_EncryptUpdate(c, out, &l, pt, (int)len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + len, &l), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len), 1);
    EVP_CIPHER_CTX_free(c);
}

static int ref_open(const uint8_t k[32], uint64_t n, const uint8_t *ad, size_t adlen,
                    const uint8_t *ct, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t nonce[12], tag[16];
    int l, ok;
    assert_true(len >= 16);
    len -= 16;
    memcpy(tag, ct + len, 16);
    ref_nonce(nonce, n);
    assert_non_null(c);
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, k, nonce), 1);
    if (adlen)
        assert_int_equal(EVP_DecryptUpdate(c, NULL, &l, ad, (int)adlen), 1);
    if (len)
        assert_int_equal(EVP_DecryptUpdate(c, out, &l, ct, (int)len), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag), 1);
    ok = EVP_DecryptFinal_ex(c, out + len, &l) > 0;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

static size_t ref_encrypt_and_hash(struct ref *r, const uint8_t *p, size_t n, uint8_t *out)
{
    assert_true(r->has_k);
    ref_seal(r->k, r->n++, r->h, 32, p, n, out);
    ref_mix_hash(r, out, n + 16);
    return n + 16;
}

static int ref_decrypt_and_hash(struct ref *r, const uint8_t *c, size_t n, uint8_t *out)
{
    assert_true(r->has_k);
    if (ref_open(r->k, r->n, r->h, 32, c, n, out) != 0)
        return -1;
    r->n++;
    ref_mix_hash(r, c, n);
    return 0;
}

static void ref_new(struct ref *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(RAND_bytes(r->s_priv, 32), 1);
    assert_int_equal(RAND_bytes(r->e_priv, 32), 1);
    ref_x25519_pub(r->s_priv, r->s_pub);
    ref_x25519_pub(r->e_priv, r->e_pub);
}

/* -> e, with an optional clear payload after it; returns msg1's length. */
static size_t ref_msg1(struct ref *r, const uint8_t *p, size_t n, uint8_t *out)
{
    memcpy(r->h, "Noise_XX_25519_ChaChaPoly_SHA256", 32);
    memcpy(r->ck, r->h, 32);
    ref_mix_hash(r, NULL, 0);
    memcpy(out, r->e_pub, 32);
    ref_mix_hash(r, r->e_pub, 32);
    if (n)
        memcpy(out + 32, p, n);
    ref_mix_hash(r, p, n);
    return 32 + n;
}

static int ref_read_msg2(struct ref *r, const uint8_t *m, size_t len, uint8_t *payload, size_t *plen)
{
    assert_true(len >= 96);
    memcpy(r->re, m, 32);
    ref_mix_hash(r, r->re, 32);
    ref_mix_dh(r, r->e_priv, r->re);
    if (ref_decrypt_and_hash(r, m + 32, 48, r->rs) != 0)
        return -1;
    ref_mix_dh(r, r->e_priv, r->rs);
    if (ref_decrypt_and_hash(r, m + 80, len - 80, payload) != 0)
        return -1;
    *plen = len - 96;
    return 0;
}

static size_t ref_msg3(struct ref *r, const uint8_t *payload, size_t n, uint8_t *out)
{
    size_t len = ref_encrypt_and_hash(r, r->s_pub, 32, out);
    ref_mix_dh(r, r->s_priv, r->re);
    return len + ref_encrypt_and_hash(r, payload, n, out + len);
}

/* Ed25519 identity payload signing the given static key, plus extra fields. */
static size_t ed_payload(uint8_t *out, const uint8_t pk[32], const uint8_t sk[64],
                         const uint8_t s_pub[32], const uint8_t *extra, size_t extra_len)
{
    uint8_t kpb[40], msg[SIG_PREFIX_LEN + 32], sig[64];
    size_t klen = pubkey_pb(kpb, 1, pk, 32), n = 0;
    memcpy(msg, sig_prefix, SIG_PREFIX_LEN);
    memcpy(msg + SIG_PREFIX_LEN, s_pub, 32);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    n += pb_bytes(out + n, 1, kpb, klen);
    n += pb_bytes(out + n, 2, sig, sizeof sig);
    if (extra_len)
        memcpy(out + n, extra, extra_len);
    return n + extra_len;
}

/* Drives our responder with the reference initiator: msg1 carries p1 in
 * clear, msg3 carries payload3. Returns the responder's last result. */
static enum noise_result ref_run(struct ref *ref, const struct side *resp, const uint8_t *p1,
                                 size_t p1len, const uint8_t *payload3, size_t p3len, struct end *r,
                                 uint8_t *msg)
{
    uint8_t pl[NOISE_MAX_PAYLOAD];
    size_t n = ref_msg1(ref, p1, p1len, msg), plen;
    noise_hs_init(&r->hs, false, &resp->ni, &r->out);
    r->res = noise_hs_read(&r->hs, msg, n, &r->out);
    if (r->res != NOISE_AGAIN)
        return r->res;
    n = frame_take(&r->out, msg);
    assert_int_equal(ref_read_msg2(ref, msg, n, pl, &plen), 0);
    n = ref_msg3(ref, payload3, p3len, msg);
    r->res = noise_hs_read(&r->hs, msg, n, &r->out);
    assert_int_equal(buf_size(&r->out), 0);
    return r->res;
}

/* ---------- tests ---------- */

static void handshake_chunked(void **state)
{
    (void)state;
    struct side a, b;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t pt[32], ct[32 + NOISE_TAG_LEN];
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t rng = seed;
        struct end i = {.res = NOISE_AGAIN}, r = {.res = NOISE_AGAIN};
        struct noise_cipher itx, irx, rtx, rrx;
        noise_hs_init(&i.hs, true, &a.ni, &i.out);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(buf_size(&r.out), 0); /* the responder speaks second */
        assert_int_equal(buf_size(&i.out), 2 + 32);
        pump(&i, &r, &rng, msg);
        assert_int_equal(r.res, NOISE_AGAIN);
        pump(&r, &i, &rng, msg);
        assert_int_equal(i.res, NOISE_DONE);
        /* A transport frame pipelined right behind msg3. */
        noise_hs_split(&i.hs, &itx, &irx);
        randombytes_buf(pt, sizeof pt);
        assert_int_equal(noise_seal(&itx, pt, sizeof pt, ct), 0);
        buf_append_be16(&i.out, sizeof ct);
        buf_append(&i.out, ct, sizeof ct);
        pump(&i, &r, &rng, msg);
        assert_int_equal(r.res, NOISE_DONE);
        assert_null(i.hs.error);
        assert_null(r.hs.error);
        assert_peer_id(&i.hs.remote, b.id, b.id_len);
        assert_peer_id(&r.hs.remote, a.id, a.id_len);
        noise_hs_split(&r.hs, &rtx, &rrx);
        assert_memory_equal(itx.k, rrx.k, 32);
        assert_memory_equal(irx.k, rtx.k, 32);
        assert_memory_not_equal(itx.k, irx.k, 32);
        long n = frame_pop(&r.in, msg);
        assert_int_equal(n, sizeof ct);
        assert_int_equal(noise_open(&rrx, msg, (size_t)n, msg), 0);
        assert_memory_equal(msg, pt, sizeof pt);
        /* Split wiped the secrets but kept the peer id. */
        assert_true(all_zero(r.hs.ck, 32) && all_zero(r.hs.h, 32) && all_zero(r.hs.k, 32));
        assert_true(all_zero(r.hs.e_priv, 32) && all_zero(i.hs.e_priv, 32));
        assert_peer_id(&r.hs.remote, a.id, a.id_len);
        end_free(&i);
        end_free(&r);
    }
    noise_identity_wipe(&a.ni);
    assert_true(all_zero(a.ni.s_priv, 32));
    free(msg);
}

static void identity_payload_is_canonical(void **state)
{
    (void)state;
    struct side a;
    uint8_t msg[SIG_PREFIX_LEN + 32];
    side_init(&a);
    /* 0a 24 PublicKey(08 01 12 20 pk) 12 40 sig: 104 bytes, no extensions. */
    assert_int_equal(a.ni.payload_len, 104);
    assert_memory_equal(a.ni.payload, "\x0a\x24\x08\x01\x12\x20", 6);
    assert_memory_equal(a.ni.payload + 6, a.key.sk + 32, 32);
    assert_memory_equal(a.ni.payload + 38, "\x12\x40", 2);
    memcpy(msg, sig_prefix, SIG_PREFIX_LEN);
    memcpy(msg + SIG_PREFIX_LEN, a.ni.s_pub, 32);
    assert_int_equal(crypto_sign_verify_detached(a.ni.payload + 40, msg, sizeof msg, a.key.sk + 32), 0);
    uint8_t pub[32];
    crypto_scalarmult_base(pub, a.ni.s_priv);
    assert_memory_equal(pub, a.ni.s_pub, 32);
}

static void transport_roundtrips(void **state)
{
    (void)state;
    struct side a, b;
    struct end i = {0}, r = {0};
    struct noise_cipher itx, irx, rtx, rrx;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    assert_non_null(msg);
    memset(msg, 0x33, NOISE_MAX_MSG);
    side_init(&a);
    side_init(&b);
    assert_int_equal(run_hs(&a.ni, &b.ni, &i, &r, msg), 0);
    noise_hs_split(&i.hs, &itx, &irx);
    noise_hs_split(&r.hs, &rtx, &rrx);
    static const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 65518, NOISE_MAX_PLAINTEXT};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        roundtrip(&itx, &rrx, sizes[k], false);
        roundtrip(&rtx, &irx, sizes[k], false);
        roundtrip(&itx, &rrx, sizes[k], true);
        roundtrip(&rtx, &irx, sizes[k], true);
    }
    assert_int_equal(NOISE_MAX_PLAINTEXT, 65519);
    /* One byte too many for a frame: refused, nonce untouched. */
    uint64_t n = itx.n;
    assert_int_equal(noise_seal(&itx, msg, NOISE_MAX_PLAINTEXT + 1, msg), -1);
    assert_true(itx.n == n);
    /* A message for the other direction does not open here. */
    assert_int_equal(noise_seal(&itx, msg, 10, msg), 0);
    assert_int_equal(noise_open(&irx, msg, 10 + NOISE_TAG_LEN, msg), -1);
    end_free(&i);
    end_free(&r);
    free(msg);
}

/* noise_sealv over any split of the plaintext into parts (empty ones, short
 * ones gathered, long ones read in place), with OpenSSL for big messages or
 * libsodium only, produces what OpenSSL's one-buffer ChaCha20-Poly1305 does
 * over the whole, and opens with noise_open (libsodium). */
static void sealv_matches_one_buffer(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 12, 63, 64, 65, 200, 1000, 1023, 1024, 1025, 4097, 20000,
                                   NOISE_MAX_PLAINTEXT};
    uint8_t *pt = malloc(NOISE_MAX_MSG), *ct = malloc(NOISE_MAX_MSG), *want = malloc(NOISE_MAX_MSG);
    struct noise_cipher tx = {.n = 5}, rx;
    struct noise_bulk *bulk = noise_bulk_new();
    uint64_t rng = 0x5eed;
    assert_true(pt && ct && want && bulk);
    randombytes_buf(tx.k, sizeof(tx.k));
    randombytes_buf(pt, NOISE_MAX_MSG);
    rx = tx;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int round = 0; round < 40; round++) {
            size_t len = sizes[k], off = 0, n = 0;
            struct iovec v[64];
            while (off < len && n < 63 && round > 0) { /* round 0: one part */
                uint64_t r = rng_next(&rng);
                size_t part = r % 4 == 0 ? (size_t)(r >> 8) % 3000 : (size_t)(r >> 8) % 300;
                if (part > len - off)
                    part = len - off;
                v[n++] = (struct iovec){.iov_base = pt + off, .iov_len = part};
                off += part;
            }
            if (off < len || n == 0)
                v[n++] = (struct iovec){.iov_base = pt + off, .iov_len = len - off};
            ref_seal(tx.k, tx.n, NULL, 0, pt, len, want);
            assert_int_equal(noise_sealv(&tx, round % 2 ? bulk : NULL, v, n, ct), 0);
            assert_memory_equal(ct, want, len + NOISE_TAG_LEN);
            assert_int_equal(noise_open(&rx, ct, len + NOISE_TAG_LEN, ct), 0);
            assert_memory_equal(ct, pt, len);
        }
    }
    /* Past a frame: refused, nonce untouched. */
    struct iovec big[2] = {{pt, NOISE_MAX_PLAINTEXT}, {pt, 1}};
    uint64_t n = tx.n;
    assert_int_equal(noise_sealv(&tx, bulk, big, 2, ct), -1);
    assert_true(tx.n == n);
    noise_bulk_free(bulk);
    free(pt);
    free(ct);
    free(want);
}

static void counters_and_replay(void **state)
{
    (void)state;
    struct side a, b;
    struct end i = {0}, r = {0};
    struct noise_cipher tx, rx, x, y;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t c[3][21], copy[21], out[21];
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    assert_int_equal(run_hs(&a.ni, &b.ni, &i, &r, msg), 0);
    noise_hs_split(&i.hs, &tx, &x);
    noise_hs_split(&r.hs, &y, &rx);
    for (int k = 0; k < 3; k++) {
        assert_true(tx.n == (uint64_t)k);
        assert_int_equal(noise_seal(&tx, (const uint8_t *)"hello", 5, c[k]), 0);
    }
    assert_true(tx.n == 3);
    assert_memory_not_equal(c[0], c[1], 21); /* fresh nonce, fresh keystream */
    memcpy(copy, c[0], sizeof copy);
    assert_int_equal(noise_open(&rx, c[0], 21, out), 0);
    assert_memory_equal(out, "hello", 5);
    assert_true(rx.n == 1);
    assert_int_equal(noise_open(&rx, copy, 21, out), -1); /* replay */
    assert_true(rx.n == 1);
    assert_int_equal(noise_open(&rx, c[2], 21, out), -1); /* reordered */
    assert_true(rx.n == 1);
    memcpy(copy, c[1], sizeof copy);
    copy[20] ^= 1; /* tag */
    assert_int_equal(noise_open(&rx, copy, 21, out), -1);
    copy[20] ^= 1;
    copy[0] ^= 0x80; /* ciphertext */
    assert_int_equal(noise_open(&rx, copy, 21, out), -1);
    assert_true(rx.n == 1); /* failures never advance the counter */
    assert_int_equal(noise_open(&rx, c[1], 21, out), 0);
    assert_int_equal(noise_open(&rx, c[2], 21, out), 0);
    assert_true(rx.n == 3);
    /* Shorter than a tag, longer than a frame. */
    assert_int_equal(noise_open(&rx, msg, 15, msg), -1);
    assert_int_equal(noise_open(&rx, msg, NOISE_MAX_MSG + 1, msg), -1);
    /* The last usable nonce is 2^64-2; 2^64-1 is reserved. */
    tx.n = UINT64_MAX - 1;
    rx.n = UINT64_MAX - 1;
    assert_int_equal(noise_seal(&tx, (const uint8_t *)"x", 1, c[0]), 0);
    assert_true(tx.n == UINT64_MAX);
    assert_int_equal(noise_seal(&tx, (const uint8_t *)"x", 1, c[1]), -1);
    assert_true(tx.n == UINT64_MAX);
    assert_int_equal(noise_open(&rx, c[0], 17, out), 0);
    assert_int_equal(out[0], 'x');
    assert_true(rx.n == UINT64_MAX);
    assert_int_equal(noise_open(&rx, c[0], 17, out), -1);
    end_free(&i);
    end_free(&r);
    free(msg);
}

static void tampered_msg2_and_msg3(void **state)
{
    (void)state;
    struct side a, b;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t m1[32], m2[256], m3[256];
    size_t l2 = 0, l3 = 0;
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    for (size_t pos = 0;; pos++) {
        struct end i = {0}, r = {0};
        noise_hs_init(&i.hs, true, &a.ni, &i.out);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(frame_take(&i.out, m1), 32);
        assert_int_equal(noise_hs_read(&r.hs, m1, 32, &r.out), NOISE_AGAIN);
        l2 = frame_take(&r.out, m2);
        assert_int_equal(l2, 32 + 48 + 104 + 16);
        if (pos >= l2) {
            end_free(&i);
            end_free(&r);
            break;
        }
        m2[pos] ^= (uint8_t)(1u << (pos % 8)); /* pos 31 flips the bit X25519 ignores */
        assert_int_equal(noise_hs_read(&i.hs, m2, l2, &i.out), NOISE_FAILED);
        assert_non_null(i.hs.error);
        assert_int_equal(buf_size(&i.out), 0); /* no msg3 after a failure */
        assert_true(all_zero(i.hs.ck, 32) && all_zero(i.hs.e_priv, 32));
        /* A failed handshake stays failed, with its first reason. */
        const char *why = i.hs.error;
        assert_int_equal(noise_hs_read(&i.hs, m2, l2, &i.out), NOISE_FAILED);
        assert_ptr_equal(i.hs.error, why);
        end_free(&i);
        end_free(&r);
    }
    for (size_t pos = 0;; pos++) {
        struct end i = {0}, r = {0};
        noise_hs_init(&i.hs, true, &a.ni, &i.out);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, m1, frame_take(&i.out, m1), &r.out), NOISE_AGAIN);
        assert_int_equal(noise_hs_read(&i.hs, m2, frame_take(&r.out, m2), &i.out), NOISE_DONE);
        l3 = frame_take(&i.out, m3);
        assert_int_equal(l3, 48 + 104 + 16);
        if (pos >= l3) {
            end_free(&i);
            end_free(&r);
            break;
        }
        m3[pos] ^= (uint8_t)(0x80u >> (pos % 8));
        assert_int_equal(noise_hs_read(&r.hs, m3, l3, &r.out), NOISE_FAILED);
        assert_string_equal(r.hs.error, "decryption failed");
        end_free(&i);
        end_free(&r);
    }
    free(msg);
}

static void truncated_and_overlong(void **state)
{
    (void)state;
    struct side a, b;
    uint8_t *msg = malloc(NOISE_MAX_MSG + 2);
    uint8_t m1[32], m2[257], m3[257];
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    for (size_t len = 0; len < 32; len++) {
        struct end r = {0};
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, m1, len, &r.out), NOISE_FAILED);
        assert_string_equal(r.hs.error, "bad handshake message length");
        assert_int_equal(buf_size(&r.out), 0);
        end_free(&r);
    }
    /* Every prefix of msg2 and of msg3, and each with one byte more. */
    for (size_t len = 0;; len++) {
        struct end i = {0}, r = {0};
        noise_hs_init(&i.hs, true, &a.ni, &i.out);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, m1, frame_take(&i.out, m1), &r.out), NOISE_AGAIN);
        size_t l2 = frame_take(&r.out, m2);
        if (len > l2) {
            end_free(&i);
            end_free(&r);
            break;
        }
        size_t feed = len < l2 ? len : l2 + 1;
        m2[l2] = 0;
        assert_int_equal(noise_hs_read(&i.hs, m2, feed, &i.out), NOISE_FAILED);
        assert_string_equal(i.hs.error, feed < 96 ? "bad handshake message length" : "decryption failed");
        end_free(&i);
        end_free(&r);
    }
    for (size_t len = 0;; len++) {
        struct end i = {0}, r = {0};
        noise_hs_init(&i.hs, true, &a.ni, &i.out);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, m1, frame_take(&i.out, m1), &r.out), NOISE_AGAIN);
        assert_int_equal(noise_hs_read(&i.hs, m2, frame_take(&r.out, m2), &i.out), NOISE_DONE);
        size_t l3 = frame_take(&i.out, m3);
        if (len > l3) {
            end_free(&i);
            end_free(&r);
            break;
        }
        size_t feed = len < l3 ? len : l3 + 1;
        m3[l3] = 0;
        assert_int_equal(noise_hs_read(&r.hs, m3, feed, &r.out), NOISE_FAILED);
        assert_string_equal(r.hs.error, feed < 64 ? "bad handshake message length" : "decryption failed");
        end_free(&i);
        end_free(&r);
    }
    /* Longer than any Noise message can be. */
    {
        struct end r = {0};
        memset(msg, 9, NOISE_MAX_MSG + 1);
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, msg, NOISE_MAX_MSG + 1, &r.out), NOISE_FAILED);
        assert_string_equal(r.hs.error, "bad handshake message length");
        end_free(&r);
    }
    free(msg);
}

static void wrong_signature(void **state)
{
    (void)state;
    struct side a, b, bad;
    struct end i = {0}, r = {0};
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    side_init(&bad);
    /* bad's payload signs a static key it no longer uses. */
    randombytes_buf(bad.ni.s_priv, 32);
    crypto_scalarmult_base(bad.ni.s_pub, bad.ni.s_priv);

    assert_int_equal(run_hs(&a.ni, &bad.ni, &i, &r, msg), 2);
    assert_int_equal(i.res, NOISE_FAILED);
    assert_string_equal(i.hs.error, "identity signature does not verify");
    assert_int_equal(buf_size(&i.out), 0);
    end_free(&i);
    end_free(&r);

    memset(&i, 0, sizeof i);
    memset(&r, 0, sizeof r);
    assert_int_equal(run_hs(&bad.ni, &b.ni, &i, &r, msg), 3);
    assert_int_equal(r.res, NOISE_FAILED);
    assert_string_equal(r.hs.error, "identity signature does not verify");
    end_free(&i);
    end_free(&r);

    /* A signature by another identity than the one in identity_key. */
    struct side c = b;
    c.ni.payload_len = ed_payload(c.ni.payload, a.key.sk + 32, b.key.sk, c.ni.s_pub, NULL, 0);
    memset(&i, 0, sizeof i);
    memset(&r, 0, sizeof r);
    assert_int_equal(run_hs(&a.ni, &c.ni, &i, &r, msg), 2);
    assert_string_equal(i.hs.error, "identity signature does not verify");
    end_free(&i);
    end_free(&r);
    free(msg);
}

/* With the verified-payload cache, a reconnecting peer is recognised without
 * a verify and gets the same peer id; a payload whose signature covers another
 * static key still fails, on either side. */
static void verified_cache(void **state)
{
    (void)state;
    struct side a, b, c;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint64_t hits, misses;
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    side_init(&c);
    noise_identity_cache_verified(&a.ni);
    noise_identity_cache_verified(&b.ni);
    for (int round = 0; round < 3; round++) {
        struct end i = {0}, r = {0};
        assert_int_equal(run_hs(&a.ni, &b.ni, &i, &r, msg), 0);
        assert_peer_id(&r.hs.remote, a.id, a.id_len);
        assert_peer_id(&i.hs.remote, b.id, b.id_len);
        noise_vcache_counts(&b.ni, &hits, &misses);
        assert_int_equal(hits, round);
        assert_int_equal(misses, 1);
        noise_vcache_counts(&a.ni, &hits, &misses);
        assert_int_equal(hits, round);
        end_free(&i);
        end_free(&r);
    }
    /* Another identity: a miss, its own id. */
    struct end i = {0}, r = {0};
    assert_int_equal(run_hs(&c.ni, &b.ni, &i, &r, msg), 0);
    assert_peer_id(&r.hs.remote, c.id, c.id_len);
    noise_vcache_counts(&b.ni, &hits, &misses);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 2);
    end_free(&i);
    end_free(&r);

    /* a's identity key and cached signature, replayed with a new static key. */
    struct side bad = a;
    bad.ni.vcache = NULL;
    randombytes_buf(bad.ni.s_priv, 32);
    crypto_scalarmult_base(bad.ni.s_pub, bad.ni.s_priv);
    memset(&i, 0, sizeof i);
    memset(&r, 0, sizeof r);
    assert_int_equal(run_hs(&bad.ni, &b.ni, &i, &r, msg), 3);
    assert_string_equal(r.hs.error, "identity signature does not verify");
    end_free(&i);
    end_free(&r);
    memset(&i, 0, sizeof i);
    memset(&r, 0, sizeof r);
    struct side bad_resp = b;
    bad_resp.ni.vcache = NULL;
    randombytes_buf(bad_resp.ni.s_priv, 32);
    crypto_scalarmult_base(bad_resp.ni.s_pub, bad_resp.ni.s_priv);
    assert_int_equal(run_hs(&a.ni, &bad_resp.ni, &i, &r, msg), 2);
    assert_string_equal(i.hs.error, "identity signature does not verify");
    end_free(&i);
    end_free(&r);

    noise_identity_wipe(&a.ni);
    noise_identity_wipe(&b.ni);
    noise_identity_wipe(&c.ni);
    assert_null(b.ni.vcache);
    free(msg);
}

/* The responder's msg2 payload carries extensions and an unknown field: the
 * initiator must ignore both. */
static void msg2_extensions_ignored(void **state)
{
    (void)state;
    struct side a, b;
    struct end i = {0}, r = {0};
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t ext[96], inner[64];
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    size_t in = pb_bytes(inner, 2, (const uint8_t *)"/yamux/1.0.0", 12);
    in += pb_bytes(inner + in, 1, (const uint8_t *)"\x12\x20" "abcdefghijklmnopqrstuvwxyz012345", 34);
    size_t el = pb_bytes(ext, 4, inner, in);
    el += pb_bytes(ext + el, 3, (const uint8_t *)"x", 1);
    b.ni.payload_len = ed_payload(b.ni.payload, b.key.sk + 32, b.key.sk, b.ni.s_pub, ext, el);
    assert_int_equal(run_hs(&a.ni, &b.ni, &i, &r, msg), 0);
    assert_peer_id(&i.hs.remote, b.id, b.id_len);
    end_free(&i);
    end_free(&r);
    free(msg);
}

static void low_order_keys(void **state)
{
    (void)state;
    static const uint8_t bad[][32] = {
        {0},
        {1},
        /* a point of order 8 */
        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
         0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
    };
    struct side b;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    assert_non_null(msg);
    side_init(&b);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct end r = {0};
        noise_hs_init(&r.hs, false, &b.ni, &r.out);
        assert_int_equal(noise_hs_read(&r.hs, bad[k], 32, &r.out), NOISE_FAILED);
        assert_string_equal(r.hs.error, "invalid remote ephemeral key");
        assert_int_equal(buf_size(&r.out), 0);
        end_free(&r);
    }
    /* A low-order static key in msg3, sent by the reference initiator. */
    struct ref ref;
    struct end r = {0};
    uint8_t pl[128];
    ref_new(&ref);
    memset(ref.s_pub, 0, 32);
    size_t pn = ed_payload(pl, b.key.sk + 32, b.key.sk, ref.s_pub, NULL, 0);
    assert_int_equal(ref_run(&ref, &b, NULL, 0, pl, pn, &r, msg), NOISE_FAILED);
    assert_string_equal(r.hs.error, "invalid remote static key");
    end_free(&r);
    free(msg);
}

/* The reference initiator against our responder: same transcript hash, same
 * chaining key, same split keys and nonce layout, or nothing would decrypt. */
static void reference_interop(void **state)
{
    (void)state;
    struct side b;
    struct ref ref;
    struct end r = {0};
    struct noise_cipher tx, rx;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t pl[256], pt[128], id_pk[32], id_sk[64], got[128];
    size_t plen;
    assert_non_null(msg);
    side_init(&b);
    ref_new(&ref);
    crypto_sign_keypair(id_pk, id_sk);

    size_t n = ref_msg1(&ref, NULL, 0, msg);
    noise_hs_init(&r.hs, false, &b.ni, &r.out);
    assert_int_equal(noise_hs_read(&r.hs, msg, n, &r.out), NOISE_AGAIN);
    n = frame_take(&r.out, msg);
    assert_int_equal(ref_read_msg2(&ref, msg, n, pl, &plen), 0);
    assert_memory_equal(ref.rs, b.ni.s_pub, 32);
    assert_int_equal(plen, b.ni.payload_len);
    assert_memory_equal(pl, b.ni.payload, plen);

    plen = ed_payload(pl, id_pk, id_sk, ref.s_pub, NULL, 0);
    n = ref_msg3(&ref, pl, plen, msg);
    assert_int_equal(noise_hs_read(&r.hs, msg, n, &r.out), NOISE_DONE);
    uint8_t kpb[40], want[PEERID_MAX];
    size_t wl = expected_peer_id(want, kpb, pubkey_pb(kpb, 1, id_pk, 32));
    assert_peer_id(&r.hs.remote, want, wl);

    /* Split = HKDF(ck, empty): k1 initiator->responder, k2 the other way. */
    uint8_t k1[32], k2[32];
    ref_hkdf(ref.ck, NULL, 0, k1, k2);
    noise_hs_split(&r.hs, &tx, &rx);
    assert_memory_equal(rx.k, k1, 32);
    assert_memory_equal(tx.k, k2, 32);
    for (uint64_t k = 0; k < 300; k++) {
        randombytes_buf(pt, sizeof pt);
        assert_int_equal(noise_seal(&tx, pt, sizeof pt, msg), 0);
        assert_int_equal(ref_open(k2, k, NULL, 0, msg, sizeof pt + 16, got), 0);
        assert_memory_equal(got, pt, sizeof pt);
        ref_seal(k1, k, NULL, 0, pt, 10, msg);
        assert_int_equal(noise_open(&rx, msg, 26, got), 0);
        assert_memory_equal(got, pt, 10);
    }
    /* Nonce bytes beyond the low one: jump to n = 2^40 + 7. */
    tx.n = ((uint64_t)1 << 40) + 7;
    assert_int_equal(noise_seal(&tx, pt, 5, msg), 0);
    assert_int_equal(ref_open(k2, ((uint64_t)1 << 40) + 7, NULL, 0, msg, 21, got), 0);
    end_free(&r);
    free(msg);
}

static void msg1_payload(void **state)
{
    (void)state;
    struct side b;
    struct ref ref;
    struct end r = {0};
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t *p1 = malloc(NOISE_MAX_PAYLOAD + 1);
    uint8_t pl[128], id_pk[32], id_sk[64];
    assert_non_null(msg);
    assert_non_null(p1);
    side_init(&b);
    crypto_sign_keypair(id_pk, id_sk);
    memset(p1, 0x5a, NOISE_MAX_PAYLOAD + 1);

    /* Clear bytes after e are hashed like any payload; the handshake goes on. */
    ref_new(&ref);
    size_t pn = ed_payload(pl, id_pk, id_sk, ref.s_pub, NULL, 0);
    assert_int_equal(ref_run(&ref, &b, p1, 100, pl, pn, &r, msg), NOISE_DONE);
    end_free(&r);

    ref_new(&ref);
    memset(&r, 0, sizeof r);
    pn = ed_payload(pl, id_pk, id_sk, ref.s_pub, NULL, 0);
    assert_int_equal(ref_run(&ref, &b, p1, NOISE_MAX_PAYLOAD, pl, pn, &r, msg), NOISE_DONE);
    end_free(&r);

    ref_new(&ref);
    memset(&r, 0, sizeof r);
    assert_int_equal(ref_run(&ref, &b, p1, NOISE_MAX_PAYLOAD + 1, pl, pn, &r, msg), NOISE_FAILED);
    assert_string_equal(r.hs.error, "handshake payload too large");
    end_free(&r);
    free(p1);
    free(msg);
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* An Ed25519 payload padded with a certhash extension to exactly `total`. */
static size_t padded_payload(uint8_t *out, size_t total, const uint8_t pk[32], const uint8_t sk[64],
                             const uint8_t s_pub[32])
{
    size_t base = ed_payload(out, pk, sk, s_pub, NULL, 0);
    for (size_t l = 0; l < total; l++) {
        size_t in = 1 + varint_len(l) + l; /* NoiseExtensions{certhash: l bytes} */
        if (base + 1 + varint_len(in) + in != total)
            continue;
        uint8_t *inner = malloc(in), *pad = calloc(1, l + 1);
        assert_non_null(inner);
        assert_non_null(pad);
        assert_int_equal(pb_bytes(inner, 1, pad, l), in);
        base += pb_bytes(out + base, 4, inner, in);
        free(inner);
        free(pad);
        break;
    }
    assert_int_equal(base, total);
    return base;
}

static void payload_size_limit(void **state)
{
    (void)state;
    struct side b;
    uint8_t *msg = malloc(NOISE_MAX_MSG), *pl = malloc(NOISE_MAX_PAYLOAD + 1);
    uint8_t id_pk[32], id_sk[64];
    assert_non_null(msg);
    assert_non_null(pl);
    side_init(&b);
    crypto_sign_keypair(id_pk, id_sk);
    for (size_t total = NOISE_MAX_PAYLOAD - 1; total <= NOISE_MAX_PAYLOAD + 1; total++) {
        struct ref ref;
        struct end r = {0};
        ref_new(&ref);
        size_t n = padded_payload(pl, total, id_pk, id_sk, ref.s_pub);
        enum noise_result want = total <= NOISE_MAX_PAYLOAD ? NOISE_DONE : NOISE_FAILED;
        assert_int_equal(ref_run(&ref, &b, NULL, 0, pl, n, &r, msg), want);
        if (want == NOISE_FAILED)
            assert_string_equal(r.hs.error, "handshake payload too large");
        end_free(&r);
    }
    free(pl);
    free(msg);
}

/* Malformed or incomplete payloads in msg3. */
static void bad_payloads(void **state)
{
    (void)state;
    struct side b;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    uint8_t id_pk[32], id_sk[64], pl[256], kpb[40], sig[64], smsg[SIG_PREFIX_LEN + 32];
    assert_non_null(msg);
    side_init(&b);
    crypto_sign_keypair(id_pk, id_sk);
    for (int c = 0; c < 7; c++) {
        struct ref ref;
        struct end r = {0};
        size_t n = 0;
        const char *want;
        ref_new(&ref);
        memcpy(smsg, sig_prefix, SIG_PREFIX_LEN);
        memcpy(smsg + SIG_PREFIX_LEN, ref.s_pub, 32);
        crypto_sign_detached(sig, NULL, smsg, sizeof smsg, id_sk);
        size_t kl = pubkey_pb(kpb, 1, id_pk, 32);
        switch (c) {
        case 0: /* empty */
            want = "handshake payload lacks identity key or signature";
            break;
        case 1: /* key only */
            n = pb_bytes(pl, 1, kpb, kl);
            want = "handshake payload lacks identity key or signature";
            break;
        case 2: /* signature only */
            n = pb_bytes(pl, 2, sig, 64);
            want = "handshake payload lacks identity key or signature";
            break;
        case 3: /* not a protobuf */
            memset(pl, 0xff, 20);
            n = 20;
            want = "malformed handshake payload";
            break;
        case 4: /* a 31-byte Ed25519 key */
            n = pb_bytes(pl, 1, kpb, pubkey_pb(kpb, 1, id_pk, 31));
            n += pb_bytes(pl + n, 2, sig, 64);
            want = "invalid identity key";
            break;
        case 5: /* an empty signature */
            n = pb_bytes(pl, 1, kpb, kl);
            n += pb_bytes(pl + n, 2, sig, 0);
            want = "bad identity signature length";
            break;
        default: /* unknown key type */
            n = pb_bytes(pl, 1, kpb, pubkey_pb(kpb, 7, id_pk, 32));
            n += pb_bytes(pl + n, 2, sig, 64);
            want = "invalid identity key";
            break;
        }
        assert_int_equal(ref_run(&ref, &b, NULL, 0, pl, n, &r, msg), NOISE_FAILED);
        assert_string_equal(r.hs.error, want);
        end_free(&r);
    }
    free(msg);
}

/* Identity keys of the other three types, made and signed with OpenSSL. */
static void other_key_types(void **state)
{
    (void)state;
    struct side b;
    uint8_t *msg = malloc(NOISE_MAX_MSG), *pl = malloc(4096), *kpb = malloc(2048);
    uint8_t data[1200], sig[1024], smsg[SIG_PREFIX_LEN + 32], want[PEERID_MAX];
    assert_non_null(msg);
    assert_non_null(pl);
    assert_non_null(kpb);
    side_init(&b);
    for (int t = 0; t < 3; t++) {
        EVP_PKEY *pk;
        size_t dl = 0, sl = sizeof sig;
        int type;
        if (t == 0) {
            pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
            type = KEY_RSA;
        } else if (t == 1) {
            pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
            type = KEY_ECDSA;
        } else {
            pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
            type = KEY_SECP256K1;
        }
        assert_non_null(pk);
        if (type == KEY_SECP256K1) {
            /* OpenSSL hands out 04 ‖ X ‖ Y; libp2p wants the compressed form. */
            uint8_t pt[65];
            assert_int_equal(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                                             sizeof pt, &dl), 1);
            assert_int_equal(dl, 65);
            data[0] = (uint8_t)(0x02 | (pt[64] & 1));
            memcpy(data + 1, pt + 1, 32);
            dl = 33;
            assert_int_equal(dl, 33);
        } else {
            uint8_t *p = data;
            int l = i2d_PUBKEY(pk, NULL);
            assert_true(l > 0 && (size_t)l <= sizeof data);
            assert_int_equal(i2d_PUBKEY(pk, &p), l);
            dl = (size_t)l;
        }
        struct ref ref;
        struct end r = {0};
        ref_new(&ref);
        memcpy(smsg, sig_prefix, SIG_PREFIX_LEN);
        memcpy(smsg + SIG_PREFIX_LEN, ref.s_pub, 32);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_non_null(md);
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &sl, smsg, sizeof smsg), 1);
        EVP_MD_CTX_free(md);
        size_t kl = pubkey_pb(kpb, type, data, dl);
        size_t n = pb_bytes(pl, 1, kpb, kl);
        n += pb_bytes(pl + n, 2, sig, sl);
        assert_int_equal(ref_run(&ref, &b, NULL, 0, pl, n, &r, msg), NOISE_DONE);
        size_t wl = expected_peer_id(want, kpb, kl);
        assert_int_equal(wl, type == KEY_SECP256K1 ? 39 : 34);
        assert_peer_id(&r.hs.remote, want, wl);
        end_free(&r);

        /* The same payload over another static key must not verify. */
        ref_new(&ref);
        memset(&r, 0, sizeof r);
        assert_int_equal(ref_run(&ref, &b, NULL, 0, pl, n, &r, msg), NOISE_FAILED);
        assert_string_equal(r.hs.error, "identity signature does not verify");
        end_free(&r);
        EVP_PKEY_free(pk);
    }
    free(kpb);
    free(pl);
    free(msg);
}

static void misuse(void **state)
{
    (void)state;
    struct side a, b;
    struct end i = {0}, r = {0};
    struct noise_cipher tx, rx;
    uint8_t *msg = malloc(NOISE_MAX_MSG);
    assert_non_null(msg);
    side_init(&a);
    side_init(&b);
    assert_int_equal(run_hs(&a.ni, &b.ni, &i, &r, msg), 0);
    /* Another handshake message after the end is an error. */
    assert_int_equal(noise_hs_read(&r.hs, msg, 64, &r.out), NOISE_FAILED);
    assert_non_null(r.hs.error);
    /* Splitting a failed handshake gives ciphers that refuse to work. */
    noise_hs_split(&r.hs, &tx, &rx);
    assert_int_equal(noise_seal(&tx, msg, 1, msg), -1);
    assert_int_equal(noise_open(&rx, msg, 17, msg), -1);
    /* Splitting twice: the second split has nothing left to give. */
    noise_hs_split(&i.hs, &tx, &rx);
    noise_hs_split(&i.hs, &tx, &rx);
    assert_int_equal(noise_seal(&tx, msg, 1, msg), -1);
    end_free(&i);
    end_free(&r);
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_chunked),
        cmocka_unit_test(identity_payload_is_canonical),
        cmocka_unit_test(transport_roundtrips),
        cmocka_unit_test(sealv_matches_one_buffer),
        cmocka_unit_test(counters_and_replay),
        cmocka_unit_test(tampered_msg2_and_msg3),
        cmocka_unit_test(truncated_and_overlong),
        cmocka_unit_test(wrong_signature),
        cmocka_unit_test(verified_cache),
        cmocka_unit_test(msg2_extensions_ignored),
        cmocka_unit_test(low_order_keys),
        cmocka_unit_test(reference_interop),
        cmocka_unit_test(msg1_payload),
        cmocka_unit_test(payload_size_limit),
        cmocka_unit_test(bad_payloads),
        cmocka_unit_test(other_key_types),
        cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
