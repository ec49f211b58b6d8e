/* ab_source.h - where a recorder's audio comes from: a PortAudio input
 * device, a sound file (anything libsndfile reads) or a synthetic signal.
 *
 * A device's PortAudio callback writes chunks into a lock-free SPSC ring
 * (and does nothing else: no allocation, lock, log, ZeroMQ or system call);
 * files and synthetic signals are made on the reading thread when each
 * chunk is due, as a device would deliver it (no thread between them, so
 * no hand-over). The recorder's sender thread reads the chunks with
 * ab_source_read(). A chunk carries the index of its first frame, so
 * frames the callback had to drop because the ring was full show up as a
 * jump, and are counted.
 */
#ifndef AUDIOBUS_AB_SOURCE_H_INCLUDED
#define AUDIOBUS_AB_SOURCE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ab_block.h"
#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_source ab_source_t;

typedef struct {
    const char *spec;       /* portaudio[:DEVICE] | file:PATH | synth:sine[:HZ] | synth:noise |
                               synth:counter | synth:impulse */
    const char *host_api;   /* PortAudio host API name (substring), NULL for any */
    uint32_t rate;          /* 0: the file's rate, else 48000 */
    uint32_t channels;      /* 0: the file's channels, else 1 */
    ab_format_t format;     /* 0: the file's format when exact (PCM16/32, float), else f32 */
    uint32_t block_frames;  /* frames per chunk the source produces (and PortAudio buffer) */
    double speed;           /* files and synth: 1 = real time, 10 = ten times faster */
    uint64_t max_frames;    /* stop after this many frames; 0: no limit */
    double duration_seconds; /* or after this much audio at the resolved rate; 0: no limit */
    double ring_seconds;    /* capacity of a device's capture ring; 0: 4 s */
} ab_source_config_t;

/* A chunk as the sender thread reads it. */
typedef struct {
    uint64_t frame0;  /* index of its first frame since the source started */
    int64_t time_ns;  /* capture time of frame0, ns since the Unix epoch */
    uint32_t frames;
} ab_source_chunk_t;

/* Open the source (device, file) and size the ring. Returns NULL after
 * writing what failed and what to do into error. [control-thread] */
AB_EXPORT ab_source_t *ab_source_new(const ab_source_config_t *config, char *error, size_t error_len);

/* Stop if running, close, free. NULL-safe. [control-thread] */
AB_EXPORT void ab_source_destroy(ab_source_t **self_p);

/* The stream's shape, resolved from the config and the device or file. */
AB_EXPORT uint32_t ab_source_rate(const ab_source_t *self);
AB_EXPORT uint32_t ab_source_channels(const ab_source_t *self);
AB_EXPORT ab_format_t ab_source_format(const ab_source_t *self);
/* One line describing the source, e.g. "file speech.wav (16000 Hz, 1 ch, s16)". */
AB_EXPORT const char *ab_source_description(const ab_source_t *self);

/* Start capturing. Returns 0, or AB_EDEVICE after writing why into error.
 * [control-thread] */
AB_EXPORT int ab_source_start(ab_source_t *self, char *error, size_t error_len);

/* Stop capturing; chunks already in the ring stay readable. [control-thread] */
AB_EXPORT void ab_source_stop(ab_source_t *self);

/* True when the source will produce nothing more (end of file, duration
 * reached, stopped, or the device failed). [any-thread] */
AB_EXPORT bool ab_source_finished(const ab_source_t *self);

/* Read the next chunk: its header into *chunk and its samples into
 * samples (capacity cap bytes, at least block_frames * channels * sample
 * size). Returns 0, AB_EEMPTY when none is waiting (or due), AB_ETOOBIG
 * when cap is too small for it. [sender-thread] */
AB_EXPORT int ab_source_read(ab_source_t *self, ab_source_chunk_t *chunk, void *samples, size_t cap);

/* Wait up to timeout_ms for a chunk (or the end). A file or synthetic
 * signal: until its next chunk is due. A device source is not woken by its
 * callback: this sleeps until the next callback is due (and 150 us more),
 * and when one is late, polls every 0.5 ms, backing off to 4 ms.
 * [sender-thread] */
AB_EXPORT void ab_source_wait(ab_source_t *self, int timeout_ms);

/* Frames dropped because the ring was full, and how many times. */
AB_EXPORT uint64_t ab_source_overrun_frames(const ab_source_t *self);
AB_EXPORT uint64_t ab_source_overrun_events(const ab_source_t *self);
/* Input overflows the device itself reported (paInputOverflow). */
AB_EXPORT uint64_t ab_source_device_overflows(const ab_source_t *self);
/* Frames captured so far. */
AB_EXPORT uint64_t ab_source_frames(const ab_source_t *self);

/* Time spent inside the PortAudio callback: count, max, and the
 * percentile p (0..1) from a log-spaced histogram, in ns. 0 for sources
 * without a callback. [any-thread] */
AB_EXPORT uint64_t ab_source_callback_count(const ab_source_t *self);
AB_EXPORT uint64_t ab_source_callback_max_ns(const ab_source_t *self);
AB_EXPORT uint64_t ab_source_callback_percentile_ns(const ab_source_t *self, double p);

/* True when PortAudio has a default input device. [control-thread] */
AB_EXPORT bool ab_source_has_default_input(void);

/* Print the PortAudio host APIs and input/output devices to out. Returns 0
 * or AB_EDEVICE. [control-thread] */
AB_EXPORT int ab_source_list_devices(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
