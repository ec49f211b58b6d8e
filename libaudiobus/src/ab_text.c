/* ab_text.c - real-time safe text building and parameter parsing (see ab_text.h). */
#include "audiobus/ab_text.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ab_text_put_str(char **p, char *end, const char *s)
{
    while (*s && *p < end - 1)
        *(*p)++ = *s++;
    **p = '\0';
}

void ab_text_put_u64(char **p, char *end, uint64_t v)
{
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && *p < end - 1)
        *(*p)++ = digits[--n];
    **p = '\0';
}

void ab_text_put_fixed1(char **p, char *end, double v)
{
    if (isnan(v) || fabs(v) >= 1e15) {
        ab_text_put_str(p, end, isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf"));
        return;
    }
    uint64_t tenths = (uint64_t)llround(fabs(v) * 10.0);
    if (v < 0 && tenths > 0)
        ab_text_put_str(p, end, "-");
    ab_text_put_u64(p, end, tenths / 10);
    ab_text_put_str(p, end, ".");
    ab_text_put_u64(p, end, tenths % 10);
}

int ab_text_parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int ab_text_parse_double(const char *text, double lo, double hi, double *out)
{
    if (text[0] == '\0' || text[0] == ' ' || (text[0] >= '\t' && text[0] <= '\r'))
        return -1; /* strtod would skip leading space */
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int ab_text_parse_u32(const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (text[0] < '0' || text[0] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int ab_text_parse_choice(const char *text, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(text, names[i]) == 0)
            return i;
    return -1;
}
