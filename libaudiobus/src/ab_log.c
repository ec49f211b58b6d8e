/* ab_log.c - leveled logging with Python-logging-style line formats. */
#include "audiobus/ab_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "audiobus/ab_clock.h"
#include "audiobus/ab_error.h"

#define AB_LOG_DEFAULT_FORMAT "%(asctime)s %(name)s %(levelname)s %(message)s"

static _Atomic int s_level = AB_LOG_INFO;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_name[64] = "audiobus";
static char s_format[256] = AB_LOG_DEFAULT_FORMAT;

static const char *const s_level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

int ab_log_level_parse(const char *name, ab_log_level_t *level)
{
    static const struct {
        const char *name;
        ab_log_level_t level;
    } names[] = {{"error", AB_LOG_ERROR}, {"critical", AB_LOG_ERROR}, {"fatal", AB_LOG_ERROR},
                 {"warn", AB_LOG_WARN},   {"warning", AB_LOG_WARN},   {"info", AB_LOG_INFO},
                 {"debug", AB_LOG_DEBUG}, {"trace", AB_LOG_TRACE}};
    if (!name)
        return AB_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *level = names[i].level;
            return 0;
        }
    return AB_EINVAL;
}

void ab_log_set_level(ab_log_level_t level)
{
    atomic_store(&s_level, (int)level);
}

ab_log_level_t ab_log_get_level(void)
{
    return (ab_log_level_t)atomic_load(&s_level);
}

bool ab_log_enabled(ab_log_level_t level)
{
    return (int)level <= atomic_load(&s_level);
}

void ab_log_set_name(const char *name)
{
    pthread_mutex_lock(&s_lock);
    snprintf(s_name, sizeof s_name, "%s", name ? name : "audiobus");
    pthread_mutex_unlock(&s_lock);
}

void ab_log_set_format(const char *format)
{
    pthread_mutex_lock(&s_lock);
    snprintf(s_format, sizeof s_format, "%s", format ? format : AB_LOG_DEFAULT_FORMAT);
    pthread_mutex_unlock(&s_lock);
}

/* Append src to the line, truncating at the line's end. */
static void s_append(char *line, size_t cap, size_t *len, const char *src)
{
    size_t n = strlen(src);
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(line + *len, src, n);
    *len += n;
    line[*len] = '\0';
}

/* Expand the %(...)s placeholders of the format; anything else is literal. */
static void s_render(char *line, size_t cap, ab_log_level_t level, const char *message)
{
    char stamp[40];
    int64_t now = ab_clock_wall_ns();
    time_t secs = (time_t)(now / 1000000000);
    struct tm tm;
    localtime_r(&secs, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ",%03d", (int)((now / 1000000) % 1000));
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());

    size_t len = 0;
    line[0] = '\0';
    for (const char *p = s_format; *p && len + 1 < cap;) {
        static const struct {
            const char *token;
            int which;
        } tokens[] = {{"%(asctime)s", 0}, {"%(levelname)s", 1}, {"%(name)s", 2}, {"%(message)s", 3},
                      {"%(process)d", 4}};
        bool matched = false;
        for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
            size_t tl = strlen(tokens[i].token);
            if (strncmp(p, tokens[i].token, tl) == 0) {
                const char *values[] = {stamp, s_level_names[level], s_name, message, pid};
                s_append(line, cap, &len, values[tokens[i].which]);
                p += tl;
                matched = true;
                break;
            }
        }
        if (!matched) {
            line[len++] = *p++;
            line[len] = '\0';
        }
    }
}

static void s_vlog(ab_log_level_t level, const char *fmt, va_list args)
{
    char message[1024];
    vsnprintf(message, sizeof message, fmt, args);
    char line[1400];
    pthread_mutex_lock(&s_lock);
    s_render(line, sizeof line, level, message);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    pthread_mutex_unlock(&s_lock);
}

void ab_log(ab_log_level_t level, const char *fmt, ...)
{
    if (!ab_log_enabled(level))
        return;
    va_list args;
    va_start(args, fmt);
    s_vlog(level, fmt, args);
    va_end(args);
}

void ab_log_limited(ab_log_limiter_t *limiter, int interval_ms, ab_log_level_t level, const char *fmt, ...)
{
    if (!ab_log_enabled(level))
        return;
    int64_t now = ab_clock_mono_ns();
    if (limiter->last_ns && now - limiter->last_ns < (int64_t)interval_ms * 1000000) {
        limiter->suppressed++;
        return;
    }
    limiter->last_ns = now;
    if (limiter->suppressed) {
        ab_log(level, "(%llu similar messages suppressed)", (unsigned long long)limiter->suppressed);
        limiter->suppressed = 0;
    }
    va_list args;
    va_start(args, fmt);
    s_vlog(level, fmt, args);
    va_end(args);
}
