/* libFuzzer target for the crypto layer's parsers. Each input is tried as
 *   1. a signed Envelope (record_open),
 *   2. a PublicKey protobuf (pubkey_from_proto, then encode/id/verify),
 *   3. a binary and a text peer id, and a PrivateKey protobuf,
 *   4. a PeerRecord payload, wrapped in an envelope correctly signed by a
 *      fixed key — random bytes never carry a valid signature, so without
 *      this the payload decoder behind the signature check would go unfuzzed.
 * Crashes, sanitizer reports and broken invariants (abort) are findings.
 * Crypto-bound by nature: an input costs an Ed25519 signature (4), one to
 * three verifications and the key checks of pubkey_from_proto; only the
 * fixed key of 4 is derived once per process. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "crypto/record.h"
#include "envelope.pb-c.h"
#include "keys.pb-c.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The key that signs the payloads of fuzz_signed_payload (made once). */
static struct {
    struct privkey k;
    uint8_t pk[32];
} fuzz_signer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t seed[32] = "rendezvousd fuzz_envelope key!!";
    (void)argc;
    (void)argv;
    CHECK(sodium_init() >= 0);
    crypto_sign_seed_keypair(fuzz_signer.pk, fuzz_signer.k.sk, seed);
    return 0;
}

static void fuzz_envelope(const uint8_t *data, size_t size)
{
    struct peer_record rec;
    char err[128];
    if (record_open(&rec, data, size, err, sizeof err) == 0) {
        CHECK(rec.naddrs <= RECORD_MAX_ADDRS);
        for (size_t i = 0; i < rec.naddrs; i++)
            CHECK(rec.addrs[i].len > 0 && rec.addrs[i].len <= RECORD_MAX_ADDR_LEN);
        peer_record_free(&rec);
    } else {
        CHECK(err[0] != '\0');
        CHECK(rec.storage == NULL);
    }
}

static void fuzz_pubkey(const uint8_t *data, size_t size)
{
    struct pubkey k, k2;
    if (pubkey_from_proto(&k, data, size) != 0)
        return;
    /* The canonical encoding parses to the same key and is a fixed point. */
    uint8_t p[PUBKEY_PROTO_MAX], p2[PUBKEY_PROTO_MAX];
    int n = pubkey_to_proto(&k, p, sizeof p);
    CHECK(n > 0);
    CHECK(pubkey_from_proto(&k2, p, (size_t)n) == 0);
    CHECK(k2.type == k.type && k2.len == k.len && memcmp(k2.data, k.data, k.len) == 0);
    int n2 = pubkey_to_proto(&k2, p2, sizeof p2);
    CHECK(n2 == n && memcmp(p, p2, (size_t)n) == 0);

    struct peer_id id, back;
    char text[PEERID_TEXT_MAX], cid[PEERID_CID_TEXT_MAX];
    CHECK(peerid_from_pubkey(&id, &k) == 0);
    CHECK(peerid_from_bytes(&back, id.b, id.len) == 0 && peerid_eq(&id, &back));
    int tn = peerid_to_text(&id, text, sizeof text);
    CHECK(tn > 0);
    CHECK(peerid_from_text(&back, text, (size_t)tn) == 0 && peerid_eq(&id, &back));
    int cn = peerid_to_cid_text(&id, cid, sizeof cid);
    CHECK(cn > 0);
    CHECK(peerid_from_text(&back, cid, (size_t)cn) == 0 && peerid_eq(&id, &back));

    /* Garbage signatures must simply fail. */
    (void)pubkey_verify(&k, data, size, data, size < SIG_MAX ? size : SIG_MAX);
}

static void fuzz_ids(const uint8_t *data, size_t size)
{
    struct peer_id id, back;
    char text[PEERID_TEXT_MAX];
    if (peerid_from_bytes(&id, data, size) == 0) {
        int tn = peerid_to_text(&id, text, sizeof text);
        CHECK(tn > 0);
        CHECK(peerid_from_text(&back, text, (size_t)tn) == 0 && peerid_eq(&id, &back));
        struct pubkey k;
        (void)peerid_pubkey(&id, &k);
    }
    if (peerid_from_text(&id, (const char *)data, size) == 0) {
        CHECK(id.len > 0 && id.len <= PEERID_MAX);
        CHECK(peerid_from_bytes(&back, id.b, id.len) == 0);
    }
    struct privkey sk;
    if (privkey_from_proto(&sk, data, size) == 0)
        privkey_wipe(&sk);
}

static void fuzz_signed_payload(const uint8_t *data, size_t size)
{
    if (size > RECORD_MAX_ENVELOPE)
        return;
    static const uint8_t type[2] = {0x03, 0x01};
    static const char domain[] = "libp2p-peer-record";
    struct buf sb = BUF_INIT, env = BUF_INIT;
    buf_append_uvarint(&sb, sizeof domain - 1);
    buf_append(&sb, domain, sizeof domain - 1);
    buf_append_uvarint(&sb, sizeof type);
    buf_append(&sb, type, sizeof type);
    buf_append_uvarint(&sb, size);
    buf_append(&sb, data, size);
    uint8_t sig[64];
    privkey_sign(&fuzz_signer.k, buf_head(&sb), buf_size(&sb), sig);
    buf_free(&sb);

    Keys__PublicKey kp = KEYS__PUBLIC_KEY__INIT;
    kp.has_type = kp.has_data = 1;
    kp.type = KEYS__KEY_TYPE__Ed25519;
    kp.data.data = fuzz_signer.pk;
    kp.data.len = sizeof fuzz_signer.pk;
    Record__Envelope e = RECORD__ENVELOPE__INIT;
    e.public_key = &kp;
    e.has_payload_type = e.has_payload = e.has_signature = 1;
    e.payload_type.data = (uint8_t *)type;
    e.payload_type.len = sizeof type;
    e.payload.data = (uint8_t *)data;
    e.payload.len = size;
    e.signature.data = sig;
    e.signature.len = sizeof sig;
    size_t need = record__envelope__get_packed_size(&e);
    buf_commit(&env, record__envelope__pack(&e, buf_reserve(&env, need)));
    fuzz_envelope(buf_head(&env), buf_size(&env));
    buf_free(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_envelope(data, size);
    fuzz_pubkey(data, size);
    fuzz_ids(data, size);
    fuzz_signed_payload(data, size);
    return 0;
}
