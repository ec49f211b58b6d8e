/* listing.h - fetch a broker's listing of nodes and streams as JSON, read it and print it. */
#ifndef AUDIOBUS_NODES_LISTING_H_INCLUDED
#define AUDIOBUS_NODES_LISTING_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Ask the broker at endpoint for its listing. Returns 0 and a new reference
 * in *out (the caller decrefs), or an AB_E... code after writing what went
 * wrong and what to do into error. (ls.c) */
int listing_fetch(const char *broker, int timeout_ms, json_t **out, char *error, size_t error_len);

/* Convert the first msgpack value of data (len bytes, from the network) to
 * JSON with the bounded reader: nesting at most AB_MP_MAX_DEPTH, map keys
 * str of at most 255 bytes, no bin or ext. Returns a new reference, or NULL
 * when the value is malformed or has no JSON form; *used is how far the
 * reader got (the whole value on success). Bytes after the value are not
 * looked at. (listing.c) */
json_t *listing_msgpack_to_json(const uint8_t *data, size_t len, size_t *used);

/* Read a broker's reply to `list`. Returns 0 and a new reference to the
 * reply as a JSON object in *out when it is a listing (cmd "listing");
 * otherwise AB_EIO, *out NULL, and detail holds ": REASON" when the reply
 * carried a string reason (an `error` answer), "" otherwise. (listing.c) */
int listing_parse(const uint8_t *reply, size_t len, json_t **out, char *detail, size_t detail_len);

/* Print a listing as the table of `audiobus ls`: nodes with their counters,
 * then streams. Fields of other types than expected print as "" or 0.
 * (listing.c) */
void listing_print(FILE *out, json_t *root);

#endif
