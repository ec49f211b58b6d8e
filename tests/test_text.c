/* test_text.c - ab_text: real-time text building and the parsers every
 * plugin uses for its parameters. */
#include <audiobus/ab_text.h>
#include <stdio.h>
#include <string.h>


#include "check.h"

static void s_test_put(void)
{
    char buf[40];
    char *p = buf, *end = buf + sizeof buf;
    ab_text_put_str(&p, end, "rms ");
    ab_text_put_fixed1(&p, end, -23.45);
    ab_text_put_str(&p, end, " n=");
    ab_text_put_u64(&p, end, 18446744073709551615ull);
    *p = '\0';
    CHECK(strcmp(buf, "rms -23.5 n=18446744073709551615") == 0, "got \"%s\"", buf);

    char small[8];
    p = small;
    end = small + sizeof small; /* writes stop at end - 1, leaving room for '\0' */
    ab_text_put_str(&p, end, "truncated text");
    *p = '\0';
    CHECK(strcmp(small, "truncat") == 0, "truncation at the end pointer, got \"%s\"", small);
}

static void s_test_parse(void)
{
    double d = -7.0;
    CHECK(ab_text_parse_double("2.5", 0, 10, &d) == 0 && d == 2.5, "2.5 -> %g", d);
    CHECK(ab_text_parse_double("1e3", 0, 1000, &d) == 0 && d == 1000.0, "1e3 at the upper bound -> %g", d);
    d = -7.0;
    const char *bad_doubles[] = {"", "x", "2.5x", " 2", "nan", "inf", "1001", "-0.1", NULL};
    for (int i = 0; bad_doubles[i]; i++, d = -7.0)
        CHECK(ab_text_parse_double(bad_doubles[i], 0, 1000, &d) == -1 && d == -7.0, "\"%s\" refused, *out kept",
              bad_doubles[i]);

    uint32_t u = 99;
    CHECK(ab_text_parse_u32("0", 0, 5, &u) == 0 && u == 0, "0 -> %u", u);
    CHECK(ab_text_parse_u32("4294967295", 0, 4294967295u, &u) == 0 && u == 4294967295u, "max -> %u", u);
    u = 99;
    const char *bad_u32[] = {"", "-1", "+1", " 1", "1.0", "6", "4294967296", "99999999999999999999999", "0x10",
                             NULL};
    for (int i = 0; bad_u32[i]; i++, u = 99)
        CHECK(ab_text_parse_u32(bad_u32[i], 0, 5, &u) == -1 && u == 99, "\"%s\" refused, *out kept", bad_u32[i]);
    CHECK(ab_text_parse_u32("1", 2, 5, &u) == -1, "below lo refused");

    static const char *const names[] = {"htk", "slaney", NULL};
    CHECK(ab_text_parse_choice("slaney", names) == 1, "choice index");
    CHECK(ab_text_parse_choice("HTK", names) == -1, "choices are exact");
    CHECK(ab_text_parse_choice("", names) == -1, "empty is no choice");

    int b = -1;
    CHECK(ab_text_parse_bool("on", &b) == 0 && b == 1, "on");
    CHECK(ab_text_parse_bool("0", &b) == 0 && b == 0, "0");
    CHECK(ab_text_parse_bool("2", &b) == -1, "2 refused");
}

int main(void)
{
    s_test_put();
    s_test_parse();
    if (s_failures) {
        fprintf(stderr, "test_text: %d checks failed\n", s_failures);
        return 1;
    }
    printf("test_text: all checks passed\n");
    return 0;
}
