/* fails.c - test plugin that reports a fatal error through host->fail() on
 * its fourth block; the processor must stop and exit non-zero with it. */
#include <audiobus/ab_plugin.h>
#include <stdlib.h>

#define FAIL_AFTER_BLOCKS 3

typedef struct {
    const ab_plugin_host_t *host;
    uint64_t blocks;
} fails_t;

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    (void)params, (void)n_params, (void)error, (void)error_len;
    fails_t *fails = calloc(1, sizeof *fails);
    if (fails)
        fails->host = host;
    return fails;
}

static int32_t s_activate(void *self, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    (void)self, (void)format, (void)error, (void)error_len;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *self, const ab_plugin_block_t *block)
{
    fails_t *fails = self;
    (void)block;
    if (++fails->blocks > FAIL_AFTER_BLOCKS)
        fails->host->fail(fails->host->host_data,
                          "disk quota exceeded writing the feature log (free some space, or set a smaller log)");
    return AB_PLUGIN_OK;
}

static void s_deactivate(void *self)
{
    (void)self;
}

static void s_destroy(void *self)
{
    free(self);
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "fails",
    .version = "1.0",
    .description = "calls host->fail() after a few blocks",
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
