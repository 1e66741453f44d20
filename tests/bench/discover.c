/* discover: the loop time of one DISCOVER, in process (no sockets), through
 * the same entry point a connection uses (records_handle: decode, registry
 * read, encode). Compares a namespace holding only a few signed
 * registrations with one holding the same signed ones among 50,000 push
 * registrations, for /rendezvous/1.0.0 (first page, and a forged cookie
 * whose seq falls in a gap of the signed registrations) and Waku (a random
 * sample), at limits 10 and 100. A push registration must cost a DISCOVER
 * nothing: the loaded column should match the small one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/wire.h"
#include "microbench.h"
#include "rendezvous.pb-c.h"
#include "rendezvous/cookie.h"
#include "rendezvous/records.h"
#include "rendezvous/service.h"
#include "waku.pb-c.h"

#define DISC_SIGNED 5
#define DISC_ENVELOPE 320   /* bytes of a typical signed peer record */

struct disc {
    struct rdv_service s;
    struct rdv_session *sessions;
    size_t npush;
    uint64_t gap_seq[3];    /* per namespace: a seq between signed ones */
    uint8_t envelope[DISC_ENVELOPE];
};

static struct peer_id disc_peer(uint32_t i)
{
    struct peer_id p;
    memset(&p, 0, sizeof(p));
    p.len = 34;
    p.b[0] = 0x12;
    p.b[1] = 0x20;
    memcpy(p.b + 2, &i, sizeof(i));
    return p;
}

/* Fills namespace ns with DISC_SIGNED signed registrations, each followed
 * by npush / DISC_SIGNED push ones; returns the seq of a signed
 * registration made after the first and removed: a cookie in a gap. */
static uint64_t disc_fill(struct disc *d, const char *ns, uint32_t first, size_t npush)
{
    const uint8_t addr[] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1};
    struct rdv_addr a = {addr, sizeof(addr)};
    uint64_t gap = 0;
    uint32_t id = first;
    for (int k = 0; k < DISC_SIGNED; k++) {
        for (int extra = 0; extra < (k == 0 ? 2 : 1); extra++) {
            struct peer_id p = disc_peer(id++);
            struct rdv_register q = {.ns = ns, .ns_len = strlen(ns), .peer = &p,
                                     .dialect = RDV_DIALECT_STANDARD, .addrs = &a, .naddrs = 1,
                                     .envelope = d->envelope, .envelope_len = sizeof(d->envelope),
                                     .ttl = 7200, .now = 1000.0};
            const struct rdv_reg *g;
            if (registry_register(&d->s.reg, &q, &g) != RDV_OK)
                exit(1);
            if (extra) { /* the gap */
                gap = g->seq;
                registry_unregister(&d->s.reg, ns, strlen(ns), &p, NULL);
            }
        }
        for (size_t i = 0; i < npush / DISC_SIGNED; i++) {
            struct peer_id p = disc_peer(id++);
            struct rdv_session *s = &d->sessions[d->npush++];
            registry_session_init(s);
            struct rdv_register q = {.ns = ns, .ns_len = strlen(ns), .peer = &p,
                                     .dialect = RDV_DIALECT_PUSH, .addrs = &a, .naddrs = 1,
                                     .owner = s, .now = 1000.0};
            if (registry_register(&d->s.reg, &q, NULL) != RDV_OK)
                exit(1);
        }
    }
    return gap;
}

/* A DISCOVER Message (no length prefix) into out; 0 if it does not fit.
 * Encoded by the client library's wire layer, as rdv-attack's are. */
static size_t disc_request(uint8_t *out, size_t cap, bool waku, const char *ns, uint64_t limit,
                           const uint8_t *cookie, size_t clen)
{
    struct wire_request rq = {.op = WIRE_DISCOVER, .waku = waku, .ns = ns, .limit = limit,
                              .cookie = clen ? cookie : NULL, .cookie_len = clen};
    struct buf b = BUF_INIT;
    wire_request_body(&rq, &b);
    size_t n = buf_size(&b) <= cap ? buf_size(&b) : 0;
    if (n)
        memcpy(out, buf_head(&b), n);
    buf_free(&b);
    return n;
}

/* Entries in the one framed answer in out (0 if it is not OK). */
static size_t disc_entries(const struct records_dialect *dl, const struct buf *out)
{
    const uint8_t *p = buf_head(out);
    size_t n = buf_size(out), hdr = 0, entries = 0;
    uint64_t len = 0;
    for (int shift = 0; hdr < n && shift < 64; shift += 7) {
        len |= (uint64_t)(p[hdr] & 0x7f) << shift;
        if (!(p[hdr++] & 0x80))
            break;
    }
    if (len > n - hdr)
        return 0;
    if (dl == &waku_dialect) {
        Waku__Message *m = waku__message__unpack(NULL, (size_t)len, p + hdr);
        if (m && m->discoverresponse)
            entries = m->discoverresponse->n_registrations;
        waku__message__free_unpacked(m, NULL);
    } else {
        Rendezvous__Message *m = rendezvous__message__unpack(NULL, (size_t)len, p + hdr);
        if (m && m->discoverresponse)
            entries = m->discoverresponse->n_registrations;
        rendezvous__message__free_unpacked(m, NULL);
    }
    return entries;
}

/* Median over 5 rounds of the mean time of one request, in microseconds. */
static double disc_time(struct disc *d, const struct records_dialect *dl, const uint8_t *msg,
                        size_t len, int iters, size_t want)
{
    struct peer_id me = disc_peer(0xfffffff0u);
    struct buf out = BUF_INIT;
    double r[5];
    bool added;
    /* once outside the clock: the answer is what it should be */
    if (records_handle(dl, &d->s, &me, 1001.0, msg, len, &out, &added) != 0 ||
        disc_entries(dl, &out) != want) {
        fprintf(stderr, "rdv-bench: discover: %zu entries in the answer, expected %zu\n",
                disc_entries(dl, &out), want);
        exit(1);
    }
    buf_reset(&out);
    for (int round = 0; round < 5; round++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            if (records_handle(dl, &d->s, &me, 1001.0, msg, len, &out, &added) != 0) {
                fprintf(stderr, "rdv-bench: discover: request refused\n");
                exit(1);
            }
            buf_reset(&out);
        }
        r[round] = (double)(now_ns() - t0) / 1e3 / iters;
    }
    buf_free(&out);
    for (int i = 1; i < 5; i++)
        for (int j = i; j > 0 && r[j - 1] > r[j]; j--) {
            double t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
    return r[2];
}

int run_discover(const struct bench_opts *o, struct bench_table *t)
{
    /* "empty" is never registered in: the answer has no entries */
    static const char *const names[3] = {"empty", "small", "loaded"};
    size_t npush = o->quick ? 50000 : 50000;
    int iters = o->quick ? 2000 : 20000;
    struct disc *d = calloc(1, sizeof(*d));
    uint8_t msg[1024], cookie[COOKIE_MAX];
    double worst = 0;

    rdv_config_default(&d->s.cfg);
    d->s.cfg.limits.register_rate = 0;
    for (int i = 0; i < 3; i++)
        histogram_init_latency(&d->s.stats.request_seconds[i]);
    registry_init(&d->s.reg, &d->s.cfg.limits, 1000, NULL, NULL);
    memset(d->envelope, 0xab, sizeof(d->envelope));
    d->sessions = calloc(npush, sizeof(*d->sessions));
    d->gap_seq[1] = disc_fill(d, names[1], 0, 0);
    d->gap_seq[2] = disc_fill(d, names[2], 1u << 24, npush);
    d->gap_seq[0] = d->gap_seq[1];

    printf("\ndiscover: one DISCOVER in process, microseconds (median of 5 x %d)\n"
           "  namespaces: empty = none; small = %d signed registrations (%d-byte records); "
           "loaded = the same %d among %zu push registrations; ratio = loaded / small\n",
           iters, DISC_SIGNED, DISC_ENVELOPE, DISC_SIGNED, npush);
    printf("  %-34s %8s %8s %8s %8s\n", "request", "empty", "small", "loaded", "ratio");
    struct row {
        const char *what;
        int kind;  /* 0 rdv1 first page, 1 rdv1 gap cookie, 2 waku */
        uint64_t limit;
    } rows[] = {
        {"rendezvous DISCOVER limit 10", 0, 10},
        {"rendezvous DISCOVER limit 100", 0, 100},
        {"rendezvous gap cookie limit 10", 1, 10},
        {"rendezvous gap cookie limit 100", 1, 100},
        {"waku DISCOVER limit 10", 2, 10},
        {"waku DISCOVER limit 100", 2, 100},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double us[3];
        for (int n = 0; n < 3; n++) {
            size_t len;
            const struct records_dialect *dl = &rdv1_dialect;
            if (rows[i].kind == 2) {
                dl = &waku_dialect;
                len = disc_request(msg, sizeof(msg), true, names[n], rows[i].limit, NULL, 0);
            } else if (rows[i].kind == 1) {
                size_t clen = cookie_encode(cookie, d->gap_seq[n], names[n], strlen(names[n]));
                len = disc_request(msg, sizeof(msg), false, names[n], rows[i].limit, cookie, clen);
            } else {
                len = disc_request(msg, sizeof(msg), false, names[n], rows[i].limit, NULL, 0);
            }
            /* first page and sample: every signed one; after the gap
             * (just past the first): the others */
            size_t want = n == 0 ? 0 : rows[i].kind == 1 ? DISC_SIGNED - 1 : DISC_SIGNED;
            us[n] = disc_time(d, dl, msg, len, iters, want);
        }
        double ratio = us[1] > 0 ? us[2] / us[1] : 0;
        if (ratio > worst)
            worst = ratio;
        printf("  %-34s %8.2f %8.2f %8.2f %7.2fx\n", rows[i].what, us[0], us[1], us[2], ratio);
    }
    struct bench_row *row = table_add(t, "discover");
    if (row) {
        snprintf(row->params, sizeof(row->params), "%zu push + %d signed", npush, DISC_SIGNED);
        snprintf(row->figure, sizeof(row->figure),
                 "DISCOVER/Waku cost with vs without the push ones: at most %.2fx", worst);
        snprintf(row->target, sizeof(row->target), "within 2x");
    }
    for (size_t i = 0; i < d->npush; i++)
        registry_session_end(&d->s.reg, &d->sessions[i]);
    registry_free(&d->s.reg);
    free(d->sessions);
    free(d);
    return 0;
}
