/* bench_children.c - the nodes of a bench run: CPU from /proc and wait4,
 * memory from /proc. */
#include "bench_children.h"

#include <audiobus/audiobus.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "children.h"

bench_child_t *bench_children_start(bench_children_t *self, const char *role, const char *name, const char *exe,
                                    char *const argv[])
{
    if (self->n == BENCH_MAX_NODES)
        return NULL;
    pid_t pid = child_start("bench", exe, argv, true);
    if (pid <= 0)
        return NULL;
    bench_child_t *node = &self->nodes[self->n++];
    memset(node, 0, sizeof *node);
    node->pid = pid;
    node->status = -1;
    node->rss_kb = -1;
    node->ticks_start = 0;
    node->ticks_end = -1;
    snprintf(node->role, sizeof node->role, "%s", role);
    snprintf(node->name, sizeof node->name, "%s", name);
    return node;
}

void bench_children_mark_start(bench_children_t *self)
{
    self->measuring = true;
    for (uint32_t i = 0; i < self->n; i++)
        if (self->nodes[i].pid > 0) {
            long long ticks = bench_proc_cpu_ticks(self->nodes[i].pid, 0);
            self->nodes[i].ticks_start = ticks > 0 ? ticks : 0;
        }
}

static void s_reaped(bench_child_t *node, int status, const struct rusage *usage)
{
    long hz = sysconf(_SC_CLK_TCK);
    double seconds = (double)usage->ru_utime.tv_sec + usage->ru_utime.tv_usec / 1e6 + (double)usage->ru_stime.tv_sec +
                     usage->ru_stime.tv_usec / 1e6;
    if (!node->window_noted)
        node->ticks_end = (long long)(seconds * (double)hz + 0.5);
    node->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    node->pid = -1;
}

/* How often a running node's memory is sampled. Bench polls every 20 ms
 * to notice the end of a run; reading every node's memory as often took
 * 2% of a core beside the load it measures, and a node's memory moves
 * slowly (bench reports its last value, and notes it again when it stops
 * the node). */
#define BENCH_MEMORY_SAMPLE_MS 500

void bench_children_poll(bench_children_t *self, int ms)
{
    if (ms > 0)
        ab_clock_sleep_ms(ms);
    int64_t now = ab_clock_mono_ns();
    bool sample_memory = now - self->memory_sampled_ns >= BENCH_MEMORY_SAMPLE_MS * 1000000LL;
    if (sample_memory)
        self->memory_sampled_ns = now;
    for (uint32_t i = 0; i < self->n; i++) {
        bench_child_t *node = &self->nodes[i];
        if (node->pid <= 0)
            continue;
        double rss = sample_memory ? bench_proc_rss_kb(node->pid) : -1;
        if (rss > 0) /* a zombie has none */
            node->rss_kb = rss;
        int status;
        struct rusage usage;
        if (wait4(node->pid, &status, WNOHANG, &usage) == node->pid)
            s_reaped(node, status, &usage);
    }
}

static bool s_is_service(const bench_child_t *node, const bench_child_t *const *services, uint32_t n_services)
{
    for (uint32_t i = 0; i < n_services; i++)
        if (services[i] == node)
            return true;
    return false;
}

int bench_children_wait_finished(bench_children_t *self, const bench_child_t *const *services, uint32_t n_services,
                                 double seconds, char *error, size_t error_len)
{
    int64_t deadline = ab_clock_mono_ns() + (int64_t)(seconds * 1e9);
    for (;;) {
        bench_children_poll(self, 20);
        const bench_child_t *running = NULL;
        uint32_t n_running = 0;
        for (uint32_t i = 0; i < self->n; i++) {
            const bench_child_t *node = &self->nodes[i];
            if (node->status > 0) {
                snprintf(error, error_len, "%s %s exited with status %d: its messages above say why", node->role,
                         node->name, node->status);
                return AB_ETIMEOUT; /* the run failed; a capacity search goes on */
            }
            if (node->pid > 0 && !s_is_service(node, services, n_services)) {
                running = node;
                n_running++;
            }
        }
        if (!running)
            return 0;
        if (ab_signal_stop_requested()) {
            snprintf(error, error_len, "bench was stopped");
            return AB_ETIMEOUT;
        }
        if (ab_clock_mono_ns() > deadline) {
            snprintf(error, error_len,
                     "%u node(s), %s %s among them, did not finish within %.0f s: the load is beyond this "
                     "machine (what they did not get is counted as lost; a lower --speed, or fewer --streams "
                     "or --processors, stays within it)",
                     n_running, running->role, running->name, seconds);
            return AB_ETIMEOUT;
        }
    }
}

/* The measured window ends for a running node: note its memory and CPU
 * ticks, so that its CPU is what it used while measured, not while it shut
 * down. */
static void s_note_window_end(bench_child_t *node)
{
    double rss = bench_proc_rss_kb(node->pid);
    if (rss > 0)
        node->rss_kb = rss;
    long long ticks = bench_proc_cpu_ticks(node->pid, 0);
    if (ticks >= 0) {
        node->ticks_end = ticks;
        node->window_noted = true;
    }
}

/* Stop the running nodes of set at once: SIGTERM to all, one grace of 5 s
 * for all, then SIGKILL to the rest (so many nodes that wait for something
 * gone take 5 s together, not 5 s each). */
static void s_stop_set(bench_child_t *const *set, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (set[i]->pid > 0)
            kill(set[i]->pid, SIGTERM);
    for (int waited = 0; waited < 7000; waited += 20) {
        uint32_t running = 0;
        for (uint32_t i = 0; i < n; i++) {
            bench_child_t *node = set[i];
            if (node->pid <= 0)
                continue;
            int status;
            struct rusage usage;
            if (wait4(node->pid, &status, WNOHANG, &usage) == node->pid) {
                s_reaped(node, status, &usage);
                continue;
            }
            if (waited == 5000) {
                fprintf(stderr,
                        "audiobus bench: %s did not stop within 5 s of SIGTERM; killing it (its messages above say "
                        "what it was waiting for)\n",
                        node->name);
                kill(node->pid, SIGKILL);
            }
            running++;
        }
        if (running == 0)
            return;
        ab_clock_sleep_ms(20);
    }
}

void bench_children_stop_all(bench_children_t *self, const bench_child_t *const *services, uint32_t n_services)
{
    bench_child_t *nodes[BENCH_MAX_NODES], *last[BENCH_MAX_NODES];
    uint32_t n_nodes = 0, n_last = 0;
    for (uint32_t i = 0; i < self->n; i++) {
        bench_child_t *node = &self->nodes[i];
        if (node->pid <= 0)
            continue;
        s_note_window_end(node);
        if (s_is_service(node, services, n_services))
            last[n_last++] = node;
        else
            nodes[n_nodes++] = node;
    }
    s_stop_set(nodes, n_nodes);
    s_stop_set(last, n_last);
}

void bench_children_report(const bench_children_t *self, double seconds, bench_run_t *run)
{
    for (uint32_t i = 0; i < self->n && run->n_nodes < BENCH_MAX_NODES; i++) {
        const bench_child_t *node = &self->nodes[i];
        bench_node_t *out = &run->nodes[run->n_nodes++];
        snprintf(out->role, sizeof out->role, "%s", node->role);
        snprintf(out->name, sizeof out->name, "%s", node->name);
        bool measured = self->measuring && node->ticks_end >= 0;
        out->cpu_percent = measured ? bench_proc_cpu_percent(node->ticks_end - node->ticks_start, seconds) : -1;
        out->rss_kb = node->rss_kb;
    }
}

void bench_children_remove_dir(const char *dir)
{
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (unlink(path) != 0)
            fprintf(stderr, "audiobus bench: cannot remove %s: %s\n", path, strerror(errno));
    }
    closedir(d);
    if (rmdir(dir) != 0)
        fprintf(stderr, "audiobus bench: cannot remove %s: %s\n", dir, strerror(errno));
}
