/* listing.h - fetch a broker's listing of nodes and streams as JSON. */
#ifndef AUDIOBUS_NODES_LISTING_H_INCLUDED
#define AUDIOBUS_NODES_LISTING_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

/* Ask the broker at endpoint for its listing. Returns 0 and a new reference
 * in *out (the caller decrefs), or an AB_E... code after writing what went
 * wrong and what to do into error. */
int listing_fetch(const char *broker, int timeout_ms, json_t **out, char *error, size_t error_len);

#endif
