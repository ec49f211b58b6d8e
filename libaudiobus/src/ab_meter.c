/* ab_meter.c - RMS and peak level per channel (see ab_meter.h). */
#include "audiobus/ab_meter.h"

#include <math.h>
#include <stdlib.h>

#include "audiobus/ab_error.h"

struct ab_meter {
    uint32_t channels;
    uint64_t frames;
    double *sum_squares; /* per channel */
    float *peak;         /* per channel */
};

ab_meter_t *ab_meter_new(uint32_t channels)
{
    if (channels < 1 || channels > AB_METER_MAX_CHANNELS)
        return NULL;
    ab_meter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->channels = channels;
    self->sum_squares = calloc(channels, sizeof(double));
    self->peak = calloc(channels, sizeof(float));
    if (!self->sum_squares || !self->peak)
        ab_meter_destroy(&self);
    return self;
}

void ab_meter_destroy(ab_meter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_meter_t *self = *self_p;
    free(self->sum_squares);
    free(self->peak);
    free(self);
    *self_p = NULL;
}

int ab_meter_add(ab_meter_t *self, const float *samples, size_t frames)
{
    if (!self || (!samples && frames > 0))
        return AB_EINVAL;
    const uint32_t ch = self->channels;
    /* Straight into the running sums, in stream order: the same total
     * whatever the block sizes. */
    for (size_t i = 0; i < frames; i++, samples += ch) {
        for (uint32_t c = 0; c < ch; c++) {
            float v = samples[c], a = fabsf(v);
            self->sum_squares[c] += (double)v * v;
            if (a > self->peak[c])
                self->peak[c] = a;
        }
    }
    self->frames += frames;
    return 0;
}

void ab_meter_reset(ab_meter_t *self)
{
    if (!self)
        return;
    for (uint32_t c = 0; c < self->channels; c++) {
        self->sum_squares[c] = 0.0;
        self->peak[c] = 0.0f;
    }
    self->frames = 0;
}

uint32_t ab_meter_channels(const ab_meter_t *self)
{
    return self ? self->channels : 0;
}

uint64_t ab_meter_frames(const ab_meter_t *self)
{
    return self ? self->frames : 0;
}

double ab_meter_sum_squares(const ab_meter_t *self, uint32_t ch)
{
    return self && ch < self->channels ? self->sum_squares[ch] : 0.0;
}

double ab_meter_mean_square(const ab_meter_t *self, uint32_t ch)
{
    if (!self || ch >= self->channels || self->frames == 0)
        return 0.0;
    return self->sum_squares[ch] / (double)self->frames;
}

double ab_meter_rms(const ab_meter_t *self, uint32_t ch)
{
    return sqrt(ab_meter_mean_square(self, ch));
}

float ab_meter_peak(const ab_meter_t *self, uint32_t ch)
{
    return self && ch < self->channels ? self->peak[ch] : 0.0f;
}

double ab_dbfs_from_power(double power, double floor_db)
{
    if (!(power > 0.0))
        return floor_db;
    double db = 10.0 * log10(power);
    return db > floor_db ? db : floor_db;
}

double ab_dbfs_from_amplitude(double amplitude, double floor_db)
{
    return ab_dbfs_from_power(amplitude * amplitude, floor_db);
}

double ab_meter_rms_dbfs(const ab_meter_t *self, uint32_t ch, double floor_db)
{
    return ab_dbfs_from_power(ab_meter_mean_square(self, ch), floor_db);
}

double ab_meter_peak_dbfs(const ab_meter_t *self, uint32_t ch, double floor_db)
{
    return ab_dbfs_from_amplitude(ab_meter_peak(self, ch), floor_db);
}
