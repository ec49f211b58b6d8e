/* ab_clock.h - the clocks audiobus uses: wall time for timestamps on the
 * wire, monotonic time for intervals and pacing. */
#ifndef AUDIOBUS_AB_CLOCK_H_INCLUDED
#define AUDIOBUS_AB_CLOCK_H_INCLUDED

#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). [any-thread],
 * real-time safe (vDSO). */
AB_EXPORT int64_t ab_clock_wall_ns(void);

/* Nanoseconds of CLOCK_MONOTONIC. [any-thread], real-time safe. */
AB_EXPORT int64_t ab_clock_mono_ns(void);

/* Sleep until the monotonic clock reaches deadline_ns; returns early on a
 * signal. [any-thread except the audio thread] */
AB_EXPORT void ab_clock_sleep_until(int64_t deadline_ns);

/* Sleep for ms milliseconds. [any-thread except the audio thread] */
AB_EXPORT void ab_clock_sleep_ms(int ms);

#ifdef __cplusplus
}
#endif

#endif
