/* latency_chain.c - a recorder, a broker and a player as child processes,
 * for `audiobus latency --through-broker`. */
#include "latency_chain.h"

#include <audiobus/audiobus.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "children.h"
#include "listing.h"

struct latency_chain {
    char exe[PATH_MAX];
    char dir[64];
    char ready[PATH_MAX];
    char broker[512];
    char stream[64];
    double play_latency_ms;
    pid_t broker_pid, play_pid, record_pid;
};

static const char *s_format = "%(asctime)s %(name)s: %(message)s";

/* An argument vector of at most 31 entries, NULL-terminated. */
typedef struct {
    char *argv[32];
    int n;
} s_args_t;

static void s_add(s_args_t *args, const char *name, const char *value)
{
    if (args->n + 2 < (int)(sizeof args->argv / sizeof args->argv[0])) {
        args->argv[args->n++] = (char *)name;
        if (value)
            args->argv[args->n++] = (char *)value;
        args->argv[args->n] = NULL;
    }
}

static int s_start_broker(latency_chain_t *self, const char *log_level, char *error, size_t error_len)
{
    snprintf(self->dir, sizeof self->dir, "/tmp/audiobus-latency-XXXXXX");
    if (!mkdtemp(self->dir)) {
        snprintf(error, error_len, "cannot create a temporary directory: %s", strerror(errno));
        self->dir[0] = '\0';
        return AB_EIO;
    }
    snprintf(self->ready, sizeof self->ready, "%s/broker.ready", self->dir);
    s_args_t args = {.n = 0};
    s_add(&args, self->exe, "broker");
    s_add(&args, "--bind", "tcp://127.0.0.1:*");
    s_add(&args, "--ready-file", self->ready);
    s_add(&args, "--log-level", log_level);
    s_add(&args, "--log-format", s_format);
    self->broker_pid = child_start("latency", self->exe, args.argv, true);
    if (self->broker_pid <= 0) {
        snprintf(error, error_len, "cannot start a broker");
        return AB_EIO;
    }
    for (int waited = 0; !child_read_line(self->ready, self->broker, sizeof self->broker); waited += 20) {
        int status = child_wait(self->broker_pid, 0);
        if (waited > 10000 || status >= 0) {
            if (status >= 0)
                self->broker_pid = -1;
            snprintf(error, error_len, "the broker it started did not come up within 10 s (its messages are above)");
            return AB_EIO;
        }
        ab_clock_sleep_ms(20);
    }
    return 0;
}

/* Wait until the broker lists the node name (it has opened its device and
 * registered), so that the next process opens its own device only then:
 * JACK clients that several processes open at the same moment have been
 * seen to stall. */
static int s_wait_registered(latency_chain_t *self, const char *name, pid_t *pid, const char *what, char *error,
                             size_t error_len)
{
    for (int waited = 0; waited <= 15000; waited += 50) {
        json_t *root = NULL;
        char detail[256];
        if (listing_fetch(self->broker, 1000, &root, detail, sizeof detail) == 0) {
            bool found = false;
            size_t i;
            json_t *node;
            json_array_foreach(json_object_get(root, "nodes"), i, node)
            {
                const char *listed = json_string_value(json_object_get(node, "name"));
                if (listed && strcmp(listed, name) == 0)
                    found = true;
            }
            json_decref(root);
            if (found)
                return 0;
        }
        int status = child_wait(*pid, 0);
        if (status >= 0) {
            *pid = -1; /* reaped */
            snprintf(error, error_len, "audiobus %s exited (status %d) at start: its messages above say why", what,
                     status);
            return AB_EDEVICE;
        }
        ab_clock_sleep_ms(50);
    }
    snprintf(error, error_len, "audiobus %s did not register with the broker at %s within 15 s", what, self->broker);
    return AB_ETIMEOUT;
}

latency_chain_t *latency_chain_start(const latency_chain_config_t *config, char *error, size_t error_len)
{
    latency_chain_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, error_len, "out of memory");
        return NULL;
    }
    self->broker_pid = self->play_pid = self->record_pid = -1;
    self->play_latency_ms = config->play_latency_ms > 0 ? config->play_latency_ms : 100;
    snprintf(self->stream, sizeof self->stream, "latency-%d", (int)getpid());
    const char *log_level = config->log_level ? config->log_level : "warn";
    int rc = 0;
    if (!child_self_path(self->exe, sizeof self->exe)) {
        snprintf(error, error_len, "cannot find its own executable (/proc/self/exe)");
        rc = AB_EIO;
    } else if (config->broker) {
        snprintf(self->broker, sizeof self->broker, "%s", config->broker);
    } else {
        rc = s_start_broker(self, log_level, error, error_len);
    }
    if (rc) {
        latency_chain_stop(&self);
        return NULL;
    }
    char rate[16], block[16], latency_ms[32], source[600], play_name[80], record_name[80];
    snprintf(rate, sizeof rate, "%u", config->rate ? config->rate : 48000);
    snprintf(block, sizeof block, "%u", config->block_frames ? config->block_frames : 256);
    snprintf(latency_ms, sizeof latency_ms, "%g", self->play_latency_ms);
    snprintf(source, sizeof source, "portaudio%s%s", config->record_device ? ":" : "",
             config->record_device ? config->record_device : "");
    snprintf(play_name, sizeof play_name, "%s-play", self->stream);
    snprintf(record_name, sizeof record_name, "%s-record", self->stream);

    s_args_t play = {.n = 0};
    s_add(&play, self->exe, "play");
    s_add(&play, "--broker", self->broker);
    s_add(&play, "--stream", self->stream);
    s_add(&play, "--latency", latency_ms);
    s_add(&play, "--name", play_name);
    s_add(&play, "--log-level", log_level);
    s_add(&play, "--log-format", s_format);
    if (config->host_api)
        s_add(&play, "--host-api", config->host_api);
    if (config->play_device)
        s_add(&play, "--device", config->play_device);
    s_args_t record = {.n = 0};
    s_add(&record, self->exe, "record");
    s_add(&record, "--broker", self->broker);
    s_add(&record, "--stream", self->stream);
    s_add(&record, "--source", source);
    s_add(&record, "--rate", rate);
    s_add(&record, "--block", block);
    s_add(&record, "--channels", "1");
    s_add(&record, "--name", record_name);
    s_add(&record, "--log-level", log_level);
    s_add(&record, "--log-format", s_format);
    if (config->host_api)
        s_add(&record, "--host-api", config->host_api);

    /* One after the other, each once the previous one has its device open. */
    self->record_pid = child_start("latency", self->exe, record.argv, true);
    if (self->record_pid <= 0)
        rc = AB_EIO;
    if (!rc)
        rc = s_wait_registered(self, record_name, &self->record_pid, "record", error, error_len);
    if (!rc && (self->play_pid = child_start("latency", self->exe, play.argv, true)) <= 0)
        rc = AB_EIO;
    if (!rc)
        rc = s_wait_registered(self, play_name, &self->play_pid, "play", error, error_len);
    if (rc) {
        if (rc == AB_EIO)
            snprintf(error, error_len, "cannot start the %s", self->record_pid <= 0 ? "recorder" : "player");
        latency_chain_stop(&self);
        return NULL;
    }
    return self;
}

int latency_chain_check(void *user, char *error, size_t error_len)
{
    latency_chain_t *self = user;
    struct {
        pid_t *pid;
        const char *what;
    } children[] = {{&self->record_pid, "record"}, {&self->play_pid, "play"}, {&self->broker_pid, "broker"}};
    for (size_t i = 0; i < 3; i++) {
        if (*children[i].pid <= 0)
            continue;
        int status = child_wait(*children[i].pid, 0);
        if (status >= 0) {
            *children[i].pid = -1;
            snprintf(error, error_len,
                     "audiobus %s exited (status %d) before the measurement ended: its messages above say why",
                     children[i].what, status);
            return AB_EDEVICE;
        }
    }
    return 0;
}

int latency_chain_stop(latency_chain_t **self_p)
{
    if (!self_p || !*self_p)
        return 0;
    latency_chain_t *self = *self_p;
    /* The recorder first: it drains and ends the stream; then the player
     * and the broker. */
    int record = child_stop("latency", self->record_pid, "the recorder");
    int play = child_stop("latency", self->play_pid, "the player");
    int broker = child_stop("latency", self->broker_pid, "the broker");
    int status = 0;
    if (record || play || broker) {
        fprintf(stderr, "audiobus latency: exit statuses: recorder %d, player %d, broker %d\n", record, play,
                broker);
        status = 1;
    }
    if (self->ready[0])
        unlink(self->ready);
    if (self->dir[0])
        rmdir(self->dir);
    free(self);
    *self_p = NULL;
    return status;
}

const char *latency_chain_broker(const latency_chain_t *self)
{
    return self->broker;
}

const char *latency_chain_stream(const latency_chain_t *self)
{
    return self->stream;
}

double latency_chain_play_latency_ms(const latency_chain_t *self)
{
    return self->play_latency_ms;
}
