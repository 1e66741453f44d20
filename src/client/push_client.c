#include "client/push_client.h"

#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/mem.h"

#include "client/wire.h"

static void pushc__ended(struct push_client *pc, const char *why)
{
    const struct push_client_handler *h = pc->h;
    pc->stream = NULL;
    lpm_free(&pc->in);
    buf_free(&pc->out);
    if (h->on_end)
        h->on_end(pc, why); /* last: the owner may free pc */
}

static int pushc__open(struct stream *s)
{
    struct push_client *pc = s->state;
    pc->opened = true;
    if (pc->h->on_open)
        pc->h->on_open(pc);
    return 0;
}

static void pushc__data(struct stream *s, const uint8_t *d, size_t n)
{
    struct push_client *pc = s->state;
    const uint8_t *msg;
    size_t len;
    int rc = 0;

    /* Each Message is decoded into an arena on the stack (an announcement
     * fits; a big snapshot spills to the heap): no malloc per field. */
    uint8_t mem[PUSH_CLIENT_ARENA];
    struct arena a;
    arena_init(&a, mem, sizeof mem);
    /* Whole Messages are decoded where the frame holds them: only a
     * Message split across frames is copied. */
    while (pc->stream && (rc = lpm_take(&pc->in, &d, &n, &msg, &len)) == 1) {
        Push__Message *m = push__message__unpack(&a.pb, len, msg);
        if (m == NULL) {
            rc = -1;
            break;
        }
        pc->h->on_message(pc, m);
        arena_free(&a); /* and ready for the next */
    }
    arena_free(&a);
    if (rc < 0 && pc->stream)
        stream_reset(pc->stream); /* on_end follows from on_close */
    else if (rc == 0)
        buf_shrink(&pc->in.in, PUSH_CLIENT_KEEP); /* an idle session keeps little */
}

static void pushc__eof(struct stream *s)
{
    struct push_client *pc = s->state;
    pc->eof = true;
    stream_close(s);
}

static void pushc__close(struct stream *s)
{
    struct push_client *pc = s->state;
    struct conn *c = stream_conn(s);
    const char *why = !pc->opened ? "protocol not supported"
                      : pc->eof   ? "closed by the server"
                      : c->closing ? (conn_close_reason(c) ? conn_close_reason(c) : "connection closed")
                                   : "stream reset";
    s->state = NULL;
    pushc__ended(pc, why);
}

int push_client_open(struct push_client *pc, struct conn *c, const char *id,
                     const struct push_client_handler *h, void *user)
{
    memset(pc, 0, sizeof(*pc));
    pc->h = h;
    pc->user = user;
    pc->proto = (struct protocol){
        .id = id ? id : WIRE_PUSH_PROTOCOL_ID,
        .on_open = pushc__open,
        .on_data = pushc__data,
        .on_eof = pushc__eof,
        .on_close = pushc__close,
    };
    lpm_init(&pc->in, PUSH_CLIENT_MAX_MESSAGE);
    /* The usual id: one protocol shared by every session of the process,
     * which stays in cache where thousands of sessions take turns. */
    static const struct protocol shared = {
        .id = WIRE_PUSH_PROTOCOL_ID,
        .on_open = pushc__open,
        .on_data = pushc__data,
        .on_eof = pushc__eof,
        .on_close = pushc__close,
    };
    bool usual = strcmp(pc->proto.id, WIRE_PUSH_PROTOCOL_ID) == 0;
    pc->stream = conn_open_stream(c, usual ? &shared : &pc->proto, pc);
    if (pc->stream == NULL) {
        lpm_free(&pc->in);
        return -1;
    }
    return 0;
}

void push_client_send(struct push_client *pc, const Push__Message *m)
{
    if (pc->stream == NULL)
        return;
    size_t n = push__message__get_packed_size(m);
    buf_reset(&pc->out);
    buf_append_uvarint(&pc->out, n);
    buf_commit(&pc->out, push__message__pack(m, buf_reserve(&pc->out, n)));
    stream_write(pc->stream, buf_head(&pc->out), buf_size(&pc->out));
}

void push_client_send_raw(struct push_client *pc, const void *d, size_t n)
{
    if (pc->stream)
        stream_write(pc->stream, d, n);
}

static ProtobufCBinaryData pushc__text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

void push_client_register(struct push_client *pc, const char *ns, const char *peer_id,
                          const struct rdv_addr *addrs, size_t naddrs)
{
    push_client_register_meta(pc, ns, peer_id, addrs, naddrs, NULL, 0);
}

void push_client_register_meta(struct push_client *pc, const char *ns, const char *peer_id,
                               const struct rdv_addr *addrs, size_t naddrs, const uint8_t *meta,
                               size_t meta_len)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r = PUSH__MESSAGE__REGISTER__INIT, *rp = &r;
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    ProtobufCBinaryData *a = naddrs ? xcalloc(naddrs, sizeof(*a)) : NULL;

    for (size_t i = 0; i < naddrs; i++)
        a[i] = (ProtobufCBinaryData){.len = addrs[i].len, .data = (uint8_t *)addrs[i].bytes};
    if (peer_id) {
        p.has_id = 1;
        p.id = pushc__text(peer_id);
    }
    p.n_addrs = naddrs;
    p.addrs = a;
    if (meta) {
        p.has_metadata = 1;
        p.metadata = (ProtobufCBinaryData){.len = meta_len, .data = (uint8_t *)meta};
    }
    r.has_ns = 1;
    r.ns = pushc__text(ns);
    r.peer = &p;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.n_register_ = 1;
    m.register_ = &rp;
    push_client_send(pc, &m);
    free(a);
}

void push_client_unregister(struct push_client *pc, const char *ns)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT, *up = &u;
    u.has_ns = 1;
    u.ns = pushc__text(ns);
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    m.n_unregister = 1;
    m.unregister = &up;
    push_client_send(pc, &m);
}

void push_client_rendezvous(struct push_client *pc, const char *ns)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Rendezvous r = PUSH__MESSAGE__RENDEZVOUS__INIT, *rp = &r;
    r.has_ns = 1;
    r.ns = pushc__text(ns);
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS;
    m.n_rendezvous = 1;
    m.rendezvous = &rp;
    push_client_send(pc, &m);
}

void push_client_discover(struct push_client *pc, const char *ns, int64_t limit)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Discover d = PUSH__MESSAGE__DISCOVER__INIT, *dp = &d;
    d.has_ns = 1;
    d.ns = pushc__text(ns);
    if (limit > 0) {
        d.has_limit = 1;
        d.limit = limit;
    }
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER;
    m.n_discovery = 1;
    m.discovery = &dp;
    push_client_send(pc, &m);
}

void push_client_close(struct push_client *pc)
{
    if (pc->stream)
        stream_close(pc->stream);
}

void push_client_reset(struct push_client *pc)
{
    if (pc->stream)
        stream_reset(pc->stream);
}
