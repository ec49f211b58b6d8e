/* cli.c - config files, common options and number parsing for subcommands. */
#include "cli.h"

#include <audiobus/audiobus.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void *s_ctx;

void *cli_zmq_ctx(void)
{
    if (!s_ctx)
        s_ctx = zmq_ctx_new();
    return s_ctx;
}

void cli_zmq_ctx_term(void)
{
    if (s_ctx)
        zmq_ctx_term(s_ctx);
    s_ctx = NULL;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list args;
    fprintf(stderr, "audiobus %s: ", command);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, " (try: audiobus %s --help)\n", command);
    return 2;
}

int cli_processing_option(const char *command, bool queued, ab_processing_t *processing)
{
    ab_processing_t wanted = queued ? AB_PROCESSING_QUEUED : AB_PROCESSING_INLINE;
    if (*processing != AB_PROCESSING_ADAPTIVE && *processing != wanted)
        return cli_usage_error(command, "--inline and --queued exclude each other (give one)");
    *processing = wanted;
    return 0;
}

bool cli_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || text[0] == '-' || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool cli_parse_double(const char *text, double min, double max, double *out)
{
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_common_option(const char *command, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_LOG_LEVEL: {
        ab_log_level_t level;
        if (ab_log_level_parse(arg, &level)) {
            cli_usage_error(command, "unknown log level \"%s\" (expected error, warn, info, debug or trace)", arg);
            exit(2);
        }
        ab_log_set_level(level);
        return true;
    }
    case CLI_OPT_LOG_FORMAT:
        ab_log_set_format(arg);
        return true;
    case CLI_OPT_CONFIG: /* already merged */
        return true;
    default:
        return false;
    }
}

static const struct option *s_find(const struct option *options, const char *name)
{
    for (const struct option *o = options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Append "--name=value" (or "--name" for a flag) to args. */
static int s_push(char ***args, int *n, const char *name, const char *value)
{
    char **grown = realloc(*args, sizeof(char *) * (size_t)(*n + 2));
    if (!grown)
        return -1;
    *args = grown;
    size_t len = strlen(name) + (value ? strlen(value) : 0) + 4;
    char *arg = malloc(len);
    if (!arg)
        return -1;
    if (value)
        snprintf(arg, len, "--%s=%s", name, value);
    else
        snprintf(arg, len, "--%s", name);
    (*args)[(*n)++] = arg;
    (*args)[*n] = NULL;
    return 0;
}

/* One JSON value as option text; arrays give one option per element. */
static int s_push_json(const char *command, const char *path, char ***args, int *n, const struct option *opt,
                       json_t *value)
{
    char text[512];
    if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item)
        {
            if (s_push_json(command, path, args, n, opt, item))
                return -1;
        }
        return 0;
    }
    if (opt->has_arg == no_argument) {
        if (!json_is_boolean(value)) {
            fprintf(stderr, "audiobus %s: config %s: \"%s\" must be true or false\n", command, path, opt->name);
            return -1;
        }
        return json_is_true(value) ? s_push(args, n, opt->name, NULL) : 0;
    }
    if (json_is_string(value))
        snprintf(text, sizeof text, "%s", json_string_value(value));
    else if (json_is_integer(value))
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    else if (json_is_real(value))
        snprintf(text, sizeof text, "%.17g", json_real_value(value));
    else {
        fprintf(stderr, "audiobus %s: config %s: \"%s\" must be a string or a number\n", command, path, opt->name);
        return -1;
    }
    return s_push(args, n, opt->name, text);
}

/* The --config FILE given on the command line, if any. */
static const char *s_config_path(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        else if (strcmp(argv[i], "--") == 0)
            break;
    }
    return path;
}

int cli_merge_config(const char *command, const struct option *options, bool is_broker, int argc, char **argv,
                     int *out_argc, char ***out_argv)
{
    int n = 0;
    char **args = calloc(2, sizeof(char *));
    if (!args)
        return 2;
    args[n++] = strdup(argv[0]);
    const char *path = s_config_path(argc, argv);
    if (path) {
        json_error_t jerr;
        json_t *root = json_load_file(path, 0, &jerr);
        if (!root) {
            fprintf(stderr, "audiobus %s: cannot read config %s: %s (line %d)\n", command, path, jerr.text,
                    jerr.line);
            cli_free_args(n, args);
            return 2;
        }
        if (!json_is_object(root)) {
            fprintf(stderr, "audiobus %s: config %s must hold a JSON object\n", command, path);
            json_decref(root);
            cli_free_args(n, args);
            return 2;
        }
        const char *server = NULL;
        json_int_t port = 0;
        const char *key;
        json_t *value;
        int rc = 0;
        json_object_foreach(root, key, value)
        {
            if (rc)
                break;
            if (strcmp(key, "SERVER") == 0 && json_is_string(value)) {
                server = json_string_value(value);
            } else if (strcmp(key, "PORT") == 0 && json_is_integer(value)) {
                port = json_integer_value(value);
            } else if (strcmp(key, "logging_level") == 0) {
                rc = s_push_json(command, path, &args, &n, s_find(options, "log-level"), value);
            } else if (strcmp(key, "logging_format") == 0) {
                rc = s_push_json(command, path, &args, &n, s_find(options, "log-format"), value);
            } else if (strcmp(key, "HEADER") == 0 || strcmp(key, "FORMAT") == 0 ||
                       strcmp(key, "DISCONNECT_MSG") == 0) {
                /* framing settings of server_info.json; audiobus frames with ZeroMQ */
            } else {
                const struct option *opt = s_find(options, key);
                if (!opt || strcmp(key, "config") == 0 || strcmp(key, "help") == 0) {
                    fprintf(stderr, "audiobus %s: config %s: unknown key \"%s\" (keys are the long options of "
                                    "audiobus %s --help)\n",
                            command, path, key, command);
                    rc = -1;
                } else {
                    rc = s_push_json(command, path, &args, &n, opt, value);
                }
            }
        }
        if (!rc && (server || port)) {
            char endpoint[300];
            if (!port)
                port = 5550;
            snprintf(endpoint, sizeof endpoint, "tcp://%s:%lld", server ? server : (is_broker ? "*" : "localhost"),
                     (long long)port);
            rc = s_push(&args, &n, is_broker ? "bind" : "broker", endpoint);
        }
        json_decref(root);
        if (rc) {
            cli_free_args(n, args);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        char **grown = realloc(args, sizeof(char *) * (size_t)(n + 2));
        if (!grown) {
            cli_free_args(n, args);
            return 2;
        }
        args = grown;
        args[n++] = strdup(argv[i]);
        args[n] = NULL;
    }
    *out_argc = n;
    *out_argv = args;
    return 0;
}

void cli_free_args(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}
