/* The well-behaved client measured beside every attack: from 127.0.0.1, one
 * connection with an /ipfs/ping/1.0.0 round trip every 10 ms and a
 * /rendezvous/1.0.0 DISCOVER of its own namespace every 50 ms (one of each
 * in flight), and a fresh dial (TCP + Noise + yamux) every second. Round
 * trips go into the idle or the attack samples by phase; a request still
 * unanswered when the run ends counts with the time it has waited. Losing
 * the connection, a failed dial or a refused request counts as refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"
#include "host/ping.h"
#include "rendezvous/service.h"

#define PROBE_NS "probe"
#define PING_EVERY 0.010
#define DISC_EVERY 0.050
#define DIAL_EVERY 1.0

struct probe {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct host host;
    struct conn *c;
    struct protocol ping_proto;
    struct stream *ping;
    struct req_stream rdv;
    struct buf env, disc_msg;
    uint8_t payload[PING_SIZE];
    size_t got;
    double ping_t0, disc_t0, disc_last, dial_last;
    bool ping_busy, disc_busy, registered, reconnect;
    struct conn *dial;          /* the fresh connection being tested */
    ev_timer tick;
};

static void probe_refused(struct probe *p, const char *why)
{
    struct attack_shm *shm = p->x->shm;
    if (attack_phase(p->x) >= AP_DONE)
        return;
    if (atomic_fetch_add(&shm->probe_refused, 1) == 0)
        snprintf(shm->probe_why, sizeof(shm->probe_why), "%s", why);
}

static void probe_sample(struct probe *p, struct samples *two, double t0)
{
    int ph = attack_phase(p->x);
    if (ph < AP_IDLE)
        return;
    struct samples *s = &two[ph == AP_IDLE ? 0 : 1];
    uint32_t i = atomic_fetch_add(&s->n, 1);
    if (i < ATTACK_MAX_SAMPLES)
        s->v[i] = (float)((mono_s() - t0) * 1e3);
}

/* ---- ping ---------------------------------------------------------------- */

static int ping_open(struct stream *s)
{
    struct probe *p = s->state;
    p->ping = s;
    return 0;
}

static void ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct probe *p = s->state;
    for (size_t i = 0; i < n; i++, p->got++) {
        if (p->got >= PING_SIZE || d[i] != p->payload[p->got]) {
            attack_fail(p->x, "ping answered with other bytes");
            stream_reset(s);
            return;
        }
    }
    if (p->got == PING_SIZE && p->ping_busy) {
        p->ping_busy = false;
        probe_sample(p, p->x->shm->ping, p->ping_t0);
    }
}

static void ping_close(struct stream *s)
{
    struct probe *p = s->state;
    p->ping = NULL;
    if (p->c && !p->c->closing)
        probe_refused(p, "ping stream reset");
}

/* ---- rendezvous ------------------------------------------------------------ */

static void rdv_open(struct req_stream *r)
{
    struct probe *p = r->user;
    struct buf b = BUF_INIT;
    rdv1_register(&b, PROBE_NS, &p->env, 7200);
    req_stream_send(r, &b);
    buf_free(&b);
}

static void rdv_msg(struct req_stream *r, const uint8_t *m, size_t n)
{
    struct probe *p = r->user;
    int status;
    size_t nregs;
    if (!p->registered) {
        if (rdv1_answer(m, n, false, &status, &nregs, NULL, NULL) != 0 || status != 0) {
            probe_refused(p, "REGISTER refused");
            return;
        }
        p->registered = true;
        return;
    }
    if (rdv1_answer(m, n, true, &status, &nregs, NULL, NULL) != 0 || status != 0 || nregs != 1) {
        char why[64];
        snprintf(why, sizeof(why), "DISCOVER answered with status %d, %zu registrations", status,
                 nregs);
        probe_refused(p, why);
    }
    if (p->disc_busy) {
        p->disc_busy = false;
        probe_sample(p, p->x->shm->disc, p->disc_t0);
    }
}

static void rdv_end(struct req_stream *r, const char *why)
{
    struct probe *p = r->user;
    if (p->c && !p->c->closing)
        probe_refused(p, why);
}

/* ---- connections ------------------------------------------------------------ */

static void main_ready(struct conn *c, void *user)
{
    struct probe *p = user;
    p->ping_busy = p->disc_busy = false;
    p->registered = false;
    if (conn_open_stream(c, &p->ping_proto, p) == NULL || req_stream_open(&p->rdv, c, RDV1_PROTOCOL_ID, p) < 0)
        probe_refused(p, "no stream");
}

static void main_closed(struct conn *c, void *user, const char *reason)
{
    struct probe *p = user;
    (void)c;
    p->c = NULL;
    p->ping = NULL;
    if (attack_phase(p->x) < AP_DONE) {
        char why[160];
        snprintf(why, sizeof(why), "connection closed: %s", reason);
        probe_refused(p, why);
        p->reconnect = true;
    }
}

static const struct conn_events main_events = {.on_ready = main_ready, .on_closed = main_closed};

static void dial_ready(struct conn *c, void *user)
{
    struct probe *p = user;
    atomic_fetch_add(&p->x->shm->dials_ok, 1);
    conn_close(c, "done");
}

static void dial_closed(struct conn *c, void *user, const char *reason)
{
    struct probe *p = user;
    (void)c;
    p->dial = NULL;
    if (strcmp(reason, "done") != 0 && attack_phase(p->x) < AP_DONE) {
        atomic_fetch_add(&p->x->shm->dials_failed, 1);
        char why[160];
        snprintf(why, sizeof(why), "new dial: %s", reason);
        if (p->x->shm->probe_why[0] == 0)
            snprintf(p->x->shm->probe_why, sizeof(p->x->shm->probe_why), "%s", why);
    }
}

static const struct conn_events dial_events = {.on_ready = dial_ready, .on_closed = dial_closed};

static void probe_connect(struct probe *p)
{
    char err[256];
    p->reconnect = false;
    p->c = host_dial(&p->host, p->x->daemon_ma, &main_events, p, err, sizeof(err));
    if (p->c == NULL) {
        probe_refused(p, err);
        p->reconnect = true;
    }
}

static void probe_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct probe *p = t->data;
    double now = mono_s();
    int ph = attack_phase(p->x);
    (void)revents;

    if (ph >= AP_DONE || getppid() != p->x->parent) {
        /* What is still unanswered waited at least this long. */
        if (p->ping_busy)
            probe_sample(p, p->x->shm->ping, p->ping_t0);
        if (p->disc_busy)
            probe_sample(p, p->x->shm->disc, p->disc_t0);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (p->reconnect)
        probe_connect(p);
    if (p->ping && !p->ping_busy && now - p->ping_t0 >= PING_EVERY) {
        randombytes_buf(p->payload, sizeof(p->payload));
        p->got = 0;
        p->ping_busy = true;
        p->ping_t0 = now;
        stream_write(p->ping, p->payload, sizeof(p->payload));
    }
    if (p->registered && p->rdv.s && !p->disc_busy && now - p->disc_last >= DISC_EVERY) {
        p->disc_busy = true;
        p->disc_t0 = p->disc_last = now;
        req_stream_send(&p->rdv, &p->disc_msg);
    }
    if (ph >= AP_IDLE && p->dial == NULL && now - p->dial_last >= DIAL_EVERY) {
        char err[256];
        p->dial_last = now;
        p->dial = host_dial(&p->host, p->x->daemon_ma, &dial_events, p, err, sizeof(err));
        if (p->dial == NULL)
            atomic_fetch_add(&p->x->shm->dials_failed, 1);
    }
    if (p->ping && p->registered && !atomic_load(&p->x->shm->probe_ready))
        atomic_store(&p->x->shm->probe_ready, 1);
}

int probe_main(struct attack_ctx *x)
{
    struct probe *p = xcalloc(1, sizeof(*p));
    struct privkey k;

    if (sodium_init() < 0)
        return 1;
    p->x = x;
    p->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&p->log, LOG_ERROR, LOG_TEXT, stderr);
    privkey_generate(&k);
    host_init(&p->host, p->loop, &p->log, &k, NULL);
    peer_envelope(&k, false, &p->env);
    privkey_wipe(&k);
    rdv1_discover(&p->disc_msg, PROBE_NS, 10, NULL, 0);
    p->ping_proto = (struct protocol){.id = PING_PROTOCOL_ID, .on_open = ping_open,
                                      .on_data = ping_data, .on_close = ping_close};
    p->rdv.on_msg = rdv_msg;
    p->rdv.on_open = rdv_open;
    p->rdv.on_end = rdv_end;
    probe_connect(p);
    ev_timer_init(&p->tick, probe_tick, 0.002, 0.002);
    p->tick.data = p;
    ev_timer_start(p->loop, &p->tick);
    ev_run(p->loop, 0);
    ev_timer_stop(p->loop, &p->tick);
    host_free(&p->host);
    ev_loop_destroy(p->loop);
    buf_free(&p->env);
    buf_free(&p->disc_msg);
    free(p);
    return 0;
}
