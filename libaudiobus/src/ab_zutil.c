/* ab_zutil.c - small ZeroMQ helpers (see ab_zutil.h). */
#include "ab_zutil.h"

#include <stdint.h>
#include <sys/random.h>
#include <zmq.h>

void ab_zutil_drain(void *socket)
{
    int more = 1;
    size_t len = sizeof more;
    zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&extra);
            return;
        }
        zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len);
        zmq_msg_close(&extra);
    }
}

void ab_zutil_set_liveness(void *socket)
{
    int heartbeat_ivl = 1000, heartbeat_timeout = 3000, heartbeat_ttl = 3000;
    int connect_timeout = 2000, reconnect_ivl = 100, reconnect_max = 1000;
    zmq_setsockopt(socket, ZMQ_HEARTBEAT_IVL, &heartbeat_ivl, sizeof heartbeat_ivl);
    zmq_setsockopt(socket, ZMQ_HEARTBEAT_TIMEOUT, &heartbeat_timeout, sizeof heartbeat_timeout);
    zmq_setsockopt(socket, ZMQ_HEARTBEAT_TTL, &heartbeat_ttl, sizeof heartbeat_ttl);
    zmq_setsockopt(socket, ZMQ_CONNECT_TIMEOUT, &connect_timeout, sizeof connect_timeout);
    zmq_setsockopt(socket, ZMQ_RECONNECT_IVL, &reconnect_ivl, sizeof reconnect_ivl);
    zmq_setsockopt(socket, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
}

int ab_zutil_set_random_routing_id(void *socket)
{
    uint8_t id[16];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id)
        return -1;
    id[0] |= 0x80; /* ids starting with a zero byte are ZeroMQ's own */
    return zmq_setsockopt(socket, ZMQ_ROUTING_ID, id, sizeof id);
}
