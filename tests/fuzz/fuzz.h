/* fuzz.h - what the fuzz targets share: the libFuzzer entry point and a check that traps. */
#ifndef AUDIOBUS_TESTS_FUZZ_H_INCLUDED
#define AUDIOBUS_TESTS_FUZZ_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Called once per input by libFuzzer, or by replay_main.c where libFuzzer
 * is not available. Returns 0; a broken property traps. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test. When it does not hold, say which and
 * with what values, then trap: libFuzzer saves the input as a crash, and
 * replay_main.c saves it from its signal handler. */
#define FUZZ_CHECK(cond, ...)                                                                                \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: property broken: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            fflush(stderr);                                                                                  \
            __builtin_trap();                                                                                \
        }                                                                                                    \
    } while (0)

#endif
