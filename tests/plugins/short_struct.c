/* short_struct.c - test plugin whose struct_size claims a descriptor too
 * short to hold the functions: the host must not read past it. */
#include <audiobus/ab_plugin.h>

AB_PLUGIN_EXPORT const ab_plugin_descriptor_t audiobus_plugin = {
    .abi_major = AB_PLUGIN_ABI_MAJOR,
    .abi_minor = AB_PLUGIN_ABI_MINOR,
    .struct_size = 12,
    .name = "short_struct",
};
