"""kill -9 the broker mid-stream and start it again 3 s later on the same
address: every processor ends with every block of the stream, in order,
exactly once, and the recorder never stopped capturing."""
import os
import signal
import time

import harness as h

work = h.setup()
port = h.free_tcp_port(3)  # control, data in, data out
bind = "tcp://127.0.0.1:%d" % port


def start_broker(name):
    node = h.Node(work, name, ["broker", "--bind", bind])
    h.check(h.wait_for(lambda: h.run_capped(["ls", "--broker", bind, "--timeout-ms", "300"], 5)[0] == 0, 10),
            "broker answers", name)
    return node


broker = start_broker("broker1")
outs = [os.path.join(work, "p%d.wav" % i) for i in (1, 2)]
procs = [h.Node(work, "p%d" % i, ["process", "--broker", bind, "--stream", "mic", "--plugin", "wavwrite",
                                   "--name", "p%d" % i, "--param", "path=" + outs[i - 1], "--exit-at-end"])
         for i in (1, 2)]
h.check(h.wait_linked(bind, ["p1", "p2"]), "processors linked")
SECONDS, RATE = 9, 48000
rec = h.Node(work, "rec", ["record", "--broker", bind, "--stream", "mic", "--source", "synth:counter",
                           "--duration", str(SECONDS), "--name", "rec"])
time.sleep(2.5)
broker.proc.send_signal(signal.SIGKILL)
broker.wait(5)
t_kill = time.time()
time.sleep(3.0)
broker2 = start_broker("broker2")
print("broker down for %.2f s" % (time.time() - t_kill))
h.check(rec.wait(40) == 0, "recorder exits 0", rec.output()[-1500:])
for p in procs:
    h.check(p.wait(30) == 0, "processor exits 0", p.name, p.output()[-2500:])
rec_out = rec.output()
h.check("overruns" not in rec_out, "the recorder never stopped capturing (no overrun)", rec_out[-800:])
for path in outs:
    h.check_counter_wav(path, RATE, 1, SECONDS * RATE, path)
for p in procs:
    out = p.output()
    print("\n".join(line for line in out.splitlines() if "received" in line or "lost" in line))
h.finish()
