/* libFuzzer target for the circuit relay's messages (relay/relay_wire.c):
 * the input is a stream of bytes as a hop or stop stream would carry them.
 * Frames are cut off it with relay_wire_frame (the first byte picks the
 * size cap); each is decoded as a hop request and as a stop answer. Checks:
 * a frame lies within the input and within the cap; a CONNECT carries a
 * valid peer id, which a stop CONNECT built from it carries unchanged; the
 * answers the relay builds decode again with the status, limit and
 * reservation they were made with. Broken promises abort(). */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "circuit.pb-c.h"
#include "relay/relay_wire.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_stop_connect(const struct peer_id *peer)
{
    struct buf out = BUF_INIT;
    struct relay_limit lim = {120, 131072};
    const uint8_t *msg;
    size_t len, used;

    relay_wire_stop_connect(&out, peer, &lim);
    CHECK(relay_wire_frame(buf_head(&out), buf_size(&out), 4096, &msg, &len, &used) == 1);
    CHECK(used == buf_size(&out));
    Circuit__StopMessage *m = circuit__stop_message__unpack(NULL, len, msg);
    CHECK(m && m->has_type && m->type == CIRCUIT__STOP_MESSAGE__TYPE__CONNECT && m->peer);
    CHECK(m->peer->id.len == peer->len && memcmp(m->peer->id.data, peer->b, peer->len) == 0);
    CHECK(m->limit && m->limit->duration == 120 && m->limit->data == 131072);
    CHECK(relay_wire_stop_status(msg, len) == -1); /* a CONNECT is not an answer */
    circuit__stop_message__free_unpacked(m, NULL);
    buf_free(&out);
}

static void check_hop_status(const uint8_t *addr, size_t addr_len)
{
    struct buf out = BUF_INIT;
    struct relay_limit lim = {0, 4096};
    const uint8_t *addrs[1] = {addr};
    size_t lens[1] = {addr_len};
    struct relay_grant g = {.expire = 1234, .addrs = addrs, .addr_lens = lens, .naddrs = 1,
                            .voucher = addr, .voucher_len = addr_len};
    const uint8_t *msg;
    size_t len, used;

    relay_wire_hop_status(&out, RELAY_OK, &lim, &g);
    CHECK(relay_wire_frame(buf_head(&out), buf_size(&out), SIZE_MAX, &msg, &len, &used) == 1);
    Circuit__HopMessage *m = circuit__hop_message__unpack(NULL, len, msg);
    CHECK(m && m->has_status && m->status == CIRCUIT__STATUS__OK && m->reservation);
    CHECK(m->reservation->expire == 1234 && m->reservation->n_addrs == 1);
    CHECK(m->reservation->addrs[0].len == addr_len);
    CHECK(addr_len == 0 || memcmp(m->reservation->addrs[0].data, addr, addr_len) == 0);
    CHECK(m->limit && !m->limit->has_duration && m->limit->data == 4096);
    struct relay_hop_req req;
    CHECK(relay_wire_hop(msg, len, &req) == 0 && req.type == RELAY_HOP_OTHER);
    circuit__hop_message__free_unpacked(m, NULL);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = data[0] & 1 ? 4096 : 64;
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    while (n > 0) {
        const uint8_t *msg;
        size_t len, used;
        int rc = relay_wire_frame(p, n, cap, &msg, &len, &used);
        if (rc <= 0)
            break;
        CHECK(len <= cap && used <= n && msg + len == p + used && msg > p);
        struct relay_hop_req req;
        memset(&req, 0, sizeof req);
        if (relay_wire_hop(msg, len, &req) == 0 && req.type == RELAY_HOP_CONNECT) {
            struct peer_id again;
            CHECK(peerid_from_bytes(&again, req.peer.b, req.peer.len) == 0 && peerid_eq(&again, &req.peer));
            check_stop_connect(&req.peer);
        }
        int st = relay_wire_stop_status(msg, len);
        CHECK(st >= -1);
        check_hop_status(msg, len < 512 ? len : 512);
        p += used;
        n -= used;
    }
    return 0;
}
