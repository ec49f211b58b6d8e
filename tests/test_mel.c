/* test_mel.c - checks the streaming log-mel front end against a direct DFT in double precision, its mel
 * scales against librosa's documented values, and its filterbank. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_error.h"
#include "audiobus/ab_mel.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Checks print both values and keep going; no assert(), so NDEBUG builds
 * check as well. */

#include "check.h"

#define MAX_FRAMES 4096

/* What the callback saw. */
typedef struct {
    uint32_t n_mels;
    size_t count;
    uint64_t start[MAX_FRAMES];
    float *mels; /* MAX_FRAMES * n_mels */
} capture_t;

static void s_capture(const float *mels, uint64_t start, void *user)
{
    capture_t *c = user;
    if (c->count < MAX_FRAMES) {
        memcpy(c->mels + c->count * c->n_mels, mels, c->n_mels * sizeof(float));
        c->start[c->count] = start;
    }
    c->count++;
}

static capture_t *s_capture_new(uint32_t n_mels)
{
    capture_t *c = calloc(1, sizeof(*c));
    c->n_mels = n_mels;
    c->mels = calloc((size_t)MAX_FRAMES * n_mels, sizeof(float));
    return c;
}

static void s_capture_free(capture_t *c)
{
    free(c->mels);
    free(c);
}

/* Mel scales as ab_mel.h defines them, written out again. */
static double s_mel(ab_mel_scale_t scale, double hz)
{
    if (scale == AB_MEL_SCALE_HTK)
        return 2595 * log10(1 + hz / 700.0);
    return hz < 1000 ? hz * 3 / 200.0 : 15 + log(hz / 1000) * 27 / log(6.4);
}

static double s_hz(ab_mel_scale_t scale, double mel)
{
    if (scale == AB_MEL_SCALE_HTK)
        return 700 * (pow(10, mel / 2595) - 1);
    return mel < 15 ? mel * 200 / 3.0 : 1000 * exp((mel - 15) * log(6.4) / 27);
}

/* The definition in ab_mel.h, written out independently: window, direct
 * DFT, power or magnitude, triangles of peak 1 or area 1, the log kind. */
static void s_reference(const ab_logmel_config_t *cfg, const float *x, double *out)
{
    uint32_t n = cfg->n_fft, bins = n / 2 + 1;
    double fmax = cfg->fmax > 0 ? cfg->fmax : cfg->rate / 2.0;
    bool magnitude = cfg->spectrum == AB_MEL_SPECTRUM_MAGNITUDE;
    double *spectrum = calloc(bins, sizeof(double));
    for (uint32_t k = 0; k < bins; k++) {
        double re = 0, im = 0;
        for (uint32_t i = 0; i < n; i++) {
            double c = cos(2 * M_PI * i / n);
            double w = cfg->window == AB_MEL_WINDOW_HAMMING ? 0.54 - 0.46 * c
                       : cfg->window == AB_MEL_WINDOW_RECT  ? 1.0
                                                            : 0.5 - 0.5 * c;
            double a = -2 * M_PI * (double)k * i / n;
            re += w * x[i] * cos(a);
            im += w * x[i] * sin(a);
        }
        spectrum[k] = magnitude ? sqrt(re * re + im * im) : re * re + im * im;
    }
    double mlo = s_mel(cfg->scale, cfg->fmin), mhi = s_mel(cfg->scale, fmax);
    double floor_ = cfg->floor > 0 ? cfg->floor : magnitude ? 1e-5 : 1e-10;
    for (uint32_t m = 0; m < cfg->n_mels; m++) {
        double e[3];
        for (int j = 0; j < 3; j++)
            e[j] = s_hz(cfg->scale, mlo + (mhi - mlo) * (m + j) / (cfg->n_mels + 1));
        double gain = cfg->norm == AB_MEL_NORM_SLANEY ? 2 / (e[2] - e[0]) : 1.0;
        double sum = 0;
        for (uint32_t k = 0; k < bins; k++) {
            double f = (double)k * cfg->rate / n;
            double w = fmin((f - e[0]) / (e[1] - e[0]), (e[2] - f) / (e[2] - e[1]));
            if (w > 0)
                sum += gain * w * spectrum[k];
        }
        if (cfg->log == AB_MEL_LOG_LN)
            out[m] = log(sum + floor_);
        else if (cfg->log == AB_MEL_LOG_NONE)
            out[m] = sum;
        else
            out[m] = (magnitude ? 20 : 10) * log10(sum > floor_ ? sum : floor_);
    }
    free(spectrum);
}

/* A test signal with energy in every band: two tones and white noise. */
static float *s_signal(size_t n, uint32_t rate, uint32_t seed)
{
    float *x = malloc(n * sizeof(float));
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        double noise = ((double)(s >> 8) / (1 << 24) - 0.5) * 0.02;
        x[i] =
            (float)(0.4 * sin(2 * M_PI * 440.0 * i / rate) + 0.2 * sin(2 * M_PI * 2500.0 * i / rate) + noise);
    }
    return x;
}

/* Push x in blocks of the given sizes (cycled); 0 ends the list. */
static int s_push_blocks(ab_logmel_t *mel, const float *x, size_t n, const size_t *sizes, capture_t *c)
{
    int total = 0;
    size_t done = 0, i = 0;
    while (done < n) {
        size_t b = sizes[i];
        if (sizes[++i] == 0)
            i = 0;
        if (b > n - done)
            b = n - done;
        int rc = ab_logmel_push(mel, x + done, b, s_capture, c);
        CHECK(rc >= 0, "push returned %d (%s)", rc, ab_err_name(rc));
        total += rc;
        done += b;
    }
    return total;
}

/* Every captured frame against the reference at its start. Differences are
 * in dB for log kind db, in nepers for ln, and as the dB of the ratio for
 * none. */
static void s_compare(const ab_logmel_config_t *cfg, const float *x, const capture_t *c, double tol_db,
                      const char *what)
{
    double *ref = calloc(cfg->n_mels, sizeof(double));
    double worst = 0;
    for (size_t f = 0; f < c->count && f < MAX_FRAMES; f++) {
        s_reference(cfg, x + c->start[f], ref);
        for (uint32_t m = 0; m < cfg->n_mels; m++) {
            double got = c->mels[f * cfg->n_mels + m];
            double d = cfg->log != AB_MEL_LOG_NONE ? fabs(ref[m] - got)
                       : got == ref[m]             ? 0.0
                                                   : fabs(10 * log10(got / ref[m]));
            if (!(d <= worst))
                worst = d;
            if (!(d <= tol_db)) {
                CHECK(d <= tol_db, "%s: frame %zu band %u: %.6g, reference %.6g", what, f, m, got, ref[m]);
                f = c->count;
                break;
            }
        }
    }
    printf("  %s: %zu frames, worst difference from the reference %.5f %s\n", what, c->count, worst,
           cfg->log == AB_MEL_LOG_LN ? "(natural log)" : "dB");
    free(ref);
}

static void s_test_reference_and_blocking(void)
{
    ab_logmel_config_t cfg = {.rate = 16000, .n_fft = 512, .hop = 160, .n_mels = 40};
    const size_t n = 5000;
    float *x = s_signal(n, cfg.rate, 1);
    ab_logmel_t *mel = ab_logmel_new(&cfg);
    CHECK(mel != NULL, "ab_logmel_new(16000, 512, 160, 40) failed");
    if (!mel)
        return;
    CHECK(ab_logmel_config(mel)->fmax == 8000.0f, "fmax default %g, expected 8000",
          ab_logmel_config(mel)->fmax);

    capture_t *whole = s_capture_new(cfg.n_mels);
    int rc = ab_logmel_push(mel, x, n, s_capture, whole);
    size_t expected = (n - cfg.n_fft) / cfg.hop + 1;
    CHECK(rc == (int)expected && whole->count == expected, "one push gave rc %d, %zu frames; expected %zu",
          rc, whole->count, expected);
    for (size_t f = 0; f < whole->count; f++)
        CHECK(whole->start[f] == f * cfg.hop, "frame %zu starts at %llu, expected %zu", f,
              (unsigned long long)whole->start[f], f * cfg.hop);
    s_compare(&cfg, x, whole, 0.01, "n_fft=512 hop=160 n_mels=40");

    /* The same input in awkward blocks gives the same frames, bit for bit. */
    ab_logmel_destroy(&mel);
    CHECK(mel == NULL, "destroy did not NULL the pointer");
    ab_logmel_destroy(&mel);
    mel = ab_logmel_new(&cfg);
    capture_t *pieces = s_capture_new(cfg.n_mels);
    static const size_t sizes[] = {1, 2, 3, 159, 160, 161, 511, 512, 513, 7, 0};
    rc = s_push_blocks(mel, x, n, sizes, pieces);
    CHECK(rc == (int)expected && pieces->count == whole->count, "blocks gave rc %d, %zu frames; expected %zu",
          rc, pieces->count, whole->count);
    CHECK(memcmp(pieces->start, whole->start, whole->count * sizeof(uint64_t)) == 0, "frame starts differ");
    CHECK(memcmp(pieces->mels, whole->mels, whole->count * cfg.n_mels * sizeof(float)) == 0,
          "frames differ with the block size");

    /* Zero samples is a no-op; bad arguments are refused. */
    CHECK(ab_logmel_push(mel, NULL, 0, s_capture, pieces) == 0, "push of 0 frames");
    rc = ab_logmel_push(mel, x, 10, NULL, NULL);
    CHECK(rc == AB_EINVAL, "push without a callback returned %d, expected AB_EINVAL", rc);
    rc = ab_logmel_push(mel, NULL, 10, s_capture, pieces);
    CHECK(rc == AB_EINVAL, "push of NULL samples returned %d, expected AB_EINVAL", rc);
    rc = ab_logmel_push(NULL, x, 10, s_capture, pieces);
    CHECK(rc == AB_EINVAL, "push to NULL returned %d, expected AB_EINVAL", rc);

    /* After a reset, frames restart at 0 on the new samples only. */
    ab_logmel_push(mel, x, 100, s_capture, pieces); /* leave a partial frame behind */
    ab_logmel_reset(mel);
    capture_t *after = s_capture_new(cfg.n_mels);
    ab_logmel_push(mel, x + 1000, 1000, s_capture, after);
    CHECK(after->count == (1000 - 512) / 160 + 1 && after->start[0] == 0,
          "after reset: %zu frames, first at %llu", after->count, (unsigned long long)after->start[0]);
    s_compare(&cfg, x + 1000, after, 0.01, "after reset");

    s_capture_free(whole);
    s_capture_free(pieces);
    s_capture_free(after);
    ab_logmel_destroy(&mel);
    free(x);
}

static void s_test_other_shapes(void)
{
    /* A size that is not a power of two, hop = n_fft, a band limit. */
    ab_logmel_config_t a = {.rate = 16000, .n_fft = 400, .hop = 400, .n_mels = 23, .fmin = 60, .fmax = 7600};
    /* hop > n_fft: samples between frames are skipped. */
    ab_logmel_config_t b = {.rate = 8000, .n_fft = 64, .hop = 100, .n_mels = 8, .fmin = 300, .fmax = 3000};
    const ab_logmel_config_t *cfgs[] = {&a, &b};
    const char *names[] = {"n_fft=400 hop=400 60..7600 Hz", "n_fft=64 hop=100 (gaps between frames)"};
    for (int t = 0; t < 2; t++) {
        const ab_logmel_config_t *cfg = cfgs[t];
        const size_t n = 4321;
        float *x = s_signal(n, cfg->rate, 7 + t);
        ab_logmel_t *mel = ab_logmel_new(cfg);
        CHECK(mel != NULL, "ab_logmel_new failed for %s", names[t]);
        if (!mel)
            continue;
        capture_t *c = s_capture_new(cfg->n_mels);
        static const size_t sizes[] = {13, 1, 250, 99, 0};
        s_push_blocks(mel, x, n, sizes, c);
        size_t expected = (n - cfg->n_fft) / cfg->hop + 1;
        CHECK(c->count == expected, "%s: %zu frames, expected %zu", names[t], c->count, expected);
        for (size_t f = 0; f < c->count; f++)
            CHECK(c->start[f] == f * cfg->hop, "%s: frame %zu at %llu", names[t], f,
                  (unsigned long long)c->start[f]);
        s_compare(cfg, x, c, 0.01, names[t]);

        float lo, center, hi, prev_hi = 0;
        ab_logmel_band_hz(mel, 0, &lo, NULL, NULL);
        CHECK(lo == cfg->fmin, "%s: band 0 starts at %g Hz, expected fmin %g", names[t], lo, cfg->fmin);
        for (uint32_t m = 0; m < cfg->n_mels; m++) {
            CHECK(ab_logmel_band_hz(mel, m, &lo, &center, &hi) == 0, "band_hz(%u)", m);
            CHECK(lo < center && center < hi, "%s: band %u edges %g %g %g", names[t], m, lo, center, hi);
            if (m > 0)
                CHECK(hi > prev_hi, "%s: band %u ends below band %u", names[t], m, m - 1);
            prev_hi = hi;
        }
        CHECK(hi == cfg->fmax, "%s: last band ends at %g Hz, expected fmax %g", names[t], hi, cfg->fmax);
        CHECK(ab_logmel_band_hz(mel, cfg->n_mels, &lo, &center, &hi) == AB_EINVAL, "band_hz past the end");
        s_capture_free(c);
        ab_logmel_destroy(&mel);
        free(x);
    }
}

/* Each new option against the direct reference: scales, spectra,
 * normalisations, windows and log kinds, in mixes. */
static void s_test_options(void)
{
    const ab_logmel_config_t cfgs[] = {
        {.rate = 16000,
         .n_fft = 400,
         .hop = 160,
         .n_mels = 40,
         .scale = AB_MEL_SCALE_SLANEY,
         .spectrum = AB_MEL_SPECTRUM_MAGNITUDE,
         .norm = AB_MEL_NORM_SLANEY},
        {.rate = 16000,
         .n_fft = 512,
         .hop = 256,
         .n_mels = 30,
         .fmin = 50,
         .norm = AB_MEL_NORM_SLANEY,
         .window = AB_MEL_WINDOW_HAMMING,
         .log = AB_MEL_LOG_LN},
        {.rate = 22050,
         .n_fft = 256,
         .hop = 100,
         .n_mels = 20,
         .fmin = 100,
         .fmax = 5000,
         .scale = AB_MEL_SCALE_SLANEY,
         .window = AB_MEL_WINDOW_RECT,
         .log = AB_MEL_LOG_NONE},
        {.rate = 8000,
         .n_fft = 200,
         .hop = 80,
         .n_mels = 16,
         .floor = 1e-3f,
         .spectrum = AB_MEL_SPECTRUM_MAGNITUDE,
         .log = AB_MEL_LOG_LN},
    };
    const char *names[] = {"slaney scale, magnitude, slaney norm", "htk, power, slaney norm, hamming, ln",
                           "slaney scale, rect window, no log", "magnitude, ln, floor 1e-3"};
    for (size_t t = 0; t < sizeof cfgs / sizeof cfgs[0]; t++) {
        const ab_logmel_config_t *cfg = &cfgs[t];
        const size_t n = 3000;
        float *x = s_signal(n, cfg->rate, 11 + (uint32_t)t);
        ab_logmel_t *mel = ab_logmel_new(cfg);
        CHECK(mel != NULL, "ab_logmel_new refused %s", names[t]);
        if (!mel) {
            free(x);
            continue;
        }
        capture_t *c = s_capture_new(cfg->n_mels);
        static const size_t sizes[] = {100, 3, 999, 0};
        s_push_blocks(mel, x, n, sizes, c);
        CHECK(c->count == (n - cfg->n_fft) / cfg->hop + 1, "%s: %zu frames", names[t], c->count);
        s_compare(cfg, x, c, 0.01, names[t]);
        s_capture_free(c);
        ab_logmel_destroy(&mel);
        free(x);
    }
}

static void s_test_scales(void)
{
    /* Slaney: librosa.hz_to_mel's documented values, and the joints. */
    static const struct {
        double hz, mel;
    } slaney[] = {
        {0, 0},     {60, 0.9},  {110, 1.65},
        {220, 3.3}, {440, 6.6}, {200, 3},
        {1000, 15}, {6400, 42}, {11025, 49.91059448015905},
    };
    for (size_t i = 0; i < sizeof slaney / sizeof slaney[0]; i++) {
        double mel = ab_mel_scale_from_hz(AB_MEL_SCALE_SLANEY, slaney[i].hz);
        double hz = ab_mel_scale_to_hz(AB_MEL_SCALE_SLANEY, slaney[i].mel);
        CHECK(fabs(mel - slaney[i].mel) < 1e-9, "slaney mel(%g Hz) = %.12g, expected %.12g", slaney[i].hz,
              mel, slaney[i].mel);
        CHECK(fabs(hz - slaney[i].hz) < 1e-9 * (1 + slaney[i].hz),
              "slaney hz(%g mel) = %.12g, expected %.12g", slaney[i].mel, hz, slaney[i].hz);
    }
    /* HTK: the old functions and the scale-taking ones agree. */
    CHECK(fabs(ab_mel_scale_from_hz(AB_MEL_SCALE_HTK, 700) - 2595 * log10(2.0)) < 1e-9,
          "htk mel(700 Hz) = %.8f", ab_mel_scale_from_hz(AB_MEL_SCALE_HTK, 700));
    for (double hz = 0; hz <= 24000; hz += 123.25) {
        CHECK(ab_mel_scale_from_hz(AB_MEL_SCALE_HTK, hz) == ab_mel_from_hz(hz), "htk mel(%g) differs", hz);
        for (int s = 0; s < 2; s++) {
            double back = ab_mel_scale_to_hz((ab_mel_scale_t)s, ab_mel_scale_from_hz((ab_mel_scale_t)s, hz));
            CHECK(fabs(back - hz) < 1e-9 * (1 + hz), "scale %d: hz(mel(%g)) = %.12g", s, hz, back);
        }
    }
    /* Continuous where Slaney's scale turns logarithmic. */
    double below = ab_mel_scale_from_hz(AB_MEL_SCALE_SLANEY, 1000 - 1e-9);
    CHECK(fabs(below - 15) < 1e-9, "slaney mel just below 1000 Hz = %.12g", below);
    CHECK(isnan(ab_mel_scale_from_hz((ab_mel_scale_t)7, 100)) &&
              isnan(ab_mel_scale_to_hz((ab_mel_scale_t)7, 1)),
          "an unknown scale gives NaN");
}

/* The filterbank getter: peaks of 1, areas of 1 with norm slaney, the same
 * triangles scaled by 2 / (hi - lo). */
static void s_test_filterbank(void)
{
    for (int s = 0; s < 2; s++) {
        ab_logmel_config_t cfg = {
            .rate = 48000, .n_fft = 8192, .hop = 480, .n_mels = 40, .fmin = 100, .scale = (ab_mel_scale_t)s};
        ab_logmel_t *peak = ab_logmel_new(&cfg);
        cfg.norm = AB_MEL_NORM_SLANEY;
        ab_logmel_t *area = ab_logmel_new(&cfg);
        const uint32_t bins = cfg.n_fft / 2 + 1;
        const size_t count = (size_t)cfg.n_mels * bins;
        double *a = calloc(count, sizeof(double)), *b = calloc(count, sizeof(double));
        CHECK(peak && area && a && b, "scale %d: setup", s);
        if (!peak || !area || !a || !b)
            return;
        CHECK(ab_logmel_filterbank(peak, a, count - 1) == AB_EINVAL, "a short buffer is refused");
        CHECK(ab_logmel_filterbank(NULL, a, count) == AB_EINVAL, "NULL self is refused");
        CHECK(ab_logmel_filterbank(peak, NULL, count) == AB_EINVAL, "NULL weights are refused");
        CHECK(ab_logmel_filterbank(peak, a, count) == 0 && ab_logmel_filterbank(area, b, count) == 0,
              "filterbank copies");
        const double bin_hz = (double)cfg.rate / cfg.n_fft;
        double worst_area = 0, worst_peak = 0;
        for (uint32_t m = 0; m < cfg.n_mels; m++) {
            float lo, center, hi;
            ab_logmel_band_hz(area, m, &lo, &center, &hi);
            double max = 0, sum = 0, gain = 2.0 / ((double)hi - lo);
            for (uint32_t k = 0; k < bins; k++) {
                double wa = a[(size_t)m * bins + k], wb = b[(size_t)m * bins + k];
                max = fmax(max, wa);
                sum += wb * bin_hz;
                if (fabs(wb - wa * gain) > 1e-6 * gain) {
                    CHECK(fabs(wb - wa * gain) <= 1e-6 * gain,
                          "scale %d band %u bin %u: %g, expected %g x %g", s, m, k, wb, wa, gain);
                    break;
                }
                /* Zero outside the triangle's edges. */
                double f = k * bin_hz;
                if (f <= lo || f >= hi)
                    CHECK(wa == 0, "scale %d band %u: weight %g at %g Hz, outside %g..%g", s, m, wa, f, lo,
                          hi);
            }
            /* The sampled triangle's area is 1 up to the bin spacing's error. */
            worst_area = fmax(worst_area, fabs(sum - 1));
            worst_peak = fmax(worst_peak, 1 - max);
            CHECK(max <= 1.0 && max > 1 - bin_hz / ((double)center - lo), "scale %d band %u: peak %g", s, m,
                  max);
        }
        CHECK(worst_area < 0.01, "scale %d: norm slaney areas differ from 1 by up to %g", s, worst_area);
        printf("  filterbank scale %d: areas within %.2e of 1 (norm slaney), peaks within %.2e of 1 (norm "
               "none)\n",
               s, worst_area, worst_peak);
        free(a);
        free(b);
        ab_logmel_destroy(&peak);
        ab_logmel_destroy(&area);
    }
}

/* The log kinds of one configuration agree with each other, and the
 * defaults of floor per spectrum kind give -100 dB on silence. */
static void s_test_log_kinds(void)
{
    const size_t n = 2000;
    float *x = s_signal(n, 16000, 5);
    for (int s = 0; s < 2; s++) {
        ab_logmel_config_t cfg = {.rate = 16000,
                                  .n_fft = 512,
                                  .hop = 160,
                                  .n_mels = 24,
                                  .fmin = 100,
                                  .spectrum = (ab_mel_spectrum_t)s};
        capture_t *c[3];
        for (int l = 0; l < 3; l++) {
            cfg.log = (ab_mel_log_t)l;
            ab_logmel_t *mel = ab_logmel_new(&cfg);
            c[l] = s_capture_new(cfg.n_mels);
            ab_logmel_push(mel, x, n, s_capture, c[l]);
            ab_logmel_destroy(&mel);
        }
        const double per_decade = s ? 20.0 : 10.0;
        const double floor_ = s ? 1e-5 : 1e-10;
        for (size_t i = 0; i < c[0]->count * cfg.n_mels; i++) {
            double db = c[0]->mels[i], ln = c[1]->mels[i], e = c[2]->mels[i];
            bool ok = fabs(db - per_decade * log10(e)) < 1e-4 && fabs(ln - log(e + floor_)) < 1e-5;
            if (!ok) {
                CHECK(ok, "spectrum %d value %zu: db %g ln %g none %g disagree", s, i, db, ln, e);
                break;
            }
        }
        for (int l = 0; l < 3; l++)
            s_capture_free(c[l]);

        float zeros[512] = {0};
        capture_t *silent = s_capture_new(cfg.n_mels);
        for (int l = 0; l < 3; l++) {
            cfg.log = (ab_mel_log_t)l;
            ab_logmel_t *mel = ab_logmel_new(&cfg);
            CHECK(ab_logmel_config(mel)->floor == (float)floor_, "spectrum %d: default floor %g, expected %g",
                  s, ab_logmel_config(mel)->floor, floor_);
            silent->count = 0;
            ab_logmel_push(mel, zeros, 512, s_capture, silent);
            double expected = l == AB_MEL_LOG_DB ? -100.0 : l == AB_MEL_LOG_LN ? log(floor_) : 0.0;
            CHECK(silent->count == 1 && fabs(silent->mels[0] - expected) < 1e-4,
                  "spectrum %d log %d: silence reads %g, expected %g", s, l, silent->mels[0], expected);
            ab_logmel_destroy(&mel);
        }
        s_capture_free(silent);
    }
    free(x);
}

static void s_test_silence_and_scale(void)
{
    ab_logmel_config_t cfg = {.rate = 16000, .n_fft = 256, .hop = 128, .n_mels = 10};
    ab_logmel_t *mel = ab_logmel_new(&cfg);
    float zeros[1024] = {0};
    capture_t *c = s_capture_new(cfg.n_mels);
    ab_logmel_push(mel, zeros, 1024, s_capture, c);
    CHECK(c->count == 7, "%zu frames of silence, expected 7", c->count);
    for (size_t i = 0; i < c->count * cfg.n_mels; i++)
        if (fabsf(c->mels[i] + 100.0f) > 1e-3f) {
            CHECK(fabsf(c->mels[i] + 100.0f) <= 1e-3f, "silence reads %g dB, expected the -100 dB floor",
                  c->mels[i]);
            break;
        }
    s_capture_free(c);
    ab_logmel_destroy(&mel);

    double m1000 = ab_mel_from_hz(1000.0);
    CHECK(fabs(m1000 - 999.9855) < 1e-3, "mel(1000 Hz) = %.4f, expected 999.9855 (HTK)", m1000);
    CHECK(fabs(ab_mel_to_hz(ab_mel_from_hz(4321.0)) - 4321.0) < 1e-6,
          "mel_to_hz does not invert mel_from_hz");
}

static void s_test_bad_configs(void)
{
    const ab_logmel_config_t good = {.rate = 16000, .n_fft = 512, .hop = 160, .n_mels = 40};
    struct {
        const char *what;
        ab_logmel_config_t cfg;
    } bad[] = {
        {"rate 0", good},          {"odd n_fft", good},
        {"n_fft 0", good},         {"n_fft too big", good},
        {"hop 0", good},           {"n_mels 0", good},
        {"n_mels too many", good}, {"fmax above rate/2", good},
        {"fmin >= fmax", good},    {"negative fmin", good},
        {"NaN fmin", good},        {"negative floor", good},
        {"infinite floor", good},  {"scale 2", good},
        {"spectrum 2", good},      {"norm 2", good},
        {"window 3", good},        {"log 3", good},
    };
    bad[0].cfg.rate = 0;
    bad[1].cfg.n_fft = 511;
    bad[2].cfg.n_fft = 0;
    bad[3].cfg.n_fft = AB_LOGMEL_MAX_FFT + 2;
    bad[4].cfg.hop = 0;
    bad[5].cfg.n_mels = 0;
    bad[6].cfg.n_mels = AB_LOGMEL_MAX_MELS + 1;
    bad[7].cfg.fmax = 8001;
    bad[8].cfg.fmin = 4000, bad[8].cfg.fmax = 4000;
    bad[9].cfg.fmin = -1;
    bad[10].cfg.fmin = NAN;
    bad[11].cfg.floor = -1;
    bad[12].cfg.floor = INFINITY;
    bad[13].cfg.scale = (ab_mel_scale_t)2;
    bad[14].cfg.spectrum = (ab_mel_spectrum_t)2;
    bad[15].cfg.norm = (ab_mel_norm_t)2;
    bad[16].cfg.window = (ab_mel_window_t)3;
    bad[17].cfg.log = (ab_mel_log_t)3;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ab_logmel_t *mel = ab_logmel_new(&bad[i].cfg);
        CHECK(mel == NULL, "ab_logmel_new accepted %s", bad[i].what);
        ab_logmel_destroy(&mel);
    }
    CHECK(ab_logmel_new(NULL) == NULL, "ab_logmel_new(NULL)");
    ab_logmel_t *mel = ab_logmel_new(&good);
    CHECK(mel != NULL, "the good configuration was refused");
    ab_logmel_destroy(&mel);
}

int main(void)
{
    s_test_reference_and_blocking();
    s_test_other_shapes();
    s_test_options();
    s_test_scales();
    s_test_filterbank();
    s_test_log_kinds();
    s_test_silence_and_scale();
    s_test_bad_configs();
    if (s_failures) {
        fprintf(stderr, "test_mel: %d checks failed\n", s_failures);
        return 1;
    }
    printf("test_mel: all checks passed\n");
    return 0;
}
