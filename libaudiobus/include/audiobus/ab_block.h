/* ab_block.h - the data-plane block: what travels from recorders through the
 * broker to processors, and its msgpack codec.
 *
 * On the wire a block is two ZeroMQ frames: [topic][block]. The topic is the
 * stream name followed by one NUL byte, so a SUB prefix subscription to
 * "mic1\0" selects exactly stream "mic1" (and not "mic10"). The block is one
 * msgpack map; proto/PROTOCOL.md is the authority on its schema and limits.
 *
 * Decoding never allocates and never trusts a size: every count a message
 * claims is checked against the bytes that remain before it is used.
 */
#ifndef AUDIOBUS_AB_BLOCK_H_INCLUDED
#define AUDIOBUS_AB_BLOCK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AB_PROTOCOL_VERSION 1

/* Limits every sender respects and every receiver enforces. */
#define AB_STREAM_NAME_MAX 64        /* bytes, [A-Za-z0-9._/-] */
#define AB_LABEL_MAX 64              /* bytes of an event label */
#define AB_BLOCK_MAX_FRAMES 65536
#define AB_BLOCK_MAX_CHANNELS 256
#define AB_BLOCK_MAX_SAMPLE_BYTES (1u << 20)
#define AB_RATE_MIN 1
#define AB_RATE_MAX 1000000
/* The encoded map without its samples never exceeds this. */
#define AB_BLOCK_HEADER_MAX 512
/* Largest encoded block: a receiver refuses anything bigger unread. */
#define AB_BLOCK_MAX_BYTES (AB_BLOCK_MAX_SAMPLE_BYTES + AB_BLOCK_HEADER_MAX)
/* Largest topic frame: name + NUL. */
#define AB_TOPIC_MAX (AB_STREAM_NAME_MAX + 1)

typedef enum {
    AB_BLOCK_AUDIO = 1,    /* captured or processed audio */
    AB_BLOCK_FEATURES = 2, /* feature frames: channels = features per frame */
    AB_BLOCK_EVENT = 3,    /* a labelled moment; frames = 0 */
    AB_BLOCK_END = 4       /* the stream ended after the previous block; frames = 0 */
} ab_block_type_t;

typedef enum {
    AB_FORMAT_F32 = 1, /* IEEE-754 binary32, little-endian */
    AB_FORMAT_S16 = 2, /* signed 16-bit, little-endian */
    AB_FORMAT_S32 = 3  /* signed 32-bit, little-endian */
} ab_format_t;

/* One decoded (or to-be-encoded) block. samples points into the message it
 * was decoded from (zero-copy) or to the caller's buffer for encoding. */
typedef struct {
    uint32_t version;                   /* AB_PROTOCOL_VERSION */
    ab_block_type_t type;
    char stream[AB_STREAM_NAME_MAX + 1]; /* NUL-terminated */
    uint64_t seq;                       /* per stream, +1 per block, from 0 */
    uint64_t frame0;                    /* index of the first frame since the stream began */
    int64_t time_ns;                    /* capture time of frame0, ns since the Unix epoch */
    uint32_t rate;                      /* frames per second of the source audio */
    uint32_t channels;                  /* interleaved channels (features per frame) */
    ab_format_t format;
    uint32_t frames;                    /* frames in this block */
    uint32_t hop;                       /* features: source frames between feature frames */
    uint64_t epoch;                     /* one run of the publisher; 0: not given. A new
                                           epoch starts the stream's numbering afresh */
    char label[AB_LABEL_MAX + 1];       /* event label, "" otherwise */
    const uint8_t *samples;             /* frames * channels * sample size bytes */
    size_t samples_len;
} ab_block_t;

/* Bytes per sample of a format, 0 for an unknown one. [any-thread] */
AB_EXPORT size_t ab_format_size(ab_format_t format);

/* "f32", "s16", "s32", or NULL for an unknown format. [any-thread] */
AB_EXPORT const char *ab_format_name(ab_format_t format);

/* Parse "f32"/"s16"/"s32". Returns 0 and sets *format, or AB_EFORMAT.
 * [any-thread] */
AB_EXPORT int ab_format_parse(const char *name, ab_format_t *format);

/* Parse a format name of len bytes (not NUL-terminated, as in a msgpack
 * str). Returns 0 and sets *format, or AB_EFORMAT. [any-thread] */
AB_EXPORT int ab_format_from(const char *name, size_t len, ab_format_t *format);

/* Parse a block type name of len bytes. Returns 0 and sets *type, or
 * AB_ERANGE. [any-thread] */
AB_EXPORT int ab_block_type_from(const char *name, size_t len, ab_block_type_t *type);

/* "audio", "features", "event", "end", or NULL. [any-thread] */
AB_EXPORT const char *ab_block_type_name(ab_block_type_t type);

/* True when name is 1..AB_STREAM_NAME_MAX bytes of [A-Za-z0-9._/-], does
 * not start or end with '/', and has no "//". [any-thread] */
AB_EXPORT bool ab_stream_name_valid(const char *name);

/* Check a block against the protocol's rules (version, type, name, limits,
 * samples_len == frames * channels * format size). Returns 0 or the AB_E...
 * code of the first violation. [any-thread] */
AB_EXPORT int ab_block_validate(const ab_block_t *block);

/* Encode block into buf (capacity cap). On success returns 0 and sets
 * *len_out. Errors: the block's validation error, AB_ETOOBIG when cap is too
 * small. Uses msgpack-c's packer; does not allocate. [any-thread] */
AB_EXPORT int ab_block_encode(const ab_block_t *block, uint8_t *buf, size_t cap, size_t *len_out);

/* Upper bound of the encoded size of block. [any-thread] */
AB_EXPORT size_t ab_block_encoded_max(const ab_block_t *block);

/* Decode msg into block without copying samples (block->samples points into
 * msg) and validate it. Unknown keys are skipped. Errors: AB_ETRUNC,
 * AB_ETYPE, AB_EVERSION, AB_ETOOBIG, AB_EMISSING, AB_EFORMAT, AB_ERANGE,
 * AB_ESIZE, AB_ENAME, AB_EEXTRA. Never allocates. [any-thread] */
AB_EXPORT int ab_block_decode(ab_block_t *block, const uint8_t *msg, size_t len);

/* Write the topic frame for a stream ("name\0") into topic (at least
 * AB_TOPIC_MAX bytes). Returns its length. [any-thread] */
AB_EXPORT size_t ab_topic_for_stream(const char *stream, uint8_t *topic);

/* True when the topic frame is exactly the topic of block->stream. */
AB_EXPORT bool ab_topic_matches(const uint8_t *topic, size_t topic_len, const char *stream);

#ifdef __cplusplus
}
#endif

#endif
