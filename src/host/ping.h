/* /ipfs/ping/1.0.0 (WIRE.md §9): echo every byte back until the dialer
 * closes its side. */
#ifndef RDV_HOST_PING_H
#define RDV_HOST_PING_H

#include "host/host.h"

#define PING_PROTOCOL_ID "/ipfs/ping/1.0.0"
#define PING_SIZE 32

extern const struct protocol ping_protocol;

#endif
