/* libsodium's randomness replaced by a generator the harness resets at the
 * start of each input (fuzz_rng_reset), so keys, Noise ephemerals and
 * nonces are the same at every run of an input. Install it before
 * sodium_init (fuzz_rng_install). */
#ifndef RDV_FUZZ_RNG_H
#define RDV_FUZZ_RNG_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

static uint64_t fuzz_rng_state;

static uint64_t fuzz_rng_next(void)
{
    uint64_t z = (fuzz_rng_state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *fuzz_rng_name(void) { return "fuzz"; }
static uint32_t fuzz_rng_random(void) { return (uint32_t)fuzz_rng_next(); }
static void fuzz_rng_buf(void *const p, const size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)fuzz_rng_next();
}

static randombytes_implementation fuzz_rng = {
    .implementation_name = fuzz_rng_name,
    .random = fuzz_rng_random,
    .buf = fuzz_rng_buf,
};

static inline int fuzz_rng_install(void)
{
    if (randombytes_set_implementation(&fuzz_rng) != 0)
        return -1;
    return sodium_init() < 0 ? -1 : 0;
}

static inline void fuzz_rng_reset(void) { fuzz_rng_state = 0x5eed; }

/* As fuzz_rng_reset, but the generator starts from a hash (FNV-1a) of the
 * input: the same at every run of an input, different from one input to
 * the next, as keys and samples differ between servers (hash-table
 * layouts, collisions and sampling paths stay reachable). */
static inline void fuzz_rng_reset_input(const uint8_t *d, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 0x100000001b3ull;
    fuzz_rng_state = h;
}

#endif
