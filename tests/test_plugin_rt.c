/* test_plugin_rt.c - every plugin in a directory keeps the real-time rules
 * in process() and gap(): no allocation, no lock, no sleep, no file or
 * thread operation.
 *
 * Usage: test_plugin_rt PLUGIN_DIR
 *        test_plugin_rt --must-catch PLUGIN.so [KEY=VALUE...]
 * The second form is the test of the test: it passes only when the plugin
 * given makes forbidden calls and they are caught.
 *
 * This executable defines the C library's allocation, locking, sleeping and
 * file functions itself; being the executable, its definitions win over
 * libc's for every shared object loaded later (plugins and libaudiobus). Each
 * counts a call made on this thread while a plugin's process() or gap() runs
 * and forwards to the real function. Every *.so in PLUGIN_DIR is loaded and
 * driven through several stream shapes (rates, channel counts, wire formats,
 * block sizes from 1 frame to max_frames, silence, noise, tones, full scale,
 * a gap, a frame0 jump, a second activation), with the parameter sets listed
 * in s_param_sets (a plugin with no entry runs with its defaults; one that
 * cannot is a failure: add its parameters here).
 *
 * The host given to plugins is itself real-time safe (no allocation, lock or
 * I/O in log/publish), so nothing is excused while process() runs.
 *
 * Sanitizer runtimes interpose the same functions: those builds skip (77).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <audiobus/ab_plugin.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_INTERPOSES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_INTERPOSES 0
#endif
#endif
#ifndef TEST_INTERPOSES
#if defined(__GLIBC__)
#define TEST_INTERPOSES 1
#else
#define TEST_INTERPOSES 0
#endif
#endif


#include "check.h"

/* ---------------------------------------------------------------------
 * Forbidden calls, counted while s_in_process is set on this thread.
 */
static _Thread_local int s_in_process;
static atomic_uint s_forbidden_calls;
static _Atomic(const char *) s_first_forbidden; /* name of the first such call */

static void s_forbidden(const char *name)
{
    if (!s_in_process)
        return;
    const char *none = NULL;
    atomic_compare_exchange_strong(&s_first_forbidden, &none, name);
    atomic_fetch_add(&s_forbidden_calls, 1);
}

#if TEST_INTERPOSES
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size)
{
    s_forbidden("malloc");
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    s_forbidden("calloc");
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    s_forbidden("realloc");
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p)
        s_forbidden("free");
    __libc_free(p);
}

void *aligned_alloc(size_t alignment, size_t size)
{
    s_forbidden("aligned_alloc");
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    s_forbidden("posix_memalign");
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return 22; /* EINVAL */
    void *p = __libc_memalign(alignment, size);
    if (!p && size)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

/* The rest forward to the next definition (libc's), looked up once. */
#define REAL(name) s_real_##name
#define FORWARD(ret, name, params, args)                                                                     \
    static ret(*REAL(name)) params;                                                                          \
    ret name params                                                                                          \
    {                                                                                                        \
        s_forbidden(#name);                                                                                  \
        if (!REAL(name))                                                                                     \
            *(void **)&REAL(name) = dlsym(RTLD_NEXT, #name);                                                 \
        return REAL(name) args;                                                                              \
    }

FORWARD(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
FORWARD(int, pthread_mutex_timedlock, (pthread_mutex_t * m, const struct timespec *t), (m, t))
FORWARD(int, pthread_rwlock_rdlock, (pthread_rwlock_t * l), (l))
FORWARD(int, pthread_rwlock_wrlock, (pthread_rwlock_t * l), (l))
FORWARD(int, pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t *m), (c, m))
FORWARD(int, pthread_cond_timedwait, (pthread_cond_t * c, pthread_mutex_t *m, const struct timespec *t),
        (c, m, t))
FORWARD(int, pthread_spin_lock, (pthread_spinlock_t * l), (l))
FORWARD(int, sem_wait, (sem_t * s), (s))
FORWARD(int, sem_timedwait, (sem_t * s, const struct timespec *t), (s, t))
FORWARD(int, nanosleep, (const struct timespec *t, struct timespec *rem), (t, rem))
FORWARD(int, clock_nanosleep, (clockid_t c, int flags, const struct timespec *t, struct timespec *rem),
        (c, flags, t, rem))
FORWARD(int, usleep, (useconds_t us), (us))
FORWARD(unsigned, sleep, (unsigned s), (s))
FORWARD(int, poll, (struct pollfd * fds, nfds_t n, int timeout), (fds, n, timeout))
FORWARD(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
FORWARD(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
FORWARD(int, close, (int fd), (fd))
FORWARD(int, fsync, (int fd), (fd))
FORWARD(FILE *, fopen, (const char *path, const char *mode), (path, mode))
FORWARD(int, fflush, (FILE * f), (f))
FORWARD(size_t, fwrite, (const void *p, size_t size, size_t n, FILE *f), (p, size, n, f))
FORWARD(int, pthread_create, (pthread_t * t, const pthread_attr_t *a, void *(*fn)(void *), void *arg),
        (t, a, fn, arg))
FORWARD(int, pthread_join, (pthread_t t, void **ret), (t, ret))

/* open() and openat() are variadic: forward the mode when one is given. */
static int (*s_real_open)(const char *, int, ...);
int open(const char *path, int flags, ...)
{
    s_forbidden("open");
    if (!s_real_open)
        *(void **)&s_real_open = dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    return s_real_open(path, flags, mode);
}
#endif

/* ---------------------------------------------------------------------
 * A real-time safe host: log and publish only count and check.
 */
#define MAX_OUTPUTS 8

typedef struct {
    ab_plugin_host_t host;
    const char *plugin;
    uint32_t n_outputs;
    uint32_t output_kind[MAX_OUTPUTS];
    uint32_t output_channels[MAX_OUTPUTS];
    uint64_t logs, published, bad_publishes, non_finite, fails;
    char first_problem[256]; /* written outside process() only */
} rt_host_t;

static void s_host_log(void *data, int32_t level, const char *message)
{
    rt_host_t *h = data;
    h->logs++;
    (void)level;
    (void)message;
}

static void s_host_fail(void *data, const char *message)
{
    rt_host_t *h = data;
    h->fails++;
    (void)message;
}

static int32_t s_host_declare(void *data, const char *suffix, uint32_t kind, uint32_t channels, uint32_t hop)
{
    rt_host_t *h = data;
    (void)suffix;
    (void)hop;
    if (s_in_process) {
        h->bad_publishes++; /* declare_output is control-thread only */
        return AB_PLUGIN_ERROR;
    }
    if (h->n_outputs >= MAX_OUTPUTS)
        return AB_PLUGIN_ERROR;
    h->output_kind[h->n_outputs] = kind;
    h->output_channels[h->n_outputs] = channels;
    return (int32_t)h->n_outputs++;
}

static int32_t s_host_publish(void *data, const ab_plugin_output_block_t *b)
{
    rt_host_t *h = data;
    if (!b || b->output < 0 || (uint32_t)b->output >= h->n_outputs || (b->frames > 0 && !b->samples)) {
        h->bad_publishes++;
        return AB_PLUGIN_ERROR;
    }
    size_t n = (size_t)b->frames * b->channels;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(b->samples[i])) {
            h->non_finite++;
            break;
        }
    h->published++;
    return AB_PLUGIN_OK;
}

static void s_host_init(rt_host_t *h, const char *plugin)
{
    memset(h, 0, sizeof *h);
    h->plugin = plugin;
    h->host.struct_size = sizeof(ab_plugin_host_t);
    h->host.host_data = h;
    h->host.log = s_host_log;
    h->host.fail = s_host_fail;
    h->host.declare_output = s_host_declare;
    h->host.publish = s_host_publish;
}

/* ---------------------------------------------------------------------
 * Streams to feed.
 */
typedef struct {
    uint32_t rate, channels, raw_format, max_frames;
} shape_t;

static const shape_t s_shapes[] = {
    {16000, 1, AB_PLUGIN_FORMAT_S16, 1024},
    {48000, 2, AB_PLUGIN_FORMAT_F32, 4096},
    {44100, 3, AB_PLUGIN_FORMAT_S32, 2048},
};

/* Block sizes cycled through (clamped to max_frames); none divides the
 * usual hops, and 1 and max_frames are the edges. */
static const uint32_t s_block_sizes[] = {1, 7, 160, 97, 4096, 480, 1000, 2, 333, 1024};

/* Deterministic noise in [-1, 1). */
static float s_noise(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*state >> 40) / (double)(1ull << 23) - 1.0);
}

/* Sample i of channel c: silence, then noise, a tone sweep and full-scale
 * square bursts, so quiet, loud and clipping paths all run. */
static float s_signal(uint64_t i, uint32_t c, uint32_t rate, uint64_t *noise)
{
    double t = (double)i / rate;
    double section = fmod(t, 2.0);
    if (section < 0.3)
        return 0.0f;
    if (section < 0.9)
        return 0.3f * s_noise(noise);
    if (section < 1.6) {
        double hz = 100.0 + 4000.0 * (section - 0.9) + 50.0 * c;
        return (float)(0.5 * sin(2.0 * M_PI * hz * t)) + 0.01f * s_noise(noise);
    }
    return (fmod(t * 220.0, 1.0) < 0.5) ? 1.0f : -1.0f;
}

static void s_to_raw(const float *x, size_t n, uint32_t format, void *raw)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i] < -1.0f ? -1.0 : x[i] > 1.0f ? 1.0 : x[i];
        if (format == AB_PLUGIN_FORMAT_S16) {
            long q = lrint(v * 32768.0);
            ((int16_t *)raw)[i] = (int16_t)(q > 32767 ? 32767 : q);
        } else if (format == AB_PLUGIN_FORMAT_S32) {
            long long q = llrint(v * 2147483648.0);
            ((int32_t *)raw)[i] = (int32_t)(q > 2147483647LL ? 2147483647LL : q);
        } else {
            ((float *)raw)[i] = x[i];
        }
    }
}

static void s_call_process(const ab_plugin_descriptor_t *d, void *self, const ab_plugin_block_t *b, rt_host_t *h)
{
    s_in_process = 1;
    int32_t rc = d->process(self, b);
    s_in_process = 0;
    if (rc != AB_PLUGIN_OK && !h->first_problem[0])
        snprintf(h->first_problem, sizeof h->first_problem, "process returned %d at frame0 %llu", rc,
                 (unsigned long long)b->frame0);
}

static void s_call_gap(const ab_plugin_descriptor_t *d, void *self, uint64_t frame0, uint64_t frames)
{
    if (d->struct_size < offsetof(ab_plugin_descriptor_t, gap) + sizeof d->gap || !d->gap)
        return;
    s_in_process = 1;
    d->gap(self, frame0, frames);
    s_in_process = 0;
}

/* Feed seconds of audio of shape sh; halfway, report a gap of 0.25 s and
 * skip it; near the end, jump frame0 without a gap report. */
static void s_feed(const ab_plugin_descriptor_t *d, void *self, const shape_t *sh, double seconds, rt_host_t *h)
{
    size_t max = sh->max_frames, ch = sh->channels;
    float *x = malloc(max * ch * sizeof(float));
    uint8_t *raw = malloc(max * ch * 4);
    uint64_t noise = 42, total = (uint64_t)(seconds * sh->rate), pos = 0, frame0 = 0, seq = 0;
    int gapped = 0, jumped = 0;
    size_t k = 0;
    int64_t time0 = 1700000000000000000LL;
    while (pos < total) {
        if (!gapped && pos >= total / 2) {
            uint64_t gap = sh->rate / 4;
            s_call_gap(d, self, frame0, gap);
            frame0 += gap;
            gapped = 1;
        }
        if (!jumped && pos >= total * 7 / 8) {
            frame0 += sh->rate / 10;
            jumped = 1;
        }
        size_t n = s_block_sizes[k++ % (sizeof s_block_sizes / sizeof s_block_sizes[0])];
        if (n > max)
            n = max;
        if (n > total - pos)
            n = (size_t)(total - pos);
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < ch; c++)
                x[i * ch + c] = s_signal(frame0 + i, (uint32_t)c, sh->rate, &noise);
        s_to_raw(x, n * ch, sh->raw_format, raw);
        if (sh->raw_format != AB_PLUGIN_FORMAT_F32) /* samples as the host converts them */
            for (size_t i = 0; i < n * ch; i++)
                x[i] = sh->raw_format == AB_PLUGIN_FORMAT_S16 ? ((int16_t *)raw)[i] / 32768.0f
                                                              : (float)(((int32_t *)raw)[i] / 2147483648.0);
        ab_plugin_block_t b = {
            .struct_size = sizeof(ab_plugin_block_t),
            .frames = (uint32_t)n,
            .channels = sh->channels,
            .rate = sh->rate,
            .seq = seq++,
            .frame0 = frame0,
            .time_ns = time0 + (int64_t)((double)frame0 * 1e9 / sh->rate),
            .samples = x,
            .raw = raw,
            .raw_format = sh->raw_format,
            .raw_bytes = (uint32_t)(n * ch * (sh->raw_format == AB_PLUGIN_FORMAT_S16 ? 2 : 4)),
        };
        s_call_process(d, self, &b, h);
        pos += n;
        frame0 += n;
    }
    free(x);
    free(raw);
}

/* ---------------------------------------------------------------------
 * Parameter sets per plugin. "$TMP" in a value becomes a fresh directory.
 */
typedef struct {
    const char *plugin;
    const char *kv[16]; /* key, value, ..., NULL */
} param_set_t;

static const param_set_t s_param_sets[] = {
    {"level", {NULL}},
    {"level", {"interval", "0.1", "publish", "1", NULL}},
    {"logmel", {NULL}},
    {"logmel", {"n_fft", "400", "hop", "160", "n_mels", "80", "fmin", "20", NULL}},
    {"logmel", {"png", "$TMP/rt.png", "png_seconds", "2", "scale", "slaney", "spectrum", "magnitude", NULL}},
    {"logmel", {"png", "$TMP/rt-ln.png", "norm", "slaney", "window", "hamming", "log", "ln", NULL}},
    {"bench_probe", {"path", "$TMP/probe.txt", NULL}},
    {"bench_probe", {"path", "$TMP/probe-small.txt", "max_blocks", "10", NULL}},
    {"bandpass", {NULL}},
    {"bandpass", {"low", "1000", "high", "2000", "n_fft", "400", "hop", "100", NULL}},
    {"vad", {NULL}},
    {"vad", {"min_speech_ms", "10", "min_silence_ms", "20", "hangover_ms", "0", "pre_roll_ms", "0", NULL}},
    {"wavwrite", {"path", "$TMP/rt.wav", NULL}},
    {"wavwrite", {"path", "$TMP/rt16.wav", "format", "s16", "buffer", "1", NULL}},
};

/* Run one parameter set through every stream shape and check what the plugin
 * did; returns the number of forbidden calls it made, -1 when create refused
 * the parameters. Forbidden calls are failures unless must_catch is set. */
static int s_run(const ab_plugin_descriptor_t *d, const char *const *kv, const char *tmpdir, int must_catch)
{
    char values[8][512];
    ab_plugin_param_t params[8];
    uint32_t n_params = 0;
    for (; kv[2 * n_params] && n_params < 8; n_params++) {
        const char *v = kv[2 * n_params + 1];
        if (strncmp(v, "$TMP", 4) == 0)
            snprintf(values[n_params], sizeof values[n_params], "%s%s", tmpdir, v + 4);
        else
            snprintf(values[n_params], sizeof values[n_params], "%s", v);
        params[n_params].key = kv[2 * n_params];
        params[n_params].value = values[n_params];
    }
    printf("  %s", d->name);
    for (uint32_t i = 0; i < n_params; i++)
        printf(" %s=%s", params[i].key, params[i].value);
    printf("\n");

    rt_host_t h;
    s_host_init(&h, d->name);
    char error[512] = "";
    void *self = d->create(&h.host, params, n_params, error, sizeof error);
    CHECK(self != NULL, "%s: create refused its parameters: %s (add a working set to s_param_sets)", d->name,
          error);
    if (!self)
        return -1;
    unsigned before = atomic_load(&s_forbidden_calls);
    for (size_t s = 0; s < sizeof s_shapes / sizeof s_shapes[0]; s++) {
        const shape_t *sh = &s_shapes[s];
        ab_plugin_format_t f = {
            .struct_size = sizeof f,
            .rate = sh->rate,
            .channels = sh->channels,
            .max_frames = sh->max_frames,
            .raw_format = sh->raw_format,
            .stream = "rt",
        };
        error[0] = '\0';
        int32_t rc = d->activate(self, &f, error, sizeof error);
        CHECK(rc == AB_PLUGIN_OK, "%s: activate %u Hz x %u refused: %s", d->name, sh->rate, sh->channels, error);
        if (rc != AB_PLUGIN_OK)
            continue;
        s_feed(d, self, sh, 4.5, &h);
        d->deactivate(self);
    }
    d->destroy(self);

    unsigned calls = atomic_load(&s_forbidden_calls) - before;
    const char *first = atomic_exchange(&s_first_forbidden, NULL);
    if (!must_catch)
        CHECK(calls == 0, "%s: %u forbidden calls inside process()/gap(), the first: %s()", d->name, calls,
              first ? first : "?");
    CHECK(h.first_problem[0] == '\0', "%s: %s", d->name, h.first_problem);
    CHECK(h.fails == 0, "%s: called host fail() %llu times", d->name, (unsigned long long)h.fails);
    CHECK(h.bad_publishes == 0, "%s: %llu invalid publishes or declare_output() from process()", d->name,
          (unsigned long long)h.bad_publishes);
    CHECK(h.non_finite == 0, "%s: %llu published blocks hold NaN or infinity", d->name,
          (unsigned long long)h.non_finite);
    printf("    %llu blocks published, %llu log lines, %u forbidden calls\n", (unsigned long long)h.published,
           (unsigned long long)h.logs, calls);
    return (int)calls;
}

static void s_remove_tree_files(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(dp);
    rmdir(dir);
}

/* --must-catch PLUGIN.so [KEY=VALUE...]: exit 0 only when forbidden calls
 * were seen. */
static int s_must_catch(const char *path, int argc, char **argv, const char *tmpdir)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "test_plugin_rt: dlopen(%s): %s\n", path, dlerror());
        return 2;
    }
    const ab_plugin_descriptor_t *d = dlsym(handle, AB_PLUGIN_ENTRY_SYMBOL);
    const char *kv[16] = {NULL};
    char copies[7][256];
    int n = 0;
    for (int i = 0; i < argc && n < 7; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            continue;
        snprintf(copies[n], sizeof copies[n], "%s", argv[i]);
        copies[n][eq - argv[i]] = '\0';
        kv[2 * n] = copies[n];
        kv[2 * n + 1] = copies[n] + (eq - argv[i]) + 1;
        n++;
    }
    int calls = d ? s_run(d, kv, tmpdir, 1) : -1;
    dlclose(handle);
    CHECK(calls > 0, "%s: its forbidden calls went unnoticed (%d counted)", path, calls);
    if (calls > 0)
        printf("test_plugin_rt: caught %d forbidden calls, as it must\n", calls);
    return s_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    int must_catch = argc >= 3 && strcmp(argv[1], "--must-catch") == 0;
    if (argc != 2 && !must_catch) {
        fprintf(stderr, "usage: test_plugin_rt PLUGIN_DIR\n"
                        "       test_plugin_rt --must-catch PLUGIN.so [KEY=VALUE...]\n");
        return 2;
    }
    if (!TEST_INTERPOSES) {
        printf("SKIP: a sanitizer runtime interposes the same functions (run the plain build)\n");
        return 77;
    }
    if (must_catch) {
        char tmp[] = "/tmp/audiobus-test-plugin-rt-XXXXXX";
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 2;
        }
        int rc = s_must_catch(argv[2], argc - 3, argv + 3, tmp);
        s_remove_tree_files(tmp);
        return rc;
    }
    const char *dir = argv[1];
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "test_plugin_rt: cannot open plugin directory %s\n", dir);
        return 2;
    }
    char tmpdir[] = "/tmp/audiobus-test-plugin-rt-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    int plugins = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        CHECK(handle != NULL, "dlopen(%s): %s", path, dlerror());
        if (!handle)
            continue;
        const ab_plugin_descriptor_t *d = dlsym(handle, AB_PLUGIN_ENTRY_SYMBOL);
        CHECK(d != NULL && d->name && d->create && d->activate && d->process && d->deactivate && d->destroy,
              "%s: not a complete audiobus plugin", path);
        if (d && d->name && d->create && d->process) {
            plugins++;
            int sets = 0;
            for (size_t i = 0; i < sizeof s_param_sets / sizeof s_param_sets[0]; i++)
                if (strcmp(s_param_sets[i].plugin, d->name) == 0) {
                    s_run(d, s_param_sets[i].kv, tmpdir, 0);
                    sets++;
                }
            if (sets == 0)
                s_run(d, (const char *const[]){NULL}, tmpdir, 0);
        }
        dlclose(handle);
    }
    closedir(dp);
    s_remove_tree_files(tmpdir);

    CHECK(plugins > 0, "no plugin found in %s", dir);
    if (s_failures) {
        fprintf(stderr, "test_plugin_rt: %d checks failed\n", s_failures);
        return 1;
    }
    printf("test_plugin_rt: %d plugins kept the real-time rules in process()\n", plugins);
    return 0;
}
