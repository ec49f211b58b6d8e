/* test_probe.c - the latency profiler's probe detector (src/ab_probe.c): a
 * probe is found at its exact offset after gain, inversion, DC, a low-pass
 * filter and noise; not in noise alone, nor when another code is sent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab_probe.h"


#include "check.h"

#define N 12000

static uint64_t s_rng = 12345;

/* Uniform in [-1, 1). */
static float s_noise(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (float)((double)(s_rng >> 11) / 4503599627370496.0 - 1.0);
}

/* x = gain * probe at offset + dc + noise * noise_level, then an optional
 * one-pole low-pass (a converter's band limit, roughly). */
static void s_make(float *x, const float *probe, size_t offset, float gain, float dc, float noise_level,
                   float lowpass)
{
    for (size_t i = 0; i < N; i++) {
        float v = dc + noise_level * s_noise();
        if (probe && i >= offset && i < offset + AB_PROBE_FRAMES)
            v += gain * probe[i - offset];
        x[i] = v;
    }
    if (lowpass > 0) {
        float y = 0;
        for (size_t i = 0; i < N; i++)
            x[i] = y = y + lowpass * (x[i] - y);
    }
}

int main(void)
{
    static float probes[AB_PROBE_CODES][AB_PROBE_FRAMES];
    static float x[N];
    for (unsigned c = 0; c < AB_PROBE_CODES; c++)
        ab_probe_code(c, 0.5f, probes[c]);

    /* The codes are fixed, +-amplitude, balanced enough, and differ. */
    float again[AB_PROBE_FRAMES];
    ab_probe_code(AB_PROBE_CODES + 1, 0.5f, again);
    CHECK(memcmp(again, probes[1], sizeof again) == 0, "code numbers wrap modulo AB_PROBE_CODES");
    for (unsigned c = 0; c < AB_PROBE_CODES; c++) {
        int positive = 0;
        for (int i = 0; i < AB_PROBE_FRAMES; i++) {
            CHECK(fabsf(probes[c][i]) == 0.5f, "chip %d of code %u is +-0.5: %f", i, c, probes[c][i]);
            positive += probes[c][i] > 0;
        }
        CHECK(positive > 96 && positive < 160, "code %u: %d of 256 chips positive", c, positive);
        for (unsigned d = c + 1; d < AB_PROBE_CODES; d++)
            CHECK(memcmp(probes[c], probes[d], sizeof probes[c]) != 0, "codes %u and %u differ", c, d);
    }

    /* Exact loop: score 1 at the offset, at the edges too. */
    size_t offsets[] = {0, 1, 511, 4321, N - AB_PROBE_FRAMES};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        s_make(x, probes[0], offsets[k], 1.0f, 0, 0, 0);
        ab_probe_match_t m = ab_probe_find(x, N, probes[0]);
        CHECK(m.lag == offsets[k] && fabs(m.score - 1.0) < 1e-9, "exact at %zu: lag %zu score %f", offsets[k], m.lag,
              m.score);
    }

    /* Gain, inversion, DC offset, noise at -20 dB of the probe, low-pass. */
    s_make(x, probes[2], 777, 0.05f, 0, 0, 0);
    ab_probe_match_t m = ab_probe_find(x, N, probes[2]);
    CHECK(m.lag == 777 && m.score > 0.99, "quiet (-26 dB): lag %zu score %f", m.lag, m.score);
    s_make(x, probes[2], 777, -0.8f, 0, 0, 0);
    m = ab_probe_find(x, N, probes[2]);
    CHECK(m.lag == 777 && m.score < -0.99, "inverted: lag %zu score %f", m.lag, m.score);
    s_make(x, probes[2], 777, 1.0f, 0.2f, 0.05f, 0);
    m = ab_probe_find(x, N, probes[2]);
    CHECK(m.lag == 777 && m.score > AB_PROBE_MIN_SCORE, "DC and noise: lag %zu score %f", m.lag, m.score);
    s_make(x, probes[2], 777, 1.0f, 0, 0.01f, 0.5f);
    m = ab_probe_find(x, N, probes[2]);
    CHECK(m.lag == 777 && m.score > AB_PROBE_MIN_SCORE, "low-passed: lag %zu score %f", m.lag, m.score);

    /* Not found: silence, noise alone, another code. */
    s_make(x, NULL, 0, 0, 0, 0, 0);
    m = ab_probe_find(x, N, probes[0]);
    CHECK(m.score == 0, "silence: score %f", m.score);
    for (int trial = 0; trial < 5; trial++) {
        s_make(x, NULL, 0, 0, 0, 0.5f, 0);
        m = ab_probe_find(x, N, probes[0]);
        CHECK(fabs(m.score) < AB_PROBE_MIN_SCORE, "noise alone: score %f at %zu", m.score, m.lag);
    }
    for (unsigned c = 1; c < AB_PROBE_CODES; c++) {
        s_make(x, probes[c], 3000, 1.0f, 0, 0, 0);
        m = ab_probe_find(x, N, probes[0]);
        CHECK(fabs(m.score) < AB_PROBE_MIN_SCORE, "code %u is not code 0: score %f at %zu", c, m.score, m.lag);
    }

    /* Too short to hold a probe. */
    m = ab_probe_find(x, AB_PROBE_FRAMES - 1, probes[0]);
    CHECK(m.lag == 0 && m.score == 0, "short input: lag %zu score %f", m.lag, m.score);

    if (s_failures) {
        printf("%d check(s) failed\n", s_failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
