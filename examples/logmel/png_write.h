/* png_write.h - writes an 8-bit greyscale picture as PNG (libpng), for the logmel plugin. */
#ifndef LOGMEL_PNG_WRITE_H_INCLUDED
#define LOGMEL_PNG_WRITE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Write width x height grey levels (rows top to bottom, width bytes each,
 * 0 = black) to file as a PNG, then flush it; file stays open and owned by
 * the caller. width and height are 1 .. 2^31 - 1. Returns 0, or -1 after
 * writing what failed to error (libpng's message, and errno's text when the
 * system reported one). Not real-time: allocates and writes. [control-thread] */
int logmel_png_write(FILE *file, const uint8_t *pixels, uint32_t width, uint32_t height, char *error,
                     size_t error_len);

#endif
