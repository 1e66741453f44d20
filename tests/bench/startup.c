/* The startup scenario: a data directory holding N stored /rendezvous/1.0.0
 * registrations (1,000,000; quick: 100,000) - 1000 peers with real signed
 * records, each in N/1000 namespaces - written through the store itself,
 * then rendezvousd started on it: the time until it serves, the load time
 * it reports, and its RSS once loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "crypto/record.h"
#include "microbench.h"
#include "registry/registry.h"
#include "store/lmdb.h"
#include "store/store.h"

#define SU_PEERS 1000
#define SU_TTL 86400
#define SU_BATCH 20000   /* registrations per commit while filling */

/* Wall-clock seconds: the store keeps expiries in wall-clock time. */
static double su_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fills dir with n registrations; -1 after printing why. */
static int su_fill(const char *dir, int n)
{
    char err[512];
    struct registry reg;
    struct store *st = store_lmdb_open(dir, STORE_LMDB_MAP_SIZE, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "rdv-bench: %s\n", err);
        return -1;
    }
    registry_init(&reg, NULL, 1, NULL, NULL);
    reg.limits.max_regs_total = (size_t)n;
    reg.limits.register_rate = 0;
    if (store_load(st, &reg, su_wall(), err, sizeof err) != 0) {
        fprintf(stderr, "rdv-bench: %s\n", err);
        goto fail;
    }
    registry_listen(&reg, store_events(st), st);

    uint8_t ma[8] = {0x04, 10, 0, 0, 1, 0x06, 0x0f, 0xa1};
    struct record_addr ra = {ma, sizeof ma};
    int per = n / SU_PEERS;
    for (int p = 0; p < SU_PEERS; p++) {
        struct privkey k;
        struct pubkey pub;
        struct peer_id id;
        struct buf env = BUF_INIT;
        privkey_generate(&k);
        privkey_public(&k, &pub);
        peerid_from_pubkey(&id, &pub);
        ma[3] = (uint8_t)(p >> 8);
        ma[4] = (uint8_t)p;
        record_seal(&k, RECORD_STANDARD, 1, &ra, 1, &env);
        struct rdv_addr a = {ma, sizeof ma};
        for (int j = 0; j < per; j++) {
            char ns[32];
            snprintf(ns, sizeof ns, "bench-ns-%d", j);
            struct rdv_register q = {
                .ns = ns, .ns_len = strlen(ns), .peer = &id, .dialect = RDV_DIALECT_STANDARD,
                .addrs = &a, .naddrs = 1, .envelope = buf_head(&env), .envelope_len = buf_size(&env),
                .ttl = SU_TTL, .now = su_wall(),
            };
            if (registry_register(&reg, &q, NULL) != RDV_OK) {
                fprintf(stderr, "rdv-bench: registry refused a registration while filling\n");
                buf_free(&env);
                goto fail;
            }
            if (reg.stats.regs % SU_BATCH == 0 && store_commit(st, err, sizeof err) != 0) {
                fprintf(stderr, "rdv-bench: %s\n", err);
                buf_free(&env);
                goto fail;
            }
        }
        buf_free(&env);
        privkey_wipe(&k);
    }
    if (store_commit(st, err, sizeof err) != 0) {
        fprintf(stderr, "rdv-bench: %s\n", err);
        goto fail;
    }
    store_close(st);
    registry_free(&reg);
    return 0;
fail:
    store_close(st);
    registry_free(&reg);
    return -1;
}

int run_startup(const struct bench_opts *o, struct bench_table *t)
{
    struct bench_row *row = table_add(t, "startup");
    int n = o->quick ? 100000 : 1000000;
    char tmpl[] = "/var/tmp/rdv-bench-store.XXXXXX", dir[64], maddr[32];
    struct server srv;
    int rc = -1;

    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "N=%d stored registrations", n);
    snprintf(row->figure, sizeof(row->figure), "failed");
    if (mkdtemp(tmpl) == NULL) {
        perror("rdv-bench: mkdtemp");
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/data", tmpl);
    double f0 = now_s();
    if (su_fill(dir, n) != 0)
        goto out;
    double fill = now_s() - f0;

    int port = bench_free_port();
    snprintf(maddr, sizeof maddr, "127.0.0.1:%d", port);
    const char *extra[] = {"--data-dir", dir, "--metrics", maddr, NULL};
    double t0 = now_s();
    if (rdv_server_start_with(&srv, o->daemon, extra) < 0)
        goto out;
    double ready = now_s() - t0;
    double loaded = 0, secs = 0;
    long long rss = proc_rss(srv.pid);
    if (metrics_value(port, "rendezvousd_store_loaded_registrations", &loaded) == 0 &&
        metrics_value(port, "rendezvousd_store_load_seconds", &secs) == 0) {
        snprintf(row->figure, sizeof(row->figure),
                 "loaded %.0f in %.2f s, serving after %.2f s; RSS %.0f MiB (filled in %.0f s)",
                 loaded, secs, ready, (double)rss / (1024.0 * 1024.0), fill);
        snprintf(row->target, sizeof(row->target), "%s (< 10 s)", ready < 10 ? "met" : "missed");
        rc = 0;
    }
    server_stop(&srv);
out:;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    if (system(cmd) != 0)
        fprintf(stderr, "rdv-bench: could not remove %s\n", tmpl);
    return rc;
}
