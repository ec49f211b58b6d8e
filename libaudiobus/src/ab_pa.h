/* ab_pa.h - PortAudio set-up shared by every class that opens a device
 * (capture sources, the latency profiler): initialisation that mutes ALSA's
 * and JACK's chatter, device lookup by index, name or substring within a
 * host API, and the device listing. Internal to libaudiobus.
 * [control-thread] throughout: PortAudio's set-up calls are not thread-safe. */
#ifndef AUDIOBUS_AB_PA_H_INCLUDED
#define AUDIOBUS_AB_PA_H_INCLUDED

#include <portaudio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { AB_PA_INPUT, AB_PA_OUTPUT } ab_pa_direction_t;

/* Name the JACK client PortAudio will open (its ports appear as
 * NAME:in_0, NAME:out_0...), so that several audiobus nodes on one JACK
 * server can be told apart. Takes effect only before the process's first
 * ab_pa_initialize(); name must outlive PortAudio (a string literal).
 * Does nothing when PortAudio was built without JACK. */
void ab_pa_set_jack_client_name(const char *name);

/* The name of PortAudio's JACK client once PortAudio is initialised (JACK
 * may have added a suffix to the name asked for), or NULL without JACK. */
const char *ab_pa_jack_client_name(void);

/* Pa_Initialize(), with ALSA's and JACK's messages on stderr muted unless
 * debug logging is on. Pair every successful call with Pa_Terminate(). */
PaError ab_pa_initialize(void);

/* The device named by name (index, exact name or case-insensitive
 * substring), or the host API's default (the system default when host_api
 * is NULL) when name is NULL or empty, that has channels in direction.
 * host_api is a case-insensitive substring of a host API name, NULL for
 * any. On failure returns paNoDevice after writing what failed into error:
 * advice (e.g. "pick one with --device IN,OUT, see audiobus latency
 * --list-devices") ends the message for a missing default, lister (e.g.
 * "audiobus latency --list-devices") the others. Needs PortAudio
 * initialised. */
PaDeviceIndex ab_pa_find_device(const char *name, const char *host_api, ab_pa_direction_t direction,
                                const char *advice, const char *lister, char *error, size_t error_len);

/* How long a stream's callbacks may pause before ab_pa_stop_stream() takes
 * the device for stalled: longer than any period a device is opened with. */
#define AB_PA_STALL_MS 1000

/* Stop an active stream (abort: drop what the device still holds) unless
 * its callbacks have stopped coming. PortAudio's JACK host API waits up to
 * ten minutes for the next callback to take a stop request, and a stalled
 * JACK graph never calls back: a stop then hangs the process. callbacks is
 * a counter the stream's callback advances on every call; it must move
 * within AB_PA_STALL_MS. Returns true when the stream was stopped (or was
 * not active); false when it stalled: then neither close the stream nor
 * call Pa_Terminate() (both would wait the same way): the process's exit
 * releases the device. Logs a warning naming what when it stalled.
 * [control-thread] */
bool ab_pa_stop_stream(PaStream *stream, bool abort, const atomic_uint_fast64_t *callbacks, const char *what);

/* Keep object (the state a stalled stream's callback reads) allocated and
 * reachable until the process exits, instead of freeing it: a stalled
 * JACK graph may resume and call the callback after its owner was
 * destroyed. For the destroy paths of owners whose ab_pa_stop_stream()
 * returned false. [control-thread] */
void ab_pa_keep_for_exit(void *object);

/* True when haystack contains needle, ignoring case. [any-thread] */
bool ab_pa_contains_ci(const char *haystack, const char *needle);

/* Print the host APIs and the input/output devices to out; no_input_hint
 * is printed when there is no default input device (NULL: nothing).
 * Initialises and terminates PortAudio itself. Returns 0 or AB_EDEVICE. */
int ab_pa_list_devices(FILE *out, const char *no_input_hint);

#endif
