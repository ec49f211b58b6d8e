/* ab_pub.h - publishes blocks to the broker's data-in socket.
 *
 * An XPUB connected to the broker's XSUB: the broker subscribes to
 * everything, and the arrival of that subscription is how a publisher knows
 * its data link is live (a plain PUB would drop every block sent before).
 * ZMQ_XPUB_NODROP makes a full queue push back instead of dropping, so a
 * publisher that outruns the network waits and loses nothing.
 * One thread owns an ab_pub_t.
 */
#ifndef AUDIOBUS_AB_PUB_H_INCLUDED
#define AUDIOBUS_AB_PUB_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "ab_block.h"
#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_pub ab_pub_t;

/* Connect to endpoint (the broker's data-in). Allocates its encode buffer
 * once. Returns NULL when the endpoint is bad or memory is short.
 * [owner-thread] */
AB_EXPORT ab_pub_t *ab_pub_new(void *zmq_ctx, const char *endpoint, int hwm);

AB_EXPORT void ab_pub_destroy(ab_pub_t **self_p);

/* Wait up to timeout_ms for the broker's subscription. Returns true once
 * the link is live (then it stays true). [owner-thread] */
AB_EXPORT bool ab_pub_wait_ready(ab_pub_t *self, int timeout_ms);

/* Encode and send one block as [topic][block], waiting up to timeout_ms
 * while the queue is full. Returns 0, AB_ETIMEOUT (not sent), the block's
 * validation error, or AB_EZMQ. [owner-thread] */
AB_EXPORT int ab_pub_send(ab_pub_t *self, const ab_block_t *block, int timeout_ms);

/* Send a block already encoded (msg, len bytes) on the stream's topic, as
 * ab_pub_send() does. [owner-thread] */
AB_EXPORT int ab_pub_send_encoded(ab_pub_t *self, const char *stream, const uint8_t *msg, size_t len,
                                  int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
