/* ab_jitter.h - a playback jitter buffer: frames arrive from the network in
 * bursts and leave at the device's steady pace.
 *
 * One producer thread (the network thread) writes frames in any sample
 * format (the buffer only counts frames of frame_bytes); one consumer, the
 * device callback, reads exactly what the device asks for, every time. It
 * sits on a lock-free SPSC ring (ab_ring.h): nothing here allocates, locks
 * or blocks after ab_jitter_new(), so the consumer side is safe in a
 * PortAudio callback. Counters are atomics, readable from any thread.
 *
 * What the consumer does, per device buffer of n frames:
 *  - buffering (at the start, and after an underrun): silence until
 *    max(target, n) frames are buffered, then playing. Silence before the
 *    first frame is not counted; silence while re-buffering after an
 *    underrun is (underrun_frames).
 *  - underrun: fewer than n frames buffered while playing. What is there is
 *    played, the rest of the buffer is silence, and the buffer re-buffers
 *    to the target before it resumes. Resuming at once would leave no
 *    cushion, and the next late block would underrun again: one longer
 *    silence is better than a crackle of short ones, and the latency goes
 *    back to the target.
 *  - overrun: more than 2 x max(target, n) + the largest block buffered
 *    (the network delivered a burst, or the device clock runs slow): the
 *    oldest frames are dropped down to the target, counted.
 *  - end: after ab_jitter_end() everything buffered is played out, even
 *    below the target, and the silence after it is not an underrun.
 * The producer inserts silence for a gap in the stream
 * (ab_jitter_write_silence()), so what follows it keeps its timing.
 */
#ifndef AUDIOBUS_AB_JITTER_H_INCLUDED
#define AUDIOBUS_AB_JITTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_jitter ab_jitter_t;

typedef struct {
    uint64_t played_frames;   /* frames handed to the device from the buffer (gap silence included) */
    uint64_t underruns;       /* times the buffer ran dry while playing */
    uint64_t underrun_frames; /* silence played for them, re-buffering included */
    uint64_t overruns;        /* times frames were dropped: the buffer beyond its bound, or full */
    uint64_t dropped_frames;  /* frames dropped for them */
    uint64_t gaps;            /* gaps in the stream filled with silence */
    uint64_t gap_frames;      /* frames of silence inserted for them */
    uint64_t buffered_frames; /* in the buffer now (approximate while both sides run) */
    bool playing;             /* past the first buffering, not re-buffering */
} ab_jitter_stats_t;

/* A buffer of frames of frame_bytes (channels x sample size) that starts
 * playing at target_frames; block_frames is the largest write expected
 * (larger ones raise the overrun bound). Capacity: twice the overrun bound
 * plus a block. Returns NULL on a zero size or out of memory.
 * [control-thread] */
AB_EXPORT ab_jitter_t *ab_jitter_new(size_t frame_bytes, uint32_t target_frames, uint32_t block_frames);

/* Free. Neither side may be using it. NULL-safe. [control-thread] */
AB_EXPORT void ab_jitter_destroy(ab_jitter_t **self_p);

/* Append n frames. Returns the frames taken: fewer than n only when the
 * buffer is full (the device stopped consuming); the rest are dropped and
 * counted as an overrun. [producer-thread] */
AB_EXPORT uint32_t ab_jitter_write(ab_jitter_t *self, const void *frames, uint32_t n);

/* Fill a gap of n frames with silence and count it (gap_frames counts the
 * silence inserted). The silence is capped at the overrun bound, and at
 * the free space: more would only be dropped again. Returns the frames of
 * silence inserted. [producer-thread] */
AB_EXPORT uint64_t ab_jitter_write_silence(ab_jitter_t *self, uint64_t n);

/* The stream ended: play out what is buffered, even below the target.
 * Writing again starts a new stretch (buffering to the target first, not
 * counted as an underrun). [producer-thread] */
AB_EXPORT void ab_jitter_end(ab_jitter_t *self);

/* Fill out with n frames: buffered audio, silence, or both (see above).
 * [audio-thread], real-time safe. */
AB_EXPORT void ab_jitter_read(ab_jitter_t *self, void *out, uint32_t n);

/* True once everything written before ab_jitter_end() has been read.
 * [any-thread] */
AB_EXPORT bool ab_jitter_drained(const ab_jitter_t *self);

/* A snapshot of the counters. [any-thread] */
AB_EXPORT void ab_jitter_stats(const ab_jitter_t *self, ab_jitter_stats_t *stats);

/* The target and the overrun bound now, in frames. [any-thread] */
AB_EXPORT uint32_t ab_jitter_target_frames(const ab_jitter_t *self);
AB_EXPORT uint64_t ab_jitter_bound_frames(const ab_jitter_t *self);

#ifdef __cplusplus
}
#endif

#endif
