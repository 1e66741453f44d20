/* Fixed-bucket histograms for latency metrics, in the shape Prometheus
 * exposes: per-bucket counts under ascending upper bounds, plus a count and a
 * sum. The bounds are chosen once (a static array) so that observing costs a
 * short scan and no allocation, and so that series stay comparable across
 * restarts. Leaf module: libc only. */
#ifndef RDV_BASE_HISTOGRAM_H
#define RDV_BASE_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_MAX_BUCKETS 20

struct histogram {
    const double *bounds;                          /* ascending upper bounds (inclusive) */
    size_t nbounds;                                /* <= HISTOGRAM_MAX_BUCKETS */
    uint64_t counts[HISTOGRAM_MAX_BUCKETS + 1];    /* per bucket; [nbounds] is above all */
    uint64_t count;
    double sum;
};

/* Latency buckets in seconds, from 50 µs to 5 s. */
extern const double histogram_latency_bounds[];
extern const size_t histogram_latency_nbounds;

/* bounds must stay valid as long as h; n <= HISTOGRAM_MAX_BUCKETS and the
 * bounds ascend (checked with assert). */
void histogram_init(struct histogram *h, const double *bounds, size_t n);
/* A histogram with histogram_latency_bounds. */
void histogram_init_latency(struct histogram *h);
/* Records v; negative values count as 0, NaN is ignored. */
void histogram_observe(struct histogram *h, double v);
/* Observations <= bounds[i] (i < nbounds), or all of them (i == nbounds). */
uint64_t histogram_cumulative(const struct histogram *h, size_t i);

#endif
