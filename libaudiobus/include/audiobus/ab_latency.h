/* ab_latency.h - loopback round-trip latency profiler.
 *
 * Plays a short probe burst (ab_probe.h: 256 pseudo-random chips at half
 * full scale) on an output device every interval, captures an input device
 * that is looped back to it (a cable, a JACK connection, or a path through
 * audiobus nodes), finds each probe in the input by cross-correlation and
 * reports the distribution of the round trips.
 *
 * The latency is counted in frames from the streams' own sample counters,
 * not from a clock. When input and output are on one host API they share
 * one full-duplex PortAudio stream: input frame n and output frame n pass
 * through the same callback, so a probe written at output frame e and found
 * at input frame d took exactly d - e frames. Otherwise (or with
 * separate_streams) two streams run, and their counters are related through
 * the monotonic clock read in each callback: exact only to within the
 * callbacks' scheduling jitter (typically a few frames).
 *
 * The callbacks only write the probe schedule into the output and copy the
 * input into a lock-free ring (no allocation, lock or log); detection and
 * statistics run on the thread that calls ab_latency_run().
 *
 * Measuring starts when the first probe comes back (so a loop can be closed
 * after the stream started): that probe is not counted, the next `count`
 * probes are, each either found or counted as not found.
 */
#ifndef AUDIOBUS_AB_LATENCY_H_INCLUDED
#define AUDIOBUS_AB_LATENCY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_latency ab_latency_t;

typedef struct {
    /* "IN,OUT", or "DEV" for both; each an index, exact name or substring
     * (see ab_latency_list_devices); an empty side or NULL: the host API's
     * default. Device names may contain commas: every comma is tried as
     * the separator until both sides name a device. */
    const char *devices;
    const char *host_api;          /* PortAudio host API name (substring), NULL for any */
    const char *jack_client_name;  /* NULL: "audiobus-latency" (ports NAME:in_0, NAME:out_0) */
    uint32_t rate;                 /* 0: 48000 */
    uint32_t block_frames;         /* frames per PortAudio buffer; 0: the host's choice */
    uint32_t count;                /* probes to measure; 0: 20 */
    double interval_seconds;       /* between probes; 0: 0.25. Round trips longer than
                                      this minus the probe are not found */
    double wait_seconds;           /* for the first probe to come back; 0: 10 */
    bool separate_streams;         /* two streams even on one host API */
    /* What to tell the user while waiting for the first probe, after
     * "waiting for the probes to come back: "; NULL: connect the JACK
     * ports, or loop the output back to the input. */
    const char *loop_hint;
    /* Called about every 5 ms by ab_latency_run, on its thread: return 0 to
     * go on, or a negative AB_E... code after writing why into error to end
     * the run with that code (e.g. a process the loop goes through exited).
     * NULL: none. */
    int (*check)(void *user, char *error, size_t error_len);
    void *check_user;
} ab_latency_config_t;

typedef struct {
    uint32_t rate;
    uint32_t block_frames;   /* as asked; 0: the host's choice */
    bool full_duplex;        /* one stream: frame-exact */
    uint32_t probes;         /* probes measured */
    uint32_t found;
    uint32_t missed;         /* measured but not found */
    uint32_t inverted;       /* found with inverted polarity */
    /* Round trips in frames of the found probes (valid when found > 0);
     * percentiles by nearest rank. */
    int64_t min_frames, p50_frames, p99_frames, max_frames;
    double mean_frames;
    double min_score;        /* the weakest match's normalised correlation */
    double reported_frames;  /* PortAudio's own estimate: the stream(s)' input + output latency */
    double wait_seconds;     /* from the start until the first probe came back */
    uint64_t lost_frames;    /* input frames lost because the analysis fell behind */
    uint64_t xruns;          /* callbacks PortAudio flagged with an overflow or underflow
                                while measuring */
} ab_latency_result_t;

/* Open the devices and the stream(s), allocate everything the callbacks
 * use. Returns NULL after writing what failed and what to do into error.
 * [control-thread] */
AB_EXPORT ab_latency_t *ab_latency_new(const ab_latency_config_t *config, char *error, size_t error_len);

/* Stop if running, close, free, NULL the pointer. NULL-safe. [control-thread] */
AB_EXPORT void ab_latency_destroy(ab_latency_t **self_p);

/* One line naming the mode, devices, host API, rate and block. */
AB_EXPORT const char *ab_latency_description(const ab_latency_t *self);

/* The JACK ports the probes leave from and come back to when the host API
 * is JACK (e.g. "audiobus-latency:out_0" and "audiobus-latency:in_0"),
 * else "". */
AB_EXPORT const char *ab_latency_output_port(const ab_latency_t *self);
AB_EXPORT const char *ab_latency_input_port(const ab_latency_t *self);

/* Start, wait for the first probe to come back, measure, stop. Returns 0;
 * AB_ETIMEOUT when no probe came back within wait_seconds; AB_EINTR when
 * a stop signal (ab_signal) arrived (the result holds what was measured);
 * AB_EDEVICE when a stream failed or stopped delivering audio. Writes what
 * happened and what to do into error. [control-thread] */
AB_EXPORT int ab_latency_run(ab_latency_t *self, char *error, size_t error_len);

/* The statistics of the last run. [control-thread] */
AB_EXPORT void ab_latency_result(const ab_latency_t *self, ab_latency_result_t *result);

/* Each measured probe's round trip in frames, in order, -1 for one not
 * found; *n is set to the number of probes measured. Owned by self.
 * [control-thread] */
AB_EXPORT const int64_t *ab_latency_values(const ab_latency_t *self, size_t *n);

/* Print PortAudio's host APIs and devices to out. Returns 0 or AB_EDEVICE.
 * [control-thread] */
AB_EXPORT int ab_latency_list_devices(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
