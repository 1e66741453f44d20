/* Deterministic fake peer ids for registry-level unit tests: a sha2-256
 * multihash whose digest is derived from i, distinct for every i < 65536. */
#ifndef RDV_TESTS_PEER_HELPERS_H
#define RDV_TESTS_PEER_HELPERS_H

#include <stdint.h>
#include <string.h>

#include "crypto/peerid.h"

static inline struct peer_id mkpeer(unsigned i)
{
    struct peer_id p;
    memset(&p, 0, sizeof p);
    p.len = 34;
    p.b[0] = 0x12;
    p.b[1] = 0x20;
    p.b[2] = (uint8_t)i;
    p.b[3] = (uint8_t)(i >> 8);
    for (unsigned k = 4; k < 34; k++)
        p.b[k] = (uint8_t)(k * 7 + i);
    return p;
}

#endif
