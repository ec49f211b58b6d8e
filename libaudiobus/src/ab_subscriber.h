/* ab_subscriber.h - a node's subscription to one or more streams through
 * the broker, shared by every node that consumes streams (processors,
 * players).
 *
 * It owns the data thread's sockets: one SUB connected to the broker's data
 * out, subscribed to every stream, to "$link/<session>" (the broker confirms
 * the node's link when it sees that subscription) and to the node's replay
 * topic; and one DEALER on the broker's control endpoint for replay
 * requests. Each stream's blocks go through its own ab_repair, so the
 * `deliver` callback sees each block of a stream exactly once and in
 * sequence order, and `lost` reports what could not be had, with its exact
 * frame range; both get the stream's own user pointer. It follows the
 * node's session when the node registers again (a restarted broker).
 *
 * Life cycle: ab_subscriber_new() and ab_subscriber_destroy() on the
 * control thread; ab_subscriber_open(), _poll() and _close() on the one data
 * thread that uses the sockets; the counters from any thread.
 * Internal to libaudiobus.
 */
#ifndef AUDIOBUS_AB_SUBSCRIBER_H_INCLUDED
#define AUDIOBUS_AB_SUBSCRIBER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audiobus/ab_block.h"
#include "audiobus/ab_node.h"

typedef struct ab_subscriber ab_subscriber_t;

typedef struct {
    /* The next block of the stream, in order (samples valid during the
     * call only). [data-thread] */
    void (*deliver)(void *user, const ab_block_t *block);
    /* Blocks [from_seq, to_seq] are lost for good: frames [frame0, frame0 +
     * frames) (frames 0 when the range is unknown). Delivery goes on after
     * them. [data-thread] */
    void (*lost)(void *user, uint64_t from_seq, uint64_t to_seq, uint64_t frame0, uint64_t frames);
} ab_subscriber_callbacks_t;

/* A stream subscribed to, and the user pointer its callbacks get. */
typedef struct {
    const char *name;
    void *user;
} ab_subscriber_stream_t;

typedef struct {
    const char *broker;       /* control endpoint, for replay requests */
    const ab_subscriber_stream_t *streams; /* distinct names */
    size_t n_streams;         /* at least 1 */
    size_t repair_window;     /* blocks held while a missing one is repaired */
    int give_up_ms;           /* how long a missing block is waited for */
    int retry_ms;             /* how often the request is repeated meanwhile */
    uint32_t backlog_ms;      /* on joining, first the last backlog_ms the broker holds; 0: live only */
} ab_subscriber_config_t;

/* A subscription for node (registered before ab_subscriber_open(); not
 * owned). Strings are copied. NULL when out of memory. [control-thread] */
ab_subscriber_t *ab_subscriber_new(void *zmq_ctx, ab_node_t *node, const ab_subscriber_config_t *config,
                                   const ab_subscriber_callbacks_t *callbacks);

/* Free. The data thread must have closed it (or never opened it).
 * NULL-safe. [control-thread] */
void ab_subscriber_destroy(ab_subscriber_t **self_p);

/* Create and connect the sockets. Returns 0, or AB_EZMQ after writing
 * what failed into error. [data-thread] */
int ab_subscriber_open(ab_subscriber_t *self, char *error, size_t error_len);

/* Close the sockets. NULL-safe, safe twice. [data-thread] */
void ab_subscriber_close(ab_subscriber_t *self);

/* Wait up to timeout_ms for blocks (and for replay answers, for 10 s after
 * a request), deliver what is in order, ask again for what is missing,
 * give up what waited too long.
 * [data-thread] */
void ab_subscriber_poll(ab_subscriber_t *self, int timeout_ms);

/* The broker confirmed the link: the subscriptions are in force, so a
 * backlog asked for now can reach the data thread. [any-thread] */
void ab_subscriber_set_linked(ab_subscriber_t *self);

/* Counters. [any-thread] */
uint64_t ab_subscriber_received(const ab_subscriber_t *self);   /* blocks taken off the socket */
uint64_t ab_subscriber_bad(const ab_subscriber_t *self);        /* malformed or foreign messages ignored */
uint64_t ab_subscriber_repaired(const ab_subscriber_t *self);   /* missing blocks that came later */
uint64_t ab_subscriber_duplicates(const ab_subscriber_t *self); /* blocks that came twice */
uint64_t ab_subscriber_pending(const ab_subscriber_t *self);    /* blocks held for a missing one */
/* The counters are sums over the subscription's streams. */

#endif
