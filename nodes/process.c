/* process.c - `audiobus process`: host a processor plugin on one or more streams. */
#include <audiobus/audiobus.h>
#include <audiobus/ab_processor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

#define MAX_PARAMS 64

/* Add the streams of one --stream option (a name, or names separated by
 * commas, which no stream name holds) to streams. names is modified: the
 * pointers point into it. Returns 0, or 2 after a usage error. */
static int s_add_streams(char *names, const char **streams, uint32_t *n_streams)
{
    for (char *save = NULL, *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (*n_streams == AB_PROCESSOR_MAX_INPUTS)
            return cli_usage_error("process", "more than %d streams (--stream)", AB_PROCESSOR_MAX_INPUTS);
        streams[(*n_streams)++] = name;
    }
    return 0;
}

enum {
    OPT_BROKER = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_STREAM,
    OPT_PLUGIN,
    OPT_NAME,
    OPT_PARAM,
    OPT_EXIT_AT_END,
    OPT_INLINE,
    OPT_QUEUED,
    OPT_QUEUE,
    OPT_BACKLOG,
    OPT_REPAIR
};

static const struct option s_options[] = {
    {"broker", required_argument, NULL, OPT_BROKER},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"name", required_argument, NULL, OPT_NAME},
    {"param", required_argument, NULL, OPT_PARAM},
    {"exit-at-end", no_argument, NULL, OPT_EXIT_AT_END},
    {"inline", no_argument, NULL, OPT_INLINE},
    {"queued", no_argument, NULL, OPT_QUEUED},
    {"queue-mb", required_argument, NULL, OPT_QUEUE},
    {"backlog", required_argument, NULL, OPT_BACKLOG},
    {"repair-timeout", required_argument, NULL, OPT_REPAIR},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus process --broker tcp://HOST:PORT --stream NAME[,NAME...] --plugin NAME_OR_PATH\n"
           "                        [--name NODE] [--param KEY=VALUE]...\n\n"
           "Feeds a stream to a processor plugin (a shared object). Its results are published\n"
           "back to the broker as streams named STREAM/OUTPUT (e.g. mic1/logmel).\n\n"
           "  --broker ENDPOINT    the broker's control endpoint (default tcp://localhost:5550)\n"
           "  --stream NAME        the stream to process (required); repeat it, or give a comma-\n"
           "                       separated list, for several streams (at most %d): each gets\n"
           "                       its own plugin instance, all share one connection and one\n"
           "                       set of threads\n"
           "  --plugin NAME|PATH   a path, or a name looked up as NAME.so in $AUDIOBUS_PLUGIN_PATH,\n"
           "                       the build tree's plugins/ and the installed plugin directory\n"
           "  --param KEY=VALUE    a plugin parameter (repeatable); with --plugin and --help,\n"
           "                       the plugin's parameters are listed\n"
           "  --name NODE          node name (default PLUGIN-PID)\n"
           "  --exit-at-end        exit 0 once every stream has ended (its recorder, or the\n"
           "                       processor publishing it, sends its end marker)\n"
           "  --queue-mb MB        queue between receiving and processing (default 16; its\n"
           "                       memory is committed as blocks first reach it)\n"
           "  --inline             always run the plugin on the receiving thread, with no queue\n"
           "                       (by default it runs there while it keeps up, and blocks are\n"
           "                       handed to a processing thread for 10 s when the plugin kept\n"
           "                       the receiving thread busy more than half of a second); a\n"
           "                       plugin slower than the stream then delays its own input,\n"
           "                       which is repaired from the broker's history or reported lost\n"
           "  --queued             always hand the blocks to the processing thread (one thread\n"
           "                       wake-up a burst of blocks): for plugins that must always be\n"
           "                       called on the same thread\n"
           "  --backlog SECONDS    on joining, start with the last SECONDS the broker holds\n"
           "  --repair-timeout S   how long a missing block is waited for before its audio is\n"
           "                       reported lost (default 12)\n" CLI_COMMON_HELP,
           AB_PROCESSOR_MAX_INPUTS);
}

int cmd_process(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("process", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    ab_processor_config_t config = {.broker = "tcp://localhost:5550"};
    const char *streams[AB_PROCESSOR_MAX_INPUTS];
    uint32_t n_streams = 0;
    ab_plugin_param_t params[MAX_PARAMS];
    char *param_copies[MAX_PARAMS];
    uint32_t n_params = 0, queue_mb = 16;
    bool help = false;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (cli_common_option("process", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: help = true; break;
        case OPT_BROKER: config.broker = optarg; break;
        case OPT_STREAM: rc = s_add_streams(optarg, streams, &n_streams); break;
        case OPT_PLUGIN: config.plugin = optarg; break;
        case OPT_NAME: config.name = optarg; break;
        case OPT_EXIT_AT_END: config.exit_at_end = true; break;
        case OPT_INLINE:
        case OPT_QUEUED: rc = cli_processing_option("process", opt == OPT_QUEUED, &config.processing); break;
        case OPT_QUEUE:
            if (!cli_parse_u32(optarg, 1, 4096, &queue_mb))
                rc = cli_usage_error("process", "bad --queue-mb \"%s\" (expected 1..4096)", optarg);
            break;
        case OPT_BACKLOG:
            if (!cli_parse_double(optarg, 0, 3600, &config.backlog_seconds))
                rc = cli_usage_error("process", "bad --backlog \"%s\" (expected 0..3600 seconds)", optarg);
            break;
        case OPT_REPAIR:
            if (!cli_parse_double(optarg, 0.1, 3600, &config.repair_seconds))
                rc = cli_usage_error("process", "bad --repair-timeout \"%s\" (expected 0.1..3600 seconds)",
                                     optarg);
            break;
        case OPT_PARAM: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                rc = cli_usage_error("process", "bad --param \"%s\" (expected KEY=VALUE, e.g. --param path=out.wav)",
                                     optarg);
                break;
            }
            if (n_params == MAX_PARAMS) {
                rc = cli_usage_error("process", "more than %d --param options", MAX_PARAMS);
                break;
            }
            param_copies[n_params] = strdup(optarg);
            param_copies[n_params][eq - optarg] = '\0';
            params[n_params].key = param_copies[n_params];
            params[n_params].value = param_copies[n_params] + (eq - optarg) + 1;
            n_params++;
            break;
        }
        default: rc = cli_usage_error("process", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("process", "unexpected argument \"%s\"", argv[optind]);
    char error[1024];
    if (rc == 0 && help) {
        s_help();
        if (config.plugin) {
            printf("\n");
            if (ab_processor_describe_plugin(config.plugin, error, sizeof error)) {
                fprintf(stderr, "audiobus process: %s\n", error);
                rc = 1;
            }
        }
        goto out;
    }
    if (rc == 0 && n_streams == 0)
        rc = cli_usage_error("process", "--stream NAME is required");
    if (rc == 0 && !config.plugin)
        rc = cli_usage_error("process", "--plugin NAME_OR_PATH is required");
    if (rc)
        goto out;
    ab_signal_install();
    config.streams = streams;
    config.n_streams = n_streams;
    config.params = params;
    config.n_params = n_params;
    config.queue_bytes = (size_t)queue_mb << 20;
    ab_processor_t *processor = ab_processor_new(cli_zmq_ctx(), &config, error, sizeof error);
    if (!processor) {
        fprintf(stderr, "audiobus process: %s\n", error);
        rc = 1;
        goto out;
    }
    rc = ab_processor_run(processor) ? 1 : 0;
    ab_processor_destroy(&processor);
    cli_zmq_ctx_term();
out:
    for (uint32_t i = 0; i < n_params; i++)
        free(param_copies[i]);
    cli_free_args(argc, argv);
    return rc;
}
