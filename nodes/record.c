/* record.c - `audiobus record`: capture a source and publish it as a stream. */
#include <audiobus/audiobus.h>
#include <audiobus/ab_recorder.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

enum {
    OPT_BROKER = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_STREAM,
    OPT_SOURCE,
    OPT_RATE,
    OPT_CHANNELS,
    OPT_BLOCK,
    OPT_FORMAT,
    OPT_SPEED,
    OPT_DURATION,
    OPT_LIST_DEVICES,
    OPT_HOST_API,
    OPT_NAME,
    OPT_RING,
    OPT_HISTORY,
    OPT_STATS_FILE
};

static const struct option s_options[] = {
    {"broker", required_argument, NULL, OPT_BROKER},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"source", required_argument, NULL, OPT_SOURCE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"channels", required_argument, NULL, OPT_CHANNELS},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"list-devices", no_argument, NULL, OPT_LIST_DEVICES},
    {"host-api", required_argument, NULL, OPT_HOST_API},
    {"name", required_argument, NULL, OPT_NAME},
    {"ring", required_argument, NULL, OPT_RING},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus record --broker tcp://HOST:PORT --stream NAME --source SPEC [OPTIONS]\n\n"
           "Captures audio and publishes it as a stream of blocks.\n\n"
           "  --broker ENDPOINT    the broker's control endpoint (default tcp://localhost:5550)\n"
           "  --stream NAME        stream name, e.g. mic1 (required)\n"
           "  --source SPEC        portaudio[:DEVICE]  input device by name, substring or index\n"
           "                                           (default input device when omitted)\n"
           "                       file:PATH           any file libsndfile reads (WAV, FLAC, ...)\n"
           "                       synth:sine[:HZ]     0.5-amplitude sine (default 440 Hz)\n"
           "                       synth:noise         white noise\n"
           "                       synth:counter       sample k carries the value k (integrity tests)\n"
           "                       synth:impulse       one impulse per second\n"
           "                       (default: portaudio)\n"
           "  --rate HZ            sample rate (default 48000; files: their own)\n"
           "  --channels N         channels (default 1; files: their own)\n"
           "  --block FRAMES       frames per block (default 256)\n"
           "  --format f32|s16|s32 sample format on the wire (default f32; files: their own when exact)\n"
           "  --speed FACTOR       files and synth: play FACTOR times faster than real time (default 1)\n"
           "  --duration SECONDS   stop after this much audio, drain, say goodbye, exit 0\n"
           "  --host-api NAME      PortAudio host API to pick the device from (ALSA, JACK, ...)\n"
           "  --list-devices       print PortAudio's host APIs and devices, and exit\n"
           "  --name NODE          node name (default rec-STREAM-PID)\n"
           "  --ring SECONDS       a device's capture ring capacity (default 4)\n"
           "  --history SECONDS    blocks kept to publish again when the broker asks, or after\n"
           "                       it restarts (default 10)\n"
           "  --stats-file PATH    at exit, write the recorder's counts as one JSON object:\n"
           "                       frames, blocks, overruns and the audio callback's own time\n"
           "                       (p99, p99.9 as upper bounds within 12.5%%, max; ns)\n" CLI_COMMON_HELP);
}

/* --stats-file: the counts as one JSON object, written whole (temporary
 * file, then rename). False after saying why. */
static bool s_write_stats(const ab_recorder_t *recorder, const char *path)
{
    ab_recorder_stats_t st;
    ab_recorder_stats(recorder, &st);
    json_t *root = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "frames_captured",
                             (json_int_t)st.frames_captured, "blocks_sent", (json_int_t)st.blocks_sent, "frames_sent",
                             (json_int_t)st.frames_sent, "overrun_frames", (json_int_t)st.overrun_frames,
                             "overrun_events", (json_int_t)st.overrun_events, "device_overflows",
                             (json_int_t)st.device_overflows, "callbacks", (json_int_t)st.callbacks,
                             "callback_p99_ns", (json_int_t)st.callback_p99_ns, "callback_p999_ns",
                             (json_int_t)st.callback_p999_ns, "callback_max_ns", (json_int_t)st.callback_max_ns,
                             "block_period_ns", st.block_period_ns);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    bool ok = root && json_dump_file(root, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0;
    json_decref(root);
    if (!ok)
        ab_log_error("cannot write --stats-file %s: %s (check that its directory exists and is writable)", path,
                     strerror(errno));
    return ok;
}

int cmd_record(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("record", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    ab_recorder_config_t config = {.broker = "tcp://localhost:5550"};
    config.source.speed = 1.0;
    config.source.block_frames = 256;
    bool list_devices = false;
    const char *stats_file = NULL;
    double duration = 0;
    uint32_t value;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (cli_common_option("record", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_BROKER: config.broker = optarg; break;
        case OPT_STREAM: config.stream = optarg; break;
        case OPT_SOURCE: config.source.spec = optarg; break;
        case OPT_HOST_API: config.source.host_api = optarg; break;
        case OPT_NAME: config.name = optarg; break;
        case OPT_STATS_FILE: stats_file = optarg; break;
        case OPT_LIST_DEVICES: list_devices = true; break;
        case OPT_RATE:
            if (!cli_parse_u32(optarg, 1000, 768000, &config.source.rate))
                rc = cli_usage_error("record", "bad --rate \"%s\" (expected 1000..768000 Hz)", optarg);
            break;
        case OPT_CHANNELS:
            if (!cli_parse_u32(optarg, 1, AB_BLOCK_MAX_CHANNELS, &config.source.channels))
                rc = cli_usage_error("record", "bad --channels \"%s\" (expected 1..%d)", optarg, AB_BLOCK_MAX_CHANNELS);
            break;
        case OPT_BLOCK:
            if (!cli_parse_u32(optarg, 1, 16384, &config.source.block_frames))
                rc = cli_usage_error("record", "bad --block \"%s\" (expected 1..16384 frames)", optarg);
            break;
        case OPT_FORMAT:
            if (ab_format_parse(optarg, &config.source.format))
                rc = cli_usage_error("record", "bad --format \"%s\" (expected f32, s16 or s32)", optarg);
            break;
        case OPT_SPEED:
            if (!cli_parse_double(optarg, 0.01, 100000, &config.source.speed))
                rc = cli_usage_error("record", "bad --speed \"%s\" (expected 0.01..100000)", optarg);
            break;
        case OPT_DURATION:
            if (!cli_parse_double(optarg, 0.001, 1e7, &duration))
                rc = cli_usage_error("record", "bad --duration \"%s\" (expected seconds > 0)", optarg);
            break;
        case OPT_RING:
            if (!cli_parse_double(optarg, 0.1, 3600, &config.source.ring_seconds))
                rc = cli_usage_error("record", "bad --ring \"%s\" (expected 0.1..3600 seconds)", optarg);
            break;
        case OPT_HISTORY:
            if (!cli_parse_double(optarg, 0.1, 3600, &config.history_seconds))
                rc = cli_usage_error("record", "bad --history \"%s\" (expected 0.1..3600 seconds)", optarg);
            break;
        default: rc = cli_usage_error("record", "unknown option or missing value (named on the line above)"); break;
        }
    }
    (void)value;
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("record", "unexpected argument \"%s\"", argv[optind]);
    if (rc == 0 && list_devices) {
        rc = ab_source_list_devices(stdout) ? 1 : 0;
        cli_free_args(argc, argv);
        return rc;
    }
    if (rc == 0 && !config.stream)
        rc = cli_usage_error("record", "--stream NAME is required");
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();
    char error[512];
    ab_recorder_t *recorder = NULL;
    config.source.duration_seconds = duration;
    recorder = ab_recorder_new(cli_zmq_ctx(), &config, error, sizeof error);
    if (!recorder) {
        fprintf(stderr, "audiobus record: %s\n", error);
        cli_free_args(argc, argv);
        return 1;
    }
    rc = ab_recorder_run(recorder);
    if (stats_file && !s_write_stats(recorder, stats_file) && rc == 0)
        rc = 1;
    ab_recorder_destroy(&recorder);
    cli_zmq_ctx_term();
    cli_free_args(argc, argv);
    return rc ? 1 : 0;
}
