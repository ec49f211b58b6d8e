/* ls.c - `audiobus ls`: ask the broker for its registry and print it. */
#include <audiobus/audiobus.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab_mp.h"
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

/* msgpack -> JSON, bounded by the reader (depth and sizes). */
static json_t *s_to_json(ab_mp_reader_t *r, int depth)
{
    if (depth > AB_MP_MAX_DEPTH || r->pos >= r->end)
        return NULL;
    uint8_t tag = *r->pos;
    uint32_t count, len;
    const char *s;
    if ((tag >= 0x80 && tag <= 0x8f) || tag == 0xde || tag == 0xdf) {
        if (ab_mp_read_map(r, &count))
            return NULL;
        json_t *obj = json_object();
        for (uint32_t i = 0; i < count; i++) {
            char key[256];
            json_t *value;
            if (ab_mp_read_str_copy(r, key, sizeof key) || !(value = s_to_json(r, depth + 1))) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, key, value);
        }
        return obj;
    }
    if ((tag >= 0x90 && tag <= 0x9f) || tag == 0xdc || tag == 0xdd) {
        if (ab_mp_read_array(r, &count))
            return NULL;
        json_t *arr = json_array();
        for (uint32_t i = 0; i < count; i++) {
            json_t *value = s_to_json(r, depth + 1);
            if (!value) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, value);
        }
        return arr;
    }
    if (ab_mp_read_str(r, &s, &len) == 0)
        return json_stringn(s, len);
    if (ab_mp_read_nil(r))
        return json_null();
    bool b;
    if (ab_mp_read_bool(r, &b) == 0)
        return json_boolean(b);
    int64_t i;
    if (ab_mp_read_int(r, &i) == 0)
        return json_integer(i);
    double d;
    if (ab_mp_read_double(r, &d) == 0)
        return json_real(d);
    return NULL;
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
    ab_mp_reader_t r;
    ab_mp_reader_init(&r, reply, reply_len);
    json_t *root = s_to_json(&r, 0);
    free(reply);
    json_t *cmd = root ? json_object_get(root, "cmd") : NULL;
    if (!root || !json_is_string(cmd) || strcmp(json_string_value(cmd), "listing") != 0) {
        json_t *reason = root ? json_object_get(root, "reason") : NULL;
        snprintf(error, error_len, "the broker at %s sent no listing%s%s", broker, reason ? ": " : "",
                 reason ? json_string_value(reason) : "");
        json_decref(root);
        return AB_EIO;
    }
    *out = root;
    return 0;
}

static const char *s_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static long long s_int(json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

static void s_join(json_t *arr, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, "%s%s", i ? "," : "",
                                json_string_value(item) ? json_string_value(item) : "");
        if (len >= cap)
            break;
    }
}

/* The node's counters from its last heartbeat, on an indented line. */
static void s_print_stats(json_t *stats, long long heartbeat_ms_ago)
{
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "    heard %.1fs ago", (double)heartbeat_ms_ago / 1000.0);
    const char *key;
    json_t *value;
    json_object_foreach(stats, key, value)
    {
        if (len < sizeof line)
            len += (size_t)snprintf(line + len, sizeof line - len, "  %s %lld", key,
                                    (long long)json_integer_value(value));
    }
    printf("%s\n", line);
}

static void s_print(json_t *root)
{
    json_t *nodes = json_object_get(root, "nodes");
    json_t *streams = json_object_get(root, "streams");
    printf("%-24s %-9s %-16s %7s %-6s %8s  %s\n", "NODE", "ROLE", "HOST", "PID", "LINKED", "AGE", "STREAMS");
    size_t i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        char in[256], out[256], streams_text[600];
        s_join(json_object_get(node, "inputs"), in, sizeof in);
        s_join(json_object_get(node, "outputs"), out, sizeof out);
        snprintf(streams_text, sizeof streams_text, "%s%s%s%s", in[0] ? "<- " : "", in,
                 in[0] && out[0] ? "  " : "", out[0] ? "-> " : "");
        if (out[0])
            strncat(streams_text, out, sizeof streams_text - strlen(streams_text) - 1);
        printf("%-24s %-9s %-16s %7lld %-6s %7.1fs  %s\n", s_str(node, "name"), s_str(node, "role"),
               s_str(node, "host"), s_int(node, "pid"), json_is_true(json_object_get(node, "linked")) ? "yes" : "no",
               (double)s_int(node, "age_ms") / 1000.0, streams_text);
        s_print_stats(json_object_get(node, "stats"), s_int(node, "heartbeat_ms_ago"));
    }
    if (json_array_size(nodes) == 0)
        printf("(no nodes)\n");
    printf("\n%-24s %-8s %7s %3s %-6s %10s %6s %5s  %s\n", "STREAM", "TYPE", "RATE", "CH", "FORMAT", "BLOCKS", "GAPS",
           "BAD", "PUBLISHER");
    json_t *stream;
    json_array_foreach(streams, i, stream)
    {
        printf("%-24s %-8s %7lld %3lld %-6s %10lld %6lld %5lld  %s\n", s_str(stream, "stream"), s_str(stream, "type"),
               s_int(stream, "rate"), s_int(stream, "channels"), s_str(stream, "format"), s_int(stream, "blocks"),
               s_int(stream, "gaps"), s_int(stream, "bad"), s_str(stream, "publisher"));
    }
    if (json_array_size(streams) == 0)
        printf("(no streams)\n");
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
        default: rc = cli_usage_error("ls", "unexpected argument"); break;
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
        s_print(root);
    }
    json_decref(root);
    cli_free_args(argc, argv);
    cli_zmq_ctx_term();
    return 0;
}
