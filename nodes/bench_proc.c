/* bench_proc.c - a node's CPU time and resident memory, from /proc. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

long long bench_proc_cpu_ticks(pid_t pid, pid_t tid)
{
    char path[96], line[1024];
    if (tid > 0)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return -1;
    unsigned long long utime, stime;
    /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (long long)(utime + stime);
}

double bench_proc_rss_kb(pid_t pid)
{
    /* statm, not status: the kernel fills status's forty-odd fields on
     * every read, and bench reads this for every node while it measures. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    unsigned long long size_pages, resident_pages;
    int fields = fscanf(f, "%llu %llu", &size_pages, &resident_pages);
    fclose(f);
    if (fields != 2)
        return -1;
    return (double)resident_pages * (double)sysconf(_SC_PAGESIZE) / 1024.0;
}

double bench_proc_cpu_percent(long long ticks, double seconds)
{
    long hz = sysconf(_SC_CLK_TCK);
    if (ticks < 0 || seconds <= 0 || hz <= 0)
        return -1;
    return 100.0 * (double)ticks / (double)hz / seconds;
}
