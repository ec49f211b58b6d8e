/* vad_run.c - runs the vad plugin over a sound file without a broker, for
 * tests/test_vad.py: the same events as through audiobus, and a gap at a
 * chosen place. (Real-time safety is test_plugin_rt's, for every plugin.)
 *
 *   vad_run PLUGIN.so FILE [--block FRAMES] [--gap FRAME:FRAMES]... [--param KEY=VALUE]...
 *
 * Feeds FILE in blocks of FRAMES (default 160) as a stream whose frame 0
 * was captured at 1.7e18 ns. --gap skips FRAMES of the file at FRAME and
 * tells the plugin through gap(). Prints each event as a JSON line
 * {"label": ..., "frame0": ..., "time_ns": ...} on stdout, the plugin's log
 * on stderr. Exit status 0, or 1 when anything failed (plugin refused,
 * a publish the host refused), 2 on a
 * usage error.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "audiobus/ab_plugin.h"

#define RUN_T0_NS 1700000000000000000LL
#define RUN_MAX_PARAMS 32
#define RUN_MAX_GAPS 16

typedef struct {
    uint32_t channels;
    int declared;
    long refused;
} run_host_t;

static void s_log(void *data, int32_t level, const char *message)
{
    (void)data;
    fprintf(stderr, "[vad %d] %s\n", level, message);
}

static void s_fail(void *data, const char *message)
{
    run_host_t *h = data;
    h->refused++;
    fprintf(stderr, "vad_run: the plugin failed: %s\n", message);
}

static int32_t s_declare(void *data, const char *suffix, uint32_t kind, uint32_t channels, uint32_t hop)
{
    run_host_t *h = data;
    fprintf(stderr, "vad_run: output \"%s\" kind %u channels %u hop %u\n", suffix, kind, channels, hop);
    h->channels = channels;
    h->declared = 1;
    return 0;
}

static int32_t s_publish(void *data, const ab_plugin_output_block_t *b)
{
    run_host_t *h = data;
    if (!h->declared || !b || b->struct_size < sizeof *b || b->output != 0 || b->frames != 0 ||
        b->channels != h->channels || !b->label) {
        h->refused++;
        return AB_PLUGIN_ERROR;
    }
    printf("{\"label\": \"%s\", \"frame0\": %" PRIu64 ", \"time_ns\": %" PRId64 "}\n", b->label, b->frame0,
           b->time_ns);
    fflush(stdout);
    return AB_PLUGIN_OK;
}

static int s_usage(const char *why)
{
    fprintf(stderr,
            "vad_run: %s\nusage: vad_run PLUGIN.so FILE [--block FRAMES] [--gap FRAME:FRAMES]... "
            "[--param KEY=VALUE]...\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return s_usage("missing PLUGIN.so or FILE");
    uint32_t block_frames = 160;
    ab_plugin_param_t params[RUN_MAX_PARAMS];
    char keys[RUN_MAX_PARAMS][64];
    uint32_t n_params = 0;
    uint64_t gap_at[RUN_MAX_GAPS], gap_len[RUN_MAX_GAPS];
    int n_gaps = 0;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc)
            return s_usage("an option lacks its value");
        const char *value = argv[++i];
        if (strcmp(argv[i - 1], "--block") == 0) {
            block_frames = (uint32_t)strtoul(value, NULL, 10);
            if (block_frames == 0 || block_frames > 65536)
                return s_usage("--block must be 1..65536");
        } else if (strcmp(argv[i - 1], "--gap") == 0 && n_gaps < RUN_MAX_GAPS) {
            if (sscanf(value, "%" SCNu64 ":%" SCNu64, &gap_at[n_gaps], &gap_len[n_gaps]) != 2 || !gap_len[n_gaps])
                return s_usage("--gap takes FRAME:FRAMES with FRAMES > 0");
            n_gaps++;
        } else if (strcmp(argv[i - 1], "--param") == 0 && n_params < RUN_MAX_PARAMS) {
            const char *eq = strchr(value, '=');
            if (!eq)
                return s_usage("--param takes KEY=VALUE");
            snprintf(keys[n_params], sizeof keys[n_params], "%.*s", (int)(eq - value), value);
            params[n_params].key = keys[n_params];
            params[n_params].value = eq + 1;
            n_params++;
        } else {
            return s_usage("unknown option or too many of it");
        }
    }

    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const ab_plugin_descriptor_t *d = so ? dlsym(so, AB_PLUGIN_ENTRY_SYMBOL) : NULL;
    if (!d) {
        fprintf(stderr, "vad_run: cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(argv[2], SFM_READ, &info);
    if (!sf) {
        fprintf(stderr, "vad_run: cannot read %s: %s\n", argv[2], sf_strerror(NULL));
        return 1;
    }

    run_host_t state = {0};
    ab_plugin_host_t host = {
        .struct_size = sizeof host,
        .host_data = &state,
        .log = s_log,
        .fail = s_fail,
        .declare_output = s_declare,
        .publish = s_publish,
    };
    char error[512] = "";
    void *self = d->create(&host, params, n_params, error, sizeof error);
    if (!self) {
        fprintf(stderr, "vad_run: create refused: %s\n", error);
        sf_close(sf);
        return 1;
    }
    ab_plugin_format_t format = {
        .struct_size = sizeof format,
        .rate = (uint32_t)info.samplerate,
        .channels = (uint32_t)info.channels,
        .max_frames = block_frames,
        .raw_format = AB_PLUGIN_FORMAT_F32,
        .stream = "file",
    };
    int status = 0;
    if (d->activate(self, &format, error, sizeof error) != AB_PLUGIN_OK) {
        fprintf(stderr, "vad_run: activate refused: %s\n", error);
        d->destroy(self);
        sf_close(sf);
        return 1;
    }
    float *samples = malloc((size_t)block_frames * info.channels * sizeof(float));
    uint64_t frame = 0;
    for (;;) {
        uint32_t want = block_frames;
        for (int g = 0; g < n_gaps; g++) {
            if (gap_at[g] == frame) {
                sf_count_t skipped = sf_seek(sf, (sf_count_t)(frame + gap_len[g]), SEEK_SET);
                if (skipped < 0)
                    break;
                d->gap(self, frame, gap_len[g]);
                frame += gap_len[g];
            } else if (gap_at[g] > frame && gap_at[g] - frame < want) {
                want = (uint32_t)(gap_at[g] - frame);
            }
        }
        sf_count_t got = sf_readf_float(sf, samples, want);
        if (got <= 0)
            break;
        ab_plugin_block_t block = {
            .struct_size = sizeof block,
            .frames = (uint32_t)got,
            .channels = (uint32_t)info.channels,
            .rate = (uint32_t)info.samplerate,
            .frame0 = frame,
            .time_ns = RUN_T0_NS + (int64_t)((double)frame * 1e9 / info.samplerate),
            .samples = samples,
            .raw = samples,
            .raw_format = AB_PLUGIN_FORMAT_F32,
            .raw_bytes = (uint32_t)((size_t)got * info.channels * sizeof(float)),
        };
        int32_t rc = d->process(self, &block);
        if (rc != AB_PLUGIN_OK) {
            fprintf(stderr, "vad_run: process() failed at frame %" PRIu64 "\n", frame);
            status = 1;
            break;
        }
        frame += (uint64_t)got;
    }
    d->deactivate(self);
    d->destroy(self);
    free(samples);
    sf_close(sf);
    if (state.refused) {
        fprintf(stderr, "vad_run: %ld publishes refused or failures reported\n", state.refused);
        status = 1;
    }
    fprintf(stderr, "vad_run: %" PRIu64 " frames\n", frame);
    return status;
}
