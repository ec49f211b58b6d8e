/* ab_block.c - msgpack codec for data-plane blocks (schema: proto/PROTOCOL.md). */
#include "audiobus/ab_block.h"

#include <string.h>

#include "ab_mp.h"
#include "audiobus/ab_error.h"

static const char *const s_format_names[] = {NULL, "f32", "s16", "s32"};
static const size_t s_format_sizes[] = {0, 4, 2, 4};
static const char *const s_type_names[] = {NULL, "audio", "features", "event", "end"};

size_t ab_format_size(ab_format_t format)
{
    return format >= AB_FORMAT_F32 && format <= AB_FORMAT_S32 ? s_format_sizes[format] : 0;
}

const char *ab_format_name(ab_format_t format)
{
    return format >= AB_FORMAT_F32 && format <= AB_FORMAT_S32 ? s_format_names[format] : NULL;
}

int ab_format_from(const char *name, size_t len, ab_format_t *format)
{
    for (int f = AB_FORMAT_F32; f <= AB_FORMAT_S32; f++)
        if (ab_mp_str_eq(name, len, s_format_names[f])) {
            *format = (ab_format_t)f;
            return 0;
        }
    return AB_EFORMAT;
}

int ab_format_parse(const char *name, ab_format_t *format)
{
    return name ? ab_format_from(name, strlen(name), format) : AB_EFORMAT;
}

const char *ab_block_type_name(ab_block_type_t type)
{
    return type >= AB_BLOCK_AUDIO && type <= AB_BLOCK_END ? s_type_names[type] : NULL;
}

int ab_block_type_from(const char *name, size_t len, ab_block_type_t *type)
{
    for (int t = AB_BLOCK_AUDIO; t <= AB_BLOCK_END; t++)
        if (strlen(s_type_names[t]) == len && memcmp(name, s_type_names[t], len) == 0) {
            *type = (ab_block_type_t)t;
            return 0;
        }
    return AB_ERANGE;
}

static bool s_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/';
}

bool ab_stream_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t len = strnlen(name, AB_STREAM_NAME_MAX + 1);
    if (len == 0 || len > AB_STREAM_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!s_name_char(name[i]))
            return false;
        if (name[i] == '/' && name[i + 1] == '/')
            return false;
    }
    return true;
}

int ab_block_validate(const ab_block_t *b)
{
    if (b->version != AB_PROTOCOL_VERSION)
        return AB_EVERSION;
    if (!ab_block_type_name(b->type))
        return AB_ERANGE;
    if (!ab_stream_name_valid(b->stream))
        return AB_ENAME;
    if (b->rate < AB_RATE_MIN || b->rate > AB_RATE_MAX)
        return AB_ERANGE;
    if (b->channels < 1 || b->channels > AB_BLOCK_MAX_CHANNELS)
        return AB_ERANGE;
    size_t size = ab_format_size(b->format);
    if (size == 0)
        return AB_EFORMAT;
    if (b->frames > AB_BLOCK_MAX_FRAMES)
        return AB_ETOOBIG;
    bool carries_samples = b->type == AB_BLOCK_AUDIO || b->type == AB_BLOCK_FEATURES;
    if (carries_samples ? b->frames == 0 : b->frames != 0)
        return AB_ERANGE;
    if (b->type == AB_BLOCK_FEATURES && b->hop == 0)
        return AB_ERANGE; /* consumers divide by it */
    if (strnlen(b->label, AB_LABEL_MAX + 1) > AB_LABEL_MAX)
        return AB_ETOOBIG;
    uint64_t expected = (uint64_t)b->frames * b->channels * size;
    if (expected > AB_BLOCK_MAX_SAMPLE_BYTES)
        return AB_ETOOBIG;
    if (b->samples_len != expected || (expected && !b->samples))
        return AB_ESIZE;
    return 0;
}

size_t ab_block_encoded_max(const ab_block_t *block)
{
    return AB_BLOCK_HEADER_MAX + block->samples_len;
}

/* Keys in the order they are written; the golden vectors depend on it. */
int ab_block_encode(const ab_block_t *b, uint8_t *buf, size_t cap, size_t *len_out)
{
    int rc = ab_block_validate(b);
    if (rc)
        return rc;
    msgpack_packer pk;
    ab_mp_buffer_t out;
    ab_mp_packer_init(&pk, &out, buf, cap);
    bool has_hop = b->type == AB_BLOCK_FEATURES;
    bool has_epoch = b->epoch != 0;
    bool has_label = b->label[0] != '\0';
    msgpack_pack_map(&pk, 11 + has_epoch + has_hop + has_label);
    ab_mp_pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, b->version);
    ab_mp_pack_key(&pk, "type");
    ab_mp_pack_cstr(&pk, ab_block_type_name(b->type));
    ab_mp_pack_key(&pk, "stream");
    ab_mp_pack_cstr(&pk, b->stream);
    ab_mp_pack_key(&pk, "seq");
    msgpack_pack_uint64(&pk, b->seq);
    ab_mp_pack_key(&pk, "frame0");
    msgpack_pack_uint64(&pk, b->frame0);
    ab_mp_pack_key(&pk, "time_ns");
    msgpack_pack_int64(&pk, b->time_ns);
    ab_mp_pack_key(&pk, "rate");
    msgpack_pack_uint32(&pk, b->rate);
    ab_mp_pack_key(&pk, "channels");
    msgpack_pack_uint32(&pk, b->channels);
    ab_mp_pack_key(&pk, "format");
    ab_mp_pack_cstr(&pk, ab_format_name(b->format));
    ab_mp_pack_key(&pk, "frames");
    msgpack_pack_uint32(&pk, b->frames);
    if (has_epoch) {
        ab_mp_pack_key(&pk, "epoch");
        msgpack_pack_uint64(&pk, b->epoch);
    }
    if (has_hop) {
        ab_mp_pack_key(&pk, "hop");
        msgpack_pack_uint32(&pk, b->hop);
    }
    if (has_label) {
        ab_mp_pack_key(&pk, "label");
        ab_mp_pack_cstr(&pk, b->label);
    }
    ab_mp_pack_key(&pk, "samples");
    msgpack_pack_bin(&pk, b->samples_len);
    msgpack_pack_bin_body(&pk, b->samples, b->samples_len);
    if (out.overflow)
        return AB_ETOOBIG;
    *len_out = out.len;
    return 0;
}

enum {
    K_V = 1 << 0,
    K_TYPE = 1 << 1,
    K_STREAM = 1 << 2,
    K_SEQ = 1 << 3,
    K_FRAME0 = 1 << 4,
    K_TIME = 1 << 5,
    K_RATE = 1 << 6,
    K_CHANNELS = 1 << 7,
    K_FORMAT = 1 << 8,
    K_FRAMES = 1 << 9,
    K_SAMPLES = 1 << 10,
    K_REQUIRED = (1 << 11) - 1,
    K_HOP = 1 << 11 /* required for features only */
};

typedef struct {
    ab_block_t *block;
    unsigned seen; /* K_... of the keys read */
} s_decoding_t;

/* One key/value pair of the block map. */
static int s_decode_field(void *ctx, ab_mp_reader_t *r, const char *key, uint32_t key_len)
{
    ab_block_t *b = ((s_decoding_t *)ctx)->block;
    unsigned *seen = &((s_decoding_t *)ctx)->seen;
    const char *s;
    uint32_t len;
    int rc;
#define KEY(k) ab_mp_str_eq(key, key_len, k)
    if (KEY("v")) {
        if ((rc = ab_mp_read_u32(r, &b->version)) != 0)
            return rc;
        if (b->version != AB_PROTOCOL_VERSION)
            return AB_EVERSION;
        *seen |= K_V;
    } else if (KEY("type")) {
        if ((rc = ab_mp_read_str(r, &s, &len)) != 0)
            return rc;
        if ((rc = ab_block_type_from(s, len, &b->type)) != 0)
            return rc;
        *seen |= K_TYPE;
    } else if (KEY("stream")) {
        if ((rc = ab_mp_read_str_copy(r, b->stream, sizeof b->stream)) != 0)
            return rc == AB_ERANGE || rc == AB_ETOOBIG ? AB_ENAME : rc; /* NUL or > 64 bytes */
        *seen |= K_STREAM;
    } else if (KEY("seq")) {
        if ((rc = ab_mp_read_uint(r, &b->seq)) != 0)
            return rc;
        *seen |= K_SEQ;
    } else if (KEY("frame0")) {
        if ((rc = ab_mp_read_uint(r, &b->frame0)) != 0)
            return rc;
        *seen |= K_FRAME0;
    } else if (KEY("time_ns")) {
        if ((rc = ab_mp_read_int(r, &b->time_ns)) != 0)
            return rc;
        *seen |= K_TIME;
    } else if (KEY("rate")) {
        if ((rc = ab_mp_read_u32(r, &b->rate)) != 0)
            return rc;
        *seen |= K_RATE;
    } else if (KEY("channels")) {
        if ((rc = ab_mp_read_u32(r, &b->channels)) != 0)
            return rc;
        *seen |= K_CHANNELS;
    } else if (KEY("format")) {
        if ((rc = ab_mp_read_str(r, &s, &len)) != 0)
            return rc;
        if ((rc = ab_format_from(s, len, &b->format)) != 0)
            return rc;
        *seen |= K_FORMAT;
    } else if (KEY("frames")) {
        if ((rc = ab_mp_read_u32(r, &b->frames)) != 0)
            return rc;
        *seen |= K_FRAMES;
    } else if (KEY("epoch")) {
        if ((rc = ab_mp_read_uint(r, &b->epoch)) != 0)
            return rc;
    } else if (KEY("hop")) {
        if ((rc = ab_mp_read_u32(r, &b->hop)) != 0)
            return rc;
        *seen |= K_HOP;
    } else if (KEY("label")) {
        if ((rc = ab_mp_read_str_copy(r, b->label, sizeof b->label)) != 0)
            return rc;
    } else if (KEY("samples")) {
        uint32_t bin_len;
        if ((rc = ab_mp_read_bin(r, &b->samples, &bin_len)) != 0)
            return rc;
        if (bin_len > AB_BLOCK_MAX_SAMPLE_BYTES)
            return AB_ETOOBIG;
        b->samples_len = bin_len;
        *seen |= K_SAMPLES;
    } else {
        return ab_mp_skip(r); /* unknown keys are ignored: room to grow */
    }
#undef KEY
    return 0;
}

int ab_block_decode(ab_block_t *b, const uint8_t *msg, size_t len)
{
    memset(b, 0, sizeof *b);
    if (!msg || len == 0)
        return AB_ETRUNC;
    if (len > AB_BLOCK_MAX_BYTES)
        return AB_ETOOBIG;
    ab_mp_reader_t r;
    ab_mp_reader_init(&r, msg, len);
    s_decoding_t decoding = {.block = b};
    int rc = ab_mp_read_fields(&r, 64, s_decode_field, &decoding);
    if (rc)
        return rc;
    unsigned seen = decoding.seen;
    if (ab_mp_remaining(&r) != 0)
        return AB_EEXTRA;
    if (!(seen & K_V))
        return AB_EMISSING;
    if ((seen & K_REQUIRED) != K_REQUIRED)
        return AB_EMISSING;
    if (b->type == AB_BLOCK_FEATURES && !(seen & K_HOP))
        return AB_EMISSING;
    return ab_block_validate(b);
}

size_t ab_topic_for_stream(const char *stream, uint8_t *topic)
{
    size_t len = strnlen(stream, AB_STREAM_NAME_MAX);
    memcpy(topic, stream, len);
    topic[len] = '\0';
    return len + 1;
}

bool ab_topic_matches(const uint8_t *topic, size_t topic_len, const char *stream)
{
    size_t len = strnlen(stream, AB_STREAM_NAME_MAX);
    return topic_len == len + 1 && memcmp(topic, stream, len) == 0 && topic[len] == '\0';
}
