"""A processor that joins late with --backlog SECONDS first gets the last
SECONDS of the stream from the broker's history, then the live stream,
contiguous, every block exactly once."""
import os
import struct
import time

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
RATE, BLOCK = 48000, 256
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "s", "--source", "synth:counter", "--duration", "6",
                           "--block", str(BLOCK), "--name", "rec"])
time.sleep(3.0)
out = os.path.join(work, "late.wav")
t_join = time.time()
late = h.Node(work, "late", ["process", "--broker", ep, "--stream", "s", "--plugin", "wavwrite", "--name", "late",
                             "--param", "path=" + out, "--exit-at-end", "--backlog", "2", "--log-level", "debug"])
h.check(rec.wait(30) == 0, "recorder exits 0", rec.output()[-800:])
h.check(late.wait(30) == 0, "late processor exits 0", late.output()[-1500:])
rate, channels, fmt, raw = h.read_wav(out)
samples = struct.unpack("<%df" % (len(raw) // 4), raw)
first = int(samples[0]) if samples else -1
h.check(first % BLOCK == 0, "starts at a block boundary", first)
bad = [i for i, v in enumerate(samples) if v != float(first + i)]
h.check(not bad, "contiguous, every block exactly once", bad[:5])
h.check(first + len(samples) == 6 * RATE, "through to the end of the stream", first + len(samples))
# It joined about 3 s in and asked for 2 s: it starts near 1 s (the join itself takes a moment).
h.check(0.1 * RATE <= first <= 2.0 * RATE, "starts about 2 s before it joined", first / RATE, late.output()[-3000:])
h.finish()
