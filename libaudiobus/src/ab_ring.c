/* ab_ring.c - lock-free SPSC byte ring with free-running 64-bit counters. */
#include "audiobus/ab_ring.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_error.h"

#define AB_RING_CACHE_LINE 64

/* The two counters live on separate cache lines: the producer writes
 * write_pos and the consumer read_pos, and sharing a line would make every
 * push and pop bounce it between cores. */
struct ab_ring {
    _Alignas(AB_RING_CACHE_LINE) _Atomic uint64_t write_pos;
    _Alignas(AB_RING_CACHE_LINE) _Atomic uint64_t read_pos;
    _Alignas(AB_RING_CACHE_LINE) uint8_t *data;
    size_t capacity;
    size_t mask;
    uint64_t start_position;
};

static ab_ring_t *s_ring_new(size_t min_capacity, uint64_t start_position, bool touch)
{
    if (min_capacity == 0 || min_capacity > ((size_t)1 << 40))
        return NULL;
    size_t capacity = 64;
    while (capacity < min_capacity)
        capacity <<= 1;
    ab_ring_t *self = aligned_alloc(AB_RING_CACHE_LINE, sizeof(ab_ring_t));
    if (!self)
        return NULL;
    memset(self, 0, sizeof *self);
    self->data = aligned_alloc(AB_RING_CACHE_LINE, capacity);
    if (!self->data) {
        free(self);
        return NULL;
    }
    /* Touch every page now so the audio thread never takes a page fault. */
    if (touch)
        memset(self->data, 0, capacity);
    self->capacity = capacity;
    self->mask = capacity - 1;
    self->start_position = start_position;
    atomic_init(&self->write_pos, start_position);
    atomic_init(&self->read_pos, start_position);
    return self;
}

ab_ring_t *ab_ring_new_at(size_t min_capacity, uint64_t start_position)
{
    return s_ring_new(min_capacity, start_position, true);
}

ab_ring_t *ab_ring_new(size_t min_capacity)
{
    return s_ring_new(min_capacity, 0, true);
}

ab_ring_t *ab_ring_new_untouched(size_t min_capacity)
{
    return s_ring_new(min_capacity, 0, false);
}

void ab_ring_destroy(ab_ring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->data);
    free(*self_p);
    *self_p = NULL;
}

size_t ab_ring_capacity(const ab_ring_t *self)
{
    return self->capacity;
}

size_t ab_ring_write_space(const ab_ring_t *self)
{
    uint64_t w = atomic_load_explicit(&self->write_pos, memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&self->read_pos, memory_order_acquire);
    return self->capacity - (size_t)(w - r);
}

size_t ab_ring_read_space(const ab_ring_t *self)
{
    uint64_t r = atomic_load_explicit(&self->read_pos, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&self->write_pos, memory_order_acquire);
    return (size_t)(w - r);
}

/* Split [pos, pos+len) of the ring into at most two contiguous segments. */
static void s_regions(const ab_ring_t *self, uint64_t pos, size_t len, ab_ring_regions_t *regions)
{
    size_t offset = (size_t)pos & self->mask;
    size_t first = self->capacity - offset;
    if (first > len)
        first = len;
    regions->ptr1 = self->data + offset;
    regions->len1 = first;
    regions->ptr2 = self->data;
    regions->len2 = len - first;
}

size_t ab_ring_write_regions(ab_ring_t *self, ab_ring_regions_t *regions)
{
    size_t space = ab_ring_write_space(self);
    s_regions(self, atomic_load_explicit(&self->write_pos, memory_order_relaxed), space, regions);
    return space;
}

void ab_ring_write_commit(ab_ring_t *self, size_t len)
{
    uint64_t w = atomic_load_explicit(&self->write_pos, memory_order_relaxed);
    atomic_store_explicit(&self->write_pos, w + len, memory_order_release);
}

size_t ab_ring_read_regions(ab_ring_t *self, ab_ring_regions_t *regions)
{
    size_t avail = ab_ring_read_space(self);
    s_regions(self, atomic_load_explicit(&self->read_pos, memory_order_relaxed), avail, regions);
    return avail;
}

void ab_ring_read_commit(ab_ring_t *self, size_t len)
{
    uint64_t r = atomic_load_explicit(&self->read_pos, memory_order_relaxed);
    atomic_store_explicit(&self->read_pos, r + len, memory_order_release);
}

/* Copy len bytes to the ring at offset bytes past the write position,
 * without publishing them. */
static void s_copy_in(ab_ring_t *self, size_t offset, const void *data, size_t len)
{
    if (len == 0)
        return;
    ab_ring_regions_t regions;
    s_regions(self, atomic_load_explicit(&self->write_pos, memory_order_relaxed) + offset, len, &regions);
    memcpy(regions.ptr1, data, regions.len1);
    if (regions.len2)
        memcpy(regions.ptr2, (const uint8_t *)data + regions.len1, regions.len2);
}

int ab_ring_write(ab_ring_t *self, const void *data, size_t len)
{
    if (ab_ring_write_space(self) < len)
        return AB_EFULL;
    s_copy_in(self, 0, data, len);
    ab_ring_write_commit(self, len);
    return 0;
}

int ab_ring_write2(ab_ring_t *self, const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (ab_ring_write_space(self) < a_len + b_len)
        return AB_EFULL;
    s_copy_in(self, 0, a, a_len);
    s_copy_in(self, a_len, b, b_len);
    ab_ring_write_commit(self, a_len + b_len);
    return 0;
}

int ab_ring_peek(const ab_ring_t *self, void *dest, size_t len)
{
    if (ab_ring_read_space(self) < len)
        return AB_EEMPTY;
    ab_ring_regions_t regions;
    s_regions(self, atomic_load_explicit(&self->read_pos, memory_order_relaxed), len, &regions);
    memcpy(dest, regions.ptr1, regions.len1);
    if (regions.len2)
        memcpy((uint8_t *)dest + regions.len1, regions.ptr2, regions.len2);
    return 0;
}

int ab_ring_read(ab_ring_t *self, void *dest, size_t len)
{
    int rc = ab_ring_peek(self, dest, len);
    if (rc == 0)
        ab_ring_read_commit(self, len);
    return rc;
}

int ab_ring_skip(ab_ring_t *self, size_t len)
{
    if (ab_ring_read_space(self) < len)
        return AB_EEMPTY;
    ab_ring_read_commit(self, len);
    return 0;
}

uint64_t ab_ring_total_written(const ab_ring_t *self)
{
    return atomic_load_explicit(&self->write_pos, memory_order_acquire) - self->start_position;
}

uint64_t ab_ring_total_read(const ab_ring_t *self)
{
    return atomic_load_explicit(&self->read_pos, memory_order_acquire) - self->start_position;
}
