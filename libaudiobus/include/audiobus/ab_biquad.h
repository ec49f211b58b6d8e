/* ab_biquad.h - second-order IIR filters from the RBJ Audio EQ Cookbook.
 *
 * ab_biquad_design() computes the cookbook's coefficients (in double,
 * normalised so that a0 = 1) for
 *     H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)
 * with w0 = 2 pi f0 / rate and alpha = sin(w0) / (2 Q):
 *   LOWPASS, HIGHPASS   gain 1 at DC (lowpass) or at rate/2 (highpass),
 *                       Q at f0 (1/sqrt(2) = Butterworth, no peak)
 *   BANDPASS            constant 0 dB peak gain: 1 at f0, 0 at DC and rate/2
 *   NOTCH               0 at f0, 1 at DC and rate/2
 *   ALLPASS             magnitude 1 everywhere, H = -1 at f0
 *   PEAKING             gain_db at f0, 0 dB far from it
 *   LOWSHELF, HIGHSHELF gain_db below (lowshelf) or above (highshelf) f0,
 *                       0 dB on the other side, gain_db/2 at f0; Q sets
 *                       the slope (1/sqrt(2) = the cookbook's S = 1)
 * gain_db is used by PEAKING and the shelves only.
 *
 * A filter instance holds the coefficients and the state of every channel
 * of interleaved audio and filters float blocks in place (transposed
 * direct form II with double state, so that low f0 and high Q stay
 * accurate). Processing never allocates, locks or blocks.
 */
#ifndef AUDIOBUS_AB_BIQUAD_H_INCLUDED
#define AUDIOBUS_AB_BIQUAD_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest channel count of a filter instance. */
#define AB_BIQUAD_MAX_CHANNELS 256

typedef enum {
    AB_BIQUAD_LOWPASS = 1,
    AB_BIQUAD_HIGHPASS = 2,
    AB_BIQUAD_BANDPASS = 3, /* constant 0 dB peak gain */
    AB_BIQUAD_NOTCH = 4,
    AB_BIQUAD_PEAKING = 5,
    AB_BIQUAD_LOWSHELF = 6,
    AB_BIQUAD_HIGHSHELF = 7,
    AB_BIQUAD_ALLPASS = 8
} ab_biquad_type_t;

/* Coefficients normalised by a0. */
typedef struct {
    double b0, b1, b2;
    double a1, a2;
} ab_biquad_coefs_t;

typedef struct ab_biquad ab_biquad_t;

/* Design a filter of type for a stream of rate Hz: centre or corner
 * frequency f0 (0 < f0 < rate / 2), quality q (> 0, at most 1000) and, for
 * PEAKING and the shelves, gain_db (-120 .. 120). Writes *coefs and returns
 * 0, or returns AB_EINVAL (leaving *coefs alone) for an unknown type or a
 * value out of range or not finite. [any-thread] */
AB_EXPORT int ab_biquad_design(ab_biquad_coefs_t *coefs, ab_biquad_type_t type, double rate, double f0, double q,
                               double gain_db);

/* The name of a type ("lowpass", ..., "allpass"), or NULL. [any-thread] */
AB_EXPORT const char *ab_biquad_type_name(ab_biquad_type_t type);

/* Parse a name of ab_biquad_type_name() into *type. Returns 0 or AB_EINVAL.
 * [any-thread] */
AB_EXPORT int ab_biquad_type_parse(const char *name, ab_biquad_type_t *type);

/* |H(e^jw)| of coefs at freq Hz for a stream of rate Hz. [any-thread] */
AB_EXPORT double ab_biquad_magnitude(const ab_biquad_coefs_t *coefs, double freq, double rate);

/* Create a filter for channels (1 .. AB_BIQUAD_MAX_CHANNELS) interleaved
 * channels with coefs (copied), its state at rest. Returns NULL when an
 * argument is invalid or memory runs out. The caller owns it and frees it
 * with ab_biquad_destroy(). [control-thread] */
AB_EXPORT ab_biquad_t *ab_biquad_new(const ab_biquad_coefs_t *coefs, uint32_t channels);

/* Destroy a filter and NULL the caller's pointer; NULL-safe, safe twice.
 * [control-thread] */
AB_EXPORT void ab_biquad_destroy(ab_biquad_t **self_p);

/* Filter frames of interleaved audio (the filter's channel count) in
 * place. Returns 0, or AB_EINVAL when self is NULL or samples is NULL with
 * frames > 0. [audio-thread] */
AB_EXPORT int ab_biquad_process(ab_biquad_t *self, float *samples, size_t frames);

/* Replace the coefficients, keeping the state (for gentle parameter
 * changes between blocks). [audio-thread] */
AB_EXPORT void ab_biquad_set_coefs(ab_biquad_t *self, const ab_biquad_coefs_t *coefs);

/* The coefficients in use and the channel count. [any-thread] */
AB_EXPORT const ab_biquad_coefs_t *ab_biquad_coefs(const ab_biquad_t *self);
AB_EXPORT uint32_t ab_biquad_channels(const ab_biquad_t *self);

/* Clear the state of every channel, as after ab_biquad_new() (after a gap
 * in the input). [audio-thread] */
AB_EXPORT void ab_biquad_reset(ab_biquad_t *self);

#ifdef __cplusplus
}
#endif

#endif
