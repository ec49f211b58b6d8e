/* ab_plugin_loader.h - find a plugin shared object, load it, and check its
 * descriptor and parameters before any of its code runs beyond the loader. */
#ifndef AUDIOBUS_AB_PLUGIN_LOADER_H_INCLUDED
#define AUDIOBUS_AB_PLUGIN_LOADER_H_INCLUDED

#include <stddef.h>

#include "audiobus/ab_plugin.h"

typedef struct {
    void *handle;                             /* from dlopen */
    const ab_plugin_descriptor_t *descriptor; /* validated */
    char path[4096];                          /* where it was found */
} ab_plugin_module_t;

/* Resolve name_or_path: a value with a '/' is a path; otherwise NAME.so
 * (or NAME) is looked up in $AUDIOBUS_PLUGIN_PATH (colon-separated), in
 * ../plugins beside the executable (the build tree), then in the installed
 * plugin directory. Loads it and checks ABI major, struct size, name and
 * functions. Returns 0, or AB_EPLUGIN after writing a message naming the
 * plugin, the problem and the fix into error. [control-thread] */
int ab_plugin_module_load(ab_plugin_module_t *module, const char *name_or_path, char *error, size_t error_len);

/* Refuse keys the plugin does not declare. Returns 0 or AB_EPLUGIN with a
 * message listing the known keys. [control-thread] */
int ab_plugin_module_check_params(const ab_plugin_module_t *module, const ab_plugin_param_t *params,
                                  uint32_t n_params, char *error, size_t error_len);

void ab_plugin_module_unload(ab_plugin_module_t *module);

#endif
