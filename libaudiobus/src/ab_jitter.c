/* ab_jitter.c - playback jitter buffer on a lock-free ring (see ab_jitter.h). */
#include "audiobus/ab_jitter.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_ring.h"

#define AB_JITTER_NO_END UINT64_MAX

typedef enum {
    STATE_BUFFERING,   /* before the first frame, or after the end was played out: silence, not counted */
    STATE_PLAYING,
    STATE_REBUFFERING  /* after an underrun: silence, counted */
} s_state_t;

struct ab_jitter {
    ab_ring_t *ring;
    size_t frame_bytes;
    uint32_t target;

    /* written by the producer */
    _Atomic uint32_t block_frames;   /* largest write so far */
    _Atomic uint64_t end_position;   /* ring bytes written when the stream ended; NO_END otherwise */
    atomic_uint_fast64_t gaps, gap_frames, full_events, full_frames;

    /* written by the consumer */
    s_state_t state;
    atomic_bool playing;
    atomic_uint_fast64_t played, underruns, underrun_frames, overruns, overrun_frames;
};

/* Single-writer counters: a relaxed load and store is enough, and never a
 * locked instruction on the audio thread. */
static void s_add(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

static uint64_t s_get(const atomic_uint_fast64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static uint64_t s_bound(const ab_jitter_t *self, uint32_t device_frames)
{
    uint32_t level = self->target > device_frames ? self->target : device_frames;
    return 2 * (uint64_t)level + atomic_load_explicit(&self->block_frames, memory_order_relaxed);
}

ab_jitter_t *ab_jitter_new(size_t frame_bytes, uint32_t target_frames, uint32_t block_frames)
{
    if (frame_bytes == 0 || target_frames == 0 || block_frames == 0)
        return NULL;
    ab_jitter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->frame_bytes = frame_bytes;
    self->target = target_frames;
    atomic_init(&self->block_frames, block_frames);
    atomic_init(&self->end_position, AB_JITTER_NO_END);
    self->state = STATE_BUFFERING;
    uint64_t capacity_frames = 2 * s_bound(self, 0) + block_frames;
    self->ring = ab_ring_new((size_t)(capacity_frames * frame_bytes));
    if (!self->ring) {
        free(self);
        return NULL;
    }
    return self;
}

void ab_jitter_destroy(ab_jitter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_ring_destroy(&(*self_p)->ring);
    free(*self_p);
    *self_p = NULL;
}

/* ---- producer ---------------------------------------------------------------- */

/* A new stretch after an end: the consumer buffers to the target again. */
static void s_reopen(ab_jitter_t *self)
{
    if (atomic_load_explicit(&self->end_position, memory_order_relaxed) != AB_JITTER_NO_END)
        atomic_store_explicit(&self->end_position, AB_JITTER_NO_END, memory_order_release);
}

uint32_t ab_jitter_write(ab_jitter_t *self, const void *frames, uint32_t n)
{
    s_reopen(self);
    if (n > atomic_load_explicit(&self->block_frames, memory_order_relaxed))
        atomic_store_explicit(&self->block_frames, n, memory_order_relaxed);
    size_t room = ab_ring_write_space(self->ring) / self->frame_bytes;
    uint32_t take = n < room ? n : (uint32_t)room;
    if (take)
        ab_ring_write(self->ring, frames, (size_t)take * self->frame_bytes);
    if (take < n) {
        s_add(&self->full_events, 1);
        s_add(&self->full_frames, n - take);
    }
    return take;
}

uint64_t ab_jitter_write_silence(ab_jitter_t *self, uint64_t n)
{
    s_reopen(self);
    uint64_t bound = s_bound(self, 0);
    uint64_t room = ab_ring_write_space(self->ring) / self->frame_bytes;
    uint64_t take = n < bound ? n : bound;
    if (take > room)
        take = room;
    s_add(&self->gaps, 1);
    s_add(&self->gap_frames, take);
    ab_ring_regions_t regions;
    ab_ring_write_regions(self->ring, &regions);
    size_t bytes = (size_t)take * self->frame_bytes;
    size_t first = bytes < regions.len1 ? bytes : regions.len1;
    memset(regions.ptr1, 0, first);
    if (bytes > first)
        memset(regions.ptr2, 0, bytes - first);
    ab_ring_write_commit(self->ring, bytes);
    return take;
}

void ab_jitter_end(ab_jitter_t *self)
{
    atomic_store_explicit(&self->end_position, ab_ring_total_written(self->ring), memory_order_release);
}

/* ---- consumer ---------------------------------------------------------------- */

static void s_silence(const ab_jitter_t *self, void *out, uint32_t n)
{
    memset(out, 0, (size_t)n * self->frame_bytes);
}

void ab_jitter_read(ab_jitter_t *self, void *out, uint32_t n)
{
    uint64_t end = atomic_load_explicit(&self->end_position, memory_order_acquire);
    uint64_t fill = ab_ring_read_space(self->ring) / self->frame_bytes;
    /* Everything up to the end is in the buffer: play it out. */
    bool ending = end != AB_JITTER_NO_END && ab_ring_total_read(self->ring) + fill * self->frame_bytes >= end;
    if (self->state != STATE_PLAYING) {
        uint32_t level = self->target > n ? self->target : n;
        if (fill >= level || (ending && fill > 0)) {
            self->state = STATE_PLAYING;
            atomic_store_explicit(&self->playing, true, memory_order_relaxed);
        } else {
            s_silence(self, out, n);
            if (self->state == STATE_REBUFFERING) {
                if (ending) /* the stream ended during the underrun: no longer one */
                    self->state = STATE_BUFFERING;
                else
                    s_add(&self->underrun_frames, n);
            }
            return;
        }
    }
    uint64_t bound = s_bound(self, n);
    if (fill > bound && !ending) {
        uint64_t drop = fill - (self->target > n ? self->target : n);
        ab_ring_skip(self->ring, (size_t)drop * self->frame_bytes);
        fill -= drop;
        s_add(&self->overruns, 1);
        s_add(&self->overrun_frames, drop);
    }
    uint32_t take = fill < n ? (uint32_t)fill : n;
    if (take)
        ab_ring_read(self->ring, out, (size_t)take * self->frame_bytes);
    s_add(&self->played, take);
    if (take == n)
        return;
    s_silence(self, (uint8_t *)out + (size_t)take * self->frame_bytes, n - take);
    atomic_store_explicit(&self->playing, false, memory_order_relaxed);
    if (ending) {
        self->state = STATE_BUFFERING;
    } else {
        self->state = STATE_REBUFFERING;
        s_add(&self->underruns, 1);
        s_add(&self->underrun_frames, n - take);
    }
}

/* ---- any thread ---------------------------------------------------------------- */

bool ab_jitter_drained(const ab_jitter_t *self)
{
    uint64_t end = atomic_load_explicit(&self->end_position, memory_order_acquire);
    return end != AB_JITTER_NO_END && ab_ring_total_read(self->ring) >= end;
}

void ab_jitter_stats(const ab_jitter_t *self, ab_jitter_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->played_frames = s_get(&self->played);
    stats->underruns = s_get(&self->underruns);
    stats->underrun_frames = s_get(&self->underrun_frames);
    stats->overruns = s_get(&self->overruns) + s_get(&self->full_events);
    stats->dropped_frames = s_get(&self->overrun_frames) + s_get(&self->full_frames);
    stats->gaps = s_get(&self->gaps);
    stats->gap_frames = s_get(&self->gap_frames);
    uint64_t read = ab_ring_total_read(self->ring);
    uint64_t written = ab_ring_total_written(self->ring);
    stats->buffered_frames = written > read ? (written - read) / self->frame_bytes : 0;
    stats->playing = atomic_load_explicit(&self->playing, memory_order_relaxed);
}

uint32_t ab_jitter_target_frames(const ab_jitter_t *self)
{
    return self->target;
}

uint64_t ab_jitter_bound_frames(const ab_jitter_t *self)
{
    return s_bound(self, 0);
}
