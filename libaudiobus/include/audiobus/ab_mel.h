/* ab_mel.h - streaming log-mel spectrogram front end.
 *
 * Feed mono samples in blocks of any size; every time a full analysis frame
 * is available the callback receives its n_mels values. Frame k covers
 * input samples [k * hop, k * hop + n_fft): there is no centring or
 * padding, so the first frame arrives once n_fft samples have been pushed.
 *
 * Per frame, in this order, with N = n_fft and x[i] the frame's samples:
 *   w[i]   = window, i = 0 .. N-1, periodic (the denominator is N, not N-1):
 *              hann (default)  0.5 - 0.5 cos(2 pi i / N)
 *              hamming         0.54 - 0.46 cos(2 pi i / N)
 *              rect            1
 *   X[k]   = sum_i w[i] x[i] exp(-2 pi sqrt(-1) i k / N), k = 0 .. N/2
 *            (unscaled DFT)
 *   S[k]   = |X[k]|^2 (spectrum power, default) or |X[k]| (magnitude)
 *   M[m]   = sum_k F[m][k] S[k], m = 0 .. n_mels-1
 *   out[m] = by log kind:
 *              db (default)  10 log10(max(M[m], floor)) for power,
 *                            20 log10(max(M[m], floor)) for magnitude
 *              ln            ln(M[m] + floor)
 *              none          M[m]
 * A NaN M[m] (from NaN or infinite input) is taken as 0.
 *
 * The filterbank F: n_mels + 2 edges evenly spaced on the mel scale,
 *   e[i] = hz(mel(fmin) + i (mel(fmax) - mel(fmin)) / (n_mels + 1)),
 *   i = 0 .. n_mels+1 (e[0] = fmin and e[n_mels+1] = fmax exactly),
 * and with f_k = k rate / N the frequency of bin k,
 *   F[m][k] = g[m] max(0, min((f_k - e[m]) / (e[m+1] - e[m]),
 *                             (e[m+2] - f_k) / (e[m+2] - e[m+1])))
 * a triangle rising from e[m] to a peak at e[m+1] and falling to e[m+2],
 * with g[m] = 1 (norm none, default: peak 1) or g[m] = 2 / (e[m+2] - e[m])
 * (norm slaney: area 1 in Hz, so that bands of any width give comparable
 * values for white noise). Mel scales:
 *   htk (default)  mel(f) = 2595 log10(1 + f / 700)
 *   slaney         mel(f) = f / f_sp                         for f < 1000 Hz
 *                  mel(f) = 15 + ln(f / 1000) / logstep      for f >= 1000 Hz
 *                  with f_sp = 200 / 3 and logstep = ln(6.4) / 27
 *                  (Slaney's Auditory Toolbox; mel(1000 Hz) = 15)
 *
 * The defaults (zero fields) are torchaudio's MelSpectrogram(center=False,
 * power=2, norm=None, mel_scale="htk") followed by
 * AmplitudeToDB("power", top_db=None) with amin = floor. scale slaney and
 * norm slaney are librosa's defaults: librosa.feature.melspectrogram(
 * center=False, power=2 or 1) followed by power_to_db(ref=1, amin=floor,
 * top_db=None) for power, or amplitude_to_db(ref=1, amin=floor,
 * top_db=None) for magnitude. Note torchaudio's amin is 1e-10 for both
 * spectrum kinds while librosa's amplitude_to_db uses 1e-5: set floor to
 * match the one you compare with.
 *
 * The FFT is FFTW's real transform in double precision (bands far below a
 * frame's loudest keep their precision: a single-precision FFT's rounding,
 * about 1e-7 of the frame's largest magnitude, would swamp a band 100 dB
 * down), so n_fft may be any even size (400 works as well as 512); the
 * window, |X|, the mel sums and the log are computed in double too. Everything is allocated by
 * ab_logmel_new(); pushing samples never allocates, locks or blocks.
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

/* Mel scales (formulas above). */
typedef enum {
    AB_MEL_SCALE_HTK = 0,   /* 2595 log10(1 + f / 700) */
    AB_MEL_SCALE_SLANEY = 1 /* linear below 1000 Hz, logarithmic above (librosa's default) */
} ab_mel_scale_t;

/* What the filterbank weighs. */
typedef enum {
    AB_MEL_SPECTRUM_POWER = 0,    /* |X[k]|^2 */
    AB_MEL_SPECTRUM_MAGNITUDE = 1 /* |X[k]| */
} ab_mel_spectrum_t;

/* Height of the triangles. */
typedef enum {
    AB_MEL_NORM_NONE = 0,  /* peak 1 */
    AB_MEL_NORM_SLANEY = 1 /* peak 2 / (e[m+2] - e[m]): area 1 in Hz */
} ab_mel_norm_t;

/* Analysis windows, all periodic (formulas above). */
typedef enum { AB_MEL_WINDOW_HANN = 0, AB_MEL_WINDOW_HAMMING = 1, AB_MEL_WINDOW_RECT = 2 } ab_mel_window_t;

/* What the callback receives (formulas above). */
typedef enum {
    AB_MEL_LOG_DB = 0,  /* 10 log10(max(M, floor)), or 20 log10 for magnitude */
    AB_MEL_LOG_LN = 1,  /* ln(M + floor) */
    AB_MEL_LOG_NONE = 2 /* M, the mel energies themselves */
} ab_mel_log_t;

/* Parameters of a log-mel front end. Zero fields take the default noted,
 * so a configuration that sets only the first four fields gets periodic
 * Hann, power, HTK triangles of peak 1 and dB with a -100 dB floor. */
typedef struct {
    uint32_t rate;   /* input sample rate in Hz, 1 .. 1000000; required */
    uint32_t n_fft;  /* frame and FFT length in samples, even, 2 .. AB_LOGMEL_MAX_FFT; required */
    uint32_t hop;    /* samples between frame starts, >= 1 (may exceed n_fft); required */
    uint32_t n_mels; /* mel bands, 1 .. AB_LOGMEL_MAX_MELS; required */
    float fmin;      /* lowest filter edge in Hz, >= 0 */
    float fmax;      /* highest filter edge in Hz, fmin < fmax <= rate / 2; 0 = rate / 2 */
    float floor;     /* > 0, finite; 0 = 1e-10 for power, 1e-5 for magnitude (both -100 dB) */
    ab_mel_scale_t scale;
    ab_mel_spectrum_t spectrum;
    ab_mel_norm_t norm;
    ab_mel_window_t window;
    ab_mel_log_t log;
} ab_logmel_config_t;

/* Receives one frame: mels holds n_mels values (the configured log kind),
 * valid only during the call; start is the index of the frame's first
 * sample counted from the first sample pushed (or since the last
 * ab_logmel_reset()). Called on the thread that called ab_logmel_push(). */
typedef void (*ab_logmel_frame_cb)(const float *mels, uint64_t start, void *user);

/* Create a front end for cfg (copied). Returns NULL when a field is out of
 * the ranges above (an enum value included) or memory runs out. The caller
 * owns the result and frees it with ab_logmel_destroy(). [control-thread] */
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

/* Edges of band m in Hz: where its triangle starts, peaks and ends
 * (e[m], e[m+1], e[m+2]). Returns 0, or AB_EINVAL when m >= n_mels or self
 * is NULL. Any pointer may be NULL. [any-thread] */
AB_EXPORT int ab_logmel_band_hz(const ab_logmel_t *self, uint32_t m, float *lo, float *center, float *hi);

/* Copy the filterbank F in use (normalisation included) into weights,
 * row-major: weights[m * (n_fft / 2 + 1) + k] = F[m][k]. count is the
 * capacity of weights in doubles and must be at least
 * n_mels * (n_fft / 2 + 1). Returns 0, or AB_EINVAL when self or weights is
 * NULL or count is too small. [any-thread] */
AB_EXPORT int ab_logmel_filterbank(const ab_logmel_t *self, double *weights, size_t count);

/* Mel from Hz and Hz from mel on the given scale (formulas above); the two
 * invert each other. NaN for an unknown scale. [any-thread] */
AB_EXPORT double ab_mel_scale_from_hz(ab_mel_scale_t scale, double hz);
AB_EXPORT double ab_mel_scale_to_hz(ab_mel_scale_t scale, double mel);

/* HTK mel scale: 2595 log10(1 + hz / 700), and its inverse. Same as
 * ab_mel_scale_from_hz(AB_MEL_SCALE_HTK, hz) and its inverse. [any-thread] */
AB_EXPORT double ab_mel_from_hz(double hz);
AB_EXPORT double ab_mel_to_hz(double mel);

#ifdef __cplusplus
}
#endif

#endif
