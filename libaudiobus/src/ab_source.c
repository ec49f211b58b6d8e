/* ab_source.c - capture sources feeding the recorder's lock-free ring:
 * PortAudio input, sound files and synthetic signals. */
#include "audiobus/ab_source.h"

#include <ctype.h>
#include <math.h>
#include <portaudio.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_clock.h"
#include "audiobus/ab_convert.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_ring.h"
#include "ab_pa.h"

typedef enum { KIND_PORTAUDIO, KIND_FILE, KIND_SYNTH } s_kind_t;
typedef enum { SYNTH_SINE, SYNTH_NOISE, SYNTH_COUNTER, SYNTH_IMPULSE } s_synth_t;

/* The callback-time histogram: 8 buckets per octave (12.5% wide) above
 * 8 ns, so a percentile is known to within an eighth, not a factor of two. */
#define AB_HIST_SUB 8
#define AB_HIST_BUCKETS (AB_HIST_SUB + 61 * AB_HIST_SUB)

/* Chunk header as stored in the ring, followed by the samples. */
typedef struct {
    uint64_t frame0;
    int64_t time_ns;
    uint32_t frames;
    uint32_t reserved;
} s_chunk_header_t;

struct ab_source {
    s_kind_t kind;
    s_synth_t synth;
    double synth_hz;
    float *synth_values; /* one chunk of synthetic samples, before conversion to the format */
    float *sine_table; /* one exact period of synth:sine, when the frequency is a whole number of Hz */
    uint32_t sine_period;
    uint32_t rate, channels, block_frames;
    ab_format_t format;
    size_t frame_bytes;
    double speed;
    uint64_t max_frames;
    char description[512];
    ab_ring_t *ring;

    /* PortAudio */
    PaStream *stream;
    bool pa_initialized;
    bool stalled; /* its callbacks stopped: not to be stopped, closed or terminated */
    /* wall time = ADC time + this; set by the first callback that has
     * timestamps (the stream clock may start before Pa_StartStream returns) */
    int64_t adc_to_wall_ns;
    bool adc_mapped;
    /* files and synth: made on the reader's thread */
    SNDFILE *file;
    void *scratch; /* one chunk of silence, for a callback without input */
    uint64_t noise_state;
    int64_t start_mono_ns, start_wall_ns; /* when ab_source_start() ran */
    unsigned late_polls; /* reader: polls since a device's callback was due (backs off) */

    /* written only by the producer (the callback, or the reader for files and synth) */
    uint64_t produced_frames;
    atomic_uint_fast64_t frames;
    atomic_uint_fast64_t overrun_frames;
    atomic_uint_fast64_t overrun_events;
    atomic_uint_fast64_t device_overflows;
    atomic_uint_fast64_t callback_count;
    atomic_uint_fast64_t callback_max_ns;
    atomic_uint_fast64_t callback_hist[AB_HIST_BUCKETS];
    /* when the last callback started and its frames: the reader sleeps
     * until the next one is due rather than being woken */
    atomic_int_fast64_t callback_started_ns;
    atomic_uint_fast32_t callback_frames;
    atomic_bool finished;
    atomic_bool stop;
};

/* ---- the producer side: the callback ------------------------------------- */

/* Write one chunk into the ring, all or nothing. Real-time safe. */
static bool s_push_chunk(ab_source_t *self, uint64_t frame0, int64_t time_ns, const void *samples, uint32_t frames)
{
    s_chunk_header_t header = {.frame0 = frame0, .time_ns = time_ns, .frames = frames};
    size_t bytes = (size_t)frames * self->frame_bytes;
    return ab_ring_write2(self->ring, &header, sizeof header, samples, bytes) == 0;
}

/* The bucket of a duration, and the upper edge (exclusive) of a bucket. */
static int s_hist_bucket(uint64_t ns)
{
    if (ns < AB_HIST_SUB)
        return (int)ns;
    int octave = 63 - __builtin_clzll(ns); /* >= 3 */
    int sub = (int)((ns >> (octave - 3)) & (AB_HIST_SUB - 1));
    int bucket = AB_HIST_SUB + (octave - 3) * AB_HIST_SUB + sub;
    return bucket < AB_HIST_BUCKETS ? bucket : AB_HIST_BUCKETS - 1;
}

static uint64_t s_hist_upper_edge(int bucket)
{
    if (bucket < AB_HIST_SUB)
        return (uint64_t)bucket + 1;
    int octave = 3 + (bucket - AB_HIST_SUB) / AB_HIST_SUB, sub = (bucket - AB_HIST_SUB) % AB_HIST_SUB;
    return (uint64_t)(AB_HIST_SUB + sub + 1) << (octave - 3);
}

static void s_record_duration(ab_source_t *self, uint64_t ns)
{
    int bucket = s_hist_bucket(ns);
    atomic_fetch_add_explicit(&self->callback_count, 1, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&self->callback_max_ns, memory_order_relaxed);
    if (ns > max)
        atomic_store_explicit(&self->callback_max_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&self->callback_hist[bucket], 1, memory_order_relaxed);
}

/* The PortAudio callback: copy into the ring and return. No allocation,
 * lock, log, ZeroMQ, msgpack or system call here: the reader is not woken
 * (a sem_post is a futex call, and waking a thread on the other CPU costs
 * a VM an exit to the hypervisor: it set this callback's worst times), it
 * sleeps until the next callback is due (ab_source_wait()). */
static int s_pa_callback(const void *input, void *output, unsigned long frame_count,
                         const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)output;
    ab_source_t *self = user;
    int64_t started = ab_clock_mono_ns();
    uint64_t frame0 = self->produced_frames;
    uint32_t frames = (uint32_t)frame_count;
    bool last = false;
    if (self->max_frames && frame0 + frames >= self->max_frames) {
        frames = (uint32_t)(self->max_frames - frame0);
        last = true;
    }
    if (flags & paInputOverflow)
        atomic_fetch_add_explicit(&self->device_overflows, 1, memory_order_relaxed);
    int64_t time_ns;
    if (time_info && time_info->inputBufferAdcTime > 0 && time_info->currentTime > 0) {
        if (!self->adc_mapped) { /* clock_gettime is a vDSO read: no syscall */
            self->adc_to_wall_ns = ab_clock_wall_ns() - (int64_t)(time_info->currentTime * 1e9);
            self->adc_mapped = true;
        }
        time_ns = (int64_t)(time_info->inputBufferAdcTime * 1e9) + self->adc_to_wall_ns;
    } else
        time_ns = ab_clock_wall_ns() - (int64_t)frames * 1000000000 / self->rate;
    /* No input buffer (a host API may do that on an error): silence, from
     * the zeroed scratch chunk the pacing thread would otherwise use. */
    if (!input && frames > self->block_frames)
        frames = self->block_frames;
    if (frames && !s_push_chunk(self, frame0, time_ns, input ? input : self->scratch, frames)) {
        atomic_fetch_add_explicit(&self->overrun_frames, frames, memory_order_relaxed);
        atomic_fetch_add_explicit(&self->overrun_events, 1, memory_order_relaxed);
    }
    self->produced_frames = frame0 + frames;
    atomic_store_explicit(&self->frames, self->produced_frames, memory_order_release);
    atomic_store_explicit(&self->callback_frames, (uint32_t)frame_count, memory_order_relaxed);
    atomic_store_explicit(&self->callback_started_ns, started, memory_order_release);
    if (last)
        atomic_store(&self->finished, true);
    s_record_duration(self, (uint64_t)(ab_clock_mono_ns() - started));
    return last ? paComplete : paContinue;
}

static void s_pa_finished(void *user)
{
    ab_source_t *self = user;
    atomic_store(&self->finished, true);
}

/* ---- synthetic signals and files ---------------------------------------- */

static float s_sine_at(const ab_source_t *self, uint64_t frame)
{
    return 0.5f * (float)sin(2.0 * M_PI * self->synth_hz * (double)(frame % ((uint64_t)self->rate * 1000)) / self->rate);
}

static uint64_t s_gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A whole-Hz sine repeats exactly every rate / gcd(rate, Hz) frames: keep
 * one period, so that synthesis is a table look-up rather than a sin() a
 * sample (which limited a recorder to ~40k blocks/s of 512 frames). */
static void s_prepare_sine(ab_source_t *self)
{
    if (self->synth != SYNTH_SINE || self->synth_hz != floor(self->synth_hz) || self->synth_hz > self->rate)
        return;
    uint64_t period = self->rate / s_gcd(self->rate, (uint64_t)self->synth_hz);
    self->sine_table = malloc(period * sizeof *self->sine_table);
    if (!self->sine_table)
        return; /* sin() a sample still works */
    self->sine_period = (uint32_t)period;
    for (uint64_t i = 0; i < period; i++)
        self->sine_table[i] = s_sine_at(self, i);
}

/* Fill frames of the synthetic signal starting at frame0. */
static void s_synthesize(ab_source_t *self, uint64_t frame0, uint32_t frames, void *out)
{
    uint32_t ch = self->channels;
    if (self->synth == SYNTH_COUNTER) {
        /* Sample k (interleaved index) carries k, exactly representable in each format. */
        for (size_t index = 0; index < (size_t)frames * ch; index++) {
            uint64_t k = frame0 * ch + index;
            if (self->format == AB_FORMAT_F32)
                ((float *)out)[index] = (float)(k & 0xFFFFFF);
            else if (self->format == AB_FORMAT_S16)
                ((int16_t *)out)[index] = (int16_t)(uint16_t)(k & 0xFFFF);
            else
                ((int32_t *)out)[index] = (int32_t)(k & 0x7FFFFFFF);
        }
        return;
    }
    /* The others are made as floats, then converted to the format at once. */
    float *values = self->synth_values;
    uint32_t phase = self->sine_table ? (uint32_t)(frame0 % self->sine_period) : 0;
    if (self->synth == SYNTH_SINE && self->sine_table && ch == 1) {
        /* The common case, and the one benchmarks drive hard: runs of the table. */
        for (uint32_t f = 0; f < frames;) {
            uint32_t run = self->sine_period - phase;
            if (run > frames - f)
                run = frames - f;
            memcpy(values + f, self->sine_table + phase, (size_t)run * sizeof(float));
            f += run;
            phase = 0;
        }
        ab_convert_from_f32(self->format, values, out, frames, NULL);
        return;
    }
    for (uint32_t f = 0; f < frames; f++) {
        uint64_t frame = frame0 + f;
        float value = 0.0f;
        if (self->synth == SYNTH_SINE && self->sine_table) {
            value = self->sine_table[phase];
            if (++phase == self->sine_period)
                phase = 0;
        } else if (self->synth == SYNTH_SINE) {
            value = s_sine_at(self, frame);
        } else if (self->synth == SYNTH_IMPULSE) {
            value = frame % self->rate == 0 ? (self->format == AB_FORMAT_F32 ? 1.0f : 0.999f) : 0.0f;
        }
        for (uint32_t c = 0; c < ch; c++) {
            if (self->synth == SYNTH_NOISE) {
                self->noise_state ^= self->noise_state << 13;
                self->noise_state ^= self->noise_state >> 7;
                self->noise_state ^= self->noise_state << 17;
                value = (float)((double)(self->noise_state >> 11) / 9007199254740992.0 - 0.5);
            }
            values[(size_t)f * ch + c] = value;
        }
    }
    ab_convert_from_f32(self->format, values, out, (size_t)frames * ch, NULL);
}

/* Read up to frames from the file in the stream's format. */
static uint32_t s_read_file(ab_source_t *self, uint32_t frames, void *out)
{
    sf_count_t got;
    switch (self->format) {
    case AB_FORMAT_S16: got = sf_readf_short(self->file, out, frames); break;
    case AB_FORMAT_S32: got = sf_readf_int(self->file, out, frames); break;
    default: got = sf_readf_float(self->file, out, frames); break;
    }
    return got > 0 ? (uint32_t)got : 0;
}

/* Where frame0 of a file or synthetic signal lies after the start, in ns
 * of the clock (at --speed; at the real-time pace for speed 0). */
static int64_t s_offset_ns(const ab_source_t *self, uint64_t frame0)
{
    return (int64_t)((double)frame0 / self->rate / (self->speed > 0 ? self->speed : 1.0) * 1e9);
}

/* When the chunk starting at frame0 is due (mono ns): at the capture time
 * of frame0, its time stamp (a device delivers a chunk a chunk's duration
 * later, once its last frame is in: latencies measured from synthetic
 * signals leave that duration out); at once for speed 0 (as fast as it
 * goes). */
static int64_t s_due_ns(const ab_source_t *self, uint64_t frame0)
{
    return self->speed > 0 ? self->start_mono_ns + s_offset_ns(self, frame0) : 0;
}

/* Files and synthetic signals are made on the reader's thread when their
 * time comes: no thread of their own, so no hand-over (a thread wake-up)
 * between making a chunk and publishing it. A slow reader delays the
 * chunks, it loses none; their time stamps stay the nominal ones, so the
 * delay shows as latency. Returns 0, or AB_EEMPTY (not due yet, or the
 * end). [sender-thread] */
static int s_make_due_chunk(ab_source_t *self, ab_source_chunk_t *chunk, void *samples, size_t cap)
{
    if (atomic_load(&self->finished) || atomic_load(&self->stop)) {
        atomic_store(&self->finished, true);
        return AB_EEMPTY;
    }
    uint64_t frame0 = self->produced_frames;
    uint32_t frames = self->block_frames;
    if (self->max_frames && frame0 + frames > self->max_frames)
        frames = (uint32_t)(self->max_frames - frame0);
    if (frames == 0) {
        atomic_store(&self->finished, true);
        return AB_EEMPTY;
    }
    if (ab_clock_mono_ns() < s_due_ns(self, frame0))
        return AB_EEMPTY;
    if ((size_t)frames * self->frame_bytes > cap)
        return AB_ETOOBIG;
    if (self->kind == KIND_FILE)
        frames = s_read_file(self, frames, samples);
    else
        s_synthesize(self, frame0, frames, samples);
    if (frames == 0) { /* end of file */
        atomic_store(&self->finished, true);
        return AB_EEMPTY;
    }
    chunk->frame0 = frame0;
    chunk->time_ns = self->start_wall_ns + s_offset_ns(self, frame0);
    chunk->frames = frames;
    self->produced_frames = frame0 + frames;
    atomic_store_explicit(&self->frames, self->produced_frames, memory_order_release);
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static int s_open_file(ab_source_t *self, const ab_source_config_t *config, const char *path, char *error,
                       size_t error_len)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    self->file = sf_open(path, SFM_READ, &info);
    if (!self->file) {
        snprintf(error, error_len, "cannot open sound file \"%s\": %s", path, sf_strerror(NULL));
        return AB_EIO;
    }
    if (config->rate && config->rate != (uint32_t)info.samplerate) {
        snprintf(error, error_len, "\"%s\" is %d Hz but --rate says %u; audiobus does not resample (omit --rate)",
                 path, info.samplerate, config->rate);
        return AB_ECONFIG;
    }
    if (config->channels && config->channels != (uint32_t)info.channels) {
        snprintf(error, error_len, "\"%s\" has %d channel(s) but --channels says %u (omit --channels)", path,
                 info.channels, config->channels);
        return AB_ECONFIG;
    }
    self->rate = (uint32_t)info.samplerate;
    self->channels = (uint32_t)info.channels;
    if (!config->format) {
        int sub = info.format & SF_FORMAT_SUBMASK;
        self->format = sub == SF_FORMAT_PCM_16 ? AB_FORMAT_S16 : sub == SF_FORMAT_PCM_32 ? AB_FORMAT_S32 : AB_FORMAT_F32;
    }
    snprintf(self->description, sizeof self->description, "file %s", path);
    return 0;
}

static int s_parse_synth(ab_source_t *self, const char *what, char *error, size_t error_len)
{
    char name[32];
    const char *colon = strchr(what, ':');
    snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - what) : (int)strlen(what), what);
    self->synth_hz = 440.0;
    if (!strcmp(name, "sine")) {
        self->synth = SYNTH_SINE;
        if (colon) {
            char *end;
            self->synth_hz = strtod(colon + 1, &end);
            if (*end || !(self->synth_hz > 0)) {
                snprintf(error, error_len, "bad frequency \"%s\" in synth:sine:HZ (e.g. synth:sine:1000)", colon + 1);
                return AB_ECONFIG;
            }
        }
    } else if (!strcmp(name, "noise") && !colon) {
        self->synth = SYNTH_NOISE;
    } else if (!strcmp(name, "counter") && !colon) {
        self->synth = SYNTH_COUNTER;
    } else if (!strcmp(name, "impulse") && !colon) {
        self->synth = SYNTH_IMPULSE;
    } else {
        snprintf(error, error_len,
                 "unknown synthetic source \"synth:%s\" (expected synth:sine[:HZ], synth:noise, synth:counter, "
                 "synth:impulse)",
                 what);
        return AB_ECONFIG;
    }
    self->noise_state = 0x9E3779B97F4A7C15ull;
    snprintf(self->description, sizeof self->description, "synthetic %s", what);
    return 0;
}

bool ab_source_has_default_input(void)
{
    if (ab_pa_initialize() != paNoError)
        return false;
    bool has = Pa_GetDefaultInputDevice() != paNoDevice;
    Pa_Terminate();
    return has;
}

static int s_pa_init(ab_source_t *self, char *error, size_t error_len)
{
    ab_pa_set_jack_client_name("audiobus-record");
    PaError err = ab_pa_initialize();
    if (err != paNoError) {
        snprintf(error, error_len, "cannot initialise PortAudio: %s", Pa_GetErrorText(err));
        return AB_EDEVICE;
    }
    self->pa_initialized = true;
    return 0;
}

static int s_open_portaudio(ab_source_t *self, const ab_source_config_t *config, const char *device, char *error,
                            size_t error_len)
{
    int rc = s_pa_init(self, error, error_len);
    if (rc)
        return rc;
    PaDeviceIndex index = ab_pa_find_device(device, config->host_api, AB_PA_INPUT,
                                            "pick one with --source portaudio:NAME, see audiobus record "
                                            "--list-devices, or use --source file:PATH",
                                            "audiobus record --list-devices", error, error_len);
    if (index == paNoDevice)
        return AB_EDEVICE;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(index);
    if (self->channels > (uint32_t)info->maxInputChannels) {
        snprintf(error, error_len, "input device \"%s\" has %d channel(s); --channels %u is too many", info->name,
                 info->maxInputChannels, self->channels);
        return AB_EDEVICE;
    }
    PaStreamParameters params;
    memset(&params, 0, sizeof params);
    params.device = index;
    params.channelCount = (int)self->channels;
    params.sampleFormat = self->format == AB_FORMAT_S16 ? paInt16 : self->format == AB_FORMAT_S32 ? paInt32 : paFloat32;
    params.suggestedLatency = info->defaultLowInputLatency;
    PaError err = Pa_OpenStream(&self->stream, &params, NULL, self->rate, self->block_frames, paNoFlag,
                                s_pa_callback, self);
    if (err != paNoError) {
        snprintf(error, error_len, "cannot open input device \"%s\" at %u Hz, %u channel(s), %s: %s", info->name,
                 self->rate, self->channels, ab_format_name(self->format), Pa_GetErrorText(err));
        return AB_EDEVICE;
    }
    Pa_SetStreamFinishedCallback(self->stream, s_pa_finished);
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    snprintf(self->description, sizeof self->description, "input device \"%s\" (%s)", info->name,
             api ? api->name : "?");
    return 0;
}

ab_source_t *ab_source_new(const ab_source_config_t *config, char *error, size_t error_len)
{
    const char *spec = config->spec ? config->spec : "portaudio";
    ab_source_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->rate = config->rate ? config->rate : 48000;
    self->channels = config->channels ? config->channels : 1;
    self->format = config->format ? config->format : AB_FORMAT_F32;
    self->block_frames = config->block_frames ? config->block_frames : 256;
    self->speed = config->speed;
    self->max_frames = config->max_frames;
    int rc;
    if (!strcmp(spec, "portaudio") || !strncmp(spec, "portaudio:", 10)) {
        self->kind = KIND_PORTAUDIO;
        rc = s_open_portaudio(self, config, spec[9] == ':' ? spec + 10 : NULL, error, error_len);
    } else if (!strncmp(spec, "file:", 5) && spec[5]) {
        self->kind = KIND_FILE;
        rc = s_open_file(self, config, spec + 5, error, error_len);
    } else if (!strncmp(spec, "synth:", 6) && spec[6]) {
        self->kind = KIND_SYNTH;
        rc = s_parse_synth(self, spec + 6, error, error_len);
    } else {
        snprintf(error, error_len,
                 "unknown source \"%s\" (expected portaudio[:DEVICE], file:PATH, synth:sine[:HZ], synth:noise, "
                 "synth:counter or synth:impulse)",
                 spec);
        rc = AB_ECONFIG;
    }
    if (rc == 0 && config->duration_seconds > 0)
        self->max_frames = (uint64_t)llround(config->duration_seconds * self->rate);
    if (rc == 0)
        s_prepare_sine(self);
    if (rc == 0) {
        self->frame_bytes = (size_t)self->channels * ab_format_size(self->format);
        size_t chunk_bytes = sizeof(s_chunk_header_t) + (size_t)self->block_frames * self->frame_bytes;
        double seconds = config->ring_seconds > 0 ? config->ring_seconds : 4.0;
        size_t capacity = (size_t)(seconds * self->rate) * self->frame_bytes;
        capacity += capacity / self->block_frames * sizeof(s_chunk_header_t) / self->frame_bytes + 4 * chunk_bytes;
        if (self->kind == KIND_PORTAUDIO) /* files and synth are made when read */
            self->ring = ab_ring_new(capacity);
        self->scratch = calloc(1, chunk_bytes);
        self->synth_values = calloc((size_t)self->block_frames * self->channels, sizeof(float));
        if ((self->kind == KIND_PORTAUDIO && !self->ring) || !self->scratch || !self->synth_values) {
            snprintf(error, error_len, "out of memory for a %.1f s capture ring", seconds);
            rc = AB_ENOMEM;
        }
    }
    if (rc) {
        ab_source_destroy(&self);
        return NULL;
    }
    size_t len = strlen(self->description);
    snprintf(self->description + len, sizeof self->description - len, ", %u Hz, %u ch, %s", self->rate,
             self->channels, ab_format_name(self->format));
    return self;
}

int ab_source_start(ab_source_t *self, char *error, size_t error_len)
{
    if (self->kind == KIND_PORTAUDIO) {
        self->adc_mapped = false; /* the callback maps the stream clock anew */
        PaError err = Pa_StartStream(self->stream);
        if (err != paNoError) {
            snprintf(error, error_len, "cannot start %s: %s", self->description, Pa_GetErrorText(err));
            return AB_EDEVICE;
        }
        return 0;
    }
    self->start_mono_ns = ab_clock_mono_ns();
    self->start_wall_ns = ab_clock_wall_ns();
    return 0;
}

void ab_source_stop(ab_source_t *self)
{
    atomic_store(&self->stop, true);
    if (self->stream && !self->stalled && !ab_pa_stop_stream(self->stream, false, &self->callback_count, "capture"))
        self->stalled = true;
    atomic_store(&self->finished, true);
}

void ab_source_destroy(ab_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_source_t *self = *self_p;
    ab_source_stop(self);
    if (self->stream && !self->stalled)
        Pa_CloseStream(self->stream);
    if (self->pa_initialized && !self->stalled)
        Pa_Terminate();
    if (self->stalled) { /* its callbacks may still come: self and its ring stay */
        ab_pa_keep_for_exit(self);
        *self_p = NULL;
        return;
    }
    if (self->file)
        sf_close(self->file);
    ab_ring_destroy(&self->ring);
    free(self->scratch);
    free(self->sine_table);
    free(self->synth_values);
    free(self);
    *self_p = NULL;
}

uint32_t ab_source_rate(const ab_source_t *self)
{
    return self->rate;
}

uint32_t ab_source_channels(const ab_source_t *self)
{
    return self->channels;
}

ab_format_t ab_source_format(const ab_source_t *self)
{
    return self->format;
}

const char *ab_source_description(const ab_source_t *self)
{
    return self->description;
}

bool ab_source_finished(const ab_source_t *self)
{
    return atomic_load(&self->finished);
}

int ab_source_read(ab_source_t *self, ab_source_chunk_t *chunk, void *samples, size_t cap)
{
    if (self->kind != KIND_PORTAUDIO)
        return s_make_due_chunk(self, chunk, samples, cap);
    s_chunk_header_t header;
    if (ab_ring_peek(self->ring, &header, sizeof header) != 0)
        return AB_EEMPTY;
    size_t bytes = (size_t)header.frames * self->frame_bytes;
    if (bytes > cap)
        return AB_ETOOBIG; /* cannot happen: chunks are at most block_frames */
    self->late_polls = 0;
    ab_ring_skip(self->ring, sizeof header);
    ab_ring_read(self->ring, samples, bytes);
    chunk->frame0 = header.frame0;
    chunk->time_ns = header.time_ns;
    chunk->frames = header.frames;
    return 0;
}

/* After a callback is due, how long its chunk is looked for; how often
 * again when it is late (doubling up to the most: before the first
 * callback, on a stalled device, or between bursts of callbacks when the
 * host's buffer is several blocks long). */
#define AB_SOURCE_DUE_SLACK_NS 150000
#define AB_SOURCE_LATE_POLL_NS 500000
#define AB_SOURCE_LATE_POLL_MAX_NS 4000000

/* When a device's next chunk should be in the ring (mono ns): the last
 * callback's start + its duration + a little; when that has passed (before
 * the first callback, on a stalled device, or between bursts of callbacks),
 * a poll that backs off. The callback does not wake the reader, see
 * s_pa_callback(). */
static int64_t s_callback_due_ns(ab_source_t *self, int64_t now)
{
    int64_t last = atomic_load_explicit(&self->callback_started_ns, memory_order_acquire);
    uint32_t frames = atomic_load_explicit(&self->callback_frames, memory_order_relaxed);
    int64_t due = last + (int64_t)frames * 1000000000 / self->rate + AB_SOURCE_DUE_SLACK_NS;
    if (last && due > now)
        return due;
    int64_t poll = (int64_t)AB_SOURCE_LATE_POLL_NS << (self->late_polls < 3 ? self->late_polls : 3);
    self->late_polls++;
    return now + (poll < AB_SOURCE_LATE_POLL_MAX_NS ? poll : AB_SOURCE_LATE_POLL_MAX_NS);
}

void ab_source_wait(ab_source_t *self, int timeout_ms)
{
    if (atomic_load(&self->finished) || atomic_load(&self->stop))
        return; /* nothing more comes: what is left is read at once */
    if (self->kind == KIND_PORTAUDIO && ab_ring_read_space(self->ring) > 0)
        return;
    int64_t now = ab_clock_mono_ns();
    int64_t due = self->kind == KIND_PORTAUDIO ? s_callback_due_ns(self, now) : s_due_ns(self, self->produced_frames);
    int64_t limit = now + (int64_t)timeout_ms * 1000000;
    ab_clock_sleep_until(due < limit ? due : limit);
}

uint64_t ab_source_overrun_frames(const ab_source_t *self)
{
    return atomic_load(&self->overrun_frames);
}

uint64_t ab_source_overrun_events(const ab_source_t *self)
{
    return atomic_load(&self->overrun_events);
}

uint64_t ab_source_device_overflows(const ab_source_t *self)
{
    return atomic_load(&self->device_overflows);
}

uint64_t ab_source_frames(const ab_source_t *self)
{
    return atomic_load(&self->frames);
}

uint64_t ab_source_callback_count(const ab_source_t *self)
{
    return atomic_load(&self->callback_count);
}

uint64_t ab_source_callback_max_ns(const ab_source_t *self)
{
    return atomic_load(&self->callback_max_ns);
}

uint64_t ab_source_callback_percentile_ns(const ab_source_t *self, double p)
{
    uint64_t total = atomic_load(&self->callback_count);
    if (total == 0)
        return 0;
    uint64_t target = (uint64_t)ceil(p * (double)total), seen = 0;
    for (int b = 0; b < AB_HIST_BUCKETS; b++) {
        seen += atomic_load(&self->callback_hist[b]);
        if (seen >= target) { /* the bucket's upper edge, or the maximum when that is lower */
            uint64_t edge = s_hist_upper_edge(b), max = atomic_load(&self->callback_max_ns);
            return edge < max ? edge : max;
        }
    }
    return atomic_load(&self->callback_max_ns);
}

int ab_source_list_devices(FILE *out)
{
    return ab_pa_list_devices(out, "no default input device: use --source portaudio:NAME, file:PATH or synth:...");
}
