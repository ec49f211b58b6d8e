/* ab_text.c - real-time safe text building and parameter parsing (see ab_text.h). */
#include "audiobus/ab_text.h"

#include <math.h>
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
