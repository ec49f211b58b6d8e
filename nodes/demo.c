/* demo.c - `audiobus demo`: a broker, a recorder and two processors (level
 * meter, log-mel spectrogram) as separate processes, live, then a clean
 * shutdown. */
#include <audiobus/ab_source.h>
#include <audiobus/audiobus.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "children.h"
#include "cli.h"
#include "commands.h"
#include "listing.h"

enum { OPT_DURATION = CLI_OPT_FIRST_SUBCOMMAND, OPT_SOURCE };

static const struct option s_options[] = {
    {"duration", required_argument, NULL, OPT_DURATION},
    {"source", required_argument, NULL, OPT_SOURCE},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus demo [--duration SECONDS] [--source SPEC]\n\n"
           "Starts a broker, a recorder on the default input device (or, without one, the\n"
           "speech recording shipped with audiobus) and two processors, a level meter and a\n"
           "log-mel spectrogram, each a separate process; shows their output live, then\n"
           "shuts everything down cleanly.\n\n"
           "  --duration SECONDS   how long to record (default 10)\n"
           "  --source SPEC        what to record (see audiobus record --help)\n" CLI_COMMON_HELP);
}

/* The shipped speech recording, in the source tree or where it is installed. */
static const char *s_speech_file(void)
{
    static char path[PATH_MAX];
    const char *dirs[] = {AB_SOURCE_DATA_DIR, AB_DATA_INSTALL_DIR};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/speech.wav", dirs[i]);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

/* Both processors linked to the broker? */
static bool s_processors_linked(const char *broker)
{
    json_t *root = NULL;
    char error[256];
    if (listing_fetch(broker, 1000, &root, error, sizeof error))
        return false;
    int linked = 0;
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(root, "nodes"), i, node)
    {
        if (json_is_true(json_object_get(node, "linked")))
            linked++;
    }
    json_decref(root);
    return linked >= 2;
}

int cmd_demo(int argc_in, char **argv_in)
{
    int argc;
    char **argv;
    if (cli_merge_config("demo", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    double duration = 10;
    const char *source = NULL;
    const char *log_level = "info";
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (opt == CLI_OPT_LOG_LEVEL)
            log_level = optarg;
        if (cli_common_option("demo", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_SOURCE: source = optarg; break;
        case OPT_DURATION:
            if (!cli_parse_double(optarg, 0.1, 86400, &duration))
                rc = cli_usage_error("demo", "bad --duration \"%s\" (expected 0.1..86400 seconds)", optarg);
            break;
        default: rc = cli_usage_error("demo", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("demo", "unexpected argument \"%s\"", argv[optind]);
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    ab_signal_install();

    if (!source) {
        if (ab_source_has_default_input()) {
            source = "portaudio";
            printf("audiobus demo: recording the default input device\n");
        } else if ((source = s_speech_file()) != NULL) {
            static char spec[PATH_MAX + 8];
            snprintf(spec, sizeof spec, "file:%s", source);
            printf("audiobus demo: no input device found; playing the shipped speech recording %s instead\n", source);
            source = spec;
        } else {
            fprintf(stderr, "audiobus demo: no input device and no speech.wav (looked in %s and %s); "
                            "give --source synth:sine or --source file:PATH\n",
                    AB_SOURCE_DATA_DIR, AB_DATA_INSTALL_DIR);
            cli_free_args(argc, argv);
            return 1;
        }
    }
    fflush(stdout);

    char exe[PATH_MAX];
    if (!child_self_path(exe, sizeof exe)) {
        fprintf(stderr, "audiobus demo: cannot find its own executable\n");
        cli_free_args(argc, argv);
        return 1;
    }
    char dir[] = "/tmp/audiobus-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "audiobus demo: cannot create a temporary directory: %s\n", strerror(errno));
        cli_free_args(argc, argv);
        return 1;
    }
    char ready[PATH_MAX], broker[512], duration_text[32];
    snprintf(ready, sizeof ready, "%s/broker.ready", dir);
    snprintf(duration_text, sizeof duration_text, "%g", duration);
    const char *format = "%(asctime)s %(name)s: %(message)s";

    char *broker_argv[] = {exe, "broker", "--bind", "tcp://127.0.0.1:*", "--ready-file", ready, "--log-level",
                           (char *)log_level, "--log-format", (char *)format, NULL};
    pid_t broker_pid = child_start("demo", exe, broker_argv, false);
    pid_t level_pid = -1, logmel_pid = -1, recorder_pid = -1;
    int status = 1;
    for (int waited = 0; broker_pid > 0 && !child_read_line(ready, broker, sizeof broker); waited += 20) {
        if (waited > 5000 || child_wait(broker_pid, 0) >= 0) {
            fprintf(stderr, "audiobus demo: the broker did not start\n");
            goto shutdown;
        }
        ab_clock_sleep_ms(20);
    }
    if (broker_pid <= 0)
        goto shutdown;

    char *level_argv[] = {exe, "process", "--broker", broker, "--stream", "demo", "--plugin", "level", "--name",
                          "level", "--exit-at-end", "--log-level", (char *)log_level, "--log-format", (char *)format,
                          NULL};
    char *logmel_argv[] = {exe, "process", "--broker", broker, "--stream", "demo", "--plugin", "logmel", "--name",
                           "logmel", "--exit-at-end", "--log-level", (char *)log_level, "--log-format",
                           (char *)format, NULL};
    level_pid = child_start("demo", exe, level_argv, false);
    logmel_pid = child_start("demo", exe, logmel_argv, false);
    for (int waited = 0; !s_processors_linked(broker); waited += 50) {
        if (waited > 10000 || child_wait(level_pid, 0) >= 0 || child_wait(logmel_pid, 0) >= 0) {
            fprintf(stderr, "audiobus demo: the processors did not start\n");
            goto shutdown;
        }
        ab_clock_sleep_ms(50);
    }
    char *record_argv[] = {exe, "record", "--broker", broker, "--stream", "demo", "--source", (char *)source,
                           "--duration", duration_text, "--name", "recorder", "--log-level", (char *)log_level,
                           "--log-format", (char *)format, NULL};
    recorder_pid = child_start("demo", exe, record_argv, false);
    int recorder_status = -1;
    while (recorder_pid > 0 && (recorder_status = child_wait(recorder_pid, 100)) < 0) {
        if (ab_signal_stop_requested()) {
            recorder_status = child_stop("demo", recorder_pid, "the recorder");
            break;
        }
    }
    /* The processors exit at the stream's end; give them a moment. */
    int level_status = child_wait(level_pid, 3000);
    int logmel_status = child_wait(logmel_pid, 3000);
    if (level_status < 0)
        level_status = child_stop("demo", level_pid, "the level processor");
    if (logmel_status < 0)
        logmel_status = child_stop("demo", logmel_pid, "the logmel processor");
    level_pid = logmel_pid = recorder_pid = -1;
    status = recorder_status == 0 && level_status == 0 && logmel_status == 0 ? 0 : 1;
    if (status)
        fprintf(stderr, "audiobus demo: exit statuses: recorder %d, level %d, logmel %d\n", recorder_status,
                level_status, logmel_status);
shutdown:
    child_stop("demo", recorder_pid, "the recorder");
    child_stop("demo", level_pid, "the level processor");
    child_stop("demo", logmel_pid, "the logmel processor");
    if (child_stop("demo", broker_pid, "the broker") != 0)
        status = 1;
    unlink(ready);
    rmdir(dir);
    if (status == 0)
        printf("audiobus demo: done; every node shut down cleanly\n");
    cli_free_args(argc, argv);
    return status;
}
