/* multistream-select 1.0 (WIRE.md §3) without I/O.
 *
 * Both roles share one loop: read the peer's header, then whole messages
 * one at a time until a protocol is selected or negotiation fails. Nothing
 * is buffered here; a partial message is simply left unconsumed for the
 * caller to pass again with more bytes behind it. */
#include "mss/mss.h"

#include <string.h>

#include "base/varint.h"

enum {
    MSS_ST_HEADER,    /* waiting for the peer's /multistream/1.0.0 */
    MSS_ST_NEGOTIATE, /* listener: next proposal; dialer: answer to ours */
    MSS_ST_DONE,
    MSS_ST_FAILED,
};

static int mss_fail(struct mss *m, const char *why)
{
    m->state = MSS_ST_FAILED;
    m->error = why;
    return -1;
}

static bool mss_eq(const uint8_t *t, size_t tlen, const char *s)
{
    size_t n = strlen(s);
    return n == tlen && memcmp(t, s, n) == 0;
}

static void mss_write(struct buf *out, const char *s, size_t n)
{
    buf_append_uvarint(out, (uint64_t)n + 1);
    buf_append(out, s, n);
    buf_append_u8(out, '\n');
}

/* Parses one message at p[0, n). Returns its size on the wire (> 0) with
 * the text (newline stripped) in *text and *tlen, 0 if it is not complete yet,
 * -1 if it is invalid (m failed). */
static int mss_read(struct mss *m, const uint8_t *p, size_t n, const uint8_t **text, size_t *tlen)
{
    uint64_t len;
    int h = uvarint_get(p, n, &len);
    if (h < 0)
        return mss_fail(m, "invalid message length");
    if (h == 0) {
        /* Two continuation bytes already mean len >= 2^14 (minimal form), so
         * fail now rather than let the caller buffer an oversize message. */
        return n >= 2 ? mss_fail(m, "message too long") : 0;
    }
    if (len > MSS_MAX_MSG)
        return mss_fail(m, "message too long");
    if (len > n - (size_t)h)
        return 0;
    if (len == 0 || p[(size_t)h + len - 1] != '\n')
        return mss_fail(m, "message without trailing newline");
    if (len == 1)
        return mss_fail(m, "empty message");
    *text = p + h;
    *tlen = (size_t)len - 1;
    return h + (int)len;
}

/* Listener: one proposal. Only ids starting with '/' are selectable (rust's
 * rule), so "ls", the simultaneous-open messages and junk all get "na". */
static void mss_on_proposal(struct mss *m, const uint8_t *t, size_t tlen, struct buf *out)
{
    if (t[0] == '/') {
        for (size_t i = 0; i < m->nprotos; i++) {
            if (mss_eq(t, tlen, m->protos[i])) {
                mss_write(out, m->protos[i], tlen);
                m->selected = (int)i;
                m->state = MSS_ST_DONE;
                return;
            }
        }
    }
    if (m->attempts >= MSS_MAX_ATTEMPTS) {
        mss_fail(m, "too many unsupported proposals");
        return;
    }
    m->attempts++;
    size_t keep = tlen < sizeof m->refused - 1 ? tlen : sizeof m->refused - 1;
    for (size_t i = 0; i < keep; i++) /* printable only: it goes to logs */
        m->refused[i] = t[i] >= 0x20 && t[i] < 0x7f && t[i] != '"' && t[i] != '\\' ? (char)t[i] : '?';
    m->refused[keep] = '\0';
    mss_write(out, "na", 2);
}

/* Dialer: the listener's answer to the proposal in flight. */
static void mss_on_answer(struct mss *m, const uint8_t *t, size_t tlen, struct buf *out)
{
    const char *cur = m->protos[m->proposal];
    if (mss_eq(t, tlen, cur)) {
        m->selected = (int)m->proposal;
        m->state = MSS_ST_DONE;
        return;
    }
    if (!mss_eq(t, tlen, "na")) {
        mss_fail(m, "unexpected answer to proposal");
        return;
    }
    if (++m->proposal == m->nprotos) {
        mss_fail(m, "protocol not supported by peer");
        return;
    }
    cur = m->protos[m->proposal];
    mss_write(out, cur, strlen(cur));
}

static void mss_init(struct mss *m, bool dialer, const char *const *protos, size_t nprotos)
{
    m->dialer = dialer;
    m->state = MSS_ST_HEADER;
    m->attempts = 0;
    m->protos = protos;
    m->nprotos = nprotos;
    m->proposal = 0;
    m->selected = -1;
    m->error = NULL;
    m->refused[0] = '\0';
}

void mss_listener_init(struct mss *m, const char *const *protos, size_t nprotos, struct buf *out)
{
    mss_init(m, false, protos, nprotos);
    mss_write(out, MSS_PROTOCOL, strlen(MSS_PROTOCOL));
}

void mss_dialer_init(struct mss *m, const char *const *protos, size_t nprotos, struct buf *out)
{
    mss_init(m, true, protos, nprotos);
    if (nprotos == 0) {
        mss_fail(m, "no protocol to propose");
        return;
    }
    /* Our own ids must be ones a listener could accept and echo back. */
    for (size_t i = 0; i < nprotos; i++) {
        size_t n = strlen(protos[i]);
        if (protos[i][0] != '/' || n + 1 > MSS_MAX_MSG || memchr(protos[i], '\n', n)) {
            mss_fail(m, "invalid protocol id");
            return;
        }
    }
    /* Header and first proposal together, so they leave in one write. */
    mss_write(out, MSS_PROTOCOL, strlen(MSS_PROTOCOL));
    mss_write(out, protos[0], strlen(protos[0]));
}

enum mss_result mss_feed(struct mss *m, const uint8_t *in, size_t n, size_t *consumed, struct buf *out)
{
    size_t off = 0;
    while (off < n && (m->state == MSS_ST_HEADER || m->state == MSS_ST_NEGOTIATE)) {
        const uint8_t *t = NULL;
        size_t tlen = 0;
        int used = mss_read(m, in + off, n - off, &t, &tlen);
        if (used <= 0)
            break;
        off += (size_t)used;
        if (m->state == MSS_ST_HEADER) {
            if (mss_eq(t, tlen, MSS_PROTOCOL))
                m->state = MSS_ST_NEGOTIATE;
            else
                mss_fail(m, "peer does not speak " MSS_PROTOCOL);
        } else if (m->dialer) {
            mss_on_answer(m, t, tlen, out);
        } else {
            mss_on_proposal(m, t, tlen, out);
        }
    }
    *consumed = off;
    switch (m->state) {
    case MSS_ST_DONE:
        return MSS_SELECTED;
    case MSS_ST_FAILED:
        return MSS_FAILED;
    default:
        return MSS_AGAIN;
    }
}
