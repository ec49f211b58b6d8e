/* test_signal.c - a stop request wakes whoever waits on ab_signal_stop_fd(),
 * wherever it comes from: ab_signal_request_stop() on another thread, or a
 * SIGTERM that lands on a thread that does not wait for it (a PortAudio or
 * plugin thread), while the waiting thread has the signal blocked. The
 * waits are 30 s long: a wake that does not come fails the test, a slow
 * machine does not. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "audiobus/ab_clock.h"
#include "audiobus/ab_signal.h"
#include "check.h"

#define WAIT_MS 30000

static atomic_bool s_done;

/* A thread that has the stop signals unblocked but never waits for them. */
static void *s_bystander(void *arg)
{
    (void)arg;
    while (!atomic_load(&s_done))
        ab_clock_sleep_ms(5);
    return NULL;
}

static void *s_request_later(void *arg)
{
    (void)arg;
    ab_clock_sleep_ms(50);
    ab_signal_request_stop();
    return NULL;
}

/* Wait for the stop fd to be readable; reset it. Returns whether it was. */
static bool s_wait_stop_fd(void)
{
    struct pollfd item = {ab_signal_stop_fd(), POLLIN, 0};
    int rc = poll(&item, 1, WAIT_MS);
    uint64_t count = 0;
    if (rc == 1)
        CHECK(read(item.fd, &count, sizeof count) == (ssize_t)sizeof count && count >= 1, "read the wake count");
    return rc == 1 && (item.revents & POLLIN);
}

int main(void)
{
    CHECK(ab_signal_stop_fd() == -1, "no stop fd before ab_signal_install()");
    ab_signal_install();
    int fd = ab_signal_stop_fd();
    CHECK(fd >= 0, "a stop fd after ab_signal_install(), got %d", fd);
    if (fd < 0)
        return 1;
    struct pollfd item = {fd, POLLIN, 0};
    CHECK(poll(&item, 1, 0) == 0, "not readable before a stop");

    /* The bystander takes signals; this thread, like a node's waiting
     * thread whose signal went elsewhere, does not. */
    pthread_t bystander, requester;
    pthread_create(&bystander, NULL, s_bystander, NULL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* 1. ab_signal_request_stop() from another thread. */
    pthread_create(&requester, NULL, s_request_later, NULL);
    CHECK(s_wait_stop_fd(), "ab_signal_request_stop() on another thread wakes the wait");
    pthread_join(requester, NULL);
    CHECK(ab_signal_stop_requested(), "a stop is requested");
    CHECK(poll(&item, 1, 0) == 0, "reset by the read");

    /* 2. SIGTERM on the bystander thread (the first signal: a clean stop). */
    pthread_kill(bystander, SIGTERM);
    CHECK(s_wait_stop_fd(), "SIGTERM on another thread wakes the wait");

    atomic_store(&s_done, true);
    pthread_join(bystander, NULL);
    printf("%s: %d failure(s)\n", s_failures ? "FAIL" : "ok", s_failures);
    return s_failures ? 1 : 0;
}
