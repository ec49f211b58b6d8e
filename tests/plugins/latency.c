/* latency.c - test plugin that measures, for every block, how long after its
 * capture it reached process(): now (CLOCK_REALTIME) - block->time_ns, in ns.
 *
 * Parameters:
 *   path=FILE        where deactivate() writes the latencies, one integer
 *                    (ns) per line, in the order of the blocks (required);
 *                    the gaps the host reported go to FILE.gaps, one
 *                    "frame0 frames" pair per line
 *   max_blocks=N     capacity of the arrays allocated in activate() (100000);
 *                    blocks and gaps past it are counted, not recorded
 *   delay_factor=F   process() sleeps F times the block's duration (0): a
 *                    plugin slower than real time, for tests only
 *
 * process() and gap() only store into the preallocated arrays (and sleep
 * when asked to); all allocation and file I/O happens in activate() and
 * deactivate(). */
#define _POSIX_C_SOURCE 200809L
#include <audiobus/ab_plugin.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LATENCY_DEFAULT_MAX_BLOCKS 100000u
#define LATENCY_MAX_MAX_BLOCKS 100000000u
#define LATENCY_MAX_DELAY_FACTOR 1000.0

typedef struct {
    uint64_t frame0, frames;
} latency_gap_t;

typedef struct {
    const ab_plugin_host_t *host;
    char *path;
    uint32_t max_blocks;
    double delay_factor;

    int64_t *latencies; /* max_blocks, from activate() */
    uint64_t n_latencies, latencies_missed;
    latency_gap_t *gaps; /* max_blocks, from activate() */
    uint64_t n_gaps, gaps_missed;
    int writes; /* deactivate() calls so far: the first truncates, later ones append */
} latency_t;

static const ab_plugin_param_info_t s_params[] = {
    {"path", NULL, "file the latencies (ns, one per line) are written to; gaps go to PATH.gaps"},
    {"max_blocks", "100000", "blocks (and gaps) recorded at most"},
    {"delay_factor", "0", "process() sleeps this many times the block's duration (a slow plugin, for tests)"},
    {NULL, NULL, NULL},
};

static void s_destroy(void *p)
{
    latency_t *self = p;
    if (!self)
        return;
    free(self->latencies);
    free(self->gaps);
    free(self->path);
    free(self);
}

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    latency_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->host = host;
    self->max_blocks = LATENCY_DEFAULT_MAX_BLOCKS;
    for (uint32_t i = 0; i < n_params; i++) {
        const char *key = params[i].key, *value = params[i].value;
        char *end = NULL;
        if (strcmp(key, "path") == 0) {
            free(self->path);
            self->path = value[0] ? strdup(value) : NULL;
            if (!self->path) {
                snprintf(error, error_len, "bad path \"%s\" (expected a file name)", value);
                s_destroy(self);
                return NULL;
            }
        } else if (strcmp(key, "max_blocks") == 0) {
            errno = 0;
            unsigned long long n = strtoull(value, &end, 10);
            if (errno || end == value || *end || value[0] == '-' || n < 1 || n > LATENCY_MAX_MAX_BLOCKS) {
                snprintf(error, error_len, "bad max_blocks \"%s\" (expected an integer 1..%u)", value,
                         LATENCY_MAX_MAX_BLOCKS);
                s_destroy(self);
                return NULL;
            }
            self->max_blocks = (uint32_t)n;
        } else if (strcmp(key, "delay_factor") == 0) {
            errno = 0;
            double f = strtod(value, &end);
            if (errno || end == value || *end || !(f >= 0.0 && f <= LATENCY_MAX_DELAY_FACTOR)) {
                snprintf(error, error_len, "bad delay_factor \"%s\" (expected a number 0..%g)", value,
                         LATENCY_MAX_DELAY_FACTOR);
                s_destroy(self);
                return NULL;
            }
            self->delay_factor = f;
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
    latency_t *self = p;
    (void)format;
    if (!self->latencies)
        self->latencies = malloc((size_t)self->max_blocks * sizeof *self->latencies);
    if (!self->gaps)
        self->gaps = malloc((size_t)self->max_blocks * sizeof *self->gaps);
    if (!self->latencies || !self->gaps) {
        snprintf(error, error_len, "out of memory for %u blocks (try a smaller max_blocks)", self->max_blocks);
        return AB_PLUGIN_ERROR;
    }
    /* Touch every page now, so that process() never faults one in. */
    memset(self->latencies, 0, (size_t)self->max_blocks * sizeof *self->latencies);
    memset(self->gaps, 0, (size_t)self->max_blocks * sizeof *self->gaps);
    self->n_latencies = self->latencies_missed = 0;
    self->n_gaps = self->gaps_missed = 0;
    return AB_PLUGIN_OK;
}

static int64_t s_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep ns nanoseconds on the monotonic clock, resuming after signals. */
static void s_sleep_ns(int64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t t = (int64_t)until.tv_sec * 1000000000 + until.tv_nsec + ns;
    until.tv_sec = (time_t)(t / 1000000000);
    until.tv_nsec = (long)(t % 1000000000);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
}

static int32_t s_process(void *p, const ab_plugin_block_t *block)
{
    latency_t *self = p;
    int64_t latency = s_wall_ns() - block->time_ns;
    if (self->n_latencies < self->max_blocks)
        self->latencies[self->n_latencies++] = latency;
    else
        self->latencies_missed++;
    if (self->delay_factor > 0.0 && block->rate > 0)
        s_sleep_ns((int64_t)(self->delay_factor * (double)block->frames * 1e9 / (double)block->rate));
    return AB_PLUGIN_OK;
}

static void s_gap(void *p, uint64_t frame0, uint64_t frames)
{
    latency_t *self = p;
    if (self->n_gaps < self->max_blocks) {
        self->gaps[self->n_gaps].frame0 = frame0;
        self->gaps[self->n_gaps].frames = frames;
        self->n_gaps++;
    } else {
        self->gaps_missed++;
    }
}

static void s_log(latency_t *self, int32_t level, const char *message)
{
    self->host->log(self->host->host_data, level, message);
}

static void s_deactivate(void *p)
{
    latency_t *self = p;
    const char *mode = self->writes++ ? "a" : "w";
    char message[600];
    size_t gaps_path_len = strlen(self->path) + sizeof ".gaps";
    char *gaps_path = malloc(gaps_path_len);
    FILE *f = fopen(self->path, mode);
    if (!f) {
        snprintf(message, sizeof message, "cannot write %s: %s", self->path, strerror(errno));
        s_log(self, AB_PLUGIN_LOG_ERROR, message);
    }
    FILE *g = NULL;
    if (gaps_path) {
        snprintf(gaps_path, gaps_path_len, "%s.gaps", self->path);
        g = fopen(gaps_path, mode);
    }
    if (!g) {
        snprintf(message, sizeof message, "cannot write %s.gaps: %s", self->path,
                 gaps_path ? strerror(errno) : "out of memory");
        s_log(self, AB_PLUGIN_LOG_ERROR, message);
    }
    if (f) {
        for (uint64_t i = 0; i < self->n_latencies; i++)
            fprintf(f, "%lld\n", (long long)self->latencies[i]);
        if (fclose(f) != 0) {
            snprintf(message, sizeof message, "cannot write %s: %s", self->path, strerror(errno));
            s_log(self, AB_PLUGIN_LOG_ERROR, message);
        }
    }
    if (g) {
        for (uint64_t i = 0; i < self->n_gaps; i++)
            fprintf(g, "%llu %llu\n", (unsigned long long)self->gaps[i].frame0,
                    (unsigned long long)self->gaps[i].frames);
        fclose(g);
    }
    uint64_t lost_frames = 0;
    for (uint64_t i = 0; i < self->n_gaps; i++)
        lost_frames += self->gaps[i].frames;
    snprintf(message, sizeof message,
             "%llu block latencies and %llu gaps (%llu frames) written to %s; not recorded (max_blocks %u): "
             "%llu blocks, %llu gaps",
             (unsigned long long)self->n_latencies, (unsigned long long)self->n_gaps,
             (unsigned long long)lost_frames, self->path, self->max_blocks,
             (unsigned long long)self->latencies_missed, (unsigned long long)self->gaps_missed);
    s_log(self, self->latencies_missed || self->gaps_missed ? AB_PLUGIN_LOG_WARN : AB_PLUGIN_LOG_INFO, message);
    free(gaps_path);
    self->n_latencies = self->latencies_missed = 0;
    self->n_gaps = self->gaps_missed = 0;
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "latency",
    .version = "1.0",
    .description = "records each block's capture-to-plugin latency (and the gaps reported) to a file",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
    .gap = s_gap,
};
