/* ab_meter.h - RMS and peak level per channel of interleaved float audio.
 *
 * A meter accumulates, per channel, the sum of squares (in double, sample
 * by sample in stream order) and the largest absolute value of every
 * sample added since it was created or last reset. NaN samples make that
 * channel's RMS NaN (which the dB helpers read as the floor) and never
 * change its peak. Full scale is 1.0: a sine of amplitude 1 reads peak
 * 0 dBFS and RMS -3.01 dBFS.
 *
 * Feed it blocks of any size with ab_meter_add(); read it at any moment;
 * reset it to start a new interval. Adding and reading never allocate,
 * lock or block. A meter is not shared between threads without the
 * caller's own synchronisation.
 */
#ifndef AUDIOBUS_AB_METER_H_INCLUDED
#define AUDIOBUS_AB_METER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest channel count of a meter. */
#define AB_METER_MAX_CHANNELS 256

typedef struct ab_meter ab_meter_t;

/* Create a meter for channels (1 .. AB_METER_MAX_CHANNELS) channels.
 * Returns NULL when channels is out of range or memory runs out. The caller
 * owns it and frees it with ab_meter_destroy(). [control-thread] */
AB_EXPORT ab_meter_t *ab_meter_new(uint32_t channels);

/* Destroy a meter and NULL the caller's pointer; NULL-safe, safe twice.
 * [control-thread] */
AB_EXPORT void ab_meter_destroy(ab_meter_t **self_p);

/* Add frames of interleaved audio with the meter's channel count. Returns
 * 0, or AB_EINVAL when self is NULL or samples is NULL with frames > 0.
 * [audio-thread] */
AB_EXPORT int ab_meter_add(ab_meter_t *self, const float *samples, size_t frames);

/* Forget everything added: as after ab_meter_new(). [audio-thread] */
AB_EXPORT void ab_meter_reset(ab_meter_t *self);

/* Channel count, and frames added since the last reset. [any-thread] */
AB_EXPORT uint32_t ab_meter_channels(const ab_meter_t *self);
AB_EXPORT uint64_t ab_meter_frames(const ab_meter_t *self);

/* Of channel ch since the last reset: the sum of squares, the mean square
 * (0 when nothing was added), its square root (the RMS), and the largest
 * absolute sample value. 0 for a channel out of range. [any-thread] */
AB_EXPORT double ab_meter_sum_squares(const ab_meter_t *self, uint32_t ch);
AB_EXPORT double ab_meter_mean_square(const ab_meter_t *self, uint32_t ch);
AB_EXPORT double ab_meter_rms(const ab_meter_t *self, uint32_t ch);
AB_EXPORT float ab_meter_peak(const ab_meter_t *self, uint32_t ch);

/* RMS and peak of channel ch in dBFS, never below floor_db (e.g. -120).
 * [any-thread] */
AB_EXPORT double ab_meter_rms_dbfs(const ab_meter_t *self, uint32_t ch, double floor_db);
AB_EXPORT double ab_meter_peak_dbfs(const ab_meter_t *self, uint32_t ch, double floor_db);

/* 10 log10(power) for a power ratio such as a mean square, and the same
 * of amplitude squared (20 log10 |amplitude|) for an amplitude such as a
 * peak; floor_db for 0, negative powers, NaN and anything below floor_db
 * (and for amplitudes below 1e-154, whose square is 0 in double).
 * [any-thread] */
AB_EXPORT double ab_dbfs_from_power(double power, double floor_db);
AB_EXPORT double ab_dbfs_from_amplitude(double amplitude, double floor_db);

#ifdef __cplusplus
}
#endif

#endif
