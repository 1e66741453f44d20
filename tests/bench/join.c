/* join: the loop time a subscriber joining a big namespace costs, in
 * process (no sockets), through the same entry point a stream uses
 * (push_session_input). M members register in one namespace, each its own
 * peer with an Ed25519 identity (52-character peer id text) and two
 * addresses; then J new sessions subscribe one after another and the CPU
 * time of each RENDEZVOUS - building and queueing the snapshot - is taken.
 * Every snapshot is decoded outside the clock and must list all M. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/arena.h"
#include "base/lpm.h"
#include "base/varint.h"
#include "host/host.h"
#include "microbench.h"
#include "push.pb-c.h"
#include "rendezvous/push.h"
#include "rendezvous/service.h"

#define JOIN_NS "join"

static uint64_t join_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An identity-hash peer id of a random Ed25519 key, as libp2p peers have. */
static struct peer_id join_peer(void)
{
    struct peer_id p = {.len = 38};
    static const uint8_t head[6] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20};
    memcpy(p.b, head, sizeof(head));
    randombytes_buf(p.b + 6, 32);
    return p;
}

/* A framed push REGISTER (one address) or RENDEZVOUS in ns, appended to out. */
static void join_request(struct buf *out, bool reg, const char *ns, const uint8_t *addr,
                         size_t addr_len)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r = PUSH__MESSAGE__REGISTER__INIT;
    Push__Message__Rendezvous z = PUSH__MESSAGE__RENDEZVOUS__INIT;
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    Push__Message__Register *rs[1] = {&r};
    Push__Message__Rendezvous *zs[1] = {&z};
    ProtobufCBinaryData a = {addr_len, (uint8_t *)addr};
    uint8_t tmp[512];

    m.has_type = 1;
    if (reg) {
        m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
        m.n_register_ = 1;
        m.register_ = rs;
        r.has_ns = 1;
        r.ns = (ProtobufCBinaryData){strlen(ns), (uint8_t *)ns};
        r.peer = &p; /* no id: the sender */
        p.n_addrs = 1;
        p.addrs = &a;
    } else {
        m.type = PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS;
        m.n_rendezvous = 1;
        m.rendezvous = zs;
        z.has_ns = 1;
        z.ns = (ProtobufCBinaryData){strlen(ns), (uint8_t *)ns};
    }
    size_t n = push__message__get_packed_size(&m);
    if (n > sizeof(tmp))
        abort(); /* small fixed shapes only */
    push__message__pack(&m, tmp);
    lpm_frame(out, tmp, n);
}

static int join_send(struct push_session *ps, struct buf *b)
{
    int rc = push_session_input(ps, buf_head(b), buf_size(b));
    buf_reset(b);
    return rc;
}

/* Drops what is queued for ps; returns the register entries in it. */
static size_t join_drain(struct push_session *ps, struct arena *a)
{
    const struct push_buf *b;
    size_t entries = 0;
    while ((b = push_session_peek(ps)) != NULL) {
        uint64_t len;
        int h = uvarint_get(b->bytes, b->len, &len);
        Push__Message *m = h > 0 ? push__message__unpack(&a->pb, (size_t)len, b->bytes + h) : NULL;
        if (m && m->has_type && m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER)
            entries += m->n_register_;
        arena_free(a);
        push_session_pop(ps);
    }
    return entries;
}

static int join_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int run_join(const struct bench_opts *o, struct bench_table *t)
{
    size_t members = o->sessions > 0 ? (size_t)o->sessions : 10000;
    int joiners = o->quick ? 10 : 40;
    struct bench_row *row = table_add(t, "join");
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct log log;
    struct host host;
    struct rdv_config cfg;
    struct rdv_service svc;
    struct privkey k;
    struct buf req = BUF_INIT;
    uint8_t arena_mem[4096];
    struct arena arena;
    double *ms = calloc((size_t)joiners, sizeof(*ms));
    struct push_session **ps = calloc(members + (size_t)joiners, sizeof(*ps));
    int rc = -1;

    if (row == NULL || ms == NULL || ps == NULL)
        goto out;
    snprintf(row->params, sizeof(row->params), "%zu members, %d joiners", members, joiners);
    snprintf(row->figure, sizeof(row->figure), "failed");
    arena_init(&arena, arena_mem, sizeof(arena_mem));
    log_init(&log, LOG_ERROR, LOG_TEXT, stderr);
    privkey_generate(&k);
    host_init(&host, loop, &log, &k, NULL);
    privkey_wipe(&k);
    rdv_config_default(&cfg);
    cfg.limits.register_rate = 0;
    rdv_service_init(&svc, &host, &cfg);
    push_init(&svc);
    registry_listen(&svc.reg, &push_registry_events, &svc);

    const uint8_t a1[] = {0x04, 10, 1, 2, 3, 0x06, 0x0f, 0xa1};
    for (size_t i = 0; i < members; i++) {
        struct peer_id p = join_peer();
        ps[i] = push_session_open(&svc, &p, NULL);
        join_request(&req, true, JOIN_NS, a1, sizeof(a1));
        if (join_send(ps[i], &req) != 0)
            goto out;
        join_drain(ps[i], &arena);
    }
    for (int j = 0; j < joiners; j++) {
        struct peer_id p = join_peer();
        struct push_session *s = ps[members + (size_t)j] = push_session_open(&svc, &p, NULL);
        join_request(&req, false, JOIN_NS, NULL, 0);
        uint64_t t0 = join_cpu_ns();
        if (join_send(s, &req) != 0)
            goto out;
        ms[j] = (double)(join_cpu_ns() - t0) / 1e6;
        size_t got = join_drain(s, &arena);
        if (got != members) {
            fprintf(stderr, "rdv-bench: join: a snapshot of %zu entries, expected %zu\n", got,
                    members);
            goto out;
        }
    }
    double first = ms[0];
    qsort(ms, (size_t)joiners, sizeof(*ms), join_cmp);
    double p50 = ms[joiners / 2], worst = ms[joiners - 1];
    snprintf(row->figure, sizeof(row->figure),
             "%.2f ms of loop time per joiner (p50; first %.2f ms, max %.2f ms), %.0f ns per member",
             p50, first, worst, p50 * 1e6 / (double)members);
    snprintf(row->target, sizeof(row->target), "%.2fx of 5 ms", p50 / 5.0);
    rc = 0;
out:
    for (size_t i = 0; ps && i < members + (size_t)joiners; i++)
        if (ps[i])
            push_session_free(ps[i]);
    host_free(&host);
    rdv_service_free(&svc);
    push_free(&svc);
    ev_loop_destroy(loop);
    arena_free(&arena);
    buf_free(&req);
    free(ps);
    free(ms);
    return rc;
}
