/* listing.c - read a broker's listing (msgpack from the network) into JSON and print it as a table. */
#include "listing.h"

#include <audiobus/ab_error.h>
#include <string.h>

#include "ab_mp.h"

/* msgpack -> JSON, bounded by the reader (depth and sizes). A listing holds
 * maps with str keys, arrays, str, nil, bool, integers and floats; anything
 * else (bin, ext, a non-str key, an integer above INT64_MAX, a string that
 * is not UTF-8, a float that JSON cannot hold) makes the whole value NULL. */
static json_t *s_to_json(ab_mp_reader_t *r, int depth)
{
    if (depth > AB_MP_MAX_DEPTH || r->pos >= r->end)
        return NULL;
    uint8_t tag = *r->pos;
    uint32_t count, len;
    const char *s;
    if ((tag >= 0x80 && tag <= 0x8f) || tag == 0xde || tag == 0xdf) {
        if (ab_mp_read_map(r, &count))
            return NULL;
        json_t *obj = json_object();
        for (uint32_t i = 0; i < count; i++) {
            char key[256];
            json_t *value;
            if (ab_mp_read_str_copy(r, key, sizeof key) || !(value = s_to_json(r, depth + 1))) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, key, value);
        }
        return obj;
    }
    if ((tag >= 0x90 && tag <= 0x9f) || tag == 0xdc || tag == 0xdd) {
        if (ab_mp_read_array(r, &count))
            return NULL;
        json_t *arr = json_array();
        for (uint32_t i = 0; i < count; i++) {
            json_t *value = s_to_json(r, depth + 1);
            if (!value) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, value);
        }
        return arr;
    }
    if (ab_mp_read_str(r, &s, &len) == 0)
        return json_stringn(s, len);
    if (ab_mp_read_nil(r))
        return json_null();
    bool b;
    if (ab_mp_read_bool(r, &b) == 0)
        return json_boolean(b);
    int64_t i;
    if (ab_mp_read_int(r, &i) == 0)
        return json_integer(i);
    double d;
    if (ab_mp_read_double(r, &d) == 0)
        return json_real(d);
    return NULL;
}

json_t *listing_msgpack_to_json(const uint8_t *data, size_t len, size_t *used)
{
    *used = 0;
    if (!data || len == 0)
        return NULL;
    ab_mp_reader_t r;
    ab_mp_reader_init(&r, data, len);
    json_t *value = s_to_json(&r, 0);
    *used = (size_t)(r.pos - (const uint8_t *)data);
    return value;
}

int listing_parse(const uint8_t *reply, size_t len, json_t **out, char *detail, size_t detail_len)
{
    *out = NULL;
    if (detail_len)
        detail[0] = '\0';
    size_t used;
    json_t *root = listing_msgpack_to_json(reply, len, &used);
    json_t *cmd = root ? json_object_get(root, "cmd") : NULL;
    if (!root || !json_is_string(cmd) || strcmp(json_string_value(cmd), "listing") != 0) {
        /* An `error` answer says why in its reason; a reason of another type is ignored. */
        const char *reason = root ? json_string_value(json_object_get(root, "reason")) : NULL;
        if (reason && detail_len)
            snprintf(detail, detail_len, ": %s", reason);
        json_decref(root);
        return AB_EIO;
    }
    *out = root;
    return 0;
}

static const char *s_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static long long s_int(json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

static void s_join(json_t *arr, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, "%s%s", i ? "," : "",
                                json_string_value(item) ? json_string_value(item) : "");
        if (len >= cap)
            break;
    }
}

/* The node's counters from its last heartbeat, on an indented line. */
static void s_print_stats(FILE *out, json_t *node)
{
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "    heard %.1fs ago",
                                  (double)json_integer_value(json_object_get(node, "heartbeat_ms_ago")) / 1000.0);
    if (json_array_size(json_object_get(node, "inputs")))
        len += (size_t)snprintf(line + len, sizeof line - len, "  lag %lld",
                                (long long)json_integer_value(json_object_get(node, "lag")));
    json_t *stats = json_object_get(node, "stats");
    const char *key;
    json_t *value;
    json_object_foreach(stats, key, value)
    {
        if (len < sizeof line)
            len += (size_t)snprintf(line + len, sizeof line - len, "  %s %lld", key,
                                    (long long)json_integer_value(value));
    }
    for (size_t i = 0; i < len && i < sizeof line; i++) /* counter names come from the network */
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    fprintf(out, "%s\n", line);
}

/* Strings in a listing come from the network (host names, counter names):
 * replace control characters so that they cannot drive the terminal. */
static void s_tame(json_t *value)
{
    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        size_t len = json_string_length(value);
        char *copy = malloc(len + 1);
        if (!copy)
            return;
        bool changed = false;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            copy[i] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
            changed |= copy[i] != text[i];
        }
        copy[len] = '\0';
        if (changed)
            json_string_setn(value, copy, len);
        free(copy);
    } else if (json_is_array(value)) {
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) s_tame(item);
    } else if (json_is_object(value)) {
        const char *key;
        json_t *item;
        json_object_foreach(value, key, item) s_tame(item);
    }
}

void listing_print(FILE *out, json_t *root)
{
    s_tame(root);
    json_t *nodes = json_object_get(root, "nodes");
    json_t *streams = json_object_get(root, "streams");
    fprintf(out, "%-24s %-9s %-16s %7s %-6s %8s  %s\n", "NODE", "ROLE", "HOST", "PID", "LINKED", "AGE", "STREAMS");
    size_t i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        char in[256], outs[256], streams_text[600];
        s_join(json_object_get(node, "inputs"), in, sizeof in);
        s_join(json_object_get(node, "outputs"), outs, sizeof outs);
        snprintf(streams_text, sizeof streams_text, "%s%s%s%s", in[0] ? "<- " : "", in,
                 in[0] && outs[0] ? "  " : "", outs[0] ? "-> " : "");
        if (outs[0])
            strncat(streams_text, outs, sizeof streams_text - strlen(streams_text) - 1);
        fprintf(out, "%-24s %-9s %-16s %7lld %-6s %7.1fs  %s\n", s_str(node, "name"), s_str(node, "role"),
                s_str(node, "host"), s_int(node, "pid"), json_is_true(json_object_get(node, "linked")) ? "yes" : "no",
                (double)s_int(node, "age_ms") / 1000.0, streams_text);
        s_print_stats(out, node);
    }
    if (json_array_size(nodes) == 0)
        fprintf(out, "(no nodes)\n");
    fprintf(out, "\n%-24s %-8s %7s %3s %-6s %10s %6s %5s  %s\n", "STREAM", "TYPE", "RATE", "CH", "FORMAT", "BLOCKS",
            "GAPS", "BAD", "PUBLISHER");
    json_t *stream;
    json_array_foreach(streams, i, stream)
    {
        fprintf(out, "%-24s %-8s %7lld %3lld %-6s %10lld %6lld %5lld  %s\n", s_str(stream, "stream"),
                s_str(stream, "type"), s_int(stream, "rate"), s_int(stream, "channels"), s_str(stream, "format"),
                s_int(stream, "blocks"), s_int(stream, "gaps"), s_int(stream, "bad"), s_str(stream, "publisher"));
    }
    if (json_array_size(streams) == 0)
        fprintf(out, "(no streams)\n");
}
