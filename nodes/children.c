/* children.c - start, wait for and stop child processes of the audiobus executable. */
#include "children.h"

#include <audiobus/audiobus.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

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
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdout_to_stderr)
        posix_spawn_file_actions_adddup2(&actions, 2, 1);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        fprintf(stderr, "audiobus %s: cannot start %s: %s\n", command, argv[1], strerror(rc));
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
