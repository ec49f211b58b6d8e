/* ab_plugin.h - the audiobus processor plugin ABI. Self-contained: a plugin
 * needs only this header (C11 or C++) and links nothing of audiobus.
 *
 * A plugin is a shared object exporting one data symbol,
 *     AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = { ... };
 * whose first three fields (abi_major, abi_minor, struct_size) let a host
 * refuse an incompatible plugin and let the descriptor grow: a host reads
 * fields past struct_size as absent. Fixed-width types only, no enums.
 *
 * Lifecycle, each step on the thread its tag names:
 *   create(host, params)           [control-thread] parse params, may allocate
 *   activate(self, format)         [control-thread] allocate for max_frames
 *   process(self, block)  ...      [audio-thread]   real-time: see below
 *   deactivate(self)               [control-thread]
 *   destroy(self)                  [control-thread]
 * [control-thread] means "not real-time, never at the same time as another
 * call on the same instance": the host calls activate() and deactivate()
 * from its processing thread, just before the first block of a stream (or
 * of a new stream shape) and after the last, so they may allocate and block.
 * [audio-thread] is not always the same thread: by default a processor
 * calls process() on its receive thread while the plugin keeps up, and on
 * its processing thread for a while after the plugin kept the receive
 * thread busy more than half of a second. Calls on one instance never overlap, and each sees
 * all that the calls before it did (as on one thread); so state a plugin
 * sets for its thread (flush-to-zero and other floating-point modes,
 * scheduling) belongs in process(), not activate(). A plugin that needs
 * every call on one thread (thread-local state, a thread-bound GPU
 * context) is run with `audiobus process --queued`. (With `--inline`
 * every call, activate() and deactivate() too, is on the receive thread.)
 *
 * The host pointer given to create() stays valid until destroy(); error
 * buffers are never NULL and error_len is at least 1. Integer samples are
 * converted to float by dividing by 2^15 (s16) or 2^31 (s32). A jump in
 * frame0 between consecutive blocks means audio was lost upstream.
 *
 * process() is the audio thread of audiobus: it must not allocate, free,
 * lock, log through stdio, touch ZeroMQ or files, or make any blocking
 * system call. The host's log() and publish() are real-time safe and may be
 * called from process(); anything slow belongs on a thread of the plugin's
 * own, fed through a lock-free ring created in activate().
 */
#ifndef AUDIOBUS_AB_PLUGIN_H_INCLUDED
#define AUDIOBUS_AB_PLUGIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AB_PLUGIN_ABI_MAJOR 1u
#define AB_PLUGIN_ABI_MINOR 1u
#define AB_PLUGIN_ENTRY_SYMBOL "audiobus_plugin"

#if defined(__GNUC__)
#define AB_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define AB_PLUGIN_EXPORT
#endif

/* Log levels for ab_plugin_host_t.log. */
#define AB_PLUGIN_LOG_ERROR 0
#define AB_PLUGIN_LOG_WARN 1
#define AB_PLUGIN_LOG_INFO 2
#define AB_PLUGIN_LOG_DEBUG 3

/* Sample formats of ab_plugin_block_t.raw_format (values of the wire). */
#define AB_PLUGIN_FORMAT_F32 1u
#define AB_PLUGIN_FORMAT_S16 2u
#define AB_PLUGIN_FORMAT_S32 3u

/* Kinds of output stream (values of the wire's block type). */
#define AB_PLUGIN_OUTPUT_AUDIO 1u
#define AB_PLUGIN_OUTPUT_FEATURES 2u
#define AB_PLUGIN_OUTPUT_EVENT 3u

/* Return codes of create/activate/process. */
#define AB_PLUGIN_OK 0
#define AB_PLUGIN_ERROR (-1)

/* One KEY=VALUE parameter, as given by `audiobus process --param`. */
typedef struct {
    const char *key;
    const char *value;
} ab_plugin_param_t;

/* Describes a parameter a plugin accepts; a host refuses any other key.
 * Arrays of these end with an entry whose key is NULL. */
typedef struct {
    const char *key;
    const char *default_value; /* as text, for --help; may be NULL */
    const char *help;          /* one line */
} ab_plugin_param_info_t;

/* The stream a plugin is activated for. */
typedef struct {
    uint32_t struct_size;
    uint32_t rate;       /* frames per second */
    uint32_t channels;
    uint32_t max_frames; /* no block passed to process() is longer */
    uint32_t raw_format; /* AB_PLUGIN_FORMAT_* of the stream on the wire */
    const char *stream;  /* name of the input stream */
} ab_plugin_format_t;

/* One block of the input stream, valid only during process(). */
typedef struct {
    uint32_t struct_size;
    uint32_t frames;
    uint32_t channels;
    uint32_t rate;
    uint64_t seq;          /* the block's sequence number in its stream; a block longer than
                              max_frames comes in several calls with the same seq */
    uint64_t frame0;       /* index of the first frame since the stream began */
    int64_t time_ns;       /* capture time of frame0, ns since the Unix epoch */
    const float *samples;  /* frames * channels, interleaved, converted to f32 */
    const void *raw;       /* the same samples exactly as on the wire, 8-byte aligned */
    uint32_t raw_format;   /* AB_PLUGIN_FORMAT_* of raw */
    uint32_t raw_bytes;
} ab_plugin_block_t;

/* A result to publish back to the broker on an output declared earlier. */
typedef struct {
    uint32_t struct_size;
    int32_t output;       /* id returned by declare_output */
    uint32_t frames;      /* feature frames or audio frames; 0 for events */
    uint32_t channels;    /* features per frame, or audio channels */
    uint64_t frame0;      /* position in the input stream this result is about */
    int64_t time_ns;      /* capture time of frame0 */
    const float *samples; /* frames * channels; NULL when frames is 0 */
    const char *label;    /* event label (e.g. "speech_start"), else NULL */
} ab_plugin_output_block_t;

/* What the host offers a plugin. Every function takes host->host_data. */
typedef struct ab_plugin_host {
    uint32_t struct_size;
    void *host_data;

    /* Log a line, prefixed with the plugin's name by the host. Real-time
     * safe: the line is queued and written by another thread; lines beyond
     * the queue are counted, never block. [any-thread] */
    void (*log)(void *host_data, int32_t level, const char *message);

    /* Report a fatal error: the host logs it, stops feeding the plugin and
     * exits non-zero. Real-time safe: no lock or allocation, and only the
     * first call makes a system call (a non-blocking write() that wakes the
     * host's control thread). [any-thread] */
    void (*fail)(void *host_data, const char *message);

    /* Declare an output stream named "<input stream>/<suffix>" of the given
     * kind (AB_PLUGIN_OUTPUT_*) and frame rate (the input's rate for audio;
     * for features and events, the input rate, with hop = input frames
     * between feature frames). Returns an id >= 0 or AB_PLUGIN_ERROR.
     * Only from create() or activate(). audiobus announces the outputs to
     * the broker after each activation, with the input's rate, and holds
     * their results until the broker has accepted them; the processor stops
     * when another node already publishes one. When the input ends (its end
     * marker, or the processor stops) the host calls deactivate(), sends
     * what it published, then ends every output with an end marker.
     * [control-thread] */
    int32_t (*declare_output)(void *host_data, const char *suffix, uint32_t kind, uint32_t channels,
                              uint32_t hop);

    /* Publish a result. Copies it into a lock-free queue that another thread
     * sends to the broker; returns AB_PLUGIN_OK, or AB_PLUGIN_ERROR when the
     * queue is full or the block is invalid (counted and reported by the
     * host). Real-time safe. [audio-thread] */
    int32_t (*publish)(void *host_data, const ab_plugin_output_block_t *block);
} ab_plugin_host_t;

typedef struct ab_plugin_descriptor {
    uint32_t abi_major;   /* AB_PLUGIN_ABI_MAJOR; a host refuses any other */
    uint32_t abi_minor;   /* AB_PLUGIN_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(ab_plugin_descriptor_t) as built */
    const char *name;     /* short name, e.g. "level" */
    const char *version;
    const char *description;              /* one line */
    const ab_plugin_param_info_t *params; /* ends with {NULL}; may be NULL */

    /* Parse params and create an instance. On failure return NULL and write
     * a message to error (capacity error_len) that names the bad parameter,
     * its value, and what is accepted. [control-thread] */
    void *(*create)(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params,
                    char *error, uint32_t error_len);

    /* Prepare for a stream; allocate everything process() needs. Returns
     * AB_PLUGIN_OK or AB_PLUGIN_ERROR (after writing to error). [control-thread] */
    int32_t (*activate)(void *self, const ab_plugin_format_t *format, char *error, uint32_t error_len);

    /* Consume one block. Returns AB_PLUGIN_OK or AB_PLUGIN_ERROR (the host
     * then stops as for fail()). [audio-thread] */
    int32_t (*process)(void *self, const ab_plugin_block_t *block);

    /* Stop: flush and close what activate() opened. [control-thread] */
    void (*deactivate)(void *self);

    /* Free the instance. [control-thread] */
    void (*destroy)(void *self);

    /* ABI 1.1 (present when struct_size covers it; may be NULL): audio the
     * host could not deliver, frames [frame0, frame0 + frames) of the input
     * stream, after every block before it and before every block after it.
     * Lost for good: it will not arrive later. A plugin that tracks time
     * resets or fills here. [audio-thread] */
    void (*gap)(void *self, uint64_t frame0, uint64_t frames);
} ab_plugin_descriptor_t;

/* The entry symbol every plugin defines. Declared here so that the
 * definition has external C linkage in C++ too (a namespace-scope const
 * would otherwise be internal and export nothing). */
extern AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin;

#ifdef __cplusplus
}
#endif

#endif
