/* Peer ids: text round trips, the CID form (peer-ids.md examples), sha256
 * ("Qm…") ids, and text or bytes that are not peer ids. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec/base58.h"
#include "codec/multibase.h"
#include "crypto/key.h"
#include "crypto/peerid.h"

static const char ED_ID[] = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
static const char ED_CID[] = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";
static const char SECP_ID[] = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";
/* The spec's sha256 example, in both text forms (peer-ids.md "Decoding"). */
static const char SHA_ID[] = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
static const char SHA_CID[] = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";
/* The ECDSA and RSA test vectors' ids. */
static const char ECDSA_ID[] = "QmVMT29id3TUASyfZZ6k9hmNyc2nYabCo4uMSpDw4zrgDk";
static const char ECDSA_CID[] = "bafzbeidigywdclqvl5hxfefwp5onbffcfife7pza57mmfb4tiqmtkdjw64";
static const char RSA_ID[] = "QmaeANgBs1DTSxWSrPPtobgQuxW8XTfsS4ydbK4rCHzqxG";
static const char RSA_CID[] = "bafzbeifwzcumbiyql7bhv7fe7mixg6i7aohegq75k234m63bnw6dbicmzu";

static const uint8_t ED_PUB[32] = {
    0x1e, 0xd1, 0xe8, 0xfa, 0xe2, 0xc4, 0xa1, 0x44, 0xb8, 0xbe, 0x8f, 0xd4, 0xb4, 0x7b, 0xf3, 0xd3,
    0xb3, 0x4b, 0x87, 0x1c, 0x3c, 0xac, 0xf6, 0x01, 0x0f, 0x0e, 0x42, 0xd4, 0x74, 0xfc, 0xe2, 0x7e,
};

static int parse(struct peer_id *id, const char *s) { return peerid_from_text(id, s, strlen(s)); }

static void text_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        struct privkey sk;
        struct pubkey pk;
        struct peer_id id, back;
        char text[PEERID_TEXT_MAX], cid[PEERID_CID_TEXT_MAX];
        privkey_generate(&sk);
        privkey_public(&sk, &pk);
        assert_int_equal(peerid_from_pubkey(&id, &pk), 0);
        int n = peerid_to_text(&id, text, sizeof text);
        assert_true(n > 0);
        assert_int_equal(strncmp(text, "12D3KooW", 8), 0);
        assert_int_equal(peerid_from_text(&back, text, (size_t)n), 0);
        assert_true(peerid_eq(&id, &back));
        n = peerid_to_cid_text(&id, cid, sizeof cid);
        assert_true(n > 0);
        assert_int_equal(peerid_from_text(&back, cid, (size_t)n), 0);
        assert_true(peerid_eq(&id, &back));
        /* The key comes back out of the id. */
        struct pubkey k2;
        assert_int_equal(peerid_pubkey(&id, &k2), 0);
        assert_int_equal(k2.type, KEY_ED25519);
        assert_memory_equal(k2.data, pk.data, 32);
        privkey_wipe(&sk);
    }
}

static void ed25519_vector_cid(void **state)
{
    (void)state;
    struct pubkey pk = {.type = KEY_ED25519, .len = 32};
    memcpy(pk.data, ED_PUB, 32);
    struct peer_id id, a, b;
    assert_int_equal(peerid_from_pubkey(&id, &pk), 0);
    assert_int_equal(id.len, 38);
    assert_memory_equal(id.b, "\x00\x24\x08\x01\x12\x20", 6);

    assert_int_equal(parse(&a, ED_ID), 0);
    assert_int_equal(parse(&b, ED_CID), 0);
    assert_true(peerid_eq(&a, &id));
    assert_true(peerid_eq(&b, &id));

    char text[PEERID_TEXT_MAX], cid[PEERID_CID_TEXT_MAX];
    assert_int_equal(peerid_to_text(&b, text, sizeof text), (int)strlen(ED_ID));
    assert_string_equal(text, ED_ID);
    assert_int_equal(peerid_to_cid_text(&a, cid, sizeof cid), (int)strlen(ED_CID));
    assert_string_equal(cid, ED_CID);
    /* Short output buffers are reported, not overrun. */
    assert_int_equal(peerid_to_text(&a, text, strlen(ED_ID)), -1);
    assert_int_equal(peerid_to_cid_text(&a, cid, strlen(ED_CID)), -1);

    /* Other multibases of the same CID: base58btc ('z') and base16 ('f'). */
    uint8_t raw[2 + PEERID_MAX];
    raw[0] = 0x01;
    raw[1] = 0x72;
    memcpy(raw + 2, id.b, id.len);
    char alt[160];
    assert_true(multibase_encode('z', raw, id.len + 2u, alt, sizeof alt) > 0);
    assert_int_equal(parse(&b, alt), 0);
    assert_true(peerid_eq(&b, &id));
    assert_true(multibase_encode('f', raw, id.len + 2u, alt, sizeof alt) > 0);
    assert_int_equal(parse(&b, alt), 0);
    assert_true(peerid_eq(&b, &id));

    /* secp256k1 vector id carries its key. */
    struct pubkey k;
    assert_int_equal(parse(&a, SECP_ID), 0);
    assert_int_equal(a.len, 39);
    assert_int_equal(peerid_pubkey(&a, &k), 0);
    assert_int_equal(k.type, KEY_SECP256K1);
    assert_int_equal(k.len, 33);
}

static void check_sha_pair(const char *legacy, const char *cidtext)
{
    struct peer_id a, b;
    char text[PEERID_TEXT_MAX], cid[PEERID_CID_TEXT_MAX];
    assert_int_equal(parse(&a, legacy), 0);
    assert_int_equal(a.len, 34);
    assert_int_equal(a.b[0], 0x12);
    assert_int_equal(a.b[1], 0x20);
    assert_int_equal(parse(&b, cidtext), 0);
    assert_true(peerid_eq(&a, &b));
    assert_int_equal(peerid_to_text(&b, text, sizeof text), (int)strlen(legacy));
    assert_string_equal(text, legacy);
    assert_int_equal(peerid_to_cid_text(&a, cid, sizeof cid), (int)strlen(cidtext));
    assert_string_equal(cid, cidtext);
    /* A hashed id does not contain its key. */
    struct pubkey k;
    assert_int_equal(peerid_pubkey(&a, &k), -1);
}

static void sha256_ids(void **state)
{
    (void)state;
    check_sha_pair(SHA_ID, SHA_CID);
    check_sha_pair(ECDSA_ID, ECDSA_CID);
    check_sha_pair(RSA_ID, RSA_CID);
}

static void invalid_text(void **state)
{
    (void)state;
    struct peer_id id;
    const char *bad[] = {
        "",
        "1",
        "Qm",
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p",   /* one char short */
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pqq", /* one char long */
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0",  /* '0' not base58 */
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pl",  /* 'l' not base58 */
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",         /* short digest */
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5NN",       /* long digest */
        "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx", /* cut CID */
        "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe=",
        "xafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe", /* unknown base */
        "b",
        " 12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq ",
        "Ab", /* neither a bare multihash nor a known multibase */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(&id, bad[i]) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Embedded NUL and absurd lengths. */
    assert_int_equal(peerid_from_text(&id, "12D3\0KooW", 9), -1);
    char longtext[400];
    memset(longtext, 'z', sizeof longtext);
    assert_int_equal(peerid_from_text(&id, longtext, sizeof longtext), -1);
    assert_int_equal(peerid_from_text(&id, NULL, 0), -1);

    /* CIDs with the wrong version or codec (dag-pb 0x70) are not peer ids. */
    struct peer_id good;
    assert_int_equal(parse(&good, SHA_ID), 0);
    uint8_t raw[2 + PEERID_MAX];
    char text[160];
    memcpy(raw + 2, good.b, good.len);
    raw[0] = 0x01;
    raw[1] = 0x70;
    assert_true(multibase_encode('b', raw, good.len + 2u, text, sizeof text) > 0);
    assert_int_equal(parse(&id, text), -1);
    raw[0] = 0x02;
    raw[1] = 0x72;
    assert_true(multibase_encode('b', raw, good.len + 2u, text, sizeof text) > 0);
    assert_int_equal(parse(&id, text), -1);
    /* A bare multihash behind a multibase prefix is not a CID (no version
     * or codec). */
    assert_true(multibase_encode('z', good.b, good.len, text, sizeof text) > 0);
    assert_int_equal(parse(&id, text), -1);
}

static void invalid_bytes(void **state)
{
    (void)state;
    struct peer_id id, good;
    assert_int_equal(parse(&good, ED_ID), 0);
    uint8_t b[PEERID_MAX + 8];

    assert_int_equal(peerid_from_bytes(&id, good.b, good.len), 0);
    assert_int_equal(peerid_from_bytes(&id, good.b, good.len - 1u), -1);
    assert_int_equal(peerid_from_bytes(&id, good.b, 0), -1);
    memcpy(b, good.b, good.len);
    b[good.len] = 0;
    assert_int_equal(peerid_from_bytes(&id, b, good.len + 1u), -1); /* trailing byte */
    b[0] = 0x13; /* sha2-512 code with an identity-sized body */
    assert_int_equal(peerid_from_bytes(&id, b, good.len), -1);
    /* Identity multihash of something that is not a key we accept. */
    memcpy(b, good.b, good.len);
    b[3] = 0x05; /* key type 5 */
    assert_int_equal(peerid_from_bytes(&id, b, good.len), -1);
    /* An identity hash of a non-canonical encoding (Data before Type) of a
     * valid key: it could never equal a derived id. */
    b[0] = 0x00;
    b[1] = 0x24;
    b[2] = 0x12;
    b[3] = 0x20;
    memcpy(b + 4, ED_PUB, 32);
    b[36] = 0x08;
    b[37] = 0x01;
    assert_int_equal(peerid_from_bytes(&id, b, 38), -1);
    /* Non-minimal varint length. */
    memcpy(b, good.b, good.len);
    uint8_t nm[PEERID_MAX + 1];
    nm[0] = 0x00;
    nm[1] = 0xa4;
    nm[2] = 0x00;
    memcpy(nm + 3, good.b + 2, good.len - 2u);
    assert_int_equal(peerid_from_bytes(&id, nm, good.len + 1u), -1);
    /* sha256 multihash with a wrong length field. */
    struct peer_id sha;
    assert_int_equal(parse(&sha, SHA_ID), 0);
    memcpy(b, sha.b, sha.len);
    b[1] = 0x1f;
    assert_int_equal(peerid_from_bytes(&id, b, sha.len), -1);
    assert_int_equal(peerid_from_bytes(&id, b, PEERID_MAX + 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_round_trip),
        cmocka_unit_test(ed25519_vector_cid),
        cmocka_unit_test(sha256_ids),
        cmocka_unit_test(invalid_text),
        cmocka_unit_test(invalid_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
