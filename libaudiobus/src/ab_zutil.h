/* ab_zutil.h - small ZeroMQ helpers shared by the broker and the nodes. */
#ifndef AUDIOBUS_AB_ZUTIL_H_INCLUDED
#define AUDIOBUS_AB_ZUTIL_H_INCLUDED

/* Receive and discard the remaining frames of a message whose frame count
 * was wrong, so the next receive starts at a message boundary. */
void ab_zutil_drain(void *socket);

#endif
