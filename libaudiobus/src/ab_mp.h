/* ab_mp.h - bounded msgpack reading and fixed-buffer msgpack writing.
 *
 * msgpack-c's unpacker allocates by the count a message claims (a 10-byte
 * input can ask for gigabytes), so everything read from the network goes
 * through this cursor instead: it never allocates, checks every length and
 * count against the bytes left, and limits nesting when skipping.
 * Writing uses msgpack-c's packer with a callback into a caller's buffer.
 */
#ifndef AUDIOBUS_AB_MP_H_INCLUDED
#define AUDIOBUS_AB_MP_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Maximum nesting depth ab_mp_skip() follows. */
#define AB_MP_MAX_DEPTH 16

typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
} ab_mp_reader_t;

static inline void ab_mp_reader_init(ab_mp_reader_t *r, const void *data, size_t len)
{
    r->pos = (const uint8_t *)data;
    r->end = r->pos + len;
}

static inline size_t ab_mp_remaining(const ab_mp_reader_t *r)
{
    return (size_t)(r->end - r->pos);
}

/* Each returns 0 or AB_ETRUNC / AB_ETYPE / AB_ETOOBIG / AB_ERANGE. */
int ab_mp_read_map(ab_mp_reader_t *r, uint32_t *count);
int ab_mp_read_array(ab_mp_reader_t *r, uint32_t *count);
/* A str (not copied): *str points into the message, *len its length. */
int ab_mp_read_str(ab_mp_reader_t *r, const char **str, uint32_t *len);
/* A str copied into dest (capacity cap incl. NUL), the rest of dest zeroed;
 * AB_ETOOBIG if longer. */
int ab_mp_read_str_copy(ab_mp_reader_t *r, char *dest, size_t cap);
int ab_mp_read_bin(ab_mp_reader_t *r, const uint8_t **bin, uint32_t *len);
/* Any non-negative integer. */
int ab_mp_read_uint(ab_mp_reader_t *r, uint64_t *value);
/* A non-negative integer that fits uint32 (AB_ERANGE otherwise). */
int ab_mp_read_u32(ab_mp_reader_t *r, uint32_t *value);
/* Any integer that fits int64. */
int ab_mp_read_int(ab_mp_reader_t *r, int64_t *value);
int ab_mp_read_bool(ab_mp_reader_t *r, bool *value);
/* float32, float64 or an integer. */
int ab_mp_read_double(ab_mp_reader_t *r, double *value);
/* True (and consumes it) when the next object is nil. */
bool ab_mp_read_nil(ab_mp_reader_t *r);
/* Skip one object of any type, bounded in depth. */
int ab_mp_skip(ab_mp_reader_t *r);

/* Reads the value of one map entry whose key is given; returns 0 or an
 * AB_E... code that stops the map. */
typedef int(ab_mp_field_fn)(void *ctx, ab_mp_reader_t *r, const char *key, uint32_t key_len);

/* Read a map of at most max_keys entries with string keys, calling field
 * for each entry. Returns 0, the first error, or AB_ETOOBIG for too many
 * keys. Trailing bytes after the map are the caller's business. */
int ab_mp_read_fields(ab_mp_reader_t *r, uint32_t max_keys, ab_mp_field_fn *field, void *ctx);

/* A fixed buffer that msgpack-c's packer writes into. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} ab_mp_buffer_t;

/* Set up pk to write into out (buf of capacity cap). */
void ab_mp_packer_init(msgpack_packer *pk, ab_mp_buffer_t *out, uint8_t *buf, size_t cap);

/* Pack a NUL-terminated string. */
void ab_mp_pack_cstr(msgpack_packer *pk, const char *s);

/* Pack a string key followed by nothing (the caller packs the value). */
#define ab_mp_pack_key(pk, key) ab_mp_pack_cstr((pk), (key))

/* True when the str at *str/len equals the NUL-terminated key. Inline:
 * the decoders compare every field's key against literals, whose lengths
 * the compiler then knows. */
static inline bool ab_mp_str_eq(const char *str, uint32_t len, const char *key)
{
    return strlen(key) == len && memcmp(str, key, len) == 0;
}

#endif
