/* ab_error.h - error codes shared by every audiobus function.
 *
 * Functions that can fail return 0 or a negative AB_E... code. One X-macro
 * makes the enum, ab_strerror() and ab_err_name(), so they cannot drift.
 */
#ifndef AUDIOBUS_AB_ERROR_H_INCLUDED
#define AUDIOBUS_AB_ERROR_H_INCLUDED

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, message) */
#define AB_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(ETRUNC, -3, "message truncated")                                         \
    X(ETYPE, -4, "wrong msgpack type for a field")                             \
    X(EVERSION, -5, "unsupported protocol version")                            \
    X(ETOOBIG, -6, "size exceeds a protocol limit")                            \
    X(EMISSING, -7, "required field missing")                                  \
    X(EFORMAT, -8, "unknown sample format")                                    \
    X(ERANGE, -9, "value out of range")                                        \
    X(ESIZE, -10, "sample payload size does not match frames x channels")    \
    X(EFULL, -11, "buffer full")                                               \
    X(EEMPTY, -12, "buffer empty")                                             \
    X(EZMQ, -13, "ZeroMQ error")                                               \
    X(EIO, -14, "input/output error")                                          \
    X(EDEVICE, -15, "audio device error")                                      \
    X(EPLUGIN, -16, "plugin error")                                            \
    X(ETIMEOUT, -17, "timed out")                                              \
    X(EREFUSED, -18, "refused by the broker")                                  \
    X(ECONFIG, -19, "bad configuration")                                       \
    X(ENAME, -20, "invalid name")                                              \
    X(ECMD, -21, "unknown command")                                            \
    X(EFRAMES, -22, "wrong number of message frames")                          \
    X(EINTR, -23, "interrupted")                                               \
    X(EEXTRA, -24, "trailing bytes after the message")

typedef enum {
    AB_OK = 0,
#define AB_ERR_ENUM(name, value, msg) AB_##name = (value),
    AB_ERRNO_MAP(AB_ERR_ENUM)
#undef AB_ERR_ENUM
} ab_error_t;

/* Human-readable message for an AB_E... code ("unknown error" otherwise).
 * Returns a static string. [any-thread] */
AB_EXPORT const char *ab_strerror(int err);

/* Symbolic name of an AB_E... code, e.g. "AB_ETRUNC". Static string.
 * [any-thread] */
AB_EXPORT const char *ab_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif
