/* presence: joins a namespace of a rendezvous point and prints its members
 * as they arrive ("+ PEER ADDR...") and leave ("- PEER"); survives server
 * restarts. Build against the installed library:
 *   cc presence.c $(pkg-config --cflags --libs rendezvous) -o presence
 * Run: presence SERVER-MULTIADDR NS [MY-MULTIADDR...]
 * (with addresses it also registers, so others see it; Ctrl-C leaves). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>
#include <rendezvous/client.h>

static void on_member(rdv_client *c, const rdv_event *ev, void *arg)
{
    (void)c, (void)arg;
    if (ev->kind == RDV_ENDED) {
        fprintf(stderr, "presence: %s: %s\n", ev->ns, rdv_client_strerror(ev->error));
        return;
    }
    printf("%c %s", ev->kind == RDV_JOIN ? '+' : '-', ev->peer_id);
    for (size_t i = 0; i < ev->naddrs; i++)
        printf(" %s", ev->addrs[i]);
    printf("\n");
    fflush(stdout);
}

static void on_state(rdv_client *c, int connected, const char *reason, void *arg)
{
    (void)arg;
    if (connected)
        fprintf(stderr, "connected as %s\n", rdv_client_peer_id(c));
    else
        fprintf(stderr, "disconnected (%s), reconnecting\n", reason);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w, (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = EV_DEFAULT;
    char err[256];
    ev_signal sigint, sigterm;

    if (argc < 3) {
        fprintf(stderr, "usage: presence SERVER-MULTIADDR NS [MY-MULTIADDR...]\n");
        return 2;
    }
    rdv_client_options opt = {
        .server = argv[1], .key_file = getenv("PRESENCE_KEY"),
        .reconnect_min_s = 0.2, .reconnect_max_s = 5, .on_state = on_state,
    };
    rdv_client *c = rdv_client_new(loop, &opt, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "presence: %s\n", err);
        return 1;
    }
    int rc = rdv_client_subscribe(c, argv[2], on_member, NULL);
    if (rc == 0 && argc > 3)
        rc = rdv_client_register(c, argv[2], (const char *const *)argv + 3, (size_t)argc - 3);
    if (rc != 0) {
        fprintf(stderr, "presence: %s\n", rdv_client_strerror(rc));
        rdv_client_free(c);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    ev_run(loop, 0);
    rdv_client_free(c);
    return 0;
}
