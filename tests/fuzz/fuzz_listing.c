/* fuzz_listing.c - fuzz target for what `audiobus ls` does with a broker's reply (nodes/listing.c).
 *
 * Properties checked on every input (proto/PROTOCOL.md, "list"):
 * - the msgpack-to-JSON reader accepts only what the bounded skipper
 *   (ab_mp_skip) accepts, and stops where the skipper stops;
 * - listing_parse() accepts exactly the replies that are a map with cmd
 *   "listing", and leaves a terminated detail otherwise;
 * - an accepted listing prints as the table (to /dev/null) and as the JSON
 *   of `ls --json`, which parses back to the same value.
 * Memory the reader allocates is all released (LeakSanitizer checks).
 */
#include <audiobus/ab_error.h>
#include <stdlib.h>
#include <string.h>

#include "ab_mp.h"
#include "fuzz.h"
#include "listing.h"

static FILE *s_null_output(void)
{
    static FILE *out;
    if (!out) {
        out = fopen("/dev/null", "w");
        FUZZ_CHECK(out != NULL, "cannot open /dev/null");
        setvbuf(out, NULL, _IOFBF, 1 << 16);
    }
    return out;
}

/* Every value the JSON reader accepts is well-formed msgpack within the
 * skipper's depth limit, so both stop at the same byte. */
static void s_check_reader(const uint8_t *data, size_t size)
{
    size_t used = 0;
    json_t *value = listing_msgpack_to_json(data, size, &used);
    FUZZ_CHECK(used <= size, "the reader went %zu bytes into a %zu-byte input", used, size);
    if (!value)
        return;
    ab_mp_reader_t r;
    ab_mp_reader_init(&r, data, size);
    int rc = ab_mp_skip(&r);
    FUZZ_CHECK(rc == 0, "ab_mp_skip refused (%s) a value the JSON reader read", ab_err_name(rc));
    FUZZ_CHECK((size_t)(r.pos - data) == used, "ab_mp_skip stopped after %zu bytes, the JSON reader after %zu",
               (size_t)(r.pos - data), used);
    json_decref(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_reader(data, size);

    json_t *root = NULL;
    char detail[64];
    memset(detail, 'x', sizeof detail);
    int rc = listing_parse(data, size, &root, detail, sizeof detail);
    if (rc != 0) {
        FUZZ_CHECK(rc == AB_EIO && root == NULL, "listing_parse gave %s", ab_err_name(rc));
        FUZZ_CHECK(memchr(detail, '\0', sizeof detail) != NULL, "detail not terminated");
        return 0;
    }
    FUZZ_CHECK(json_is_object(root) && json_is_string(json_object_get(root, "cmd")) &&
                   strcmp(json_string_value(json_object_get(root, "cmd")), "listing") == 0,
               "listing_parse accepted a reply that is not a listing");

    listing_print(s_null_output(), root);

    /* What `ls --json` prints, read back. */
    json_object_del(root, "v");
    json_object_del(root, "cmd");
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    FUZZ_CHECK(text != NULL, "json_dumps failed on a listing");
    json_error_t error;
    json_t *back = json_loads(text, JSON_ALLOW_NUL, &error);
    FUZZ_CHECK(back != NULL, "ls --json output does not parse: %s (line %d)", error.text, error.line);
    FUZZ_CHECK(json_equal(root, back), "ls --json output parses to another value");
    json_decref(back);
    free(text);
    json_decref(root);
    return 0;
}
