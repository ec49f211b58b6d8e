/* test_signal.c - a stop request makes ab_signal_stop_fd() readable, and it
 * stays readable, wherever the request comes from: ab_signal_request_stop()
 * on another thread, or a SIGTERM that lands on a thread that does not
 * wait for it (a PortAudio or plugin thread) while the waiting thread has
 * the signal blocked. A stop is for the life of a process, so each case
 * runs in a child process of its own. The waits are 30 s long: a wake that
 * does not come fails the test, a slow machine does not. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
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

/* In a fresh child: install, start the bystander, block the stop signals
 * on this thread, let trigger request a stop, wait on the fd. Returns the
 * failures seen. */
static int s_case(const char *name, void (*trigger)(pthread_t bystander))
{
    ab_signal_install();
    int fd = ab_signal_stop_fd();
    CHECK(fd >= 0, "%s: a stop fd after ab_signal_install(), got %d", name, fd);
    if (fd < 0)
        return s_failures;
    struct pollfd item = {fd, POLLIN, 0};
    CHECK(poll(&item, 1, 0) == 0, "%s: not readable before a stop", name);
    pthread_t bystander;
    pthread_create(&bystander, NULL, s_bystander, NULL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    trigger(bystander);
    CHECK(poll(&item, 1, WAIT_MS) == 1 && (item.revents & POLLIN), "%s: the stop wakes the wait", name);
    CHECK(ab_signal_stop_requested(), "%s: a stop is requested", name);
    CHECK(poll(&item, 1, 0) == 1, "%s: and the fd stays readable for every waiter", name);
    atomic_store(&s_done, true);
    pthread_join(bystander, NULL);
    return s_failures;
}

static void s_request_from_thread(pthread_t bystander)
{
    (void)bystander;
    pthread_t requester;
    pthread_create(&requester, NULL, s_request_later, NULL);
    pthread_detach(requester);
}

static void s_sigterm_to_bystander(pthread_t bystander)
{
    pthread_kill(bystander, SIGTERM); /* the first signal: a clean stop */
}

static void s_run(const char *name, void (*trigger)(pthread_t bystander))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(s_case(name, trigger) ? 1 : 0);
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "%s: fork and wait", name);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the case passed (status %d)", name, status);
}

int main(void)
{
    CHECK(ab_signal_stop_fd() == -1, "no stop fd before ab_signal_install()");
    s_run("ab_signal_request_stop() on another thread", s_request_from_thread);
    s_run("SIGTERM on another thread", s_sigterm_to_bystander);
    printf("%s: %d failure(s)\n", s_failures ? "FAIL" : "ok", s_failures);
    return s_failures ? 1 : 0;
}
