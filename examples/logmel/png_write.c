/* png_write.c - writes an 8-bit greyscale picture as PNG (see png_write.h). */
#include "png_write.h"

#include <errno.h>
#include <setjmp.h>
#include <string.h>

#include <png.h>

typedef struct {
    char *error;
    size_t error_len;
} png_context_t;

/* libpng reports errors here and expects no return: jump back to
 * logmel_png_write() with the message saved. */
static void s_on_error(png_structp png, png_const_charp message)
{
    png_context_t *ctx = png_get_error_ptr(png);
    int err = errno;
    if (err != 0)
        snprintf(ctx->error, ctx->error_len, "%s (%s)", message, strerror(err));
    else
        snprintf(ctx->error, ctx->error_len, "%s", message);
    png_longjmp(png, 1);
}

static void s_on_warning(png_structp png, png_const_charp message)
{
    (void)png, (void)message;
}

int logmel_png_write(FILE *file, const uint8_t *pixels, uint32_t width, uint32_t height, char *error,
                     size_t error_len)
{
    png_context_t ctx = {.error = error, .error_len = error_len};
    if (width == 0 || height == 0 || width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX) {
        snprintf(error, error_len, "a picture of %u x %u pixels cannot be a PNG", width, height);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, s_on_error, s_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(error, error_len, "out of memory for libpng");
        return -1;
    }
    errno = 0;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    /* libpng refuses widths above 1000000 unless told otherwise: a long
     * recording is wider than that. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_init_io(png, file);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * width);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fflush(file) != 0) {
        snprintf(error, error_len, "%s", strerror(errno));
        return -1;
    }
    return 0;
}
