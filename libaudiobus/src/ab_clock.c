/* ab_clock.c - wall and monotonic clocks, absolute sleeps. */
#include "audiobus/ab_clock.h"

#include <time.h>

static int64_t s_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ab_clock_wall_ns(void)
{
    return s_ns(CLOCK_REALTIME);
}

int64_t ab_clock_mono_ns(void)
{
    return s_ns(CLOCK_MONOTONIC);
}

void ab_clock_sleep_until(int64_t deadline_ns)
{
    /* A deadline already passed costs no system call: in a VM arming a
     * timer, even an expired one, is the dearest part of a sleep, and
     * a pacing loop that has fallen behind calls this once a block. */
    if (ab_clock_mono_ns() >= deadline_ns)
        return;
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

void ab_clock_sleep_ms(int ms)
{
    ab_clock_sleep_until(ab_clock_mono_ns() + (int64_t)ms * 1000000);
}
