/* latency.c - `audiobus latency`: measure the round trip of a loopback from
 * an output device to an input device, and print its distribution. */
#include <audiobus/audiobus.h>
#include <audiobus/ab_latency.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "latency_chain.h"

enum {
    OPT_DEVICE = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_HOST_API,
    OPT_RATE,
    OPT_BLOCK,
    OPT_COUNT,
    OPT_INTERVAL,
    OPT_WAIT,
    OPT_SEPARATE,
    OPT_JACK_NAME,
    OPT_JSON,
    OPT_LIST_DEVICES,
    OPT_THROUGH_BROKER,
    OPT_BROKER,
    OPT_RECORD_DEVICE,
    OPT_PLAY_DEVICE,
    OPT_PLAY_LATENCY
};

static const struct option s_options[] = {
    {"device", required_argument, NULL, OPT_DEVICE},
    {"host-api", required_argument, NULL, OPT_HOST_API},
    {"rate", required_argument, NULL, OPT_RATE},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"count", required_argument, NULL, OPT_COUNT},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"separate-streams", no_argument, NULL, OPT_SEPARATE},
    {"jack-name", required_argument, NULL, OPT_JACK_NAME},
    {"json", no_argument, NULL, OPT_JSON},
    {"list-devices", no_argument, NULL, OPT_LIST_DEVICES},
    {"through-broker", no_argument, NULL, OPT_THROUGH_BROKER},
    {"broker", required_argument, NULL, OPT_BROKER},
    {"record-device", required_argument, NULL, OPT_RECORD_DEVICE},
    {"play-device", required_argument, NULL, OPT_PLAY_DEVICE},
    {"play-latency", required_argument, NULL, OPT_PLAY_LATENCY},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus latency [--device IN,OUT] [--host-api NAME] [OPTIONS]\n\n"
           "Measures the round trip from an output device back to an input device: plays a\n"
           "5 ms burst of pseudo-random noise at half full scale (mind the speakers) every\n"
           "--interval, finds each burst in the input by cross-correlation, and prints the\n"
           "round trips in frames and ms: count, min, p50, p99, max, and the bursts not found.\n"
           "Loop the output to the input first (a cable, or a JACK connection: the ports are\n"
           "logged at start); measuring starts when the first burst comes back.\n\n"
           "  --device IN,OUT      input and output device (index, name or substring; one\n"
           "                       name for both; an empty side: the default device; names\n"
           "                       holding commas work: each comma is tried as the separator)\n"
           "  --host-api NAME      PortAudio host API (ALSA, JACK, ...); input and output on\n"
           "                       one host API share one full-duplex stream: frame-exact\n"
           "  --rate HZ            sample rate (default 48000)\n"
           "  --block FRAMES       frames per PortAudio buffer (default 256; 0: the host's\n"
           "                       choice, which adds the least latency of its own)\n"
           "  --count N            bursts to measure (default 20)\n"
           "  --interval SECONDS   between bursts (default 0.25); longer round trips are not\n"
           "                       found\n"
           "  --wait SECONDS       how long to wait for the first burst to come back (default 10)\n"
           "  --separate-streams   one input and one output stream even on one host API\n"
           "                       (exact only to the callbacks' scheduling jitter)\n"
           "  --jack-name NAME     JACK client name (default audiobus-latency)\n"
           "  --json               print the result as one JSON object\n"
           "  --list-devices       print PortAudio's host APIs and devices, and exit\n\n"
           "Through audiobus: --through-broker measures OUT -> recorder -> broker -> player -> IN.\n"
           "It starts `audiobus record` (on --record-device), `audiobus play` (on --play-device,\n"
           "same host API) and, without --broker, a broker on free loopback ports, as child\n"
           "processes on a stream of their own, and stops them at the end. Loop OUT to the\n"
           "recorder's input and the player's output to IN (on JACK: audiobus-latency:out_0 ->\n"
           "audiobus-record:in_0 and audiobus-play:out_0 -> audiobus-latency:in_0).\n"
           "  --through-broker     measure through a recorder, a broker and a player\n"
           "  --broker ENDPOINT    use this running broker instead of starting one\n"
           "  --record-device DEV  the recorder's input device (default: the default input)\n"
           "  --play-device DEV    the player's output device (default: the default output)\n"
           "  --play-latency MS    the player's jitter buffer target (default 100)\n" CLI_COMMON_HELP);
}

static double s_ms(double frames, uint32_t rate)
{
    return frames * 1000.0 / rate;
}

static void s_print_text(ab_latency_t *latency, const latency_chain_t *chain, const ab_latency_result_t *r)
{
    printf("%s\n", ab_latency_description(latency));
    if (chain)
        printf("through audiobus: record -> broker %s -> play (jitter buffer target %g ms), stream %s\n",
               latency_chain_broker(chain), latency_chain_play_latency_ms(chain), latency_chain_stream(chain));
    printf("round trip over %u probe(s): %u found, %u not found\n", r->probes, r->found, r->missed);
    if (r->found) {
        printf("%-8s %10s %10s %10s %10s\n", "", "min", "p50", "p99", "max");
        printf("%-8s %10lld %10lld %10lld %10lld\n", "frames", (long long)r->min_frames, (long long)r->p50_frames,
               (long long)r->p99_frames, (long long)r->max_frames);
        printf("%-8s %10.3f %10.3f %10.3f %10.3f\n", "ms", s_ms((double)r->min_frames, r->rate),
               s_ms((double)r->p50_frames, r->rate), s_ms((double)r->p99_frames, r->rate),
               s_ms((double)r->max_frames, r->rate));
        printf("weakest match: correlation %.3f%s\n", r->min_score,
               r->inverted ? " (some came back with inverted polarity)" : "");
    }
    printf("PortAudio's own estimate%s: %.0f frames (%.3f ms)\n", chain ? " for the profiler's stream(s)" : "",
           r->reported_frames, s_ms(r->reported_frames, r->rate));
    if (r->lost_frames || r->xruns)
        printf("warning: %llu input frame(s) lost by the analysis, %llu callback(s) with an xrun\n",
               (unsigned long long)r->lost_frames, (unsigned long long)r->xruns);
}

static json_t *s_stats_json(const ab_latency_result_t *r, double scale)
{
    if (!r->found)
        return json_null();
    return json_pack("{s:f,s:f,s:f,s:f,s:f}", "min", (double)r->min_frames * scale, "p50",
                     (double)r->p50_frames * scale, "p99", (double)r->p99_frames * scale, "max",
                     (double)r->max_frames * scale, "mean", r->mean_frames * scale);
}

static void s_print_json(ab_latency_t *latency, const latency_chain_t *chain, const ab_latency_result_t *r,
                         bool complete)
{
    size_t n;
    const int64_t *values = ab_latency_values(latency, &n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, values[i] >= 0 ? json_integer(values[i]) : json_null());
    json_t *through = chain ? json_pack("{s:s,s:s,s:f}", "broker", latency_chain_broker(chain), "stream",
                                        latency_chain_stream(chain), "play_latency_ms",
                                        latency_chain_play_latency_ms(chain))
                            : json_null();
    json_t *root = json_pack(
        "{s:s,s:s,s:s,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:f,s:f,s:f,s:I,s:I,s:o,s:o}", "description",
        ab_latency_description(latency), "output_port", ab_latency_output_port(latency), "input_port",
        ab_latency_input_port(latency), "full_duplex", r->full_duplex, "complete", complete, "rate",
        (json_int_t)r->rate, "block", (json_int_t)r->block_frames, "count", (json_int_t)r->probes, "found",
        (json_int_t)r->found, "missed", (json_int_t)r->missed, "inverted", (json_int_t)r->inverted, "frames",
        s_stats_json(r, 1.0), "ms", s_stats_json(r, 1000.0 / r->rate), "min_score", r->min_score,
        "reported_frames", r->reported_frames, "wait_seconds", r->wait_seconds, "lost_frames",
        (json_int_t)r->lost_frames, "xruns", (json_int_t)r->xruns, "latencies", list, "through_broker", through);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(root);
}

/* Measure; print the result. Returns the exit status. */
static int s_measure(ab_latency_config_t *config, const latency_chain_t *chain, bool json)
{
    char error[768];
    ab_latency_t *latency = ab_latency_new(config, error, sizeof error);
    if (!latency) {
        fprintf(stderr, "audiobus latency: %s\n", error);
        return 1;
    }
    ab_log_info("%s", ab_latency_description(latency));
    int rc = ab_latency_run(latency, error, sizeof error);
    ab_latency_result_t result;
    ab_latency_result(latency, &result);
    int status = 0;
    if (rc == 0 || rc == AB_EINTR) {
        if (rc == AB_EINTR)
            ab_log_warn("%s", error);
        if (json)
            s_print_json(latency, chain, &result, rc == 0);
        else
            s_print_text(latency, chain, &result);
    } else {
        fprintf(stderr, "audiobus latency: %s\n", error);
        status = 1;
    }
    fflush(stdout);
    ab_latency_destroy(&latency);
    return status;
}

int cmd_latency(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("latency", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    ab_latency_config_t config = {.block_frames = 256};
    latency_chain_config_t chain_config = {.play_latency_ms = 100};
    bool json = false, list_devices = false, through_broker = false;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (opt == CLI_OPT_LOG_LEVEL)
            chain_config.log_level = optarg;
        if (cli_common_option("latency", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_DEVICE: config.devices = optarg; break;
        case OPT_HOST_API: config.host_api = optarg; break;
        case OPT_JACK_NAME: config.jack_client_name = optarg; break;
        case OPT_SEPARATE: config.separate_streams = true; break;
        case OPT_JSON: json = true; break;
        case OPT_LIST_DEVICES: list_devices = true; break;
        case OPT_THROUGH_BROKER: through_broker = true; break;
        case OPT_BROKER: chain_config.broker = optarg; break;
        case OPT_RECORD_DEVICE: chain_config.record_device = optarg; break;
        case OPT_PLAY_DEVICE: chain_config.play_device = optarg; break;
        case OPT_RATE:
            if (!cli_parse_u32(optarg, 1000, 768000, &config.rate))
                rc = cli_usage_error("latency", "bad --rate \"%s\" (expected 1000..768000 Hz)", optarg);
            break;
        case OPT_BLOCK:
            if (!cli_parse_u32(optarg, 0, 16384, &config.block_frames))
                rc = cli_usage_error("latency", "bad --block \"%s\" (expected 0..16384 frames; 0: the host's choice)",
                                     optarg);
            break;
        case OPT_COUNT:
            if (!cli_parse_u32(optarg, 1, 1000000, &config.count))
                rc = cli_usage_error("latency", "bad --count \"%s\" (expected 1..1000000)", optarg);
            break;
        case OPT_INTERVAL:
            if (!cli_parse_double(optarg, 0.02, 60, &config.interval_seconds))
                rc = cli_usage_error("latency", "bad --interval \"%s\" (expected 0.02..60 seconds)", optarg);
            break;
        case OPT_WAIT:
            if (!cli_parse_double(optarg, 0.1, 3600, &config.wait_seconds))
                rc = cli_usage_error("latency", "bad --wait \"%s\" (expected 0.1..3600 seconds)", optarg);
            break;
        case OPT_PLAY_LATENCY:
            if (!cli_parse_double(optarg, 1, 10000, &chain_config.play_latency_ms))
                rc = cli_usage_error("latency", "bad --play-latency \"%s\" (expected 1..10000 ms)", optarg);
            break;
        default: rc = cli_usage_error("latency", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("latency", "unexpected argument \"%s\"", argv[optind]);
    if (rc == 0 && !through_broker && (chain_config.broker || chain_config.record_device || chain_config.play_device))
        rc = cli_usage_error("latency", "--broker, --record-device and --play-device go with --through-broker");
    if (rc == 0 && list_devices) {
        rc = ab_latency_list_devices(stdout) ? 1 : 0;
        cli_free_args(argc, argv);
        return rc;
    }
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();
    latency_chain_t *chain = NULL;
    char hint[600];
    if (through_broker) {
        chain_config.host_api = config.host_api;
        chain_config.rate = config.rate;
        chain_config.block_frames = config.block_frames;
        char error[768];
        chain = latency_chain_start(&chain_config, error, sizeof error);
        if (!chain) {
            fprintf(stderr, "audiobus latency: %s\n", error);
            cli_free_args(argc, argv);
            return 1;
        }
        /* The player opens its device only once the stream flows: give the
         * chain the time it takes to come up as well. */
        if (config.wait_seconds == 0)
            config.wait_seconds = 10 + chain_config.play_latency_ms / 1000;
        snprintf(hint, sizeof hint,
                 "loop the output into the recorder's input device and the player's output device back to the "
                 "input (on JACK: connect %s:out_0 -> audiobus-record:in_0 and audiobus-play:out_0 -> %s:in_0)",
                 config.jack_client_name ? config.jack_client_name : "audiobus-latency",
                 config.jack_client_name ? config.jack_client_name : "audiobus-latency");
        config.loop_hint = hint;
        config.check = latency_chain_check;
        config.check_user = chain;
    }
    int status = s_measure(&config, chain, json);
    if (latency_chain_stop(&chain) && status == 0)
        status = 1;
    cli_free_args(argc, argv);
    return status;
}
