/* ab_node.c - control-plane client: register, heartbeat, link, goodbye. */
#include "audiobus/ab_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "ab_zutil.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_endpoint.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_signal.h"

#define AB_LISTING_REPLY_MAX ((1u << 20) + 1024)

struct ab_node {
    void *dealer;
    int wake_fd; /* an eventfd other threads write to end the control thread's wait (ab_node_wake) */
    char broker[AB_ENDPOINT_MAX];
    ab_ctl_msg_t hello;
    _Atomic uint64_t session; /* read by data threads to follow re-registrations */
    _Atomic uint64_t links;   /* link confirmations so far, read by data threads */
    char data_in[AB_ENDPOINT_MAX];
    char data_out[AB_ENDPOINT_MAX];
    char link_topic[64];
    char reason[AB_CTL_STR_MAX + 1];
    int heartbeat_ms;
    int64_t next_heartbeat_ns;
    int64_t last_heard_ns;
    bool registered;
    bool hello_sent; /* registration was asked for: keep at it */
    bool linked;
    bool bye_acked;
    bool outputs_pending; /* announced outputs the broker has not answered yet */
    bool refused;         /* a refuse came since the last ab_node_poll() */
    uint32_t n_previous_outputs; /* what the broker accepted before the pending outputs */
    ab_ctl_output_t previous_outputs[AB_CTL_MAX_STREAMS];
    ab_node_stats_fn *stats_fn;
    void *stats_user;
    ab_node_message_fn *message_fn;
    void *message_user;
    ab_log_limiter_t late_limiter;
};

const char *ab_node_hostname(void)
{
    static char host[256];
    if (!host[0] && gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    return host;
}

static void *s_dealer(void *ctx, const char *endpoint)
{
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    if (!dealer)
        return NULL;
    int linger = 200;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    int64_t max_size = AB_LISTING_REPLY_MAX;
    zmq_setsockopt(dealer, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    ab_zutil_set_liveness(dealer);
    ab_zutil_set_random_routing_id(dealer);
    if (zmq_connect(dealer, endpoint) != 0) {
        zmq_close(dealer);
        return NULL;
    }
    return dealer;
}

ab_node_t *ab_node_new(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *hello, char *error,
                       size_t error_len)
{
    if (!ab_endpoint_valid(broker_endpoint)) {
        snprintf(error, error_len, "bad broker endpoint \"%s\" (expected tcp://HOST:PORT or ipc://PATH)",
                 broker_endpoint ? broker_endpoint : "");
        return NULL;
    }
    ab_node_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    snprintf(self->broker, sizeof self->broker, "%s", broker_endpoint);
    self->hello = *hello;
    self->hello.cmd = AB_CMD_HELLO;
    self->hello.pid = (uint32_t)getpid();
    if (!self->hello.host[0])
        snprintf(self->hello.host, sizeof self->hello.host, "%s", ab_node_hostname());
    self->dealer = s_dealer(zmq_ctx, broker_endpoint);
    if (!self->dealer) {
        snprintf(error, error_len, "cannot connect to broker %s: %s", broker_endpoint, zmq_strerror(zmq_errno()));
        free(self);
        return NULL;
    }
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wake_fd < 0) {
        snprintf(error, error_len,
                 "cannot create the control thread's wake-up (an eventfd): %s; the process is out of file "
                 "descriptors or memory: raise `ulimit -n`, or free memory",
                 strerror(errno));
        zmq_close(self->dealer);
        free(self);
        return NULL;
    }
    self->heartbeat_ms = 1000;
    return self;
}

void ab_node_destroy(ab_node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmq_close((*self_p)->dealer);
    close((*self_p)->wake_fd);
    free(*self_p);
    *self_p = NULL;
}

static int s_send(ab_node_t *self, const ab_ctl_msg_t *msg)
{
    uint8_t buf[AB_CTL_MAX_BYTES]; /* a hello with every input and output */
    size_t len;
    int rc = ab_ctl_encode(msg, buf, sizeof buf, &len);
    if (rc)
        return rc;
    return zmq_send(self->dealer, buf, len, ZMQ_DONTWAIT) < 0 ? AB_EZMQ : 0;
}

static int s_send_cmd(ab_node_t *self, ab_cmd_t cmd)
{
    ab_ctl_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.cmd = cmd;
    return s_send(self, &msg);
}

/* Act on one message from the broker. */
static void s_handle(ab_node_t *self, const ab_ctl_msg_t *msg)
{
    switch (msg->cmd) {
    case AB_CMD_WELCOME:
        if (self->session && self->session != msg->session)
            ab_log_info("registered again with the broker, session %" PRIu64, msg->session);
        self->heartbeat_ms = msg->heartbeat_ms ? (int)msg->heartbeat_ms : 1000;
        if (!self->registered || self->session != msg->session) {
            /* Not for the welcome that answers outputs announced: data
             * threads may be reading the endpoints then. */
            ab_endpoint_resolve(msg->data_in, self->broker, self->data_in, sizeof self->data_in);
            ab_endpoint_resolve(msg->data_out, self->broker, self->data_out, sizeof self->data_out);
            snprintf(self->link_topic, sizeof self->link_topic, "$link/%" PRIu64, msg->session);
        }
        atomic_store(&self->session, msg->session);
        self->registered = true;
        self->outputs_pending = false; /* welcome answers the hello that carried them */
        self->next_heartbeat_ns = ab_clock_mono_ns() + (int64_t)self->heartbeat_ms * 1000000;
        break;
    case AB_CMD_REFUSE:
        snprintf(self->reason, sizeof self->reason, "%s", msg->reason);
        self->refused = true;
        if (self->registered && self->outputs_pending) {
            /* The new outputs are refused; the registration stands with
             * what the broker accepted before. */
            memcpy(self->hello.outputs, self->previous_outputs, sizeof self->previous_outputs);
            self->hello.n_outputs = self->n_previous_outputs;
            self->outputs_pending = false;
        }
        break;
    case AB_CMD_LINKED:
        self->linked = true;
        atomic_fetch_add(&self->links, 1);
        break;
    case AB_CMD_BYE:
        self->bye_acked = true;
        break;
    case AB_CMD_ERROR:
        snprintf(self->reason, sizeof self->reason, "%s", msg->reason);
        ab_log_warn("broker says: %s", msg->reason);
        if (self->registered && strstr(msg->reason, "unknown node")) {
            /* The broker restarted or forgot us: register again. */
            self->registered = false;
            self->linked = false;
            self->next_heartbeat_ns = 0;
        }
        break;
    default:
        if (self->message_fn)
            self->message_fn(self->message_user, msg);
        break;
    }
}

void ab_node_wake(ab_node_t *self)
{
    uint64_t one = 1;
    (void)!write(self->wake_fd, &one, sizeof one); /* fails only when 2^64-2 wakes are pending */
}

/* Receive and handle every message waiting, after waiting up to timeout_ms
 * for the first, for ab_node_wake() or for a stop (ab_signal_stop_fd()).
 * Returns the number handled. */
static int s_receive(ab_node_t *self, int timeout_ms)
{
    /* The stop fd stays readable once a stop came: waited on only before. */
    int stop_fd = ab_signal_stop_requested() ? -1 : ab_signal_stop_fd();
    zmq_pollitem_t items[] = {{self->dealer, 0, ZMQ_POLLIN, 0},
                              {NULL, self->wake_fd, ZMQ_POLLIN, 0},
                              {NULL, stop_fd, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, stop_fd >= 0 ? 3 : 2, timeout_ms) <= 0)
        return 0;
    if (items[1].revents & ZMQ_POLLIN) {
        uint64_t wakes;
        (void)!read(self->wake_fd, &wakes, sizeof wakes); /* resets the count */
    }
    int handled = 0;
    for (;;) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return handled;
        }
        ab_ctl_msg_t msg;
        int rc = ab_ctl_decode(&msg, zmq_msg_data(&frame), zmq_msg_size(&frame));
        bool more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        self->last_heard_ns = ab_clock_mono_ns();
        if (more || rc) {
            ab_log_warn("ignored a bad control message from the broker: %s", more ? "extra frames" : ab_strerror(rc));
            continue;
        }
        s_handle(self, &msg);
        handled++;
    }
}

int ab_node_register(ab_node_t *self, int timeout_ms)
{
    self->registered = false;
    self->linked = false;
    self->reason[0] = '\0';
    self->hello_sent = true;
    int rc = s_send(self, &self->hello);
    if (rc)
        return rc;
    int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (!self->registered && !self->reason[0]) {
        if (ab_signal_stop_requested())
            return AB_EINTR;
        int64_t left = (deadline - ab_clock_mono_ns()) / 1000000;
        if (left <= 0)
            return AB_ETIMEOUT;
        s_receive(self, left > 100 ? 100 : (int)left);
    }
    self->refused = false; /* told by the return value */
    return self->registered ? 0 : AB_EREFUSED;
}

int ab_node_register_or_explain(ab_node_t *self, const char *kind, int timeout_ms)
{
    int rc = ab_node_register(self, timeout_ms);
    if (rc == AB_EREFUSED)
        ab_log_error("the broker refused %s %s: %s", kind, self->hello.name, self->reason);
    else if (rc == AB_ETIMEOUT)
        ab_log_error("no broker answered at %s within %d ms (start one with `audiobus broker`, or check --broker)",
                     self->broker, timeout_ms);
    return rc;
}

int ab_node_poll(ab_node_t *self, int timeout_ms)
{
    int64_t now = ab_clock_mono_ns();
    int64_t until_heartbeat = (self->next_heartbeat_ns - now) / 1000000;
    if (until_heartbeat < timeout_ms)
        timeout_ms = until_heartbeat > 0 ? (int)until_heartbeat : 0;
    s_receive(self, timeout_ms);
    now = ab_clock_mono_ns();
    if (self->registered && now >= self->next_heartbeat_ns) {
        /* A heartbeat a whole interval late means this process was not
         * scheduled (or its control thread was held up): say so, since the
         * broker forgets a node silent for a few intervals. */
        int64_t late_ms = (now - self->next_heartbeat_ns) / 1000000;
        if (self->next_heartbeat_ns && late_ms >= self->heartbeat_ms)
            ab_log_limited(&self->late_limiter, 10000, AB_LOG_WARN,
                           "heartbeat to the broker %" PRId64 " ms late: this process was not scheduled in time "
                           "(an overloaded host?); the broker forgets a node silent for a few heartbeats: lower the "
                           "load, or give the broker a larger --heartbeat-misses",
                           late_ms);
        ab_ctl_msg_t beat;
        memset(&beat, 0, sizeof beat);
        beat.cmd = AB_CMD_HEARTBEAT;
        if (self->stats_fn)
            self->stats_fn(self->stats_user, &beat);
        s_send(self, &beat);
        self->next_heartbeat_ns = now + (int64_t)self->heartbeat_ms * 1000000;
    }
    int rc = 0;
    if (self->last_heard_ns && now - self->last_heard_ns > 3 * (int64_t)self->heartbeat_ms * 1000000) {
        if (self->registered)
            ab_log_warn("the broker at %s has been silent for 3 heartbeats; registering again", self->broker);
        self->registered = false;
        self->linked = false;
        rc = AB_ETIMEOUT;
    }
    if (!self->registered && self->hello_sent && now >= self->next_heartbeat_ns) {
        /* Keep offering hello until a broker answers (it may be restarting),
         * every interval, as often as heartbeats: a broker that was itself
         * stalled forgets a node silent for a few intervals, and the first
         * hello can be lost with the connection it went out on. (Hellos
         * queue while the network is down; each is answered with welcome.) */
        s_send(self, &self->hello);
        self->next_heartbeat_ns = now + (int64_t)self->heartbeat_ms * 1000000;
    }
    if (self->refused) {
        self->refused = false;
        rc = AB_EREFUSED;
    }
    return rc;
}

int ab_node_announce(ab_node_t *self, const ab_ctl_output_t *outputs, uint32_t n_outputs)
{
    if (n_outputs > AB_CTL_MAX_STREAMS)
        return AB_EINVAL;
    ab_ctl_msg_t hello = self->hello;
    memcpy(hello.outputs, outputs, n_outputs * sizeof *outputs);
    hello.n_outputs = n_outputs;
    uint8_t buf[AB_CTL_MAX_BYTES]; /* a hello with every input and output */
    size_t len;
    if (ab_ctl_encode(&hello, buf, sizeof buf, &len) != 0)
        return AB_EINVAL;
    if (!self->outputs_pending) {
        memcpy(self->previous_outputs, self->hello.outputs, sizeof self->previous_outputs);
        self->n_previous_outputs = self->hello.n_outputs;
    }
    self->hello = hello;
    self->outputs_pending = true;
    /* Registered: hello again, which the broker takes as the same node
     * telling what it publishes now. Otherwise the next hello carries them. */
    if (self->registered && zmq_send(self->dealer, buf, len, ZMQ_DONTWAIT) < 0)
        return AB_EZMQ;
    return 0;
}

bool ab_node_announced(const ab_node_t *self)
{
    return self->registered && !self->outputs_pending;
}

int ab_node_wait_linked(ab_node_t *self, int timeout_ms)
{
    int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (!self->linked) {
        if (ab_signal_stop_requested())
            return AB_EINTR;
        int64_t left = (deadline - ab_clock_mono_ns()) / 1000000;
        if (left <= 0)
            return AB_ETIMEOUT;
        ab_node_poll(self, left > 100 ? 100 : (int)left);
    }
    return 0;
}

int ab_node_bye(ab_node_t *self, int timeout_ms)
{
    self->bye_acked = false;
    if (s_send_cmd(self, AB_CMD_BYE))
        return AB_EZMQ;
    int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (!self->bye_acked) {
        int64_t left = (deadline - ab_clock_mono_ns()) / 1000000;
        if (left <= 0)
            return AB_ETIMEOUT;
        s_receive(self, left > 100 ? 100 : (int)left);
    }
    self->registered = false;
    self->hello_sent = false;
    return 0;
}

void ab_node_set_stats_fn(ab_node_t *self, ab_node_stats_fn *fn, void *user)
{
    self->stats_fn = fn;
    self->stats_user = user;
}

void ab_node_set_message_fn(ab_node_t *self, ab_node_message_fn *fn, void *user)
{
    self->message_fn = fn;
    self->message_user = user;
}

bool ab_node_linked(const ab_node_t *self)
{
    return self->linked;
}

uint64_t ab_node_links(const ab_node_t *self)
{
    return atomic_load(&((ab_node_t *)self)->links);
}

uint64_t ab_node_session(const ab_node_t *self)
{
    return atomic_load(&((ab_node_t *)self)->session);
}

const char *ab_node_data_in(const ab_node_t *self)
{
    return self->data_in;
}

const char *ab_node_data_out(const ab_node_t *self)
{
    return self->data_out;
}

const char *ab_node_reason(const ab_node_t *self)
{
    return self->reason;
}

const char *ab_node_link_topic(const ab_node_t *self)
{
    return self->link_topic;
}

static int s_request(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *request, int timeout_ms,
                     bool stop_on_signal, uint8_t **reply, size_t *reply_len)
{
    *reply = NULL;
    *reply_len = 0;
    if (!ab_endpoint_valid(broker_endpoint))
        return AB_EINVAL;
    void *dealer = s_dealer(zmq_ctx, broker_endpoint);
    if (!dealer)
        return AB_EZMQ;
    uint8_t buf[AB_CTL_MAX_BYTES]; /* a hello with every input and output */
    size_t len;
    int rc = ab_ctl_encode(request, buf, sizeof buf, &len);
    if (rc == 0 && zmq_send(dealer, buf, len, 0) < 0)
        rc = AB_EZMQ;
    if (rc == 0) {
        zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};
        int64_t deadline = ab_clock_mono_ns() + (int64_t)timeout_ms * 1000000;
        rc = AB_ETIMEOUT;
        while (ab_clock_mono_ns() < deadline && !(stop_on_signal && ab_signal_stop_requested())) {
            if (zmq_poll(&item, 1, 100) <= 0)
                continue;
            zmq_msg_t frame;
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, dealer, ZMQ_DONTWAIT) >= 0) {
                *reply_len = zmq_msg_size(&frame);
                *reply = malloc(*reply_len ? *reply_len : 1);
                if (*reply) {
                    memcpy(*reply, zmq_msg_data(&frame), *reply_len);
                    rc = 0;
                } else {
                    rc = AB_ENOMEM;
                }
            }
            zmq_msg_close(&frame);
            break;
        }
    }
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(dealer);
    return rc;
}

int ab_node_request(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *request, int timeout_ms,
                    uint8_t **reply, size_t *reply_len)
{
    return s_request(zmq_ctx, broker_endpoint, request, timeout_ms, true, reply, reply_len);
}

int ab_node_request_while_stopping(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *request,
                                   int timeout_ms, uint8_t **reply, size_t *reply_len)
{
    return s_request(zmq_ctx, broker_endpoint, request, timeout_ms, false, reply, reply_len);
}
