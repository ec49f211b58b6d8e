/* ab_mel.c - streaming log-mel spectrogram front end (see ab_mel.h). */
#include "audiobus/ab_mel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ab_fft.h"

#include "audiobus/ab_error.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Slaney's scale: linear up to 1000 Hz (15 mel), logarithmic above. */
#define SLANEY_F_SP (200.0 / 3.0)
#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL 15.0
#define SLANEY_LOGSTEP (log(6.4) / 27.0)

struct ab_logmel {
    ab_logmel_config_t cfg;
    uint32_t n_bins; /* n_fft / 2 + 1 */
    fftw_plan fft;   /* frame -> spectrum, double precision */

    /* Input collects up to n_fft samples; after each frame the last
     * n_fft - hop are moved to the front (or, when hop > n_fft, the next
     * hop - n_fft input samples are skipped). */
    float *input;
    uint32_t fill;
    uint64_t skip;
    uint64_t next_start;

    double *window;
    double *frame;          /* fftw_malloc'd, as the plan was made for it */
    fftw_complex *spectrum; /* fftw_malloc'd */
    double *bins; /* S[k]: power or magnitude */
    float *mels;

    /* The filterbank, sparse: band m weighs bins band_first[m] ..
     * band_first[m] + band_count[m] - 1 with weights[band_offset[m] ...]. */
    double *edges_hz; /* n_mels + 2 */
    uint32_t *band_first;
    uint32_t *band_count;
    uint32_t *band_offset;
    double *weights;
};

double ab_mel_from_hz(double hz)
{
    return 2595.0 * log10(1.0 + hz / 700.0);
}

double ab_mel_to_hz(double mel)
{
    return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
}

double ab_mel_scale_from_hz(ab_mel_scale_t scale, double hz)
{
    switch (scale) {
    case AB_MEL_SCALE_HTK: return ab_mel_from_hz(hz);
    case AB_MEL_SCALE_SLANEY:
        if (hz < SLANEY_MIN_LOG_HZ)
            return hz / SLANEY_F_SP;
        return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
    }
    return NAN;
}

double ab_mel_scale_to_hz(ab_mel_scale_t scale, double mel)
{
    switch (scale) {
    case AB_MEL_SCALE_HTK: return ab_mel_to_hz(mel);
    case AB_MEL_SCALE_SLANEY:
        if (mel < SLANEY_MIN_LOG_MEL)
            return mel * SLANEY_F_SP;
        return SLANEY_MIN_LOG_HZ * exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
    }
    return NAN;
}

static int s_config_valid(const ab_logmel_config_t *cfg)
{
    if (cfg->rate < 1 || cfg->rate > 1000000)
        return 0;
    if (cfg->n_fft < 2 || cfg->n_fft > AB_LOGMEL_MAX_FFT || cfg->n_fft % 2 != 0)
        return 0;
    if (cfg->hop < 1)
        return 0;
    if (cfg->n_mels < 1 || cfg->n_mels > AB_LOGMEL_MAX_MELS)
        return 0;
    /* Written so that NaN fails every test. */
    if (!(cfg->fmin >= 0.0f) || !(cfg->fmax > cfg->fmin) || !(cfg->fmax <= cfg->rate / 2.0f))
        return 0;
    if (!(cfg->floor > 0.0f) || isinf(cfg->floor))
        return 0;
    /* Compared as unsigned: an enum holding any other value fails. */
    if ((unsigned)cfg->scale > AB_MEL_SCALE_SLANEY || (unsigned)cfg->spectrum > AB_MEL_SPECTRUM_MAGNITUDE ||
        (unsigned)cfg->norm > AB_MEL_NORM_SLANEY || (unsigned)cfg->window > AB_MEL_WINDOW_RECT ||
        (unsigned)cfg->log > AB_MEL_LOG_NONE)
        return 0;
    return 1;
}

/* Weight of band m at frequency hz, before normalisation: a triangle of
 * peak 1. */
static double s_triangle(const double *edges, uint32_t m, double hz)
{
    double lo = edges[m], center = edges[m + 1], hi = edges[m + 2];
    double up = center > lo ? (hz - lo) / (center - lo) : 0.0;
    double down = hi > center ? (hi - hz) / (hi - center) : 0.0;
    double w = up < down ? up : down;
    return w > 0.0 ? w : 0.0;
}

static int s_build_filterbank(ab_logmel_t *self)
{
    const ab_logmel_config_t *cfg = &self->cfg;
    uint32_t n_edges = cfg->n_mels + 2;
    double mel_lo = ab_mel_scale_from_hz(cfg->scale, cfg->fmin);
    double mel_hi = ab_mel_scale_from_hz(cfg->scale, cfg->fmax);
    double bin_hz = (double)cfg->rate / cfg->n_fft;

    self->edges_hz = malloc(n_edges * sizeof(double));
    self->band_first = calloc(cfg->n_mels, sizeof(uint32_t));
    self->band_count = calloc(cfg->n_mels, sizeof(uint32_t));
    self->band_offset = calloc(cfg->n_mels, sizeof(uint32_t));
    if (!self->edges_hz || !self->band_first || !self->band_count || !self->band_offset)
        return AB_ENOMEM;
    for (uint32_t i = 0; i < n_edges; i++)
        self->edges_hz[i] = ab_mel_scale_to_hz(cfg->scale, mel_lo + (mel_hi - mel_lo) * i / (n_edges - 1));
    self->edges_hz[0] = cfg->fmin;
    self->edges_hz[n_edges - 1] = cfg->fmax;

    /* First pass: the range of bins each triangle covers. A triangle is
     * convex, so its non-zero weights are contiguous. */
    size_t total = 0;
    for (uint32_t m = 0; m < cfg->n_mels; m++) {
        uint32_t first = 0, count = 0;
        for (uint32_t k = 0; k < self->n_bins; k++) {
            if (s_triangle(self->edges_hz, m, k * bin_hz) > 0.0) {
                if (count == 0)
                    first = k;
                count = k - first + 1;
            }
        }
        self->band_first[m] = first;
        self->band_count[m] = count;
        self->band_offset[m] = (uint32_t)total;
        total += count;
    }
    self->weights = malloc((total ? total : 1) * sizeof(double));
    if (!self->weights)
        return AB_ENOMEM;
    for (uint32_t m = 0; m < cfg->n_mels; m++) {
        double gain = 1.0;
        if (cfg->norm == AB_MEL_NORM_SLANEY)
            gain = 2.0 / (self->edges_hz[m + 2] - self->edges_hz[m]);
        double *w = self->weights + self->band_offset[m];
        for (uint32_t j = 0; j < self->band_count[m]; j++)
            w[j] = gain * s_triangle(self->edges_hz, m, (self->band_first[m] + j) * bin_hz);
    }
    return 0;
}

static double s_window(ab_mel_window_t kind, uint32_t i, uint32_t n)
{
    double c = cos(2.0 * M_PI * i / n);
    switch (kind) {
    case AB_MEL_WINDOW_HANN: return 0.5 - 0.5 * c;
    case AB_MEL_WINDOW_HAMMING: return 0.54 - 0.46 * c;
    case AB_MEL_WINDOW_RECT: break;
    }
    return 1.0;
}

ab_logmel_t *ab_logmel_new(const ab_logmel_config_t *cfg)
{
    if (!cfg)
        return NULL;
    ab_logmel_config_t c = *cfg;
    if (c.fmax == 0.0f)
        c.fmax = c.rate / 2.0f;
    if (c.floor == 0.0f)
        c.floor = c.spectrum == AB_MEL_SPECTRUM_MAGNITUDE ? 1e-5f : 1e-10f;
    if (!s_config_valid(&c))
        return NULL;

    ab_logmel_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->cfg = c;
    self->n_bins = c.n_fft / 2 + 1;
    self->input = calloc(c.n_fft, sizeof(float));
    self->window = malloc(c.n_fft * sizeof(double));
    self->frame = fftw_malloc(c.n_fft * sizeof(double));
    self->spectrum = fftw_malloc(self->n_bins * sizeof(fftw_complex));
    if (self->frame && self->spectrum)
        self->fft = ab_fft_plan_r2c((int)c.n_fft, self->frame, self->spectrum);
    self->bins = malloc(self->n_bins * sizeof(double));
    self->mels = malloc(c.n_mels * sizeof(float));
    if (!self->fft || !self->input || !self->window || !self->frame || !self->spectrum || !self->bins ||
        !self->mels || s_build_filterbank(self) != 0) {
        ab_logmel_destroy(&self);
        return NULL;
    }
    for (uint32_t i = 0; i < c.n_fft; i++)
        self->window[i] = s_window(c.window, i, c.n_fft);
    return self;
}

void ab_logmel_destroy(ab_logmel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_logmel_t *self = *self_p;
    ab_fft_destroy(self->fft);
    free(self->input);
    free(self->window);
    fftw_free(self->frame);
    fftw_free(self->spectrum);
    free(self->bins);
    free(self->mels);
    free(self->edges_hz);
    free(self->band_first);
    free(self->band_count);
    free(self->band_offset);
    free(self->weights);
    free(self);
    *self_p = NULL;
}

/* Analyse the n_fft samples in self->input into self->mels. */
static void s_analyse(ab_logmel_t *self)
{
    const ab_logmel_config_t *cfg = &self->cfg;
    for (uint32_t i = 0; i < cfg->n_fft; i++)
        self->frame[i] = self->input[i] * self->window[i];
    fftw_execute(self->fft); /* allocation-free with a plan made beforehand */
    for (uint32_t k = 0; k < self->n_bins; k++) {
        double re = self->spectrum[k][0], im = self->spectrum[k][1];
        double power = re * re + im * im;
        self->bins[k] = cfg->spectrum == AB_MEL_SPECTRUM_MAGNITUDE ? sqrt(power) : power;
    }
    const double floor_ = cfg->floor;
    const double db_per_decade = cfg->spectrum == AB_MEL_SPECTRUM_MAGNITUDE ? 20.0 : 10.0;
    for (uint32_t m = 0; m < cfg->n_mels; m++) {
        const double *w = self->weights + self->band_offset[m];
        const double *s = self->bins + self->band_first[m];
        double sum = 0.0;
        for (uint32_t j = 0; j < self->band_count[m]; j++)
            sum += w[j] * s[j];
        if (isnan(sum))
            sum = 0.0;
        double out = sum;
        if (cfg->log == AB_MEL_LOG_DB)
            out = db_per_decade * log10(sum > floor_ ? sum : floor_);
        else if (cfg->log == AB_MEL_LOG_LN)
            out = log(sum + floor_);
        self->mels[m] = (float)out;
    }
}
int ab_logmel_push(ab_logmel_t *self, const float *mono, size_t frames, ab_logmel_frame_cb cb, void *user)
{
    if (!self || !cb || (!mono && frames > 0))
        return AB_EINVAL;
    const uint32_t n_fft = self->cfg.n_fft, hop = self->cfg.hop;
    int delivered = 0;
    while (frames > 0) {
        if (self->skip > 0) {
            size_t n = self->skip < frames ? (size_t)self->skip : frames;
            self->skip -= n;
            mono += n;
            frames -= n;
            continue;
        }
        size_t n = n_fft - self->fill;
        if (n > frames)
            n = frames;
        memcpy(self->input + self->fill, mono, n * sizeof(float));
        self->fill += (uint32_t)n;
        mono += n;
        frames -= n;
        if (self->fill < n_fft)
            break;

        s_analyse(self);
        cb(self->mels, self->next_start, user);
        if (delivered < INT32_MAX)
            delivered++;
        self->next_start += hop;
        if (hop < n_fft) {
            memmove(self->input, self->input + hop, (n_fft - hop) * sizeof(float));
            self->fill = n_fft - hop;
        } else {
            self->fill = 0;
            self->skip = hop - n_fft;
        }
    }
    return delivered;
}

void ab_logmel_reset(ab_logmel_t *self)
{
    if (!self)
        return;
    self->fill = 0;
    self->skip = 0;
    self->next_start = 0;
}

const ab_logmel_config_t *ab_logmel_config(const ab_logmel_t *self)
{
    return self ? &self->cfg : NULL;
}

int ab_logmel_band_hz(const ab_logmel_t *self, uint32_t m, float *lo, float *center, float *hi)
{
    if (!self || m >= self->cfg.n_mels)
        return AB_EINVAL;
    if (lo)
        *lo = (float)self->edges_hz[m];
    if (center)
        *center = (float)self->edges_hz[m + 1];
    if (hi)
        *hi = (float)self->edges_hz[m + 2];
    return 0;
}

int ab_logmel_filterbank(const ab_logmel_t *self, double *weights, size_t count)
{
    if (!self || !weights || count / self->n_bins < self->cfg.n_mels)
        return AB_EINVAL;
    memset(weights, 0, (size_t)self->cfg.n_mels * self->n_bins * sizeof(double));
    for (uint32_t m = 0; m < self->cfg.n_mels; m++) {
        double *row = weights + (size_t)m * self->n_bins + self->band_first[m];
        memcpy(row, self->weights + self->band_offset[m], self->band_count[m] * sizeof(double));
    }
    return 0;
}
