/* ab_ctl.h - control-plane messages between nodes (DEALER) and the broker
 * (ROUTER): hello, welcome, refuse, linked, heartbeat, bye, list, error.
 *
 * Each message is one frame holding one msgpack map with "v" (protocol
 * version) and "cmd". The broker's answer to `list` (a listing of nodes and
 * streams) is built by the broker itself and read generically; every other
 * message goes through ab_ctl_encode()/ab_ctl_decode(). Decoding is bounded
 * and never allocates. proto/PROTOCOL.md is the authority on the schema.
 */
#ifndef AUDIOBUS_AB_CTL_H_INCLUDED
#define AUDIOBUS_AB_CTL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "ab_block.h"
#include "ab_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AB_CTL_MAX_BYTES 65536 /* largest control message either side accepts */
#define AB_CTL_STR_MAX 255     /* host names, endpoints, reasons */
#define AB_CTL_MAX_STREAMS 64  /* inputs or outputs of one node */
#define AB_CTL_MAX_STATS 16    /* counters in one heartbeat */
#define AB_CTL_STAT_NAME_MAX 31

typedef enum {
    AB_CMD_HELLO = 1,
    AB_CMD_WELCOME,
    AB_CMD_REFUSE,
    AB_CMD_LINKED,
    AB_CMD_HEARTBEAT,
    AB_CMD_BYE,
    AB_CMD_LIST,
    AB_CMD_LISTING,
    AB_CMD_ERROR,
    AB_CMD_REPLAY,    /* node -> broker: send me these blocks again */
    AB_CMD_REPLAYING, /* broker -> node: what the replay holds */
    AB_CMD_RESEND,    /* broker -> publisher: publish these blocks again */
    AB_CMD_LAST = AB_CMD_RESEND
} ab_cmd_t;

typedef enum { AB_ROLE_RECORDER = 1, AB_ROLE_PROCESSOR, AB_ROLE_CLIENT } ab_role_t;

/* A stream a node publishes, as announced in hello. */
typedef struct {
    char stream[AB_STREAM_NAME_MAX + 1];
    ab_block_type_t type;
    uint32_t rate;
    uint32_t channels;
    ab_format_t format;
    uint32_t hop;
} ab_ctl_output_t;

typedef struct {
    char name[AB_CTL_STAT_NAME_MAX + 1];
    uint64_t value;
} ab_ctl_stat_t;

/* Every field any command uses; each command reads only its own. */
typedef struct {
    ab_cmd_t cmd;
    /* hello */
    ab_role_t role;
    char name[AB_STREAM_NAME_MAX + 1];
    char host[AB_CTL_STR_MAX + 1];
    uint32_t pid;
    uint32_t n_inputs;
    char inputs[AB_CTL_MAX_STREAMS][AB_STREAM_NAME_MAX + 1];
    uint32_t n_outputs;
    ab_ctl_output_t outputs[AB_CTL_MAX_STREAMS];
    /* welcome */
    uint64_t session;
    char data_in[AB_CTL_STR_MAX + 1];
    char data_out[AB_CTL_STR_MAX + 1];
    uint32_t heartbeat_ms;
    /* refuse, error */
    char reason[AB_CTL_STR_MAX + 1];
    /* heartbeat (node to broker) */
    uint32_t n_stats;
    ab_ctl_stat_t stats[AB_CTL_MAX_STATS];
    uint32_t n_input_seqs; /* 0: not sent */
    uint64_t input_seqs[AB_CTL_MAX_STREAMS]; /* per input of the hello: the last seq handled */
    /* replay, replaying, resend: a range of one stream's blocks */
    char stream[AB_STREAM_NAME_MAX + 1];
    uint64_t from_seq, to_seq; /* inclusive */
    uint64_t first_seq;        /* replaying: lowest seq that can still be had */
    uint64_t live_seq;         /* replaying: the replay follows this block in the receiver's queue */
    uint32_t backlog_ms;       /* replay: the last backlog_ms of audio instead of a range */
} ab_ctl_msg_t;

/* "hello", "welcome", ... or NULL. [any-thread] */
AB_EXPORT const char *ab_cmd_name(ab_cmd_t cmd);

/* "recorder", "processor", "client" or NULL. [any-thread] */
AB_EXPORT const char *ab_role_name(ab_role_t role);

/* Encode msg into buf. Returns 0 and sets *len_out, AB_EINVAL for a field
 * that breaks the protocol's rules (bad name, unknown cmd, LISTING), or
 * AB_ETOOBIG when cap is too small. [any-thread] */
AB_EXPORT int ab_ctl_encode(const ab_ctl_msg_t *msg, uint8_t *buf, size_t cap, size_t *len_out);

/* Decode and validate one control message. Unknown keys are skipped.
 * Errors: AB_ETRUNC, AB_ETYPE, AB_EVERSION, AB_ETOOBIG, AB_EMISSING,
 * AB_ECMD (unknown cmd), AB_ENAME, AB_ERANGE, AB_EEXTRA. LISTING is
 * refused with AB_ECMD (read it with a generic reader). [any-thread] */
AB_EXPORT int ab_ctl_decode(ab_ctl_msg_t *msg, const uint8_t *data, size_t len);

/* Set a heartbeat counter, adding it if absent. Returns 0 or AB_EFULL.
 * [any-thread] */
AB_EXPORT int ab_ctl_stat_set(ab_ctl_msg_t *msg, const char *name, uint64_t value);

/* Value of a heartbeat counter, or 0 when absent. [any-thread] */
AB_EXPORT uint64_t ab_ctl_stat_get(const ab_ctl_msg_t *msg, const char *name);

#ifdef __cplusplus
}
#endif

#endif
