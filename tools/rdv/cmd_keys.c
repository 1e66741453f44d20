/* rdv keygen, rdv id: identities. keygen writes a new Ed25519 key file (the
 * libp2p PrivateKey protobuf that rendezvousd --key and rdv --key read, or
 * with --json a js-libp2p PeerId JSON file, which they read too) and prints
 * its peer id; id prints the peer id of a key file without touching the
 * network, of rdv's default identity (and which file that is), or of the
 * peer at --server as proven in its Noise handshake. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rdv.h"

#define KEYS_ID_MAX 128

static void keys__print(const struct rdv_opts *o, const char *id, const char *file, bool created,
                        bool with_file)
{
    if (o->json) {
        printf("{\"peer_id\":\"%s\"", id);
        if (file) {
            printf(",\"key_file\":");
            client_json_string(file, strlen(file));
        }
        if (created)
            printf(",\"created\":true");
        puts("}");
    } else if (with_file) {
        printf("%s %s\n", id, file);
    } else {
        puts(id);
    }
    fflush(stdout);
}

static int keygen_offline(const struct rdv_opts *o)
{
    const char *file = o->key_given ? o->key_file : o->ns;
    char err[512], id[KEYS_ID_MAX];

    if (file == NULL) {
        fprintf(stderr, "rdv: keygen needs a file: rdv keygen FILE\n");
        return 2;
    }
    if (rdv_client_keygen(file, o->json, id, sizeof id, err, sizeof err) < 0) {
        fprintf(stderr, "rdv: %s\n", err);
        return 1;
    }
    keys__print(o, id, file, true, false);
    return 0;
}

/* id FILE: read only. id alone: the default identity (created if need be:
 * it is the one the next command would use), printed with its file. */
static int id_offline(const struct rdv_opts *o)
{
    const char *file = o->key_given ? o->key_file : o->ns;
    bool own = file == NULL;
    char err[512], id[KEYS_ID_MAX];
    int created = 0;

    if (o->server)
        return -1; /* the remote's id: connect */
    if (own)
        file = o->key_file;
    if (file == NULL) {
        fprintf(stderr, "rdv: id needs a key file (rdv id FILE) or --server MULTIADDR (no "
                        "default identity: set HOME, XDG_CONFIG_HOME or RDV_KEY)\n");
        return 2;
    }
    if (rdv_client_key_peer_id(file, own, &created, id, sizeof id, err, sizeof err) < 0) {
        fprintf(stderr, "rdv: %s\n", err);
        return 1;
    }
    keys__print(o, id, file, created, own);
    return 0;
}

static void id_start(struct client *cl) { (void)cl; }

static void id_connected(struct client *cl)
{
    keys__print(&cl->o, rdv_client_server_id(cl->rc), NULL, false, false);
    client_finish(cl, 0);
}

const struct command cmd_keygen = {
    .name = "keygen",
    .usage = "keygen [--json] FILE                         write a new Ed25519 key file (--json: a js-libp2p\n"
             "                                             PeerId JSON file), print its peer id",
    .offline = keygen_offline,
};

const struct command cmd_id = {
    .name = "id",
    .usage = "id [FILE] | id --server MULTIADDR            peer id of a key file, of rdv's own identity\n"
             "                                             (and its file), or of the server",
    .offline = id_offline,
    .start = id_start,
    .on_connected = id_connected,
};
