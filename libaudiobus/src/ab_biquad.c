/* ab_biquad.c - RBJ cookbook biquads (see ab_biquad.h). */
#include "audiobus/ab_biquad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_error.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

struct ab_biquad {
    ab_biquad_coefs_t coefs;
    uint32_t channels;
    double *state; /* 2 per channel: s1, s2 of transposed direct form II */
};

static const char *const s_type_names[] = {
    NULL, "lowpass", "highpass", "bandpass", "notch", "peaking", "lowshelf", "highshelf", "allpass",
};

const char *ab_biquad_type_name(ab_biquad_type_t type)
{
    return type >= AB_BIQUAD_LOWPASS && type <= AB_BIQUAD_ALLPASS ? s_type_names[type] : NULL;
}

int ab_biquad_type_parse(const char *name, ab_biquad_type_t *type)
{
    if (!name || !type)
        return AB_EINVAL;
    for (int t = AB_BIQUAD_LOWPASS; t <= AB_BIQUAD_ALLPASS; t++)
        if (strcmp(name, s_type_names[t]) == 0) {
            *type = (ab_biquad_type_t)t;
            return 0;
        }
    return AB_EINVAL;
}

int ab_biquad_design(ab_biquad_coefs_t *coefs, ab_biquad_type_t type, double rate, double f0, double q,
                     double gain_db)
{
    /* Written so that NaN fails every test. */
    if (!coefs || !ab_biquad_type_name(type) || !(rate > 0.0) || !isfinite(rate) || !(f0 > 0.0) ||
        !(f0 < rate / 2.0) || !(q > 0.0) || !(q <= 1000.0) || !(gain_db >= -120.0) || !(gain_db <= 120.0))
        return AB_EINVAL;
    const double w0 = 2.0 * M_PI * f0 / rate;
    const double cw = cos(w0), sw = sin(w0);
    const double alpha = sw / (2.0 * q);
    const double A = pow(10.0, gain_db / 40.0);
    const double sqrt_a_alpha = 2.0 * sqrt(A) * alpha;
    double b0, b1, b2, a0, a1, a2;
    switch (type) {
    case AB_BIQUAD_LOWPASS:
        b0 = (1.0 - cw) / 2.0, b1 = 1.0 - cw, b2 = (1.0 - cw) / 2.0;
        a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
        break;
    case AB_BIQUAD_HIGHPASS:
        b0 = (1.0 + cw) / 2.0, b1 = -(1.0 + cw), b2 = (1.0 + cw) / 2.0;
        a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
        break;
    case AB_BIQUAD_BANDPASS:
        b0 = alpha, b1 = 0.0, b2 = -alpha;
        a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
        break;
    case AB_BIQUAD_NOTCH:
        b0 = 1.0, b1 = -2.0 * cw, b2 = 1.0;
        a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
        break;
    case AB_BIQUAD_ALLPASS:
        b0 = 1.0 - alpha, b1 = -2.0 * cw, b2 = 1.0 + alpha;
        a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
        break;
    case AB_BIQUAD_PEAKING:
        b0 = 1.0 + alpha * A, b1 = -2.0 * cw, b2 = 1.0 - alpha * A;
        a0 = 1.0 + alpha / A, a1 = -2.0 * cw, a2 = 1.0 - alpha / A;
        break;
    case AB_BIQUAD_LOWSHELF:
        b0 = A * ((A + 1.0) - (A - 1.0) * cw + sqrt_a_alpha);
        b1 = 2.0 * A * ((A - 1.0) - (A + 1.0) * cw);
        b2 = A * ((A + 1.0) - (A - 1.0) * cw - sqrt_a_alpha);
        a0 = (A + 1.0) + (A - 1.0) * cw + sqrt_a_alpha;
        a1 = -2.0 * ((A - 1.0) + (A + 1.0) * cw);
        a2 = (A + 1.0) + (A - 1.0) * cw - sqrt_a_alpha;
        break;
    case AB_BIQUAD_HIGHSHELF:
        b0 = A * ((A + 1.0) + (A - 1.0) * cw + sqrt_a_alpha);
        b1 = -2.0 * A * ((A - 1.0) + (A + 1.0) * cw);
        b2 = A * ((A + 1.0) + (A - 1.0) * cw - sqrt_a_alpha);
        a0 = (A + 1.0) - (A - 1.0) * cw + sqrt_a_alpha;
        a1 = 2.0 * ((A - 1.0) - (A + 1.0) * cw);
        a2 = (A + 1.0) - (A - 1.0) * cw - sqrt_a_alpha;
        break;
    default: return AB_EINVAL;
    }
    coefs->b0 = b0 / a0;
    coefs->b1 = b1 / a0;
    coefs->b2 = b2 / a0;
    coefs->a1 = a1 / a0;
    coefs->a2 = a2 / a0;
    return 0;
}

double ab_biquad_magnitude(const ab_biquad_coefs_t *c, double freq, double rate)
{
    if (!c || !(rate > 0.0))
        return NAN;
    /* H(e^jw) with e^-jw = cos w - j sin w. */
    double w = 2.0 * M_PI * freq / rate;
    double c1 = cos(w), s1 = sin(w), c2 = cos(2.0 * w), s2 = sin(2.0 * w);
    double num_re = c->b0 + c->b1 * c1 + c->b2 * c2, num_im = -(c->b1 * s1 + c->b2 * s2);
    double den_re = 1.0 + c->a1 * c1 + c->a2 * c2, den_im = -(c->a1 * s1 + c->a2 * s2);
    return hypot(num_re, num_im) / hypot(den_re, den_im);
}

ab_biquad_t *ab_biquad_new(const ab_biquad_coefs_t *coefs, uint32_t channels)
{
    if (!coefs || channels < 1 || channels > AB_BIQUAD_MAX_CHANNELS)
        return NULL;
    ab_biquad_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->coefs = *coefs;
    self->channels = channels;
    self->state = calloc(2 * (size_t)channels, sizeof(double));
    if (!self->state)
        ab_biquad_destroy(&self);
    return self;
}

void ab_biquad_destroy(ab_biquad_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->state);
    free(*self_p);
    *self_p = NULL;
}

int ab_biquad_process(ab_biquad_t *self, float *samples, size_t frames)
{
    if (!self || (!samples && frames > 0))
        return AB_EINVAL;
    const ab_biquad_coefs_t c = self->coefs;
    const uint32_t ch = self->channels;
    for (uint32_t k = 0; k < ch; k++) {
        double s1 = self->state[2 * k], s2 = self->state[2 * k + 1];
        float *x = samples + k;
        for (size_t i = 0; i < frames; i++, x += ch) {
            double in = *x;
            double out = c.b0 * in + s1;
            s1 = c.b1 * in - c.a1 * out + s2;
            s2 = c.b2 * in - c.a2 * out;
            *x = (float)out;
        }
        /* A decayed state would sink into denormals, which are slow. */
        self->state[2 * k] = fabs(s1) < 1e-200 ? 0.0 : s1;
        self->state[2 * k + 1] = fabs(s2) < 1e-200 ? 0.0 : s2;
    }
    return 0;
}

void ab_biquad_set_coefs(ab_biquad_t *self, const ab_biquad_coefs_t *coefs)
{
    if (self && coefs)
        self->coefs = *coefs;
}

const ab_biquad_coefs_t *ab_biquad_coefs(const ab_biquad_t *self)
{
    return self ? &self->coefs : NULL;
}

uint32_t ab_biquad_channels(const ab_biquad_t *self)
{
    return self ? self->channels : 0;
}

void ab_biquad_reset(ab_biquad_t *self)
{
    if (!self)
        return;
    memset(self->state, 0, 2 * (size_t)self->channels * sizeof(double));
}
