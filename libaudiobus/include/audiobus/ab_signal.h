/* ab_signal.h - SIGINT/SIGTERM handling shared by every node: the first
 * signal asks for a clean shutdown, a second one exits at once. */
#ifndef AUDIOBUS_AB_SIGNAL_H_INCLUDED
#define AUDIOBUS_AB_SIGNAL_H_INCLUDED

#include <pthread.h>
#include <stdbool.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Install handlers for SIGINT and SIGTERM, ignore SIGPIPE. Call once from
 * main before starting threads. The first signal asks for a clean stop, a
 * second one exits at once, except that signals from the parent process
 * within 1 s of its first count once (a dying parent's parent-death
 * signal comes once per thread it had). [control-thread] */
AB_EXPORT void ab_signal_install(void);

/* True once SIGINT or SIGTERM arrived (or ab_signal_request_stop ran).
 * [any-thread], real-time safe. */
AB_EXPORT bool ab_signal_stop_requested(void);

/* Ask for the same clean shutdown a signal would. [any-thread] */
AB_EXPORT void ab_signal_request_stop(void);

/* A file descriptor (an eventfd) that becomes readable when a stop is
 * requested, by a signal on any thread or by ab_signal_request_stop(), and
 * stays readable: add it to a poll() (for POLLIN) while
 * ab_signal_stop_requested() is false, to end a wait at once. Do not read
 * it: every waiter of the process shares it. It stays open for the life of
 * the process. -1 before ab_signal_install(), or when no descriptor was
 * left then. [any-thread] */
AB_EXPORT int ab_signal_stop_fd(void);

/* pthread_create() for a node's data or processing thread: the thread
 * (and any it starts, e.g. a plugin's) does not take SIGINT or SIGTERM,
 * so that they go to the control thread (the main thread of audiobus's
 * nodes) and end its wait at once instead of at its next turn. A program
 * such a thread starts inherits the blocked signals: unblock them in it
 * (posix_spawnattr_setsigmask; ab_signal_install() does). The caller's
 * signal mask is unchanged on return. Returns 0 or pthread_create()'s
 * error. [control-thread] */
AB_EXPORT int ab_signal_thread_create(pthread_t *thread, void *(*start)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif
