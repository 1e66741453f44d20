/* WebSocket transport (ws.c, tls.c) without sockets: a client and a server
 * ws pumped into each other in chunks of every size - the upgrade, stream
 * bytes both ways, Close as end of stream, refusals of bad requests, the
 * frame size cap, and the same over TLS with a certificate made here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "host/ws.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define REQ(extra)                                                                              \
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" \
    "Sec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n" extra "\r\n"

struct side {
    struct ws *ws;
    struct buf out;      /* stream bytes to send */
    struct buf in;       /* stream bytes received */
    bool closing;
    int rc;              /* first non-OK ws_input/ws_output answer */
};

static void side_free(struct side *s)
{
    ws_free(s->ws);
    buf_free(&s->out);
    buf_free(&s->in);
}

/* Moves from's wire into to, `chunk` bytes per ws_input call. */
static bool pass(struct side *from, struct side *to, size_t chunk)
{
    struct buf *w = ws_wire(from->ws);
    bool moved = buf_size(w) > 0;
    while (buf_size(w)) {
        size_t n = buf_size(w) < chunk ? buf_size(w) : chunk;
        int r = ws_input(to->ws, buf_head(w), n, &to->in);
        buf_consume(w, n);
        if (r != WS_OK && to->rc == WS_OK)
            to->rc = r;
    }
    return moved;
}

static void pump(struct side *c, struct side *s, size_t chunk)
{
    for (int round = 0; round < 1000; round++) {
        int r;
        if ((r = ws_output(c->ws, &c->out, c->closing)) != WS_OK && c->rc == WS_OK)
            c->rc = r;
        if ((r = ws_output(s->ws, &s->out, s->closing)) != WS_OK && s->rc == WS_OK)
            s->rc = r;
        bool a = pass(c, s, chunk);
        bool b = pass(s, c, chunk);
        if (!a && !b)
            return;
    }
    fail_msg("pump did not settle");
}

static void fill(struct buf *b, size_t n, uint8_t seed)
{
    uint8_t *p = buf_reserve(b, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
    buf_commit(b, n);
}

static void check_fill(const struct buf *b, size_t n, uint8_t seed)
{
    assert_int_equal(buf_size(b), n);
    for (size_t i = 0; i < n; i++)
        if (buf_head(b)[i] != (uint8_t)(seed + i * 7 + (i >> 9)))
            fail_msg("byte %zu differs", i);
}

static void pair_new(struct ws_config *cfg, bool tls, struct side *c, struct side *s)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    memset(s, 0, sizeof(*s));
    c->ws = ws_client_new(cfg, "127.0.0.1", 1234, tls, "127.0.0.1", err, sizeof(err));
    s->ws = ws_server_new(cfg, tls, err, sizeof(err));
    if (c->ws == NULL || s->ws == NULL)
        fail_msg("%s", err);
}

/* Upgrade, then the client's and the server's bytes cross, whatever the
 * chunking of the wire. */
static void roundtrip(struct ws_config *cfg, bool tls, size_t chunk, size_t big)
{
    struct side c, s;
    pair_new(cfg, tls, &c, &s);
    fill(&s.out, big, 3);
    pump(&c, &s, chunk);
    assert_true(ws_is_open(c.ws));
    assert_true(ws_is_open(s.ws));
    /* The server's stream waits for the client's first bytes. */
    assert_int_equal(buf_size(&c.in), 0);
    assert_int_equal(buf_size(&s.out), big);

    fill(&c.out, 5, 9);
    pump(&c, &s, chunk);
    check_fill(&s.in, 5, 9);
    check_fill(&c.in, big, 3);
    fill(&c.out, big, 1);
    pump(&c, &s, chunk);
    buf_consume(&s.in, 5);
    check_fill(&s.in, big, 1);

    /* Close: the server sees the end of the stream, the client the answer. */
    c.closing = true;
    pump(&c, &s, chunk);
    assert_int_equal(s.rc, WS_EOF);
    assert_int_equal(c.rc, WS_EOF);
    side_free(&c);
    side_free(&s);
}

static void plain_roundtrip(void **state)
{
    (void)state;
    struct ws_config cfg = {0};
    static const size_t chunks[] = {1, 2, 3, 7, 100, 4096, 70000, SIZE_MAX};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
        roundtrip(&cfg, false, chunks[i], chunks[i] < 8 ? 20000 : 300000);
    ws_config_free(&cfg);
}

/* Feeds one request to a fresh server; returns its answer's status line. */
static int serve(struct ws_config *cfg, const char *req, size_t chunk, char *line, size_t cap)
{
    char err[256];
    struct ws *w = ws_server_new(cfg, false, err, sizeof(err));
    struct buf app = BUF_INIT;
    int rc = WS_OK;
    size_t n = strlen(req);
    for (size_t off = 0; off < n && rc == WS_OK; off += chunk)
        rc = ws_input(w, (const uint8_t *)req + off, n - off < chunk ? n - off : chunk, &app);
    struct buf *wire = ws_wire(w);
    size_t k = 0;
    while (k < buf_size(wire) && buf_head(wire)[k] != '\r' && k + 1 < cap)
        k++;
    memcpy(line, buf_head(wire), k);
    line[k] = '\0';
    if (rc == WS_OK && strstr((const char *)buf_head(wire), "Sec-WebSocket-Accept: " RFC_ACCEPT) == NULL)
        rc = 99; /* 101 without the RFC's answer */
    ws_free(w);
    buf_free(&app);
    return rc;
}

static void rfc_accept_any_split(void **state)
{
    (void)state;
    struct ws_config cfg = {0};
    char line[128];
    for (size_t chunk = 1; chunk < 40; chunk++) {
        assert_int_equal(serve(&cfg, REQ(""), chunk, line, sizeof(line)), WS_OK);
        assert_string_equal(line, "HTTP/1.1 101 Switching Protocols");
    }
}

static void refusals(void **state)
{
    (void)state;
    struct ws_config cfg = {0};
    char err[128], line[128];
    static const struct { const char *req; const char *status; } cases[] = {
        {"garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"POST / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
         "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAA\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Key: " RFC_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " RFC_KEY
         "\r\nSec-WebSocket-Version: 8\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {REQ("Origin: https://evil.example\r\n"), "HTTP/1.1 403 Forbidden"},
    };
    assert_int_equal(ws_config_allow_origin(&cfg, "https://app.example", err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(serve(&cfg, cases[i].req, SIZE_MAX, line, sizeof(line)), WS_ERROR);
        assert_string_equal(line, cases[i].status);
    }
    /* An allowed origin (any case), and no Origin at all, pass. */
    assert_int_equal(serve(&cfg, REQ("Origin: HTTPS://App.Example\r\n"), 5, line, sizeof(line)), WS_OK);
    assert_int_equal(serve(&cfg, REQ(""), 5, line, sizeof(line)), WS_OK);
    ws_config_free(&cfg);
}

static void header_cap(void **state)
{
    (void)state;
    struct ws_config cfg = {0};
    char line[128];
    size_t pad = WS_MAX_HEADER;
    char *req = malloc(pad + 64);
    int n = snprintf(req, 64, "GET / HTTP/1.1\r\nX-Pad: ");
    memset(req + n, 'a', pad);
    req[n + pad] = '\0';
    /* Refused once the cap is reached, however it is fed; never before. */
    assert_int_equal(serve(&cfg, req, 1000, line, sizeof(line)), WS_ERROR);
    assert_string_equal(line, "HTTP/1.1 431 Request Header Fields Too Large");
    free(req);
}

/* After an upgrade, feeds a hand-made masked frame header for `len` bytes
 * and `have` payload bytes. */
static int frame_of(size_t len, size_t have)
{
    char err[128];
    struct ws_config cfg = {0};
    struct ws *w = ws_server_new(&cfg, false, err, sizeof(err));
    struct buf app = BUF_INIT;
    assert_int_equal(ws_input(w, (const uint8_t *)REQ(""), strlen(REQ("")), &app), WS_OK);
    uint8_t *f = calloc(1, 14 + have);
    f[0] = 0x82;
    f[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++)
        f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    int rc = ws_input(w, f, 14 + have, &app);
    if (rc == WS_OK)
        assert_int_equal(buf_size(&app), have);
    free(f);
    ws_free(w);
    buf_free(&app);
    return rc;
}

static void frame_cap(void **state)
{
    (void)state;
    assert_int_equal(frame_of(WS_MAX_FRAME, WS_MAX_FRAME), WS_OK);
    assert_int_equal(frame_of(WS_MAX_FRAME + 1, 10), WS_ERROR);
    assert_int_equal(frame_of(UINT64_C(1) << 62, 10), WS_ERROR);
}

static void client_checks_answer(void **state)
{
    (void)state;
    struct ws_config cfg = {0};
    static const char *bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n", /* not the answer to our key */
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
        "nonsense",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128];
        struct ws *w = ws_client_new(&cfg, "::1", 80, false, "::1", err, sizeof(err));
        struct buf app = BUF_INIT;
        assert_int_equal(ws_output(w, &app, false), WS_OK);
        assert_non_null(strstr((const char *)buf_head(ws_wire(w)), "Host: [::1]:80\r\n"));
        assert_int_equal(ws_input(w, (const uint8_t *)bad[i], strlen(bad[i]), &app), WS_ERROR);
        ws_free(w);
        buf_free(&app);
    }
}

/* ---- TLS -------------------------------------------------------------- */

struct tls_files {
    char dir[64], cert[96], key[96];
};

/* A self-signed P-256 certificate for IP 127.0.0.1, written as PEM. */
static void make_cert(struct tls_files *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ws.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);

    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pk);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    static const char *const exts[][2] = {{"subjectAltName", "IP:127.0.0.1"},
                                          {"basicConstraints", "critical,CA:TRUE"}};
    for (size_t i = 0; i < 2; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *fc = fopen(f->cert, "w"), *fk = fopen(f->key, "w");
    assert_true(PEM_write_X509(fc, x) == 1);
    assert_true(PEM_write_PrivateKey(fk, pk, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(fc);
    fclose(fk);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void rm_cert(struct tls_files *f)
{
    unlink(f->cert);
    unlink(f->key);
    rmdir(f->dir);
}

static void tls_roundtrip(void **state)
{
    (void)state;
    struct tls_files f;
    struct ws_config cfg = {0};
    char err[256];

    make_cert(&f);
    assert_int_equal(tls_config_server(&cfg.tls, f.cert, f.key, err, sizeof(err)), 0);
    setenv("SSL_CERT_FILE", f.cert, 1); /* the client trusts exactly this certificate */
    static const size_t chunks[] = {1, 5, 1000, 17000, SIZE_MAX};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
        roundtrip(&cfg, true, chunks[i], chunks[i] < 8 ? 30000 : 300000);
    ws_config_free(&cfg);

    /* A client that trusts nothing refuses the certificate. */
    struct ws_config other = {0};
    assert_int_equal(tls_config_server(&other.tls, f.cert, f.key, err, sizeof(err)), 0);
    setenv("SSL_CERT_FILE", "/dev/null", 1);
    struct side c, s;
    pair_new(&other, true, &c, &s);
    pump(&c, &s, SIZE_MAX);
    assert_int_equal(c.rc, WS_ERROR);
    assert_false(ws_is_open(c.ws));
    assert_non_null(strstr(ws_error(c.ws), "certificate"));
    side_free(&c);
    side_free(&s);
    /* ... unless told not to check. */
    other.tls.insecure = true;
    pair_new(&other, true, &c, &s);
    pump(&c, &s, 100);
    assert_true(ws_is_open(c.ws));
    side_free(&c);
    side_free(&s);
    ws_config_free(&other);
    unsetenv("SSL_CERT_FILE");

    /* Wrong files are reported by name. */
    struct ws_config bad = {0};
    assert_int_equal(tls_config_server(&bad.tls, f.cert, "/nonexistent.pem", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent.pem"));
    ws_config_free(&bad);
    rm_cert(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_roundtrip),
        cmocka_unit_test(rfc_accept_any_split),
        cmocka_unit_test(refusals),
        cmocka_unit_test(header_cap),
        cmocka_unit_test(frame_cap),
        cmocka_unit_test(client_checks_answer),
        cmocka_unit_test(tls_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
