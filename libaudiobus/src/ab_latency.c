/* ab_latency.c - loopback round-trip latency profiler: probe bursts out,
 * matched-filter detection in, statistics over the round trips. */
#include "audiobus/ab_latency.h"

#include <math.h>
#include <portaudio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ab_pa.h"
#include "ab_probe.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_ring.h"
#include "audiobus/ab_signal.h"

/* Amplitude of the probe chips: loud enough to stand out of a real room's
 * noise, far enough from full scale to leave headroom for converters. */
#define AB_LAT_AMPLITUDE 0.5f
/* The callbacks cut what they capture into chunks of at most this many
 * frames, which bounds what the analysis must have room for. */
#define AB_LAT_MAX_CHUNK 4096
/* Estimates of the offset between two streams' counters kept for the median. */
#define AB_LAT_OFFSETS 63
/* Recent output callbacks remembered to relate the counters (two streams). */
#define AB_LAT_ANCHORS 64
/* Input kept before the next probe's window: with two streams the offset
 * between their counters, and so where a window starts, moves by a few
 * frames from one estimate to the next. */
#define AB_LAT_SLACK 1024
/* Seconds without any input before the stream counts as stalled. */
#define AB_LAT_STALL_SECONDS 3.0

/* A chunk of captured input as stored in the ring, followed by its samples
 * (none when silent: the host gave no input buffer). */
typedef struct {
    uint64_t frame0;  /* input frame counter of its first frame */
    int64_t time_ns;  /* monotonic time the callback ran */
    uint32_t frames;
    uint32_t silent;
} s_chunk_t;

/* An output callback's frame counter and the monotonic time it ran. */
typedef struct {
    uint64_t frame0;
    int64_t time_ns;
} s_anchor_t;

typedef enum { STATE_WAITING, STATE_MEASURING, STATE_DONE } s_state_t;

struct ab_latency {
    uint32_t rate, block_frames, count, interval_frames;
    uint32_t in_channels, out_channels; /* 1 unless a device takes only more */
    double wait_seconds;
    bool full_duplex;
    bool pa_initialized;
    bool stalled; /* the streams' callbacks stopped: left to the process's exit */
    char description[600];
    char output_port[150], input_port[150];
    char loop_hint[600];
    int (*check)(void *user, char *error, size_t error_len);
    void *check_user;
    PaStream *duplex, *input, *output;

    /* read by the callbacks, written only before the streams start */
    float probes[AB_PROBE_CODES][AB_PROBE_FRAMES];
    ab_ring_t *capture;     /* input chunks: callback -> analysis */
    ab_ring_t *out_anchors; /* two streams: output callback -> analysis */

    /* owned by the output (or the full-duplex) callback */
    uint64_t out_frame;
    uint32_t out_phase;  /* frame within the current interval */
    uint32_t out_probe;  /* probe number being played */
    /* owned by the input (or the full-duplex) callback */
    uint64_t in_frame;

    atomic_uint_fast64_t captured_frames;
    atomic_uint_fast64_t dropped_frames; /* ring full */
    atomic_uint_fast64_t xruns;    /* counted while measuring */
    atomic_uint_fast64_t callbacks; /* of every stream: shows a stalled device */
    atomic_bool measuring;

    /* the analysis: input frames [window_base, window_base + window_len) of
     * the first input channel */
    float *scratch; /* one chunk as it comes from the ring */
    float *window;
    size_t window_cap;
    uint64_t window_base;
    size_t window_len;
    s_anchor_t anchors[AB_LAT_ANCHORS];
    size_t anchor_count, anchor_next;
    double offsets[AB_LAT_OFFSETS];
    size_t offset_count, offset_next;
    int64_t *values;
    uint32_t measured;
    ab_latency_result_t result;
};

/* ---- the audio thread --------------------------------------------------- */

static void s_count_flags(ab_latency_t *self, PaStreamCallbackFlags flags)
{
    atomic_fetch_add_explicit(&self->callbacks, 1, memory_order_relaxed);
    if ((flags & (paInputUnderflow | paInputOverflow | paOutputUnderflow | paOutputOverflow)) &&
        atomic_load_explicit(&self->measuring, memory_order_relaxed))
        atomic_fetch_add_explicit(&self->xruns, 1, memory_order_relaxed);
}

/* Write the probe schedule on every output channel: probe k (code k mod
 * AB_PROBE_CODES) starts at output frame k * interval_frames, silence
 * between. */
static void s_play(ab_latency_t *self, float *out, unsigned long frames)
{
    uint32_t channels = self->out_channels;
    for (unsigned long f = 0; f < frames; f++) {
        uint32_t phase = self->out_phase;
        float value = phase < AB_PROBE_FRAMES ? self->probes[self->out_probe % AB_PROBE_CODES][phase] : 0.0f;
        for (uint32_t c = 0; c < channels; c++)
            out[f * channels + c] = value;
        if (++self->out_phase == self->interval_frames) {
            self->out_phase = 0;
            self->out_probe++;
        }
    }
    self->out_frame += frames;
}

/* Copy the input into the ring in chunks; what does not fit is counted
 * and shows up as a jump in frame0. */
static void s_capture(ab_latency_t *self, const float *in, unsigned long frames, int64_t now_ns)
{
    unsigned long done = 0;
    while (done < frames) {
        uint32_t n = (uint32_t)(frames - done < AB_LAT_MAX_CHUNK ? frames - done : AB_LAT_MAX_CHUNK);
        s_chunk_t chunk = {.frame0 = self->in_frame + done, .time_ns = now_ns, .frames = n, .silent = in == NULL};
        const void *samples = in ? (const void *)(in + done * self->in_channels) : NULL;
        size_t bytes = in ? (size_t)n * self->in_channels * sizeof(float) : 0;
        if (ab_ring_write2(self->capture, &chunk, sizeof chunk, samples, bytes) != 0)
            atomic_fetch_add_explicit(&self->dropped_frames, n, memory_order_relaxed);
        done += n;
    }
    self->in_frame += frames;
    atomic_store_explicit(&self->captured_frames, self->in_frame, memory_order_release);
}

static int s_duplex_callback(const void *input, void *output, unsigned long frames,
                             const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)time_info;
    ab_latency_t *self = user;
    s_count_flags(self, flags);
    s_play(self, output, frames);
    s_capture(self, input, frames, 0);
    return paContinue;
}

static int s_output_callback(const void *input, void *output, unsigned long frames,
                             const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)input, (void)time_info;
    ab_latency_t *self = user;
    s_count_flags(self, flags);
    s_anchor_t anchor = {.frame0 = self->out_frame, .time_ns = ab_clock_mono_ns()};
    ab_ring_write(self->out_anchors, &anchor, sizeof anchor); /* full: the analysis keeps the newer ones */
    s_play(self, output, frames);
    return paContinue;
}

static int s_input_callback(const void *input, void *output, unsigned long frames,
                            const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)output, (void)time_info;
    ab_latency_t *self = user;
    s_count_flags(self, flags);
    s_capture(self, input, frames, ab_clock_mono_ns());
    return paContinue;
}

/* ---- opening ------------------------------------------------------------ */

static const char *s_advice = "pick one with --device IN,OUT, see audiobus latency --list-devices";
static const char *s_lister = "audiobus latency --list-devices";

static int s_find_pair(const char *in_name, const char *out_name, const char *host_api, PaDeviceIndex *in,
                       PaDeviceIndex *out, char *error, size_t error_len)
{
    *in = ab_pa_find_device(in_name, host_api, AB_PA_INPUT, s_advice, s_lister, error, error_len);
    if (*in == paNoDevice)
        return AB_EDEVICE;
    *out = ab_pa_find_device(out_name, host_api, AB_PA_OUTPUT, s_advice, s_lister, error, error_len);
    return *out == paNoDevice ? AB_EDEVICE : 0;
}

/* "IN,OUT" or "DEV": device names may hold commas ("hw:0,0"), so every
 * comma is tried as the separator; then the whole text as both devices. */
static int s_resolve_devices(const char *spec, const char *host_api, PaDeviceIndex *in, PaDeviceIndex *out,
                             char *error, size_t error_len)
{
    if (!spec || !*spec || !strchr(spec, ','))
        return s_find_pair(spec, spec, host_api, in, out, error, error_len);
    size_t len = strlen(spec);
    char *text = malloc(len + 1);
    if (!text) {
        snprintf(error, error_len, "out of memory");
        return AB_ENOMEM;
    }
    char first_error[512] = "";
    int rc = AB_EDEVICE;
    for (size_t i = 0; i < len && rc; i++) {
        if (spec[i] != ',')
            continue;
        memcpy(text, spec, len + 1);
        text[i] = '\0';
        char attempt[512];
        rc = s_find_pair(text, text + i + 1, host_api, in, out, attempt, sizeof attempt);
        if (rc && !first_error[0])
            snprintf(first_error, sizeof first_error, "%s", attempt);
    }
    free(text);
    if (rc)
        rc = s_find_pair(spec, spec, host_api, in, out, error, error_len);
    if (rc)
        snprintf(error, error_len, "%s", first_error);
    return rc;
}

static const char *s_api_name(PaDeviceIndex device)
{
    const PaHostApiInfo *api = Pa_GetHostApiInfo(Pa_GetDeviceInfo(device)->hostApi);
    return api ? api->name : "?";
}

/* Open a stream with one channel each way, or, for a device that takes
 * only more, with all of its channels (the probe goes out on every one, the
 * first input channel is analysed). */
static PaError s_try_open(ab_latency_t *self, PaStream **stream, PaStreamParameters *in, PaStreamParameters *out,
                          unsigned long block, PaStreamCallback *callback)
{
    PaStreamFlags flags = paClipOff | paDitherOff; /* the probe must come back as it was played */
    PaError err = Pa_OpenStream(stream, in, out, self->rate, block, flags, callback, self);
    if (err == paInvalidChannelCount) {
        if (in)
            in->channelCount = Pa_GetDeviceInfo(in->device)->maxInputChannels;
        if (out)
            out->channelCount = Pa_GetDeviceInfo(out->device)->maxOutputChannels;
        err = Pa_OpenStream(stream, in, out, self->rate, block, flags, callback, self);
    }
    if (err != paNoError) {
        *stream = NULL;
        return err;
    }
    if (in)
        self->in_channels = (uint32_t)in->channelCount;
    if (out)
        self->out_channels = (uint32_t)out->channelCount;
    return paNoError;
}

static int s_open_streams(ab_latency_t *self, PaDeviceIndex in, PaDeviceIndex out, bool separate, char *error,
                          size_t error_len)
{
    const PaDeviceInfo *in_info = Pa_GetDeviceInfo(in), *out_info = Pa_GetDeviceInfo(out);
    PaStreamParameters in_params = {.device = in, .channelCount = 1, .sampleFormat = paFloat32,
                                    .suggestedLatency = in_info->defaultLowInputLatency};
    PaStreamParameters out_params = {.device = out, .channelCount = 1, .sampleFormat = paFloat32,
                                     .suggestedLatency = out_info->defaultLowOutputLatency};
    unsigned long block = self->block_frames ? self->block_frames : paFramesPerBufferUnspecified;
    PaError err = paNoError, duplex_err = paNoError;
    if (!separate && in_info->hostApi == out_info->hostApi) {
        err = s_try_open(self, &self->duplex, &in_params, &out_params, block, s_duplex_callback);
        if (err == paNoError) {
            self->full_duplex = true;
            return 0;
        }
        duplex_err = err;
        in_params.channelCount = out_params.channelCount = 1;
    }
    err = s_try_open(self, &self->input, &in_params, NULL, block, s_input_callback);
    if (err != paNoError) {
        snprintf(error, error_len, "cannot open input device \"%s\" (%s) at %u Hz, %d channel(s): %s", in_info->name,
                 s_api_name(in), self->rate, in_params.channelCount, Pa_GetErrorText(err));
        return AB_EDEVICE;
    }
    err = s_try_open(self, &self->output, NULL, &out_params, block, s_output_callback);
    if (err != paNoError) {
        snprintf(error, error_len, "cannot open output device \"%s\" (%s) at %u Hz, %d channel(s): %s",
                 out_info->name, s_api_name(out), self->rate, out_params.channelCount, Pa_GetErrorText(err));
        return AB_EDEVICE;
    }
    if (duplex_err != paNoError)
        ab_log_warn("cannot open one full-duplex stream on input \"%s\" and output \"%s\" (%s): using two "
                    "streams, exact only to a few frames",
                    in_info->name, out_info->name, Pa_GetErrorText(duplex_err));
    return 0;
}

/* The JACK ports to connect, when PortAudio runs on JACK: PortAudio names
 * them in_N and out_N under its client's name. */
static void s_describe_ports(ab_latency_t *self, PaDeviceIndex in, PaDeviceIndex out)
{
    const PaHostApiInfo *in_api = Pa_GetHostApiInfo(Pa_GetDeviceInfo(in)->hostApi);
    const PaHostApiInfo *out_api = Pa_GetHostApiInfo(Pa_GetDeviceInfo(out)->hostApi);
    if (!in_api || !out_api || in_api->type != paJACK || out_api->type != paJACK)
        return;
    const char *client = ab_pa_jack_client_name();
    if (!client)
        return;
    snprintf(self->output_port, sizeof self->output_port, "%s:out_0", client);
    snprintf(self->input_port, sizeof self->input_port, "%s:in_0", client);
}

ab_latency_t *ab_latency_new(const ab_latency_config_t *config, char *error, size_t error_len)
{
    ab_latency_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->rate = config->rate ? config->rate : 48000;
    self->block_frames = config->block_frames;
    self->count = config->count ? config->count : 20;
    double interval = config->interval_seconds > 0 ? config->interval_seconds : 0.25;
    self->interval_frames = (uint32_t)llround(interval * self->rate);
    self->wait_seconds = config->wait_seconds > 0 ? config->wait_seconds : 10.0;
    int rc = 0;
    if (self->interval_frames < 2 * AB_PROBE_FRAMES) {
        snprintf(error, error_len, "interval %.4f s is shorter than two probes (%u frames at %u Hz): make it longer",
                 interval, 2 * AB_PROBE_FRAMES, self->rate);
        rc = AB_ECONFIG;
    }
    for (unsigned c = 0; c < AB_PROBE_CODES; c++)
        ab_probe_code(c, AB_LAT_AMPLITUDE, self->probes[c]);
    self->out_anchors = rc ? NULL : ab_ring_new(4096 * sizeof(s_anchor_t));
    self->window_cap = (size_t)self->interval_frames + AB_PROBE_FRAMES + AB_LAT_SLACK + 2 * AB_LAT_MAX_CHUNK;
    self->window = rc ? NULL : malloc(self->window_cap * sizeof(float));
    self->values = rc ? NULL : malloc(self->count * sizeof(int64_t));
    if (!rc && (!self->out_anchors || !self->window || !self->values)) {
        snprintf(error, error_len, "out of memory for %u probes", self->count);
        rc = AB_ENOMEM;
    }
    PaDeviceIndex in = paNoDevice, out = paNoDevice;
    if (!rc) {
        ab_pa_set_jack_client_name(config->jack_client_name ? config->jack_client_name : "audiobus-latency");
        PaError err = ab_pa_initialize();
        if (err != paNoError) {
            snprintf(error, error_len, "cannot initialise PortAudio: %s", Pa_GetErrorText(err));
            rc = AB_EDEVICE;
        } else {
            self->pa_initialized = true;
            rc = s_resolve_devices(config->devices, config->host_api, &in, &out, error, error_len);
        }
    }
    if (!rc)
        rc = s_open_streams(self, in, out, config->separate_streams, error, error_len);
    if (!rc) {
        /* The ring holds 4 s of input: the analysis may fall that far behind. */
        size_t ring_bytes = (size_t)self->rate * 4 * (self->in_channels * sizeof(float) + sizeof(s_chunk_t));
        self->capture = ab_ring_new(ring_bytes);
        self->scratch = malloc((size_t)AB_LAT_MAX_CHUNK * self->in_channels * sizeof(float));
        if (!self->capture || !self->scratch) {
            snprintf(error, error_len, "out of memory for a 4 s capture ring");
            rc = AB_ENOMEM;
        }
    }
    if (rc) {
        ab_latency_destroy(&self);
        return NULL;
    }
    s_describe_ports(self, in, out);
    self->check = config->check;
    self->check_user = config->check_user;
    if (config->loop_hint)
        snprintf(self->loop_hint, sizeof self->loop_hint, "%s", config->loop_hint);
    else if (self->output_port[0])
        snprintf(self->loop_hint, sizeof self->loop_hint, "connect %s -> %s", self->output_port, self->input_port);
    else
        snprintf(self->loop_hint, sizeof self->loop_hint, "loop the output back to the input");
    char block[64];
    if (self->block_frames)
        snprintf(block, sizeof block, "block %u", self->block_frames);
    else
        snprintf(block, sizeof block, "block of the host's choice");
    snprintf(self->description, sizeof self->description,
             "%s: input \"%s\" (%s), output \"%s\" (%s), %u Hz, %s, a probe every %u frames",
             self->full_duplex ? "one full-duplex stream" : "two streams", Pa_GetDeviceInfo(in)->name,
             s_api_name(in), Pa_GetDeviceInfo(out)->name, s_api_name(out), self->rate, block, self->interval_frames);
    if (self->in_channels > 1 || self->out_channels > 1) {
        size_t len = strlen(self->description);
        snprintf(self->description + len, sizeof self->description - len,
                 " (on all %u output channels; the first of %u input channels analysed)", self->out_channels,
                 self->in_channels);
    }
    return self;
}

static void s_stop(ab_latency_t *self);

void ab_latency_destroy(ab_latency_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_latency_t *self = *self_p;
    PaStream *streams[] = {self->duplex, self->input, self->output};
    s_stop(self);
    for (size_t i = 0; i < 3 && !self->stalled; i++)
        if (streams[i])
            Pa_CloseStream(streams[i]);
    if (self->pa_initialized && !self->stalled)
        Pa_Terminate();
    if (self->stalled) { /* its callbacks may still come: self and its rings stay */
        ab_pa_keep_for_exit(self);
        *self_p = NULL;
        return;
    }
    ab_ring_destroy(&self->capture);
    ab_ring_destroy(&self->out_anchors);
    free(self->scratch);
    free(self->window);
    free(self->values);
    free(self);
    *self_p = NULL;
}

const char *ab_latency_description(const ab_latency_t *self)
{
    return self->description;
}

const char *ab_latency_output_port(const ab_latency_t *self)
{
    return self->output_port;
}

const char *ab_latency_input_port(const ab_latency_t *self)
{
    return self->input_port;
}

int ab_latency_list_devices(FILE *out)
{
    return ab_pa_list_devices(out, NULL);
}

/* ---- the analysis --------------------------------------------------------- */

static int s_compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int s_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Drop the input before frame (it is no longer needed). */
static void s_window_drop_before(ab_latency_t *self, uint64_t frame)
{
    if (frame <= self->window_base)
        return;
    uint64_t drop = frame - self->window_base;
    if (drop >= self->window_len) {
        self->window_base = frame;
        self->window_len = 0;
        return;
    }
    memmove(self->window, self->window + drop, (self->window_len - drop) * sizeof(float));
    self->window_len -= (size_t)drop;
    self->window_base = frame;
}

/* Append input frames starting at frame0 (zeros for a gap or a silent
 * chunk); when there is no room the oldest frames go. */
static void s_window_append(ab_latency_t *self, uint64_t frame0, const float *samples, size_t frames)
{
    uint64_t end = self->window_base + self->window_len;
    if (self->window_len == 0 && frame0 > end) {
        self->window_base = frame0;
        end = frame0;
    }
    if (frame0 + frames <= end)
        return; /* already have it */
    if (frame0 < end) {
        size_t skip = (size_t)(end - frame0);
        if (samples)
            samples += skip;
        frames -= skip;
        frame0 = end;
    }
    uint64_t gap = frame0 - end;
    uint64_t need = self->window_len + gap + frames;
    if (need > self->window_cap)
        s_window_drop_before(self, self->window_base + (need - self->window_cap));
    end = self->window_base + self->window_len;
    for (; end < frame0; end++)
        self->window[self->window_len++] = 0.0f;
    if (samples)
        memcpy(self->window + self->window_len, samples, frames * sizeof(float));
    else
        memset(self->window + self->window_len, 0, frames * sizeof(float));
    self->window_len += frames;
}

/* Two streams: where the output counter was when an input callback ran,
 * from the latest output callback before it, extrapolated at the rate. */
static void s_note_offset(ab_latency_t *self, const s_chunk_t *chunk)
{
    const s_anchor_t *best = NULL;
    for (size_t i = 0; i < self->anchor_count; i++) {
        const s_anchor_t *a = &self->anchors[i];
        if (a->time_ns <= chunk->time_ns && (!best || a->time_ns > best->time_ns))
            best = a;
    }
    if (!best)
        return;
    double out_frame = (double)best->frame0 + (double)(chunk->time_ns - best->time_ns) * self->rate / 1e9;
    self->offsets[self->offset_next] = (double)chunk->frame0 - out_frame;
    self->offset_next = (self->offset_next + 1) % AB_LAT_OFFSETS;
    if (self->offset_count < AB_LAT_OFFSETS)
        self->offset_count++;
}

/* Input frame = output frame + offset, at the same moment: 0 for one
 * full-duplex stream; the median of recent estimates for two. False until
 * there are enough estimates. */
static bool s_offset(ab_latency_t *self, int64_t *offset)
{
    if (self->full_duplex) {
        *offset = 0;
        return true;
    }
    if (self->offset_count < 8)
        return false;
    double sorted[AB_LAT_OFFSETS];
    memcpy(sorted, self->offsets, self->offset_count * sizeof(double));
    qsort(sorted, self->offset_count, sizeof(double), s_compare_double);
    *offset = (int64_t)llround(sorted[self->offset_count / 2]);
    return true;
}

/* Move what the callbacks produced into the analysis window. Returns the
 * number of input frames taken. */
static uint64_t s_drain(ab_latency_t *self)
{
    float *scratch = self->scratch;
    s_anchor_t anchor;
    while (ab_ring_read(self->out_anchors, &anchor, sizeof anchor) == 0) {
        self->anchors[self->anchor_next] = anchor;
        self->anchor_next = (self->anchor_next + 1) % AB_LAT_ANCHORS;
        if (self->anchor_count < AB_LAT_ANCHORS)
            self->anchor_count++;
    }
    uint64_t taken = 0;
    s_chunk_t chunk;
    while (ab_ring_read(self->capture, &chunk, sizeof chunk) == 0) {
        if (!chunk.silent) {
            ab_ring_read(self->capture, scratch, (size_t)chunk.frames * self->in_channels * sizeof(float));
            for (uint32_t f = 1; self->in_channels > 1 && f < chunk.frames; f++)
                scratch[f] = scratch[(size_t)f * self->in_channels]; /* the first channel */
        }
        if (!self->full_duplex)
            s_note_offset(self, &chunk);
        s_window_append(self, chunk.frame0, chunk.silent ? NULL : scratch, chunk.frames);
        taken += chunk.frames;
    }
    return taken;
}

static void s_compute_result(ab_latency_t *self)
{
    ab_latency_result_t *r = &self->result;
    r->probes = self->measured;
    r->found = 0;
    int64_t *sorted = malloc((self->measured ? self->measured : 1) * sizeof(int64_t));
    double sum = 0;
    for (uint32_t i = 0; i < self->measured; i++)
        if (self->values[i] >= 0) {
            if (sorted)
                sorted[r->found] = self->values[i];
            sum += (double)self->values[i];
            r->found++;
        }
    r->missed = r->probes - r->found;
    if (r->found && sorted) {
        qsort(sorted, r->found, sizeof(int64_t), s_compare_i64);
        r->min_frames = sorted[0];
        r->max_frames = sorted[r->found - 1];
        r->p50_frames = sorted[(size_t)ceil(0.50 * r->found) - 1];
        r->p99_frames = sorted[(size_t)ceil(0.99 * r->found) - 1];
        r->mean_frames = sum / r->found;
    }
    free(sorted);
    r->lost_frames = atomic_load(&self->dropped_frames);
    r->xruns = atomic_load(&self->xruns);
}

static int s_start(ab_latency_t *self, char *error, size_t error_len)
{
    PaStream *streams[] = {self->duplex, self->input, self->output};
    for (size_t i = 0; i < 3; i++) {
        if (!streams[i])
            continue;
        PaError err = Pa_StartStream(streams[i]);
        if (err != paNoError) {
            snprintf(error, error_len, "cannot start the %s stream: %s",
                     streams[i] == self->duplex ? "full-duplex" : streams[i] == self->input ? "input" : "output",
                     Pa_GetErrorText(err));
            return AB_EDEVICE;
        }
    }
    double reported = 0;
    if (self->duplex) {
        const PaStreamInfo *info = Pa_GetStreamInfo(self->duplex);
        reported = info ? info->inputLatency + info->outputLatency : 0;
    } else {
        const PaStreamInfo *in = Pa_GetStreamInfo(self->input), *out = Pa_GetStreamInfo(self->output);
        reported = (in ? in->inputLatency : 0) + (out ? out->outputLatency : 0);
    }
    self->result.reported_frames = reported * self->rate;
    return 0;
}

static void s_stop(ab_latency_t *self)
{
    PaStream *streams[] = {self->duplex, self->input, self->output};
    for (size_t i = 0; i < 3 && !self->stalled; i++)
        if (streams[i] && !ab_pa_stop_stream(streams[i], false, &self->callbacks, "audio"))
            self->stalled = true;
}

/* Analyse every probe whose window the input now covers. Window k holds the
 * input frames where probe k may come back: from the output frame it was
 * played at (mapped to the input counter) over one interval. */
static void s_analyse(ab_latency_t *self, uint64_t *next_probe, s_state_t *state, int64_t start_ns)
{
    size_t span = (size_t)self->interval_frames + AB_PROBE_FRAMES - 1;
    int64_t offset;
    while (*state != STATE_DONE && s_offset(self, &offset)) {
        int64_t start = (int64_t)(*next_probe * self->interval_frames) + offset;
        if (start < 0 || (uint64_t)start < self->window_base) {
            /* Its input is gone (before capture started, or dropped). */
            if (*state == STATE_MEASURING)
                self->values[self->measured++] = -1;
        } else if ((uint64_t)start + span > self->window_base + self->window_len) {
            return; /* not all there yet */
        } else {
            const float *x = self->window + ((uint64_t)start - self->window_base);
            ab_probe_match_t match = ab_probe_find(x, span, self->probes[*next_probe % AB_PROBE_CODES]);
            bool found = fabs(match.score) >= AB_PROBE_MIN_SCORE;
            if (*state == STATE_WAITING && found) {
                *state = STATE_MEASURING; /* this one may have come back only in part */
                atomic_store(&self->measuring, true);
                self->result.wait_seconds = (double)(ab_clock_mono_ns() - start_ns) / 1e9;
                ab_log_info("probe %llu came back after %lld frames: measuring %u probes",
                            (unsigned long long)*next_probe, (long long)match.lag, self->count);
            } else if (*state == STATE_MEASURING) {
                self->values[self->measured++] = found ? (int64_t)match.lag : -1;
                if (found) {
                    if (self->result.min_score == 0 || fabs(match.score) < self->result.min_score)
                        self->result.min_score = fabs(match.score);
                    if (match.score < 0)
                        self->result.inverted++;
                }
                ab_log_debug("probe %llu: %s at %zu frames (score %.3f)", (unsigned long long)*next_probe,
                             found ? "found" : "not found", match.lag, match.score);
            }
        }
        if (*state == STATE_MEASURING && self->measured == self->count)
            *state = STATE_DONE;
        (*next_probe)++;
        int64_t keep = (int64_t)(*next_probe * self->interval_frames) + offset - AB_LAT_SLACK;
        if (keep > 0)
            s_window_drop_before(self, (uint64_t)keep);
    }
}

int ab_latency_run(ab_latency_t *self, char *error, size_t error_len)
{
    memset(&self->result, 0, sizeof self->result);
    self->result.rate = self->rate;
    self->result.block_frames = self->block_frames;
    self->result.full_duplex = self->full_duplex;
    self->measured = 0;
    atomic_store(&self->measuring, false);
    int rc = s_start(self, error, error_len);
    if (rc)
        return rc;
    ab_log_info("waiting for the probes to come back: %s", self->loop_hint);
    int64_t start_ns = ab_clock_mono_ns(), last_input_ns = start_ns;
    uint64_t next_probe = 0;
    s_state_t state = STATE_WAITING;
    while (state != STATE_DONE) {
        if (ab_signal_stop_requested()) {
            snprintf(error, error_len, "stopped after %u of %u probes", self->measured, self->count);
            rc = AB_EINTR;
            break;
        }
        if (self->check && (rc = self->check(self->check_user, error, error_len)) != 0)
            break;
        int64_t now = ab_clock_mono_ns();
        if (s_drain(self) > 0)
            last_input_ns = now;
        s_analyse(self, &next_probe, &state, start_ns);
        if (state == STATE_DONE)
            break;
        if (state == STATE_WAITING && now - start_ns > (int64_t)(self->wait_seconds * 1e9)) {
            snprintf(error, error_len,
                     "no probe came back within %.1f s: %s (a cable, or jack_connect on JACK); a round trip "
                     "longer than the interval (%.3f s) is not found either: try a longer --interval; --wait "
                     "sets how long to wait",
                     self->wait_seconds, self->loop_hint, (double)self->interval_frames / self->rate);
            rc = AB_ETIMEOUT;
            break;
        }
        if (now - last_input_ns > (int64_t)(AB_LAT_STALL_SECONDS * 1e9)) {
            snprintf(error, error_len,
                     "the input delivered no audio for %.0f s after %llu frames: is the device (or the JACK "
                     "server) still running?",
                     AB_LAT_STALL_SECONDS, (unsigned long long)atomic_load(&self->captured_frames));
            rc = AB_EDEVICE;
            break;
        }
        ab_clock_sleep_ms(5);
    }
    s_stop(self);
    s_compute_result(self);
    return rc;
}

void ab_latency_result(const ab_latency_t *self, ab_latency_result_t *result)
{
    *result = self->result;
}

const int64_t *ab_latency_values(const ab_latency_t *self, size_t *n)
{
    *n = self->measured;
    return self->values;
}
