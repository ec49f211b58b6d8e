/* ab_zutil.h - small ZeroMQ helpers shared by the broker and the nodes. */
#ifndef AUDIOBUS_AB_ZUTIL_H_INCLUDED
#define AUDIOBUS_AB_ZUTIL_H_INCLUDED

/* Receive and discard the remaining frames of a message whose frame count
 * was wrong, so the next receive starts at a message boundary. */
void ab_zutil_drain(void *socket);

/* Make a socket notice a dead or stalled peer within a few seconds
 * (ZMTP heartbeats: a ping every second, the connection dropped after 3 s
 * without traffic) and, for connecting sockets, come back quickly: connect
 * attempts time out after 2 s and are retried at most every second. A fresh
 * connection avoids TCP's retransmission back-off after a long network cut;
 * what was lost meanwhile is repaired by sequence number. */
void ab_zutil_set_liveness(void *socket);

/* Give a connecting socket a random routing id of its own (16 bytes, set
 * before connect). The broker's ROUTER then knows the node again when its
 * connection is remade after a network cut, before or after the broker has
 * noticed the old connection is dead (ZMQ_ROUTER_HANDOVER), so the node
 * keeps its registration and session instead of colliding with its own
 * stale entry. Returns 0, or -1 when no random bytes could be had (the
 * socket then keeps ZeroMQ's own id). [any-thread, socket's owner] */
int ab_zutil_set_random_routing_id(void *socket);

#endif
