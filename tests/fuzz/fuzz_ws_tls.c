/* libFuzzer target for the /tls/ws branch of the WebSocket transport: a
 * server-side ws with TLS, as a /tls/ws listener makes it, with a
 * certificate made at start. A client built on tls.h completes a real TLS
 * handshake and the WebSocket upgrade in process; then the input drives
 * both directions through the records:
 *
 * Input: chunks [u16 BE header][bytes]; the header's top two bits pick
 * what the bytes are, the rest is the length:
 *   0: client application data (encrypted by the client, so the server's
 *      frame parser sees them in clear: masked frames, Close, ping...);
 *   1: raw bytes on the wire to the server (record layer garbage,
 *      truncated or replayed records);
 *   2: stream bytes the server sends (ws_output: framed and encrypted; the
 *      client must decrypt them);
 *   3: the client's close_notify.
 * If the first chunk is raw, no handshake happens: the bytes are the
 * server's first input (a fuzzed ClientHello). Checks: every server call
 * returns a known status, none is made once the server has ended (as
 * conn.c stops reading), and everything is freed per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/buf.h"
#include "host/tls.h"
#include "host/ws.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char upgrade_request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                      "Connection: Upgrade\r\n"
                                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                      "Sec-WebSocket-Version: 13\r\n\r\n";

/* A P-256 key and a self-signed certificate, written to temporary files
 * for tls_config_server and removed at once. */
static void make_server_config(struct ws_config *cfg)
{
    char cert_path[] = "/tmp/fuzz_ws_tls_cert_XXXXXX", key_path[] = "/tmp/fuzz_ws_tls_key_XXXXXX";
    char err[256];
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    CHECK(pk && x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 365);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    CHECK(X509_sign(x, pk, EVP_sha256()) > 0);
    int cfd = mkstemp(cert_path), kfd = mkstemp(key_path);
    CHECK(cfd >= 0 && kfd >= 0);
    FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
    CHECK(cf && kf);
    CHECK(PEM_write_X509(cf, x) == 1);
    CHECK(PEM_write_PrivateKey(kf, pk, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(cf);
    fclose(kf);
    CHECK(tls_config_server(&cfg->tls, cert_path, key_path, err, sizeof(err)) == 0);
    unlink(cert_path);
    unlink(key_path);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static int deliver_ignore(void *arg, const uint8_t *d, size_t n)
{
    (void)arg;
    (void)d;
    (void)n;
    return 0;
}

struct pair {
    struct ws *server;
    struct tls *client;
    struct buf to_server;   /* client's TLS output */
    struct buf app;         /* the server's stream bytes */
    int server_rc;          /* WS_OK until the server ends */
};

/* Feeds the server what the client wrote, and the client what the server
 * wrote, until both are quiet. */
static void settle(struct pair *p)
{
    for (int i = 0; i < 8; i++) {
        bool moved = false;
        if (buf_size(&p->to_server) && p->server_rc == WS_OK) {
            /* An exactly sized copy: ASan sees a read past the end. */
            size_t n = buf_size(&p->to_server);
            uint8_t *copy = malloc(n);
            CHECK(copy != NULL);
            memcpy(copy, buf_head(&p->to_server), n);
            int rc = ws_input(p->server, copy, n, &p->app);
            free(copy);
            CHECK(rc == WS_OK || rc == WS_EOF || rc == WS_ERROR);
            p->server_rc = rc;
            moved = true;
        }
        buf_reset(&p->to_server);
        struct buf *w = ws_wire(p->server);
        if (buf_size(w)) {
            tls_input(p->client, buf_head(w), buf_size(w), &p->to_server, deliver_ignore, NULL);
            buf_reset(w);
            moved = true;
        }
        if (!moved)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ws_config server_cfg, client_cfg;
    static bool ready;
    char err[256];
    struct pair p = {.to_server = BUF_INIT, .app = BUF_INIT, .server_rc = WS_OK};
    struct buf none = BUF_INIT, out = BUF_INIT;

    if (!ready) {
        make_server_config(&server_cfg);
        client_cfg.tls.insecure = true;
        ready = true;
    }
    p.server = ws_server_new(&server_cfg, true, err, sizeof(err));
    p.client = tls_client_new(&client_cfg.tls, "127.0.0.1", err, sizeof(err));
    CHECK(p.server && p.client);
    bool raw_first = size >= 2 && (data[0] >> 6) == 1;
    if (!raw_first) {
        tls_handshake(p.client, &p.to_server);
        for (int i = 0; i < 8 && !tls_ready(p.client); i++)
            settle(&p);
        CHECK(tls_ready(p.client));
        CHECK(tls_write(p.client, (const uint8_t *)upgrade_request, sizeof(upgrade_request) - 1,
                        &p.to_server) == TLS_OK);
        settle(&p);
        CHECK(p.server_rc == WS_OK && ws_is_open(p.server));
    }
    size_t off = 0;
    while (off + 2 <= size) {
        unsigned kind = data[off] >> 6;
        size_t n = ((size_t)(data[off] & 0x3f) << 8) | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        const uint8_t *d = data + off;
        off += n;
        if (kind == 0 && tls_ready(p.client)) {
            tls_write(p.client, d, n, &p.to_server);
        } else if (kind == 1) {
            buf_append(&p.to_server, d, n);
        } else if (kind == 2) {
            buf_append(&out, d, n);
            int rc = ws_output(p.server, &out, false);
            CHECK(rc == WS_OK || rc == WS_ERROR);
            buf_reset(&out);
        } else if (kind == 3) {
            tls_close(p.client, &p.to_server);
        }
        settle(&p);
    }
    /* The end as conn.c does it: a Close frame and close_notify. */
    ws_output(p.server, &none, true);
    settle(&p);
    ws_free(p.server);
    tls_free(p.client);
    buf_free(&p.to_server);
    buf_free(&p.app);
    buf_free(&none);
    buf_free(&out);
    return 0;
}
