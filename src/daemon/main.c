/* rendezvousd, the composition root: startup from the configuration
 * (config.c: defaults < file < command line); it creates the host, the
 * registry (in the rendezvous service), and each dialect, and wires their
 * callbacks - the host dispatches to the dialects, the registry reports to
 * the push notifier and to the store, and the store's commit runs once per
 * loop iteration before the host writes that iteration's answers. Then the
 * metrics endpoint, and signals: SIGTERM/SIGINT
 * drain, SIGHUP reloads the file and applies the limits and the log level
 * live. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ev.h>
#include <sodium.h>

#include "base/log.h"
#include "cluster/cluster.h"
#include "codec/multiaddr.h"
#include "crypto/key.h"
#include "daemon/acl.h"
#include "daemon/config.h"
#include "daemon/master.h"
#include "daemon/metrics.h"
#include "daemon/stats.h"
#include "host/host.h"
#include "host/identify.h"
#include "host/ping.h"
#include "relay/relay.h"
#include "rendezvous/push.h"
#include "rendezvous/rdv1.h"
#include "rendezvous/service.h"
#include "rendezvous/waku.h"
#include "store/lmdb.h"
#include "store/store.h"

#define DRAIN_GRACE 5.0
#define STORE_RETRY 1.0
#define CLUSTER_START_WAIT 5.0 /* seconds to wait for Redis before serving */   /* seconds between commit attempts while they fail */

struct daemon {
    int argc;
    char **argv;                  /* kept: a reload puts the command line on top of the file again */
    struct daemon_config cfg;     /* the running configuration */
    struct host host;
    struct rdv_service svc;
    struct relay relay;           /* circuit relay v2, with --relay */
    struct store *store;          /* memory, LMDB with --data-dir, or the cluster's */
    struct cluster *cluster;      /* --cluster: this node (its store is d->store) */
    ev_prepare commit;            /* the store's group commit, before the host's flush */
    ev_timer commit_retry;        /* wakes the loop to retry a failed commit */
    ev_idle commit_again;         /* keeps the loop from blocking while answers wait */
    double commit_retry_at;
    struct log log;
    struct metrics_server metrics;
    struct daemon_metrics view;   /* what the metrics endpoint reads */
    struct acl acl;               /* the service's policy when cfg.acl_file is set */
    ev_signal sigint, sigterm, sighup;
    bool draining;
    bool is_worker;               /* one of --workers N, under a master */
    struct worker_info worker;
};

/* Pushes the reloadable part of d->cfg into the live structs. They are
 * plain fields read at each use, so new values apply from the next check:
 * new connections, the next timeout scan, the next request. */
static void daemon_apply(struct daemon *d)
{
    const char *push_id = d->svc.cfg.push_protocol_id; /* registered on the host: restart only */

    d->log.level = d->cfg.log_level;
    d->log.format = d->cfg.log_format;
    d->host.limits = d->cfg.host;
    d->svc.cfg = d->cfg.rdv;
    d->svc.cfg.push_protocol_id = push_id;
    d->svc.reg.limits = d->cfg.rdv.limits;
    if (d->cfg.relay.enabled) /* the relay's limits (on or off needs a restart) */
        d->relay.cfg = d->cfg.relay;
}

/* Reads the access rules of path (NULL: none, everything allowed) and makes
 * them the service's policy; on an error the rules in force stay, and the
 * error is logged. */
static int daemon_load_acl(struct daemon *d, const char *path)
{
    struct acl fresh = {0};
    char err[512];

    if (path && acl_load(&fresh, path, err, sizeof(err)) < 0) {
        LOGE(&d->log, "access rules: %s; the rules in force stay", err);
        return -1;
    }
    acl_free(&d->acl);
    d->acl = fresh;
    d->svc.policy = path ? (struct rdv_policy){.allows = acl_policy, .ctx = &d->acl}
                         : (struct rdv_policy){0};
    d->relay.policy = path ? (struct relay_policy){.unlimited = acl_relay_policy, .ctx = &d->acl}
                           : (struct relay_policy){0};
    if (path)
        LOGI(&d->log, "access rules: %zu from %s", d->acl.n, path);
    return 0;
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    struct daemon_config next;
    char err[512], names[256];
    (void)loop;
    (void)revents;

    if (d->draining)
        return;
    enum config_result rc = config_load(&next, d->argc, d->argv, stderr, err, sizeof(err));
    if (rc == CONFIG_OK)
        rc = config_check(&next, err, sizeof(err));
    if (rc == CONFIG_OK && d->is_worker)
        worker_config(&next, &d->worker);
    if (rc != CONFIG_OK) {
        LOGE(&d->log, "SIGHUP: reload refused, the running configuration stays: %s", err);
        config_free(&next);
        return;
    }
    size_t n = config_restart_needed(&d->cfg, &next, names, sizeof(names));
    if (daemon_load_acl(d, next.acl_file) < 0) {
        config_free(&next);
        return;
    }
    char *acl_file = d->cfg.acl_file; /* the running one now names next's file */
    d->cfg.acl_file = next.acl_file;
    next.acl_file = acl_file;
    config_apply_reloadable(&d->cfg, &next);
    config_free(&next);
    daemon_apply(d);
    LOGI(&d->log, "SIGHUP: reloaded %s: limits and log level applied",
         d->cfg.file ? d->cfg.file : "the command line (no --config)");
    if (n > 0)
        LOGW(&d->log, "SIGHUP: these changes need a restart to apply: %s", names);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    (void)loop;
    (void)revents;
    if (d->draining) /* a master passes SIGINT on as SIGTERM: both may come */
        return;
    LOGI(&d->log, "received %s, draining connections", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
    d->draining = true;
    metrics_stop(&d->metrics); /* its listener would keep the loop alive */
    host_drain(&d->host, DRAIN_GRACE);
}

/* Prints the listening block that scripts and users read (seed 001 format),
 * then where the metrics are. */
static void print_addrs(const struct daemon *d)
{
    const struct host *h = &d->host;
    char text[MULTIADDR_TEXT_MAX];

    /* Workers share the addresses: the first one speaks for all. */
    if (!d->is_worker || d->worker.index == 0) {
        printf("Rendezvous server listening on:\n");
        for (size_t i = 0; i < h->nlisteners; i++) {
            if (multiaddr_to_text(h->listeners[i].ma, h->listeners[i].ma_len, text,
                                  sizeof(text)) < 0)
                continue;
            printf("%s/p2p/%s\n", text, h->id_text);
        }
    }
    if (metrics_running(&d->metrics))
        printf("Metrics: http://%s/metrics\n", d->metrics.addr);
    fflush(stdout);
}

/* Binds the listeners and everything the host needs; -1 after logging. */
static int daemon_listen(struct daemon *d)
{
    const struct daemon_config *c = &d->cfg;
    char err[256];

    if (c->tls_cert && host_set_tls(&d->host, c->tls_cert, c->tls_key, err, sizeof(err)) < 0) {
        LOGE(&d->log, "TLS: %s", err);
        return -1;
    }
    for (size_t i = 0; i < c->ws_origins.n; i++) {
        if (host_ws_allow_origin(&d->host, c->ws_origins.item[i], err, sizeof(err)) < 0) {
            LOGE(&d->log, "--ws-allow-origin: %s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < c->listen.n; i++) {
        if (host_listen(&d->host, c->listen.item[i], err, sizeof(err)) < 0) {
            LOGE(&d->log, "cannot listen on %s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < c->announce.n; i++) {
        if (host_announce(&d->host, c->announce.item[i], err, sizeof(err)) < 0) {
            LOGE(&d->log, "bad --announce address: %s", err);
            return -1;
        }
    }
    return 0;
}

/* A commit is over: the answers held for it are released (OK, or
 * E_UNAVAILABLE if it failed). While commits fail, REGISTERs are refused
 * and a retry comes every STORE_RETRY seconds; the failure is logged once,
 * the recovery too. */
static void on_commit_done(void *ctx, bool ok, const char *err)
{
    struct daemon *d = ctx;
    struct rdv_service *s = &d->svc;
    struct ev_loop *loop = d->host.loop;

    if (!ok) {
        if (!s->store_failing)
            LOGE(&d->log, "store: commit failed: %s; REGISTERs are answered E_UNAVAILABLE until "
                          "a commit succeeds (retried every %.0f s)", err, STORE_RETRY);
        d->commit_retry_at = ev_now(loop) + STORE_RETRY;
        ev_timer_stop(loop, &d->commit_retry);
        ev_timer_set(&d->commit_retry, STORE_RETRY, 0);
        ev_timer_start(loop, &d->commit_retry);
    } else if (s->store_failing) {
        LOGI(&d->log, "store: commits succeed again");
    }
    s->store_failing = !ok;
    rdv_service_committed(s, ok);
    /* Changes made meanwhile (and answers released just now that let
     * streams serve more) wait for the next commit, which must come
     * without waiting for other input. */
    if (s->waiting != NULL || store_pending(d->store))
        ev_idle_start(loop, &d->commit_again);
}

/* Once per loop iteration, before the host writes to the sockets: a commit
 * of every registry change so far starts, unless one is still under way
 * (its end starts the next). The store writes on its own thread, so the
 * loop goes on serving - DISCOVERs, other streams - while the disk syncs;
 * only the answers behind the commit wait for it. */
static void on_commit(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct daemon *d = w->data;
    struct rdv_service *s = &d->svc;
    (void)revents;

    if ((!store_pending(d->store) && s->waiting == NULL) || store_busy(d->store))
        return;
    if (s->store_failing && s->waiting == NULL && ev_now(loop) < d->commit_retry_at)
        return;
    rdv_service_seal(s);
    if (!store_commit_async(d->store, loop, on_commit_done, d))
        on_commit_done(d, true, NULL); /* nothing to write: release at once */
}

static void on_commit_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents; /* the loop woke up: on_commit retries in its prepare phase */
}

static void on_commit_again(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(loop, w); /* the next prepare phase commits */
}

/* Opens the store chosen by the configuration; -1 after logging. */
static int daemon_store_open(struct daemon *d)
{
    char err[512];

    if (d->cfg.cluster != NULL)
        return 0; /* opened with the registry (daemon_wire) */
    if (d->cfg.data_dir == NULL) {
        d->store = store_memory_open();
        return 0;
    }
    d->store = store_lmdb_open(d->cfg.data_dir, d->cfg.data_map_size, err, sizeof(err));
    if (d->store == NULL) {
        LOGE(&d->log, "cannot use the data directory: %s", err);
        return -1;
    }
    return 0;
}

/* The registry, the store and the dialects, wired: each dialect is served
 * by the host; the push notifier and the store hear of every registry
 * change (the store only after loading: nobody needs to hear of that).
 * -1 after logging if the stored registrations cannot be read. */
static int daemon_wire(struct daemon *d)
{
    struct rdv_service *s = &d->svc;
    struct ev_loop *loop = d->host.loop;
    char err[512];

    rdv_service_init(s, &d->host, &d->cfg.rdv);
    if (d->cfg.cluster != NULL) {
        struct cluster_config cc = {.url = d->cfg.cluster, .password = d->cfg.cluster_password,
                                    .node_timeout = d->cfg.cluster_node_timeout,
                                    .log_max = d->cfg.cluster_log_max,
                                    .refused = push_session_refused, .refused_ctx = s};
        d->cluster = cluster_open(loop, &d->log, &s->reg, &cc, err, sizeof(err));
        if (d->cluster == NULL) {
            LOGE(&d->log, "--cluster: %s", err);
            d->store = store_memory_open(); /* for daemon_unwire */
            return -1;
        }
        d->store = cluster_store(d->cluster);
        s->writes = (struct rdv_writes){.reg = cluster_register, .unreg = cluster_unregister,
                                        .session_end = cluster_session_end,
                                        .outcome = cluster_outcome,
                                        .seq_bound = cluster_seq_bound, .ctx = d->cluster};
    }
    if (store_load(d->store, &s->reg, ev_time(), err, sizeof(err)) != 0) {
        LOGE(&d->log, "cannot load the stored registrations: %s", err);
        return -1;
    }
    if (d->store->durable && d->cluster == NULL) {
        const struct store_stats *st = &d->store->stats;
        LOGI(&d->log, "store: loaded %" PRIu64 " registrations from %s in %.3f s (%" PRIu64
                      " had expired, %" PRIu64 " were over the limits)",
             st->loaded, d->cfg.data_dir, st->load_seconds, st->dropped_expired, st->dropped_refused);
    }
    rdv_service_schedule_expiry(s);
    s->durable = d->store->durable;
    push_init(s);
    rdv1_init(s);
    waku_init(s);
    registry_listen(&s->reg, &push_registry_events, s);
    registry_listen(&s->reg, store_events(d->store), d->store);
    host_handle(&d->host, &s->push);
    for (size_t i = 0; i < s->cfg.rdv1_ids.n; i++)
        host_handle(&d->host, &s->rdv1[i]);
    for (size_t i = 0; i < s->cfg.waku_ids.n; i++)
        host_handle(&d->host, &s->waku[i]);
    if (d->cfg.relay.enabled) { /* only hop is served: stop streams are ours to open */
        relay_init(&d->relay, &d->host, &d->cfg.relay);
        host_handle(&d->host, &d->relay.hop);
    }

    ev_prepare_init(&d->commit, on_commit);
    d->commit.data = d;
    ev_set_priority(&d->commit, EV_MAXPRI); /* before the host's flush hook (priority 0) */
    ev_prepare_start(loop, &d->commit);
    ev_unref(loop); /* it keeps no loop alive */
    ev_timer_init(&d->commit_retry, on_commit_retry, STORE_RETRY, 0);
    d->commit_retry.data = d;
    ev_idle_init(&d->commit_again, on_commit_again);
    if (d->cluster && !cluster_wait_ready(d->cluster, CLUSTER_START_WAIT))
        LOGW(&d->log, "cluster: not in sync after %.0f s; serving, writes refused until it is",
             CLUSTER_START_WAIT);
    return 0;
}

/* After host_free: sessions end while the registry exists. The last
 * changes (expiries during the drain) are committed before closing. */
static void daemon_unwire(struct daemon *d)
{
    struct ev_loop *loop = d->host.loop;
    char err[512];

    if (ev_is_active(&d->commit)) {
        ev_ref(loop);
        ev_prepare_stop(loop, &d->commit);
    }
    ev_timer_stop(loop, &d->commit_retry);
    ev_idle_stop(loop, &d->commit_again);
    /* waits for a commit under way (its answers go nowhere now) */
    if (store_commit(d->store, err, sizeof(err)) != 0)
        LOGE(&d->log, "store: last commit failed: %s", err);
    rdv_service_seal(&d->svc);
    rdv_service_committed(&d->svc, false); /* nothing can be waiting: the host is gone */
    rdv_service_free(&d->svc);
    push_free(&d->svc);
    if (d->cfg.relay.enabled)
        relay_free(&d->relay);
    store_close(d->store);
    d->store = NULL;
    d->cluster = NULL; /* closed with its store */
}

/* Starts the metrics endpoint if configured; -1 after logging. */
static int daemon_metrics(struct daemon *d)
{
    struct timeval tv;
    char err[256];

    gettimeofday(&tv, NULL);
    d->view = (struct daemon_metrics){.host = &d->host, .svc = &d->svc, .store = d->store,
                                      .cluster = d->cluster ? cluster_stats(d->cluster) : NULL,
                                      .relay = d->cfg.relay.enabled ? &d->relay : NULL,
                                      .http = &d->metrics,
                                      .start_time = (double)tv.tv_sec + tv.tv_usec / 1e6};
    if (!d->cfg.metrics_on)
        return 0;
    if (metrics_start(&d->metrics, d->host.loop, &d->log, (const struct sockaddr *)&d->cfg.metrics_sa,
                      d->cfg.metrics_salen, daemon_metrics_collect, &d->view, err, sizeof(err)) == 0)
        return 0;
    if (!config_is_set(&d->cfg, "metrics")) {
        /* Only the built-in default: another daemon may hold it, which should
         * not stop this one. A chosen address must work. */
        LOGW(&d->log, "metrics: cannot bind the default %s (%s); running without metrics "
                      "(choose an address with --metrics)", d->cfg.metrics_addr, err);
        return 0;
    }
    LOGE(&d->log, "metrics: cannot bind %s: %s", d->cfg.metrics_addr, err);
    return -1;
}

int main(int argc, char **argv)
{
    struct daemon d;
    struct privkey key;
    char err[512];
    int created = 0, rc = 1;

    /* Before anything is printed: `rendezvousd --help | head` must not die
     * of SIGPIPE, and neither may the daemon on a closed connection. */
    signal(SIGPIPE, SIG_IGN);
    /* A write past a file size limit fails (EFBIG) instead of killing us:
     * the store answers E_UNAVAILABLE and keeps what it had. */
    signal(SIGXFSZ, SIG_IGN);
    memset(&d, 0, sizeof(d));
    d.argc = argc;
    d.argv = argv;
    d.metrics.fd = -1;
    switch (config_load(&d.cfg, argc, argv, stdout, err, sizeof(err))) {
    case CONFIG_OK:
        break;
    case CONFIG_EXIT:
        config_free(&d.cfg);
        return 0;
    case CONFIG_INVALID:
        fprintf(stderr, "rendezvousd: %s\n", err);
        config_free(&d.cfg);
        return 1;
    case CONFIG_USAGE:
        fprintf(stderr, "rendezvousd: %s\n", err);
        config_free(&d.cfg);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "rendezvousd: libsodium failed to initialise\n");
        config_free(&d.cfg);
        return 1;
    }
    if (d.cfg.check) {
        enum config_result cr = config_check(&d.cfg, err, sizeof(err));
        if (cr == CONFIG_OK)
            puts("config ok");
        else
            fprintf(stderr, "rendezvousd: %s\n", err);
        config_free(&d.cfg);
        return cr == CONFIG_OK ? 0 : 1;
    }
    log_init(&d.log, d.cfg.log_level, d.cfg.log_format, stderr);

    if (d.cfg.key_file) {
        if (keyfile_load_or_create(d.cfg.key_file, &key, &created, err, sizeof(err)) < 0) {
            LOGE(&d.log, "%s", err); /* it names the file */
            config_free(&d.cfg);
            return 1;
        }
        if (created)
            LOGI(&d.log, "created a new identity in %s", d.cfg.key_file);
    } else {
        privkey_generate(&key);
        LOGI(&d.log, "no --key given: using a new identity for this run");
    }

    /* The workers share the identity: each one is this server. */
    if (d.cfg.workers > 0) {
        int status = 1;
        int r = master_run(&d.cfg, &d.log, &d.worker, &status);
        if (r != 0) {
            privkey_wipe(&key);
            config_free(&d.cfg);
            return r < 0 ? 1 : status;
        }
        d.is_worker = true;
        worker_config(&d.cfg, &d.worker);
    }

    /* Before binding anything: a second daemon on the same directory stops
     * here. */
    if (daemon_store_open(&d) < 0) {
        privkey_wipe(&key);
        config_free(&d.cfg);
        return 1;
    }

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    host_init(&d.host, loop, &d.log, &key, &d.cfg.host);
    privkey_wipe(&key);
    d.host.reuse_port = d.is_worker;
    host_handle(&d.host, &identify_protocol);
    host_handle(&d.host, &ping_protocol);
    if (daemon_listen(&d) < 0) {
        host_free(&d.host);
        store_close(d.store);
        goto out;
    }
    /* Sessions exist only once the loop runs, so the service can come after
     * the listeners (and their error paths). */
    if (daemon_wire(&d) < 0) {
        host_free(&d.host);
        daemon_unwire(&d);
        goto out;
    }
    host_seal_record(&d.host);
    if (daemon_load_acl(&d, d.cfg.acl_file) < 0) {
        host_free(&d.host);
        daemon_unwire(&d);
        goto out;
    }
    if (daemon_metrics(&d) < 0) {
        host_free(&d.host);
        daemon_unwire(&d);
        goto out;
    }

    ev_signal_init(&d.sigint, on_stop, SIGINT);
    ev_signal_init(&d.sigterm, on_stop, SIGTERM);
    ev_signal_init(&d.sighup, on_reload, SIGHUP);
    d.sigint.data = d.sigterm.data = d.sighup.data = &d;
    ev_signal_start(loop, &d.sigint);
    ev_signal_start(loop, &d.sigterm);
    ev_signal_start(loop, &d.sighup);
    if (d.is_worker)
        worker_signals_watched();
    ev_unref(loop); /* signal watchers alone do not keep the loop running */
    ev_unref(loop);
    ev_unref(loop);

    LOGI(&d.log, "rendezvousd %s, peer id %s", RDV_VERSION, d.host.id_text);
    print_addrs(&d);
    ev_run(loop, 0);

    ev_ref(loop);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &d.sigint);
    ev_signal_stop(loop, &d.sigterm);
    ev_signal_stop(loop, &d.sighup);
    metrics_stop(&d.metrics);
    host_free(&d.host);
    daemon_unwire(&d); /* after the host: ending sessions use the registry */
    acl_free(&d.acl);
    LOGI(&d.log, "stopped");
    rc = 0;
out:
    ev_loop_destroy(loop);
    config_free(&d.cfg);
    return rc;
}
