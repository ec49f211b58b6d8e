/* ab_log.h - leveled, thread-safe logging to stderr, with rate limiting.
 *
 * Never call these from the audio thread (the PortAudio callback or a
 * plugin's process): they format text and take a lock. Count problems there
 * in atomics and log them from the control thread.
 */
#ifndef AUDIOBUS_AB_LOG_H_INCLUDED
#define AUDIOBUS_AB_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AB_LOG_ERROR = 0,
    AB_LOG_WARN = 1,
    AB_LOG_INFO = 2,
    AB_LOG_DEBUG = 3,
    AB_LOG_TRACE = 4
} ab_log_level_t;

/* Parse a level name: error, warn/warning, info, debug, trace, and the
 * Python logging names (critical, WARNING, ...), case-insensitive.
 * Returns 0, or AB_EINVAL for an unknown name. [any-thread] */
AB_EXPORT int ab_log_level_parse(const char *name, ab_log_level_t *level);

/* Only messages at or below level are written. Default AB_LOG_INFO.
 * [any-thread] */
AB_EXPORT void ab_log_set_level(ab_log_level_t level);
AB_EXPORT ab_log_level_t ab_log_get_level(void);
AB_EXPORT bool ab_log_enabled(ab_log_level_t level);

/* Name printed with each line (e.g. "broker"); copied. [control-thread] */
AB_EXPORT void ab_log_set_name(const char *name);

/* Line format with Python logging's placeholders: %(asctime)s,
 * %(levelname)s, %(name)s, %(message)s, %(process)d. NULL restores the
 * default "%(asctime)s %(name)s %(levelname)s %(message)s". Copied.
 * [control-thread] */
AB_EXPORT void ab_log_set_format(const char *format);

/* Write one line. [any-thread except the audio thread] */
AB_EXPORT void ab_log(ab_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ab_log_error(...) ab_log(AB_LOG_ERROR, __VA_ARGS__)
#define ab_log_warn(...) ab_log(AB_LOG_WARN, __VA_ARGS__)
#define ab_log_info(...) ab_log(AB_LOG_INFO, __VA_ARGS__)
#define ab_log_debug(...) ab_log(AB_LOG_DEBUG, __VA_ARGS__)

/* Rate limiter for messages that a peer can trigger at will: at most one
 * line per interval, the next line telling how many were suppressed.
 * Zero-initialise. Not shared between threads. */
typedef struct {
    int64_t last_ns;
    uint64_t suppressed;
} ab_log_limiter_t;

/* Log through a limiter allowing one line per interval_ms.
 * [one thread per limiter] */
AB_EXPORT void ab_log_limited(ab_log_limiter_t *limiter, int interval_ms, ab_log_level_t level, const char *fmt,
                              ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
