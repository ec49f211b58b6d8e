/* bench_probe.c - the plugin `audiobus bench` runs in every processor: for
 * each block it records how long after capture it reached process()
 * (now on CLOCK_REALTIME - block->time_ns), and which frames arrived. A
 * block longer than the host's max_frames, handed over in several calls,
 * counts once, with its first call's latency.
 *
 * Parameters:
 *   path=FILE      where deactivate() writes the results (required):
 *                  a first line "blocks N frames F disorder D gaps G
 *                  gap_frames GF unrecorded U first_frame0 X first_ns T0
 *                  last_ns T1" (T0, T1: arrival of the first and the last
 *                  block, ns since the epoch), then one latency in ns
 *                  per line, in the order of the blocks
 *   max_blocks=N   latencies recorded at most (default 1000000); the
 *                  array is allocated and touched in activate()
 *
 * process() and gap() only store into preallocated memory: no allocation,
 * lock or I/O. Counters add up over activate/deactivate cycles; each
 * deactivate() rewrites the file with the totals so far. */
#define _POSIX_C_SOURCE 200809L
#include <audiobus/ab_plugin.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_DEFAULT_MAX_BLOCKS 1000000u
#define PROBE_MAX_MAX_BLOCKS 100000000u

typedef struct {
    const ab_plugin_host_t *host;
    char *path;
    uint32_t max_blocks;
    int64_t *latencies; /* max_blocks entries, from the first activate() */
    uint64_t blocks, frames, recorded, unrecorded;
    uint64_t next_frame0, first_frame0, disorder; /* disorder: blocks not right after the previous one */
    uint64_t last_seq;
    uint64_t gaps, gap_frames;
    int64_t first_ns, last_ns; /* arrival of the first and the last block, CLOCK_REALTIME */
} probe_t;

static const ab_plugin_param_info_t s_params[] = {
    {"path", NULL, "file the results are written to at deactivate (counts, then latencies in ns)"},
    {"max_blocks", "1000000", "latencies recorded at most (later blocks are counted only)"},
    {NULL, NULL, NULL},
};

static void s_destroy(void *p)
{
    probe_t *self = p;
    if (!self)
        return;
    free(self->latencies);
    free(self->path);
    free(self);
}

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    probe_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->host = host;
    self->max_blocks = PROBE_DEFAULT_MAX_BLOCKS;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value;
        if (strcmp(key, "path") == 0) {
            free(self->path);
            self->path = value[0] ? strdup(value) : NULL;
        } else if (strcmp(key, "max_blocks") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(value, &end, 10);
            if (errno || end == value || *end || value[0] == '-' || n < 1 || n > PROBE_MAX_MAX_BLOCKS) {
                snprintf(error, error_len, "bad max_blocks \"%s\" (expected an integer 1..%u)", value,
                         PROBE_MAX_MAX_BLOCKS);
                s_destroy(self);
                return NULL;
            }
            self->max_blocks = (uint32_t)n;
        } else {
            snprintf(error, error_len, "unknown parameter \"%s\" (expected path or max_blocks)", key);
            s_destroy(self);
            return NULL;
        }
    }
    if (!self->path) {
        snprintf(error, error_len, "missing path (add --param path=FILE)");
        s_destroy(self);
        return NULL;
    }
    return self;
}

static int32_t s_activate(void *p, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    probe_t *self = p;
    (void)format;
    if (!self->latencies) {
        self->latencies = malloc((size_t)self->max_blocks * sizeof *self->latencies);
        if (!self->latencies) {
            snprintf(error, error_len, "out of memory for %u latencies (try a smaller max_blocks)", self->max_blocks);
            return AB_PLUGIN_ERROR;
        }
        /* Touch every page now, so that process() never faults one in. */
        memset(self->latencies, 0, (size_t)self->max_blocks * sizeof *self->latencies);
    }
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *p, const ab_plugin_block_t *block)
{
    probe_t *self = p;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (self->blocks && block->seq == self->last_seq && block->frame0 == self->next_frame0) {
        /* The rest of a block longer than max_frames: its latency is its first call's. */
        self->last_ns = now_ns;
        self->next_frame0 = block->frame0 + block->frames;
        self->frames += block->frames;
        return AB_PLUGIN_OK;
    }
    int64_t latency = now_ns - block->time_ns;
    if (self->blocks == 0)
        self->first_ns = now_ns;
    self->last_ns = now_ns;
    if (self->recorded < self->max_blocks)
        self->latencies[self->recorded++] = latency;
    else
        self->unrecorded++;
    if (self->blocks == 0)
        self->first_frame0 = block->frame0;
    else if (block->frame0 != self->next_frame0)
        self->disorder++;
    self->next_frame0 = block->frame0 + block->frames;
    self->last_seq = block->seq;
    self->blocks++;
    self->frames += block->frames;
    return AB_PLUGIN_OK;
}

static void s_gap(void *p, uint64_t frame0, uint64_t frames)
{
    probe_t *self = p;
    (void)frame0;
    self->gaps++;
    self->gap_frames += frames;
}

static void s_deactivate(void *p)
{
    probe_t *self = p;
    char message[600];
    FILE *f = fopen(self->path, "w");
    if (!f) {
        snprintf(message, sizeof message, "cannot write %s: %s", self->path, strerror(errno));
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, message);
        return;
    }
    fprintf(f,
            "blocks %llu frames %llu disorder %llu gaps %llu gap_frames %llu unrecorded %llu first_frame0 %llu "
            "first_ns %lld last_ns %lld\n",
            (unsigned long long)self->blocks, (unsigned long long)self->frames, (unsigned long long)self->disorder,
            (unsigned long long)self->gaps, (unsigned long long)self->gap_frames,
            (unsigned long long)self->unrecorded, (unsigned long long)self->first_frame0,
            (long long)self->first_ns, (long long)self->last_ns);
    for (uint64_t i = 0; i < self->recorded; i++)
        fprintf(f, "%lld\n", (long long)self->latencies[i]);
    if (fclose(f) != 0) {
        snprintf(message, sizeof message, "cannot write %s: %s", self->path, strerror(errno));
        self->host->log(self->host->host_data, AB_PLUGIN_LOG_ERROR, message);
    }
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "bench_probe",
    .version = "1.0",
    .description = "audiobus bench's probe: records each block's capture-to-plugin latency and the frames received",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
    .gap = s_gap,
};
