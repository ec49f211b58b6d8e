/* ab_player.h - a player node: plays one stream from the broker on a
 * PortAudio output device, through a jitter buffer (ab_jitter.h).
 *
 * Three threads:
 *  - the network thread subscribes to the stream like a processor does
 *    (in order, exactly once, repaired), fills gaps with silence of their
 *    length, and copies the samples as they are on the wire into the jitter
 *    buffer; the device is opened in the stream's own sample format, so
 *    nothing is converted on the way (PortAudio converts if the hardware
 *    needs another format);
 *  - the PortAudio callback only reads the jitter buffer (no allocation,
 *    lock, log or ZeroMQ);
 *  - the control thread (the caller of ab_player_poll) registers with the
 *    broker, heartbeats with the player's counters, opens the device when
 *    the first block tells the stream's rate, channels and format, reports
 *    underruns and overruns, and shuts down.
 *
 * A change of rate, channels or format mid-stream (its recorder restarted
 * with other settings) plays out what is buffered, then reopens the device
 * in the new shape. A shape the device cannot play stops the player with a
 * message saying what the device takes and what to do. audiobus does not
 * resample.
 *
 * Missing blocks are waited for at most repair_seconds (default: half the
 * latency target, so that the buffer still holds audio to play meanwhile;
 * a block later than the buffer could not be played on time anyway), then
 * played as silence of their exact length, so what follows keeps its
 * timing. A jump of the frame position between blocks (frames the recorder
 * itself lost) is played as silence of its length too.
 */
#ifndef AUDIOBUS_AB_PLAYER_H_INCLUDED
#define AUDIOBUS_AB_PLAYER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ab_export.h"
#include "ab_jitter.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_player ab_player_t;

typedef struct {
    const char *broker;       /* control endpoint */
    const char *stream;       /* the stream to play */
    const char *name;         /* node name; NULL: "play-<stream>-<pid>" */
    const char *device;       /* output device: index, exact name or substring; NULL: the default */
    const char *host_api;     /* PortAudio host API (substring of its name); NULL: any */
    double latency_ms;        /* jitter buffer target; 0: 100 ms */
    double repair_seconds;    /* how long a missing block is waited for; 0: half the latency */
    bool exit_at_end;         /* stop once the stream's end has been played out */
    double duration_seconds;  /* stop after this much of the stream was played; 0: no limit */
    int register_timeout_ms;  /* 0: 5000 */
} ab_player_config_t;

typedef struct {
    uint32_t rate, channels;      /* of the stream being played; 0 before its first block */
    const char *format;           /* "f32", "s16", "s32", or NULL before the first block */
    double device_latency_s;      /* the device's own output latency, as PortAudio reports it */
    ab_jitter_stats_t jitter;     /* summed over every device opening */
    uint64_t blocks;              /* blocks received */
    uint64_t last_seq;            /* the last block handed to the jitter buffer */
    uint64_t lost_blocks;         /* given up after repair_seconds */
    uint64_t lost_frames;         /* their frames (played as silence) */
    uint64_t bad, repaired, duplicates;
    uint64_t device_underflows;   /* output underflows PortAudio reported (the callback was late) */
    uint64_t callback_max_ns;     /* longest time spent in the callback */
    uint64_t reopens;             /* device reopened for a new stream shape */
} ab_player_stats_t;

/* Check the config, initialise PortAudio and find the output device (so a
 * wrong --device fails at once), connect to the broker. Returns NULL after
 * writing what failed and what to do into error. [control-thread] */
AB_EXPORT ab_player_t *ab_player_new(void *zmq_ctx, const ab_player_config_t *config, char *error,
                                     size_t error_len);

/* Stop if running, close the device, free. NULL-safe. [control-thread] */
AB_EXPORT void ab_player_destroy(ab_player_t **self_p);

/* Register with the broker, start the network thread, wait (up to 5 s)
 * for the broker to confirm the subscription. Returns 0, or an AB_E...
 * code after logging why (AB_EREFUSED, AB_ETIMEOUT: no broker).
 * [control-thread] */
AB_EXPORT int ab_player_start(ab_player_t *self);

/* Run the control thread's work for up to timeout_ms: heartbeats, opening
 * the device, reports. Returns 0 while playing goes on; 1 when it is over
 * (the end was played out with exit_at_end, or duration reached); or an
 * AB_E... code after logging why (AB_EDEVICE: the device cannot play the
 * stream). [control-thread] */
AB_EXPORT int ab_player_poll(ab_player_t *self, int timeout_ms);

/* Stop the network thread and the device (played out when the end was
 * reached, cut at once otherwise), log the counters, say goodbye.
 * [control-thread] */
AB_EXPORT void ab_player_stop(ab_player_t *self);

/* start, poll until a stop signal (ab_signal.h) or the end, stop. Returns
 * 0 or the AB_E... code of ab_player_start/poll. [control-thread] */
AB_EXPORT int ab_player_run(ab_player_t *self);

/* A snapshot of the counters. [control-thread] (the jitter buffer it reads
 * is replaced when the device is reopened) */
AB_EXPORT void ab_player_stats(const ab_player_t *self, ab_player_stats_t *stats);

/* The output device chosen, e.g. "default (ALSA)". [any-thread] */
AB_EXPORT const char *ab_player_device(const ab_player_t *self);

/* Print PortAudio's host APIs and devices, and what to do when there is no
 * output device. Returns 0 or AB_EDEVICE. [control-thread] */
AB_EXPORT int ab_player_list_devices(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
