/* librendezvous internals that tests and fuzz targets use (not exported). */
#ifndef RDV_CLIENT_CLIENT_INTERNAL_H
#define RDV_CLIENT_CLIENT_INTERNAL_H

#include "rendezvous/client.h"

/* A client on a socket already connected to the server (taken over: the
 * client closes it), instead of dialing opt->server; it never reconnects. */
rdv_client *client_new_on_socket(struct ev_loop *loop, const rdv_client_options *opt, int fd,
                                 char *err, size_t errlen);

#endif
