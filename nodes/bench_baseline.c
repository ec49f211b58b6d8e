/* bench_baseline.c - one bench run through a bare libzmq relay: zmq_proxy
 * (XSUB -> XPUB), one publisher per stream sending blocks of the same size
 * at the same pace as a recorder, and as many subscribers per stream as
 * there are processors (or, --all-streams, that many subscribers of every
 * stream), each a child process on the same transport. */
#include <audiobus/audiobus.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_children.h"
#include "children.h"

typedef struct {
    const bench_config_t *config;
    char dir[64];
    char in[512], out[512];
    bench_children_t children;
    bench_child_t *relay;
} s_run_t;

static int s_start_relay(s_run_t *self, char *error, size_t error_len)
{
    char ready[PATH_MAX], in[PATH_MAX], out[PATH_MAX];
    snprintf(ready, sizeof ready, "%s/relay.ready", self->dir);
    if (self->config->transport == BENCH_IPC) {
        snprintf(in, sizeof in, "ipc://%s/relay.in", self->dir);
        snprintf(out, sizeof out, "ipc://%s/relay.out", self->dir);
    } else {
        snprintf(in, sizeof in, "tcp://127.0.0.1:*");
        snprintf(out, sizeof out, "tcp://127.0.0.1:*");
    }
    char *argv[] = {(char *)self->config->exe, "bench", "--baseline-node", "relay", ready, in, out, NULL};
    self->relay = bench_children_start(&self->children, "relay", "relay", self->config->exe, argv);
    if (!self->relay) {
        snprintf(error, error_len, "cannot start the baseline relay");
        return AB_EIO;
    }
    char line[1100];
    for (int waited = 0; !child_read_line(ready, line, sizeof line); waited += 20) {
        bench_children_poll(&self->children, 0);
        if (waited > 10000 || self->relay->pid <= 0) {
            snprintf(error, error_len, "the baseline relay did not come up within 10 s (its messages are above)");
            return AB_EIO;
        }
        ab_clock_sleep_ms(20);
    }
    if (sscanf(line, "%511s %511s", self->in, self->out) != 2) {
        snprintf(error, error_len, "the baseline relay wrote a bad ready file: \"%s\"", line);
        return AB_EIO;
    }
    return 0;
}

static int s_start_nodes(s_run_t *self, char *error, size_t error_len)
{
    const bench_config_t *config = self->config;
    char max_blocks[32], rate[32], block[32], blocks[32], go[PATH_MAX];
    uint64_t per_stream = bench_blocks_per_stream(config);
    snprintf(max_blocks, sizeof max_blocks, "%llu", (unsigned long long)per_stream + 16);
    snprintf(rate, sizeof rate, "%.17g", config->rate * config->speed); /* the pace, frames per second */
    snprintf(block, sizeof block, "%u", config->block_frames);
    snprintf(blocks, sizeof blocks, "%llu", (unsigned long long)per_stream);
    snprintf(go, sizeof go, "%s/go", self->dir);
    /* A subscriber per pair, or (--all-streams) one per processor taking
     * every topic; each says it receives through its ready file. */
    uint32_t n_subscribers = config->all_streams ? config->processors : config->streams * config->processors;
    for (uint32_t i = 0; i < n_subscribers; i++) {
        uint32_t p = i % config->processors, first = config->all_streams ? 0 : i / config->processors;
        uint32_t last = config->all_streams ? config->streams - 1 : first;
        static char topics[BENCH_MAX_STREAMS * 16], paths[BENCH_MAX_STREAMS * (PATH_MAX / 16)];
        char name[48], ready[PATH_MAX];
        topics[0] = paths[0] = '\0';
        for (uint32_t s = first; s <= last; s++) {
            size_t t = strlen(topics), q = strlen(paths);
            /* "s1." is no prefix of "s10." */
            snprintf(topics + t, sizeof topics - t, "%ss%u.", s > first ? "," : "", s);
            snprintf(paths + q, sizeof paths - q, "%s%s/s%up%u.txt", s > first ? "," : "", self->dir, s, p);
        }
        if (config->all_streams)
            snprintf(name, sizeof name, "sub-p%u", p);
        else
            snprintf(name, sizeof name, "sub-s%up%u", first, p);
        snprintf(ready, sizeof ready, "%s/sub%u.ready", self->dir, i);
        char *argv[] = {(char *)config->exe, "bench", "--baseline-node", "subscriber", self->out, topics, paths,
                        max_blocks, ready, NULL};
        if (!bench_children_start(&self->children, "subscriber", name, config->exe, argv)) {
            snprintf(error, error_len, "cannot start baseline subscriber %s", name);
            return AB_EIO;
        }
    }
    bench_children_mark_start(&self->children);
    for (uint32_t s = 0; s < config->streams; s++) {
        char topic[32], name[48];
        snprintf(topic, sizeof topic, "s%u.", s); /* "s1." is no prefix of "s10." */
        snprintf(name, sizeof name, "pub-s%u", s);
        char *argv[] = {(char *)config->exe, "bench", "--baseline-node", "publisher", self->in, topic, rate, block,
                        blocks, go, NULL};
        if (!bench_children_start(&self->children, "publisher", name, config->exe, argv)) {
            snprintf(error, error_len, "cannot start baseline publisher %s", name);
            return AB_EIO;
        }
    }
    /* Every subscriber receives: let the publishers go. */
    for (int waited = 0;; waited += 20) {
        uint32_t ready = 0;
        for (uint32_t i = 0; i < n_subscribers; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/sub%u.ready", self->dir, i);
            ready += access(path, F_OK) == 0;
        }
        if (ready == n_subscribers)
            break;
        bench_children_poll(&self->children, 0);
        for (uint32_t i = 0; i < self->children.n; i++)
            if (self->children.nodes[i].pid <= 0) {
                snprintf(error, error_len, "baseline %s exited (status %d) at start: its messages above say why",
                         self->children.nodes[i].name, self->children.nodes[i].status);
                return AB_EIO;
            }
        if (waited > bench_start_timeout_ms(config)) {
            snprintf(error, error_len, "%u of the %u baseline subscribers received within %d s", ready,
                     n_subscribers, bench_start_timeout_ms(config) / 1000);
            return AB_ETIMEOUT;
        }
        ab_clock_sleep_ms(20);
    }
    FILE *f = fopen(go, "w");
    if (!f) {
        snprintf(error, error_len, "cannot create %s", go);
        return AB_EIO;
    }
    fclose(f);
    return 0;
}

int bench_baseline_run(const bench_config_t *config, bench_run_t *run, char *error, size_t error_len)
{
    static s_run_t self; /* large: kept off the stack */
    memset(&self, 0, sizeof self);
    memset(run, 0, sizeof *run);
    run->baseline = true;
    self.config = config;
    snprintf(self.dir, sizeof self.dir, "/tmp/audiobus-bench-XXXXXX");
    if (!mkdtemp(self.dir)) {
        snprintf(error, error_len, "cannot create a temporary directory: %s", strerror(errno));
        return AB_EIO;
    }
    int rc = s_start_relay(&self, error, error_len);
    int64_t start = ab_clock_mono_ns();
    if (rc == 0)
        rc = s_start_nodes(&self, error, error_len);
    if (rc == 0) {
        const bench_child_t *services[] = {self.relay};
        rc = bench_children_wait_finished(&self.children, services, 1, config->duration + 30, error, error_len);
    }
    double seconds = (double)(ab_clock_mono_ns() - start) / 1e9;
    const bench_child_t *services[] = {self.relay};
    bench_children_stop_all(&self.children, services, 1);
    run->ok = rc == 0;
    for (uint32_t i = 0; i < self.children.n; i++)
        if (self.children.nodes[i].status != 0 && &self.children.nodes[i] != self.relay) {
            run->ok = false;
            fprintf(stderr, "audiobus bench: baseline %s exited with status %d\n", self.children.nodes[i].name,
                    self.children.nodes[i].status);
        }
    bench_children_report(&self.children, seconds, run);
    bench_results_collect(config, self.dir, "", "baseline subscriber", run);
    run->seconds = seconds;
    bench_children_remove_dir(self.dir);
    return rc;
}
