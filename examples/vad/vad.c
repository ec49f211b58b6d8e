/* vad.c - audiobus plugin: voice activity detection, publishing where speech starts and ends.
 *
 * Output "vad" (events, one channel): one event per boundary, label
 * "speech_start" or "speech_end", frame0 the boundary's position in the
 * input stream (frames since the stream began; a segment covers
 * [start, end)) and time_ns the capture time of that frame, extrapolated
 * at the stream's rate from the block in hand. A segment's start is
 * published min_speech_ms after its speech began and its end
 * min_silence_ms after its speech stopped, so both name a position in the
 * past; segments never overlap and come in order. Each segment is also
 * logged in one line, "speech 3.410 s to 5.270 s (1.860 s)".
 *
 * Analysis (channels mixed to mono): a log-mel spectrum of the speech band
 * (band_low_hz .. band_high_hz, 300 .. 8000 Hz by default so that
 * fricatives count; bands about 100 mel wide) every 10 ms over windows of
 * 25 ms or more (ab_mel.h). Each band keeps its own noise level, so
 * coloured noise and hum count only in the bands they cover. The noise
 * level of a band is the running mean of its dB level (time constant
 * 0.5 s) over frames judged not to be speech, held between a floor and a
 * ceiling that follow the band's minimum over noise_window_ms (minimum
 * statistics, on the band smoothed over about 50 ms): at least that
 * minimum plus the usual distance of the noise above it, at most 10 dB
 * above it. So the noise level follows noise that gets quieter at once,
 * and noise that gets louder within noise_window_ms, even while the
 * detector takes the louder noise for speech (which it does meanwhile: a
 * sudden rise of the noise gives a segment of about noise_window_ms).
 *
 * A frame's score is how far, in dB, the third of the bands that rise
 * most above their noise are above it on average (each band counted from
 * 0 to 20 dB), averaged again over 5 frames (50 ms). Speech raises several
 * bands at once (the vowel of "rear" only low ones, an "s" only high ones);
 * a tone rising in one band cannot reach the threshold alone. A segment
 * begins at a frame scoring threshold_db or more and extends back over the
 * frames just before it that score release_db or more; it continues while
 * frames score release_db or more with pauses shorter than min_silence_ms;
 * it is published only once it holds min_speech_ms of such frames (shorter
 * bursts are dropped). Its boundaries are those of its first and last
 * speech frames (taken from the unaveraged scores around them) widened by
 * pre_roll_ms before and hangover_ms after, for the weak beginnings and
 * decaying ends that sink under the noise; a start is never placed before
 * the previous segment's end.
 *
 * The first 200 ms of a stream only teach the noise levels: speech that
 * is already under way then is found late or not at all.
 *
 * Lost audio (the host's gap(), or a jump in frame0) ends an open segment
 * at the first lost frame (or earlier: at its last speech frame plus
 * hangover_ms) and restarts the analysis after the gap, keeping the noise
 * levels learnt. When the plugin is deactivated (end of the stream,
 * shutdown, a new stream shape) a segment still open is ended the same
 * way after the last frame processed, from deactivate(): audiobus's host
 * calls deactivate() on its processing thread right after the last
 * process(), so publish() may be called there, and it sends what was
 * queued before the processor exits. Another host may drop that event;
 * the log line says "(open at the end of the stream)" either way. Speech
 * not yet min_speech_ms long at that moment is dropped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <audiobus/ab_convert.h>
#include <audiobus/ab_mel.h>
#include <audiobus/ab_plugin.h>
#include <audiobus/ab_text.h>

#define VAD_MAX_CHANNELS 256
#define VAD_MAX_MS 60000u
#define VAD_BAND_MEL 100.0     /* width of one analysis band on the mel scale */
#define VAD_MIN_BANDS 4u
#define VAD_MAX_BANDS 32u
#define VAD_BAND_SNR_MAX 20.0f /* dB a band may add to a frame's score */
#define VAD_NOISE_TC_S 0.5     /* time constant of the noise mean */
#define VAD_NOISE_CAP_DB 10.0f /* noise level at most this far above its minimum */
#define VAD_SMOOTH 0.8f        /* one-pole smoothing of bands for minimum statistics */
#define VAD_SUBWINDOWS 8u      /* the minimum is taken over this many sub-windows */
#define VAD_WARMUP_S 0.2
#define VAD_HISTORY 64u /* frame scores kept to extend a start backwards */
#define VAD_AVERAGE 5u  /* frames averaged into the score a decision is made on */
#define VAD_TOP_FRACTION (1.0 / 3.0) /* of the bands, those furthest above their noise make the score */

enum { VAD_SILENCE, VAD_CANDIDATE, VAD_SPEECH };

typedef struct {
    const ab_plugin_host_t *host;
    double threshold_db, release_db;
    uint32_t min_speech_ms, min_silence_ms, pre_roll_ms, hangover_ms, noise_window_ms;
    double band_low_hz, band_high_hz;
    int publish;

    int active;
    uint32_t rate, channels, max_frames;
    uint32_t n_fft, hop, n_mels, n_used;
    uint32_t n_top; /* bands that make the score: those furthest above their noise */
    int32_t output;
    ab_logmel_t *mel;
    float *mono;        /* max_frames */
    uint8_t *used;      /* n_mels: band holds at least one FFT bin */
    float *smooth;      /* n_mels: smoothed level, dB */
    float *noise;       /* n_mels: noise level, dB */
    float *offset;      /* n_mels: usual noise level above its minimum, dB */
    float *minimum;     /* n_mels: minimum over the window */
    float *sub_min;     /* VAD_SUBWINDOWS x n_mels: minima of finished sub-windows */
    float *cur_min;     /* n_mels: minimum of the current sub-window */
    uint32_t sub_len;   /* frames per sub-window */
    uint32_t sub_fill;  /* frames into the current sub-window */
    uint32_t sub_next;  /* sub-window slot to write next */
    int primed;            /* the bands' levels have a first value */
    uint64_t noise_frames; /* frames that taught the noise level so far */
    float noise_rate;      /* weight of one frame in the noise mean */
    uint32_t warmup_frames;
    float raw[VAD_HISTORY];     /* scores of the last frames, by frame index */
    float history[VAD_HISTORY]; /* the same averaged over VAD_AVERAGE frames */

    /* Positions: analysis frame k of the current run covers stream frames
     * [base + k hop, base + k hop + n_fft); its speech is taken to be the
     * hop around its centre. */
    int started;
    uint64_t base;       /* stream frame of the run's first sample */
    uint64_t expect;     /* frame0 of the next block if nothing is lost */
    uint64_t run_frames; /* analysis frames of this run so far */
    uint64_t ref_frame;  /* a stream frame whose capture time is known */
    int64_t ref_time_ns;

    int state;
    uint64_t first_speech; /* analysis frame where the candidate or segment begins */
    uint64_t last_speech;  /* its last frame scoring release_db or more */
    uint64_t last_edge;    /* the last frame of its speech, from unaveraged scores */
    uint32_t speech_count; /* its frames scoring release_db or more */
    uint32_t min_speech_frames, min_silence_frames;
    uint64_t seg_start;    /* published start of the open segment (stream frames) */
    uint64_t prev_end;     /* end of the last segment published (stream frames) */

    uint64_t segments, speech_total, gaps, publish_failures, skipped_blocks;
} vad_t;

static const ab_plugin_param_info_t s_params[] = {
    {"threshold_db", "6",
     "score that starts speech: mean dB above their noise of the third of the bands furthest above it, 0.5 to 40"},
    {"release_db", "3.5", "score that keeps speech going (noise alone scores about 1), 0.1 to threshold_db"},
    {"min_speech_ms", "100", "speech needed before a segment is published (ms), 10 to 60000"},
    {"min_silence_ms", "300", "pause that ends a segment (ms); shorter ones are bridged, 10 to 60000"},
    {"pre_roll_ms", "40", "audio before the first speech frame included in a segment (ms), 0 to 1000"},
    {"hangover_ms", "80", "audio after the last speech frame included in a segment (ms), 0 to min_silence_ms"},
    {"noise_window_ms", "2000", "window of the noise minimum (ms): how fast louder noise is learnt, 500 to 60000"},
    {"band_low_hz", "300", "lowest frequency of the speech band (Hz)"},
    {"band_high_hz", "8000", "highest frequency of the speech band (Hz), lowered to half the rate if above"},
    {"publish", "1", "1 = publish output \"vad\" (speech_start / speech_end events), 0 = only log"},
    {NULL, NULL, NULL},
};

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                      char *error, uint32_t error_len)
{
    if (!host || host->struct_size < sizeof(ab_plugin_host_t)) {
        snprintf(error, error_len, "vad: host interface too old (struct_size %u, need %zu)",
                 host ? host->struct_size : 0u, sizeof(ab_plugin_host_t));
        return NULL;
    }
    double threshold_db = 6.0, release_db = 3.5, band_low = 300.0, band_high = 8000.0;
    uint32_t min_speech = 100, min_silence = 300, pre_roll = 40, hangover = 80, noise_window = 2000;
    int publish = 1;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value ? params[i].value : "";
        int bad = 0;
        const char *expected = "";
        if (strcmp(key, "threshold_db") == 0) {
            bad = ab_text_parse_double(value, 0.5, 40.0, &threshold_db);
            expected = "dB from 0.5 to 40, e.g. threshold_db=6";
        } else if (strcmp(key, "release_db") == 0) {
            bad = ab_text_parse_double(value, 0.1, 40.0, &release_db);
            expected = "dB from 0.1 to threshold_db, e.g. release_db=3.5";
        } else if (strcmp(key, "min_speech_ms") == 0) {
            bad = ab_text_parse_u32(value, 10, VAD_MAX_MS, &min_speech);
            expected = "milliseconds from 10 to 60000, e.g. min_speech_ms=100";
        } else if (strcmp(key, "min_silence_ms") == 0) {
            bad = ab_text_parse_u32(value, 10, VAD_MAX_MS, &min_silence);
            expected = "milliseconds from 10 to 60000, e.g. min_silence_ms=300";
        } else if (strcmp(key, "pre_roll_ms") == 0) {
            bad = ab_text_parse_u32(value, 0, 1000, &pre_roll);
            expected = "milliseconds from 0 to 1000, e.g. pre_roll_ms=40";
        } else if (strcmp(key, "hangover_ms") == 0) {
            bad = ab_text_parse_u32(value, 0, VAD_MAX_MS, &hangover);
            expected = "milliseconds from 0 to min_silence_ms, e.g. hangover_ms=80";
        } else if (strcmp(key, "noise_window_ms") == 0) {
            bad = ab_text_parse_u32(value, 500, VAD_MAX_MS, &noise_window);
            expected = "milliseconds from 500 to 60000, e.g. noise_window_ms=2000";
        } else if (strcmp(key, "band_low_hz") == 0) {
            bad = ab_text_parse_double(value, 0.0, 500000.0, &band_low);
            expected = "Hz from 0 up to below band_high_hz, e.g. band_low_hz=300";
        } else if (strcmp(key, "band_high_hz") == 0) {
            bad = ab_text_parse_double(value, 1.0, 500000.0, &band_high);
            expected = "Hz above band_low_hz, e.g. band_high_hz=8000";
        } else if (strcmp(key, "publish") == 0) {
            bad = ab_text_parse_bool(value, &publish);
            expected = "1 or 0";
        } else {
            snprintf(error, error_len,
                     "vad: unknown parameter \"%s\" (accepted: threshold_db, release_db, min_speech_ms, "
                     "min_silence_ms, pre_roll_ms, hangover_ms, noise_window_ms, band_low_hz, band_high_hz, "
                     "publish)",
                     key);
            return NULL;
        }
        if (bad) {
            snprintf(error, error_len, "vad: bad value \"%s\" for %s (expected %s)", value, key, expected);
            return NULL;
        }
    }
    if (release_db > threshold_db) {
        snprintf(error, error_len,
                 "vad: release_db %g is above threshold_db %g (speech must be easier to keep than to start: "
                 "lower release_db)",
                 release_db, threshold_db);
        return NULL;
    }
    if (hangover > min_silence) {
        snprintf(error, error_len,
                 "vad: hangover_ms %u is longer than min_silence_ms %u (a segment's end would lie after the "
                 "moment it is decided: lower hangover_ms or raise min_silence_ms)",
                 hangover, min_silence);
        return NULL;
    }
    if (band_low >= band_high) {
        snprintf(error, error_len,
                 "vad: band_low_hz %g is not below band_high_hz %g (expected a band such as 300..8000 Hz)",
                 band_low, band_high);
        return NULL;
    }
    vad_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(error, error_len, "vad: out of memory");
        return NULL;
    }
    self->host = host;
    self->threshold_db = threshold_db;
    self->release_db = release_db;
    self->min_speech_ms = min_speech;
    self->min_silence_ms = min_silence;
    self->pre_roll_ms = pre_roll;
    self->hangover_ms = hangover;
    self->noise_window_ms = noise_window;
    self->band_low_hz = band_low;
    self->band_high_hz = band_high;
    self->publish = publish;
    self->output = -1;
    return self;
}

/* ---- positions and events ----------------------------------------------- */

static uint64_t s_ms_to_frames(const vad_t *self, uint32_t ms)
{
    return ((uint64_t)ms * self->rate + 500) / 1000;
}

/* First stream frame of the speech analysis frame k stands for. */
static uint64_t s_speech_begin(const vad_t *self, uint64_t k)
{
    return self->base + k * self->hop + self->n_fft / 2 - self->hop / 2;
}

static int64_t s_time_of(const vad_t *self, uint64_t frame)
{
    double offset = (double)frame - (double)self->ref_frame;
    return self->ref_time_ns + (int64_t)llround(offset * 1e9 / self->rate);
}

static void s_put_seconds(char **p, char *end, const vad_t *self, uint64_t frames)
{
    uint64_t ms = (frames * 1000 + self->rate / 2) / self->rate;
    char frac[4] = {(char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), '\0'};
    ab_text_put_u64(p, end, ms / 1000);
    ab_text_put_str(p, end, ".");
    ab_text_put_str(p, end, frac);
    ab_text_put_str(p, end, " s");
}

static void s_emit(vad_t *self, const char *label, uint64_t frame)
{
    if (self->output < 0)
        return;
    ab_plugin_output_block_t out = {
        .struct_size = sizeof(ab_plugin_output_block_t),
        .output = self->output,
        .frames = 0,
        .channels = 1,
        .frame0 = frame,
        .time_ns = s_time_of(self, frame),
        .samples = NULL,
        .label = label,
    };
    if (self->host->publish(self->host->host_data, &out) != AB_PLUGIN_OK)
        self->publish_failures++;
}

static void s_start_segment(vad_t *self)
{
    uint64_t pre = s_ms_to_frames(self, self->pre_roll_ms);
    uint64_t begin = s_speech_begin(self, self->first_speech);
    uint64_t start = begin > self->base + pre ? begin - pre : self->base;
    if (start < self->prev_end)
        start = self->prev_end;
    self->seg_start = start;
    self->state = VAD_SPEECH;
    s_emit(self, "speech_start", start);
}

/* End the open segment at its last speech frame plus the hangover, but not
 * after limit (the first frame not analysed, or the start of a gap). */
static void s_end_segment(vad_t *self, uint64_t limit, const char *why)
{
    uint64_t end = s_speech_begin(self, self->last_edge) + self->hop + s_ms_to_frames(self, self->hangover_ms);
    if (end > limit)
        end = limit;
    if (end <= self->seg_start)
        end = self->seg_start + 1;
    s_emit(self, "speech_end", end);
    self->prev_end = end;
    self->segments++;
    self->speech_total += end - self->seg_start;
    self->state = VAD_SILENCE;

    char line[128], *p = line, *e = line + sizeof line;
    ab_text_put_str(&p, e, "speech ");
    s_put_seconds(&p, e, self, self->seg_start);
    ab_text_put_str(&p, e, " to ");
    s_put_seconds(&p, e, self, end);
    ab_text_put_str(&p, e, " (");
    s_put_seconds(&p, e, self, end - self->seg_start);
    ab_text_put_str(&p, e, ")");
    ab_text_put_str(&p, e, why);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
}

/* ---- analysis --------------------------------------------------------------- */

/* Score one frame; keep the bands' minima, and the noise levels between
 * their bounds, up to date. */
static float s_score(vad_t *self, const float *mels)
{
    const uint32_t n = self->n_mels;
    const int first = !self->primed;
    self->primed = 1;
    float top[VAD_MAX_BANDS];
    uint32_t kept = 0;
    double sum = 0.0;
    for (uint32_t m = 0; m < n; m++) {
        if (!self->used[m])
            continue;
        float x = mels[m];
        if (first) {
            self->smooth[m] = self->noise[m] = self->cur_min[m] = x;
            self->offset[m] = 0.0f;
        }
        self->smooth[m] = VAD_SMOOTH * self->smooth[m] + (1.0f - VAD_SMOOTH) * x;
        if (self->smooth[m] < self->cur_min[m])
            self->cur_min[m] = self->smooth[m];
        float lowest = self->cur_min[m];
        for (uint32_t u = 0; u < VAD_SUBWINDOWS; u++)
            if (self->sub_min[u * n + m] < lowest)
                lowest = self->sub_min[u * n + m];
        self->minimum[m] = lowest;
        /* The noise level follows louder noise through its minimum. */
        float floor_db = lowest + self->offset[m];
        if (self->noise[m] < floor_db)
            self->noise[m] = floor_db;
        if (self->noise[m] > lowest + VAD_NOISE_CAP_DB)
            self->noise[m] = lowest + VAD_NOISE_CAP_DB;
        float snr = x - self->noise[m];
        snr = snr < 0.0f ? 0.0f : snr > VAD_BAND_SNR_MAX ? VAD_BAND_SNR_MAX : snr;
        /* Keep the n_top largest values in top[], in descending order. */
        uint32_t i;
        if (kept < self->n_top)
            i = kept++;
        else if (snr > top[kept - 1])
            i = kept - 1; /* in place of the smallest */
        else
            continue;
        for (; i > 0 && top[i - 1] < snr; i--)
            top[i] = top[i - 1];
        top[i] = snr;
    }
    for (uint32_t i = 0; i < kept; i++)
        sum += top[i];
    if (++self->sub_fill >= self->sub_len) {
        memcpy(self->sub_min + (size_t)self->sub_next * n, self->cur_min, n * sizeof(float));
        self->sub_next = (self->sub_next + 1) % VAD_SUBWINDOWS;
        self->sub_fill = 0;
        for (uint32_t m = 0; m < n; m++)
            self->cur_min[m] = INFINITY;
    }
    return (float)(sum / self->n_top);
}

/* Teach the noise level a frame judged not to be speech. */
static void s_learn_noise(vad_t *self, const float *mels)
{
    /* A plain mean at first, then an exponential one. */
    float w = self->noise_frames < 1.0f / self->noise_rate ? 1.0f / (float)(self->noise_frames + 1)
                                                          : self->noise_rate;
    for (uint32_t m = 0; m < self->n_mels; m++) {
        if (!self->used[m])
            continue;
        self->noise[m] += w * (mels[m] - self->noise[m]);
        if (self->noise[m] < self->minimum[m])
            self->noise[m] = self->minimum[m];
        self->offset[m] += w * ((self->noise[m] - self->minimum[m]) - self->offset[m]);
    }
    self->noise_frames++;
}

/* The first (or last) frame around frame d, within the frames averaged
 * into its score, whose own score reaches release_db: where speech begins
 * (or ends) more exactly than the average tells. d when there is none. */
static uint64_t s_edge(const vad_t *self, uint64_t d, int last)
{
    const uint64_t lo = d - VAD_AVERAGE / 2, hi = d + VAD_AVERAGE / 2;
    for (uint64_t i = 0; i <= hi - lo; i++) {
        uint64_t j = last ? hi - i : lo + i;
        if (self->raw[j % VAD_HISTORY] >= self->release_db)
            return j;
    }
    return d;
}

static void s_on_frame(const float *mels, uint64_t start, void *user)
{
    vad_t *self = user;
    (void)start;
    const uint64_t k = self->run_frames++;
    float raw = s_score(self, mels);
    if (self->noise_frames < self->warmup_frames) {
        s_learn_noise(self, mels);
        raw = 0.0f;
    }
    self->raw[k % VAD_HISTORY] = raw;
    if (k + 1 < VAD_AVERAGE)
        return;
    /* Decide for frame d, at the centre of the last VAD_AVERAGE frames. */
    const uint64_t d = k - VAD_AVERAGE / 2;
    float sum = 0.0f;
    for (uint64_t i = k + 1 - VAD_AVERAGE; i <= k; i++)
        sum += self->raw[i % VAD_HISTORY];
    const float score = sum / VAD_AVERAGE;
    self->history[d % VAD_HISTORY] = score;
    if (self->noise_frames < self->warmup_frames)
        return;
    const int speechlike = score >= self->release_db;

    switch (self->state) {
    case VAD_SILENCE:
        if (score >= self->threshold_db) {
            /* Extend back over the weaker frames just before, as far as
             * the scores kept allow (s_edge() looks 2 frames further). */
            uint64_t first = d;
            while (first - 1 >= VAD_AVERAGE / 2 && d - (first - 1) < VAD_HISTORY - VAD_AVERAGE &&
                   self->history[(first - 1) % VAD_HISTORY] >= self->release_db &&
                   s_speech_begin(self, first - 1) >= self->prev_end)
                first--;
            self->first_speech = s_edge(self, first, 0);
            self->last_speech = d;
            self->last_edge = s_edge(self, d, 1);
            self->speech_count = (uint32_t)(d - first + 1);
            self->state = VAD_CANDIDATE;
            if (self->speech_count >= self->min_speech_frames)
                s_start_segment(self);
        } else if (!speechlike) {
            s_learn_noise(self, mels);
        }
        break;
    case VAD_CANDIDATE:
        if (speechlike) {
            self->last_speech = d;
            self->last_edge = s_edge(self, d, 1);
            if (++self->speech_count >= self->min_speech_frames)
                s_start_segment(self);
        } else if (d - self->last_speech >= self->min_silence_frames) {
            self->state = VAD_SILENCE; /* too short to be speech */
        }
        break;
    case VAD_SPEECH:
        if (speechlike) {
            self->last_speech = d;
            self->last_edge = s_edge(self, d, 1);
        } else if (d - self->last_speech >= self->min_silence_frames) {
            s_end_segment(self, self->base + k * self->hop + self->n_fft, "");
        }
        break;
    }
}

/* Close what is open at limit and restart the analysis at the next block. */
static void s_interrupt(vad_t *self, uint64_t limit, const char *why)
{
    if (self->state == VAD_SPEECH)
        s_end_segment(self, limit, why);
    self->state = VAD_SILENCE;
    self->started = 0;
    self->run_frames = 0;
    ab_logmel_reset(self->mel);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void s_free_buffers(vad_t *self)
{
    ab_logmel_destroy(&self->mel);
    free(self->mono);
    free(self->used);
    free(self->smooth);
    free(self->noise);
    free(self->offset);
    free(self->minimum);
    free(self->sub_min);
    free(self->cur_min);
    self->mono = self->smooth = self->noise = self->offset = self->minimum = self->sub_min = self->cur_min = NULL;
    self->used = NULL;
}

static void s_deactivate(void *instance)
{
    vad_t *self = instance;
    if (!self->active)
        return;
    if (self->started)
        s_interrupt(self, self->expect, " (open at the end of the stream)");
    char line[256];
    snprintf(line, sizeof line, "%llu speech segments, %.3f s of speech",
             (unsigned long long)self->segments, (double)self->speech_total / self->rate);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);
    if (self->gaps || self->publish_failures || self->skipped_blocks) {
        snprintf(line, sizeof line,
                 "%llu gaps in the input (analysis restarted), %llu events not published (result queue full), "
                 "%llu blocks skipped (channels other than %u or longer than max_frames)",
                 (unsigned long long)self->gaps, (unsigned long long)self->publish_failures,
                 (unsigned long long)self->skipped_blocks, self->channels);
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_WARN, line);
    }
    s_free_buffers(self);
    self->active = 0;
}

static int32_t s_activate(void *instance, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    vad_t *self = instance;
    s_deactivate(self);
    if (!format || format->struct_size < sizeof(ab_plugin_format_t) || format->rate == 0 ||
        format->channels == 0 || format->channels > VAD_MAX_CHANNELS || format->max_frames == 0) {
        snprintf(error, error_len, "vad: unusable stream format (rate %u, channels %u, max_frames %u)",
                 format ? format->rate : 0u, format ? format->channels : 0u, format ? format->max_frames : 0u);
        return AB_PLUGIN_ERROR;
    }
    const double nyquist = format->rate / 2.0;
    const double low = self->band_low_hz, high = self->band_high_hz < nyquist ? self->band_high_hz : nyquist;
    if (low >= high) {
        snprintf(error, error_len,
                 "vad: the speech band starts at band_low_hz %g, above half the rate of this %u Hz stream "
                 "(lower band_low_hz)",
                 low, format->rate);
        return AB_PLUGIN_ERROR;
    }
    uint32_t n_fft = 2;
    while (n_fft < AB_LOGMEL_MAX_FFT && n_fft * 40.0 < format->rate) /* 25 ms */
        n_fft *= 2;
    uint32_t hop = (uint32_t)lround(format->rate / 100.0);
    if (hop == 0)
        hop = 1;
    double bands = round((ab_mel_from_hz(high) - ab_mel_from_hz(low)) / VAD_BAND_MEL);
    uint32_t n_mels = bands < VAD_MIN_BANDS ? VAD_MIN_BANDS : bands > VAD_MAX_BANDS ? VAD_MAX_BANDS : (uint32_t)bands;
    ab_logmel_config_t cfg = {
        .rate = format->rate,
        .n_fft = n_fft,
        .hop = hop,
        .n_mels = n_mels,
        .fmin = (float)low,
        .fmax = (float)high,
        .floor = 1e-10f,
    };
    self->rate = format->rate;
    self->channels = format->channels;
    self->max_frames = format->max_frames;
    self->n_fft = n_fft;
    self->hop = hop;
    self->n_mels = n_mels;
    self->mel = ab_logmel_new(&cfg);
    self->mono = malloc((size_t)format->max_frames * sizeof(float));
    self->used = calloc(n_mels, 1);
    self->smooth = calloc(n_mels, sizeof(float));
    self->noise = calloc(n_mels, sizeof(float));
    self->offset = calloc(n_mels, sizeof(float));
    self->minimum = calloc(n_mels, sizeof(float));
    self->sub_min = malloc((size_t)VAD_SUBWINDOWS * n_mels * sizeof(float));
    self->cur_min = malloc(n_mels * sizeof(float));
    if (!self->mel || !self->mono || !self->used || !self->smooth || !self->noise || !self->offset ||
        !self->minimum || !self->sub_min || !self->cur_min) {
        s_free_buffers(self);
        snprintf(error, error_len, "vad: cannot set up n_fft=%u hop=%u for %u bands at %u Hz (out of memory)",
                 n_fft, hop, n_mels, format->rate);
        return AB_PLUGIN_ERROR;
    }
    /* Bands narrower than the FFT's bin spacing get no energy at all. */
    const double bin_hz = (double)format->rate / n_fft;
    self->n_used = 0;
    for (uint32_t m = 0; m < n_mels; m++) {
        float lo, hi;
        ab_logmel_band_hz(self->mel, m, &lo, NULL, &hi);
        self->used[m] = (floor(lo / bin_hz) + 1.0) * bin_hz < hi;
        self->n_used += self->used[m];
    }
    self->n_top = (uint32_t)lround(self->n_used * VAD_TOP_FRACTION);
    if (self->n_top == 0)
        self->n_top = 1;
    if (self->n_used == 0) {
        s_free_buffers(self);
        snprintf(error, error_len,
                 "vad: the speech band %g..%g Hz holds no FFT bin at %u Hz (n_fft %u): widen band_low_hz.."
                 "band_high_hz",
                 low, high, format->rate, n_fft);
        return AB_PLUGIN_ERROR;
    }
    for (size_t i = 0; i < (size_t)VAD_SUBWINDOWS * n_mels; i++)
        self->sub_min[i] = INFINITY;
    for (uint32_t m = 0; m < n_mels; m++)
        self->cur_min[m] = INFINITY;
    uint64_t window_frames = ((uint64_t)self->noise_window_ms * format->rate / 1000 + hop - 1) / hop;
    self->sub_len = (uint32_t)((window_frames + VAD_SUBWINDOWS - 1) / VAD_SUBWINDOWS);
    if (self->sub_len == 0)
        self->sub_len = 1;
    self->sub_fill = self->sub_next = 0;
    self->noise_rate = (float)(hop / (VAD_NOISE_TC_S * format->rate));
    if (self->noise_rate > 1.0f)
        self->noise_rate = 1.0f;
    self->noise_frames = 0;
    self->primed = 0;
    self->warmup_frames = (uint32_t)ceil(VAD_WARMUP_S * format->rate / hop);
    self->min_speech_frames = (uint32_t)((s_ms_to_frames(self, self->min_speech_ms) + hop - 1) / hop);
    self->min_silence_frames = (uint32_t)((s_ms_to_frames(self, self->min_silence_ms) + hop - 1) / hop);
    if (self->min_speech_frames == 0)
        self->min_speech_frames = 1;
    if (self->min_silence_frames == 0)
        self->min_silence_frames = 1;

    self->output = -1;
    if (self->publish) {
        self->output = self->host->declare_output(self->host->host_data, "vad", AB_PLUGIN_OUTPUT_EVENT, 1, hop);
        if (self->output < 0) {
            s_free_buffers(self);
            snprintf(error, error_len, "vad: the host refused output \"vad\" (events, hop %u)", hop);
            return AB_PLUGIN_ERROR;
        }
    }
    char line[192];
    snprintf(line, sizeof line, "%u bands %g..%g Hz, n_fft=%u hop=%u, threshold %g dB, release %g dB", self->n_used,
             low, high, n_fft, hop, self->threshold_db, self->release_db);
    self->host->log(self->host->host_data, AB_PLUGIN_LOG_INFO, line);

    self->started = 0;
    self->run_frames = 0;
    self->state = VAD_SILENCE;
    self->prev_end = 0;
    self->segments = self->speech_total = self->gaps = self->publish_failures = self->skipped_blocks = 0;
    self->active = 1;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *instance, const ab_plugin_block_t *block)
{
    vad_t *self = instance;
    const uint32_t ch = self->channels;
    if (block->channels != ch || block->frames > self->max_frames) {
        self->skipped_blocks++;
        return AB_PLUGIN_OK;
    }
    if (block->frames == 0)
        return AB_PLUGIN_OK;
    if (self->started && block->frame0 != self->expect) {
        /* Audio went missing without a gap() call: the same treatment. */
        self->gaps++;
        s_interrupt(self, self->expect, " (cut by lost audio)");
    }
    self->ref_frame = block->frame0;
    self->ref_time_ns = block->time_ns;
    if (!self->started) {
        self->base = block->frame0;
        self->started = 1;
        if (self->prev_end < self->base)
            self->prev_end = self->base;
    }
    self->expect = block->frame0 + block->frames;

    ab_convert_mix_to_mono(block->samples, ch, block->frames, self->mono);
    ab_logmel_push(self->mel, self->mono, block->frames, s_on_frame, self);
    return AB_PLUGIN_OK;
}

static void s_gap(void *instance, uint64_t frame0, uint64_t frames)
{
    vad_t *self = instance;
    (void)frames;
    if (!self->active)
        return;
    self->gaps++;
    if (self->started)
        s_interrupt(self, frame0 < self->expect ? self->expect : frame0, " (cut by lost audio)");
}

static void s_destroy(void *instance)
{
    vad_t *self = instance;
    if (!self)
        return;
    s_deactivate(self);
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "vad",
    .version = "1.0.0",
    .description = "voice activity detection: speech_start / speech_end events, robust to steady noise",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
    .gap = s_gap,
};
