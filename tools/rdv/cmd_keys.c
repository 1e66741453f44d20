/* rdv keygen, rdv id: identities. keygen writes a new Ed25519 key file (the
 * libp2p PrivateKey protobuf that rendezvousd --key and rdv --key read, or
 * with --json a js-libp2p PeerId JSON file, which they read too) and prints
 * its peer id; id prints the peer id of a key file without touching
 * the network, or of the peer at --server as proven in its Noise handshake. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "crypto/key.h"
#include "crypto/peerid.h"
#include "rdv.h"

static void keys__print(const struct rdv_opts *o, const char *id, const char *file, bool created)
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
    } else {
        puts(id);
    }
    fflush(stdout);
}

/* The peer id text of a private key. */
static int keys__id(const struct privkey *k, char *out, size_t cap)
{
    struct pubkey pub;
    struct peer_id id;

    privkey_public(k, &pub);
    if (peerid_from_pubkey(&id, &pub) < 0 || peerid_to_text(&id, out, cap) < 0)
        return -1;
    return 0;
}

static int keygen_offline(const struct rdv_opts *o)
{
    const char *file = o->key_file ? o->key_file : o->ns;
    struct privkey k;
    struct stat st;
    char err[256], id[PEERID_TEXT_MAX];
    int created = 0;

    if (file == NULL) {
        fprintf(stderr, "rdv: keygen needs a file: rdv keygen FILE\n");
        return 2;
    }
    if (sodium_init() < 0) /* runs before rdv's own setup */
        return 1;
    /* Never replace an identity: a peer id may be pinned in bootstrap lists. */
    if (lstat(file, &st) == 0) {
        fprintf(stderr, "rdv: %s already exists; not overwriting it\n", file);
        return 1;
    }
    if (o->json) {
        if (keyfile_create(file, &k, true, err, sizeof(err)) < 0) {
            fprintf(stderr, "rdv: %s\n", err);
            return 1;
        }
        created = 1;
    } else if (keyfile_load_or_create(file, &k, &created, err, sizeof(err)) < 0) {
        fprintf(stderr, "rdv: %s\n", err);
        return 1;
    }
    int rc = keys__id(&k, id, sizeof(id));
    privkey_wipe(&k);
    if (rc < 0 || !created) {
        fprintf(stderr, "rdv: %s: %s\n", file, rc < 0 ? "cannot derive a peer id" : "appeared meanwhile; not written");
        return 1;
    }
    keys__print(o, id, file, true);
    return 0;
}

static int id_offline(const struct rdv_opts *o)
{
    const char *file = o->key_file ? o->key_file : o->ns;
    struct privkey k;
    FILE *f;
    uint8_t data[KEYFILE_MAX + 1];
    char id[PEERID_TEXT_MAX], why[300];

    if (o->server)
        return -1; /* the remote's id: connect */
    if (file == NULL) {
        fprintf(stderr, "rdv: id needs a key file (rdv id FILE) or --server MULTIADDR\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    /* Read only: unlike --key elsewhere, asking for an id never creates a key. */
    if ((f = fopen(file, "rbe")) == NULL) {
        fprintf(stderr, "rdv: %s: %s\n", file, strerror(errno));
        return 1;
    }
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    snprintf(why, sizeof(why), "is too large to be a key file");
    int rc = n < sizeof(data) ? keyfile_parse(data, n, &k, why, sizeof(why)) : -1;
    sodium_memzero(data, sizeof(data));
    if (rc < 0) {
        fprintf(stderr, "rdv: %s %s\n", file, why);
        return 1;
    }
    rc = keys__id(&k, id, sizeof(id));
    privkey_wipe(&k);
    if (rc < 0) {
        fprintf(stderr, "rdv: %s: cannot derive a peer id\n", file);
        return 1;
    }
    keys__print(o, id, file, false);
    return 0;
}

static void id_ready(struct client *cl)
{
    keys__print(&cl->o, cl->conn->remote_text, NULL, false);
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
    .usage = "id FILE | id --server MULTIADDR               peer id of a key file, or of the server",
    .offline = id_offline,
    .on_ready = id_ready,
};
