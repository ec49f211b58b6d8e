/* missing_fn.c - test plugin whose descriptor has no process(): the host
 * must refuse it at load time, before anything calls through NULL. */
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

static void s_nothing(void *self)
{
    (void)self;
}

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "missing_fn",
    .version = "1.0",
    .description = "has no process function",
    .create = s_create,
    .activate = s_activate,
    .process = NULL,
    .deactivate = s_nothing,
    .destroy = s_nothing,
};
