/* ab_signal.c - clean shutdown on the first SIGINT/SIGTERM, hard exit on the second. */
#include "audiobus/ab_signal.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "audiobus/ab_clock.h"

static atomic_int s_stop_count;
static atomic_bool s_stop_requested;
static pid_t s_parent; /* the parent process at install time */
static atomic_llong s_parent_signal_ns; /* when the parent's first stop signal came, 0: none */
static atomic_int s_stop_fd = -1; /* an eventfd written on a stop (see ab_signal_stop_fd()); never closed */

/* Wake whoever waits on the stop fd; it stays readable (a latch: nobody
 * reads it, so no waiter takes another's wake-up). Called after the stop
 * is recorded, so that a waiter that checks ab_signal_stop_requested()
 * before polling cannot miss it. Async-signal-safe. */
static void s_wake_waiters(void)
{
    int fd = atomic_load(&s_stop_fd);
    uint64_t one = 1;
    if (fd >= 0)
        (void)!write(fd, &one, sizeof one);
}

static void s_handler(int signo, siginfo_t *info, void *context)
{
    (void)signo, (void)context;
    int saved_errno = errno; /* the thread it interrupted may be about to read errno */
    /* A parent that dies sends its children the parent-death signal (set
     * by children.c) once for each of its threads the kernel hands them to
     * as it exits, all within milliseconds: signals from the parent within
     * a second of its first are that one request, not a second signal. */
    if (info && info->si_code == SI_USER && s_parent > 1 && info->si_pid == s_parent) {
        long long now = ab_clock_mono_ns(), first = 0; /* clock_gettime: async-signal-safe */
        if (!atomic_compare_exchange_strong(&s_parent_signal_ns, &first, now) && now - first < 1000000000LL) {
            errno = saved_errno;
            return;
        }
    }
    if (atomic_fetch_add(&s_stop_count, 1) >= 1) {
        static const char msg[] = "audiobus: second signal, exiting now\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(130);
    }
    s_wake_waiters(); /* the signal may have landed on a thread that does not wait for it */
    errno = saved_errno;
}

/* The signals that ask for a stop. */
static void s_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void ab_signal_install(void)
{
    /* The fd first: a signal right after sigaction() must find it. -1 when
     * out of descriptors: waits then end at their timeout. */
    if (atomic_load(&s_stop_fd) < 0)
        atomic_store(&s_stop_fd, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    s_parent = getppid();
    sa.sa_sigaction = s_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A process started from a thread of ab_signal_thread_create() inherits
     * its blocked stop signals across exec: take them again. */
    sigset_t stop_signals;
    s_stop_signals(&stop_signals);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
}

bool ab_signal_stop_requested(void)
{
    return atomic_load(&s_stop_count) > 0 || atomic_load(&s_stop_requested);
}

void ab_signal_request_stop(void)
{
    atomic_store(&s_stop_requested, true); /* not a signal: a later SIGINT still drains cleanly */
    s_wake_waiters();
}

int ab_signal_stop_fd(void)
{
    return atomic_load(&s_stop_fd);
}

int ab_signal_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
    sigset_t stop_signals, old;
    s_stop_signals(&stop_signals);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old); /* a new thread inherits its creator's mask */
    int rc = pthread_create(thread, NULL, start, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
