/* Push-mode wire encoding (WIRE.md §2): Messages packed and framed once
 * (uvarint(len) ‖ protobuf) into shared, reference-counted buffers that
 * every queue sending them points to. No state, no I/O. */
#ifndef RDV_RENDEZVOUS_PUSH_WIRE_H
#define RDV_RENDEZVOUS_PUSH_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "push.pb-c.h"
#include "registry/registry.h"

/* One framed Message, freed when the last reference goes. An announcement
 * (a registry change) names one (peer, namespace): `key` identifies that
 * pair, so a queue can replace an older announcement of it not yet sent. */
struct push_buf {
    size_t refs;
    size_t queues;            /* how many of the refs are session queues' */
    size_t len;
    bool announcement;        /* a registry change (counted in the stats) */
    uint64_t key;             /* announcements: keyed hash of (peer, namespace) */
    double made;              /* when it was encoded (announcements: ev_time()) */
    uint8_t bytes[];
};

/* Packs m; the buffer holds one reference, its creator's: queues add theirs
 * and the creator drops its own when done (push_buf_unref). */
struct push_buf *push_wire_pack(const Push__Message *m, bool announcement);
void push_buf_unref(struct push_buf *b);

/* A REGISTER Message under construction (snapshots, DISCOVER answers and
 * register announcements): its entries, already packed. Reused: it only
 * ever grows to the largest Message built, which the registry's limits
 * bound. */
struct push_batch {
    struct buf entries;      /* packed entries, each as field 2 of a Message */
    size_t n;
    size_t size;             /* packed bytes of the entries so far */
    size_t last;             /* where the last entry added starts */
};

/* A registration in a namespace of at least this many keeps its packed
 * entry (registry_wire), made when it is first sent: a subscriber joining a
 * big namespace then costs a copy per member, not a peer id encoding (base58)
 * and a protobuf pack. Smaller namespaces are cheap to encode each time and
 * pay no memory for it. */
#define PUSH_WIRE_CACHE_MIN 64

/* Adds r as an entry. */
void push_batch_add(struct push_batch *b, const struct rdv_reg *r);
/* Removes the last entry added (it did not fit). */
void push_batch_drop_last(struct push_batch *b);
/* Packs the entries as one REGISTER Message and empties the batch. */
struct push_buf *push_batch_take(struct push_batch *b, bool announcement);
void push_batch_clear(struct push_batch *b);
void push_batch_free(struct push_batch *b);

/* An UNREGISTER announcement of r. */
struct push_buf *push_wire_unregister(const struct rdv_reg *r);
/* A Message of `type` with a non-OK status and its text. */
struct push_buf *push_wire_status(Push__Message__MessageType type,
                                  Push__Message__ResponseStatus status, const char *text);

#endif
