/* fuzz_ctl.c - fuzz target for the control-message decoder, ab_ctl_decode(), and its round trip.
 *
 * Properties checked on every input (proto/PROTOCOL.md, "Control plane"):
 * - the decoder returns 0 or an error of a block or control field, and
 *   never accepts a `listing` (read by the listing reader instead);
 * - an accepted message encodes again within AB_CTL_MAX_BYTES, that
 *   encoding decodes to the same command and the same fields of that
 *   command, and encodes to the same bytes;
 * - every strict prefix of an accepted input is AB_ETRUNC, and one more byte
 *   after it is AB_EEXTRA (AB_ETOOBIG past the message limit);
 * - the endpoints of a `welcome` resolve as a node resolves them, without
 *   overrunning the node's buffers.
 */
#include <audiobus/ab_ctl.h>
#include <audiobus/ab_endpoint.h>
#include <audiobus/ab_error.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define FUZZ_ALL_PREFIXES_UP_TO 512

static int s_known_error(int rc)
{
    switch (rc) {
    case AB_ETRUNC: case AB_ETYPE: case AB_EVERSION: case AB_ETOOBIG: case AB_EMISSING: case AB_ECMD:
    case AB_ENAME: case AB_ERANGE: case AB_EEXTRA:
    case AB_EFORMAT: /* the format of an output of hello, checked as in a block */
        return 1;
    default:
        return 0;
    }
}

static const char *s_output_difference(const ab_ctl_output_t *a, const ab_ctl_output_t *b)
{
    if (strcmp(a->stream, b->stream) != 0)
        return "outputs[].stream";
    if (a->type != b->type)
        return "outputs[].type";
    if (a->rate != b->rate)
        return "outputs[].rate";
    if (a->channels != b->channels)
        return "outputs[].channels";
    if (a->format != b->format)
        return "outputs[].format";
    if (a->hop != b->hop)
        return "outputs[].hop";
    return NULL;
}

/* The first field of a's command in which b differs, or NULL. Fields of
 * other commands are not sent, so they do not count. */
static const char *s_msg_difference(const ab_ctl_msg_t *a, const ab_ctl_msg_t *b)
{
    if (a->cmd != b->cmd)
        return "cmd";
    switch (a->cmd) {
    case AB_CMD_HELLO:
        if (a->role != b->role)
            return "role";
        if (strcmp(a->name, b->name) != 0)
            return "name";
        if (strcmp(a->host, b->host) != 0)
            return "host";
        if (a->pid != b->pid)
            return "pid";
        if (a->n_inputs != b->n_inputs)
            return "n_inputs";
        for (uint32_t i = 0; i < a->n_inputs; i++)
            if (strcmp(a->inputs[i], b->inputs[i]) != 0)
                return "inputs[]";
        if (a->n_outputs != b->n_outputs)
            return "n_outputs";
        for (uint32_t i = 0; i < a->n_outputs; i++) {
            const char *field = s_output_difference(&a->outputs[i], &b->outputs[i]);
            if (field)
                return field;
        }
        return NULL;
    case AB_CMD_WELCOME:
        if (a->session != b->session)
            return "session";
        if (strcmp(a->data_in, b->data_in) != 0)
            return "data_in";
        if (strcmp(a->data_out, b->data_out) != 0)
            return "data_out";
        if (a->heartbeat_ms != b->heartbeat_ms)
            return "heartbeat_ms";
        return NULL;
    case AB_CMD_REFUSE:
    case AB_CMD_ERROR:
        return strcmp(a->reason, b->reason) != 0 ? "reason" : NULL;
    case AB_CMD_REPLAY:
    case AB_CMD_REPLAYING:
    case AB_CMD_RESEND:
        if (strcmp(a->stream, b->stream) != 0)
            return "stream";
        if (a->from_seq != b->from_seq)
            return "from_seq";
        if (a->to_seq != b->to_seq)
            return "to_seq";
        if (a->cmd == AB_CMD_REPLAY && a->session != b->session)
            return "session";
        if (a->cmd == AB_CMD_REPLAY && a->backlog_ms != b->backlog_ms)
            return "backlog_ms";
        if (a->cmd == AB_CMD_REPLAYING && a->first_seq != b->first_seq)
            return "first_seq";
        if (a->cmd == AB_CMD_REPLAYING && a->live_seq != b->live_seq)
            return "live_seq";
        return NULL;
    case AB_CMD_HEARTBEAT:
        if (a->n_stats != b->n_stats)
            return "n_stats";
        for (uint32_t i = 0; i < a->n_stats; i++) {
            if (strcmp(a->stats[i].name, b->stats[i].name) != 0)
                return "stats[].name";
            if (a->stats[i].value != b->stats[i].value)
                return "stats[].value";
        }
        if (a->n_input_seqs != b->n_input_seqs)
            return "n_input_seqs";
        for (uint32_t i = 0; i < a->n_input_seqs; i++)
            if (a->input_seqs[i] != b->input_seqs[i])
                return "input_seqs[]";
        return NULL;
    default:
        return NULL;
    }
}

static void s_check_prefix(ab_ctl_msg_t *msg, const uint8_t *data, size_t size, size_t len)
{
    int rc = ab_ctl_decode(msg, data, len);
    FUZZ_CHECK(rc == AB_ETRUNC, "prefix of %zu of %zu bytes of an accepted message gave %s", len, size,
               ab_err_name(rc));
}

static void s_check_prefixes_and_extra(const uint8_t *data, size_t size)
{
    static ab_ctl_msg_t msg_storage;
    ab_ctl_msg_t *msg = &msg_storage;
    uint8_t *longer = malloc(size + 1);
    FUZZ_CHECK(longer != NULL, "out of memory");
    if (size <= FUZZ_ALL_PREFIXES_UP_TO) {
        for (size_t len = 0; len < size; len++)
            s_check_prefix(msg, data, size, len);
    } else {
        for (size_t i = 0; i < 16; i++) {
            s_check_prefix(msg, data, size, i);
            s_check_prefix(msg, data, size, size - 1 - i);
        }
        for (size_t i = 1; i < 32; i++)
            s_check_prefix(msg, data, size, size / 32 * i);
    }
    memcpy(longer, data, size);
    longer[size] = 0xc0;
    int rc = ab_ctl_decode(msg, longer, size + 1);
    int expected = size + 1 > AB_CTL_MAX_BYTES ? AB_ETOOBIG : AB_EEXTRA;
    FUZZ_CHECK(rc == expected, "an accepted message of %zu bytes plus one byte gave %s, not %s", size,
               ab_err_name(rc), ab_err_name(expected));
    free(longer);
}

/* What ab_node does with the endpoints of a welcome: resolve a wildcard
 * host against the endpoint it reached the broker at. */
static void s_check_resolve(const char *bound)
{
    static const char *const vias[] = {"tcp://10.0.0.5:5550", "tcp://[::1]:5550", "ipc:///tmp/ab", "tcp://"};
    for (size_t i = 0; i < sizeof vias / sizeof vias[0]; i++) {
        char out[AB_ENDPOINT_MAX];
        memset(out, 'x', sizeof out);
        int rc = ab_endpoint_resolve(bound, vias[i], out, sizeof out);
        FUZZ_CHECK(rc == 0 || rc == AB_EINVAL, "ab_endpoint_resolve(\"%s\", \"%s\") gave %s", bound, vias[i],
                   ab_err_name(rc));
        FUZZ_CHECK(memchr(out, '\0', sizeof out) != NULL, "resolved endpoint of \"%s\" is not terminated", bound);
        FUZZ_CHECK(rc != 0 || !ab_endpoint_valid(bound) || out[0] != '\0',
                   "a valid endpoint \"%s\" resolved to nothing", bound);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Static rather than on the stack (a message is about 7 KB) or the heap
     * (64 KB buffers per input would slow the fuzzer); ASan guards both. */
    static ab_ctl_msg_t first_msg, second_msg;
    static uint8_t encoded[AB_CTL_MAX_BYTES], again[AB_CTL_MAX_BYTES];
    ab_ctl_msg_t *first = &first_msg, *second = &second_msg;

    int rc = ab_ctl_decode(first, data, size);
    FUZZ_CHECK(rc == 0 || s_known_error(rc), "undocumented result %d (%s)", rc, ab_err_name(rc));
    if (rc == 0) {
        FUZZ_CHECK(ab_cmd_name(first->cmd) && first->cmd != AB_CMD_LISTING, "accepted cmd %d", (int)first->cmd);
        FUZZ_CHECK(first->n_inputs <= AB_CTL_MAX_STREAMS && first->n_outputs <= AB_CTL_MAX_STREAMS &&
                       first->n_stats <= AB_CTL_MAX_STATS,
                   "counts %u inputs, %u outputs, %u stats", first->n_inputs, first->n_outputs, first->n_stats);

        size_t encoded_len = 0;
        rc = ab_ctl_encode(first, encoded, AB_CTL_MAX_BYTES, &encoded_len);
        FUZZ_CHECK(rc == 0, "a decoded %s does not encode: %s", ab_cmd_name(first->cmd), ab_err_name(rc));
        rc = ab_ctl_decode(second, encoded, encoded_len);
        FUZZ_CHECK(rc == 0, "the encoding of a decoded %s does not decode: %s", ab_cmd_name(first->cmd),
                   ab_err_name(rc));
        const char *field = s_msg_difference(first, second);
        FUZZ_CHECK(field == NULL, "field %s of %s changed in the round trip", field, ab_cmd_name(first->cmd));
        size_t again_len = 0;
        rc = ab_ctl_encode(second, again, AB_CTL_MAX_BYTES, &again_len);
        FUZZ_CHECK(rc == 0 && again_len == encoded_len && memcmp(encoded, again, encoded_len) == 0,
                   "encoding a %s twice gave %s, %zu bytes then %zu bytes", ab_cmd_name(first->cmd),
                   ab_err_name(rc), encoded_len, again_len);

        if (first->cmd == AB_CMD_WELCOME) {
            s_check_resolve(first->data_in);
            s_check_resolve(first->data_out);
        }
        s_check_prefixes_and_extra(data, size);
        s_check_prefixes_and_extra(encoded, encoded_len);
    }
    return 0;
}
