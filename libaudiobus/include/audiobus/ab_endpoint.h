/* ab_endpoint.h - ZeroMQ endpoint strings: deriving the broker's data
 * endpoints from its control endpoint, and turning a wildcard address the
 * broker bound into one a node can connect to. */
#ifndef AUDIOBUS_AB_ENDPOINT_H_INCLUDED
#define AUDIOBUS_AB_ENDPOINT_H_INCLUDED

#include <stddef.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AB_ENDPOINT_MAX 256

/* The endpoint offset ports above control: tcp://H:P gives tcp://H:P+offset
 * (tcp://H:* stays tcp://H:*), ipc://PATH gives ipc://PATH.in (offset 1)
 * or ipc://PATH.out (offset 2), inproc likewise. Returns 0, or AB_EINVAL
 * for an endpoint it cannot parse (out is then ""). [any-thread] */
AB_EXPORT int ab_endpoint_offset(const char *control, int offset, char *out, size_t cap);

/* Make a bound endpoint connectable: when bound's host is "*", "0.0.0.0"
 * or "[::]", replace it with the host of via (the endpoint the node used to
 * reach the broker). Other endpoints are copied. Returns 0 or AB_EINVAL.
 * [any-thread] */
AB_EXPORT int ab_endpoint_resolve(const char *bound, const char *via, char *out, size_t cap);

/* True for tcp://, ipc:// and inproc:// endpoints with something after the
 * scheme; used to check user input before ZeroMQ sees it. [any-thread] */
AB_EXPORT int ab_endpoint_valid(const char *endpoint);

#ifdef __cplusplus
}
#endif

#endif
