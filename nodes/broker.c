/* broker.c - `audiobus broker`: bind, serve until SIGINT/SIGTERM. */
#include <audiobus/audiobus.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

enum {
    OPT_BIND = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_DATA_IN,
    OPT_DATA_OUT,
    OPT_HEARTBEAT,
    OPT_MISSES,
    OPT_HISTORY,
    OPT_HWM,
    OPT_READY_FILE
};

static const struct option s_options[] = {
    {"bind", required_argument, NULL, OPT_BIND},
    {"data-in", required_argument, NULL, OPT_DATA_IN},
    {"data-out", required_argument, NULL, OPT_DATA_OUT},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
    {"heartbeat-misses", required_argument, NULL, OPT_MISSES},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"hwm", required_argument, NULL, OPT_HWM},
    {"ready-file", required_argument, NULL, OPT_READY_FILE},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus broker [--bind tcp://HOST:PORT] [OPTIONS]\n\n"
           "Relays every block from recorders to the processors subscribed to its stream,\n"
           "checks and counts them, and keeps the registry of nodes.\n\n"
           "  --bind ENDPOINT      control (ROUTER) socket (default tcp://*:5550); a port of *\n"
           "                       lets the system choose free ports for all three sockets\n"
           "  --data-in ENDPOINT   where recorders publish (XSUB; default: control port + 1)\n"
           "  --data-out ENDPOINT  where processors subscribe (XPUB; default: control port + 2)\n"
           "  --heartbeat-ms MS    heartbeat interval nodes are told to use (default 1000);\n"
           "  --heartbeat-misses N a node silent for N intervals is forgotten (default 3)\n"
           "  --history SECONDS    audio kept per stream to replay what processors missed and\n"
           "                       to drop duplicates (default 10; 0 keeps none)\n"
           "  --hwm BLOCKS         blocks queued per subscriber before they are dropped (default 16384)\n"
           "  --ready-file PATH    once bound, write the control endpoint (with its real port)\n"
           "                       to PATH: scripts wait for it instead of guessing ports\n" CLI_COMMON_HELP);
}

int cmd_broker(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("broker", s_options, true, argc_in, argv_in, &argc, &argv))
        return 2;
    ab_broker_config_t config = {0};
    const char *ready_file = NULL;
    uint32_t value;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (cli_common_option("broker", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_BIND: config.control_endpoint = optarg; break;
        case OPT_DATA_IN: config.data_in_endpoint = optarg; break;
        case OPT_DATA_OUT: config.data_out_endpoint = optarg; break;
        case OPT_READY_FILE: ready_file = optarg; break;
        case OPT_HEARTBEAT:
            if (!cli_parse_u32(optarg, 10, 600000, &value))
                rc = cli_usage_error("broker", "bad --heartbeat-ms \"%s\" (expected 10..600000)", optarg);
            config.heartbeat_ms = (int)value;
            break;
        case OPT_MISSES:
            if (!cli_parse_u32(optarg, 1, 1000, &value))
                rc = cli_usage_error("broker", "bad --heartbeat-misses \"%s\" (expected 1..1000)", optarg);
            config.heartbeat_misses = (int)value;
            break;
        case OPT_HISTORY: {
            double seconds;
            if (!cli_parse_double(optarg, 0, 3600, &seconds))
                rc = cli_usage_error("broker", "bad --history \"%s\" (expected 0..3600 seconds)", optarg);
            config.history_seconds = seconds > 0 ? seconds : -1;
            break;
        }
        case OPT_HWM:
            if (!cli_parse_u32(optarg, 1, 10000000, &value))
                rc = cli_usage_error("broker", "bad --hwm \"%s\" (expected 1..10000000 blocks)", optarg);
            config.subscriber_hwm = (int)value;
            break;
        default: rc = cli_usage_error("broker", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("broker", "unexpected argument \"%s\"", argv[optind]);
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();
    char error[512];
    ab_broker_t *broker = ab_broker_new(&config, error, sizeof error);
    if (!broker) {
        fprintf(stderr, "audiobus broker: %s\n", error);
        cli_free_args(argc, argv);
        return 1;
    }
    if (ready_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", ready_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", ab_broker_control_endpoint(broker)) < 0 || fclose(f) != 0 ||
            rename(tmp, ready_file) != 0) {
            fprintf(stderr, "audiobus broker: cannot write --ready-file %s\n", ready_file);
            ab_broker_destroy(&broker);
            cli_free_args(argc, argv);
            return 1;
        }
    }
    rc = ab_broker_run(broker);
    ab_broker_destroy(&broker);
    cli_free_args(argc, argv);
    return rc ? 1 : 0;
}
