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

#endif
