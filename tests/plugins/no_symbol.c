/* no_symbol.c - test plugin whose descriptor is exported under another name
 * than audiobus_plugin: the host must refuse it and say what to export. */
#include <audiobus/ab_plugin.h>

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin_v1 = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(ab_plugin_descriptor_t),
    .name = "no_symbol",
};
