"""A broker that is not scheduled for a while (here: stopped with SIGSTOP
for 4 s, longer than its 3 s heartbeat timeout) forgets nobody, and no
audio is lost.

A real-time synth:counter stream (12 s) goes to two processors (wavwrite).
3 s in, the broker is stopped for 4 s. The heartbeats the nodes sent
meanwhile wait, unread, in its control socket: it must not forget the nodes
for its own silence when it resumes. Checks: its log says it was not running
and that this time does not count against the nodes; it forgot nobody for missed
heartbeats; both processors write every sample, in order, bit-exact, and
count no loss; the broker saw no gap and relayed every block.

usage: test_broker_stall.py --bin PATH/TO/audiobus
"""
import os
import signal
import time

import harness as h

work = h.setup()
RATE, SECONDS, BLOCK = 48000, 12, 256
STALL_AT, STALL = 3.0, 4.0

broker, ep = h.start_broker(work)
outs = {name: os.path.join(work, name + ".wav") for name in ("p1", "p2")}
procs = {name: h.Node(work, name, ["process", "--broker", ep, "--stream", "mic", "--plugin", "wavwrite",
                                   "--name", name, "--param", "path=" + path, "--exit-at-end"])
         for name, path in outs.items()}
h.check(h.wait_linked(ep, list(procs)), "processors linked before the recorder starts")
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "mic", "--source", "synth:counter",
                           "--rate", str(RATE), "--block", str(BLOCK), "--duration", str(SECONDS),
                           "--speed", "1", "--name", "rec"])
time.sleep(STALL_AT)
broker.proc.send_signal(signal.SIGSTOP)
time.sleep(STALL)
broker.proc.send_signal(signal.SIGCONT)

h.check(rec.wait(SECONDS + 30) == 0, "recorder exits 0", rec.output()[-1500:])
for name, p in procs.items():
    h.check(p.wait(30) == 0, "processor exits 0 at the end of the stream", name, p.output()[-2000:])

log = broker.output()
h.check("was not running" in log and "does not count against the nodes" in log,
        "the broker says it was not running, and that the time does not count against the nodes",
        [line for line in log.splitlines() if "WARN" in line][-3:])
h.check("missed its heartbeats" not in log, "the broker forgot no node for its own silence",
        [line for line in log.splitlines() if "forgotten" in line][-3:])

for name, path in outs.items():
    h.check_counter_wav(path, RATE, 1, RATE * SECONDS, name)
    h.check_processor_no_loss(procs[name], name)

stream = h.stream_entry(ep, "mic")
h.check(stream is not None and stream["gaps"] == 0, "the broker saw no gap in the stream", stream)
h.check(broker.stop() == 0, "the broker exits 0 on SIGTERM")
h.finish()
