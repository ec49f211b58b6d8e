/* ab_processor.c - processor node: receive thread -> plugin, or receive
 * thread -> ring -> processing thread -> plugin when the plugin is slow,
 * with the plugin's results published back. */
#include "audiobus/ab_processor.h"

#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "ab_delivery.h"
#include "ab_plugin_loader.h"
#include "ab_subscriber.h"
#include "ab_zutil.h"
#include "audiobus/ab_block.h"
#include "audiobus/ab_clock.h"
#include "audiobus/ab_convert.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_node.h"
#include "audiobus/ab_pub.h"
#include "audiobus/ab_ring.h"
#include "audiobus/ab_signal.h"

#define AB_HOST_MAX_FRAMES 8192  /* longest block handed to process() */
#define AB_HOST_MAX_OUTPUTS 8
#define AB_HOST_LOG_LINE 248
#define AB_HOST_LOG_QUEUE 1024    /* lines, drained every AB_HOST_CONTROL_WAIT_MS: ~4,000 a second */
#define AB_HOST_OUT_QUEUE (4u << 20)
#define AB_HOST_GAP_RECORD 0xFE    /* in_ring record type: frames lost for good */
#define AB_HOST_REPAIR_WINDOW 8192 /* blocks held while a hole is repaired */
#define AB_HOST_REPAIR_RETRY_MS 200
/* Adaptive processing: when the plugin's calls on the receive thread took
 * more than half of a window's time, blocks go to the processing thread for
 * a while. A window of a second: a single long call (a page fault, the VM
 * taking the CPU away) does not count for much, a plugin that cannot keep
 * up is found within a second. */
#define AB_HOST_INLINE_WINDOW_NS 1000000000LL
#define AB_HOST_HANDOVER_MS 10000

/* A block as queued for the processing thread, followed by its samples. */
typedef struct {
    uint64_t seq, frame0;
    int64_t time_ns;
    uint32_t rate, channels, frames, bytes;
    uint8_t type, format; /* type AB_HOST_GAP_RECORD: gap_frames lost at frame0 */
    uint16_t input;       /* which input stream */
    uint8_t reserved[4];
    uint64_t gap_frames;
} s_in_header_t;

/* A result as queued for publishing, followed by frames x channels floats;
 * or, with end set, the end of an output (no samples; frame0 and time_ns
 * say where the input ended). kind and hop are the output's when it was
 * queued: a re-activation may declare it anew meanwhile. */
typedef struct {
    int32_t output;
    uint16_t input; /* whose output */
    uint32_t frames, channels, rate, hop;
    uint8_t kind, end;
    uint64_t frame0;
    int64_t time_ns;
    char label[AB_LABEL_MAX + 1];
} s_out_header_t;

typedef struct {
    int32_t level;
    uint16_t input; /* whose plugin instance logged it */
    char text[AB_HOST_LOG_LINE];
} s_log_record_t;

typedef struct {
    char stream[AB_STREAM_NAME_MAX + 1];
    uint32_t kind, channels, hop; /* processing thread (and create()) */
    atomic_bool accepted; /* the broker knows this node publishes it: set by the control thread */
    /* receive thread only */
    uint64_t seq;       /* next sequence number */
    uint64_t end_frame; /* where the last block published ends */
    bool open;          /* a block was published since the last end marker */
} s_output_t;

/* One input stream and the plugin instance that processes it. A processor
 * takes one or more inputs over one SUB socket and one set of threads:
 * the instances share the threads, each sees only its own stream. */
typedef struct {
    ab_processor_t *processor;
    uint16_t index;
    char stream[AB_STREAM_NAME_MAX + 1];
    void *instance;
    ab_plugin_host_t host; /* host_data: this input */
    atomic_uint_fast64_t last_seq; /* the last seq handled (the broker's lag counts from it) */

    s_output_t outputs[AB_HOST_MAX_OUTPUTS];
    atomic_uint n_outputs;
    unsigned n_hello_outputs; /* declared by create(): in the first hello */

    /* processing thread state */
    bool active;
    bool outputs_ended;   /* the end marker went out on the outputs; a new activation clears it */
    bool ended;           /* its end marker came (once is enough for exit_at_end) */
    uint64_t input_end;   /* where the input's last block (or its end marker) ended */
    int64_t input_end_ns; /* its capture time */
    ab_plugin_format_t format;
    float *f32; /* AB_HOST_MAX_FRAMES x channels, from activation */

    /* receive thread state: blocks the processing queue refused, as one gap */
    bool drop_pending;
    uint64_t drop_frame0, drop_end;
    ab_log_limiter_t loss_limiter; /* lines about audio lost for good */
} s_input_t;

struct ab_processor {
    void *ctx;
    char broker[256];
    char name[AB_STREAM_NAME_MAX + 1];
    bool exit_at_end;
    ab_processing_t processing;
    bool inline_processing; /* AB_PROCESSING_INLINE: the receive thread runs the plugin, no processing thread */
    int register_timeout_ms;

    ab_plugin_module_t module;
    const ab_plugin_descriptor_t *plugin;
    s_input_t *inputs;
    uint16_t n_inputs;
    uint16_t inputs_ended; /* processing thread: inputs whose end marker came */
    ab_node_t *node;

    ab_ring_t *in_ring;  /* receive -> processing */
    ab_ring_t *out_ring; /* processing -> receive (publishing) */
    ab_ring_t *log_ring; /* processing -> control */
    sem_t in_ready;
    pthread_t receiver, worker;
    bool receiver_started, worker_started;
    atomic_bool receiver_done;
    atomic_bool stop_threads;
    atomic_bool worker_done;
    atomic_bool failed;
    atomic_flag fail_claimed;
    char fail_message[512];

    /* The outputs of every input as the broker should know them. The
     * processing thread posts them after each activation (the input's rate
     * is known then); the control thread announces them. refs: the output
     * each entry describes. */
    pthread_mutex_t announce_lock;
    ab_ctl_output_t announce[AB_CTL_MAX_STREAMS]; /* under announce_lock */
    s_output_t *announce_refs[AB_CTL_MAX_STREAMS];  /* under announce_lock */
    uint32_t n_announce;                            /* under announce_lock */
    uint64_t announce_version;                      /* under announce_lock */
    uint64_t announce_taken;                        /* control thread */
    ab_ctl_output_t announcing[AB_CTL_MAX_STREAMS]; /* control thread: sent, not yet answered */
    s_output_t *announcing_refs[AB_CTL_MAX_STREAMS];
    uint32_t n_announcing;
    bool announce_unsent, announce_waiting;
    atomic_bool refused; /* the broker refused this node: results it does not know are dropped */
    atomic_bool broker_silent; /* it has not answered for 3 heartbeats (control thread) */

    uint8_t *raw;          /* processing thread: AB_BLOCK_MAX_SAMPLE_BYTES */
    float *result_samples; /* receive thread: one result being published */

    /* counters, read by the control thread for heartbeats and the report */
    atomic_uint_fast64_t processed, gaps, dropped, restarts;
    atomic_uint_fast64_t published, publish_drops, log_drops;
    atomic_uint_fast64_t lost_frames;
    ab_log_limiter_t gap_limiter, drop_limiter, bad_limiter;

    /* the input streams, each in order, repaired (its sockets: receive thread) */
    ab_subscriber_t *subscriber;
    uint32_t backlog_ms;
    unsigned unwoken;             /* records queued since the processing thread was last woken */
    uint64_t records_queued;      /* receive thread: records put in in_ring */
    atomic_uint_fast64_t records_handled; /* processing thread: records it is done with */

    /* Adaptive processing: the receive thread calls the plugin itself while
     * the processing thread has nothing queued. The two flags are a
     * store-then-load handshake (sequentially consistent on both sides), so
     * that the processing thread never finishes the plugin while the
     * receive thread is in it. */
    atomic_bool receiver_in_plugin; /* receive thread: it is in (or about to enter) the plugin */
    atomic_bool plugin_closing;     /* processing thread: it finishes the plugin; keep off */
    int64_t handed_over_until_ns;   /* receive thread: the plugin was too slow, queue until then (0: not) */
    int64_t inline_window_start_ns; /* receive thread: the window's first call (0: none yet) */
    int64_t inline_busy_ns;         /* receive thread: time in the plugin during the window */
    atomic_uint_fast64_t inline_records, handovers;
    ab_log_limiter_t handover_limiter;
    ab_pub_t *pub;                /* the receive thread's publisher, while it runs */
    double repair_seconds;
};

/* ---- the host interface offered to the plugin ---------------------------- */

/* The processor whose plugin this thread is calling now, if any: its log
 * lines go through the log ring rather than to stderr. */
static _Thread_local const ab_processor_t *s_plugin_caller;

static bool s_on_plugin_thread(const ab_processor_t *self)
{
    return s_plugin_caller == self;
}

/* A plugin's log line, naming the plugin and, when the processor has
 * several inputs, the stream of the instance that wrote it. */
static void s_log_plugin_line(const ab_processor_t *self, uint16_t input, int32_t level, const char *text)
{
    ab_log_level_t clamped = (ab_log_level_t)(level < 0 ? 0 : level > 3 ? 3 : level);
    if (self->n_inputs > 1)
        ab_log(clamped, "[%s on %s] %s", self->plugin->name, self->inputs[input].stream, text);
    else
        ab_log(clamped, "[%s] %s", self->plugin->name, text);
}

static void s_host_log(void *host_data, int32_t level, const char *message)
{
    s_input_t *input = host_data;
    ab_processor_t *self = input->processor;
    if (!message)
        return;
    if (!s_on_plugin_thread(self)) { /* not the real-time thread: log directly */
        s_log_plugin_line(self, input->index, level, message);
        return;
    }
    s_log_record_t record;
    record.level = level;
    record.input = input->index;
    size_t len = strnlen(message, sizeof record.text - 1);
    memcpy(record.text, message, len);
    record.text[len] = '\0';
    if (ab_ring_write(self->log_ring, &record, sizeof record) != 0)
        atomic_fetch_add_explicit(&self->log_drops, 1, memory_order_relaxed);
}

/* The processor fails (the first message is kept): every input stops. */
static void s_fail(ab_processor_t *self, const char *message)
{
    if (!atomic_flag_test_and_set(&self->fail_claimed)) {
        size_t len = message ? strnlen(message, sizeof self->fail_message - 1) : 0;
        if (len)
            memcpy(self->fail_message, message, len);
        self->fail_message[len] = '\0';
        atomic_store(&self->failed, true);
        if (self->node) /* none yet while instances are created */
            ab_node_wake(self->node); /* once a process: the control thread stops the node */
    }
}

/* An input's plugin instance failed: say which, when there are several.
 * Real-time safe (snprintf into a stack buffer, no allocation). */
static void s_input_fail(s_input_t *input, const char *message)
{
    ab_processor_t *self = input->processor;
    if (self->n_inputs == 1) {
        s_fail(self, message);
        return;
    }
    char text[sizeof self->fail_message];
    snprintf(text, sizeof text, "on stream %s: %s", input->stream, message ? message : "");
    s_fail(self, text);
}

static void s_host_fail(void *host_data, const char *message)
{
    s_input_fail(host_data, message);
}

/* Outputs of every input so far. */
static unsigned s_count_outputs(const ab_processor_t *self)
{
    unsigned n = 0;
    for (unsigned i = 0; i < self->n_inputs; i++)
        n += atomic_load(&self->inputs[i].n_outputs);
    return n;
}

static int32_t s_host_declare_output(void *host_data, const char *suffix, uint32_t kind, uint32_t channels,
                                     uint32_t hop)
{
    s_input_t *input = host_data;
    unsigned n = atomic_load(&input->n_outputs);
    if (!suffix || kind < AB_PLUGIN_OUTPUT_AUDIO || kind > AB_PLUGIN_OUTPUT_EVENT || channels < 1 ||
        channels > AB_BLOCK_MAX_CHANNELS)
        return AB_PLUGIN_ERROR;
    char stream[AB_STREAM_NAME_MAX + 2];
    snprintf(stream, sizeof stream, "%s/%s", input->stream, suffix);
    if (!ab_stream_name_valid(stream))
        return AB_PLUGIN_ERROR;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(input->outputs[i].stream, stream) == 0) {
            /* Declared again on re-activation: the shape may have changed.
             * Nothing is being published meanwhile (activation runs on the
             * processing thread, between blocks). */
            input->outputs[i].kind = kind;
            input->outputs[i].channels = channels;
            input->outputs[i].hop = hop;
            return (int32_t)i;
        }
    /* A node announces at most AB_CTL_MAX_STREAMS outputs, over all its inputs. */
    if (n >= AB_HOST_MAX_OUTPUTS || s_count_outputs(input->processor) >= AB_CTL_MAX_STREAMS)
        return AB_PLUGIN_ERROR;
    s_output_t *out = &input->outputs[n];
    memcpy(out->stream, stream, sizeof out->stream);
    out->kind = kind;
    out->channels = channels;
    out->hop = hop;
    out->seq = 0;
    atomic_store_explicit(&input->n_outputs, n + 1, memory_order_release);
    return (int32_t)n;
}

static int32_t s_host_publish(void *host_data, const ab_plugin_output_block_t *block)
{
    s_input_t *input = host_data;
    ab_processor_t *self = input->processor;
    unsigned n = atomic_load_explicit(&input->n_outputs, memory_order_acquire);
    if (!block || block->output < 0 || (unsigned)block->output >= n || block->frames > AB_BLOCK_MAX_FRAMES ||
        (block->frames && !block->samples) || block->channels != input->outputs[block->output].channels) {
        atomic_fetch_add_explicit(&self->publish_drops, 1, memory_order_relaxed);
        return AB_PLUGIN_ERROR;
    }
    s_out_header_t header;
    memset(&header, 0, sizeof header);
    header.output = block->output;
    header.input = input->index;
    header.frames = block->frames;
    header.channels = block->channels;
    header.rate = input->format.rate;
    header.kind = (uint8_t)input->outputs[block->output].kind;
    header.hop = input->outputs[block->output].hop;
    header.frame0 = block->frame0;
    header.time_ns = block->time_ns;
    if (block->label) {
        size_t len = strnlen(block->label, AB_LABEL_MAX);
        memcpy(header.label, block->label, len);
    }
    size_t bytes = (size_t)block->frames * block->channels * sizeof(float);
    if (bytes > AB_BLOCK_MAX_SAMPLE_BYTES ||
        ab_ring_write2(self->out_ring, &header, sizeof header, bytes ? block->samples : NULL, bytes) != 0) {
        atomic_fetch_add_explicit(&self->publish_drops, 1, memory_order_relaxed);
        return AB_PLUGIN_ERROR;
    }
    return AB_PLUGIN_OK;
}

/* ---- announcing the outputs ------------------------------------------------ */

/* Every input's declared outputs as hello announces them, each at its
 * input's rate (1 before the first activation: not known yet), into
 * outputs (zeroed first, so that two descriptions compare with memcmp) and
 * the outputs described into refs. Returns how many. Processing thread, or
 * the control thread before it runs. */
static uint32_t s_describe_outputs(ab_processor_t *self, ab_ctl_output_t *outputs, s_output_t **refs)
{
    uint32_t n = 0;
    memset(outputs, 0, AB_CTL_MAX_STREAMS * sizeof *outputs);
    for (unsigned k = 0; k < self->n_inputs; k++) {
        s_input_t *input = &self->inputs[k];
        unsigned n_outputs = atomic_load(&input->n_outputs);
        for (unsigned i = 0; i < n_outputs && n < AB_CTL_MAX_STREAMS; i++, n++) {
            ab_ctl_output_t *out = &outputs[n];
            snprintf(out->stream, sizeof out->stream, "%s", input->outputs[i].stream);
            out->type = (ab_block_type_t)input->outputs[i].kind;
            out->rate = input->format.rate ? input->format.rate : 1;
            out->channels = input->outputs[i].channels;
            out->format = AB_FORMAT_F32;
            out->hop = out->type == AB_BLOCK_FEATURES ? input->outputs[i].hop : 0;
            refs[n] = &input->outputs[i];
        }
    }
    return n;
}

/* After an activation: hand the outputs to the control thread when they
 * differ from what it has. Processing thread, outside process(). */
static void s_post_outputs(ab_processor_t *self)
{
    ab_ctl_output_t outputs[AB_CTL_MAX_STREAMS];
    s_output_t *refs[AB_CTL_MAX_STREAMS];
    uint32_t n = s_describe_outputs(self, outputs, refs);
    pthread_mutex_lock(&self->announce_lock);
    if (n != self->n_announce || memcmp(outputs, self->announce, sizeof outputs) != 0) {
        memcpy(self->announce, outputs, sizeof outputs);
        memcpy(self->announce_refs, refs, n * sizeof *refs);
        self->n_announce = n;
        self->announce_version++;
        ab_node_wake(self->node); /* to announce them */
    }
    pthread_mutex_unlock(&self->announce_lock);
}

/* Announce what the processing thread posted, and once the broker has
 * accepted it, let the receive thread publish on those outputs. Control
 * thread. */
static void s_announce_outputs(ab_processor_t *self)
{
    if (atomic_load(&self->refused))
        return;
    pthread_mutex_lock(&self->announce_lock);
    if (self->announce_version != self->announce_taken) {
        memcpy(self->announcing, self->announce, sizeof self->announcing);
        memcpy(self->announcing_refs, self->announce_refs, sizeof self->announcing_refs);
        self->n_announcing = self->n_announce;
        self->announce_taken = self->announce_version;
        self->announce_unsent = true;
    }
    pthread_mutex_unlock(&self->announce_lock);
    if (self->announce_unsent) {
        int rc = ab_node_announce(self->node, self->announcing, self->n_announcing);
        if (rc == 0) {
            self->announce_unsent = false;
            self->announce_waiting = true;
            ab_log_debug("announcing %u output(s) to the broker", self->n_announcing);
        } else if (rc != AB_EZMQ) { /* AB_EZMQ: the control socket is full; again on the next turn */
            char message[256];
            self->announce_unsent = false;
            snprintf(message, sizeof message, "cannot announce its outputs to the broker: %s", ab_strerror(rc));
            s_fail(self, message);
        }
    }
    if (self->announce_waiting && ab_node_announced(self->node)) {
        for (uint32_t i = 0; i < self->n_announcing; i++)
            atomic_store(&self->announcing_refs[i]->accepted, true);
        self->announce_waiting = false;
    }
}

/* ---- construction --------------------------------------------------------- */

static void s_repair_deliver(void *user, const ab_block_t *block);
static void s_repair_lost(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames);

/* The input streams are valid names, distinct, and not too many; else
 * writes which one is wrong into error. */
static bool s_check_streams(const ab_processor_config_t *config, char *error, size_t error_len)
{
    if (config->n_streams == 0 || config->n_streams > AB_PROCESSOR_MAX_INPUTS) {
        snprintf(error, error_len, "a processor takes 1 to %d input streams, not %u", AB_PROCESSOR_MAX_INPUTS,
                 config->n_streams);
        return false;
    }
    for (uint32_t i = 0; i < config->n_streams; i++) {
        const char *stream = config->streams[i];
        if (!stream || !ab_stream_name_valid(stream)) {
            snprintf(error, error_len, "bad stream name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /)",
                     stream ? stream : "", AB_STREAM_NAME_MAX);
            return false;
        }
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(config->streams[j], stream) == 0) {
                snprintf(error, error_len, "stream %s is given twice: a processor takes each stream once", stream);
                return false;
            }
    }
    return true;
}

/* value with every "{stream}" replaced by stream, in a new string (the
 * caller frees it); NULL when out of memory. */
static char *s_expand_param(const char *value, const char *stream)
{
    static const char placeholder[] = "{stream}";
    const size_t placeholder_len = sizeof placeholder - 1;
    size_t count = 0;
    for (const char *at = strstr(value, placeholder); at; at = strstr(at + placeholder_len, placeholder))
        count++;
    size_t stream_len = strlen(stream);
    char *expanded = malloc(strlen(value) + count * stream_len + 1);
    if (!expanded)
        return NULL;
    char *out = expanded;
    for (const char *at; (at = strstr(value, placeholder)) != NULL; value = at + placeholder_len) {
        memcpy(out, value, (size_t)(at - value));
        out += at - value;
        memcpy(out, stream, stream_len);
        out += stream_len;
    }
    strcpy(out, value);
    return expanded;
}

/* Create the plugin instance for an input, with "{stream}" in a parameter
 * value standing for the input's stream (so that, say, each instance of a
 * file writer writes its own file). Returns false after writing why into
 * error. */
static bool s_create_instance(ab_processor_t *self, s_input_t *input, const ab_processor_config_t *config,
                              char *error, size_t error_len)
{
    input->host.struct_size = sizeof input->host;
    input->host.host_data = input;
    input->host.log = s_host_log;
    input->host.fail = s_host_fail;
    input->host.declare_output = s_host_declare_output;
    input->host.publish = s_host_publish;
    ab_plugin_param_t *params = calloc(config->n_params ? config->n_params : 1, sizeof *params);
    bool expanded = params != NULL;
    for (uint32_t i = 0; expanded && i < config->n_params; i++) {
        params[i].key = config->params[i].key;
        params[i].value = s_expand_param(config->params[i].value, input->stream);
        expanded = params[i].value != NULL;
    }
    char plugin_error[512] = "";
    if (expanded)
        input->instance =
            self->plugin->create(&input->host, params, config->n_params, plugin_error, sizeof plugin_error);
    for (uint32_t i = 0; params && i < config->n_params; i++)
        free((char *)params[i].value);
    free(params);
    if (!expanded) {
        snprintf(error, error_len, "out of memory for the plugin's parameters");
        return false;
    }
    if (!input->instance) {
        snprintf(error, error_len, "plugin \"%s\" refused its parameters%s%s: %s", self->plugin->name,
                 self->n_inputs > 1 ? " for stream " : "", self->n_inputs > 1 ? input->stream : "",
                 plugin_error[0] ? plugin_error : "(no reason given)");
        return false;
    }
    input->n_hello_outputs = atomic_load(&input->n_outputs);
    return true;
}

ab_processor_t *ab_processor_new(void *zmq_ctx, const ab_processor_config_t *config, char *error, size_t error_len)
{
    if (!s_check_streams(config, error, error_len))
        return NULL;
    ab_processor_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->ctx = zmq_ctx;
    sem_init(&self->in_ready, 0, 0);
    pthread_mutex_init(&self->announce_lock, NULL);
    atomic_flag_clear(&self->fail_claimed);
    snprintf(self->broker, sizeof self->broker, "%s", config->broker);
    self->exit_at_end = config->exit_at_end;
    self->processing = config->processing;
    self->inline_processing = config->processing == AB_PROCESSING_INLINE;
    self->register_timeout_ms = config->register_timeout_ms > 0 ? config->register_timeout_ms : 5000;

    if (ab_plugin_module_load(&self->module, config->plugin, error, error_len) ||
        ab_plugin_module_check_params(&self->module, config->params, config->n_params, error, error_len)) {
        ab_processor_destroy(&self);
        return NULL;
    }
    self->plugin = self->module.descriptor;
    if (config->name)
        snprintf(self->name, sizeof self->name, "%s", config->name);
    else
        snprintf(self->name, sizeof self->name, "%.40s-%d", self->plugin->name, (int)getpid());
    if (!ab_stream_name_valid(self->name)) {
        snprintf(error, error_len, "bad node name \"%s\" (1-%d characters of A-Z a-z 0-9 . _ - /)", self->name,
                 AB_STREAM_NAME_MAX);
        ab_processor_destroy(&self);
        return NULL;
    }
    size_t queue = config->queue_bytes ? config->queue_bytes : (16u << 20);
    if (self->inline_processing)
        queue = 4096; /* not used: blocks go to the plugin, not into a queue */
    /* The queue's writer is the receive thread, not an audio thread: its
     * pages are committed as the queue first reaches them. A plugin that
     * keeps up runs on the receive thread and never uses the queue, which
     * then costs no resident memory (see ab_ring_new_untouched()). */
    self->in_ring = ab_ring_new_untouched(queue);
    self->out_ring = ab_ring_new(AB_HOST_OUT_QUEUE);
    self->log_ring = ab_ring_new(AB_HOST_LOG_QUEUE * sizeof(s_log_record_t));
    self->raw = malloc(AB_BLOCK_MAX_SAMPLE_BYTES);
    self->result_samples = malloc(AB_BLOCK_MAX_SAMPLE_BYTES);
    self->inputs = calloc(config->n_streams, sizeof *self->inputs);
    self->backlog_ms = (uint32_t)(config->backlog_seconds * 1000.0);
    self->repair_seconds = config->repair_seconds > 0 ? config->repair_seconds : 12.0;
    if (!self->in_ring || !self->out_ring || !self->log_ring || !self->raw || !self->result_samples ||
        !self->inputs) {
        snprintf(error, error_len, "out of memory for a %zu-byte processing queue", queue);
        ab_processor_destroy(&self);
        return NULL;
    }

    self->n_inputs = (uint16_t)config->n_streams;
    ab_subscriber_stream_t subscribed[AB_PROCESSOR_MAX_INPUTS];
    for (uint16_t i = 0; i < self->n_inputs; i++) {
        s_input_t *input = &self->inputs[i];
        input->processor = self;
        input->index = i;
        snprintf(input->stream, sizeof input->stream, "%s", config->streams[i]);
        subscribed[i] = (ab_subscriber_stream_t){input->stream, input};
        if (!s_create_instance(self, input, config, error, error_len)) {
            ab_processor_destroy(&self);
            return NULL;
        }
    }

    ab_ctl_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.role = AB_ROLE_PROCESSOR;
    snprintf(hello.name, sizeof hello.name, "%s", self->name);
    hello.n_inputs = self->n_inputs;
    for (uint16_t i = 0; i < self->n_inputs; i++)
        snprintf(hello.inputs[i], sizeof hello.inputs[i], "%s", self->inputs[i].stream);
    /* Outputs declared by create(). Their rate is the input's, not known
     * before its first block: announced as 1 here, and again with the real
     * one once the plugin is activated (with any it declares then). */
    s_output_t *refs[AB_CTL_MAX_STREAMS];
    hello.n_outputs = s_describe_outputs(self, hello.outputs, refs);
    self->node = ab_node_new(zmq_ctx, config->broker, &hello, error, error_len);
    if (!self->node) {
        ab_processor_destroy(&self);
        return NULL;
    }
    ab_subscriber_config_t subscription = {
        .broker = config->broker,
        .streams = subscribed,
        .n_streams = self->n_inputs,
        .repair_window = AB_HOST_REPAIR_WINDOW,
        .give_up_ms = (int)(self->repair_seconds * 1000),
        .retry_ms = AB_HOST_REPAIR_RETRY_MS,
        .backlog_ms = self->backlog_ms,
    };
    ab_subscriber_callbacks_t callbacks = {s_repair_deliver, s_repair_lost};
    self->subscriber = ab_subscriber_new(zmq_ctx, self->node, &subscription, &callbacks);
    if (!self->subscriber) {
        snprintf(error, error_len, "out of memory for the repair windows of %d blocks", AB_HOST_REPAIR_WINDOW);
        ab_processor_destroy(&self);
        return NULL;
    }
    return self;
}

void ab_processor_destroy(ab_processor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ab_processor_t *self = *self_p;
    atomic_store(&self->stop_threads, true);
    sem_post(&self->in_ready);
    if (self->worker_started)
        pthread_join(self->worker, NULL);
    if (self->receiver_started)
        pthread_join(self->receiver, NULL);
    for (unsigned i = 0; self->inputs && i < self->n_inputs; i++) {
        s_input_t *input = &self->inputs[i];
        if (input->instance) {
            if (input->active)
                self->plugin->deactivate(input->instance);
            self->plugin->destroy(input->instance);
        }
        free(input->f32);
    }
    free(self->inputs);
    ab_plugin_module_unload(&self->module);
    ab_node_destroy(&self->node);
    ab_ring_destroy(&self->in_ring);
    ab_ring_destroy(&self->out_ring);
    ab_ring_destroy(&self->log_ring);
    ab_subscriber_destroy(&self->subscriber);
    free(self->raw);
    free(self->result_samples);
    sem_destroy(&self->in_ready);
    pthread_mutex_destroy(&self->announce_lock);
    free(self);
    *self_p = NULL;
}

/* ---- receive thread --------------------------------------------------------- */

/* Blocks queued at most before the processing thread is woken, within one
 * burst of received messages. */
#define AB_HOST_WAKE_BATCH 8

/* Wake the processing thread for the records queued since the last time.
 * The receive thread calls it once a burst of received messages, so a
 * burst costs one wake-up (a futex system call when the thread sleeps)
 * rather than one a block; a lone block is woken for at once. */
static void s_wake_worker(ab_processor_t *self)
{
    if (self->unwoken) {
        self->unwoken = 0;
        sem_post(&self->in_ready);
    }
}

/* Count a queued record; wake early in a long burst or when the queue
 * fills, so that the processing thread never idles beside a full queue. */
static void s_note_queued(ab_processor_t *self)
{
    self->records_queued++;
    if (++self->unwoken >= AB_HOST_WAKE_BATCH ||
        ab_ring_read_space(self->in_ring) > ab_ring_capacity(self->in_ring) / 2)
        s_wake_worker(self);
}

static bool s_handle_record(ab_processor_t *self, const s_in_header_t *h, const uint8_t *samples);
static void s_finish_processing(ab_processor_t *self);
static void s_publish_results(ab_processor_t *self, ab_pub_t *pub);

/* After a plugin call on the receive thread: publish the results now when
 * their queue is half full. A burst of received blocks (a repaired hole
 * releases the blocks of its whole repair window at once) would otherwise fill it
 * before the burst ends and the results are published. Receive thread. */
static void s_publish_if_filling(ab_processor_t *self)
{
    if (self->pub && ab_ring_read_space(self->out_ring) > ab_ring_capacity(self->out_ring) / 2)
        s_publish_results(self, self->pub);
}

/* Inline processing: hand a record to the plugin on this thread, at once.
 * Once processing is over (the end, or a failure) records are not looked
 * at, as the processing thread stops reading its queue. */
static void s_process_inline(ab_processor_t *self, const s_in_header_t *h, const uint8_t *samples)
{
    if (atomic_load(&self->worker_done) || atomic_load(&self->failed))
        return;
    if (!s_handle_record(self, h, samples) || atomic_load(&self->failed))
        s_finish_processing(self);
    else
        s_publish_if_filling(self);
}

/* A block's samples as the plugin gets them: aligned, as from the queue
 * (the samples sit at any offset of the received message). Copies them
 * into raw when they are not, so only while no record is being processed
 * from the queue. Receive thread. */
static const uint8_t *s_aligned_samples(ab_processor_t *self, const ab_block_t *block)
{
    if ((uintptr_t)block->samples % 8 && block->samples_len <= AB_BLOCK_MAX_SAMPLE_BYTES) {
        memcpy(self->raw, block->samples, block->samples_len);
        return self->raw;
    }
    return block->samples;
}

/* Adaptive processing: count a call on the receive thread in the window;
 * when the window is over and the plugin took more than half of it, it may
 * not keep up, and while it is in a call nothing is received: hand blocks
 * over to the processing thread for a while, then try again. Receive
 * thread. */
static void s_note_inline_call(ab_processor_t *self, int64_t started_ns, int64_t ended_ns)
{
    if (!self->inline_window_start_ns)
        self->inline_window_start_ns = started_ns;
    self->inline_busy_ns += ended_ns - started_ns;
    int64_t window_ns = ended_ns - self->inline_window_start_ns;
    if (window_ns < AB_HOST_INLINE_WINDOW_NS)
        return;
    if (self->inline_busy_ns * 2 > window_ns) {
        self->handed_over_until_ns = ended_ns + AB_HOST_HANDOVER_MS * 1000000LL;
        uint64_t count = atomic_fetch_add(&self->handovers, 1) + 1;
        ab_log_limited(&self->handover_limiter, 60000, AB_LOG_INFO,
                       "plugin %s kept the receive thread busy %.0f%% of the last %.1f s: blocks go to the "
                       "processing thread for the next %d s (%" PRIu64 " time(s) so far)",
                       self->plugin->name, 100.0 * (double)self->inline_busy_ns / (double)window_ns,
                       (double)window_ns / 1e9, AB_HOST_HANDOVER_MS / 1000, count);
    }
    self->inline_window_start_ns = 0;
    self->inline_busy_ns = 0;
}

/* Adaptive processing: give a block to the plugin on this thread, at once,
 * when nothing queued is waiting before it (order), its input's instance is
 * active in the block's shape (activations, which may be slow, and end
 * markers stay on the processing thread) and the plugin has not been too
 * slow lately. Returns false when the block must be queued instead.
 * Receive thread. */
static bool s_try_inline(s_input_t *input, const s_in_header_t *h, const ab_block_t *block)
{
    ab_processor_t *self = input->processor;
    bool event = h->type == AB_BLOCK_EVENT; /* no samples: nothing to activate for */
    if (input->drop_pending || (h->frames == 0 && !event) || h->type == AB_BLOCK_END)
        return false;
    if (self->handed_over_until_ns) {
        if (ab_clock_mono_ns() < self->handed_over_until_ns)
            return false;
        self->handed_over_until_ns = 0;
    }
    /* Announce first, then look: see s_keep_receiver_off(). */
    atomic_store(&self->receiver_in_plugin, true);
    bool runs_here = !atomic_load(&self->plugin_closing) && !atomic_load(&self->failed) &&
                     self->records_queued == atomic_load_explicit(&self->records_handled, memory_order_acquire) &&
                     (event || (input->active && h->rate == input->format.rate &&
                                h->channels == input->format.channels && h->format == input->format.raw_format));
    int64_t started_ns = 0, ended_ns = 0;
    if (runs_here) {
        started_ns = ab_clock_mono_ns();
        s_plugin_caller = self;
        s_handle_record(self, h, s_aligned_samples(self, block));
        s_plugin_caller = NULL;
        ended_ns = ab_clock_mono_ns();
    }
    atomic_store(&self->receiver_in_plugin, false);
    if (!runs_here)
        return false;
    atomic_fetch_add_explicit(&self->inline_records, 1, memory_order_relaxed);
    if (atomic_load(&self->failed)) {
        sem_post(&self->in_ready); /* the processing thread finishes the plugin */
    } else {
        s_note_inline_call(self, started_ns, ended_ns);
        s_publish_if_filling(self);
    }
    return true;
}

/* The processing thread is about to finish the plugin: wait until the
 * receive thread is out of it and keep it out. Both sides store their flag,
 * then load the other's (sequentially consistent), so at least one sees the
 * other: either the receive thread sees plugin_closing and stays out, or
 * this thread sees it inside and waits. Processing thread. */
static void s_keep_receiver_off(ab_processor_t *self)
{
    atomic_store(&self->plugin_closing, true);
    while (atomic_load(&self->receiver_in_plugin))
        ab_clock_sleep_ms(1);
}

/* Queue a record of an input's frames lost for good for the processing
 * thread. */
static bool s_queue_gap(s_input_t *input, uint64_t frame0, uint64_t frames)
{
    ab_processor_t *self = input->processor;
    s_in_header_t header;
    memset(&header, 0, sizeof header);
    header.type = AB_HOST_GAP_RECORD;
    header.input = input->index;
    header.frame0 = frame0;
    header.gap_frames = frames;
    if (self->inline_processing)
        s_process_inline(self, &header, NULL);
    else if (ab_ring_write2(self->in_ring, &header, sizeof header, NULL, 0) != 0)
        return false;
    atomic_fetch_add(&self->lost_frames, frames);
    if (!self->inline_processing)
        s_note_queued(self);
    return true;
}

/* Frames of an input that could not be queued: they reach the plugin as
 * one gap as soon as there is room. */
static void s_hold_gap(s_input_t *input, uint64_t frame0, uint64_t end)
{
    if (!input->drop_pending)
        input->drop_frame0 = frame0;
    input->drop_pending = true;
    input->drop_end = end;
}

/* Hand a block to the processing thread. When its queue is full the block
 * is dropped and counted, and the frames dropped reach the plugin as one
 * gap as soon as there is room again. */
static void s_queue_block(s_input_t *input, const ab_block_t *block)
{
    ab_processor_t *self = input->processor;
    if (input->drop_pending && s_queue_gap(input, input->drop_frame0, input->drop_end - input->drop_frame0))
        input->drop_pending = false;
    s_in_header_t header;
    memset(&header, 0, sizeof header);
    header.seq = block->seq;
    header.frame0 = block->frame0;
    header.time_ns = block->time_ns;
    header.rate = block->rate;
    header.channels = block->channels;
    header.frames = block->frames;
    header.bytes = (uint32_t)block->samples_len;
    header.type = (uint8_t)block->type;
    header.format = (uint8_t)block->format;
    header.input = input->index;
    if (self->inline_processing) {
        s_process_inline(self, &header, s_aligned_samples(self, block));
        return;
    }
    if (self->processing == AB_PROCESSING_ADAPTIVE && s_try_inline(input, &header, block))
        return;
    if (input->drop_pending ||
        ab_ring_write2(self->in_ring, &header, sizeof header, block->samples, block->samples_len) != 0) {
        uint64_t dropped = atomic_fetch_add(&self->dropped, 1) + 1;
        s_hold_gap(input, block->frame0, block->frame0 + block->frames);
        ab_log_limited(&self->drop_limiter, 1000, AB_LOG_WARN,
                       "plugin %s is behind: dropped block %" PRIu64 " of %s, its queue is full (%" PRIu64
                       " dropped so far)",
                       self->plugin->name, block->seq, block->stream, dropped);
        return;
    }
    s_note_queued(self);
}

static void s_repair_deliver(void *user, const ab_block_t *block)
{
    s_queue_block(user, block);
}

static void s_repair_lost(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames)
{
    s_input_t *input = user;
    ab_processor_t *self = input->processor;
    atomic_fetch_add(&self->gaps, to_seq - from_seq + 1);
    /* One line a second at most: a host that falls behind can lose one
     * block in every few, and a line for each would add to the load that
     * loses them. The plugin hears every gap, and the exit report and the
     * heartbeats count every block lost. */
    if (frames)
        ab_log_limited(&input->loss_limiter, 1000, AB_LOG_WARN,
                       "stream %s: blocks %" PRIu64 "..%" PRIu64 " are lost for good: frames %" PRIu64 "..%" PRIu64
                       " (%" PRIu64 " frames) missing",
                       input->stream, from_seq, to_seq, frame0, frame0 + frames, frames);
    else /* no block around the hole tells where it starts and ends */
        ab_log_limited(&input->loss_limiter, 1000, AB_LOG_WARN,
                       "stream %s: blocks %" PRIu64 "..%" PRIu64 " are lost for good (which frames is not known)",
                       input->stream, from_seq, to_seq);
    /* Behind frames held as dropped (they follow them: every block since
     * was dropped too), so that the plugin hears the gaps in order. */
    if (frames && (input->drop_pending || !s_queue_gap(input, frame0, frames)))
        s_hold_gap(input, frame0, frame0 + frames);
}

/* Publish queued results while the data link is up and the broker knows
 * their output; keep them otherwise. Results on an output the broker
 * refused are dropped. */
static void s_publish_results(ab_processor_t *self, ab_pub_t *pub)
{
    float *samples = self->result_samples;
    s_out_header_t header;
    while (ab_ring_peek(self->out_ring, &header, sizeof header) == 0) {
        s_output_t *out = &self->inputs[header.input].outputs[header.output];
        size_t bytes = (size_t)header.frames * header.channels * sizeof(float);
        if (!atomic_load(&out->accepted)) {
            if (!atomic_load(&self->refused))
                return; /* announced, not answered yet */
            ab_ring_skip(self->out_ring, sizeof header + bytes);
            atomic_fetch_add(&self->publish_drops, 1);
            continue;
        }
        if (!ab_pub_wait_ready(pub, 0))
            return;
        ab_ring_skip(self->out_ring, sizeof header);
        if (bytes)
            ab_ring_read(self->out_ring, samples, bytes);
        ab_block_t block;
        memset(&block, 0, sizeof block);
        block.version = AB_PROTOCOL_VERSION;
        block.type = (ab_block_type_t)header.kind;
        snprintf(block.stream, sizeof block.stream, "%s", out->stream);
        block.seq = out->seq;
        block.frame0 = header.frame0;
        block.time_ns = header.time_ns;
        block.rate = header.rate;
        block.channels = header.channels;
        block.format = AB_FORMAT_F32;
        if (header.end) {
            /* The end position: where the output's last block ended; for
             * events, or when nothing was published, where the input ended. */
            block.type = AB_BLOCK_END;
            if (out->open && (header.kind != AB_BLOCK_EVENT || out->end_frame > header.frame0))
                block.frame0 = out->end_frame;
        } else {
            block.frames = block.type == AB_BLOCK_EVENT ? 0 : header.frames;
            block.hop = block.type == AB_BLOCK_FEATURES ? header.hop : 0;
            memcpy(block.label, header.label, sizeof block.label);
            block.samples = block.frames ? (const uint8_t *)samples : NULL;
            block.samples_len = block.frames ? bytes : 0;
        }
        int rc = ab_pub_send(pub, &block, 1000);
        if (rc == 0) {
            out->seq++;
            if (header.end) {
                out->open = false;
                ab_log_debug("ended output %s at frame %" PRIu64 " (seq %" PRIu64 ")", out->stream, block.frame0,
                             block.seq);
            } else {
                out->end_frame = block.frame0 + (block.type == AB_BLOCK_FEATURES ? (uint64_t)block.frames * block.hop
                                                                                 : block.frames);
                out->open = true;
                atomic_fetch_add(&self->published, 1); /* results; the end marker is not one */
            }
        } else {
            atomic_fetch_add(&self->publish_drops, 1);
            ab_log_limited(&self->bad_limiter, 1000, AB_LOG_WARN, "cannot publish %s on %s: %s",
                           header.end ? "the end marker" : "a result", out->stream, ab_strerror(rc));
        }
    }
}

/* How long the receive thread waits for blocks: briefly while results are
 * queued or may still come (the processing thread has records it is not
 * done with), since it publishes them; longer when idle, as a block wakes
 * it anyway (a timer wake-up is dear on a VM: 200 a second per processor
 * were measurable with 16 of them). */
#define AB_HOST_BUSY_POLL_MS 1
#define AB_HOST_IDLE_POLL_MS 50

static bool s_results_may_come(const ab_processor_t *self)
{
    /* The count first: a record counted as handled has its results in the
     * ring already (the processing thread writes them, then counts). */
    bool busy = !self->inline_processing &&
                self->records_queued != atomic_load_explicit(&self->records_handled, memory_order_acquire);
    return busy || ab_ring_read_space(self->out_ring) > 0;
}

/* While the outputs' delivery is waited for: stop when the broker has gone
 * silent, refused this node, or is another one (a new session: it has not
 * seen what the old one lost, and a processor cannot send it again). */
typedef struct {
    ab_processor_t *self;
    uint64_t session;
} s_delivery_turn_t;

static bool s_delivery_turn(void *user)
{
    const s_delivery_turn_t *turn = user;
    ab_processor_t *self = turn->self;
    return atomic_load(&self->broker_silent) || atomic_load(&self->refused) ||
           ab_node_session(self->node) != turn->session;
}

/* Before the receive thread leaves: the broker must hold every output's
 * last block (its end marker), or what is still queued in ZeroMQ would be
 * dropped at exit, silently. A broker that has gone silent, refused the
 * node or restarted is not waited for. */
static void s_wait_outputs_held(ab_processor_t *self)
{
    for (unsigned k = 0; k < self->n_inputs; k++) {
        const s_input_t *input = &self->inputs[k];
        unsigned n = atomic_load(&input->n_outputs);
        for (unsigned i = 0; i < n && !atomic_load(&self->refused); i++) {
            const s_output_t *out = &input->outputs[i];
            if (out->seq == 0 || !atomic_load(&out->accepted))
                continue; /* nothing published on it */
            s_delivery_turn_t turn = {self, ab_node_session(self->node)};
            ab_delivery_wait_t wait = {self->ctx, self->broker, out->stream, out->seq - 1, s_delivery_turn, &turn};
            if (ab_delivery_wait(&wait) != AB_DELIVERY_HELD)
                return; /* said why; the broker would not answer for the others either */
        }
    }
}

static void *s_receiver(void *arg)
{
    ab_processor_t *self = arg;
    char error[512];
    ab_pub_t *pub = ab_pub_new(self->ctx, ab_node_data_in(self->node), 4096);
    self->pub = pub;
    if (self->inline_processing) /* this thread is the processing thread */
        s_plugin_caller = self;
    if (!pub) {
        s_fail(self, "cannot create the data sockets");
        goto done;
    }
    if (ab_subscriber_open(self->subscriber, error, sizeof error) != 0) {
        s_fail(self, error);
        goto done;
    }
    int64_t flush_deadline = 0;
    for (;;) {
        if (self->inline_processing && atomic_load(&self->stop_threads) && !atomic_load(&self->worker_done))
            s_finish_processing(self);
        if (atomic_load(&self->stop_threads) && atomic_load(&self->worker_done)) {
            /* Let the last results out, for a bounded time. */
            if (!flush_deadline)
                flush_deadline = ab_clock_mono_ns() + 2000000000LL;
            s_publish_results(self, pub);
            if (ab_ring_read_space(self->out_ring) == 0 || ab_clock_mono_ns() > flush_deadline) {
                s_wait_outputs_held(self);
                break;
            }
            ab_clock_sleep_ms(5);
            continue;
        }
        ab_subscriber_poll(self->subscriber, s_results_may_come(self) ? AB_HOST_BUSY_POLL_MS : AB_HOST_IDLE_POLL_MS);
        s_wake_worker(self);
        s_publish_results(self, pub);
    }
done:
    ab_subscriber_close(self->subscriber);
    self->pub = NULL;
    ab_pub_destroy(&pub);
    atomic_store(&self->receiver_done, true);
    ab_node_wake(self->node);
    return NULL;
}

/* ---- processing thread -------------------------------------------------------- */

/* Activate an input's instance (again) for the block's shape. Outside
 * process(): may allocate. */
static bool s_activate(s_input_t *input, const s_in_header_t *h)
{
    ab_processor_t *self = input->processor;
    if (input->active) {
        ab_log_info("stream %s changed to %u Hz, %u ch, %s: re-activating plugin %s", input->stream, h->rate,
                    h->channels, ab_format_name((ab_format_t)h->format), self->plugin->name);
        self->plugin->deactivate(input->instance);
        input->active = false;
    }
    free(input->f32);
    input->f32 = malloc((size_t)AB_HOST_MAX_FRAMES * h->channels * sizeof(float));
    if (!input->f32) {
        s_input_fail(input, "out of memory for the conversion buffer");
        return false;
    }
    memset(&input->format, 0, sizeof input->format);
    input->format.struct_size = sizeof input->format;
    input->format.rate = h->rate;
    input->format.channels = h->channels;
    input->format.max_frames = AB_HOST_MAX_FRAMES;
    input->format.raw_format = h->format;
    input->format.stream = input->stream;
    char error[512] = "";
    if (self->plugin->activate(input->instance, &input->format, error, sizeof error) != AB_PLUGIN_OK) {
        char message[700];
        snprintf(message, sizeof message, "activate(%u Hz, %u ch) failed: %s", h->rate, h->channels,
                 error[0] ? error : "(no reason given)");
        s_input_fail(input, message);
        return false;
    }
    input->active = true;
    input->outputs_ended = false;
    s_post_outputs(self);
    return true;
}

/* Queue the end marker of every output of an input, after the results
 * published so far. The receive thread drains the queue (or, inline, this
 * thread does): wait for room a while. */
static void s_queue_output_ends(s_input_t *input, uint32_t rate)
{
    ab_processor_t *self = input->processor;
    unsigned n = atomic_load(&input->n_outputs);
    for (unsigned i = 0; i < n; i++) {
        s_out_header_t header;
        memset(&header, 0, sizeof header);
        header.output = (int32_t)i;
        header.input = input->index;
        header.channels = input->outputs[i].channels;
        header.rate = rate;
        header.kind = (uint8_t)input->outputs[i].kind;
        header.end = 1;
        header.frame0 = input->input_end;
        header.time_ns = input->input_end_ns;
        int tries = 0;
        while (ab_ring_write(self->out_ring, &header, sizeof header) != 0) {
            if (++tries > 2000) {
                atomic_fetch_add(&self->publish_drops, 1);
                break;
            }
            if (self->inline_processing && self->pub)
                s_publish_results(self, self->pub); /* no other thread drains it */
            ab_clock_sleep_ms(1);
        }
    }
    input->outputs_ended = true;
}

/* An input ended (its end marker, or the processor stops): deactivate its
 * instance, which may publish its last results, then end every output
 * after them. rate is the input's. Processing thread. */
static void s_end_outputs(s_input_t *input, uint32_t rate)
{
    if (input->active) {
        input->processor->plugin->deactivate(input->instance);
        input->active = false;
    }
    if (!input->outputs_ended && rate)
        s_queue_output_ends(input, rate);
}

static void s_process_block(s_input_t *input, const s_in_header_t *h, const uint8_t *samples)
{
    ab_processor_t *self = input->processor;
    if (!input->active || h->rate != input->format.rate || h->channels != input->format.channels ||
        h->format != input->format.raw_format)
        if (!s_activate(input, h))
            return;
    size_t sample_size = ab_format_size((ab_format_t)h->format);
    for (uint32_t done = 0; done < h->frames;) {
        uint32_t n = h->frames - done;
        if (n > AB_HOST_MAX_FRAMES)
            n = AB_HOST_MAX_FRAMES;
        const uint8_t *raw = samples + (size_t)done * h->channels * sample_size;
        ab_convert_to_f32((ab_format_t)h->format, raw, input->f32, (size_t)n * h->channels);
        ab_plugin_block_t block = {
            .struct_size = sizeof block,
            .frames = n,
            .channels = h->channels,
            .rate = h->rate,
            .seq = h->seq,
            .frame0 = h->frame0 + done,
            .time_ns = h->time_ns + (int64_t)((double)done * 1e9 / h->rate),
            .samples = input->f32,
            .raw = raw,
            .raw_format = h->format,
            .raw_bytes = (uint32_t)((size_t)n * h->channels * sample_size),
        };
        if (self->plugin->process(input->instance, &block) != AB_PLUGIN_OK) {
            s_input_fail(input, "process() returned an error");
            return;
        }
        done += n;
    }
    input->input_end = h->frame0 + h->frames;
    input->input_end_ns = h->time_ns + (int64_t)((double)h->frames * 1e9 / h->rate);
    atomic_fetch_add(&self->processed, 1);
}

/* Hand one record of an input (a block, a gap or the end) to its plugin
 * instance. Returns false when processing is over: every input ended and
 * the processor exits at the end. Processing thread. */
static bool s_handle_record(ab_processor_t *self, const s_in_header_t *h, const uint8_t *samples)
{
    if (h->input >= self->n_inputs)
        return true; /* cannot happen: the receive thread writes the records */
    s_input_t *input = &self->inputs[h->input];
    if (h->type == AB_HOST_GAP_RECORD) {
        /* Audio lost for good: tell a plugin that can hear it. */
        if (input->active &&
            self->plugin->struct_size >= offsetof(ab_plugin_descriptor_t, gap) + sizeof(void *) &&
            self->plugin->gap)
            self->plugin->gap(input->instance, h->frame0, h->gap_frames);
        return true;
    }
    /* Handled, for the broker's lag: an end marker or event too, so that an
     * input that ended or carries events does not look one block behind. */
    atomic_store_explicit(&input->last_seq, h->seq, memory_order_relaxed);
    if (h->type == AB_BLOCK_END) {
        ab_log_info("stream %s ended at frame %" PRIu64 " (seq %" PRIu64 ")", input->stream, h->frame0, h->seq);
        /* The run is over: the plugin flushes, the outputs end. A block
         * after this (the recorder started again) activates it anew. */
        input->input_end = h->frame0;
        input->input_end_ns = h->time_ns;
        s_end_outputs(input, h->rate);
        if (!input->ended) {
            input->ended = true;
            self->inputs_ended++;
        }
        return !self->exit_at_end || self->inputs_ended < self->n_inputs;
    }
    if (h->type != AB_BLOCK_EVENT) {
        s_process_block(input, h, samples);
        /* After process(), not in it: a plugin that logs much has its
         * lines printed before its queue fills. */
        if (ab_ring_read_space(self->log_ring) > ab_ring_capacity(self->log_ring) / 2)
            ab_node_wake(self->node);
    }
    return true;
}

/* Processing is over (the end, a stop or a failure): deactivate every
 * instance; after a clean stop end the outputs, as a recorder does.
 * Processing thread. */
static void s_finish_processing(ab_processor_t *self)
{
    bool failed = atomic_load(&self->failed);
    for (unsigned i = 0; i < self->n_inputs; i++) {
        s_input_t *input = &self->inputs[i];
        if (!failed) {
            s_end_outputs(input, input->format.rate);
        } else if (input->active) {
            self->plugin->deactivate(input->instance);
            input->active = false;
        }
    }
    atomic_store(&self->worker_done, true);
    ab_node_wake(self->node);
}

/* On a stop, how long the processing thread goes on with blocks already
 * queued: a plugin that is behind may have minutes of them. */
#define AB_HOST_STOP_DRAIN_NS 2000000000LL

static void *s_worker(void *arg)
{
    ab_processor_t *self = arg;
    s_plugin_caller = self;
    int64_t stop_deadline_ns = 0;
    while (!atomic_load(&self->failed)) {
        if (atomic_load(&self->stop_threads)) {
            int64_t now = ab_clock_mono_ns();
            if (!stop_deadline_ns) {
                stop_deadline_ns = now + AB_HOST_STOP_DRAIN_NS;
            } else if (now > stop_deadline_ns && ab_ring_read_space(self->in_ring) > 0) {
                ab_log_warn("stopping: plugin %s is behind; %zu bytes of blocks still queued for it are not "
                            "processed (the exit report's processed < received says how many blocks; to have "
                            "every block processed, let the stream end first and run with --exit-at-end)",
                            self->plugin->name, ab_ring_read_space(self->in_ring));
                break;
            }
        }
        s_in_header_t h;
        if (ab_ring_peek(self->in_ring, &h, sizeof h) != 0) {
            if (atomic_load(&self->stop_threads))
                break;
            /* Every queued record is posted for (s_wake_worker()), and so
             * is a stop: the timeout only bounds a wait nothing ends, one
             * idle wake-up a second (each costs the host; 16 processors'
             * 10 a second were measurable). */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            sem_timedwait(&self->in_ready, &ts);
            continue;
        }
        ab_ring_skip(self->in_ring, sizeof h);
        if (h.bytes)
            ab_ring_read(self->in_ring, self->raw, h.bytes);
        bool more = s_handle_record(self, &h, self->raw);
        /* this thread is its only writer: a store, not a locked add */
        uint64_t handled = atomic_load_explicit(&self->records_handled, memory_order_relaxed);
        atomic_store_explicit(&self->records_handled, handled + 1, memory_order_release);
        if (!more)
            break;
    }
    s_keep_receiver_off(self);
    s_finish_processing(self);
    return NULL;
}

/* ---- control thread ------------------------------------------------------------- */

static void s_drain_logs(ab_processor_t *self)
{
    s_log_record_t record;
    while (ab_ring_read(self->log_ring, &record, sizeof record) == 0)
        s_log_plugin_line(self, record.input < self->n_inputs ? record.input : 0, record.level, record.text);
}

static void s_stats(void *user, ab_ctl_msg_t *msg)
{
    ab_processor_t *self = user;
    ab_ctl_stat_set(msg, "blocks", ab_subscriber_received(self->subscriber));
    ab_ctl_stat_set(msg, "processed", atomic_load(&self->processed));
    ab_ctl_stat_set(msg, "gaps", atomic_load(&self->gaps));
    ab_ctl_stat_set(msg, "dropped", atomic_load(&self->dropped));
    ab_ctl_stat_set(msg, "bad", ab_subscriber_bad(self->subscriber));
    msg->n_input_seqs = self->n_inputs;
    for (unsigned i = 0; i < self->n_inputs; i++)
        msg->input_seqs[i] = atomic_load(&self->inputs[i].last_seq);
    ab_ctl_stat_set(msg, "last_seq", msg->input_seqs[0]); /* for brokers that do not read input_seqs */
    ab_ctl_stat_set(msg, "published", atomic_load(&self->published));
    ab_ctl_stat_set(msg, "publish_drops", atomic_load(&self->publish_drops));
    ab_ctl_stat_set(msg, "repaired", ab_subscriber_repaired(self->subscriber));
    ab_ctl_stat_set(msg, "duplicates", ab_subscriber_duplicates(self->subscriber));
    ab_ctl_stat_set(msg, "lost_frames", atomic_load(&self->lost_frames));
    ab_ctl_stat_set(msg, "held", ab_subscriber_pending(self->subscriber)); /* blocks waiting for a missing one */
    ab_ctl_stat_set(msg, "inline", atomic_load(&self->inline_records)); /* processed on the receive thread */
    ab_ctl_stat_set(msg, "handovers", atomic_load(&self->handovers));
}

/* A crash inside the plugin takes down this process only; say whose. */
static char s_crash_message[256];

static void s_crash_handler(int signo)
{
    (void)!write(2, s_crash_message, strlen(s_crash_message));
    signal(signo, SIG_DFL);
    _exit(70);
}

static void s_install_crash_handler(const char *plugin_name, const char *path)
{
    snprintf(s_crash_message, sizeof s_crash_message,
             "audiobus process: plugin \"%s\" (%s) crashed; this processor stops, the broker and other nodes "
             "are unaffected (to find the fault, run the same command under gdb or valgrind)\n",
             plugin_name, path);
    int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        signal(signals[i], s_crash_handler);
}

/* How long the control thread waits for the broker between turns. The
 * other threads wake it when they have work for it (outputs to announce,
 * done, failed, the plugin's log queue half full; ab_node_wake()) and the
 * node's own threads do not take stop signals, so the wait bounds little
 * more than how late the plugin's log lines are printed: every timer
 * wake-up costs the host
 * (20 ms waits took a sixth of a processor's CPU at 187.5 blocks/s). */
#define AB_HOST_CONTROL_WAIT_MS 250

/* One turn of the control thread: the broker's messages and heartbeats,
 * the outputs to announce, the plugin's log lines. */
static void s_control_turn(ab_processor_t *self)
{
    int rc = ab_node_poll(self->node, AB_HOST_CONTROL_WAIT_MS);
    atomic_store(&self->broker_silent, rc == AB_ETIMEOUT);
    if (rc == AB_ETIMEOUT)
        ab_log_limited(&self->gap_limiter, 5000, AB_LOG_WARN, "the broker has not answered for 3 heartbeats");
    if (rc == AB_EREFUSED && !atomic_load(&self->refused)) {
        if (self->announce_waiting)
            ab_log_error("the broker refused the outputs of processor %s (plugin %s): %s", self->name,
                         self->plugin->name, ab_node_reason(self->node));
        else
            ab_log_error("the broker refused processor %s: %s", self->name, ab_node_reason(self->node));
        self->announce_waiting = false;
        atomic_store(&self->refused, true);
    }
    s_announce_outputs(self);
    s_drain_logs(self);
}

int ab_processor_run(ab_processor_t *self)
{
    s_install_crash_handler(self->plugin->name, self->module.path);
    ab_log_set_name(self->name); /* log lines say which node wrote them */
    ab_node_set_stats_fn(self->node, s_stats, self);
    int rc = ab_node_register_or_explain(self->node, "processor", self->register_timeout_ms);
    if (rc)
        return rc;
    for (unsigned k = 0; k < self->n_inputs; k++)
        for (unsigned i = 0; i < self->inputs[k].n_hello_outputs; i++)
            atomic_store(&self->inputs[k].outputs[i].accepted, true);
    if ((!self->inline_processing &&
         (ab_signal_thread_create(&self->worker, s_worker, self) != 0 || !(self->worker_started = true))) ||
        ab_signal_thread_create(&self->receiver, s_receiver, self) != 0) {
        ab_log_error("cannot start the processor's threads");
        return AB_ENOMEM;
    }
    self->receiver_started = true;
    rc = ab_node_wait_linked(self->node, 5000);
    /* A wake that came meanwhile (outputs posted by a first activation)
     * was taken by that wait: the control loop's first turn must not wait. */
    ab_node_wake(self->node);
    if (rc == 0)
        ab_subscriber_set_linked(self->subscriber);
    if (rc == AB_ETIMEOUT)
        ab_log_warn("the broker has not confirmed the subscription to %s yet; blocks may be missed until it does",
                    self->n_inputs > 1 ? "the streams" : self->inputs[0].stream);
    if (self->n_inputs > 1)
        ab_log_info("processing %u streams (%s ... %s), one instance of plugin %s (%s) each, as node %s",
                    self->n_inputs, self->inputs[0].stream, self->inputs[self->n_inputs - 1].stream,
                    self->plugin->name, self->module.path, self->name);
    else
        ab_log_info("processing stream %s with plugin %s (%s) as node %s", self->inputs[0].stream,
                    self->plugin->name, self->module.path, self->name);
    while (!atomic_load(&self->worker_done) && !atomic_load(&self->failed) && !ab_signal_stop_requested() &&
           !atomic_load(&self->refused))
        s_control_turn(self);
    atomic_store(&self->stop_threads, true);
    sem_post(&self->in_ready);
    /* Serve the control plane until the last results and end markers are
     * out: outputs declared last still need the broker's answer. */
    while (!atomic_load(&self->receiver_done))
        s_control_turn(self);
    if (self->worker_started)
        pthread_join(self->worker, NULL);
    self->worker_started = false;
    pthread_join(self->receiver, NULL);
    self->receiver_started = false;
    s_drain_logs(self);
    if (atomic_load(&self->log_drops))
        ab_log_warn("plugin %s: %" PRIu64 " log line(s) dropped (it logged faster than they could be printed)",
                    self->plugin->name, (uint64_t)atomic_load(&self->log_drops));
    if (self->processing == AB_PROCESSING_ADAPTIVE)
        ab_log_info("blocks given to the plugin on the receive thread: %" PRIu64 " (the rest on the processing "
                    "thread); hand-overs to the processing thread: %" PRIu64,
                    (uint64_t)atomic_load(&self->inline_records), (uint64_t)atomic_load(&self->handovers));
    ab_log_info("received %" PRIu64 " blocks, processed %" PRIu64 ", lost in transit %" PRIu64
                ", dropped (queue full) %" PRIu64 ", bad %" PRIu64 ", repaired %" PRIu64 ", duplicates %" PRIu64
                ", published %" PRIu64,
                ab_subscriber_received(self->subscriber), (uint64_t)atomic_load(&self->processed),
                (uint64_t)atomic_load(&self->gaps), (uint64_t)atomic_load(&self->dropped),
                ab_subscriber_bad(self->subscriber), ab_subscriber_repaired(self->subscriber),
                ab_subscriber_duplicates(self->subscriber), (uint64_t)atomic_load(&self->published));
    if (ab_node_bye(self->node, 2000) != 0)
        ab_log_warn("the broker did not acknowledge goodbye");
    if (atomic_load(&self->refused))
        return AB_EREFUSED;
    if (atomic_load(&self->failed)) {
        ab_log_error("plugin %s failed: %s", self->plugin->name, self->fail_message);
        return AB_EPLUGIN;
    }
    return 0;
}

int ab_processor_describe_plugin(const char *plugin, char *error, size_t error_len)
{
    ab_plugin_module_t module;
    if (ab_plugin_module_load(&module, plugin, error, error_len))
        return AB_EPLUGIN;
    const ab_plugin_descriptor_t *d = module.descriptor;
    printf("plugin %s %s (%s)\n  %s\n", d->name, d->version ? d->version : "", module.path,
           d->description ? d->description : "");
    printf("parameters (--param KEY=VALUE):\n");
    for (const ab_plugin_param_info_t *p = d->params; p && p->key; p++)
        printf("  %-16s %s%s%s%s\n", p->key, p->help ? p->help : "", p->default_value ? " (default " : "",
               p->default_value ? p->default_value : "", p->default_value ? ")" : "");
    if (!d->params || !d->params[0].key)
        printf("  (none)\n");
    ab_plugin_module_unload(&module);
    return 0;
}
