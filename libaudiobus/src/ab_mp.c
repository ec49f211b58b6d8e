/* ab_mp.c - bounded msgpack cursor and fixed-buffer packer (see ab_mp.h). */
#include "ab_mp.h"

#include <string.h>

#include "audiobus/ab_error.h"

/* Big-endian loads; msgpack stores every multi-byte value big-endian. */
static uint16_t s_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t s_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t s_be64(const uint8_t *p)
{
    return ((uint64_t)s_be32(p) << 32) | s_be32(p + 4);
}

/* Take n bytes, or fail without moving. */
static int s_take(ab_mp_reader_t *r, size_t n, const uint8_t **out)
{
    if (ab_mp_remaining(r) < n)
        return AB_ETRUNC;
    *out = r->pos;
    r->pos += n;
    return 0;
}

static int s_peek(const ab_mp_reader_t *r, uint8_t *byte)
{
    if (r->pos >= r->end)
        return AB_ETRUNC;
    *byte = *r->pos;
    return 0;
}

/* Read a length of width bytes (1, 2 or 4) following the tag byte. */
static int s_length(ab_mp_reader_t *r, int width, uint32_t *len)
{
    const uint8_t *p;
    int rc = s_take(r, (size_t)width, &p);
    if (rc)
        return rc;
    *len = width == 1 ? p[0] : width == 2 ? s_be16(p) : s_be32(p);
    return 0;
}

/* Containers: every element takes at least one byte (a map entry two), so a
 * count larger than what remains is a lie and is refused before use. */
static int s_container(ab_mp_reader_t *r, uint8_t fix_lo, uint8_t fix_hi, uint8_t tag16,
                       uint8_t tag32, uint32_t min_bytes_each, uint32_t *count)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *start = r->pos;
    r->pos++;
    if (tag >= fix_lo && tag <= fix_hi)
        *count = tag & 0x0f;
    else if (tag == tag16)
        rc = s_length(r, 2, count);
    else if (tag == tag32)
        rc = s_length(r, 4, count);
    else
        rc = AB_ETYPE;
    if (rc == 0 && (uint64_t)*count * min_bytes_each > ab_mp_remaining(r))
        rc = AB_ETRUNC;
    if (rc)
        r->pos = start;
    return rc;
}

int ab_mp_read_map(ab_mp_reader_t *r, uint32_t *count)
{
    return s_container(r, 0x80, 0x8f, 0xde, 0xdf, 2, count);
}

int ab_mp_read_array(ab_mp_reader_t *r, uint32_t *count)
{
    return s_container(r, 0x90, 0x9f, 0xdc, 0xdd, 1, count);
}

int ab_mp_read_str(ab_mp_reader_t *r, const char **str, uint32_t *len)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *start = r->pos;
    r->pos++;
    if (tag >= 0xa0 && tag <= 0xbf)
        *len = tag & 0x1f;
    else if (tag == 0xd9)
        rc = s_length(r, 1, len);
    else if (tag == 0xda)
        rc = s_length(r, 2, len);
    else if (tag == 0xdb)
        rc = s_length(r, 4, len);
    else
        rc = AB_ETYPE;
    const uint8_t *p = NULL;
    if (rc == 0)
        rc = s_take(r, *len, &p);
    if (rc) {
        r->pos = start;
        return rc;
    }
    *str = (const char *)p;
    return 0;
}

int ab_mp_read_str_copy(ab_mp_reader_t *r, char *dest, size_t cap)
{
    const char *s;
    uint32_t len;
    const uint8_t *start = r->pos;
    int rc = ab_mp_read_str(r, &s, &len);
    if (rc)
        return rc;
    if ((size_t)len + 1 > cap || memchr(s, '\0', len)) {
        r->pos = start;
        return (size_t)len + 1 > cap ? AB_ETOOBIG : AB_ERANGE;
    }
    memcpy(dest, s, len);
    /* The rest zeroed too: a key sent twice leaves nothing of its first
     * value behind, and equal strings are equal buffers. */
    memset(dest + len, 0, cap - len);
    return 0;
}

int ab_mp_read_bin(ab_mp_reader_t *r, const uint8_t **bin, uint32_t *len)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *start = r->pos;
    r->pos++;
    if (tag == 0xc4)
        rc = s_length(r, 1, len);
    else if (tag == 0xc5)
        rc = s_length(r, 2, len);
    else if (tag == 0xc6)
        rc = s_length(r, 4, len);
    else
        rc = AB_ETYPE;
    if (rc == 0)
        rc = s_take(r, *len, bin);
    if (rc)
        r->pos = start;
    return rc;
}

/* Integers: positive/negative fixint, uint8..64, int8..64. */
static int s_integer(ab_mp_reader_t *r, bool *negative, uint64_t *magnitude_or_value, int64_t *signed_value)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *start = r->pos;
    const uint8_t *p;
    r->pos++;
    *negative = false;
    if (tag <= 0x7f) {
        *magnitude_or_value = tag;
        return 0;
    }
    if (tag >= 0xe0) {
        *negative = true;
        *signed_value = (int8_t)tag;
        return 0;
    }
    static const int widths[] = {1, 2, 4, 8};
    if (tag >= 0xcc && tag <= 0xcf) {
        int w = widths[tag - 0xcc];
        if ((rc = s_take(r, (size_t)w, &p)) != 0) {
            r->pos = start;
            return rc;
        }
        *magnitude_or_value = w == 1 ? p[0] : w == 2 ? s_be16(p) : w == 4 ? s_be32(p) : s_be64(p);
        return 0;
    }
    if (tag >= 0xd0 && tag <= 0xd3) {
        int w = widths[tag - 0xd0];
        if ((rc = s_take(r, (size_t)w, &p)) != 0) {
            r->pos = start;
            return rc;
        }
        int64_t v = w == 1 ? (int8_t)p[0]
                  : w == 2 ? (int16_t)s_be16(p)
                  : w == 4 ? (int32_t)s_be32(p)
                           : (int64_t)s_be64(p);
        if (v >= 0) {
            *magnitude_or_value = (uint64_t)v;
        } else {
            *negative = true;
            *signed_value = v;
        }
        return 0;
    }
    r->pos = start;
    return AB_ETYPE;
}

int ab_mp_read_uint(ab_mp_reader_t *r, uint64_t *value)
{
    bool negative;
    int64_t signed_value = 0;
    const uint8_t *start = r->pos;
    int rc = s_integer(r, &negative, value, &signed_value);
    if (rc == 0 && negative) {
        r->pos = start;
        return AB_ERANGE;
    }
    return rc;
}

int ab_mp_read_u32(ab_mp_reader_t *r, uint32_t *value)
{
    uint64_t v;
    const uint8_t *start = r->pos;
    int rc = ab_mp_read_uint(r, &v);
    if (rc)
        return rc;
    if (v > UINT32_MAX) {
        r->pos = start;
        return AB_ERANGE;
    }
    *value = (uint32_t)v;
    return 0;
}

int ab_mp_read_fields(ab_mp_reader_t *r, uint32_t max_keys, ab_mp_field_fn *field, void *ctx)
{
    uint32_t count;
    int rc = ab_mp_read_map(r, &count);
    if (rc)
        return rc;
    if (count > max_keys)
        return AB_ETOOBIG;
    for (uint32_t i = 0; i < count; i++) {
        const char *key;
        uint32_t key_len;
        if ((rc = ab_mp_read_str(r, &key, &key_len)) != 0)
            return rc;
        if ((rc = field(ctx, r, key, key_len)) != 0)
            return rc;
    }
    return 0;
}

int ab_mp_read_int(ab_mp_reader_t *r, int64_t *value)
{
    bool negative;
    uint64_t u = 0;
    const uint8_t *start = r->pos;
    int rc = s_integer(r, &negative, &u, value);
    if (rc)
        return rc;
    if (!negative) {
        if (u > (uint64_t)INT64_MAX) {
            r->pos = start;
            return AB_ERANGE;
        }
        *value = (int64_t)u;
    }
    return 0;
}

int ab_mp_read_bool(ab_mp_reader_t *r, bool *value)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    if (tag != 0xc2 && tag != 0xc3)
        return AB_ETYPE;
    r->pos++;
    *value = tag == 0xc3;
    return 0;
}

int ab_mp_read_double(ab_mp_reader_t *r, double *value)
{
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *p;
    if (tag == 0xca || tag == 0xcb) {
        const uint8_t *start = r->pos;
        r->pos++;
        if ((rc = s_take(r, tag == 0xca ? 4 : 8, &p)) != 0) {
            r->pos = start;
            return rc;
        }
        if (tag == 0xca) {
            uint32_t bits = s_be32(p);
            float f;
            memcpy(&f, &bits, sizeof f);
            *value = f;
        } else {
            uint64_t bits = s_be64(p);
            memcpy(value, &bits, sizeof *value);
        }
        return 0;
    }
    int64_t i;
    rc = ab_mp_read_int(r, &i);
    if (rc == 0)
        *value = (double)i;
    return rc;
}

bool ab_mp_read_nil(ab_mp_reader_t *r)
{
    if (r->pos < r->end && *r->pos == 0xc0) {
        r->pos++;
        return true;
    }
    return false;
}

static int s_skip(ab_mp_reader_t *r, int depth)
{
    if (depth > AB_MP_MAX_DEPTH)
        return AB_ETOOBIG;
    uint8_t tag;
    int rc = s_peek(r, &tag);
    if (rc)
        return rc;
    const uint8_t *p;
    uint32_t count, len;
    const char *s;
    const uint8_t *b;
    if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0 || tag == 0xc2 || tag == 0xc3) {
        r->pos++;
        return 0;
    }
    if ((tag >= 0x80 && tag <= 0x8f) || tag == 0xde || tag == 0xdf) {
        if ((rc = ab_mp_read_map(r, &count)) != 0)
            return rc;
        for (uint64_t i = 0; i < (uint64_t)count * 2; i++)
            if ((rc = s_skip(r, depth + 1)) != 0)
                return rc;
        return 0;
    }
    if ((tag >= 0x90 && tag <= 0x9f) || tag == 0xdc || tag == 0xdd) {
        if ((rc = ab_mp_read_array(r, &count)) != 0)
            return rc;
        for (uint32_t i = 0; i < count; i++)
            if ((rc = s_skip(r, depth + 1)) != 0)
                return rc;
        return 0;
    }
    if ((tag >= 0xa0 && tag <= 0xbf) || (tag >= 0xd9 && tag <= 0xdb))
        return ab_mp_read_str(r, &s, &len);
    if (tag >= 0xc4 && tag <= 0xc6)
        return ab_mp_read_bin(r, &b, &len);
    const uint8_t *start = r->pos;
    r->pos++;
    size_t fixed = 0;
    switch (tag) {
    case 0xcc: case 0xd0: fixed = 1; break;
    case 0xcd: case 0xd1: fixed = 2; break;
    case 0xca: case 0xce: case 0xd2: fixed = 4; break;
    case 0xcb: case 0xcf: case 0xd3: fixed = 8; break;
    case 0xd4: fixed = 2; break; /* fixext 1: type + 1 */
    case 0xd5: fixed = 3; break;
    case 0xd6: fixed = 5; break;
    case 0xd7: fixed = 9; break;
    case 0xd8: fixed = 17; break;
    case 0xc7: case 0xc8: case 0xc9: {
        int w = tag == 0xc7 ? 1 : tag == 0xc8 ? 2 : 4;
        if ((rc = s_length(r, w, &len)) != 0) {
            r->pos = start;
            return rc;
        }
        fixed = (size_t)len + 1;
        break;
    }
    default: /* 0xc1 is never used */
        r->pos = start;
        return AB_ETYPE;
    }
    rc = s_take(r, fixed, &p);
    if (rc)
        r->pos = start;
    return rc;
}

int ab_mp_skip(ab_mp_reader_t *r)
{
    const uint8_t *start = r->pos;
    int rc = s_skip(r, 0);
    if (rc)
        r->pos = start;
    return rc;
}

static int s_buffer_write(void *data, const char *buf, size_t len)
{
    ab_mp_buffer_t *out = data;
    if (len == 0)
        return 0; /* an empty body may come with buf == NULL: no memcpy */
    if (out->overflow || out->cap - out->len < len) {
        out->overflow = true;
        return -1;
    }
    memcpy(out->buf + out->len, buf, len);
    out->len += len;
    return 0;
}

void ab_mp_packer_init(msgpack_packer *pk, ab_mp_buffer_t *out, uint8_t *buf, size_t cap)
{
    out->buf = buf;
    out->cap = cap;
    out->len = 0;
    out->overflow = false;
    msgpack_packer_init(pk, out, s_buffer_write);
}

void ab_mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}
