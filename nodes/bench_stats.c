/* bench_stats.c - latency samples of a bench run and their percentiles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

bool bench_samples_add(bench_samples_t *samples, const int64_t *values, size_t n)
{
    if (samples->n + n > samples->cap) {
        size_t cap = samples->cap ? samples->cap : 4096;
        while (cap < samples->n + n)
            cap *= 2;
        int64_t *grown = realloc(samples->values, cap * sizeof *grown);
        if (!grown)
            return false;
        samples->values = grown;
        samples->cap = cap;
    }
    memcpy(samples->values + samples->n, values, n * sizeof *values);
    samples->n += n;
    return true;
}

static int s_compare(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted values. */
static double s_percentile(const int64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

void bench_samples_summary(bench_samples_t *samples, bench_latency_t *out)
{
    memset(out, 0, sizeof *out);
    if (samples->n == 0)
        return;
    qsort(samples->values, samples->n, sizeof *samples->values, s_compare);
    out->p50 = s_percentile(samples->values, samples->n, 50);
    out->p99 = s_percentile(samples->values, samples->n, 99);
    out->p999 = s_percentile(samples->values, samples->n, 99.9);
    out->max = (double)samples->values[samples->n - 1] / 1000.0;
}

void bench_samples_free(bench_samples_t *samples)
{
    free(samples->values);
    memset(samples, 0, sizeof *samples);
}

/* What the receivers of one run reported, added up. */
typedef struct {
    bench_samples_t samples;
    uint64_t blocks, disorder, gaps, gap_frames;
    int64_t first_ns, last_ns; /* earliest first arrival, latest last one; 0 unknown */
} s_results_t;

/* Add one receiver's results file; false when it is missing or malformed. */
static bool s_results_read(const char *path, s_results_t *results)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char header[512];
    unsigned long long n_blocks, frames, n_disorder;
    bool ok = fgets(header, sizeof header, f) &&
              sscanf(header, "blocks %llu frames %llu disorder %llu", &n_blocks, &frames, &n_disorder) == 3;
    long long first = 0, last = 0;
    const char *times = ok ? strstr(header, " first_ns ") : NULL;
    if (times && sscanf(times, " first_ns %lld last_ns %lld", &first, &last) == 2 && n_blocks > 0) {
        if (!results->first_ns || first < results->first_ns)
            results->first_ns = first;
        if (last > results->last_ns)
            results->last_ns = last;
    }
    unsigned long long gaps = 0, gap_frames = 0;
    const char *holes = ok ? strstr(header, " gaps ") : NULL;
    if (holes && sscanf(holes, " gaps %llu gap_frames %llu", &gaps, &gap_frames) == 2) {
        results->gaps += gaps;
        results->gap_frames += gap_frames;
    }
    int64_t chunk[1024];
    size_t n = 0;
    long long value;
    while (ok && fscanf(f, "%lld", &value) == 1) {
        chunk[n++] = value;
        if (n == sizeof chunk / sizeof chunk[0]) {
            ok = bench_samples_add(&results->samples, chunk, n);
            n = 0;
        }
    }
    if (ok && n)
        ok = bench_samples_add(&results->samples, chunk, n);
    if (ok) {
        results->blocks += n_blocks;
        results->disorder += n_disorder;
    }
    fclose(f);
    return ok;
}

void bench_results_collect(const bench_config_t *config, const char *dir, const char *file_prefix, const char *what,
                           bench_run_t *run)
{
    s_results_t results;
    memset(&results, 0, sizeof results);
    for (uint32_t s = 0; s < config->streams; s++)
        for (uint32_t p = 0; p < config->processors; p++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%ss%up%u.txt", dir, file_prefix, s, p);
            if (!s_results_read(path, &results)) {
                fprintf(stderr, "audiobus bench: no results from %s s%up%u (%s)\n", what, s, p, path);
                run->ok = false;
            }
        }
    run->speed = config->speed;
    run->expected = bench_blocks_per_stream(config) * config->streams * config->processors;
    run->received = results.blocks;
    run->disorder = results.disorder;
    run->gaps = results.gaps;
    run->gap_frames = results.gap_frames;
    run->offered_per_s = bench_offered_per_s(config);
    /* The arrivals span one block period less than the load lasts. */
    double period_s = config->block_frames / (config->rate * config->speed);
    double span_s = results.last_ns > results.first_ns ? (double)(results.last_ns - results.first_ns) / 1e9 : 0;
    run->deliveries_per_s = span_s > 0 ? (double)results.blocks / (span_s + period_s) : 0;
    bench_samples_summary(&results.samples, &run->latency);
    bench_samples_free(&results.samples);
}

bool bench_run_kept_up(const bench_run_t *run)
{
    return run->ok && run->received == run->expected && run->deliveries_per_s >= BENCH_KEEP_PACE * run->offered_per_s;
}
