/* bench.h - `audiobus bench`: the load it drives, what one run measures, and
 * the parts that run it (bench_audiobus.c, bench_baseline.c), measure it
 * (bench_stats.c, bench_proc.c) and report it (bench_report.c). */
#ifndef AUDIOBUS_NODES_BENCH_H_INCLUDED
#define AUDIOBUS_NODES_BENCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audiobus/ab_processor.h"

#define BENCH_MAX_STREAMS 64
#define BENCH_MAX_PROCESSORS 64
#define BENCH_MAX_PAIRS 1024 /* stream-processor pairs */
#define BENCH_MAX_NODES (2 + BENCH_MAX_STREAMS + BENCH_MAX_PAIRS) /* + the broker or relay, and a JACK server */

typedef enum { BENCH_TCP, BENCH_IPC } bench_transport_t;

typedef struct {
    uint32_t streams;        /* recorders (audiobus) or publishers (baseline) */
    uint32_t processors;     /* per stream */
    bool all_streams;        /* each processor takes every stream: one process with an instance
                                per stream (a subscriber of each topic), not one a pair */
    uint32_t rate;           /* frames per second */
    uint32_t block_frames;   /* frames per block, one channel of f32 */
    double duration;         /* seconds each run lasts (audio per stream: duration x speed) */
    double speed;            /* recorders and publishers run this many times faster than real time */
    uint32_t runs;           /* of each kind, interleaved */
    bool baseline;
    bool capacity;           /* search the highest speed each kind keeps up with, without loss */
    bool jack;               /* recorders capture through PortAudio from a dummy JACK server */
    ab_processing_t processing; /* how processors run their plugin (process --inline, --queued) */
    bench_transport_t transport;
    const char *broker;      /* a running broker's control endpoint; NULL: start one */
    const char *log_level;   /* the children's */
    const char *exe;         /* this executable */
} bench_config_t;

/* One node's resources over a run. */
typedef struct {
    char role[16];           /* broker, recorder, processor, relay, publisher, subscriber */
    char name[48];
    double cpu_percent;      /* utime+stime over the run, % of one core; < 0 unknown */
    double rss_kb;           /* VmRSS at the end; < 0 unknown (threads of this process) */
} bench_node_t;

/* Latencies of one run, all receivers together, in microseconds. */
typedef struct {
    double p50, p99, p999, max;
} bench_latency_t;

typedef struct {
    bool baseline;
    bool ok;                 /* every node started and exited as it should */
    double speed;            /* of this run's load */
    double seconds;          /* wall time from the first node's start to the last exit */
    uint64_t expected;       /* blocks the receivers should get, summed */
    uint64_t received;       /* blocks they got, summed */
    uint64_t disorder;       /* blocks received out of order or twice */
    uint64_t gaps, gap_frames; /* holes the receivers were told of (audiobus: gap()) */
    double offered_per_s;    /* deliveries per second the load asks for */
    double deliveries_per_s; /* received over the span from the first arrival to the last */
    bench_latency_t latency;
    /* The recorders' own counts (--stats-file), over all of them. */
    uint64_t overrun_frames;     /* lost in capture because a sender fell behind */
    uint64_t callbacks;          /* PortAudio callbacks; 0 for the synthetic source */
    uint64_t callback_p999_ns;   /* the worst recorder's p99.9 (upper bound, buckets 12.5% wide) */
    uint64_t callback_max_ns;
    double block_period_ns;
    bench_node_t nodes[BENCH_MAX_NODES];
    uint32_t n_nodes;
} bench_run_t;

/* Blocks one stream carries over the configured duration and speed. */
uint64_t bench_blocks_per_stream(const bench_config_t *config);

/* How long the receivers of a run may take to start and link: 20 s, and
 * 50 ms more for each stream-processor pair (hundreds of processes start
 * slowly on 2 cores). */
int bench_start_timeout_ms(const bench_config_t *config);

/* Deliveries per second the load asks for: streams x processors x blocks
 * per second at the configured speed. */
double bench_offered_per_s(const bench_config_t *config);

/* A run kept up with its load: every node exited well, no block was lost,
 * and the receivers took blocks at least this fraction as fast as offered. */
#define BENCH_KEEP_PACE 0.95
bool bench_run_kept_up(const bench_run_t *run);

/* Run the load once through audiobus (child processes of exe) or through a
 * bare libzmq relay (threads of this process). Fills *run; returns 0, or an
 * AB_E... code after writing what failed into error. [control-thread] */
int bench_audiobus_run(const bench_config_t *config, bench_run_t *run, char *error, size_t error_len);
int bench_baseline_run(const bench_config_t *config, bench_run_t *run, char *error, size_t error_len);

/* The nodes of the baseline, run as `audiobus bench --baseline-node ROLE
 * ARGS...` (bench_baseline_node.c describes them). Returns the exit status. */
int bench_baseline_node(int argc, char **argv);

/* Latency samples of a run (ns), grown as receivers report. */
typedef struct {
    int64_t *values;
    size_t n, cap;
} bench_samples_t;

/* Append n values; false when out of memory. */
bool bench_samples_add(bench_samples_t *samples, const int64_t *values, size_t n);
/* Sort and summarise into microseconds; all zeros when empty. */
void bench_samples_summary(bench_samples_t *samples, bench_latency_t *out);
void bench_samples_free(bench_samples_t *samples);

/* Read every receiver's results file of a run, DIR/<file_prefix>sSpP.txt (written by
 * the bench_probe plugin or a baseline subscriber: a line of counts and
 * the first and last arrival times, then latencies in ns, one a line), and
 * fill run's expected, received, disorder, offered and deliveries per
 * second and latency. A missing or malformed file is said on stderr
 * (naming what, e.g. "processor") and makes the run not ok. */
void bench_results_collect(const bench_config_t *config, const char *dir, const char *file_prefix, const char *what,
                           bench_run_t *run);

/* CPU time (utime + stime) of a process (tid 0) or of one of its threads,
 * in clock ticks; -1 when it cannot be read. (bench_proc.c) */
long long bench_proc_cpu_ticks(pid_t pid, pid_t tid);
/* Resident memory of a process in kB (VmRSS); -1 when it cannot be read. */
double bench_proc_rss_kb(pid_t pid);
/* Ticks as % of one core over seconds. */
double bench_proc_cpu_percent(long long ticks, double seconds);

/* Print the table of all runs, or one JSON object. (bench_report.c) */
void bench_report_text(const bench_config_t *config, const bench_run_t *runs, size_t n_runs);
void bench_report_json(const bench_config_t *config, const bench_run_t *runs, size_t n_runs);
/* The same for a --capacity search: every step, then each kind's highest
 * speed that kept up, its deliveries/s, and the ratio. */
void bench_report_capacity_text(const bench_config_t *config, const bench_run_t *runs, size_t n_runs);
void bench_report_capacity_json(const bench_config_t *config, const bench_run_t *runs, size_t n_runs);

#endif
