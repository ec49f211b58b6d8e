/* ab_repair.c - exactly-once, in-order delivery with replay requests (see ab_repair.h). */
#include "ab_repair.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    ab_block_t block; /* samples point to buffer */
    uint8_t *buffer;
    size_t buffer_cap;
} s_slot_t;

struct ab_repair {
    ab_repair_callbacks_t cb;
    s_slot_t *slots; /* held blocks, at seq % capacity; seq - expected < capacity */
    size_t capacity;
    size_t held;
    /* No block below this is held (from expected on): where the search for
     * the lowest held one starts, so that a hole of thousands of blocks is
     * not walked again for every block that comes after it. */
    uint64_t held_floor;
    int64_t give_up_ns, retry_ns;

    bool started;      /* expected is known */
    uint64_t expected; /* next seq to deliver */
    uint64_t epoch;
    bool last_end_known;
    uint64_t last_end; /* frame after the last delivered block */

    bool waiting;      /* expected is missing while later blocks are held */
    int64_t waiting_since, last_request;
    uint64_t requested_from, requested_to; /* the last range asked for */
    uint64_t lost_below;    /* the broker said nothing below this can be had */
    uint64_t highest_seen;
    int64_t last_push;      /* when the last block (of any path) came */
    int64_t block_ns;       /* how much audio a block of the stream carries (0: unknown) */
    int64_t backlog_ns;     /* how far back the backlog asked for reaches */

    /* One copy of a replay on its way at a time: a request is repeated only
     * once the one before is known not to come (see s_replay_failed()). */
    bool answered;              /* the broker answered the last request */
    uint64_t answer_live_seq;   /* and its replay follows this block */
    uint64_t expected_at_request; /* expected when the request went out */
    int64_t retry_interval;     /* doubles while repeated requests bring nothing */
    bool receiver_behind;       /* no requests meanwhile */
    /* Blocks [in_flight_from, in_flight_to] of answered replays may still
     * be on their way: they follow block in_flight_after in the receiver's
     * queue (the union over the answers since the last one passed). */
    bool in_flight;
    uint64_t in_flight_from, in_flight_to, in_flight_after;
    bool catch_up_due;          /* a tail probe waits for the receiver to catch up */

    bool backlog_waiting;
    int64_t backlog_since;
    uint64_t backlog_top; /* the highest seq held while the backlog is awaited */

    uint64_t duplicates, repaired, lost_blocks;
};

ab_repair_t *ab_repair_new(const ab_repair_callbacks_t *callbacks, size_t max_pending, int give_up_ms,
                           int retry_ms)
{
    ab_repair_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cb = *callbacks;
    self->capacity = max_pending > 2 ? max_pending : 2;
    self->slots = calloc(self->capacity, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->give_up_ns = (int64_t)give_up_ms * 1000000;
    self->retry_ns = (int64_t)retry_ms * 1000000;
    self->retry_interval = self->retry_ns;
    return self;
}

void ab_repair_destroy(ab_repair_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->capacity; i++)
        free((*self_p)->slots[i].buffer);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

/* The most sequence numbers a window spans: its slot table (248
 * bytes a block, 65 MB at most) is allocated for the whole span. 2^18
 * blocks are 23 minutes of 256-frame blocks at 48 kHz, 2.9 minutes of
 * 32-frame ones. */
#define AB_REPAIR_MAX_WINDOW ((size_t)1 << 18)

/* Make the window span capacity sequence numbers, a multiple of the
 * present width, keeping what is held: held blocks are in distinct slots
 * now, so their seqs differ modulo the present width, and so modulo any
 * multiple of it (however far apart a backlog that moved expected down
 * left them). Spare buffers are freed. False when out of memory (the
 * window stays as it was). */
static bool s_widen(ab_repair_t *self, size_t capacity)
{
    s_slot_t *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < self->capacity; i++) {
        s_slot_t *old = &self->slots[i];
        if (old->used)
            slots[old->block.seq % capacity] = *old; /* the samples point to its buffer, which moves along */
        else
            free(old->buffer);
    }
    free(self->slots);
    self->slots = slots;
    self->capacity = capacity;
    return true;
}

/* Widen the window to span what may be waited for: a hole as long as the
 * give-up time (an outage that long can still be repaired), the blocks
 * that come during the give-up time after it, and the backlog asked for.
 * In blocks this depends on their length: a fixed count would cover 44 s
 * of 256-frame blocks at 48 kHz but under 6 s of 32-frame ones. Never
 * narrower than the max_pending asked for. */
static void s_fit_window(ab_repair_t *self)
{
    if (!self->block_ns)
        return;
    uint64_t blocks = (uint64_t)((2 * self->give_up_ns + self->backlog_ns) / self->block_ns) + 1;
    if (blocks <= self->capacity)
        return;
    /* A multiple of the present width (see s_widen()), at least twice it:
     * a stream whose block length keeps changing widens it a few times,
     * not once a block. */
    uint64_t times = (blocks + self->capacity - 1) / self->capacity;
    uint64_t most = AB_REPAIR_MAX_WINDOW / self->capacity;
    if (times < 2)
        times = 2;
    if (times > most)
        times = most;
    if (times >= 2)
        s_widen(self, (size_t)times * self->capacity);
}

/* A block's length is taken as at most this: a bogus one (a features
 * block's hop is the publisher's to say) cannot overflow what is computed
 * from it (ab_repair_queued_ahead_ns() multiplies it by up to 2^20). */
#define AB_REPAIR_MAX_BLOCK_NS (3600 * 1000000000LL)

/* Note how much audio the stream's blocks carry (for the window's width
 * and ab_repair_queued_ahead_ns()). */
static void s_note_block_length(ab_repair_t *self, const ab_block_t *block)
{
    if (!block->rate || !block->frames)
        return;
    double length = (double)block->frames * (block->type == AB_BLOCK_FEATURES ? block->hop : 1) * 1e9 / block->rate;
    int64_t ns = length < (double)AB_REPAIR_MAX_BLOCK_NS ? (int64_t)length : AB_REPAIR_MAX_BLOCK_NS;
    if (ns == self->block_ns)
        return;
    self->block_ns = ns;
    s_fit_window(self);
}

static s_slot_t *s_slot(ab_repair_t *self, uint64_t seq)
{
    return &self->slots[seq % self->capacity];
}

static s_slot_t *s_held(ab_repair_t *self, uint64_t seq)
{
    s_slot_t *slot = s_slot(self, seq);
    return slot->used && slot->block.seq == seq ? slot : NULL;
}

/* Keep a copy of block; false when it is already held. */
static bool s_hold(ab_repair_t *self, const ab_block_t *block)
{
    s_slot_t *slot = s_slot(self, block->seq);
    if (slot->used) {
        if (slot->block.seq == block->seq)
            return false;
        slot->used = false; /* cannot happen while seq - expected < capacity */
        self->held--;
    }
    if (slot->buffer_cap < block->samples_len) {
        uint8_t *grown = realloc(slot->buffer, block->samples_len);
        if (!grown)
            return false;
        slot->buffer = grown;
        slot->buffer_cap = block->samples_len;
    }
    slot->block = *block;
    if (block->samples_len)
        memcpy(slot->buffer, block->samples, block->samples_len);
    slot->block.samples = slot->buffer;
    slot->used = true;
    if (!self->held || block->seq < self->held_floor)
        self->held_floor = block->seq;
    self->held++;
    return true;
}

static void s_deliver(ab_repair_t *self, const ab_block_t *block)
{
    self->cb.deliver(self->cb.user, block);
    if (block->type == AB_BLOCK_AUDIO || block->type == AB_BLOCK_FEATURES || block->frames) {
        uint64_t end = block->frame0 + (block->type == AB_BLOCK_FEATURES ? (uint64_t)block->frames * block->hop
                                                                          : block->frames);
        self->last_end = end;
        self->last_end_known = true;
    }
}

/* The lowest held seq above expected (held > 0). Blocks only leave from
 * the bottom and a lower one that comes moves the floor down, so the floor
 * stays below every held block and each slot is walked past once. */
static uint64_t s_lowest_held(ab_repair_t *self)
{
    uint64_t seq = self->held_floor > self->expected ? self->held_floor : self->expected;
    while (!s_held(self, seq))
        seq++;
    self->held_floor = seq;
    return seq;
}

/* Deliver held blocks from expected on while they are there. */
static void s_drain(ab_repair_t *self)
{
    s_slot_t *slot;
    while (self->held && (slot = s_held(self, self->expected)) != NULL) {
        s_deliver(self, &slot->block);
        slot->used = false;
        self->held--;
        self->expected++;
    }
    if (!self->held)
        self->waiting = false;
}

/* Give up [expected, to]: report the frames between the last block and the
 * next one held, and go on after it. */
static void s_give_up(ab_repair_t *self, uint64_t to)
{
    uint64_t from = self->expected;
    s_slot_t *next = s_held(self, to + 1);
    uint64_t frame0 = 0, frames = 0;
    if (next && self->last_end_known && next->block.frame0 >= self->last_end) {
        frame0 = self->last_end;
        frames = next->block.frame0 - self->last_end;
    } else if (next) {
        frame0 = next->block.frame0;
    }
    self->lost_blocks += to - from + 1;
    self->cb.lost(self->cb.user, from, to, frame0, frames);
    self->expected = to + 1;
    if (next && frames) {
        self->last_end = next->block.frame0;
        self->last_end_known = true;
    }
    s_drain(self);
}

/* Deliver everything held, in order, reporting the holes: used when a new
 * run of the publisher starts. */
static void s_flush(ab_repair_t *self)
{
    while (self->held) {
        uint64_t lowest = s_lowest_held(self);
        if (lowest > self->expected)
            s_give_up(self, lowest - 1);
        else
            s_drain(self);
    }
    self->waiting = false;
}

/* Ask for the hole in chunks the broker's per-subscriber queue can take;
 * the next chunk is asked for as soon as this one has arrived. */
#define AB_REPAIR_CHUNK 128
/* Repeated requests that bring nothing are spaced out up to this. */
#define AB_REPAIR_RETRY_MAX_NS (2000 * 1000000LL)
/* No block for this long: nothing is on its way (see ab_repair_queued_ahead_ns()). */
#define AB_REPAIR_QUIET_NS (1000 * 1000000LL)

static void s_request(ab_repair_t *self, int64_t now)
{
    uint64_t lowest = s_lowest_held(self);
    /* Nothing below lost_below can be had: ask from there. */
    uint64_t from = self->lost_below > self->expected ? self->lost_below : self->expected;
    if (lowest > from) {
        uint64_t to = lowest - 1;
        if (to - from >= AB_REPAIR_CHUNK)
            to = from + AB_REPAIR_CHUNK - 1;
        self->cb.request(self->cb.user, from, to, 0);
        self->requested_from = from;
        self->requested_to = to;
        self->answered = false;
    }
    if (self->expected != self->expected_at_request) { /* progress: back to the quick pace */
        self->retry_interval = self->retry_ns;
        self->expected_at_request = self->expected;
    }
    self->last_request = now;
}

/* Is it time to ask again? The last request's replay travels in the
 * receiver's data queue right behind block answer_live_seq: until a later
 * block has come, it may still be on its way, however long the queue
 * (seconds, for a receiver that is behind), and asking again would only
 * queue more copies. Once one has come, what the replay lacked was dropped
 * on the way (the queue was full), or the broker did not hold it and asked
 * the publisher to resend it: ask again, but not sooner than the retry
 * interval after the last request (it doubles while nothing comes, so that
 * a block nobody holds any more is not asked for with every live block).
 * Without an answer (lost, or a broker without live_seq), or with no block
 * coming at all (a quiet or ended stream), the interval alone decides. */
static bool s_replay_failed(ab_repair_t *self, int64_t now)
{
    if (now - self->last_request < self->retry_interval)
        return false;
    if (!self->answered || !self->answer_live_seq)
        return true;
    return self->highest_seen > self->answer_live_seq || now - self->last_push >= self->retry_interval;
}

/* Give up the hole before the first held block; the next one, if any, is
 * waited for afresh. */
static void s_give_up_hole(ab_repair_t *self, int64_t now)
{
    s_give_up(self, s_lowest_held(self) - 1);
    self->waiting_since = now;
    self->retry_interval = self->retry_ns;
    self->expected_at_request = self->expected;
}

/* Ask again for a hole the last request did not fill. */
static void s_retry(ab_repair_t *self, int64_t now)
{
    if (self->expected == self->expected_at_request)
        self->retry_interval =
            self->retry_interval * 2 < AB_REPAIR_RETRY_MAX_NS ? self->retry_interval * 2 : AB_REPAIR_RETRY_MAX_NS;
    s_request(self, now);
}

/* Can a replay the broker has answered for still bring a block of [from, to]?
 * Its blocks are queued right behind block in_flight_after: once a later
 * block has come, they have come too, or were dropped on the way; when no
 * block has come for AB_REPAIR_QUIET_NS, nothing is on its way (a stream
 * that ended or paused). (Blocks the broker asked the publisher for come
 * later, on the live topic: this does not wait for them.) */
static bool s_replay_may_bring(ab_repair_t *self, uint64_t from, uint64_t to, int64_t now)
{
    if (self->in_flight && (self->highest_seen > self->in_flight_after || now - self->last_push >= AB_REPAIR_QUIET_NS))
        self->in_flight = false;
    return self->in_flight && self->in_flight_from <= to && self->in_flight_to >= from;
}

/* What the broker said is gone: give it up once the frame range is known
 * (the first block still to be had is here), or at once when nothing
 * between is left to wait for. Not while an earlier replay may still bring
 * some of it: an answer travels beside the data, not behind it, so it can
 * say a block is gone from the broker's history while the broker's earlier
 * copy of it is still queued to the receiver. */
static void s_apply_lost_below(ab_repair_t *self, int64_t now)
{
    if (!self->waiting || !self->held || self->lost_below <= self->expected)
        return;
    uint64_t lowest = s_lowest_held(self);
    if (lowest <= self->lost_below && !s_replay_may_bring(self, self->expected, lowest - 1, now))
        s_give_up(self, lowest - 1);
}

/* Note what an answered replay will bring, and after which block. */
static void s_note_in_flight(ab_repair_t *self, uint64_t from_seq, uint64_t to_seq, uint64_t live_seq, int64_t now)
{
    if (!live_seq || from_seq > to_seq || live_seq < self->highest_seen)
        return; /* nothing comes, nothing is known of where, or it has passed */
    if (s_replay_may_bring(self, 0, UINT64_MAX, now)) {
        self->in_flight_from = from_seq < self->in_flight_from ? from_seq : self->in_flight_from;
        self->in_flight_to = to_seq > self->in_flight_to ? to_seq : self->in_flight_to;
        self->in_flight_after = live_seq > self->in_flight_after ? live_seq : self->in_flight_after;
    } else {
        self->in_flight = true;
        self->in_flight_from = from_seq;
        self->in_flight_to = to_seq;
        self->in_flight_after = live_seq;
    }
}

void ab_repair_push(ab_repair_t *self, const ab_block_t *block, int64_t now_ns)
{
    if (self->started && block->epoch != self->epoch) {
        s_flush(self);
        self->started = false;
        self->last_end_known = false;
        /* What the broker said of the old run's numbers says nothing of the new one's. */
        self->lost_below = 0;
        self->requested_from = self->requested_to = 0;
        self->answered = false;
        self->answer_live_seq = 0;
        self->in_flight = false;
        self->catch_up_due = false;
        self->retry_interval = self->retry_ns;
    }
    s_note_block_length(self, block);
    if (self->backlog_waiting) {
        if (!self->started) {
            /* Hold live blocks until the replay says where to start. */
            self->started = true;
            self->expected = block->seq;
            self->epoch = block->epoch;
            self->backlog_top = block->seq;
        }
        if (block->seq < self->expected) {
            /* The backlog reaches further back: move the start, if the
             * window still spans every held block (live ones may have
             * been lost in between: their count would not tell). */
            if (self->backlog_top - block->seq >= self->capacity)
                return;
            self->expected = block->seq;
        }
        if (block->seq - self->expected < self->capacity) {
            if (!s_hold(self, block))
                self->duplicates++;
            else if (block->seq > self->backlog_top)
                self->backlog_top = block->seq;
        }
        return;
    }
    if (!self->started) {
        self->started = true;
        self->expected = block->seq;
        self->epoch = block->epoch;
        self->highest_seen = block->seq;
    }
    self->last_push = now_ns;
    if (block->seq < self->expected) {
        self->duplicates++;
        return;
    }
    if (block->seq < self->highest_seen)
        self->repaired++; /* it fills a hole */
    else
        self->highest_seen = block->seq;
    if (block->seq == self->expected) {
        s_deliver(self, block);
        self->expected++;
        s_drain(self);
        s_apply_lost_below(self, now_ns);
        return;
    }
    /* Ahead of a hole: make room if the hole is older than the window. */
    while (block->seq - self->expected >= self->capacity) {
        uint64_t limit = block->seq - self->capacity;
        uint64_t lowest = self->held ? s_lowest_held(self) : block->seq;
        s_give_up(self, (lowest - 1 < limit ? lowest - 1 : limit));
    }
    if (!s_hold(self, block)) {
        self->duplicates++;
        return;
    }
    if (!self->waiting) {
        self->waiting = true;
        self->waiting_since = now_ns;
        self->retry_interval = self->retry_ns;
        self->expected_at_request = self->expected;
        if (!self->receiver_behind)
            s_request(self, now_ns);
        else
            self->requested_to = self->expected ? self->expected - 1 : 0; /* asked for once caught up */
    }
    s_apply_lost_below(self, now_ns);
}

void ab_repair_replaying(ab_repair_t *self, uint64_t from_seq, uint64_t to_seq, uint64_t first_seq,
                         uint64_t live_seq, int64_t now_ns)
{
    if (self->waiting && from_seq == self->requested_from) {
        /* An answer to an earlier request of the same range may come late:
         * it cannot say its replay is behind blocks already here. */
        self->answered = true;
        self->answer_live_seq = live_seq > self->highest_seen ? live_seq : self->highest_seen;
    }
    if (self->backlog_waiting) {
        self->backlog_waiting = false;
        if (from_seq <= to_seq && (!self->started || from_seq < self->expected) &&
            (!self->started || self->backlog_top - from_seq < self->capacity)) {
            self->expected = from_seq;
            self->started = true;
        }
        if (self->held) {
            self->waiting = true;
            self->waiting_since = now_ns;
            self->last_request = now_ns;
        }
        s_drain(self);
    }
    /* The broker replays from first_seq at the lowest (the rest it asks the publisher for). */
    s_note_in_flight(self, from_seq > first_seq ? from_seq : first_seq, to_seq, live_seq, now_ns);
    if (first_seq > self->lost_below)
        self->lost_below = first_seq; /* below it nobody holds anything any more */
    s_apply_lost_below(self, now_ns);
}

void ab_repair_tick(ab_repair_t *self, int64_t now_ns)
{
    if (self->catch_up_due && !self->receiver_behind)
        ab_repair_catch_up(self, now_ns);
    if (self->backlog_waiting && now_ns - self->backlog_since > self->give_up_ns) {
        self->backlog_waiting = false;
        if (self->held) {
            self->expected = s_lowest_held(self);
            s_drain(self);
        }
    }
    s_apply_lost_below(self, now_ns);
    if (!self->waiting || !self->held)
        return;
    if (now_ns - self->waiting_since > self->give_up_ns || self->held * 4 >= self->capacity * 3) {
        s_give_up_hole(self, now_ns);
    } else if (self->receiver_behind) {
        /* no requests until it has caught up */
    } else if (self->expected > self->requested_to ||
               (self->lost_below > self->requested_from && self->lost_below < s_lowest_held(self))) {
        s_request(self, now_ns); /* the next chunk, or from what can still be had */
    } else if (s_replay_failed(self, now_ns)) {
        s_retry(self, now_ns);
    }
}

void ab_repair_set_receiver_behind(ab_repair_t *self, bool behind)
{
    self->receiver_behind = behind;
}

void ab_repair_hold_for_backlog(ab_repair_t *self, int64_t now_ns)
{
    self->backlog_waiting = true;
    self->backlog_since = now_ns;
}

void ab_repair_request_backlog(ab_repair_t *self, uint32_t backlog_ms, int64_t now_ns)
{
    self->backlog_since = now_ns;
    self->backlog_ns = (int64_t)backlog_ms * 1000000;
    s_fit_window(self);
    self->cb.request(self->cb.user, 0, 0, backlog_ms);
}

void ab_repair_catch_up(ab_repair_t *self, int64_t now_ns)
{
    if (!self->started || self->backlog_waiting)
        return;
    self->catch_up_due = false;
    self->last_request = now_ns;
    self->cb.request(self->cb.user, self->expected, UINT64_MAX, 0);
}

void ab_repair_probe_tail(ab_repair_t *self, int64_t now_ns)
{
    if (self->receiver_behind)
        self->catch_up_due = true; /* what is queued may be all that is missing */
    else
        ab_repair_catch_up(self, now_ns);
}

int64_t ab_repair_queued_ahead_ns(const ab_repair_t *self, int64_t now_ns)
{
    if (!self->answered || self->answer_live_seq <= self->highest_seen || now_ns - self->last_push > AB_REPAIR_QUIET_NS)
        return 0;
    uint64_t blocks = self->answer_live_seq - self->highest_seen;
    return (int64_t)(blocks < (1u << 20) ? blocks : (1u << 20)) * self->block_ns; /* a bogus live_seq: no overflow */
}

size_t ab_repair_pending(const ab_repair_t *self)
{
    return self->held;
}

uint64_t ab_repair_duplicates(const ab_repair_t *self)
{
    return self->duplicates;
}

uint64_t ab_repair_repaired(const ab_repair_t *self)
{
    return self->repaired;
}

uint64_t ab_repair_lost_blocks(const ab_repair_t *self)
{
    return self->lost_blocks;
}

uint64_t ab_repair_expected(const ab_repair_t *self)
{
    return self->expected;
}
