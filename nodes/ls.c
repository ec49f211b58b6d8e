/* ls.c - `audiobus ls`: ask the broker for its registry and print it. */
#include <audiobus/audiobus.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "listing.h"

enum { OPT_BROKER = CLI_OPT_FIRST_SUBCOMMAND, OPT_JSON, OPT_TIMEOUT };

static const struct option s_options[] = {
    {"broker", required_argument, NULL, OPT_BROKER},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus ls --broker tcp://HOST:PORT [--json]\n\n"
           "Lists the nodes (role, name, host, pid, streams, age, link, counters) and the\n"
           "streams (type, rate, channels, format, blocks, gaps) a broker knows.\n\n"
           "  --broker ENDPOINT    the broker's control endpoint (default tcp://localhost:5550)\n"
           "  --json               print the listing as one JSON object\n"
           "  --timeout-ms MS      how long to wait for the broker (default 3000)\n" CLI_COMMON_HELP);
}

int listing_fetch(const char *broker, int timeout_ms, json_t **out, char *error, size_t error_len)
{
    ab_ctl_msg_t request;
    memset(&request, 0, sizeof request);
    request.cmd = AB_CMD_LIST;
    uint8_t *reply;
    size_t reply_len;
    int rc = ab_node_request(cli_zmq_ctx(), broker, &request, timeout_ms, &reply, &reply_len);
    if (rc == AB_EINVAL) {
        snprintf(error, error_len, "bad broker endpoint \"%s\" (expected tcp://HOST:PORT or ipc://PATH)", broker);
        return rc;
    }
    if (rc) {
        snprintf(error, error_len, "no answer from a broker at %s within %d ms (is `audiobus broker` running there?)",
                 broker, timeout_ms);
        return rc;
    }
    char detail[1024]; /* longer than the callers' error buffers: error_len alone cuts the reason */
    rc = listing_parse(reply, reply_len, out, detail, sizeof detail);
    free(reply);
    if (rc)
        snprintf(error, error_len, "the broker at %s sent no listing%s", broker, detail);
    return rc;
}

int cmd_ls(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("ls", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    const char *broker = "tcp://localhost:5550";
    bool json = false;
    uint32_t timeout_ms = 3000;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (cli_common_option("ls", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_BROKER: broker = optarg; break;
        case OPT_JSON: json = true; break;
        case OPT_TIMEOUT:
            if (!cli_parse_u32(optarg, 1, 3600000, &timeout_ms))
                rc = cli_usage_error("ls", "bad --timeout-ms \"%s\" (expected 1..3600000)", optarg);
            break;
        default: rc = cli_usage_error("ls", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("ls", "unexpected argument \"%s\"", argv[optind]);
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();
    json_t *root = NULL;
    char error[512];
    if (listing_fetch(broker, (int)timeout_ms, &root, error, sizeof error)) {
        fprintf(stderr, "audiobus ls: %s\n", error);
        cli_free_args(argc, argv);
        cli_zmq_ctx_term();
        return 1;
    }
    if (json) {
        json_object_del(root, "v");
        json_object_del(root, "cmd");
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
    } else {
        listing_print(stdout, root);
    }
    json_decref(root);
    cli_free_args(argc, argv);
    cli_zmq_ctx_term();
    return 0;
}
