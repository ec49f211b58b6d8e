/* ab_recorder.h - a recorder node: a source (ab_source.h) captures into a
 * lock-free ring; a sender thread cuts the audio into blocks of a fixed
 * number of frames and publishes them (ab_pub.h); the control thread
 * registers with the broker, heartbeats, and says goodbye.
 *
 * Capture starts right after registration; the sender waits for its data
 * link before the first block, so nothing captured before the link is up
 * is lost (the ring holds it). At the end (duration, end of file, or
 * SIGINT/SIGTERM) the sender drains the ring, publishes an `end` block,
 * and the recorder says goodbye.
 */
#ifndef AUDIOBUS_AB_RECORDER_H_INCLUDED
#define AUDIOBUS_AB_RECORDER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"
#include "ab_source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_recorder ab_recorder_t;

typedef struct {
    const char *broker;         /* control endpoint */
    const char *stream;         /* stream name */
    const char *name;           /* node name; NULL: "rec-<stream>-<pid>" */
    ab_source_config_t source;
    int register_timeout_ms;    /* 0: 5000 */
    double history_seconds;     /* blocks kept to publish again on request; 0: 10 s */
} ab_recorder_config_t;

/* Open the source and connect. Returns NULL after writing what failed and
 * what to do into error. [control-thread] */
AB_EXPORT ab_recorder_t *ab_recorder_new(void *zmq_ctx, const ab_recorder_config_t *config, char *error,
                                         size_t error_len);

AB_EXPORT void ab_recorder_destroy(ab_recorder_t **self_p);

/* Register, capture and publish until the source ends or a stop signal
 * arrives; then drain, publish `end`, say goodbye. Returns 0, or an AB_E...
 * code after logging why. [control-thread] */
AB_EXPORT int ab_recorder_run(ab_recorder_t *self);

/* Blocks published so far. [any-thread] */
AB_EXPORT uint64_t ab_recorder_blocks_sent(const ab_recorder_t *self);

/* What a recorder did, for its exit summary and for tools (audiobus bench). */
typedef struct {
    uint64_t frames_captured;
    uint64_t blocks_sent, frames_sent;
    uint64_t overrun_frames, overrun_events; /* lost because the sender fell behind */
    uint64_t device_overflows;               /* input overflows the device reported */
    uint64_t callbacks;                      /* PortAudio callbacks; 0 for files and synth */
    uint64_t callback_p99_ns, callback_p999_ns; /* upper bounds (histogram buckets 12.5% wide) */
    uint64_t callback_max_ns;                /* the callback's own time, measured inside it */
    double block_period_ns;                  /* of --block frames at the source's rate */
} ab_recorder_stats_t;

/* Fill *out with the counts so far. [any-thread] */
AB_EXPORT void ab_recorder_stats(const ab_recorder_t *self, ab_recorder_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif
