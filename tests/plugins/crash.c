/* crash.c - test plugin whose process() writes through a NULL pointer on its
 * fifth block: only its own processor may die. */
#include <audiobus/ab_plugin.h>
#include <stdlib.h>

#define CRASH_AFTER_BLOCKS 4

typedef struct {
    uint64_t blocks;
} crash_t;

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    (void)host, (void)params, (void)n_params, (void)error, (void)error_len;
    return calloc(1, sizeof(crash_t));
}

static int32_t s_activate(void *self, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    (void)self, (void)format, (void)error, (void)error_len;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *self, const ab_plugin_block_t *block)
{
    crash_t *crash = self;
    (void)block;
    if (++crash->blocks > CRASH_AFTER_BLOCKS) {
        /* volatile: the compiler may not drop or reorder the faulting store */
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
    }
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
    .name = "crash",
    .version = "1.0",
    .description = "crashes (SIGSEGV) in process() after a few blocks",
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
