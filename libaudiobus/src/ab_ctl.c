/* ab_ctl.c - codec for control-plane messages (schema: proto/PROTOCOL.md). */
#include "audiobus/ab_ctl.h"

#include <string.h>

#include "ab_mp.h"
#include "audiobus/ab_error.h"

static const char *const s_cmd_names[] = {NULL,  "hello",  "welcome",   "refuse", "linked", "heartbeat", "bye",
                                          "list", "listing", "error", "replay", "replaying", "resend"};
static const char *const s_role_names[] = {NULL, "recorder", "processor", "client"};

const char *ab_cmd_name(ab_cmd_t cmd)
{
    return cmd >= AB_CMD_HELLO && cmd <= AB_CMD_LAST ? s_cmd_names[cmd] : NULL;
}

const char *ab_role_name(ab_role_t role)
{
    return role >= AB_ROLE_RECORDER && role <= AB_ROLE_CLIENT ? s_role_names[role] : NULL;
}

int ab_ctl_stat_set(ab_ctl_msg_t *msg, const char *name, uint64_t value)
{
    for (uint32_t i = 0; i < msg->n_stats; i++)
        if (strcmp(msg->stats[i].name, name) == 0) {
            msg->stats[i].value = value;
            return 0;
        }
    if (msg->n_stats >= AB_CTL_MAX_STATS || strlen(name) > AB_CTL_STAT_NAME_MAX)
        return AB_EFULL;
    ab_ctl_stat_t *stat = &msg->stats[msg->n_stats++];
    strcpy(stat->name, name);
    stat->value = value;
    return 0;
}

uint64_t ab_ctl_stat_get(const ab_ctl_msg_t *msg, const char *name)
{
    for (uint32_t i = 0; i < msg->n_stats; i++)
        if (strcmp(msg->stats[i].name, name) == 0)
            return msg->stats[i].value;
    return 0;
}

static void s_pack_output(msgpack_packer *pk, const ab_ctl_output_t *out)
{
    msgpack_pack_map(pk, 6);
    ab_mp_pack_key(pk, "stream");
    ab_mp_pack_cstr(pk, out->stream);
    ab_mp_pack_key(pk, "type");
    ab_mp_pack_cstr(pk, ab_block_type_name(out->type));
    ab_mp_pack_key(pk, "rate");
    msgpack_pack_uint32(pk, out->rate);
    ab_mp_pack_key(pk, "channels");
    msgpack_pack_uint32(pk, out->channels);
    ab_mp_pack_key(pk, "format");
    ab_mp_pack_cstr(pk, ab_format_name(out->format));
    ab_mp_pack_key(pk, "hop");
    msgpack_pack_uint32(pk, out->hop);
}

static int s_validate_hello(const ab_ctl_msg_t *msg)
{
    if (!ab_role_name(msg->role) || !ab_stream_name_valid(msg->name))
        return AB_ENAME;
    if (msg->n_inputs > AB_CTL_MAX_STREAMS || msg->n_outputs > AB_CTL_MAX_STREAMS)
        return AB_ETOOBIG;
    for (uint32_t i = 0; i < msg->n_inputs; i++)
        if (!ab_stream_name_valid(msg->inputs[i]))
            return AB_ENAME;
    for (uint32_t i = 0; i < msg->n_outputs; i++) {
        const ab_ctl_output_t *out = &msg->outputs[i];
        if (!ab_stream_name_valid(out->stream))
            return AB_ENAME;
        if (!ab_block_type_name(out->type) || !ab_format_name(out->format))
            return AB_ERANGE;
        if (out->rate < AB_RATE_MIN || out->rate > AB_RATE_MAX || out->channels < 1 ||
            out->channels > AB_BLOCK_MAX_CHANNELS)
            return AB_ERANGE;
    }
    return 0;
}

int ab_ctl_encode(const ab_ctl_msg_t *msg, uint8_t *buf, size_t cap, size_t *len_out)
{
    const char *cmd = ab_cmd_name(msg->cmd);
    if (!cmd || msg->cmd == AB_CMD_LISTING)
        return AB_EINVAL;
    if (msg->cmd == AB_CMD_HELLO && s_validate_hello(msg))
        return AB_EINVAL;
    if (msg->n_stats > AB_CTL_MAX_STATS || msg->n_input_seqs > AB_CTL_MAX_STREAMS)
        return AB_EINVAL;
    msgpack_packer pk;
    ab_mp_buffer_t out;
    ab_mp_packer_init(&pk, &out, buf, cap);
    uint32_t extra = 0;
    switch (msg->cmd) {
    case AB_CMD_HELLO: extra = 6; break;
    case AB_CMD_WELCOME: extra = 4; break;
    case AB_CMD_REFUSE:
    case AB_CMD_ERROR: extra = 1; break;
    case AB_CMD_HEARTBEAT: extra = msg->n_input_seqs ? 2 : 1; break;
    case AB_CMD_REPLAY: extra = 5; break;
    case AB_CMD_REPLAYING: extra = 5; break;
    case AB_CMD_RESEND: extra = 3; break;
    default: break;
    }
    if ((msg->cmd == AB_CMD_REPLAY || msg->cmd == AB_CMD_REPLAYING || msg->cmd == AB_CMD_RESEND) &&
        !ab_stream_name_valid(msg->stream))
        return AB_EINVAL;
    msgpack_pack_map(&pk, 2 + extra);
    ab_mp_pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, AB_PROTOCOL_VERSION);
    ab_mp_pack_key(&pk, "cmd");
    ab_mp_pack_cstr(&pk, cmd);
    switch (msg->cmd) {
    case AB_CMD_HELLO:
        ab_mp_pack_key(&pk, "role");
        ab_mp_pack_cstr(&pk, ab_role_name(msg->role));
        ab_mp_pack_key(&pk, "name");
        ab_mp_pack_cstr(&pk, msg->name);
        ab_mp_pack_key(&pk, "host");
        ab_mp_pack_cstr(&pk, msg->host);
        ab_mp_pack_key(&pk, "pid");
        msgpack_pack_uint32(&pk, msg->pid);
        ab_mp_pack_key(&pk, "inputs");
        msgpack_pack_array(&pk, msg->n_inputs);
        for (uint32_t i = 0; i < msg->n_inputs; i++)
            ab_mp_pack_cstr(&pk, msg->inputs[i]);
        ab_mp_pack_key(&pk, "outputs");
        msgpack_pack_array(&pk, msg->n_outputs);
        for (uint32_t i = 0; i < msg->n_outputs; i++)
            s_pack_output(&pk, &msg->outputs[i]);
        break;
    case AB_CMD_WELCOME:
        ab_mp_pack_key(&pk, "session");
        msgpack_pack_uint64(&pk, msg->session);
        ab_mp_pack_key(&pk, "data_in");
        ab_mp_pack_cstr(&pk, msg->data_in);
        ab_mp_pack_key(&pk, "data_out");
        ab_mp_pack_cstr(&pk, msg->data_out);
        ab_mp_pack_key(&pk, "heartbeat_ms");
        msgpack_pack_uint32(&pk, msg->heartbeat_ms);
        break;
    case AB_CMD_REFUSE:
    case AB_CMD_ERROR:
        ab_mp_pack_key(&pk, "reason");
        ab_mp_pack_cstr(&pk, msg->reason);
        break;
    case AB_CMD_REPLAY:
    case AB_CMD_REPLAYING:
    case AB_CMD_RESEND:
        ab_mp_pack_key(&pk, "stream");
        ab_mp_pack_cstr(&pk, msg->stream);
        ab_mp_pack_key(&pk, "from_seq");
        msgpack_pack_uint64(&pk, msg->from_seq);
        ab_mp_pack_key(&pk, "to_seq");
        msgpack_pack_uint64(&pk, msg->to_seq);
        if (msg->cmd == AB_CMD_REPLAY) {
            ab_mp_pack_key(&pk, "session");
            msgpack_pack_uint64(&pk, msg->session);
            ab_mp_pack_key(&pk, "backlog_ms");
            msgpack_pack_uint32(&pk, msg->backlog_ms);
        } else if (msg->cmd == AB_CMD_REPLAYING) {
            ab_mp_pack_key(&pk, "first_seq");
            msgpack_pack_uint64(&pk, msg->first_seq);
            ab_mp_pack_key(&pk, "live_seq");
            msgpack_pack_uint64(&pk, msg->live_seq);
        }
        break;
    case AB_CMD_HEARTBEAT:
        ab_mp_pack_key(&pk, "stats");
        msgpack_pack_map(&pk, msg->n_stats);
        for (uint32_t i = 0; i < msg->n_stats; i++) {
            ab_mp_pack_cstr(&pk, msg->stats[i].name);
            msgpack_pack_uint64(&pk, msg->stats[i].value);
        }
        if (msg->n_input_seqs) {
            ab_mp_pack_key(&pk, "input_seqs");
            msgpack_pack_array(&pk, msg->n_input_seqs);
            for (uint32_t i = 0; i < msg->n_input_seqs; i++)
                msgpack_pack_uint64(&pk, msg->input_seqs[i]);
        }
        break;
    default:
        break;
    }
    if (out.overflow)
        return AB_ETOOBIG;
    *len_out = out.len;
    return 0;
}

static int s_read_name(ab_mp_reader_t *r, char *dest)
{
    int rc = ab_mp_read_str_copy(r, dest, AB_STREAM_NAME_MAX + 1);
    if (rc == AB_ETOOBIG || rc == AB_ERANGE)
        return AB_ENAME;
    return rc;
}

/* One key/value pair of an output map of hello. */
static int s_output_field(void *ctx, ab_mp_reader_t *r, const char *key, uint32_t key_len)
{
    ab_ctl_output_t *out = ctx;
    const char *s;
    uint32_t len;
    int rc;
    if (ab_mp_str_eq(key, key_len, "stream"))
        return s_read_name(r, out->stream);
    if (ab_mp_str_eq(key, key_len, "type"))
        return (rc = ab_mp_read_str(r, &s, &len)) != 0 ? rc : ab_block_type_from(s, len, &out->type);
    if (ab_mp_str_eq(key, key_len, "rate"))
        return ab_mp_read_u32(r, &out->rate);
    if (ab_mp_str_eq(key, key_len, "channels"))
        return ab_mp_read_u32(r, &out->channels);
    if (ab_mp_str_eq(key, key_len, "format"))
        return (rc = ab_mp_read_str(r, &s, &len)) != 0 ? rc : ab_format_from(s, len, &out->format);
    if (ab_mp_str_eq(key, key_len, "hop"))
        return ab_mp_read_u32(r, &out->hop);
    return ab_mp_skip(r);
}

static int s_read_output(ab_mp_reader_t *r, ab_ctl_output_t *out)
{
    return ab_mp_read_fields(r, 32, s_output_field, out);
}

static int s_read_stats(ab_mp_reader_t *r, ab_ctl_msg_t *msg)
{
    uint32_t count;
    int rc = ab_mp_read_map(r, &count);
    if (rc)
        return rc;
    if (count > AB_CTL_MAX_STATS)
        return AB_ETOOBIG;
    msg->n_stats = 0;
    for (uint32_t i = 0; i < count; i++) {
        ab_ctl_stat_t *stat = &msg->stats[msg->n_stats++];
        rc = ab_mp_read_str_copy(r, stat->name, sizeof stat->name);
        if (rc == 0)
            rc = ab_mp_read_uint(r, &stat->value);
        if (rc)
            return rc;
    }
    return 0;
}

/* The header of an array with an entry per stream (inputs, outputs,
 * input_seqs): at most AB_CTL_MAX_STREAMS. */
static int s_read_per_stream_array(ab_mp_reader_t *r, uint32_t *count)
{
    int rc = ab_mp_read_array(r, count);
    if (rc)
        return rc;
    return *count > AB_CTL_MAX_STREAMS ? AB_ETOOBIG : 0;
}

typedef struct {
    ab_ctl_msg_t *msg;
    bool have_v;
} s_decoding_t;

/* One key/value pair of a control message. */
static int s_decode_field(void *ctx, ab_mp_reader_t *r, const char *key, uint32_t key_len)
{
    ab_ctl_msg_t *msg = ((s_decoding_t *)ctx)->msg;
    bool *have_v = &((s_decoding_t *)ctx)->have_v;
    const char *s;
    uint32_t len, count;
    int rc;
#define KEY(k) ab_mp_str_eq(key, key_len, k)
    if (KEY("v")) {
        uint32_t v;
        if ((rc = ab_mp_read_u32(r, &v)) != 0)
            return rc;
        if (v != AB_PROTOCOL_VERSION)
            return AB_EVERSION;
        *have_v = true;
        return 0;
    }
    if (KEY("cmd")) {
        if ((rc = ab_mp_read_str(r, &s, &len)) != 0)
            return rc;
        for (int c = AB_CMD_HELLO; c <= AB_CMD_LAST; c++)
            if (ab_mp_str_eq(s, len, s_cmd_names[c]))
                msg->cmd = (ab_cmd_t)c;
        return msg->cmd ? 0 : AB_ECMD;
    }
    if (KEY("role")) {
        if ((rc = ab_mp_read_str(r, &s, &len)) != 0)
            return rc;
        for (int role = AB_ROLE_RECORDER; role <= AB_ROLE_CLIENT; role++)
            if (ab_mp_str_eq(s, len, s_role_names[role]))
                msg->role = (ab_role_t)role;
        return msg->role ? 0 : AB_ERANGE;
    }
    if (KEY("name"))
        return s_read_name(r, msg->name);
    if (KEY("host"))
        return ab_mp_read_str_copy(r, msg->host, sizeof msg->host);
    if (KEY("pid"))
        return ab_mp_read_u32(r, &msg->pid);
    if (KEY("inputs")) {
        if ((rc = s_read_per_stream_array(r, &count)) != 0)
            return rc;
        for (msg->n_inputs = 0; msg->n_inputs < count; msg->n_inputs++)
            if ((rc = s_read_name(r, msg->inputs[msg->n_inputs])) != 0)
                return rc;
        return 0;
    }
    if (KEY("outputs")) {
        if ((rc = s_read_per_stream_array(r, &count)) != 0)
            return rc;
        for (msg->n_outputs = 0; msg->n_outputs < count; msg->n_outputs++)
            if ((rc = s_read_output(r, &msg->outputs[msg->n_outputs])) != 0)
                return rc;
        return 0;
    }
    if (KEY("session"))
        return ab_mp_read_uint(r, &msg->session);
    if (KEY("data_in"))
        return ab_mp_read_str_copy(r, msg->data_in, sizeof msg->data_in);
    if (KEY("data_out"))
        return ab_mp_read_str_copy(r, msg->data_out, sizeof msg->data_out);
    if (KEY("heartbeat_ms"))
        return ab_mp_read_u32(r, &msg->heartbeat_ms);
    if (KEY("reason"))
        return ab_mp_read_str_copy(r, msg->reason, sizeof msg->reason);
    if (KEY("stats"))
        return s_read_stats(r, msg);
    if (KEY("input_seqs")) {
        if ((rc = s_read_per_stream_array(r, &count)) != 0)
            return rc;
        for (msg->n_input_seqs = 0; msg->n_input_seqs < count; msg->n_input_seqs++)
            if ((rc = ab_mp_read_uint(r, &msg->input_seqs[msg->n_input_seqs])) != 0)
                return rc;
        return 0;
    }
    if (KEY("stream"))
        return s_read_name(r, msg->stream);
    if (KEY("from_seq"))
        return ab_mp_read_uint(r, &msg->from_seq);
    if (KEY("to_seq"))
        return ab_mp_read_uint(r, &msg->to_seq);
    if (KEY("first_seq"))
        return ab_mp_read_uint(r, &msg->first_seq);
    if (KEY("live_seq"))
        return ab_mp_read_uint(r, &msg->live_seq);
    if (KEY("backlog_ms"))
        return ab_mp_read_u32(r, &msg->backlog_ms);
#undef KEY
    return ab_mp_skip(r);
}

int ab_ctl_decode(ab_ctl_msg_t *msg, const uint8_t *data, size_t len)
{
    memset(msg, 0, sizeof *msg);
    if (!data || len == 0)
        return AB_ETRUNC;
    if (len > AB_CTL_MAX_BYTES)
        return AB_ETOOBIG;
    ab_mp_reader_t r;
    ab_mp_reader_init(&r, data, len);
    s_decoding_t decoding = {.msg = msg};
    int rc = ab_mp_read_fields(&r, 64, s_decode_field, &decoding);
    if (rc)
        return rc;
    bool have_v = decoding.have_v;
    if (ab_mp_remaining(&r) != 0)
        return AB_EEXTRA;
    if (!have_v || !msg->cmd)
        return AB_EMISSING;
    switch (msg->cmd) {
    case AB_CMD_HELLO:
        if (!msg->role || !msg->name[0])
            return AB_EMISSING;
        return s_validate_hello(msg);
    case AB_CMD_WELCOME:
        if (!msg->data_in[0] || !msg->data_out[0] || !msg->heartbeat_ms)
            return AB_EMISSING;
        return 0;
    case AB_CMD_LISTING:
        return AB_ECMD;
    case AB_CMD_REPLAY:
    case AB_CMD_REPLAYING:
    case AB_CMD_RESEND:
        if (!msg->stream[0])
            return AB_EMISSING;
        if (!ab_stream_name_valid(msg->stream))
            return AB_ENAME;
        if (msg->from_seq > msg->to_seq && !(msg->cmd == AB_CMD_REPLAY && msg->backlog_ms))
            return AB_ERANGE;
        return 0;
    default:
        return 0;
    }
}
