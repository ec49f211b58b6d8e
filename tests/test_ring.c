/* test_ring.c - unit checks and a two-thread stress test for the SPSC byte ring. */
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
#include <time.h>

#include "audiobus/ab_error.h"
#include "audiobus/ab_ring.h"

/* Checks print what failed with both values and keep going; they do not
 * use assert(), so they still check under NDEBUG. The stress threads check
 * too, hence the atomic counter. */
static atomic_int s_failures;

static bool s_fail(const char *file, int line)
{
    atomic_fetch_add(&s_failures, 1);
    fprintf(stderr, "%s:%d: check failed: ", file, line);
    return false;
}

static bool s_check(bool ok, const char *expr, const char *file, int line)
{
    if (ok)
        return true;
    s_fail(file, line);
    fprintf(stderr, "%s\n", expr);
    return false;
}

static bool s_check_u(uint64_t a, uint64_t b, const char *ea, const char *eb, const char *file,
                      int line)
{
    if (a == b)
        return true;
    s_fail(file, line);
    fprintf(stderr, "%s == %s: %" PRIu64 " (0x%" PRIx64 ") != %" PRIu64 " (0x%" PRIx64 ")\n", ea,
            eb, a, a, b, b);
    return false;
}

/* Names for AB_E... codes; other integers (errno values) print bare. */
static const char *s_code_name(int64_t v)
{
    return v <= 0 && v > -1000 ? ab_err_name((int)v) : "-";
}

static bool s_check_i(int64_t a, int64_t b, const char *ea, const char *eb, const char *file,
                      int line)
{
    if (a == b)
        return true;
    s_fail(file, line);
    fprintf(stderr, "%s == %s: %" PRId64 " (%s) != %" PRId64 " (%s)\n", ea, eb, a,
            s_code_name(a), b, s_code_name(b));
    return false;
}

static bool s_check_p(const void *a, const void *b, const char *ea, const char *eb,
                      const char *file, int line)
{
    if (a == b)
        return true;
    s_fail(file, line);
    fprintf(stderr, "%s == %s: %p != %p\n", ea, eb, a, b);
    return false;
}

#define CHECK(cond) s_check((cond), #cond, __FILE__, __LINE__)
#define CHECK_U(a, b) s_check_u((uint64_t)(a), (uint64_t)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_I(a, b) s_check_i((int64_t)(a), (int64_t)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_P(a, b) s_check_p((const void *)(a), (const void *)(b), #a, #b, __FILE__, __LINE__)

/* The byte expected at a position of a test stream: unit tests write and
 * read the stream in arbitrary pieces and compare against this. */
static uint8_t s_pattern(uint64_t pos)
{
    return (uint8_t)(pos * 131u + (pos >> 8) * 7u + 1u);
}

static void s_fill(uint8_t *dest, uint64_t pos, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dest[i] = s_pattern(pos + i);
}

/* Compare len bytes against the stream from pos; report the first mismatch. */
static bool s_check_stream(const uint8_t *got, uint64_t pos, size_t len, const char *file,
                           int line)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != s_pattern(pos + i)) {
            s_fail(file, line);
            fprintf(stderr, "stream byte %" PRIu64 ": got %u, expected %u\n", pos + i, got[i],
                    s_pattern(pos + i));
            return false;
        }
    }
    return true;
}

#define CHECK_STREAM(got, pos, len) s_check_stream((got), (pos), (len), __FILE__, __LINE__)

static void s_test_capacity(void)
{
    static const struct {
        size_t min;
        size_t want;
    } cases[] = {
        {1, 64},       {2, 64},       {63, 64},      {64, 64},          {65, 128},
        {100, 128},    {1000, 1024},  {4096, 4096},  {4097, 8192},      {1 << 20, 1 << 20},
        {(1 << 20) + 1, 1 << 21},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ab_ring_t *ring = ab_ring_new(cases[i].min);
        if (!CHECK(ring != NULL))
            continue;
        CHECK_U(ab_ring_capacity(ring), cases[i].want);
        CHECK_U(ab_ring_write_space(ring), cases[i].want);
        CHECK_U(ab_ring_read_space(ring), 0);
        CHECK_U(ab_ring_total_written(ring), 0);
        CHECK_U(ab_ring_total_read(ring), 0);
        ab_ring_destroy(&ring);
        CHECK_P(ring, NULL);
        ab_ring_destroy(&ring); /* safe twice */
    }
    ab_ring_destroy(NULL);

    CHECK_P(ab_ring_new(0), NULL);
    CHECK_P(ab_ring_new(((size_t)1 << 40) + 1), NULL);
    CHECK_P(ab_ring_new(SIZE_MAX), NULL);
    CHECK_P(ab_ring_new_at(0, UINT64_MAX), NULL);
}

static void s_test_all_or_nothing(void)
{
    ab_ring_t *ring = ab_ring_new(64);
    if (!CHECK(ring != NULL))
        return;
    uint8_t in[256], out[256];
    s_fill(in, 0, sizeof in);

    /* Empty ring: nothing to read, peek or skip; a zero-length call is fine. */
    CHECK_I(ab_ring_read(ring, out, 1), AB_EEMPTY);
    CHECK_I(ab_ring_peek(ring, out, 1), AB_EEMPTY);
    CHECK_I(ab_ring_skip(ring, 1), AB_EEMPTY);
    CHECK_I(ab_ring_read(ring, out, 0), 0);
    CHECK_I(ab_ring_write(ring, in, 0), 0);

    /* Too big for an empty ring: refused, nothing written. */
    CHECK_I(ab_ring_write(ring, in, 65), AB_EFULL);
    CHECK_U(ab_ring_write_space(ring), 64);
    CHECK_U(ab_ring_read_space(ring), 0);
    CHECK_U(ab_ring_total_written(ring), 0);

    CHECK_I(ab_ring_write(ring, in, 40), 0);
    CHECK_U(ab_ring_write_space(ring), 24);
    CHECK_U(ab_ring_read_space(ring), 40);
    CHECK_I(ab_ring_write(ring, in + 40, 25), AB_EFULL);
    CHECK_U(ab_ring_write_space(ring), 24);
    CHECK_U(ab_ring_read_space(ring), 40);
    CHECK_I(ab_ring_write(ring, in + 40, 24), 0);
    CHECK_U(ab_ring_write_space(ring), 0);
    CHECK_U(ab_ring_read_space(ring), 64);
    CHECK_I(ab_ring_write(ring, in + 64, 1), AB_EFULL);
    CHECK_I(ab_ring_write(ring, in + 64, 0), 0);
    CHECK_U(ab_ring_total_written(ring), 64);

    /* Too much to read: refused, nothing consumed. */
    CHECK_I(ab_ring_read(ring, out, 65), AB_EEMPTY);
    CHECK_I(ab_ring_peek(ring, out, 65), AB_EEMPTY);
    CHECK_I(ab_ring_skip(ring, 65), AB_EEMPTY);
    CHECK_U(ab_ring_read_space(ring), 64);
    CHECK_U(ab_ring_total_read(ring), 0);

    /* Peek leaves the bytes; skip drops them. */
    memset(out, 0, sizeof out);
    CHECK_I(ab_ring_peek(ring, out, 10), 0);
    CHECK_STREAM(out, 0, 10);
    memset(out, 0, sizeof out);
    CHECK_I(ab_ring_peek(ring, out, 64), 0);
    CHECK_STREAM(out, 0, 64);
    CHECK_U(ab_ring_read_space(ring), 64);
    CHECK_I(ab_ring_skip(ring, 10), 0);
    CHECK_U(ab_ring_read_space(ring), 54);
    CHECK_U(ab_ring_write_space(ring), 10);
    CHECK_U(ab_ring_total_read(ring), 10);

    memset(out, 0, sizeof out);
    CHECK_I(ab_ring_read(ring, out, 30), 0);
    CHECK_STREAM(out, 10, 30);
    CHECK_U(ab_ring_read_space(ring), 24);
    CHECK_U(ab_ring_write_space(ring), 40);

    /* This write wraps the buffer: 24 bytes at the end, 16 at the start. */
    CHECK_I(ab_ring_write(ring, in + 64, 40), 0);
    CHECK_U(ab_ring_read_space(ring), 64);
    memset(out, 0, sizeof out);
    CHECK_I(ab_ring_peek(ring, out, 64), 0);
    CHECK_STREAM(out, 40, 64);
    memset(out, 0, sizeof out);
    CHECK_I(ab_ring_read(ring, out, 64), 0);
    CHECK_STREAM(out, 40, 64);
    CHECK_U(ab_ring_read_space(ring), 0);
    CHECK_U(ab_ring_write_space(ring), 64);
    CHECK_U(ab_ring_total_written(ring), 104);
    CHECK_U(ab_ring_total_read(ring), 104);
    CHECK_I(ab_ring_read(ring, out, 1), AB_EEMPTY);

    ab_ring_destroy(&ring);
}

/* The zero-copy regions around the physical end of the buffer, from a
 * given start position (0, and values whose low bits are not zero). */
static void s_test_regions(uint64_t start)
{
    ab_ring_t *ring = ab_ring_new_at(64, start);
    if (!CHECK(ring != NULL))
        return;
    uint8_t tmp[128];
    ab_ring_regions_t w, r;

    /* The first writable region starts at the start position's offset. */
    size_t off0 = (size_t)(start & 63);
    CHECK_U(ab_ring_write_regions(ring, &w), 64);
    CHECK_U(w.len1, 64 - off0);
    CHECK_U(w.len2, off0);
    uint8_t *base = w.ptr1 - off0;
    if (w.len2)
        CHECK_P(w.ptr2, base);
    CHECK_U(ab_ring_read_regions(ring, &r), 0);
    CHECK_U(r.len1 + r.len2, 0);

    /* Move both counters 40 bytes on. */
    s_fill(tmp, 0, 40);
    CHECK_I(ab_ring_write(ring, tmp, 40), 0);
    CHECK_I(ab_ring_read(ring, tmp, 40), 0);
    CHECK_STREAM(tmp, 0, 40);

    size_t off = (size_t)((start + 40) & 63);
    CHECK_U(ab_ring_write_regions(ring, &w), 64);
    CHECK_P(w.ptr1, base + off);
    CHECK_U(w.len1, 64 - off);
    CHECK_P(w.ptr2, base);
    CHECK_U(w.len2, off);

    /* Fill 50 bytes through the regions, which may straddle the end. */
    size_t n1 = w.len1 < 50 ? w.len1 : 50;
    s_fill(w.ptr1, 40, n1);
    s_fill(w.ptr2, 40 + n1, 50 - n1);
    ab_ring_write_commit(ring, 50);
    CHECK_U(ab_ring_write_space(ring), 14);
    CHECK_U(ab_ring_read_space(ring), 50);
    CHECK_U(ab_ring_total_written(ring), 90);

    CHECK_U(ab_ring_read_regions(ring, &r), 50);
    CHECK_P(r.ptr1, base + off);
    CHECK_U(r.len1, n1);
    CHECK_U(r.len2, 50 - n1);
    if (r.len2)
        CHECK_P(r.ptr2, base);
    CHECK_STREAM(r.ptr1, 40, r.len1);
    CHECK_STREAM(r.ptr2, 40 + r.len1, r.len2);

    /* The free space after that write is one or two segments too. */
    size_t woff = (size_t)((start + 90) & 63);
    CHECK_U(ab_ring_write_regions(ring, &w), 14);
    CHECK_P(w.ptr1, base + woff);
    CHECK_U(w.len1 + w.len2, 14);
    CHECK_U(w.len1, 64 - woff < 14 ? 64 - woff : 14);

    /* Release part of what was read; the rest stays readable. */
    ab_ring_read_commit(ring, 20);
    CHECK_U(ab_ring_total_read(ring), 60);
    CHECK_U(ab_ring_read_space(ring), 30);
    CHECK_U(ab_ring_write_space(ring), 34);
    size_t roff = (size_t)((start + 60) & 63);
    CHECK_U(ab_ring_read_regions(ring, &r), 30);
    CHECK_P(r.ptr1, base + roff);
    CHECK_U(r.len1, 64 - roff < 30 ? 64 - roff : 30);
    CHECK_U(r.len2, 30 - r.len1);
    CHECK_STREAM(r.ptr1, 60, r.len1);
    CHECK_STREAM(r.ptr2, 60 + r.len1, r.len2);
    memset(tmp, 0, sizeof tmp);
    CHECK_I(ab_ring_read(ring, tmp, 30), 0);
    CHECK_STREAM(tmp, 60, 30);

    CHECK_U(ab_ring_read_regions(ring, &r), 0);
    CHECK_U(r.len1, 0);
    CHECK_U(r.len2, 0);

    /* Full ring: no writable region. */
    s_fill(tmp, 90, 64);
    CHECK_I(ab_ring_write(ring, tmp, 64), 0);
    CHECK_U(ab_ring_write_regions(ring, &w), 0);
    CHECK_U(w.len1, 0);
    CHECK_U(w.len2, 0);
    CHECK_U(ab_ring_read_regions(ring, &r), 64);
    CHECK_U(r.len1 + r.len2, 64);
    CHECK_STREAM(r.ptr1, 90, r.len1);
    CHECK_STREAM(r.ptr2, 90 + r.len1, r.len2);
    ab_ring_read_commit(ring, 64);
    CHECK_U(ab_ring_total_written(ring), 154);
    CHECK_U(ab_ring_total_read(ring), 154);
    CHECK_U(ab_ring_write_space(ring), 64);

    ab_ring_destroy(&ring);
}

/* A region that ends exactly at the end of the buffer has no second part. */
static void s_test_region_exact_end(void)
{
    ab_ring_t *ring = ab_ring_new(64);
    if (!CHECK(ring != NULL))
        return;
    uint8_t tmp[64];
    s_fill(tmp, 0, 40);
    CHECK_I(ab_ring_write(ring, tmp, 40), 0);
    CHECK_I(ab_ring_skip(ring, 40), 0);
    s_fill(tmp, 40, 24);
    CHECK_I(ab_ring_write(ring, tmp, 24), 0);
    ab_ring_regions_t r;
    CHECK_U(ab_ring_read_regions(ring, &r), 24);
    CHECK_U(r.len1, 24);
    CHECK_U(r.len2, 0);
    CHECK_STREAM(r.ptr1, 40, 24);
    ab_ring_destroy(&ring);
}

/* Counters that pass 2^64 while bytes are in the ring. */
static void s_test_counter_wrap(void)
{
    /* Ten bytes before the wrap, write twenty: the write counter wraps to
     * 10 while the read counter is still near 2^64. */
    ab_ring_t *ring = ab_ring_new_at(64, UINT64_MAX - 9);
    if (!CHECK(ring != NULL))
        return;
    uint8_t tmp[512];
    s_fill(tmp, 0, 20);
    CHECK_I(ab_ring_write(ring, tmp, 20), 0);
    CHECK_U(ab_ring_read_space(ring), 20);
    CHECK_U(ab_ring_write_space(ring), 44);
    CHECK_U(ab_ring_total_written(ring), 20);
    ab_ring_regions_t r;
    CHECK_U(ab_ring_read_regions(ring, &r), 20);
    CHECK_U(r.len1, 10); /* offset 54..63, then 0..9 */
    CHECK_U(r.len2, 10);
    CHECK_STREAM(r.ptr1, 0, 10);
    CHECK_STREAM(r.ptr2, 10, 10);
    memset(tmp, 0, sizeof tmp);
    CHECK_I(ab_ring_read(ring, tmp, 20), 0);
    CHECK_STREAM(tmp, 0, 20);
    CHECK_U(ab_ring_total_read(ring), 20);
    CHECK_U(ab_ring_read_space(ring), 0);
    CHECK_U(ab_ring_write_space(ring), 64);
    ab_ring_destroy(&ring);

    /* Start at UINT64_MAX itself: the very first byte wraps the counter. */
    ring = ab_ring_new_at(64, UINT64_MAX);
    if (CHECK(ring != NULL)) {
        s_fill(tmp, 0, 64);
        CHECK_I(ab_ring_write(ring, tmp, 64), 0);
        CHECK_U(ab_ring_read_space(ring), 64);
        CHECK_U(ab_ring_write_space(ring), 0);
        CHECK_I(ab_ring_write(ring, tmp, 1), AB_EFULL);
        memset(tmp, 0, sizeof tmp);
        CHECK_I(ab_ring_read(ring, tmp, 64), 0);
        CHECK_STREAM(tmp, 0, 64);
        ab_ring_destroy(&ring);
    }

    /* Many uneven writes and reads through the wrap at 2^64, using every
     * call, checking the invariants after each step. */
    uint64_t start = UINT64_MAX - 1000;
    ring = ab_ring_new_at(256, start);
    if (!CHECK(ring != NULL))
        return;
    uint64_t wpos = 0, rpos = 0;
    uint32_t step = 0;
    while (rpos < 6000) {
        step++;
        size_t wlen = 1 + (step * 37u) % 200;
        s_fill(tmp, wpos, wlen);
        int rc = ab_ring_write(ring, tmp, wlen);
        if (wlen <= 256 - (size_t)(wpos - rpos)) {
            if (!CHECK_I(rc, 0))
                break;
            wpos += wlen;
        } else if (!CHECK_I(rc, AB_EFULL)) {
            break;
        }
        size_t rlen = 1 + (step * 53u) % 180;
        size_t avail = (size_t)(wpos - rpos);
        memset(tmp, 0, sizeof tmp);
        switch (step % 3) {
        case 0:
            rc = ab_ring_read(ring, tmp, rlen);
            break;
        case 1:
            rc = ab_ring_peek(ring, tmp, rlen);
            if (rc == 0) {
                CHECK_STREAM(tmp, rpos, rlen);
                rc = ab_ring_skip(ring, rlen);
            }
            break;
        default: {
            ab_ring_regions_t reg;
            size_t got = ab_ring_read_regions(ring, &reg);
            CHECK_U(got, avail);
            CHECK_U(reg.len1 + reg.len2, avail);
            if (rlen <= got) {
                size_t a = reg.len1 < rlen ? reg.len1 : rlen;
                memcpy(tmp, reg.ptr1, a);
                memcpy(tmp + a, reg.ptr2, rlen - a);
                ab_ring_read_commit(ring, rlen);
                rc = 0;
            } else {
                rc = AB_EEMPTY;
            }
            break;
        }
        }
        if (rlen <= avail) {
            if (!CHECK_I(rc, 0) || !CHECK_STREAM(tmp, rpos, rlen))
                break;
            rpos += rlen;
        } else if (!CHECK_I(rc, AB_EEMPTY)) {
            break;
        }
        if (!CHECK_U(ab_ring_read_space(ring), wpos - rpos)
            || !CHECK_U(ab_ring_write_space(ring), 256 - (wpos - rpos))
            || !CHECK_U(ab_ring_total_written(ring), wpos)
            || !CHECK_U(ab_ring_total_read(ring), rpos))
            break;
    }
    CHECK(rpos >= 6000);
    ab_ring_destroy(&ring);
}

/* ---- two-thread stress ---------------------------------------------------
 *
 * The producer sends a stream of records, each a 2-byte little-endian length
 * (1..300) followed by that many bytes, all drawn from a seeded PRNG; a
 * length of 0 ends the stream. The consumer draws the same sequence from
 * the same seed and compares every byte, and both sides keep a checksum of
 * every byte they passed through the ring.
 *
 *     +--------+--------+----------------------+
 *     | len lo | len hi | len bytes of payload |  ...  | 0 | 0 |
 *     +--------+--------+----------------------+
 */
#define REC_MAX_PAYLOAD 300
#define REC_MAX (2 + REC_MAX_PAYLOAD)

typedef enum { MODE_COPY, MODE_REGIONS } stress_mode_t;

typedef struct {
    ab_ring_t *ring;
    stress_mode_t mode;
    uint64_t seed;
    uint64_t min_records; /* the producer sends at least this many... */
    uint64_t max_records; /* ...and at most this many, */
    double seconds;       /* stopping between the two after this long */
    double stall_limit;   /* either side gives up after waiting this long */
    struct timespec t0;
    atomic_bool abort;
    /* Written by one thread each, read by main after the joins. */
    uint64_t sent_records, sent_bytes, sent_sum;
    uint64_t got_records, got_bytes, got_sum;
} stress_t;

static uint64_t s_rand(uint64_t *state)
{
    /* xorshift64* */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The next record of the sequence into rec; returns its length with header. */
static size_t s_make_record(uint64_t *rng, uint8_t *rec)
{
    size_t len = 1 + (size_t)(s_rand(rng) % REC_MAX_PAYLOAD);
    rec[0] = (uint8_t)(len & 0xff);
    rec[1] = (uint8_t)(len >> 8);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = s_rand(rng);
        for (size_t j = 0; j < 8 && i + j < len; j++)
            rec[2 + i + j] = (uint8_t)(x >> (8 * j));
    }
    return 2 + len;
}

/* FNV-1a over a run of bytes, continuing from sum. */
static uint64_t s_sum(uint64_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        sum ^= p[i];
        sum *= 0x100000001b3ULL;
    }
    return sum;
}

#define SUM_INIT 0xcbf29ce484222325ULL

static double s_elapsed(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One wait for the other side; reset after every bit of progress. */
typedef struct {
    unsigned spins;
    struct timespec since;
} waiter_t;

/* Wait for the other side. Returns true when the run must stop: the other
 * side failed, or nothing moved for stall_limit seconds (a miscounted ring
 * would otherwise hang the test until CTest kills it). */
static bool s_wait(stress_t *st, waiter_t *w, const char *who)
{
    if (atomic_load_explicit(&st->abort, memory_order_relaxed))
        return true;
    if (w->spins++ == 0)
        clock_gettime(CLOCK_MONOTONIC, &w->since);
    else if (w->spins % 1024 == 0 && s_elapsed(&w->since) > st->stall_limit) {
        s_fail(__FILE__, __LINE__);
        fprintf(stderr, "%s stalled for %.0f s: read_space %zu, write_space %zu\n", who,
                st->stall_limit, ab_ring_read_space(st->ring), ab_ring_write_space(st->ring));
        atomic_store(&st->abort, true);
        return true;
    }
    sched_yield();
    return false;
}

static bool s_producer_done(stress_t *st, uint64_t records)
{
    if (records >= st->max_records)
        return true;
    return records >= st->min_records && records % 256 == 0
           && s_elapsed(&st->t0) >= st->seconds;
}

static void s_produce_copy(stress_t *st)
{
    uint64_t rng = st->seed, sum = SUM_INIT, records = 0, bytes = 0;
    uint8_t rec[REC_MAX];
    for (;;) {
        bool last = s_producer_done(st, records);
        size_t n = 2;
        if (last)
            rec[0] = rec[1] = 0;
        else
            n = s_make_record(&rng, rec);
        waiter_t w = {0};
        while (ab_ring_write(st->ring, rec, n) != 0)
            if (s_wait(st, &w, "producer"))
                return;
        sum = s_sum(sum, rec, n);
        bytes += n;
        if (last)
            break;
        records++;
    }
    st->sent_records = records;
    st->sent_bytes = bytes;
    st->sent_sum = sum;
}

/* The zero-copy producer writes the record stream as plain bytes in chunks
 * of random size, so records straddle both the buffer end and commits. */
static void s_produce_regions(stress_t *st)
{
    uint64_t rng = st->seed, chunk_rng = st->seed ^ 0x9e3779b97f4a7c15ULL;
    uint64_t sum = SUM_INIT, records = 0, bytes = 0;
    uint8_t rec[REC_MAX];
    size_t rec_len = 0, rec_off = 0;
    bool ended = false;
    waiter_t w = {0};
    while (!(ended && rec_off == rec_len)) {
        ab_ring_regions_t reg;
        size_t space = ab_ring_write_regions(st->ring, &reg);
        if (space == 0) {
            if (s_wait(st, &w, "producer"))
                return;
            continue;
        }
        w.spins = 0;
        uint64_t c = s_rand(&chunk_rng);
        size_t want = (c & 1) ? space : 1 + (size_t)((c >> 1) % space);
        size_t done = 0;
        uint8_t *seg[2] = {reg.ptr1, reg.ptr2};
        size_t seg_len[2] = {reg.len1, reg.len2};
        for (int s = 0; s < 2 && done < want; s++) {
            size_t pos = 0;
            size_t lim = seg_len[s] < want - done ? seg_len[s] : want - done;
            while (pos < lim) {
                if (rec_off == rec_len) {
                    if (ended)
                        break;
                    if (s_producer_done(st, records)) {
                        rec[0] = rec[1] = 0;
                        rec_len = 2;
                        ended = true;
                    } else {
                        rec_len = s_make_record(&rng, rec);
                        records++;
                    }
                    rec_off = 0;
                }
                size_t k = rec_len - rec_off < lim - pos ? rec_len - rec_off : lim - pos;
                memcpy(seg[s] + pos, rec + rec_off, k);
                sum = s_sum(sum, rec + rec_off, k);
                rec_off += k;
                pos += k;
            }
            done += pos;
        }
        ab_ring_write_commit(st->ring, done);
        bytes += done;
    }
    st->sent_records = records;
    st->sent_bytes = bytes;
    st->sent_sum = sum;
}

static void *s_producer(void *arg)
{
    stress_t *st = arg;
    if (st->mode == MODE_COPY)
        s_produce_copy(st);
    else
        s_produce_regions(st);
    return NULL;
}

static bool s_bad_record(stress_t *st, uint64_t index, size_t offset, unsigned got,
                         unsigned want, const char *what)
{
    s_fail(__FILE__, __LINE__);
    fprintf(stderr, "record %" PRIu64 ": %s at offset %zu: got %u, expected %u\n", index, what,
            offset, got, want);
    atomic_store(&st->abort, true);
    return false;
}

/* Compare a received run with the expected record; report the first bad byte. */
static bool s_compare(stress_t *st, uint64_t index, const uint8_t *got, const uint8_t *want,
                      size_t offset, size_t len)
{
    if (memcmp(got, want + offset, len) == 0)
        return true;
    size_t i = 0;
    while (got[i] == want[offset + i])
        i++;
    return s_bad_record(st, index, offset + i, got[i], want[offset + i], "wrong byte");
}

static void s_consume_copy(stress_t *st)
{
    uint64_t rng = st->seed, sum = SUM_INIT, records = 0, bytes = 0;
    uint8_t want[REC_MAX], got[REC_MAX];
    for (;;) {
        uint8_t hdr[2];
        waiter_t w = {0};
        while (ab_ring_peek(st->ring, hdr, 2) != 0)
            if (s_wait(st, &w, "consumer"))
                goto out;
        size_t len = (size_t)hdr[0] | (size_t)hdr[1] << 8;
        if (len == 0) {
            if (!CHECK_I(ab_ring_skip(st->ring, 2), 0)) {
                atomic_store(&st->abort, true);
                goto out;
            }
            sum = s_sum(sum, hdr, 2);
            bytes += 2;
            break;
        }
        size_t n = s_make_record(&rng, want);
        if (len != n - 2) {
            s_bad_record(st, records, 0, (unsigned)len, (unsigned)(n - 2), "wrong length");
            goto out;
        }
        /* The producer wrote header and payload in one all-or-nothing
         * write, so once the header is visible the payload must be too. */
        if (!CHECK_I(ab_ring_skip(st->ring, 2), 0)
            || !CHECK_I(ab_ring_read(st->ring, got + 2, len), 0)) {
            atomic_store(&st->abort, true);
            goto out;
        }
        memcpy(got, hdr, 2);
        if (!s_compare(st, records, got, want, 0, n))
            goto out;
        sum = s_sum(sum, got, n);
        bytes += n;
        records++;
    }
out:
    st->got_records = records;
    st->got_bytes = bytes;
    st->got_sum = sum;
}

/* Parser state for a byte stream that arrives in arbitrary pieces. */
typedef struct {
    uint64_t rng;
    uint8_t want[REC_MAX];
    size_t want_len; /* 0 while reading a header */
    size_t have;     /* bytes of the current record seen */
    uint8_t hdr[2];
    uint64_t records;
    bool ended;
} parser_t;

/* Feed len bytes; returns false on a mismatch or bytes after the end. */
static bool s_parse(stress_t *st, parser_t *p, const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p->ended)
            return s_bad_record(st, p->records, 0, data[i], 0, "byte after the end marker");
        if (p->want_len == 0) {
            p->hdr[p->have++] = data[i++];
            if (p->have < 2)
                continue;
            size_t rec_len = (size_t)p->hdr[0] | (size_t)p->hdr[1] << 8;
            if (rec_len == 0) {
                p->ended = true;
                continue;
            }
            p->want_len = s_make_record(&p->rng, p->want);
            if (rec_len != p->want_len - 2)
                return s_bad_record(st, p->records, 0, (unsigned)rec_len,
                                    (unsigned)(p->want_len - 2), "wrong length");
            continue;
        }
        size_t k = p->want_len - p->have < len - i ? p->want_len - p->have : len - i;
        if (!s_compare(st, p->records, data + i, p->want, p->have, k))
            return false;
        p->have += k;
        i += k;
        if (p->have == p->want_len) {
            p->records++;
            p->want_len = 0;
            p->have = 0;
        }
    }
    return true;
}

static void s_consume_regions(stress_t *st)
{
    parser_t p = {.rng = st->seed};
    uint64_t chunk_rng = st->seed ^ 0x632be59bd9b4e019ULL;
    uint64_t sum = SUM_INIT, bytes = 0;
    waiter_t w = {0};
    while (!p.ended) {
        ab_ring_regions_t reg;
        size_t avail = ab_ring_read_regions(st->ring, &reg);
        if (avail == 0) {
            if (s_wait(st, &w, "consumer"))
                break;
            continue;
        }
        w.spins = 0;
        if (!CHECK_U(reg.len1 + reg.len2, avail)) {
            atomic_store(&st->abort, true);
            break;
        }
        uint64_t c = s_rand(&chunk_rng);
        size_t take = (c & 1) ? avail : 1 + (size_t)((c >> 1) % avail);
        size_t a = reg.len1 < take ? reg.len1 : take;
        if (!s_parse(st, &p, reg.ptr1, a) || !s_parse(st, &p, reg.ptr2, take - a))
            break;
        sum = s_sum(sum, reg.ptr1, a);
        sum = s_sum(sum, reg.ptr2, take - a);
        ab_ring_read_commit(st->ring, take);
        bytes += take;
    }
    st->got_records = p.records;
    st->got_bytes = bytes;
    st->got_sum = sum;
}

static void *s_consumer(void *arg)
{
    stress_t *st = arg;
    if (st->mode == MODE_COPY)
        s_consume_copy(st);
    else
        s_consume_regions(st);
    return NULL;
}

static void s_stress(stress_mode_t mode, size_t capacity, uint64_t start, uint64_t seed,
                     double seconds)
{
    stress_t st = {
        .mode = mode,
        .seed = seed,
        .min_records = 20000,
        .max_records = 2000000,
        .seconds = seconds,
        .stall_limit = 10.0,
    };
    atomic_init(&st.abort, false);
    st.ring = ab_ring_new_at(capacity, start);
    if (!CHECK(st.ring != NULL))
        return;
    clock_gettime(CLOCK_MONOTONIC, &st.t0);
    pthread_t prod, cons;
    if (!CHECK_I(pthread_create(&cons, NULL, s_consumer, &st), 0)) {
        ab_ring_destroy(&st.ring);
        return;
    }
    if (!CHECK_I(pthread_create(&prod, NULL, s_producer, &st), 0)) {
        atomic_store(&st.abort, true);
        pthread_join(cons, NULL);
        ab_ring_destroy(&st.ring);
        return;
    }
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    double took = s_elapsed(&st.t0);
    const char *name = mode == MODE_COPY ? "copy" : "regions";

    if (!atomic_load(&st.abort)) {
        CHECK_U(st.got_records, st.sent_records);
        CHECK_U(st.got_bytes, st.sent_bytes);
        CHECK_U(st.got_sum, st.sent_sum);
        CHECK_U(ab_ring_total_written(st.ring), st.sent_bytes);
        CHECK_U(ab_ring_total_read(st.ring), st.sent_bytes);
        CHECK_U(ab_ring_read_space(st.ring), 0);
        CHECK_U(ab_ring_write_space(st.ring), ab_ring_capacity(st.ring));
    }
    printf("stress %-7s cap %5zu start 0x%016" PRIx64 ": %8" PRIu64 " records, %10" PRIu64
           " bytes in %.2f s (%.0f MB/s)%s\n",
           name, ab_ring_capacity(st.ring), start, st.got_records, st.got_bytes, took,
           (double)st.got_bytes / took / 1e6, atomic_load(&st.abort) ? " ABORTED" : "");
    ab_ring_destroy(&st.ring);
}

/* Resident memory of this process in bytes, from /proc/self/statm; -1 if
 * it cannot be read. */
static int64_t s_resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1 : resident * 4096;
}

/* An untouched ring costs no resident memory until the producer writes to
 * it; a ring from ab_ring_new() is resident at once. 64 MiB is above
 * glibc's largest mmap threshold, so each ring gets fresh pages rather than
 * reused ones. Sanitizer runtimes only add to what writing commits. */
static void s_test_untouched_memory(void)
{
    const size_t capacity = 64u << 20, written = 16u << 20, mib = 1u << 20;
    int64_t before = s_resident_bytes();
    if (!CHECK(before > 0))
        return;
    ab_ring_t *ring = ab_ring_new_untouched(capacity);
    if (!CHECK(ring != NULL))
        return;
    int64_t created = s_resident_bytes();
    CHECK(created - before < (int64_t)(8 * mib));
    uint8_t chunk[4096];
    for (size_t pos = 0; pos < written; pos += sizeof chunk) {
        s_fill(chunk, pos, sizeof chunk);
        CHECK_I(ab_ring_write(ring, chunk, sizeof chunk), AB_OK);
    }
    int64_t filled = s_resident_bytes();
    CHECK(filled - created >= (int64_t)(written - mib));
    for (size_t pos = 0; pos < written; pos += sizeof chunk) {
        CHECK_I(ab_ring_read(ring, chunk, sizeof chunk), AB_OK);
        if (!CHECK_STREAM(chunk, pos, sizeof chunk))
            break;
    }
    ab_ring_destroy(&ring);

    before = s_resident_bytes();
    ring = ab_ring_new(capacity);
    if (!CHECK(ring != NULL))
        return;
    CHECK(s_resident_bytes() - before >= (int64_t)(capacity - mib));
    ab_ring_destroy(&ring);
}

int main(int argc, char **argv)
{
    /* test_ring [seed [seconds-per-stress-run]] */
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5eed1234abcdULL;
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    if (seed == 0)
        seed = 1; /* xorshift never leaves 0 */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("test_ring: seed 0x%" PRIx64 ", %.2f s per stress run\n", seed, seconds);

    s_test_untouched_memory(); /* first: before other tests free big chunks */
    s_test_capacity();
    s_test_all_or_nothing();
    s_test_regions(0);
    s_test_regions(5);
    s_test_regions(UINT64_MAX - 20);
    s_test_region_exact_end();
    s_test_counter_wrap();
    int unit_failures = atomic_load(&s_failures);
    printf("unit checks: %d failed\n", unit_failures);

    uint64_t near_wrap = UINT64_MAX - 1000;
    s_stress(MODE_COPY, 1024, 0, seed, seconds);
    s_stress(MODE_REGIONS, 1024, 0, seed + 1, seconds);
    s_stress(MODE_COPY, 4096, near_wrap, seed + 2, seconds);
    s_stress(MODE_REGIONS, 512, near_wrap, seed + 3, seconds);

    int failures = atomic_load(&s_failures);
    printf("test_ring: %s (%d failed checks)\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
