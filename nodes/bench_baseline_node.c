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
 *   audiobus bench --baseline-node subscriber ENDPOINT_OUT TOPIC RESULTS_FILE MAX_BLOCKS READY_FILE
 *       receives TOPIC until the end marker, creating READY_FILE at the
 *       first probe; writes its results in the bench_probe plugin's format
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

#define BENCH_HWM 4096 /* as the broker's default --hwm */

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

static int s_subscriber(char **argv)
{
    const char *endpoint = argv[0], *topic = argv[1], *path = argv[2], *ready_file = argv[4];
    uint64_t max_blocks = strtoull(argv[3], NULL, 10);
    bool ready = false;
    int64_t *latencies = calloc(max_blocks ? max_blocks : 1, sizeof *latencies);
    if (!latencies)
        return s_fail("subscriber", "out of memory");
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = BENCH_HWM;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(sub, endpoint))
        return s_fail("subscriber", zmq_strerror(zmq_errno()));
    uint64_t blocks = 0, frames = 0, disorder = 0, next_frame0 = 0, recorded = 0;
    int64_t first_ns = 0, last_ns = 0;
    unsigned char buffer[16 + 65536 * 4];
    while (!ab_signal_stop_requested()) {
        char name[256];
        if (zmq_recv(sub, name, sizeof name, 0) < 0)
            continue;
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_len);
        if (!more)
            continue;
        int n = zmq_recv(sub, buffer, sizeof buffer, 0);
        if (n < 0)
            continue;
        int64_t now = ab_clock_wall_ns();
        if (n == 1) { /* a probe: say that this subscriber receives */
            FILE *r = ready ? NULL : fopen(ready_file, "w");
            if (r) {
                fclose(r);
                ready = true;
            }
            continue;
        }
        if (n < 16)
            break; /* the end marker */
        int64_t time_ns;
        uint64_t frame0;
        memcpy(&time_ns, buffer, 8);
        memcpy(&frame0, buffer + 8, 8);
        if (recorded < max_blocks)
            latencies[recorded++] = now - time_ns;
        if (blocks == 0)
            first_ns = now;
        last_ns = now;
        uint64_t block = ((uint64_t)n - 16) / 4;
        if (blocks && frame0 != next_frame0)
            disorder++;
        next_frame0 = frame0 + block;
        blocks++;
        frames += block;
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return s_fail("subscriber", strerror(errno));
    fprintf(f,
            "blocks %llu frames %llu disorder %llu gaps 0 gap_frames 0 unrecorded %llu first_frame0 0 first_ns %lld "
            "last_ns %lld\n",
            (unsigned long long)blocks, (unsigned long long)frames, (unsigned long long)disorder,
            (unsigned long long)(blocks - recorded), (long long)first_ns, (long long)last_ns);
    for (uint64_t i = 0; i < recorded; i++)
        fprintf(f, "%lld\n", (long long)latencies[i]);
    fclose(f);
    free(latencies);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return 0;
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
