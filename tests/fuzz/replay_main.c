/* replay_main.c - main() for a fuzz target where libFuzzer is not available (gcc): run the seed corpus,
 * then mutated copies of it for a bounded time.
 *
 * usage: fuzz_TARGET [-max_total_time=SECONDS] [-seed=N] [-runs=N] [-max_len=BYTES] PATH...
 *
 * Each PATH is a file or a directory of files (not recursive), run in name
 * order. Then, for -max_total_time seconds (default 0: none) or -runs
 * inputs, whichever ends first, a seed is picked and mutated with a few of
 * the byte-level changes libFuzzer also makes (bit flips, msgpack tag bytes,
 * big-endian boundary integers, insertions, deletions, duplicated chunks,
 * splices with another seed), from a PRNG started at -seed (default 1), so a
 * failure found with one seed comes back with it, up to the time limit.
 * Other -flag=value arguments of libFuzzer are accepted and ignored.
 *
 * When an input breaks a property (the target traps) or crashes the code,
 * the input is written to ./TARGET-crash.bin before the process dies;
 * run the target with that file as its only PATH to reproduce it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_SANITIZER 1
#endif
#endif
#ifdef REPLAY_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

typedef struct {
    char *name;
    uint8_t *data;
    size_t len;
} s_seed_t;

static s_seed_t *s_seeds;
static size_t s_n_seeds, s_cap_seeds;

/* The input being run, for the crash handlers. */
static const uint8_t *s_current;
static size_t s_current_len;
static const char *s_current_seed; /* the seed file it is, or was mutated from */
static int s_current_mutated;
static char s_crash_path[4096];

static void s_save_current(void)
{
    static volatile sig_atomic_t saved;
    if (saved || !s_current)
        return;
    saved = 1;
    static const char seed_msg[] = "replay: failed on seed ";
    static const char mutated_msg[] = "replay: failed on a mutation of seed ";
    static const char msg1[] = "\nreplay: the failing input is in ";
    static const char msg2[] = " (run the target with that file to reproduce)\n";
    int fd = open(s_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t done = 0;
        while (done < s_current_len) {
            ssize_t n = write(fd, s_current + done, s_current_len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        close(fd);
        ssize_t ignored = s_current_mutated ? write(2, mutated_msg, sizeof mutated_msg - 1)
                                            : write(2, seed_msg, sizeof seed_msg - 1);
        ignored = write(2, s_current_seed, strlen(s_current_seed));
        ignored = write(2, msg1, sizeof msg1 - 1);
        ignored = write(2, s_crash_path, strlen(s_crash_path));
        ignored = write(2, msg2, sizeof msg2 - 1);
        (void)ignored;
    }
}

static void s_on_signal(int sig)
{
    s_save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void s_add_seed(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(2);
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *bigger = realloc(data, cap);
            if (!bigger) {
                fprintf(stderr, "replay: out of memory reading %s\n", path);
                exit(2);
            }
            data = bigger;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    if (s_n_seeds == s_cap_seeds) {
        s_cap_seeds = s_cap_seeds ? s_cap_seeds * 2 : 64;
        s_seed_t *bigger = realloc(s_seeds, s_cap_seeds * sizeof *s_seeds);
        if (!bigger) {
            fprintf(stderr, "replay: out of memory\n");
            exit(2);
        }
        s_seeds = bigger;
    }
    s_seeds[s_n_seeds].name = strdup(path);
    s_seeds[s_n_seeds].data = data;
    s_seeds[s_n_seeds].len = len;
    s_n_seeds++;
}

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void s_add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no file or directory %s\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        s_add_seed(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "replay: cannot read directory %s\n", path);
        exit(2);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **bigger = realloc(names, cap * sizeof *names);
            if (!bigger) {
                fprintf(stderr, "replay: out of memory\n");
                exit(2);
            }
            names = bigger;
        }
        size_t len = strlen(path) + strlen(entry->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            fprintf(stderr, "replay: out of memory\n");
            exit(2);
        }
        snprintf(names[n], len, "%s/%s", path, entry->d_name);
        n++;
    }
    closedir(dir);
    qsort(names, n, sizeof *names, s_compare_names);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            s_add_seed(names[i]);
        free(names[i]);
    }
    free(names);
}

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t s_rng;

static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t s_below(size_t n)
{
    return n ? (size_t)(s_next() % n) : 0;
}

/* Bytes that change the meaning of msgpack: every kind of tag and the
 * first and last of each fix range. */
static const uint8_t s_tags[] = {0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0,
                                 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd,
                                 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
                                 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};

/* Integers at the edges of the limits and of the encodings. */
static const uint64_t s_numbers[] = {0,          1,          16,         64,         65,         127,
                                     128,        255,        256,        257,        65535,      65536,
                                     65537,      1000000,    1000001,    1048576,    1049088,    0x7fffffffu,
                                     0x80000000u, 0xffffffffu, 0x100000000u, 0x7fffffffffffffffu, UINT64_MAX};

/* Apply one mutation to buf (len bytes, capacity max_len); returns the new length. */
static size_t s_mutate_once(uint8_t *buf, size_t len, size_t max_len)
{
    switch (s_below(9)) {
    case 0: /* flip a bit */
        if (len)
            buf[s_below(len)] ^= (uint8_t)(1u << s_below(8));
        return len;
    case 1: /* a random byte */
        if (len)
            buf[s_below(len)] = (uint8_t)s_next();
        return len;
    case 2: /* a msgpack tag byte */
        if (len)
            buf[s_below(len)] = s_tags[s_below(sizeof s_tags)];
        return len;
    case 3: { /* a boundary integer, big-endian, 1 2 4 or 8 bytes wide */
        size_t width = (size_t)1 << s_below(4);
        if (len < width)
            return len;
        uint64_t v = s_numbers[s_below(sizeof s_numbers / sizeof s_numbers[0])];
        if (s_below(4) == 0)
            v = ~v + 1; /* and its negation */
        size_t at = s_below(len - width + 1);
        for (size_t i = 0; i < width; i++)
            buf[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
        return len;
    }
    case 4: { /* insert 1..8 bytes */
        size_t n = 1 + s_below(8);
        if (len + n > max_len)
            return len;
        size_t at = s_below(len + 1);
        memmove(buf + at + n, buf + at, len - at);
        for (size_t i = 0; i < n; i++)
            buf[at + i] = s_below(2) ? (uint8_t)s_next() : s_tags[s_below(sizeof s_tags)];
        return len + n;
    }
    case 5: { /* delete a range */
        if (len == 0)
            return len;
        size_t at = s_below(len);
        size_t n = 1 + s_below(len - at < 16 ? len - at : 16);
        memmove(buf + at, buf + at + n, len - at - n);
        return len - n;
    }
    case 6: { /* duplicate a chunk elsewhere */
        if (len == 0)
            return len;
        size_t from = s_below(len);
        size_t n = 1 + s_below(len - from < 32 ? len - from : 32);
        if (len + n > max_len)
            return len;
        size_t at = s_below(len + 1);
        uint8_t chunk[32];
        memcpy(chunk, buf + from, n);
        memmove(buf + at + n, buf + at, len - at);
        memcpy(buf + at, chunk, n);
        return len + n;
    }
    case 7: /* truncate */
        return len ? s_below(len) : 0;
    default: { /* splice: keep a prefix, append the tail of another seed */
        const s_seed_t *other = &s_seeds[s_below(s_n_seeds)];
        size_t keep = s_below(len + 1);
        size_t from = s_below(other->len + 1);
        size_t n = other->len - from;
        if (keep + n > max_len)
            n = max_len - keep;
        memcpy(buf + keep, other->data + from, n);
        return keep + n;
    }
    }
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void s_run(const s_seed_t *seed, int mutated, const uint8_t *data, size_t len)
{
    /* An exact-size copy, so reading past the end is seen by ASan. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(copy, data, len);
    s_current = copy;
    s_current_len = len;
    s_current_seed = seed->name;
    s_current_mutated = mutated;
    LLVMFuzzerTestOneInput(copy, len);
    s_current = NULL;
    free(copy);
}

static int s_option(const char *arg, const char *name, double *value)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return 0;
    char *end;
    *value = strtod(arg + n + 1, &end);
    if (*end != '\0' || end == arg + n + 1 || *value < -1) {
        fprintf(stderr, "replay: bad value in %s\n", arg);
        exit(2);
    }
    return 1;
}

int main(int argc, char **argv)
{
    double max_time = 0, seed = 1, runs = -1, max_len = 0;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    snprintf(s_crash_path, sizeof s_crash_path, "%s-crash.bin", base);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (s_option(arg, "-max_total_time", &max_time) || s_option(arg, "-seed", &seed) ||
            s_option(arg, "-runs", &runs) || s_option(arg, "-max_len", &max_len))
            continue;
        if (arg[0] == '-' && strchr(arg, '=')) {
            fprintf(stderr, "replay: ignoring libFuzzer option %s\n", arg);
            continue;
        }
        s_add_path(arg);
    }
    if (s_n_seeds == 0) {
        fprintf(stderr, "usage: %s [-max_total_time=SECONDS] [-seed=N] [-runs=N] [-max_len=BYTES] PATH...\n"
                        "  runs every file of each PATH (a file or a directory), then mutated copies of them\n",
                base);
        return 2;
    }

#ifdef REPLAY_SANITIZER
    __sanitizer_set_death_callback(s_save_current);
#endif
    static const int signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        signal(signals[i], s_on_signal);

    size_t largest = 0;
    for (size_t i = 0; i < s_n_seeds; i++) {
        s_run(&s_seeds[i], 0, s_seeds[i].data, s_seeds[i].len);
        if (s_seeds[i].len > largest)
            largest = s_seeds[i].len;
    }
    printf("%s: %zu seed inputs ran\n", base, s_n_seeds);

    /* Like libFuzzer: inputs up to the largest seed, at least 4096 bytes. */
    size_t limit = max_len > 0 ? (size_t)max_len : largest > 4096 ? largest : 4096;
    uint8_t *buf = malloc(limit);
    if (!buf) {
        fprintf(stderr, "replay: out of memory\n");
        return 2;
    }
    s_rng = (uint64_t)seed;
    double start = s_now();
    uint64_t mutated = 0;
    while (max_time > 0 && s_now() - start < max_time && (runs < 0 || (double)mutated < runs)) {
        for (int batch = 0; batch < 64 && (runs < 0 || (double)mutated < runs); batch++) {
            const s_seed_t *seed_input = &s_seeds[s_below(s_n_seeds)];
            size_t len = seed_input->len < limit ? seed_input->len : limit;
            memcpy(buf, seed_input->data, len);
            for (size_t n = 1 + s_below(4); n > 0; n--)
                len = s_mutate_once(buf, len, limit);
            s_run(seed_input, 1, buf, len);
            mutated++;
        }
    }
    double elapsed = s_now() - start;
    printf("%s: %llu mutated inputs in %.1f s (seed %.0f, %.0f/s), no property broken\n", base,
           (unsigned long long)mutated, elapsed, seed, elapsed > 0 ? (double)mutated / elapsed : 0.0);
    free(buf);
    for (size_t i = 0; i < s_n_seeds; i++) {
        free(s_seeds[i].name);
        free(s_seeds[i].data);
    }
    free(s_seeds);
    return 0;
}
