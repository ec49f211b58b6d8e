/* ab_pub.c - block publisher with link detection and push-back (see ab_pub.h). */
#include "audiobus/ab_pub.h"

#include <stdlib.h>
#include <zmq.h>

#include "ab_zutil.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_endpoint.h"
#include "audiobus/ab_error.h"

struct ab_pub {
    void *socket;
    bool ready;
    uint8_t *buffer; /* AB_BLOCK_MAX_BYTES */
};

ab_pub_t *ab_pub_new(void *zmq_ctx, const char *endpoint, int hwm)
{
    if (!ab_endpoint_valid(endpoint))
        return NULL;
    ab_pub_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->buffer = malloc(AB_BLOCK_MAX_BYTES);
    self->socket = zmq_socket(zmq_ctx, ZMQ_XPUB);
    if (!self->buffer || !self->socket) {
        ab_pub_destroy(&self);
        return NULL;
    }
    int one = 1, linger = 2000;
    zmq_setsockopt(self->socket, ZMQ_XPUB_NODROP, &one, sizeof one);
    zmq_setsockopt(self->socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger);
    int64_t max_size = 1024; /* only subscriptions come back */
    zmq_setsockopt(self->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    ab_zutil_set_liveness(self->socket);
    if (zmq_connect(self->socket, endpoint) != 0) {
        ab_pub_destroy(&self);
        return NULL;
    }
    return self;
}

void ab_pub_destroy(ab_pub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->socket)
        zmq_close((*self_p)->socket);
    free((*self_p)->buffer);
    free(*self_p);
    *self_p = NULL;
}

/* Read pending subscription messages; any subscribe means the link is up. */
static void s_read_subscriptions(ab_pub_t *self)
{
    uint8_t buf[1024];
    int len;
    while ((len = zmq_recv(self->socket, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0)
        if (len >= 1 && buf[0] == 1)
            self->ready = true;
}

bool ab_pub_wait_ready(ab_pub_t *self, int timeout_ms)
{
    int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    s_read_subscriptions(self);
    while (!self->ready) {
        int64_t left = (deadline - ab_clock_mono_ns()) / 1000000;
        if (left <= 0)
            break;
        zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (int)left);
        s_read_subscriptions(self);
    }
    return self->ready;
}

int ab_pub_send(ab_pub_t *self, const ab_block_t *block, int timeout_ms)
{
    size_t len;
    int rc = ab_block_encode(block, self->buffer, AB_BLOCK_MAX_BYTES, &len);
    if (rc)
        return rc;
    return ab_pub_send_encoded(self, block->stream, self->buffer, len, timeout_ms);
}

int ab_pub_send_encoded(ab_pub_t *self, const char *stream, const uint8_t *msg, size_t len, int timeout_ms)
{
    uint8_t topic[AB_TOPIC_MAX];
    size_t topic_len = ab_topic_for_stream(stream, topic);
    int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    /* With NODROP a full queue refuses the first frame with EAGAIN; the
     * second frame of a message always follows once the first is in. */
    while (zmq_send(self->socket, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() != EAGAIN)
            return AB_EZMQ;
        if (ab_clock_mono_ns() >= deadline)
            return AB_ETIMEOUT;
        zmq_pollitem_t item = {self->socket, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&item, 1, 10);
        s_read_subscriptions(self);
    }
    if (zmq_send(self->socket, msg, len, 0) < 0)
        return AB_EZMQ;
    return 0;
}
