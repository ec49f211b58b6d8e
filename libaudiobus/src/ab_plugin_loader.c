/* ab_plugin_loader.c - locate, dlopen and validate processor plugins. */
#include "ab_plugin_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audiobus/ab_error.h"

#ifndef AB_PLUGIN_INSTALL_DIR
#define AB_PLUGIN_INSTALL_DIR "/usr/local/lib/audiobus/plugins"
#endif

/* The smallest descriptor this host can use: through destroy(). */
#define AB_DESCRIPTOR_MIN_SIZE (offsetof(ab_plugin_descriptor_t, destroy) + sizeof(void (*)(void *)))

static bool s_try(char *out, size_t cap, const char *dir, const char *name, const char *suffix)
{
    snprintf(out, cap, "%s/%s%s", dir, name, suffix);
    return access(out, R_OK) == 0;
}

static bool s_search_dir(char *out, size_t cap, const char *dir, const char *name)
{
    return s_try(out, cap, dir, name, ".so") || s_try(out, cap, dir, name, "");
}

/* Fill path with the first match; searched lists the places tried. */
static bool s_find(const char *name, char *path, size_t cap, char *searched, size_t searched_cap)
{
    size_t used = 0;
    searched[0] = '\0';
    const char *env = getenv("AUDIOBUS_PLUGIN_PATH");
    if (env && *env) {
        char *copy = strdup(env);
        char *save = NULL;
        for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
            used += (size_t)snprintf(searched + used, used < searched_cap ? searched_cap - used : 0, "%s%s",
                                     used ? ", " : "", dir);
            if (s_search_dir(path, cap, dir, name)) {
                free(copy);
                return true;
            }
        }
        free(copy);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char dir[PATH_MAX + 16];
            snprintf(dir, sizeof dir, "%s/../plugins", exe);
            used += (size_t)snprintf(searched + used, used < searched_cap ? searched_cap - used : 0, "%s%s",
                                     used ? ", " : "", dir);
            if (s_search_dir(path, cap, dir, name))
                return true;
        }
    }
    used += (size_t)snprintf(searched + used, used < searched_cap ? searched_cap - used : 0, "%s%s",
                             used ? ", " : "", AB_PLUGIN_INSTALL_DIR);
    return s_search_dir(path, cap, AB_PLUGIN_INSTALL_DIR, name);
}

int ab_plugin_module_load(ab_plugin_module_t *module, const char *name_or_path, char *error, size_t error_len)
{
    memset(module, 0, sizeof *module);
    if (strchr(name_or_path, '/')) {
        snprintf(module->path, sizeof module->path, "%s", name_or_path);
    } else {
        char searched[2048];
        if (!s_find(name_or_path, module->path, sizeof module->path, searched, sizeof searched)) {
            snprintf(error, error_len,
                     "plugin \"%s\" not found (searched %s; give a path, or add its directory to "
                     "AUDIOBUS_PLUGIN_PATH)",
                     name_or_path, searched);
            return AB_EPLUGIN;
        }
    }
    module->handle = dlopen(module->path, RTLD_NOW | RTLD_LOCAL);
    if (!module->handle) {
        snprintf(error, error_len, "cannot load plugin \"%s\": %s", module->path, dlerror());
        return AB_EPLUGIN;
    }
    const ab_plugin_descriptor_t *d = dlsym(module->handle, AB_PLUGIN_ENTRY_SYMBOL);
    const char *problem = NULL;
    char detail[256] = "";
    if (!d) {
        problem = "exports no \"" AB_PLUGIN_ENTRY_SYMBOL "\" symbol";
        snprintf(detail, sizeof detail, "define `AB_PLUGIN_EXPORT const ab_plugin_descriptor_t %s` (see ab_plugin.h)",
                 AB_PLUGIN_ENTRY_SYMBOL);
    } else if (d->abi_major != AB_PLUGIN_ABI_MAJOR) {
        problem = "has an incompatible ABI";
        snprintf(detail, sizeof detail, "it was built for ABI %u.%u, this audiobus hosts %u.x: rebuild it against "
                                        "this audiobus's ab_plugin.h",
                 d->abi_major, d->abi_minor, AB_PLUGIN_ABI_MAJOR);
    } else if (d->struct_size < AB_DESCRIPTOR_MIN_SIZE) {
        problem = "has a truncated descriptor";
        snprintf(detail, sizeof detail, "struct_size %u < %zu: set struct_size = sizeof(ab_plugin_descriptor_t)",
                 d->struct_size, (size_t)AB_DESCRIPTOR_MIN_SIZE);
    } else {
        const char *missing = !d->name       ? "name"
                              : !d->create   ? "create"
                              : !d->activate ? "activate"
                              : !d->process  ? "process"
                              : !d->deactivate ? "deactivate"
                              : !d->destroy  ? "destroy"
                                             : NULL;
        if (missing) {
            problem = "has a descriptor with a missing name or function";
            snprintf(detail, sizeof detail,
                     "%s is NULL; name, create, activate, process, deactivate and destroy are all required", missing);
        }
    }
    if (problem) {
        snprintf(error, error_len, "plugin \"%s\" %s (%s)", module->path, problem, detail);
        dlclose(module->handle);
        module->handle = NULL;
        return AB_EPLUGIN;
    }
    module->descriptor = d;
    return 0;
}

int ab_plugin_module_check_params(const ab_plugin_module_t *module, const ab_plugin_param_t *params,
                                  uint32_t n_params, char *error, size_t error_len)
{
    const ab_plugin_descriptor_t *d = module->descriptor;
    for (uint32_t i = 0; i < n_params; i++) {
        bool known = false;
        for (const ab_plugin_param_info_t *p = d->params; p && p->key; p++)
            if (strcmp(p->key, params[i].key) == 0)
                known = true;
        if (known)
            continue;
        char list[1024] = "";
        size_t used = 0;
        for (const ab_plugin_param_info_t *p = d->params; p && p->key; p++)
            used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s%s",
                                     used ? ", " : "", p->key);
        snprintf(error, error_len, "plugin \"%s\" has no parameter \"%s\" (known: %s)", d->name, params[i].key,
                 list[0] ? list : "none");
        return AB_EPLUGIN;
    }
    return 0;
}

void ab_plugin_module_unload(ab_plugin_module_t *module)
{
    if (module->handle)
        dlclose(module->handle);
    memset(module, 0, sizeof *module);
}
