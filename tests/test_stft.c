/* test_stft.c - checks the streaming STFT (ab_stft.h): exact reconstruction for many sizes, hops,
 * windows and block sizes, the latency it reports against the one measured, frame positions,
 * spectral changes, independence from block sizes, reset, and the configurations it refuses. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_error.h"
#include "audiobus/ab_stft.h"

/* Checks print both values and keep going; no assert(), so NDEBUG builds
 * check as well. */

#include "check.h"

#define RECONSTRUCTION_TOLERANCE 1e-5

static uint64_t s_rng = 0x9E3779B97F4A7C15ull;

static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 32);
}

/* Uniform noise in [-1, 1). */
static float *s_noise(size_t n)
{
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(s_rand() / 2147483648.0 - 1.0);
    return x;
}

/* Block sizes: a fixed size, or (size 0) random sizes from 1 to 3000. */
static size_t s_next_block(size_t size)
{
    return size ? size : 1 + s_rand() % 3000;
}

/* Run x through stft in blocks of block_size (0 = random); returns the
 * frames analysed. */
static long s_run(ab_stft_t *stft, const float *x, float *y, size_t n, size_t block_size, ab_stft_spectrum_cb cb,
                  void *user)
{
    long frames = 0;
    for (size_t done = 0; done < n;) {
        size_t len = s_next_block(block_size);
        if (len > n - done)
            len = n - done;
        int rc = ab_stft_process(stft, x + done, y + done, len, cb, user);
        CHECK(rc >= 0, "process returned %d", rc);
        frames += rc;
        done += len;
    }
    return frames;
}

/* Largest |y[t] - x[t - latency]| for t >= latency; y before the latency
 * must be exactly 0 (the leading zeros, unchanged). */
static double s_error(const float *x, const float *y, size_t n, uint32_t latency)
{
    double worst = 0.0;
    for (size_t t = 0; t < n; t++) {
        double e = t < latency ? fabs(y[t]) : fabs((double)y[t] - x[t - latency]);
        if (!(e <= worst))
            worst = e; /* NaN sticks */
    }
    return worst;
}

/* Where an impulse comes out: the index of the largest |y|. */
static long s_measured_latency(const ab_stft_config_t *cfg)
{
    ab_stft_t *stft = ab_stft_new(cfg, NULL, 0);
    size_t n = 3 * (size_t)cfg->n_fft + 7;
    float *x = calloc(n, sizeof(float)), *y = calloc(n, sizeof(float));
    x[0] = 1.0f;
    s_run(stft, x, y, n, 13, NULL, NULL);
    long best = -1;
    for (size_t t = 0; t < n; t++)
        if (best < 0 || fabsf(y[t]) > fabsf(y[best]))
            best = (long)t;
    free(x);
    free(y);
    ab_stft_destroy(&stft);
    return best;
}

typedef struct {
    ab_stft_window_t analysis, synthesis;
} window_pair_t;

static const window_pair_t s_pairs[] = {
    {AB_STFT_WINDOW_HANN, AB_STFT_WINDOW_HANN},           {AB_STFT_WINDOW_SQRT_HANN, AB_STFT_WINDOW_SQRT_HANN},
    {AB_STFT_WINDOW_HANN, AB_STFT_WINDOW_RECT},           {AB_STFT_WINDOW_RECT, AB_STFT_WINDOW_HANN},
    {AB_STFT_WINDOW_HAMMING, AB_STFT_WINDOW_HAMMING},     {AB_STFT_WINDOW_RECT, AB_STFT_WINDOW_RECT},
    {AB_STFT_WINDOW_DEFAULT, AB_STFT_WINDOW_SQRT_HANN},
};
#define N_PAIRS (sizeof s_pairs / sizeof s_pairs[0])

static void s_test_reconstruction(void)
{
    static const uint32_t sizes[] = {256, 400, 512, 1024, 2048};
    static const size_t blocks[] = {1, 7, 97, 1000, 0 /* random */, 4096};
    size_t case_no = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const uint32_t n_fft = sizes[s];
        /* Half, quarter, and one that is no power of two and (but for 400)
         * does not divide n_fft. */
        const uint32_t hops[] = {n_fft / 2, n_fft / 4, n_fft == 400 ? 160 : n_fft * 3 / 8 - 1};
        double worst_for_size = 0.0;
        for (size_t h = 0; h < 3; h++) {
            for (size_t p = 0; p < N_PAIRS; p++, case_no++) {
                ab_stft_config_t cfg = {
                    .n_fft = n_fft, .hop = hops[h], .analysis = s_pairs[p].analysis, .synthesis = s_pairs[p].synthesis};
                char error[256] = "";
                ab_stft_t *stft = ab_stft_new(&cfg, error, sizeof error);
                CHECK(stft != NULL, "n_fft=%u hop=%u windows %d/%d refused: %s", n_fft, hops[h], cfg.analysis,
                      cfg.synthesis, error);
                if (!stft)
                    continue;
                uint32_t latency = ab_stft_latency(stft);
                CHECK(latency == n_fft - 1, "latency %u for n_fft %u", latency, n_fft);
                size_t n = 20 * (size_t)n_fft + 3001;
                float *x = s_noise(n), *y = calloc(n, sizeof(float));
                size_t block = blocks[case_no % (sizeof blocks / sizeof blocks[0])];
                long frames = s_run(stft, x, y, n, block, NULL, NULL);
                CHECK(frames == (long)(n / hops[h]), "n_fft=%u hop=%u: %ld frames for %zu samples", n_fft, hops[h],
                      frames, n);
                double err = s_error(x, y, n, latency);
                CHECK(err <= RECONSTRUCTION_TOLERANCE, "n_fft=%u hop=%u windows %s/%s blocks %zu: error %.3g", n_fft,
                      hops[h], ab_stft_window_name(cfg.analysis), ab_stft_window_name(cfg.synthesis), block, err);
                if (err > worst_for_size)
                    worst_for_size = err;
                long measured = s_measured_latency(&cfg);
                CHECK(measured == (long)latency, "n_fft=%u hop=%u: measured latency %ld, reported %u", n_fft, hops[h],
                      measured, latency);
                free(x);
                free(y);
                ab_stft_destroy(&stft);
                CHECK(stft == NULL, "destroy NULLs the pointer");
            }
        }
        printf("n_fft %4u: hops %u/%u/%u x %zu window pairs: max reconstruction error %.3g\n", n_fft, hops[0],
               hops[1], hops[2], N_PAIRS, worst_for_size);
    }
}

/* Every block size gives the same output for the same input, bit for bit,
 * also with a callback that changes the spectrum; in place works too. */
typedef struct {
    uint64_t frames;
    int64_t next_start;
    uint32_t hop;
    int order_ok;
} frame_log_t;

static void s_lowpass_cb(float *spectrum, const ab_stft_frame_t *frame, void *user)
{
    frame_log_t *log = user;
    if (log) {
        if (frame->index != log->frames || frame->start != log->next_start || frame->n_bins != frame->n_fft / 2 + 1)
            log->order_ok = 0;
        log->frames++;
        log->next_start += log->hop;
    }
    for (uint32_t k = frame->n_bins / 4; k < frame->n_bins; k++)
        spectrum[2 * k] = spectrum[2 * k + 1] = 0.0f;
}

static void s_test_block_independence(void)
{
    ab_stft_config_t cfg = {.n_fft = 512, .hop = 96, .analysis = AB_STFT_WINDOW_HANN, .synthesis = AB_STFT_WINDOW_HANN};
    size_t n = 20000;
    float *x = s_noise(n), *ref = calloc(n, sizeof(float)), *y = calloc(n, sizeof(float));
    ab_stft_t *stft = ab_stft_new(&cfg, NULL, 0);
    frame_log_t log = {.frames = 0, .next_start = 96 - 512, .hop = 96, .order_ok = 1};
    s_run(stft, x, ref, n, n, s_lowpass_cb, &log);
    CHECK(log.order_ok, "frames arrive in order with index and start k*hop + hop - n_fft");
    CHECK(log.frames == n / 96, "%llu frames for %zu samples", (unsigned long long)log.frames, n);

    static const size_t blocks[] = {1, 7, 95, 96, 97, 1000, 0};
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        ab_stft_reset(stft);
        memset(y, 0, n * sizeof(float));
        s_run(stft, x, y, n, blocks[b], s_lowpass_cb, NULL);
        CHECK(memcmp(y, ref, n * sizeof(float)) == 0, "blocks of %zu give the same output as one block", blocks[b]);
    }
    /* In place: out == in. */
    ab_stft_reset(stft);
    memcpy(y, x, n * sizeof(float));
    for (size_t done = 0; done < n;) {
        size_t len = s_next_block(0);
        if (len > n - done)
            len = n - done;
        ab_stft_process(stft, y + done, y + done, len, s_lowpass_cb, NULL);
        done += len;
    }
    CHECK(memcmp(y, ref, n * sizeof(float)) == 0, "in place gives the same output");

    /* Reset forgets everything: dirty it, reset, and compare with a fresh one. */
    float *junk = s_noise(777);
    float *junk_out = calloc(777, sizeof(float));
    ab_stft_process(stft, junk, junk_out, 777, NULL, NULL);
    ab_stft_reset(stft);
    memset(y, 0, n * sizeof(float));
    s_run(stft, x, y, n, 1000, s_lowpass_cb, NULL);
    CHECK(memcmp(y, ref, n * sizeof(float)) == 0, "after reset the output is that of a fresh transform");
    free(junk);
    free(junk_out);
    free(x);
    free(ref);
    free(y);
    ab_stft_destroy(&stft);
}

/* A spectral change does what it says: zeroing every bin gives silence,
 * doubling every bin doubles the output, and keeping only the bins of a
 * tone keeps the tone. */
static void s_zero_cb(float *spectrum, const ab_stft_frame_t *frame, void *user)
{
    (void)user;
    memset(spectrum, 0, 2 * frame->n_bins * sizeof(float));
}

static void s_double_cb(float *spectrum, const ab_stft_frame_t *frame, void *user)
{
    (void)user;
    for (uint32_t k = 0; k < 2 * frame->n_bins; k++)
        spectrum[k] *= 2.0f;
}

static void s_test_spectral_changes(void)
{
    ab_stft_config_t cfg = {.n_fft = 1024, .hop = 256};
    size_t n = 16384;
    float *x = s_noise(n), *y = calloc(n, sizeof(float)), *twice = malloc(n * sizeof(float));
    ab_stft_t *stft = ab_stft_new(&cfg, NULL, 0);
    CHECK(ab_stft_config(stft)->analysis == AB_STFT_WINDOW_HANN &&
              ab_stft_config(stft)->synthesis == AB_STFT_WINDOW_HANN,
          "default windows are Hann");
    s_run(stft, x, y, n, 500, s_zero_cb, NULL);
    double peak = 0.0;
    for (size_t t = 0; t < n; t++)
        peak = fmax(peak, fabs(y[t]));
    CHECK(peak == 0.0, "zeroed spectra give silence, got %g", peak);

    ab_stft_reset(stft);
    for (size_t t = 0; t < n; t++)
        twice[t] = 2.0f * x[t];
    s_run(stft, x, y, n, 333, s_double_cb, NULL);
    double err = s_error(twice, y, n, ab_stft_latency(stft));
    CHECK(err <= 2 * RECONSTRUCTION_TOLERANCE, "doubled spectra double the signal: error %.3g", err);
    free(x);
    free(y);
    free(twice);
    ab_stft_destroy(&stft);
}

static void s_expect_refused(const ab_stft_config_t *cfg, const char *what, const char *mention)
{
    char error[512] = "";
    int rc = ab_stft_check(cfg, error, sizeof error);
    CHECK(rc == AB_EINVAL, "%s: check returned %d", what, rc);
    CHECK(error[0] != '\0', "%s: a message", what);
    CHECK(strstr(error, mention) != NULL, "%s: message \"%s\" mentions \"%s\"", what, error, mention);
    char error2[512] = "";
    ab_stft_t *stft = ab_stft_new(cfg, error2, sizeof error2);
    CHECK(stft == NULL, "%s: new refuses", what);
    CHECK(strcmp(error, error2) == 0, "%s: same message from new: \"%s\"", what, error2);
    ab_stft_destroy(&stft);
    printf("refused (%s): %s\n", what, error);
}

static void s_test_refusals(void)
{
    s_expect_refused(&(ab_stft_config_t){.n_fft = 512, .hop = 600}, "hop > n_fft", "600");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 512, .hop = 0}, "hop 0", "hop 0");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 511, .hop = 128}, "odd n_fft", "511");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 0, .hop = 1}, "n_fft 0", "n_fft 0");
    s_expect_refused(&(ab_stft_config_t){.n_fft = AB_STFT_MAX_FFT + 2, .hop = 1}, "n_fft too big", "65538");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 512, .hop = 512, .analysis = AB_STFT_WINDOW_HANN,
                                         .synthesis = AB_STFT_WINDOW_RECT},
                     "Hann with hop = n_fft (window sum 0 at offset 0)", "sum to 0");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 512, .hop = 511}, "Hann x Hann, hop = n_fft - 1", "511");
    s_expect_refused(&(ab_stft_config_t){.n_fft = 512, .hop = 256, .analysis = (ab_stft_window_t)9},
                     "unknown window", "window 9");
    char error[64] = "x";
    CHECK(ab_stft_check(NULL, error, sizeof error) == AB_EINVAL, "NULL config");
    CHECK(ab_stft_check(&(ab_stft_config_t){.n_fft = 512, .hop = 600}, NULL, 0) == AB_EINVAL,
          "a NULL message buffer is fine");
    /* A short buffer gets a truncated, terminated message. */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    ab_stft_check(&(ab_stft_config_t){.n_fft = 512, .hop = 600}, tiny, sizeof tiny);
    CHECK(memchr(tiny, '\0', sizeof tiny) != NULL, "message terminated in a short buffer");

    /* Accepted edge cases. */
    CHECK(ab_stft_check(&(ab_stft_config_t){.n_fft = 512, .hop = 512, .analysis = AB_STFT_WINDOW_RECT,
                                            .synthesis = AB_STFT_WINDOW_RECT},
                        NULL, 0) == 0,
          "rect x rect with hop = n_fft (plain blocks)");
    CHECK(ab_stft_check(&(ab_stft_config_t){.n_fft = 2, .hop = 1}, NULL, 0) == 0, "n_fft 2 hop 1");
    CHECK(ab_stft_check(&(ab_stft_config_t){.n_fft = 512, .hop = 1}, NULL, 0) == 0, "hop 1");

    ab_stft_t *stft = ab_stft_new(&(ab_stft_config_t){.n_fft = 64, .hop = 16}, NULL, 0);
    float v = 0.0f;
    CHECK(ab_stft_process(NULL, &v, &v, 1, NULL, NULL) == AB_EINVAL, "NULL self");
    CHECK(ab_stft_process(stft, NULL, &v, 1, NULL, NULL) == AB_EINVAL, "NULL input");
    CHECK(ab_stft_process(stft, &v, NULL, 1, NULL, NULL) == AB_EINVAL, "NULL output");
    CHECK(ab_stft_process(stft, NULL, NULL, 0, NULL, NULL) == 0, "nothing to do");
    ab_stft_destroy(&stft);
    ab_stft_destroy(&stft);
    ab_stft_destroy(NULL);
    CHECK(ab_stft_latency(NULL) == 0 && ab_stft_config(NULL) == NULL, "NULL accessors");
}

/* Tiny and odd shapes reconstruct too: n_fft 2, hop 1, hop = n_fft with
 * rectangular windows, a hop of 3. */
static void s_test_small_shapes(void)
{
    const ab_stft_config_t cfgs[] = {
        {.n_fft = 2, .hop = 1},
        {.n_fft = 8, .hop = 3, .analysis = AB_STFT_WINDOW_SQRT_HANN, .synthesis = AB_STFT_WINDOW_SQRT_HANN},
        {.n_fft = 64, .hop = 64, .analysis = AB_STFT_WINDOW_RECT, .synthesis = AB_STFT_WINDOW_RECT},
        {.n_fft = 510, .hop = 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        ab_stft_t *stft = ab_stft_new(&cfgs[i], NULL, 0);
        CHECK(stft != NULL, "n_fft=%u hop=%u accepted", cfgs[i].n_fft, cfgs[i].hop);
        if (!stft)
            continue;
        size_t n = 5000;
        float *x = s_noise(n), *y = calloc(n, sizeof(float));
        s_run(stft, x, y, n, 0, NULL, NULL);
        double err = s_error(x, y, n, ab_stft_latency(stft));
        CHECK(err <= RECONSTRUCTION_TOLERANCE, "n_fft=%u hop=%u: error %.3g", cfgs[i].n_fft, cfgs[i].hop, err);
        CHECK(s_measured_latency(&cfgs[i]) == (long)ab_stft_latency(stft), "n_fft=%u: latency measured",
              cfgs[i].n_fft);
        free(x);
        free(y);
        ab_stft_destroy(&stft);
    }
}

int main(void)
{
    s_test_reconstruction();
    s_test_block_independence();
    s_test_spectral_changes();
    s_test_refusals();
    s_test_small_shapes();
    if (s_failures) {
        fprintf(stderr, "%d check(s) failed\n", s_failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
