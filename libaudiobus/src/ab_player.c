/* ab_player.c - player node: network thread -> jitter buffer -> PortAudio
 * callback (see ab_player.h). */
#include "audiobus/ab_player.h"

#include <inttypes.h>
#include <math.h>
#include <portaudio.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ab_pa.h"
#include "ab_subscriber.h"
#include "audiobus/ab_block.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_ctl.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_node.h"
#include "audiobus/ab_signal.h"

#define AB_PLAYER_REPAIR_WINDOW 8192 /* blocks held while a missing one is repaired */
#define AB_PLAYER_REPORT_NS (10 * 1000000000LL)
#define AB_PLAYER_WARN_MS 2000       /* at most one warning of a kind per interval */

/* The network thread's question to the control thread: open the device
 * for this shape. */
typedef enum { REQUEST_NONE, REQUEST_PENDING, REQUEST_OK, REQUEST_FAILED } s_request_t;

struct ab_player {
    void *ctx;
    char broker[256];
    char stream[AB_STREAM_NAME_MAX + 1];
    char name[AB_STREAM_NAME_MAX + 1];
    double latency_ms, repair_seconds, duration_seconds;
    bool exit_at_end;
    int register_timeout_ms;
    ab_node_t *node;
    ab_subscriber_t *subscriber;

    /* the device (control thread; the callback reads jitter) */
    bool pa_initialized;
    bool stalled;                 /* its callbacks stopped: the device is left to the process's exit */
    PaDeviceIndex device;
    char device_name[300];
    PaStream *pa_stream;
    ab_jitter_t *jitter;          /* of the open device; replaced only while it is closed */
    ab_jitter_stats_t closed;     /* counters of the jitter buffers of earlier openings */
    double device_latency_s;
    bool played_out;              /* the device was stopped after the end was played */

    /* shape requests (network -> control) */
    _Atomic int request;
    uint32_t want_rate, want_channels, want_block;
    ab_format_t want_format;
    sem_t answered;
    _Atomic uint32_t rate, channels;
    _Atomic int format;

    /* network thread */
    pthread_t net;
    bool net_started;
    atomic_bool stop_net;
    ab_jitter_t *net_jitter;      /* the jitter buffer the network thread writes */
    ab_format_t net_format;
    uint32_t net_rate, net_channels;
    bool have_expected;
    uint64_t expected_frame0;     /* the frame after the last one written */
    bool refused_type;
    ab_log_limiter_t lost_limiter;

    /* counters the network thread writes */
    atomic_bool ended;            /* the stream's end came, and no audio since */
    atomic_uint_fast64_t last_seq, lost_blocks, lost_frames, restarts, reopens;
    atomic_bool failed;
    atomic_flag fail_claimed;
    char fail_message[1024];

    /* the callback's */
    atomic_uint_fast64_t underflows, callback_max_ns;
    atomic_uint_fast64_t callbacks; /* advanced by every callback: shows a stalled device */

    /* control thread */
    bool started, stopped;
    int64_t next_report_ns;
    int64_t inactive_since_ns;    /* when the device was first seen inactive, 0 while it plays */
    ab_jitter_stats_t warned;     /* counters as of the last warnings */
    ab_log_limiter_t underrun_limiter, overrun_limiter, gap_limiter, silent_limiter;
};

static void s_fail(ab_player_t *self, const char *message)
{
    if (!atomic_flag_test_and_set(&self->fail_claimed)) {
        snprintf(self->fail_message, sizeof self->fail_message, "%s", message);
        atomic_store(&self->failed, true);
    }
}

/* ---- the PortAudio callback ---------------------------------------------------- */

/* Only reads the jitter buffer: no allocation, lock, log or ZeroMQ. */
static int s_pa_callback(const void *input, void *output, unsigned long frame_count,
                         const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)input, (void)time_info;
    ab_player_t *self = user;
    int64_t started = ab_clock_mono_ns();
    atomic_store_explicit(&self->callbacks, atomic_load_explicit(&self->callbacks, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    ab_jitter_read(self->jitter, output, (uint32_t)frame_count);
    if (flags & paOutputUnderflow)
        atomic_store_explicit(&self->underflows, atomic_load_explicit(&self->underflows, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    uint64_t ns = (uint64_t)(ab_clock_mono_ns() - started);
    if (ns > atomic_load_explicit(&self->callback_max_ns, memory_order_relaxed))
        atomic_store_explicit(&self->callback_max_ns, ns, memory_order_relaxed);
    return paContinue;
}

/* ---- construction ---------------------------------------------------------------- */

static void s_deliver(void *user, const ab_block_t *block);
static void s_lost(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames);

ab_player_t *ab_player_new(void *zmq_ctx, const ab_player_config_t *config, char *error, size_t error_len)
{
    if (!config->stream || !ab_stream_name_valid(config->stream)) {
        snprintf(error, error_len, "bad stream name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /)",
                 config->stream ? config->stream : "", AB_STREAM_NAME_MAX);
        return NULL;
    }
    ab_player_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->ctx = zmq_ctx;
    sem_init(&self->answered, 0, 0);
    atomic_flag_clear(&self->fail_claimed);
    snprintf(self->broker, sizeof self->broker, "%s", config->broker);
    snprintf(self->stream, sizeof self->stream, "%s", config->stream);
    if (config->name)
        snprintf(self->name, sizeof self->name, "%s", config->name);
    else
        snprintf(self->name, sizeof self->name, "play-%.40s-%d", config->stream, (int)getpid());
    if (!ab_stream_name_valid(self->name)) {
        snprintf(error, error_len, "bad node name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /)", self->name,
                 AB_STREAM_NAME_MAX);
        ab_player_destroy(&self);
        return NULL;
    }
    self->latency_ms = config->latency_ms > 0 ? config->latency_ms : 100.0;
    /* Half the buffer to wait for a missing block, the other half to play
     * on meanwhile: a block repaired later could not be played on time. */
    self->repair_seconds = config->repair_seconds > 0 ? config->repair_seconds : self->latency_ms / 2000.0;
    self->duration_seconds = config->duration_seconds;
    self->exit_at_end = config->exit_at_end;
    self->register_timeout_ms = config->register_timeout_ms > 0 ? config->register_timeout_ms : 5000;

    ab_pa_set_jack_client_name("audiobus-play");
    PaError err = ab_pa_initialize();
    if (err != paNoError) {
        snprintf(error, error_len, "cannot initialise PortAudio: %s", Pa_GetErrorText(err));
        ab_player_destroy(&self);
        return NULL;
    }
    self->pa_initialized = true;
    self->device = ab_pa_find_device(config->device, config->host_api, AB_PA_OUTPUT,
                                     "pick one with --device NAME, see audiobus play --list-devices",
                                     "audiobus play --list-devices", error, error_len);
    if (self->device == paNoDevice) {
        ab_player_destroy(&self);
        return NULL;
    }
    const PaDeviceInfo *info = Pa_GetDeviceInfo(self->device);
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    snprintf(self->device_name, sizeof self->device_name, "\"%s\" (%s)", info->name, api ? api->name : "?");

    ab_ctl_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.role = AB_ROLE_PROCESSOR; /* to the broker, a player is a consumer of one stream */
    snprintf(hello.name, sizeof hello.name, "%s", self->name);
    hello.n_inputs = 1;
    snprintf(hello.inputs[0], sizeof hello.inputs[0], "%s", self->stream);
    self->node = ab_node_new(zmq_ctx, config->broker, &hello, error, error_len);
    if (!self->node) {
        ab_player_destroy(&self);
        return NULL;
    }
    int give_up_ms = (int)lround(self->repair_seconds * 1000);
    ab_subscriber_stream_t stream = {self->stream, self};
    ab_subscriber_config_t subscription = {
        .broker = config->broker,
        .streams = &stream,
        .n_streams = 1,
        .repair_window = AB_PLAYER_REPAIR_WINDOW,
        .give_up_ms = give_up_ms > 1 ? give_up_ms : 1,
        .retry_ms = give_up_ms / 3 > 5 ? give_up_ms / 3 : 5,
    };
    ab_subscriber_callbacks_t callbacks = {s_deliver, s_lost};
    self->subscriber = ab_subscriber_new(zmq_ctx, self->node, &subscription, &callbacks);
    if (!self->subscriber) {
        snprintf(error, error_len, "out of memory for the repair window of %d blocks", AB_PLAYER_REPAIR_WINDOW);
        ab_player_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_close_device(ab_player_t *self, bool play_out);

void ab_player_destroy(ab_player_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_player_t *self = *self_p;
    atomic_store(&self->stop_net, true);
    sem_post(&self->answered);
    if (self->net_started)
        pthread_join(self->net, NULL);
    s_close_device(self, false);
    if (self->pa_initialized && !self->stalled)
        Pa_Terminate();
    ab_subscriber_destroy(&self->subscriber);
    ab_node_destroy(&self->node);
    sem_destroy(&self->answered);
    if (self->stalled) /* its callbacks may still come: self and the jitter buffer stay */
        ab_pa_keep_for_exit(self);
    else
        free(self);
    *self_p = NULL;
}

/* ---- network thread ------------------------------------------------------------------ */

/* Make sure the device plays the block's shape: ask the control thread to
 * open (or reopen) it, and wait for the answer. */
static bool s_ensure_shape(ab_player_t *self, const ab_block_t *block)
{
    if (self->net_jitter && block->rate == self->net_rate && block->channels == self->net_channels &&
        block->format == self->net_format)
        return true;
    if (atomic_load(&self->failed))
        return false;
    if (self->net_jitter) {
        ab_log_info("stream %s changed from %u Hz, %u ch, %s to %u Hz, %u ch, %s: reopening the device once the "
                    "buffer is played out",
                    self->stream, self->net_rate, self->net_channels, ab_format_name(self->net_format), block->rate,
                    block->channels, ab_format_name(block->format));
        ab_jitter_end(self->net_jitter);
        self->net_jitter = NULL;
    }
    self->want_rate = block->rate;
    self->want_channels = block->channels;
    self->want_format = block->format;
    self->want_block = block->frames ? block->frames : 1;
    atomic_store_explicit(&self->request, REQUEST_PENDING, memory_order_release);
    while (!atomic_load(&self->stop_net)) {
        int answer = atomic_load_explicit(&self->request, memory_order_acquire);
        if (answer == REQUEST_OK) {
            self->net_jitter = self->jitter;
            self->net_rate = block->rate;
            self->net_channels = block->channels;
            self->net_format = block->format;
            self->have_expected = false;
            return true;
        }
        if (answer == REQUEST_FAILED)
            return false;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        ts.tv_sec += ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        sem_timedwait(&self->answered, &ts);
    }
    return false;
}

static void s_deliver(void *user, const ab_block_t *block)
{
    ab_player_t *self = user;
    atomic_store(&self->last_seq, block->seq);
    if (block->type == AB_BLOCK_END) {
        ab_log_info("stream %s ended at frame %" PRIu64 " (seq %" PRIu64 ")", self->stream, block->frame0,
                    block->seq);
        if (self->net_jitter)
            ab_jitter_end(self->net_jitter);
        atomic_store(&self->ended, true);
        return;
    }
    if (block->type == AB_BLOCK_EVENT)
        return;
    if (block->type != AB_BLOCK_AUDIO) {
        if (!self->refused_type) {
            char message[300];
            snprintf(message, sizeof message,
                     "stream %s carries %s, not audio: only audio streams can be played (audiobus ls shows each "
                     "stream's type)",
                     self->stream, ab_block_type_name(block->type));
            s_fail(self, message);
            self->refused_type = true;
        }
        return;
    }
    if (!s_ensure_shape(self, block))
        return;
    atomic_store(&self->ended, false);
    if (self->have_expected && block->frame0 > self->expected_frame0) {
        /* Frames that never came (lost for good upstream, or a capture
         * overrun at the recorder): silence of their length keeps the
         * timing of what follows. */
        ab_jitter_write_silence(self->net_jitter, block->frame0 - self->expected_frame0);
    } else if (self->have_expected && block->frame0 < self->expected_frame0) {
        atomic_fetch_add(&self->restarts, 1); /* a new run of the recorder numbers from 0 again */
        ab_log_info("stream %s started again at frame %" PRIu64, self->stream, block->frame0);
    }
    ab_jitter_write(self->net_jitter, block->samples, block->frames);
    self->have_expected = true;
    self->expected_frame0 = block->frame0 + block->frames;
}

static void s_lost(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames)
{
    ab_player_t *self = user;
    atomic_fetch_add(&self->lost_blocks, to_seq - from_seq + 1);
    atomic_fetch_add(&self->lost_frames, frames);
    ab_log_limited(&self->lost_limiter, 1000, AB_LOG_WARN,
                   "stream %s: blocks %" PRIu64 "..%" PRIu64 " did not come within %.0f ms: frames %" PRIu64
                   "..%" PRIu64 " (%" PRIu64 ") are played as silence",
                   self->stream, from_seq, to_seq, self->repair_seconds * 1000, frame0, frame0 + frames, frames);
}

static void *s_network(void *arg)
{
    ab_player_t *self = arg;
    char error[512];
    if (ab_subscriber_open(self->subscriber, error, sizeof error) != 0) {
        s_fail(self, error);
    } else {
        while (!atomic_load(&self->stop_net))
            ab_subscriber_poll(self->subscriber, 5);
    }
    ab_subscriber_close(self->subscriber);
    return NULL;
}

/* ---- the device (control thread) --------------------------------------------------------- */

static PaSampleFormat s_pa_format(ab_format_t format)
{
    return format == AB_FORMAT_S16 ? paInt16 : format == AB_FORMAT_S32 ? paInt32 : paFloat32;
}

/* Whether the device opens with params at rate. Opening (and closing) a
 * stream rather than Pa_IsFormatSupported(): PortAudio's ALSA back end
 * checks a format without bounding the buffer, and a PCM without a
 * hardware limit (ALSA's null and file plugins) then allocates gigabytes. */
static PaError s_try_open(const PaStreamParameters *params, double rate)
{
    PaStream *stream;
    PaError err = Pa_OpenStream(&stream, NULL, params, rate, paFramesPerBufferUnspecified, paNoFlag, NULL, NULL);
    if (err == paNoError)
        Pa_CloseStream(stream);
    return err;
}

/* The common rates the device takes with params (its channels and format). */
static void s_supported_rates(const PaStreamParameters *params, char *out, size_t out_len)
{
    static const double rates[] = {8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (s_try_open(params, rates[i]) == paNoError && len < out_len)
            len += (size_t)snprintf(out + len, out_len - len, "%s%.0f", len ? ", " : "", rates[i]);
    if (!out[0])
        snprintf(out, out_len, "none of the common rates");
    else if (len < out_len)
        snprintf(out + len, out_len - len, " Hz");
}

/* Open and start the device for the requested shape, with a new jitter
 * buffer. Returns 0, or AB_EDEVICE after writing why into error. */
static int s_open_device(ab_player_t *self, char *error, size_t error_len)
{
    if (self->stalled) {
        snprintf(error, error_len, "output device %s stopped calling back (a stalled JACK graph or driver) and cannot "
                 "be opened again: restart the player once the device works", self->device_name);
        return AB_EDEVICE;
    }
    const PaDeviceInfo *info = Pa_GetDeviceInfo(self->device);
    uint32_t rate = self->want_rate, channels = self->want_channels;
    ab_format_t format = self->want_format;
    if (channels > (uint32_t)info->maxOutputChannels) {
        snprintf(error, error_len,
                 "output device %s cannot play stream %s: the stream has %u channels, the device at most %d. Play "
                 "it on a device with enough channels (--device NAME, see audiobus play --list-devices), or "
                 "publish fewer channels (audiobus record --channels N)",
                 self->device_name, self->stream, channels, info->maxOutputChannels);
        return AB_EDEVICE;
    }
    PaStreamParameters params;
    memset(&params, 0, sizeof params);
    params.device = self->device;
    params.channelCount = (int)channels;
    params.sampleFormat = s_pa_format(format);
    params.suggestedLatency = info->defaultLowOutputLatency;
    PaError err = Pa_OpenStream(&self->pa_stream, NULL, &params, rate, paFramesPerBufferUnspecified, paNoFlag,
                                s_pa_callback, self);
    if (err != paNoError) {
        char rates[200];
        s_supported_rates(&params, rates, sizeof rates);
        snprintf(error, error_len,
                 "output device %s cannot play stream %s as it is (%u Hz, %u ch, %s): %s. With %u channel(s) it "
                 "takes %s (its default is %.0f Hz, up to %d channels). Pick another device with --device NAME "
                 "(see audiobus play --list-devices), or publish the stream at a rate the device takes "
                 "(audiobus record --rate HZ): audiobus does not resample",
                 self->device_name, self->stream, rate, channels, ab_format_name(format), Pa_GetErrorText(err),
                 channels, rates, info->defaultSampleRate, info->maxOutputChannels);
        self->pa_stream = NULL;
        return AB_EDEVICE;
    }
    uint32_t target = (uint32_t)ceil(self->latency_ms * rate / 1000.0);
    self->jitter = ab_jitter_new((size_t)channels * ab_format_size(format), target ? target : 1, self->want_block);
    if (!self->jitter) {
        Pa_CloseStream(self->pa_stream);
        self->pa_stream = NULL;
        snprintf(error, error_len, "out of memory for a %.0f ms jitter buffer of %u channels", self->latency_ms,
                 channels);
        return AB_ENOMEM;
    }
    err = Pa_StartStream(self->pa_stream);
    if (err != paNoError) {
        snprintf(error, error_len, "cannot start output device %s: %s", self->device_name, Pa_GetErrorText(err));
        Pa_CloseStream(self->pa_stream);
        self->pa_stream = NULL;
        ab_jitter_destroy(&self->jitter);
        return AB_EDEVICE;
    }
    const PaStreamInfo *stream_info = Pa_GetStreamInfo(self->pa_stream);
    self->device_latency_s = stream_info ? stream_info->outputLatency : 0;
    atomic_store(&self->rate, rate);
    atomic_store(&self->channels, channels);
    atomic_store(&self->format, (int)format);
    self->played_out = false;
    ab_log_info("playing stream %s (%u Hz, %u ch, %s) on output device %s: buffer target %.0f ms (%u frames), "
                "device latency %.1f ms",
                self->stream, rate, channels, ab_format_name(format), self->device_name, self->latency_ms, target,
                self->device_latency_s * 1000);
    return 0;
}

static void s_add_stats(ab_jitter_stats_t *sum, const ab_jitter_stats_t *more)
{
    sum->played_frames += more->played_frames;
    sum->underruns += more->underruns;
    sum->underrun_frames += more->underrun_frames;
    sum->overruns += more->overruns;
    sum->dropped_frames += more->dropped_frames;
    sum->gaps += more->gaps;
    sum->gap_frames += more->gap_frames;
}

/* Stop the device (Pa_StopStream plays out what the device holds; abort
 * cuts it), close it, keep the jitter buffer's counters. A device whose
 * callbacks stopped is left open, with the jitter buffer its callback
 * reads, for the process's exit to release. */
static void s_close_device(ab_player_t *self, bool play_out)
{
    if (self->pa_stream && !self->stalled) {
        if (!ab_pa_stop_stream(self->pa_stream, !play_out, &self->callbacks, "output"))
            self->stalled = true;
        else {
            Pa_CloseStream(self->pa_stream);
            self->pa_stream = NULL;
        }
    }
    if (self->stalled)
        return;
    if (self->jitter) {
        ab_jitter_stats_t stats;
        ab_jitter_stats(self->jitter, &stats);
        s_add_stats(&self->closed, &stats);
        ab_jitter_destroy(&self->jitter);
    }
}

/* Answer the network thread's request for a device in a new shape. */
static int s_answer_request(ab_player_t *self)
{
    if (atomic_load_explicit(&self->request, memory_order_acquire) != REQUEST_PENDING)
        return 0;
    if (self->jitter) {
        /* Play out what is buffered in the old shape first. */
        ab_jitter_stats_t stats;
        ab_jitter_stats(self->jitter, &stats);
        uint32_t rate = atomic_load(&self->rate);
        int64_t deadline = ab_clock_mono_ns() + 1000000000LL + (int64_t)(stats.buffered_frames * 1e9 / rate);
        while (!ab_jitter_drained(self->jitter) && ab_clock_mono_ns() < deadline && !ab_signal_stop_requested())
            ab_node_poll(self->node, 10);
        s_close_device(self, true);
        atomic_fetch_add(&self->reopens, 1);
    }
    char error[1024];
    int rc = s_open_device(self, error, sizeof error);
    atomic_store_explicit(&self->request, rc == 0 ? REQUEST_OK : REQUEST_FAILED, memory_order_release);
    sem_post(&self->answered);
    if (rc)
        s_fail(self, error);
    return rc;
}

/* ---- control thread ------------------------------------------------------------------------ */

static void s_jitter_totals(const ab_player_t *self, ab_jitter_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    if (self->jitter)
        ab_jitter_stats(self->jitter, stats);
    s_add_stats(stats, &self->closed);
}

void ab_player_stats(const ab_player_t *self, ab_player_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->rate = atomic_load(&self->rate);
    stats->channels = atomic_load(&self->channels);
    stats->format = stats->rate ? ab_format_name((ab_format_t)atomic_load(&self->format)) : NULL;
    stats->device_latency_s = self->device_latency_s;
    s_jitter_totals(self, &stats->jitter);
    stats->blocks = ab_subscriber_received(self->subscriber);
    stats->last_seq = atomic_load(&self->last_seq);
    stats->lost_blocks = atomic_load(&self->lost_blocks);
    stats->lost_frames = atomic_load(&self->lost_frames);
    stats->bad = ab_subscriber_bad(self->subscriber);
    stats->repaired = ab_subscriber_repaired(self->subscriber);
    stats->duplicates = ab_subscriber_duplicates(self->subscriber);
    stats->device_underflows = atomic_load(&self->underflows);
    stats->callback_max_ns = atomic_load(&self->callback_max_ns);
    stats->reopens = atomic_load(&self->reopens);
}

const char *ab_player_device(const ab_player_t *self)
{
    return self->device_name;
}

static void s_heartbeat_stats(void *user, ab_ctl_msg_t *msg)
{
    ab_player_t *self = user;
    ab_player_stats_t s;
    ab_player_stats(self, &s);
    ab_ctl_stat_set(msg, "blocks", s.blocks);
    ab_ctl_stat_set(msg, "last_seq", s.last_seq);
    ab_ctl_stat_set(msg, "played_frames", s.jitter.played_frames);
    ab_ctl_stat_set(msg, "buffered_ms", s.rate ? s.jitter.buffered_frames * 1000 / s.rate : 0);
    ab_ctl_stat_set(msg, "underruns", s.jitter.underruns);
    ab_ctl_stat_set(msg, "underrun_frames", s.jitter.underrun_frames);
    ab_ctl_stat_set(msg, "overruns", s.jitter.overruns);
    ab_ctl_stat_set(msg, "dropped_frames", s.jitter.dropped_frames);
    ab_ctl_stat_set(msg, "gaps", s.jitter.gaps);
    ab_ctl_stat_set(msg, "gap_frames", s.jitter.gap_frames);
    ab_ctl_stat_set(msg, "lost_frames", s.lost_frames);
    ab_ctl_stat_set(msg, "bad", s.bad);
    ab_ctl_stat_set(msg, "repaired", s.repaired);
    ab_ctl_stat_set(msg, "duplicates", s.duplicates);
    ab_ctl_stat_set(msg, "device_underflows", s.device_underflows);
}

int ab_player_start(ab_player_t *self)
{
    ab_log_set_name(self->name); /* log lines say which node wrote them */
    ab_node_set_stats_fn(self->node, s_heartbeat_stats, self);
    int rc = ab_node_register_or_explain(self->node, "player", self->register_timeout_ms);
    if (rc)
        return rc;
    self->started = true;
    if (ab_signal_thread_create(&self->net, s_network, self) != 0) {
        ab_log_error("cannot start the player's network thread");
        return AB_ENOMEM;
    }
    self->net_started = true;
    rc = ab_node_wait_linked(self->node, 5000);
    if (rc == AB_ETIMEOUT)
        ab_log_warn("the broker has not confirmed the subscription to %s yet; blocks may be missed until it does",
                    self->stream);
    else if (rc == 0)
        ab_subscriber_set_linked(self->subscriber);
    ab_log_info("player %s: stream %s on output device %s, buffer target %.0f ms", self->name, self->stream,
                self->device_name, self->latency_ms);
    self->next_report_ns = ab_clock_mono_ns() + AB_PLAYER_REPORT_NS;
    return 0;
}

/* Tell what went wrong since the last call, at most once per interval each. */
static void s_warn(ab_player_t *self, const ab_jitter_stats_t *now)
{
    ab_jitter_stats_t *was = &self->warned;
    if (now->underruns > was->underruns)
        ab_log_limited(&self->underrun_limiter, AB_PLAYER_WARN_MS, AB_LOG_WARN,
                       "underrun: the buffer ran dry (%" PRIu64 " time(s) so far, %" PRIu64
                       " frames of silence); re-buffering to %.0f ms (a larger --latency absorbs more jitter)",
                       now->underruns, now->underrun_frames, self->latency_ms);
    if (now->overruns > was->overruns)
        ab_log_limited(&self->overrun_limiter, AB_PLAYER_WARN_MS, AB_LOG_WARN,
                       "overrun: more audio arrived than the device played; dropped the oldest (%" PRIu64
                       " time(s) so far, %" PRIu64 " frames) to get back to %.0f ms",
                       now->overruns, now->dropped_frames, self->latency_ms);
    if (now->gaps > was->gaps)
        ab_log_limited(&self->gap_limiter, AB_PLAYER_WARN_MS, AB_LOG_WARN,
                       "gap in stream %s: played as silence of its length (%" PRIu64 " gap(s) so far, %" PRIu64
                       " frames)",
                       self->stream, now->gaps, now->gap_frames);
    *was = *now;
}

static void s_report(ab_player_t *self, const char *what)
{
    ab_player_stats_t s;
    ab_player_stats(self, &s);
    double rate = s.rate ? s.rate : 1;
    ab_log_info("%s %" PRIu64 " frames (%.1f s) of stream %s, buffered %.0f ms: underruns %" PRIu64 " (%" PRIu64
                " frames of silence), overruns %" PRIu64 " (%" PRIu64 " frames dropped), gaps %" PRIu64 " (%" PRIu64
                " frames of silence); blocks %" PRIu64 ", lost %" PRIu64 ", bad %" PRIu64 ", repaired %" PRIu64
                ", duplicates %" PRIu64 ", device underflows %" PRIu64 ", callback max %.3f ms",
                what, s.jitter.played_frames, s.jitter.played_frames / rate, self->stream,
                s.jitter.buffered_frames * 1000 / rate, s.jitter.underruns, s.jitter.underrun_frames,
                s.jitter.overruns, s.jitter.dropped_frames, s.jitter.gaps, s.jitter.gap_frames, s.blocks,
                s.lost_blocks, s.bad, s.repaired, s.duplicates, s.device_underflows, s.callback_max_ns / 1e6);
}

int ab_player_poll(ab_player_t *self, int timeout_ms)
{
    if (ab_node_poll(self->node, timeout_ms) == AB_ETIMEOUT)
        ab_log_limited(&self->silent_limiter, 5000, AB_LOG_WARN, "the broker has not answered for 3 heartbeats");
    int rc = s_answer_request(self);
    /* A stream that stays inactive for a second has stopped for good (some
     * host APIs report a just-started stream as inactive for a moment). */
    int64_t now = ab_clock_mono_ns();
    if (!self->pa_stream || self->played_out || Pa_IsStreamActive(self->pa_stream) == 1)
        self->inactive_since_ns = 0;
    else if (!self->inactive_since_ns)
        self->inactive_since_ns = now;
    if (self->inactive_since_ns && now - self->inactive_since_ns > 1000000000LL) {
        char message[512];
        snprintf(message, sizeof message,
                 "output device %s stopped playing (unplugged, or taken by another program?); run audiobus play "
                 "again, or pick another device with --device NAME",
                 self->device_name);
        s_fail(self, message);
        rc = AB_EDEVICE;
    }
    if (atomic_load(&self->failed)) {
        ab_log_error("%s", self->fail_message);
        return rc ? rc : AB_EDEVICE;
    }
    ab_jitter_stats_t totals;
    s_jitter_totals(self, &totals);
    s_warn(self, &totals);
    if (now >= self->next_report_ns) {
        if (self->jitter)
            s_report(self, "played");
        self->next_report_ns = now + AB_PLAYER_REPORT_NS;
    }
    uint32_t rate = atomic_load(&self->rate);
    bool over = false;
    if (self->exit_at_end && atomic_load(&self->ended) && (!self->jitter || ab_jitter_drained(self->jitter)))
        over = true;
    if (self->duration_seconds > 0 && rate && totals.played_frames >= self->duration_seconds * rate)
        over = true;
    if (over) {
        /* Let the device play what it holds, then stop. */
        if (self->pa_stream && !self->stalled && !ab_pa_stop_stream(self->pa_stream, false, &self->callbacks, "output"))
            self->stalled = true;
        self->played_out = true;
        return 1;
    }
    return 0;
}

void ab_player_stop(ab_player_t *self)
{
    if (self->stopped)
        return;
    self->stopped = true;
    atomic_store(&self->stop_net, true);
    sem_post(&self->answered);
    if (self->net_started) {
        pthread_join(self->net, NULL);
        self->net_started = false;
    }
    if (!self->started)
        return;
    ab_jitter_stats_t totals;
    s_jitter_totals(self, &totals);
    s_warn(self, &totals);
    s_close_device(self, self->played_out);
    s_report(self, "played");
    if (ab_node_bye(self->node, 2000) != 0)
        ab_log_warn("the broker did not acknowledge goodbye");
}

int ab_player_run(ab_player_t *self)
{
    int rc = ab_player_start(self);
    if (rc)
        return rc;
    while (!ab_signal_stop_requested() && (rc = ab_player_poll(self, 20)) == 0)
        ;
    ab_player_stop(self);
    return rc == 1 ? 0 : rc;
}

int ab_player_list_devices(FILE *out)
{
    int rc = ab_pa_list_devices(out, NULL);
    if (rc)
        return rc;
    if (ab_pa_initialize() == paNoError) {
        if (Pa_GetDefaultOutputDevice() == paNoDevice)
            fprintf(out, "no default output device: %s\n",
                    Pa_GetDeviceCount() > 0 ? "pick one with audiobus play --device NAME"
                                            : "PortAudio sees no device (no sound card, or no access to one)");
        Pa_Terminate();
    }
    return 0;
}
