/* /rendezvous/1.0.0 (rdv1.c): the libp2p rendezvous protocol. */
#ifndef RDV_RENDEZVOUS_RDV1_H
#define RDV_RENDEZVOUS_RDV1_H

#include "rendezvous/service.h"

/* Fills s->rdv1, the stream protocol to register on the host. */
void rdv1_init(struct rdv_service *s);

#endif
