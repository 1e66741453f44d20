/* The WebSocket transport (WIRE.md §12) under a connection's libp2p byte
 * stream: the HTTP/1.1 upgrade (http-parser), RFC 6455 frames (wslay) and,
 * for /tls/ws, TLS (tls.h). It transforms bytes and nothing else: conn.c
 * gives it what it read from the socket and gets the stream's bytes back,
 * and gives it stream bytes and writes out what ws_wire() then holds.
 *
 * Binary (and text) message payloads are concatenated into the stream;
 * message boundaries mean nothing. Pings are answered and a Close is
 * answered and reported as the end of the stream. */
#ifndef RDV_HOST_WS_H
#define RDV_HOST_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "host/tls.h"

#define WS_MAX_HEADER 8192        /* bytes of upgrade request/response, request line included */
#define WS_MAX_FRAME (1u << 20)   /* payload bytes of one received frame */
#define WS_OUT_MSG 65536          /* stream bytes per sent message */
#define WS_MAX_ORIGINS 16

/* Host-wide settings. */
struct ws_config {
    char *origins[WS_MAX_ORIGINS];   /* allowed Origin values; none = any */
    size_t norigins;
    struct tls_config tls;
};

/* ws_input's and ws_output's answers. */
enum ws_status { WS_OK = 0, WS_EOF = 1, WS_ERROR = -1 };

struct ws;

/* Adds an allowed Origin (e.g. https://app.example). -1 with err. */
int ws_config_allow_origin(struct ws_config *cfg, const char *origin, char *err, size_t errlen);
void ws_config_free(struct ws_config *cfg);

/* The accepting side; `tls` for /tls/ws (cfg->tls.server must be set). */
struct ws *ws_server_new(struct ws_config *cfg, bool tls, char *err, size_t errlen);
/* The dialing side: `host` and `port` go into the Host header, and with
 * `tls` the certificate must name `tls_name`. */
struct ws *ws_client_new(struct ws_config *cfg, const char *host, uint16_t port, bool tls,
                         const char *tls_name, char *err, size_t errlen);
void ws_free(struct ws *w);

/* Feeds p[0, n) read from the socket; the stream's bytes are appended to
 * app. WS_EOF: the peer closed (the reply is queued); WS_ERROR: close the
 * connection after writing what ws_wire() holds (an HTTP error answer or a
 * Close frame), ws_error() says why. */
int ws_input(struct ws *w, const uint8_t *p, size_t n, struct buf *app);
/* Moves app's bytes, once the upgrade is done, into the wire buffer; with
 * `closing`, also a Close frame (once) and drops what can no longer be sent.
 * Returns WS_OK or WS_ERROR. */
int ws_output(struct ws *w, struct buf *app, bool closing);
/* Bytes for the socket. The caller writes and consumes them. */
struct buf *ws_wire(struct ws *w);
bool ws_is_open(const struct ws *w);
/* True when TLS runs under the WebSocket (/tls/ws). */
bool ws_is_tls(const struct ws *w);
const char *ws_error(const struct ws *w);

#endif
