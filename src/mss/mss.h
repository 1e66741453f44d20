/* multistream-select 1.0 (WIRE.md §3), as a state machine without I/O.
 *
 * The caller owns the input buffer: it passes everything received so far,
 * mss_feed() consumes only whole messages and reports how many bytes it used;
 * bytes after a selection belong to the chosen protocol (pipelining). Output
 * (header, echo, "na", proposals) is appended to `out`. */
#ifndef RDV_MSS_MSS_H
#define RDV_MSS_MSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define MSS_PROTOCOL "/multistream/1.0.0"
#define MSS_MAX_MSG 1024        /* longest message accepted (go-multistream) */
#define MSS_MAX_ATTEMPTS 32     /* proposals a listener answers before giving up */

enum mss_result {
    MSS_AGAIN = 0,    /* need more input */
    MSS_SELECTED = 1, /* m->selected names the protocol */
    MSS_FAILED = -1,  /* m->error says why; close/reset the channel */
};

struct mss {
    bool dialer;
    uint8_t state;
    uint16_t attempts;
    const char *const *protos; /* listener: supported; dialer: proposals in order */
    size_t nprotos;
    size_t proposal;           /* dialer: index of the proposal in flight */
    int selected;              /* index into protos after MSS_SELECTED */
    const char *error;
    /* Listener: the last proposal answered "na", cut to fit (for logs). */
    char refused[48];
};

/* Listener: writes our header at once. */
void mss_listener_init(struct mss *m, const char *const *protos, size_t nprotos, struct buf *out);
/* Dialer: writes header and the first proposal in one go. */
void mss_dialer_init(struct mss *m, const char *const *protos, size_t nprotos, struct buf *out);
/* Consumes whole messages from in[0, n); *consumed says how many bytes.
 * Pass the bytes earlier calls left unconsumed plus the new ones. On
 * MSS_SELECTED, in[*consumed, n) belongs to the selected protocol. Pending
 * input never needs more than 2 + MSS_MAX_MSG bytes (a longer length fails
 * at once). After MSS_SELECTED or MSS_FAILED, calls consume nothing and
 * return the same result. */
enum mss_result mss_feed(struct mss *m, const uint8_t *in, size_t n, size_t *consumed, struct buf *out);

#endif
