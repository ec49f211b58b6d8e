/* bench_report.c - the results of `audiobus bench`: per run, medians and
 * spreads over runs of each kind, ratios audiobus / baseline, and each
 * node's CPU and memory; as a table or as one JSON object. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
    double median, min, max;
    size_t n;
} s_spread_t;

typedef double (*s_field_t)(const bench_run_t *run);

static double s_p50(const bench_run_t *r) { return r->latency.p50; }
static double s_p99(const bench_run_t *r) { return r->latency.p99; }
static double s_p999(const bench_run_t *r) { return r->latency.p999; }
static double s_max(const bench_run_t *r) { return r->latency.max; }
static double s_rate(const bench_run_t *r) { return r->deliveries_per_s; }

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static s_spread_t s_spread_of(double *values, size_t n)
{
    s_spread_t out = {0, 0, 0, n};
    if (n == 0)
        return out;
    qsort(values, n, sizeof *values, s_compare);
    out.min = values[0];
    out.max = values[n - 1];
    out.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return out;
}

/* A field over the runs of one kind. */
static s_spread_t s_spread(const bench_run_t *runs, size_t n_runs, bool baseline, s_field_t field)
{
    double values[256];
    size_t n = 0;
    for (size_t i = 0; i < n_runs && n < 256; i++)
        if (runs[i].baseline == baseline)
            values[n++] = field(&runs[i]);
    return s_spread_of(values, n);
}

/* A node's CPU or memory (by its index within a run) over the runs of one kind. */
static s_spread_t s_node_spread(const bench_run_t *runs, size_t n_runs, bool baseline, uint32_t node, bool cpu)
{
    double values[256];
    size_t n = 0;
    for (size_t i = 0; i < n_runs && n < 256; i++)
        if (runs[i].baseline == baseline && node < runs[i].n_nodes) {
            double v = cpu ? runs[i].nodes[node].cpu_percent : runs[i].nodes[node].rss_kb;
            if (v >= 0)
                values[n++] = v;
        }
    return s_spread_of(values, n);
}

static void s_totals(const bench_run_t *runs, size_t n_runs, bool baseline, uint64_t *expected, uint64_t *received,
                     uint64_t *disorder, uint64_t *gaps)
{
    *expected = *received = *disorder = *gaps = 0;
    for (size_t i = 0; i < n_runs; i++)
        if (runs[i].baseline == baseline) {
            *expected += runs[i].expected;
            *received += runs[i].received;
            *disorder += runs[i].disorder;
            *gaps += runs[i].gaps;
        }
}

/* The run of a kind to take the node list from (the first). */
static const bench_run_t *s_first(const bench_run_t *runs, size_t n_runs, bool baseline)
{
    for (size_t i = 0; i < n_runs; i++)
        if (runs[i].baseline == baseline)
            return &runs[i];
    return NULL;
}

static double s_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static const char *s_transport(const bench_config_t *config)
{
    return config->transport == BENCH_IPC ? "ipc" : "tcp";
}

static void s_print_spread(const char *label, s_spread_t s)
{
    if (s.n)
        printf("  %-14s %10.1f  (%.1f..%.1f)\n", label, s.median, s.min, s.max);
    else
        printf("  %-14s %10s  (no run)\n", label, "-");
}

/* Are there runs of both kinds to compare? */
static bool s_both_kinds(const bench_run_t *runs, size_t n_runs)
{
    bool seen[2] = {false, false};
    for (size_t i = 0; i < n_runs; i++)
        seen[runs[i].baseline] = true;
    return seen[0] && seen[1];
}

/* The recorders' own figures over audiobus's runs: capture overruns, and
 * the PortAudio callback's time when they captured from a device. */
static void s_print_capture(const bench_run_t *runs, size_t n_runs)
{
    uint64_t overruns = 0, callbacks = 0, p999 = 0, max = 0;
    double period = 0;
    for (size_t i = 0; i < n_runs; i++)
        if (!runs[i].baseline) {
            overruns += runs[i].overrun_frames;
            callbacks += runs[i].callbacks;
            p999 = runs[i].callback_p999_ns > p999 ? runs[i].callback_p999_ns : p999;
            max = runs[i].callback_max_ns > max ? runs[i].callback_max_ns : max;
            period = runs[i].block_period_ns;
        }
    printf("  %-14s %llu frames lost in capture (overruns)\n", "capture", (unsigned long long)overruns);
    if (callbacks && period > 0)
        printf("  %-14s %llu calls; p99.9 <= %.1f us (%.2f%% of the %.0f us block period), max %.1f us (%.2f%%)\n",
               "callback", (unsigned long long)callbacks, p999 / 1000.0, 100.0 * p999 / period, period / 1000.0,
               max / 1000.0, 100.0 * max / period);
}

/* How the processors run their plugin, as process's option says it. */
static const char *s_processing_name(const bench_config_t *config)
{
    return config->processing == AB_PROCESSING_INLINE   ? "inline"
           : config->processing == AB_PROCESSING_QUEUED ? "queued"
                                                        : "adaptive";
}

/* How the processors are run, for the title line. */
static const char *s_processor_kind(const bench_config_t *config, char *text, size_t text_len)
{
    /* the default (adaptive) goes unsaid */
    const char *mode = config->processing == AB_PROCESSING_ADAPTIVE ? NULL : s_processing_name(config);
    if (config->all_streams)
        snprintf(text, text_len, " (%s%seach taking every stream)", mode ? mode : "", mode ? ", " : "");
    else if (mode)
        snprintf(text, text_len, " (%s)", mode);
    else
        text[0] = '\0';
    return text;
}

void bench_report_text(const bench_config_t *config, const bench_run_t *runs, size_t n_runs)
{
    char kind[64];
    printf("audiobus bench: %u stream(s) x %u processor(s)%s, %u Hz, %u-frame blocks (f32 mono), %g s at %gx "
           "real time%s, %s, %u run(s)%s\n\n",
           config->streams, config->processors, s_processor_kind(config, kind, sizeof kind), config->rate,
           config->block_frames, config->duration, config->speed,
           config->jack ? ", captured through PortAudio from a dummy JACK server" : "", s_transport(config),
           config->runs, config->baseline ? " each, baseline and audiobus interleaved" : "");
    printf("%-12s %9s %9s %9s %9s %10s %9s %9s %6s %4s\n", "run", "p50 us", "p99 us", "p99.9 us", "max us",
           "deliv/s", "expected", "received", "lost", "ok");
    size_t counts[2] = {0, 0};
    for (size_t i = 0; i < n_runs; i++) {
        const bench_run_t *r = &runs[i];
        char label[32];
        snprintf(label, sizeof label, "%s %zu", r->baseline ? "baseline" : "audiobus", ++counts[r->baseline]);
        printf("%-12s %9.1f %9.1f %9.1f %9.1f %10.1f %9llu %9llu %6lld %4s\n", label, r->latency.p50, r->latency.p99,
               r->latency.p999, r->latency.max, r->deliveries_per_s, (unsigned long long)r->expected,
               (unsigned long long)r->received, (long long)r->expected - (long long)r->received,
               r->ok && r->received == r->expected ? "yes" : "NO"); /* as the exit status judges it */
    }
    for (int kind = config->baseline ? 0 : 1; kind < 2; kind++) {
        bool baseline = kind == 0;
        uint64_t expected, received, disorder, gaps;
        s_totals(runs, n_runs, baseline, &expected, &received, &disorder, &gaps);
        printf("\n%s: median (min..max) over runs\n", baseline ? "baseline (bare zmq_proxy)" : "audiobus");
        s_print_spread("p50 us", s_spread(runs, n_runs, baseline, s_p50));
        s_print_spread("p99 us", s_spread(runs, n_runs, baseline, s_p99));
        s_print_spread("p99.9 us", s_spread(runs, n_runs, baseline, s_p999));
        s_print_spread("max us", s_spread(runs, n_runs, baseline, s_max));
        s_print_spread("deliveries/s", s_spread(runs, n_runs, baseline, s_rate));
        printf("  %-14s %llu expected, %llu received, %lld lost, %llu out of order\n", "blocks",
               (unsigned long long)expected, (unsigned long long)received, (long long)expected - (long long)received,
               (unsigned long long)disorder);
        if (!baseline)
            printf("  %-14s %llu reported to the plugins (gap calls)\n", "holes", (unsigned long long)gaps);
        if (!baseline)
            s_print_capture(runs, n_runs);
        const bench_run_t *first = s_first(runs, n_runs, baseline);
        printf("  %-24s %18s %20s\n", "node", "CPU % of a core", "VmRSS MB");
        for (uint32_t n = 0; first && n < first->n_nodes; n++) {
            s_spread_t cpu = s_node_spread(runs, n_runs, baseline, n, true);
            s_spread_t rss = s_node_spread(runs, n_runs, baseline, n, false);
            char who[80], cpu_text[48] = "-", rss_text[48] = "-";
            snprintf(who, sizeof who, "%s %s", first->nodes[n].role, first->nodes[n].name);
            if (cpu.n)
                snprintf(cpu_text, sizeof cpu_text, "%.1f (%.1f..%.1f)", cpu.median, cpu.min, cpu.max);
            if (rss.n)
                snprintf(rss_text, sizeof rss_text, "%.1f (%.1f..%.1f)", rss.median / 1024, rss.min / 1024,
                         rss.max / 1024);
            printf("  %-24.24s %18s %20s\n", who, cpu_text, rss_text);
        }
    }
    if (config->baseline && !s_both_kinds(runs, n_runs))
        printf("\nratio audiobus / baseline: none (no run of each kind to compare)\n");
    else if (config->baseline) {
        printf("\nratio audiobus / baseline (medians): p50 %.2fx, p99 %.2fx, deliveries/s %.2fx\n",
               s_ratio(s_spread(runs, n_runs, false, s_p50).median, s_spread(runs, n_runs, true, s_p50).median),
               s_ratio(s_spread(runs, n_runs, false, s_p99).median, s_spread(runs, n_runs, true, s_p99).median),
               s_ratio(s_spread(runs, n_runs, false, s_rate).median, s_spread(runs, n_runs, true, s_rate).median));
    }
}

static json_t *s_spread_json(s_spread_t s)
{
    return json_pack("{s:f,s:f,s:f}", "median", s.median, "min", s.min, "max", s.max);
}

static json_t *s_summary_json(const bench_run_t *runs, size_t n_runs, bool baseline)
{
    uint64_t expected, received, disorder, gaps;
    s_totals(runs, n_runs, baseline, &expected, &received, &disorder, &gaps);
    json_t *nodes = json_array();
    const bench_run_t *first = s_first(runs, n_runs, baseline);
    for (uint32_t n = 0; first && n < first->n_nodes; n++) {
        s_spread_t cpu = s_node_spread(runs, n_runs, baseline, n, true);
        s_spread_t rss = s_node_spread(runs, n_runs, baseline, n, false);
        json_array_append_new(nodes, json_pack("{s:s,s:s,s:o,s:o}", "role", first->nodes[n].role, "name",
                                               first->nodes[n].name, "cpu_percent",
                                               cpu.n ? s_spread_json(cpu) : json_null(), "rss_kb",
                                               rss.n ? s_spread_json(rss) : json_null()));
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:o}", "p50_us",
                     s_spread_json(s_spread(runs, n_runs, baseline, s_p50)), "p99_us",
                     s_spread_json(s_spread(runs, n_runs, baseline, s_p99)), "p999_us",
                     s_spread_json(s_spread(runs, n_runs, baseline, s_p999)), "max_us",
                     s_spread_json(s_spread(runs, n_runs, baseline, s_max)), "deliveries_per_s",
                     s_spread_json(s_spread(runs, n_runs, baseline, s_rate)), "expected", (json_int_t)expected,
                     "received", (json_int_t)received, "lost", (json_int_t)expected - (json_int_t)received,
                     "out_of_order", (json_int_t)disorder, "gaps", (json_int_t)gaps, "nodes", nodes);
}

/* Print one JSON object on a line and free it. */
static void s_print_json(json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (text)
        printf("%s\n", text);
    else
        fprintf(stderr, "audiobus bench: cannot format the results as JSON\n");
    free(text);
    json_decref(root);
}

static json_t *s_config_json(const bench_config_t *config)
{
    return json_pack("{s:i,s:b,s:i,s:i,s:i,s:f,s:f,s:i,s:b,s:b,s:b,s:b,s:s,s:s,s:s}", "streams", (int)config->streams,
                     "all_streams", config->all_streams,
                     "processors", (int)config->processors, "rate", (int)config->rate, "block",
                     (int)config->block_frames, "duration", config->duration, "speed", config->speed, "runs",
                     (int)config->runs, "baseline", config->baseline, "capacity", config->capacity, "jack",
                     config->jack, "inline", config->processing == AB_PROCESSING_INLINE, "processing",
                     s_processing_name(config), "transport", s_transport(config), "broker",
                     config->broker ? config->broker : "started");
}

void bench_report_json(const bench_config_t *config, const bench_run_t *runs, size_t n_runs)
{
    json_t *list = json_array();
    bool ok = true;
    for (size_t i = 0; i < n_runs; i++) {
        const bench_run_t *r = &runs[i];
        ok = ok && r->ok && r->received == r->expected;
        json_t *nodes = json_array();
        for (uint32_t n = 0; n < r->n_nodes; n++)
            json_array_append_new(nodes, json_pack("{s:s,s:s,s:o,s:o}", "role", r->nodes[n].role, "name",
                                                   r->nodes[n].name, "cpu_percent",
                                                   r->nodes[n].cpu_percent >= 0 ? json_real(r->nodes[n].cpu_percent)
                                                                                : json_null(),
                                                   "rss_kb",
                                                   r->nodes[n].rss_kb >= 0 ? json_real(r->nodes[n].rss_kb)
                                                                           : json_null()));
        json_t *capture = r->baseline ? json_null()
                                      : json_pack("{s:I,s:I,s:I,s:I,s:f}", "overrun_frames",
                                                  (json_int_t)r->overrun_frames, "callbacks",
                                                  (json_int_t)r->callbacks, "callback_p999_ns",
                                                  (json_int_t)r->callback_p999_ns, "callback_max_ns",
                                                  (json_int_t)r->callback_max_ns, "block_period_ns",
                                                  r->block_period_ns);
        json_array_append_new(
            list, json_pack("{s:s,s:b,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:o,s:o}", "kind",
                            r->baseline ? "baseline" : "audiobus", "ok", r->ok, "seconds", r->seconds, "p50_us",
                            r->latency.p50, "p99_us", r->latency.p99, "p999_us", r->latency.p999, "max_us",
                            r->latency.max, "deliveries_per_s", r->deliveries_per_s, "expected",
                            (json_int_t)r->expected, "received", (json_int_t)r->received, "lost",
                            (json_int_t)r->expected - (json_int_t)r->received, "out_of_order",
                            (json_int_t)r->disorder, "nodes", nodes, "capture", capture));
    }
    json_t *root = json_pack(
        "{s:o,s:b,s:o,s:o,s:o,s:o}", "config", s_config_json(config), "ok", ok, "runs", list,
        "audiobus", s_summary_json(runs, n_runs, false), "baseline",
        config->baseline ? s_summary_json(runs, n_runs, true) : json_null(), "ratios",
        config->baseline && s_both_kinds(runs, n_runs)
            ? json_pack("{s:f,s:f,s:f}", "p50",
                        s_ratio(s_spread(runs, n_runs, false, s_p50).median,
                                s_spread(runs, n_runs, true, s_p50).median),
                        "p99",
                        s_ratio(s_spread(runs, n_runs, false, s_p99).median,
                                s_spread(runs, n_runs, true, s_p99).median),
                        "deliveries_per_s",
                        s_ratio(s_spread(runs, n_runs, false, s_rate).median,
                                s_spread(runs, n_runs, true, s_rate).median))
            : json_null());
    s_print_json(root);
}

/* The run of a kind with the highest speed that kept up; NULL if none did. */
static const bench_run_t *s_capacity_run(const bench_run_t *runs, size_t n_runs, bool baseline)
{
    const bench_run_t *best = NULL;
    for (size_t i = 0; i < n_runs; i++)
        if (runs[i].baseline == baseline && bench_run_kept_up(&runs[i]) && (!best || runs[i].speed > best->speed))
            best = &runs[i];
    return best;
}

/* The node of a run with this role that used the most CPU, as an index; -1 if none. */
static int s_busiest(const bench_run_t *run, const char *role)
{
    int busiest = -1;
    for (uint32_t n = 0; n < run->n_nodes; n++)
        if (strcmp(run->nodes[n].role, role) == 0 &&
            (busiest < 0 || run->nodes[n].cpu_percent > run->nodes[busiest].cpu_percent))
            busiest = (int)n;
    return busiest;
}

void bench_report_capacity_text(const bench_config_t *config, const bench_run_t *runs, size_t n_runs)
{
    char kind[64];
    printf("audiobus bench --capacity: %u stream(s) x %u processor(s)%s, %u Hz, %u-frame blocks (%u bytes, f32 mono), "
           "%g s a step, %s; kept up = no block lost and >= %.0f%% of the offered rate taken\n\n",
           config->streams, config->processors, s_processor_kind(config, kind, sizeof kind), config->rate,
           config->block_frames, config->block_frames * 4, config->duration, s_transport(config),
           100 * BENCH_KEEP_PACE);
    printf("%-9s %9s %12s %12s %9s %9s %9s %9s %9s %7s\n", "kind", "speed", "offered/s", "deliv/s", "lost",
           "in gaps", "p50 us", "p99 us", "hub CPU%", "kept up");
    for (size_t i = 0; i < n_runs; i++) {
        const bench_run_t *r = &runs[i];
        int hub = s_busiest(r, r->baseline ? "relay" : "broker");
        char in_gaps[32] = "-"; /* blocks' worth of frames the plugins were told were lost */
        if (!r->baseline)
            snprintf(in_gaps, sizeof in_gaps, "%llu",
                     (unsigned long long)(r->gap_frames + config->block_frames - 1) / config->block_frames);
        printf("%-9s %9.3g %12.0f %12.0f %9lld %9s %9.1f %9.1f %9.1f %7s\n", r->baseline ? "baseline" : "audiobus",
               r->speed, r->offered_per_s, r->deliveries_per_s, (long long)r->expected - (long long)r->received,
               in_gaps, r->latency.p50, r->latency.p99, hub >= 0 ? r->nodes[hub].cpu_percent : -1,
               bench_run_kept_up(r) ? "yes" : "no");
    }
    const bench_run_t *best[2] = {s_capacity_run(runs, n_runs, true), s_capacity_run(runs, n_runs, false)};
    printf("\n");
    for (int kind = config->baseline ? 0 : 1; kind < 2; kind++) {
        const char *label = kind == 0 ? "baseline (bare zmq_proxy)" : "audiobus";
        if (best[kind])
            printf("capacity, %s: %.0f deliveries/s (speed %.3g, %.0f blocks/s a stream)\n", label,
                   best[kind]->deliveries_per_s, best[kind]->speed,
                   best[kind]->deliveries_per_s / (config->streams * config->processors));
        else
            printf("capacity, %s: did not keep up at any speed tried\n", label);
    }
    if (config->baseline && best[0] && best[1])
        printf("ratio audiobus / baseline: deliveries/s %.2fx\n",
               s_ratio(best[1]->deliveries_per_s, best[0]->deliveries_per_s));
}

void bench_report_capacity_json(const bench_config_t *config, const bench_run_t *runs, size_t n_runs)
{
    json_t *steps = json_array();
    for (size_t i = 0; i < n_runs; i++) {
        const bench_run_t *r = &runs[i];
        json_array_append_new(
            steps, json_pack("{s:s,s:b,s:I,s:f,s:f,s:f,s:I,s:I,s:f,s:f,s:b}", "kind",
                             r->baseline ? "baseline" : "audiobus", "ok", r->ok, "gap_frames", (json_int_t)r->gap_frames,
                             "speed", r->speed, "offered_per_s", r->offered_per_s, "deliveries_per_s",
                             r->deliveries_per_s, "expected", (json_int_t)r->expected, "received",
                             (json_int_t)r->received, "p50_us", r->latency.p50, "p99_us", r->latency.p99, "kept_up",
                             bench_run_kept_up(r)));
    }
    const bench_run_t *best[2] = {s_capacity_run(runs, n_runs, true), s_capacity_run(runs, n_runs, false)};
    json_t *result[2];
    for (int kind = 0; kind < 2; kind++)
        result[kind] = best[kind] ? json_pack("{s:f,s:f}", "speed", best[kind]->speed, "deliveries_per_s",
                                              best[kind]->deliveries_per_s)
                                  : json_null();
    json_t *root = json_pack("{s:o,s:o,s:o,s:o,s:o}", "config", s_config_json(config), "steps", steps, "audiobus",
                             result[1], "baseline", result[0], "ratio",
                             best[0] && best[1] ? json_real(s_ratio(best[1]->deliveries_per_s,
                                                                    best[0]->deliveries_per_s))
                                                : json_null());
    s_print_json(root);
}
