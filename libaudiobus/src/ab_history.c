/* ab_history.c - a stream's recent blocks by sequence number (see ab_history.h). */
#include "ab_history.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    uint64_t seq;
    uint64_t frame0;
    uint32_t frames;
    uint8_t *data; /* kept across blocks; grows to the largest block seen */
    size_t len, cap;
} s_slot_t;

struct ab_history {
    s_slot_t *slots;
    size_t capacity;
    bool any;
    uint64_t newest;
    uint64_t lowest_put; /* lowest seq stored since the last clear */
};

ab_history_t *ab_history_new(size_t capacity)
{
    ab_history_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = capacity ? capacity : 1;
    self->slots = calloc(self->capacity, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void ab_history_clear(ab_history_t *self)
{
    for (size_t i = 0; i < self->capacity; i++)
        self->slots[i].used = false;
    self->any = false;
}

void ab_history_destroy(ab_history_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->capacity; i++)
        free((*self_p)->slots[i].data);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

size_t ab_history_capacity(const ab_history_t *self)
{
    return self->capacity;
}

bool ab_history_empty(const ab_history_t *self)
{
    return !self->any;
}

uint64_t ab_history_newest(const ab_history_t *self)
{
    return self->newest;
}

uint64_t ab_history_oldest(const ab_history_t *self)
{
    uint64_t window_start = self->newest + 1 >= self->capacity ? self->newest + 1 - self->capacity : 0;
    return self->lowest_put > window_start ? self->lowest_put : window_start;
}

bool ab_history_put(ab_history_t *self, uint64_t seq, uint64_t frame0, uint32_t frames, const void *data,
                    size_t len)
{
    if (self->any && seq + self->capacity <= self->newest)
        return false; /* older than the window */
    s_slot_t *slot = &self->slots[seq % self->capacity];
    /* A copy of its own (a reference to the received message would pin
     * libzmq's whole receive buffer, many times the block's size). */
    if (len > slot->cap) {
        uint8_t *grown = realloc(slot->data, len);
        if (!grown) {
            slot->used = false;
            return false;
        }
        slot->data = grown;
        slot->cap = len;
    }
    memcpy(slot->data, data, len);
    slot->len = len;
    slot->used = true;
    slot->seq = seq;
    slot->frame0 = frame0;
    slot->frames = frames;
    if (!self->any || seq > self->newest)
        self->newest = seq;
    if (!self->any || seq < self->lowest_put)
        self->lowest_put = seq;
    self->any = true;
    return true;
}

const void *ab_history_get(ab_history_t *self, uint64_t seq, size_t *len)
{
    if (!self->any || seq > self->newest || seq < ab_history_oldest(self))
        return NULL;
    s_slot_t *slot = &self->slots[seq % self->capacity];
    if (!slot->used || slot->seq != seq)
        return NULL;
    if (len)
        *len = slot->len;
    return slot->data;
}

uint64_t ab_history_seq_after_frame(ab_history_t *self, uint64_t frame)
{
    uint64_t oldest = ab_history_oldest(self);
    uint64_t best = self->newest + 1;
    for (uint64_t seq = self->newest + 1; seq-- > oldest;) {
        s_slot_t *slot = &self->slots[seq % self->capacity];
        if (!slot->used || slot->seq != seq)
            continue;
        if (slot->frame0 + slot->frames <= frame)
            break;
        best = seq;
    }
    return best <= self->newest ? best : oldest;
}
