/* Multiaddrs (WIRE.md §10): binary ⇄ text for the protocol codes listed there,
 * and conversion to and from socket addresses. */
#ifndef RDV_CODEC_MULTIADDR_H
#define RDV_CODEC_MULTIADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MULTIADDR_MAX 1024       /* binary bytes we accept in one multiaddr */
#define MULTIADDR_TEXT_MAX 2048

enum ma_code {
    MA_IP4 = 4, MA_TCP = 6, MA_DCCP = 33, MA_IP6 = 41, MA_IP6ZONE = 42, MA_IPCIDR = 43,
    MA_DNS = 53, MA_DNS4 = 54, MA_DNS6 = 55, MA_DNSADDR = 56, MA_SCTP = 132,
    MA_UDP = 273, MA_WEBRTC_DIRECT = 280, MA_WEBRTC = 281, MA_P2P_CIRCUIT = 290,
    MA_UNIX = 400, MA_P2P = 421, MA_HTTPS = 443, MA_ONION = 444, MA_ONION3 = 445,
    MA_GARLIC64 = 446, MA_GARLIC32 = 447, MA_TLS = 448, MA_SNI = 449, MA_NOISE = 454,
    MA_QUIC = 460, MA_QUIC_V1 = 461, MA_WEBTRANSPORT = 465, MA_CERTHASH = 466,
    MA_WS = 477, MA_WSS = 478, MA_HTTP = 480, MA_HTTP_PATH = 481, MA_MEMORY = 777,
};

struct ma_component {
    uint32_t code;
    const char *name;
    const uint8_t *value;    /* points into the multiaddr */
    size_t len;
};

/* Text → binary; returns the binary length or -1 (err set) if invalid. */
int multiaddr_from_text(const char *text, uint8_t *out, size_t cap, char *err, size_t errlen);
/* Binary → NUL-terminated text; returns its length or -1 if invalid or cap short. */
int multiaddr_to_text(const uint8_t *b, size_t n, char *out, size_t cap);
/* 0 if b is a complete, valid multiaddr of known codes. */
int multiaddr_validate(const uint8_t *b, size_t n);
/* Iterates components: *off starts at 0. Returns 1 with c filled, 0 at the
 * end, -1 if invalid. */
int multiaddr_next(const uint8_t *b, size_t n, size_t *off, struct ma_component *c);

/* What a listener or dialer needs from an address like
 * /ip4|ip6|dns|dns4|dns6/H/tcp/P[/ws|/wss|/tls/ws|/tls/sni/S/ws][/p2p/ID]. */
struct ma_dial {
    char host[256];          /* IP text or DNS name */
    int family;              /* AF_INET, AF_INET6, or AF_UNSPEC for dns/dns4/dns6 hint */
    uint16_t port;
    bool ws, tls;            /* /ws, /tls/ws or /wss */
    bool has_peer;
    uint8_t peer[64];        /* binary peer id from /p2p/, if has_peer */
    size_t peer_len;
};
int multiaddr_parse_dial(const uint8_t *b, size_t n, struct ma_dial *d, char *err, size_t errlen);
/* /ip4|ip6/A/tcp/P from a socket address, into out; returns length or -1. */
int multiaddr_from_sockaddr(const struct sockaddr *sa, uint8_t *out, size_t cap);

#endif
