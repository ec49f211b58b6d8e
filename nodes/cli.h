/* cli.h - what every audiobus subcommand shares: --config files merged with
 * the command line, --log-level/--log-format, usage errors. */
#ifndef AUDIOBUS_NODES_CLI_H_INCLUDED
#define AUDIOBUS_NODES_CLI_H_INCLUDED

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "audiobus/ab_processor.h"

/* Long-option values shared by every subcommand (beyond any char). */
enum {
    CLI_OPT_HELP = 'h',
    CLI_OPT_LOG_LEVEL = 1000,
    CLI_OPT_LOG_FORMAT,
    CLI_OPT_CONFIG,
    CLI_OPT_FIRST_SUBCOMMAND = 1100
};

#define CLI_COMMON_OPTIONS                                                                                   \
    {"help", no_argument, NULL, CLI_OPT_HELP}, {"log-level", required_argument, NULL, CLI_OPT_LOG_LEVEL},   \
        {"log-format", required_argument, NULL, CLI_OPT_LOG_FORMAT},                                         \
        {"config", required_argument, NULL, CLI_OPT_CONFIG}

#define CLI_COMMON_HELP                                                                                      \
    "  --config FILE        JSON file of options (keys are long option names; the\n"                      \
    "                       keys SERVER, PORT, logging_level, logging_format of a\n"                      \
    "                       server_info.json work too); the command line overrides it\n"                  \
    "  --log-level LEVEL    error, warn, info (default), debug, trace\n"                                  \
    "  --log-format FMT     line format, e.g. \"%%(asctime)s-%%(message)s\"\n"                                \
    "  -h, --help           this help\n"

/* Build the argument vector a subcommand parses: the options of a --config
 * file (if argv has one) first, then argv itself, so the command line wins.
 * SERVER/PORT become --broker (or --bind for the broker), logging_level and
 * logging_format --log-level/--log-format. Returns 0, or prints what is
 * wrong and returns 2. *out_argv is freed with cli_free_args(). */
int cli_merge_config(const char *command, const struct option *options, bool is_broker, int argc, char **argv,
                     int *out_argc, char ***out_argv);
void cli_free_args(int argc, char **argv);

/* Handle a common option; returns true when opt was one. Exits 2 on a bad
 * --log-level. */
bool cli_common_option(const char *command, int opt, const char *arg);

/* Print "audiobus CMD: message (try: audiobus CMD --help)" and return 2. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse numbers strictly: the whole string, within [min, max]. */
bool cli_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out);
bool cli_parse_double(const char *text, double min, double max, double *out);

/* --inline (queued false) or --queued (true), for process and bench:
 * sets *processing, which must be the default or already that mode (the
 * two exclude each other). Returns 0, or 2 after the usage error. */
int cli_processing_option(const char *command, bool queued, ab_processing_t *processing);

/* The ZeroMQ context of the process (created on first use). */
void *cli_zmq_ctx(void);
void cli_zmq_ctx_term(void);

#endif
