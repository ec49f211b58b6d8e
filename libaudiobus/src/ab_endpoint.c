/* ab_endpoint.c - endpoint string arithmetic for the broker's three sockets. */
#include "audiobus/ab_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_error.h"

int ab_endpoint_valid(const char *endpoint)
{
    if (!endpoint)
        return 0;
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(endpoint, schemes[i], n) == 0 && endpoint[n] != '\0' && strlen(endpoint) < AB_ENDPOINT_MAX)
            return 1;
    }
    return 0;
}

int ab_endpoint_offset(const char *control, int offset, char *out, size_t cap)
{
    out[0] = '\0';
    if (!ab_endpoint_valid(control))
        return AB_EINVAL;
    if (strncmp(control, "tcp://", 6) == 0) {
        const char *colon = strrchr(control, ':');
        if (!colon || colon < control + 6)
            return AB_EINVAL;
        const char *port = colon + 1;
        int host_len = (int)(colon - control);
        if (strcmp(port, "*") == 0 || strcmp(port, "0") == 0) {
            snprintf(out, cap, "%.*s:*", host_len, control);
            return 0;
        }
        char *end;
        long p = strtol(port, &end, 10);
        if (*end != '\0' || p <= 0 || p + offset > 65535)
            return AB_EINVAL;
        snprintf(out, cap, "%.*s:%ld", host_len, control, p + offset);
        return 0;
    }
    snprintf(out, cap, "%s.%s", control, offset == 1 ? "in" : "out");
    return 0;
}

int ab_endpoint_resolve(const char *bound, const char *via, char *out, size_t cap)
{
    out[0] = '\0';
    if (!ab_endpoint_valid(bound))
        return AB_EINVAL;
    if (strncmp(bound, "tcp://", 6) != 0) {
        snprintf(out, cap, "%s", bound);
        return 0;
    }
    const char *colon = strrchr(bound, ':');
    const char *host = bound + 6;
    size_t host_len = (size_t)(colon - host);
    int wildcard = (host_len == 1 && host[0] == '*') || (host_len == 7 && !strncmp(host, "0.0.0.0", 7)) ||
                   (host_len == 4 && !strncmp(host, "[::]", 4));
    if (!wildcard || !via || strncmp(via, "tcp://", 6) != 0) {
        snprintf(out, cap, "%s", bound);
        return 0;
    }
    const char *via_host = via + 6;
    const char *via_colon = strrchr(via_host, ':');
    if (!via_colon)
        return AB_EINVAL;
    snprintf(out, cap, "tcp://%.*s%s", (int)(via_colon - via_host), via_host, colon);
    return 0;
}
