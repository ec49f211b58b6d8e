/* ab_stft.h - streaming short-time Fourier transform with overlap-add
 * resynthesis, for filters and effects that work on spectra.
 *
 * Push blocks of any size; get exactly as many samples back, the input
 * delayed by ab_stft_latency() = n_fft - 1 samples and changed by whatever
 * the spectral callback did in between. Every hop input samples one frame
 * is analysed:
 *   x      = the last n_fft input samples times the analysis window w_a
 *   X[k]   = DFT(x)[k], k = 0 .. n_fft/2  (FFTW's real FFT in single precision, unscaled)
 *   cb(X)  may read and change X in place
 *   y      = inverse DFT of X, scaled by 1/n_fft, times the synthesis
 *            window w_s and divided by the window sum below
 * and y is added into the output at the frame's position. The window sum
 *   S[j] = sum over i of w_a[j + i hop] * w_s[j + i hop], 0 <= j + i hop < n_fft
 * is what every output sample at offset j (mod hop) in a frame receives
 * from the frames covering it, so dividing by it makes reconstruction exact
 * for any even n_fft, any hop and any pair of windows whose S is nowhere
 * (near) zero: without a callback the output equals the input delayed by
 * the latency, up to float rounding (measured below 1e-6 for signals of
 * unit size). Configurations with S near zero somewhere, such as
 * hop > n_fft, or a Hann window with hop = n_fft (its first value is 0),
 * are refused with a message.
 *
 * Frame k (from 0 after ab_stft_new() or ab_stft_reset()) covers input
 * samples [k hop + hop - n_fft, k hop + hop): the stream is preceded by
 * n_fft - hop zeros, so the first frame is analysed once hop samples have
 * been pushed and output sample t is input sample t - (n_fft - 1). The
 * first n_fft - 1 output samples come from those zeros (silence, unless the
 * callback adds something).
 *
 * One instance transforms one channel: use an instance per channel of
 * interleaved audio (ab_convert_select_channel() / ab_convert_put_channel()
 * move a channel in and out). Everything is allocated by ab_stft_new();
 * ab_stft_process() and ab_stft_reset() never allocate, lock or block.
 */
#ifndef AUDIOBUS_AB_STFT_H_INCLUDED
#define AUDIOBUS_AB_STFT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest accepted n_fft. */
#define AB_STFT_MAX_FFT 65536

/* Windows, all periodic (of period n_fft, as for spectral analysis), for
 * i = 0 .. n_fft - 1. */
typedef enum {
    AB_STFT_WINDOW_DEFAULT = 0,   /* Hann */
    AB_STFT_WINDOW_RECT = 1,      /* 1: no window */
    AB_STFT_WINDOW_HANN = 2,      /* 0.5 - 0.5 cos(2 pi i / n_fft) */
    AB_STFT_WINDOW_SQRT_HANN = 3, /* sqrt of Hann = sin(pi i / n_fft) */
    AB_STFT_WINDOW_HAMMING = 4    /* 0.54 - 0.46 cos(2 pi i / n_fft) */
} ab_stft_window_t;

typedef struct {
    uint32_t n_fft;             /* frame and FFT length, even, 2 .. AB_STFT_MAX_FFT */
    uint32_t hop;               /* samples between frames, 1 .. n_fft */
    ab_stft_window_t analysis;  /* applied before the FFT */
    ab_stft_window_t synthesis; /* applied after the inverse FFT */
} ab_stft_config_t;

/* What the callback is told about the frame it receives. */
typedef struct {
    uint64_t index; /* frame number since ab_stft_new() or the last reset */
    int64_t start;  /* input sample of the frame's first value, counted from
                       the first sample pushed since then (negative for the
                       first frames, which start in the leading zeros) */
    uint32_t n_fft;
    uint32_t n_bins; /* n_fft / 2 + 1; bin k is at k * rate / n_fft Hz */
} ab_stft_frame_t;

/* Receives one frame's spectrum, n_bins complex values as (re, im) pairs:
 * spectrum[2k] + j spectrum[2k + 1] = X[k] (the layout of C99's float
 * complex array). It may change them; the imaginary parts of bin 0 and of
 * bin n_fft/2 are ignored by the inverse transform. Called on the thread
 * that called ab_stft_process(), which it must not call itself. */
typedef void (*ab_stft_spectrum_cb)(float *spectrum, const ab_stft_frame_t *frame, void *user);

typedef struct ab_stft ab_stft_t;

/* Check cfg without creating anything. Returns 0, or AB_EINVAL after
 * writing to error (when not NULL, capacity error_len) what is wrong and
 * what would work, e.g. "hop 600 is larger than n_fft 512 ...". [any-thread] */
AB_EXPORT int ab_stft_check(const ab_stft_config_t *cfg, char *error, size_t error_len);

/* Create a transform for cfg (copied), as after ab_stft_reset(). Returns
 * NULL when cfg is refused (with the message of ab_stft_check() in error,
 * which may be NULL) or memory runs out. The caller owns the result and
 * frees it with ab_stft_destroy(). [control-thread] */
AB_EXPORT ab_stft_t *ab_stft_new(const ab_stft_config_t *cfg, char *error, size_t error_len);

/* Destroy a transform and NULL the caller's pointer; NULL-safe, safe twice.
 * [control-thread] */
AB_EXPORT void ab_stft_destroy(ab_stft_t **self_p);

/* Push frames input samples from in and write as many output samples to
 * out (out may be in itself; otherwise the two must not overlap). cb (NULL
 * for none: the identity) is called for every frame completed, in order,
 * before this returns. Returns the number of frames analysed (saturated at
 * INT32_MAX), or AB_EINVAL when self is NULL, or in or out is NULL with
 * frames > 0. Real-time safe. [audio-thread] */
AB_EXPORT int ab_stft_process(ab_stft_t *self, const float *in, float *out, size_t frames, ab_stft_spectrum_cb cb,
                              void *user);

/* Forget all input and output in flight and restart frame numbers and
 * positions at 0, as after ab_stft_new() (after a gap in the input).
 * Real-time safe. [audio-thread] */
AB_EXPORT void ab_stft_reset(ab_stft_t *self);

/* Output sample t is input sample t - latency: n_fft - 1. [any-thread] */
AB_EXPORT uint32_t ab_stft_latency(const ab_stft_t *self);

/* The configuration in use, with default windows resolved. [any-thread] */
AB_EXPORT const ab_stft_config_t *ab_stft_config(const ab_stft_t *self);

/* Name of a window ("rect", "hann", "sqrt-hann", "hamming"; "hann" for the
 * default), or NULL. [any-thread] */
AB_EXPORT const char *ab_stft_window_name(ab_stft_window_t window);

#ifdef __cplusplus
}
#endif

#endif
