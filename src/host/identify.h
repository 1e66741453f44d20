/* /ipfs/id/1.0.0 (WIRE.md §9): answers with our public key, addresses,
 * protocols, the observed address of the asker and our signed peer record. */
#ifndef RDV_HOST_IDENTIFY_H
#define RDV_HOST_IDENTIFY_H

#include "host/host.h"

#define IDENTIFY_PROTOCOL_ID "/ipfs/id/1.0.0"
#define IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"

extern const struct protocol identify_protocol;

#endif
