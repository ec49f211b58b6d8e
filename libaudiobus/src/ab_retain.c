/* ab_retain.c - a publisher's last blocks, encoded (see ab_retain.h). */
#include "ab_retain.h"

#include <stdlib.h>

struct ab_retain {
    uint8_t *bytes;    /* capacity slots of slot_bytes */
    size_t slot_bytes;
    size_t capacity;
    uint64_t *seqs;
    size_t *lens;      /* 0: empty slot */
    bool any;
    uint64_t oldest, newest;
};

ab_retain_t *ab_retain_new(size_t capacity, size_t max_block_bytes)
{
    ab_retain_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = capacity ? capacity : 1;
    self->slot_bytes = max_block_bytes;
    self->bytes = malloc(self->capacity * self->slot_bytes);
    self->seqs = calloc(self->capacity, sizeof *self->seqs);
    self->lens = calloc(self->capacity, sizeof *self->lens);
    if (!self->bytes || !self->seqs || !self->lens) {
        ab_retain_destroy(&self);
        return NULL;
    }
    return self;
}

void ab_retain_destroy(ab_retain_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->bytes);
    free((*self_p)->seqs);
    free((*self_p)->lens);
    free(*self_p);
    *self_p = NULL;
}

int ab_retain_encode(ab_retain_t *self, const ab_block_t *block, const uint8_t **msg, size_t *len)
{
    size_t slot = block->seq % self->capacity;
    uint8_t *dest = self->bytes + slot * self->slot_bytes;
    self->lens[slot] = 0;
    int rc = ab_block_encode(block, dest, self->slot_bytes, len);
    if (rc)
        return rc;
    self->lens[slot] = *len;
    self->seqs[slot] = block->seq;
    *msg = dest;
    if (!self->any || block->seq > self->newest)
        self->newest = block->seq;
    if (!self->any)
        self->oldest = block->seq;
    if (self->newest + 1 > self->capacity && self->oldest < self->newest + 1 - self->capacity)
        self->oldest = self->newest + 1 - self->capacity;
    self->any = true;
    return 0;
}

bool ab_retain_get(const ab_retain_t *self, uint64_t seq, const uint8_t **msg, size_t *len)
{
    if (!self->any || seq < self->oldest || seq > self->newest)
        return false;
    size_t slot = seq % self->capacity;
    if (self->lens[slot] == 0 || self->seqs[slot] != seq)
        return false;
    *msg = self->bytes + slot * self->slot_bytes;
    *len = self->lens[slot];
    return true;
}

bool ab_retain_empty(const ab_retain_t *self)
{
    return !self->any;
}

uint64_t ab_retain_oldest(const ab_retain_t *self)
{
    return self->oldest;
}

uint64_t ab_retain_newest(const ab_retain_t *self)
{
    return self->newest;
}
