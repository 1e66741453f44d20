/* /vac/waku/rendezvous/0.0.1 (waku.c): the Waku variant of rendezvous. */
#ifndef RDV_RENDEZVOUS_WAKU_H
#define RDV_RENDEZVOUS_WAKU_H

#include "rendezvous/service.h"

/* Fills s->waku, the stream protocol to register on the host. */
void waku_init(struct rdv_service *s);

#endif
