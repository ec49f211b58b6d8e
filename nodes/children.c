/* children.c - start, wait for and stop child processes of the audiobus executable. */
#include "children.h"

#include <audiobus/audiobus.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

bool child_self_path(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0)
        return false;
    out[n] = '\0';
    return true;
}

pid_t child_start(const char *command, const char *exe, char *const argv[], bool stdout_to_stderr)
{
    /* The child tells an exec failure through this pipe (closed by a
     * successful exec), so the parent can name it. */
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        fprintf(stderr, "audiobus %s: cannot start %s: %s\n", command, argv[1], strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until execv: the parent may have
         * threads. A parent that is killed (a test's timeout, kill -9) takes
         * its children with it instead of leaving them running: they get
         * SIGTERM, which every node handles as a clean stop. */
        int error = 0;
        /* A process group of its own: a terminal's Ctrl-C (SIGINT to the
         * foreground group) then reaches the command alone, which stops its
         * nodes in their order (recorders before the broker), instead of
         * every node at once and the parent's stop arriving as a second
         * signal. */
        if (setpgid(0, 0) != 0)
            error = errno;
        else if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            error = ECHILD; /* the parent died before the request took */
        else if (stdout_to_stderr && dup2(2, 1) < 0)
            error = errno;
        else {
            execv(exe, argv);
            error = errno;
        }
        ssize_t ignored = write(report[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int error = pid < 0 ? errno : 0;
    if (pid > 0) {
        ssize_t n;
        do
            n = read(report[0], &error, sizeof error);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof error)
            error = 0; /* closed by exec: started */
        else
            waitpid(pid, NULL, 0);
    }
    close(report[0]);
    if (error != 0) {
        fprintf(stderr, "audiobus %s: cannot start %s: %s\n", command, argv[1], strerror(error));
        return -1;
    }
    return pid;
}

bool child_read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok && out[0];
}

int child_wait(pid_t pid, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (done < 0)
            return -1;
        if (waited >= timeout_ms)
            return -1;
        ab_clock_sleep_ms(20);
    }
}

int child_stop(const char *command, pid_t pid, const char *what)
{
    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    int status = child_wait(pid, 5000);
    if (status < 0) {
        fprintf(stderr, "audiobus %s: %s did not stop within 5 s; killing it\n", command, what);
        kill(pid, SIGKILL);
        status = child_wait(pid, 2000);
    }
    return status;
}
