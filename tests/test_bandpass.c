/* test_bandpass.c - drives the bandpass example plugin (argv[1]: the plugin directory) with a
 * recording host: its response to tones inside and outside the band, that output frame f is input
 * frame f filtered (frame0 accounts for the STFT latency, and the last frames come out at the end),
 * independence from block sizes, gaps and parameter refusals. Real-time safety (no allocation or
 * lock in process() or gap()) is test_plugin_rt's, for every plugin. */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_plugin.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Checks print both values and keep going; no assert(), so NDEBUG builds
 * check as well. */

#include "check.h"

/* ---- a host that puts published audio where its frame0 says ------------------------------------ */

typedef struct {
    ab_plugin_host_t host;
    uint32_t channels;
    uint64_t origin;   /* frame0 of out[0] */
    uint64_t capacity; /* frames */
    float *out;        /* capacity * channels */
    uint8_t *covered;  /* capacity: times each frame was published */
    uint64_t published_frames;
    uint64_t outside; /* frames published outside [origin, origin + capacity) */
    uint64_t bad_time;
    uint32_t rate;
    int64_t time0; /* time_ns of frame origin */
    int declared;
    uint32_t declared_kind, declared_channels;
    char suffix[64];
    char last_log[512];
    int fails;
} host_t;

static void s_log(void *data, int32_t level, const char *message)
{
    (void)level;
    host_t *h = data;
    /* Copying into a fixed buffer allocates nothing. */
    snprintf(h->last_log, sizeof h->last_log, "%s", message);
    if (getenv("TEST_BANDPASS_VERBOSE"))
        printf("    [log] %s\n", message);
}

static void s_fail(void *data, const char *message)
{
    host_t *h = data;
    h->fails++;
    snprintf(h->last_log, sizeof h->last_log, "FAIL %s", message);
}

static int32_t s_declare(void *data, const char *suffix, uint32_t kind, uint32_t channels, uint32_t hop)
{
    (void)hop;
    host_t *h = data;
    snprintf(h->suffix, sizeof h->suffix, "%s", suffix);
    h->declared++;
    h->declared_kind = kind;
    h->declared_channels = channels;
    return 0;
}

static int32_t s_publish(void *data, const ab_plugin_output_block_t *b)
{
    host_t *h = data;
    if (b->output != 0 || b->channels != h->channels || !b->samples)
        return AB_PLUGIN_ERROR;
    /* time_ns must follow frame0 at the stream's rate. */
    int64_t want = h->time0 + (int64_t)llround(((double)b->frame0 - (double)h->origin) * 1e9 / h->rate);
    if (llabs(b->time_ns - want) > 1000)
        h->bad_time++;
    for (uint32_t i = 0; i < b->frames; i++) {
        uint64_t f = b->frame0 + i;
        if (f < h->origin || f >= h->origin + h->capacity) {
            h->outside++;
            continue;
        }
        uint64_t at = f - h->origin;
        memcpy(h->out + at * h->channels, b->samples + (size_t)i * b->channels, h->channels * sizeof(float));
        if (h->covered[at] < 255)
            h->covered[at]++;
    }
    h->published_frames += b->frames;
    return AB_PLUGIN_OK;
}

static host_t *s_host_new(uint32_t channels, uint32_t rate, uint64_t origin, uint64_t capacity, int64_t time0)
{
    host_t *h = calloc(1, sizeof *h);
    h->host.struct_size = sizeof h->host;
    h->host.host_data = h;
    h->host.log = s_log;
    h->host.fail = s_fail;
    h->host.declare_output = s_declare;
    h->host.publish = s_publish;
    h->channels = channels;
    h->rate = rate;
    h->origin = origin;
    h->capacity = capacity;
    h->time0 = time0;
    h->out = calloc(capacity * channels, sizeof(float));
    h->covered = calloc(capacity, 1);
    return h;
}

static void s_host_free(host_t *h)
{
    free(h->out);
    free(h->covered);
    free(h);
}

/* ---- driving the plugin ------------------------------------------------------------------------ */

static const ab_plugin_descriptor_t *s_plugin;

typedef struct {
    void *instance;
    host_t *host;
    uint32_t rate, channels, max_frames;
} run_t;

/* create + activate; NULL instance (and the message in error) on refusal. */
static run_t s_start(const char *const *kv, uint32_t rate, uint32_t channels, uint64_t origin, uint64_t capacity,
                     char *error, size_t error_len, int *activate_failed)
{
    ab_plugin_param_t params[8];
    uint32_t n = 0;
    for (; kv && kv[2 * n]; n++)
        params[n] = (ab_plugin_param_t){kv[2 * n], kv[2 * n + 1]};
    run_t r = {.rate = rate, .channels = channels, .max_frames = 8192};
    r.host = s_host_new(channels, rate, origin, capacity, 1000000000LL);
    error[0] = '\0';
    r.instance = s_plugin->create(&r.host->host, params, n, error, (uint32_t)error_len);
    if (activate_failed)
        *activate_failed = 0;
    if (!r.instance)
        return r;
    ab_plugin_format_t format = {
        .struct_size = sizeof format, .rate = rate, .channels = channels, .max_frames = r.max_frames,
        .raw_format = AB_PLUGIN_FORMAT_F32, .stream = "test"};
    if (s_plugin->activate(r.instance, &format, error, (uint32_t)error_len) != AB_PLUGIN_OK) {
        if (activate_failed)
            *activate_failed = 1;
        s_plugin->destroy(r.instance);
        r.instance = NULL;
    }
    return r;
}

/* Feed frames of interleaved x (frame0 first) in blocks of block_size
 * (0 = random sizes up to 3000). */
static void s_feed(run_t *r, const float *x, uint64_t frame0, size_t frames, size_t block_size, uint32_t *seed)
{
    for (size_t done = 0; done < frames;) {
        size_t len = block_size;
        if (!len) {
            *seed = *seed * 1103515245u + 12345u;
            len = 1 + (*seed >> 8) % 3000;
        }
        if (len > frames - done)
            len = frames - done;
        if (len > r->max_frames)
            len = r->max_frames;
        ab_plugin_block_t b = {
            .struct_size = sizeof b,
            .frames = (uint32_t)len,
            .channels = r->channels,
            .rate = r->rate,
            .frame0 = frame0 + done,
            .time_ns = r->host->time0 + (int64_t)llround(((double)(frame0 + done) - (double)r->host->origin) * 1e9 /
                                                          r->rate),
            .samples = x + done * r->channels,
            .raw = x + done * r->channels,
            .raw_format = AB_PLUGIN_FORMAT_F32,
            .raw_bytes = (uint32_t)(len * r->channels * sizeof(float)),
        };
        int32_t rc = s_plugin->process(r->instance, &b);
        CHECK(rc == AB_PLUGIN_OK, "process returned %d", rc);
        done += len;
    }
}

static void s_gap(run_t *r, uint64_t frame0, uint64_t frames)
{
    s_plugin->gap(r->instance, frame0, frames);
}

static void s_stop(run_t *r)
{
    if (r->instance) {
        s_plugin->deactivate(r->instance);
        s_plugin->destroy(r->instance);
    }
    s_host_free(r->host);
    r->instance = NULL;
}

/* Mean square of channel ch of y[from, to). */
static double s_power(const float *y, uint32_t channels, uint32_t ch, size_t from, size_t to)
{
    double sum = 0.0;
    for (size_t i = from; i < to; i++)
        sum += (double)y[i * channels + ch] * y[i * channels + ch];
    return sum / (double)(to - from);
}

/* ---- the tests ------------------------------------------------------------------------------------ */

/* Tones at least margin bins from an edge, eight at a time (one per channel). */
static void s_test_response(const char *const *kv, uint32_t rate, uint32_t n_fft, double low, double high,
                            const char *what)
{
    const uint32_t ch = 8;
    const double bin = (double)rate / n_fft, margin = 3.0 * bin;
    const size_t frames = (size_t)rate + 4 * n_fft; /* a second of steady state */
    double freqs[4096];
    size_t n_freqs = 0;
    /* A grid that does not sit on bins, plus tones just 3 bins from each edge. */
    for (double f = 0.37 * bin; f < rate / 2.0 - bin && n_freqs < 4000; f += 1.37 * bin * (1 + n_freqs % 3))
        freqs[n_freqs++] = f;
    const double edges[] = {low - margin, low + margin, high - margin, high + margin};
    for (size_t e = 0; e < 4; e++)
        if (edges[e] > 0 && edges[e] < rate / 2.0)
            freqs[n_freqs++] = edges[e];

    float *x = malloc(frames * ch * sizeof(float));
    double worst_in = 0.0, least_out = 1000.0, worst_in_f = 0, least_out_f = 0;
    size_t n_in = 0, n_out = 0;
    for (size_t i0 = 0; i0 < n_freqs; i0 += ch) {
        char error[512];
        run_t r = s_start(kv, rate, ch, 0, frames, error, sizeof error, NULL);
        CHECK(r.instance != NULL, "%s: %s", what, error);
        if (!r.instance) {
            s_stop(&r);
            break;
        }
        for (size_t t = 0; t < frames; t++)
            for (uint32_t c = 0; c < ch; c++) {
                double f = i0 + c < n_freqs ? freqs[i0 + c] : 1000.0;
                x[t * ch + c] = (float)(0.5 * sin(2.0 * M_PI * f * (double)t / rate + 0.7 * c));
            }
        uint32_t seed = (uint32_t)i0;
        s_feed(&r, x, 0, frames, 0, &seed);
        s_plugin->deactivate(r.instance);
        for (uint32_t c = 0; c < ch && i0 + c < n_freqs; c++) {
            double f = freqs[i0 + c];
            bool inside = f >= low + margin - 1e-9 && f <= high - margin + 1e-9;
            bool outside = f <= low - margin + 1e-9 || f >= high + margin - 1e-9;
            if (!inside && !outside)
                continue;
            /* Power in, power out: leakage lands on other frequencies
             * than the tone's, and counts. */
            double db = 10.0 * log10(s_power(r.host->out, ch, c, 2 * n_fft, frames - 2 * n_fft) /
                                         s_power(x, ch, c, 2 * n_fft, frames - 2 * n_fft) +
                                     1e-30);
            if (inside) {
                n_in++;
                CHECK(fabs(db) <= 0.5, "%s: %.1f Hz inside the band: %.3f dB", what, f, db);
                if (fabs(db) > worst_in)
                    worst_in = fabs(db), worst_in_f = f;
            } else {
                n_out++;
                CHECK(db <= -40.0, "%s: %.1f Hz outside the band: %.1f dB", what, f, db);
                if (-db < least_out)
                    least_out = -db, least_out_f = f;
            }
        }
        s_stop(&r);
    }
    printf("%s: %zu tones inside (>= 3 bins from an edge) within %.4f dB (worst %.1f Hz); %zu outside "
           "attenuated >= %.1f dB (least at %.1f Hz)\n",
           what, n_in, worst_in, worst_in_f, n_out, least_out, least_out_f);
    free(x);
}

/* Output frame f is input frame f filtered: an in-band tone comes out on
 * top of itself, starting at the input's first frame0, with as many frames
 * as went in once deactivated; block sizes do not change a bit of it. */
static void s_test_alignment_and_blocks(void)
{
    const uint32_t rate = 16000, ch = 2;
    const uint64_t first = 123457;
    const size_t frames = 40000;
    float *x = malloc(frames * ch * sizeof(float));
    for (size_t t = 0; t < frames; t++) {
        double tt = (double)(first + t) / rate;
        x[t * ch] = (float)(0.4 * sin(2.0 * M_PI * 1000.0 * tt));
        x[t * ch + 1] = (float)(0.4 * sin(2.0 * M_PI * 2500.0 * tt) + 0.4 * sin(2.0 * M_PI * 60.0 * tt));
    }
    float *reference = NULL;
    static const size_t blocks[] = {1000, 1, 7, 97, 256, 8192, 0};
    for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
        char error[512];
        run_t r = s_start(NULL, rate, ch, first, frames, error, sizeof error, NULL);
        CHECK(r.instance != NULL, "defaults: %s", error);
        if (!r.instance) {
            s_stop(&r);
            continue;
        }
        CHECK(r.host->declared == 1 && strcmp(r.host->suffix, "bandpass") == 0 &&
                  r.host->declared_kind == AB_PLUGIN_OUTPUT_AUDIO && r.host->declared_channels == ch,
              "declares audio output \"bandpass\" with %u channels (got \"%s\", kind %u, %u channels)", ch,
              r.host->suffix, r.host->declared_kind, r.host->declared_channels);
        uint32_t seed = 99;
        s_feed(&r, x, first, frames, blocks[b], &seed);
        uint64_t before_end = r.host->published_frames;
        s_plugin->deactivate(r.instance);
        CHECK(before_end == frames - 1023, "blocks of %zu: %llu frames published before the end, expected %zu",
              blocks[b], (unsigned long long)before_end, frames - 1023);
        CHECK(r.host->published_frames == frames && r.host->outside == 0,
              "blocks of %zu: %llu frames published (%llu outside the input's), expected %zu", blocks[b],
              (unsigned long long)r.host->published_frames, (unsigned long long)r.host->outside, frames);
        size_t uncovered = 0;
        for (size_t t = 0; t < frames; t++)
            uncovered += r.host->covered[t] != 1;
        CHECK(uncovered == 0, "blocks of %zu: %zu frames not published exactly once", blocks[b], uncovered);
        CHECK(r.host->bad_time == 0, "time_ns follows frame0 (%llu wrong)", (unsigned long long)r.host->bad_time);
        if (!reference) {
            /* In the middle the output is the in-band part of the input,
             * sample for sample: ch 0 all of it, ch 1 the 2500 Hz tone. */
            double err = 0.0;
            for (size_t t = 2048; t < frames - 2048; t++) {
                double tt = (double)(first + t) / rate;
                err = fmax(err, fabs(r.host->out[t * ch] - x[t * ch]));
                err = fmax(err, fabs(r.host->out[t * ch + 1] - 0.4 * sin(2.0 * M_PI * 2500.0 * tt)));
            }
            CHECK(err < 2e-3, "aligned output differs from the in-band input by %.3g", err);
            printf("alignment: output frame f = input frame f filtered; max difference from the in-band input "
                   "%.2g (one frame of shift would be 0.15)\n",
                   err);
            reference = malloc(frames * ch * sizeof(float));
            memcpy(reference, r.host->out, frames * ch * sizeof(float));
        } else {
            CHECK(memcmp(reference, r.host->out, frames * ch * sizeof(float)) == 0,
                  "blocks of %zu give the same output, bit for bit", blocks[b]);
        }
        s_plugin->destroy(r.instance);
        r.instance = NULL;
        s_stop(&r);
    }
    free(reference);
    free(x);
}

/* A gap ends a run: what came before it comes out in full, nothing is
 * published for the hole, and the next run starts at its own frame0
 * without audio from before the hole. Likewise a jump in frame0 without
 * a gap() call. */
static void s_test_gaps(void)
{
    const uint32_t rate = 16000;
    const size_t part = 5000, hole = 3000;
    float *x = malloc(part * sizeof(float));
    for (size_t t = 0; t < part; t++)
        x[t] = (float)(0.5 * sin(2.0 * M_PI * 1000.0 * t / rate));
    for (int with_gap_call = 1; with_gap_call >= 0; with_gap_call--) {
        char error[512];
        run_t r = s_start(NULL, rate, 1, 0, 3 * part + 2 * hole, error, sizeof error, NULL);
        if (!r.instance) {
            CHECK(0, "%s", error);
            s_stop(&r);
            continue;
        }
        uint32_t seed = 5;
        s_feed(&r, x, 0, part, 500, &seed);
        if (with_gap_call)
            s_gap(&r, part, hole);
        s_feed(&r, x, part + hole, part, 0, &seed);
        s_feed(&r, x, 2 * part + 2 * hole, 300, 100, &seed); /* shorter than the latency */
        s_plugin->deactivate(r.instance);
        size_t wrong = 0;
        for (size_t f = 0; f < 3 * part + 2 * hole; f++) {
            bool in_hole = (f >= part && f < part + hole) || (f >= 2 * part + hole && f < 2 * part + 2 * hole) ||
                           f >= 2 * part + 2 * hole + 300;
            wrong += r.host->covered[f] != (in_hole ? 0 : 1);
        }
        CHECK(wrong == 0, "%s: %zu frames published wrongly around the holes",
              with_gap_call ? "gap()" : "frame0 jump", wrong);
        CHECK(r.host->published_frames == 2 * part + 300, "%s: %llu frames published, expected %zu",
              with_gap_call ? "gap()" : "frame0 jump", (unsigned long long)r.host->published_frames, 2 * part + 300);
        /* The second run starts afresh: its first frames are those of a
         * first run (the same input), not a continuation. */
        size_t differ = 0;
        for (size_t t = 0; t < part; t++)
            differ += r.host->out[t] != r.host->out[part + hole + t];
        CHECK(differ == 0, "%s: the run after the hole equals a fresh run (%zu frames differ)",
              with_gap_call ? "gap()" : "frame0 jump", differ);
        s_plugin->destroy(r.instance);
        r.instance = NULL;
        s_stop(&r);
    }
    free(x);
}

static void s_expect_refused(const char *const *kv, uint32_t rate, const char *mention, int at_activate)
{
    char error[512];
    int activate_failed = 0;
    run_t r = s_start(kv, rate, 1, 0, 16, error, sizeof error, &activate_failed);
    CHECK(r.instance == NULL, "%s=%s accepted", kv[0], kv[1]);
    CHECK(activate_failed == at_activate, "%s=%s refused %s", kv[0], kv[1],
          activate_failed ? "at activate" : "at create");
    CHECK(strncmp(error, "bandpass: ", 10) == 0 && strstr(error, mention) != NULL,
          "message for %s=%s: \"%s\" (should mention \"%s\")", kv[0], kv[1], error, mention);
    printf("refused: %s\n", error);
    s_stop(&r);
}

static void s_test_params(void)
{
    s_expect_refused((const char *const[]){"low", "-5", NULL}, 16000, "\"-5\" for low", 0);
    s_expect_refused((const char *const[]){"high", "abc", NULL}, 16000, "\"abc\" for high", 0);
    s_expect_refused((const char *const[]){"low", "3000", "high", "2000", NULL}, 16000, "not above low", 0);
    s_expect_refused((const char *const[]){"n_fft", "1000.5", NULL}, 16000, "\"1000.5\" for n_fft", 0);
    s_expect_refused((const char *const[]){"n_fft", "511", NULL}, 16000, "even", 0);
    s_expect_refused((const char *const[]){"hop", "0", NULL}, 16000, "\"0\" for hop", 0);
    s_expect_refused((const char *const[]){"n_fft", "512", "hop", "600", NULL}, 16000, "larger than n_fft", 0);
    s_expect_refused((const char *const[]){"n_fft", "512", "hop", "512", NULL}, 16000, "cannot reconstruct", 0);
    s_expect_refused((const char *const[]){"width", "3", NULL}, 16000, "unknown parameter \"width\"", 0);
    s_expect_refused((const char *const[]){"high", "5000", NULL}, 8000, "above half the rate", 1);
    s_expect_refused((const char *const[]){"low", "1010", "high", "1040", "n_fft", "256", NULL}, 16000, "no FFT bin",
                     1);
    s_expect_refused((const char *const[]){"hop", "1024", NULL}, 16000, "cannot reconstruct", 1);

    /* Accepted: explicit shapes, auto, a band up to half the rate. */
    const char *const ok[][9] = {
        {"n_fft", "400", "hop", "160", NULL},
        {"n_fft", "auto", "hop", "auto", "low", "0", "high", "8000", NULL},
        {"low", "1000.5", "high", "1999.25", NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char error[512];
        run_t r = s_start(ok[i], 16000, 1, 0, 16, error, sizeof error, NULL);
        CHECK(r.instance != NULL, "params set %zu refused: %s", i, error);
        s_stop(&r);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bandpass.so", argv[1]);
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return 1;
    }
    s_plugin = dlsym(so, AB_PLUGIN_ENTRY_SYMBOL);
    CHECK(s_plugin && s_plugin->abi_major == AB_PLUGIN_ABI_MAJOR && s_plugin->gap && s_plugin->params,
          "descriptor with gap() and params");
    if (!s_plugin)
        return 1;

    s_test_response(NULL, 16000, 1024, 300, 3400, "defaults at 16 kHz (n_fft 1024, hop 256)");
    s_test_response(NULL, 48000, 4096, 300, 3400, "defaults at 48 kHz (n_fft 4096, hop 1024)");
    s_test_response((const char *const[]){"n_fft", "512", "hop", "256", "low", "1000", "high", "2000", NULL}, 16000,
                    512, 1000, 2000, "n_fft 512, hop 256, 1000..2000 Hz");
    s_test_alignment_and_blocks();
    s_test_gaps();
    s_test_params();
    dlclose(so);
    if (s_failures) {
        fprintf(stderr, "%d check(s) failed\n", s_failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
