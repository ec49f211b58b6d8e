/* bad_abi.c - test plugin built for a future ABI major (2): the host must refuse it. */
#include <audiobus/ab_plugin.h>

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    (void)host, (void)params, (void)n_params, (void)error, (void)error_len;
    return (void *)1;
}

static int32_t s_activate(void *self, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    (void)self, (void)format, (void)error, (void)error_len;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *self, const ab_plugin_block_t *block)
{
    (void)self, (void)block;
    return AB_PLUGIN_OK;
}

static void s_nothing(void *self)
{
    (void)self;
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = 2,
    .abi_minor = 0,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "bad_abi",
    .version = "1.0",
    .description = "declares ABI 2.0, which this host does not speak",
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_nothing,
    .destroy = s_nothing,
};
