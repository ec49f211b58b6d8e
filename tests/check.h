/* check.h - the checks of the C tests. CHECK(cond, fmt, ...) counts a
 * condition that does not hold and prints it with its file, line and the
 * values the format names, then goes on, so that one run shows every
 * failure. Thread-safe. A test's main returns s_failures ? 1 : 0. */
#ifndef AUDIOBUS_TESTS_CHECK_H_INCLUDED
#define AUDIOBUS_TESTS_CHECK_H_INCLUDED

#include <stdatomic.h>
#include <stdio.h>

static atomic_int s_failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            atomic_fetch_add(&s_failures, 1);                                                                \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
        }                                                                                                    \
    } while (0)

#endif
