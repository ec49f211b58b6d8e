/* test_plugins.c - loads each example plugin from the directory given as argv[1] and drives it
 * through create, activate, process, deactivate and destroy with a recording host. */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <elf.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "audiobus/ab_mel.h"
#include "audiobus/ab_plugin.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Checks print both values and keep going; no assert(), so NDEBUG builds
 * check as well. */

#include "check.h"

/* Set while a plugin's process() runs on this thread: declare_output()
 * is refused there. (Real-time safety is test_plugin_rt's.) */
static _Thread_local int s_in_process;

/* ---------------------------------------------------------------------
 * A host that records what plugins tell it.
 */
#define MAX_OUTPUTS 8
#define MAX_LOGS 256

typedef struct {
    char suffix[64];
    uint32_t kind, channels, hop;
} rec_output_t;

typedef struct {
    int32_t output;
    uint32_t frames, channels;
    uint64_t frame0;
    int64_t time_ns;
    float *samples;
} rec_block_t;

typedef struct {
    ab_plugin_host_t host;
    pthread_mutex_t lock;
    rec_output_t outputs[MAX_OUTPUTS];
    int n_outputs;
    char *logs[MAX_LOGS];
    int log_from_process[MAX_LOGS];
    int n_logs;
    rec_block_t *blocks;
    size_t n_blocks, cap_blocks;
    int n_fails;
    char fail[512];
    int declared_in_process;
} rec_host_t;

static void s_host_log(void *data, int32_t level, const char *message)
{
    rec_host_t *h = data;
    int was = s_in_process;
    s_in_process = 0;
    pthread_mutex_lock(&h->lock);
    if (h->n_logs < MAX_LOGS) {
        h->log_from_process[h->n_logs] = was;
        h->logs[h->n_logs++] = strdup(message);
    }
    pthread_mutex_unlock(&h->lock);
    if (getenv("TEST_PLUGINS_VERBOSE"))
        printf("    [log %d%s] %s\n", level, was ? ", process" : "", message);
    s_in_process = was;
}

static void s_host_fail(void *data, const char *message)
{
    rec_host_t *h = data;
    int was = s_in_process;
    s_in_process = 0;
    pthread_mutex_lock(&h->lock);
    h->n_fails++;
    snprintf(h->fail, sizeof h->fail, "%s", message);
    pthread_mutex_unlock(&h->lock);
    s_in_process = was;
}

static int32_t s_host_declare(void *data, const char *suffix, uint32_t kind, uint32_t channels, uint32_t hop)
{
    rec_host_t *h = data;
    if (s_in_process)
        h->declared_in_process++;
    if (h->n_outputs >= MAX_OUTPUTS || !suffix || channels == 0 || hop == 0)
        return AB_PLUGIN_ERROR;
    rec_output_t *o = &h->outputs[h->n_outputs];
    snprintf(o->suffix, sizeof o->suffix, "%s", suffix);
    o->kind = kind;
    o->channels = channels;
    o->hop = hop;
    return h->n_outputs++;
}

static int32_t s_host_publish(void *data, const ab_plugin_output_block_t *b)
{
    rec_host_t *h = data;
    int was = s_in_process;
    s_in_process = 0;
    int32_t rc = AB_PLUGIN_OK;
    if (!b || b->struct_size < sizeof(*b) || b->output < 0 || b->output >= h->n_outputs ||
        (b->frames > 0 && !b->samples)) {
        rc = AB_PLUGIN_ERROR;
    } else {
        if (h->n_blocks == h->cap_blocks) {
            h->cap_blocks = h->cap_blocks ? 2 * h->cap_blocks : 64;
            h->blocks = realloc(h->blocks, h->cap_blocks * sizeof(rec_block_t));
        }
        rec_block_t *r = &h->blocks[h->n_blocks++];
        r->output = b->output;
        r->frames = b->frames;
        r->channels = b->channels;
        r->frame0 = b->frame0;
        r->time_ns = b->time_ns;
        size_t n = (size_t)b->frames * b->channels;
        r->samples = malloc((n ? n : 1) * sizeof(float));
        if (n)
            memcpy(r->samples, b->samples, n * sizeof(float));
    }
    s_in_process = was;
    return rc;
}

static void s_host_init(rec_host_t *h)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    h->host.struct_size = sizeof(ab_plugin_host_t);
    h->host.host_data = h;
    h->host.log = s_host_log;
    h->host.fail = s_host_fail;
    h->host.declare_output = s_host_declare;
    h->host.publish = s_host_publish;
}

static void s_host_clear(rec_host_t *h)
{
    for (int i = 0; i < h->n_logs; i++)
        free(h->logs[i]);
    for (size_t i = 0; i < h->n_blocks; i++)
        free(h->blocks[i].samples);
    free(h->blocks);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof(*h));
}

/* Log lines containing needle; from_process: 1 only process(), 0 only
 * other threads, -1 any. */
static int s_count_logs(const rec_host_t *h, const char *needle, int from_process)
{
    int n = 0;
    for (int i = 0; i < h->n_logs; i++)
        if (strstr(h->logs[i], needle) && (from_process < 0 || h->log_from_process[i] == from_process))
            n++;
    return n;
}

static const char *s_last_log(const rec_host_t *h)
{
    return h->n_logs > 0 ? h->logs[h->n_logs - 1] : "(no log line)";
}

/* ---------------------------------------------------------------------
 * Driving a plugin.
 */

/* "key=value" strings, NULL-terminated, to create(). */
static void *s_create(const ab_plugin_descriptor_t *d, rec_host_t *h, const char *const *kv, char *error,
                      size_t error_len)
{
    ab_plugin_param_t params[16];
    char keys[16][64];
    uint32_t n = 0;
    for (; kv && kv[n] && n < 16; n++) {
        const char *eq = strchr(kv[n], '=');
        size_t klen = eq ? (size_t)(eq - kv[n]) : strlen(kv[n]);
        snprintf(keys[n], sizeof keys[n], "%.*s", (int)klen, kv[n]);
        params[n].key = keys[n];
        params[n].value = eq ? eq + 1 : "";
    }
    error[0] = '\0';
    return d->create(&h->host, params, n, error, (uint32_t)error_len);
}

static int32_t s_activate(const ab_plugin_descriptor_t *d, void *self, uint32_t rate, uint32_t channels,
                          uint32_t max_frames, uint32_t raw_format, char *error, size_t error_len)
{
    ab_plugin_format_t f = {
        .struct_size = sizeof(ab_plugin_format_t),
        .rate = rate,
        .channels = channels,
        .max_frames = max_frames,
        .raw_format = raw_format,
        .stream = "test",
    };
    error[0] = '\0';
    return d->activate(self, &f, error, (uint32_t)error_len);
}

typedef struct {
    uint32_t rate, channels, raw_format;
    const float *samples; /* frames * channels */
    const uint8_t *raw;   /* frames * channels * sample size, little-endian */
    size_t frames;
    uint64_t frame0; /* of the first frame */
    int64_t time0_ns;
    const size_t *sizes; /* block sizes, cycled; ends with 0 */
} stream_t;

static size_t s_sample_size(uint32_t format)
{
    return format == AB_PLUGIN_FORMAT_S16 ? 2 : 4;
}

static int64_t s_time_of(const stream_t *s, uint64_t frame)
{
    return s->time0_ns + (int64_t)((double)(frame - s->frame0) * 1e9 / s->rate);
}

static void s_process_block(const ab_plugin_descriptor_t *d, void *self, const ab_plugin_block_t *b)
{
    s_in_process = 1;
    int32_t rc = d->process(self, b);
    s_in_process = 0;
    CHECK(rc == AB_PLUGIN_OK, "%s: process returned %d", d->name, rc);
}

/* Feed the whole stream in blocks; returns the number of blocks. */
static size_t s_feed(const ab_plugin_descriptor_t *d, void *self, const stream_t *s)
{
    size_t done = 0, i = 0, blocks = 0, ss = s_sample_size(s->raw_format);
    while (done < s->frames) {
        size_t n = s->sizes[i];
        if (s->sizes[++i] == 0)
            i = 0;
        if (n > s->frames - done)
            n = s->frames - done;
        ab_plugin_block_t b = {
            .struct_size = sizeof(ab_plugin_block_t),
            .frames = (uint32_t)n,
            .channels = s->channels,
            .rate = s->rate,
            .seq = blocks,
            .frame0 = s->frame0 + done,
            .time_ns = s_time_of(s, s->frame0 + done),
            .samples = s->samples + done * s->channels,
            .raw = s->raw ? s->raw + done * s->channels * ss : NULL,
            .raw_format = s->raw_format,
            .raw_bytes = (uint32_t)(n * s->channels * ss),
        };
        s_process_block(d, self, &b);
        done += n;
        blocks++;
    }
    return blocks;
}

/* Little-endian bytes of f32 samples. */
static uint8_t *s_f32_le(const float *x, size_t n)
{
    uint8_t *out = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(u >> (8 * j));
    }
    return out;
}

/* ---------------------------------------------------------------------
 * Loading and the descriptor.
 */

/* Names of the defined global symbols in the ELF file's dynamic symbol
 * table, other than reserved ones, comma-separated into out. Returns -1 when the file is not a
 * 64-bit ELF this check understands. */
static int s_exported_symbols(const char *path, char *out, size_t out_len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = size > 0 ? malloc((size_t)size) : NULL;
    int ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    if (!ok || (size_t)size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)size) {
        free(buf);
        return -1;
    }
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
    int count = 0;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)size ||
            strs->sh_offset + strs->sh_size > (uint64_t)size)
            break;
        const Elf64_Sym *sym = (const Elf64_Sym *)(buf + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < n; k++) {
            int bind = ELF64_ST_BIND(sym[k].st_info);
            if (sym[k].st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
                sym[k].st_name >= strs->sh_size)
                continue;
            const char *name = (const char *)buf + strs->sh_offset + sym[k].st_name;
            if (name[0] == '_')
                continue; /* reserved names: linker and sanitizer symbols (_end, __odr_asan...) */
            size_t len = strlen(out);
            snprintf(out + len, out_len - len, "%s%s", len ? "," : "", name);
            count++;
        }
    }
    free(buf);
    return count;
}

static const ab_plugin_descriptor_t *s_load(const char *dir, const char *name, const char *const *keys,
                                            void **handle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(*handle != NULL, "dlopen(%s): %s", path, dlerror());
    if (!*handle)
        return NULL;
    const ab_plugin_descriptor_t *d = dlsym(*handle, AB_PLUGIN_ENTRY_SYMBOL);
    CHECK(d != NULL, "%s: no symbol %s", path, AB_PLUGIN_ENTRY_SYMBOL);
    if (!d)
        return NULL;

    CHECK(d->abi_major == AB_PLUGIN_ABI_MAJOR, "%s: abi_major %u, expected %u", name, d->abi_major,
          AB_PLUGIN_ABI_MAJOR);
    CHECK(d->abi_minor == AB_PLUGIN_ABI_MINOR, "%s: abi_minor %u, expected %u", name, d->abi_minor,
          AB_PLUGIN_ABI_MINOR);
    CHECK(d->struct_size == sizeof(ab_plugin_descriptor_t), "%s: struct_size %u, expected %zu", name,
          d->struct_size, sizeof(ab_plugin_descriptor_t));
    CHECK(d->name && strcmp(d->name, name) == 0, "name \"%s\", expected \"%s\"", d->name ? d->name : "(null)",
          name);
    CHECK(d->version && d->version[0], "%s: no version", name);
    CHECK(d->description && d->description[0], "%s: no description", name);
    CHECK(d->create && d->activate && d->process && d->deactivate && d->destroy,
          "%s: a lifecycle function is NULL", name);
    CHECK(d->params != NULL, "%s: no params list", name);
    size_t n = 0;
    for (; d->params && d->params[n].key; n++) {
        const ab_plugin_param_info_t *p = &d->params[n];
        CHECK(p->help && p->help[0], "%s: param %s has no help", name, p->key);
        bool expected = false;
        for (size_t k = 0; keys[k]; k++)
            expected |= strcmp(keys[k], p->key) == 0;
        CHECK(expected, "%s: unexpected param %s", name, p->key);
    }
    size_t n_keys = 0;
    while (keys[n_keys])
        n_keys++;
    CHECK(n == n_keys, "%s: %zu params, expected %zu", name, n, n_keys);

    char exported[1024];
    int count = s_exported_symbols(path, exported, sizeof exported);
    if (count >= 0)
        CHECK(count == 1 && strcmp(exported, AB_PLUGIN_ENTRY_SYMBOL) == 0,
              "%s exports [%s], expected only " AB_PLUGIN_ENTRY_SYMBOL " (-fvisibility=hidden)", name,
              exported);
    else
        printf("  %s: not a 64-bit ELF file, export check skipped\n", name);
    return d;
}

/* create() must refuse kv with a message naming the plugin and each needle. */
static void s_expect_refused(const ab_plugin_descriptor_t *d, const char *const *kv, const char *needle1,
                             const char *needle2)
{
    rec_host_t h;
    s_host_init(&h);
    char error[512];
    memset(error, 'x', sizeof error);
    void *self = s_create(d, &h, kv, error, sizeof error);
    CHECK(self == NULL, "%s: accepted %s", d->name, kv[0]);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", d->name);
    CHECK(memchr(error, '\0', sizeof error) != NULL && strncmp(error, prefix, strlen(prefix)) == 0,
          "%s: message for %s does not start with \"%s\": %.200s", d->name, kv[0], prefix, error);
    CHECK(strstr(error, needle1) != NULL, "%s: message for %s lacks \"%s\": %s", d->name, kv[0], needle1,
          error);
    if (needle2)
        CHECK(strstr(error, needle2) != NULL, "%s: message for %s lacks \"%s\": %s", d->name, kv[0], needle2,
              error);
    if (self)
        d->destroy(self);
    s_host_clear(&h);
}

/* ---------------------------------------------------------------------
 * level
 */
static float *s_sine(size_t frames, uint32_t channels, uint32_t channel, double amp, double hz, uint32_t rate)
{
    float *x = calloc(frames * channels, sizeof(float));
    for (size_t i = 0; i < frames; i++)
        x[i * channels + channel] = (float)(amp * sin(2 * M_PI * hz * (double)i / rate));
    return x;
}

static void s_test_level(const ab_plugin_descriptor_t *d)
{
    printf("level\n");
    char error[512];

    /* A 1 kHz sine of amplitude 0.5 on ch0, silence on ch1; blocks of 480
     * frames hold 10 whole periods at 48 kHz and a sample at the crest. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){"interval=0.5", NULL}, error, sizeof error);
        CHECK(self != NULL, "level: create failed: %s", error);
        if (!self)
            return;
        int32_t rc = s_activate(d, self, 48000, 2, 480, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        CHECK(rc == AB_PLUGIN_OK, "level: activate failed: %s", error);
        CHECK(h.n_outputs == 1 && strcmp(h.outputs[0].suffix, "level") == 0 &&
                  h.outputs[0].kind == AB_PLUGIN_OUTPUT_FEATURES && h.outputs[0].channels == 4 &&
                  h.outputs[0].hop == 480,
              "level: declared %d outputs, first \"%s\" kind %u channels %u hop %u", h.n_outputs,
              h.outputs[0].suffix, h.outputs[0].kind, h.outputs[0].channels, h.outputs[0].hop);

        const size_t frames = 72000; /* 1.5 s */
        float *x = s_sine(frames, 2, 0, 0.5, 1000.0, 48000);
        stream_t s = {.rate = 48000,
                      .channels = 2,
                      .raw_format = AB_PLUGIN_FORMAT_F32,
                      .samples = x,
                      .frames = frames,
                      .frame0 = 5000,
                      .time0_ns = 1700000000000000000LL,
                      .sizes = (const size_t[]){480, 0}};
        uint8_t *raw = s_f32_le(x, frames * 2);
        s.raw = raw;
        size_t blocks = s_feed(d, self, &s);

        CHECK(h.n_blocks == blocks, "level: %zu published, expected one per block (%zu)", h.n_blocks, blocks);
        const double peak = 20 * log10(0.5), rms = peak - 10 * log10(2.0);
        for (size_t i = 0; i < h.n_blocks; i++) {
            const rec_block_t *b = &h.blocks[i];
            CHECK(b->frames == 1 && b->channels == 4 && b->output == 0,
                  "level: block %zu: %u frames %u channels", i, b->frames, b->channels);
            CHECK(b->frame0 == 5000 + 480 * i && b->time_ns == s_time_of(&s, b->frame0),
                  "level: block %zu: frame0 %llu time %lld", i, (unsigned long long)b->frame0,
                  (long long)b->time_ns);
            const float *v = b->samples;
            CHECK(fabs(v[1] - peak) < 0.01, "level: block %zu ch0 peak %.4f dBFS, expected %.4f", i, v[1],
                  peak);
            CHECK(fabs(v[0] - rms) < 0.01 && fabs((v[1] - v[0]) - 10 * log10(2.0)) < 0.01,
                  "level: block %zu ch0 rms %.4f dBFS, expected %.4f (peak - 3.01)", i, v[0], rms);
            CHECK(v[2] == -120.0f && v[3] == -120.0f,
                  "level: block %zu silent ch1 reads rms %g peak %g, expected -120", i, v[2], v[3]);
            if (atomic_load(&s_failures))
                break;
        }
        /* One summary line per 0.5 s: three in 1.5 s, all from process(). */
        int lines = s_count_logs(&h, "rms -9.0 dBFS peak -6.0 dBFS (ch0", 1);
        CHECK(lines == 3 && h.n_logs == 3, "level: %d summary lines of %d, expected 3; last: %s", lines,
              h.n_logs, s_last_log(&h));

        /* A block with another channel count is skipped, not measured. */
        ab_plugin_block_t odd = {.struct_size = sizeof odd,
                                 .frames = 10,
                                 .channels = 1,
                                 .rate = 48000,
                                 .frame0 = 77000,
                                 .samples = x,
                                 .raw = raw,
                                 .raw_format = AB_PLUGIN_FORMAT_F32,
                                 .raw_bytes = 40};
        size_t before = h.n_blocks;
        s_process_block(d, self, &odd);
        CHECK(h.n_blocks == before, "level: published for a block of the wrong channel count");
        d->deactivate(self);
        CHECK(s_count_logs(&h, "skipped 1 blocks", 0) == 1, "level: no report of the skipped block; last: %s",
              s_last_log(&h));
        d->destroy(self);
        free(x);
        free(raw);
        s_host_clear(&h);
    }

    /* Below the floor (-180 dBFS), odd block sizes, publish=0, default
     * interval of 1 s. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){"publish=0", NULL}, error, sizeof error);
        CHECK(self != NULL, "level: create publish=0 failed: %s", error);
        if (!self)
            return;
        CHECK(s_activate(d, self, 48000, 1, 1001, AB_PLUGIN_FORMAT_F32, error, sizeof error) == AB_PLUGIN_OK,
              "level: activate failed: %s", error);
        float *x = calloc(50000, sizeof(float));
        for (size_t i = 0; i < 50000; i++)
            x[i] = i % 2 ? 1e-9f : -1e-9f;
        stream_t s = {.rate = 48000,
                      .channels = 1,
                      .raw_format = AB_PLUGIN_FORMAT_F32,
                      .samples = x,
                      .frames = 50000,
                      .sizes = (const size_t[]){1, 7, 333, 1001, 0}};
        s_feed(d, self, &s);
        CHECK(h.n_outputs == 0 && h.n_blocks == 0, "level: publish=0 declared %d outputs, published %zu",
              h.n_outputs, h.n_blocks);
        CHECK(h.n_logs == 1 && s_count_logs(&h, "rms -120.0 dBFS peak -120.0 dBFS (ch0)", 1) == 1,
              "level: -180 dBFS: %d lines, last: %s", h.n_logs, s_last_log(&h));
        d->deactivate(self);
        d->destroy(self);
        free(x);
        s_host_clear(&h);
    }

    /* A 1 s interval that ends inside a block is still exactly 1 s. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){"interval=1", NULL}, error, sizeof error);
        s_activate(d, self, 48000, 1, 1001, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        float *x = s_sine(60000, 1, 0, 0.25, 1000.0, 48000);
        stream_t s = {.rate = 48000,
                      .channels = 1,
                      .raw_format = AB_PLUGIN_FORMAT_F32,
                      .samples = x,
                      .frames = 60000,
                      .sizes = (const size_t[]){1001, 7, 333, 0}};
        s_feed(d, self, &s);
        CHECK(h.n_logs == 1 && s_count_logs(&h, "rms -15.1 dBFS peak -12.0 dBFS (ch0)", 1) == 1,
              "level: amplitude 0.25: %d lines, last: %s", h.n_logs, s_last_log(&h));
        d->deactivate(self);
        d->destroy(self);
        free(x);
        s_host_clear(&h);
    }

    s_expect_refused(d, (const char *const[]){"interval=abc", NULL}, "interval", "\"abc\"");
    s_expect_refused(d, (const char *const[]){"interval=-1", NULL}, "interval", "-1");
    s_expect_refused(d, (const char *const[]){"interval=0.01", NULL}, "interval", "0.01");
    s_expect_refused(d, (const char *const[]){"publish=maybe", NULL}, "publish", "maybe");
    s_expect_refused(d, (const char *const[]){"colour=red", NULL}, "colour", NULL);
}

/* ---------------------------------------------------------------------
 * logmel
 */

/* The HTK mel band whose triangle weighs hz the most: the band that
 * contains it, computed here without ab_mel. */
static uint32_t s_band_of(double hz, uint32_t n_mels, double f_lo, double f_hi)
{
    double lo = 2595 * log10(1 + f_lo / 700), hi = 2595 * log10(1 + f_hi / 700);
    uint32_t best = 0;
    double best_w = -1;
    for (uint32_t m = 0; m < n_mels; m++) {
        double e[3];
        for (int j = 0; j < 3; j++)
            e[j] = 700 * (pow(10, (lo + (hi - lo) * (m + j) / (n_mels + 1)) / 2595) - 1);
        double w = fmin((hz - e[0]) / (e[1] - e[0]), (e[2] - hz) / (e[2] - e[1]));
        if (w > best_w) {
            best_w = w;
            best = m;
        }
    }
    return best;
}

static void s_test_logmel(const ab_plugin_descriptor_t *d)
{
    printf("logmel\n");
    char error[512];
    const uint32_t rate = 16000, n_fft = 512, hop = 160, n_mels = 40;
    const size_t frames = 2 * 16000 + 123;
    const uint64_t start = 1000000;
    static const size_t sizes[] = {1, 37, 160, 511, 1024, 3, 999, 0};
    float *mono = s_sine(frames, 1, 0, 0.5, 1000.0, rate);
    float *stereo = malloc(frames * 2 * sizeof(float));
    /* Mixed to mono, (2x, 0) is x again, exactly. */
    for (size_t i = 0; i < frames; i++) {
        stereo[2 * i] = 2.0f * mono[i];
        stereo[2 * i + 1] = 0.0f;
    }
    float *first_run = NULL;
    size_t first_run_values = 0;

    for (uint32_t channels = 1; channels <= 2; channels++) {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, NULL, error, sizeof error);
        CHECK(self != NULL, "logmel: create with defaults failed: %s", error);
        if (!self)
            break;
        int32_t rc = s_activate(d, self, rate, channels, 1024, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        CHECK(rc == AB_PLUGIN_OK, "logmel: activate failed: %s", error);
        CHECK(h.n_outputs == 1 && strcmp(h.outputs[0].suffix, "logmel") == 0 &&
                  h.outputs[0].kind == AB_PLUGIN_OUTPUT_FEATURES && h.outputs[0].channels == n_mels &&
                  h.outputs[0].hop == hop,
              "logmel: declared %d outputs, first \"%s\" kind %u channels %u hop %u (expected 40 bands, hop "
              "160)",
              h.n_outputs, h.outputs[0].suffix, h.outputs[0].kind, h.outputs[0].channels, h.outputs[0].hop);

        stream_t s = {.rate = rate,
                      .channels = channels,
                      .raw_format = AB_PLUGIN_FORMAT_F32,
                      .samples = channels == 1 ? mono : stereo,
                      .frames = frames,
                      .frame0 = start,
                      .time0_ns = 1000000000LL,
                      .sizes = sizes};
        s_feed(d, self, &s);

        /* One publish per block that completed a frame, frames back to back. */
        size_t expect_frames = (frames - n_fft) / hop + 1, expect_blocks = 0, pushed = 0, done_frames = 0,
               i = 0;
        while (pushed < frames) {
            size_t n = sizes[i];
            if (sizes[++i] == 0)
                i = 0;
            pushed += n < frames - pushed ? n : frames - pushed;
            size_t now = pushed >= n_fft ? (pushed - n_fft) / hop + 1 : 0;
            expect_blocks += now > done_frames;
            done_frames = now;
        }
        size_t total = 0;
        uint64_t next = start;
        double *band_sum = calloc(n_mels, sizeof(double));
        for (size_t b = 0; b < h.n_blocks; b++) {
            const rec_block_t *r = &h.blocks[b];
            CHECK(r->channels == n_mels && r->frames >= 1, "logmel: block %zu has %u frames of %u values", b,
                  r->frames, r->channels);
            CHECK(r->frame0 == next, "logmel: block %zu starts at frame %llu, expected %llu", b,
                  (unsigned long long)r->frame0, (unsigned long long)next);
            CHECK(llabs(r->time_ns - s_time_of(&s, r->frame0)) <= 1000,
                  "logmel: block %zu time %lld, expected %lld", b, (long long)r->time_ns,
                  (long long)s_time_of(&s, r->frame0));
            for (uint32_t f = 0; f < r->frames; f++)
                for (uint32_t m = 0; m < n_mels; m++)
                    band_sum[m] += r->samples[f * n_mels + m];
            next = r->frame0 + (uint64_t)r->frames * hop;
            total += r->frames;
        }
        CHECK(total == expect_frames, "logmel: %zu frames for %zu samples, expected %zu", total, frames,
              expect_frames);
        CHECK(h.n_blocks == expect_blocks, "logmel: %zu blocks published, expected %zu", h.n_blocks,
              expect_blocks);

        uint32_t loudest = 0;
        for (uint32_t m = 1; m < n_mels; m++)
            if (band_sum[m] > band_sum[loudest])
                loudest = m;
        uint32_t expected_band = s_band_of(1000.0, n_mels, 0.0, rate / 2.0);
        CHECK(loudest == expected_band, "logmel: loudest band %u for 1 kHz, expected %u", loudest,
              expected_band);
        free(band_sum);

        /* One summary per second of audio, naming the same band. */
        char needle[64];
        snprintf(needle, sizeof needle, "loudest band %u (", expected_band);
        int lines = s_count_logs(&h, needle, 1), from_process = s_count_logs(&h, "", 1);
        CHECK(lines == 2 && from_process == 2,
              "logmel: %d of %d lines from process name band %u, expected 2; last: %s", lines, from_process,
              expected_band, s_last_log(&h));
        /* Frames completed in each second: 97 to 101, as blocks end. */
        for (int l = 0; l < h.n_logs; l++) {
            unsigned count = 0;
            if (!h.log_from_process[l])
                continue;
            CHECK(sscanf(h.logs[l], "%u frames, mean ", &count) == 1 && count >= 97 && count <= 101,
                  "logmel: summary \"%s\", expected about 100 frames a second", h.logs[l]);
        }

        /* Stereo (2x, 0) mixes to the same mono, bit for bit. */
        size_t values = total * n_mels;
        float *all = malloc((values ? values : 1) * sizeof(float));
        for (size_t b = 0, at = 0; b < h.n_blocks; b++) {
            memcpy(all + at, h.blocks[b].samples, (size_t)h.blocks[b].frames * n_mels * sizeof(float));
            at += (size_t)h.blocks[b].frames * n_mels;
        }
        if (channels == 1) {
            first_run = all;
            first_run_values = values;
        } else {
            CHECK(values == first_run_values && memcmp(all, first_run, values * sizeof(float)) == 0,
                  "logmel: stereo (2x, 0) differs from mono x");
            free(all);
        }
        d->deactivate(self);
        d->destroy(self);
        s_host_clear(&h);
    }
    free(first_run);

    /* A gap upstream restarts the analysis at the new position. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){"n_mels=20", "n_fft=400", "hop=100", NULL}, error,
                              sizeof error);
        CHECK(self != NULL, "logmel: create n_fft=400 failed: %s", error);
        s_activate(d, self, rate, 1, 1000, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        ab_plugin_block_t b = {.struct_size = sizeof b,
                               .frames = 1000,
                               .channels = 1,
                               .rate = rate,
                               .frame0 = 0,
                               .samples = mono,
                               .raw_format = AB_PLUGIN_FORMAT_F32};
        s_process_block(d, self, &b); /* frames at 0 .. 600 */
        b.frame0 = 1000 + 5000;       /* 5000 frames lost */
        b.samples = mono + 1000;
        s_process_block(d, self, &b);
        CHECK(h.n_blocks == 2 && h.blocks[0].frames == 7 && h.blocks[1].frame0 == 6000 &&
                  h.blocks[1].frames == 7 && h.blocks[1].channels == 20,
              "logmel: across a gap: %zu blocks, second at %llu with %u frames", h.n_blocks,
              h.n_blocks > 1 ? (unsigned long long)h.blocks[1].frame0 : 0ull,
              h.n_blocks > 1 ? h.blocks[1].frames : 0);
        d->deactivate(self);
        CHECK(s_count_logs(&h, "1 gaps", 0) == 1, "logmel: gap not reported; last: %s", s_last_log(&h));
        d->destroy(self);
        s_host_clear(&h);
    }

    /* fmax above half the rate is refused when the rate is known. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){"fmax=9000", NULL}, error, sizeof error);
        CHECK(self != NULL, "logmel: create fmax=9000 failed: %s", error);
        int32_t rc = s_activate(d, self, rate, 1, 1024, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        CHECK(rc == AB_PLUGIN_ERROR && strstr(error, "logmel: ") == error && strstr(error, "9000") &&
                  strstr(error, "fmax"),
              "logmel: fmax=9000 at 16 kHz: rc %d, message: %s", rc, error);
        d->destroy(self);
        s_host_clear(&h);
    }

    s_expect_refused(d, (const char *const[]){"n_mels=0", NULL}, "n_mels", "\"0\"");
    s_expect_refused(d, (const char *const[]){"n_mels=forty", NULL}, "n_mels", "forty");
    s_expect_refused(d, (const char *const[]){"n_fft=511", NULL}, "n_fft", "511");
    s_expect_refused(d, (const char *const[]){"hop=0", NULL}, "hop", "\"0\"");
    s_expect_refused(d, (const char *const[]){"fmin=-5", NULL}, "fmin", "-5");
    s_expect_refused(d, (const char *const[]){"fmin=4000", "fmax=300", NULL}, "fmax", "fmin");
    s_expect_refused(d, (const char *const[]){"publish=2", NULL}, "publish", "\"2\"");
    s_expect_refused(d, (const char *const[]){"window=kaiser", NULL}, "window", "kaiser");
    s_expect_refused(d, (const char *const[]){"scale=bark", NULL}, "scale", "bark");
    s_expect_refused(d, (const char *const[]){"spectrum=complex", NULL}, "spectrum", "complex");
    s_expect_refused(d, (const char *const[]){"norm=area", NULL}, "norm", "area");
    s_expect_refused(d, (const char *const[]){"log=log10", NULL}, "log", "log10");
    s_expect_refused(d, (const char *const[]){"floor=0", NULL}, "floor", "\"0\"");
    s_expect_refused(d, (const char *const[]){"png=", NULL}, "png", NULL);
    s_expect_refused(d, (const char *const[]){"png_seconds=0", NULL}, "png_seconds", "\"0\"");
    s_expect_refused(d, (const char *const[]){"png_range=-3", NULL}, "png_range", "-3");
    s_expect_refused(d, (const char *const[]){"winlen=25", NULL}, "winlen", NULL);
    free(mono);
    free(stereo);
}

/* ---------------------------------------------------------------------
 * wavwrite
 */
typedef struct {
    const char *name;
    uint32_t rate, channels, raw_format;
    const char *format_param; /* NULL = auto */
    int file_subtype;         /* SF_FORMAT_* expected */
} wav_case_t;

/* Known samples in the stream's format: full-scale extremes, zero, odd
 * values and pseudo-random ones. */
static void s_make_samples(uint32_t raw_format, size_t n, float **samples, uint8_t **raw)
{
    *samples = malloc(n * sizeof(float));
    uint32_t s = 12345;
    if (raw_format == AB_PLUGIN_FORMAT_F32) {
        static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1.5f, -2.0f, 1e-40f, 0.999999f, 3.0e38f};
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            (*samples)[i] = i < 9 ? special[i] : (float)(((double)(s >> 8) / (1 << 24) - 0.5) * 2.2);
        }
        *raw = s_f32_le(*samples, n);
    } else {
        size_t ss = s_sample_size(raw_format);
        *raw = malloc(n * ss);
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            int64_t v;
            if (raw_format == AB_PLUGIN_FORMAT_S16)
                v = i == 0 ? -32768 : i == 1 ? 32767 : i == 2 ? 0 : (int16_t)(s >> 16);
            else
                v = i == 0 ? INT32_MIN : i == 1 ? INT32_MAX : i == 2 ? 0 : (int32_t)s;
            for (size_t j = 0; j < ss; j++)
                (*raw)[i * ss + j] = (uint8_t)((uint64_t)v >> (8 * j));
            (*samples)[i] =
                (float)((double)v / (raw_format == AB_PLUGIN_FORMAT_S16 ? 32768.0 : 2147483648.0));
        }
    }
}

/* What the file must hold when converted from f32 samples. */
static uint8_t *s_expected_conversion(const float *x, size_t n, int subtype)
{
    if (subtype == SF_FORMAT_FLOAT)
        return s_f32_le(x, n);
    size_t ss = subtype == SF_FORMAT_PCM_16 ? 2 : 4;
    double scale = ss == 2 ? 32768.0 : 2147483648.0;
    uint8_t *out = malloc(n * ss);
    for (size_t i = 0; i < n; i++) {
        double v = nearbyint(x[i] * scale);
        v = v > scale - 1 ? scale - 1 : v < -scale ? -scale : v;
        int64_t iv = (int64_t)v;
        for (size_t j = 0; j < ss; j++)
            out[i * ss + j] = (uint8_t)((uint64_t)iv >> (8 * j));
    }
    return out;
}

static uint8_t *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    *len = fread(buf, 1, size > 0 ? (size_t)size : 0, f);
    fclose(f);
    return buf;
}

static void s_test_wavwrite(const ab_plugin_descriptor_t *d, const char *tmpdir)
{
    printf("wavwrite\n");
    char error[512], path[4096], path_param[4200];
    static const size_t sizes[] = {1, 7, 333, 1001, 64, 999, 0};
    const wav_case_t cases[] = {
        {"f32 stereo, auto", 44100, 2, AB_PLUGIN_FORMAT_F32, NULL, SF_FORMAT_FLOAT},
        {"s16 mono, auto", 16000, 1, AB_PLUGIN_FORMAT_S16, NULL, SF_FORMAT_PCM_16},
        {"s32 3 channels, auto", 48000, 3, AB_PLUGIN_FORMAT_S32, "auto", SF_FORMAT_PCM_32},
        {"f32 stereo as s16", 48000, 2, AB_PLUGIN_FORMAT_F32, "s16", SF_FORMAT_PCM_16},
        {"s16 mono as f32", 16000, 1, AB_PLUGIN_FORMAT_S16, "f32", SF_FORMAT_FLOAT},
        {"f32 mono as s32", 8000, 1, AB_PLUGIN_FORMAT_F32, "s32", SF_FORMAT_PCM_32},
    };
    const size_t frames = 9973;

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const wav_case_t *k = &cases[c];
        printf("  %s\n", k->name);
        snprintf(path, sizeof path, "%s/case%zu.wav", tmpdir, c);
        snprintf(path_param, sizeof path_param, "path=%s", path);
        char format_param[32];
        snprintf(format_param, sizeof format_param, "format=%s", k->format_param ? k->format_param : "auto");
        rec_host_t h;
        s_host_init(&h);
        void *self =
            s_create(d, &h, (const char *const[]){path_param, format_param, NULL}, error, sizeof error);
        CHECK(self != NULL, "wavwrite: create failed: %s", error);
        if (!self)
            continue;
        int32_t rc = s_activate(d, self, k->rate, k->channels, 1001, k->raw_format, error, sizeof error);
        CHECK(rc == AB_PLUGIN_OK, "wavwrite: activate failed: %s", error);
        if (rc != AB_PLUGIN_OK) {
            d->destroy(self);
            continue;
        }
        CHECK(h.n_outputs == 0, "wavwrite declared %d outputs", h.n_outputs);

        float *x;
        uint8_t *raw;
        s_make_samples(k->raw_format, frames * k->channels, &x, &raw);
        stream_t s = {.rate = k->rate,
                      .channels = k->channels,
                      .raw_format = k->raw_format,
                      .samples = x,
                      .raw = raw,
                      .frames = frames / 2,
                      .sizes = sizes};
        s_feed(d, self, &s);
        /* Mid-stream, a block of another channel count and one of another
         * wire format: both skipped. */
        ab_plugin_block_t wrong = {.struct_size = sizeof wrong,
                                   .frames = 5,
                                   .channels = k->channels + 1,
                                   .rate = k->rate,
                                   .frame0 = frames / 2,
                                   .samples = x,
                                   .raw = raw,
                                   .raw_format = k->raw_format,
                                   .raw_bytes =
                                       (uint32_t)(5 * (k->channels + 1) * s_sample_size(k->raw_format))};
        s_process_block(d, self, &wrong);
        if (!k->format_param || strcmp(k->format_param, "auto") == 0) {
            wrong.channels = k->channels;
            wrong.raw_format =
                k->raw_format == AB_PLUGIN_FORMAT_S16 ? AB_PLUGIN_FORMAT_F32 : AB_PLUGIN_FORMAT_S16;
            wrong.raw_bytes = (uint32_t)(5 * k->channels * s_sample_size(wrong.raw_format));
        } else {
            wrong.rate = k->rate + 1;
        }
        s_process_block(d, self, &wrong);
        s.frame0 = s.frames;
        s.samples = x + s.frames * k->channels;
        s.raw = raw + s.frames * k->channels * s_sample_size(k->raw_format);
        s.frames = frames - frames / 2;
        s_feed(d, self, &s);
        d->deactivate(self);

        char needle[128];
        snprintf(needle, sizeof needle, "wrote %zu frames", frames);
        CHECK(s_count_logs(&h, needle, 0) == 1 &&
                  s_count_logs(&h, "dropped 0 frames, skipped 2 blocks, 0 gaps", 0) == 1,
              "wavwrite %s: final line: %s", k->name, s_last_log(&h));
        CHECK(h.n_fails == 0, "wavwrite %s: host->fail: %s", k->name, h.fail);
        d->destroy(self);

        size_t file_len = 0;
        uint8_t *file = s_read_file(path, &file_len);
        CHECK(file && file_len > 12 && memcmp(file, "RIFF", 4) == 0 && memcmp(file + 8, "WAVE", 4) == 0,
              "wavwrite %s: %s is not RIFF/WAVE", k->name, path);
        free(file);

        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        CHECK(sf != NULL, "wavwrite %s: libsndfile cannot read %s: %s", k->name, path, sf_strerror(NULL));
        if (sf) {
            CHECK(info.samplerate == (int)k->rate && info.channels == (int)k->channels &&
                      info.frames == (sf_count_t)frames &&
                      (info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV &&
                      (info.format & SF_FORMAT_SUBMASK) == k->file_subtype,
                  "wavwrite %s: file has rate %d channels %d frames %lld format 0x%x", k->name,
                  info.samplerate, info.channels, (long long)info.frames, info.format);
            size_t n = frames * k->channels;
            size_t bytes = n * (k->file_subtype == SF_FORMAT_PCM_16 ? 2 : 4);
            /* Ask for one frame more than expected, to see that there is none. */
            size_t frame_bytes = bytes / frames;
            uint8_t *got = calloc(bytes + frame_bytes, 1);
            sf_count_t read = sf_read_raw(sf, got, (sf_count_t)(bytes + frame_bytes));
            const uint8_t *want = raw;
            uint8_t *converted = NULL;
            if (k->format_param && strcmp(k->format_param, "auto") != 0)
                want = converted = s_expected_conversion(x, n, k->file_subtype);
            CHECK(read == (sf_count_t)bytes, "wavwrite %s: %lld bytes of samples, expected %zu", k->name,
                  (long long)read, bytes);
            size_t first_diff = bytes;
            for (size_t i = 0; i < bytes && read == (sf_count_t)bytes; i++)
                if (got[i] != want[i]) {
                    first_diff = i;
                    break;
                }
            CHECK(first_diff == bytes, "wavwrite %s: byte %zu is 0x%02x, expected 0x%02x", k->name,
                  first_diff, first_diff < bytes ? got[first_diff] : 0,
                  first_diff < bytes ? want[first_diff] : 0);
            free(got);
            free(converted);
            sf_close(sf);
        }
        unlink(path);
        free(x);
        free(raw);
        s_host_clear(&h);
    }

    /* A ring of 0.001 s (16 frames) cannot hold blocks of 100 frames: the
     * excess is dropped, counted and reported, and what is written is a
     * subsequence of the input in order. */
    {
        printf("  dropping when the ring is full\n");
        snprintf(path, sizeof path, "%s/drops.wav", tmpdir);
        snprintf(path_param, sizeof path_param, "path=%s", path);
        rec_host_t h;
        s_host_init(&h);
        void *self =
            s_create(d, &h, (const char *const[]){path_param, "buffer=0.001", NULL}, error, sizeof error);
        CHECK(self != NULL, "wavwrite: create buffer=0.001 failed: %s", error);
        s_activate(d, self, 8000, 1, 100, AB_PLUGIN_FORMAT_F32, error, sizeof error);
        const size_t n = 10000;
        float *x = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            x[i] = (float)i;
        uint8_t *raw = s_f32_le(x, n);
        stream_t s = {.rate = 8000,
                      .channels = 1,
                      .raw_format = AB_PLUGIN_FORMAT_F32,
                      .samples = x,
                      .raw = raw,
                      .frames = n,
                      .sizes = (const size_t[]){100, 0}};
        s_feed(d, self, &s);
        int process_lines = s_count_logs(&h, "the disk is behind", 1);
        d->deactivate(self);
        unsigned long long written = 0, dropped = 0;
        const char *final = s_last_log(&h);
        const char *w = strstr(final, "wrote "), *p = strstr(final, "dropped ");
        CHECK(w && p && sscanf(w, "wrote %llu", &written) == 1 && sscanf(p, "dropped %llu", &dropped) == 1,
              "wavwrite: final line: %s", final);
        CHECK(written + dropped == n && dropped >= 8400,
              "wavwrite: wrote %llu + dropped %llu, expected %zu in all with "
              "at least 8400 dropped",
              written, dropped, n);
        /* 1.25 s of audio: reports at the first drop and a second later. */
        CHECK(process_lines == 2, "wavwrite: %d drop reports from process, expected 2", process_lines);
        SF_INFO info = {0};
        SNDFILE *sf = sf_open(path, SFM_READ, &info);
        CHECK(sf && info.frames == (sf_count_t)written, "wavwrite: file has %lld frames, the log says %llu",
              sf ? (long long)info.frames : -1LL, written);
        if (sf) {
            float *got = malloc((size_t)(info.frames + 1) * sizeof(float));
            sf_count_t r = sf_readf_float(sf, got, info.frames);
            for (sf_count_t i = 1; i < r; i++)
                if (!(got[i] > got[i - 1])) {
                    CHECK(got[i] > got[i - 1], "wavwrite: frame %lld is %g after %g", (long long)i, got[i],
                          got[i - 1]);
                    break;
                }
            free(got);
            sf_close(sf);
        }
        d->destroy(self);
        unlink(path);
        free(x);
        free(raw);
        s_host_clear(&h);
    }

    /* Activated again for a new stream shape, it records into a new file
     * and leaves the first one whole. */
    {
        printf("  a new file per activation\n");
        char second[4096];
        snprintf(path, sizeof path, "%s/seg.wav", tmpdir);
        snprintf(second, sizeof second, "%s/seg-2.wav", tmpdir);
        snprintf(path_param, sizeof path_param, "path=%s", path);
        rec_host_t h;
        s_host_init(&h);
        void *self = s_create(d, &h, (const char *const[]){path_param, NULL}, error, sizeof error);
        CHECK(self != NULL, "wavwrite: create failed: %s", error);
        float *x;
        uint8_t *raw;
        s_make_samples(AB_PLUGIN_FORMAT_S16, 2000, &x, &raw);
        stream_t s = {.rate = 16000,
                      .channels = 1,
                      .raw_format = AB_PLUGIN_FORMAT_S16,
                      .samples = x,
                      .raw = raw,
                      .frames = 1000,
                      .sizes = (const size_t[]){160, 0}};
        CHECK(s_activate(d, self, 16000, 1, 160, AB_PLUGIN_FORMAT_S16, error, sizeof error) == AB_PLUGIN_OK,
              "wavwrite: activate failed: %s", error);
        s_feed(d, self, &s);
        d->deactivate(self);
        CHECK(s_activate(d, self, 8000, 2, 160, AB_PLUGIN_FORMAT_S16, error, sizeof error) == AB_PLUGIN_OK,
              "wavwrite: second activate failed: %s", error);
        s.rate = 8000;
        s.channels = 2;
        s.frames = 500;
        s_feed(d, self, &s);
        d->deactivate(self);
        d->destroy(self);
        CHECK(s_count_logs(&h, "seg-2.wav\"", 0) == 2, "wavwrite: second file not announced; last: %s",
              s_last_log(&h));
        const char *files[] = {path, second};
        const int rates[] = {16000, 8000}, channels[] = {1, 2}, lengths[] = {1000, 500};
        for (int f = 0; f < 2; f++) {
            SF_INFO info = {0};
            SNDFILE *sf = sf_open(files[f], SFM_READ, &info);
            CHECK(sf && info.samplerate == rates[f] && info.channels == channels[f] &&
                      info.frames == lengths[f],
                  "wavwrite: %s: rate %d channels %d frames %lld, expected %d %d %d", files[f],
                  info.samplerate, info.channels, (long long)info.frames, rates[f], channels[f], lengths[f]);
            if (sf) {
                uint8_t got[4000];
                sf_count_t n = sf_read_raw(sf, got, (sf_count_t)lengths[f] * channels[f] * 2);
                CHECK(n == lengths[f] * channels[f] * 2 && memcmp(got, raw, (size_t)n) == 0,
                      "wavwrite: %s: samples differ", files[f]);
                sf_close(sf);
            }
            unlink(files[f]);
        }
        free(x);
        free(raw);
        s_host_clear(&h);
    }

    /* A file that cannot be created fails activate(), naming it. */
    {
        rec_host_t h;
        s_host_init(&h);
        void *self =
            s_create(d, &h, (const char *const[]){"path=/nonexistent-dir/x.wav", NULL}, error, sizeof error);
        CHECK(self != NULL, "wavwrite: create failed: %s", error);
        int32_t rc = s_activate(d, self, 16000, 1, 160, AB_PLUGIN_FORMAT_S16, error, sizeof error);
        CHECK(rc == AB_PLUGIN_ERROR && strstr(error, "wavwrite: ") == error &&
                  strstr(error, "/nonexistent-dir/x.wav"),
              "wavwrite: unwritable path: rc %d, message: %s", rc, error);
        d->deactivate(self); /* harmless when not active */
        d->destroy(self);
        s_host_clear(&h);
    }

    s_expect_refused(d, (const char *const[]){"format=s16", NULL}, "path", NULL);
    s_expect_refused(d, (const char *const[]){"path=", NULL}, "path", NULL);
    s_expect_refused(d, (const char *const[]){"path=x.wav", "format=mp3", NULL}, "format", "\"mp3\"");
    s_expect_refused(d, (const char *const[]){"path=x.wav", "buffer=0", NULL}, "buffer", "\"0\"");
    s_expect_refused(d, (const char *const[]){"path=x.wav", "buffer=ten", NULL}, "buffer", "ten");
    s_expect_refused(d, (const char *const[]){"path=x.wav", "rate=8000", NULL}, "rate", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_plugins PLUGIN_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char tmpdir[] = "/tmp/audiobus-test-plugins-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }

    void *h_level = NULL, *h_logmel = NULL, *h_wav = NULL;
    const ab_plugin_descriptor_t *level =
        s_load(dir, "level", (const char *const[]){"interval", "publish", NULL}, &h_level);
    const ab_plugin_descriptor_t *logmel =
        s_load(dir, "logmel",
               (const char *const[]){"n_mels", "n_fft", "hop", "fmin", "fmax", "scale", "spectrum", "norm", "window",
                                     "log", "floor", "publish", "png", "png_seconds", "png_range", NULL},
               &h_logmel);
    const ab_plugin_descriptor_t *wav =
        s_load(dir, "wavwrite", (const char *const[]){"path", "format", "buffer", NULL}, &h_wav);
    if (level)
        s_test_level(level);
    if (logmel)
        s_test_logmel(logmel);
    if (wav)
        s_test_wavwrite(wav, tmpdir);

    if (h_level)
        dlclose(h_level);
    if (h_logmel)
        dlclose(h_logmel);
    if (h_wav)
        dlclose(h_wav);
    rmdir(tmpdir);

    int failures = atomic_load(&s_failures);
    if (failures) {
        fprintf(stderr, "test_plugins: %d checks failed\n", failures);
        return 1;
    }
    printf("test_plugins: all checks passed\n");
    return 0;
}
