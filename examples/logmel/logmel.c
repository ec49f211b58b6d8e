/* logmel.c - audiobus plugin: log-mel spectrogram of the stream (channels mixed to mono).
 *
 * Output "logmel" (features, channels = n_mels, hop = hop): after each input
 * block that completed at least one frame, one block with those frames. By
 * default each value is in dB (10 log10 of the mel energy, floor -100 dB);
 * scale, spectrum, norm, window, log and floor choose the other analyses
 * that ab_mel.h defines formula by formula (Slaney's mel scale, magnitude
 * spectrum, area-normalised triangles, natural log...). A frame's frame0 is
 * the stream index of its first sample; frame k of a run covers samples
 * [frame0 + k hop, frame0 + k hop + n_fft).
 *
 * Defaults follow speech front ends: a window of at least 25 ms rounded up
 * to a power of two and a 10 ms hop, i.e. n_fft=512 hop=160 at 16 kHz and
 * n_fft=2048 hop=480 at 48 kHz; 40 bands from 0 Hz to half the rate.
 *
 * When blocks go missing upstream (frame0 jumps) the analysis restarts at
 * the new position instead of mixing audio from both sides of the gap.
 *
 * Once per second of audio it logs the frames of that second, their mean
 * and maximum dB, and the band loudest on average (with log=ln or none the
 * values are converted to dB for this line).
 *
 * png=PATH draws the spectrogram as an 8-bit greyscale PNG: one column per
 * frame (time left to right), one row per band (band 0 at the bottom), so
 * width = frames and height = n_mels. Grey level g = 255 (v - bottom) /
 * (top - bottom), rounded and clamped to 0..255, of each value v in dB,
 * where top is the largest value in the picture and bottom = max(top -
 * png_range, the floor in dB); all black when top = bottom. Values of
 * log=ln become dB as v 10 / ln(10), those of log=none as 10 log10(max(v,
 * floor)) (20 instead of 10 for magnitude). process() only
 * copies each frame into a buffer allocated by activate(), which holds the
 * last png_seconds of frames: beyond that the oldest columns are dropped,
 * and the log says how many. The file is opened (truncated) by activate(),
 * so a bad path fails at once, and written by deactivate(): when the
 * stream ends or the processor stops, or before the host activates again
 * for a stream that changed shape. Like wavwrite, a later activation writes "spec-2.png",
 * "spec-3.png"... instead of the first file. A file that cannot be written
 * is logged as an error with the path and the system's reason, and a
 * partial file is removed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <audiobus/ab_convert.h>
#include <audiobus/ab_mel.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_text.h>

#include "png_write.h"

#define LOGMEL_MAX_CHANNELS 256
/* The picture's frame buffer may take at most this much memory. */
#define LOGMEL_PNG_MAX_BYTES (1024.0 * 1024 * 1024)

typedef struct {
    const ab_plugin_host_t *host;
    uint32_t n_mels;
    uint32_t n_fft_param; /* 0 = auto */
    uint32_t hop_param;   /* 0 = auto */
    double fmin;
    double fmax;  /* 0 = rate / 2 */
    double floor; /* 0 = the default of the spectrum kind */
    ab_mel_scale_t scale;
    ab_mel_spectrum_t spectrum;
    ab_mel_norm_t norm;
    ab_mel_window_t window;
    ab_mel_log_t log_kind;
    int publish;
    char *png_path;     /* NULL: no picture */
    double png_seconds; /* of frames kept for the picture */
    double png_range;   /* dB from black to white */
    uint32_t activations;

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

    /* Values to dB: as they are (log db), times db_per_neper (log ln), or
     * db_per_decade log10(max(v, floor)) (log none). */
    double db_per_decade; /* 10 for power, 20 for magnitude */
    double floor_value;
    float floor_db;

    /* The picture: the last png_cap frames in dB, a ring of png_cap *
     * n_mels values; png_count frames seen since activate. */
    char *png_file_name;
    FILE *png_file;
    int png_regular; /* a regular file, removed when writing fails */
    float *png_frames;
    uint64_t png_cap;
    uint64_t png_count;

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
    {"scale", "htk",
     "mel scale: htk (2595 log10(1 + f/700)) or slaney (linear below 1 kHz, librosa's default)"},
    {"spectrum", "power", "what the filters weigh: power (|X|^2) or magnitude (|X|)"},
    {"norm", "none", "filter height: none (peak 1) or slaney (area 1: 2 / (hi - lo))"},
    {"window", "hann", "analysis window, periodic: hann, hamming or rect"},
    {"log", "db",
     "output: db (10 log10, 20 log10 for magnitude, of max(M, floor)), ln (ln(M + floor)) or none (M)"},
    {"floor", "auto", "smallest mel energy before the log, > 0; auto = 1e-10 for power, 1e-5 for magnitude"},
    {"publish", "1", "1 = publish output \"logmel\", 0 = only log"},
    {"png", NULL,
     "write the spectrogram to this PNG file when the processor stops (grey, time across, band 0 at "
     "the bottom); not given = no picture"},
    {"png_seconds", "600", "seconds of frames the picture keeps (the last ones), 1..86400"},
    {"png_range", "80", "dB from black to white in the picture, 1..400"},
    {NULL, NULL, NULL},
};

static const char *const s_scales[] = {"htk", "slaney", NULL};
static const char *const s_spectra[] = {"power", "magnitude", NULL};
static const char *const s_norms[] = {"none", "slaney", NULL};
static const char *const s_windows[] = {"hann", "hamming", "rect", NULL};
static const char *const s_logs[] = {"db", "ln", "none", NULL};

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "logmel: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    uint32_t n_mels = 40, n_fft = 0, hop = 0;
    double fmin = 0.0, fmax = 0.0, floor_ = 0.0, png_seconds = 600.0, png_range = 80.0;
    int scale = 0, spectrum = 0, norm = 0, window = 0, log_kind = 0;
    int publish = 1;
    const char *png = NULL;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        if (strcmp(key, "n_mels") == 0) {
            if (ab_text_parse_u32(value, 0, AB_LOGMEL_MAX_MELS, &n_mels) != 0 || n_mels == 0) {
                snprintf(
                    error, error_len,
                    "logmel: bad value \"%s\" for n_mels (expected an integer from 1 to %d, e.g. n_mels=40)",
                    value, AB_LOGMEL_MAX_MELS);
                return NULL;
            }
        } else if (strcmp(key, "n_fft") == 0) {
            if (strcmp(value, "auto") == 0) {
                n_fft = 0;
            } else if (ab_text_parse_u32(value, 0, AB_LOGMEL_MAX_FFT, &n_fft) != 0 || n_fft < 2 || n_fft % 2 != 0) {
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
            } else if (ab_text_parse_u32(value, 0, 1000000, &hop) != 0 || hop == 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for hop (expected samples from 1 to 1000000, or auto, "
                         "e.g. hop=160)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "fmin") == 0) {
            if (ab_text_parse_double(value, 0.0, 500000.0, &fmin) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for fmin (expected Hz >= 0, e.g. fmin=20)", value);
                return NULL;
            }
        } else if (strcmp(key, "fmax") == 0) {
            if (ab_text_parse_double(value, 0.0, 500000.0, &fmax) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for fmax (expected Hz > fmin, or 0 for half the rate, "
                         "e.g. fmax=8000)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "scale") == 0) {
            if ((scale = ab_text_parse_choice(value, s_scales)) < 0) {
                snprintf(error, error_len, "logmel: bad value \"%s\" for scale (expected htk or slaney)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "spectrum") == 0) {
            if ((spectrum = ab_text_parse_choice(value, s_spectra)) < 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for spectrum (expected power or magnitude)", value);
                return NULL;
            }
        } else if (strcmp(key, "norm") == 0) {
            if ((norm = ab_text_parse_choice(value, s_norms)) < 0) {
                snprintf(error, error_len, "logmel: bad value \"%s\" for norm (expected none or slaney)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "window") == 0) {
            if ((window = ab_text_parse_choice(value, s_windows)) < 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for window (expected hann, hamming or rect)", value);
                return NULL;
            }
        } else if (strcmp(key, "log") == 0) {
            if ((log_kind = ab_text_parse_choice(value, s_logs)) < 0) {
                snprintf(error, error_len, "logmel: bad value \"%s\" for log (expected db, ln or none)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "floor") == 0) {
            if (strcmp(value, "auto") == 0) {
                floor_ = 0.0;
            } else if (ab_text_parse_double(value, 1e-37, 1e37, &floor_) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for floor (expected a number above 0, or auto, e.g. "
                         "floor=1e-10)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "publish") == 0) {
            if (ab_text_parse_bool(value, &publish) != 0) {
                snprintf(error, error_len, "logmel: bad value \"%s\" for publish (expected 1 or 0)", value);
                return NULL;
            }
        } else if (strcmp(key, "png") == 0) {
            if (value[0] == '\0') {
                snprintf(error, error_len,
                         "logmel: empty value for png (expected a file path, e.g. png=mic1.png)");
                return NULL;
            }
            png = value;
        } else if (strcmp(key, "png_seconds") == 0) {
            if (ab_text_parse_double(value, 1.0, 86400.0, &png_seconds) != 0) {
                snprintf(error, error_len,
                         "logmel: bad value \"%s\" for png_seconds (expected seconds from 1 to 86400, e.g. "
                         "png_seconds=600)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "png_range") == 0) {
            if (ab_text_parse_double(value, 1.0, 400.0, &png_range) != 0) {
                snprintf(
                    error, error_len,
                    "logmel: bad value \"%s\" for png_range (expected dB from 1 to 400, e.g. png_range=80)",
                    value);
                return NULL;
            }
        } else {
            snprintf(error, error_len,
                     "logmel: unknown parameter \"%s\" (accepted: n_mels, n_fft, hop, fmin, fmax, scale, "
                     "spectrum, norm, window, log, floor, publish, png, png_seconds, png_range)",
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
    self->floor = floor_;
    self->scale = (ab_mel_scale_t)scale;
    self->spectrum = (ab_mel_spectrum_t)spectrum;
    self->norm = (ab_mel_norm_t)norm;
    self->window = (ab_mel_window_t)window;
    self->log_kind = (ab_mel_log_t)log_kind;
    self->publish = publish;
    self->png_seconds = png_seconds;
    self->png_range = png_range;
    self->output = -1;
    if (png && !(self->png_path = strdup(png))) {
        free(self);
        snprintf(error, error_len, "logmel: out of memory");
        return NULL;
    }
    return self;
}

/* The picture file of the next activation: png_path itself the first
 * time, then with "-2", "-3"... before its extension. NULL when out of
 * memory. */
static char *s_next_png_name(const logmel_t *self)
{
    if (self->activations == 0)
        return strdup(self->png_path);
    const char *slash = strrchr(self->png_path, '/');
    const char *base = slash ? slash + 1 : self->png_path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - self->png_path) : strlen(self->png_path);
    size_t len = strlen(self->png_path) + 16;
    char *name = malloc(len);
    if (name)
        snprintf(name, len, "%.*s-%u%s", (int)stem, self->png_path, self->activations + 1,
                 self->png_path + stem);
    return name;
}

/* Close the picture file; remove_it drops a regular file (never a device
 * such as /dev/null). */
static void s_png_close(logmel_t *self, int remove_it)
{
    if (self->png_file) {
        fclose(self->png_file);
        if (remove_it && self->png_regular)
            remove(self->png_file_name);
    }
    self->png_file = NULL;
    free(self->png_file_name);
    self->png_file_name = NULL;
    free(self->png_frames);
    self->png_frames = NULL;
}

static void s_free_buffers(logmel_t *self)
{
    ab_logmel_destroy(&self->mel);
    free(self->mono);
    free(self->frames);
    free(self->band_sum);
    self->mono = self->frames = NULL;
    self->band_sum = NULL;
    s_png_close(self, 1);
}

/* A value of the configured log kind in dB (see the top of this file). */
static double s_to_db(const logmel_t *self, float v)
{
    switch (self->log_kind) {
    case AB_MEL_LOG_DB: break;
    case AB_MEL_LOG_LN: return v * self->db_per_decade / log(10.0);
    case AB_MEL_LOG_NONE: return self->db_per_decade * log10(v > self->floor_value ? v : self->floor_value);
    }
    return v;
}

static uint8_t s_grey(float v, double bottom, double top)
{
    double g = 255.0 * (v - bottom) / (top - bottom);
    if (!(g > 0.0)) /* NaN too */
        return 0;
    if (g >= 255.0)
        return 255;
    return (uint8_t)lround(g);
}

/* Draw the frames kept and write them to the picture file, logging the
 * outcome; closes the file. [control-thread] */
static void s_png_finish(logmel_t *self)
{
    const uint32_t n = self->n_mels;
    const uint64_t kept = self->png_count < self->png_cap ? self->png_count : self->png_cap;
    char line[240];
    if (kept == 0) {
        snprintf(line, sizeof line,
                 "no frames to draw (the stream was shorter than n_fft=%u samples): %s not written",
                 self->n_fft, self->png_file_name);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
        s_png_close(self, 1);
        return;
    }
    const uint32_t width = (uint32_t)kept;
    uint8_t *pixels = malloc((size_t)width * n);
    if (!pixels) {
        snprintf(line, sizeof line, "cannot write picture %s: out of memory for %u x %u pixels",
                 self->png_file_name, width, n);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, line);
        s_png_close(self, 1);
        return;
    }
    /* The oldest frame kept is the next one the ring would overwrite. */
    const uint64_t oldest = self->png_count > self->png_cap ? self->png_count % self->png_cap : 0;
    double top = -INFINITY;
    for (size_t i = 0; i < (size_t)width * n; i++)
        if (isfinite(self->png_frames[i]) && self->png_frames[i] > top)
            top = self->png_frames[i];
    double bottom = top - self->png_range > self->floor_db ? top - self->png_range : self->floor_db;
    for (uint32_t x = 0; x < width; x++) {
        const float *column = self->png_frames + (size_t)((oldest + x) % self->png_cap) * n;
        for (uint32_t m = 0; m < n; m++)
            pixels[(size_t)(n - 1 - m) * width + x] = top > bottom ? s_grey(column[m], bottom, top) : 0;
    }
    char why[160];
    int rc = logmel_png_write(self->png_file, pixels, width, n, why, sizeof why);
    free(pixels);
    FILE *file = self->png_file;
    self->png_file = NULL;
    if (fclose(file) != 0 && rc == 0) {
        snprintf(why, sizeof why, "%s", strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        snprintf(line, sizeof line, "cannot write picture %s: %s", self->png_file_name, why);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, line);
        if (self->png_regular)
            remove(self->png_file_name);
    } else if (self->png_count > kept) {
        snprintf(line, sizeof line,
                 "picture %s: %u x %u px, the last %u of %llu frames (png_seconds=%g keeps no more), "
                 "grey 0..255 = %.1f..%.1f dB",
                 self->png_file_name, width, n, width, (unsigned long long)self->png_count, self->png_seconds,
                 top > bottom ? bottom : top, top);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    } else {
        snprintf(line, sizeof line,
                 "picture %s: %u x %u px (%u frames x %u bands), grey 0..255 = %.1f..%.1f dB",
                 self->png_file_name, width, n, width, n, top > bottom ? bottom : top, top);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    }
    s_png_close(self, 0);
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
    if (self->png_file)
        s_png_finish(self);
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
        .floor = (float)self->floor,
        .scale = self->scale,
        .spectrum = self->spectrum,
        .norm = self->norm,
        .window = self->window,
        .log = self->log_kind,
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
    self->db_per_decade = self->spectrum == AB_MEL_SPECTRUM_MAGNITUDE ? 20.0 : 10.0;
    self->floor_value = ab_logmel_config(self->mel)->floor;
    self->floor_db = (float)(self->db_per_decade * log10(self->floor_value));
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

    if (self->png_path) {
        /* Room for the last png_seconds of frames; the file is opened now
         * so that a path that cannot be written fails here, not at the end. */
        double cap = ceil(self->png_seconds * format->rate / hop);
        double bytes = cap * self->n_mels * sizeof(float);
        if (bytes > LOGMEL_PNG_MAX_BYTES) {
            s_free_buffers(self);
            snprintf(error, error_len,
                     "logmel: png_seconds=%g needs %.0f MB for %.0f frames of %u bands (the limit is "
                     "%.0f MB: lower png_seconds or n_mels, or raise hop)",
                     self->png_seconds, bytes / 1048576.0, cap, self->n_mels,
                     LOGMEL_PNG_MAX_BYTES / 1048576.0);
            return AB_PLUGIN_ERROR;
        }
        self->png_cap = (uint64_t)cap;
        self->png_count = 0;
        self->png_frames = malloc((size_t)bytes);
        self->png_file_name = s_next_png_name(self);
        if (!self->png_frames || !self->png_file_name) {
            s_free_buffers(self);
            snprintf(error, error_len,
                     "logmel: out of memory for %.0f frames of the picture (png_seconds=%g)", cap,
                     self->png_seconds);
            return AB_PLUGIN_ERROR;
        }
        self->png_file = fopen(self->png_file_name, "wb");
        if (!self->png_file) {
            snprintf(error, error_len,
                     "logmel: cannot write picture %s: %s (check that the directory exists and is writable)",
                     self->png_file_name, strerror(errno));
            s_free_buffers(self);
            return AB_PLUGIN_ERROR;
        }
        struct stat st;
        self->png_regular = fstat(fileno(self->png_file), &st) == 0 && S_ISREG(st.st_mode);
        self->activations++;
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
    char line[240];
    snprintf(line, sizeof line,
             "n_fft=%u (%.1f ms) hop=%u (%.1f ms) n_mels=%u %g..%g Hz scale=%s spectrum=%s norm=%s window=%s "
             "log=%s floor=%g",
             n_fft, 1000.0 * n_fft / format->rate, hop, 1000.0 * hop / format->rate, self->n_mels, self->fmin,
             fmax, s_scales[self->scale], s_spectra[self->spectrum], s_norms[self->norm],
             s_windows[self->window], s_logs[self->log_kind], self->floor_value);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    if (empty > 0) {
        snprintf(
            line, sizeof line,
            "%u of %u mel bands hold no FFT bin and stay at the floor, %.1f dB (raise n_fft or lower n_mels)",
            empty, self->n_mels, self->floor_db);
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
    /* The picture's ring: this frame overwrites the oldest once it is full. */
    float *column = NULL;
    if (self->png_frames) {
        column = self->png_frames + (size_t)(self->png_count % self->png_cap) * n;
        self->png_count++;
    }
    for (uint32_t m = 0; m < n; m++) {
        double db = s_to_db(self, mels[m]);
        self->band_sum[m] += db;
        self->sum_db += db;
        if (db > self->max_db)
            self->max_db = (float)db;
        if (column)
            column[m] = (float)db;
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

    ab_convert_mix_to_mono(block->samples, ch, block->frames, self->mono);
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
    free(self->png_path);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "logmel",
    .version = "1.1.0",
    .description =
        "log-mel spectrogram of the stream mixed to mono (HTK or Slaney mel, power or magnitude, dB or "
        "ln), optionally drawn to a PNG",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
