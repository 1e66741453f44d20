#include "base/histogram.h"

#include <assert.h>
#include <math.h>
#include <string.h>

const double histogram_latency_bounds[] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,
};
const size_t histogram_latency_nbounds =
    sizeof(histogram_latency_bounds) / sizeof(histogram_latency_bounds[0]);

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
    assert(n <= HISTOGRAM_MAX_BUCKETS);
    for (size_t i = 1; i < n; i++)
        assert(bounds[i - 1] < bounds[i]);
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nbounds = n;
}

void histogram_init_latency(struct histogram *h)
{
    histogram_init(h, histogram_latency_bounds, histogram_latency_nbounds);
}

void histogram_observe(struct histogram *h, double v)
{
    size_t i = 0;

    if (isnan(v))
        return;
    if (v < 0)
        v = 0;
    /* A linear scan: a handful of buckets, and the common case (fast
     * requests) stops in the first few. */
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

uint64_t histogram_cumulative(const struct histogram *h, size_t i)
{
    uint64_t n = 0;
    if (i >= h->nbounds)
        return h->count;
    for (size_t k = 0; k <= i; k++)
        n += h->counts[k];
    return n;
}
