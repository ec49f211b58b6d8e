/* ab_signal.c - clean shutdown on the first SIGINT/SIGTERM, hard exit on the second. */
#include "audiobus/ab_signal.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int s_stop_count;
static atomic_bool s_stop_requested;

static void s_handler(int signo)
{
    (void)signo;
    if (atomic_fetch_add(&s_stop_count, 1) >= 1) {
        static const char msg[] = "audiobus: second signal, exiting now\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(130);
    }
}

void ab_signal_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool ab_signal_stop_requested(void)
{
    return atomic_load(&s_stop_count) > 0 || atomic_load(&s_stop_requested);
}

void ab_signal_request_stop(void)
{
    atomic_store(&s_stop_requested, true); /* not a signal: a later SIGINT still drains cleanly */
}
