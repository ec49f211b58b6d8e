"""Three processors registered before the recorder starts receive every block
of a synth:counter stream from sequence 0, with no gap, bit-exact: p1 in the
default (adaptive) mode, p2 with --inline (the plugin always on the receive
thread), p3 with --queued (always on the processing thread, behind a
queue)."""
import os

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
RATE, CHANNELS, SECONDS = 48000, 2, 3
MODES = {1: [], 2: ["--inline"], 3: ["--queued"]}
outs = [os.path.join(work, "p%d.wav" % i) for i in MODES]
procs = [h.Node(work, "p%d" % i, ["process", "--broker", ep, "--stream", "mic1", "--plugin", "wavwrite",
                                   "--name", "p%d" % i, "--param", "path=" + outs[i - 1], "--exit-at-end"]
                     + MODES[i])
         for i in MODES]
h.check(h.wait_linked(ep, ["p1", "p2", "p3"]), "processors linked before the recorder starts")

status, out, err = h.run(["record", "--broker", ep, "--stream", "mic1", "--source", "synth:counter",
                          "--rate", str(RATE), "--channels", str(CHANNELS), "--duration", str(SECONDS),
                          "--speed", "20", "--block", "256"], timeout=60)
h.check(status == 0, "recorder exits 0", status, err)
for p in procs:
    h.check(p.wait(20) == 0, "processor exits 0 at the end of the stream", p.name, p.output()[-2000:])

total = RATE * CHANNELS * SECONDS
for path in outs:
    h.check_counter_wav(path, RATE, CHANNELS, total, path)

stream = h.stream_entry(ep, "mic1")
blocks = (RATE * SECONDS + 255) // 256
h.check(stream is not None and stream["gaps"] == 0, "broker saw no gap", stream)
h.check(stream is not None and stream["blocks"] == blocks + 1, "broker relayed every block and the end marker",
        stream and stream["blocks"], blocks + 1)
for p in procs:
    h.check_processor_no_loss(p)
h.finish()
