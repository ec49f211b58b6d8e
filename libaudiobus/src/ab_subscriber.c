/* ab_subscriber.c - streams from the broker, each in order, with repair (see ab_subscriber.h). */
#include "ab_subscriber.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ab_repair.h"
#include "ab_zutil.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_ctl.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"

#define AB_SUB_HWM 16384
/* Quiet this long after a block, the subscriber asks the broker once for
 * anything after it: the last blocks of a stream (its end marker too) can
 * be dropped on their way to a subscriber that fell behind, and no later
 * block would reveal them as missing. */
#define AB_SUB_TAIL_PROBE_NS (1000 * 1000000LL)
/* After a replay request, its answer is watched for this long. Outside
 * such a window only the SUB socket is waited on (see ab_subscriber_poll);
 * a later answer is read with the next request's (it can only raise what
 * the repair takes the broker to hold no longer). */
#define AB_SUB_ANSWER_WINDOW_NS (10 * 1000000000LL)
/* A SUB socket not found empty for this long: the subscriber is behind
 * (see ab_repair_set_receiver_behind()). One that keeps up finds it empty
 * at least every AB_SUB_EMPTY_PROBE_NS. */
#define AB_SUB_BEHIND_NS (200 * 1000000LL)
/* Draining a burst ends with a receive that finds the socket empty, which
 * costs a system call pair (getpid, poll): one more a block when blocks
 * come one by one, as at real time. So a burst is drained only when the
 * socket has not been found empty for this long (to judge "behind");
 * otherwise the next poll's blocking receive takes the next block, at no
 * cost when one is queued. */
#define AB_SUB_EMPTY_PROBE_NS (50 * 1000000LL)
/* The repairs' timers and counters are looked at no more often than this:
 * with a poll a block, doing it for every stream each time would cost more
 * than the blocks. */
#define AB_SUB_TICK_NS (1 * 1000000LL)

/* One stream of the subscription: its repair, and when it was last heard. */
typedef struct {
    ab_subscriber_t *owner;
    char name[AB_STREAM_NAME_MAX + 1];
    void *user;
    ab_repair_t *repair;
    /* data thread only */
    bool backlog_requested;
    int64_t last_block_ns; /* when the last block came; 0: none yet */
    bool tail_probed;      /* asked for what follows it since */
} s_stream_t;

struct ab_subscriber {
    void *ctx;
    ab_node_t *node;
    char broker[256];
    ab_subscriber_callbacks_t cb;
    uint32_t backlog_ms;
    s_stream_t *streams;
    size_t n_streams;

    /* data thread only */
    void *sub;
    void *replay_dealer;
    uint64_t session; /* the session whose link and replay topics are subscribed */
    uint64_t previous_session; /* whose replay topic is still subscribed too (see s_follow_session) */
    uint64_t links_seen; /* the node's link confirmations already acted on */
    int64_t answers_until_ns; /* replay answers are watched for until then */
    int rcvtimeo_ms;          /* the SUB socket's receive timeout as set */
    int64_t emptied_ns;       /* when the SUB socket was last found empty */
    int64_t ticked_ns;        /* when the repairs were last ticked */
    ab_log_limiter_t bad_limiter;

    atomic_bool linked;
    atomic_uint_fast64_t received, bad, repaired, duplicates, pending;
};

static void s_deliver(void *user, const ab_block_t *block)
{
    s_stream_t *stream = user;
    stream->owner->cb.deliver(stream->user, block);
}

static void s_lost(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames)
{
    s_stream_t *stream = user;
    stream->owner->cb.lost(stream->user, from_seq, to_seq, frame0, frames);
}

/* Ask the broker for blocks again (on the data thread's own DEALER). */
static void s_request(void *user, uint64_t from_seq, uint64_t to_seq, uint32_t backlog_ms)
{
    s_stream_t *stream = user;
    ab_subscriber_t *self = stream->owner;
    if (!self->replay_dealer)
        return;
    ab_ctl_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.cmd = AB_CMD_REPLAY;
    snprintf(msg.stream, sizeof msg.stream, "%s", stream->name);
    msg.session = self->session;
    msg.from_seq = from_seq;
    msg.to_seq = to_seq;
    msg.backlog_ms = backlog_ms;
    uint8_t buf[1024];
    size_t len;
    if (ab_ctl_encode(&msg, buf, sizeof buf, &len) == 0)
        zmq_send(self->replay_dealer, buf, len, ZMQ_DONTWAIT);
    self->answers_until_ns = ab_clock_mono_ns() + AB_SUB_ANSWER_WINDOW_NS;
    if (backlog_ms)
        ab_log_debug("asking the broker for the last %u ms of %s", backlog_ms, stream->name);
    else
        ab_log_debug("asking the broker for blocks %" PRIu64 "..%" PRIu64 " of %s again", from_seq, to_seq,
                     stream->name);
}

/* The subscription's stream of that name, or NULL. A linear search: a node
 * takes a few dozen streams at most, and the names differ early. */
static s_stream_t *s_find_stream(ab_subscriber_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_streams; i++)
        if (strcmp(self->streams[i].name, name) == 0)
            return &self->streams[i];
    return NULL;
}

ab_subscriber_t *ab_subscriber_new(void *zmq_ctx, ab_node_t *node, const ab_subscriber_config_t *config,
                                   const ab_subscriber_callbacks_t *callbacks)
{
    if (config->n_streams == 0)
        return NULL;
    ab_subscriber_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = zmq_ctx;
    self->node = node;
    snprintf(self->broker, sizeof self->broker, "%s", config->broker);
    self->cb = *callbacks;
    self->backlog_ms = config->backlog_ms;
    self->streams = calloc(config->n_streams, sizeof *self->streams);
    if (!self->streams) {
        free(self);
        return NULL;
    }
    self->n_streams = config->n_streams;
    for (size_t i = 0; i < config->n_streams; i++) {
        s_stream_t *stream = &self->streams[i];
        stream->owner = self;
        snprintf(stream->name, sizeof stream->name, "%s", config->streams[i].name);
        stream->user = config->streams[i].user;
        ab_repair_callbacks_t repair_callbacks = {s_deliver, s_lost, s_request, stream};
        stream->repair =
            ab_repair_new(&repair_callbacks, config->repair_window, config->give_up_ms, config->retry_ms);
        if (!stream->repair) {
            ab_subscriber_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void ab_subscriber_destroy(ab_subscriber_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_subscriber_t *self = *self_p;
    for (size_t i = 0; i < self->n_streams; i++)
        ab_repair_destroy(&self->streams[i].repair);
    free(self->streams);
    free(self);
    *self_p = NULL;
}

/* Subscribe to "$link/<session>" for the node's current session: after the
 * node registers again (a restarted broker), the new broker learns from it
 * that this node's subscriptions are in force.
 *
 * The old session's replay topic stays subscribed until the next change: a
 * replay asked for under it just before the node registered again may still
 * be queued on the SUB socket, and a SUB socket drops queued messages whose
 * topic it no longer subscribes to (such a drop split a network cut's hole
 * in two: blocks the broker had replayed were given up). */
static void s_follow_session(ab_subscriber_t *self)
{
    uint64_t session = ab_node_session(self->node);
    if (session == self->session)
        return;
    char topic[64];
    if (self->session) {
        snprintf(topic, sizeof topic, "$link/%" PRIu64, self->session);
        zmq_setsockopt(self->sub, ZMQ_UNSUBSCRIBE, topic, strlen(topic));
    }
    if (self->previous_session) {
        snprintf(topic, sizeof topic, "$replay/%" PRIu64, self->previous_session);
        zmq_setsockopt(self->sub, ZMQ_UNSUBSCRIBE, topic, strlen(topic) + 1);
    }
    self->previous_session = self->session;
    /* The replay topic first: in force once the link is confirmed. */
    snprintf(topic, sizeof topic, "$replay/%" PRIu64, session);
    zmq_setsockopt(self->sub, ZMQ_SUBSCRIBE, topic, strlen(topic) + 1);
    snprintf(topic, sizeof topic, "$link/%" PRIu64, session);
    zmq_setsockopt(self->sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    self->session = session;
}

int ab_subscriber_open(ab_subscriber_t *self, char *error, size_t error_len)
{
    self->sub = zmq_socket(self->ctx, ZMQ_SUB);
    if (!self->sub) {
        snprintf(error, error_len, "cannot create the data socket: %s", zmq_strerror(zmq_errno()));
        return AB_EZMQ;
    }
    int hwm = AB_SUB_HWM, linger = 0;
    int64_t max_size = AB_BLOCK_MAX_BYTES + 1024;
    zmq_setsockopt(self->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->sub, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
    ab_zutil_set_liveness(self->sub);
    /* The streams first, the link topic last: when the broker sees the
     * link subscription, the streams' are already in force. */
    for (size_t i = 0; i < self->n_streams; i++) {
        uint8_t topic[AB_TOPIC_MAX];
        size_t topic_len = ab_topic_for_stream(self->streams[i].name, topic);
        zmq_setsockopt(self->sub, ZMQ_SUBSCRIBE, topic, topic_len);
    }
    self->session = self->previous_session = 0;
    self->emptied_ns = ab_clock_mono_ns();
    self->rcvtimeo_ms = -1; /* ZeroMQ's default: wait for ever */
    s_follow_session(self);
    if (zmq_connect(self->sub, ab_node_data_out(self->node)) != 0) {
        snprintf(error, error_len, "cannot connect to the broker's data-out endpoint %s: %s",
                 ab_node_data_out(self->node), zmq_strerror(zmq_errno()));
        return AB_EZMQ;
    }
    self->replay_dealer = zmq_socket(self->ctx, ZMQ_DEALER);
    if (self->replay_dealer)
        ab_zutil_set_liveness(self->replay_dealer);
    if (!self->replay_dealer || zmq_setsockopt(self->replay_dealer, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_connect(self->replay_dealer, self->broker) != 0) {
        snprintf(error, error_len, "cannot connect to the broker at %s for replays: %s", self->broker,
                 zmq_strerror(zmq_errno()));
        return AB_EZMQ;
    }
    if (self->backlog_ms)
        for (size_t i = 0; i < self->n_streams; i++)
            ab_repair_hold_for_backlog(self->streams[i].repair, ab_clock_mono_ns());
    return 0;
}

/* Publish the repairs' counters for other threads (heartbeats, the exit
 * report). Data thread. */
static void s_store_counters(ab_subscriber_t *self)
{
    uint64_t pending = 0, repaired = 0, duplicates = 0;
    for (size_t i = 0; i < self->n_streams; i++) {
        pending += ab_repair_pending(self->streams[i].repair);
        repaired += ab_repair_repaired(self->streams[i].repair);
        duplicates += ab_repair_duplicates(self->streams[i].repair);
    }
    atomic_store(&self->pending, pending);
    atomic_store(&self->repaired, repaired);
    atomic_store(&self->duplicates, duplicates);
}

void ab_subscriber_close(ab_subscriber_t *self)
{
    if (!self)
        return;
    s_store_counters(self); /* the last polls may not have ticked */
    if (self->sub)
        zmq_close(self->sub);
    if (self->replay_dealer)
        zmq_close(self->replay_dealer);
    self->sub = NULL;
    self->replay_dealer = NULL;
}

/* Answers to replay requests. */
static void s_receive_replies(ab_subscriber_t *self)
{
    uint8_t buf[2048];
    int len;
    while ((len = zmq_recv(self->replay_dealer, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
        ab_ctl_msg_t msg;
        if (len > (int)sizeof buf || ab_ctl_decode(&msg, buf, (size_t)len) != 0 || msg.cmd != AB_CMD_REPLAYING)
            continue;
        s_stream_t *stream = s_find_stream(self, msg.stream);
        if (stream)
            ab_repair_replaying(stream->repair, msg.from_seq, msg.to_seq, msg.first_seq, msg.live_seq,
                                ab_clock_mono_ns());
    }
}

/* Take one data message whose first frame (topic) has been received:
 * receive its payload, check it and hand the block to its stream's
 * repair. Closes topic. */
static void s_take_block(ab_subscriber_t *self, zmq_msg_t *topic)
{
    zmq_msg_t payload;
    zmq_msg_init(&payload);
    bool two_frames = zmq_msg_more(topic) && zmq_msg_recv(&payload, self->sub, ZMQ_DONTWAIT) >= 0;
    if (two_frames && zmq_msg_more(&payload)) {
        ab_zutil_drain(self->sub);
        two_frames = false;
    }
    if (!two_frames) {
        atomic_fetch_add(&self->bad, 1);
        ab_log_limited(&self->bad_limiter, 1000, AB_LOG_WARN, "ignored a data message with the wrong frames");
    } else {
        ab_block_t block;
        int rc = ab_block_decode(&block, zmq_msg_data(&payload), zmq_msg_size(&payload));
        bool replayed = zmq_msg_size(topic) > 8 && memcmp(zmq_msg_data(topic), "$replay/", 8) == 0;
        s_stream_t *stream = rc ? NULL : s_find_stream(self, block.stream);
        if (!stream || (!replayed && !ab_topic_matches(zmq_msg_data(topic), zmq_msg_size(topic), stream->name))) {
            atomic_fetch_add(&self->bad, 1);
            ab_log_limited(&self->bad_limiter, 1000, AB_LOG_WARN, "ignored a bad block: %s",
                           rc ? ab_strerror(rc) : "not a stream subscribed to, or not its topic");
        } else {
            atomic_fetch_add(&self->received, 1);
            stream->last_block_ns = ab_clock_mono_ns();
            stream->tail_probed = false;
            ab_repair_push(stream->repair, &block, stream->last_block_ns);
        }
    }
    zmq_msg_close(topic);
    zmq_msg_close(&payload);
}

/* Take the data messages waiting on the SUB socket, a bounded burst. */
static void s_receive_blocks(ab_subscriber_t *self)
{
    for (int i = 0; i < 256; i++) {
        zmq_msg_t topic;
        zmq_msg_init(&topic);
        if (zmq_msg_recv(&topic, self->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&topic);
            self->emptied_ns = ab_clock_mono_ns();
            return;
        }
        s_take_block(self, &topic);
    }
}

/* Wait up to timeout_ms on the SUB socket alone for a block, then take the
 * rest of the burst when it is time to find the socket empty (see
 * AB_SUB_EMPTY_PROBE_NS). A blocking receive sleeps on the socket's mailbox
 * the way a bare subscriber does: two poll() calls a block, where
 * zmq_poll() over the two sockets made seven or eight (it probes each
 * socket's mailbox on every pass). */
static void s_wait_blocks(ab_subscriber_t *self, int timeout_ms)
{
    if (timeout_ms != self->rcvtimeo_ms &&
        zmq_setsockopt(self->sub, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms) == 0)
        self->rcvtimeo_ms = timeout_ms;
    zmq_msg_t topic;
    zmq_msg_init(&topic);
    if (zmq_msg_recv(&topic, self->sub, 0) < 0) { /* the timeout */
        zmq_msg_close(&topic);
        self->emptied_ns = ab_clock_mono_ns();
        return;
    }
    s_take_block(self, &topic);
    if (ab_clock_mono_ns() - self->emptied_ns > AB_SUB_EMPTY_PROBE_NS)
        s_receive_blocks(self);
}

void ab_subscriber_poll(ab_subscriber_t *self, int timeout_ms)
{
    s_follow_session(self);
    uint64_t links = ab_node_links(self->node);
    int64_t now = ab_clock_mono_ns();
    if (links != self->links_seen) {
        /* A link confirmed again: the data connection was remade (or the
         * node registered anew), and blocks published meanwhile - the
         * streams' last ones perhaps, which no later block would reveal
         * as missing - are asked for. */
        for (size_t i = 0; self->links_seen && i < self->n_streams; i++) {
            s_stream_t *stream = &self->streams[i];
            ab_log_info("data link to the broker made again: asking for %s from seq %" PRIu64 " on", stream->name,
                        ab_repair_expected(stream->repair));
            ab_repair_catch_up(stream->repair, now);
        }
        self->links_seen = links;
    }
    for (size_t i = 0; self->backlog_ms && i < self->n_streams && atomic_load(&self->linked); i++) {
        s_stream_t *stream = &self->streams[i];
        if (!stream->backlog_requested) {
            ab_repair_request_backlog(stream->repair, self->backlog_ms, now);
            stream->backlog_requested = true;
        }
    }
    if (now < self->answers_until_ns) {
        zmq_pollitem_t items[] = {{self->sub, 0, ZMQ_POLLIN, 0}, {self->replay_dealer, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, timeout_ms) > 0) {
            if (items[1].revents & ZMQ_POLLIN)
                s_receive_replies(self);
            if (items[0].revents & ZMQ_POLLIN)
                s_receive_blocks(self);
            else
                self->emptied_ns = ab_clock_mono_ns();
        } else {
            self->emptied_ns = ab_clock_mono_ns();
        }
    } else {
        s_wait_blocks(self, timeout_ms);
    }
    now = ab_clock_mono_ns();
    if (now - self->ticked_ns < AB_SUB_TICK_NS)
        return;
    self->ticked_ns = now;
    /* Behind: its socket not found empty for a while, or a replay answer
     * showed much still queued to it (all its streams share that queue). */
    bool behind = now - self->emptied_ns > AB_SUB_BEHIND_NS;
    for (size_t i = 0; i < self->n_streams && !behind; i++)
        behind = ab_repair_queued_ahead_ns(self->streams[i].repair, now) > AB_SUB_BEHIND_NS;
    for (size_t i = 0; i < self->n_streams; i++) {
        s_stream_t *stream = &self->streams[i];
        ab_repair_set_receiver_behind(stream->repair, behind);
        if (stream->last_block_ns && !stream->tail_probed && now - stream->last_block_ns > AB_SUB_TAIL_PROBE_NS) {
            ab_repair_probe_tail(stream->repair, now);
            stream->tail_probed = true;
        }
        ab_repair_tick(stream->repair, now);
    }
    s_store_counters(self);
}

void ab_subscriber_set_linked(ab_subscriber_t *self)
{
    atomic_store(&self->linked, true);
}

uint64_t ab_subscriber_received(const ab_subscriber_t *self)
{
    return atomic_load(&self->received);
}

uint64_t ab_subscriber_bad(const ab_subscriber_t *self)
{
    return atomic_load(&self->bad);
}

uint64_t ab_subscriber_repaired(const ab_subscriber_t *self)
{
    return atomic_load(&self->repaired);
}

uint64_t ab_subscriber_duplicates(const ab_subscriber_t *self)
{
    return atomic_load(&self->duplicates);
}

uint64_t ab_subscriber_pending(const ab_subscriber_t *self)
{
    return atomic_load(&self->pending);
}
