/* ab_ring.h - lock-free single-producer single-consumer byte ring.
 *
 * The capacity is a power of two. Read and write positions are free-running
 * 64-bit counters masked on access, published with release stores and read
 * with acquire loads (C11 <stdatomic.h>), so exactly one producer thread and
 * one consumer thread may use a ring at the same time without locks. No
 * function here allocates, locks or blocks after ab_ring_new(): the producer
 * side is safe in a PortAudio callback (not so for ab_ring_new_untouched()).
 *
 * Two ways to use it:
 *  - copy helpers: ab_ring_write() / ab_ring_read() / ab_ring_peek();
 *  - zero-copy: ab_ring_write_regions() gives up to two writable segments,
 *    fill them, then ab_ring_write_commit(); likewise for reading.
 */
#ifndef AUDIOBUS_AB_RING_H_INCLUDED
#define AUDIOBUS_AB_RING_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_ring ab_ring_t;

/* Up to two contiguous segments of a ring; len2 is 0 when the region does
 * not wrap. */
typedef struct {
    uint8_t *ptr1;
    size_t len1;
    uint8_t *ptr2;
    size_t len2;
} ab_ring_regions_t;

/* Create a ring holding at least min_capacity bytes (rounded up to a power
 * of two, at least 64, at most 2^40). Returns NULL on a bad size or out of
 * memory. The caller owns the ring. [control-thread] */
AB_EXPORT ab_ring_t *ab_ring_new(size_t min_capacity);

/* Create a ring whose counters start at start_position (tests use a value
 * near 2^64 to exercise counter wrap). Otherwise as ab_ring_new().
 * [control-thread] */
AB_EXPORT ab_ring_t *ab_ring_new_at(size_t min_capacity, uint64_t start_position);

/* Create a ring as ab_ring_new() does, but leave its memory untouched:
 * each page is committed when the producer first writes to it, with one
 * page fault on the producer's thread, once in the ring's life. For a ring
 * that is mostly shallow or unused (a queue kept for a consumer that falls
 * behind) whose producer is not a real-time thread: resident memory then
 * follows what the ring has really held. A large memory that was touched
 * once and is never used again is not free: on the 2-vCPU test machine the
 * kernel's memory monitor took longer over it and the delivery tail of
 * every process grew (BENCHMARKS.md, "Results (2026-12-07, night)").
 * [control-thread] */
AB_EXPORT ab_ring_t *ab_ring_new_untouched(size_t min_capacity);

/* Destroy a ring and NULL the caller's pointer; NULL-safe, safe twice.
 * Neither side may be using it. [control-thread] */
AB_EXPORT void ab_ring_destroy(ab_ring_t **self_p);

/* Capacity in bytes (a power of two). [any-thread] */
AB_EXPORT size_t ab_ring_capacity(const ab_ring_t *self);

/* Bytes the producer may write now. [producer-thread] */
AB_EXPORT size_t ab_ring_write_space(const ab_ring_t *self);

/* Bytes the consumer may read now. [consumer-thread] */
AB_EXPORT size_t ab_ring_read_space(const ab_ring_t *self);

/* Copy all len bytes in, or nothing. Returns 0, or AB_EFULL when fewer than
 * len bytes are free. [producer-thread], real-time safe. */
AB_EXPORT int ab_ring_write(ab_ring_t *self, const void *data, size_t len);

/* Copy a record made of two parts (e.g. a header and its payload) in one
 * commit, all or nothing: the consumer sees both or neither. b may be NULL
 * when b_len is 0. Returns 0 or AB_EFULL. [producer-thread], real-time safe. */
AB_EXPORT int ab_ring_write2(ab_ring_t *self, const void *a, size_t a_len, const void *b, size_t b_len);

/* Copy all len bytes out, or nothing. Returns 0, or AB_EEMPTY when fewer
 * than len bytes are readable. [consumer-thread] */
AB_EXPORT int ab_ring_read(ab_ring_t *self, void *dest, size_t len);

/* As ab_ring_read() but leaves the bytes in the ring. [consumer-thread] */
AB_EXPORT int ab_ring_peek(const ab_ring_t *self, void *dest, size_t len);

/* Drop len readable bytes. Returns 0 or AB_EEMPTY. [consumer-thread] */
AB_EXPORT int ab_ring_skip(ab_ring_t *self, size_t len);

/* The free space as up to two segments; returns their total length.
 * [producer-thread] */
AB_EXPORT size_t ab_ring_write_regions(ab_ring_t *self, ab_ring_regions_t *regions);

/* Publish len bytes written into the regions. len must not exceed what
 * ab_ring_write_regions() returned. [producer-thread] */
AB_EXPORT void ab_ring_write_commit(ab_ring_t *self, size_t len);

/* The readable bytes as up to two segments; returns their total length.
 * [consumer-thread] */
AB_EXPORT size_t ab_ring_read_regions(ab_ring_t *self, ab_ring_regions_t *regions);

/* Release len bytes read from the regions. [consumer-thread] */
AB_EXPORT void ab_ring_read_commit(ab_ring_t *self, size_t len);

/* Total bytes ever written / read (the free-running counters, minus the
 * start position). [any-thread], approximate while the other side runs. */
AB_EXPORT uint64_t ab_ring_total_written(const ab_ring_t *self);
AB_EXPORT uint64_t ab_ring_total_read(const ab_ring_t *self);

#ifdef __cplusplus
}
#endif

#endif
