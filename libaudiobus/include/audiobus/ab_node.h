/* ab_node.h - a node's side of the control plane: a DEALER connected to the
 * broker's ROUTER that registers (hello/welcome), heartbeats with the node's
 * counters, learns when its data link is confirmed, and says goodbye.
 *
 * One thread owns an ab_node_t: the node's control thread.
 */
#ifndef AUDIOBUS_AB_NODE_H_INCLUDED
#define AUDIOBUS_AB_NODE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ab_ctl.h"
#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ab_node ab_node_t;

/* Fills msg's stats (ab_ctl_stat_set) for the next heartbeat.
 * [control-thread] */
typedef void(ab_node_stats_fn)(void *user, ab_ctl_msg_t *msg);

/* Connect to the broker's control endpoint. hello is copied (cmd, host and
 * pid are filled in). zmq_ctx is the process's ZeroMQ context (not owned).
 * Returns NULL and writes why into error on a bad endpoint. [control-thread] */
AB_EXPORT ab_node_t *ab_node_new(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *hello,
                                 char *error, size_t error_len);

/* Say nothing, close the socket, free. NULL-safe. [control-thread] */
AB_EXPORT void ab_node_destroy(ab_node_t **self_p);

/* Send hello and wait up to timeout_ms for welcome. Returns 0; AB_EREFUSED
 * (ab_node_reason() says why); AB_ETIMEOUT when no broker answered;
 * AB_EINTR when a stop signal arrived. [control-thread] */
AB_EXPORT int ab_node_register(ab_node_t *self, int timeout_ms);

/* ab_node_register(), logging why it failed as an error a person can act
 * on: "the broker refused KIND NAME: <reason>" or "no broker answered at
 * ENDPOINT within N ms (start one with `audiobus broker`, or check
 * --broker)". kind names the node for people ("recorder", "player"...).
 * Returns as ab_node_register(). [control-thread] */
AB_EXPORT int ab_node_register_or_explain(ab_node_t *self, const char *kind, int timeout_ms);

/* Handle control messages for up to timeout_ms (less when a heartbeat is
 * due first, ab_node_wake() is called or a stop is requested, see
 * ab_signal_stop_fd()) and send a heartbeat when
 * one is due (its counters from the stats function). When the broker has
 * been silent for 3 heartbeat intervals, or says it no longer knows the
 * node, the node offers hello again every interval until a broker answers
 * (a new session; see ab_node_session()). Returns 0; AB_ETIMEOUT while
 * the broker is silent; AB_EREFUSED when a refuse came meanwhile (for
 * outputs given to ab_node_announce(), or a hello offered again), with
 * ab_node_reason() saying why. [control-thread] */
AB_EXPORT int ab_node_poll(ab_node_t *self, int timeout_ms);

/* End the control thread's current or next wait in ab_node_poll() at once,
 * e.g. when a data thread has something for it to do; wakes that come
 * before the wait count once. One write() to an eventfd: never blocks,
 * but not for a real-time thread's steady path. [any-thread] */
AB_EXPORT void ab_node_wake(ab_node_t *self);

/* Send bye and wait up to timeout_ms for the broker's bye. Returns 0 or
 * AB_ETIMEOUT. [control-thread] */
AB_EXPORT int ab_node_bye(ab_node_t *self, int timeout_ms);

/* Change the streams the node publishes to these n_outputs (copied, at
 * most AB_CTL_MAX_STREAMS), e.g. once a processor's plugin has declared
 * them and the input's rate is known. When registered, the node says hello
 * again at once with every output: the broker keeps its session and records
 * them, answering welcome (ab_node_announced() turns true) or refuse when
 * another node publishes one of them (ab_node_poll() returns AB_EREFUSED;
 * the registration stands with the outputs accepted before). Otherwise the
 * next hello carries them. Returns 0, AB_EINVAL for an output that breaks
 * the protocol's rules, or AB_EZMQ. [control-thread] */
AB_EXPORT int ab_node_announce(ab_node_t *self, const ab_ctl_output_t *outputs, uint32_t n_outputs);

/* True while registered with no announced outputs left unanswered: the
 * broker knows every stream the node publishes. [control-thread] */
AB_EXPORT bool ab_node_announced(const ab_node_t *self);

/* Wait up to timeout_ms for the broker to confirm the data link (linked).
 * Returns 0, AB_ETIMEOUT or AB_EINTR. [control-thread] */
AB_EXPORT int ab_node_wait_linked(ab_node_t *self, int timeout_ms);

AB_EXPORT void ab_node_set_stats_fn(ab_node_t *self, ab_node_stats_fn *fn, void *user);

/* Called for each message from the broker that the node does not handle
 * itself (resend, replaying). [control-thread] */
typedef void(ab_node_message_fn)(void *user, const ab_ctl_msg_t *msg);
AB_EXPORT void ab_node_set_message_fn(ab_node_t *self, ab_node_message_fn *fn, void *user);
AB_EXPORT bool ab_node_linked(const ab_node_t *self);
/* How many times the broker has confirmed the data link: once more after
 * every data connection remade and every registration anew, so a data
 * thread can tell that blocks may have passed it by meanwhile. [any-thread] */
AB_EXPORT uint64_t ab_node_links(const ab_node_t *self);
/* The current session; changes when the node registers again. [any-thread] */
AB_EXPORT uint64_t ab_node_session(const ab_node_t *self);
/* The broker's data endpoints, made connectable. Valid after register. */
AB_EXPORT const char *ab_node_data_in(const ab_node_t *self);
AB_EXPORT const char *ab_node_data_out(const ab_node_t *self);
/* The broker's reason for the last refuse or error. */
AB_EXPORT const char *ab_node_reason(const ab_node_t *self);
/* The subscription topic that confirms this node's link: "$link/<session>".
 * [control-thread]; data threads build it from ab_node_session(). */
AB_EXPORT const char *ab_node_link_topic(const ab_node_t *self);

/* Send one request (e.g. list) and return the raw reply in a buffer the
 * caller frees. Used by clients such as `audiobus ls`. Returns 0,
 * AB_ETIMEOUT or AB_EZMQ. [control-thread] */
AB_EXPORT int ab_node_request(void *zmq_ctx, const char *broker_endpoint, const ab_ctl_msg_t *request,
                              int timeout_ms, uint8_t **reply, size_t *reply_len);

/* As ab_node_request(), but a stop signal (SIGINT, SIGTERM) does not cut
 * the wait short: for the questions a node asks while it shuts down, e.g.
 * whether the broker holds its last blocks (a second signal still exits at
 * once). [any-thread] */
AB_EXPORT int ab_node_request_while_stopping(void *zmq_ctx, const char *broker_endpoint,
                                             const ab_ctl_msg_t *request, int timeout_ms, uint8_t **reply,
                                             size_t *reply_len);

/* This machine's host name (static storage). [any-thread] */
AB_EXPORT const char *ab_node_hostname(void);

#ifdef __cplusplus
}
#endif

#endif
