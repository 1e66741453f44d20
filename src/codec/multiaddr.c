/* Multiaddrs (WIRE.md §10).
 *
 * One table describes every protocol we know: its code, its text name, how
 * big its value is and which codec turns the value into text. Everything is
 * bounded by MULTIADDR_MAX binary bytes and MULTIADDR_TEXT_MAX text bytes.
 *
 * The rule the whole file keeps: a binary multiaddr is valid only if its
 * text form re-parses to the same bytes, so validation checks exactly what
 * the text parser can produce (no '/' in names, unix only last, peer ids
 * that print as base58 starting with "1" or "Qm", text that fits
 * MULTIADDR_TEXT_MAX, ...). The fuzz target checks that promise. */
#include "codec/multiaddr.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/varint.h"
#include "codec/base58.h"
#include "codec/multibase.h"

/* How a value is stored and printed. */
enum ma_kind {
    MA_K_NONE,      /* no value */
    MA_K_IP4,       /* 4 bytes, dotted quad */
    MA_K_IP6,       /* 16 bytes, RFC 5952 */
    MA_K_PORT,      /* big-endian u16, decimal */
    MA_K_U8,        /* one byte, decimal (ipcidr) */
    MA_K_U64,       /* big-endian u64, decimal (memory) */
    MA_K_NAME,      /* non-empty string without '/' or NUL */
    MA_K_UNIX,      /* absolute path; the text form swallows the rest */
    MA_K_P2P,       /* peer id multihash, base58btc */
    MA_K_ONION,     /* 10 bytes + port, base32:port */
    MA_K_ONION3,    /* 35 bytes + port, base32:port */
    MA_K_GARLIC64,  /* I2P destination, I2P base64 (padded) */
    MA_K_GARLIC32,  /* I2P b32 address, base32 lower case, unpadded */
    MA_K_CERTHASH,  /* multihash, multibase (printed 'u') */
    MA_K_HTTP_PATH, /* raw bytes, one percent-encoded segment */
};

#define MA_VAR (-1) /* value is uvarint(len) ‖ bytes */

struct ma_proto {
    uint32_t code;
    const char *name;
    enum ma_kind kind;
    int size; /* value bytes, or MA_VAR */
};

static const struct ma_proto ma_protos[] = {
    {MA_IP4, "ip4", MA_K_IP4, 4},
    {MA_TCP, "tcp", MA_K_PORT, 2},
    {MA_UDP, "udp", MA_K_PORT, 2},
    {MA_DCCP, "dccp", MA_K_PORT, 2},
    {MA_SCTP, "sctp", MA_K_PORT, 2},
    {MA_IP6, "ip6", MA_K_IP6, 16},
    {MA_IP6ZONE, "ip6zone", MA_K_NAME, MA_VAR},
    {MA_IPCIDR, "ipcidr", MA_K_U8, 1},
    {MA_DNS, "dns", MA_K_NAME, MA_VAR},
    {MA_DNS4, "dns4", MA_K_NAME, MA_VAR},
    {MA_DNS6, "dns6", MA_K_NAME, MA_VAR},
    {MA_DNSADDR, "dnsaddr", MA_K_NAME, MA_VAR},
    {MA_UNIX, "unix", MA_K_UNIX, MA_VAR},
    {MA_P2P, "p2p", MA_K_P2P, MA_VAR},
    {MA_ONION, "onion", MA_K_ONION, 12},
    {MA_ONION3, "onion3", MA_K_ONION3, 37},
    {MA_GARLIC64, "garlic64", MA_K_GARLIC64, MA_VAR},
    {MA_GARLIC32, "garlic32", MA_K_GARLIC32, MA_VAR},
    {MA_TLS, "tls", MA_K_NONE, 0},
    {MA_SNI, "sni", MA_K_NAME, MA_VAR},
    {MA_NOISE, "noise", MA_K_NONE, 0},
    {MA_QUIC, "quic", MA_K_NONE, 0},
    {MA_QUIC_V1, "quic-v1", MA_K_NONE, 0},
    {MA_WEBTRANSPORT, "webtransport", MA_K_NONE, 0},
    {MA_CERTHASH, "certhash", MA_K_CERTHASH, MA_VAR},
    {MA_HTTP, "http", MA_K_NONE, 0},
    {MA_HTTP_PATH, "http-path", MA_K_HTTP_PATH, MA_VAR},
    {MA_HTTPS, "https", MA_K_NONE, 0},
    {MA_WS, "ws", MA_K_NONE, 0},
    {MA_WSS, "wss", MA_K_NONE, 0},
    {MA_WEBRTC_DIRECT, "webrtc-direct", MA_K_NONE, 0},
    {MA_WEBRTC, "webrtc", MA_K_NONE, 0},
    {MA_P2P_CIRCUIT, "p2p-circuit", MA_K_NONE, 0},
    /* The csv lists memory as V, but go and rust encode it as a u64. */
    {MA_MEMORY, "memory", MA_K_U64, 8},
    /* Deprecated, value-less; kept so old records still print. */
    {479, "p2p-websocket-star", MA_K_NONE, 0},
    {275, "p2p-webrtc-star", MA_K_NONE, 0},
    {276, "p2p-webrtc-direct", MA_K_NONE, 0},
    {277, "p2p-stardust", MA_K_NONE, 0},
};

#define MA_NPROTOS (sizeof ma_protos / sizeof ma_protos[0])

/* I2P's base64 uses '-' and '~' in place of '+' and '/'. */
static const char ma_i2p_b64[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~";

#define MA_PEER_MAX 64          /* enough for any peer id multihash we accept */
#define MA_IDENTITY_MAX 42      /* longest key inlined in an identity peer id */
#define MA_LIBP2P_KEY 0x72      /* CID codec of peer ids */
#define MA_GARLIC64_MIN 386
#define MA_ERR_SHOW 64          /* at most this much of a bad segment in errors */

static const struct ma_proto *ma__by_code(uint64_t code)
{
    for (size_t i = 0; i < MA_NPROTOS; i++)
        if (ma_protos[i].code == code)
            return &ma_protos[i];
    return NULL;
}

static const struct ma_proto *ma__by_name(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "ipfs", 4) == 0)
        return ma__by_code(MA_P2P); /* old name, same code */
    for (size_t i = 0; i < MA_NPROTOS; i++)
        if (strlen(ma_protos[i].name) == n && memcmp(ma_protos[i].name, s, n) == 0)
            return &ma_protos[i];
    return NULL;
}

static void ma__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ma__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void ma__err_clear(char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
}

static uint16_t ma__be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* ---- value checks (binary side) ---------------------------------------- */

/* A multihash with an exact digest length: uvarint code ‖ uvarint len ‖ digest. */
static int ma__check_multihash(const uint8_t *v, size_t n, uint64_t *code, uint64_t *dlen)
{
    int k = uvarint_get(v, n, code);
    if (k <= 0)
        return -1;
    int m = uvarint_get(v + k, n - (size_t)k, dlen);
    if (m <= 0)
        return -1;
    if (*dlen != n - (size_t)k - (size_t)m)
        return -1;
    return 0;
}

/* Peer ids are identity (an inlined key of ≤ 42 bytes) or sha2-256
 * multihashes. Both print in base58 starting with "1" or "Qm", which is what
 * lets the text parser tell them from CIDs. */
static int ma__check_peer(const uint8_t *v, size_t n)
{
    uint64_t code, dlen;
    if (ma__check_multihash(v, n, &code, &dlen))
        return -1;
    if (code == 0x00)
        return dlen <= MA_IDENTITY_MAX ? 0 : -1;
    if (code == 0x12)
        return dlen == 32 ? 0 : -1;
    return -1;
}

static int ma__check_value(const struct ma_proto *p, const uint8_t *v, size_t n)
{
    switch (p->kind) {
    case MA_K_NAME:
        /* '/' would split the text form; NUL cannot be in C text at all. */
        return n > 0 && !memchr(v, '/', n) && !memchr(v, '\0', n) ? 0 : -1;
    case MA_K_UNIX:
        /* Text is "/unix" + path, so the path must start with '/' (as in
         * go-multiaddr); a trailing '/' is not a socket. */
        return n >= 2 && v[0] == '/' && v[n - 1] != '/' && !memchr(v, '\0', n) ? 0 : -1;
    case MA_K_P2P:
        return ma__check_peer(v, n);
    case MA_K_ONION:
    case MA_K_ONION3:
        return ma__be16(v + n - 2) != 0 ? 0 : -1; /* tor has no port 0 */
    case MA_K_GARLIC64:
        return n >= MA_GARLIC64_MIN ? 0 : -1;
    case MA_K_GARLIC32:
        /* 32 bytes, or ≥ 35 for encrypted lease sets (as go checks). */
        return n == 32 || n >= 35 ? 0 : -1;
    case MA_K_CERTHASH: {
        uint64_t code, dlen;
        return ma__check_multihash(v, n, &code, &dlen);
    }
    case MA_K_HTTP_PATH:
        return n > 0 ? 0 : -1;
    default:
        return 0; /* fixed-size values: every bit pattern is meaningful */
    }
}

int multiaddr_next(const uint8_t *b, size_t n, size_t *off, struct ma_component *c)
{
    if (n > MULTIADDR_MAX || *off > n)
        return -1;
    if (*off == n)
        return 0;
    const uint8_t *p = b + *off;
    size_t left = n - *off;
    uint64_t code, len;

    int k = uvarint_get(p, left, &code);
    if (k <= 0)
        return -1;
    const struct ma_proto *pr = ma__by_code(code);
    if (pr == NULL)
        return -1;
    p += k;
    left -= (size_t)k;
    if (pr->size == MA_VAR) {
        int m = uvarint_get(p, left, &len);
        if (m <= 0)
            return -1;
        p += m;
        left -= (size_t)m;
    } else {
        len = (uint64_t)pr->size;
    }
    if (len > left || ma__check_value(pr, p, (size_t)len))
        return -1;
    c->code = pr->code;
    c->name = pr->name;
    c->value = p;
    c->len = (size_t)len;
    *off = (size_t)(p - b) + (size_t)len;
    return 1;
}

/* ---- binary -> text ------------------------------------------------------ */

/* Text sink that never writes past cap and always leaves room for the NUL. */
struct ma_tw {
    char *p;
    size_t cap, len;
    int full;
};

static void ma__put(struct ma_tw *w, const void *s, size_t n)
{
    if (w->full || n >= w->cap - w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void ma__puts(struct ma_tw *w, const char *s) { ma__put(w, s, strlen(s)); }

/* Appends what an encoder with the (out, cap) -> length | -1 convention
 * writes; -1 from them here can only mean "no room". */
static char *ma__room(struct ma_tw *w, size_t *cap)
{
    *cap = w->full ? 0 : w->cap - w->len;
    return w->p + w->len;
}

static void ma__took(struct ma_tw *w, int r)
{
    if (r < 0)
        w->full = 1;
    else if (!w->full)
        w->len += (size_t)r;
}

/* Characters left alone by percent-encoding: RFC 3986 unreserved plus the
 * sub-delimiters go's url.PathEscape keeps, so our text matches go's. */
static int ma__path_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~$&+:=@", c) != NULL);
}

static void ma__print_value(struct ma_tw *w, const struct ma_proto *pr, const uint8_t *v,
                            size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 8];
    size_t room;

    switch (pr->kind) {
    case MA_K_NONE:
        return;
    case MA_K_IP4:
        ma__puts(w, inet_ntop(AF_INET, v, tmp, sizeof tmp) ? tmp : "?");
        return;
    case MA_K_IP6:
        ma__puts(w, inet_ntop(AF_INET6, v, tmp, sizeof tmp) ? tmp : "?");
        return;
    case MA_K_PORT:
        snprintf(tmp, sizeof tmp, "%u", (unsigned)ma__be16(v));
        ma__puts(w, tmp);
        return;
    case MA_K_U8:
        snprintf(tmp, sizeof tmp, "%u", (unsigned)v[0]);
        ma__puts(w, tmp);
        return;
    case MA_K_U64: {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x = x << 8 | v[i];
        snprintf(tmp, sizeof tmp, "%" PRIu64, x);
        ma__puts(w, tmp);
        return;
    }
    case MA_K_NAME:
    case MA_K_UNIX:
        ma__put(w, v, n);
        return;
    case MA_K_P2P: {
        char *o = ma__room(w, &room);
        ma__took(w, base58_encode(v, n, o, room));
        return;
    }
    case MA_K_ONION:
    case MA_K_ONION3: {
        char *o = ma__room(w, &room);
        ma__took(w, multibase_base32_encode(multibase_b32_lower, false, v, n - 2, o, room));
        snprintf(tmp, sizeof tmp, ":%u", (unsigned)ma__be16(v + n - 2));
        ma__puts(w, tmp);
        return;
    }
    case MA_K_GARLIC64: {
        char *o = ma__room(w, &room);
        ma__took(w, multibase_base64_encode(ma_i2p_b64, true, v, n, o, room));
        return;
    }
    case MA_K_GARLIC32: {
        char *o = ma__room(w, &room);
        ma__took(w, multibase_base32_encode(multibase_b32_lower, false, v, n, o, room));
        return;
    }
    case MA_K_CERTHASH: {
        char *o = ma__room(w, &room);
        ma__took(w, multibase_encode('u', v, n, o, room));
        return;
    }
    case MA_K_HTTP_PATH:
        for (size_t i = 0; i < n; i++) {
            if (ma__path_plain(v[i])) {
                ma__put(w, &v[i], 1);
            } else {
                snprintf(tmp, sizeof tmp, "%%%02X", (unsigned)v[i]);
                ma__put(w, tmp, 3);
            }
        }
        return;
    }
}

/* Checks the whole multiaddr and prints it into w. -1 if invalid; running
 * out of room only sets w->full. */
static int ma__print(const uint8_t *b, size_t n, struct ma_tw *w)
{
    struct ma_component c;
    size_t off = 0;
    int r, count = 0, after_unix = 0;

    if (n == 0 || n > MULTIADDR_MAX)
        return -1;
    while ((r = multiaddr_next(b, n, &off, &c)) == 1) {
        /* The unix path swallows the rest of the text, so nothing may
         * follow it or the text would not parse back to these bytes. */
        if (after_unix)
            return -1;
        after_unix = c.code == MA_UNIX;
        count++;
        ma__puts(w, "/");
        ma__puts(w, c.name);
        if (c.len > 0 && c.code != MA_UNIX)
            ma__puts(w, "/");
        ma__print_value(w, ma__by_code(c.code), c.value, c.len);
    }
    return r == 0 && count > 0 ? 0 : -1;
}

int multiaddr_validate(const uint8_t *b, size_t n)
{
    char tmp[MULTIADDR_TEXT_MAX];
    struct ma_tw w = {tmp, sizeof tmp, 0, 0};
    /* Valid also means the text form fits MULTIADDR_TEXT_MAX, so any valid
     * address can be printed into a buffer of that size and parsed back. */
    return ma__print(b, n, &w) == 0 && !w.full ? 0 : -1;
}

int multiaddr_to_text(const uint8_t *b, size_t n, char *out, size_t cap)
{
    char tmp[MULTIADDR_TEXT_MAX];
    struct ma_tw w = {tmp, sizeof tmp, 0, 0};
    tmp[0] = '\0';
    if (ma__print(b, n, &w) != 0 || w.full || w.len >= cap)
        return -1;
    memcpy(out, tmp, w.len + 1);
    return (int)w.len;
}

/* ---- text -> binary ------------------------------------------------------ */

/* Decimal without sign, spaces or leading zeros, at most max. */
static int ma__parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (max - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static int ma__hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A CIDv1 naming a peer: multibase(0x01 ‖ uvarint(0x72) ‖ multihash). */
static int ma__cid_peer(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint8_t cid[MA_PEER_MAX + 16];
    uint64_t version, codec;
    int len = multibase_decode(s, n, cid, sizeof cid);
    if (len < 0)
        return -1;
    int k = uvarint_get(cid, (size_t)len, &version);
    if (k <= 0 || version != 1)
        return -1;
    int m = uvarint_get(cid + k, (size_t)len - (size_t)k, &codec);
    if (m <= 0 || codec != MA_LIBP2P_KEY)
        return -1;
    size_t mh = (size_t)len - (size_t)k - (size_t)m;
    if (mh > cap)
        return -1;
    memcpy(out, cid + k + m, mh);
    return (int)mh;
}

static int ma__parse_peer(const char *s, size_t n, uint8_t *out, size_t cap)
{
    int len;
    /* As in the peer-id spec: "1…" and "Qm…" are bare base58btc multihashes,
     * anything else is a multibase CID. */
    if ((n >= 1 && s[0] == '1') || (n >= 2 && s[0] == 'Q' && s[1] == 'm'))
        len = base58_decode(s, n, out, cap < MA_PEER_MAX ? cap : MA_PEER_MAX);
    else
        len = ma__cid_peer(s, n, out, cap);
    if (len < 0 || ma__check_peer(out, (size_t)len))
        return -1;
    return len;
}

/* "base32:port" with exactly `klen` key bytes; base32 in either case. */
static int ma__parse_onion(const char *s, size_t n, size_t klen, uint8_t *out, size_t cap)
{
    const char *colon = memchr(s, ':', n);
    char lower[64];
    uint64_t port;
    if (colon == NULL || cap < klen + 2)
        return -1;
    size_t hn = (size_t)(colon - s);
    if (hn != (klen * 8 + 4) / 5 || hn > sizeof lower)
        return -1;
    for (size_t i = 0; i < hn; i++)
        lower[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    if (multibase_base32_decode(multibase_b32_lower, false, lower, hn, out, cap) != (int)klen)
        return -1;
    /* A second ':' fails here as a non-digit. */
    if (ma__parse_uint(colon + 1, n - hn - 1, 65535, &port) || port == 0)
        return -1;
    out[klen] = (uint8_t)(port >> 8);
    out[klen + 1] = (uint8_t)port;
    return (int)klen + 2;
}

static int ma__parse_path(const char *s, size_t n, uint8_t *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? ma__hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? ma__hexval(s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        }
        if (o >= cap)
            return -1;
        out[o++] = c;
    }
    return (int)o;
}

/* Text value -> binary value. Returns its length or -1. */
static int ma__parse_value(const struct ma_proto *pr, const char *s, size_t n, uint8_t *out,
                           size_t cap)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    uint64_t x;

    switch (pr->kind) {
    case MA_K_NONE:
        return 0;
    case MA_K_IP4:
    case MA_K_IP6:
        if (n >= sizeof tmp || cap < 16)
            return -1;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        /* inet_pton is strict: no leading zeros, no zone, no extra text. */
        if (inet_pton(pr->kind == MA_K_IP4 ? AF_INET : AF_INET6, tmp, out) != 1)
            return -1;
        return pr->kind == MA_K_IP4 ? 4 : 16;
    case MA_K_PORT:
        if (ma__parse_uint(s, n, 65535, &x) || cap < 2)
            return -1;
        out[0] = (uint8_t)(x >> 8);
        out[1] = (uint8_t)x;
        return 2;
    case MA_K_U8:
        if (ma__parse_uint(s, n, 255, &x) || cap < 1)
            return -1;
        out[0] = (uint8_t)x;
        return 1;
    case MA_K_U64:
        if (ma__parse_uint(s, n, UINT64_MAX, &x) || cap < 8)
            return -1;
        for (int i = 7; i >= 0; i--, x >>= 8)
            out[i] = (uint8_t)x;
        return 8;
    case MA_K_NAME:
    case MA_K_UNIX:
        if (n > cap)
            return -1;
        memcpy(out, s, n);
        return (int)n;
    case MA_K_P2P:
        return ma__parse_peer(s, n, out, cap);
    case MA_K_ONION:
        return ma__parse_onion(s, n, 10, out, cap);
    case MA_K_ONION3:
        return ma__parse_onion(s, n, 35, out, cap);
    case MA_K_GARLIC64:
        return multibase_base64_decode(ma_i2p_b64, true, s, n, out, cap);
    case MA_K_GARLIC32:
        return multibase_base32_decode(multibase_b32_lower, false, s, n, out, cap);
    case MA_K_CERTHASH:
        return multibase_decode(s, n, out, cap);
    case MA_K_HTTP_PATH:
        return ma__parse_path(s, n, out, cap);
    }
    return -1;
}

/* Byte sink for the binary form. */
struct ma_bw {
    uint8_t *p;
    size_t cap, len;
    int full;
};

static void ma__bput(struct ma_bw *w, const void *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    if (n)
        memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void ma__bvarint(struct ma_bw *w, uint64_t v)
{
    uint8_t tmp[UVARINT_MAX_LEN];
    ma__bput(w, tmp, uvarint_put(tmp, v));
}

int multiaddr_from_text(const char *text, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    uint8_t bin[MULTIADDR_MAX], val[MULTIADDR_MAX];
    struct ma_bw w = {bin, sizeof bin, 0, 0};

    ma__err_clear(err, errlen);
    if (text == NULL) {
        ma__err(err, errlen, "no multiaddr");
        return -1;
    }
    size_t tn = strnlen(text, MULTIADDR_TEXT_MAX);
    if (tn >= MULTIADDR_TEXT_MAX) {
        ma__err(err, errlen, "multiaddr text longer than %d bytes", MULTIADDR_TEXT_MAX - 1);
        return -1;
    }
    if (tn == 0 || text[0] != '/') {
        ma__err(err, errlen, "multiaddr must start with '/'");
        return -1;
    }
    const char *p = text, *end = text + tn;
    while (p < end) {
        /* p is at the '/' before a protocol name. */
        const char *name = p + 1;
        const char *ne = memchr(name, '/', (size_t)(end - name));
        if (ne == NULL)
            ne = end;
        size_t nl = (size_t)(ne - name);
        if (nl == 0) {
            ma__err(err, errlen, "empty protocol name at offset %zu", (size_t)(name - text));
            return -1;
        }
        const struct ma_proto *pr = ma__by_name(name, nl);
        if (pr == NULL) {
            ma__err(err, errlen, "unknown protocol /%.*s", (int)(nl < MA_ERR_SHOW ? nl : MA_ERR_SHOW),
                    name);
            return -1;
        }
        ma__bvarint(&w, pr->code);
        p = ne;
        if (pr->size == 0)
            continue;

        const char *v, *ve;
        if (pr->kind == MA_K_UNIX) {
            v = p; /* the path is everything left, its leading '/' included */
            ve = end;
        } else {
            v = p < end ? p + 1 : end;
            ve = memchr(v, '/', (size_t)(end - v));
            if (ve == NULL)
                ve = end;
        }
        size_t vl = (size_t)(ve - v);
        if (p >= end || vl == 0) {
            ma__err(err, errlen, "missing value for /%s", pr->name);
            return -1;
        }
        int len = ma__parse_value(pr, v, vl, val, sizeof val);
        if (len < 0 || ma__check_value(pr, val, (size_t)len) ||
            (pr->size != MA_VAR && len != pr->size)) {
            ma__err(err, errlen, "invalid value for /%s: %.*s", pr->name,
                    (int)(vl < MA_ERR_SHOW ? vl : MA_ERR_SHOW), v);
            return -1;
        }
        if (pr->size == MA_VAR)
            ma__bvarint(&w, (uint64_t)len);
        ma__bput(&w, val, (size_t)len);
        p = ve;
    }
    if (w.full) {
        ma__err(err, errlen, "multiaddr longer than %d bytes", MULTIADDR_MAX);
        return -1;
    }
    /* Cross-component rules (unix last, printable length) live in validate. */
    if (multiaddr_validate(bin, w.len) != 0) {
        ma__err(err, errlen, "invalid multiaddr");
        return -1;
    }
    if (w.len > cap) {
        ma__err(err, errlen, "output buffer too small (%zu bytes needed)", w.len);
        return -1;
    }
    memcpy(out, bin, w.len);
    return (int)w.len;
}

/* ---- dialing ------------------------------------------------------------- */

int multiaddr_parse_dial(const uint8_t *b, size_t n, struct ma_dial *d, char *err, size_t errlen)
{
    struct ma_component c[8];
    size_t off = 0, nc = 0, i = 0;

    memset(d, 0, sizeof *d);
    ma__err_clear(err, errlen);
    if (multiaddr_validate(b, n) != 0) {
        ma__err(err, errlen, "invalid multiaddr");
        return -1;
    }
    /* The longest form we accept has 7 components; an 8th is unsupported. */
    while (nc < 8 && multiaddr_next(b, n, &off, &c[nc]) == 1)
        nc++;

    /* Host. */
    switch (c[0].code) {
    case MA_IP4:
        d->family = AF_INET;
        inet_ntop(AF_INET, c[0].value, d->host, sizeof d->host);
        break;
    case MA_IP6:
        d->family = AF_INET6;
        inet_ntop(AF_INET6, c[0].value, d->host, sizeof d->host);
        break;
    case MA_DNS:
    case MA_DNS4:
    case MA_DNS6:
        if (c[0].len >= sizeof d->host) {
            ma__err(err, errlen, "host name too long (%zu bytes, at most %zu)", c[0].len,
                    sizeof d->host - 1);
            return -1;
        }
        d->family = AF_UNSPEC; /* a name: resolve it */
        memcpy(d->host, c[0].value, c[0].len);
        d->host[c[0].len] = '\0';
        break;
    default:
        ma__err(err, errlen, "unsupported network: /%s", c[0].name);
        return -1;
    }
    i = 1;

    /* Transport. */
    if (i >= nc) {
        ma__err(err, errlen, "missing transport: expected /tcp after /%s", c[0].name);
        return -1;
    }
    if (c[i].code != MA_TCP) {
        ma__err(err, errlen, "unsupported transport: /%s", c[i].name);
        return -1;
    }
    d->port = ma__be16(c[i].value);
    i++;

    /* Optional websocket layer: /ws, /wss, /tls/ws, /tls/sni/S/ws. */
    if (i < nc && c[i].code == MA_WS) {
        d->ws = true;
        i++;
    } else if (i < nc && c[i].code == MA_WSS) {
        d->ws = d->tls = true;
        i++;
    } else if (i < nc && c[i].code == MA_TLS) {
        i++;
        if (i < nc && c[i].code == MA_SNI)
            i++; /* the name is only a TLS detail; the host stays the target */
        if (i >= nc || c[i].code != MA_WS) {
            ma__err(err, errlen, "unsupported transport: /tls must be followed by /ws");
            return -1;
        }
        d->ws = d->tls = true;
        i++;
    }

    /* Optional peer id. */
    if (i < nc && c[i].code == MA_P2P) {
        if (c[i].len > sizeof d->peer) {
            ma__err(err, errlen, "peer id too long");
            return -1;
        }
        d->has_peer = true;
        memcpy(d->peer, c[i].value, c[i].len);
        d->peer_len = c[i].len;
        i++;
    }

    if (i < nc) {
        ma__err(err, errlen, "unsupported %s: /%s",
                d->ws || d->has_peer ? "component" : "transport", c[i].name);
        return -1;
    }
    if (off != n) { /* more than 8 components */
        ma__err(err, errlen, "unsupported component after /%s", c[nc - 1].name);
        return -1;
    }
    return 0;
}

int multiaddr_from_sockaddr(const struct sockaddr *sa, uint8_t *out, size_t cap)
{
    uint8_t bin[64];
    struct ma_bw w = {bin, sizeof bin, 0, 0};
    uint16_t port;

    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        ma__bvarint(&w, MA_IP4);
        ma__bput(&w, &in->sin_addr, 4);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            /* A v4 peer on a dual-stack socket: print it as what it is. */
            ma__bvarint(&w, MA_IP4);
            ma__bput(&w, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            if (in6->sin6_scope_id != 0) {
                /* Link-local: the zone goes first, /ip6zone/eth0/ip6/fe80::… */
                char zone[IF_NAMESIZE > 11 ? IF_NAMESIZE : 11];
                if (if_indextoname(in6->sin6_scope_id, zone) == NULL)
                    snprintf(zone, sizeof zone, "%" PRIu32, (uint32_t)in6->sin6_scope_id);
                ma__bvarint(&w, MA_IP6ZONE);
                ma__bvarint(&w, strlen(zone));
                ma__bput(&w, zone, strlen(zone));
            }
            ma__bvarint(&w, MA_IP6);
            ma__bput(&w, &in6->sin6_addr, 16);
        }
    } else {
        return -1;
    }
    uint8_t pb[2] = {(uint8_t)(port >> 8), (uint8_t)port};
    ma__bvarint(&w, MA_TCP);
    ma__bput(&w, pb, 2);
    if (w.full || w.len > cap)
        return -1;
    memcpy(out, bin, w.len);
    return (int)w.len;
}
