/* test_jitter.c - the playback jitter buffer: buffering, underrun and
 * re-buffering, overrun, gaps, the end of a stream, a full buffer, and a
 * producer and a consumer thread running at once. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_jitter.h"

/* Checks print both values and keep going; they still check under NDEBUG. */
static atomic_int s_failures;

#define CHECK(cond)                                                                                              \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            atomic_fetch_add(&s_failures, 1);                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                             \
        }                                                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                                                           \
    do {                                                                                                         \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                                         \
        if (a_ != b_) {                                                                                          \
            atomic_fetch_add(&s_failures, 1);                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s == %s: %" PRIu64 " != %" PRIu64 "\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                                                 \
        }                                                                                                        \
    } while (0)

/* Frames are one float; frame k of the stream carries k + 1, so 0 is silence. */
static uint64_t s_next_value = 1;

static void s_write(ab_jitter_t *j, uint32_t n)
{
    float frames[4096];
    for (uint32_t i = 0; i < n; i++)
        frames[i] = (float)s_next_value++;
    CHECK_EQ(ab_jitter_write(j, frames, n), n);
}

/* Read n frames; returns how many are silence, and checks that the others
 * are the stream's next values in order (from *expect on). */
static uint32_t s_read(ab_jitter_t *j, uint32_t n, uint64_t *expect)
{
    float out[4096];
    ab_jitter_read(j, out, n);
    uint32_t silence = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (out[i] == 0.0f) {
            silence++;
            continue;
        }
        if ((uint64_t)out[i] != *expect) {
            fprintf(stderr, "frame %u: %.0f, expected %" PRIu64 "\n", i, out[i], *expect);
            atomic_fetch_add(&s_failures, 1);
        }
        *expect = (uint64_t)out[i] + 1;
    }
    return silence;
}

static void test_sizes(void)
{
    CHECK(ab_jitter_new(0, 100, 10) == NULL);
    CHECK(ab_jitter_new(4, 0, 10) == NULL);
    CHECK(ab_jitter_new(4, 100, 0) == NULL);
    ab_jitter_t *j = ab_jitter_new(4, 100, 10);
    CHECK(j != NULL);
    CHECK_EQ(ab_jitter_target_frames(j), 100);
    CHECK_EQ(ab_jitter_bound_frames(j), 2 * 100 + 10);
    ab_jitter_destroy(&j);
    CHECK(j == NULL);
    ab_jitter_destroy(&j);
    ab_jitter_destroy(NULL);
}

/* Silence until the target is buffered, not counted; then the frames in order. */
static void test_buffering_then_underrun(void)
{
    s_next_value = 1;
    uint64_t expect = 1;
    ab_jitter_t *j = ab_jitter_new(4, 100, 50);
    ab_jitter_stats_t st;
    CHECK_EQ(s_read(j, 32, &expect), 32);
    s_write(j, 50);
    CHECK_EQ(s_read(j, 32, &expect), 32); /* 50 < 100: still buffering */
    s_write(j, 50);
    CHECK_EQ(s_read(j, 32, &expect), 0); /* 100 buffered: plays */
    ab_jitter_stats(j, &st);
    CHECK(st.playing);
    CHECK_EQ(st.underruns, 0);
    CHECK_EQ(st.underrun_frames, 0);
    CHECK_EQ(st.played_frames, 32);
    CHECK_EQ(st.buffered_frames, 68);
    CHECK_EQ(s_read(j, 64, &expect), 0);
    /* 4 left, 32 asked: 4 played, 28 of silence, an underrun. */
    CHECK_EQ(s_read(j, 32, &expect), 28);
    ab_jitter_stats(j, &st);
    CHECK(!st.playing);
    CHECK_EQ(st.underruns, 1);
    CHECK_EQ(st.underrun_frames, 28);
    /* Re-buffering to the target: silence, counted, even with some frames in. */
    s_write(j, 60);
    CHECK_EQ(s_read(j, 32, &expect), 32);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underruns, 1);
    CHECK_EQ(st.underrun_frames, 60);
    s_write(j, 40);
    CHECK_EQ(s_read(j, 100, &expect), 0); /* resumes exactly where it stopped */
    CHECK_EQ(expect, 201);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.played_frames, 200);
    CHECK_EQ(st.dropped_frames, 0);
    ab_jitter_destroy(&j);
}

/* A device buffer larger than the target: playing waits for a whole one. */
static void test_device_buffer_above_target(void)
{
    s_next_value = 1;
    uint64_t expect = 1;
    ab_jitter_t *j = ab_jitter_new(4, 10, 10);
    s_write(j, 20);
    CHECK_EQ(s_read(j, 64, &expect), 64);
    s_write(j, 44);
    CHECK_EQ(s_read(j, 64, &expect), 0);
    ab_jitter_stats_t st;
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underruns, 0);
    ab_jitter_destroy(&j);
}

/* Beyond 2 x target + the largest block, the oldest go, down to the target. */
static void test_overrun(void)
{
    s_next_value = 1;
    uint64_t expect = 1;
    ab_jitter_t *j = ab_jitter_new(4, 100, 50);
    s_write(j, 100);
    CHECK_EQ(s_read(j, 10, &expect), 0);
    s_write(j, 50);
    s_write(j, 50);
    s_write(j, 50); /* 240 buffered: not beyond 2 * 100 + 50 */
    ab_jitter_stats_t st;
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.buffered_frames, 240);
    CHECK_EQ(s_read(j, 10, &expect), 0);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.overruns, 0);
    s_write(j, 50);
    s_write(j, 50); /* 330 buffered > 250 */
    float out[10];
    ab_jitter_read(j, out, 10);
    CHECK_EQ((uint64_t)out[0], 21 + 230); /* 230 oldest dropped: 100 left, of which 10 read */
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.overruns, 1);
    CHECK_EQ(st.dropped_frames, 230);
    CHECK_EQ(st.buffered_frames, 90);
    CHECK_EQ(st.underruns, 0);
    ab_jitter_destroy(&j);
}

/* A gap is silence of its length between the frames around it. */
static void test_gap(void)
{
    s_next_value = 1;
    uint64_t expect = 1;
    ab_jitter_t *j = ab_jitter_new(4, 100, 50);
    s_write(j, 50);
    CHECK_EQ(ab_jitter_write_silence(j, 30), 30);
    s_write(j, 50);
    float out[130];
    ab_jitter_read(j, out, 130);
    for (int i = 0; i < 50; i++)
        CHECK_EQ((uint64_t)out[i], i + 1);
    for (int i = 50; i < 80; i++)
        CHECK_EQ((uint64_t)out[i], 0);
    for (int i = 80; i < 130; i++)
        CHECK_EQ((uint64_t)out[i], i - 30 + 1);
    ab_jitter_stats_t st;
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.gaps, 1);
    CHECK_EQ(st.gap_frames, 30);
    CHECK_EQ(st.played_frames, 130);
    CHECK_EQ(st.underruns, 0);
    /* A gap longer than the bound is cut to it. */
    CHECK_EQ(ab_jitter_write_silence(j, 1000000), 250);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.gaps, 2);
    CHECK_EQ(st.gap_frames, 280);
    (void)expect;
    ab_jitter_destroy(&j);
}

/* The end plays out below the target; the silence after it is no underrun;
 * a new stretch buffers to the target again. */
static void test_end(void)
{
    s_next_value = 1;
    uint64_t expect = 1;
    ab_jitter_t *j = ab_jitter_new(4, 100, 50);
    CHECK(!ab_jitter_drained(j));
    s_write(j, 40);
    CHECK_EQ(s_read(j, 32, &expect), 32);
    ab_jitter_end(j);
    CHECK(!ab_jitter_drained(j));
    CHECK_EQ(s_read(j, 32, &expect), 0);
    CHECK_EQ(s_read(j, 32, &expect), 24);
    CHECK(ab_jitter_drained(j));
    CHECK_EQ(s_read(j, 32, &expect), 32);
    ab_jitter_stats_t st;
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underruns, 0);
    CHECK_EQ(st.underrun_frames, 0);
    CHECK_EQ(st.played_frames, 40);
    s_write(j, 60);
    CHECK(!ab_jitter_drained(j));
    CHECK_EQ(s_read(j, 32, &expect), 32); /* buffering again, not counted */
    s_write(j, 40);
    CHECK_EQ(s_read(j, 32, &expect), 0);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underrun_frames, 0);
    /* The end while re-buffering after an underrun stops counting it. */
    CHECK_EQ(s_read(j, 68, &expect), 0);
    CHECK_EQ(s_read(j, 10, &expect), 10);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underruns, 1);
    CHECK_EQ(st.underrun_frames, 10);
    ab_jitter_end(j);
    CHECK_EQ(s_read(j, 10, &expect), 10);
    ab_jitter_stats(j, &st);
    CHECK_EQ(st.underrun_frames, 10);
    CHECK(ab_jitter_drained(j));
    ab_jitter_destroy(&j);
}

/* A device that stopped consuming: the buffer fills, the rest is counted. */
static void test_full(void)
{
    s_next_value = 1;
    ab_jitter_t *j = ab_jitter_new(4, 100, 50);
    float frames[64] = {0};
    uint64_t taken = 0;
    for (int i = 0; i < 100; i++)
        taken += ab_jitter_write(j, frames, 64);
    ab_jitter_stats_t st;
    ab_jitter_stats(j, &st);
    CHECK(taken >= 2 * (2 * 100 + 64) && taken < 6400);
    CHECK_EQ(st.buffered_frames, taken);
    CHECK_EQ(st.dropped_frames, 6400 - taken);
    CHECK(st.overruns > 0);
    ab_jitter_destroy(&j);
}

/* ---- two threads ------------------------------------------------------------------ */

#define STRESS_FRAMES 3000000u

typedef struct {
    ab_jitter_t *j;
    atomic_bool done;
    uint64_t written; /* frames offered, 1..written; read after the join */
} s_stress_t;

static uint32_t s_rand(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state >> 32);
}

static void *s_producer(void *arg)
{
    s_stress_t *s = arg;
    uint64_t state = 0x9E3779B97F4A7C15ull, value = 1;
    float frames[512];
    while (value <= STRESS_FRAMES) {
        uint32_t n = 1 + s_rand(&state) % 512;
        for (uint32_t i = 0; i < n; i++)
            frames[i] = (float)(value + i);
        uint32_t taken = ab_jitter_write(s->j, frames, n);
        value += n;
        (void)taken; /* what did not fit is counted as dropped */
        if (s_rand(&state) % 4 == 0)
            sched_yield();
    }
    s->written = value - 1;
    ab_jitter_end(s->j);
    atomic_store(&s->done, true);
    return NULL;
}

static void test_threads(void)
{
    s_stress_t s = {.j = ab_jitter_new(4, 2000, 512)};
    atomic_init(&s.done, false);
    pthread_t producer;
    pthread_create(&producer, NULL, s_producer, &s);
    uint64_t state = 42, last = 0, silence = 0, skipped = 0, bad = 0;
    float out[1024];
    while (!(atomic_load(&s.done) && ab_jitter_drained(s.j))) {
        uint32_t n = 1 + s_rand(&state) % 1024;
        ab_jitter_read(s.j, out, n);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v = (uint64_t)out[i];
            if (v == 0) {
                silence++;
            } else if (v > last) {
                skipped += v - last - 1;
                last = v;
            } else {
                bad++;
            }
        }
        if (s_rand(&state) % 3 == 0)
            sched_yield();
    }
    pthread_join(producer, NULL);
    ab_jitter_stats_t st;
    ab_jitter_stats(s.j, &st);
    /* Trailing silence after the end is not counted; the rest of the
     * silence inside is exactly the underruns'. */
    CHECK_EQ(bad, 0);
    CHECK(silence >= st.underrun_frames);
    CHECK_EQ(skipped + (s.written - last), st.dropped_frames);
    CHECK_EQ(st.played_frames + st.dropped_frames, s.written);
    printf("threads: %" PRIu64 " frames played, %" PRIu64 " underruns (%" PRIu64 " frames), %" PRIu64
           " overruns (%" PRIu64 " frames dropped)\n",
           st.played_frames, st.underruns, st.underrun_frames, st.overruns, st.dropped_frames);
    ab_jitter_destroy(&s.j);
}

int main(void)
{
    test_sizes();
    test_buffering_then_underrun();
    test_device_buffer_above_target();
    test_overrun();
    test_gap();
    test_end();
    test_full();
    test_threads();
    int failures = atomic_load(&s_failures);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all jitter buffer checks passed\n");
    return 0;
}
