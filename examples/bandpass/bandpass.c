/* bandpass.c - audiobus plugin: spectral band-pass filter, republished as audio.
 *
 * Output "bandpass" (audio, the input's rate and channels, f32): every
 * channel filtered on its own by a short-time Fourier transform (ab_stft.h:
 * periodic Hann analysis and synthesis windows, overlap-add normalised for
 * exact reconstruction) in which every bin below `low` Hz or above `high` Hz
 * is set to zero and every other bin is kept as it is.
 *
 * Alignment: output frame f is input frame f filtered. The transform delays
 * its output by n_fft - 1 samples; the plugin takes that delay out of frame0
 * (and time_ns), so a block published after input block [F, F + N) covers
 * output frames [F - n_fft + 1, F + N - n_fft + 1), and the output stream
 * starts at the input's first frame. In wall-clock time the output is that
 * much late: (n_fft - 1) / rate seconds, 64 ms with the defaults at 16 kHz.
 * The last n_fft - 1 frames of a run are published when it ends: before a
 * gap (audio lost upstream, or a jump in frame0), where the filter restarts,
 * and at deactivate() (the end of the stream, or shutdown), after which
 * the host ends the output too. So the output has exactly the input's
 * frames, gaps included.
 *
 * Response, for tones at least 3 bins (3 * rate / n_fft Hz; 47 Hz with the
 * defaults at 16 kHz) from an edge: inside [low, high] they pass within
 * 0.5 dB (measured: within 0.001 dB), outside they are attenuated by at
 * least 40 dB (measured: 51 dB or more, counting every frequency their
 * leakage lands on), with hop = n_fft/4 or n_fft/2 (tests/test_bandpass.c).
 * Closer to an edge the response falls off over about three bins on each
 * side: raise n_fft for a sharper edge.
 *
 * Parameters: low and high (Hz, 0 <= low < high <= rate / 2; default
 * 300..3400, the telephone band), n_fft (even; auto = the smallest power of
 * two of at least 64 ms: 1024 at 16 kHz, 4096 at 44.1 or 48 kHz), hop
 * (samples between frames, 1..n_fft; auto = n_fft / 4).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <audiobus/ab_block.h>
#include <audiobus/ab_convert.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_stft.h>
#include <audiobus/ab_text.h>

#define BANDPASS_MAX_CHANNELS 256
#define BANDPASS_MAX_HZ 500000.0

typedef struct {
    const ab_plugin_host_t *host;
    double low, high;     /* Hz */
    uint32_t n_fft_param; /* 0 = auto */
    uint32_t hop_param;   /* 0 = auto */

    int active;
    uint32_t rate;
    uint32_t channels;
    uint32_t max_frames;
    uint32_t n_fft, hop, latency;
    uint32_t first_bin, last_bin; /* bins kept */
    uint32_t publish_frames;      /* largest block published at once */
    int32_t output;
    ab_stft_t **stft; /* one per channel */
    float *mono_in;   /* max_frames */
    float *mono_out;  /* max_frames */
    float *out;       /* max_frames * channels, interleaved */

    int started;       /* a run is in progress */
    uint64_t base;     /* frame0 of the run's first block */
    uint64_t expect;   /* frame0 of the next block if nothing is lost */
    int64_t last_time; /* time_ns of the frame at last_frame0 */
    uint64_t last_frame0;

    uint64_t runs;
    uint64_t skipped_blocks;
    uint64_t publish_failures;
} bandpass_t;

static const ab_plugin_param_info_t s_params[] = {
    {"low", "300", "lowest frequency kept, in Hz, >= 0"},
    {"high", "3400", "highest frequency kept, in Hz, above low and at most half the rate"},
    {"n_fft", "auto", "frame and FFT length in samples, even, 2..65536; auto = smallest power of two >= 64 ms"},
    {"hop", "auto", "samples between frames, 1..n_fft; auto = n_fft / 4"},
    {NULL, NULL, NULL},
};

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "bandpass: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    double low = 300.0, high = 3400.0;
    uint32_t n_fft = 0, hop = 0;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        if (strcmp(key, "low") == 0) {
            if (ab_text_parse_double(value, 0.0, BANDPASS_MAX_HZ, &low) != 0) {
                snprintf(error, error_len, "bandpass: bad value \"%s\" for low (expected Hz >= 0, e.g. low=300)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "high") == 0) {
            if (ab_text_parse_double(value, 0.0, BANDPASS_MAX_HZ, &high) != 0) {
                snprintf(error, error_len,
                         "bandpass: bad value \"%s\" for high (expected Hz above low and at most half the rate, "
                         "e.g. high=3400)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "n_fft") == 0) {
            if (strcmp(value, "auto") == 0) {
                n_fft = 0;
            } else if (ab_text_parse_u32(value, 0, AB_STFT_MAX_FFT, &n_fft) != 0 || n_fft < 2 || n_fft % 2 != 0) {
                snprintf(error, error_len,
                         "bandpass: bad value \"%s\" for n_fft (expected an even number of samples from 2 to %d, "
                         "or auto, e.g. n_fft=1024)",
                         value, AB_STFT_MAX_FFT);
                return NULL;
            }
        } else if (strcmp(key, "hop") == 0) {
            if (strcmp(value, "auto") == 0) {
                hop = 0;
            } else if (ab_text_parse_u32(value, 0, AB_STFT_MAX_FFT, &hop) != 0 || hop == 0) {
                snprintf(error, error_len,
                         "bandpass: bad value \"%s\" for hop (expected samples from 1 to n_fft, or auto, "
                         "e.g. hop=256)",
                         value);
                return NULL;
            }
        } else {
            snprintf(error, error_len, "bandpass: unknown parameter \"%s\" (accepted: low, high, n_fft, hop)", key);
            return NULL;
        }
    }
    if (high <= low) {
        snprintf(error, error_len, "bandpass: high %g Hz is not above low %g Hz (expected low < high, e.g. "
                 "low=300 high=3400)", high, low);
        return NULL;
    }
    if (n_fft != 0) {
        /* Known now: refuse a hop that cannot reconstruct before any audio. */
        ab_stft_config_t cfg = {.n_fft = n_fft, .hop = hop ? hop : n_fft / 4 ? n_fft / 4 : 1};
        char why[256];
        if (ab_stft_check(&cfg, why, sizeof why) != 0) {
            snprintf(error, error_len, "bandpass: n_fft=%u hop=%u refused: %s", cfg.n_fft, cfg.hop, why);
            return NULL;
        }
    }
    bandpass_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(error, error_len, "bandpass: out of memory");
        return NULL;
    }
    self->host = host;
    self->low = low;
    self->high = high;
    self->n_fft_param = n_fft;
    self->hop_param = hop;
    self->output = -1;
    return self;
}

static void s_free_buffers(bandpass_t *self)
{
    if (self->stft)
        for (uint32_t c = 0; c < self->channels; c++)
            ab_stft_destroy(&self->stft[c]);
    free(self->stft);
    free(self->mono_in);
    free(self->mono_out);
    free(self->out);
    self->stft = NULL;
    self->mono_in = self->mono_out = self->out = NULL;
}

/* Zero the bins outside [first_bin, last_bin]. [audio-thread] */
static void s_mask(float *spectrum, const ab_stft_frame_t *frame, void *user)
{
    const bandpass_t *self = user;
    for (uint32_t k = 0; k < self->first_bin; k++)
        spectrum[2 * k] = spectrum[2 * k + 1] = 0.0f;
    for (uint32_t k = self->last_bin + 1; k < frame->n_bins; k++)
        spectrum[2 * k] = spectrum[2 * k + 1] = 0.0f;
}

/* Publish output frames [frame0, frame0 + frames) held interleaved in
 * self->out, leaving out what precedes the run, in blocks the wire takes. */
static void s_publish(bandpass_t *self, int64_t frame0, uint32_t frames)
{
    const float *samples = self->out;
    if (frame0 < (int64_t)self->base) {
        uint64_t skip = (uint64_t)((int64_t)self->base - frame0);
        if (skip >= frames)
            return;
        samples += skip * self->channels;
        frames -= (uint32_t)skip;
        frame0 = (int64_t)self->base;
    }
    while (frames > 0) {
        uint32_t n = frames < self->publish_frames ? frames : self->publish_frames;
        double offset = (double)(frame0 - (int64_t)self->last_frame0);
        ab_plugin_output_block_t block = {
            .struct_size = sizeof(ab_plugin_output_block_t),
            .output = self->output,
            .frames = n,
            .channels = self->channels,
            .frame0 = (uint64_t)frame0,
            .time_ns = self->last_time + (int64_t)llround(offset * 1e9 / self->rate),
            .samples = samples,
            .label = NULL,
        };
        /* A full queue is counted and reported by the host as well. */
        if (self->host->publish(self->host->host_data, &block) != AB_PLUGIN_OK)
            self->publish_failures++;
        samples += (size_t)n * self->channels;
        frames -= n;
        frame0 += n;
    }
}

/* Filter frames of interleaved input (NULL: silence) into self->out. */
static void s_filter(bandpass_t *self, const float *input, uint32_t frames)
{
    const uint32_t ch = self->channels;
    for (uint32_t c = 0; c < ch; c++) {
        if (input)
            ab_convert_select_channel(input, ch, c, frames, self->mono_in);
        else
            memset(self->mono_in, 0, (size_t)frames * sizeof(float));
        ab_stft_process(self->stft[c], self->mono_in, self->mono_out, frames, s_mask, self);
        ab_convert_put_channel(self->mono_out, frames, ch, c, self->out);
    }
}

/* End the run: push silence through to bring out its last latency
 * frames, publish them, and restart the filters. [audio-thread] */
static void s_end_run(bandpass_t *self)
{
    if (!self->started)
        return;
    for (uint32_t done = 0; done < self->latency;) {
        uint32_t n = self->latency - done;
        if (n > self->max_frames)
            n = self->max_frames;
        s_filter(self, NULL, n);
        s_publish(self, (int64_t)(self->expect + done) - (int64_t)self->latency, n);
        done += n;
    }
    for (uint32_t c = 0; c < self->channels; c++)
        ab_stft_reset(self->stft[c]);
    self->started = 0;
}

static void s_deactivate(void *instance)
{
    bandpass_t *self = instance;
    if (!self->active)
        return;
    /* The host still sends what is published here (the stream's end). */
    s_end_run(self);
    if (self->skipped_blocks || self->publish_failures || self->runs > 1) {
        char line[224];
        snprintf(line, sizeof line,
                 "%llu runs (the filter restarts after each gap), %llu blocks skipped (channels other than %u or "
                 "longer than max_frames), %llu output blocks not accepted by the host",
                 (unsigned long long)self->runs, (unsigned long long)self->skipped_blocks, self->channels,
                 (unsigned long long)self->publish_failures);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }
    s_free_buffers(self);
    self->active = 0;
}

static int32_t s_activate(void *instance, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    bandpass_t *self = instance;
    s_deactivate(self);
    if (!format || format->struct_size < sizeof(ab_plugin_format_t) || format->rate == 0 ||
        format->channels == 0 || format->channels > BANDPASS_MAX_CHANNELS || format->max_frames == 0) {
        snprintf(error, error_len, "bandpass: unusable stream format (rate %u, channels %u, max_frames %u)",
                 format ? format->rate : 0u, format ? format->channels : 0u, format ? format->max_frames : 0u);
        return AB_PLUGIN_ERROR;
    }
    const double nyquist = format->rate / 2.0;
    if (self->high > nyquist) {
        snprintf(error, error_len,
                 "bandpass: high %g Hz is above half the rate of this %u Hz stream (expected high <= %g)",
                 self->high, format->rate, nyquist);
        return AB_PLUGIN_ERROR;
    }
    uint32_t n_fft = self->n_fft_param;
    if (n_fft == 0) {
        n_fft = 2;
        while (n_fft < AB_STFT_MAX_FFT && n_fft < 0.064 * format->rate)
            n_fft *= 2;
    }
    uint32_t hop = self->hop_param ? self->hop_param : n_fft / 4 ? n_fft / 4 : 1;
    ab_stft_config_t cfg = {
        .n_fft = n_fft, .hop = hop, .analysis = AB_STFT_WINDOW_HANN, .synthesis = AB_STFT_WINDOW_HANN};
    char why[256];
    if (ab_stft_check(&cfg, why, sizeof why) != 0) {
        snprintf(error, error_len, "bandpass: n_fft=%u hop=%u at %u Hz refused: %s", n_fft, hop, format->rate, why);
        return AB_PLUGIN_ERROR;
    }
    /* Bins kept: k * rate / n_fft in [low, high]. */
    const double bin_hz = (double)format->rate / n_fft;
    double first = ceil(self->low / bin_hz), last = floor(self->high / bin_hz);
    if (last > n_fft / 2)
        last = n_fft / 2;
    if (first > last) {
        snprintf(error, error_len,
                 "bandpass: the band %g..%g Hz holds no FFT bin at n_fft=%u (bins are %.2f Hz apart at %u Hz); "
                 "widen the band or raise n_fft",
                 self->low, self->high, n_fft, bin_hz, format->rate);
        return AB_PLUGIN_ERROR;
    }

    const uint32_t ch = format->channels;
    self->rate = format->rate;
    self->channels = ch;
    self->max_frames = format->max_frames;
    self->n_fft = n_fft;
    self->hop = hop;
    self->first_bin = (uint32_t)first;
    self->last_bin = (uint32_t)last;
    /* The wire takes at most AB_BLOCK_MAX_SAMPLE_BYTES of samples a block. */
    self->publish_frames = AB_BLOCK_MAX_SAMPLE_BYTES / (ch * (uint32_t)sizeof(float));
    if (self->publish_frames > AB_BLOCK_MAX_FRAMES)
        self->publish_frames = AB_BLOCK_MAX_FRAMES;
    self->stft = calloc(ch, sizeof(ab_stft_t *));
    self->mono_in = malloc((size_t)format->max_frames * sizeof(float));
    self->mono_out = malloc((size_t)format->max_frames * sizeof(float));
    self->out = malloc((size_t)format->max_frames * ch * sizeof(float));
    int ok = self->stft && self->mono_in && self->mono_out && self->out;
    for (uint32_t c = 0; ok && c < ch; c++)
        ok = (self->stft[c] = ab_stft_new(&cfg, why, sizeof why)) != NULL;
    if (!ok) {
        s_free_buffers(self);
        snprintf(error, error_len, "bandpass: cannot set up n_fft=%u hop=%u for %u channels (out of memory)", n_fft,
                 hop, ch);
        return AB_PLUGIN_ERROR;
    }
    self->latency = ab_stft_latency(self->stft[0]);
    self->output = self->host->declare_output(self->host->host_data, "bandpass", AB_PLUGIN_OUTPUT_AUDIO, ch, 0);
    if (self->output < 0) {
        s_free_buffers(self);
        snprintf(error, error_len, "bandpass: the host refused output \"bandpass\" (audio, %u channels)", ch);
        return AB_PLUGIN_ERROR;
    }

    char line[224];
    snprintf(line, sizeof line,
             "n_fft=%u (%.1f ms) hop=%u, keeping %g..%g Hz (bins %u..%u of %.2f Hz); output aligned with the input, "
             "published %.1f ms late",
             n_fft, 1000.0 * n_fft / format->rate, hop, self->low, self->high, self->first_bin, self->last_bin,
             bin_hz, 1000.0 * self->latency / format->rate);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);

    self->started = 0;
    self->runs = self->skipped_blocks = self->publish_failures = 0;
    self->active = 1;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *instance, const ab_plugin_block_t *block)
{
    bandpass_t *self = instance;
    if (block->channels != self->channels || block->frames > self->max_frames) {
        self->skipped_blocks++;
        return AB_PLUGIN_OK;
    }
    if (block->frames == 0)
        return AB_PLUGIN_OK;
    if (self->started && block->frame0 != self->expect)
        s_end_run(self); /* audio went missing: do not filter across the hole */
    if (!self->started) {
        self->base = block->frame0;
        self->started = 1;
        self->runs++;
    }
    self->expect = block->frame0 + block->frames;
    self->last_frame0 = block->frame0;
    self->last_time = block->time_ns;

    s_filter(self, block->samples, block->frames);
    s_publish(self, (int64_t)block->frame0 - (int64_t)self->latency, block->frames);
    return AB_PLUGIN_OK;
}

static void s_gap(void *instance, uint64_t frame0, uint64_t frames)
{
    (void)frame0, (void)frames;
    s_end_run(instance);
}

static void s_destroy(void *instance)
{
    bandpass_t *self = instance;
    if (!self)
        return;
    s_deactivate(self);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "bandpass",
    .version = "1.0.0",
    .description = "spectral band-pass filter (STFT, bins outside low..high Hz zeroed), republished as audio",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
    .gap = s_gap,
};
