/* bench_baseline_node.c - the nodes of the bare libzmq baseline, run as
 * child processes of this executable like audiobus's own nodes:
 *
 *   audiobus bench --baseline-node relay READY_FILE ENDPOINT_IN ENDPOINT_OUT
 *       zmq_proxy(XSUB bound at ENDPOINT_IN, XPUB at ENDPOINT_OUT) until
 *       SIGTERM; writes "IN OUT" (real ports) to READY_FILE once bound
 *   audiobus bench --baseline-node publisher ENDPOINT_IN TOPIC RATE BLOCK BLOCKS GO_FILE
 *       sends probes on TOPIC until GO_FILE exists, then BLOCKS blocks of
 *       BLOCK f32 frames paced at RATE frames per second (the sample rate
 *       times bench's --speed), each stamped with its capture time,
 *       then an end marker
 *   audiobus bench --baseline-node subscriber ENDPOINT_OUT TOPICS RESULTS_FILES MAX_BLOCKS READY_FILE
 *       receives each of TOPICS (separated by commas) until its end
 *       marker, creating READY_FILE once each has sent a probe; writes the
 *       results of each topic to its file of RESULTS_FILES (as many,
 *       separated by commas) in the bench_probe plugin's format
 *
 * A message is two frames, like an audiobus block: the topic, then the
 * payload: capture time (int64 ns since the epoch), frame0 (uint64), then
 * BLOCK x 4 bytes of samples. A probe's payload is 1 byte, the end
 * marker's 8. */
#include <audiobus/audiobus.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

#define BENCH_HWM 16384 /* as the broker's default --hwm (AB_BROKER_DEFAULT_HWM) */

static int s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "audiobus bench (baseline %s): %s\n", what, detail);
    return 1;
}

static int s_relay(char **argv)
{
    void *ctx = zmq_ctx_new();
    void *xsub = zmq_socket(ctx, ZMQ_XSUB), *xpub = zmq_socket(ctx, ZMQ_XPUB);
    int hwm = BENCH_HWM;
    zmq_setsockopt(xsub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(xpub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(xsub, argv[1]) || zmq_bind(xpub, argv[2]))
        return s_fail("relay", zmq_strerror(zmq_errno()));
    char in[512], out[512];
    size_t len = sizeof in;
    zmq_getsockopt(xsub, ZMQ_LAST_ENDPOINT, in, &len);
    len = sizeof out;
    zmq_getsockopt(xpub, ZMQ_LAST_ENDPOINT, out, &len);
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[0]);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s %s\n", in, out) < 0 || fclose(f) != 0 || rename(tmp, argv[0]) != 0)
        return s_fail("relay", "cannot write its ready file");
    zmq_proxy(xsub, xpub, NULL); /* returns when SIGTERM interrupts it */
    zmq_close(xsub);
    zmq_close(xpub);
    zmq_ctx_term(ctx);
    return 0;
}

static int s_publisher(char **argv)
{
    const char *endpoint = argv[0], *topic = argv[1];
    double rate = strtod(argv[2], NULL);
    uint32_t block = (uint32_t)strtoul(argv[3], NULL, 10);
    uint64_t blocks = strtoull(argv[4], NULL, 10);
    const char *go_file = argv[5];
    if (!(rate > 0) || block == 0)
        return s_fail("publisher", "bad rate or block");
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    int hwm = BENCH_HWM;
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(pub, endpoint))
        return s_fail("publisher", zmq_strerror(zmq_errno()));
    /* Until every subscriber has said it receives (the bench then creates
     * GO_FILE), send probes: as a recorder waits for its link. */
    int64_t deadline = ab_clock_mono_ns() + 120000000000LL; /* bench itself waits less */
    while (access(go_file, F_OK) != 0) {
        zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
        zmq_send(pub, "?", 1, 0);
        if (ab_clock_mono_ns() > deadline || ab_signal_stop_requested())
            return s_fail("publisher", "its subscribers did not all receive within 120 s");
        ab_clock_sleep_ms(10);
    }
    size_t payload_len = 16 + (size_t)block * 4;
    unsigned char *payload = calloc(1, payload_len);
    if (!payload)
        return s_fail("publisher", "out of memory");
    int64_t start_mono = ab_clock_mono_ns(), start_wall = ab_clock_wall_ns();
    for (uint64_t k = 0; k < blocks && !ab_signal_stop_requested(); k++) {
        int64_t offset = (int64_t)((double)(k * block) * 1e9 / rate);
        ab_clock_sleep_until(start_mono + offset);
        int64_t time_ns = start_wall + offset;
        uint64_t frame0 = k * block;
        memcpy(payload, &time_ns, 8);
        memcpy(payload + 8, &frame0, 8);
        zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
        zmq_send(pub, payload, payload_len, 0);
    }
    int64_t end = ab_clock_wall_ns();
    zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(pub, &end, 8, 0);
    free(payload);
    int linger = 5000;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    return 0;
}

/* One topic a subscriber takes, and what it got of it. */
typedef struct {
    char topic[64];
    const char *path;
    int64_t *latencies;
    uint64_t blocks, frames, disorder, next_frame0, recorded;
    int64_t first_ns, last_ns;
    bool probed, ended;
} s_topic_t;

static int s_write_results(const s_topic_t *t)
{
    FILE *f = fopen(t->path, "w");
    if (!f)
        return s_fail("subscriber", strerror(errno));
    fprintf(f,
            "blocks %llu frames %llu disorder %llu gaps 0 gap_frames 0 unrecorded %llu first_frame0 0 first_ns %lld "
            "last_ns %lld\n",
            (unsigned long long)t->blocks, (unsigned long long)t->frames, (unsigned long long)t->disorder,
            (unsigned long long)(t->blocks - t->recorded), (long long)t->first_ns, (long long)t->last_ns);
    for (uint64_t i = 0; i < t->recorded; i++)
        fprintf(f, "%lld\n", (long long)t->latencies[i]);
    return fclose(f) == 0 ? 0 : s_fail("subscriber", strerror(errno));
}

/* TOPICS and RESULTS_FILES: one, or several separated by commas (one
 * socket subscribed to each topic, as a processor taking several streams). */
static int s_subscriber(char **argv)
{
    const char *endpoint = argv[0], *ready_file = argv[4];
    uint64_t max_blocks = strtoull(argv[3], NULL, 10);
    static s_topic_t topics[BENCH_MAX_STREAMS];
    size_t n_topics = 0;
    char *topic_save = NULL, *path_save = NULL;
    for (char *topic = strtok_r(argv[1], ",", &topic_save), *path = strtok_r(argv[2], ",", &path_save);
         topic && path; topic = strtok_r(NULL, ",", &topic_save), path = strtok_r(NULL, ",", &path_save)) {
        if (n_topics == BENCH_MAX_STREAMS)
            return s_fail("subscriber", "too many topics");
        s_topic_t *t = &topics[n_topics++];
        snprintf(t->topic, sizeof t->topic, "%s", topic);
        t->path = path;
        t->latencies = calloc(max_blocks ? max_blocks : 1, sizeof *t->latencies);
        if (!t->latencies)
            return s_fail("subscriber", "out of memory");
    }
    if (n_topics == 0)
        return s_fail("subscriber", "no topic");
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = BENCH_HWM;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    for (size_t i = 0; i < n_topics; i++)
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topics[i].topic, strlen(topics[i].topic));
    if (zmq_connect(sub, endpoint))
        return s_fail("subscriber", zmq_strerror(zmq_errno()));
    size_t probed = 0, ended = 0;
    static unsigned char buffer[16 + 65536 * 4];
    while (ended < n_topics && !ab_signal_stop_requested()) {
        char name[256];
        int name_len = zmq_recv(sub, name, sizeof name - 1, 0);
        if (name_len < 0)
            continue;
        name[name_len < (int)sizeof name - 1 ? name_len : (int)sizeof name - 1] = '\0';
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_len);
        if (!more)
            continue;
        int n = zmq_recv(sub, buffer, sizeof buffer, 0);
        if (n < 0)
            continue;
        int64_t now = ab_clock_wall_ns();
        s_topic_t *t = NULL;
        for (size_t i = 0; i < n_topics && !t; i++)
            if (strcmp(topics[i].topic, name) == 0)
                t = &topics[i];
        if (!t || t->ended)
            continue;
        if (n == 1) { /* a probe: once every topic has sent one, say that this subscriber receives */
            if (!t->probed && ++probed == n_topics) {
                FILE *r = fopen(ready_file, "w");
                if (r)
                    fclose(r);
            }
            t->probed = true;
            continue;
        }
        if (n < 16) { /* the end marker */
            t->ended = true;
            ended++;
            continue;
        }
        int64_t time_ns;
        uint64_t frame0;
        memcpy(&time_ns, buffer, 8);
        memcpy(&frame0, buffer + 8, 8);
        if (t->recorded < max_blocks)
            t->latencies[t->recorded++] = now - time_ns;
        if (t->blocks == 0)
            t->first_ns = now;
        t->last_ns = now;
        uint64_t block = ((uint64_t)n - 16) / 4;
        if (t->blocks && frame0 != t->next_frame0)
            t->disorder++;
        t->next_frame0 = frame0 + block;
        t->blocks++;
        t->frames += block;
    }
    int rc = 0;
    for (size_t i = 0; i < n_topics; i++) {
        rc = rc ? rc : s_write_results(&topics[i]);
        free(topics[i].latencies);
    }
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return rc;
}

int bench_baseline_node(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[2], "relay") == 0)
        return s_relay(argv + 3);
    /* The relay keeps SIGTERM's default action: zmq_proxy has nothing to drain. */
    ab_signal_install();
    if (argc == 9 && strcmp(argv[2], "publisher") == 0)
        return s_publisher(argv + 3);
    if (argc == 8 && strcmp(argv[2], "subscriber") == 0)
        return s_subscriber(argv + 3);
    fprintf(stderr, "audiobus bench: bad --baseline-node arguments (an internal command of audiobus bench)\n");
    return 2;
}
