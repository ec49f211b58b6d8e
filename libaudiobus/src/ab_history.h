/* ab_history.h - the broker's memory of one stream: the last blocks it
 * relayed, indexed by sequence number, each copied into a buffer of its
 * slot that is kept and reused when the slot's next block comes (so the
 * memory kept is capacity x the largest block, and a full history makes no
 * allocation per block: the broker's resident memory stays flat). Used to
 * replay what a processor missed and to drop duplicates of what was already
 * relayed. [the broker's thread] */
#ifndef AUDIOBUS_AB_HISTORY_H_INCLUDED
#define AUDIOBUS_AB_HISTORY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ab_history ab_history_t;

/* Room for capacity blocks (at least 1). NULL when out of memory. */
ab_history_t *ab_history_new(size_t capacity);
void ab_history_destroy(ab_history_t **self_p);

/* Forget every block (the slots' buffers are kept for the next ones). */
void ab_history_clear(ab_history_t *self);

size_t ab_history_capacity(const ab_history_t *self);

/* True when no block was stored since the last clear. */
bool ab_history_empty(const ab_history_t *self);

/* Highest sequence number stored, and the lowest one still held (blocks
 * older than newest - capacity + 1 have been overwritten). Meaningless
 * when empty. */
uint64_t ab_history_newest(const ab_history_t *self);
uint64_t ab_history_oldest(const ab_history_t *self);

/* Store a copy of the len bytes at data under seq (replacing any older
 * block in its slot). Returns false when seq is too old for the window or
 * the slot's buffer could not grow to len (out of memory). */
bool ab_history_put(ab_history_t *self, uint64_t seq, uint64_t frame0, uint32_t frames, const void *data,
                    size_t len);

/* The bytes stored under seq, their count in *len (len may be NULL), or
 * NULL. Valid until the next put or clear: copy them to send them. */
const void *ab_history_get(ab_history_t *self, uint64_t seq, size_t *len);

/* The lowest held seq whose audio ends after frame `frame` (for "the last
 * N seconds"), or ab_history_oldest() when all is newer. */
uint64_t ab_history_seq_after_frame(ab_history_t *self, uint64_t frame);

#endif
