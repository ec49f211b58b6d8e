/* ab_retain.h - a publisher's store of its last blocks, encoded, by
 * sequence number, so that it can publish them again when the broker asks
 * (a gap) or after it registers with a restarted broker. One thread. */
#ifndef AUDIOBUS_AB_RETAIN_H_INCLUDED
#define AUDIOBUS_AB_RETAIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audiobus/ab_block.h"

typedef struct ab_retain ab_retain_t;

/* Room for capacity blocks of at most max_block_bytes encoded bytes each,
 * allocated now. NULL when out of memory. */
ab_retain_t *ab_retain_new(size_t capacity, size_t max_block_bytes);
void ab_retain_destroy(ab_retain_t **self_p);

/* Encode block into the slot of its seq (replacing the oldest block) and
 * return the bytes, valid until the slot is reused. Returns 0 or the
 * encoder's error. */
int ab_retain_encode(ab_retain_t *self, const ab_block_t *block, const uint8_t **msg, size_t *len);

/* The encoded block seq, if still held. */
bool ab_retain_get(const ab_retain_t *self, uint64_t seq, const uint8_t **msg, size_t *len);

bool ab_retain_empty(const ab_retain_t *self);
/* Lowest and highest seq held; meaningless when empty. */
uint64_t ab_retain_oldest(const ab_retain_t *self);
uint64_t ab_retain_newest(const ab_retain_t *self);

#endif
