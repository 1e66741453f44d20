#include "store/lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <uthash.h>

#include "base/mem.h"

#define LMDB__VERSION 1
#define LMDB__HEAD 36                          /* fixed part of a stored registration */
#define LMDB__KEY_MAX (1 + RDV_NS_MAX + PEERID_MAX)
#define LMDB__LOCK "rendezvousd.lock"
#define LMDB__GROWS 16                         /* map doublings tried by one commit */

/* One change waiting for the next commit: the last one recorded for its
 * key wins (a REGISTER then an UNREGISTER in one iteration is a delete). */
struct lmdb__change {
    UT_hash_handle hh;       /* store->pending, key = key[0..klen) */
    bool del;
    size_t klen, vlen;
    uint8_t *val;            /* after the key, in the same block */
    uint8_t key[];
};

/* Changes handed to the writer thread, and what came of them. */
struct lmdb__batch {
    struct lmdb__change *list;    /* a uthash table of its own */
    size_t n;
    uint64_t next_seq;            /* the registry's, when the batch was taken */
    int rc;                       /* MDB error code */
    size_t map_size;              /* after growing, else 0 */
    double secs;
    char err[PATH_MAX + 128];
};

struct store_lmdb {
    struct store base;       /* first: a struct store * is a struct store_lmdb * */
    char path[PATH_MAX];     /* DIR/data.mdb, for messages */
    int lock_fd;
    MDB_env *env;
    MDB_dbi regs, meta;
    struct lmdb__change *pending;
    size_t npending;
    const struct registry *reg;   /* set by load: its next_seq is stored at each commit */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    /* The writer thread: it commits one batch at a time while the loop goes
     * on serving; `batch` belongs to it from the handover until `finished`
     * (both under mu), then to the loop again. */
    pthread_t writer;
    bool writer_started, work, finished, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lmdb__batch batch;
    struct ev_loop *loop;
    ev_async wake;                /* the writer tells the loop it finished */
    store_done_fn *done;
    void *done_ctx;
};

static struct store_lmdb *lmdb__w(struct store *s) { return (struct store_lmdb *)s; }
static const struct store_lmdb *lmdb__cw(const struct store *s) { return (const struct store_lmdb *)s; }

/* ---- encoding ----------------------------------------------------------- */

static void lmdb__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void lmdb__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t lmdb__get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t lmdb__get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static size_t lmdb__key(uint8_t k[LMDB__KEY_MAX], const struct rdv_reg *g)
{
    k[0] = (uint8_t)g->ns->len;
    memcpy(k + 1, g->ns->name, g->ns->len);
    memcpy(k + 1 + g->ns->len, g->peer->b, g->peer->len);
    return 1 + g->ns->len + g->peer->len;
}

static size_t lmdb__value_size(const struct rdv_reg *g)
{
    size_t n = LMDB__HEAD + g->envelope_len;
    for (size_t i = 0; i < g->naddrs; i++)
        n += 4 + g->addrs[i].len;
    return n;
}

static void lmdb__value(uint8_t *v, const struct rdv_reg *g)
{
    uint64_t expires;
    double at = registry_expires(g);
    memcpy(&expires, &at, sizeof expires);
    v[0] = LMDB__VERSION;
    v[1] = (uint8_t)g->dialect;
    v[2] = v[3] = 0;
    lmdb__put32(v + 4, (uint32_t)g->naddrs);
    lmdb__put64(v + 8, g->seq);
    lmdb__put64(v + 16, registry_ttl(g));
    lmdb__put64(v + 24, expires);
    lmdb__put32(v + 32, (uint32_t)g->envelope_len);
    uint8_t *p = v + LMDB__HEAD;
    for (size_t i = 0; i < g->naddrs; i++) {
        lmdb__put32(p, (uint32_t)g->addrs[i].len);
        memcpy(p + 4, g->addrs[i].bytes, g->addrs[i].len);
        p += 4 + g->addrs[i].len;
    }
    if (g->envelope_len)
        memcpy(p, g->envelope, g->envelope_len);
}

/* A stored registration read back (pointers into the map). */
struct lmdb__entry {
    uint64_t seq;
    MDB_val k, v;
};

/* Decodes e into q (addrs: room grown as needed); NULL, or what is wrong. */
static const char *lmdb__decode(const struct lmdb__entry *e, struct rdv_register *q,
                                struct peer_id *peer, struct rdv_addr **addrs, size_t *cap)
{
    const uint8_t *k = e->k.mv_data, *v = e->v.mv_data;
    size_t klen = e->k.mv_size, vlen = e->v.mv_size;
    if (klen < 3 || k[0] == 0 || (size_t)k[0] + 2 > klen || klen - 1 - k[0] > PEERID_MAX)
        return "bad key";
    uint32_t naddrs = lmdb__get32(v + 4), envlen = lmdb__get32(v + 32);
    if (v[1] != RDV_DIALECT_STANDARD && v[1] != RDV_DIALECT_WAKU)
        return "bad dialect";
    uint64_t bits = lmdb__get64(v + 24);
    double expires;
    memcpy(&expires, &bits, sizeof expires);
    uint64_t ttl = lmdb__get64(v + 16);
    if (ttl == 0)
        return "no TTL";
    if (naddrs > (vlen - LMDB__HEAD) / 4)
        return "bad address count";
    if (naddrs > *cap) {
        *cap = naddrs;
        *addrs = xrealloc(*addrs, naddrs * sizeof **addrs);
    }
    size_t off = LMDB__HEAD;
    for (uint32_t i = 0; i < naddrs; i++) {
        if (vlen - off < 4)
            return "truncated";
        uint32_t len = lmdb__get32(v + off);
        off += 4;
        if (len > vlen - off)
            return "truncated";
        (*addrs)[i] = (struct rdv_addr){.bytes = v + off, .len = len};
        off += len;
    }
    if (envlen != vlen - off)
        return "bad envelope length";
    peer->len = (uint8_t)(klen - 1 - k[0]);
    memcpy(peer->b, k + 1 + k[0], peer->len);
    *q = (struct rdv_register){
        .ns = (const char *)k + 1,
        .ns_len = k[0],
        .peer = peer,
        .dialect = (enum rdv_dialect)v[1],
        .addrs = *addrs,
        .naddrs = naddrs,
        .envelope = envlen ? v + off : NULL,
        .envelope_len = envlen,
        .ttl = ttl,
        .seq = e->seq,
        .expires = expires,
    };
    return NULL;
}

/* ---- recording changes ------------------------------------------------- */

static void lmdb__change_free(struct store_lmdb *s, struct lmdb__change *c)
{
    HASH_DELETE(hh, s->pending, c);
    free(c);
    s->npending--;
}

/* Records the new state of key: g's registration, or none (g NULL). */
static void lmdb__record(struct store_lmdb *s, const uint8_t *key, size_t klen,
                         const struct rdv_reg *g)
{
    /* keys hold peer-chosen namespaces: hash them with a secret key */
    uint8_t h[crypto_shorthash_BYTES];
    unsigned hv;
    crypto_shorthash(h, key, klen, s->hash_key);
    memcpy(&hv, h, sizeof hv);

    struct lmdb__change *c = NULL;
    HASH_FIND_BYHASHVALUE(hh, s->pending, key, klen, hv, c);
    if (c)
        lmdb__change_free(s, c);
    size_t vlen = g ? lmdb__value_size(g) : 0;
    c = xmalloc(sizeof *c + klen + vlen);
    c->del = g == NULL;
    c->klen = klen;
    c->vlen = vlen;
    memcpy(c->key, key, klen);
    c->val = c->key + klen;
    if (g)
        lmdb__value(c->val, g);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->pending, c->key, klen, hv, c);
    s->npending++;
}

static void lmdb__on_register(void *ctx, const struct rdv_reg *g)
{
    uint8_t k[LMDB__KEY_MAX];
    size_t klen = lmdb__key(k, g);
    /* A push registration is not stored, but it may have replaced a stored
     * one of the same peer and namespace. */
    lmdb__record(ctx, k, klen, g->owner == NULL ? g : NULL);
}

static void lmdb__on_unregister(void *ctx, const struct rdv_reg *g)
{
    uint8_t k[LMDB__KEY_MAX];
    if (g->owner != NULL)
        return; /* push: never stored */
    lmdb__record(ctx, k, lmdb__key(k, g), NULL);
}

/* ---- commit --------------------------------------------------------------- */

static bool lmdb__pending(const struct store *base) { return lmdb__cw(base)->npending > 0; }

/* One write transaction with every change of list; an MDB error code. */
static int lmdb__write(struct store_lmdb *s, const struct lmdb__change *list, uint64_t next_seq)
{
    MDB_txn *txn;
    bool puts = false;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (const struct lmdb__change *c = list; c; c = c->hh.next) {
        MDB_val k = {.mv_size = c->klen, .mv_data = (void *)c->key};
        if (c->del) {
            rc = mdb_del(txn, s->regs, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            MDB_val v = {.mv_size = c->vlen, .mv_data = (void *)c->val};
            rc = mdb_put(txn, s->regs, &k, &v, 0);
            puts = true;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    /* The sequence goes on from here after a restart, so that the cookies
     * handed out stay meaningful; only a written registration needs it. */
    if (puts && next_seq) {
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)(next_seq >> (56 - 8 * i));
        MDB_val k = {.mv_size = 8, .mv_data = "next_seq"}, v = {.mv_size = 8, .mv_data = be};
        rc = mdb_put(txn, s->meta, &k, &v, 0);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    return mdb_txn_commit(txn); /* frees txn whatever happens */
}

static int lmdb__grow(struct store_lmdb *s, size_t *map_size)
{
    MDB_envinfo info;
    int rc = mdb_env_info(s->env, &info);
    if (rc != 0)
        return rc;
    if (info.me_mapsize > SIZE_MAX / 2)
        return MDB_MAP_FULL;
    rc = mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
    if (rc == 0)
        *map_size = info.me_mapsize * 2;
    return rc;
}

/* Writes b, growing a full map; sets b->rc, b->err, b->map_size. Runs on
 * the writer thread, or on the loop's when no batch is out. */
static void lmdb__write_batch(struct store_lmdb *s, struct lmdb__batch *b)
{
    b->map_size = 0;
    b->err[0] = '\0';
    for (int grown = 0;; grown++) {
        b->rc = lmdb__write(s, b->list, b->next_seq);
        if (b->rc != MDB_MAP_FULL || grown == LMDB__GROWS)
            break;
        int g = lmdb__grow(s, &b->map_size);
        if (g != 0) {
            snprintf(b->err, sizeof b->err, "%s: map full and cannot grow: %s", s->path,
                     mdb_strerror(g));
            return;
        }
    }
    if (b->rc != 0)
        snprintf(b->err, sizeof b->err, "%s: %s", s->path, mdb_strerror(b->rc));
}

static double lmdb__clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *lmdb__writer(void *arg)
{
    struct store_lmdb *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->work && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->work)
            break;
        pthread_mutex_unlock(&s->mu);
        double t0 = lmdb__clock();
        lmdb__write_batch(s, &s->batch);
        s->batch.secs = lmdb__clock() - t0;
        pthread_mutex_lock(&s->mu);
        s->work = false;
        s->finished = true;
        pthread_cond_broadcast(&s->cv);
        ev_async_send(s->loop, &s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The batch is back from the writer: on success it is freed; on failure
 * its changes go back into pending, unless a newer one for the same key
 * was recorded meanwhile. Then the caller of commit_async hears of it. */
static void lmdb__finish(struct store_lmdb *s)
{
    struct lmdb__batch *b = &s->batch;
    struct lmdb__change *c, *tmp;

    pthread_mutex_lock(&s->mu);
    bool f = s->finished;
    s->finished = false;
    pthread_mutex_unlock(&s->mu);
    if (!f)
        return;
    s->base.busy = false;
    store_account(&s->base, b->rc == 0, b->secs);
    if (b->map_size)
        s->base.stats.map_size = b->map_size;
    if (b->rc == 0)
        s->base.stats.changes += b->n;
    HASH_ITER(hh, b->list, c, tmp) {
        HASH_DELETE(hh, b->list, c);
        struct lmdb__change *newer = NULL;
        if (b->rc != 0)
            HASH_FIND_BYHASHVALUE(hh, s->pending, c->key, c->klen, c->hh.hashv, newer);
        if (b->rc != 0 && newer == NULL) {
            HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->pending, c->key, c->klen, c->hh.hashv, c);
            s->npending++;
        } else {
            free(c);
        }
    }
    b->n = 0;
    store_done_fn *done = s->done;
    s->done = NULL;
    if (done)
        done(s->done_ctx, b->rc == 0, b->err);
}

static void lmdb__on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    lmdb__finish(w->data);
}

/* Blocks until the batch out (if any) is back, and finishes it. */
static void lmdb__wait(struct store_lmdb *s)
{
    if (!s->base.busy)
        return;
    pthread_mutex_lock(&s->mu);
    while (!s->finished)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    lmdb__finish(s);
}

static bool lmdb__commit_async(struct store *base, struct ev_loop *loop, store_done_fn *done,
                               void *ctx)
{
    struct store_lmdb *s = lmdb__w(base);
    if (s->base.busy || s->npending == 0)
        return false;
    if (!s->writer_started) {
        s->loop = loop;
        ev_async_init(&s->wake, lmdb__on_wake);
        s->wake.data = s;
        ev_async_start(loop, &s->wake);
        ev_unref(loop); /* it keeps no loop alive */
        if (pthread_create(&s->writer, NULL, lmdb__writer, s) != 0) {
            ev_ref(loop);
            ev_async_stop(loop, &s->wake);
            return false; /* the caller commits synchronously */
        }
        s->writer_started = true;
    }
    s->batch = (struct lmdb__batch){.list = s->pending, .n = s->npending,
                                    .next_seq = s->reg ? s->reg->next_seq : 0};
    s->pending = NULL; /* the table goes with its elements */
    s->npending = 0;
    s->done = done;
    s->done_ctx = ctx;
    s->base.busy = true;
    pthread_mutex_lock(&s->mu);
    s->work = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* On the loop's thread, blocking: what the writer has out first, then
 * everything pending. */
static int lmdb__commit(struct store *base, char *err, size_t errlen)
{
    struct store_lmdb *s = lmdb__w(base);
    lmdb__wait(s);
    if (s->npending == 0)
        return 0;
    struct lmdb__batch b = {.list = s->pending, .next_seq = s->reg ? s->reg->next_seq : 0};
    lmdb__write_batch(s, &b);
    if (b.map_size)
        s->base.stats.map_size = b.map_size;
    if (b.rc != 0) {
        snprintf(err, errlen, "%s", b.err);
        return -1;
    }
    s->base.stats.changes += s->npending;
    while (s->pending)
        lmdb__change_free(s, s->pending);
    return 0;
}

/* ---- load --------------------------------------------------------------------- */

static int lmdb__by_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct lmdb__entry *)a)->seq, y = ((const struct lmdb__entry *)b)->seq;
    return x < y ? -1 : x > y;
}

static int lmdb__load(struct store *base, struct registry *r, double now, char *err, size_t errlen)
{
    struct store_lmdb *s = lmdb__w(base);
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_stat st;
    MDB_val k, v;
    int rc;

    s->reg = r;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
        snprintf(err, errlen, "%s: %s", s->path, mdb_strerror(rc));
        return -1;
    }
    k = (MDB_val){.mv_size = 8, .mv_data = "next_seq"};
    if (mdb_get(txn, s->meta, &k, &v) == 0 && v.mv_size == 8) {
        uint64_t next = 0;
        for (int i = 0; i < 8; i++)
            next = next << 8 | ((const uint8_t *)v.mv_data)[i];
        if (next > r->next_seq)
            r->next_seq = next;
    }

    /* Registrations go back in sequence order (the order DISCOVER pages
     * in), which is not the order of the keys. */
    mdb_stat(txn, s->regs, &st);
    size_t n = 0, cap = st.ms_entries ? st.ms_entries : 1;
    struct lmdb__entry *all = xmalloc(cap * sizeof *all);
    const char *bad = NULL;
    if ((rc = mdb_cursor_open(txn, s->regs, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (v.mv_size < LMDB__HEAD || ((const uint8_t *)v.mv_data)[0] != LMDB__VERSION) {
                bad = "not a registration of this version";
                break;
            }
            if (n == cap)
                all = xrealloc(all, (cap *= 2) * sizeof *all);
            all[n++] = (struct lmdb__entry){.seq = lmdb__get64((const uint8_t *)v.mv_data + 8),
                                            .k = k, .v = v};
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0 && bad == NULL)
        qsort(all, n, sizeof *all, lmdb__by_seq);

    struct rdv_addr *addrs = NULL;
    size_t acap = 0, i;
    for (i = 0; rc == 0 && bad == NULL && i < n; i++) {
        struct rdv_register q;
        struct peer_id peer;
        if (i > 0 && all[i].seq == all[i - 1].seq) {
            bad = "two registrations with one sequence number";
            break;
        }
        if ((bad = lmdb__decode(&all[i], &q, &peer, &addrs, &acap)) != NULL)
            break;
        q.now = now;
        if (q.expires <= now) {
            s->base.stats.dropped_expired++;
            lmdb__record(s, all[i].k.mv_data, all[i].k.mv_size, NULL);
        } else if (registry_register(r, &q, NULL) != RDV_OK) {
            /* e.g. limits lowered since it was stored */
            s->base.stats.dropped_refused++;
            lmdb__record(s, all[i].k.mv_data, all[i].k.mv_size, NULL);
        } else {
            s->base.stats.loaded++;
        }
    }
    if (bad)
        snprintf(err, errlen, "%s is damaged: stored registration %zu: %s", s->path, i + 1, bad);
    else if (rc != 0)
        snprintf(err, errlen, "%s: %s", s->path, mdb_strerror(rc));
    free(addrs);
    free(all);
    mdb_txn_abort(txn);
    if (bad || rc != 0)
        return -1;
    /* what expired while the daemon was down goes at once */
    if (lmdb__pending(base) && store_commit(base, err, errlen) != 0)
        return -1;
    return 0;
}

/* ---- open, check, close ----------------------------------------------------- */

static void lmdb__close(struct store *base)
{
    struct store_lmdb *s = lmdb__w(base);
    if (s->writer_started) {
        lmdb__wait(s);
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
        ev_ref(s->loop);
        ev_async_stop(s->loop, &s->wake);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    while (s->pending)
        lmdb__change_free(s, s->pending);
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s);
}

static const struct store_ops lmdb__ops = {
    .name = "lmdb",
    .load = lmdb__load,
    .pending = lmdb__pending,
    .commit = lmdb__commit,
    .commit_async = lmdb__commit_async,
    .close = lmdb__close,
    /* a refresh moved the seq and the expiry: written like a register */
    .events = {.on_register = lmdb__on_register, .on_refresh = lmdb__on_register,
               .on_unregister = lmdb__on_unregister},
};

/* Opens the environment of dir; flags MDB_RDONLY | MDB_NOLOCK for a check. */
static int lmdb__env(MDB_env **env, const char *dir, const char *path, size_t map_size,
                     unsigned flags, char *err, size_t errlen)
{
    int rc = mdb_env_create(env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(*env, 2);
    if (rc == 0 && map_size)
        rc = mdb_env_set_mapsize(*env, map_size);
    if (rc == 0)
        rc = mdb_env_open(*env, dir, flags, 0600);
    if (rc == 0)
        return 0;
    if (rc == MDB_INVALID)
        snprintf(err, errlen, "%s is not an LMDB file (damaged, or another program's)", path);
    else if (rc == MDB_VERSION_MISMATCH)
        snprintf(err, errlen, "%s was written by an incompatible LMDB version", path);
    else
        snprintf(err, errlen, "cannot open %s: %s", path, mdb_strerror(rc));
    if (*env)
        mdb_env_close(*env);
    *env = NULL;
    return -1;
}

/* Checks that the environment is ours (or empty: then, unless rdonly,
 * makes it ours) and opens its databases. */
static int lmdb__dbs(MDB_env *env, const char *path, bool rdonly, MDB_dbi *regs, MDB_dbi *meta,
                     char *err, size_t errlen)
{
    MDB_txn *txn;
    MDB_val k = {.mv_size = 6, .mv_data = "format"}, v;
    int rc = mdb_txn_begin(env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
        return -1;
    }
    rc = mdb_dbi_open(txn, "meta", 0, meta);
    if (rc == MDB_NOTFOUND) {
        MDB_dbi main;
        MDB_stat st;
        if (mdb_dbi_open(txn, NULL, 0, &main) != 0 || mdb_stat(txn, main, &st) != 0 ||
            st.ms_entries != 0) {
            snprintf(err, errlen, "%s holds LMDB data that is not rendezvousd's", path);
            goto fail;
        }
        if (rdonly) { /* a new store: nothing more to check */
            mdb_txn_abort(txn);
            return 0;
        }
        v = (MDB_val){.mv_size = strlen(STORE_LMDB_FORMAT), .mv_data = STORE_LMDB_FORMAT};
        if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, meta)) != 0 ||
            (rc = mdb_dbi_open(txn, "regs", MDB_CREATE, regs)) != 0 ||
            (rc = mdb_put(txn, *meta, &k, &v, 0)) != 0) {
            snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
            goto fail;
        }
        if ((rc = mdb_txn_commit(txn)) != 0) {
            snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
            return -1;
        }
        return 0;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s holds LMDB data that is not rendezvousd's (%s)", path,
                 mdb_strerror(rc));
        goto fail;
    }
    if (mdb_get(txn, *meta, &k, &v) != 0) {
        snprintf(err, errlen, "%s has no format record: not a rendezvousd store", path);
        goto fail;
    }
    if (v.mv_size != strlen(STORE_LMDB_FORMAT) || memcmp(v.mv_data, STORE_LMDB_FORMAT, v.mv_size) != 0) {
        char shown[64];
        size_t m = v.mv_size < sizeof shown - 1 ? v.mv_size : sizeof shown - 1;
        for (size_t i = 0; i < m; i++) {
            char ch = ((const char *)v.mv_data)[i];
            shown[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
        }
        shown[m] = '\0';
        snprintf(err, errlen, "%s has format \"%s\"; this rendezvousd reads \"%s\"", path, shown,
                 STORE_LMDB_FORMAT);
        goto fail;
    }
    if ((rc = mdb_dbi_open(txn, "regs", 0, regs)) != 0) {
        snprintf(err, errlen, "%s is damaged: no registrations table (%s)", path, mdb_strerror(rc));
        goto fail;
    }
    if (rdonly) {
        mdb_txn_abort(txn);
        return 0;
    }
    /* handles opened in a write transaction are usable once it commits */
    if ((rc = mdb_txn_commit(txn)) != 0) {
        snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
        return -1;
    }
    return 0;
fail:
    mdb_txn_abort(txn);
    return -1;
}

/* Creates dir if missing (its parent must exist); -1 with err. */
static int lmdb__mkdir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        snprintf(err, errlen, "data directory %s is not a directory", dir);
        return -1;
    }
    if (errno == ENOENT && mkdir(dir, 0700) == 0)
        return 0;
    snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
    return -1;
}

/* Takes DIR/rendezvousd.lock for this process (and writes its pid there);
 * the kernel releases it when the process ends, however it ends. */
static int lmdb__lock(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], pid[32];
    snprintf(path, sizeof path, "%s/%s", dir, LMDB__LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        snprintf(err, errlen, "data directory %s is not usable: cannot create %s: %s", dir, path,
                 strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        int e = errno;
        ssize_t n = e == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "data directory %s is in use by another rendezvousd%s%s%s; "
                     "each daemon needs a directory of its own", dir, pid[0] ? " (pid " : "",
                     pid, pid[0] ? ")" : "");
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "data directory %s is not usable: cannot write %s: %s", dir, path,
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

struct store *store_lmdb_open(const char *dir, size_t map_size, char *err, size_t errlen)
{
    struct store_lmdb *s = xcalloc(1, sizeof *s);
    store_init(&s->base, &lmdb__ops, true);
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    randombytes_buf(s->hash_key, sizeof s->hash_key);
    snprintf(s->path, sizeof s->path, "%s/data.mdb", dir);
    if (lmdb__mkdir(dir, err, errlen) != 0 || (s->lock_fd = lmdb__lock(dir, err, errlen)) < 0 ||
        lmdb__env(&s->env, dir, s->path, map_size, 0, err, errlen) != 0 ||
        lmdb__dbs(s->env, s->path, false, &s->regs, &s->meta, err, errlen) != 0) {
        lmdb__close(&s->base);
        return NULL;
    }
    int dead;
    mdb_reader_check(s->env, &dead); /* reader slots of a killed predecessor */
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0)
        s->base.stats.map_size = info.me_mapsize;
    return &s->base;
}

int store_lmdb_check(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], parent[PATH_MAX];
    struct stat st;

    if (stat(dir, &st) == -1) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
            return -1;
        }
        /* It will be created at start: its parent must be a writable folder. */
        snprintf(parent, sizeof parent, "%s", dir);
        size_t len = strlen(parent);
        while (len > 1 && parent[len - 1] == '/')
            parent[--len] = '\0';
        char *slash = strrchr(parent, '/');
        if (slash == NULL)
            snprintf(parent, sizeof parent, ".");
        else if (slash == parent)
            parent[1] = '\0';
        else
            *slash = '\0';
        if (stat(parent, &st) == -1 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "data directory %s: folder %s does not exist", dir, parent);
            return -1;
        }
        if (access(parent, W_OK | X_OK) != 0) {
            snprintf(err, errlen, "data directory %s cannot be created in %s: %s", dir, parent,
                     strerror(errno));
            return -1;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data directory %s is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "data directory %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) == -1)
        return 0; /* an empty directory: the store is created at start */
    /* Read-only and without LMDB's lock file: a running daemon's store can
     * be checked without disturbing it. */
    MDB_env *env = NULL;
    MDB_dbi regs, meta;
    if (lmdb__env(&env, dir, path, 0, MDB_RDONLY | MDB_NOLOCK, err, errlen) != 0)
        return -1;
    int rc = lmdb__dbs(env, path, true, &regs, &meta, err, errlen);
    mdb_env_close(env);
    return rc;
}
