/* Length-prefixed messages, uvarint(len) ‖ bytes (WIRE.md §0.5): the framing
 * of every protobuf stream protocol (identify, rendezvous, relay).
 *
 * Usage from a stream's data callback:
 *
 *     lpm_push(&r, d, n);
 *     while ((rc = lpm_next(&r, &msg, &len)) == 1)
 *         handle(msg, len);
 *     if (rc < 0)
 *         reset the stream;
 *
 * Buffering is bounded: push checks each length as soon as its bytes are
 * there and stops taking input after an invalid or oversize one, so the
 * message still in progress never holds more than max + 10 bytes. Whole
 * messages are kept until lpm_next hands them out, so drain after each push
 * and that bound is all the reader holds between calls. */
#ifndef RDV_BASE_LPM_H
#define RDV_BASE_LPM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct lpm {
    struct buf in; /* unread bytes: whole messages, then one partial one */
    size_t max;    /* largest message length accepted */
    size_t whole;  /* bytes at the front of `in` that are complete messages */
    int bad;       /* an invalid or oversize length followed them */
};

void lpm_init(struct lpm *r, size_t max);
void lpm_free(struct lpm *r);
/* Appends received bytes (any split). After a bad length, drops the rest. */
void lpm_push(struct lpm *r, const uint8_t *d, size_t n);
/* 1: *msg and *len are the next message; it points into the reader (no
 * copy) and stays valid until the next lpm_* call on r. 0: need more bytes.
 * -1: invalid varint or length > max (reported once every whole message
 * before it has been returned). */
int lpm_next(struct lpm *r, const uint8_t **msg, size_t *len);
/* lpm_push and lpm_next in one, copying only what it must: while the reader
 * holds nothing, a whole message at *d is handed out where it lies (valid
 * as long as the caller's bytes); from the first incomplete one on, the
 * rest of *d goes into the reader. Advances *d and *n past what it took.
 * Returns as lpm_next; call it until it returns 0 or -1. */
int lpm_take(struct lpm *r, const uint8_t **d, size_t *n, const uint8_t **msg, size_t *len);
/* Appends uvarint(n) ‖ msg to out. */
void lpm_frame(struct buf *out, const uint8_t *msg, size_t n);

#endif
