/* bench_children.h - the nodes of one bench run as child processes: start
 * them, follow their CPU time and resident memory, reap them. */
#ifndef AUDIOBUS_NODES_BENCH_CHILDREN_H_INCLUDED
#define AUDIOBUS_NODES_BENCH_CHILDREN_H_INCLUDED

#include "bench.h"

typedef struct {
    pid_t pid;              /* -1: not running (never started, or reaped) */
    char role[16], name[48];
    long long ticks_start;  /* CPU ticks when the measured window began */
    long long ticks_end;    /* at exit (from wait4) or when the window ended */
    double rss_kb;          /* the last VmRSS seen */
    int status;             /* exit status (128 + signal); -1 while running */
    bool window_noted;      /* the window ended while it ran: ticks_end was noted then, not at exit */
} bench_child_t;

typedef struct {
    bench_child_t nodes[BENCH_MAX_NODES];
    uint32_t n;
    bool measuring; /* bench_children_mark_start() ran: CPU figures mean something */
    int64_t memory_sampled_ns; /* when bench_children_poll() last sampled memory */
} bench_children_t;

/* Start exe with argv as a node (its stdout goes to our stderr). Returns
 * the node, or NULL when it could not start (said on stderr). */
bench_child_t *bench_children_start(bench_children_t *self, const char *role, const char *name, const char *exe,
                                    char *const argv[]);

/* Begin the measured window: note every running node's CPU ticks. Without
 * it (a run that failed while starting) no node's CPU is reported. */
void bench_children_mark_start(bench_children_t *self);

/* Reap the nodes that exited (noting their CPU from wait4), and sample
 * every running node's memory if the last sample is 0.5 s old. Sleeps up
 * to ms first. */
void bench_children_poll(bench_children_t *self, int ms);

/* Wait up to seconds for every node but the services (n_services of them,
 * NULL entries allowed: the relay, broker, JACK server that run until
 * stopped) to exit on its own. Returns 0, or AB_ETIMEOUT (the run failed,
 * which a capacity search counts as a step not kept up with) after writing
 * into error which node failed, which did not finish, or that bench was
 * stopped (SIGINT). */
int bench_children_wait_finished(bench_children_t *self, const bench_child_t *const *services, uint32_t n_services,
                                 double seconds, char *error, size_t error_len);

/* Stop every node still running: first note each one's CPU ticks and
 * memory (the measured window ends here), then stop the nodes all at once
 * (SIGTERM, and SIGKILL to those still running 5 s later), then the
 * services the same way (n_services, NULL entries allowed: the broker,
 * relay or JACK server), so that nodes stopped in the middle of a run can
 * still tell the broker they leave. Takes at most ~7 s for the nodes and
 * ~7 s for the services, whatever their number. */
void bench_children_stop_all(bench_children_t *self, const bench_child_t *const *services, uint32_t n_services);

/* Copy the nodes' figures into run over a window of seconds. */
void bench_children_report(const bench_children_t *self, double seconds, bench_run_t *run);

/* Remove a run's directory of files (results, ready files, sockets) and
 * the directory itself; says on stderr what it could not remove. */
void bench_children_remove_dir(const char *dir);

#endif
