/* ab_pa.c - PortAudio initialisation, device lookup and listing, shared by
 * every class that opens a device. */
#include "ab_pa.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audiobus/ab_clock.h"
#include "audiobus/ab_error.h"
#include "audiobus/ab_log.h"

void ab_pa_set_jack_client_name(const char *name)
{
    /* Looked up at run time: pa_jack.h's function exists only in a
     * PortAudio built with JACK. */
    typedef PaError (*set_name_fn)(const char *);
    set_name_fn set_name = (set_name_fn)dlsym(RTLD_DEFAULT, "PaJack_SetClientName");
    if (set_name && name)
        set_name(name);
}

bool ab_pa_stop_stream(PaStream *stream, bool abort, const atomic_uint_fast64_t *callbacks, const char *what)
{
    if (!stream || Pa_IsStreamActive(stream) != 1)
        return true;
    uint64_t seen = atomic_load(callbacks);
    int waited = 0;
    while (atomic_load(callbacks) == seen && waited < AB_PA_STALL_MS) {
        ab_clock_sleep_ms(2);
        waited += 2;
    }
    if (atomic_load(callbacks) == seen) {
        ab_log_warn("the %s device has not called back for %d ms (a stalled JACK graph or driver): not waiting "
                    "for it to stop; it is released when this process exits",
                    what, AB_PA_STALL_MS);
        return false;
    }
    if (abort)
        Pa_AbortStream(stream);
    else
        Pa_StopStream(stream);
    return true;
}

/* A handful: one per stalled device of a process (a process opens few). */
static void *s_kept_for_exit[16];

void ab_pa_keep_for_exit(void *object)
{
    for (size_t i = 0; i < sizeof s_kept_for_exit / sizeof s_kept_for_exit[0]; i++)
        if (!s_kept_for_exit[i]) {
            s_kept_for_exit[i] = object;
            return;
        }
    /* All taken: still never freed, only no longer reachable. */
}

const char *ab_pa_jack_client_name(void)
{
    typedef PaError (*get_name_fn)(const char **);
    get_name_fn get_name = (get_name_fn)dlsym(RTLD_DEFAULT, "PaJack_GetClientName");
    const char *name = NULL;
    if (!get_name || get_name(&name) != paNoError)
        return NULL;
    return name;
}

/* ALSA and JACK print to stderr while PortAudio probes them (missing
 * cards, no JACK server): noise that hides audiobus's own messages. Both
 * libraries come with PortAudio, so their hooks are looked up at run time
 * and muted unless debug logging is on. */
static void s_alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...)
{
    (void)file, (void)line, (void)function, (void)err, (void)fmt;
}

static void s_jack_quiet(const char *message)
{
    (void)message;
}

PaError ab_pa_initialize(void)
{
    if (!ab_log_enabled(AB_LOG_DEBUG)) {
        typedef int (*alsa_handler_setter)(void (*)(const char *, int, const char *, int, const char *, ...));
        typedef void (*jack_handler_setter)(void (*)(const char *));
        alsa_handler_setter alsa = (alsa_handler_setter)dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
        jack_handler_setter jack_error = (jack_handler_setter)dlsym(RTLD_DEFAULT, "jack_set_error_function");
        jack_handler_setter jack_info = (jack_handler_setter)dlsym(RTLD_DEFAULT, "jack_set_info_function");
        if (alsa)
            alsa(s_alsa_quiet);
        if (jack_error)
            jack_error(s_jack_quiet);
        if (jack_info)
            jack_info(s_jack_quiet);
    }
    return Pa_Initialize();
}

bool ab_pa_contains_ci(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

static int s_channels(const PaDeviceInfo *info, ab_pa_direction_t direction)
{
    return direction == AB_PA_INPUT ? info->maxInputChannels : info->maxOutputChannels;
}

PaDeviceIndex ab_pa_find_device(const char *name, const char *host_api, ab_pa_direction_t direction,
                                const char *advice, const char *lister, char *error, size_t error_len)
{
    const char *what = direction == AB_PA_INPUT ? "input" : "output";
    int count = Pa_GetDeviceCount();
    int usable = 0;
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && s_channels(info, direction) > 0)
            usable++;
    }
    if (!name || !*name) {
        PaDeviceIndex index = paNoDevice;
        if (host_api) {
            for (int h = 0; h < Pa_GetHostApiCount(); h++) {
                const PaHostApiInfo *api = Pa_GetHostApiInfo(h);
                if (api && ab_pa_contains_ci(api->name, host_api))
                    index = direction == AB_PA_INPUT ? api->defaultInputDevice : api->defaultOutputDevice;
            }
        } else {
            index = direction == AB_PA_INPUT ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
        }
        if (index == paNoDevice)
            snprintf(error, error_len, "no default %s device%s%s (PortAudio sees %d %s device(s); %s)", what,
                     host_api ? " for host API " : "", host_api ? host_api : "", usable, what, advice);
        return index;
    }
    char *end;
    long number = strtol(name, &end, 10);
    if (*end == '\0') {
        const PaDeviceInfo *info = number >= 0 && number < count ? Pa_GetDeviceInfo((PaDeviceIndex)number) : NULL;
        if (info && s_channels(info, direction) > 0)
            return (PaDeviceIndex)number;
        snprintf(error, error_len, "no %s device with index %ld (try: %s)", what, number, lister);
        return paNoDevice;
    }
    PaDeviceIndex substring_match = paNoDevice;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < count; i++) {
            const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
            if (!info || s_channels(info, direction) <= 0)
                continue;
            const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
            if (host_api && (!api || !ab_pa_contains_ci(api->name, host_api)))
                continue;
            if (pass == 0 && strcmp(info->name, name) == 0)
                return i;
            if (pass == 1 && ab_pa_contains_ci(info->name, name) && substring_match == paNoDevice)
                substring_match = i;
        }
    if (substring_match == paNoDevice)
        snprintf(error, error_len, "no %s device \"%s\" (try: %s)", what, name, lister);
    return substring_match;
}

int ab_pa_list_devices(FILE *out, const char *no_input_hint)
{
    PaError err = ab_pa_initialize();
    if (err != paNoError) {
        fprintf(out, "cannot initialise PortAudio: %s\n", Pa_GetErrorText(err));
        return AB_EDEVICE;
    }
    int apis = Pa_GetHostApiCount();
    int count = Pa_GetDeviceCount();
    fprintf(out, "PortAudio: %d host API(s), %d device(s)\n", apis, count);
    for (int h = 0; h < apis; h++) {
        const PaHostApiInfo *api = Pa_GetHostApiInfo(h);
        fprintf(out, "host API %d: %s (%d device(s))\n", h, api->name, api->deviceCount);
    }
    for (int i = 0; i < count; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
        fprintf(out, "%3d  %-40s %-6s in %2d  out %2d  %.0f Hz%s%s\n", i, info->name, api ? api->name : "?",
                info->maxInputChannels, info->maxOutputChannels, info->defaultSampleRate,
                i == Pa_GetDefaultInputDevice() ? "  (default input)" : "",
                i == Pa_GetDefaultOutputDevice() ? "  (default output)" : "");
    }
    if (Pa_GetDefaultInputDevice() == paNoDevice && no_input_hint)
        fprintf(out, "%s\n", no_input_hint);
    Pa_Terminate();
    return 0;
}
