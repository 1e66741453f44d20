/* base58btc and multibase: published vectors, leading zeros, round trips,
 * strict rejection of bad text, exact output capacities. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "codec/base58.h"
#include "codec/multibase.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

struct b58_vec {
    const char *hex, *text;
};

/* Bitcoin / draft-msporny-base58 vectors plus the spec's Ed25519 peer id. */
static const struct b58_vec b58_vectors[] = {
    {"", ""},
    {"00", "1"},
    {"0000", "11"},
    {"61", "2g"},
    {"626262", "a3gV"},
    {"636363", "aPEr"},
    {"516b6fcd0f", "ABnLTmg"},
    {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
    {"572e4794", "3EFU7m"},
    {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
    {"10c8511e", "Rt5zm"},
    {"00000000000000000000", "1111111111"},
    {"0000287fb4cd", "11233QC4"},
    {"48656c6c6f20576f726c6421", "2NEpo7TZRRrLZSi2U"},
    {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
    {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
    {"0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
     "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"},
};

static void base58_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b58_vectors / sizeof b58_vectors[0]; i++) {
        uint8_t bin[64], back[64];
        char text[128];
        size_t n = unhex(b58_vectors[i].hex, bin);
        size_t tn = strlen(b58_vectors[i].text);
        assert_int_equal(base58_encode(bin, n, text, sizeof text), (int)tn);
        assert_string_equal(text, b58_vectors[i].text);
        assert_int_equal(base58_decode(b58_vectors[i].text, tn, back, sizeof back), (int)n);
        if (n)
            assert_memory_equal(back, bin, n);
    }
}

static void base58_empty(void **state)
{
    (void)state;
    char text[4] = "xyz";
    uint8_t b[1];
    assert_int_equal(base58_encode((const uint8_t *)"", 0, text, 1), 0);
    assert_string_equal(text, "");
    assert_int_equal(base58_decode("", 0, b, 0), 0);
    assert_int_equal(base58_encode((const uint8_t *)"", 0, text, 0), -1); /* no room for NUL */
}

static void base58_bad_chars(void **state)
{
    (void)state;
    uint8_t b[32];
    static const struct {
        const char *t;
        size_t n;
    } bad[] = {
        {"0", 1}, {"O", 1}, {"I", 1}, {"l", 1}, {"abc0", 4}, {"12D3 Koo", 8}, {"+", 1},
        {"\xc3\xa9", 2}, {"1\0002", 3}, /* an embedded NUL is a bad character too */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(base58_decode(bad[i].t, bad[i].n, b, sizeof b), -1);
    /* Only the first n characters are read. */
    assert_int_equal(base58_decode("2g0", 2, b, sizeof b), 1);
    assert_int_equal(b[0], 0x61);
}

static void base58_capacities(void **state)
{
    (void)state;
    const uint8_t in[] = {0, 0, 0x28, 0x7f, 0xb4, 0xcd}; /* "11233QC4" */
    char text[16];
    uint8_t b[8];
    for (size_t cap = 0; cap < 9; cap++) {
        memset(text, 'x', sizeof text);
        assert_int_equal(base58_encode(in, sizeof in, text, cap), -1);
        assert_int_equal(text[cap], 'x'); /* nothing written past cap */
    }
    assert_int_equal(base58_encode(in, sizeof in, text, 9), 8);
    assert_string_equal(text, "11233QC4");
    for (size_t cap = 0; cap < sizeof in; cap++) {
        memset(b, 0xee, sizeof b);
        assert_int_equal(base58_decode("11233QC4", 8, b, cap), -1);
        assert_int_equal(b[cap], 0xee);
    }
    assert_int_equal(base58_decode("11233QC4", 8, b, sizeof in), (int)sizeof in);
    assert_memory_equal(b, in, sizeof in);
}

static void base58_roundtrip_many(void **state)
{
    (void)state;
    uint8_t in[80], back[80];
    char text[160];
    uint32_t x = 12345;
    for (size_t len = 0; len <= sizeof in; len++) {
        for (int rep = 0; rep < 8; rep++) {
            for (size_t i = 0; i < len; i++) {
                x = x * 1103515245u + 12345u;
                in[i] = (uint8_t)(x >> 24);
            }
            if (len && rep < 3)
                memset(in, 0, (size_t)rep + 1 < len ? (size_t)rep + 1 : len);
            int tn = base58_encode(in, len, text, sizeof text);
            assert_true(tn >= 0);
            assert_int_equal(base58_decode(text, (size_t)tn, back, sizeof back), (int)len);
            if (len)
                assert_memory_equal(back, in, len);
        }
    }
}

struct mb_vec {
    char base;
    const char *text;
};

/* multibase spec test vectors for "yes mani !". */
static const struct mb_vec mb_vectors[] = {
    {'f', "f796573206d616e692021"},
    {'F', "F796573206D616E692021"},
    {'b', "bpfsxgidnmfxgsibb"},
    {'B', "BPFSXGIDNMFXGSIBB"},
    {'z', "z7paNL19xttacUY"},
    {'m', "meWVzIG1hbmkgIQ"},
    {'u', "ueWVzIG1hbmkgIQ"},
};

static void multibase_vectors(void **state)
{
    (void)state;
    const char *msg = "yes mani !";
    for (size_t i = 0; i < sizeof mb_vectors / sizeof mb_vectors[0]; i++) {
        char text[64];
        uint8_t b[32];
        size_t tn = strlen(mb_vectors[i].text);
        assert_int_equal(multibase_decode(mb_vectors[i].text, tn, b, sizeof b), (int)strlen(msg));
        assert_memory_equal(b, msg, strlen(msg));
        assert_int_equal(multibase_encode(mb_vectors[i].base, (const uint8_t *)msg, strlen(msg),
                                          text, sizeof text), (int)tn);
        assert_string_equal(text, mb_vectors[i].text);
        /* Exact capacity: text plus NUL fits, one less does not. */
        assert_int_equal(multibase_encode(mb_vectors[i].base, (const uint8_t *)msg, strlen(msg),
                                          text, tn + 1), (int)tn);
        assert_int_equal(multibase_encode(mb_vectors[i].base, (const uint8_t *)msg, strlen(msg),
                                          text, tn), -1);
        assert_int_equal(multibase_decode(mb_vectors[i].text, tn, b, strlen(msg) - 1), -1);
    }
}

static void multibase_peer_cid(void **state)
{
    (void)state;
    const char *cid = "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";
    uint8_t b[64], want[64];
    size_t wn = unhex("01720024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
                      want);
    assert_int_equal(multibase_decode(cid, strlen(cid), b, sizeof b), (int)wn);
    assert_memory_equal(b, want, wn);
    char text[128];
    assert_int_equal(multibase_encode('b', want, wn, text, sizeof text), (int)strlen(cid));
    assert_string_equal(text, cid);
}

static void multibase_rfc4648(void **state)
{
    (void)state;
    /* RFC 4648 §10 vectors, padded and unpadded. */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const b32[] = {"", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=",
                                      "MZXW6YTB", "MZXW6YTBOI======"};
    static const char *const b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char t[32];
        uint8_t b[16];
        size_t n = strlen(in[i]);
        assert_int_equal(multibase_base32_encode(multibase_b32_upper, true, (const uint8_t *)in[i],
                                                 n, t, sizeof t), (int)strlen(b32[i]));
        assert_string_equal(t, b32[i]);
        assert_int_equal(multibase_base32_decode(multibase_b32_upper, true, b32[i], strlen(b32[i]),
                                                 b, sizeof b), (int)n);
        assert_memory_equal(b, in[i], n);
        assert_int_equal(multibase_base64_encode(multibase_b64_std, true, (const uint8_t *)in[i],
                                                 n, t, sizeof t), (int)strlen(b64[i]));
        assert_string_equal(t, b64[i]);
        assert_int_equal(multibase_base64_decode(multibase_b64_std, true, b64[i], strlen(b64[i]),
                                                 b, sizeof b), (int)n);
        assert_memory_equal(b, in[i], n);
        /* Unpadded: same text without '='. */
        size_t un = strcspn(b32[i], "=");
        assert_int_equal(multibase_base32_decode(multibase_b32_upper, false, b32[i], un, b,
                                                 sizeof b), (int)n);
        un = strcspn(b64[i], "=");
        assert_int_equal(multibase_base64_decode(multibase_b64_std, false, b64[i], un, b,
                                                 sizeof b), (int)n);
    }
}

static void multibase_invalid(void **state)
{
    (void)state;
    uint8_t b[64];
    const char *bad[] = {
        "",                     /* no prefix */
        "x666f6f",              /* unknown prefix */
        "f666f6",               /* odd hex */
        "f66zz",                /* bad hex digit */
        "bpfsxgidnmfxgsibb=",   /* 'b' is unpadded */
        "bPFSXGIDNMFXGSIBB",    /* case must match the prefix */
        "BPFSXGIDNMFXGSIBb",
        "bpfsxgidnmfxgsibba",   /* 1 char left over: no byte ends there */
        "bpfsxgidnmfxgsibbaaa", /* 3 chars left over: likewise */
        "bmz",                  /* "f" is "bmy"; 'z' sets a trailing bit */
        "meWVzIG1hbmkgIQ==",    /* 'm' is unpadded */
        "meWVzIG1hbmkgIR",      /* non-zero trailing bits */
        "meWVzIG1hbmkgIQabc",   /* 1 char left over */
        "ueWVzIG1hbmkgI+",      /* '+' is not base64url */
        "meWVzIG1hbmkgI_",      /* '_' is not base64 */
        "z7paNL19xttac0Y",      /* '0' is not base58 */
        "f 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(multibase_decode(bad[i], strlen(bad[i]), b, sizeof b), -1);
    assert_int_equal(multibase_decode("bmy", 3, b, sizeof b), 1);
    assert_int_equal(b[0], 'f');
    assert_int_equal(multibase_decode("z", 1, b, sizeof b), 0);
    assert_int_equal(multibase_decode("b", 1, b, sizeof b), 0);
    /* Padding rules for the padded codecs. */
    assert_int_equal(multibase_base64_decode(multibase_b64_std, true, "Zg=", 3, b, sizeof b), -1);
    assert_int_equal(multibase_base64_decode(multibase_b64_std, true, "Z===", 4, b, sizeof b), -1);
    assert_int_equal(multibase_base64_decode(multibase_b64_std, true, "====", 4, b, sizeof b), -1);
    assert_int_equal(multibase_base64_decode(multibase_b64_std, true, "Zg=a", 4, b, sizeof b), -1);
    assert_int_equal(multibase_base64_decode(multibase_b64_std, true, "Zh==", 4, b, sizeof b), -1);
    assert_int_equal(multibase_base32_decode(multibase_b32_upper, true, "MY=====", 7, b, sizeof b), -1);
    assert_int_equal(multibase_base32_decode(multibase_b32_upper, true, "M=======", 8, b, sizeof b), -1);
    assert_int_equal(multibase_base32_decode(multibase_b32_upper, true, "MZX=====", 8, b, sizeof b), -1);
    assert_int_equal(multibase_base32_decode(multibase_b32_upper, true, "========", 8, b, sizeof b), -1);
}

static void multibase_roundtrip_all(void **state)
{
    (void)state;
    const char bases[] = {'b', 'B', 'z', 'f', 'F', 'm', 'u'};
    uint8_t in[70], back[70];
    char text[200];
    for (size_t bi = 0; bi < sizeof bases; bi++) {
        for (size_t len = 0; len <= sizeof in; len++) {
            for (size_t i = 0; i < len; i++)
                in[i] = (uint8_t)(i * 37 + len * 11 + bi);
            int tn = multibase_encode(bases[bi], in, len, text, sizeof text);
            assert_true(tn >= 1);
            assert_int_equal(text[0], bases[bi]);
            assert_int_equal(multibase_decode(text, (size_t)tn, back, sizeof back), (int)len);
            if (len)
                assert_memory_equal(back, in, len);
        }
    }
    assert_int_equal(multibase_encode('x', in, 3, text, sizeof text), -1);
    assert_int_equal(multibase_encode('u', in, 3, text, 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base58_vectors),
        cmocka_unit_test(base58_empty),
        cmocka_unit_test(base58_bad_chars),
        cmocka_unit_test(base58_capacities),
        cmocka_unit_test(base58_roundtrip_many),
        cmocka_unit_test(multibase_vectors),
        cmocka_unit_test(multibase_peer_cid),
        cmocka_unit_test(multibase_rfc4648),
        cmocka_unit_test(multibase_invalid),
        cmocka_unit_test(multibase_roundtrip_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
