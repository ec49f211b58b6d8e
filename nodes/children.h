/* children.h - child processes of the audiobus executable itself (a broker, a
 * recorder...) that a subcommand starts, waits for and stops by PID. */
#ifndef AUDIOBUS_NODES_CHILDREN_H_INCLUDED
#define AUDIOBUS_NODES_CHILDREN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The path of the running executable (/proc/self/exe). False when unknown. */
bool child_self_path(char *out, size_t cap);

/* Start exe with argv (argv[0] is exe, argv[1] the subcommand). With
 * stdout_to_stderr the child's standard output goes to this process's
 * standard error (keeps a parent's own stdout clean, e.g. for JSON).
 * The child gets SIGTERM when the calling thread ends, so a parent that is
 * killed leaves no children running: call it from the thread that stops
 * the children (the main thread). The child runs in a process group of its
 * own, so that a terminal's Ctrl-C reaches the parent alone: the parent
 * stops its children (child_stop) when it is asked to stop.
 * Returns the PID, or -1 after printing "audiobus COMMAND: cannot start ...". */
pid_t child_start(const char *command, const char *exe, char *const argv[], bool stdout_to_stderr);

/* The first line of a file (e.g. a broker's --ready-file) without its
 * newline; false when the file is missing or empty. */
bool child_read_line(const char *path, char *out, size_t cap);

/* Wait for pid up to timeout_ms (0: just look); returns its exit status
 * (128 + signal when killed), or -1 if it is still running. */
int child_wait(pid_t pid, int timeout_ms);

/* Stop a child cleanly (SIGTERM), or with SIGKILL after 5 s; returns its
 * exit status. pid <= 0: nothing to do, returns 0. */
int child_stop(const char *command, pid_t pid, const char *what);

#endif
