/* TLS for /tls/ws (WIRE.md §12) with OpenSSL. A session never touches the
 * socket: a BIO of our own reads from the bytes conn.c just received and
 * appends what OpenSSL writes to a buffer the caller hands in. With
 * SSL_MODE_RELEASE_BUFFERS an idle session holds no record buffers. */
#ifndef RDV_HOST_TLS_H
#define RDV_HOST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "base/buf.h"

/* Host-wide TLS settings; zeroed means "nothing configured". */
struct tls_config {
    SSL_CTX *server;        /* certificate and key; NULL until tls_config_server() */
    SSL_CTX *client;        /* made on the first dial */
    BIO_METHOD *bio;        /* our BIO type, made with the first context */
    bool insecure;          /* dialer: skip certificate verification */
};

enum tls_status { TLS_OK = 0, TLS_EOF = 1, TLS_ERROR = -1 };

/* Loads a PEM certificate chain and private key for listening. -1 with err. */
int tls_config_server(struct tls_config *tc, const char *cert, const char *key, char *err,
                      size_t errlen);
void tls_config_free(struct tls_config *tc);

struct tls;

/* A server session (tc->server must be set), or a client session that checks
 * the certificate names `host` (an IP address or a DNS name, also sent as SNI
 * when it is a name). NULL with err on failure. */
struct tls *tls_server_new(struct tls_config *tc, char *err, size_t errlen);
struct tls *tls_client_new(struct tls_config *tc, const char *host, char *err, size_t errlen);
void tls_free(struct tls *t);

/* Called with each piece of decrypted data; a non-zero return stops
 * tls_input, which then returns it. */
typedef int (*tls_deliver_fn)(void *arg, const uint8_t *d, size_t n);

/* Feeds p[0, n) read from the socket. Handshake and alert bytes are appended
 * to wire. Returns TLS_OK, TLS_EOF (close_notify), TLS_ERROR, or what
 * deliver returned. */
int tls_input(struct tls *t, const uint8_t *p, size_t n, struct buf *wire, tls_deliver_fn deliver,
              void *arg);
/* Client: starts the handshake (the ClientHello goes to wire). */
int tls_handshake(struct tls *t, struct buf *wire);
/* True once the handshake is done and application data may flow. */
bool tls_ready(const struct tls *t);
/* Encrypts d[0, n) into wire. Precondition: tls_ready(t). */
int tls_write(struct tls *t, const uint8_t *d, size_t n, struct buf *wire);
/* Appends close_notify to wire (once). */
void tls_close(struct tls *t, struct buf *wire);
const char *tls_error(const struct tls *t);

#endif
