"""Processors join and leave a live stream at any time: one that joins
mid-stream gets contiguous blocks from its first one; one that says goodbye
disappears from `audiobus ls` at once; one that rejoins under the same name
is accepted and again gets contiguous blocks."""
import os
import struct
import time

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
BLOCK, RATE = 256, 48000
# The stream must outlast four processor starts and stops, which take
# several times longer in a sanitizer build.
SECONDS = 12 if h.SANITIZED else 6


def counter_check(path, label):
    rate, channels, fmt, raw = h.read_wav(path)
    samples = struct.unpack("<%df" % (len(raw) // 4), raw)
    h.check(len(samples) > 0, "received something", label)
    if not samples:
        return
    first = int(samples[0])
    h.check(first % BLOCK == 0, "starts at a block boundary", label, first)
    bad = [i for i, v in enumerate(samples) if v != float(first + i)]
    h.check(not bad, "contiguous from its first block", label, bad[:5])
    return first, len(samples)


recorder = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "live", "--source", "synth:counter",
                                "--duration", str(SECONDS), "--block", str(BLOCK), "--name", "rec"])
time.sleep(1.5)
late = os.path.join(work, "late.wav")
joiner = h.Node(work, "late", ["process", "--broker", ep, "--stream", "live", "--plugin", "wavwrite", "--name", "late",
                               "--param", "path=" + late, "--exit-at-end"])
h.check(h.wait_linked(ep, ["late"]), "late joiner linked")

# A processor that leaves and rejoins twice under one name.
for round_no in range(2):
    path = os.path.join(work, "hop%d.wav" % round_no)
    hopper = h.Node(work, "hop%d" % round_no, ["process", "--broker", ep, "--stream", "live", "--plugin",
                                                "wavwrite", "--name", "hopper", "--param", "path=" + path])
    h.check(h.wait_linked(ep, ["hopper"]), "hopper linked", round_no)
    time.sleep(0.7)
    h.check(hopper.stop() == 0, "hopper exits 0 on SIGTERM", round_no, hopper.output()[-800:])
    t_exit = time.time()
    gone = h.wait_for(lambda: h.node_entry(ep, "hopper") is None, 0.5, interval=0.02)
    h.check(gone, "a node that said goodbye is gone from ls at once", round_no, time.time() - t_exit)
    counter_check(path, "hopper round %d" % round_no)

h.check(recorder.wait(30) == 0, "recorder exits 0", recorder.output()[-800:])
h.check(joiner.wait(20) == 0, "late joiner exits 0 at the end", joiner.output()[-800:])
result = counter_check(late, "late joiner")
if result:
    first, count = result
    h.check(first > 0, "the late joiner really joined mid-stream", first)
    h.check(first + count == RATE * SECONDS, "and received everything up to the end", first + count, RATE * SECONDS)
stream = h.stream_entry(ep, "live")
h.check(stream and stream["gaps"] == 0, "no gap at the broker", stream)
h.finish()
