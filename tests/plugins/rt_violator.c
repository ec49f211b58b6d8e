/* rt_violator.c - test plugin that breaks the real-time rules in process()
 * on purpose, one way per `what=` value (malloc, lock, sleep, file), so that
 * test_plugin_rt shows it catches each kind of forbidden call. */
#define _GNU_SOURCE
#include <audiobus/ab_plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char what[16];
} violator_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static const ab_plugin_param_info_t s_params[] = {
    {"what", "malloc", "the forbidden call made in process(): malloc, lock, sleep or file"},
    {NULL, NULL, NULL},
};

static void *s_create(const ab_plugin_host_t *host, const ab_plugin_param_t *params, uint32_t n_params, char *error,
                      uint32_t error_len)
{
    (void)host, (void)error, (void)error_len;
    violator_t *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    strcpy(v->what, "malloc");
    for (uint32_t i = 0; i < n_params; i++)
        if (strcmp(params[i].key, "what") == 0)
            snprintf(v->what, sizeof v->what, "%s", params[i].value);
    return v;
}

static int32_t s_activate(void *self, const ab_plugin_format_t *format, char *error, uint32_t error_len)
{
    (void)self, (void)format, (void)error, (void)error_len;
    return AB_PLUGIN_OK;
}

static int32_t s_process(void *self, const ab_plugin_block_t *block)
{
    violator_t *v = self;
    if (block->seq % 50 != 7)
        return AB_PLUGIN_OK;
    if (strcmp(v->what, "lock") == 0) {
        pthread_mutex_lock(&s_lock);
        pthread_mutex_unlock(&s_lock);
    } else if (strcmp(v->what, "sleep") == 0) {
        struct timespec t = {0, 1000};
        nanosleep(&t, NULL);
    } else if (strcmp(v->what, "file") == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f)
            fclose(f);
    } else {
        /* volatile: the compiler would remove a malloc/free pair it sees. */
        void *volatile p = malloc(block->frames + 1);
        free(p);
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
    .name = "rt_violator",
    .version = "1",
    .description = "breaks the real-time rules in process() (for tests)",
    .params = s_params,
    .create = s_create,
    .activate = s_activate,
    .process = s_process,
    .deactivate = s_deactivate,
    .destroy = s_destroy,
};
