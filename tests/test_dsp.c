/* test_dsp.c - checks the cookbook biquads (ab_biquad.h) against their analog prototypes and
 * against the gain measured on sine tones, the meter (ab_meter.h) on signals of known level, and
 * sample-format and channel conversion (ab_convert.h) at its extremes. */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_biquad.h"
#include "audiobus/ab_convert.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_meter.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_SQRT1_2
#define M_SQRT1_2 0.70710678118654752440
#endif

/* Checks print both values and keep going; no assert(), so NDEBUG builds
 * check as well. */

#include "check.h"

static uint64_t s_rng = 0x2545F4914F6CDD1Dull;

static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 32);
}

/* ---- biquads ----------------------------------------------------------------------------------- */

/* The cookbook's analog prototypes H(s), s normalised to f0, evaluated at
 * s = j W. The cookbook's bilinear transform with prewarping maps digital
 * frequency w to W = tan(w / 2) / tan(w0 / 2), so |H(e^jw)| of the digital
 * filter equals |H(j W)| exactly. Written from the cookbook, not from
 * ab_biquad.c. */
static double s_analog_magnitude(ab_biquad_type_t type, double rate, double f0, double q, double gain_db,
                                 double f)
{
    double W = tan(M_PI * f / rate) / tan(M_PI * f0 / rate);
    double A = pow(10.0, gain_db / 40.0), rA = sqrt(A);
    /* H(jW) = (n0 + n1 jW + n2 (jW)^2) / (d0 + d1 jW + d2 (jW)^2) */
    double n0, n1, n2, d0 = 1.0, d1 = 1.0 / q, d2 = 1.0;
    switch (type) {
    case AB_BIQUAD_LOWPASS: n0 = 1, n1 = 0, n2 = 0; break;
    case AB_BIQUAD_HIGHPASS: n0 = 0, n1 = 0, n2 = 1; break;
    case AB_BIQUAD_BANDPASS: n0 = 0, n1 = 1.0 / q, n2 = 0; break;
    case AB_BIQUAD_NOTCH: n0 = 1, n1 = 0, n2 = 1; break;
    case AB_BIQUAD_ALLPASS: n0 = 1, n1 = -1.0 / q, n2 = 1; break;
    case AB_BIQUAD_PEAKING:
        n0 = 1, n1 = A / q, n2 = 1;
        d1 = 1.0 / (A * q);
        break;
    case AB_BIQUAD_LOWSHELF:
        n0 = A * A, n1 = A * rA / q, n2 = A;
        d0 = 1, d1 = rA / q, d2 = A;
        break;
    case AB_BIQUAD_HIGHSHELF:
        n0 = A, n1 = A * rA / q, n2 = A * A;
        d0 = A, d1 = rA / q, d2 = 1;
        break;
    default: return NAN;
    }
    double num_re = n0 - n2 * W * W, num_im = n1 * W;
    double den_re = d0 - d2 * W * W, den_im = d1 * W;
    return hypot(num_re, num_im) / hypot(den_re, den_im);
}

/* Amplitude of the tone at f in y[0..n) by least squares on sin and cos
 * (exact for a pure tone whatever the number of periods). */
static double s_tone_amplitude(const float *y, size_t n, size_t stride, double f, double rate, size_t t0)
{
    double ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
    for (size_t i = 0; i < n; i++) {
        double ph = 2.0 * M_PI * f * (double)(t0 + i) / rate;
        double s = sin(ph), c = cos(ph), v = y[i * stride];
        ss += s * s, cc += c * c, sc += s * c, ys += v * s, yc += v * c;
    }
    double det = ss * cc - sc * sc;
    double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
    return hypot(a, b);
}

typedef struct {
    ab_biquad_type_t type;
    double f0, q, gain_db;
} design_t;

static const design_t s_designs[] = {
    {AB_BIQUAD_LOWPASS, 1000, M_SQRT1_2, 0},   {AB_BIQUAD_LOWPASS, 200, 5, 0},
    {AB_BIQUAD_HIGHPASS, 1000, M_SQRT1_2, 0},  {AB_BIQUAD_HIGHPASS, 5000, 2, 0},
    {AB_BIQUAD_BANDPASS, 1000, 2, 0},          {AB_BIQUAD_BANDPASS, 100, 8, 0},
    {AB_BIQUAD_NOTCH, 1000, 4, 0},             {AB_BIQUAD_NOTCH, 100, 10, 0},
    {AB_BIQUAD_PEAKING, 2000, 1.5, 9},         {AB_BIQUAD_PEAKING, 300, 0.7, -12},
    {AB_BIQUAD_LOWSHELF, 250, M_SQRT1_2, 6},   {AB_BIQUAD_LOWSHELF, 800, 1, -10},
    {AB_BIQUAD_HIGHSHELF, 4000, M_SQRT1_2, 6}, {AB_BIQUAD_HIGHSHELF, 3000, 0.5, -15},
    {AB_BIQUAD_ALLPASS, 1000, 1, 0},           {AB_BIQUAD_ALLPASS, 10000, 3, 0},
};

static void s_test_biquad_response(void)
{
    const double rate = 48000.0;
    const size_t n = 96000, settle = 48000; /* 2 s, measured over the last 1 s */
    float *x = malloc(n * sizeof(float));
    double worst_design = 0.0, worst_measured_db = 0.0;
    for (size_t d = 0; d < sizeof s_designs / sizeof s_designs[0]; d++) {
        const design_t *ds = &s_designs[d];
        ab_biquad_coefs_t c;
        int rc = ab_biquad_design(&c, ds->type, rate, ds->f0, ds->q, ds->gain_db);
        CHECK(rc == 0, "design %s f0=%g q=%g: %d", ab_biquad_type_name(ds->type), ds->f0, ds->q, rc);
        if (rc)
            continue;
        /* The design against the prototype, on a dense grid. */
        for (double f = 10.0; f < rate / 2; f *= 1.05) {
            double want = s_analog_magnitude(ds->type, rate, ds->f0, ds->q, ds->gain_db, f);
            double got = ab_biquad_magnitude(&c, f, rate);
            double err = fabs(got - want) / fmax(want, 1e-6);
            CHECK(err < 1e-8, "%s f0=%g: |H(%g Hz)| %.12g, prototype %.12g", ab_biquad_type_name(ds->type), ds->f0,
                  f, got, want);
            worst_design = fmax(worst_design, err);
        }
        /* Sine tones through the filter against the prototype. */
        const double tones[] = {ds->f0 / 4, ds->f0 / 2, ds->f0 / 1.2, ds->f0, ds->f0 * 1.2, ds->f0 * 2, ds->f0 * 4};
        for (size_t t = 0; t < sizeof tones / sizeof tones[0]; t++) {
            double f = tones[t];
            if (f >= rate / 2 * 0.95)
                continue;
            for (size_t i = 0; i < n; i++)
                x[i] = (float)(0.5 * sin(2.0 * M_PI * f * (double)i / rate + 0.1));
            ab_biquad_t *bq = ab_biquad_new(&c, 1);
            ab_biquad_process(bq, x, n);
            ab_biquad_destroy(&bq);
            double gain = s_tone_amplitude(x + settle, n - settle, 1, f, rate, settle) / 0.5;
            double want = s_analog_magnitude(ds->type, rate, ds->f0, ds->q, ds->gain_db, f);
            /* Float samples: about 1e-7 of full scale of error. */
            double tol = 1e-5 * fmax(want, 1.0) + 2e-6;
            CHECK(fabs(gain - want) <= tol, "%s f0=%g q=%g: measured gain at %g Hz %.7f, analytic %.7f",
                  ab_biquad_type_name(ds->type), ds->f0, ds->q, f, gain, want);
            if (want > 1e-3)
                worst_measured_db = fmax(worst_measured_db, fabs(20 * log10(gain / want)));
        }
    }
    printf("biquads: design vs analog prototype max relative error %.2g; measured tone gains vs analytic max "
           "%.2g dB\n",
           worst_design, worst_measured_db);
    free(x);
}

/* The cookbook's properties, measured. */
static double s_measured_gain(ab_biquad_type_t type, double f0, double q, double gain_db, double f)
{
    const double rate = 48000.0;
    const size_t n = 96000, settle = 48000;
    ab_biquad_coefs_t c;
    if (ab_biquad_design(&c, type, rate, f0, q, gain_db) != 0)
        return NAN;
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        x[i] = f == 0.0 ? 0.5f : (float)(0.5 * sin(2.0 * M_PI * f * (double)i / rate));
    ab_biquad_t *bq = ab_biquad_new(&c, 1);
    ab_biquad_process(bq, x, n);
    ab_biquad_destroy(&bq);
    double gain;
    if (f == 0.0) {
        double sum = 0;
        for (size_t i = settle; i < n; i++)
            sum += x[i];
        gain = fabs(sum / (double)(n - settle)) / 0.5;
    } else {
        gain = s_tone_amplitude(x + settle, n - settle, 1, f, rate, settle) / 0.5;
    }
    free(x);
    return gain;
}

static void s_test_biquad_properties(void)
{
    double g;
    g = s_measured_gain(AB_BIQUAD_LOWPASS, 1000, M_SQRT1_2, 0, 0.0);
    CHECK(fabs(g - 1.0) < 1e-5, "lowpass DC gain %.8f, expected 1", g);
    g = s_measured_gain(AB_BIQUAD_LOWPASS, 1000, M_SQRT1_2, 0, 1000);
    CHECK(fabs(20 * log10(g) + 3.0103) < 1e-3, "Butterworth lowpass at f0: %.4f dB, expected -3.01", 20 * log10(g));
    g = s_measured_gain(AB_BIQUAD_LOWPASS, 500, 4, 0, 500);
    CHECK(fabs(g - 4.0) < 1e-4, "lowpass gain at f0 is Q: %.6f, expected 4", g);
    g = s_measured_gain(AB_BIQUAD_HIGHPASS, 1000, M_SQRT1_2, 0, 0.0);
    CHECK(g < 1e-6, "highpass DC gain %.3g, expected 0", g);
    g = s_measured_gain(AB_BIQUAD_BANDPASS, 1000, 3, 0, 1000);
    CHECK(fabs(g - 1.0) < 1e-5, "bandpass peak gain %.8f, expected 1 (0 dB)", g);
    g = s_measured_gain(AB_BIQUAD_NOTCH, 1000, 4, 0, 1000);
    CHECK(20 * log10(g) < -80.0, "notch at f0: %.1f dB, expected below -80", 20 * log10(g));
    printf("notch (f0 1000 Hz, Q 4) at f0: %.1f dB\n", 20 * log10(g));
    g = s_measured_gain(AB_BIQUAD_NOTCH, 1000, 4, 0, 0.0);
    CHECK(fabs(g - 1.0) < 1e-5, "notch DC gain %.8f, expected 1", g);
    g = s_measured_gain(AB_BIQUAD_PEAKING, 2000, 2, 9, 2000);
    CHECK(fabs(20 * log10(g) - 9.0) < 1e-3, "peaking gain at f0 %.4f dB, expected 9", 20 * log10(g));
    g = s_measured_gain(AB_BIQUAD_LOWSHELF, 300, M_SQRT1_2, 6, 0.0);
    CHECK(fabs(20 * log10(g) - 6.0) < 1e-3, "lowshelf DC gain %.4f dB, expected 6", 20 * log10(g));
    g = s_measured_gain(AB_BIQUAD_LOWSHELF, 300, M_SQRT1_2, 6, 300);
    CHECK(fabs(20 * log10(g) - 3.0) < 1e-3, "lowshelf gain at f0 %.4f dB, expected 3", 20 * log10(g));
    g = s_measured_gain(AB_BIQUAD_HIGHSHELF, 3000, M_SQRT1_2, -12, 20000);
    CHECK(fabs(20 * log10(g) + 12.0) < 0.05, "highshelf gain near Nyquist %.4f dB, expected -12", 20 * log10(g));
    for (double f = 100; f < 20000; f *= 3) {
        g = s_measured_gain(AB_BIQUAD_ALLPASS, 2000, 2, 0, f);
        CHECK(fabs(g - 1.0) < 1e-5, "allpass gain at %g Hz %.8f, expected 1", f, g);
    }
}

static void s_test_biquad_channels_and_reset(void)
{
    ab_biquad_coefs_t c;
    ab_biquad_design(&c, AB_BIQUAD_PEAKING, 16000, 700, 2, 10);
    const size_t n = 5000;
    const uint32_t ch = 3;
    float *inter = malloc(n * ch * sizeof(float)), *mono = malloc(n * sizeof(float));
    for (size_t i = 0; i < n * ch; i++)
        inter[i] = (float)(s_rand() / 4294967296.0 - 0.5);
    float *orig = malloc(n * ch * sizeof(float));
    memcpy(orig, inter, n * ch * sizeof(float));
    ab_biquad_t *multi = ab_biquad_new(&c, ch);
    CHECK(ab_biquad_channels(multi) == ch, "channels");
    /* Odd block sizes: the state carries over. */
    for (size_t done = 0; done < n;) {
        size_t len = 1 + s_rand() % 700;
        if (len > n - done)
            len = n - done;
        ab_biquad_process(multi, inter + done * ch, len);
        done += len;
    }
    for (uint32_t k = 0; k < ch; k++) {
        ab_convert_select_channel(orig, ch, k, n, mono);
        ab_biquad_t *one = ab_biquad_new(&c, 1);
        ab_biquad_process(one, mono, n);
        ab_biquad_destroy(&one);
        bool same = true;
        for (size_t i = 0; i < n; i++)
            same = same && mono[i] == inter[i * ch + k];
        CHECK(same, "channel %u filtered on its own, in any block sizes, is identical", k);
    }
    /* Reset: the same output as a fresh filter. */
    ab_biquad_reset(multi);
    memcpy(inter, orig, n * ch * sizeof(float));
    ab_biquad_process(multi, inter, n);
    float *fresh = malloc(n * ch * sizeof(float));
    memcpy(fresh, orig, n * ch * sizeof(float));
    ab_biquad_t *other = ab_biquad_new(&c, ch);
    ab_biquad_process(other, fresh, n);
    CHECK(memcmp(fresh, inter, n * ch * sizeof(float)) == 0, "after reset the output is that of a fresh filter");
    /* New coefficients keep the state; the accessor reflects them. */
    ab_biquad_coefs_t c2;
    ab_biquad_design(&c2, AB_BIQUAD_LOWPASS, 16000, 1000, 1, 0);
    ab_biquad_set_coefs(other, &c2);
    CHECK(ab_biquad_coefs(other)->b0 == c2.b0, "set_coefs");
    ab_biquad_destroy(&other);
    ab_biquad_destroy(&multi);
    ab_biquad_destroy(&multi);
    CHECK(multi == NULL, "destroy NULLs the pointer");
    free(inter);
    free(orig);
    free(mono);
    free(fresh);

    /* Silence after a loud burst decays to exact zeros (no denormals left). */
    ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 48000, 100, 0.7, 0);
    ab_biquad_t *bq = ab_biquad_new(&c, 1);
    float burst[256];
    for (int i = 0; i < 256; i++)
        burst[i] = i < 16 ? 1.0f : 0.0f;
    ab_biquad_process(bq, burst, 256);
    float silence[4096];
    for (int round = 0; round < 400; round++) {
        memset(silence, 0, sizeof silence);
        ab_biquad_process(bq, silence, 4096);
    }
    CHECK(silence[4095] == 0.0f, "decayed to 0, got %g", silence[4095]);
    ab_biquad_destroy(&bq);
}

static void s_test_biquad_refusals(void)
{
    ab_biquad_coefs_t c = {1, 2, 3, 4, 5};
    CHECK(ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 48000, 24000, 1, 0) == AB_EINVAL, "f0 at Nyquist");
    CHECK(ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 48000, 0, 1, 0) == AB_EINVAL, "f0 0");
    CHECK(ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 48000, 1000, 0, 0) == AB_EINVAL, "Q 0");
    CHECK(ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 48000, NAN, 1, 0) == AB_EINVAL, "f0 NaN");
    CHECK(ab_biquad_design(&c, AB_BIQUAD_PEAKING, 48000, 1000, 1, INFINITY) == AB_EINVAL, "gain inf");
    CHECK(ab_biquad_design(&c, AB_BIQUAD_LOWPASS, 0, 1000, 1, 0) == AB_EINVAL, "rate 0");
    CHECK(ab_biquad_design(&c, (ab_biquad_type_t)0, 48000, 1000, 1, 0) == AB_EINVAL, "type 0");
    CHECK(ab_biquad_design(&c, (ab_biquad_type_t)9, 48000, 1000, 1, 0) == AB_EINVAL, "type 9");
    CHECK(ab_biquad_design(NULL, AB_BIQUAD_LOWPASS, 48000, 1000, 1, 0) == AB_EINVAL, "NULL coefs");
    CHECK(c.b0 == 1 && c.a2 == 5, "refused designs leave the coefficients alone");
    CHECK(ab_biquad_new(&c, 0) == NULL && ab_biquad_new(&c, AB_BIQUAD_MAX_CHANNELS + 1) == NULL &&
              ab_biquad_new(NULL, 1) == NULL,
          "bad channel counts");
    CHECK(ab_biquad_process(NULL, NULL, 0) == AB_EINVAL, "NULL filter");
    ab_biquad_type_t t;
    for (int k = AB_BIQUAD_LOWPASS; k <= AB_BIQUAD_ALLPASS; k++)
        CHECK(ab_biquad_type_parse(ab_biquad_type_name((ab_biquad_type_t)k), &t) == 0 && (int)t == k,
              "name of type %d parses back", k);
    CHECK(ab_biquad_type_parse("band", &t) == AB_EINVAL, "unknown name");
}

/* ---- meter ----------------------------------------------------------------------------------- */

static void s_test_meter(void)
{
    /* Three channels: a sine of amplitude 0.5 (1 kHz at 48 kHz: whole
     * periods, a sample on each crest), a square of +-0.25, DC -0.1. */
    const size_t n = 48000;
    const uint32_t ch = 3;
    float *x = malloc(n * ch * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i * ch] = (float)(0.5 * sin(2.0 * M_PI * 1000.0 * (double)i / 48000.0));
        x[i * ch + 1] = (i / 24) % 2 ? -0.25f : 0.25f;
        x[i * ch + 2] = -0.1f;
    }
    ab_meter_t *m = ab_meter_new(ch);
    CHECK(m && ab_meter_channels(m) == ch, "meter for 3 channels");
    CHECK(ab_meter_rms(m, 0) == 0.0 && ab_meter_peak(m, 0) == 0.0f && ab_meter_frames(m) == 0, "empty meter reads 0");
    CHECK(ab_meter_rms_dbfs(m, 0, -120) == -120.0, "empty meter reads the floor");
    for (size_t done = 0; done < n;) {
        size_t len = 1 + s_rand() % 999;
        if (len > n - done)
            len = n - done;
        CHECK(ab_meter_add(m, x + done * ch, len) == 0, "add");
        done += len;
    }
    CHECK(ab_meter_frames(m) == n, "frames %llu", (unsigned long long)ab_meter_frames(m));
    double rms0 = ab_meter_rms(m, 0), rms1 = ab_meter_rms(m, 1), rms2 = ab_meter_rms(m, 2);
    CHECK(fabs(rms0 - 0.5 / sqrt(2.0)) < 1e-7, "sine RMS %.9f, expected %.9f", rms0, 0.5 / sqrt(2.0));
    CHECK(fabs(rms1 - 0.25) < 1e-9, "square RMS %.9f", rms1);
    CHECK(fabs(rms2 - 0.1) < 1e-7, "DC RMS %.9f", rms2);
    CHECK(ab_meter_peak(m, 0) == 0.5f && ab_meter_peak(m, 1) == 0.25f && ab_meter_peak(m, 2) == 0.1f,
          "peaks %g %g %g", ab_meter_peak(m, 0), ab_meter_peak(m, 1), ab_meter_peak(m, 2));
    double db = ab_meter_rms_dbfs(m, 0, -120);
    CHECK(fabs(db - (20 * log10(0.5) - 3.0103)) < 1e-3, "sine RMS %.4f dBFS, expected -9.03", db);
    db = ab_meter_peak_dbfs(m, 1, -120);
    CHECK(fabs(db + 12.0412) < 1e-3, "square peak %.4f dBFS, expected -12.04", db);

    /* The same sums in one block as in many: bit for bit. */
    ab_meter_t *one = ab_meter_new(ch);
    ab_meter_add(one, x, n);
    for (uint32_t c = 0; c < ch; c++)
        CHECK(ab_meter_sum_squares(one, c) == ab_meter_sum_squares(m, c), "channel %u: block sizes do not matter", c);
    ab_meter_destroy(&one);

    ab_meter_reset(m);
    CHECK(ab_meter_frames(m) == 0 && ab_meter_sum_squares(m, 0) == 0.0 && ab_meter_peak(m, 0) == 0.0f, "reset");
    /* NaN: the peak ignores it, the RMS reads NaN and the dB the floor. */
    float nan_frame[3] = {NAN, 0.5f, -1.0f};
    ab_meter_add(m, nan_frame, 1);
    CHECK(ab_meter_peak(m, 0) == 0.0f && isnan(ab_meter_rms(m, 0)), "NaN: peak %g rms %g", ab_meter_peak(m, 0),
          ab_meter_rms(m, 0));
    CHECK(ab_meter_rms_dbfs(m, 0, -120) == -120.0, "NaN reads the floor");
    CHECK(ab_meter_peak_dbfs(m, 2, -120) == 0.0, "full scale peak is 0 dBFS");
    CHECK(ab_meter_rms(m, 3) == 0.0 && ab_meter_peak(m, 99) == 0.0f, "channels out of range read 0");
    CHECK(ab_meter_add(NULL, x, 1) == AB_EINVAL && ab_meter_add(m, NULL, 1) == AB_EINVAL, "bad arguments");
    CHECK(ab_meter_new(0) == NULL && ab_meter_new(AB_METER_MAX_CHANNELS + 1) == NULL, "bad channel counts");
    ab_meter_destroy(&m);
    ab_meter_destroy(&m);
    CHECK(m == NULL, "destroy NULLs the pointer");

    CHECK(ab_dbfs_from_power(1.0, -120) == 0.0, "0 dB");
    CHECK(fabs(ab_dbfs_from_power(0.5, -120) + 3.0103) < 1e-4, "half power");
    CHECK(fabs(ab_dbfs_from_amplitude(0.5, -120) + 6.0206) < 1e-4, "half amplitude");
    CHECK(fabs(ab_dbfs_from_amplitude(-0.5, -120) + 6.0206) < 1e-4, "negative amplitude");
    CHECK(ab_dbfs_from_power(0.0, -120) == -120.0 && ab_dbfs_from_power(-1.0, -90) == -90.0 &&
              ab_dbfs_from_power(NAN, -120) == -120.0 && ab_dbfs_from_power(1e-20, -120) == -120.0,
          "floor");
    free(x);
}

/* ---- conversion -------------------------------------------------------------------------------- */

/* What the synthetic source did before ab_convert existed, kept here to
 * show the wire bytes did not change. */
static int16_t s_old_source_s16(float value)
{
    float v = value * 32768.0f;
    return (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
}

static int32_t s_old_source_s32(float value)
{
    double v = (double)value * 2147483648.0;
    return (int32_t)(v > 2147483647.0 ? 2147483647 : v < -2147483648.0 ? INT32_MIN : lrint(v));
}

static void s_test_convert_formats(void)
{
    /* Every s16 value survives s16 -> f32 -> s16. */
    int16_t *all = malloc(65536 * sizeof(int16_t)), *back = malloc(65536 * sizeof(int16_t));
    float *f = malloc(65536 * sizeof(float));
    for (int i = 0; i < 65536; i++)
        all[i] = (int16_t)(i - 32768);
    ab_convert_s16_to_f32(all, f, 65536);
    CHECK(f[0] == -1.0f && f[32768] == 0.0f && f[65535] == 32767.0f / 32768.0f, "s16 scaling: %g %g %g", f[0],
          f[32768], f[65535]);
    size_t clipped = ab_convert_f32_to_s16(f, back, 65536);
    CHECK(clipped == 0 && memcmp(all, back, 65536 * sizeof(int16_t)) == 0, "s16 round trip exact, %zu clipped",
          clipped);
    free(all);
    free(back);
    free(f);

    /* s32: INT32_MIN is -1.0 exactly; INT32_MAX rounds to 1.0f and comes
     * back clipped; values float holds exactly survive. */
    int32_t s32[6] = {INT32_MIN, INT32_MAX, 0, -256, 123456 * 256, -(1 << 24) + 1};
    int32_t s32_back[6];
    float f32[6];
    ab_convert_s32_to_f32(s32, f32, 6);
    CHECK(f32[0] == -1.0f && f32[1] == 1.0f, "s32 extremes %g %g", f32[0], f32[1]);
    clipped = ab_convert_f32_to_s32(f32, s32_back, 6);
    CHECK(clipped == 1, "INT32_MAX via 1.0f is one clip, got %zu", clipped);
    CHECK(s32_back[0] == INT32_MIN && s32_back[1] == INT32_MAX, "extremes back %d %d", s32_back[0], s32_back[1]);
    CHECK(memcmp(s32 + 2, s32_back + 2, 4 * sizeof(int32_t)) == 0, "exactly representable values survive");
    int32_t random_s32[1000], random_back[1000];
    float random_f[1000];
    for (int i = 0; i < 1000; i++)
        random_s32[i] = (int32_t)(s_rand() & 0xFFFFFF00u); /* 24 significant bits */
    ab_convert_s32_to_f32(random_s32, random_f, 1000);
    CHECK(ab_convert_f32_to_s32(random_f, random_back, 1000) == 0, "no clips");
    CHECK(memcmp(random_s32, random_back, sizeof random_s32) == 0, "s32 with 24 significant bits round trip");

    /* Float to s16 at the edges: rounding to nearest even, clipping counted. */
    const float in[] = {1.0f, -1.0f, 2.0f, -2.0f, NAN, 0.5f / 32768, 1.5f / 32768, -0.5f / 32768,
                        32767.5f / 32768, -32768.5f / 32768, 32767.49f / 32768, INFINITY, -INFINITY, 1e30f};
    const int16_t want[] = {32767, -32768, 32767, -32768, 0, 0, 2, 0, 32767, -32768, 32767, 32767, -32768, 32767};
    const size_t want_clips = 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1; /* 1.0, 2, -2, NaN, 32767.5, inf, -inf, 1e30 */
    int16_t out[sizeof in / sizeof in[0]];
    clipped = ab_convert_f32_to_s16(in, out, sizeof in / sizeof in[0]);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        CHECK(out[i] == want[i], "f32 %.9g -> s16 %d, expected %d", in[i], out[i], want[i]);
    CHECK(clipped == want_clips, "%zu clipped, expected %zu", clipped, want_clips);

    /* Dispatch, accumulation of clips, unaligned buffers. */
    unsigned char raw[1 + 4 * 4];
    size_t clips = 5;
    float vals[4] = {0.25f, -1.0f, 1.0f, 3.0f};
    CHECK(ab_convert_from_f32(AB_FORMAT_S32, vals, raw + 1, 4, &clips) == 0 && clips == 7,
          "clips added to the count: %zu", clips);
    float again[4];
    CHECK(ab_convert_to_f32(AB_FORMAT_S32, raw + 1, again, 4) == 0, "unaligned input");
    CHECK(again[0] == 0.25f && again[1] == -1.0f && again[2] == 1.0f && again[3] == 1.0f, "%g %g %g %g", again[0],
          again[1], again[2], again[3]);
    CHECK(ab_convert_from_f32(AB_FORMAT_F32, vals, raw + 1, 4, NULL) == 0, "f32 copied");
    CHECK(ab_convert_to_f32(AB_FORMAT_F32, raw + 1, again, 4) == 0 && memcmp(again, vals, sizeof vals) == 0,
          "f32 unchanged, 3.0 not clipped");
    CHECK(ab_convert_to_f32((ab_format_t)0, raw, again, 1) == AB_EFORMAT &&
              ab_convert_from_f32((ab_format_t)4, vals, raw, 1, NULL) == AB_EFORMAT,
          "unknown formats");

    /* The same bytes as the code it replaced, on random and extreme floats. */
    size_t mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = s_rand();
        float v;
        if (i % 2) {
            v = (float)(s_rand() / 2147483648.0 - 1.0) * 1.2f;
        } else {
            memcpy(&v, &bits, sizeof v);
            if (isnan(v))
                continue;
        }
        int16_t a16;
        int32_t a32;
        ab_convert_f32_to_s16(&v, &a16, 1);
        ab_convert_f32_to_s32(&v, &a32, 1);
        if (a16 != s_old_source_s16(v) || a32 != s_old_source_s32(v))
            mismatches++;
    }
    CHECK(mismatches == 0, "%zu values convert differently from before", mismatches);
}

static void s_test_convert_channels(void)
{
    const float stereo[] = {1, 3, -1, 1, 0.5f, 0.25f};
    float mono[3];
    CHECK(ab_convert_mix_to_mono(stereo, 2, 3, mono) == 0, "mix");
    CHECK(mono[0] == 2 && mono[1] == 0 && mono[2] == 0.375f, "mix %g %g %g", mono[0], mono[1], mono[2]);
    const float three[] = {3, 6, 9, -3, 0, 0};
    CHECK(ab_convert_mix_to_mono(three, 3, 2, mono) == 0 && mono[0] == 6.0f && mono[1] == -1.0f, "3 channels %g %g",
          mono[0], mono[1]);
    float same[3] = {1, 2, 3};
    CHECK(ab_convert_mix_to_mono(same, 1, 3, same) == 0 && same[2] == 3, "mono in place");
    CHECK(ab_convert_mix_to_mono(stereo, 0, 3, mono) == AB_EINVAL, "0 channels");

    float out[6] = {0};
    const float m[2] = {0.5f, -0.5f};
    CHECK(ab_convert_mono_to_channels(m, 2, 3, out) == 0, "mono to 3");
    CHECK(out[0] == 0.5f && out[1] == 0.5f && out[2] == 0.5f && out[3] == -0.5f && out[5] == -0.5f, "duplicated");
    CHECK(ab_convert_mono_to_channels(m, 2, 0, out) == AB_EINVAL, "0 channels");

    float sel[3];
    CHECK(ab_convert_select_channel(stereo, 2, 1, 3, sel) == 0 && sel[0] == 3 && sel[1] == 1 && sel[2] == 0.25f,
          "select channel 1");
    CHECK(ab_convert_select_channel(stereo, 2, 2, 3, sel) == AB_EINVAL, "channel out of range");
    float inter[6] = {9, 9, 9, 9, 9, 9};
    CHECK(ab_convert_put_channel(sel, 3, 2, 0, inter) == 0, "put channel 0");
    CHECK(inter[0] == 3 && inter[1] == 9 && inter[2] == 1 && inter[4] == 0.25f && inter[5] == 9, "put leaves others");
    CHECK(ab_convert_put_channel(sel, 3, 2, 2, inter) == AB_EINVAL, "put out of range");
}

int main(void)
{
    s_test_biquad_response();
    s_test_biquad_properties();
    s_test_biquad_channels_and_reset();
    s_test_biquad_refusals();
    s_test_meter();
    s_test_convert_formats();
    s_test_convert_channels();
    if (s_failures) {
        fprintf(stderr, "%d check(s) failed\n", s_failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
