"""Three processors on a real-time synth:counter stream (two wavwrite, one
latency); the latency one is killed with SIGKILL mid-stream, while one of the
others is stopped (SIGSTOP) for 2 s. The other two receive every block, in
order, bit-exact, with no loss counted anywhere (the paused one says its
heartbeat went out late, and catches up); the
broker forgets the killed node within its heartbeat timeout (here 5 x 1 s:
wider than the default 3 so that a survivor slowed by a sanitizer build on a
loaded host is not forgotten with it; when it is, its log says its heartbeat
went out late).

usage: test_kill_processor.py --bin PATH/TO/audiobus --latency-plugin PATH/TO/latency.so
"""
import os
import signal
import sys
import time

import harness as h

work = h.setup()
LATENCY_SO = sys.argv[sys.argv.index("--latency-plugin") + 1]
RATE, SECONDS, BLOCK = 48000, 10, 256
PAUSE = 2.0                  # p1 is stopped (SIGSTOP) this long while lat is killed
HEARTBEAT_MISSES = 5
HEARTBEAT_TIMEOUT = 1.0 * HEARTBEAT_MISSES  # 5 missed heartbeats of 1 s
FORGET_WITHIN = HEARTBEAT_TIMEOUT + 1.0     # + the broker's 200 ms expiry tick + ls round trips

broker, ep = h.start_broker(work, extra=["--heartbeat-misses", str(HEARTBEAT_MISSES)])
outs = {name: os.path.join(work, name + ".wav") for name in ("p1", "p2")}
procs = {name: h.Node(work, name, ["process", "--broker", ep, "--stream", "mic", "--plugin", "wavwrite",
                                   "--name", name, "--param", "path=" + path, "--exit-at-end"])
         for name, path in outs.items()}
lat = h.Node(work, "lat", ["process", "--broker", ep, "--stream", "mic", "--plugin", LATENCY_SO,
                           "--name", "lat", "--param", "path=" + os.path.join(work, "lat.txt"), "--exit-at-end"])
h.check(h.wait_linked(ep, ["p1", "p2", "lat"]), "processors linked before the recorder starts")

rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "mic", "--source", "synth:counter",
                           "--rate", str(RATE), "--block", str(BLOCK), "--duration", str(SECONDS),
                           "--speed", "1", "--name", "rec"])
t_rec = time.time()


def processed(name):
    node = h.node_entry(ep, name)
    return node["stats"].get("processed", 0) if node and node.get("stats") else 0


# Mid-stream: the latency processor has been processing for a while.
h.check(h.wait_for(lambda: processed("lat") > 50, 5, 0.1), "the latency processor processes blocks",
        processed("lat"))
time.sleep(max(0.0, t_rec + 2.5 - time.time()))
before = h.node_entry(ep, "lat")
procs["p1"].proc.send_signal(signal.SIGSTOP)
lat.proc.send_signal(signal.SIGKILL)
t_kill = time.time()
time.sleep(PAUSE)
procs["p1"].proc.send_signal(signal.SIGCONT)
lat_status = lat.wait(5)
print("killed lat %.2f s into the stream (its last report: processed %s)"
      % (t_kill - t_rec, before and before["stats"].get("processed")))
h.check(lat_status == -signal.SIGKILL, "the latency processor died of SIGKILL", lat_status)

# The broker forgets it when its heartbeats stop: within the timeout, not at the end of the stream.
gone = h.wait_for(lambda: h.node_entry(ep, "lat") is None, FORGET_WITHIN + 2, 0.1)
t_gone = time.time() - t_kill
print("the broker forgot lat %.2f s after the kill (heartbeat timeout %.1f s)" % (t_gone, HEARTBEAT_TIMEOUT))
h.check(gone and t_gone <= FORGET_WITHIN, "the broker forgets the killed processor within the heartbeat timeout",
        round(t_gone, 2), FORGET_WITHIN)
h.check(rec.proc.poll() is None, "the stream was still running when the killed node was forgotten",
        round(time.time() - t_rec, 2))
h.check("node lat" in broker.output() and "missed its heartbeats" in broker.output(),
        "the broker says it forgot lat for its missed heartbeats",
        [line for line in broker.output().splitlines() if "lat" in line][-3:])
for name in ("p1", "p2"):
    h.check(h.node_entry(ep, name) is not None, "the other processors are still registered", name,
             [line for line in procs[name].output().splitlines() if "late" in line or "registered" in line][-3:])

h.check(h.wait_for(lambda: "heartbeat to the broker" in procs["p1"].output(), 5, 0.1),
        "p1, stopped %.1f s, says its heartbeat went out late" % PAUSE,
        [line for line in procs["p1"].output().splitlines() if "late" in line])

h.check(rec.wait(SECONDS + 20) == 0, "recorder exits 0", rec.output()[-1500:])
rec_out = rec.output()
h.check("overruns" not in rec_out, "the recorder never fell behind (no capture overrun)", rec_out[-800:])
for name, p in procs.items():
    h.check(p.wait(20) == 0, "processor exits 0 at the end of the stream", name, p.output()[-2000:])

for name, path in outs.items():
    h.check_counter_wav(path, RATE, 1, RATE * SECONDS, name)
    h.check_processor_no_loss(procs[name], name)

stream = h.stream_entry(ep, "mic")
blocks = (RATE * SECONDS + BLOCK - 1) // BLOCK
h.check(stream is not None and stream["gaps"] == 0, "the broker saw no gap in the stream", stream)
h.check(stream is not None and stream["blocks"] == blocks + 1, "the broker relayed every block and the end marker",
        stream and stream["blocks"], blocks + 1)
h.check(broker.proc.poll() is None, "the broker is still running")
h.check(broker.stop() == 0, "the broker exits 0 on SIGTERM")
h.finish()
