"""One processor takes several streams over one connection, with a plugin
instance per stream:
- two wavwrite processors (one queued, one --inline) take three synth:counter
  streams of different lengths and channel counts, and write one file per
  stream ({stream} in a parameter): each file is its own stream, bit-exact,
  so no instance ever sees another's blocks;
- a bandpass processor takes the same three streams and publishes an output
  per stream ("<stream>/bandpass"), and a fourth processor takes those
  three outputs: each arrives whole, in its stream's shape, and ends;
- the broker lists a processor's inputs; each processor exits at the end of
  its last stream, with no loss counted;
- a stream given twice, and more streams than a processor takes, are
  refused with a message."""
import os
import re

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
RATE, BLOCK = 48000, 256
# stream: (channels, seconds); lengths differ, so mixed-up streams show.
STREAMS = {"m1": (1, 1.0), "m2": (2, 2.0), "m3": (3, 1.5)}
names = sorted(STREAMS)

writers = []
for label, extra in (("q", []), ("i", ["--inline"])):
    writers.append(h.Node(work, "w" + label,
                          ["process", "--broker", ep, "--stream", "m1,m2", "--stream", "m3", "--plugin", "wavwrite",
                           "--name", "w" + label, "--param", "path=%s/%s-{stream}.wav" % (work, label),
                           "--exit-at-end"] + extra))
bandpass = h.Node(work, "bp", ["process", "--broker", ep, "--stream", ",".join(names), "--plugin", "bandpass",
                               "--name", "bp", "--param", "low=300", "--param", "high=3400", "--exit-at-end"])
for s in names:
    os.makedirs(os.path.join(work, "o-" + s), exist_ok=True)
chained = h.Node(work, "wo", ["process", "--broker", ep, "--stream", ",".join(s + "/bandpass" for s in names),
                              "--plugin", "wavwrite", "--name", "wo", "--param",
                              "path=%s/o-{stream}.wav" % work, "--exit-at-end"])
h.check(h.wait_linked(ep, ["wq", "wi", "bp", "wo"]), "the processors linked before the recorders start")
entry = h.node_entry(ep, "wq")
h.check(entry is not None and entry["inputs"] == names, "the broker lists the processor's three inputs", entry)

recorders = [h.Node(work, "rec-" + s, ["record", "--broker", ep, "--stream", s, "--source", "synth:counter",
                                       "--rate", str(RATE), "--channels", str(ch), "--duration", str(sec),
                                       "--speed", "10", "--block", str(BLOCK)])
             for s, (ch, sec) in sorted(STREAMS.items())]
for r in recorders:
    h.check(r.wait(60) == 0, "recorder exits 0", r.name, r.output()[-1000:])
for p in writers + [bandpass, chained]:
    h.check(p.wait(30) == 0, "processor exits 0 once every stream has ended", p.name, p.output()[-2000:])


# Each file holds its own stream's counter, whole, in that stream's shape.
for label in ("q", "i"):
    for s, (ch, sec) in sorted(STREAMS.items()):
        path = os.path.join(work, "%s-%s.wav" % (label, s))
        h.check_counter_wav(path, RATE, ch, int(RATE * sec) * ch, path)

# The bandpass output of each stream: its shape, every frame (the output
# is aligned with the input), and its end (the chained processor exited).
for s, (ch, sec) in sorted(STREAMS.items()):
    path = os.path.join(work, "o-" + s, "bandpass.wav")
    try:
        rate, channels, fmt, raw = h.read_wav(path)
    except (OSError, ValueError) as e:
        h.check(False, "the chained processor wrote the output's file", path, str(e))
        continue
    h.check((rate, channels) == (RATE, ch), "the output has its input's shape", path, rate, channels)
    h.check(len(raw) // 4 == int(RATE * sec) * ch, "every frame of the output arrived", path, len(raw) // 4)
    entry = h.stream_entry(ep, s + "/bandpass")
    h.check(entry is not None and entry["gaps"] == 0, "the broker saw no gap in the output", entry)

for p in writers + [bandpass, chained]:
    out = p.output()
    m = re.search(r"received (\d+) blocks, processed (\d+), lost in transit 0, dropped \(queue full\) 0", out)
    # received counts the three end markers too
    h.check(m is not None and int(m.group(1)) == int(m.group(2)) + 3,
            "the processor handled every block it received, no loss", p.name, out[-600:])
expected = sum((int(RATE * sec) + BLOCK - 1) // BLOCK for ch, sec in STREAMS.values())
m = re.search(r"processed (\d+)", writers[0].output())
h.check(m is not None and int(m.group(1)) == expected, "one processor processed the blocks of all three streams",
        m and m.group(1), expected)
h.check("[wavwrite on m2]" in writers[0].output() or "[wavwrite on m1]" in writers[0].output(),
        "a plugin's log line names its stream", writers[0].output()[-1500:])

# Refusals.
status, out, err = h.run(["process", "--broker", ep, "--stream", "m1,m2,m1", "--plugin", "wavwrite", "--param",
                          "path=/dev/null"], timeout=20)
h.check(status == 1 and "m1 is given twice" in err, "a stream given twice is refused", status, err)
many = ",".join("s%d" % i for i in range(65))
status, out, err = h.run(["process", "--broker", ep, "--stream", many, "--plugin", "wavwrite"], timeout=20)
h.check(status == 2 and "more than 64 streams" in err, "65 streams are refused", status, err)
h.finish()
