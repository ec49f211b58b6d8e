/* ab_processor.h - a processor node: hosts one plugin (ab_plugin.h) on one
 * stream.
 *
 * Three threads, so that a slow plugin only ever costs its own blocks:
 *  - the receive thread takes blocks off the SUB socket, checks sequence
 *    numbers, and copies them into a lock-free ring (a full ring drops the
 *    block and counts it); it also publishes the plugin's results;
 *  - the processing thread converts each block to f32 and calls the plugin
 *    (its process() is real-time: the host's log and publish only copy into
 *    lock-free rings);
 *  - the control thread registers, heartbeats, prints the plugin's log
 *    lines, and shuts everything down.
 */
#ifndef AUDIOBUS_AB_PROCESSOR_H_INCLUDED
#define AUDIOBUS_AB_PROCESSOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"
#include "ab_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_processor ab_processor_t;

typedef struct {
    const char *broker;              /* control endpoint */
    const char *stream;              /* input stream */
    const char *plugin;              /* name (searched) or path */
    const char *name;                /* node name; NULL: "<plugin>-<pid>" */
    const ab_plugin_param_t *params; /* --param KEY=VALUE, copied by the plugin */
    uint32_t n_params;
    bool exit_at_end;                /* stop after the stream's end block */
    size_t queue_bytes;              /* receive -> processing ring; 0: 16 MiB */
    int register_timeout_ms;         /* 0: 5000 */
    double backlog_seconds;          /* on joining, first the last seconds the broker holds */
    double repair_seconds;           /* how long a missing block is waited for; 0: 12 s */
    bool inline_processing;          /* run the plugin on the receive thread (no processing
                                        thread, no queue between them): one thread wake-up
                                        less a block; a plugin slower than its stream then
                                        holds up its own input, see the README */
} ab_processor_config_t;

/* Load the plugin, check its parameters, create an instance, connect.
 * Returns NULL after writing what failed (naming the plugin) and what to
 * do into error. [control-thread] */
AB_EXPORT ab_processor_t *ab_processor_new(void *zmq_ctx, const ab_processor_config_t *config, char *error,
                                           size_t error_len);

/* Deactivate and destroy the plugin instance, unload it, free. NULL-safe.
 * [control-thread] */
AB_EXPORT void ab_processor_destroy(ab_processor_t **self_p);

/* Register, subscribe, process until a stop signal (or the stream's end
 * with exit_at_end), then say goodbye. The plugin's outputs are announced
 * to the broker once it is activated, and ended (an end marker after their
 * last results) when the input ends and when the processor stops cleanly.
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
