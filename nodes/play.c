/* play.c - `audiobus play`: play a stream from the broker on an output device. */
#include <audiobus/audiobus.h>
#include <audiobus/ab_player.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "listing.h"

enum {
    OPT_BROKER = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_STREAM,
    OPT_DEVICE,
    OPT_HOST_API,
    OPT_LATENCY,
    OPT_EXIT_AT_END,
    OPT_DURATION,
    OPT_NAME,
    OPT_REPAIR,
    OPT_LIST_DEVICES
};

static const struct option s_options[] = {
    {"broker", required_argument, NULL, OPT_BROKER},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"host-api", required_argument, NULL, OPT_HOST_API},
    {"latency", required_argument, NULL, OPT_LATENCY},
    {"exit-at-end", no_argument, NULL, OPT_EXIT_AT_END},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"name", required_argument, NULL, OPT_NAME},
    {"repair-timeout", required_argument, NULL, OPT_REPAIR},
    {"list-devices", no_argument, NULL, OPT_LIST_DEVICES},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus play --broker tcp://HOST:PORT --stream NAME [--device NAME|INDEX]\n"
           "                     [--latency MS] [--host-api NAME] [OPTIONS]\n\n"
           "Plays a stream on an output device, at the stream's own rate, channels and sample\n"
           "format (audiobus does not resample), through a jitter buffer: playing starts once\n"
           "--latency ms are buffered. When the buffer runs dry (an underrun) it plays silence\n"
           "and buffers to --latency again before it resumes; when it grows beyond twice\n"
           "--latency plus a block (an overrun) the oldest audio is dropped. Audio missing from\n"
           "the stream is played as silence of its length. All of it is counted, logged, and\n"
           "shown by audiobus ls. A stream that is not published yet is waited for.\n\n"
           "  --broker ENDPOINT    the broker's control endpoint (default tcp://localhost:5550)\n"
           "  --stream NAME        the stream to play (required)\n"
           "  --device NAME|INDEX  output device: index, exact name or substring (default: the\n"
           "                       default output device; see --list-devices)\n"
           "  --host-api NAME      PortAudio host API to pick the device from (ALSA, JACK, ...)\n"
           "  --latency MS         jitter buffer target (default 100); the device adds its own\n"
           "  --exit-at-end        exit 0 once the stream's end has been played out\n"
           "  --duration SECONDS   exit 0 after playing this much of the stream\n"
           "  --repair-timeout S   how long a missing block is waited for before it is played as\n"
           "                       silence (default: half the --latency)\n"
           "  --name NODE          node name (default play-STREAM-PID)\n"
           "  --list-devices       print PortAudio's host APIs and devices, and exit\n" CLI_COMMON_HELP);
}

/* Say so when the stream is not there yet: the player waits for it, and
 * the user may have mistyped its name. */
static void s_check_stream(const char *broker, const char *stream)
{
    json_t *root = NULL;
    char error[512];
    if (listing_fetch(broker, 2000, &root, error, sizeof error) != 0)
        return;
    json_t *streams = json_object_get(root, "streams");
    char known[512] = "";
    size_t len = 0;
    bool found = false;
    size_t i;
    json_t *entry;
    json_array_foreach(streams, i, entry)
    {
        const char *name = json_string_value(json_object_get(entry, "stream"));
        if (!name)
            continue;
        if (strcmp(name, stream) == 0)
            found = true;
        else if (len < sizeof known)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", name);
    }
    if (!found)
        ab_log_warn("stream %s is not published yet; waiting for it (start its recorder, or check --stream; "
                    "the broker knows %s)",
                    stream, len ? known : "no streams");
    json_decref(root);
}

int cmd_play(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("play", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    ab_player_config_t config = {.broker = "tcp://localhost:5550", .latency_ms = 100};
    bool list_devices = false;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (cli_common_option("play", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_BROKER: config.broker = optarg; break;
        case OPT_STREAM: config.stream = optarg; break;
        case OPT_DEVICE: config.device = optarg; break;
        case OPT_HOST_API: config.host_api = optarg; break;
        case OPT_NAME: config.name = optarg; break;
        case OPT_EXIT_AT_END: config.exit_at_end = true; break;
        case OPT_LIST_DEVICES: list_devices = true; break;
        case OPT_LATENCY:
            if (!cli_parse_double(optarg, 1, 10000, &config.latency_ms))
                rc = cli_usage_error("play", "bad --latency \"%s\" (expected 1..10000 ms)", optarg);
            break;
        case OPT_DURATION:
            if (!cli_parse_double(optarg, 0.001, 1e7, &config.duration_seconds))
                rc = cli_usage_error("play", "bad --duration \"%s\" (expected seconds > 0)", optarg);
            break;
        case OPT_REPAIR:
            if (!cli_parse_double(optarg, 0.001, 3600, &config.repair_seconds))
                rc = cli_usage_error("play", "bad --repair-timeout \"%s\" (expected 0.001..3600 seconds)", optarg);
            break;
        default: rc = cli_usage_error("play", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("play", "unexpected argument \"%s\"", argv[optind]);
    if (rc == 0 && list_devices) {
        rc = ab_player_list_devices(stdout) ? 1 : 0;
        cli_free_args(argc, argv);
        return rc;
    }
    if (rc == 0 && !config.stream)
        rc = cli_usage_error("play", "--stream NAME is required");
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();
    char error[1024];
    ab_player_t *player = ab_player_new(cli_zmq_ctx(), &config, error, sizeof error);
    if (!player) {
        fprintf(stderr, "audiobus play: %s\n", error);
        cli_zmq_ctx_term();
        cli_free_args(argc, argv);
        return 1;
    }
    rc = ab_player_start(player);
    if (rc == 0) {
        s_check_stream(config.broker, config.stream);
        while (!ab_signal_stop_requested() && (rc = ab_player_poll(player, 20)) == 0)
            ;
        if (rc == 1)
            rc = 0;
    }
    ab_player_stop(player);
    ab_player_destroy(&player);
    cli_zmq_ctx_term();
    cli_free_args(argc, argv);
    return rc ? 1 : 0;
}
