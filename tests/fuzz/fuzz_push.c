/* libFuzzer target for push mode: arbitrary bytes go through
 * push_session_input, the function the stream handler uses to frame,
 * decode, validate and act on Messages.
 *
 * Sessions: A and A2 (one peer), B (another peer), and a watcher W of a
 * third peer subscribed to "a" and "b", where B starts out registered. The
 * input is a series of chunks, [selector][length][bytes], each fed to the
 * session the selector names (a session whose input is refused is freed and
 * reopened, as the handler resets the stream). After each chunk every queue
 * is read: each entry is one framed Message that decodes, queued bytes add
 * up, status replies carry a reason, announcements name valid namespaces
 * and peer ids and never go to the peer they are about. At the end every
 * session is freed and the registry must be empty. The first byte picks
 * output limits small enough to cut sessions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/varint.h"
#include "codec/multiaddr.h"
#include "crypto/peerid.h"
#include "push.pb-c.h"
#include "rendezvous/push.h"
#include "rendezvous/service.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { S_A, S_A2, S_B, S_W, NSESS };

/* The host and service outlive the inputs: set up once (a harness may keep
 * state; the product may not). Each input starts from an empty registry. */
struct fz {
    struct ev_loop *loop;
    struct log log;
    struct host host;
    struct rdv_service svc;
    struct peer_id peer[3];
    char text[3][PEERID_TEXT_MAX];
    struct push_session *s[NSESS];
};

static struct fz *fz_get(void)
{
    static struct fz *f;
    if (f)
        return f;
    struct privkey k;
    struct rdv_config cfg;
    CHECK(sodium_init() >= 0);
    f = calloc(1, sizeof(*f));
    CHECK(f != NULL);
    f->loop = ev_default_loop(0);
    log_init(&f->log, LOG_ERROR, LOG_TEXT, stderr);
    privkey_generate(&k);
    host_init(&f->host, f->loop, &f->log, &k, NULL);
    rdv_config_default(&cfg);
    cfg.limits.max_regs_per_peer = 8;
    cfg.limits.max_subs_per_session = 8;
    cfg.limits.max_namespaces = 64;
    cfg.limits.max_regs_total = 64;
    cfg.limits.max_addrs = 8;
    cfg.limits.max_addr_bytes = 256;
    cfg.push_discover_max = 16;
    cfg.push_batch_bytes = 512;
    cfg.max_message = 4096;
    rdv_service_init(&f->svc, &f->host, &cfg);
    push_init(&f->svc);
    registry_listen(&f->svc.reg, &push_registry_events, &f->svc);
    for (int i = 0; i < 3; i++) {
        struct privkey pk;
        struct pubkey pub;
        privkey_generate(&pk);
        privkey_public(&pk, &pub);
        CHECK(peerid_from_pubkey(&f->peer[i], &pub) == 0);
        peerid_to_text(&f->peer[i], f->text[i], sizeof(f->text[i]));
    }
    return f;
}

static const struct peer_id *fz_peer_of(struct fz *f, int s)
{
    return &f->peer[s == S_A || s == S_A2 ? 0 : s == S_B ? 1 : 2];
}

static void fz_feed(struct push_session *ps, const Push__Message *m)
{
    uint8_t buf[1024];
    size_t n = push__message__get_packed_size(m);
    CHECK(n + UVARINT_MAX_LEN <= sizeof(buf));
    size_t h = uvarint_put(buf, n);
    push__message__pack(m, buf + h);
    CHECK(push_session_input(ps, buf, h + n) == 0);
}

static ProtobufCBinaryData fz_bytes(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* B registers in "a" and "b"; W subscribes to both. */
static void fz_prepare(struct fz *f)
{
    static const uint8_t addr[] = {0x04, 10, 0, 0, 1, 0x06, 0x0f, 0xa1}; /* /ip4/10.0.0.1/tcp/4001 */
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r1 = PUSH__MESSAGE__REGISTER__INIT, r2 = PUSH__MESSAGE__REGISTER__INIT;
    Push__Message__Register *rs[] = {&r1, &r2};
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    ProtobufCBinaryData a = {.len = sizeof(addr), .data = (uint8_t *)addr};
    p.n_addrs = 1;
    p.addrs = &a;
    r1.has_ns = r2.has_ns = 1;
    r1.ns = fz_bytes("a");
    r2.ns = fz_bytes("b");
    r1.peer = r2.peer = &p;
    m.n_register_ = 2;
    m.register_ = rs;
    fz_feed(f->s[S_B], &m);

    Push__Message w = PUSH__MESSAGE__INIT;
    Push__Message__Rendezvous v1 = PUSH__MESSAGE__RENDEZVOUS__INIT, v2 = PUSH__MESSAGE__RENDEZVOUS__INIT;
    Push__Message__Rendezvous *vs[] = {&v1, &v2};
    v1.has_ns = v2.has_ns = 1;
    v1.ns = fz_bytes("a");
    v2.ns = fz_bytes("b");
    w.has_type = 1;
    w.type = PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS;
    w.n_rendezvous = 2;
    w.rendezvous = vs;
    fz_feed(f->s[S_W], &w);
}

/* Reads and checks everything queued to session i. */
static void fz_read(struct fz *f, int i)
{
    struct push_session *ps = f->s[i];
    const struct push_buf *b;
    size_t total = 0;

    const struct push_queue *q = ps->q;
    for (size_t k = 0; q && k < q->len; k++)
        total += q->ring[(q->head + k) % q->cap]->len;
    CHECK(q == NULL || q->len > 0); /* an empty queue is freed */
    CHECK(total - (q ? q->off : 0) == push_session_queued(ps));
    CHECK(!ps->cut || q == NULL);
    while ((b = push_session_peek(ps)) != NULL) {
        uint64_t len;
        int h = uvarint_get(b->bytes, b->len, &len);
        CHECK(h > 0 && (size_t)h + len == b->len);
        Push__Message *m = push__message__unpack(NULL, len, b->bytes + h);
        CHECK(m != NULL);
        if (m->has_status && m->status != PUSH__MESSAGE__RESPONSE_STATUS__OK) {
            CHECK(m->statustext != NULL && m->statustext[0] != '\0');
            CHECK(!b->announcement);
        } else {
            CHECK(m->has_type);
            CHECK(m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER ||
                  m->type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER);
            for (size_t e = 0; e < m->n_register_ + m->n_unregister; e++) {
                const ProtobufCBinaryData *ns;
                const Push__Message__Peer *p;
                if (e < m->n_register_) {
                    ns = &m->register_[e]->ns;
                    p = m->register_[e]->peer;
                } else {
                    ns = &m->unregister[e - m->n_register_]->ns;
                    p = m->unregister[e - m->n_register_]->peer;
                }
                struct peer_id id;
                CHECK(registry_check_ns(&f->svc.reg, (const char *)ns->data, ns->len) == 0);
                CHECK(p != NULL && p->has_id);
                CHECK(peerid_from_text(&id, (const char *)p->id.data, p->id.len) == 0);
                CHECK(!peerid_eq(&id, fz_peer_of(f, i)));
                for (size_t k = 0; e < m->n_register_ && k < p->n_addrs; k++)
                    CHECK(multiaddr_validate(p->addrs[k].data, p->addrs[k].len) == 0);
            }
        }
        push__message__free_unpacked(m, NULL);
        push_session_pop(ps);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *f = fz_get();
    if (size < 1)
        return 0;
    /* Output limits: the defaults, or small enough to cut a session. */
    f->svc.cfg.out_hard_limit = data[0] & 1 ? 300 : 8u << 20;
    f->svc.cfg.out_soft_limit = data[0] & 2 ? 100 : 1u << 20;
    f->svc.cfg.out_soft_seconds = 0;
    data++;
    size--;

    for (int i = 0; i < NSESS; i++)
        f->s[i] = push_session_open(&f->svc, fz_peer_of(f, i), NULL);
    fz_prepare(f);
    for (int i = 0; i < NSESS; i++)
        fz_read(f, i);

    while (size >= 2) {
        int who = data[0] % 3; /* A, A2 or B; W only listens */
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        if (data[0] & 0x80)
            n = size - 2; /* the rest at once: large Messages too */
        if (push_session_input(f->s[who], data + 2, n) < 0) {
            push_session_free(f->s[who]);
            f->s[who] = push_session_open(&f->svc, fz_peer_of(f, who), NULL);
        }
        for (int i = 0; i < NSESS; i++)
            fz_read(f, i);
        data += 2 + n;
        size -= 2 + n;
    }

    for (int i = 0; i < NSESS; i++) {
        push_session_free(f->s[i]);
        f->s[i] = NULL;
        for (int j = i + 1; j < NSESS; j++)
            fz_read(f, j);
    }
    CHECK(f->svc.reg.stats.regs == 0);
    CHECK(f->svc.reg.stats.subs == 0);
    CHECK(f->svc.reg.stats.namespaces == 0);
    CHECK(f->svc.stats.sessions_open[RDV_DIALECT_PUSH] == 0);
    return 0;
}
