/* ab_zutil.c - small ZeroMQ helpers (see ab_zutil.h). */
#include "ab_zutil.h"

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
