/* test_block.c - the block codec and the bounded msgpack reader against the
 * golden vectors of proto/vectors, random blocks and hostile input.
 *
 * Usage: test_block VECTORS_DIR. Exits 0 when every check passed, 1 otherwise;
 * each failed check is printed with the value found and the value expected.
 * The checks are plain ifs, so they also run in NDEBUG builds.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab_mp.h"
#include "audiobus/ab_block.h"
#include "audiobus/ab_error.h"

static int s_checks;
static int s_failures;
static char s_ctx[160]; /* what is being checked, printed with each failure */

static void s_set_ctx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_ctx, sizeof s_ctx, fmt, ap);
    va_end(ap);
}

static bool s_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: FAIL [%s] ", file, line, s_ctx);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    s_failures++;
    return false;
}

/* Each macro evaluates to true when the check passed. */
#define CHECK(cond) (s_checks++, (cond) ? true : s_fail(__FILE__, __LINE__, "%s", #cond))

#define CHECK_U64(expr, want)                                                                      \
    (s_checks++, s_eq_u64((uint64_t)(expr), (uint64_t)(want))                                      \
                     ? true                                                                        \
                     : s_fail(__FILE__, __LINE__, "%s = %" PRIu64 ", expected %" PRIu64, #expr,   \
                              (uint64_t)(expr), (uint64_t)(want)))

#define CHECK_I64(expr, want)                                                                      \
    (s_checks++, (int64_t)(expr) == (int64_t)(want)                                                \
                     ? true                                                                        \
                     : s_fail(__FILE__, __LINE__, "%s = %" PRId64 ", expected %" PRId64, #expr,   \
                              (int64_t)(expr), (int64_t)(want)))

#define CHECK_STR(expr, want)                                                                      \
    (s_checks++, s_eq_str((expr), (want))                                                          \
                     ? true                                                                        \
                     : s_fail(__FILE__, __LINE__, "%s = \"%s\", expected \"%s\"", #expr,           \
                              (expr) ? (expr) : "(null)", (want) ? (want) : "(null)"))

#define CHECK_ERR(expr, want)                                                                      \
    (s_checks++, s_eq_err((expr), (want))                                                          \
                     ? true                                                                        \
                     : s_fail(__FILE__, __LINE__, "%s = %s, expected %s", #expr,                  \
                              ab_err_name(s_last_err), ab_err_name(want)))

static int s_last_err;

static bool s_eq_u64(uint64_t a, uint64_t b)
{
    return a == b;
}

static bool s_eq_str(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool s_eq_err(int got, int want)
{
    s_last_err = got;
    return got == want;
}

/* A copy of n bytes in a buffer of exactly n bytes, so that ASan sees any
 * read past the end of a message. */
static uint8_t *s_exact_copy(const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        fprintf(stderr, "test_block: out of memory\n");
        exit(1);
    }
    if (n)
        memcpy(copy, data, n);
    return copy;
}

static uint8_t *s_read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        s_fail(__FILE__, __LINE__, "cannot open %s", path);
        return NULL;
    }
    uint8_t *data = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            data = realloc(data, cap);
            if (!data) {
                fprintf(stderr, "test_block: out of memory\n");
                exit(1);
            }
        }
        size_t n = fread(data + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return data;
}

static size_t s_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned byte;
        if (sscanf(hex, "%2x", &byte) != 1)
            break;
        out[n++] = (uint8_t)byte;
    }
    return n;
}

/* What a receiver does with one [topic][block] message. */
static int s_decode_frame(ab_block_t *b, const uint8_t *topic, size_t topic_len, const uint8_t *msg, size_t len)
{
    int rc = ab_block_decode(b, msg, len);
    if (rc == 0 && !ab_topic_matches(topic, topic_len, b->stream))
        rc = AB_ENAME;
    return rc;
}

static uint32_t s_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Sample i of a decoded block as a double. */
static double s_sample(const ab_block_t *b, size_t i)
{
    const uint8_t *p = b->samples + i * ab_format_size(b->format);
    switch (b->format) {
    case AB_FORMAT_F32: {
        uint32_t bits = s_le32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    case AB_FORMAT_S16:
        return (int16_t)(uint16_t)(p[0] | (p[1] << 8));
    case AB_FORMAT_S32:
        return (int32_t)s_le32(p);
    }
    return 0;
}

static uint64_t s_json_u64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        s_fail(__FILE__, __LINE__, "vectors.json: \"%s\" is not an integer", key);
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

static const char *s_json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        s_fail(__FILE__, __LINE__, "vectors.json: \"%s\" is not a string", key);
        return "";
    }
    return json_string_value(v);
}

/* Compare a decoded block with the truth of vectors.json. */
static void s_compare_truth(const ab_block_t *b, json_t *truth)
{
    CHECK_U64(b->version, s_json_u64(truth, "v"));
    CHECK_STR(ab_block_type_name(b->type), s_json_str(truth, "type"));
    CHECK_STR(b->stream, s_json_str(truth, "stream"));
    CHECK_U64(b->seq, s_json_u64(truth, "seq"));
    CHECK_U64(b->frame0, s_json_u64(truth, "frame0"));
    CHECK_I64(b->time_ns, (int64_t)s_json_u64(truth, "time_ns"));
    CHECK_U64(b->rate, s_json_u64(truth, "rate"));
    CHECK_U64(b->channels, s_json_u64(truth, "channels"));
    CHECK_STR(ab_format_name(b->format), s_json_str(truth, "format"));
    CHECK_U64(b->frames, s_json_u64(truth, "frames"));
    CHECK_U64(b->hop, s_json_u64(truth, "hop"));
    CHECK_STR(b->label, s_json_str(truth, "label"));
    json_t *samples = json_object_get(truth, "samples");
    if (!CHECK(json_is_array(samples)))
        return;
    size_t n = json_array_size(samples);
    if (!CHECK_U64(b->samples_len, n * ab_format_size(b->format)))
        return;
    CHECK_U64(n, (uint64_t)b->frames * b->channels);
    for (size_t i = 0; i < n; i++) {
        double want = json_number_value(json_array_get(samples, i));
        double got = s_sample(b, i);
        if (!CHECK(got == want))
            fprintf(stderr, "    sample %zu = %.9g, expected %.9g\n", i, got, want);
    }
}

/* Every strict prefix of a good message is incomplete msgpack: AB_ETRUNC. */
static void s_check_prefixes(const char *name, const uint8_t *data, size_t len)
{
    for (size_t n = 0; n < len; n++) {
        s_set_ctx("%s cut to %zu of %zu bytes", name, n, len);
        uint8_t *copy = s_exact_copy(data, n);
        ab_block_t b;
        CHECK_ERR(ab_block_decode(&b, copy, n), AB_ETRUNC);
        free(copy);
    }
}

/* Changed bytes must never crash the decoder, and whatever it accepts must
 * be a valid block whose samples lie inside the message. */
static void s_check_mutations(const char *name, const uint8_t *data, size_t len)
{
    static const uint8_t xors[] = {0x01, 0x02, 0x10, 0x40, 0x80, 0xff};
    static const uint8_t sets[] = {0x00, 0x7f, 0xc0, 0xc1, 0xcf, 0xdb, 0xdf, 0xff};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof xors + sizeof sets; k++) {
            uint8_t *copy = s_exact_copy(data, len);
            copy[i] = k < sizeof xors ? (uint8_t)(copy[i] ^ xors[k]) : sets[k - sizeof xors];
            s_set_ctx("%s with byte %zu = 0x%02x", name, i, copy[i]);
            ab_block_t b;
            int rc = ab_block_decode(&b, copy, len);
            if (rc == 0) {
                CHECK_ERR(ab_block_validate(&b), 0);
                CHECK(b.samples >= copy && b.samples + b.samples_len <= copy + len);
            } else {
                CHECK(strcmp(ab_err_name(rc), "AB_E?") != 0);
            }
            free(copy);
        }
    }
}

static void s_check_good(const char *dir, json_t *entry)
{
    const char *name = s_json_str(entry, "file");
    s_set_ctx("%s", name);
    size_t len;
    uint8_t *file = s_read_file(dir, name, &len);
    if (!file)
        return;
    uint8_t *data = s_exact_copy(file, len);
    free(file);
    uint8_t topic[AB_TOPIC_MAX + 8];
    size_t topic_len = s_unhex(s_json_str(entry, "topic_hex"), topic, sizeof topic);

    ab_block_t b;
    int rc = s_decode_frame(&b, topic, topic_len, data, len);
    if (CHECK_ERR(rc, 0)) {
        s_compare_truth(&b, json_object_get(entry, "block"));
        CHECK(b.samples >= data && b.samples + b.samples_len <= data + len); /* zero-copy */

        uint8_t our_topic[AB_TOPIC_MAX];
        size_t our_len = ab_topic_for_stream(b.stream, our_topic);
        CHECK(our_len == topic_len && memcmp(our_topic, topic, topic_len) == 0);

        if (json_is_true(json_object_get(entry, "reencode"))) {
            uint8_t buf[1024];
            size_t out_len = 0;
            CHECK_ERR(ab_block_encode(&b, buf, sizeof buf, &out_len), 0);
            if (CHECK_U64(out_len, len)) {
                for (size_t i = 0; i < len; i++)
                    if (!CHECK_U64(buf[i], data[i])) {
                        fprintf(stderr, "    first differing byte at offset %zu\n", i);
                        break;
                    }
            }
        }
    }
    s_check_prefixes(name, data, len);
    s_check_mutations(name, data, len);
    free(data);
}

static void s_check_bad(const char *dir, json_t *entry)
{
    const char *name = s_json_str(entry, "file");
    const char *want_name = s_json_str(entry, "error");
    s_set_ctx("%s (%s)", name, s_json_str(entry, "why"));
    int want = 1;
    for (int e = -1; e >= -64; e--)
        if (strcmp(ab_err_name(e), want_name) == 0)
            want = e;
    if (!CHECK(want < 0)) {
        fprintf(stderr, "    unknown error name \"%s\" in vectors.json\n", want_name);
        return;
    }
    size_t len;
    uint8_t *file = s_read_file(dir, name, &len);
    if (!file)
        return;
    uint8_t *data = s_exact_copy(file, len);
    free(file);
    uint8_t topic[AB_TOPIC_MAX + 8];
    size_t topic_len = s_unhex(s_json_str(entry, "topic_hex"), topic, sizeof topic);
    ab_block_t b;
    CHECK_ERR(s_decode_frame(&b, topic, topic_len, data, len), want);
    free(data);
}

/* The values proto/PROTOCOL.md states for the main vectors, so that
 * vectors.json itself is held to the spec. */
static void s_check_spec_values(json_t *good)
{
    static const struct {
        const char *file, *type, *stream, *format;
        uint64_t seq, frame0, rate, channels, frames, hop;
        int64_t time_ns;
    } spec[] = {
        {"audio_f32.bin", "audio", "mic1", "f32", 7, 1792, 48000, 2, 4, 0, 1700000000123456789LL},
        {"audio_s16.bin", "audio", "mic1", "s16", 0, 0, 16000, 1, 3, 0, 0},
        {"features.bin", "features", "mic1/logmel", "f32", 3, 480, 16000, 2, 2, 160, 30000000},
        {"event.bin", "event", "mic1/vad", "f32", 0, 16000, 16000, 1, 0, 0, 5},
        {"end.bin", "end", "mic1", "f32", 8, 1796, 48000, 2, 0, 0, 1700000000123540122LL},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        s_set_ctx("vectors.json entry for %s", spec[i].file);
        json_t *truth = NULL;
        size_t k;
        json_t *entry;
        json_array_foreach(good, k, entry)
            if (strcmp(s_json_str(entry, "file"), spec[i].file) == 0)
                truth = json_object_get(entry, "block");
        if (!CHECK(truth != NULL))
            continue;
        CHECK_STR(s_json_str(truth, "type"), spec[i].type);
        CHECK_STR(s_json_str(truth, "stream"), spec[i].stream);
        CHECK_STR(s_json_str(truth, "format"), spec[i].format);
        CHECK_U64(s_json_u64(truth, "seq"), spec[i].seq);
        CHECK_U64(s_json_u64(truth, "frame0"), spec[i].frame0);
        CHECK_U64(s_json_u64(truth, "rate"), spec[i].rate);
        CHECK_U64(s_json_u64(truth, "channels"), spec[i].channels);
        CHECK_U64(s_json_u64(truth, "frames"), spec[i].frames);
        CHECK_U64(s_json_u64(truth, "hop"), spec[i].hop);
        CHECK_I64(s_json_u64(truth, "time_ns"), spec[i].time_ns);
    }
    s_set_ctx("event.bin label");
    json_t *entry;
    size_t k;
    json_array_foreach(good, k, entry)
        if (strcmp(s_json_str(entry, "file"), "event.bin") == 0)
            CHECK_STR(s_json_str(json_object_get(entry, "block"), "label"), "speech_start");
}

static void s_check_vectors(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vectors.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    s_set_ctx("vectors.json");
    if (!root) {
        s_fail(__FILE__, __LINE__, "cannot load %s: %s (line %d)", path, jerr.text, jerr.line);
        return;
    }
    json_t *good = json_object_get(root, "good");
    json_t *bad = json_object_get(root, "bad");
    /* An empty or half-written vectors.json must not pass quietly. */
    CHECK(json_array_size(good) >= 5);
    CHECK(json_array_size(bad) >= 9);
    static const char *const required_bad[] = {"truncated.bin", "oversized.bin", "wrong_type.bin",
                                               "wrong_version.bin", "missing_key.bin", "size_mismatch.bin",
                                               "trailing.bin", "bad_name.bin", "bad_format.bin"};
    for (size_t i = 0; i < sizeof required_bad / sizeof required_bad[0]; i++) {
        bool found = false;
        size_t k;
        json_t *entry;
        json_array_foreach(bad, k, entry)
            found |= strcmp(s_json_str(entry, "file"), required_bad[i]) == 0;
        s_set_ctx("vectors.json lists %s", required_bad[i]);
        CHECK(found);
    }
    s_check_spec_values(good);

    size_t k;
    json_t *entry;
    json_array_foreach(good, k, entry)
        s_check_good(dir, entry);
    json_array_foreach(bad, k, entry)
        s_check_bad(dir, entry);
    json_decref(root);
}

/* xorshift64*: the same blocks on every run. */
static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t s_rand_below(uint64_t n)
{
    return s_rand() % n;
}

/* A value of random magnitude, so that every integer width gets used. */
static uint64_t s_rand_wide(void)
{
    uint64_t value = s_rand();
    return value >> s_rand_below(64);
}

static void s_rand_name(char *name)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/";
    size_t len = 1 + s_rand_below(s_rand_below(4) == 0 ? AB_STREAM_NAME_MAX : 12);
    for (size_t i = 0; i < len; i++) {
        name[i] = chars[s_rand_below(sizeof chars - 1)];
        if (name[i] == '/' && (i == 0 || i == len - 1 || name[i - 1] == '/'))
            name[i] = 'x';
    }
    name[len] = '\0';
}

static void s_rand_block(ab_block_t *b, uint8_t *samples)
{
    memset(b, 0, sizeof *b);
    b->version = AB_PROTOCOL_VERSION;
    b->type = (ab_block_type_t)(1 + s_rand_below(4));
    b->format = (ab_format_t)(1 + s_rand_below(3));
    b->channels = s_rand_below(8) ? 1 + (uint32_t)s_rand_below(8) : 1 + (uint32_t)s_rand_below(AB_BLOCK_MAX_CHANNELS);
    static const uint32_t rates[] = {1, 8000, 16000, 44100, 48000, 96000, 192000, AB_RATE_MAX};
    b->rate = s_rand_below(4) ? rates[s_rand_below(8)] : 1 + (uint32_t)s_rand_below(AB_RATE_MAX);
    b->seq = s_rand_wide();
    b->frame0 = s_rand_wide();
    int64_t magnitude = (int64_t)(s_rand_wide() >> 1);
    b->time_ns = s_rand_below(2) ? magnitude : -magnitude - 1;
    if (s_rand_below(50) == 0)
        b->time_ns = s_rand_below(2) ? INT64_MIN : INT64_MAX;
    s_rand_name(b->stream);
    if (b->type == AB_BLOCK_EVENT || s_rand_below(8) == 0) {
        size_t len = s_rand_below(AB_LABEL_MAX + 1);
        for (size_t i = 0; i < len; i++)
            b->label[i] = (char)(1 + s_rand_below(255)); /* any byte but NUL */
        b->label[len] = '\0';
    }
    if (b->type == AB_BLOCK_FEATURES)
        b->hop = 1 + (uint32_t)(s_rand_wide() % UINT32_MAX);
    if (b->type == AB_BLOCK_AUDIO || b->type == AB_BLOCK_FEATURES) {
        size_t size = ab_format_size(b->format);
        uint64_t most = AB_BLOCK_MAX_SAMPLE_BYTES / (b->channels * size);
        if (most > AB_BLOCK_MAX_FRAMES)
            most = AB_BLOCK_MAX_FRAMES;
        b->frames = s_rand_below(100) == 0 ? (uint32_t)most : 1 + (uint32_t)s_rand_below(most < 512 ? most : 512);
    }
    b->samples_len = (size_t)b->frames * b->channels * ab_format_size(b->format);
    for (size_t i = 0; i < b->samples_len; i++)
        samples[i] = (uint8_t)s_rand();
    b->samples = b->frames ? samples : NULL;
}

static void s_compare_blocks(const ab_block_t *got, const ab_block_t *want)
{
    CHECK_U64(got->version, want->version);
    CHECK_U64(got->type, want->type);
    CHECK_STR(got->stream, want->stream);
    CHECK_U64(got->seq, want->seq);
    CHECK_U64(got->frame0, want->frame0);
    CHECK_I64(got->time_ns, want->time_ns);
    CHECK_U64(got->rate, want->rate);
    CHECK_U64(got->channels, want->channels);
    CHECK_U64(got->format, want->format);
    CHECK_U64(got->frames, want->frames);
    CHECK_U64(got->hop, want->hop);
    CHECK_STR(got->label, want->label);
    if (CHECK_U64(got->samples_len, want->samples_len) && want->samples_len)
        CHECK(memcmp(got->samples, want->samples, want->samples_len) == 0);
}

static void s_test_random_round_trips(void)
{
    uint8_t *samples = malloc(AB_BLOCK_MAX_SAMPLE_BYTES);
    uint8_t *buf = malloc(AB_BLOCK_MAX_BYTES);
    uint8_t *again = malloc(AB_BLOCK_MAX_BYTES);
    if (!samples || !buf || !again) {
        fprintf(stderr, "test_block: out of memory\n");
        exit(1);
    }
    unsigned seen_types = 0, seen_formats = 0;
    for (int i = 0; i < 20000; i++) {
        ab_block_t b, d;
        s_rand_block(&b, samples);
        s_set_ctx("random block %d (%s %s, %u x %u)", i, ab_block_type_name(b.type),
                  ab_format_name(b.format), b.frames, b.channels);
        seen_types |= 1u << b.type;
        seen_formats |= 1u << b.format;
        CHECK(ab_stream_name_valid(b.stream));
        size_t len = 0;
        if (!CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES, &len), 0))
            continue;
        CHECK(len <= ab_block_encoded_max(&b));
        CHECK(len - b.samples_len <= AB_BLOCK_HEADER_MAX);
        if (!CHECK_ERR(ab_block_decode(&d, buf, len), 0))
            continue;
        s_compare_blocks(&d, &b);
        size_t len2 = 0;
        CHECK_ERR(ab_block_encode(&d, again, AB_BLOCK_MAX_BYTES, &len2), 0);
        CHECK(len2 == len && memcmp(again, buf, len) == 0);
        if (len < 4096 || i % 64 == 0) {
            size_t unused;
            CHECK_ERR(ab_block_encode(&b, again, len - 1, &unused), AB_ETOOBIG);
        }
    }
    s_set_ctx("random blocks");
    CHECK_U64(seen_types, 0x1e);
    CHECK_U64(seen_formats, 0x0e);
    free(samples);
    free(buf);
    free(again);
}

/* The largest blocks and headers stay within the stated limits, and the
 * encoder refuses what the decoder would refuse. */
static void s_test_limits(void)
{
    uint8_t *samples = calloc(1, AB_BLOCK_MAX_SAMPLE_BYTES + 4);
    uint8_t *buf = malloc(AB_BLOCK_MAX_BYTES + 1);
    if (!samples || !buf) {
        fprintf(stderr, "test_block: out of memory\n");
        exit(1);
    }
    ab_block_t b, d;
    size_t len;

    s_set_ctx("largest header");
    memset(&b, 0, sizeof b);
    b.version = AB_PROTOCOL_VERSION;
    b.type = AB_BLOCK_FEATURES;
    memset(b.stream, 'n', AB_STREAM_NAME_MAX);
    memset(b.label, 'l', AB_LABEL_MAX);
    b.seq = b.frame0 = UINT64_MAX;
    b.time_ns = INT64_MIN;
    b.rate = AB_RATE_MAX;
    b.channels = 8; /* with s16 and 65536 frames: 1 MiB, the widest frames and bin32 */
    b.format = AB_FORMAT_S16;
    b.frames = AB_BLOCK_MAX_FRAMES;
    b.hop = UINT32_MAX;
    b.samples = samples;
    b.samples_len = AB_BLOCK_MAX_SAMPLE_BYTES;
    if (CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES, &len), 0)) {
        CHECK_U64(len - b.samples_len, 274); /* the figure PROTOCOL.md gives */
        CHECK(len - b.samples_len <= AB_BLOCK_HEADER_MAX);
        CHECK(len <= AB_BLOCK_MAX_BYTES);
        CHECK_ERR(ab_block_decode(&d, buf, len), 0);
    }

    s_set_ctx("largest audio block: 65536 frames x 4 channels x f32 = 1 MiB");
    b.type = AB_BLOCK_AUDIO;
    b.label[0] = '\0';
    b.format = AB_FORMAT_F32;
    b.channels = 4;
    b.frames = AB_BLOCK_MAX_FRAMES;
    if (CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES, &len), 0))
        CHECK_ERR(ab_block_decode(&d, buf, len), 0);

    s_set_ctx("just over the frame and sample-byte limits");
    b.channels = 1;
    b.frames = AB_BLOCK_MAX_FRAMES;
    b.format = AB_FORMAT_S16;
    b.samples_len = AB_BLOCK_MAX_FRAMES * 2;
    CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES, &len), 0);
    b.frames = AB_BLOCK_MAX_FRAMES + 1;
    b.samples_len += 2;
    CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES, &len), AB_ETOOBIG);
    b.frames = 1;
    b.channels = AB_BLOCK_MAX_CHANNELS;
    b.format = AB_FORMAT_S32;
    b.frames = AB_BLOCK_MAX_SAMPLE_BYTES / (AB_BLOCK_MAX_CHANNELS * 4) + 1;
    b.samples_len = (size_t)b.frames * b.channels * 4;
    CHECK_ERR(ab_block_encode(&b, buf, AB_BLOCK_MAX_BYTES + 1, &len), AB_ETOOBIG);

    s_set_ctx("message longer than AB_BLOCK_MAX_BYTES, refused unread");
    memset(buf, 0, AB_BLOCK_MAX_BYTES + 1);
    CHECK_ERR(ab_block_decode(&d, buf, AB_BLOCK_MAX_BYTES + 1), AB_ETOOBIG);
    CHECK_ERR(ab_block_decode(&d, NULL, 0), AB_ETRUNC);

    /* Each invalid block the encoder must refuse, with the decoder's code. */
    static const uint8_t four[16] = {0};
    ab_block_t good = {.version = 1, .type = AB_BLOCK_AUDIO, .stream = "mic1", .rate = 48000,
                       .channels = 1, .format = AB_FORMAT_F32, .frames = 4, .samples = four,
                       .samples_len = 16};
    s_set_ctx("encoder refuses");
    CHECK_ERR(ab_block_encode(&good, buf, 1024, &len), 0);
    b = good, b.version = 2;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_EVERSION);
    b = good, b.type = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, strcpy(b.stream, "mic 1");
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ENAME);
    b = good, b.stream[0] = '\0';
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ENAME);
    b = good, b.rate = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.rate = AB_RATE_MAX + 1;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.channels = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.channels = AB_BLOCK_MAX_CHANNELS + 1;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.format = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_EFORMAT);
    b = good, b.frames = 5;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ESIZE);
    b = good, b.samples = NULL;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ESIZE);
    b = good, b.frames = 0, b.samples_len = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.type = AB_BLOCK_FEATURES, b.hop = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.type = AB_BLOCK_EVENT;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), AB_ERANGE);
    b = good, b.type = AB_BLOCK_END, b.frames = 0, b.samples = NULL, b.samples_len = 0;
    CHECK_ERR(ab_block_encode(&b, buf, 1024, &len), 0);

    s_set_ctx("format and type names");
    ab_format_t f;
    CHECK_ERR(ab_format_parse("s32", &f), 0);
    CHECK_U64(f, AB_FORMAT_S32);
    CHECK_ERR(ab_format_parse("f64", &f), AB_EFORMAT);
    CHECK_ERR(ab_format_parse("f3", &f), AB_EFORMAT);
    CHECK_ERR(ab_format_parse(NULL, &f), AB_EFORMAT);
    CHECK(ab_format_name(0) == NULL && ab_format_name(4) == NULL);
    CHECK(ab_block_type_name(0) == NULL && ab_block_type_name(5) == NULL);
    CHECK_U64(ab_format_size(AB_FORMAT_S16), 2);

    s_set_ctx("topics");
    uint8_t topic[AB_TOPIC_MAX];
    CHECK_U64(ab_topic_for_stream("mic1", topic), 5);
    CHECK(memcmp(topic, "mic1", 5) == 0);
    CHECK(ab_topic_matches((const uint8_t *)"mic1", 5, "mic1"));
    CHECK(!ab_topic_matches((const uint8_t *)"mic1", 4, "mic1"));
    CHECK(!ab_topic_matches((const uint8_t *)"mic10", 6, "mic1"));
    CHECK(!ab_topic_matches((const uint8_t *)"mic2", 5, "mic1"));
    free(samples);
    free(buf);
}

static void s_test_names(void)
{
    static const char *const valid[] = {"a", "mic1", "mic1/logmel", "a.b_c-d/E9", "A/b/c",
                                        "0", "..", "-", "room-2/mic.left/vad_v2"};
    static const char *const invalid[] = {"", "/a", "a/", "/", "a//b", "mic 1", "mic1\n", "a:b",
                                          "$link/1", "caf\xc3\xa9", "a\\b", "a*", "tab\there"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        s_set_ctx("valid name \"%s\"", valid[i]);
        CHECK(ab_stream_name_valid(valid[i]));
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        s_set_ctx("invalid name \"%s\"", invalid[i]);
        CHECK(!ab_stream_name_valid(invalid[i]));
    }
    char name[AB_STREAM_NAME_MAX + 2];
    memset(name, 'x', sizeof name);
    name[AB_STREAM_NAME_MAX] = '\0';
    s_set_ctx("name of 64 bytes");
    CHECK(ab_stream_name_valid(name));
    name[AB_STREAM_NAME_MAX] = 'x';
    name[AB_STREAM_NAME_MAX + 1] = '\0';
    s_set_ctx("name of 65 bytes");
    CHECK(!ab_stream_name_valid(name));
    s_set_ctx("NULL name");
    CHECK(!ab_stream_name_valid(NULL));
    /* Every byte value alone, against the charset. */
    for (int c = 1; c < 256; c++) {
        char one[2] = {(char)c, '\0'};
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        s_set_ctx("name of the single byte 0x%02x", c);
        CHECK(ab_stream_name_valid(one) == want);
    }
}

/* A reader over bytes; checks that a failed read leaves the cursor alone. */
#define READER(r, bytes) \
    ab_mp_reader_t r;    \
    ab_mp_reader_init(&r, bytes, sizeof bytes - 1)

static void s_test_reader(void)
{
    uint32_t count, len;
    const char *s;
    const uint8_t *bin;
    uint64_t u;
    int64_t i64;
    char copy[8];

    s_set_ctx("map32 claiming 2^32-1 entries in 5 bytes");
    {
        READER(r, "\xdf\xff\xff\xff\xff");
        CHECK_ERR(ab_mp_read_map(&r, &count), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 5);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 5);
    }
    s_set_ctx("array32 claiming 2^32-1 entries");
    {
        READER(r, "\xdd\xff\xff\xff\xff\xc0\xc0");
        CHECK_ERR(ab_mp_read_array(&r, &count), AB_ETRUNC);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 7);
    }
    s_set_ctx("map16 claiming 4 entries with 6 bytes left (each takes at least 2)");
    {
        READER(r, "\xde\x00\x04\xa1x\x01\xa1y\x02");
        CHECK_ERR(ab_mp_read_map(&r, &count), AB_ETRUNC);
    }
    s_set_ctx("str32 claiming 4 GiB");
    {
        READER(r, "\xdb\xff\xff\xff\xff" "abc");
        CHECK_ERR(ab_mp_read_str(&r, &s, &len), AB_ETRUNC);
        CHECK_ERR(ab_mp_read_str_copy(&r, copy, sizeof copy), AB_ETRUNC);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 8);
    }
    s_set_ctx("bin32 claiming 4 GiB");
    {
        READER(r, "\xc6\xff\xff\xff\xff" "abc");
        CHECK_ERR(ab_mp_read_bin(&r, &bin, &len), AB_ETRUNC);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 8);
    }
    s_set_ctx("ext32 claiming 4 GiB");
    {
        READER(r, "\xc9\xff\xff\xff\xff\x01" "abc");
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 9);
    }
    s_set_ctx("nested arrays");
    {
        uint8_t deep[128];
        for (int depth = 1; depth <= 100; depth++) {
            memset(deep, 0x91, (size_t)depth); /* fixarray of one element */
            deep[depth] = 0xc0;
            ab_mp_reader_t r;
            ab_mp_reader_init(&r, deep, (size_t)depth + 1);
            s_set_ctx("arrays nested %d deep", depth);
            if (depth <= AB_MP_MAX_DEPTH) {
                CHECK_ERR(ab_mp_skip(&r), 0);
                CHECK_U64(ab_mp_remaining(&r), 0);
            } else {
                CHECK_ERR(ab_mp_skip(&r), AB_ETOOBIG);
                CHECK_U64(ab_mp_remaining(&r), (uint64_t)depth + 1);
            }
        }
    }
    s_set_ctx("maps nested 100 deep");
    {
        uint8_t deep[301];
        for (int i = 0; i < 100; i++) {
            deep[3 * i] = 0x81;     /* fixmap of one entry */
            deep[3 * i + 1] = 0xa1; /* key "k" */
            deep[3 * i + 2] = 'k';
        }
        deep[300] = 0xc0;
        ab_mp_reader_t r;
        ab_mp_reader_init(&r, deep, sizeof deep);
        CHECK_ERR(ab_mp_skip(&r), AB_ETOOBIG);
        CHECK_U64(ab_mp_remaining(&r), sizeof deep);
    }
    s_set_ctx("array16 of 1000 nils");
    {
        uint8_t many[3 + 1000];
        many[0] = 0xdc, many[1] = 0x03, many[2] = 0xe8;
        memset(many + 3, 0xc0, 1000);
        ab_mp_reader_t r;
        ab_mp_reader_init(&r, many, sizeof many);
        CHECK_ERR(ab_mp_skip(&r), 0);
        CHECK_U64(ab_mp_remaining(&r), 0);
        ab_mp_reader_init(&r, many, sizeof many - 1);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
    }
    s_set_ctx("0xc1, the byte msgpack never uses");
    {
        READER(r, "\xc1");
        CHECK_ERR(ab_mp_skip(&r), AB_ETYPE);
        CHECK_ERR(ab_mp_read_uint(&r, &u), AB_ETYPE);
        CHECK_U64(ab_mp_remaining(&r), 1);
    }
    s_set_ctx("skip every kind of scalar");
    {
        READER(r, "\xc0\xc2\xc3\x7f\xe0\xcc\x01\xcd\x01\x02\xce\x01\x02\x03\x04"
                  "\xcf\x01\x02\x03\x04\x05\x06\x07\x08\xd0\x01\xd1\x01\x02\xd2\x01\x02\x03\x04"
                  "\xd3\x01\x02\x03\x04\x05\x06\x07\x08\xca\x01\x02\x03\x04"
                  "\xcb\x01\x02\x03\x04\x05\x06\x07\x08\xd4\x01\x01\xd5\x01\x01\x02"
                  "\xd6\x01\x01\x02\x03\x04\xd7\x01\x01\x02\x03\x04\x05\x06\x07\x08"
                  "\xd8\x01\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
                  "\xc7\x02\x01\xaa\xbb\xd9\x01x\xc4\x01\x00\x80\x90");
        int n = 0;
        while (ab_mp_remaining(&r) > 0 && ab_mp_skip(&r) == 0)
            n++;
        CHECK_U64(ab_mp_remaining(&r), 0);
        CHECK_U64(n, 25);
    }
    s_set_ctx("integers");
    {
        READER(r, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
        CHECK_ERR(ab_mp_read_int(&r, &i64), AB_ERANGE);
        CHECK_ERR(ab_mp_read_uint(&r, &u), 0);
        CHECK_U64(u, UINT64_MAX);
    }
    {
        READER(r, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00");
        CHECK_ERR(ab_mp_read_uint(&r, &u), AB_ERANGE);
        CHECK_ERR(ab_mp_read_int(&r, &i64), 0);
        CHECK_I64(i64, INT64_MIN);
    }
    {
        READER(r, "\xe0\xd0\x7f\xd1\xff\x00\xcd\x01");
        CHECK_ERR(ab_mp_read_int(&r, &i64), 0);
        CHECK_I64(i64, -32);
        CHECK_ERR(ab_mp_read_uint(&r, &u), 0); /* int8 holding a positive value */
        CHECK_U64(u, 127);
        CHECK_ERR(ab_mp_read_int(&r, &i64), 0);
        CHECK_I64(i64, -256);
        CHECK_ERR(ab_mp_read_uint(&r, &u), AB_ETRUNC);
        CHECK_U64(ab_mp_remaining(&r), 2);
    }
    s_set_ctx("wrong types");
    {
        READER(r, "\xa1x");
        CHECK_ERR(ab_mp_read_uint(&r, &u), AB_ETYPE);
        CHECK_ERR(ab_mp_read_bin(&r, &bin, &len), AB_ETYPE);
        CHECK_ERR(ab_mp_read_map(&r, &count), AB_ETYPE);
        CHECK_ERR(ab_mp_read_str(&r, &s, &len), 0);
        CHECK(len == 1 && s[0] == 'x');
    }
    s_set_ctx("str copy limits");
    {
        READER(r, "\xa8" "12345678" "\xa3" "a\0b");
        CHECK_ERR(ab_mp_read_str_copy(&r, copy, sizeof copy), AB_ETOOBIG);
        CHECK_U64(ab_mp_remaining(&r), 13);
        CHECK_ERR(ab_mp_read_str(&r, &s, &len), 0);
        CHECK_ERR(ab_mp_read_str_copy(&r, copy, sizeof copy), AB_ERANGE);
    }
    s_set_ctx("empty input");
    {
        ab_mp_reader_t r;
        ab_mp_reader_init(&r, "", 0);
        CHECK_ERR(ab_mp_read_map(&r, &count), AB_ETRUNC);
        CHECK_ERR(ab_mp_read_str(&r, &s, &len), AB_ETRUNC);
        CHECK_ERR(ab_mp_read_int(&r, &i64), AB_ETRUNC);
        CHECK_ERR(ab_mp_skip(&r), AB_ETRUNC);
        CHECK(!ab_mp_read_nil(&r));
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_block VECTORS_DIR (proto/vectors)\n");
        return 1;
    }
    s_check_vectors(argv[1]);
    s_test_random_round_trips();
    s_test_limits();
    s_test_names();
    s_test_reader();
    printf("test_block: %d checks, %d failed\n", s_checks, s_failures);
    return s_failures ? 1 : 0;
}
