/* libFuzzer target for the Noise handshake. The first byte picks a mode:
 *   0  responder: byte 1 = length of msg1, msg1, then msg3 = the rest
 *   1  initiator: the rest is msg2
 *   2  our initiator sends the rest (<= 256 bytes) as its handshake payload
 *      to our responder, so payload decoding is reached past the AEAD
 *   3  as 2 in the other direction, the rest appended to a valid Ed25519
 *      key and signature (extensions and unknown fields after a good start)
 *   4  the rest opened as a transport message after a real handshake
 * Identity keys come from a fixed seed, and libsodium's randomness (static
 * and ephemeral keys) restarts with each input (fuzz_rng.h), so an input
 * runs the same way alone or after others. What does not depend on the
 * input is made once per process: the two identities (Ed25519 key, static
 * key, signed payload; copied for each input, which may change a payload)
 * and, for mode 4, the receiving cipher of a completed handshake (copied
 * for each input: the same handshake would otherwise be run every time).
 * Modes 0 to 3 are crypto-bound by nature: every input runs the X25519 and
 * Ed25519 operations of the handshake messages it drives; those that are
 * the same as for an earlier input (in modes 2 and 3 all of them: only the
 * payload changes) are answered from fuzz_memo.h. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "noise/noise.h"
#include "fuzz_memo.h"
#include "fuzz_rng.h"

/* Made once (LLVMFuzzerInitialize). */
static struct {
    struct noise_identity a, b; /* initiator, responder */
    struct noise_cipher rx;     /* mode 4: the responder's, after a handshake */
} fuzz_once;

static void fuzz_identity(struct noise_identity *ni, uint8_t seed_byte)
{
    struct privkey k;
    uint8_t seed[32], pk[32];
    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(pk, k.sk, seed);
    noise_identity_init(ni, &k);
    privkey_wipe(&k);
}

/* Feeds one framed message from src's output to hs; the frame is ours, so its
 * length is trusted. */
static enum noise_result fuzz_deliver(struct buf *src, struct noise_hs *hs, struct buf *out)
{
    if (buf_size(src) < 2)
        return NOISE_FAILED;
    const uint8_t *p = buf_head(src);
    size_t n = (size_t)p[0] << 8 | p[1];
    if (buf_size(src) < 2 + n)
        __builtin_trap();
    enum noise_result r = noise_hs_read(hs, p + 2, n, out);
    buf_consume(src, 2 + n);
    return r;
}

/* Our initiator against our responder with the given identities; true
 * when both completed (and split). With rx, the responder's receiving
 * cipher. */
static bool fuzz_pair(const struct noise_identity *a, const struct noise_identity *b,
                      struct noise_cipher *rx)
{
    struct noise_hs i, r;
    struct buf io = BUF_INIT, ro = BUF_INIT;
    bool done = false;
    noise_hs_init(&i, true, a, &io);
    noise_hs_init(&r, false, b, &ro);
    if (fuzz_deliver(&io, &r, &ro) == NOISE_AGAIN && fuzz_deliver(&ro, &i, &io) == NOISE_DONE &&
        fuzz_deliver(&io, &r, &ro) == NOISE_DONE) {
        struct noise_cipher tx, own_rx;
        noise_hs_split(&r, &tx, rx ? rx : &own_rx);
        done = true;
    }
    noise_hs_wipe(&i);
    noise_hs_wipe(&r);
    buf_free(&io);
    buf_free(&ro);
    return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fuzz_rng_install() != 0)
        __builtin_trap();
    fuzz_rng_reset();
    fuzz_identity(&fuzz_once.a, 1);
    fuzz_identity(&fuzz_once.b, 2);
    if (!fuzz_pair(&fuzz_once.a, &fuzz_once.b, &fuzz_once.rx))
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noise_identity a, b;
    struct noise_hs hs;
    struct buf out = BUF_INIT;

    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 5;
    data++;
    size--;
    fuzz_rng_reset();
    a = fuzz_once.a;
    b = fuzz_once.b;

    switch (mode) {
    case 0: {
        if (size < 1)
            break;
        size_t l1 = data[0];
        if (l1 > size - 1)
            l1 = size - 1;
        noise_hs_init(&hs, false, &b, &out);
        if (noise_hs_read(&hs, data + 1, l1, &out) == NOISE_AGAIN) {
            const uint8_t *m3 = data + 1 + l1;
            noise_hs_read(&hs, m3, size - 1 - l1, &out);
        }
        noise_hs_wipe(&hs);
        break;
    }
    case 1:
        noise_hs_init(&hs, true, &a, &out);
        noise_hs_read(&hs, data, size, &out);
        noise_hs_wipe(&hs);
        break;
    case 2:
        if (size > sizeof a.payload)
            size = sizeof a.payload;
        memcpy(a.payload, data, size);
        a.payload_len = size;
        fuzz_pair(&a, &b, NULL);
        break;
    case 3:
        if (size > sizeof b.payload - b.payload_len)
            size = sizeof b.payload - b.payload_len;
        memcpy(b.payload + b.payload_len, data, size);
        b.payload_len += size;
        fuzz_pair(&a, &b, NULL);
        break;
    default: {
        struct noise_cipher rx = fuzz_once.rx;
        uint8_t out[NOISE_MAX_MSG];
        if (size >= NOISE_TAG_LEN && size <= NOISE_MAX_MSG && noise_open(&rx, data, size, out) == 0)
            __builtin_trap(); /* a forgery opened */
        break;
    }
    }
    noise_identity_wipe(&a);
    noise_identity_wipe(&b);
    buf_free(&out);
    return 0;
}
