/* ab_broker.c - the broker's poll loop: forward and account data blocks,
 * serve the node registry on the control socket. */
#include "audiobus/ab_broker.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ab_history.h"
#include "ab_mp.h"
#include "ab_zutil.h"
#include "audiobus/ab_block.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_ctl.h"
#include "audiobus/ab_endpoint.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_signal.h"

#define AB_LINK_TOPIC_PREFIX "$link/"
#define AB_LISTING_MAX (1u << 20)
#define AB_ROUTING_ID_MAX 255
#define AB_FORWARD_BURST 512
/* While blocks flow, the broker waits on its data-in socket alone and
 * looks at the control and subscription sockets this often; see
 * ab_broker_run(). */
#define AB_BROKER_CONTROL_CHECK_MS 10
/* Blocks flow while the last came less than this long ago (a slower
 * stream is waited for with all three sockets, without a timer). */
#define AB_BROKER_FLOWING_NS (50 * 1000000LL)

typedef struct {
    uint8_t id[AB_ROUTING_ID_MAX];
    size_t id_len;
    char key[2 * AB_ROUTING_ID_MAX + 1];
    ab_ctl_msg_t hello; /* what the node announced */
    uint64_t session;
    int64_t registered_ns;
    int64_t last_seen_ns;
    bool linked;
    uint32_t n_stats;
    ab_ctl_stat_t stats[AB_CTL_MAX_STATS];
    uint32_t n_input_seqs; /* of the last heartbeat, one per input (0: none sent) */
    uint64_t input_seqs[AB_CTL_MAX_STREAMS];
    int64_t stats_ns; /* when they came */
    uint64_t bad;     /* malformed messages from this node */
} s_node_t;

typedef struct {
    char name[AB_STREAM_NAME_MAX + 1];
    char publisher[AB_STREAM_NAME_MAX + 1]; /* node that announced it, "" if none */
    ab_block_type_t type;
    uint32_t rate, channels, hop;
    ab_format_t format;
    bool seen_any;
    bool publisher_linked; /* a block arrived since the publisher registered */
    uint64_t epoch;        /* the publisher's run the blocks belong to */
    ab_history_t *history; /* the last --history seconds, by seq */
    uint64_t newest_frame_end;
    uint32_t block_frames; /* frames of its last audio block */
    uint64_t blocks, bad, bytes, last_seq, restarts;
    uint64_t gaps;       /* blocks missing now: skipped and not (yet) filled in */
    uint64_t filled;     /* missing blocks that arrived later (resent) */
    uint64_t duplicates; /* blocks received again and dropped */
    uint64_t replayed;   /* blocks sent again to processors that missed them */
} s_stream_t;

struct ab_broker {
    void *ctx;
    void *router, *xsub, *xpub;
    char control_endpoint[AB_ENDPOINT_MAX];
    char data_in_endpoint[AB_ENDPOINT_MAX];
    char data_out_endpoint[AB_ENDPOINT_MAX];
    int heartbeat_ms;
    int heartbeat_misses;
    double history_seconds;
    atomic_bool stop;
    zhashx_t *nodes;   /* routing id (hex) -> s_node_t */
    zhashx_t *streams; /* stream name -> s_stream_t */
    uint64_t next_session;
    int64_t started_ns;
    int64_t last_data_ns; /* when a message last came on data-in */
    int data_wait_ms;     /* data-in's receive timeout as set (ZeroMQ's default -1: for ever) */
    uint8_t *listing; /* AB_LISTING_MAX bytes */
    /* problems on the sockets, for the logs and the listing */
    uint64_t bad_data, bad_control, bad_subscriptions;
    ab_log_limiter_t data_limiter, control_limiter, subscription_limiter;
};

static void s_node_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_stream_destroy(void **item)
{
    s_stream_t *stream = *item;
    ab_history_destroy(&stream->history);
    free(stream);
    *item = NULL;
}

/* Bind with a per-frame size limit. ZMQ_MAXMSGSIZE must be set before
 * zmq_bind(): the listener copies the socket's options when it is bound, so
 * a limit set afterwards never reaches the connections it accepts. */
static int s_bind(void *socket, const char *endpoint, int64_t max_size, char *bound, const char *what, char *error,
                  size_t error_len)
{
    zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    ab_zutil_set_liveness(socket); /* drop dead peers' queues within seconds */
    if (zmq_bind(socket, endpoint) != 0) {
        snprintf(error, error_len, "cannot bind the %s socket to %s: %s (is another broker running there? choose another port with --bind)",
                 what, endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    size_t len = AB_ENDPOINT_MAX;
    zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, bound, &len);
    return 0;
}

ab_broker_t *ab_broker_new(const ab_broker_config_t *config, char *error, size_t error_len)
{
    char data_in[AB_ENDPOINT_MAX], data_out[AB_ENDPOINT_MAX];
    const char *control = config->control_endpoint ? config->control_endpoint : "tcp://*:5550";
    if (!ab_endpoint_valid(control)) {
        snprintf(error, error_len, "bad control endpoint \"%s\" (expected tcp://HOST:PORT, ipc://PATH)", control);
        return NULL;
    }
    if (config->data_in_endpoint)
        snprintf(data_in, sizeof data_in, "%s", config->data_in_endpoint);
    else if (ab_endpoint_offset(control, 1, data_in, sizeof data_in)) {
        snprintf(error, error_len, "cannot derive the data-in endpoint from \"%s\" (give --data-in)", control);
        return NULL;
    }
    if (config->data_out_endpoint)
        snprintf(data_out, sizeof data_out, "%s", config->data_out_endpoint);
    else if (ab_endpoint_offset(control, 2, data_out, sizeof data_out)) {
        snprintf(error, error_len, "cannot derive the data-out endpoint from \"%s\" (give --data-out)", control);
        return NULL;
    }

    ab_broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : 1000;
    self->heartbeat_misses = config->heartbeat_misses > 0 ? config->heartbeat_misses : 3;
    self->history_seconds = config->history_seconds > 0 ? config->history_seconds
                            : config->history_seconds < 0 ? 0
                                                          : 10.0;
    self->nodes = zhashx_new();
    self->streams = zhashx_new();
    self->listing = malloc(AB_LISTING_MAX);
    self->ctx = zmq_ctx_new();
    if (!self->nodes || !self->streams || !self->listing || !self->ctx) {
        snprintf(error, error_len, "out of memory");
        ab_broker_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->nodes, s_node_destroy);
    zhashx_set_destructor(self->streams, s_stream_destroy);
    self->started_ns = ab_clock_mono_ns();
    self->data_wait_ms = -1;
    /* Sessions stay unique across broker restarts: seconds since the epoch
     * in the high bits. */
    self->next_session = (uint64_t)(ab_clock_wall_ns() / 1000000000) << 20;

    /* One libzmq I/O thread per socket: relaying to many processors keeps
     * an I/O thread busy, and on a shared one the control socket's traffic
     * (heartbeats, registrations, replay answers) queued behind it for
     * seconds, long enough for nodes to take the broker for dead. */
    zmq_ctx_set(self->ctx, ZMQ_IO_THREADS, 3);
    self->router = zmq_socket(self->ctx, ZMQ_ROUTER);
    self->xsub = zmq_socket(self->ctx, ZMQ_XSUB);
    self->xpub = zmq_socket(self->ctx, ZMQ_XPUB);
    uint64_t control_thread = 1, inbound_thread = 2, outbound_thread = 4; /* bit masks */
    zmq_setsockopt(self->router, ZMQ_AFFINITY, &control_thread, sizeof control_thread);
    zmq_setsockopt(self->xsub, ZMQ_AFFINITY, &inbound_thread, sizeof inbound_thread);
    zmq_setsockopt(self->xpub, ZMQ_AFFINITY, &outbound_thread, sizeof outbound_thread);
    int hwm = config->subscriber_hwm > 0 ? config->subscriber_hwm : AB_BROKER_DEFAULT_HWM;
    zmq_setsockopt(self->xpub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->xsub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    int linger = 0;
    zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
    /* A node whose connection is remade (same routing id, see
     * ab_zutil_set_random_routing_id) takes over its old one at once. */
    int handover = 1;
    zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &handover, sizeof handover);
    zmq_setsockopt(self->xsub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->xpub, ZMQ_LINGER, &linger, sizeof linger);
    /* Control messages are small; ZeroMQ refuses anything bigger before
     * reading it. Data frames may hold a whole block. */
    const int64_t max_ctl = AB_CTL_MAX_BYTES, max_data = (int64_t)AB_BLOCK_MAX_BYTES + 1024;
    if (s_bind(self->router, control, max_ctl, self->control_endpoint, "control (ROUTER)", error, error_len) ||
        s_bind(self->xsub, data_in, max_data, self->data_in_endpoint, "data-in (XSUB)", error, error_len) ||
        s_bind(self->xpub, data_out, max_data, self->data_out_endpoint, "data-out (XPUB)", error, error_len)) {
        ab_broker_destroy(&self);
        return NULL;
    }
    /* Subscribe to everything upstream: every publisher that connects is
     * sent this, which is how it learns its data link is live. */
    uint8_t subscribe_all = 1;
    zmq_send(self->xsub, &subscribe_all, 1, 0);
    return self;
}

void ab_broker_destroy(ab_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_broker_t *self = *self_p;
    if (self->router)
        zmq_close(self->router);
    if (self->xsub)
        zmq_close(self->xsub);
    if (self->xpub)
        zmq_close(self->xpub);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    zhashx_destroy(&self->nodes);
    zhashx_destroy(&self->streams);
    free(self->listing);
    free(self);
    *self_p = NULL;
}

const char *ab_broker_control_endpoint(const ab_broker_t *self)
{
    return self->control_endpoint;
}

const char *ab_broker_data_in_endpoint(const ab_broker_t *self)
{
    return self->data_in_endpoint;
}

const char *ab_broker_data_out_endpoint(const ab_broker_t *self)
{
    return self->data_out_endpoint;
}

void ab_broker_stop(ab_broker_t *self)
{
    atomic_store(&self->stop, true);
}

/* ---- data plane ---------------------------------------------------------- */

static s_node_t *s_node_by_name(ab_broker_t *self, const char *name);

static s_stream_t *s_stream_get(ab_broker_t *self, const char *name)
{
    s_stream_t *stream = zhashx_lookup(self->streams, name);
    if (!stream) {
        stream = calloc(1, sizeof *stream);
        if (!stream)
            return NULL;
        snprintf(stream->name, sizeof stream->name, "%s", name);
        zhashx_insert(self->streams, name, stream);
    }
    return stream;
}

static void s_request_resend(ab_broker_t *self, s_stream_t *stream, uint64_t from, uint64_t to);

/* Blocks of history for a stream: --history seconds at its block rate. */
static size_t s_history_capacity(const ab_broker_t *self, const ab_block_t *block)
{
    uint32_t frames = block->frames ? block->frames : 256;
    double blocks = self->history_seconds * block->rate / frames;
    return (size_t)(blocks > 1 << 22 ? 1 << 22 : blocks) + 16;
}

/* Account for a valid block and keep it in its stream's history. Returns
 * false for a block already relayed (a resend or a duplicate): dropped. */
static bool s_accept_block(ab_broker_t *self, const ab_block_t *block, zmq_msg_t *payload)
{
    s_stream_t *stream = s_stream_get(self, block->stream);
    if (!stream)
        return false;
    /* A new run of the publisher (a new epoch, or an old peer starting again
     * from 0) numbers its blocks afresh. */
    bool new_run = stream->seen_any && (block->epoch != stream->epoch ||
                                        (block->epoch == 0 && block->seq == 0 && stream->last_seq > 0));
    if (new_run) {
        stream->restarts++;
        stream->seen_any = false;
        if (stream->history)
            ab_history_clear(stream->history);
        ab_log_info("stream %s: a new run of its publisher begins at seq %" PRIu64, block->stream, block->seq);
    }
    if (!stream->history && self->history_seconds > 0)
        stream->history = ab_history_new(s_history_capacity(self, block));
    if (stream->seen_any) {
        if (stream->history && ab_history_get(stream->history, block->seq, NULL)) {
            stream->duplicates++;
            return false;
        }
        if (block->seq > stream->last_seq + 1) {
            uint64_t lost = block->seq - stream->last_seq - 1;
            stream->gaps += lost;
            ab_log_limited(&self->data_limiter, 1000, AB_LOG_WARN,
                           "stream %s: %" PRIu64 " block(s) missing before seq %" PRIu64 "; asking its publisher",
                           block->stream, lost, block->seq);
            s_request_resend(self, stream, stream->last_seq + 1, block->seq - 1);
        } else if (block->seq < stream->last_seq) {
            /* A block that was missing arrives after all. */
            if (stream->gaps)
                stream->gaps--;
            stream->filled++;
        } else if (block->seq == stream->last_seq && !stream->history) {
            stream->duplicates++;
            return false;
        }
    }
    if (!stream->seen_any) {
        stream->epoch = block->epoch;
        stream->last_seq = block->seq;
        stream->newest_frame_end = 0;
    }
    if (stream->history)
        ab_history_put(stream->history, block->seq, block->frame0, block->frames, zmq_msg_data(payload),
                       zmq_msg_size(payload));
    if (!stream->publisher_linked && stream->publisher[0]) {
        /* The broker cannot see a publisher's subscription; its first block
         * is the proof that its data link is live. */
        s_node_t *publisher = s_node_by_name(self, stream->publisher);
        if (publisher)
            publisher->linked = true;
        stream->publisher_linked = true;
    }
    stream->seen_any = true;
    if (block->seq > stream->last_seq)
        stream->last_seq = block->seq;
    if (block->frame0 + block->frames > stream->newest_frame_end)
        stream->newest_frame_end = block->frame0 + block->frames;
    if (block->frames)
        stream->block_frames = block->frames;
    stream->blocks++;
    stream->bytes += zmq_msg_size(payload);
    stream->type = block->type == AB_BLOCK_END ? stream->type : block->type;
    if (block->type != AB_BLOCK_END && block->type != AB_BLOCK_EVENT) {
        stream->rate = block->rate;
        stream->channels = block->channels;
        stream->format = block->format;
        stream->hop = block->hop;
    } else if (!stream->rate) {
        stream->rate = block->rate;
        stream->channels = block->channels;
        stream->format = block->format;
    }
    return true;
}

static void s_bad_data(ab_broker_t *self, const char *what, int rc)
{
    self->bad_data++;
    ab_log_limited(&self->data_limiter, 1000, AB_LOG_WARN, "data-in: dropped a bad block: %s%s%s (%" PRIu64 " so far)",
                   what, rc ? ": " : "", rc ? ab_strerror(rc) : "", self->bad_data);
}

/* Receive one data message ([topic][block]) on data-in and relay it.
 * flags: ZMQ_DONTWAIT, or 0 to wait up to the socket's receive timeout.
 * Returns whether a message came. */
static bool s_forward_one(ab_broker_t *self, int flags)
{
    zmq_msg_t topic, payload;
    zmq_msg_init(&topic);
    if (zmq_msg_recv(&topic, self->xsub, flags) < 0) {
        zmq_msg_close(&topic);
        return false;
    }
    self->last_data_ns = ab_clock_mono_ns();
    if (!zmq_msg_more(&topic)) {
        s_bad_data(self, "one frame instead of [topic][block]", 0);
        zmq_msg_close(&topic);
        return true;
    }
    zmq_msg_init(&payload);
    zmq_msg_recv(&payload, self->xsub, ZMQ_DONTWAIT); /* a message's frames come together */
    if (zmq_msg_more(&payload)) {
        ab_zutil_drain(self->xsub);
        s_bad_data(self, "more than two frames", 0);
        zmq_msg_close(&topic);
        zmq_msg_close(&payload);
        return true;
    }
    ab_block_t block;
    int rc = ab_block_decode(&block, zmq_msg_data(&payload), zmq_msg_size(&payload));
    if (rc) {
        s_bad_data(self, "undecodable block", rc);
        if (rc != AB_ENAME && block.stream[0] && ab_stream_name_valid(block.stream)) {
            s_stream_t *stream = s_stream_get(self, block.stream);
            if (stream)
                stream->bad++;
        }
    } else if (!ab_topic_matches(zmq_msg_data(&topic), zmq_msg_size(&topic), block.stream)) {
        s_bad_data(self, "topic frame does not match the block's stream", 0);
        s_stream_t *stream = s_stream_get(self, block.stream);
        if (stream)
            stream->bad++;
    } else if (s_accept_block(self, &block, &payload)) {
        zmq_msg_send(&topic, self->xpub, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_msg_send(&payload, self->xpub, ZMQ_DONTWAIT);
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&payload);
    return true;
}

/* Relay the data messages waiting on data-in, a bounded burst. */
static void s_forward_data(ab_broker_t *self)
{
    for (int i = 0; i < AB_FORWARD_BURST && s_forward_one(self, ZMQ_DONTWAIT); i++)
        ;
}

/* ---- control plane --------------------------------------------------------- */

static void s_send_to(ab_broker_t *self, const uint8_t *id, size_t id_len, const uint8_t *data, size_t len)
{
    if (zmq_send(self->router, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send(self->router, data, len, ZMQ_DONTWAIT);
}

static void s_send_ctl(ab_broker_t *self, const uint8_t *id, size_t id_len, const ab_ctl_msg_t *msg)
{
    uint8_t buf[2048];
    size_t len;
    if (ab_ctl_encode(msg, buf, sizeof buf, &len) == 0)
        s_send_to(self, id, id_len, buf, len);
}

static void s_send_reason(ab_broker_t *self, const uint8_t *id, size_t id_len, ab_cmd_t cmd, const char *reason)
{
    ab_ctl_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.cmd = cmd;
    snprintf(msg.reason, sizeof msg.reason, "%s", reason);
    s_send_ctl(self, id, id_len, &msg);
}

static void s_send_cmd(ab_broker_t *self, const uint8_t *id, size_t id_len, ab_cmd_t cmd)
{
    ab_ctl_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.cmd = cmd;
    s_send_ctl(self, id, id_len, &msg);
}

static void s_id_key(const uint8_t *id, size_t id_len, char *key)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < id_len; i++) {
        key[2 * i] = hex[id[i] >> 4];
        key[2 * i + 1] = hex[id[i] & 15];
    }
    key[2 * id_len] = '\0';
}

static s_node_t *s_node_by_name(ab_broker_t *self, const char *name)
{
    for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
        if (strcmp(node->hello.name, name) == 0)
            return node;
    return NULL;
}

static s_node_t *s_node_by_session(ab_broker_t *self, uint64_t session)
{
    for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
        if (node->session == session)
            return node;
    return NULL;
}

/* The node other than `except` (may be NULL) that publishes a stream, if any. */
static s_node_t *s_publisher_of(ab_broker_t *self, const char *stream, const s_node_t *except)
{
    for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
        for (uint32_t i = 0; node != except && i < node->hello.n_outputs; i++)
            if (strcmp(node->hello.outputs[i].stream, stream) == 0)
                return node;
    return NULL;
}

static bool s_announces(const ab_ctl_msg_t *hello, const char *stream)
{
    for (uint32_t i = 0; i < hello->n_outputs; i++)
        if (strcmp(hello->outputs[i].stream, stream) == 0)
            return true;
    return false;
}

static void s_remove_node(ab_broker_t *self, s_node_t *node, const char *why)
{
    ab_log_info("node %s (%s, pid %" PRIu32 " on %s) %s", node->hello.name, ab_role_name(node->hello.role),
                node->hello.pid, node->hello.host, why);
    for (uint32_t i = 0; i < node->hello.n_outputs; i++) {
        s_stream_t *stream = zhashx_lookup(self->streams, node->hello.outputs[i].stream);
        if (stream && strcmp(stream->publisher, node->hello.name) == 0)
            stream->publisher[0] = '\0';
    }
    zhashx_delete(self->nodes, node->key);
}

static void s_send_welcome(ab_broker_t *self, const s_node_t *node)
{
    ab_ctl_msg_t welcome;
    memset(&welcome, 0, sizeof welcome);
    welcome.cmd = AB_CMD_WELCOME;
    welcome.session = node->session;
    welcome.heartbeat_ms = (uint32_t)self->heartbeat_ms;
    snprintf(welcome.data_in, sizeof welcome.data_in, "%s", self->data_in_endpoint);
    snprintf(welcome.data_out, sizeof welcome.data_out, "%s", self->data_out_endpoint);
    s_send_ctl(self, node->id, node->id_len, &welcome);
}

/* Refuse a hello offering a stream that a node other than `node` (NULL:
 * any node) publishes. Returns true when refused. */
static bool s_refuse_taken_output(ab_broker_t *self, const uint8_t *id, size_t id_len, const ab_ctl_msg_t *msg,
                                  const s_node_t *node)
{
    for (uint32_t i = 0; i < msg->n_outputs; i++) {
        s_node_t *owner = s_publisher_of(self, msg->outputs[i].stream, node);
        if (!owner)
            continue;
        char reason[AB_CTL_STR_MAX + 1];
        snprintf(reason, sizeof reason,
                 "stream \"%s\" is already published by node \"%s\" on %s (pid %" PRIu32 "); %s",
                 msg->outputs[i].stream, owner->hello.name, owner->hello.host, owner->hello.pid,
                 msg->role == AB_ROLE_PROCESSOR ? "a stream has one publisher: stop that node, or process another --stream"
                                                : "choose another --stream");
        ab_log_warn("refused %s \"%s\": %s", ab_role_name(msg->role), msg->name, reason);
        s_send_reason(self, id, id_len, AB_CMD_REFUSE, reason);
        return true;
    }
    return false;
}

/* Record the streams a node announces as published by it: their shape, as
 * announced, until blocks tell more. */
static void s_take_outputs(ab_broker_t *self, const s_node_t *node)
{
    for (uint32_t i = 0; i < node->hello.n_outputs; i++) {
        const ab_ctl_output_t *out = &node->hello.outputs[i];
        s_stream_t *stream = s_stream_get(self, out->stream);
        if (!stream)
            continue;
        if (strcmp(stream->publisher, node->hello.name) != 0) {
            snprintf(stream->publisher, sizeof stream->publisher, "%s", node->hello.name);
            stream->publisher_linked = false;
        }
        stream->type = out->type;
        stream->rate = out->rate;
        stream->channels = out->channels;
        stream->format = out->format;
        stream->hop = out->hop;
    }
}

/* A registered node says hello again: the same node, keeping its session.
 * It did not hear from the broker for a while (several hellos may have
 * queued up), or what it publishes changed (a processor's plugin declares
 * its outputs once it knows the input's shape): take its outputs as they
 * are now, unless another node publishes one of them. */
static void s_on_hello_again(ab_broker_t *self, s_node_t *node, const ab_ctl_msg_t *msg)
{
    node->last_seen_ns = ab_clock_mono_ns();
    if (s_refuse_taken_output(self, node->id, node->id_len, msg, node))
        return; /* it keeps what it announced before */
    for (uint32_t i = 0; i < node->hello.n_outputs; i++) {
        const char *name = node->hello.outputs[i].stream;
        s_stream_t *stream = zhashx_lookup(self->streams, name);
        if (stream && !s_announces(msg, name) && strcmp(stream->publisher, node->hello.name) == 0)
            stream->publisher[0] = '\0';
    }
    for (uint32_t i = 0; i < msg->n_outputs; i++) {
        const ab_ctl_output_t *out = &msg->outputs[i];
        if (!s_announces(&node->hello, out->stream))
            ab_log_info("node %s publishes %s (%s, %" PRIu32 " Hz, %" PRIu32 " ch)", msg->name, out->stream,
                        ab_block_type_name(out->type), out->rate, out->channels);
    }
    node->hello = *msg;
    s_take_outputs(self, node);
    s_send_welcome(self, node);
}

static void s_on_hello(ab_broker_t *self, const uint8_t *id, size_t id_len, const char *key, const ab_ctl_msg_t *msg)
{
    char reason[AB_CTL_STR_MAX + 1];
    s_node_t *same_peer = zhashx_lookup(self->nodes, key);
    if (same_peer && strcmp(same_peer->hello.name, msg->name) == 0 && same_peer->hello.role == msg->role) {
        s_on_hello_again(self, same_peer, msg);
        return;
    }
    if (same_peer) /* another node on the same connection */
        s_remove_node(self, same_peer, "registered again");

    s_node_t *other = s_node_by_name(self, msg->name);
    if (other) {
        snprintf(reason, sizeof reason,
                 "name \"%s\" is already registered by a %s on %s (pid %" PRIu32 "); choose another --name",
                 msg->name, ab_role_name(other->hello.role), other->hello.host, other->hello.pid);
        ab_log_warn("refused %s from %s: %s", ab_role_name(msg->role), msg->host, reason);
        s_send_reason(self, id, id_len, AB_CMD_REFUSE, reason);
        return;
    }
    if (s_refuse_taken_output(self, id, id_len, msg, NULL))
        return;
    s_node_t *node = calloc(1, sizeof *node);
    if (!node)
        return;
    memcpy(node->id, id, id_len);
    node->id_len = id_len;
    snprintf(node->key, sizeof node->key, "%s", key);
    node->hello = *msg;
    node->session = ++self->next_session;
    node->registered_ns = node->last_seen_ns = ab_clock_mono_ns();
    zhashx_insert(self->nodes, key, node);
    s_take_outputs(self, node);
    ab_log_info("node %s (%s, pid %" PRIu32 " on %s) registered, session %" PRIu64, msg->name,
                ab_role_name(msg->role), msg->pid, msg->host, node->session);

    s_send_welcome(self, node);
}

static void s_pack_str_kv(msgpack_packer *pk, const char *key, const char *value)
{
    ab_mp_pack_key(pk, key);
    ab_mp_pack_cstr(pk, value);
}

static void s_pack_uint_kv(msgpack_packer *pk, const char *key, uint64_t value)
{
    ab_mp_pack_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

/* Blocks a stream has beyond seq, the last one of it a node handled. */
static uint64_t s_stream_lag(ab_broker_t *self, const char *stream_name, uint64_t seq)
{
    const s_stream_t *stream = zhashx_lookup(self->streams, stream_name);
    return stream && stream->last_seq > seq ? stream->last_seq - seq : 0;
}

/* Blocks a processor is behind on the input it is furthest behind on: per
 * input, the stream's last seq minus the last seq the node handled (its
 * heartbeat's input_seqs; inputs with nothing handled yet are not counted).
 * A node that sends only the last_seq counter is measured on its first
 * input. */
static uint64_t s_lag(ab_broker_t *self, const s_node_t *node)
{
    if (node->hello.n_inputs == 0)
        return 0;
    if (node->n_input_seqs == node->hello.n_inputs) {
        uint64_t lag = 0;
        for (uint32_t i = 0; i < node->n_input_seqs; i++) {
            if (node->input_seqs[i] == 0)
                continue; /* nothing handled yet: a stream that ended before the node came would stick */
            uint64_t behind = s_stream_lag(self, node->hello.inputs[i], node->input_seqs[i]);
            if (behind > lag)
                lag = behind;
        }
        return lag;
    }
    for (uint32_t i = 0; i < node->n_stats; i++)
        if (strcmp(node->stats[i].name, "last_seq") == 0)
            return s_stream_lag(self, node->hello.inputs[0], node->stats[i].value);
    return 0;
}

static void s_pack_node(ab_broker_t *self, msgpack_packer *pk, const s_node_t *node, int64_t now)
{
    const ab_ctl_msg_t *h = &node->hello;
    msgpack_pack_map(pk, 12);
    s_pack_uint_kv(pk, "lag", s_lag(self, node));
    s_pack_str_kv(pk, "name", h->name);
    s_pack_str_kv(pk, "role", ab_role_name(h->role));
    s_pack_str_kv(pk, "host", h->host);
    s_pack_uint_kv(pk, "pid", h->pid);
    s_pack_uint_kv(pk, "session", node->session);
    ab_mp_pack_key(pk, "inputs");
    msgpack_pack_array(pk, h->n_inputs);
    for (uint32_t i = 0; i < h->n_inputs; i++)
        ab_mp_pack_cstr(pk, h->inputs[i]);
    ab_mp_pack_key(pk, "outputs");
    msgpack_pack_array(pk, h->n_outputs);
    for (uint32_t i = 0; i < h->n_outputs; i++)
        ab_mp_pack_cstr(pk, h->outputs[i].stream);
    s_pack_uint_kv(pk, "age_ms", (uint64_t)((now - node->registered_ns) / 1000000));
    s_pack_uint_kv(pk, "heartbeat_ms_ago", (uint64_t)((now - node->last_seen_ns) / 1000000));
    ab_mp_pack_key(pk, "linked");
    if (node->linked)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    ab_mp_pack_key(pk, "stats");
    msgpack_pack_map(pk, node->n_stats + 1);
    for (uint32_t i = 0; i < node->n_stats; i++)
        s_pack_uint_kv(pk, node->stats[i].name, node->stats[i].value);
    s_pack_uint_kv(pk, "bad_messages", node->bad);
}

static void s_pack_stream(msgpack_packer *pk, const s_stream_t *s)
{
    msgpack_pack_map(pk, 16);
    s_pack_str_kv(pk, "stream", s->name);
    s_pack_str_kv(pk, "type", ab_block_type_name(s->type) ? ab_block_type_name(s->type) : "");
    s_pack_uint_kv(pk, "rate", s->rate);
    s_pack_uint_kv(pk, "channels", s->channels);
    s_pack_str_kv(pk, "format", ab_format_name(s->format) ? ab_format_name(s->format) : "");
    s_pack_uint_kv(pk, "hop", s->hop);
    s_pack_str_kv(pk, "publisher", s->publisher);
    s_pack_uint_kv(pk, "blocks", s->blocks);
    s_pack_uint_kv(pk, "gaps", s->gaps);
    s_pack_uint_kv(pk, "bad", s->bad);
    s_pack_uint_kv(pk, "bytes", s->bytes);
    s_pack_uint_kv(pk, "last_seq", s->last_seq);
    s_pack_uint_kv(pk, "filled", s->filled);
    s_pack_uint_kv(pk, "duplicates", s->duplicates);
    s_pack_uint_kv(pk, "replayed", s->replayed);
    s_pack_uint_kv(pk, "history_blocks", s->history ? ab_history_capacity(s->history) : 0);
}

/* The listing: {v, cmd: "listing", nodes: [...], streams: [...], broker: {...}} */
static void s_on_list(ab_broker_t *self, const uint8_t *id, size_t id_len)
{
    msgpack_packer pk;
    ab_mp_buffer_t out;
    ab_mp_packer_init(&pk, &out, self->listing, AB_LISTING_MAX);
    int64_t now = ab_clock_mono_ns();
    msgpack_pack_map(&pk, 5);
    s_pack_uint_kv(&pk, "v", AB_PROTOCOL_VERSION);
    s_pack_str_kv(&pk, "cmd", "listing");
    ab_mp_pack_key(&pk, "nodes");
    msgpack_pack_array(&pk, (uint32_t)zhashx_size(self->nodes));
    for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
        s_pack_node(self, &pk, node, now);
    ab_mp_pack_key(&pk, "streams");
    msgpack_pack_array(&pk, (uint32_t)zhashx_size(self->streams));
    for (s_stream_t *s = zhashx_first(self->streams); s; s = zhashx_next(self->streams))
        s_pack_stream(&pk, s);
    ab_mp_pack_key(&pk, "broker");
    msgpack_pack_map(&pk, 4);
    s_pack_uint_kv(&pk, "uptime_ms", (uint64_t)((now - self->started_ns) / 1000000));
    s_pack_uint_kv(&pk, "bad_data", self->bad_data);
    s_pack_uint_kv(&pk, "bad_control", self->bad_control);
    s_pack_uint_kv(&pk, "bad_subscriptions", self->bad_subscriptions);
    if (out.overflow) {
        s_send_reason(self, id, id_len, AB_CMD_ERROR, "listing larger than 1 MiB; too many nodes or streams");
        return;
    }
    s_send_to(self, id, id_len, out.buf, out.len);
}

/* Ask the stream's publisher to publish [from, to] again (it keeps its
 * last blocks for that). */
static void s_request_resend(ab_broker_t *self, s_stream_t *stream, uint64_t from, uint64_t to)
{
    s_node_t *publisher = stream->publisher[0] ? s_node_by_name(self, stream->publisher) : NULL;
    if (!publisher)
        return;
    ab_ctl_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.cmd = AB_CMD_RESEND;
    snprintf(msg.stream, sizeof msg.stream, "%s", stream->name);
    msg.from_seq = from;
    msg.to_seq = to;
    s_send_ctl(self, publisher->id, publisher->id_len, &msg);
}

/* The lowest seq of a stream that can still be had: from the history, or
 * from its publisher's own store (which it reports as "retained_from"). */
static uint64_t s_first_recoverable(ab_broker_t *self, s_stream_t *stream)
{
    uint64_t first = UINT64_MAX;
    if (stream->history && !ab_history_empty(stream->history))
        first = ab_history_oldest(stream->history);
    s_node_t *publisher = stream->publisher[0] ? s_node_by_name(self, stream->publisher) : NULL;
    /* A history younger than its window (the broker started recently) says
     * nothing of what the publisher still holds: until the publisher's
     * heartbeat tells, the answer is "not known". */
    bool history_full = stream->history && !ab_history_empty(stream->history) &&
                        ab_history_newest(stream->history) + 1 >= ab_history_capacity(stream->history) &&
                        ab_history_oldest(stream->history) ==
                            ab_history_newest(stream->history) + 1 - ab_history_capacity(stream->history);
    if (!history_full && (!publisher || !publisher->stats_ns))
        return 0;
    for (uint32_t i = 0; publisher && i < publisher->n_stats; i++) {
        if (strcmp(publisher->stats[i].name, "retained_from") != 0)
            continue;
        /* Its store has moved on since it said so, by the blocks published
         * since its heartbeat (plus a margin). */
        double seconds = (double)(ab_clock_mono_ns() - publisher->stats_ns) / 1e9 + 0.2;
        double blocks_per_second = stream->block_frames ? (double)stream->rate / stream->block_frames : 0;
        uint64_t now_from = publisher->stats[i].value + (uint64_t)(seconds * blocks_per_second);
        if (now_from < first)
            first = now_from;
    }
    return first == UINT64_MAX ? 0 : first; /* 0: not known (yet) */
}

/* A processor missed blocks (or wants the last seconds on joining): publish
 * what the history holds on its private topic "$replay/<session>\0", ask
 * the publisher for what it lacks, and say what will come. */
static void s_on_replay(ab_broker_t *self, const uint8_t *id, size_t id_len, const ab_ctl_msg_t *request)
{
    ab_ctl_msg_t reply;
    memset(&reply, 0, sizeof reply);
    reply.cmd = AB_CMD_REPLAYING;
    snprintf(reply.stream, sizeof reply.stream, "%s", request->stream);
    s_stream_t *stream = zhashx_lookup(self->streams, request->stream);
    if (!stream || !stream->seen_any) {
        /* Nothing yet: the blocks will come live. */
        reply.from_seq = reply.to_seq = reply.first_seq = 0;
        s_send_ctl(self, id, id_len, &reply);
        return;
    }
    uint64_t from = request->from_seq, to = request->to_seq;
    if (request->backlog_ms) {
        uint64_t span = (uint64_t)request->backlog_ms * stream->rate / 1000;
        uint64_t frame = stream->newest_frame_end > span ? stream->newest_frame_end - span : 0;
        from = stream->history && !ab_history_empty(stream->history)
                   ? ab_history_seq_after_frame(stream->history, frame)
                   : stream->last_seq + 1;
        to = stream->last_seq;
    }
    if (to > stream->last_seq)
        to = stream->last_seq; /* later blocks come live */
    uint64_t first = s_first_recoverable(self, stream);
    char topic[64];
    int topic_len = snprintf(topic, sizeof topic, "$replay/%" PRIu64, request->session) + 1;
    uint64_t missing_from = 0, missing_to = 0;
    bool missing = false;
    uint64_t start = from > first ? from : first;
    for (uint64_t seq = start; seq <= to && seq - start < 65536; seq++) {
        size_t held_len = 0;
        const void *held = stream->history ? ab_history_get(stream->history, seq, &held_len) : NULL;
        if (!held) {
            if (!missing)
                missing_from = seq;
            missing = true;
            missing_to = seq;
            continue;
        }
        zmq_msg_t copy;
        if (zmq_msg_init_size(&copy, held_len) != 0)
            break; /* out of memory: it asks again for what did not come */
        memcpy(zmq_msg_data(&copy), held, held_len);
        bool sent = zmq_send(self->xpub, topic, (size_t)topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
                    zmq_msg_send(&copy, self->xpub, ZMQ_DONTWAIT) >= 0;
        zmq_msg_close(&copy);
        if (!sent)
            break; /* its queue is full: it asks again for what did not come */
        stream->replayed++;
    }
    if (missing)
        s_request_resend(self, stream, missing_from, missing_to);
    reply.from_seq = from;
    reply.to_seq = to;
    reply.first_seq = first;
    reply.live_seq = stream->last_seq; /* relayed before the replay: the replay follows it */
    s_send_ctl(self, id, id_len, &reply);
}

static void s_bad_control(ab_broker_t *self, s_node_t *node, const uint8_t *id, size_t id_len, const char *what,
                          int rc)
{
    char reason[AB_CTL_STR_MAX + 1];
    self->bad_control++;
    if (node)
        node->bad++;
    snprintf(reason, sizeof reason, "%s%s%s", what, rc ? ": " : "", rc ? ab_strerror(rc) : "");
    ab_log_limited(&self->control_limiter, 1000, AB_LOG_WARN, "control: bad message from %s: %s (%" PRIu64 " so far)",
                   node ? node->hello.name : "an unregistered peer", reason, self->bad_control);
    if (id)
        s_send_reason(self, id, id_len, AB_CMD_ERROR, reason);
}

/* Handle the control messages waiting, a bounded batch. Returns whether
 * none is left waiting. */
static bool s_handle_control(ab_broker_t *self)
{
    for (int i = 0; i < 64; i++) {
        uint8_t id[AB_ROUTING_ID_MAX + 1];
        int id_len = zmq_recv(self->router, id, sizeof id, ZMQ_DONTWAIT);
        if (id_len < 0)
            return true;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(self->router, ZMQ_RCVMORE, &more, &more_len);
        if (!more || id_len > AB_ROUTING_ID_MAX) {
            if (more)
                ab_zutil_drain(self->router);
            s_bad_control(self, NULL, NULL, 0, "malformed envelope", 0);
            continue;
        }
        char key[2 * AB_ROUTING_ID_MAX + 1];
        s_id_key(id, (size_t)id_len, key);
        s_node_t *node = zhashx_lookup(self->nodes, key);

        zmq_msg_t payload;
        zmq_msg_init(&payload);
        zmq_msg_recv(&payload, self->router, ZMQ_DONTWAIT);
        if (zmq_msg_more(&payload)) {
            ab_zutil_drain(self->router);
            zmq_msg_close(&payload);
            s_bad_control(self, node, id, (size_t)id_len, "more than one frame", AB_EFRAMES);
            continue;
        }
        ab_ctl_msg_t msg;
        int rc = ab_ctl_decode(&msg, zmq_msg_data(&payload), zmq_msg_size(&payload));
        zmq_msg_close(&payload);
        if (rc) {
            s_bad_control(self, node, id, (size_t)id_len, "undecodable control message", rc);
            continue;
        }
        if (node)
            node->last_seen_ns = ab_clock_mono_ns();
        switch (msg.cmd) {
        case AB_CMD_HELLO:
            s_on_hello(self, id, (size_t)id_len, key, &msg);
            break;
        case AB_CMD_HEARTBEAT:
            if (!node) {
                s_send_reason(self, id, (size_t)id_len, AB_CMD_ERROR, "unknown node: send hello first");
                break;
            }
            node->n_stats = msg.n_stats;
            memcpy(node->stats, msg.stats, sizeof msg.stats[0] * msg.n_stats);
            node->n_input_seqs = msg.n_input_seqs;
            memcpy(node->input_seqs, msg.input_seqs, sizeof msg.input_seqs[0] * msg.n_input_seqs);
            node->stats_ns = node->last_seen_ns;
            s_send_cmd(self, id, (size_t)id_len, AB_CMD_HEARTBEAT);
            break;
        case AB_CMD_BYE:
            if (node)
                s_remove_node(self, node, "said goodbye");
            s_send_cmd(self, id, (size_t)id_len, AB_CMD_BYE);
            break;
        case AB_CMD_LIST:
            s_on_list(self, id, (size_t)id_len);
            break;
        case AB_CMD_REPLAY:
            s_on_replay(self, id, (size_t)id_len, &msg);
            break;
        default:
            s_bad_control(self, node, id, (size_t)id_len, "command a node may not send", AB_ECMD);
            break;
        }
    }
    return false;
}

/* XPUB hands up subscription messages: [1|0][topic]. A subscription to
 * "$link/<session>" proves all of that node's earlier subscriptions are in
 * force (they travel the same pipe, in order). */
static bool s_handle_subscriptions(ab_broker_t *self)
{
    for (int i = 0; i < 256; i++) {
        uint8_t buf[AB_TOPIC_MAX + 64];
        int len = zmq_recv(self->xpub, buf, sizeof buf - 1, ZMQ_DONTWAIT);
        if (len < 0)
            return true;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(self->xpub, ZMQ_RCVMORE, &more, &more_len);
        if (more)
            ab_zutil_drain(self->xpub);
        if (len < 1 || len >= (int)sizeof buf || more || (buf[0] != 0 && buf[0] != 1)) {
            self->bad_subscriptions++;
            ab_log_limited(&self->subscription_limiter, 1000, AB_LOG_WARN,
                           "data-out: ignored a message that is not a subscription (%" PRIu64 " so far)",
                           self->bad_subscriptions);
            continue;
        }
        buf[len] = '\0';
        const char *topic = (const char *)buf + 1;
        size_t prefix = strlen(AB_LINK_TOPIC_PREFIX);
        if ((size_t)len - 1 <= prefix || strncmp(topic, AB_LINK_TOPIC_PREFIX, prefix) != 0)
            continue;
        char *end;
        uint64_t session = strtoull(topic + prefix, &end, 10);
        s_node_t *node = *end == '\0' ? s_node_by_session(self, session) : NULL;
        if (!node)
            continue;
        node->linked = buf[0] == 1;
        if (node->linked) {
            ab_log_info("node %s linked: its subscriptions are in force", node->hello.name);
            s_send_cmd(self, node->id, node->id_len, AB_CMD_LINKED);
        } else {
            ab_log_info("node %s unlinked: its data connection closed", node->hello.name);
        }
    }
    return false;
}

/* The expiry tick came this much later than due: the broker itself was not
 * running (stopped, or not scheduled on a busy host). */
#define AB_BROKER_STALL_NS (1000 * 1000000LL)

/* Forget the nodes silent for heartbeat_misses intervals. After a stall of
 * the broker's own, the heartbeats sent meanwhile are still queued, unread:
 * the time it was not running does not count against the nodes (else all
 * would be forgotten for the broker's silence, and all register again at
 * once, each asking for what it may have missed). */
static void s_expire_nodes(ab_broker_t *self, int64_t late_ns)
{
    int64_t now = ab_clock_mono_ns();
    int64_t limit = (int64_t)self->heartbeat_ms * self->heartbeat_misses * 1000000;
    if (late_ns > AB_BROKER_STALL_NS) {
        ab_log_warn("the broker was not running for %" PRId64 " ms (stopped, or an overloaded host); that time "
                    "does not count against the nodes' heartbeats (if it recurs, lower the load on this host)",
                    late_ns / 1000000);
        for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
            node->last_seen_ns = node->last_seen_ns + late_ns < now ? node->last_seen_ns + late_ns : now;
    }
    bool removed = true;
    while (removed) { /* deleting invalidates the iteration: restart it */
        removed = false;
        for (s_node_t *node = zhashx_first(self->nodes); node; node = zhashx_next(self->nodes))
            if (now - node->last_seen_ns > limit) {
                s_remove_node(self, node, "missed its heartbeats; forgotten");
                removed = true;
                break;
            }
    }
}

int ab_broker_run(ab_broker_t *self)
{
    ab_log_info("broker: control %s, data in %s, data out %s", self->control_endpoint, self->data_in_endpoint,
                self->data_out_endpoint);
    zmq_pollitem_t items[] = {
        {self->xsub, 0, ZMQ_POLLIN, 0},
        {self->xpub, 0, ZMQ_POLLIN, 0},
        {self->router, 0, ZMQ_POLLIN, 0},
    };
    int64_t next_expiry = ab_clock_mono_ns(), next_control = 0;
    while (!atomic_load(&self->stop) && !ab_signal_stop_requested()) {
        int64_t now = ab_clock_mono_ns();
        if (now - self->last_data_ns < AB_BROKER_FLOWING_NS) {
            /* Blocks flow: a blocking receive on data-in alone sleeps on
             * its mailbox, two system calls a block; zmq_poll() over the
             * three sockets probed each of them on every pass, thirteen.
             * The other two are read every AB_BROKER_CONTROL_CHECK_MS, in
             * turn with the blocks; at once again while a batch left more
             * waiting. The receive waits no longer than until then. */
            if (now >= next_control) {
                bool drained = s_handle_subscriptions(self);
                drained = s_handle_control(self) && drained;
                next_control = drained ? now + AB_BROKER_CONTROL_CHECK_MS * 1000000LL : now;
            }
            int wait_ms = (int)((next_control - now + 999999) / 1000000);
            if (wait_ms != self->data_wait_ms &&
                zmq_setsockopt(self->xsub, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms) == 0)
                self->data_wait_ms = wait_ms;
            s_forward_one(self, 0);
            now = ab_clock_mono_ns();
        } else {
            int rc = zmq_poll(items, 3, 100);
            if (rc < 0 && zmq_errno() != EINTR) {
                ab_log_error("broker: zmq_poll failed: %s", zmq_strerror(zmq_errno()));
                return AB_EZMQ;
            }
            if (rc > 0) {
                if (items[0].revents & ZMQ_POLLIN)
                    s_forward_data(self);
                if (items[1].revents & ZMQ_POLLIN)
                    s_handle_subscriptions(self);
                if (items[2].revents & ZMQ_POLLIN)
                    s_handle_control(self);
            }
            now = ab_clock_mono_ns();
        }
        if (now >= next_expiry) {
            s_expire_nodes(self, now - next_expiry);
            next_expiry = now + 200 * 1000000LL;
        }
    }
    ab_log_info("broker: stopping");
    return 0;
}
