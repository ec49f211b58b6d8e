"""A WAV file recorded through `file:` and written by `wavwrite` is
sample-identical to the input, for 16-bit, 32-bit and float files, with a
length that is not a multiple of the block size."""
import os
import random

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
rng = random.Random(7)
cases = [("s16", 2, 44100, 44100 * 2 + 77), ("s32", 1, 16000, 16000 + 5), ("f32", 3, 48000, 24000 + 1)]
for fmt, channels, rate, frames in cases:
    size = {"s16": 2, "s32": 4, "f32": 4}[fmt]
    if fmt == "f32":
        import struct
        raw = struct.pack("<%df" % (frames * channels), *[rng.uniform(-1, 1) for _ in range(frames * channels)])
    else:
        raw = bytes(rng.getrandbits(8) for _ in range(frames * channels * size))
    src = os.path.join(work, "in_%s.wav" % fmt)
    dst = os.path.join(work, "out_%s.wav" % fmt)
    h.write_wav(src, rate, channels, fmt, raw)
    stream = "wav_" + fmt
    proc = h.Node(work, "w_" + fmt, ["process", "--broker", ep, "--stream", stream, "--plugin", "wavwrite",
                                     "--name", "w_" + fmt, "--param", "path=" + dst, "--exit-at-end"])
    h.check(h.wait_linked(ep, ["w_" + fmt]), "wavwrite linked", fmt)
    status, out, err = h.run(["record", "--broker", ep, "--stream", stream, "--source", "file:" + src,
                              "--speed", "50", "--block", "300"], timeout=60)
    h.check(status == 0, "recorder exits 0 at end of file", fmt, status, err)
    h.check(proc.wait(20) == 0, "wavwrite exits 0", fmt, proc.output()[-1000:])
    got = h.read_wav(dst)
    h.check(got[:3] == (rate, channels, fmt), "same rate, channels and format", fmt, got[:3])
    h.check(got[3] == raw, "sample-identical", fmt, len(got[3]), len(raw))
h.finish()
