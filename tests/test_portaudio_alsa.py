"""The real PortAudio path: capture from an ALSA device backed by a raw file
(ALSA's file plugin, tests/alsa/asound.conf) arrives bit-exact at a
processor. No sound card involved."""
import os
import struct

import harness as h

work = h.setup()
RATE, CHANNELS, FRAMES = 48000, 2, 96000
raw_in = os.path.join(work, "capture.raw")
total = FRAMES * CHANNELS
with open(raw_in, "wb") as f:  # 10% more than is captured: stop well before the end of the file
    f.write(struct.pack("<%df" % (total * 11 // 10), *[float(k) for k in range(total * 11 // 10)]))
env = {"ALSA_CONFIG_PATH": os.path.join(h.SOURCE_DIR, "tests", "alsa", "asound.conf"), "AB_TEST_IN": raw_in}

status, out, err = h.run(["record", "--list-devices"], env=env)
h.check(status == 0 and "default input" in out, "PortAudio sees the file-backed default input", out, err)

broker, ep = h.start_broker(work)
dst = os.path.join(work, "out.wav")
proc = h.Node(work, "wav", ["process", "--broker", ep, "--stream", "pa", "--plugin", "wavwrite", "--name", "wav",
                            "--param", "path=" + dst, "--exit-at-end"])
h.check(h.wait_linked(ep, ["wav"]), "wavwrite linked")
status, out, err = h.run(["record", "--broker", ep, "--stream", "pa", "--source", "portaudio", "--rate", str(RATE),
                          "--channels", str(CHANNELS), "--duration", str(FRAMES / RATE), "--ring", "10"],
                         timeout=60, env=env)
h.check(status == 0, "recorder exits 0", status, err)
h.check("overruns" not in err, "no capture overrun", err)
h.check(proc.wait(20) == 0, "wavwrite exits 0", proc.output()[-1000:])
# The device's file holds a counter (sample k carries k, below 2^24), as
# synth:counter does: every frame arrived, bit-exact from the first.
h.check_counter_wav(dst, RATE, CHANNELS, total, "capture")
h.finish()
