/* Multiaddrs: WIRE.md §10 examples byte-exact, every protocol's text form,
 * peer ids in base58 and CID form, strict rejection of bad text and bad
 * binary, parse_dial and from_sockaddr. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "codec/multiaddr.h"

#define PEER_B58 "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define PEER_CID "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"
#define PEER_HEX "0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e"
#define PEER_QM "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
#define PEER_QM_HEX "12209dff3b17d74cf4d38a50d8b6383e92d181a10395a5e73a726dcccbd21bf6f0b9"

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

/* Parses text, checks the bytes, prints it back and checks the text. */
static void check(const char *text, const char *hex, const char *canonical)
{
    uint8_t bin[MULTIADDR_MAX], want[MULTIADDR_MAX];
    char out[MULTIADDR_TEXT_MAX], err[128] = "";
    int n = multiaddr_from_text(text, bin, sizeof bin, err, sizeof err);
    if (n < 0)
        fail_msg("%s: %s", text, err);
    if (hex) {
        size_t wn = unhex(hex, want, sizeof want);
        assert_int_equal(n, (int)wn);
        assert_memory_equal(bin, want, wn);
    }
    assert_int_equal(multiaddr_validate(bin, (size_t)n), 0);
    int tn = multiaddr_to_text(bin, (size_t)n, out, sizeof out);
    assert_true(tn > 0);
    assert_string_equal(out, canonical ? canonical : text);
    assert_int_equal(tn, (int)strlen(out));
}

static void check_bad_text(const char *text)
{
    uint8_t bin[MULTIADDR_MAX];
    char err[128] = "";
    int n = multiaddr_from_text(text, bin, sizeof bin, err, sizeof err);
    if (n >= 0)
        fail_msg("accepted bad text %s", text);
    assert_true(err[0] != '\0'); /* says why */
}

/* Heap copy of exactly n bytes so ASan catches any read past the end. */
static void check_bad_bin(const char *hex)
{
    uint8_t tmp[MULTIADDR_MAX + 8];
    size_t n = unhex(hex, tmp, sizeof tmp);
    uint8_t *b = malloc(n ? n : 1);
    char out[MULTIADDR_TEXT_MAX];
    struct ma_component c;
    size_t off = 0;
    int r;
    memcpy(b, tmp, n);
    if (multiaddr_validate(b, n) == 0)
        fail_msg("accepted bad binary %s", hex);
    assert_int_equal(multiaddr_to_text(b, n, out, sizeof out), -1);
    while ((r = multiaddr_next(b, n, &off, &c)) == 1)
        assert_true(off <= n);
    free(b);
}

static void spec_examples(void **state)
{
    (void)state;
    check("/ip4/127.0.0.1/udp/1234", "047f000001" "9102" "04d2", NULL);
    check("/ip4/127.0.0.1/tcp/4001/ws", "047f000001" "06" "0fa1" "dd03", NULL);
    check("/dns4/example.com/tcp/443/wss", "36" "0b" "6578616d706c652e636f6d" "06" "01bb" "de03", NULL);
    check("/ip4/1.2.3.4/tcp/443/tls/sni/example.com/ws",
          "0401020304" "0601bb" "c003" "c103" "0b" "6578616d706c652e636f6d" "dd03", NULL);
    check("/dns/example.com/tcp/443/tls/ws", NULL, NULL);
    check("/dns6/example.com/tcp/1", "37" "0b" "6578616d706c652e636f6d" "060001", NULL);
    check("/dnsaddr/bootstrap.libp2p.io", NULL, NULL);
    check("/ip4/0.0.0.0/tcp/0", "0400000000" "060000", NULL);
    check("/ip4/255.255.255.255/tcp/65535", "04ffffffff" "06ffff", NULL);
    check("/ip4/1.2.3.4/dccp/5/sctp/6", "0401020304" "210005" "84010006", NULL);
}

static void ip6_forms(void **state)
{
    (void)state;
    check("/ip6/::1/tcp/4001", "29" "00000000000000000000000000000001" "060fa1", NULL);
    check("/ip6/::/tcp/1", "29" "00000000000000000000000000000000" "060001", NULL);
    check("/ip6/0:0:0:0:0:0:0:1/tcp/1", NULL, "/ip6/::1/tcp/1");
    check("/ip6/2001:DB8::1", "29" "20010db8000000000000000000000001", "/ip6/2001:db8::1");
    check("/ip6/2001:db8:0:0:1:0:0:1", NULL, "/ip6/2001:db8::1:0:0:1");
    check("/ip6/2001:db8:0:1:1:1:1:1", NULL, NULL); /* one zero field stays */
    check("/ip6/2001:0db8:0000:0000:0000:ff00:0042:8329", NULL, "/ip6/2001:db8::ff00:42:8329");
    check("/ip6/::ffff:1.2.3.4/tcp/80", "29" "00000000000000000000ffff01020304" "060050", NULL);
    check("/ip6zone/eth0/ip6/fe80::1/tcp/80", "2a" "04" "65746830" "29"
          "fe800000000000000000000000000001" "060050", NULL);
    check("/ip6/fe80::1/ipcidr/64", NULL, NULL);
    check("/ip4/10.0.0.0/ipcidr/8", "040a000000" "2b08", NULL);
}

static void peer_ids(void **state)
{
    (void)state;
    check("/p2p/" PEER_B58, "a503" "26" PEER_HEX, NULL);
    /* The CID form names the same peer: same bytes, printed in base58. */
    check("/p2p/" PEER_CID, "a503" "26" PEER_HEX, "/p2p/" PEER_B58);
    check("/ipfs/" PEER_B58, "a503" "26" PEER_HEX, "/p2p/" PEER_B58);
    check("/ipfs/" PEER_CID, "a503" "26" PEER_HEX, "/p2p/" PEER_B58);
    check("/p2p/" PEER_QM, "a503" "22" PEER_QM_HEX, NULL);
    /* The CID in other multibases. */
    check("/p2p/BAFZAAJAIAEJCAHWR5D5OFRFBIS4L5D6UWR57HU5TJODRYPFM6YAQ6DSC2R2PZYT6",
          "a503" "26" PEER_HEX, "/p2p/" PEER_B58);
    check("/p2p/f0172" PEER_HEX, "a503" "26" PEER_HEX, "/p2p/" PEER_B58);
    check("/ip4/1.2.3.4/tcp/4001/p2p/" PEER_B58 "/p2p-circuit/p2p/" PEER_B58,
          "0401020304" "060fa1" "a50326" PEER_HEX "a202" "a50326" PEER_HEX, NULL);
    check("/ip4/1.2.3.4/tcp/4001/ipfs/" PEER_B58 "/p2p-circuit/p2p/" PEER_CID, NULL,
          "/ip4/1.2.3.4/tcp/4001/p2p/" PEER_B58 "/p2p-circuit/p2p/" PEER_B58);
}

static void webtransport_certhash(void **state)
{
    (void)state;
    const char *ch = "uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g";
    char text[256];
    snprintf(text, sizeof text, "/ip4/1.2.3.4/udp/443/quic-v1/webtransport/certhash/%s/certhash/%s",
             ch, ch);
    check(text, "0401020304" "910201bb" "cd03" "d103"
          "d203" "22" "1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
          "d203" "22" "1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2", NULL);
    /* Any multibase on input; 'u' on output. */
    check("/certhash/bciqmhk4p6e3sb2fnsbd52okgnm6is5hfslbpuob5ji4wa4kmv3ymj4q", NULL,
          "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g");
    check("/ip4/1.2.3.4/udp/1/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
          NULL, NULL);
}

static void http_path(void **state)
{
    (void)state;
    check("/dns/example.com/tcp/443/tls/http/http-path/api%2Fv0%2Flogin", NULL, NULL);
    check("/http-path/api%2Fv0%2Flogin", "e103" "0c" "6170692f76302f6c6f67696e", NULL);
    check("/http-path/a%2520space", "e103" "09" "612532307370616365", NULL);
    check("/http-path/tmp%2ffoo", NULL, "/http-path/tmp%2Ffoo");
    check("/http-path/.well-known%2Flibp2p", NULL, NULL);
    check("/http-path/a b", "e103" "03" "612062", "/http-path/a%20b");
    check("/http-path/%00%FF", "e103" "02" "00ff", NULL);
    check("/http-path/$&+:=@-._~", NULL, NULL);
    check("/ip4/1.2.3.4/tcp/80/http/p2p/" PEER_B58 "/http-path/x", NULL, NULL);
    check_bad_text("/http-path/");
    check_bad_text("/http-path/%");
    check_bad_text("/http-path/%2");
    check_bad_text("/http-path/%zz");
    check_bad_text("/http-path/%g0");
}

static void onion_garlic(void **state)
{
    (void)state;
    check("/onion/timaq4ygg2iegci7:1234", "bc03" "9a18087306369043091f" "04d2", NULL);
    check("/onion/TIMAQ4YGG2IEGCI7:80", NULL, "/onion/timaq4ygg2iegci7:80");
    check("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
          "bd03" "adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e303" "04d2", NULL);
    check_bad_text("/onion/timaq4ygg2iegci7:0");
    check_bad_text("/onion/timaq4ygg2iegci7");
    check_bad_text("/onion/timaq4ygg2iegci7:");
    check_bad_text("/onion/timaq4ygg2iegci7:65536");
    check_bad_text("/onion/timaq4ygg2iegci7:80:80");
    check_bad_text("/onion/timaq4ygg2iegci:80");
    check_bad_text("/onion/timaq4ygg2iegci77:80");
    check_bad_text("/onion/timaq4ygg2iegci1:80");
    check_bad_text("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyy:1234");
    check_bad_bin("bc03" "9a18087306369043091f" "0000"); /* port 0 */
    check_bad_bin("bc03" "9a18087306369043091f" "04");   /* truncated */

    /* garlic: build binaries and round-trip them through text. */
    uint8_t bin[600], back[600];
    char text[MULTIADDR_TEXT_MAX], err[128];
    size_t sizes[] = {386, 387, 388, 500};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = 0, len = sizes[k];
        bin[n++] = 0xbe;
        bin[n++] = 0x03;
        bin[n++] = (uint8_t)(0x80 | (len & 0x7f));
        bin[n++] = (uint8_t)(len >> 7);
        for (size_t i = 0; i < len; i++)
            bin[n++] = (uint8_t)(i * 7 + k);
        int tn = multiaddr_to_text(bin, n, text, sizeof text);
        assert_true(tn > 0);
        assert_true(strncmp(text, "/garlic64/", 10) == 0);
        assert_int_equal(multiaddr_from_text(text, back, sizeof back, err, sizeof err), (int)n);
        assert_memory_equal(back, bin, n);
    }
    check_bad_bin("be03" "03" "010203"); /* garlic64 under 386 bytes */
    size_t g32[] = {32, 35, 40};
    for (size_t k = 0; k < 3; k++) {
        size_t n = 0, len = g32[k];
        bin[n++] = 0xbf;
        bin[n++] = 0x03;
        bin[n++] = (uint8_t)len;
        for (size_t i = 0; i < len; i++)
            bin[n++] = (uint8_t)(i * 13 + k);
        int tn = multiaddr_to_text(bin, n, text, sizeof text);
        assert_true(tn > 0);
        assert_int_equal(multiaddr_from_text(text, back, sizeof back, err, sizeof err), (int)n);
        assert_memory_equal(back, bin, n);
    }
    check_bad_bin("bf03" "21" "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
}

static void other_protocols(void **state)
{
    (void)state;
    check("/unix/tmp/rdv.sock", "9003" "0d" "2f746d702f7264762e736f636b", NULL);
    check("/ip4/1.2.3.4/tcp/1/unix/a/b/c", NULL, NULL); /* a path swallows the rest */
    check("/memory/1234", "8906" "00000000000004d2", NULL);
    check("/memory/0", "8906" "0000000000000000", NULL);
    check("/memory/18446744073709551615", "8906" "ffffffffffffffff", NULL);
    check("/ip4/1.2.3.4/udp/1/quic-v1/webtransport/noise/tls/http/https/ws/wss/webrtc/"
          "webrtc-direct/p2p-circuit/p2p-websocket-star/p2p-webrtc-star/p2p-webrtc-direct/"
          "p2p-stardust/quic",
          "0401020304" "910200" "01" "cd03" "d103" "c603" "c003" "e003" "bb03" "dd03" "de03"
          "9902" "9802" "a202" "df03" "9302" "9402" "9502" "cc03", NULL);
    check("/sni/example.com", NULL, NULL);
    check("/dns/%41", NULL, NULL); /* names are not percent-decoded */
}

static void invalid_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "/", "//", "ip4/1.2.3.4", " /ip4/1.2.3.4", "/ip4", "/ip4/", "/ip4/1.2.3",
        "/ip4/1.2.3.256", "/ip4/01.2.3.4", "/ip4/1.2.3.4/", "/ip4/1.2.3.4//tcp/1",
        "/ip4/1.2.3.4 ", "/ip4/::1", "/ip6/1.2.3.4", "/ip6/::1%eth0", "/ip6/:::", "/ip6/1::2::3",
        "/tcp/65536", "/tcp/-1", "/tcp/+1", "/tcp/0080", "/tcp/1a", "/tcp/ 1", "/tcp",
        "/udp/99999999999999999999999", "/ipcidr/256", "/memory/18446744073709551616",
        "/memory/-1", "/foo/1", "/IP4/1.2.3.4", "/ws/extra", "/ws/", "/dns4/", "/dns4",
        "/ip6zone", "/sni", "/unix", "/unix/", "/unix/tmp/", "/p2p", "/p2p/",
        "/p2p/notbase58!", "/p2p/Qm", "/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",
        "/p2p/1", "/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p0",
        /* CIDs of something else than a key: dag-pb, and a CIDv0-looking 'z' */
        "/p2p/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
        "/p2p/xafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6",
        "/p2p/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt",
        "/certhash", "/certhash/", "/certhash/xyz", "/certhash/uAQ", "/certhash/u",
        "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8", "/garlic64/AAAA",
        "/garlic32/aaaa", "/onion3/x:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_bad_text(bad[i]);
    assert_int_equal(multiaddr_from_text(NULL, NULL, 0, NULL, 0), -1);

    /* Over the text limit. */
    char *big = malloc(MULTIADDR_TEXT_MAX + 16);
    strcpy(big, "/dns/");
    memset(big + 5, 'a', MULTIADDR_TEXT_MAX + 5);
    big[MULTIADDR_TEXT_MAX + 10] = '\0';
    check_bad_text(big);
    /* Under the text limit but over the binary one. */
    big[0] = '\0';
    for (int i = 0; i < 600; i++)
        strcat(big, "/ws");
    check_bad_text(big);
    free(big);
}

static void invalid_binary(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                            /* empty */
        "07",                          /* unknown code */
        "fe7f",                        /* unknown large code */
        "04",                          /* missing ip4 value */
        "047f00",                      /* truncated ip4 */
        "047f000001ff",                /* trailing garbage (truncated varint) */
        "047f00000107",                /* trailing unknown code */
        "0480",                        /* ... */
        "8400",                        /* non-minimal varint for code 4 */
        "a5",                          /* truncated code varint */
        "ffffffffffffffffff01",        /* 10-byte varint */
        "3505616263",                  /* V-length over the remaining bytes */
        "35ffffffffffffffff7f61",      /* enormous V-length */
        "3580",                        /* truncated length varint */
        "358000",                      /* non-minimal length varint */
        "3500",                        /* empty dns */
        "3503612f62",                  /* '/' in a name */
        "3503610062",                  /* NUL in a name */
        "2a00",                        /* empty ip6zone */
        "c10161c103",                  /* sni then truncated sni */
        "0600",                        /* truncated port */
        "2b",                          /* missing ipcidr */
        "890600000000",                /* truncated memory */
        "a50300",                      /* empty p2p */
        "a503021220",                  /* sha256 multihash with no digest */
        "a503031201ff",                /* sha256 with 1-byte digest */
        "a50304130200ff",              /* unknown multihash code 0x13 */
        "a50303000201",                /* identity length over the rest */
        "a5030400010102",              /* identity length under the rest */
        "d20300",                      /* empty certhash */
        "d203021205",                  /* certhash digest missing */
        "e10300",                      /* empty http-path */
        "900300",                      /* empty unix path */
        "90030161",                    /* relative unix path */
        "9003012f",                    /* unix path "/" */
        "9003032f612f",                /* unix path ending in '/' */
        "9003022f61060001",            /* something after a unix path */
        "bd0300",                      /* truncated onion3 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_bad_bin(bad[i]);

    /* identity peer id with a 43-byte "key": over the 42-byte inline limit */
    char hex[256] = "a5032d002b";
    for (int i = 0; i < 43; i++)
        strcat(hex, "ab");
    check_bad_bin(hex);

    /* MULTIADDR_MAX bytes of /ws is valid; 2 more bytes are not. */
    uint8_t *b = malloc(MULTIADDR_MAX + 2);
    for (size_t i = 0; i < MULTIADDR_MAX + 2; i += 2) {
        b[i] = 0xdd;
        b[i + 1] = 0x03;
    }
    assert_int_equal(multiaddr_validate(b, MULTIADDR_MAX), 0);
    assert_int_equal(multiaddr_validate(b, MULTIADDR_MAX + 2), -1);
    size_t off = 0;
    struct ma_component c;
    assert_int_equal(multiaddr_next(b, MULTIADDR_MAX + 2, &off, &c), -1);
    free(b);

    /* A valid binary whose text would exceed MULTIADDR_TEXT_MAX is invalid:
     * 700 bytes of http-path that all need %XX. */
    b = malloc(704);
    b[0] = 0xe1, b[1] = 0x03, b[2] = 0x80 | (700 & 0x7f), b[3] = 700 >> 7;
    memset(b + 4, '/', 700);
    assert_int_equal(multiaddr_validate(b, 704), -1);
    memset(b + 4, 'a', 700); /* plain text fits */
    assert_int_equal(multiaddr_validate(b, 704), 0);
    free(b);
}

static void capacities(void **state)
{
    (void)state;
    const char *text = "/ip4/127.0.0.1/tcp/4001/ws";
    uint8_t bin[16];
    char out[64], err[128];
    int n = multiaddr_from_text(text, bin, sizeof bin, err, sizeof err);
    assert_int_equal(n, 10);
    assert_int_equal(multiaddr_from_text(text, bin, 9, err, sizeof err), -1);
    assert_int_equal(multiaddr_from_text(text, bin, 10, NULL, 0), 10);
    size_t tl = strlen(text);
    memset(out, 'x', sizeof out);
    assert_int_equal(multiaddr_to_text(bin, 10, out, tl), -1);
    assert_int_equal(out[0], 'x'); /* nothing written on failure */
    assert_int_equal(multiaddr_to_text(bin, 10, out, tl + 1), (int)tl);
    assert_string_equal(out, text);
    assert_int_equal(multiaddr_to_text(bin, 10, out, 0), -1);
    /* Error text is cut, never overflowed. */
    char small[8];
    assert_int_equal(multiaddr_from_text("/nope/x", bin, sizeof bin, small, sizeof small), -1);
    assert_int_equal(strlen(small), 7);
}

static void iterate(void **state)
{
    (void)state;
    uint8_t bin[256];
    char err[128];
    int n = multiaddr_from_text("/ip4/1.2.3.4/tcp/4001/p2p/" PEER_B58 "/p2p-circuit", bin,
                                sizeof bin, err, sizeof err);
    assert_true(n > 0);
    struct ma_component c;
    size_t off = 0;
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 1);
    assert_int_equal(c.code, MA_IP4);
    assert_string_equal(c.name, "ip4");
    assert_int_equal(c.len, 4);
    assert_memory_equal(c.value, "\x01\x02\x03\x04", 4);
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 1);
    assert_int_equal(c.code, MA_TCP);
    assert_memory_equal(c.value, "\x0f\xa1", 2);
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 1);
    assert_int_equal(c.code, MA_P2P);
    assert_string_equal(c.name, "p2p");
    assert_int_equal(c.len, 38);
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 1);
    assert_int_equal(c.code, MA_P2P_CIRCUIT);
    assert_int_equal(c.len, 0);
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 0);
    assert_int_equal(off, (size_t)n);
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), 0);
    off = (size_t)n + 1;
    assert_int_equal(multiaddr_next(bin, (size_t)n, &off, &c), -1);
    /* A bad component after good ones. */
    const uint8_t part[] = {0x04, 1, 2, 3, 4, 0x07};
    off = 0;
    assert_int_equal(multiaddr_next(part, sizeof part, &off, &c), 1);
    assert_int_equal(multiaddr_next(part, sizeof part, &off, &c), -1);
}

static int dial(const char *text, struct ma_dial *d, char *err, size_t errlen)
{
    uint8_t bin[MULTIADDR_MAX];
    int n = multiaddr_from_text(text, bin, sizeof bin, err, errlen);
    assert_true(n > 0);
    return multiaddr_parse_dial(bin, (size_t)n, d, err, errlen);
}

static void parse_dial_ok(void **state)
{
    (void)state;
    struct ma_dial d;
    char err[128];
    uint8_t peer[64];
    size_t pn = unhex(PEER_HEX, peer, sizeof peer);

    assert_int_equal(dial("/ip4/1.2.3.4/tcp/4001", &d, err, sizeof err), 0);
    assert_string_equal(d.host, "1.2.3.4");
    assert_int_equal(d.family, AF_INET);
    assert_int_equal(d.port, 4001);
    assert_false(d.ws);
    assert_false(d.tls);
    assert_false(d.has_peer);

    assert_int_equal(dial("/ip6/::1/tcp/80/ws/p2p/" PEER_B58, &d, err, sizeof err), 0);
    assert_string_equal(d.host, "::1");
    assert_int_equal(d.family, AF_INET6);
    assert_int_equal(d.port, 80);
    assert_true(d.ws);
    assert_false(d.tls);
    assert_true(d.has_peer);
    assert_int_equal(d.peer_len, pn);
    assert_memory_equal(d.peer, peer, pn);

    assert_int_equal(dial("/dns4/example.com/tcp/443/wss", &d, err, sizeof err), 0);
    assert_string_equal(d.host, "example.com");
    assert_int_equal(d.family, AF_UNSPEC);
    assert_int_equal(d.port, 443);
    assert_true(d.ws);
    assert_true(d.tls);

    assert_int_equal(dial("/dns/example.com/tcp/443/tls/ws", &d, err, sizeof err), 0);
    assert_true(d.ws && d.tls);
    assert_int_equal(dial("/dns6/example.com/tcp/443/tls/ws/p2p/" PEER_CID, &d, err, sizeof err), 0);
    assert_true(d.ws && d.tls && d.has_peer);
    assert_memory_equal(d.peer, peer, pn);
    assert_int_equal(dial("/ip4/1.2.3.4/tcp/443/tls/sni/example.com/ws/p2p/" PEER_B58, &d, err,
                          sizeof err), 0);
    assert_string_equal(d.host, "1.2.3.4");
    assert_true(d.ws && d.tls && d.has_peer);
    assert_int_equal(dial("/ip4/1.2.3.4/tcp/1/p2p/" PEER_QM, &d, err, sizeof err), 0);
    assert_int_equal(d.peer_len, 34);
}

static void parse_dial_errors(void **state)
{
    (void)state;
    struct ma_dial d;
    char err[128];
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"/ip4/1.2.3.4/udp/1234/quic-v1", "unsupported transport: /udp"},
        {"/unix/tmp/x", "unsupported network: /unix"},
        {"/p2p/" PEER_B58, "unsupported network: /p2p"},
        {"/ip4/1.2.3.4", "missing transport"},
        {"/ip4/1.2.3.4/tcp/1/tls", "/tls must be followed by /ws"},
        {"/ip4/1.2.3.4/tcp/1/tls/sni/x", "/tls must be followed by /ws"},
        {"/ip4/1.2.3.4/tcp/1/tls/http", "/tls must be followed by /ws"},
        {"/ip4/1.2.3.4/tcp/1/ws/ws", "unsupported component: /ws"},
        {"/ip4/1.2.3.4/tcp/1/quic", "unsupported transport: /quic"},
        {"/ip4/1.2.3.4/tcp/1/p2p/" PEER_B58 "/p2p-circuit", "unsupported component: /p2p-circuit"},
        {"/ip4/1.2.3.4/tcp/1/p2p/" PEER_B58 "/p2p-circuit/p2p/" PEER_B58,
         "unsupported component: /p2p-circuit"},
        {"/ip4/1.2.3.4/tcp/1/ws/p2p/" PEER_B58 "/ws/ws/ws/ws/ws", "unsupported component: /ws"},
        {"/tcp/1", "unsupported network: /tcp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(dial(cases[i].text, &d, err, sizeof err), -1);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].text, err, cases[i].msg);
    }
    const uint8_t bad[] = {0x04, 1, 2};
    assert_int_equal(multiaddr_parse_dial(bad, sizeof bad, &d, err, sizeof err), -1);
    assert_string_equal(err, "invalid multiaddr");
    assert_int_equal(multiaddr_parse_dial(bad, 0, &d, NULL, 0), -1);

    /* A DNS name too long for d.host. */
    uint8_t bin[300];
    size_t n = 0;
    bin[n++] = 0x35;
    bin[n++] = 0x80 | (260 & 0x7f);
    bin[n++] = 260 >> 7;
    memset(bin + n, 'a', 260);
    n += 260;
    bin[n++] = 0x06, bin[n++] = 0, bin[n++] = 1;
    assert_int_equal(multiaddr_parse_dial(bin, n, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

static void from_sockaddr(void **state)
{
    (void)state;
    uint8_t bin[64];
    char text[128];
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(4001);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int n = multiaddr_from_sockaddr((struct sockaddr *)&sin, bin, sizeof bin);
    assert_int_equal(n, 8);
    assert_memory_equal(bin, "\x04\x7f\x00\x00\x01\x06\x0f\xa1", 8);
    assert_int_equal(multiaddr_from_sockaddr((struct sockaddr *)&sin, bin, 7), -1);
    assert_int_equal(multiaddr_from_sockaddr((struct sockaddr *)&sin, bin, 8), 8);

    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(443);
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    n = multiaddr_from_sockaddr((struct sockaddr *)&sin6, bin, sizeof bin);
    assert_int_equal(n, 20);
    assert_true(multiaddr_to_text(bin, (size_t)n, text, sizeof text) > 0);
    assert_string_equal(text, "/ip6/2001:db8::1/tcp/443");

    /* v4-mapped becomes /ip4. */
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
    n = multiaddr_from_sockaddr((struct sockaddr *)&sin6, bin, sizeof bin);
    assert_true(multiaddr_to_text(bin, (size_t)n, text, sizeof text) > 0);
    assert_string_equal(text, "/ip4/10.1.2.3/tcp/443");

    /* Link-local with a scope: /ip6zone first. */
    inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
    sin6.sin6_scope_id = 1;
    n = multiaddr_from_sockaddr((struct sockaddr *)&sin6, bin, sizeof bin);
    assert_true(n > 0);
    assert_int_equal(bin[0], 0x2a);
    assert_int_equal(multiaddr_validate(bin, (size_t)n), 0);
    assert_true(multiaddr_to_text(bin, (size_t)n, text, sizeof text) > 0);
    assert_non_null(strstr(text, "/ip6/fe80::1/tcp/443"));

    struct sockaddr sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNIX;
    assert_int_equal(multiaddr_from_sockaddr(&sa, bin, sizeof bin), -1);
    assert_int_equal(multiaddr_from_sockaddr(NULL, bin, sizeof bin), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_examples),
        cmocka_unit_test(ip6_forms),
        cmocka_unit_test(peer_ids),
        cmocka_unit_test(webtransport_certhash),
        cmocka_unit_test(http_path),
        cmocka_unit_test(onion_garlic),
        cmocka_unit_test(other_protocols),
        cmocka_unit_test(invalid_text),
        cmocka_unit_test(invalid_binary),
        cmocka_unit_test(capacities),
        cmocka_unit_test(iterate),
        cmocka_unit_test(parse_dial_ok),
        cmocka_unit_test(parse_dial_errors),
        cmocka_unit_test(from_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
