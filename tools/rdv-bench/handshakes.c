/* The handshakes scenario: closed-loop dialers each doing TCP connect,
 * multistream-select, Noise XX, multistream-select, yamux, then close, as
 * fast as the server lets them. Beside it, the cost of the raw libsodium
 * operations of one responder handshake, timed in this process before the
 * load starts, gives the bound the measured rate is compared to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rendezvous/client.h>
#include <sodium.h>

#include "bench.h"

struct hs_shm {
    _Atomic uint64_t count[BENCH_MAX_WORKERS];
    _Atomic uint64_t failed[BENCH_MAX_WORKERS];
    _Atomic int measuring;
    _Atomic int stop;
    struct hist lat[BENCH_MAX_WORKERS];
};

struct hs_cfg {
    const char *addr;
    int dialers, nworkers;
    struct hs_shm *shm;
};

/* A dialer is one rdv_client that connects, closes, and connects again. */
struct dialer {
    struct hs_worker *w;
    rdv_client *c;
    uint64_t t0;
    bool dialing;   /* inside rdv_client_connect: a close now is a failed dial */
    bool dead;      /* its dial failed at once: it stops */
};

struct hs_worker {
    const struct hs_cfg *cfg;
    int idx;
    struct ev_loop *loop;
    struct dialer *d;
    int n;
    bool stopping;
    pid_t parent;
    ev_timer tick;
};

static void hs_dial(struct dialer *d)
{
    d->t0 = now_ns();
    d->dialing = true;
    rdv_client_connect(d->c);
    d->dialing = false;
}

static void hs_state(rdv_client *c, int connected, const char *reason, void *arg)
{
    struct dialer *d = arg;
    struct hs_worker *w = d->w;
    struct hs_shm *shm = w->cfg->shm;
    if (connected) {
        atomic_fetch_add_explicit(&shm->count[w->idx], 1, memory_order_relaxed);
        if (atomic_load_explicit(&shm->measuring, memory_order_relaxed))
            hist_add(&shm->lat[w->idx], now_ns() - d->t0);
        rdv_client_close(c);
        return;
    }
    if (strcmp(reason, "closed by the client") != 0)
        atomic_fetch_add_explicit(&shm->failed[w->idx], 1, memory_order_relaxed);
    if (d->dialing) { /* the dial itself failed: this dialer stops */
        fprintf(stderr, "rdv-bench: dial: %s\n", reason);
        d->dead = true;
        return;
    }
    if (!w->stopping)
        hs_dial(d);
}

static void hs_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct hs_worker *w = t->data;
    (void)revents;
    if (atomic_load(&w->cfg->shm->stop) || getppid() != w->parent) {
        w->stopping = true;
        ev_break(loop, EVBREAK_ALL);
    }
}

static int hs_worker_main(int idx, int wfd, void *arg)
{
    const struct hs_cfg *cfg = arg;
    struct hs_worker *w = bench_calloc(1, sizeof(*w));
    uint8_t key[RDV_CLIENT_KEY_SIZE];
    size_t key_len;
    char err[256];

    (void)wfd;
    w->cfg = cfg;
    w->idx = idx;
    w->parent = getppid();
    w->n = cfg->dialers / cfg->nworkers + (idx < cfg->dialers % cfg->nworkers);
    w->d = bench_calloc((size_t)(w->n > 0 ? w->n : 1), sizeof(*w->d));
    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    /* One identity per process, as libp2p clients have. */
    if (rdv_client_key_new(key, sizeof(key), &key_len, NULL, 0) != RDV_CLIENT_OK)
        return 1;
    ev_timer_init(&w->tick, hs_tick, 0.02, 0.02);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    for (int i = 0; i < w->n; i++) {
        struct dialer *d = &w->d[i];
        rdv_client_options o = {
            .server = cfg->addr, .key = key, .key_len = key_len, .on_state = hs_state, .arg = d,
            .keepalive_s = -1, .connect_timeout_s = 60,
        };
        d->w = w;
        d->t0 = now_ns();
        d->c = rdv_client_new(w->loop, &o, err, sizeof(err));
        if (d->c == NULL) {
            atomic_fetch_add(&cfg->shm->failed[idx], 1);
            fprintf(stderr, "rdv-bench: dial: %s\n", err);
        }
    }
    ev_run(w->loop, 0);
    w->stopping = true;
    ev_timer_stop(w->loop, &w->tick);
    for (int i = 0; i < w->n; i++)
        rdv_client_free(w->d[i].c);
    ev_loop_destroy(w->loop);
    free(w->d);
    free(w);
    return 0;
}

/* ---- the raw bound ------------------------------------------------------ */

/* The libsodium work of one responder handshake (src/noise/noise.c):
 * ephemeral keypair (1 X25519 base), ee, es, se (3 X25519), the initiator's
 * identity signature (1 Ed25519 verify), 8 SHA-256 MixHash, 4 HKDF (12
 * HMAC-SHA256: ee, es, se, Split), and 4 ChaCha20-Poly1305 calls (our
 * static key and payload sealed, theirs opened). Our own signature is
 * precomputed. Returns handshakes/s on one core; without `verify`, the bound
 * for a peer whose payload the server's verified-payload cache already holds
 * (every dialer here reuses its process's identity and static key, as libp2p
 * clients do, so all but the first handshake of each are such). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double crypto_bound(double seconds, bool verify)
{
    uint8_t epriv[32], epub[32], rpriv[32], rpub[32], dh[32], h[32], ck[32], k[32];
    uint8_t pk[32], sk[64], sig[64], msg[56], ct[160], pt[160], nonce[12] = {0};
    uint8_t payload[104];
    unsigned long long clen;
    crypto_hash_sha256_state hs;
    crypto_auth_hmacsha256_state as;
    uint64_t iters = 0;

    randombytes_buf(rpriv, sizeof(rpriv));
    crypto_scalarmult_base(rpub, rpriv);
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof(msg));
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
    randombytes_buf(payload, sizeof(payload));
    memset(h, 1, sizeof(h));
    memset(ck, 2, sizeof(ck));
    memset(k, 3, sizeof(k));

    /* CPU time, not wall time: other processes on the machine do not count. */
    uint64_t t0 = cpu_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    while (cpu_ns() < end) {
        for (int rep = 0; rep < 16; rep++, iters++) {
            randombytes_buf(epriv, sizeof(epriv));
            crypto_scalarmult_base(epub, epriv);
            for (int i = 0; i < 3; i++)
                if (crypto_scalarmult(dh, epriv, rpub) != 0)
                    abort();
            if (verify && crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0)
                abort();
            for (int i = 0; i < 8; i++) {
                crypto_hash_sha256_init(&hs);
                crypto_hash_sha256_update(&hs, h, sizeof(h));
                crypto_hash_sha256_update(&hs, payload, i < 4 ? 48 : sizeof(payload));
                crypto_hash_sha256_final(&hs, h);
            }
            for (int i = 0; i < 12; i++) {
                crypto_auth_hmacsha256_init(&as, ck, sizeof(ck));
                crypto_auth_hmacsha256_update(&as, dh, sizeof(dh));
                crypto_auth_hmacsha256_final(&as, ck);
            }
            crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, epub, 32, h, 32, NULL, nonce, k);
            crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, payload, sizeof(payload), h, 32,
                                                      NULL, nonce, k);
            crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, payload, 32, h, 32, NULL, nonce, k);
            if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, clen, h, 32, nonce,
                                                          k) != 0)
                abort();
            crypto_aead_chacha20poly1305_ietf_encrypt(ct, &clen, payload, sizeof(payload), h, 32,
                                                      NULL, nonce, k);
            if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, clen, h, 32, nonce,
                                                          k) != 0)
                abort();
        }
    }
    double el = (double)(cpu_ns() - t0) / 1e9;
    sodium_memzero(sk, sizeof(sk));
    return (double)iters / el;
}

/* ---- parent ------------------------------------------------------------- */

int run_handshakes(const struct bench_opts *o, struct bench_table *t)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, "handshakes");
    int dialers = o->dialers > 0 ? o->dialers : 32;
    int procs = o->procs > 0 ? o->procs : 1;
    double measure = o->seconds > 0 ? o->seconds : o->quick ? 4 : 15;

    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "%d dialers, TCP+Noise XX+yamux", dialers);
    snprintf(row->figure, sizeof(row->figure), "failed");
    double full = crypto_bound(o->quick ? 0.5 : 1.5, true);
    double bound = crypto_bound(o->quick ? 0.5 : 1.5, false);
    if (rdv_server_start(&srv, o->daemon) < 0)
        return -1;
    struct hs_shm *shm = shm_alloc(sizeof(*shm));
    struct hs_cfg cfg = {.addr = srv.addr, .dialers = dialers, .nworkers = procs, .shm = shm};
    if (workers_start(&ws, procs, hs_worker_main, &cfg) < 0)
        goto out;
    usleep(o->quick ? 1000000 : 2000000); /* warm-up */
    uint64_t c0 = shm_sum(shm->count, ws.n), f0 = shm_sum(shm->failed, ws.n);
    double cpu0 = proc_cpu(srv.pid), t0 = now_s();
    atomic_store(&shm->measuring, 1);
    usleep((useconds_t)(measure * 1e6));
    atomic_store(&shm->measuring, 0);
    uint64_t c1 = shm_sum(shm->count, ws.n), f1 = shm_sum(shm->failed, ws.n);
    double cpu1 = proc_cpu(srv.pid), t1 = now_s();
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);

    double rate = (double)(c1 - c0) / (t1 - t0);
    double cpu = (cpu1 - cpu0) / (t1 - t0);
    double per_core = cpu > 0 ? rate / cpu : 0;
    struct hist lat;
    memset(&lat, 0, sizeof(lat));
    for (int i = 0; i < ws.n; i++)
        hist_merge(&lat, &shm->lat[i]);
    snprintf(row->figure, sizeof(row->figure),
             "%.0f conn/s (server %.0f%% CPU: %.0f per core); crypto bound %.0f/s/core "
             "(verify cached; %.0f with it), %.0f%%",
             rate, cpu * 100, per_core, bound, full, 100 * per_core / bound);
    if (f1 > f0)
        snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                 "; %llu failed", (unsigned long long)(f1 - f0));
    hist_format(&lat, row->latency, sizeof(row->latency), false);
    snprintf(row->target, sizeof(row->target), "%.0f%% of the bound (>= 90%%)",
             100 * per_core / bound);
out:
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return 0;
}
