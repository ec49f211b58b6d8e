/* fuzz_block.c - fuzz target for the data-plane block decoder, ab_block_decode(), and its round trip.
 *
 * Properties checked on every input (proto/PROTOCOL.md, "Decoding a block"):
 * - the decoder returns 0 or one of the codes ab_block.h documents;
 * - a decoded block passes ab_block_validate(), its samples lie inside the
 *   input, and its topic frame matches it;
 * - it encodes again, within the header bound the protocol states, and that
 *   encoding decodes to the same fields, with the samples pointing into the
 *   encoding, and encodes to the same bytes;
 * - every strict prefix of an accepted input is AB_ETRUNC, and one more byte
 *   after it is AB_EEXTRA (AB_ETOOBIG past the message limit).
 */
#include <audiobus/ab_block.h>
#include <audiobus/ab_error.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The largest block map without its sample bytes that the limits allow
 * (PROTOCOL.md, "The block map"): a features block with 64-byte stream and
 * label, 64-bit seq, frame0 and time_ns, rate 1000000, and the widest
 * channels + frames pair the 1 MiB sample limit leaves. */
#define FUZZ_BLOCK_HEADER_LARGEST 274

/* Prefixes of inputs up to this size are all checked; longer inputs get
 * their first and last ones and some in between. */
#define FUZZ_ALL_PREFIXES_UP_TO 512

static int s_documented_error(int rc)
{
    switch (rc) {
    case AB_ETRUNC: case AB_ETYPE: case AB_EVERSION: case AB_ETOOBIG: case AB_EMISSING:
    case AB_EFORMAT: case AB_ERANGE: case AB_ESIZE: case AB_ENAME: case AB_EEXTRA:
        return 1;
    default:
        return 0;
    }
}

/* The first field in which two decoded blocks differ, or NULL. hop only
 * counts for features blocks: other blocks never carry it on the wire. */
static const char *s_block_difference(const ab_block_t *a, const ab_block_t *b)
{
    if (a->version != b->version)
        return "version";
    if (a->type != b->type)
        return "type";
    if (strcmp(a->stream, b->stream) != 0)
        return "stream";
    if (a->seq != b->seq)
        return "seq";
    if (a->frame0 != b->frame0)
        return "frame0";
    if (a->time_ns != b->time_ns)
        return "time_ns";
    if (a->rate != b->rate)
        return "rate";
    if (a->channels != b->channels)
        return "channels";
    if (a->format != b->format)
        return "format";
    if (a->frames != b->frames)
        return "frames";
    if (a->type == AB_BLOCK_FEATURES && a->hop != b->hop)
        return "hop";
    if (strcmp(a->label, b->label) != 0)
        return "label";
    if (a->samples_len != b->samples_len)
        return "samples_len";
    if (a->samples_len && memcmp(a->samples, b->samples, a->samples_len) != 0)
        return "samples";
    /* Any field added later: the decoder zeroes the whole struct first, so
     * with the samples pointer and an unsent hop set aside, equal blocks
     * are equal bytes. */
    ab_block_t x = *a, y = *b;
    x.samples = y.samples = NULL;
    if (x.type != AB_BLOCK_FEATURES)
        x.hop = y.hop = 0;
    if (memcmp(&x, &y, sizeof x) != 0)
        return "a field not compared by name";
    return NULL;
}

static void s_check_prefix(const uint8_t *data, size_t size, size_t len)
{
    ab_block_t block;
    int rc = ab_block_decode(&block, data, len);
    FUZZ_CHECK(rc == AB_ETRUNC, "prefix of %zu of %zu bytes of an accepted block gave %s", len, size,
               ab_err_name(rc));
}

static void s_check_prefixes_and_extra(const uint8_t *data, size_t size)
{
    if (size <= FUZZ_ALL_PREFIXES_UP_TO) {
        for (size_t len = 0; len < size; len++)
            s_check_prefix(data, size, len);
    } else {
        for (size_t i = 0; i < 16; i++) {
            s_check_prefix(data, size, i);
            s_check_prefix(data, size, size - 1 - i);
        }
        for (size_t i = 1; i < 32; i++)
            s_check_prefix(data, size, size / 32 * i);
    }
    uint8_t *longer = malloc(size + 1);
    if (!longer)
        return;
    memcpy(longer, data, size);
    longer[size] = 0xc0;
    ab_block_t block;
    int rc = ab_block_decode(&block, longer, size + 1);
    int expected = size + 1 > AB_BLOCK_MAX_BYTES ? AB_ETOOBIG : AB_EEXTRA;
    FUZZ_CHECK(rc == expected, "an accepted block of %zu bytes plus one byte gave %s, not %s", size, ab_err_name(rc),
               ab_err_name(expected));
    free(longer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ab_block_t first;
    int rc = ab_block_decode(&first, data, size);
    FUZZ_CHECK(rc == 0 || s_documented_error(rc), "undocumented result %d (%s)", rc, ab_err_name(rc));
    if (rc != 0)
        return 0;

    rc = ab_block_validate(&first);
    FUZZ_CHECK(rc == 0, "a decoded block fails validation: %s", ab_err_name(rc));
    FUZZ_CHECK(first.samples_len == 0 || (first.samples >= data && first.samples_len <= size &&
                                          first.samples - data <= (ptrdiff_t)(size - first.samples_len)),
               "samples (%zu bytes) do not lie inside the %zu-byte input", first.samples_len, size);
    uint8_t topic[AB_TOPIC_MAX];
    size_t topic_len = ab_topic_for_stream(first.stream, topic);
    FUZZ_CHECK(topic_len == strlen(first.stream) + 1 && ab_topic_matches(topic, topic_len, first.stream) &&
                   !ab_topic_matches(topic, topic_len - 1, first.stream),
               "topic frame of stream \"%s\" (%zu bytes)", first.stream, topic_len);

    /* Encode, decode, encode: the same fields and the same bytes. */
    size_t cap = ab_block_encoded_max(&first);
    uint8_t *encoded = malloc(cap);
    uint8_t *again = malloc(cap);
    FUZZ_CHECK(encoded && again, "out of memory for %zu bytes", cap);
    size_t encoded_len = 0;
    rc = ab_block_encode(&first, encoded, cap, &encoded_len);
    FUZZ_CHECK(rc == 0, "a decoded block does not encode: %s", ab_err_name(rc));
    FUZZ_CHECK(encoded_len - first.samples_len <= FUZZ_BLOCK_HEADER_LARGEST && encoded_len <= AB_BLOCK_MAX_BYTES,
               "encoded header of %zu bytes (samples %zu)", encoded_len - first.samples_len, first.samples_len);

    ab_block_t second;
    rc = ab_block_decode(&second, encoded, encoded_len);
    FUZZ_CHECK(rc == 0, "the encoding of a decoded block does not decode: %s", ab_err_name(rc));
    const char *field = s_block_difference(&first, &second);
    FUZZ_CHECK(field == NULL, "field %s changed in the round trip", field);
    FUZZ_CHECK(second.samples == encoded + encoded_len - second.samples_len,
               "decoded samples do not point at the encoding's last %zu bytes", second.samples_len);

    size_t again_len = 0;
    rc = ab_block_encode(&second, again, cap, &again_len);
    FUZZ_CHECK(rc == 0 && again_len == encoded_len && memcmp(encoded, again, encoded_len) == 0,
               "encoding twice gave %s, %zu bytes then %zu bytes", ab_err_name(rc), encoded_len, again_len);

    s_check_prefixes_and_extra(data, size);
    s_check_prefixes_and_extra(encoded, encoded_len);
    free(encoded);
    free(again);
    return 0;
}
