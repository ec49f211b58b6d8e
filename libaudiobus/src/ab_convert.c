/* ab_convert.c - sample-format and channel conversion (see ab_convert.h). */
#include "audiobus/ab_convert.h"

#include <math.h>
#include <string.h>

#include "audiobus/ab_error.h"

void ab_convert_s16_to_f32(const void *in, float *out, size_t count)
{
    const unsigned char *src = in;
    for (size_t i = 0; i < count; i++) {
        int16_t v;
        memcpy(&v, src + 2 * i, 2);
        out[i] = (float)v / 32768.0f;
    }
}

void ab_convert_s32_to_f32(const void *in, float *out, size_t count)
{
    const unsigned char *src = in;
    for (size_t i = 0; i < count; i++) {
        int32_t v;
        memcpy(&v, src + 4 * i, 4);
        out[i] = (float)((double)v / 2147483648.0);
    }
}

/* Scale x by full (2^15 or 2^31; exact in double for every float), round
 * to nearest, and clip to [-full, full - 1]. NaN gives 0. */
static double s_quantize(float x, double full, size_t *clipped)
{
    double v = nearbyint((double)x * full);
    if (v > full - 1.0) {
        (*clipped)++;
        return full - 1.0;
    }
    if (v < -full) {
        (*clipped)++;
        return -full;
    }
    if (isnan(v)) {
        (*clipped)++;
        return 0.0;
    }
    return v;
}

size_t ab_convert_f32_to_s16(const float *in, void *out, size_t count)
{
    unsigned char *dst = out;
    size_t clipped = 0;
    for (size_t i = 0; i < count; i++) {
        int16_t v = (int16_t)s_quantize(in[i], 32768.0, &clipped);
        memcpy(dst + 2 * i, &v, 2);
    }
    return clipped;
}

size_t ab_convert_f32_to_s32(const float *in, void *out, size_t count)
{
    unsigned char *dst = out;
    size_t clipped = 0;
    for (size_t i = 0; i < count; i++) {
        int32_t v = (int32_t)s_quantize(in[i], 2147483648.0, &clipped);
        memcpy(dst + 4 * i, &v, 4);
    }
    return clipped;
}

int ab_convert_to_f32(ab_format_t format, const void *in, float *out, size_t count)
{
    switch (format) {
    case AB_FORMAT_F32: memcpy(out, in, count * sizeof(float)); return 0;
    case AB_FORMAT_S16: ab_convert_s16_to_f32(in, out, count); return 0;
    case AB_FORMAT_S32: ab_convert_s32_to_f32(in, out, count); return 0;
    }
    return AB_EFORMAT;
}

int ab_convert_from_f32(ab_format_t format, const float *in, void *out, size_t count, size_t *clipped)
{
    size_t n = 0;
    switch (format) {
    case AB_FORMAT_F32: memcpy(out, in, count * sizeof(float)); break;
    case AB_FORMAT_S16: n = ab_convert_f32_to_s16(in, out, count); break;
    case AB_FORMAT_S32: n = ab_convert_f32_to_s32(in, out, count); break;
    default: return AB_EFORMAT;
    }
    if (clipped)
        *clipped += n;
    return 0;
}

int ab_convert_mix_to_mono(const float *in, uint32_t channels, size_t frames, float *mono)
{
    if (channels == 0)
        return AB_EINVAL;
    if (channels == 1) {
        if (mono != in)
            memcpy(mono, in, frames * sizeof(float));
        return 0;
    }
    const float scale = 1.0f / channels;
    for (size_t i = 0; i < frames; i++, in += channels) {
        float sum = 0.0f;
        for (uint32_t c = 0; c < channels; c++)
            sum += in[c];
        mono[i] = sum * scale;
    }
    return 0;
}

int ab_convert_mono_to_channels(const float *mono, size_t frames, uint32_t channels, float *out)
{
    if (channels == 0)
        return AB_EINVAL;
    for (size_t i = 0; i < frames; i++, out += channels)
        for (uint32_t c = 0; c < channels; c++)
            out[c] = mono[i];
    return 0;
}

int ab_convert_select_channel(const float *in, uint32_t channels, uint32_t channel, size_t frames, float *mono)
{
    if (channel >= channels)
        return AB_EINVAL;
    in += channel;
    for (size_t i = 0; i < frames; i++, in += channels)
        mono[i] = *in;
    return 0;
}

int ab_convert_put_channel(const float *mono, size_t frames, uint32_t channels, uint32_t channel, float *out)
{
    if (channel >= channels)
        return AB_EINVAL;
    out += channel;
    for (size_t i = 0; i < frames; i++, out += channels)
        *out = mono[i];
    return 0;
}
