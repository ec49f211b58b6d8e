/* ab_convert.h - sample-format and channel conversion of interleaved audio.
 *
 * The one place where audiobus turns integer samples into float and back,
 * with the scaling the wire and the plugin ABI promise (ab_plugin.h):
 *   s16 -> f32: v / 2^15        s32 -> f32: v / 2^31
 *   f32 -> s16: round(x * 2^15) s32: round(x * 2^31)
 * so full scale is [-1, 1). Float to integer rounds to nearest, ties to
 * even (the default rounding mode), and clips to the integer's range: 1.0f
 * becomes INT16_MAX / INT32_MAX and counts as clipped, as does any value
 * beyond; NaN becomes 0 and counts as clipped too. Integer to float and
 * back is exact for every s16 value and every s32 value that float holds
 * exactly (|v| < 2^24, or a multiple of a large enough power of two).
 *
 * Integer buffers are given as void pointers in the host's byte order
 * (little-endian, as on the wire, on every host audiobus supports) and need
 * no particular alignment, so a pointer into a received message works.
 *
 * Every function here is real-time safe: no allocation, locks or system
 * calls. None of them accept overlapping input and output, except where
 * noted. [any-thread]
 */
#ifndef AUDIOBUS_AB_CONVERT_H_INCLUDED
#define AUDIOBUS_AB_CONVERT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_block.h"
#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* count s16 samples at in to float at out (v / 32768). [any-thread] */
AB_EXPORT void ab_convert_s16_to_f32(const void *in, float *out, size_t count);

/* count s32 samples at in to float at out (v / 2147483648, rounded once
 * to float). [any-thread] */
AB_EXPORT void ab_convert_s32_to_f32(const void *in, float *out, size_t count);

/* count floats at in to s16 at out (x * 32768, rounded, clipped). Returns
 * the number of samples clipped (out of range or NaN). [any-thread] */
AB_EXPORT size_t ab_convert_f32_to_s16(const float *in, void *out, size_t count);

/* count floats at in to s32 at out (x * 2147483648, rounded, clipped).
 * Returns the number of samples clipped. [any-thread] */
AB_EXPORT size_t ab_convert_f32_to_s32(const float *in, void *out, size_t count);

/* count samples of format at in to float at out; f32 is copied as it is.
 * Returns 0, or AB_EFORMAT for a format other than AB_FORMAT_*. [any-thread] */
AB_EXPORT int ab_convert_to_f32(ab_format_t format, const void *in, float *out, size_t count);

/* count floats at in to format at out; f32 is copied as it is (never
 * clipped). Adds the number of samples clipped to *clipped unless clipped
 * is NULL. Returns 0, or AB_EFORMAT. [any-thread] */
AB_EXPORT int ab_convert_from_f32(ab_format_t format, const float *in, void *out, size_t count, size_t *clipped);

/* Mix frames of channels-channel interleaved audio down to mono: the mean
 * of each frame's samples (their float sum times 1/channels). mono may be
 * the same buffer as in when channels is 1. Returns 0, or AB_EINVAL when
 * channels is 0. [any-thread] */
AB_EXPORT int ab_convert_mix_to_mono(const float *in, uint32_t channels, size_t frames, float *mono);

/* Copy mono to every channel of frames of channels-channel interleaved
 * audio at out. Returns 0, or AB_EINVAL when channels is 0. [any-thread] */
AB_EXPORT int ab_convert_mono_to_channels(const float *mono, size_t frames, uint32_t channels, float *out);

/* Copy channel (0-based) of frames of channels-channel interleaved audio to
 * mono. Returns 0, or AB_EINVAL when channel >= channels. [any-thread] */
AB_EXPORT int ab_convert_select_channel(const float *in, uint32_t channels, uint32_t channel, size_t frames,
                                        float *mono);

/* The inverse of ab_convert_select_channel(): write mono into channel of
 * frames of channels-channel interleaved audio at out, leaving the other
 * channels as they are. Returns 0, or AB_EINVAL when channel >= channels.
 * [any-thread] */
AB_EXPORT int ab_convert_put_channel(const float *mono, size_t frames, uint32_t channels, uint32_t channel,
                                     float *out);

#ifdef __cplusplus
}
#endif

#endif
