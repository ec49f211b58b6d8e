/* level.c - audiobus plugin: RMS and peak level in dBFS, per block and channel.
 *
 * Output "level" (features): one frame per input block, 2 x channels values,
 *     [rms_db ch0, peak_db ch0, rms_db ch1, peak_db ch1, ...]
 * with frame0/time_ns of the input block. The declared hop is the stream's
 * max_frames; the true span of each frame is the block it was computed
 * from, which its frame0 identifies. Silence (and NaN) reads -120 dBFS.
 *
 * Every `interval` seconds of audio (0.1 s at the least: the log is for
 * people, the output for programs) it logs one line over that interval for
 * the loudest channel, e.g. "rms -23.4 dBFS peak -6.1 dBFS (ch0)".
 *
 * Full scale is 1.0 in the converted f32 samples, so a sine of amplitude 1
 * reads peak 0 dBFS and rms -3.01 dBFS. The measuring is ab_meter.h's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <audiobus/ab_meter.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_text.h>

#define LEVEL_FLOOR_DB (-120.0)
#define LEVEL_MAX_CHANNELS 256

typedef struct {
    const ab_plugin_host_t *host;
    double interval; /* seconds; 0 = no summary */
    int publish;

    int active;
    uint32_t rate;
    uint32_t channels;
    int32_t output;
    float *features;         /* 2 * channels, one published frame */
    ab_meter_t *block_meter; /* this block */
    ab_meter_t *sum_meter;   /* this interval */
    uint64_t interval_frames; /* frames per summary; 0 = none */
    uint64_t summary_frames;  /* frames into the current interval */
    uint64_t skipped_blocks;  /* wrong channel count */
    uint64_t skipped_logged;
    uint64_t frames_since_warning;
} level_t;

static const ab_plugin_param_info_t s_params[] = {
    {"interval", "1", "seconds of audio per logged summary line, 0.1 to 86400, or 0 for none"},
    {"publish", "1", "1 = publish output \"level\" (rms_db, peak_db per channel per block), 0 = only log"},
    {NULL, NULL, NULL},
};

/* An interval in seconds: 0 (no summaries) or 0.1 to 86400. */
static int s_parse_seconds(const char *text, double *out)
{
    double v = 0.0;
    if (ab_text_parse_double(text, 0.0, 86400.0, &v) != 0 || (v > 0.0 && v < 0.1))
        return -1;
    *out = v;
    return 0;
}

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "level: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    double interval = 1.0;
    int publish = 1;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        if (strcmp(key, "interval") == 0) {
            if (s_parse_seconds(value, &interval) != 0) {
                snprintf(error, error_len,
                         "level: bad value \"%s\" for interval (expected seconds from 0.1 to 86400, "
                         "or 0 for no summary, e.g. interval=1)",
                         value);
                return NULL;
            }
        } else if (strcmp(key, "publish") == 0) {
            if (ab_text_parse_bool(value, &publish) != 0) {
                snprintf(error, error_len, "level: bad value \"%s\" for publish (expected 1 or 0)", value);
                return NULL;
            }
        } else {
            snprintf(error, error_len, "level: unknown parameter \"%s\" (accepted: interval, publish)", key);
            return NULL;
        }
    }
    level_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(error, error_len, "level: out of memory");
        return NULL;
    }
    self->host = host;
    self->interval = interval;
    self->publish = publish;
    self->output = -1;
    return self;
}

static void s_free_buffers(level_t *self)
{
    free(self->features);
    self->features = NULL;
    ab_meter_destroy(&self->block_meter);
    ab_meter_destroy(&self->sum_meter);
}

static void s_deactivate(void *instance)
{
    level_t *self = instance;
    if (!self->active)
        return;
    if (self->skipped_blocks > 0) {
        char line[128];
        snprintf(line, sizeof line, "skipped %llu blocks with a channel count other than %u",
                 (unsigned long long)self->skipped_blocks, self->channels);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }
    s_free_buffers(self);
    self->active = 0;
}

static int32_t s_activate(void *instance, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    level_t *self = instance;
    s_deactivate(self);
    if (!format || format->struct_size < sizeof(ab_plugin_format_t) || format->rate == 0 ||
        format->channels == 0 || format->channels > LEVEL_MAX_CHANNELS || format->max_frames == 0) {
        snprintf(error, error_len, "level: unusable stream format (rate %u, channels %u, max_frames %u)",
                 format ? format->rate : 0u, format ? format->channels : 0u,
                 format ? format->max_frames : 0u);
        return AB_PLUGIN_ERROR;
    }
    uint32_t ch = format->channels;
    self->rate = format->rate;
    self->channels = ch;
    self->features = calloc(2 * (size_t)ch, sizeof(float));
    self->block_meter = ab_meter_new(ch);
    self->sum_meter = ab_meter_new(ch);
    if (!self->features || !self->block_meter || !self->sum_meter) {
        s_free_buffers(self);
        snprintf(error, error_len, "level: out of memory for %u channels", ch);
        return AB_PLUGIN_ERROR;
    }
    self->output = -1;
    if (self->publish) {
        self->output = self->host->declare_output(self->host->host_data, "level", AB_PLUGIN_OUTPUT_FEATURES,
                                                  2 * ch, format->max_frames);
        if (self->output < 0) {
            s_free_buffers(self);
            snprintf(error, error_len, "level: the host refused output \"level\" (%u channels, hop %u)",
                     2 * ch, format->max_frames);
            return AB_PLUGIN_ERROR;
        }
    }
    self->interval_frames = self->interval > 0.0 ? (uint64_t)llround(self->interval * format->rate) : 0;
    if (self->interval > 0.0 && self->interval_frames == 0)
        self->interval_frames = 1; /* rates below 5 Hz */
    self->summary_frames = 0;
    self->skipped_blocks = self->skipped_logged = 0;
    self->frames_since_warning = format->rate; /* the first problem is reported at once */
    self->active = 1;
    return AB_PLUGIN_OK;
}

/* Log the interval's summary for its loudest channel and start the next. */
static void s_report(level_t *self)
{
    const ab_meter_t *m = self->sum_meter;
    uint32_t loudest = 0;
    for (uint32_t c = 1; c < self->channels; c++)
        if (ab_meter_sum_squares(m, c) > ab_meter_sum_squares(m, loudest))
            loudest = c;
    char line[96], *p = line, *end = line + sizeof line;
    ab_text_put_str(&p, end, "rms ");
    ab_text_put_fixed1(&p, end, ab_meter_rms_dbfs(m, loudest, LEVEL_FLOOR_DB));
    ab_text_put_str(&p, end, " dBFS peak ");
    ab_text_put_fixed1(&p, end, ab_meter_peak_dbfs(m, loudest, LEVEL_FLOOR_DB));
    ab_text_put_str(&p, end, " dBFS (ch");
    ab_text_put_u64(&p, end, loudest);
    if (self->channels > 1) {
        ab_text_put_str(&p, end, ", loudest of ");
        ab_text_put_u64(&p, end, self->channels);
    }
    ab_text_put_str(&p, end, ")");
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    ab_meter_reset(self->sum_meter);
    self->summary_frames = 0;
}

static int32_t s_process(void *instance, const ab_plugin_block_t *block)
{
    level_t *self = instance;
    const uint32_t ch = self->channels;
    self->frames_since_warning += block->frames;
    if (block->channels != ch) {
        self->skipped_blocks++;
        if (self->frames_since_warning >= self->rate) {
            char line[96], *p = line, *end = line + sizeof line;
            ab_text_put_str(&p, end, "skipping blocks of ");
            ab_text_put_u64(&p, end, block->channels);
            ab_text_put_str(&p, end, " channels (expected ");
            ab_text_put_u64(&p, end, ch);
            ab_text_put_str(&p, end, "), ");
            ab_text_put_u64(&p, end, self->skipped_blocks);
            ab_text_put_str(&p, end, " so far");
            self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
            self->frames_since_warning = 0;
        }
        return AB_PLUGIN_OK;
    }
    if (block->frames == 0)
        return AB_PLUGIN_OK;

    ab_meter_reset(self->block_meter);
    ab_meter_add(self->block_meter, block->samples, block->frames);
    /* The interval meter takes the block in pieces that end where a
     * summary is due. */
    const float *x = block->samples;
    for (uint32_t left = block->frames; left > 0 && self->interval_frames;) {
        uint64_t room = self->interval_frames - self->summary_frames;
        uint32_t n = room < left ? (uint32_t)room : left;
        ab_meter_add(self->sum_meter, x, n);
        x += (size_t)n * ch;
        left -= n;
        self->summary_frames += n;
        if (self->summary_frames == self->interval_frames)
            s_report(self);
    }

    if (self->output >= 0) {
        for (uint32_t c = 0; c < ch; c++) {
            self->features[2 * c] = (float)ab_meter_rms_dbfs(self->block_meter, c, LEVEL_FLOOR_DB);
            self->features[2 * c + 1] = (float)ab_meter_peak_dbfs(self->block_meter, c, LEVEL_FLOOR_DB);
        }
        ab_plugin_output_block_t out = {
            .struct_size = sizeof(ab_plugin_output_block_t),
            .output = self->output,
            .frames = 1,
            .channels = 2 * ch,
            .frame0 = block->frame0,
            .time_ns = block->time_ns,
            .samples = self->features,
            .label = NULL,
        };
        /* A full queue is counted and reported by the host. */
        self->host->publish(self->host->host_data, &out);
    }
    return AB_PLUGIN_OK;
}

static void s_destroy(void *instance)
{
    level_t *self = instance;
    if (!self)
        return;
    s_deactivate(self);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "level",
    .version = "1.0.0",
    .description = "RMS and peak level in dBFS per block and channel, with a summary line per interval",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
