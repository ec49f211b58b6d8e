/* bench_audiobus.c - one bench run through audiobus: a broker (or the one
 * given), N recorders of a synthetic signal and M processors per stream
 * (or, --all-streams, M processors taking every stream) hosting the
 * bench_probe plugin, all child processes of this executable. */
#include <audiobus/audiobus.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_children.h"
#include "children.h"
#include "listing.h"

/* An argument vector of at most 39 entries, NULL-terminated. */
typedef struct {
    char *argv[40];
    int n;
} s_args_t;

static void s_add(s_args_t *args, const char *name, const char *value)
{
    if (args->n + 2 < (int)(sizeof args->argv / sizeof args->argv[0])) {
        args->argv[args->n++] = (char *)name;
        if (value)
            args->argv[args->n++] = (char *)value;
        args->argv[args->n] = NULL;
    }
}

typedef struct {
    const bench_config_t *config;
    char dir[64];
    char prefix[48];   /* of every node and stream name of this run */
    char broker[512];
    bench_children_t children;
    bench_child_t *broker_node;
    bench_child_t *jack_node;
} s_run_t;

/* True when `jack_lsp -s NAME` lists the dummy server's capture port. */
static bool s_jack_ready(const char *name)
{
    char command[256], line[256];
    snprintf(command, sizeof command, "jack_lsp -s '%s' 2>/dev/null", name);
    FILE *p = popen(command, "r");
    if (!p)
        return false;
    bool ready = false;
    while (fgets(line, sizeof line, p))
        ready = ready || strncmp(line, "system:capture_1", 16) == 0;
    pclose(p);
    return ready;
}

/* --jack: a dummy JACK server of this run's own (named after it, period =
 * the block), which paces capture in real time; every node started after
 * this finds it through JACK_DEFAULT_SERVER. */
static int s_start_jack(s_run_t *self, char *error, size_t error_len)
{
    char name[64], command[PATH_MAX + 256];
    snprintf(name, sizeof name, "%sjack", self->prefix);
    setenv("JACK_DEFAULT_SERVER", name, 1);
    setenv("JACK_NO_AUDIO_RESERVATION", "1", 1);
    snprintf(command, sizeof command, "exec jackd -n '%s' -d dummy -r %u -p %u >'%s/jackd.log' 2>&1", name,
             self->config->rate, self->config->block_frames, self->dir);
    char *argv[] = {"sh", "-c", command, NULL};
    self->jack_node = bench_children_start(&self->children, "jack", "jackd", "/bin/sh", argv);
    for (int waited = 0; self->jack_node && !s_jack_ready(name); waited += 100) {
        bench_children_poll(&self->children, 0);
        if (waited > 10000 || self->jack_node->pid <= 0) {
            snprintf(error, error_len,
                     "the dummy JACK server did not start within 10 s (is Debian's jackd2 installed? see %s/jackd.log)",
                     self->dir);
            return AB_EIO;
        }
        ab_clock_sleep_ms(100);
    }
    return self->jack_node ? 0 : AB_EIO;
}

static int s_start_broker(s_run_t *self, char *error, size_t error_len)
{
    if (self->config->broker) {
        snprintf(self->broker, sizeof self->broker, "%s", self->config->broker);
        return 0;
    }
    char ready[PATH_MAX], bind[PATH_MAX];
    snprintf(ready, sizeof ready, "%s/broker.ready", self->dir);
    if (self->config->transport == BENCH_IPC)
        snprintf(bind, sizeof bind, "ipc://%s/broker", self->dir);
    else
        snprintf(bind, sizeof bind, "tcp://127.0.0.1:*");
    s_args_t args = {.n = 0};
    s_add(&args, self->config->exe, "broker");
    s_add(&args, "--bind", bind);
    s_add(&args, "--ready-file", ready);
    s_add(&args, "--log-level", self->config->log_level);
    self->broker_node = bench_children_start(&self->children, "broker", "broker", self->config->exe, args.argv);
    if (!self->broker_node) {
        snprintf(error, error_len, "cannot start a broker");
        return AB_EIO;
    }
    for (int waited = 0; !child_read_line(ready, self->broker, sizeof self->broker); waited += 20) {
        bench_children_poll(&self->children, 0);
        if (waited > 10000 || self->broker_node->pid <= 0) {
            snprintf(error, error_len, "the broker did not come up within 10 s (its messages are above)");
            return AB_EIO;
        }
        ab_clock_sleep_ms(20);
    }
    return 0;
}

/* How many of this run's processors the broker lists as linked. */
static uint32_t s_linked(s_run_t *self)
{
    json_t *root = NULL;
    char error[256];
    if (listing_fetch(self->broker, 1000, &root, error, sizeof error))
        return 0;
    uint32_t linked = 0;
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(root, "nodes"), i, node)
    {
        const char *name = json_string_value(json_object_get(node, "name"));
        if (name && strncmp(name, self->prefix, strlen(self->prefix)) == 0 &&
            json_is_true(json_object_get(node, "linked")))
            linked++;
    }
    json_decref(root);
    return linked;
}

/* Start one processor: bench_probe on streams, named name, writing its
 * results to path (a --param value). */
static int s_start_processor(s_run_t *self, const char *streams, const char *name, const char *path,
                             const char *max_blocks, char *error, size_t error_len)
{
    const bench_config_t *config = self->config;
    s_args_t args = {.n = 0};
    s_add(&args, config->exe, "process");
    s_add(&args, "--broker", self->broker);
    s_add(&args, "--stream", streams);
    s_add(&args, "--plugin", "bench_probe");
    s_add(&args, "--param", path);
    s_add(&args, "--param", max_blocks);
    s_add(&args, "--name", name);
    s_add(&args, "--exit-at-end", NULL);
    if (config->processing != AB_PROCESSING_ADAPTIVE)
        s_add(&args, config->processing == AB_PROCESSING_INLINE ? "--inline" : "--queued", NULL);
    s_add(&args, "--log-level", config->log_level);
    if (!bench_children_start(&self->children, "processor", name + strlen(self->prefix), config->exe, args.argv)) {
        snprintf(error, error_len, "cannot start processor %s", name);
        return AB_EIO;
    }
    return 0;
}

static int s_start_processors(s_run_t *self, char *error, size_t error_len)
{
    const bench_config_t *config = self->config;
    char max_blocks[64];
    snprintf(max_blocks, sizeof max_blocks, "max_blocks=%llu",
             (unsigned long long)bench_blocks_per_stream(config) + 16);
    int rc = 0;
    if (config->all_streams) {
        /* every stream, in one --stream list; each instance's file is
         * named after its stream ("<prefix>sS"): DIR/<prefix>sSpP.txt */
        char streams[BENCH_MAX_STREAMS * 64] = "";
        for (uint32_t s = 0; s < config->streams; s++) {
            size_t len = strlen(streams);
            snprintf(streams + len, sizeof streams - len, "%s%ss%u", s ? "," : "", self->prefix, s);
        }
        for (uint32_t p = 0; p < config->processors && rc == 0; p++) {
            char name[64], path[PATH_MAX + 32];
            snprintf(name, sizeof name, "%sp%u", self->prefix, p);
            snprintf(path, sizeof path, "path=%s/{stream}p%u.txt", self->dir, p);
            rc = s_start_processor(self, streams, name, path, max_blocks, error, error_len);
        }
    } else {
        for (uint32_t s = 0; s < config->streams && rc == 0; s++)
            for (uint32_t p = 0; p < config->processors && rc == 0; p++) {
                char stream[64], name[64], path[PATH_MAX + 8];
                snprintf(stream, sizeof stream, "%ss%u", self->prefix, s);
                snprintf(name, sizeof name, "%ss%up%u", self->prefix, s, p);
                snprintf(path, sizeof path, "path=%s/s%up%u.txt", self->dir, s, p);
                rc = s_start_processor(self, stream, name, path, max_blocks, error, error_len);
            }
    }
    if (rc)
        return rc;
    uint32_t want = config->all_streams ? config->processors : config->streams * config->processors;
    for (int waited = 0; s_linked(self) < want; waited += 50) {
        bench_children_poll(&self->children, 0);
        for (uint32_t i = 0; i < self->children.n; i++)
            if (self->children.nodes[i].pid <= 0) {
                snprintf(error, error_len, "%s exited (status %d) at start: its messages above say why",
                         self->children.nodes[i].name, self->children.nodes[i].status);
                return AB_EIO;
            }
        if (waited > bench_start_timeout_ms(config)) {
            snprintf(error, error_len, "the %u processors did not all link to the broker at %s within %d s", want,
                     self->broker, bench_start_timeout_ms(config) / 1000);
            return AB_ETIMEOUT;
        }
        ab_clock_sleep_ms(50);
    }
    return 0;
}

static int s_start_recorders(s_run_t *self, char *error, size_t error_len)
{
    const bench_config_t *config = self->config;
    char rate[32], block[32], duration[32], speed[32];
    snprintf(rate, sizeof rate, "%u", config->rate);
    snprintf(block, sizeof block, "%u", config->block_frames);
    snprintf(duration, sizeof duration, "%.17g", config->duration * config->speed); /* of audio */
    snprintf(speed, sizeof speed, "%.17g", config->speed);
    for (uint32_t s = 0; s < config->streams; s++) {
        char stream[64], name[64], stats[PATH_MAX];
        snprintf(stream, sizeof stream, "%ss%u", self->prefix, s);
        snprintf(name, sizeof name, "%srec%u", self->prefix, s);
        snprintf(stats, sizeof stats, "%s/rec%u.json", self->dir, s);
        s_args_t args = {.n = 0};
        s_add(&args, config->exe, "record");
        s_add(&args, "--broker", self->broker);
        s_add(&args, "--stream", stream);
        if (config->jack) {
            s_add(&args, "--source", "portaudio");
            s_add(&args, "--host-api", "JACK");
        } else {
            s_add(&args, "--source", "synth:sine");
            s_add(&args, "--speed", speed);
        }
        s_add(&args, "--rate", rate);
        s_add(&args, "--block", block);
        s_add(&args, "--duration", duration);
        s_add(&args, "--stats-file", stats);
        s_add(&args, "--name", name);
        s_add(&args, "--log-level", config->log_level);
        if (!bench_children_start(&self->children, "recorder", name + strlen(self->prefix), config->exe,
                                  args.argv)) {
            snprintf(error, error_len, "cannot start recorder %s", name);
            return AB_EIO;
        }
    }
    return 0;
}

/* Add up the recorders' --stats-file counts into run. */
static void s_read_recorder_stats(s_run_t *self, bench_run_t *run)
{
    for (uint32_t s = 0; s < self->config->streams; s++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/rec%u.json", self->dir, s);
        json_t *root = json_load_file(path, 0, NULL);
        if (!root) {
            fprintf(stderr, "audiobus bench: no counts from recorder %u (%s)\n", s, path);
            run->ok = false;
            continue;
        }
        uint64_t p999 = (uint64_t)json_integer_value(json_object_get(root, "callback_p999_ns"));
        uint64_t max = (uint64_t)json_integer_value(json_object_get(root, "callback_max_ns"));
        run->overrun_frames += (uint64_t)json_integer_value(json_object_get(root, "overrun_frames"));
        run->callbacks += (uint64_t)json_integer_value(json_object_get(root, "callbacks"));
        run->callback_p999_ns = p999 > run->callback_p999_ns ? p999 : run->callback_p999_ns;
        run->callback_max_ns = max > run->callback_max_ns ? max : run->callback_max_ns;
        run->block_period_ns = json_real_value(json_object_get(root, "block_period_ns"));
        json_decref(root);
    }
}

int bench_audiobus_run(const bench_config_t *config, bench_run_t *run, char *error, size_t error_len)
{
    static s_run_t self; /* large: kept off the stack */
    static unsigned serial;
    memset(&self, 0, sizeof self);
    memset(run, 0, sizeof *run);
    self.config = config;
    snprintf(self.prefix, sizeof self.prefix, "bench%d-%u-", (int)getpid(), serial++);
    snprintf(self.dir, sizeof self.dir, "/tmp/audiobus-bench-XXXXXX");
    if (!mkdtemp(self.dir)) {
        snprintf(error, error_len, "cannot create a temporary directory: %s", strerror(errno));
        return AB_EIO;
    }
    int rc = config->jack ? s_start_jack(&self, error, error_len) : 0;
    if (rc == 0)
        rc = s_start_broker(&self, error, error_len);
    if (rc == 0)
        rc = s_start_processors(&self, error, error_len);
    int64_t start = ab_clock_mono_ns();
    if (rc == 0) {
        bench_children_mark_start(&self.children);
        rc = s_start_recorders(&self, error, error_len);
    }
    if (rc == 0) {
        /* the processors exit at the stream's end */
        const bench_child_t *services[] = {self.broker_node, self.jack_node};
        rc = bench_children_wait_finished(&self.children, services, 2, config->duration + 20, error, error_len);
    }
    double seconds = (double)(ab_clock_mono_ns() - start) / 1e9;
    const bench_child_t *services[] = {self.broker_node, self.jack_node};
    bench_children_stop_all(&self.children, services, 2);

    run->ok = rc == 0;
    for (uint32_t i = 0; i < self.children.n; i++)
        if (self.children.nodes[i].status != 0 && &self.children.nodes[i] != self.broker_node &&
            &self.children.nodes[i] != self.jack_node) {
            run->ok = false;
            fprintf(stderr, "audiobus bench: %s exited with status %d\n", self.children.nodes[i].name,
                    self.children.nodes[i].status);
        }
    bench_children_report(&self.children, seconds, run);
    /* --all-streams: each instance names its file after its stream */
    bench_results_collect(config, self.dir, config->all_streams ? self.prefix : "", "processor", run);
    s_read_recorder_stats(&self, run);
    run->seconds = seconds;
    bench_children_remove_dir(self.dir);
    return rc;
}
