/* wavwrite.c - audiobus plugin: write the stream to a WAV file.
 *
 * process() only copies samples into a lock-free ring; a writer thread
 * started by activate() drains the ring into libsndfile. With format=auto
 * (the default) the file keeps the stream's wire format and receives the
 * block's raw bytes, so it is sample-for-sample what arrived. Another format
 * is converted from the f32 samples: clamped to [-1, 1), scaled by 2^15 or
 * 2^31 and rounded to nearest (ab_convert.h).
 *
 * The file is opened (and truncated) by activate() and closed with a valid
 * header by deactivate(), after everything buffered has been written. A WAV
 * file has one shape, so when the host activates again (the stream changed
 * rate, channels or format, or restarted) the recording goes on in a new
 * file, "rec.wav" then "rec-2.wav", "rec-3.wav"..., never over the old one. It is
 * a plain RIFF/WAVE file (format tag PCM or IEEE float), which every reader
 * opens; its header is kept up to date while writing, so a file cut short
 * by a crash still opens. WAV sizes are 32-bit: audio past 4 GiB of samples
 * (3.1 hours of 48 kHz stereo f32) is not written, and that is logged.
 *
 * When the ring is full (the disk slower than the stream for longer than
 * `buffer` seconds) the frames that do not fit are dropped and counted;
 * blocks whose channels, rate or wire format differ from the stream's are
 * skipped and counted; missing blocks upstream (frame0 jumps) are counted
 * as gaps and not filled. Drops and skips are logged from process() as
 * they happen, at most once per second of audio; deactivate() logs one
 * final line with every count.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sndfile.h>

#include <audiobus/ab_convert.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_text.h>
#include <audiobus/ab_ring.h>

#define WAVWRITE_MAX_CHANNELS 256
#define WAVWRITE_MAX_BUFFER_S 3600.0
#define WAVWRITE_CHUNK_FRAMES 4096
#define WAVWRITE_IDLE_NS 5000000L
/* The RIFF size field is 32 bits; keep room for the header. */
#define WAVWRITE_MAX_DATA_BYTES (UINT32_MAX - 65536u)

typedef struct {
    const ab_plugin_host_t *host;
    char *path;            /* as given */
    char *file;            /* the file of this activation */
    uint32_t activations;  /* files opened so far */
    uint32_t format_param; /* 0 = auto, else AB_PLUGIN_FORMAT_* */
    double buffer_s;

    int active;
    uint32_t rate;
    uint32_t channels;
    uint32_t raw_format;  /* the stream's */
    uint32_t file_format; /* AB_PLUGIN_FORMAT_* of the file */
    int passthrough;      /* file_format == raw_format: the ring carries raw bytes */
    size_t ring_frame_bytes;
    SNDFILE *sf;
    ab_ring_t *ring;

    /* Writer thread. */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    uint8_t *chunk;  /* WAVWRITE_CHUNK_FRAMES frames as read from the ring */
    void *converted; /* the same frames in the file's format */
    int failed;      /* a write failed or the file is full: drain, write nothing more */
    uint64_t max_frames_in_file;

    /* Counters: written by one thread, read by another. */
    atomic_uint_fast64_t written_frames;
    atomic_uint_fast64_t unwritten_frames; /* after a write error or the size limit */
    atomic_uint_fast64_t dropped_frames;
    atomic_uint_fast64_t skipped_blocks;
    atomic_uint_fast64_t gaps;

    /* Audio thread only. */
    uint64_t expect;
    int started;
    uint64_t frames_since_report;
    uint64_t reported_dropped;
    uint64_t reported_skipped;
} wavwrite_t;

static const ab_plugin_param_info_t s_params[] = {
    {"path", NULL, "WAV file to write (required; overwritten)"},
    {"format", "auto", "sample format of the file: auto (as on the wire, bit-exact), f32, s16 or s32"},
    {"buffer", "10", "seconds of audio buffered between the stream and the disk"},
    {NULL, NULL, NULL},
};

static size_t s_sample_bytes(uint32_t format)
{
    return format == AB_PLUGIN_FORMAT_S16 ? 2 : 4;
}

static const char *s_format_name(uint32_t format)
{
    switch (format) {
    case AB_PLUGIN_FORMAT_F32: return "f32";
    case AB_PLUGIN_FORMAT_S16: return "s16";
    case AB_PLUGIN_FORMAT_S32: return "s32";
    default: return "unknown";
    }
}

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "wavwrite: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    const char *path = NULL;
    uint32_t format = 0;
    double buffer_s = 10.0;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        if (strcmp(key, "path") == 0) {
            if (value[0] == '\0') {
                snprintf(error, error_len,
                         "wavwrite: bad value \"\" for path (expected a file name, e.g. path=out.wav)");
                return NULL;
            }
            path = value;
        } else if (strcmp(key, "format") == 0) {
            if (strcmp(value, "auto") == 0)
                format = 0;
            else if (strcmp(value, "f32") == 0)
                format = AB_PLUGIN_FORMAT_F32;
            else if (strcmp(value, "s16") == 0)
                format = AB_PLUGIN_FORMAT_S16;
            else if (strcmp(value, "s32") == 0)
                format = AB_PLUGIN_FORMAT_S32;
            else {
                snprintf(error, error_len,
                         "wavwrite: bad value \"%s\" for format (expected auto, f32, s16 or s32)", value);
                return NULL;
            }
        } else if (strcmp(key, "buffer") == 0) {
            char *end = NULL;
            double v = strtod(value, &end);
            if (end == value || *end != '\0' || !(v > 0.0) || v > WAVWRITE_MAX_BUFFER_S) {
                snprintf(
                    error, error_len,
                    "wavwrite: bad value \"%s\" for buffer (expected seconds > 0 and <= %g, e.g. buffer=10)",
                    value, WAVWRITE_MAX_BUFFER_S);
                return NULL;
            }
            buffer_s = v;
        } else {
            snprintf(error, error_len, "wavwrite: unknown parameter \"%s\" (accepted: path, format, buffer)",
                     key);
            return NULL;
        }
    }
    if (!path) {
        snprintf(error, error_len, "wavwrite: missing parameter path (expected path=FILE.wav)");
        return NULL;
    }
    wavwrite_t *self = calloc(1, sizeof(*self));
    char *path_copy = strdup(path);
    if (!self || !path_copy) {
        free(self);
        free(path_copy);
        snprintf(error, error_len, "wavwrite: out of memory");
        return NULL;
    }
    self->host = host;
    self->path = path_copy;
    self->format_param = format;
    self->buffer_s = buffer_s;
    return self;
}

/* The file of the next activation: path itself the first time, then
 * path with "-2", "-3"... before its extension. NULL when out of memory. */
static char *s_next_file(const wavwrite_t *self)
{
    if (self->activations == 0)
        return strdup(self->path);
    const char *slash = strrchr(self->path, '/');
    const char *base = slash ? slash + 1 : self->path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - self->path) : strlen(self->path);
    size_t len = strlen(self->path) + 16;
    char *name = malloc(len);
    if (name)
        snprintf(name, len, "%.*s-%u%s", (int)stem, self->path, self->activations + 1, self->path + stem);
    return name;
}

/* Convert n frames of native f32 in self->chunk to the file's format. */
static void s_convert(wavwrite_t *self, size_t n)
{
    const float *in = (const float *)(const void *)self->chunk;
    /* The plugin ABI's format numbers are the wire's. */
    ab_convert_from_f32((ab_format_t)self->file_format, in, self->converted, n * self->channels, NULL);
}

/* Write n frames from self->chunk; returns 0 or -1 with sf's error set. */
static int s_write_chunk(wavwrite_t *self, size_t n)
{
    if (self->passthrough) {
        /* Wire and WAV are both little-endian: the bytes go in as they are. */
        sf_count_t bytes = (sf_count_t)(n * self->ring_frame_bytes);
        return sf_write_raw(self->sf, self->chunk, bytes) == bytes ? 0 : -1;
    }
    s_convert(self, n);
    sf_count_t frames = (sf_count_t)n, done;
    if (self->file_format == AB_PLUGIN_FORMAT_S16)
        done = sf_writef_short(self->sf, self->converted, frames);
    else if (self->file_format == AB_PLUGIN_FORMAT_S32)
        done = sf_writef_int(self->sf, self->converted, frames);
    else
        done = sf_writef_float(self->sf, self->converted, frames);
    return done == frames ? 0 : -1;
}

static void *s_writer(void *arg)
{
    wavwrite_t *self = arg;
    const size_t fb = self->ring_frame_bytes;
    for (;;) {
        /* Read stop first: everything written before it was set is then
         * visible in read_space, so no frame is left behind. */
        int stopping = atomic_load_explicit(&self->stop, memory_order_acquire);
        size_t n = ab_ring_read_space(self->ring) / fb;
        if (n > WAVWRITE_CHUNK_FRAMES)
            n = WAVWRITE_CHUNK_FRAMES;
        if (n == 0) {
            if (stopping)
                break;
            struct timespec idle = {0, WAVWRITE_IDLE_NS};
            nanosleep(&idle, NULL);
            continue;
        }
        ab_ring_read(self->ring, self->chunk, n * fb);
        uint64_t written = atomic_load_explicit(&self->written_frames, memory_order_relaxed);
        size_t room = written < self->max_frames_in_file ? (size_t)(self->max_frames_in_file - written) : 0;
        size_t keep = self->failed ? 0 : n < room ? n : room;
        if (keep > 0 && s_write_chunk(self, keep) != 0) {
            self->failed = 1;
            char message[512];
            snprintf(message, sizeof message, "wavwrite: cannot write to \"%s\": %s", self->file,
                     sf_strerror(self->sf));
            self->host->fail(self->host->host_data, message);
            keep = 0;
        }
        if (keep < n && !self->failed) {
            self->failed = 1;
            char message[512];
            snprintf(
                message, sizeof message,
                "\"%s\" is full: a WAV file holds 4 GiB of samples; the rest of the stream is not written",
                self->file);
            self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, message);
        }
        /* Frames not kept are drained all the same, so process() never waits. */
        atomic_fetch_add_explicit(&self->written_frames, keep, memory_order_relaxed);
        atomic_fetch_add_explicit(&self->unwritten_frames, n - keep, memory_order_relaxed);
    }
    return NULL;
}

static void s_release(wavwrite_t *self)
{
    if (self->sf) {
        int rc = sf_close(self->sf);
        if (rc != 0) {
            char message[512];
            snprintf(message, sizeof message, "cannot finish \"%s\": %s", self->file, sf_error_number(rc));
            self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, message);
        }
        self->sf = NULL;
    }
    ab_ring_destroy(&self->ring);
    free(self->chunk);
    free(self->converted);
    self->chunk = NULL;
    self->converted = NULL;
}

static void s_deactivate(void *instance)
{
    wavwrite_t *self = instance;
    if (!self->active)
        return;
    atomic_store_explicit(&self->stop, 1, memory_order_release);
    if (self->thread_started) {
        pthread_join(self->thread, NULL);
        self->thread_started = 0;
    }
    s_release(self);

    uint64_t written = atomic_load(&self->written_frames), dropped = atomic_load(&self->dropped_frames),
             unwritten = atomic_load(&self->unwritten_frames), skipped = atomic_load(&self->skipped_blocks),
             gaps = atomic_load(&self->gaps);
    char line[768], lost[96] = "";
    if (unwritten)
        snprintf(lost, sizeof lost, ", %llu frames not written", (unsigned long long)unwritten);
    snprintf(
        line, sizeof line,
        "wrote %llu frames (%.1f s, %s) to \"%s\"; dropped %llu frames, skipped %llu blocks, %llu gaps%s",
        (unsigned long long)written, (double)written / self->rate, s_format_name(self->file_format),
        self->file, (unsigned long long)dropped, (unsigned long long)skipped, (unsigned long long)gaps, lost);
    self->host->log(self->host->host_data,
                    dropped || skipped || gaps || unwritten ? AB_PLUGIN_LOG_WARN : AB_PLUGIN_LOG_INFO, line);
    self->active = 0;
}

static int32_t s_activate(void *instance, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    wavwrite_t *self = instance;
    s_deactivate(self);
    if (!format || format->struct_size < sizeof(ab_plugin_format_t) || format->rate == 0 ||
        format->channels == 0 || format->channels > WAVWRITE_MAX_CHANNELS || format->max_frames == 0) {
        snprintf(error, error_len, "wavwrite: unusable stream format (rate %u, channels %u, max_frames %u)",
                 format ? format->rate : 0u, format ? format->channels : 0u,
                 format ? format->max_frames : 0u);
        return AB_PLUGIN_ERROR;
    }
    uint32_t raw = format->raw_format;
    if (raw != AB_PLUGIN_FORMAT_F32 && raw != AB_PLUGIN_FORMAT_S16 && raw != AB_PLUGIN_FORMAT_S32) {
        snprintf(error, error_len, "wavwrite: unknown stream sample format %u", raw);
        return AB_PLUGIN_ERROR;
    }
    self->rate = format->rate;
    self->channels = format->channels;
    self->raw_format = raw;
    self->file_format = self->format_param ? self->format_param : raw;
    self->passthrough = self->file_format == raw;
    self->ring_frame_bytes = (self->passthrough ? s_sample_bytes(raw) : sizeof(float)) * format->channels;

    double ring_bytes = ceil(self->buffer_s * format->rate) * (double)self->ring_frame_bytes;
    self->ring = ring_bytes <= (double)(1ull << 34) ? ab_ring_new((size_t)ring_bytes) : NULL;
    self->chunk = malloc(WAVWRITE_CHUNK_FRAMES * self->ring_frame_bytes);
    self->converted = malloc(WAVWRITE_CHUNK_FRAMES * (size_t)format->channels * sizeof(float));
    if (!self->ring || !self->chunk || !self->converted) {
        s_release(self);
        snprintf(error, error_len,
                 "wavwrite: cannot allocate %.0f bytes for buffer=%g s (try a smaller buffer)", ring_bytes,
                 self->buffer_s);
        return AB_PLUGIN_ERROR;
    }

    free(self->file);
    self->file = s_next_file(self);
    if (!self->file) {
        s_release(self);
        snprintf(error, error_len, "wavwrite: out of memory");
        return AB_PLUGIN_ERROR;
    }

    int subtype = self->file_format == AB_PLUGIN_FORMAT_S16   ? SF_FORMAT_PCM_16
                  : self->file_format == AB_PLUGIN_FORMAT_S32 ? SF_FORMAT_PCM_32
                                                              : SF_FORMAT_FLOAT;
    SF_INFO info = {.samplerate = (int)format->rate,
                    .channels = (int)format->channels,
                    .format = SF_FORMAT_WAV | subtype | SF_ENDIAN_FILE};
    self->sf = sf_open(self->file, SFM_WRITE, &info);
    if (!self->sf) {
        snprintf(error, error_len, "wavwrite: cannot open \"%s\" for writing: %s (check path=)", self->file,
                 sf_strerror(NULL));
        s_release(self);
        return AB_PLUGIN_ERROR;
    }
    sf_command(self->sf, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
    if (self->activations++ > 0) {
        char line[1024];
        snprintf(line, sizeof line, "the stream is now %u Hz, %u ch, %s: recording goes on in \"%s\"",
                 format->rate, format->channels, s_format_name(raw), self->file);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    }
    self->max_frames_in_file =
        WAVWRITE_MAX_DATA_BYTES / (s_sample_bytes(self->file_format) * format->channels);

    atomic_store(&self->stop, 0);
    atomic_store(&self->written_frames, 0);
    atomic_store(&self->unwritten_frames, 0);
    atomic_store(&self->dropped_frames, 0);
    atomic_store(&self->skipped_blocks, 0);
    atomic_store(&self->gaps, 0);
    self->failed = 0;
    self->started = 0;
    self->frames_since_report = format->rate; /* the first problem is reported at once */
    self->reported_dropped = self->reported_skipped = 0;

    /* The writer takes no signals: they belong to the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->thread, NULL, s_writer, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        s_release(self);
        snprintf(error, error_len, "wavwrite: cannot start the writer thread: %s", strerror(rc));
        return AB_PLUGIN_ERROR;
    }
    self->thread_started = 1;
    self->active = 1;

    size_t ring_frames = ab_ring_capacity(self->ring) / self->ring_frame_bytes;
    if (ring_frames < format->max_frames) {
        char line[192];
        snprintf(line, sizeof line,
                 "buffer=%g s holds %zu frames, fewer than one block of up to %u: expect dropped frames "
                 "(raise buffer)",
                 self->buffer_s, ring_frames, format->max_frames);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }
    return AB_PLUGIN_OK;
}

/* At most once per second of audio: say what went missing since last time. */
static void s_report(wavwrite_t *self)
{
    uint64_t dropped = atomic_load_explicit(&self->dropped_frames, memory_order_relaxed);
    uint64_t skipped = atomic_load_explicit(&self->skipped_blocks, memory_order_relaxed);
    if (dropped == self->reported_dropped && skipped == self->reported_skipped)
        return;
    char line[160], *p = line, *end = line + sizeof line;
    if (dropped != self->reported_dropped) {
        ab_text_put_str(&p, end, "dropped ");
        ab_text_put_u64(&p, end, dropped - self->reported_dropped);
        ab_text_put_str(&p, end, " frames, the disk is behind (");
        ab_text_put_u64(&p, end, dropped);
        ab_text_put_str(&p, end, " in all)");
    }
    if (skipped != self->reported_skipped) {
        ab_text_put_str(&p, end, dropped != self->reported_dropped ? "; " : "");
        ab_text_put_str(&p, end, "skipped ");
        ab_text_put_u64(&p, end, skipped - self->reported_skipped);
        ab_text_put_str(&p, end, " blocks of another channel count, rate or format");
    }
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    self->reported_dropped = dropped;
    self->reported_skipped = skipped;
    self->frames_since_report = 0;
}

static int32_t s_process(void *instance, const ab_plugin_block_t *block)
{
    wavwrite_t *self = instance;
    const size_t fb = self->ring_frame_bytes;
    if (block->frames == 0)
        return AB_PLUGIN_OK;
    self->frames_since_report += block->frames;

    int usable = block->channels == self->channels && block->rate == self->rate;
    if (usable && self->passthrough)
        usable =
            block->raw_format == self->raw_format && block->raw && block->raw_bytes == block->frames * fb;
    if (usable && !self->passthrough)
        usable = block->samples != NULL;
    if (!usable) {
        atomic_fetch_add_explicit(&self->skipped_blocks, 1, memory_order_relaxed);
    } else {
        if (self->started && block->frame0 != self->expect)
            atomic_fetch_add_explicit(&self->gaps, 1, memory_order_relaxed);
        self->started = 1;
        self->expect = block->frame0 + block->frames;

        const void *src = self->passthrough ? block->raw : (const void *)block->samples;
        size_t fit = ab_ring_write_space(self->ring) / fb;
        size_t n = block->frames < fit ? block->frames : fit;
        if (n > 0)
            ab_ring_write(self->ring, src, n * fb);
        if (n < block->frames)
            atomic_fetch_add_explicit(&self->dropped_frames, block->frames - n, memory_order_relaxed);
    }
    if (self->frames_since_report >= self->rate)
        s_report(self);
    return AB_PLUGIN_OK;
}

static void s_destroy(void *instance)
{
    wavwrite_t *self = instance;
    if (!self)
        return;
    s_deactivate(self);
    free(self->path);
    free(self->file);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "wavwrite",
    .version = "1.0.0",
    .description = "write the stream to a WAV file, bit-exact, from a thread of its own",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
