/* rdv-microbench: benchmarks of the server's own code, timed in this
 * process (registry, push sessions, the store) rather than through a
 * socket. They share rdv-bench's options, result table and server
 * start-up (tools/rdv-bench/bench.h); unlike rdv-bench they see src/. */
#ifndef RDV_TESTS_MICROBENCH_H
#define RDV_TESTS_MICROBENCH_H

#include "bench.h"

/* Each returns 0 and fills its table row. */
int run_discover(const struct bench_opts *o, struct bench_table *t);
int run_join(const struct bench_opts *o, struct bench_table *t);
int run_startup(const struct bench_opts *o, struct bench_table *t);

#endif
