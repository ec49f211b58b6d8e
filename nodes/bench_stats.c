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

bool bench_results_read(const char *path, bench_samples_t *samples, uint64_t *blocks, uint64_t *disorder)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    unsigned long long n_blocks, frames, n_disorder;
    bool ok = fscanf(f, "blocks %llu frames %llu disorder %llu", &n_blocks, &frames, &n_disorder) == 3;
    if (ok) {
        int c;
        while ((c = fgetc(f)) != EOF && c != '\n') {
        }
        int64_t chunk[1024];
        size_t n = 0;
        long long value;
        while (ok && fscanf(f, "%lld", &value) == 1) {
            chunk[n++] = value;
            if (n == sizeof chunk / sizeof chunk[0]) {
                ok = bench_samples_add(samples, chunk, n);
                n = 0;
            }
        }
        if (ok && n)
            ok = bench_samples_add(samples, chunk, n);
        *blocks += n_blocks;
        *disorder += n_disorder;
    }
    fclose(f);
    return ok;
}
