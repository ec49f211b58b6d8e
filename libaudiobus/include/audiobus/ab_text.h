/* ab_text.h - text for log lines built where stdio may not be used: in a
 * plugin's process() (the audio thread). Bounded appends into the caller's
 * buffer, no allocation, no locale, always NUL-terminated. Also the
 * parsing of plugin parameters that every plugin needs. */
#ifndef AUDIOBUS_AB_TEXT_H_INCLUDED
#define AUDIOBUS_AB_TEXT_H_INCLUDED

#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Append s at *p, never past end - 1, and advance *p. [audio-thread] */
AB_EXPORT void ab_text_put_str(char **p, char *end, const char *s);

/* Append v in decimal. [audio-thread] */
AB_EXPORT void ab_text_put_u64(char **p, char *end, uint64_t v);

/* Append v with one decimal, rounded half away from zero ("nan", "inf",
 * "-inf" beyond 1e15). [audio-thread] */
AB_EXPORT void ab_text_put_fixed1(char **p, char *end, double v);

/* Parse a plugin's boolean parameter: 1/true/yes/on or 0/false/no/off.
 * Returns 0 and sets *out to 1 or 0, or -1 for anything else.
 * [control-thread] */
AB_EXPORT int ab_text_parse_bool(const char *text, int *out);

/* Parse a plugin's numeric parameter: the whole of text is one number in
 * strtod() syntax, without leading space, from lo to hi inclusive (NaN
 * never is). Returns 0 and sets
 * *out, or -1 leaving *out alone. [control-thread] */
AB_EXPORT int ab_text_parse_double(const char *text, double lo, double hi, double *out);

/* Parse a plugin's integer parameter: decimal digits only (no sign, no
 * spaces), from lo to hi inclusive. Returns 0 and sets *out, or -1 leaving
 * *out alone. [control-thread] */
AB_EXPORT int ab_text_parse_u32(const char *text, uint32_t lo, uint32_t hi, uint32_t *out);

/* Parse a plugin's parameter that names one of several choices: the index
 * of text in names (a NULL-terminated list, compared exactly), or -1.
 * [control-thread] */
AB_EXPORT int ab_text_parse_choice(const char *text, const char *const *names);

#ifdef __cplusplus
}
#endif

#endif
