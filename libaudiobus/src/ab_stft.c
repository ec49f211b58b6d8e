/* ab_stft.c - streaming STFT with overlap-add resynthesis (see ab_stft.h). */
#include "audiobus/ab_stft.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab_fft.h"
#include "audiobus/ab_error.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The callback sees the spectrum as (re, im) float pairs. */
_Static_assert(sizeof(fftwf_complex) == 2 * sizeof(float), "fftwf_complex must be two floats");

/* Smallest window sum accepted, relative to the largest: below it the
 * division that makes reconstruction exact would amplify rounding (and any
 * spectral change) by more than a thousand. */
#define STFT_MIN_SUM_RATIO 1e-3

struct ab_stft {
    ab_stft_config_t cfg;
    uint32_t n_bins;
    fftwf_plan forward; /* frame -> spectrum */
    fftwf_plan inverse; /* spectrum -> frame, unscaled */

    float *analysis;  /* n_fft: w_a */
    float *synthesis; /* n_fft: w_s / (n_fft * S[i mod hop]) */

    /* in holds the last fill samples of input (the first n_fft - hop are
     * the previous frame's tail); a frame is analysed when it is full. */
    float *in;
    uint32_t fill;
    float *frame;            /* n_fft, fftwf_malloc'd: windowed input, then inverse FFT output */
    fftwf_complex *spectrum; /* n_bins, fftwf_malloc'd */
    float *acc;            /* n_fft: overlap-add of frames not yet complete */
    float *ready;          /* hop: finished output, read from ready_pos on */
    uint32_t ready_pos;
    uint64_t index;
};

const char *ab_stft_window_name(ab_stft_window_t window)
{
    switch (window) {
    case AB_STFT_WINDOW_DEFAULT:
    case AB_STFT_WINDOW_HANN: return "hann";
    case AB_STFT_WINDOW_RECT: return "rect";
    case AB_STFT_WINDOW_SQRT_HANN: return "sqrt-hann";
    case AB_STFT_WINDOW_HAMMING: return "hamming";
    }
    return NULL;
}

static double s_window(ab_stft_window_t window, uint32_t i, uint32_t n)
{
    double hann = 0.5 - 0.5 * cos(2.0 * M_PI * i / n);
    switch (window) {
    case AB_STFT_WINDOW_RECT: return 1.0;
    case AB_STFT_WINDOW_SQRT_HANN: return sin(M_PI * i / n);
    case AB_STFT_WINDOW_HAMMING: return 0.54 - 0.46 * cos(2.0 * M_PI * i / n);
    default: return hann;
    }
}

/* The window sum S[j] for j < hop into sums (hop values). Returns the ratio
 * of its smallest to its largest value, and the smallest's offset in
 * *worst. */
static double s_window_sums(const ab_stft_config_t *cfg, double *sums, uint32_t *worst)
{
    const uint32_t n = cfg->n_fft, hop = cfg->hop;
    for (uint32_t j = 0; j < hop; j++)
        sums[j] = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sums[i % hop] += s_window(cfg->analysis, i, n) * s_window(cfg->synthesis, i, n);
    double lo = sums[0], hi = sums[0];
    *worst = 0;
    for (uint32_t j = 1; j < hop; j++) {
        if (sums[j] < lo) {
            lo = sums[j];
            *worst = j;
        }
        if (sums[j] > hi)
            hi = sums[j];
    }
    return hi > 0.0 ? lo / hi : 0.0;
}

static int s_refuse(char *error, size_t error_len, const char *format, ...) __attribute__((format(printf, 3, 4)));

static int s_refuse(char *error, size_t error_len, const char *format, ...)
{
    if (error && error_len) {
        va_list args;
        va_start(args, format);
        vsnprintf(error, error_len, format, args);
        va_end(args);
    }
    return AB_EINVAL;
}

/* The checks of ab_stft_check() on a configuration with defaults resolved;
 * sums (hop values) receives the window sum when it passes. */
static int s_check(const ab_stft_config_t *cfg, double *sums, char *error, size_t error_len)
{
    if (cfg->n_fft < 2 || cfg->n_fft > AB_STFT_MAX_FFT || cfg->n_fft % 2 != 0)
        return s_refuse(error, error_len, "n_fft %u is not an even number from 2 to %u (e.g. 512 or 400)",
                        cfg->n_fft, (unsigned)AB_STFT_MAX_FFT);
    if (cfg->hop < 1)
        return s_refuse(error, error_len, "hop 0 is not a number of samples from 1 to n_fft %u (try hop=%u)",
                        cfg->n_fft, cfg->n_fft / 2);
    if (cfg->hop > cfg->n_fft)
        return s_refuse(error, error_len,
                        "hop %u is larger than n_fft %u: frames further apart than their length leave "
                        "samples no frame covers (try hop=%u)",
                        cfg->hop, cfg->n_fft, cfg->n_fft / 2);
    if (!ab_stft_window_name(cfg->analysis) || !ab_stft_window_name(cfg->synthesis))
        return s_refuse(error, error_len, "unknown window %d (expected AB_STFT_WINDOW_*)",
                        ab_stft_window_name(cfg->analysis) ? (int)cfg->synthesis : (int)cfg->analysis);
    double *s = sums ? sums : malloc(cfg->hop * sizeof(double));
    if (!s)
        return s_refuse(error, error_len, "out of memory checking hop %u", cfg->hop);
    uint32_t worst = 0;
    double ratio = s_window_sums(cfg, s, &worst);
    double value = s[worst];
    if (s != sums)
        free(s);
    if (!(ratio >= STFT_MIN_SUM_RATIO))
        return s_refuse(error, error_len,
                        "%s analysis and %s synthesis windows with n_fft=%u hop=%u cannot reconstruct: the "
                        "overlapping windows sum to %.3g at offset %u (less than %g of their largest sum); "
                        "use a smaller hop (e.g. hop=%u) or other windows",
                        ab_stft_window_name(cfg->analysis), ab_stft_window_name(cfg->synthesis), cfg->n_fft,
                        cfg->hop, value, worst, STFT_MIN_SUM_RATIO, cfg->n_fft / 2);
    return 0;
}

static ab_stft_config_t s_resolved(const ab_stft_config_t *cfg)
{
    ab_stft_config_t c = *cfg;
    if (c.analysis == AB_STFT_WINDOW_DEFAULT)
        c.analysis = AB_STFT_WINDOW_HANN;
    if (c.synthesis == AB_STFT_WINDOW_DEFAULT)
        c.synthesis = AB_STFT_WINDOW_HANN;
    return c;
}

int ab_stft_check(const ab_stft_config_t *cfg, char *error, size_t error_len)
{
    if (!cfg)
        return s_refuse(error, error_len, "no configuration given");
    ab_stft_config_t c = s_resolved(cfg);
    return s_check(&c, NULL, error, error_len);
}

ab_stft_t *ab_stft_new(const ab_stft_config_t *cfg, char *error, size_t error_len)
{
    if (!cfg) {
        s_refuse(error, error_len, "no configuration given");
        return NULL;
    }
    ab_stft_config_t c = s_resolved(cfg);
    /* Ranges first: the window sums need a valid hop. */
    if (c.n_fft < 2 || c.n_fft > AB_STFT_MAX_FFT || c.n_fft % 2 != 0 || c.hop < 1 || c.hop > c.n_fft) {
        s_check(&c, NULL, error, error_len);
        return NULL;
    }
    double *sums = malloc(c.hop * sizeof(double));
    if (!sums) {
        s_refuse(error, error_len, "out of memory for n_fft=%u hop=%u", c.n_fft, c.hop);
        return NULL;
    }
    if (s_check(&c, sums, error, error_len) != 0) {
        free(sums);
        return NULL;
    }
    ab_stft_t *self = calloc(1, sizeof *self);
    if (!self) {
        free(sums);
        s_refuse(error, error_len, "out of memory for n_fft=%u hop=%u", c.n_fft, c.hop);
        return NULL;
    }
    const uint32_t n = c.n_fft;
    self->cfg = c;
    self->n_bins = n / 2 + 1;
    self->analysis = malloc(n * sizeof(float));
    self->synthesis = malloc(n * sizeof(float));
    self->in = malloc(n * sizeof(float));
    self->frame = fftwf_malloc(n * sizeof(float));
    self->spectrum = fftwf_malloc(self->n_bins * sizeof(fftwf_complex));
    if (self->frame && self->spectrum) {
        self->forward = ab_fft_plan_r2c_f((int)n, self->frame, self->spectrum);
        self->inverse = ab_fft_plan_c2r_f((int)n, self->spectrum, self->frame);
    }
    self->acc = malloc(n * sizeof(float));
    self->ready = malloc(c.hop * sizeof(float));
    if (!self->forward || !self->inverse || !self->analysis || !self->synthesis || !self->in || !self->frame ||
        !self->spectrum || !self->acc || !self->ready) {
        free(sums);
        ab_stft_destroy(&self);
        s_refuse(error, error_len, "out of memory for n_fft=%u hop=%u", c.n_fft, c.hop);
        return NULL;
    }
    /* FFTW's inverse is unscaled: 1/n_fft goes into the synthesis
     * window together with the window sum. */
    for (uint32_t i = 0; i < n; i++) {
        self->analysis[i] = (float)s_window(c.analysis, i, n);
        self->synthesis[i] = (float)(s_window(c.synthesis, i, n) / ((double)n * sums[i % c.hop]));
    }
    free(sums);
    ab_stft_reset(self);
    return self;
}

void ab_stft_destroy(ab_stft_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_stft_t *self = *self_p;
    ab_fft_destroy_f(self->forward);
    ab_fft_destroy_f(self->inverse);
    free(self->analysis);
    free(self->synthesis);
    free(self->in);
    fftwf_free(self->frame);
    fftwf_free(self->spectrum);
    free(self->acc);
    free(self->ready);
    free(self);
    *self_p = NULL;
}

void ab_stft_reset(ab_stft_t *self)
{
    if (!self)
        return;
    const uint32_t n = self->cfg.n_fft, hop = self->cfg.hop;
    memset(self->in, 0, n * sizeof(float));
    memset(self->acc, 0, n * sizeof(float));
    memset(self->ready, 0, hop * sizeof(float));
    /* n_fft - hop leading zeros; the hop - 1 outputs before the first
     * frame are the end of ready (zeros), so that output t is input
     * t - (n_fft - 1) from the first sample on. */
    self->fill = n - hop;
    self->ready_pos = 1;
    self->index = 0;
}

/* Analyse the full input buffer, overlap-add its resynthesis, and move
 * the next hop finished samples to ready. */
static void s_frame(ab_stft_t *self, ab_stft_spectrum_cb cb, void *user)
{
    const uint32_t n = self->cfg.n_fft, hop = self->cfg.hop;
    for (uint32_t i = 0; i < n; i++)
        self->frame[i] = self->in[i] * self->analysis[i];
    fftwf_execute(self->forward);
    if (cb) {
        ab_stft_frame_t info = {
            .index = self->index,
            .start = (int64_t)(self->index * hop) + (int64_t)hop - (int64_t)n,
            .n_fft = n,
            .n_bins = self->n_bins,
        };
        cb(&self->spectrum[0][0], &info, user);
    }
    fftwf_execute(self->inverse); /* overwrites the spectrum (FFTW's c2r may) */
    for (uint32_t i = 0; i < n; i++)
        self->acc[i] += self->frame[i] * self->synthesis[i];

    memcpy(self->ready, self->acc, hop * sizeof(float));
    memmove(self->acc, self->acc + hop, (n - hop) * sizeof(float));
    memset(self->acc + (n - hop), 0, hop * sizeof(float));
    memmove(self->in, self->in + hop, (n - hop) * sizeof(float));
    self->fill = n - hop;
    self->index++;
}

int ab_stft_process(ab_stft_t *self, const float *in, float *out, size_t frames, ab_stft_spectrum_cb cb,
                    void *user)
{
    if (!self || ((!in || !out) && frames > 0))
        return AB_EINVAL;
    const uint32_t n = self->cfg.n_fft;
    int analysed = 0;
    /* Per sample: take the input, analyse a frame if that completed one,
     * then emit ready[ready_pos++]. In runs up to the next frame, input is
     * copied before output is written, so out may be in. */
    while (frames > 0) {
        size_t take = n - self->fill;
        if (take > frames)
            take = frames;
        memcpy(self->in + self->fill, in, take * sizeof(float));
        self->fill += (uint32_t)take;
        if (self->fill < n) {
            memcpy(out, self->ready + self->ready_pos, take * sizeof(float));
            self->ready_pos += (uint32_t)take;
        } else {
            memcpy(out, self->ready + self->ready_pos, (take - 1) * sizeof(float));
            s_frame(self, cb, user);
            out[take - 1] = self->ready[0];
            self->ready_pos = 1;
            if (analysed < INT32_MAX)
                analysed++;
        }
        in += take;
        out += take;
        frames -= take;
    }
    return analysed;
}

uint32_t ab_stft_latency(const ab_stft_t *self)
{
    return self ? self->cfg.n_fft - 1 : 0;
}

const ab_stft_config_t *ab_stft_config(const ab_stft_t *self)
{
    return self ? &self->cfg : NULL;
}
