/* ab_broker.h - the broker: re-publishes every block from its XSUB (data
 * in) to its XPUB (data out), checks and counts them per stream, and keeps
 * the registry of nodes on its ROUTER (control): hello, heartbeat, bye, list.
 *
 * One thread runs ab_broker_run(); it owns all three sockets. A malformed
 * message on any socket is dropped, counted and logged with rate limiting;
 * it never stops the broker serving the others.
 */
#ifndef AUDIOBUS_AB_BROKER_H_INCLUDED
#define AUDIOBUS_AB_BROKER_H_INCLUDED

#include <stddef.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_broker ab_broker_t;

typedef struct {
    const char *control_endpoint;  /* ROUTER bind; NULL: all interfaces, port 5550 */
    const char *data_in_endpoint;  /* XSUB bind; NULL: control port + 1 */
    const char *data_out_endpoint; /* XPUB bind; NULL: control port + 2 */
    int heartbeat_ms;              /* interval nodes are told to use; 0: 1000 */
    int heartbeat_misses;          /* intervals without a word before a node is forgotten; 0: 3 */
    double history_seconds;        /* audio kept per stream for replays; 0: 10 s; < 0: none */
    int subscriber_hwm;            /* blocks queued per subscriber before drops; 0: AB_BROKER_DEFAULT_HWM */
} ab_broker_config_t;

/* Blocks queued per subscriber before the broker drops for it: 2.7 s of a
 * subscriber taking 32 streams of 256-frame blocks at 48 kHz, so that the
 * burst a broker sends after a stall of a second or two (a busy host) is
 * queued, not dropped and then replayed. A subscriber's queue holds
 * references to the blocks the broker relays to every subscriber. */
#define AB_BROKER_DEFAULT_HWM 16384

/* Bind the three sockets. Returns NULL on failure after writing what failed
 * and what to do into error (capacity error_len). [control-thread] */
AB_EXPORT ab_broker_t *ab_broker_new(const ab_broker_config_t *config, char *error, size_t error_len);

/* Destroy; NULL-safe, safe twice, NULLs the pointer. [control-thread] */
AB_EXPORT void ab_broker_destroy(ab_broker_t **self_p);

/* The endpoints as bound (with the port ZeroMQ chose for "*").
 * Valid until destroy. [any-thread] */
AB_EXPORT const char *ab_broker_control_endpoint(const ab_broker_t *self);
AB_EXPORT const char *ab_broker_data_in_endpoint(const ab_broker_t *self);
AB_EXPORT const char *ab_broker_data_out_endpoint(const ab_broker_t *self);

/* Serve until ab_broker_stop() or a stop signal (ab_signal.h). Returns 0.
 * [the broker's thread] */
AB_EXPORT int ab_broker_run(ab_broker_t *self);

/* Ask ab_broker_run() to return within 100 ms. [any-thread] */
AB_EXPORT void ab_broker_stop(ab_broker_t *self);

#ifdef __cplusplus
}
#endif

#endif
