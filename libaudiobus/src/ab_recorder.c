/* ab_recorder.c - recorder node: source -> ring -> sender thread -> broker. */
#include "audiobus/ab_recorder.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ab_delivery.h"
#include "ab_retain.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_ctl.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_node.h"
#include "audiobus/ab_pub.h"
#include "audiobus/ab_ring.h"
#include "audiobus/ab_signal.h"

#define AB_PUBLISHER_HWM 16384
struct ab_recorder {
    void *ctx;
    char broker[256];
    char stream[AB_STREAM_NAME_MAX + 1];
    char name[AB_STREAM_NAME_MAX + 1];
    int register_timeout_ms;
    ab_source_t *source;
    ab_node_t *node;
    uint32_t block_frames;
    pthread_t sender;
    bool sender_started;
    atomic_bool sender_done;
    atomic_bool abort_sender;
    atomic_uint_fast64_t blocks_sent;
    atomic_uint_fast64_t frames_sent;
    atomic_uint_fast64_t capture_gaps; /* frame jumps the sender saw */
    ab_log_limiter_t broker_silent_limiter;
    uint64_t epoch;                    /* this run of the recorder, on every block */
    double history_seconds;            /* how much it keeps to publish again */
    ab_retain_t *retained;             /* sender thread */
    ab_ring_t *resend_requests;        /* control -> sender: s_range_t */
    atomic_uint_fast64_t retained_from; /* lowest seq it can publish again */
    atomic_uint_fast64_t resent;
};

typedef struct {
    uint64_t from, to;
} s_range_t;

ab_recorder_t *ab_recorder_new(void *zmq_ctx, const ab_recorder_config_t *config, char *error, size_t error_len)
{
    if (!config->stream || !ab_stream_name_valid(config->stream)) {
        snprintf(error, error_len,
                 "bad stream name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /, e.g. --stream mic1)",
                 config->stream ? config->stream : "", AB_STREAM_NAME_MAX);
        return NULL;
    }
    ab_recorder_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->ctx = zmq_ctx;
    snprintf(self->broker, sizeof self->broker, "%s", config->broker);
    snprintf(self->stream, sizeof self->stream, "%s", config->stream);
    if (config->name)
        snprintf(self->name, sizeof self->name, "%s", config->name);
    else
        snprintf(self->name, sizeof self->name, "rec-%.40s-%d", config->stream, (int)getpid());
    for (char *p = self->name; *p; p++)
        if (*p == '/')
            *p = '.';
    if (!ab_stream_name_valid(self->name)) {
        snprintf(error, error_len, "bad node name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /)", self->name,
                 AB_STREAM_NAME_MAX);
        free(self);
        return NULL;
    }
    self->register_timeout_ms = config->register_timeout_ms > 0 ? config->register_timeout_ms : 5000;
    self->epoch = (uint64_t)ab_clock_wall_ns();
    self->history_seconds = config->history_seconds > 0 ? config->history_seconds : 10.0;
    self->resend_requests = ab_ring_new(256 * sizeof(s_range_t));
    self->source = ab_source_new(&config->source, error, error_len);
    if (!self->source) {
        ab_recorder_destroy(&self);
        return NULL;
    }
    self->block_frames = config->source.block_frames ? config->source.block_frames : 256;

    ab_ctl_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.role = AB_ROLE_RECORDER;
    snprintf(hello.name, sizeof hello.name, "%s", self->name);
    hello.n_outputs = 1;
    ab_ctl_output_t *out = &hello.outputs[0];
    snprintf(out->stream, sizeof out->stream, "%s", self->stream);
    out->type = AB_BLOCK_AUDIO;
    out->rate = ab_source_rate(self->source);
    out->channels = ab_source_channels(self->source);
    out->format = ab_source_format(self->source);
    self->node = ab_node_new(zmq_ctx, config->broker, &hello, error, error_len);
    if (!self->node) {
        ab_recorder_destroy(&self);
        return NULL;
    }
    return self;
}

void ab_recorder_destroy(ab_recorder_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_recorder_t *self = *self_p;
    if (self->sender_started) {
        atomic_store(&self->abort_sender, true);
        pthread_join(self->sender, NULL);
    }
    ab_source_destroy(&self->source);
    ab_node_destroy(&self->node);
    ab_retain_destroy(&self->retained);
    ab_ring_destroy(&self->resend_requests);
    free(self);
    *self_p = NULL;
}

uint64_t ab_recorder_blocks_sent(const ab_recorder_t *self)
{
    return atomic_load(&self->blocks_sent);
}

void ab_recorder_stats(const ab_recorder_t *self, ab_recorder_stats_t *out)
{
    ab_recorder_t *me = (ab_recorder_t *)self; /* atomics are read, not changed */
    memset(out, 0, sizeof *out);
    out->frames_captured = ab_source_frames(self->source);
    out->blocks_sent = atomic_load(&me->blocks_sent);
    out->frames_sent = atomic_load(&me->frames_sent);
    out->overrun_frames = ab_source_overrun_frames(self->source);
    out->overrun_events = ab_source_overrun_events(self->source);
    out->device_overflows = ab_source_device_overflows(self->source);
    out->callbacks = ab_source_callback_count(self->source);
    out->callback_p99_ns = ab_source_callback_percentile_ns(self->source, 0.99);
    out->callback_p999_ns = ab_source_callback_percentile_ns(self->source, 0.999);
    out->callback_max_ns = ab_source_callback_max_ns(self->source);
    out->block_period_ns = 1e9 * self->block_frames / ab_source_rate(self->source);
}

/* Send encoded bytes, retrying while the link pushes back. */
static int s_send_encoded(ab_recorder_t *self, ab_pub_t *pub, const uint8_t *msg, size_t len, uint64_t seq)
{
    for (;;) {
        int rc = ab_pub_send_encoded(pub, self->stream, msg, len, 200);
        if (rc == 0)
            return 0;
        if (rc != AB_ETIMEOUT) {
            ab_log_error("cannot publish block %" PRIu64 " of %s: %s", seq, self->stream, ab_strerror(rc));
            return rc;
        }
        if (atomic_load(&self->abort_sender))
            return AB_EINTR;
    }
}

/* Publish blocks the broker asked for again, and everything kept after
 * registering with a new broker (a new session). */
static int s_serve_resends(ab_recorder_t *self, ab_pub_t *pub, uint64_t *session_seen)
{
    uint64_t session = ab_node_session(self->node);
    s_range_t range;
    bool have = false;
    if (session != *session_seen) {
        if (*session_seen && !ab_retain_empty(self->retained)) {
            range.from = ab_retain_oldest(self->retained);
            range.to = ab_retain_newest(self->retained);
            have = true;
            ab_log_info("publishing the last %" PRIu64 " blocks of %s again for the new broker session",
                        range.to - range.from + 1, self->stream);
        }
        *session_seen = session;
    }
    if (!have)
        have = ab_ring_read(self->resend_requests, &range, sizeof range) == 0;
    while (have) {
        for (uint64_t seq = range.from; seq <= range.to && seq >= range.from; seq++) {
            const uint8_t *msg;
            size_t len;
            if (!ab_retain_get(self->retained, seq, &msg, &len))
                continue;
            int rc = s_send_encoded(self, pub, msg, len, seq);
            if (rc)
                return rc;
            atomic_fetch_add(&self->resent, 1);
        }
        have = ab_ring_read(self->resend_requests, &range, sizeof range) == 0;
    }
    return 0;
}

/* Publish one block (keeping it for resends), retrying while the link
 * pushes back. */
static int s_publish(ab_recorder_t *self, ab_pub_t *pub, ab_block_t *block)
{
    const uint8_t *msg;
    size_t len;
    block->epoch = self->epoch;
    int rc = ab_retain_encode(self->retained, block, &msg, &len);
    if (rc) {
        ab_log_error("cannot encode block %" PRIu64 " of %s: %s", block->seq, self->stream, ab_strerror(rc));
        return rc;
    }
    atomic_store(&self->retained_from, ab_retain_oldest(self->retained));
    if ((rc = s_send_encoded(self, pub, msg, len, block->seq)) != 0)
        return rc;
    atomic_fetch_add(&self->blocks_sent, 1);
    atomic_fetch_add(&self->frames_sent, block->frames);
    block->seq++;
    return 0;
}

/* Publish the filled frames of the block being assembled and start anew. */
static int s_publish_filled(ab_recorder_t *self, ab_pub_t *pub, ab_block_t *block, uint32_t *filled,
                            uint64_t frame0, int64_t time_ns, size_t frame_bytes)
{
    block->frames = *filled;
    block->samples_len = (size_t)*filled * frame_bytes;
    block->frame0 = frame0;
    block->time_ns = time_ns;
    *filled = 0;
    return s_publish(self, pub, block);
}

/* While the recorder waits for the broker to hold its end: serve resends,
 * and stop when the recorder is aborted. */
typedef struct {
    ab_recorder_t *self;
    ab_pub_t *pub;
    uint64_t *session_seen;
} s_delivery_turn_t;

static bool s_delivery_turn(void *user)
{
    s_delivery_turn_t *turn = user;
    return atomic_load(&turn->self->abort_sender) || s_serve_resends(turn->self, turn->pub, turn->session_seen);
}

/* The sender thread: cut chunks from the ring into blocks and publish. */
static void *s_sender(void *arg)
{
    ab_recorder_t *self = arg;
    ab_source_t *source = self->source;
    ab_pub_t *pub = ab_pub_new(self->ctx, ab_node_data_in(self->node), AB_PUBLISHER_HWM);
    uint32_t channels = ab_source_channels(source);
    size_t frame_bytes = channels * ab_format_size(ab_source_format(source));
    uint8_t *chunk_samples = malloc((size_t)self->block_frames * frame_bytes);
    uint8_t *block_samples = malloc((size_t)self->block_frames * frame_bytes);
    size_t capacity = (size_t)(self->history_seconds * ab_source_rate(source) / self->block_frames) + 16;
    self->retained = ab_retain_new(capacity, (size_t)self->block_frames * frame_bytes + AB_BLOCK_HEADER_MAX);
    uint64_t session_seen = ab_node_session(self->node);
    if (!pub || !chunk_samples || !block_samples || !self->retained || !self->resend_requests) {
        ab_log_error("cannot set up the sender for %s (data endpoint %s)", self->stream, ab_node_data_in(self->node));
        goto done;
    }
    while (!ab_pub_wait_ready(pub, 200))
        if (atomic_load(&self->abort_sender))
            goto done;
    ab_log_debug("data link to %s is live", ab_node_data_in(self->node));

    ab_block_t block;
    memset(&block, 0, sizeof block);
    block.version = AB_PROTOCOL_VERSION;
    block.type = AB_BLOCK_AUDIO;
    snprintf(block.stream, sizeof block.stream, "%s", self->stream);
    block.rate = ab_source_rate(source);
    block.channels = channels;
    block.format = ab_source_format(source);
    block.samples = block_samples;

    uint32_t filled = 0;      /* frames in block_samples */
    uint64_t next_frame = 0;  /* frame index expected next */
    int64_t block_time = 0;
    uint64_t block_frame0 = 0;
    for (;;) {
        ab_source_chunk_t chunk;
        if (s_serve_resends(self, pub, &session_seen))
            goto done;
        int rc = ab_source_read(source, &chunk, chunk_samples, (size_t)self->block_frames * frame_bytes);
        if (rc == AB_EEMPTY) {
            if (ab_source_finished(source) && ab_source_read(source, &chunk, chunk_samples, 0) == AB_EEMPTY)
                break;
            if (atomic_load(&self->abort_sender))
                goto done;
            ab_source_wait(source, 50);
            continue;
        }
        if (rc) { /* cannot happen: the buffer holds a whole block */
            ab_log_error("cannot read from the source of %s: %s (an audiobus bug: please report it with the "
                         "recorder's command line)",
                         self->stream, ab_strerror(rc));
            goto done;
        }
        if (chunk.frame0 != next_frame) {
            /* Frames lost at capture: close the block before the jump. */
            atomic_fetch_add(&self->capture_gaps, 1);
            if (filled && s_publish_filled(self, pub, &block, &filled, block_frame0, block_time, frame_bytes))
                goto done;
        }
        next_frame = chunk.frame0 + chunk.frames;
        uint32_t used = 0;
        while (used < chunk.frames) {
            if (filled == 0) {
                block_frame0 = chunk.frame0 + used;
                block_time = chunk.time_ns + (int64_t)((double)used * 1e9 / block.rate);
            }
            uint32_t n = chunk.frames - used;
            if (n > self->block_frames - filled)
                n = self->block_frames - filled;
            memcpy(block_samples + (size_t)filled * frame_bytes, chunk_samples + (size_t)used * frame_bytes,
                   (size_t)n * frame_bytes);
            filled += n;
            used += n;
            if (filled == self->block_frames &&
                s_publish_filled(self, pub, &block, &filled, block_frame0, block_time, frame_bytes))
                goto done;
        }
    }
    if (filled && s_publish_filled(self, pub, &block, &filled, block_frame0, block_time, frame_bytes))
        goto done;
    /* Tell every subscriber the stream is complete. */
    block.type = AB_BLOCK_END;
    block.frames = 0;
    block.samples_len = 0;
    block.samples = NULL;
    block.frame0 = next_frame;
    block.time_ns = ab_clock_wall_ns();
    if (s_publish(self, pub, &block) == 0) {
        atomic_fetch_sub(&self->blocks_sent, 1); /* the end marker is not audio */
        /* Before leaving: the broker must hold the end marker, or the
         * tail still queued in ZeroMQ would be dropped at exit. */
        s_delivery_turn_t turn = {self, pub, &session_seen};
        ab_delivery_wait_t wait = {self->ctx, self->broker, self->stream, block.seq - 1, s_delivery_turn, &turn};
        ab_delivery_wait(&wait);
    }
done:
    ab_pub_destroy(&pub); /* lingers until queued blocks are delivered */
    free(chunk_samples);
    free(block_samples);
    atomic_store(&self->sender_done, true);
    ab_node_wake(self->node);
    return NULL;
}

static void s_stats(void *user, ab_ctl_msg_t *msg)
{
    ab_recorder_t *self = user;
    ab_ctl_stat_set(msg, "blocks", atomic_load(&self->blocks_sent));
    ab_ctl_stat_set(msg, "frames", atomic_load(&self->frames_sent));
    ab_ctl_stat_set(msg, "overruns", ab_source_overrun_frames(self->source));
    ab_ctl_stat_set(msg, "device_overflows", ab_source_device_overflows(self->source));
    ab_ctl_stat_set(msg, "retained_from", atomic_load(&self->retained_from));
    ab_ctl_stat_set(msg, "resent", atomic_load(&self->resent));
}

static void s_report(ab_recorder_t *self)
{
    ab_recorder_stats_t st;
    ab_recorder_stats(self, &st);
    ab_log_info("recorded %" PRIu64 " frames, published %" PRIu64 " blocks (%" PRIu64 " frames) of %s",
                st.frames_captured, st.blocks_sent, st.frames_sent, self->stream);
    if (st.overrun_frames)
        ab_log_warn("capture overruns: %" PRIu64 " frames lost in %" PRIu64 " events (the sender fell behind; "
                    "raise --ring or lower the load)",
                    st.overrun_frames, st.overrun_events);
    if (st.device_overflows)
        ab_log_warn("the device reported %" PRIu64 " input overflow(s)", st.device_overflows);
    if (st.callbacks) {
        double period_us = st.block_period_ns / 1000.0, p999_us = st.callback_p999_ns / 1000.0;
        ab_log_info("audio callback: %" PRIu64 " calls, p99.9 <= %.1f us, max %.1f us (%.2f%% of the %.0f us "
                    "block period)",
                    st.callbacks, p999_us, st.callback_max_ns / 1000.0, 100.0 * p999_us / period_us, period_us);
    }
}

/* The broker asks for blocks again: hand the range to the sender. */
static void s_on_message(void *user, const ab_ctl_msg_t *msg)
{
    ab_recorder_t *self = user;
    if (msg->cmd != AB_CMD_RESEND || strcmp(msg->stream, self->stream) != 0)
        return;
    s_range_t range = {msg->from_seq, msg->to_seq};
    if (ab_ring_write(self->resend_requests, &range, sizeof range) != 0)
        ab_log_warn("too many resend requests for %s waiting; dropped one", self->stream);
}

int ab_recorder_run(ab_recorder_t *self)
{
    ab_node_set_message_fn(self->node, s_on_message, self);
    ab_node_set_stats_fn(self->node, s_stats, self);
    ab_log_set_name(self->name); /* log lines say which node wrote them */
    int rc = ab_node_register_or_explain(self->node, "recorder", self->register_timeout_ms);
    if (rc)
        return rc;
    char error[512];
    if ((rc = ab_source_start(self->source, error, sizeof error)) != 0) {
        ab_log_error("%s", error);
        ab_node_bye(self->node, 1000);
        return rc;
    }
    ab_log_info("recording %s as stream %s (node %s)", ab_source_description(self->source), self->stream,
                self->name);
    if (ab_signal_thread_create(&self->sender, s_sender, self) != 0) {
        ab_source_stop(self->source);
        ab_node_bye(self->node, 1000);
        return AB_ENOMEM;
    }
    self->sender_started = true;

    bool stopping = false;
    while (!atomic_load(&self->sender_done)) {
        if (!stopping && ab_signal_stop_requested()) {
            ab_log_info("stopping: draining what was captured");
            ab_source_stop(self->source);
            stopping = true;
        }
        if (ab_node_poll(self->node, 100) == AB_ETIMEOUT)
            ab_log_limited(&self->broker_silent_limiter, 5000, AB_LOG_WARN, "the broker has not answered for 3 heartbeats");
    }
    pthread_join(self->sender, NULL);
    self->sender_started = false;
    ab_source_stop(self->source);
    s_report(self);
    if (ab_node_bye(self->node, 2000) != 0)
        ab_log_warn("the broker did not acknowledge goodbye");
    return 0;
}
