/* main.c - the audiobus executable: dispatch to a subcommand. */
#include <audiobus/audiobus.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} s_commands[] = {
    {"broker", cmd_broker, "relay blocks from recorders to processors; keep the registry of nodes"},
    {"record", cmd_record, "capture a device, file or synthetic source and publish it as a stream"},
    {"process", cmd_process, "run a processor plugin on a stream"},
    {"ls", cmd_ls, "list the nodes and streams a broker knows"},
    {"demo", cmd_demo, "a broker, a recorder and two processors, live, for ten seconds"},
    {"play", cmd_play, "play a stream on an output device, through a jitter buffer"},
    {"latency", cmd_latency, "measure the round trip of an output looped back to an input"},
    {"bench", cmd_bench, "measure latency, deliveries, loss, CPU and memory against a bare ZeroMQ relay"},
};

static void s_usage(FILE *out)
{
    fprintf(out, "audiobus %s - distributed real-time audio processing\n\n"
                 "usage: audiobus COMMAND [OPTIONS]   (audiobus COMMAND --help for its options)\n\ncommands:\n",
            AUDIOBUS_VERSION_STRING);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-8s %s\n", s_commands[i].name, s_commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("audiobus %s\n", AUDIOBUS_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (!strcmp(argv[1], s_commands[i].name)) {
            ab_log_set_name(s_commands[i].name);
            return s_commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "audiobus: unknown command \"%s\" (try: audiobus --help)\n", argv[1]);
    return 2;
}
