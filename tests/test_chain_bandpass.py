"""A chain through the broker: a WAV file recorded through `file:`, filtered
by a processor running the bandpass plugin, whose output stream
"<stream>/bandpass" a second processor (wavwrite) subscribes to. Each
processor exits by itself at the end of its input (--exit-at-end): the
bandpass processor ends its output after its last block. The WAV written
has the input's rate, channels and length, is aligned with the input
frame for frame, keeps every tone inside 300..3400 Hz within 0.5 dB and
attenuates every tone outside it by 40 dB or more."""
import re
import sys

import numpy as np

import harness as h

RATE = 16000
SECONDS = 3
# One channel per case: (tones kept, tones removed), in Hz. Each tone is at
# least 3 FFT bins (47 Hz at n_fft 1024) from an edge of 300..3400 Hz, and
# those near an edge sit between bins (the harder case).
CHANNELS = [
    ([1000.0], []),
    ([2000.0], [100.0]),
    ([], [3460.0, 5000.0]),
    ([3340.0], [245.0, 7000.0]),
]
AMPLITUDE = 0.2

work = h.setup()
broker, ep = h.start_broker(work)

t = np.arange(RATE * SECONDS) / RATE
x = np.zeros((len(t), len(CHANNELS)))
for c, (kept, removed) in enumerate(CHANNELS):
    for k, f in enumerate(kept + removed):
        x[:, c] += AMPLITUDE * np.sin(2 * np.pi * f * t + 0.5 * k + c)
pcm = np.round(x * 32768).astype("<i2")
src = work + "/in.wav"
dst = work + "/out.wav"
h.write_wav(src, RATE, len(CHANNELS), "s16", pcm.tobytes())
x = pcm.astype(np.float64) / 32768  # what the plugin receives

stream = "tones"
writer = h.Node(work, "writer", ["process", "--broker", ep, "--stream", stream + "/bandpass", "--plugin", "wavwrite",
                                 "--name", "writer", "--param", "path=" + dst, "--exit-at-end"])
bandpass = h.Node(work, "bp", ["process", "--broker", ep, "--stream", stream, "--plugin", "bandpass", "--name", "bp",
                               "--param", "low=300", "--param", "high=3400", "--exit-at-end"])
h.check(h.wait_linked(ep, ["writer", "bp"]), "both processors linked")
status, out, err = h.run(["record", "--broker", ep, "--stream", stream, "--source", "file:" + src, "--speed", "10",
                          "--block", "300"], timeout=60)
h.check(status == 0, "recorder exits 0 at the end of the file", status, err)
h.check(bandpass.wait(30) == 0, "bandpass exits 0 at the end of its stream", bandpass.output()[-2000:])
log = bandpass.output()
h.check("output aligned with the input" in log, "bandpass logs its set-up", log[-2000:])
match = re.search(r"received \d+ blocks, .*, published (\d+)", log)
h.check(match is not None, "bandpass reports what it published", log[-2000:])
published = int(match.group(1)) if match else -1

# The bandpass processor ends its output after its last block: the writer
# exits by itself once it has processed every block.
h.check(writer.wait(30) == 0, "the writer exits 0 at the end of the bandpass output", writer.output()[-2000:])
match = re.search(r"received \d+ blocks, processed (\d+)", writer.output())
h.check(match is not None and int(match.group(1)) == published, "the writer processed every published block",
        match and match.group(1), published)
entry = h.stream_entry(ep, stream + "/bandpass")
h.check(entry is not None and entry["type"] == "audio" and entry["rate"] == RATE
        and entry["channels"] == len(CHANNELS), "the broker lists the output as audio of the input's shape", entry)

try:
    rate, channels, fmt, raw = h.read_wav(dst)
except (OSError, ValueError) as e:
    h.check(False, "the writer wrote a WAV file", str(e))
    h.finish()
h.check((rate, channels, fmt) == (RATE, len(CHANNELS), "f32"), "same rate and channels, f32", rate, channels, fmt)
y = np.frombuffer(raw, "<f4").reshape(-1, channels).astype(np.float64)
h.check(len(y) == len(x), "as many frames out as in (the last n_fft - 1 come at the end)", len(y), len(x))
if len(y) != len(x) or channels != len(CHANNELS):
    h.finish()

# Steady state: away from the start and the end by more than n_fft.
mid = slice(2048, len(x) - 2048)


def fit(signal, freqs):
    """Least-squares fit of sines and cosines at freqs (Hz) to signal[mid]:
    (amplitude per frequency, the residual)."""
    tt = t[mid]
    if not freqs:
        return [], signal[mid]
    basis = np.concatenate([np.stack([np.sin(2 * np.pi * f * tt), np.cos(2 * np.pi * f * tt)], axis=1)
                            for f in freqs], axis=1)
    coef, *_ = np.linalg.lstsq(basis, signal[mid], rcond=None)
    return [float(np.hypot(coef[2 * i], coef[2 * i + 1])) for i in range(len(freqs))], signal[mid] - basis @ coef


for c, (kept, removed) in enumerate(CHANNELS):
    amps_in, _ = fit(x[:, c], kept + removed)
    amps_out, residual = fit(y[:, c], kept)
    for i, f in enumerate(kept):
        db = 20 * np.log10(amps_out[i] / amps_in[i])
        print("channel %d: %6.0f Hz inside the band: %+.4f dB" % (c, f, db))
        h.check(abs(db) <= 0.5, "tone inside the band kept within 0.5 dB", c, f, db)
    if removed:
        # Whatever is left once the kept tones are fitted out is what the
        # removed tones leaked, wherever it landed in frequency.
        power_in = sum(a * a / 2 for a in amps_in[len(kept):])
        db = 10 * np.log10(np.mean(residual ** 2) / power_in + 1e-30)
        print("channel %d: %s Hz outside the band: %+.1f dB" % (c, "+".join("%.0f" % f for f in removed), db))
        h.check(db <= -40, "tones outside the band attenuated by 40 dB or more", c, removed, db)
    # Frame for frame: the output is the input's in-band part, not shifted.
    expected = np.zeros(len(t))
    for k, f in enumerate(kept):
        expected += AMPLITUDE * np.sin(2 * np.pi * f * t + 0.5 * k + c)
    err = float(np.max(np.abs(y[mid, c] - expected[mid])))
    print("channel %d: max difference from the in-band tones %.2g" % (c, err))
    h.check(err < 5e-3, "output aligned with the input and equal to its in-band part", c, err)
sys.stdout.flush()
h.finish()
