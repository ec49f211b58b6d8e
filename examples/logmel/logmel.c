/* logmel.c - audiobus plugin: log-mel spectrogram of the stream (channels mixed to mono).
 *
 * Output "logmel" (features, channels = n_mels, hop = hop): after each input
 * block that completed at least one frame, one block with those frames, in
 * dB (10 log10 of the mel energy, floor -100 dB). A frame's frame0 is the
 * stream index of its first sample; frame k of a run covers samples
 * [frame0 + k hop, frame0 + k hop + n_fft). See ab_mel.h for the exact
 * analysis (periodic Hann, power spectrum, HTK mel triangles of peak 1).
 *
 * Defaults follow speech front ends: a window of at least 25 ms rounded up
 * to a power of two and a 10 ms hop, i.e. n_fft=512 hop=160 at 16 kHz and
 * n_fft=2048 hop=480 at 48 kHz; 40 bands from 0 Hz to half the rate.
 *
 * When blocks go missing upstream (frame0 jumps) the analysis restarts at
 * the new position instead of mixing audio from both sides of the gap.
 *
 * Once per second of audio it logs the frames of that second, their mean
 * and maximum dB, and the band loudest on average.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <audiobus/ab_mel.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_text.h>

#define LOGMEL_MAX_CHANNELS 256

typedef struct {
    const ab_plugin_host_t *host;
    uint32_t n_mels;
    uint32_t n_fft_param; /* 0 = auto */
    uint32_t hop_param;   /* 0 = auto */
    double fmin;
    double fmax; /* 0 = rate / 2 */
    int publish;

    int active;
    uint32_t rate;
    uint32_t channels;
    uint32_t max_frames;
    uint32_t n_fft;
    uint32_t hop;
    int32_t output;
    ab_logmel_t *mel;
    float *mono;   /* max_frames */
    float *frames; /* cap_frames * n_mels: frames of the current block */
    uint32_t cap_frames;
    uint32_t n_frames;
    uint64_t first_start; /* mel sample index of frames[0] */
    uint64_t base;        /* stream frame index of mel sample 0 */
    uint64_t expect;      /* frame0 of the next block if nothing is lost */
    int started;

    /* Summary of the current second. */
    double *band_sum; /* n_mels */
    double sum_db;
    float max_db;
    uint64_t sum_frames;
    uint64_t second_samples;

    uint64_t gaps;
    uint64_t overflow_frames;
    uint64_t skipped_blocks;
} logmel_t;

static const ab_plugin_param_info_t s_params[] = {
    {"n_mels", "40", "mel bands per frame, 1..1024"},
    {"n_fft", "auto", "window and FFT length in samples, even; auto = smallest power of two >= 25 ms"},
    {"hop", "auto", "samples between frames; auto = 10 ms"},
    {"fmin", "0", "lowest filter edge in Hz"},
    {"fmax", "0", "highest filter edge in Hz, at most half the rate; 0 = half the rate"},
    {"publish", "1", "1 = publish output \"logmel\", 0 = only log"},
    {NULL, NULL, NULL},
};

static int s_parse_uint(const char *text, unsigned long max, uint32_t *out)
{
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    unsigned long v = strtoul(text, &end, 10);
    if (*end != '\0' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int s_parse_hz(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= 0.0) || v > 500000.0)
        return -1;
    *out = v;
    return 0;
}

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "logmel: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    uint32_t n_mels = 40, n_fft = 0, hop = 0;
    double fmin = 0.0, fmax = 0.0;
    int publish = 1;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        if (strcmp(key, "n_mels") == 0) {
            if (s_parse_uint(value, AB_LOGMEL_MAX_MELS, &n_mels) != 0 || n_mels == 0) {
                snprintf(
                    error, error_len,
                    "logmel: bad value \"%s\" for n_mels (expected an integer from 1 to %d, e.g. n_mels=40)",
                    value, AB_LOGMEL_MAX_MELS);
                return NULL;
            }
        } else if (strcmp(key, "n_fft") == 0) {
            if (strcmp(value, "auto") == 0) {
                n_fft = 0;
            } else if (s_parse_uint(value, AB_LOGMEL_MAX_FFT, &n_fft) != 0 || n_fft < 2 || n_fft % 2 != 0) {
                snprintf(
                    error, error_len,
                    "logmel: bad value \"%s\" for n_fft (expected an even number of samples from 2 to %d, "
                    "or auto, e.g. n_fft=512)",
                    value, AB_LOGMEL_MAX_FFT);
                return NULL;
            }
        } else if (strcmp(key, "hop") == 0) {
            if (strcmp(value, "auto") == 0) {
                hop = 0;
            } else if (s_parse_uint(value, 1000000, &hop) != 0 || hop == 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for hop (expected samples from 1 to 1000000, or auto, "
                         "e.g. hop=160)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "fmin") == 0) {
            if (s_parse_hz(value, &fmin) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for fmin (expected Hz >= 0, e.g. fmin=20)", value);
                return NULL;
            }
        } else if (strcmp(key, "fmax") == 0) {
            if (s_parse_hz(value, &fmax) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for fmax (expected Hz > fmin, or 0 for half the rate, "
                         "e.g. fmax=8000)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "publish") == 0) {
            if (ab_text_parse_bool(value, &publish) != 0) {
                snprintf(error, error_len, "logmel: bad value \"%s\" for publish (expected 1 or 0)", value);
                return NULL;
            }
        } else {
            snprintf(error, error_len,
                     "logmel: unknown parameter \"%s\" (accepted: n_mels, n_fft, hop, fmin, fmax, publish)",
                     key);
            return NULL;
        }
    }
    if (fmax > 0.0 && fmax <= fmin) {
        snprintf(error, error_len,
                 "logmel: fmax %g Hz is not above fmin %g Hz (expected fmin < fmax, or fmax=0)", fmax, fmin);
        return NULL;
    }
    logmel_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(error, error_len, "logmel: out of memory");
        return NULL;
    }
    self->host = host;
    self->n_mels = n_mels;
    self->n_fft_param = n_fft;
    self->hop_param = hop;
    self->fmin = fmin;
    self->fmax = fmax;
    self->publish = publish;
    self->output = -1;
    return self;
}

static void s_free_buffers(logmel_t *self)
{
    ab_logmel_destroy(&self->mel);
    free(self->mono);
    free(self->frames);
    free(self->band_sum);
    self->mono = self->frames = NULL;
    self->band_sum = NULL;
}

static void s_deactivate(void *instance)
{
    logmel_t *self = instance;
    if (!self->active)
        return;
    if (self->gaps || self->overflow_frames || self->skipped_blocks) {
        char line[192];
        snprintf(line, sizeof line,
                 "%llu gaps in the input (analysis restarted), %llu frames lost, %llu blocks skipped "
                 "(channels other than %u or longer than max_frames)",
                 (unsigned long long)self->gaps, (unsigned long long)self->overflow_frames,
                 (unsigned long long)self->skipped_blocks, self->channels);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }
    s_free_buffers(self);
    self->active = 0;
}

static void s_summary_reset(logmel_t *self)
{
    for (uint32_t m = 0; m < self->n_mels; m++)
        self->band_sum[m] = 0.0;
    self->sum_db = 0.0;
    self->max_db = -INFINITY;
    self->sum_frames = 0;
}

static int32_t s_activate(void *instance, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    logmel_t *self = instance;
    s_deactivate(self);
    if (!format || format->struct_size < sizeof(ab_plugin_format_t) || format->rate == 0 ||
        format->channels == 0 || format->channels > LOGMEL_MAX_CHANNELS || format->max_frames == 0) {
        snprintf(error, error_len, "logmel: unusable stream format (rate %u, channels %u, max_frames %u)",
                 format ? format->rate : 0u, format ? format->channels : 0u,
                 format ? format->max_frames : 0u);
        return AB_PLUGIN_ERROR;
    }
    double nyquist = format->rate / 2.0;
    double fmax = self->fmax > 0.0 ? self->fmax : nyquist;
    if (fmax > nyquist || self->fmin >= fmax) {
        snprintf(error, error_len,
                 "logmel: bad band %g..%g Hz for a %u Hz stream (expected 0 <= fmin < fmax <= %g, or fmax=0)",
                 self->fmin, fmax, format->rate, nyquist);
        return AB_PLUGIN_ERROR;
    }
    uint32_t n_fft = self->n_fft_param, hop = self->hop_param;
    if (n_fft == 0) {
        n_fft = 2;
        while (n_fft < AB_LOGMEL_MAX_FFT && n_fft * 40.0 < format->rate) /* 25 ms */
            n_fft *= 2;
    }
    if (hop == 0) {
        hop = (uint32_t)lround(format->rate / 100.0);
        if (hop == 0)
            hop = 1;
    }
    ab_logmel_config_t cfg = {
        .rate = format->rate,
        .n_fft = n_fft,
        .hop = hop,
        .n_mels = self->n_mels,
        .fmin = (float)self->fmin,
        .fmax = (float)fmax,
        .floor = 1e-10f,
    };
    self->rate = format->rate;
    self->channels = format->channels;
    self->max_frames = format->max_frames;
    self->n_fft = n_fft;
    self->hop = hop;
    self->cap_frames = format->max_frames / hop + 2;
    self->mel = ab_logmel_new(&cfg);
    self->mono = malloc((size_t)format->max_frames * sizeof(float));
    self->frames = malloc((size_t)self->cap_frames * self->n_mels * sizeof(float));
    self->band_sum = calloc(self->n_mels, sizeof(double));
    if (!self->mel || !self->mono || !self->frames || !self->band_sum) {
        s_free_buffers(self);
        snprintf(error, error_len, "logmel: cannot set up n_fft=%u hop=%u n_mels=%u at %u Hz (out of memory)",
                 n_fft, hop, self->n_mels, format->rate);
        return AB_PLUGIN_ERROR;
    }
    self->output = -1;
    if (self->publish) {
        self->output = self->host->declare_output(self->host->host_data, "logmel", AB_PLUGIN_OUTPUT_FEATURES,
                                                  self->n_mels, hop);
        if (self->output < 0) {
            s_free_buffers(self);
            snprintf(error, error_len, "logmel: the host refused output \"logmel\" (%u channels, hop %u)",
                     self->n_mels, hop);
            return AB_PLUGIN_ERROR;
        }
    }

    /* Bands narrower than the FFT's bin spacing get no energy at all. */
    double bin_hz = (double)format->rate / n_fft;
    uint32_t empty = 0;
    for (uint32_t m = 0; m < self->n_mels; m++) {
        float lo, hi;
        ab_logmel_band_hz(self->mel, m, &lo, NULL, &hi);
        if ((floor(lo / bin_hz) + 1.0) * bin_hz >= hi)
            empty++;
    }
    char line[192];
    snprintf(line, sizeof line, "n_fft=%u (%.1f ms) hop=%u (%.1f ms) n_mels=%u %g..%g Hz", n_fft,
             1000.0 * n_fft / format->rate, hop, 1000.0 * hop / format->rate, self->n_mels, self->fmin, fmax);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    if (empty > 0) {
        snprintf(line, sizeof line,
                 "%u of %u mel bands hold no FFT bin and stay at -100 dB (raise n_fft or lower n_mels)",
                 empty, self->n_mels);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }

    self->n_frames = 0;
    self->started = 0;
    self->gaps = self->overflow_frames = self->skipped_blocks = 0;
    self->second_samples = 0;
    s_summary_reset(self);
    self->active = 1;
    return AB_PLUGIN_OK;
}

static void s_on_frame(const float *mels, uint64_t start, void *user)
{
    logmel_t *self = user;
    const uint32_t n = self->n_mels;
    if (self->n_frames == 0)
        self->first_start = start;
    if (self->n_frames < self->cap_frames) {
        memcpy(self->frames + (size_t)self->n_frames * n, mels, n * sizeof(float));
        self->n_frames++;
    } else {
        self->overflow_frames++; /* cannot happen with cap_frames = max_frames / hop + 2 */
    }
    for (uint32_t m = 0; m < n; m++) {
        self->band_sum[m] += mels[m];
        self->sum_db += mels[m];
        if (mels[m] > self->max_db)
            self->max_db = mels[m];
    }
    self->sum_frames++;
}

/* One line about the second of audio that just ended. */
static void s_report(logmel_t *self)
{
    if (self->sum_frames == 0)
        return;
    uint32_t loudest = 0;
    for (uint32_t m = 1; m < self->n_mels; m++)
        if (self->band_sum[m] > self->band_sum[loudest])
            loudest = m;
    float center = 0.0f;
    ab_logmel_band_hz(self->mel, loudest, NULL, &center, NULL);
    char line[128], *p = line, *end = line + sizeof line;
    ab_text_put_u64(&p, end, self->sum_frames);
    ab_text_put_str(&p, end, " frames, mean ");
    ab_text_put_fixed1(&p, end, self->sum_db / ((double)self->sum_frames * self->n_mels));
    ab_text_put_str(&p, end, " dB, max ");
    ab_text_put_fixed1(&p, end, self->max_db);
    ab_text_put_str(&p, end, " dB, loudest band ");
    ab_text_put_u64(&p, end, loudest);
    ab_text_put_str(&p, end, " (");
    ab_text_put_u64(&p, end, (uint64_t)llround(center));
    ab_text_put_str(&p, end, " Hz)");
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    s_summary_reset(self);
}

static int32_t s_process(void *instance, const ab_plugin_block_t *block)
{
    logmel_t *self = instance;
    const uint32_t ch = self->channels;
    if (block->channels != ch || block->frames > self->max_frames) {
        self->skipped_blocks++;
        return AB_PLUGIN_OK;
    }
    if (block->frames == 0)
        return AB_PLUGIN_OK;
    if (!self->started || block->frame0 != self->expect) {
        if (self->started)
            self->gaps++;
        ab_logmel_reset(self->mel);
        self->base = block->frame0;
        self->started = 1;
    }
    self->expect = block->frame0 + block->frames;

    const float *x = block->samples;
    if (ch == 1) {
        memcpy(self->mono, x, (size_t)block->frames * sizeof(float));
    } else {
        const float scale = 1.0f / ch;
        for (uint32_t i = 0; i < block->frames; i++, x += ch) {
            float sum = 0.0f;
            for (uint32_t c = 0; c < ch; c++)
                sum += x[c];
            self->mono[i] = sum * scale;
        }
    }
    self->n_frames = 0;
    ab_logmel_push(self->mel, self->mono, block->frames, s_on_frame, self);

    if (self->n_frames > 0 && self->output >= 0) {
        uint64_t frame0 = self->base + self->first_start;
        /* The first frame may start in an earlier block. */
        int64_t offset = (int64_t)(frame0 - block->frame0);
        ab_plugin_output_block_t out = {
            .struct_size = sizeof(ab_plugin_output_block_t),
            .output = self->output,
            .frames = self->n_frames,
            .channels = self->n_mels,
            .frame0 = frame0,
            .time_ns = block->time_ns + (int64_t)((double)offset * 1e9 / self->rate),
            .samples = self->frames,
            .label = NULL,
        };
        self->host->publish(self->host->host_data, &out);
    }

    self->second_samples += block->frames;
    if (self->second_samples >= self->rate) {
        self->second_samples %= self->rate;
        s_report(self);
    }
    return AB_PLUGIN_OK;
}

static void s_destroy(void *instance)
{
    logmel_t *self = instance;
    if (!self)
        return;
    s_deactivate(self);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "logmel",
    .version = "1.0.0",
    .description = "log-mel spectrogram (HTK mel, power, dB) of the stream mixed to mono",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
