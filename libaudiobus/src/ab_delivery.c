/* ab_delivery.c - waiting until the broker holds a stream's last block (see ab_delivery.h). */
#include "ab_delivery.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_clock.h"
#include "audiobus/ab_ctl.h"
#include "audiobus/ab_log.h"
#include "audiobus/ab_node.h"

/* How long a publisher waits at most (its queue may hold thousands of
 * blocks behind a busy broker: seconds at most). */
#define AB_DELIVERY_WAIT_MS 30000
/* Questions (1 s each) left unanswered before it stops waiting: a broker
 * busy relaying answers its control socket late. */
#define AB_DELIVERY_UNANSWERED_MAX 10
#define AB_DELIVERY_QUESTION_MS 1000
#define AB_DELIVERY_TURN_MS 20

/* How far the broker holds the stream: the newest seq up to last_seq, into
 * *newest. Returns false when it does not answer. */
static bool s_broker_holds(const ab_delivery_wait_t *wait, uint64_t *newest)
{
    ab_ctl_msg_t query;
    memset(&query, 0, sizeof query);
    query.cmd = AB_CMD_REPLAY;
    snprintf(query.stream, sizeof query.stream, "%s", wait->stream);
    query.from_seq = query.to_seq = wait->last_seq;
    uint8_t *reply = NULL;
    size_t len = 0;
    ab_ctl_msg_t answer;
    bool ok = ab_node_request_while_stopping(wait->zmq_ctx, wait->broker, &query, AB_DELIVERY_QUESTION_MS, &reply,
                                             &len) == 0 &&
              ab_ctl_decode(&answer, reply, len) == 0 && answer.cmd == AB_CMD_REPLAYING;
    free(reply);
    if (ok)
        *newest = answer.from_seq <= answer.to_seq ? answer.to_seq : 0;
    return ok;
}

ab_delivery_t ab_delivery_wait(const ab_delivery_wait_t *wait)
{
    int64_t deadline = ab_clock_mono_ns() + (int64_t)AB_DELIVERY_WAIT_MS * 1000000;
    int unanswered = 0;
    uint64_t newest = 0;
    for (;;) {
        if (s_broker_holds(wait, &newest)) {
            if (newest >= wait->last_seq)
                return AB_DELIVERY_HELD;
            unanswered = 0;
        } else if (++unanswered >= AB_DELIVERY_UNANSWERED_MAX) {
            ab_log_warn("the broker does not answer: it may not have received the last blocks of %s (up to its "
                        "end marker, seq %" PRIu64 "); `audiobus ls` shows the stream's last_seq, and its "
                        "consumers report what they did not get",
                        wait->stream, wait->last_seq);
            return AB_DELIVERY_UNANSWERED;
        }
        if (ab_clock_mono_ns() > deadline) {
            ab_log_error("after %d s the broker holds %s only up to seq %" PRIu64 ": blocks %" PRIu64 "..%" PRIu64
                         " (the end marker included) are lost unless they still arrive; the broker cannot keep "
                         "up: give it fewer processors or streams, or faster hosts",
                         AB_DELIVERY_WAIT_MS / 1000, wait->stream, newest, newest + 1, wait->last_seq);
            return AB_DELIVERY_LATE;
        }
        if (wait->turn && wait->turn(wait->user))
            return AB_DELIVERY_STOPPED;
        ab_clock_sleep_ms(AB_DELIVERY_TURN_MS);
    }
}
