/* TLS sessions over a BIO that never blocks: reads come from the slice being
 * fed (tls_input), writes land in the caller's buffer. OpenSSL then never
 * sees the socket, and conn.c keeps the single write path it has for TCP. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/mem.h"
#include "host/tls.h"

#define TLS_READ_CHUNK 16384 /* one TLS record of plaintext at most */

struct tls {
    SSL *ssl;
    const uint8_t *in;     /* input not yet taken by OpenSSL (during tls_input) */
    size_t in_len;
    struct buf *wire;      /* where OpenSSL's output goes (during a call) */
    bool closed;           /* close_notify sent */
    char error[160];
};

/* ---- the BIO ---------------------------------------------------------- */

static int tls_bio_write(BIO *b, const char *d, size_t n, size_t *written)
{
    struct tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t == NULL || t->wire == NULL) { /* no caller buffer: nothing may be written now */
        BIO_set_retry_write(b);
        return 0;
    }
    buf_append(t->wire, d, n);
    *written = n;
    return 1;
}

static int tls_bio_read(BIO *b, char *d, size_t n, size_t *readbytes)
{
    struct tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t == NULL || t->in_len == 0) {
        BIO_set_retry_read(b);
        *readbytes = 0;
        return 0;
    }
    size_t k = n < t->in_len ? n : t->in_len;
    memcpy(d, t->in, k);
    t->in += k;
    t->in_len -= k;
    *readbytes = k;
    return 1;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* writes are never held back */
}

static int tls_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int tls_config_bio(struct tls_config *tc)
{
    if (tc->bio)
        return 0;
    tc->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rendezvousd");
    if (tc->bio == NULL)
        return -1;
    BIO_meth_set_write_ex(tc->bio, tls_bio_write);
    BIO_meth_set_read_ex(tc->bio, tls_bio_read);
    BIO_meth_set_ctrl(tc->bio, tls_bio_ctrl);
    BIO_meth_set_create(tc->bio, tls_bio_create);
    return 0;
}

/* ---- errors ----------------------------------------------------------- */

/* Copies OpenSSL's oldest queued error (or `what`) into out. */
static void tls_err_text(char *out, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    if (e != 0) {
        char s[128];
        ERR_error_string_n(e, s, sizeof(s));
        snprintf(out, cap, "%s: %s", what, s);
    } else {
        snprintf(out, cap, "%s", what);
    }
    ERR_clear_error();
}

/* ---- configuration ---------------------------------------------------- */

static SSL_CTX *tls_ctx_new(const SSL_METHOD *m)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

int tls_config_server(struct tls_config *tc, const char *cert, const char *key, char *err,
                      size_t errlen)
{
    ERR_clear_error();
    if (tls_config_bio(tc) < 0) {
        tls_err_text(err, errlen, "cannot create a BIO method");
        return -1;
    }
    SSL_CTX *ctx = tls_ctx_new(TLS_server_method());
    if (ctx == NULL) {
        tls_err_text(err, errlen, "cannot create a TLS context");
        return -1;
    }
    char what[512];
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(what, sizeof(what), "certificate %s", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "private key %s", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof(what), "%s does not match %s", key, cert);
        goto fail;
    }
    /* Browsers and js-libp2p open one connection and keep it: tickets are
     * bytes nobody uses. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_free(tc->server);
    tc->server = ctx;
    return 0;
fail:
    tls_err_text(err, errlen, what);
    SSL_CTX_free(ctx);
    return -1;
}

void tls_config_free(struct tls_config *tc)
{
    SSL_CTX_free(tc->server);
    SSL_CTX_free(tc->client);
    BIO_meth_free(tc->bio);
    memset(tc, 0, sizeof(*tc));
}

/* ---- sessions --------------------------------------------------------- */

static struct tls *tls_new(struct tls_config *tc, SSL_CTX *ctx, char *err, size_t errlen)
{
    struct tls *t = xcalloc(1, sizeof(*t));
    BIO *b = NULL;

    t->ssl = SSL_new(ctx);
    if (t->ssl == NULL || (b = BIO_new(tc->bio)) == NULL) {
        tls_err_text(err, errlen, "cannot create a TLS session");
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b); /* the session owns the BIO */
    return t;
}

struct tls *tls_server_new(struct tls_config *tc, char *err, size_t errlen)
{
    ERR_clear_error();
    if (tc->server == NULL) {
        snprintf(err, errlen, "no TLS certificate configured");
        return NULL;
    }
    struct tls *t = tls_new(tc, tc->server, err, errlen);
    if (t)
        SSL_set_accept_state(t->ssl);
    return t;
}

struct tls *tls_client_new(struct tls_config *tc, const char *host, char *err, size_t errlen)
{
    ERR_clear_error();
    if (tls_config_bio(tc) < 0) {
        tls_err_text(err, errlen, "cannot create a BIO method");
        return NULL;
    }
    if (tc->client == NULL) {
        /* System CAs; SSL_CERT_FILE / SSL_CERT_DIR override them, as for
         * every OpenSSL program. */
        SSL_CTX *ctx = tls_ctx_new(TLS_client_method());
        if (ctx == NULL || SSL_CTX_set_default_verify_paths(ctx) != 1) {
            tls_err_text(err, errlen, "cannot set up TLS for dialing");
            SSL_CTX_free(ctx);
            return NULL;
        }
        tc->client = ctx;
    }
    struct tls *t = tls_new(tc, tc->client, err, errlen);
    if (t == NULL)
        return NULL;
    uint8_t ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    int ok = 1;
    if (!tc->insecure) {
        SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
        if (is_ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host);
        else
            ok = SSL_set1_host(t->ssl, host);
    } else {
        SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
    }
    if (ok == 1 && !is_ip)
        ok = (int)SSL_set_tlsext_host_name(t->ssl, host); /* SNI carries names only */
    if (ok != 1) {
        tls_err_text(err, errlen, "cannot set the TLS server name");
        tls_free(t);
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

void tls_free(struct tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t);
}

/* Records why the session failed, from SSL_get_error's answer. */
static void tls_fail(struct tls *t, int e)
{
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK && !SSL_is_server(t->ssl)) {
        snprintf(t->error, sizeof(t->error), "TLS certificate verification failed: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(t->error, sizeof(t->error), "TLS stream ended without close_notify");
    } else {
        tls_err_text(t->error, sizeof(t->error), "TLS error");
    }
}

int tls_input(struct tls *t, const uint8_t *p, size_t n, struct buf *wire, tls_deliver_fn deliver,
              void *arg)
{
    uint8_t plain[TLS_READ_CHUNK];
    int rc;

    t->in = p;
    t->in_len = n;
    t->wire = wire;
    for (;;) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(t->ssl, plain, sizeof(plain), &got) == 1) {
            if ((rc = deliver(arg, plain, got)) != 0)
                break;
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ) {
            rc = TLS_OK; /* all input taken; a partial record stays inside OpenSSL */
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            rc = TLS_EOF;
        } else {
            tls_fail(t, e);
            rc = TLS_ERROR;
        }
        break;
    }
    t->in = NULL;
    t->in_len = 0;
    t->wire = NULL;
    return rc;
}

int tls_handshake(struct tls *t, struct buf *wire)
{
    int rc = TLS_OK;

    t->wire = wire;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_WANT_READ) {
            tls_fail(t, e);
            rc = TLS_ERROR;
        }
    }
    t->wire = NULL;
    return rc;
}

bool tls_ready(const struct tls *t) { return SSL_is_init_finished(t->ssl); }

int tls_write(struct tls *t, const uint8_t *d, size_t n, struct buf *wire)
{
    int rc = TLS_OK;

    t->wire = wire;
    while (n > 0) {
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(t->ssl, d, n, &w) != 1) {
            tls_fail(t, SSL_get_error(t->ssl, 0));
            rc = TLS_ERROR;
            break;
        }
        d += w;
        n -= w;
    }
    t->wire = NULL;
    return rc;
}

void tls_close(struct tls *t, struct buf *wire)
{
    if (t->closed || !SSL_is_init_finished(t->ssl))
        return;
    t->closed = true;
    t->wire = wire;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
    t->wire = NULL;
}

const char *tls_error(const struct tls *t) { return t->error[0] ? t->error : "TLS error"; }
