/* test_mel.c - checks the streaming log-mel front end against a direct DFT in double precision. */
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
static int s_failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            s_failures++;                                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
        }                                                                                                    \
    } while (0)

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

/* The definition in ab_mel.h, written out independently: periodic Hann,
 * direct DFT, HTK triangles of peak 1, 10 log10(max(E, floor)). */
static void s_reference(const ab_logmel_config_t *cfg, const float *x, double *out)
{
    uint32_t n = cfg->n_fft, bins = n / 2 + 1;
    double fmax = cfg->fmax > 0 ? cfg->fmax : cfg->rate / 2.0;
    double *power = calloc(bins, sizeof(double));
    for (uint32_t k = 0; k < bins; k++) {
        double re = 0, im = 0;
        for (uint32_t i = 0; i < n; i++) {
            double w = 0.5 - 0.5 * cos(2 * M_PI * i / n);
            double a = -2 * M_PI * (double)k * i / n;
            re += w * x[i] * cos(a);
            im += w * x[i] * sin(a);
        }
        power[k] = re * re + im * im;
    }
    double mlo = 2595 * log10(1 + cfg->fmin / 700.0), mhi = 2595 * log10(1 + fmax / 700.0);
    for (uint32_t m = 0; m < cfg->n_mels; m++) {
        double e[3];
        for (int j = 0; j < 3; j++)
            e[j] = 700 * (pow(10, (mlo + (mhi - mlo) * (m + j) / (cfg->n_mels + 1)) / 2595) - 1);
        double sum = 0;
        for (uint32_t k = 0; k < bins; k++) {
            double f = (double)k * cfg->rate / n;
            double w = fmin((f - e[0]) / (e[1] - e[0]), (e[2] - f) / (e[2] - e[1]));
            if (w > 0)
                sum += w * power[k];
        }
        double floor_ = cfg->floor > 0 ? cfg->floor : 1e-10;
        out[m] = 10 * log10(sum > floor_ ? sum : floor_);
    }
    free(power);
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

/* Every captured frame against the reference at its start. */
static void s_compare(const ab_logmel_config_t *cfg, const float *x, const capture_t *c, double tol_db,
                      const char *what)
{
    double *ref = calloc(cfg->n_mels, sizeof(double));
    double worst = 0;
    for (size_t f = 0; f < c->count && f < MAX_FRAMES; f++) {
        s_reference(cfg, x + c->start[f], ref);
        for (uint32_t m = 0; m < cfg->n_mels; m++) {
            double d = fabs(ref[m] - c->mels[f * cfg->n_mels + m]);
            if (d > worst)
                worst = d;
            if (d > tol_db) {
                CHECK(d <= tol_db, "%s: frame %zu band %u: %.4f dB, reference %.4f dB", what, f, m,
                      c->mels[f * cfg->n_mels + m], ref[m]);
                f = c->count;
                break;
            }
        }
    }
    printf("  %s: %zu frames, worst difference from the reference %.5f dB\n", what, c->count, worst);
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
    s_test_silence_and_scale();
    s_test_bad_configs();
    if (s_failures) {
        fprintf(stderr, "test_mel: %d checks failed\n", s_failures);
        return 1;
    }
    printf("test_mel: all checks passed\n");
    return 0;
}
