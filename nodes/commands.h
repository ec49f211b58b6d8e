/* commands.h - the subcommands of the audiobus executable, one file each. */
#ifndef AUDIOBUS_NODES_COMMANDS_H_INCLUDED
#define AUDIOBUS_NODES_COMMANDS_H_INCLUDED

int cmd_broker(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_process(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_play(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
