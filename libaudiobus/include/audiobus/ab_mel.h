/* ab_mel.h - streaming log-mel spectrogram front end.
 *
 * Feed mono samples in blocks of any size; every time a full analysis frame
 * is available the callback receives its n_mels log-mel energies. Frame k
 * covers input samples [k * hop, k * hop + n_fft): there is no centring or
 * padding, so the first frame arrives once n_fft samples have been pushed.
 *
 * Per frame, in this order:
 *   x      = n_fft samples times a periodic Hann window
 *              w[i] = 0.5 - 0.5 cos(2 pi i / n_fft)
 *   P[k]   = |DFT(x)[k]|^2 for k = 0 .. n_fft/2 (unscaled power spectrum)
 *   M[m]   = sum_k P[k] * T_m(k * rate / n_fft), m = 0 .. n_mels-1
 *   out[m] = 10 * log10(max(M[m], floor))   (dB; floor 1e-10 = -100 dB)
 * T_m is a triangle of peak 1 (no area normalisation) rising from edge m to
 * edge m+1 and falling to edge m+2, where the n_mels + 2 edges are evenly
 * spaced on the HTK mel scale mel(f) = 2595 log10(1 + f / 700) from fmin to
 * fmax. This is torchaudio's MelSpectrogram(center=False, power=2,
 * mel_scale="htk", norm=None) followed by the log.
 *
 * The FFT is kissfft's real transform, so n_fft may be any even size
 * (400 works as well as 512). Everything is allocated by ab_logmel_new();
 * pushing samples never allocates, locks or blocks.
 */
#ifndef AUDIOBUS_AB_MEL_H_INCLUDED
#define AUDIOBUS_AB_MEL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest accepted n_fft and n_mels. */
#define AB_LOGMEL_MAX_FFT 65536
#define AB_LOGMEL_MAX_MELS 1024

typedef struct ab_logmel ab_logmel_t;

/* Parameters of a log-mel front end. Zero fields take the default noted. */
typedef struct {
    uint32_t rate;   /* input sample rate in Hz, 1 .. 1000000; required */
    uint32_t n_fft;  /* frame and FFT length in samples, even, 2 .. AB_LOGMEL_MAX_FFT; required */
    uint32_t hop;    /* samples between frame starts, >= 1 (may exceed n_fft); required */
    uint32_t n_mels; /* mel bands, 1 .. AB_LOGMEL_MAX_MELS; required */
    float fmin;      /* lowest filter edge in Hz, >= 0 */
    float fmax;      /* highest filter edge in Hz, fmin < fmax <= rate / 2; 0 = rate / 2 */
    float floor;     /* smallest mel energy before the log, > 0; 0 = 1e-10 */
} ab_logmel_config_t;

/* Receives one frame: mels holds n_mels values in dB, valid only during the
 * call; start is the index of the frame's first sample counted from the
 * first sample pushed (or since the last ab_logmel_reset()). Called on the
 * thread that called ab_logmel_push(). */
typedef void (*ab_logmel_frame_cb)(const float *mels, uint64_t start, void *user);

/* Create a front end for cfg (copied). Returns NULL when a field is out of
 * the ranges above or memory runs out. The caller owns the result and frees
 * it with ab_logmel_destroy(). [control-thread] */
AB_EXPORT ab_logmel_t *ab_logmel_new(const ab_logmel_config_t *cfg);

/* Destroy a front end and NULL the caller's pointer; NULL-safe, safe twice.
 * [control-thread] */
AB_EXPORT void ab_logmel_destroy(ab_logmel_t **self_p);

/* Append frames mono samples (any count, 0 included) and call cb(mels,
 * start, user) once for every frame completed, in order, before returning.
 * Returns the number of frames delivered (saturated at INT32_MAX), or
 * AB_EINVAL when self or cb is NULL, or mono is NULL with frames > 0.
 * Real-time safe: no allocation, locks or system calls. [audio-thread] */
AB_EXPORT int ab_logmel_push(ab_logmel_t *self, const float *mono, size_t frames, ab_logmel_frame_cb cb,
                             void *user);

/* Forget buffered samples and restart frame indices at 0, as after
 * ab_logmel_new() (use it after a gap in the input). Real-time safe.
 * [audio-thread] */
AB_EXPORT void ab_logmel_reset(ab_logmel_t *self);

/* The configuration in use, with defaults filled in (fmax, floor).
 * [any-thread] */
AB_EXPORT const ab_logmel_config_t *ab_logmel_config(const ab_logmel_t *self);

/* Edges of band m in Hz: where its triangle starts, peaks and ends. Returns
 * 0, or AB_EINVAL when m >= n_mels or self is NULL. Any pointer may be NULL.
 * [any-thread] */
AB_EXPORT int ab_logmel_band_hz(const ab_logmel_t *self, uint32_t m, float *lo, float *center, float *hi);

/* HTK mel scale: 2595 log10(1 + hz / 700), and its inverse. [any-thread] */
AB_EXPORT double ab_mel_from_hz(double hz);
AB_EXPORT double ab_mel_to_hz(double mel);

#ifdef __cplusplus
}
#endif

#endif
