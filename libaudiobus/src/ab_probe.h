/* ab_probe.h - the test signal of the latency profiler and its detector.
 *
 * A probe is a burst of AB_PROBE_FRAMES pseudo-random chips of +-amplitude
 * (white, like a maximum-length sequence). It is found again by
 * cross-correlation (a matched filter): the peak marks where the burst
 * starts, to the frame, even after a change of gain, an inverted polarity,
 * a DC offset, band-limiting by converters or noise well above the level
 * at which a single-sample impulse would drown or be smeared by an
 * anti-aliasing filter. The profiler cycles through AB_PROBE_CODES
 * different codes, whose cross-correlation is low, so that a probe coming
 * back one or more intervals late is not mistaken for the next one.
 * Internal to libaudiobus. [any-thread]: pure functions.
 */
#ifndef AUDIOBUS_AB_PROBE_H_INCLUDED
#define AUDIOBUS_AB_PROBE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define AB_PROBE_FRAMES 256
#define AB_PROBE_CODES 4
/* The normalised correlation a match must reach: 1.0 for a bit-exact
 * loop; about 1/sqrt(AB_PROBE_FRAMES) = 0.06 (and rarely above 0.3) for
 * another code or for noise. */
#define AB_PROBE_MIN_SCORE 0.5

/* Write code number code (taken modulo AB_PROBE_CODES) into
 * out[0 .. AB_PROBE_FRAMES), each chip +amplitude or -amplitude. */
void ab_probe_code(unsigned code, float amplitude, float *out);

typedef struct {
    size_t lag;   /* where the probe starts in the searched signal */
    double score; /* normalised correlation at lag, -1..1 (negative: inverted) */
} ab_probe_match_t;

/* Search x[0 .. n) for probe (AB_PROBE_FRAMES samples) at every lag from 0
 * to n - AB_PROBE_FRAMES: the lag of the largest absolute correlation, and
 * its normalised score. A match counts when |score| >= AB_PROBE_MIN_SCORE.
 * Returns lag 0, score 0 when n < AB_PROBE_FRAMES or x is silent there. */
ab_probe_match_t ab_probe_find(const float *x, size_t n, const float *probe);

#endif
