/* Push-mode wire encoding (see push_wire.h). */
#include "rendezvous/push_wire.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "base/mem.h"
#include "base/varint.h"

/* Addresses of an entry described without a malloc (max-addrs is 32 unless
 * configured higher). */
#define PUSH__ADDRS_ON_STACK 32

/* A buffer for a framed Message of n bytes; the caller writes them. */
static struct push_buf *push__buf_new(size_t n, bool announcement)
{
    size_t h = uvarint_size(n);
    struct push_buf *b = xmalloc(sizeof(*b) + h + n);
    b->refs = 1;
    b->queues = 0;
    b->announcement = announcement;
    b->key = 0;
    b->made = announcement ? ev_time() : 0;
    b->len = h + n;
    uvarint_put(b->bytes, n);
    return b;
}

struct push_buf *push_wire_pack(const Push__Message *m, bool announcement)
{
    size_t n = push__message__get_packed_size(m);
    struct push_buf *b = push__buf_new(n, announcement);
    push__message__pack(m, b->bytes + (b->len - n));
    return b;
}

void push_buf_unref(struct push_buf *b)
{
    if (--b->refs == 0)
        free(b);
}

/* Appends r's entry to out as protobuf-c packs a Message holding only it:
 * field 2 (register) with its tag and length. Serialized Messages
 * concatenate into one whose repeated fields are the concatenation, so a
 * REGISTER Message is its type field followed by such entries. */
static void push__entry_pack(struct buf *out, const struct rdv_reg *r)
{
    ProtobufCBinaryData addrs[PUSH__ADDRS_ON_STACK];
    ProtobufCBinaryData *ap = r->naddrs <= PUSH__ADDRS_ON_STACK ? addrs : xmalloc(r->naddrs * sizeof(*ap));
    char id[PEERID_TEXT_MAX];
    int idlen = peerid_to_text(r->peer, id, sizeof(id));
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register reg = PUSH__MESSAGE__REGISTER__INIT;
    Push__Message__Register *regp = &reg;
    Push__Message__Peer peer = PUSH__MESSAGE__PEER__INIT;

    peer.has_id = 1;
    peer.id.data = (uint8_t *)id;
    peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    for (size_t i = 0; i < r->naddrs; i++) {
        ap[i].data = (uint8_t *)r->addrs[i].bytes;
        ap[i].len = r->addrs[i].len;
    }
    peer.n_addrs = r->naddrs;
    peer.addrs = ap;
    if (r->metadata_len) { /* absent when empty: rev1 Messages stay as they were */
        peer.has_metadata = 1;
        peer.metadata.data = (uint8_t *)registry_metadata(r);
        peer.metadata.len = r->metadata_len;
    }
    reg.has_ns = 1;
    reg.ns.data = (uint8_t *)r->ns->name;
    reg.ns.len = r->ns->len;
    reg.peer = &peer;
    m.n_register_ = 1;
    m.register_ = &regp;
    size_t n = push__message__get_packed_size(&m);
    buf_commit(out, push__message__pack(&m, buf_reserve(out, n)));
    if (ap != addrs)
        free(ap);
}

void push_batch_add(struct push_batch *b, const struct rdv_reg *r)
{
    b->last = buf_size(&b->entries);
    const uint8_t *cached = registry_wire(r);
    if (cached != NULL) {
        uint64_t len;
        int h = uvarint_get(cached, SIZE_MAX, &len);
        buf_append(&b->entries, cached + h, (size_t)len);
    } else {
        push__entry_pack(&b->entries, r);
        if (r->ns->nregs >= PUSH_WIRE_CACHE_MIN) {
            size_t len = buf_size(&b->entries) - b->last;
            uint8_t *w = xmalloc(uvarint_size(len) + len);
            memcpy(w + uvarint_put(w, len), buf_head(&b->entries) + b->last, len);
            registry_set_wire(r, w);
        }
    }
    b->size = buf_size(&b->entries);
    b->n++;
}

void push_batch_drop_last(struct push_batch *b)
{
    if (b->n == 0)
        return;
    b->n--;
    buf_truncate(&b->entries, b->last);
    b->size = b->last;
}

struct push_buf *push_batch_take(struct push_batch *b, bool announcement)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    size_t hn = push__message__get_packed_size(&m);
    struct push_buf *out = push__buf_new(hn + b->size, announcement);
    uint8_t *p = out->bytes + (out->len - hn - b->size);
    push__message__pack(&m, p);
    if (b->size)
        memcpy(p + hn, buf_head(&b->entries), b->size);
    push_batch_clear(b);
    return out;
}

void push_batch_clear(struct push_batch *b)
{
    buf_reset(&b->entries);
    b->n = b->size = b->last = 0;
}

void push_batch_free(struct push_batch *b)
{
    buf_free(&b->entries);
    memset(b, 0, sizeof(*b));
}

struct push_buf *push_wire_unregister(const struct rdv_reg *r)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT;
    Push__Message__Unregister *up = &u;
    Push__Message__Peer peer = PUSH__MESSAGE__PEER__INIT;
    char id[PEERID_TEXT_MAX];
    int idlen = peerid_to_text(r->peer, id, sizeof(id));

    peer.has_id = 1;
    peer.id.data = (uint8_t *)id;
    peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    u.has_ns = 1;
    u.ns.data = (uint8_t *)r->ns->name;
    u.ns.len = r->ns->len;
    u.peer = &peer;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    m.n_unregister = 1;
    m.unregister = &up;
    return push_wire_pack(&m, true);
}

struct push_buf *push_wire_status(Push__Message__MessageType type,
                                  Push__Message__ResponseStatus status, const char *text)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = type;
    m.has_status = 1;
    m.status = status;
    m.statustext = (char *)text;
    return push_wire_pack(&m, false);
}
