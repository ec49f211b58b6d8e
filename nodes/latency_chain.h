/* latency_chain.h - the path `audiobus latency --through-broker` measures:
 * a recorder, a broker and a player, started as child processes of the
 * audiobus executable on a stream of their own. The probes go from the
 * profiler's output into the recorder's input device, through the broker,
 * out of the player's output device and back into the profiler's input. */
#ifndef AUDIOBUS_NODES_LATENCY_CHAIN_H_INCLUDED
#define AUDIOBUS_NODES_LATENCY_CHAIN_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *broker;        /* a running broker's control endpoint; NULL: start one */
    const char *host_api;      /* for the recorder's and the player's devices */
    const char *record_device; /* NULL: the host API's default input */
    const char *play_device;   /* NULL: the host API's default output */
    uint32_t rate;
    uint32_t block_frames;     /* the recorder's block */
    double play_latency_ms;    /* the player's jitter buffer target */
    const char *log_level;     /* the children's --log-level */
} latency_chain_config_t;

typedef struct latency_chain latency_chain_t;

/* Start the broker (unless given), the player and the recorder. Returns
 * NULL after writing what failed into error (and stopping what started). */
latency_chain_t *latency_chain_start(const latency_chain_config_t *config, char *error, size_t error_len);

/* Stop the recorder, the player and the broker (if started here), free.
 * Returns 0 when each exited cleanly, 1 otherwise (after saying which).
 * NULL-safe. */
int latency_chain_stop(latency_chain_t **self_p);

const char *latency_chain_broker(const latency_chain_t *self);
const char *latency_chain_stream(const latency_chain_t *self);
double latency_chain_play_latency_ms(const latency_chain_t *self);

/* For ab_latency_config_t.check: AB_EDEVICE, after writing which, when a
 * child exited; else 0. */
int latency_chain_check(void *self, char *error, size_t error_len);

#endif
