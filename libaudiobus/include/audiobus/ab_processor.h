/* ab_processor.h - a processor node: hosts one plugin (ab_plugin.h) on one
 * or more streams, one plugin instance per stream.
 *
 * The streams come over one SUB socket, and all instances share one set of
 * threads, so that a processor taking 32 streams costs what one taking a
 * single stream does, not 32 times it. Three threads, so that a slow plugin
 * only ever costs its own blocks:
 *  - the receive thread takes blocks off the SUB socket, checks sequence
 *    numbers and puts them in order; while the plugin keeps up it converts
 *    each block to f32 and calls the plugin itself, at once; it also
 *    publishes the plugin's results;
 *  - the processing thread takes the blocks the receive thread hands over
 *    through a lock-free ring (a full ring drops the block and counts it):
 *    the first of a stream (activate() may be slow), end markers, gaps, and
 *    every block for a while after the plugin kept the receive thread busy
 *    more than half of a second (see ab_processing_t);
 *  - the control thread registers, heartbeats, prints the plugin's log
 *    lines, and shuts everything down.
 * The plugin's process() is real-time wherever it runs: the host's log and
 * publish only copy into lock-free rings.
 */
#ifndef AUDIOBUS_AB_PROCESSOR_H_INCLUDED
#define AUDIOBUS_AB_PROCESSOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ab_ctl.h"
#include "ab_export.h"
#include "ab_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_processor ab_processor_t;

/* Input streams of one processor at most (a node's hello lists them). */
#define AB_PROCESSOR_MAX_INPUTS AB_CTL_MAX_STREAMS

/* Which thread calls the plugin's process(). */
typedef enum {
    AB_PROCESSING_ADAPTIVE = 0, /* the receive thread, while nothing is queued before the block; when
                                   the plugin's calls there took more than half of a second (windows of
                                   1 s), the processing thread for the next 10 s; then the receive
                                   thread again. No thread wake-up a block while the plugin keeps up;
                                   a slow plugin is queued, as in QUEUED. */
    AB_PROCESSING_INLINE,       /* always the receive thread; no processing thread and no queue: a plugin
                                   slower than its stream holds up its own input (see the README) */
    AB_PROCESSING_QUEUED,       /* always the processing thread, one thread wake-up more a block than
                                   ADAPTIVE while the plugin keeps up: for plugins that must always be
                                   called on the same thread */
} ab_processing_t;

typedef struct {
    const char *broker;              /* control endpoint */
    const char *const *streams;      /* input streams: distinct names, each processed by its own
                                        plugin instance (created with the same parameters) */
    uint32_t n_streams;              /* 1..AB_PROCESSOR_MAX_INPUTS */
    const char *plugin;              /* name (searched) or path */
    const char *name;                /* node name; NULL: "<plugin>-<pid>" */
    const ab_plugin_param_t *params; /* --param KEY=VALUE, copied by the plugin */
    uint32_t n_params;
    bool exit_at_end;                /* stop once every input stream has sent its end block */
    size_t queue_bytes;              /* receive -> processing ring; 0: 16 MiB */
    int register_timeout_ms;         /* 0: 5000 */
    double backlog_seconds;          /* on joining, first the last seconds the broker holds */
    double repair_seconds;           /* how long a missing block is waited for; 0: 12 s */
    ab_processing_t processing;      /* which thread calls process(); 0: AB_PROCESSING_ADAPTIVE */
} ab_processor_config_t;

/* Load the plugin, check its parameters, create an instance per input
 * stream, connect. Returns NULL after writing what failed (naming the
 * plugin, and the stream when there are several) and what to do into
 * error. [control-thread] */
AB_EXPORT ab_processor_t *ab_processor_new(void *zmq_ctx, const ab_processor_config_t *config, char *error,
                                           size_t error_len);

/* Deactivate and destroy the plugin instances, unload it, free. NULL-safe.
 * [control-thread] */
AB_EXPORT void ab_processor_destroy(ab_processor_t **self_p);

/* Register, subscribe, process until a stop signal (or, with exit_at_end,
 * the end of every input), then say goodbye. An instance's outputs
 * (named "<its stream>/<suffix>") are announced to the broker once it is
 * activated, and ended (an end marker after their last results) when its
 * input ends and when the processor stops cleanly. One failing instance
 * stops the whole processor. The broker's `lag` for the node is that of the
 * input it is furthest behind on.
 * Returns 0, AB_EPLUGIN when the plugin failed, AB_EREFUSED when the broker
 * refused the node or one of its outputs (another node publishes it), or
 * another AB_E... code, after logging why. [control-thread] */
AB_EXPORT int ab_processor_run(ab_processor_t *self);

/* Print a plugin's name, description and parameters (for --help).
 * Returns 0 or AB_EPLUGIN after writing why into error. [control-thread] */
AB_EXPORT int ab_processor_describe_plugin(const char *plugin, char *error, size_t error_len);

#ifdef __cplusplus
}
#endif

#endif
