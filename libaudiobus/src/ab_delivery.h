/* ab_delivery.h - at a publisher's end, waiting until the broker holds
 * what it published.
 *
 * Blocks sent are queued in ZeroMQ, thousands of them behind a busy
 * broker, and a process that exits drops what its sockets still hold once
 * their linger is over: a stream's tail and its end marker, silently. So a
 * publisher that leaves (a recorder at its end, a processor's outputs)
 * first asks the broker how far it holds the stream - a replay query for
 * the last seq alone, whose answer is clipped to what the broker has seen -
 * until the answer reaches that seq.
 * Internal to libaudiobus.
 */
#ifndef AUDIOBUS_AB_DELIVERY_H_INCLUDED
#define AUDIOBUS_AB_DELIVERY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    AB_DELIVERY_HELD,       /* the broker holds the stream up to last_seq */
    AB_DELIVERY_UNANSWERED, /* the broker did not answer (said in the log) */
    AB_DELIVERY_LATE,       /* it still lacked blocks when the wait ran out (said in the log) */
    AB_DELIVERY_STOPPED,    /* the turn function asked to stop waiting */
} ab_delivery_t;

typedef struct {
    void *zmq_ctx;
    const char *broker; /* control endpoint */
    const char *stream;
    uint64_t last_seq;  /* the stream's last block sent (its end marker) */
    /* Called between two questions (every 20 ms), e.g. to serve resends;
     * returns true to stop waiting. NULL: none. */
    bool (*turn)(void *user);
    void *user;
} ab_delivery_wait_t;

/* Ask the broker until it holds wait->stream up to wait->last_seq, for 30 s
 * at most; a broker that leaves 10 questions (1 s each) unanswered is
 * given up on. What may be lost, and what to check, is logged as a warning
 * or error. [publishing thread] */
ab_delivery_t ab_delivery_wait(const ab_delivery_wait_t *wait);

#endif
