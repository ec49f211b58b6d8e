/* ab_repair.h - a receiver's in-order delivery of one stream, with repair.
 *
 * Blocks arrive live, replayed by the broker, or published again by the
 * recorder: possibly late, twice, or not at all. This delivers each block
 * exactly once and in sequence order. When a sequence number is missing it
 * holds the blocks after it, asks for the missing range (the `request`
 * callback; the caller sends a `replay` to the broker), and delivers as soon
 * as the range is filled in. It asks again only once the last replay is
 * known to have failed, so that a receiver that is behind does not queue
 * copy after copy of the same replay. What cannot be had — below the lowest block
 * the broker or the publisher still hold, or still missing after the give-up
 * time — is reported once through `lost` with its exact frame range, and
 * delivery goes on after it.
 *
 * Pure logic, no sockets: one thread (the processor's receive thread).
 */
#ifndef AUDIOBUS_AB_REPAIR_H_INCLUDED
#define AUDIOBUS_AB_REPAIR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audiobus/ab_block.h"

typedef struct {
    /* The next block in order (its samples valid only during the call). */
    void (*deliver)(void *user, const ab_block_t *block);
    /* Blocks [from_seq, to_seq] are lost for good: frames [frame0, frame0 +
     * frames) of the stream (frames 0 when the frame range is unknown). */
    void (*lost)(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames);
    /* Ask for blocks [from_seq, to_seq] again, or, when backlog_ms is not 0,
     * for the last backlog_ms of the stream. */
    void (*request)(void *user, uint64_t from_seq, uint64_t to_seq, uint32_t backlog_ms);
    void *user;
} ab_repair_callbacks_t;

typedef struct ab_repair ab_repair_t;

/* max_pending: the window, in sequence numbers, of blocks held while a
 * hole waits (beyond it the oldest missing range is given up); once the
 * blocks' length is known it is widened to span twice give_up_ms of audio
 * (plus the backlog asked for), up to 2^18 blocks, so that an outage as
 * long as the give-up time is repaired whatever the block size;
 * give_up_ms: how long a missing range is waited for; retry_ms: how often
 * the request is repeated meanwhile. NULL when out of memory. */
ab_repair_t *ab_repair_new(const ab_repair_callbacks_t *callbacks, size_t max_pending, int give_up_ms,
                           int retry_ms);
void ab_repair_destroy(ab_repair_t **self_p);

/* A block arrived (from any path). Copies it when it must be held. */
void ab_repair_push(ab_repair_t *self, const ab_block_t *block, int64_t now_ns);

/* The broker answered a request: it replays [from_seq, to_seq] right
 * after block live_seq in the receiver's queue (0: unknown); nothing below
 * first_seq can be had any more (0: unknown). What is below first_seq is
 * given up once no replay answered before may still bring it (a block
 * after the replay's live_seq has come): an answer can overtake the data
 * of an earlier one. */
void ab_repair_replaying(ab_repair_t *self, uint64_t from_seq, uint64_t to_seq, uint64_t first_seq,
                         uint64_t live_seq, int64_t now_ns);

/* Whether the receiver is behind: its queue of blocks not yet taken is
 * long. Meanwhile no replay is asked for (holes wait, up to the give-up
 * time): a replay would queue behind that backlog, or be dropped with the
 * rest when the queue overflows, and every receiver that fell behind at
 * once (a stalled broker, an overloaded host) asking at once would add the
 * most load when there is the least to spare. Once it has caught up, what
 * is still missing is asked for. */
void ab_repair_set_receiver_behind(ab_repair_t *self, bool behind);

/* Time passes: retry requests, give up what waited too long. */
void ab_repair_tick(ab_repair_t *self, int64_t now_ns);

/* Before the first block: hold live blocks, for the backlog to come
 * first. Then, once the replay can reach the receiver (its subscriptions
 * are in force), ab_repair_request_backlog() asks for the last backlog_ms
 * of the stream; blocks are delivered from the answer on (or from the
 * first held block when no answer comes within give_up_ms). */
void ab_repair_hold_for_backlog(ab_repair_t *self, int64_t now_ns);
void ab_repair_request_backlog(ab_repair_t *self, uint32_t backlog_ms, int64_t now_ns);

/* The receiver's subscriptions were made again (its data connection was
 * remade), or it has heard nothing for a while (blocks, the last ones of a
 * stream included, may have been dropped for it): ask for everything from
 * the next expected block on. Blocks
 * published while the connection was down - a stream's tail and its end
 * marker included - then arrive even when no later live block reveals the
 * gap; what the broker no longer holds is reported lost as usual (through
 * the answer's first_seq). Does nothing before the first block or while a
 * backlog is awaited. */
void ab_repair_catch_up(ab_repair_t *self, int64_t now_ns);

/* The stream has been quiet for a while: its tail may have been dropped
 * on the way. The same request as ab_repair_catch_up(), but while the
 * receiver is behind it waits until it has caught up: the blocks queued
 * to it come first, and are often all that was missing. (A stalled broker
 * leaves its receivers' sockets empty: they are not behind then, and their
 * probes go out.) */
void ab_repair_probe_tail(ab_repair_t *self, int64_t now_ns);

/* How much of the stream's audio was still queued to the receiver ahead of
 * the last replay asked for, and has not come yet: the broker's answer
 * says which block the replay follows. 0 once the replay has passed, when
 * nothing is known, or when no block has come for a second (what was
 * queued is not coming). A measure of how far behind the receiver is where
 * the emptiness of its socket is not (its own queue may look empty while
 * the broker's to it is full). */
int64_t ab_repair_queued_ahead_ns(const ab_repair_t *self, int64_t now_ns);

/* Counters. */
size_t ab_repair_pending(const ab_repair_t *self);
uint64_t ab_repair_duplicates(const ab_repair_t *self);
uint64_t ab_repair_repaired(const ab_repair_t *self);
uint64_t ab_repair_lost_blocks(const ab_repair_t *self);
/* The next sequence number it waits for (meaningless before the first). */
uint64_t ab_repair_expected(const ab_repair_t *self);

#endif
