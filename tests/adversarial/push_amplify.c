/* push-amplify: 1,000 push-mode subscribers of a namespace that read
 * normally, 5 honest members registered in it, and one peer that sends
 * REGISTER Messages of 200 entries for its own (peer, namespace) as fast as
 * the daemon takes them - every other Message re-registers the same
 * addresses 200 times, the ones between change them on every entry.
 * Bound: no subscriber is cut, each ends with exactly the members a DISCOVER
 * lists once the flood is over (latest state, nothing stale, nothing
 * missing); RSS growth < 128 MB; an unrelated client's ping p99 < 50 ms.
 *
 * refresh-flood: the same flooder, but every Message re-registers one
 * unchanged (peer, namespace) 200 times: refreshes, never announced, so
 * bounded only by their rate (a tenth of a token each). Bound: the
 * well-behaved client's ping and DISCOVER as for every scenario, and the
 * flood handled at a bounded rate - once the peer's bucket is empty every
 * Message handled gets one refusal status and the session waits for the
 * next token, so the refusals come at most RF_MAX_STATUS_RATE a second and
 * the daemon's CPU during the flood stays under RF_MAX_CPU of a core
 * (without a rate: a full core, entries handled as fast as sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"
#include "push.pb-c.h"
#include "client/push_client.h"

#define PA_NS "amplified"
#define PA_SUBS 1000
#define PA_MEMBERS 5
#define PA_ENTRIES 200
#define PA_MAX_VIEW 16
#define PA_DIALS_IN_FLIGHT 32
#define PA_FLOOD_PENDING (256u << 10)   /* the flooder's own unsent bytes kept below this */
/* refresh-flood's bounds: register-rate 10 makes a refused session wait
 * 0.1 s, so 10 refusals a second; twice that allows for the burst. CPU:
 * the probe's own traffic and the handled Messages, well under a core. */
#define RF_MAX_STATUS_RATE 20.0
#define RF_MAX_CPU 0.25

/* What one session believes the namespace holds. */
struct pa_member {
    char id[64];
    uint64_t addrs;              /* hash of the address list */
};

struct pa_view {
    struct pa_member m[PA_MAX_VIEW];
    size_t n;
    bool overflow;
};

struct pa_sub {
    struct pa_honest *h;
    struct conn *c;
    struct push_client pc;
    struct pa_view view;
    bool ready, cut, dialing, redial;
};

struct pa_honest {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct host host;               /* subscribers and the observer */
    struct host mhost[PA_MEMBERS];  /* one identity per member */
    struct pa_sub *subs;
    size_t nsubs, dialed, in_flight, cut, redials;
    struct pa_sub members[PA_MEMBERS], observer;
    struct pa_view truth;           /* the observer's latest DISCOVER answer */
    uint64_t truths;                /* answers received */
    double asked;                   /* when the last DISCOVER was sent */
    bool asking;
    bool closing;                   /* our own teardown: sessions end, none is cut */
};

static uint64_t pa_hash(const Push__Message__Peer *p)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; p && i < p->n_addrs; i++) {
        h = (h ^ p->addrs[i].len) * 1099511628211ull;
        for (size_t k = 0; k < p->addrs[i].len; k++)
            h = (h ^ p->addrs[i].data[k]) * 1099511628211ull;
    }
    return h;
}

static void pa_view_set(struct pa_view *v, const Push__Message__Peer *p, bool present)
{
    char id[64];
    if (p == NULL || !p->has_id || p->id.len >= sizeof(id))
        return;
    memcpy(id, p->id.data, p->id.len);
    id[p->id.len] = 0;
    size_t i = 0;
    while (i < v->n && strcmp(v->m[i].id, id) != 0)
        i++;
    if (!present) {
        if (i < v->n)
            v->m[i] = v->m[--v->n];
        return;
    }
    if (i == v->n) {
        if (v->n == PA_MAX_VIEW) {
            v->overflow = true;
            return;
        }
        v->n++;
        snprintf(v->m[i].id, sizeof(v->m[i].id), "%s", id);
    }
    v->m[i].addrs = pa_hash(p);
}

static bool pa_view_eq(const struct pa_view *a, const struct pa_view *b)
{
    if (a->n != b->n || a->overflow || b->overflow)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        size_t k = 0;
        while (k < b->n && strcmp(a->m[i].id, b->m[k].id) != 0)
            k++;
        if (k == b->n || a->m[i].addrs != b->m[k].addrs)
            return false;
    }
    return true;
}

/* ---- the honest side ------------------------------------------------------ */

static void pa_sub_message(struct push_client *pc, const Push__Message *m)
{
    struct pa_sub *s = pc->user;
    if (m->status != 0)
        return;
    if (m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER)
        for (size_t i = 0; i < m->n_register_; i++)
            pa_view_set(&s->view, m->register_[i]->peer, true);
    else if (m->type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER)
        for (size_t i = 0; i < m->n_unregister; i++)
            pa_view_set(&s->view, m->unregister[i]->peer, false);
}

static void pa_sub_open(struct push_client *pc)
{
    push_client_rendezvous(pc, PA_NS);
}

static void pa_sub_end(struct push_client *pc, const char *why)
{
    struct pa_sub *s = pc->user;
    if (attack_phase(s->h->x) >= AP_DONE || s->cut || s->h->closing)
        return;
    s->cut = true;
    s->h->cut++;
    if (s->h->cut == 1)
        attack_note(s->h->x, "first subscriber cut: %s", why);
}

static const struct push_client_handler pa_sub_handler = {
    .on_open = pa_sub_open, .on_message = pa_sub_message, .on_end = pa_sub_end,
};

/* The observer asks with DISCOVER; its answer is the truth to converge to. */
static void pa_obs_message(struct push_client *pc, const Push__Message *m)
{
    struct pa_sub *s = pc->user;
    struct pa_honest *h = s->h;
    if (m->status != 0 || m->type != PUSH__MESSAGE__MESSAGE_TYPE__REGISTER)
        return;
    memset(&h->truth, 0, sizeof(h->truth));
    for (size_t i = 0; i < m->n_register_; i++)
        pa_view_set(&h->truth, m->register_[i]->peer, true);
    h->truths++;
    h->asking = false;
}

static const struct push_client_handler pa_obs_handler = {
    .on_message = pa_obs_message, .on_end = pa_sub_end,
};

static void pa_member_open(struct push_client *pc)
{
    struct pa_sub *s = pc->user;
    uint8_t ma[8] = {0x04, 127, 0, 0, 1, 0x06, 0x10, 0x00};
    ma[7] = (uint8_t)(s - s->h->members);
    struct rdv_addr a = {ma, sizeof(ma)};
    push_client_register(pc, PA_NS, NULL, &a, 1);
}

static const struct push_client_handler pa_member_handler = {
    .on_open = pa_member_open, .on_message = pa_sub_message, .on_end = pa_sub_end,
};

static void pa_conn_ready(struct conn *c, void *user)
{
    struct pa_sub *s = user;
    struct pa_honest *h = s->h;
    const struct push_client_handler *hd = s == &h->observer            ? &pa_obs_handler
                                           : s >= h->members && s < h->members + PA_MEMBERS
                                               ? &pa_member_handler
                                               : &pa_sub_handler;
    if (s->dialing) {
        s->dialing = false;
        h->in_flight--;
    }
    if (push_client_open(&s->pc, c, NULL, hd, s) < 0)
        attack_fail(h->x, "no push session");
}

static void pa_conn_closed(struct conn *c, void *user, const char *reason)
{
    struct pa_sub *s = user;
    (void)c;
    s->c = NULL;
    if (s->dialing) { /* refused before it was ready (a rate limit): again */
        s->dialing = false;
        s->h->in_flight--;
        s->redial = true;
        if (++s->h->redials > 1000)
            attack_fail(s->h->x, "subscribers keep failing to connect: %s", reason);
    }
}

static const struct conn_events pa_events = {.on_ready = pa_conn_ready, .on_closed = pa_conn_closed};

static bool pa_members_seen(void *arg)
{
    struct pa_honest *h = arg;
    if (!h->asking && h->observer.pc.opened && h->observer.pc.stream) {
        h->asking = true;
        push_client_discover(&h->observer.pc, PA_NS, 1000);
    }
    return h->truth.n == PA_MEMBERS;
}

static bool pa_dial_sub(struct pa_honest *h, size_t i)
{
    struct pa_sub *s = &h->subs[i];
    s->h = h;
    s->dialing = true;
    s->redial = false;
    s->c = peer_dial(&h->host, h->x, NET_HONEST, (uint32_t)i, &pa_events, s);
    if (s->c == NULL) {
        attack_fail(h->x, "cannot dial subscriber %zu", i);
        return false;
    }
    h->in_flight++;
    return true;
}

static bool pa_subscribed(void *arg)
{
    struct pa_honest *h = arg;
    for (size_t i = 0; i < h->dialed && h->in_flight < PA_DIALS_IN_FLIGHT; i++)
        if (h->subs[i].redial && !pa_dial_sub(h, i))
            return true;
    while (h->dialed < h->nsubs && h->in_flight < PA_DIALS_IN_FLIGHT) {
        if (!pa_dial_sub(h, h->dialed))
            return true;
        h->dialed++;
    }
    size_t synced = 0;
    for (size_t i = 0; i < h->dialed; i++)
        synced += pa_view_eq(&h->subs[i].view, &h->truth);
    return synced == h->nsubs || atomic_load(&h->x->shm->failed);
}

/* After the flood: ask again and again until every subscriber's view is the
 * answer, or time runs out. */
static bool pa_converged(void *arg)
{
    struct pa_honest *h = arg;
    if (!h->asking && mono_s() - h->asked > 0.2 && h->observer.pc.stream) {
        h->asked = mono_s();
        h->asking = true;
        push_client_discover(&h->observer.pc, PA_NS, 1000);
    }
    if (h->truths == 0)
        return false;
    for (size_t i = 0; i < h->nsubs; i++)
        if (!h->subs[i].cut && !pa_view_eq(&h->subs[i].view, &h->truth))
            return false;
    return true;
}

static int pa_honest_role(struct attack_ctx *x)
{
    struct pa_honest *h = xcalloc(1, sizeof(*h));
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    h->x = x;
    h->nsubs = attack_size(x, PA_SUBS, 100);
    h->subs = xcalloc(h->nsubs, sizeof(*h->subs));
    h->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&h->log, LOG_ERROR, LOG_TEXT, stderr);
    peer_host_init(&h->host, h->loop, &h->log);
    for (int i = 0; i < PA_MEMBERS; i++) {
        peer_host_init(&h->mhost[i], h->loop, &h->log);
        h->members[i].h = h;
        h->members[i].c = peer_dial(&h->mhost[i], x, NET_HONEST, (uint32_t)(60000 + i), &pa_events,
                                    &h->members[i]);
    }
    h->observer.h = h;
    h->observer.c = peer_dial(&h->host, x, NET_HONEST, 60010, &pa_events, &h->observer);
    if (!attack_loop_until(x, h->loop, pa_members_seen, h, AP_STOP, 60)) {
        rc = attack_fail(x, "the %d members are not listed (%zu)", PA_MEMBERS, h->truth.n);
        goto out;
    }
    if (!attack_loop_until(x, h->loop, pa_subscribed, h, AP_STOP, 180) ||
        atomic_load(&x->shm->failed)) {
        rc = attack_fail(x, "subscribers did not all get the snapshot");
        goto out;
    }
    attack_ready(x);
    attack_loop_until(x, h->loop, NULL, NULL, AP_STOP, 3600);
    h->truths = 0;
    h->asking = false;
    bool ok = attack_loop_until(x, h->loop, pa_converged, h, AP_DONE, 50);
    size_t wrong = 0;
    for (size_t i = 0; i < h->nsubs; i++)
        wrong += !h->subs[i].cut && !pa_view_eq(&h->subs[i].view, &h->truth);
    atomic_store(&x->shm->ops2, h->cut);
    if (h->cut)
        rc = attack_fail(x, "%zu of %zu subscribers cut", h->cut, h->nsubs);
    else if (!ok && attack_phase(x) >= AP_DONE)
        rc = attack_fail(x, "stopped before the subscribers' lists could be checked");
    else if (!ok)
        rc = attack_fail(x, "%zu of %zu subscribers do not list the %zu members a DISCOVER lists",
                         wrong, h->nsubs, h->truth.n);
    attack_done(x);
out:
    h->closing = true;
    host_free(&h->host);
    for (int i = 0; i < PA_MEMBERS; i++)
        host_free(&h->mhost[i]);
    ev_loop_destroy(h->loop);
    free(h->subs);
    free(h);
    return rc;
}

/* ---- the flooder ------------------------------------------------------------ */

struct pa_flood {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct host host;
    struct conn *c;
    struct push_client pc;
    uint64_t sent, entries, refused, cuts, answers;
    uint32_t next_port;
    double redial_at;
    bool open, ended;
    bool refresh_only;              /* refresh-flood: no Message changes anything */
    Push__Message__Register reg[PA_ENTRIES], *regp[PA_ENTRIES];
    Push__Message__Peer peer[PA_ENTRIES];
    ProtobufCBinaryData addr[PA_ENTRIES];
    uint8_t ma[PA_ENTRIES][8];
};

static void pa_flood_message(struct push_client *pc, const Push__Message *m)
{
    struct pa_flood *f = pc->user;
    if (m->status != 0)
        f->refused++;
    else if (m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER)
        f->answers++;   /* a DISCOVER's answer */
}

static void pa_flood_open(struct push_client *pc)
{
    struct pa_flood *f = pc->user;
    f->open = true;
}

static void pa_flood_end(struct push_client *pc, const char *why)
{
    struct pa_flood *f = pc->user;
    (void)why;
    f->ended = true;
}

static const struct push_client_handler pa_flood_handler = {
    .on_open = pa_flood_open, .on_message = pa_flood_message, .on_end = pa_flood_end,
};

static void pa_flood_ready(struct conn *c, void *user)
{
    struct pa_flood *f = user;
    if (push_client_open(&f->pc, c, NULL, &pa_flood_handler, f) < 0)
        f->ended = true;
}

static void pa_flood_closed(struct conn *c, void *user, const char *reason)
{
    struct pa_flood *f = user;
    (void)reason;
    if (f->c == c) {
        f->c = NULL;
        f->ended = true;
    }
}

static const struct conn_events pa_flood_events = {.on_ready = pa_flood_ready,
                                                   .on_closed = pa_flood_closed};

static bool pa_flood_open_done(void *arg)
{
    struct pa_flood *f = arg;
    return f->open || f->ended;
}

/* One REGISTER Message of PA_ENTRIES entries. */
static void pa_flood_send(struct pa_flood *f)
{
    bool change = !f->refresh_only && (f->sent & 1);
    for (int i = 0; i < PA_ENTRIES; i++) {
        uint16_t port = (uint16_t)(1 + f->next_port % 60000);
        if (change)
            f->next_port++;
        uint8_t *ma = f->ma[i];
        ma[0] = 0x04, ma[1] = 127, ma[2] = 0, ma[3] = 0, ma[4] = 1, ma[5] = 0x06;
        ma[6] = (uint8_t)(port >> 8), ma[7] = (uint8_t)port;
    }
    Push__Message m = PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.n_register_ = PA_ENTRIES;
    m.register_ = f->regp;
    push_client_send(&f->pc, &m);
    f->sent++;
    f->entries += PA_ENTRIES;
}

/* Keeps the flooder's own output full: a Message whenever less than
 * PA_FLOOD_PENDING waits on our side. Even Messages repeat one address 200
 * times (unchanged re-REGISTERs), odd ones change it on every entry. */
static bool pa_flood_pump(void *arg)
{
    struct pa_flood *f = arg;
    /* Cut off: come back, as an attacker would (a new connection, the same
     * peer), at most every 50 ms. */
    if (f->ended && mono_s() >= f->redial_at) {
        if (f->c)
            conn_close(f->c, "again");
        f->cuts++;
        f->ended = f->open = false;
        f->redial_at = mono_s() + 0.05;
        f->c = peer_dial(&f->host, f->x, NET_ATTACKER, 0, &pa_flood_events, f);
        if (f->c == NULL)
            f->ended = true;
    }
    for (int burst = 0; burst < 64 && f->c && f->pc.stream && f->pc.stream->ys; burst++) {
        size_t unsent = (f->c->out ? buf_size(f->c->out) : 0) + yamux_out_size(&f->c->mux) +
                        yamux_pending(f->pc.stream->ys);
        if (unsent > PA_FLOOD_PENDING)
            break;
        pa_flood_send(f);
    }
    atomic_store(&f->x->shm->ops, f->entries);
    return false;
}

/* refresh-flood's figures, from the flooder to the judge. */
struct rf_shm {
    double secs, cpu;              /* attack duration; daemon CPU seconds in it */
    uint64_t entries, refused;     /* entries sent; refusal statuses received */
};

static bool pa_flood_answered(void *arg)
{
    struct pa_flood *f = arg;
    return f->answers > 0 || f->ended;
}

/* refresh-flood's setup: the registration the flood refreshes, made (the
 * answer of a DISCOVER sent behind it says so) before the attack. */
static int rf_register(struct pa_flood *f)
{
    pa_flood_send(f);           /* its first entry registers, the others refresh */
    push_client_discover(&f->pc, PA_NS, 1);
    if (!attack_loop_until(f->x, f->loop, pa_flood_answered, f, AP_STOP, 60) || f->ended)
        return attack_fail(f->x, "the flooder's registration was not made");
    return 0;
}

static int pa_flood_role(struct attack_ctx *x, bool refresh_only)
{
    struct pa_flood *f = xcalloc(1, sizeof(*f));
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    f->x = x;
    f->refresh_only = refresh_only;
    f->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&f->log, LOG_ERROR, LOG_TEXT, stderr);
    peer_host_init(&f->host, f->loop, &f->log);
    for (int i = 0; i < PA_ENTRIES; i++) {
        push__message__register__init(&f->reg[i]);
        push__message__peer__init(&f->peer[i]);
        f->reg[i].has_ns = 1;
        f->reg[i].ns = (ProtobufCBinaryData){.len = strlen(PA_NS), .data = (uint8_t *)PA_NS};
        f->addr[i] = (ProtobufCBinaryData){.len = sizeof(f->ma[i]), .data = f->ma[i]};
        f->peer[i].n_addrs = 1;
        f->peer[i].addrs = &f->addr[i];
        f->reg[i].peer = &f->peer[i];
        f->regp[i] = &f->reg[i];
    }
    f->c = peer_dial(&f->host, x, NET_ATTACKER, 0, &pa_flood_events, f);
    if (f->c == NULL || !attack_loop_until(x, f->loop, pa_flood_open_done, f, AP_STOP, 60) ||
        f->ended) {
        rc = attack_fail(x, "the flooder could not open its session");
        goto out;
    }
    if (refresh_only && (rc = rf_register(f)) != 0)
        goto out;
    attack_ready(x);
    attack_loop_until(x, f->loop, NULL, NULL, AP_ATTACK, 3600);
    double t0 = mono_s(), cpu0 = proc_cpu(x->daemon_pid);
    f->refused = f->entries = 0;
    attack_loop_until(x, f->loop, pa_flood_pump, f, AP_STOP, 3600);
    double el = mono_s() - t0;
    if (refresh_only) {
        struct rf_shm *rf = (struct rf_shm *)x->shm->scen;
        rf->secs = el;
        rf->cpu = proc_cpu(x->daemon_pid) - cpu0;
        rf->entries = f->entries;
        rf->refused = f->refused;
    }
    attack_note(x, "attack: %.0f REGISTER entries/s in Messages of %d, %llu refusals, "
                   "flooder cut %llu times (and back)", (double)f->entries / el, PA_ENTRIES,
                (unsigned long long)f->refused, (unsigned long long)f->cuts);
    /* Stay connected (its registration stays) while the subscribers check. */
    attack_done(x);
    attack_loop_until(x, f->loop, NULL, NULL, AP_DONE, 3600);
out:
    host_free(&f->host);
    ev_loop_destroy(f->loop);
    free(f);
    return rc;
}

static int pa_role(struct attack_ctx *x)
{
    return x->role == 0 ? pa_honest_role(x) : pa_flood_role(x, false);
}

static int rf_role(struct attack_ctx *x) { return pa_flood_role(x, true); }

static int rf_judge(struct attack_ctx *x, double attack_s, char *out, size_t cap)
{
    const struct rf_shm *rf = (const struct rf_shm *)x->shm->scen;
    double secs = rf->secs > 0 ? rf->secs : attack_s;
    double status_rate = (double)rf->refused / secs, cpu = rf->cpu / secs;
    bool ok = status_rate <= RF_MAX_STATUS_RATE && cpu <= RF_MAX_CPU && rf->refused > 0;
    snprintf(out, cap, "%.0f entries/s sent, %.1f refusals/s (each a Message of %d entries "
             "handled; bound %.0f), daemon CPU %.0f%% of a core (bound %.0f%%)%s",
             (double)rf->entries / secs, status_rate, PA_ENTRIES, RF_MAX_STATUS_RATE, cpu * 100,
             RF_MAX_CPU * 100, rf->refused ? "" : "; never refused");
    return ok ? 0 : 1;
}

const struct scenario scen_push_amplify = {
    .name = "push-amplify",
    .what = "1,000 subscribers; one peer re-registers 200 entries per Message, flat out",
    .nroles = 2,
    .role = pa_role,
    .rss_bound_mb = 128,
    .ping_absolute = true,
    .attack_s = 15,
    .attack_s_short = 3,
};

const struct scenario scen_refresh_flood = {
    .name = "refresh-flood",
    .what = "one peer re-registers one unchanged registration 200 times per Message, flat out",
    .nroles = 1,
    .role = rf_role,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
    .judge = rf_judge,
};
