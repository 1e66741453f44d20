/* libsodium's public-key operations, remembered: a fuzz target that
 * includes this header defines crypto_scalarmult, crypto_scalarmult_base,
 * crypto_sign_seed_keypair, crypto_sign_keypair, crypto_sign_detached and
 * crypto_sign_verify_detached itself, which takes them over for every
 * caller in the binary (the product's code in libcore.a too). Each returns
 * exactly what libsodium returns for the same arguments: from a small
 * table of recent calls, or by calling libsodium's own function (found with
 * dlsym RTLD_NEXT) and remembering the answer.
 *
 * These operations are pure functions of their arguments (keypair draws its
 * seed from randombytes_buf first, as libsodium does), so nothing the code
 * under test sees changes, and an input runs the same way whatever ran
 * before it. What stops costing is the same operation repeated from one
 * input to the next: a harness's fixed identities, records and handshakes
 * (fuzz_rng.h makes the ephemeral keys the same at every input). Operations
 * on fuzzed bytes still run in full. libsodium is not instrumented, so no
 * coverage is lost; the table's own code is left out of coverage, as its
 * hits and misses depend on earlier inputs. With FUZZ_MEMO_CHECK set in the
 * environment every remembered answer is computed again and compared. */
#ifndef RDV_FUZZ_MEMO_H
#define RDV_FUZZ_MEMO_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define FUZZ_MEMO_SLOTS 32
#define FUZZ_MEMO_MSG_MAX 1024 /* longer messages are signed and verified in full every time */
#define FUZZ_MEMO_KEY_MAX (64 + 32 + FUZZ_MEMO_MSG_MAX)
#define FUZZ_MEMO_OUT_MAX 96

#define FUZZ_MEMO_FN __attribute__((no_sanitize("coverage")))

struct fuzz_memo_slot {
    uint64_t hash;
    size_t klen;
    uint8_t key[FUZZ_MEMO_KEY_MAX];
    uint8_t out[FUZZ_MEMO_OUT_MAX];
    int rc;
};

/* One table per operation; slots are replaced in turn. */
struct fuzz_memo {
    struct fuzz_memo_slot slot[FUZZ_MEMO_SLOTS];
    size_t used, next;
};

static struct {
    struct fuzz_memo mult, mult_base, seed_keypair, sign, verify;
} fuzz_memo;

/* The arguments of one call, gathered into one key. */
struct fuzz_memo_key {
    uint8_t b[FUZZ_MEMO_KEY_MAX];
    size_t len;
    uint64_t hash;
};

FUZZ_MEMO_FN static void fuzz_memo_key_add(struct fuzz_memo_key *k, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        k->b[k->len + i] = b[i];
        k->hash = (k->hash ^ b[i]) * 0x100000001b3ull;
    }
    k->len += n;
}

FUZZ_MEMO_FN static const struct fuzz_memo_slot *fuzz_memo_find(const struct fuzz_memo *m,
                                                                const struct fuzz_memo_key *k)
{
    for (size_t i = 0; i < m->used; i++) {
        const struct fuzz_memo_slot *s = &m->slot[i];
        if (s->hash != k->hash || s->klen != k->len)
            continue;
        size_t j = 0;
        while (j < k->len && s->key[j] == k->b[j])
            j++;
        if (j == k->len)
            return s;
    }
    return NULL;
}

FUZZ_MEMO_FN static void fuzz_memo_put(struct fuzz_memo *m, const struct fuzz_memo_key *k,
                                       const void *out, size_t outlen, int rc)
{
    struct fuzz_memo_slot *s = &m->slot[m->next];
    m->next = (m->next + 1) % FUZZ_MEMO_SLOTS;
    if (m->used < FUZZ_MEMO_SLOTS)
        m->used++;
    s->hash = k->hash;
    s->klen = k->len;
    memcpy(s->key, k->b, k->len);
    if (outlen)
        memcpy(s->out, out, outlen);
    s->rc = rc;
}

FUZZ_MEMO_FN static void *fuzz_memo_real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "fuzz_memo: no %s in libsodium\n", name);
        abort();
    }
    return f;
}

FUZZ_MEMO_FN static bool fuzz_memo_checking(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_MEMO_CHECK") != NULL;
    return on;
}

/* With FUZZ_MEMO_CHECK: a remembered answer must be what libsodium says. */
FUZZ_MEMO_FN static void fuzz_memo_check(const char *name, int rc, int want, const void *out,
                                         const void *wanted, size_t n)
{
    const uint8_t *a = out, *b = wanted;
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    if (rc != want || i != n) {
        fprintf(stderr, "fuzz_memo: %s remembered a different answer\n", name);
        abort();
    }
}

#define FUZZ_MEMO_KEY_INIT {.len = 0, .hash = 0xcbf29ce484222325ull}

FUZZ_MEMO_FN int crypto_scalarmult(unsigned char *q, const unsigned char *n, const unsigned char *p)
{
    static int (*real)(unsigned char *, const unsigned char *, const unsigned char *);
    static struct fuzz_memo_key k;
    k = (struct fuzz_memo_key)FUZZ_MEMO_KEY_INIT;
    fuzz_memo_key_add(&k, n, 32);
    fuzz_memo_key_add(&k, p, 32);
    const struct fuzz_memo_slot *s = fuzz_memo_find(&fuzz_memo.mult, &k);
    if (real == NULL)
        real = fuzz_memo_real("crypto_scalarmult");
    if (s != NULL) {
        if (fuzz_memo_checking()) {
            uint8_t want[32];
            int rc = real(want, n, p);
            fuzz_memo_check("crypto_scalarmult", s->rc, rc, s->out, want, 32);
        }
        memcpy(q, s->out, 32);
        return s->rc;
    }
    int rc = real(q, n, p);
    fuzz_memo_put(&fuzz_memo.mult, &k, q, 32, rc);
    return rc;
}

FUZZ_MEMO_FN int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
    static int (*real)(unsigned char *, const unsigned char *);
    static struct fuzz_memo_key k;
    k = (struct fuzz_memo_key)FUZZ_MEMO_KEY_INIT;
    fuzz_memo_key_add(&k, n, 32);
    const struct fuzz_memo_slot *s = fuzz_memo_find(&fuzz_memo.mult_base, &k);
    if (real == NULL)
        real = fuzz_memo_real("crypto_scalarmult_base");
    if (s != NULL) {
        if (fuzz_memo_checking()) {
            uint8_t want[32];
            int rc = real(want, n);
            fuzz_memo_check("crypto_scalarmult_base", s->rc, rc, s->out, want, 32);
        }
        memcpy(q, s->out, 32);
        return s->rc;
    }
    int rc = real(q, n);
    fuzz_memo_put(&fuzz_memo.mult_base, &k, q, 32, rc);
    return rc;
}

FUZZ_MEMO_FN int crypto_sign_seed_keypair(unsigned char *pk, unsigned char *sk,
                                          const unsigned char *seed)
{
    static int (*real)(unsigned char *, unsigned char *, const unsigned char *);
    static struct fuzz_memo_key k;
    uint8_t out[96];
    k = (struct fuzz_memo_key)FUZZ_MEMO_KEY_INIT;
    fuzz_memo_key_add(&k, seed, 32);
    const struct fuzz_memo_slot *s = fuzz_memo_find(&fuzz_memo.seed_keypair, &k);
    if (real == NULL)
        real = fuzz_memo_real("crypto_sign_seed_keypair");
    if (s != NULL) {
        if (fuzz_memo_checking()) {
            int rc = real(out, out + 32, seed);
            fuzz_memo_check("crypto_sign_seed_keypair", s->rc, rc, s->out, out, 96);
        }
        memcpy(pk, s->out, 32);
        memcpy(sk, s->out + 32, 64);
        return s->rc;
    }
    int rc = real(pk, sk, seed);
    memcpy(out, pk, 32);
    memcpy(out + 32, sk, 64);
    fuzz_memo_put(&fuzz_memo.seed_keypair, &k, out, sizeof out, rc);
    sodium_memzero(out, sizeof out);
    return rc;
}

/* As libsodium's: a seed from randombytes_buf, then the seed's keypair. */
FUZZ_MEMO_FN int crypto_sign_keypair(unsigned char *pk, unsigned char *sk)
{
    unsigned char seed[32];
    randombytes_buf(seed, sizeof seed);
    int rc = crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

FUZZ_MEMO_FN int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen_p,
                                      const unsigned char *m, unsigned long long mlen,
                                      const unsigned char *sk)
{
    static int (*real)(unsigned char *, unsigned long long *, const unsigned char *,
                       unsigned long long, const unsigned char *);
    static struct fuzz_memo_key k;
    if (real == NULL)
        real = fuzz_memo_real("crypto_sign_detached");
    if (mlen > FUZZ_MEMO_MSG_MAX)
        return real(sig, siglen_p, m, mlen, sk);
    k = (struct fuzz_memo_key)FUZZ_MEMO_KEY_INIT;
    fuzz_memo_key_add(&k, sk, 64);
    fuzz_memo_key_add(&k, m, (size_t)mlen);
    const struct fuzz_memo_slot *s = fuzz_memo_find(&fuzz_memo.sign, &k);
    if (s != NULL) {
        if (fuzz_memo_checking()) {
            uint8_t want[64];
            int rc = real(want, NULL, m, mlen, sk);
            fuzz_memo_check("crypto_sign_detached", s->rc, rc, s->out, want, 64);
        }
        memcpy(sig, s->out, 64);
        if (siglen_p)
            *siglen_p = 64;
        return s->rc;
    }
    unsigned long long siglen = 0;
    int rc = real(sig, &siglen, m, mlen, sk);
    if (siglen_p)
        *siglen_p = siglen;
    if (siglen == 64)
        fuzz_memo_put(&fuzz_memo.sign, &k, sig, 64, rc);
    return rc;
}

FUZZ_MEMO_FN int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                             unsigned long long mlen, const unsigned char *pk)
{
    static int (*real)(const unsigned char *, const unsigned char *, unsigned long long,
                       const unsigned char *);
    static struct fuzz_memo_key k;
    if (real == NULL)
        real = fuzz_memo_real("crypto_sign_verify_detached");
    if (mlen > FUZZ_MEMO_MSG_MAX)
        return real(sig, m, mlen, pk);
    k = (struct fuzz_memo_key)FUZZ_MEMO_KEY_INIT;
    fuzz_memo_key_add(&k, sig, 64);
    fuzz_memo_key_add(&k, pk, 32);
    fuzz_memo_key_add(&k, m, (size_t)mlen);
    const struct fuzz_memo_slot *s = fuzz_memo_find(&fuzz_memo.verify, &k);
    if (s != NULL) {
        if (fuzz_memo_checking())
            fuzz_memo_check("crypto_sign_verify_detached", s->rc, real(sig, m, mlen, pk), NULL,
                            NULL, 0);
        return s->rc;
    }
    int rc = real(sig, m, mlen, pk);
    fuzz_memo_put(&fuzz_memo.verify, &k, NULL, 0, rc);
    return rc;
}

#endif
