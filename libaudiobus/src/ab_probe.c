/* ab_probe.c - pseudo-random probe bursts and their matched-filter detector. */
#include "ab_probe.h"

#include <math.h>

void ab_probe_code(unsigned code, float amplitude, float *out)
{
    /* xorshift64 from a seed per code: fixed sequences, the same in every
     * build, so that a recording of a run can be analysed again. */
    uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t)(code % AB_PROBE_CODES + 1);
    for (size_t i = 0; i < AB_PROBE_FRAMES; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out[i] = (state >> 63) ? amplitude : -amplitude;
    }
}

ab_probe_match_t ab_probe_find(const float *x, size_t n, const float *probe)
{
    ab_probe_match_t best = {0, 0.0};
    if (n < AB_PROBE_FRAMES)
        return best;
    double probe_energy = 0;
    for (size_t i = 0; i < AB_PROBE_FRAMES; i++)
        probe_energy += (double)probe[i] * probe[i];
    /* The raw correlation picks the lag (the matched filter's optimum);
     * the score, normalised by the energy under the probe at that lag, says
     * whether it is the probe or only the loudest stretch of noise. */
    double best_abs = 0;
    for (size_t lag = 0; lag + AB_PROBE_FRAMES <= n; lag++) {
        const float *seg = x + lag;
        double sum = 0;
        for (size_t i = 0; i < AB_PROBE_FRAMES; i++)
            sum += (double)seg[i] * probe[i];
        if (fabs(sum) > best_abs) {
            best_abs = fabs(sum);
            best.lag = lag;
            best.score = sum;
        }
    }
    if (best_abs == 0)
        return best;
    double seg_energy = 0;
    for (size_t i = 0; i < AB_PROBE_FRAMES; i++)
        seg_energy += (double)x[best.lag + i] * x[best.lag + i];
    best.score /= sqrt(probe_energy * seg_energy);
    return best;
}
