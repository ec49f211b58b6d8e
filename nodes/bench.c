/* bench.c - `audiobus bench`: drive a load through audiobus and through a
 * bare libzmq relay, interleaved, and report latency, deliveries, loss,
 * CPU and memory of every node. */
#include <audiobus/audiobus.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "children.h"
#include "cli.h"
#include "commands.h"

#define BENCH_MAX_RUNS 50

enum {
    OPT_STREAMS = CLI_OPT_FIRST_SUBCOMMAND,
    OPT_PROCESSORS,
    OPT_RATE,
    OPT_BLOCK,
    OPT_DURATION,
    OPT_RUNS,
    OPT_BASELINE,
    OPT_NO_BASELINE,
    OPT_TRANSPORT,
    OPT_BROKER,
    OPT_JSON,
    OPT_QUICK,
    OPT_SPEED,
    OPT_CAPACITY,
    OPT_JACK,
    OPT_INLINE,
    OPT_QUEUED,
    OPT_ALL_STREAMS
};

static const struct option s_options[] = {
    {"streams", required_argument, NULL, OPT_STREAMS},
    {"processors", required_argument, NULL, OPT_PROCESSORS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"baseline", no_argument, NULL, OPT_BASELINE},
    {"no-baseline", no_argument, NULL, OPT_NO_BASELINE},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"broker", required_argument, NULL, OPT_BROKER},
    {"json", no_argument, NULL, OPT_JSON},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"capacity", no_argument, NULL, OPT_CAPACITY},
    {"jack", no_argument, NULL, OPT_JACK},
    {"inline", no_argument, NULL, OPT_INLINE},
    {"queued", no_argument, NULL, OPT_QUEUED},
    {"all-streams", no_argument, NULL, OPT_ALL_STREAMS},
    CLI_COMMON_OPTIONS,
    {NULL, 0, NULL, 0},
};

static void s_help(void)
{
    printf("usage: audiobus bench [--streams N] [--processors M] [--rate HZ] [--block FRAMES]\n"
           "                      [--duration S] [--runs K] [--speed X] [--capacity] [--jack]\n"
           "                      [--inline | --queued] [--all-streams]\n"
           "                      [--transport tcp|ipc] [--json] [--quick]\n\n"
           "Measures audiobus on this machine: starts a broker on free loopback ports (or uses\n"
           "--broker), N recorders of a synthetic signal paced in real time and M processors\n"
           "per stream hosting the bench_probe plugin, all child processes, and reports the\n"
           "latency from each block's capture time to the plugin's process() call (p50, p99,\n"
           "p99.9, max), deliveries per second, blocks lost (expected vs received, summed\n"
           "over processors), and each node's CPU (%% of one core over the run) and resident\n"
           "memory (VmRSS at the end, sampled every 0.5 s). The same load also goes through\n"
           "a bare libzmq relay (zmq_proxy XSUB->XPUB, one publisher per stream, M\n"
           "subscribers per stream, same block size, rate and transport), run for run\n"
           "interleaved with audiobus's runs; medians, spreads (min..max) and the ratios\n"
           "audiobus / baseline are reported.\n\n"
           "  --streams N          recorders, one stream each (default 1)\n"
           "  --processors M       processors per stream (default 1)\n"
           "  --rate HZ            sample rate (default 48000)\n"
           "  --block FRAMES       frames per block, mono f32 (default 256)\n"
           "  --duration S         seconds each run lasts (default 10; 3 with --capacity);\n"
           "                       each stream carries S x X seconds of audio\n"
           "  --runs K             runs of each kind (default 3)\n"
           "  --speed X            recorders and publishers send X times faster than real\n"
           "                       time (default 1); the start of the --capacity search\n"
           "  --capacity           find the highest speed each kind keeps up with: no block\n"
           "                       lost and blocks taken at >= %.0f%% of the offered rate;\n"
           "                       doubles the speed until a run fails, then bisects, kinds\n"
           "                       interleaved; reports each kind's deliveries/s there\n"
           "  --baseline           run the bare-relay baseline too (the default)\n"
           "  --no-baseline        audiobus runs only\n"
           "  --jack               recorders capture through PortAudio from a dummy JACK server\n"
           "                       that bench starts (period = --block; Debian's jackd2), and\n"
           "                       the table shows the audio callback's own time, measured\n"
           "                       inside it (p99.9, max, %% of the block period); real time only\n"
           "  --inline             processors always run the plugin on their receive thread\n"
           "                       (audiobus process --inline)\n"
           "  --queued             processors always hand blocks to their processing thread\n"
           "                       (audiobus process --queued): one wake-up more a block than\n"
           "                       the default, which runs a plugin that keeps up inline\n"
           "  --all-streams        each of the M processors takes all N streams (one process,\n"
           "                       a plugin instance per stream; the baseline: M subscribers\n"
           "                       of every topic) instead of one process per pair\n"
           "  --transport tcp|ipc  loopback TCP (default) or Unix domain sockets\n"
           "  --broker ENDPOINT    use this running broker instead of starting one\n"
           "  --json               print one JSON object with everything\n"
           "  --quick              1 stream x 2 processors, 2 s, 2 runs: proves the pipeline\n"
           "                       (options given as well override it)\n\n"
           "Exits 0 when every run completed without losing a block (with --capacity: when\n"
           "both kinds kept up at some speed), 1 otherwise.\n" CLI_COMMON_HELP,
           100 * BENCH_KEEP_PACE);
}

uint64_t bench_blocks_per_stream(const bench_config_t *config)
{
    uint64_t frames = (uint64_t)llround(config->duration * config->speed * config->rate);
    return (frames + config->block_frames - 1) / config->block_frames;
}

int bench_start_timeout_ms(const bench_config_t *config)
{
    return 20000 + 50 * (int)(config->streams * config->processors);
}

double bench_offered_per_s(const bench_config_t *config)
{
    return (double)config->streams * config->processors * config->rate * config->speed / config->block_frames;
}

/* Run the configured kinds, interleaved; returns how many runs completed
 * into runs. A run cut off (its nodes did not finish in time, or one
 * failed) is a result, counted with what it lost, and the runs go on;
 * bench stops at the first run that could not start. */
static size_t s_run_all(const bench_config_t *config, bench_run_t *runs, bool *all_ok)
{
    size_t n = 0;
    *all_ok = true;
    for (uint32_t k = 0; k < config->runs && !ab_signal_stop_requested(); k++)
        for (int kind = config->baseline ? 0 : 1; kind < 2 && !ab_signal_stop_requested(); kind++) {
            char error[1024] = "";
            bench_run_t *run = &runs[n];
            ab_log_info("run %u of %u: %s", k + 1, config->runs, kind == 0 ? "baseline" : "audiobus");
            int rc = kind == 0 ? bench_baseline_run(config, run, error, sizeof error)
                               : bench_audiobus_run(config, run, error, sizeof error);
            n++;
            if (rc) {
                fprintf(stderr, "audiobus bench: %s run %u: %s\n", kind == 0 ? "baseline" : "audiobus", k + 1,
                        error);
                *all_ok = false;
                if (rc != AB_ETIMEOUT || ab_signal_stop_requested())
                    return n;
                continue;
            }
            if (!run->ok || run->received != run->expected)
                *all_ok = false;
        }
    if (ab_signal_stop_requested())
        *all_ok = false; /* stopped between runs: not every run was made */
    return n;
}

/* The search of one kind's capacity: the highest speed that kept up and
 * the lowest that did not (0: none yet). */
typedef struct {
    double kept_up, failed;
    bool done;
} s_search_t;

/* The next speed to try, or 0 when the search is narrow enough. */
static double s_next_speed(s_search_t *search, double start)
{
    if (search->kept_up == 0 && search->failed == 0)
        return start;
    if (search->failed == 0)
        return search->kept_up * 2;
    if (search->kept_up == 0)
        return search->failed / 2 >= 0.01 ? search->failed / 2 : 0;
    if (search->failed / search->kept_up < 1.06)
        return 0;
    return sqrt(search->kept_up * search->failed);
}

/* --capacity: search each kind's highest speed, one run a step, the kinds
 * interleaved. Returns how many runs completed into runs. */
static size_t s_search_capacity(const bench_config_t *config, bench_run_t *runs, size_t max_runs, bool *all_ok)
{
    s_search_t search[2] = {{0, 0, !config->baseline}, {0, 0, false}};
    size_t n = 0;
    while (n + 2 <= max_runs && !(search[0].done && search[1].done) && !ab_signal_stop_requested())
        for (int kind = 0; kind < 2 && !ab_signal_stop_requested(); kind++) {
            if (search[kind].done)
                continue;
            bench_config_t step = *config;
            step.speed = s_next_speed(&search[kind], config->speed);
            if (step.speed == 0) {
                search[kind].done = true;
                continue;
            }
            char error[1024] = "";
            bench_run_t *run = &runs[n++];
            ab_log_info("capacity, %s: speed %.3g (%.0f deliveries/s offered)", kind == 0 ? "baseline" : "audiobus",
                        step.speed, bench_offered_per_s(&step));
            int rc = kind == 0 ? bench_baseline_run(&step, run, error, sizeof error)
                               : bench_audiobus_run(&step, run, error, sizeof error);
            run->speed = step.speed;
            if (rc && rc != AB_ETIMEOUT) { /* could not run at all: no point going on */
                fprintf(stderr, "audiobus bench: %s at speed %g: %s\n", kind == 0 ? "baseline" : "audiobus",
                        step.speed, error);
                *all_ok = false;
                return n;
            }
            if (bench_run_kept_up(run))
                search[kind].kept_up = step.speed;
            else
                search[kind].failed = step.speed;
        }
    *all_ok = search[1].kept_up > 0 && (!config->baseline || search[0].kept_up > 0) && !ab_signal_stop_requested();
    return n;
}

int cmd_bench(int argc_in, char **argv_in)
{
    if (argc_in >= 2 && strcmp(argv_in[1], "--baseline-node") == 0)
        return bench_baseline_node(argc_in, argv_in);
    int argc;
    char **argv;
    if (cli_merge_config("bench", s_options, false, argc_in, argv_in, &argc, &argv))
        return 2;
    bench_config_t config = {.streams = 1,
                             .processors = 1,
                             .rate = 48000,
                             .block_frames = 256,
                             .duration = 10,
                             .speed = 1,
                             .runs = 3,
                             .baseline = true,
                             .transport = BENCH_TCP,
                             .log_level = "warn"};
    bool json = false, quick = false;
    bool set_streams = false, set_processors = false, set_duration = false, set_runs = false;
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        if (opt == CLI_OPT_LOG_LEVEL)
            config.log_level = optarg;
        if (cli_common_option("bench", opt, optarg))
            continue;
        switch (opt) {
        case CLI_OPT_HELP: s_help(); cli_free_args(argc, argv); return 0;
        case OPT_BASELINE: config.baseline = true; break;
        case OPT_NO_BASELINE: config.baseline = false; break;
        case OPT_BROKER: config.broker = optarg; break;
        case OPT_JSON: json = true; break;
        case OPT_QUICK: quick = true; break;
        case OPT_CAPACITY: config.capacity = true; break;
        case OPT_JACK: config.jack = true; break;
        case OPT_INLINE:
        case OPT_QUEUED: rc = cli_processing_option("bench", opt == OPT_QUEUED, &config.processing); break;
        case OPT_ALL_STREAMS: config.all_streams = true; break;
        case OPT_SPEED:
            if (!cli_parse_double(optarg, 0.01, 100000, &config.speed))
                rc = cli_usage_error("bench", "bad --speed \"%s\" (expected 0.01..100000)", optarg);
            break;
        case OPT_TRANSPORT:
            if (strcmp(optarg, "tcp") == 0)
                config.transport = BENCH_TCP;
            else if (strcmp(optarg, "ipc") == 0)
                config.transport = BENCH_IPC;
            else
                rc = cli_usage_error("bench", "bad --transport \"%s\" (expected tcp or ipc)", optarg);
            break;
        case OPT_STREAMS:
            set_streams = true;
            if (!cli_parse_u32(optarg, 1, BENCH_MAX_STREAMS, &config.streams))
                rc = cli_usage_error("bench", "bad --streams \"%s\" (expected 1..%d)", optarg, BENCH_MAX_STREAMS);
            break;
        case OPT_PROCESSORS:
            set_processors = true;
            if (!cli_parse_u32(optarg, 1, BENCH_MAX_PROCESSORS, &config.processors))
                rc = cli_usage_error("bench", "bad --processors \"%s\" (expected 1..%d)", optarg,
                                     BENCH_MAX_PROCESSORS);
            break;
        case OPT_RATE:
            if (!cli_parse_u32(optarg, 1000, 768000, &config.rate))
                rc = cli_usage_error("bench", "bad --rate \"%s\" (expected 1000..768000 Hz)", optarg);
            break;
        case OPT_BLOCK:
            if (!cli_parse_u32(optarg, 1, 65536, &config.block_frames))
                rc = cli_usage_error("bench", "bad --block \"%s\" (expected 1..65536 frames)", optarg);
            break;
        case OPT_DURATION:
            set_duration = true;
            if (!cli_parse_double(optarg, 0.1, 86400, &config.duration))
                rc = cli_usage_error("bench", "bad --duration \"%s\" (expected 0.1..86400 seconds)", optarg);
            break;
        case OPT_RUNS:
            set_runs = true;
            if (!cli_parse_u32(optarg, 1, BENCH_MAX_RUNS / 2, &config.runs))
                rc = cli_usage_error("bench", "bad --runs \"%s\" (expected 1..%d)", optarg, BENCH_MAX_RUNS / 2);
            break;
        default: rc = cli_usage_error("bench", "unknown option or missing value (named on the line above)"); break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("bench", "unexpected argument \"%s\"", argv[optind]);
    if (rc == 0 && (uint64_t)config.streams * config.processors > BENCH_MAX_PAIRS)
        rc = cli_usage_error("bench", "%u streams x %u processors is more than %d stream-processor pairs",
                             config.streams, config.processors, BENCH_MAX_PAIRS);
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    if (rc == 0 && config.jack && (config.capacity || config.speed != 1))
        rc = cli_usage_error("bench", "--jack captures in real time: it goes with neither --speed nor --capacity");
    if (rc) {
        cli_free_args(argc, argv);
        return rc;
    }
    if (config.capacity && !set_duration)
        config.duration = 3;
    if (quick) {
        config.streams = set_streams ? config.streams : 1;
        config.processors = set_processors ? config.processors : 2;
        config.duration = set_duration ? config.duration : 2;
        config.runs = set_runs ? config.runs : 2;
    }
    char exe[PATH_MAX];
    if (!child_self_path(exe, sizeof exe)) {
        fprintf(stderr, "audiobus bench: cannot find its own executable (/proc/self/exe)\n");
        cli_free_args(argc, argv);
        return 1;
    }
    config.exe = exe;
    ab_signal_install();
    static bench_run_t runs[BENCH_MAX_RUNS]; /* large: kept off the stack */
    bool all_ok;
    if (config.capacity) {
        size_t n = s_search_capacity(&config, runs, BENCH_MAX_RUNS, &all_ok);
        if (json)
            bench_report_capacity_json(&config, runs, n);
        else
            bench_report_capacity_text(&config, runs, n);
    } else {
        size_t n = s_run_all(&config, runs, &all_ok);
        if (json)
            bench_report_json(&config, runs, n);
        else
            bench_report_text(&config, runs, n);
    }
    fflush(stdout);
    cli_free_args(argc, argv);
    return all_ok ? 0 : 1;
}
