"""The vad plugin on speech in noise, through a broker.

Utterances spoken by espeak-ng (several voices and speeds), resampled to
16 kHz, are laid out with known pauses of 0.8 to 2 s and mixed with noise
that is not white (pink or brown, plus mains hum, seeded) at 10 dB SNR.
Each file is played through a broker (`record --source file: --speed`) to
`process --plugin vad`, and the test listens to the plugin's event stream
STREAM/vad. It checks that every utterance gives exactly one speech_start
and one speech_end, each within 100 ms of the truth, that nothing is
found in the pauses, and that noise alone gives no event; that a segment
still open when the stream ends is closed at its last frame; and that
time_ns is the capture time of frame0. The same files through
tests/vad_run.c (no broker) must give the same events; vad_run also checks
a gap inside speech. Bad parameters are
refused with a message naming them.

Truth: the span of an utterance is where its clean signal's short-time
energy (10 ms windows, 2.5 ms apart) is within TRUTH_DB of its loudest
window, from the first sample of the first such window to the last sample
of the last. The utterance is cut to that span before mixing, so the
truth is exactly where it is placed. SNR: the mean power of the speech
over those spans against the mean power of the noise.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

import harness as h

sys.path.insert(0, os.path.join(h.SOURCE_DIR, "proto"))
import abdecode  # noqa: E402

RATE = 16000
TRUTH_DB = -40.0
SNR_DB = 10.0
TOLERANCE_S = 0.100
SPEED = "20"

# (voice, words per minute, text): no commas, so no pause inside an utterance.
UTTERANCES = [
    ("en-us", 165, "The quick brown fox jumps over the lazy dog"),
    ("en+f3", 150, "She sells sea shells by the sea shore"),
    ("en-gb-scotland", 175, "Please call Stella and ask her to bring these things with her from the store"),
    ("en+m3", 140, "Four hundred and twenty seven"),
    ("en-us+f2", 185, "Audio flows through the broker to every processor"),
    ("en+m7", 130, "Yes"),
]
PAUSES_S = [1.0, 1.6, 0.8, 2.0, 1.2]
LEAD_S, TAIL_S = 1.5, 1.5


def option(name):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


# ---- signals -------------------------------------------------------------------

def resample(x, src, dst):
    """Band-limited resampling through the FFT (the signal has silence at
    both ends, so treating it as periodic is harmless)."""
    n = len(x)
    m = int(round(n * dst / src))
    spectrum = np.fft.rfft(x)
    out = np.zeros(m // 2 + 1, dtype=complex)
    k = min(len(spectrum), len(out))
    out[:k] = spectrum[:k]
    # A short taper below the new Nyquist frequency, against ringing.
    taper = max(1, k // 50)
    out[k - taper:k] *= np.linspace(1.0, 0.0, taper)
    return np.fft.irfft(out, m) * (m / n)


def speak(work, index, voice, wpm, text):
    path = os.path.join(work, "utt%d.wav" % index)
    if not shutil.which("espeak-ng"):
        sys.exit("test_vad.py: espeak-ng is not installed (cmake/setup.sh installs it, or apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", path, text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rate, channels, fmt, raw = h.read_wav(path)
    if channels != 1 or fmt != "s16":
        raise RuntimeError("espeak-ng wrote %d channels of %s, expected mono s16" % (channels, fmt))
    return resample(np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0, rate, RATE)


def speech_span(x):
    """(first, end) samples of the truth span of a clean utterance."""
    win, hop = RATE // 100, RATE // 400
    acc = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, len(x) - win + 1, hop)
    energy = (acc[starts + win] - acc[starts]) / win
    above = np.nonzero(energy >= energy.max() * 10 ** (TRUTH_DB / 10))[0]
    return int(starts[above[0]]), int(starts[above[-1]] + win)


def coloured_noise(kind, n, rng):
    """Unit-power pink (1/f power) or brown (1/f^2) noise, nothing below 20 Hz."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    shape = np.zeros_like(f)
    keep = f >= 20.0
    shape[keep] = f[keep] ** (-0.5 if kind == "pink" else -1.0)
    x = np.fft.irfft(spectrum * shape, n)
    return x / np.sqrt(np.mean(x * x))


def hum(mains_hz, n, rng):
    """Unit-power mains hum: the fundamental and four harmonics."""
    t = np.arange(n) / RATE
    x = sum(a * np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi))
            for k, a in zip(range(1, 6), (1.0, 0.6, 0.4, 0.25, 0.15)))
    return x / np.sqrt(np.mean(x * x))


def lay_out(utterances, pauses, lead_s, tail_s):
    """Clean speech with the utterances at known places: (signal, truth spans)."""
    pieces, truth, pos = [np.zeros(int(lead_s * RATE))], [], int(lead_s * RATE)
    for i, u in enumerate(utterances):
        pieces.append(u)
        truth.append((pos, pos + len(u)))
        pos += len(u)
        gap = int((pauses[i] if i < len(pauses) else tail_s) * RATE)
        pieces.append(np.zeros(gap))
        pos += gap
    return np.concatenate(pieces), truth


def mix(clean, truth, noise, snr_db):
    speech_power = np.mean(np.concatenate([clean[a:b] for a, b in truth]) ** 2) if truth else 1e-4
    noisy = clean + noise * np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise * noise))
    return noisy


def write_s16(path, x):
    """x: (frames,) or (frames, channels), scaled to a peak of 0.9 full scale."""
    x = np.asarray(x)
    channels = 1 if x.ndim == 1 else x.shape[1]
    pcm = np.round(x / np.max(np.abs(x)) * 0.9 * 32767).astype("<i2")
    h.write_wav(path, RATE, channels, "s16", pcm.tobytes())


# ---- running the plugin -----------------------------------------------------------

class Events:
    """A subscription at the broker's data-out to the vad output streams,
    confirmed by a probe stream before any recorder starts."""

    def __init__(self, ep, data_out, streams):
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        # Blocks are read only after each run: queue them all meanwhile.
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.connect(data_out)
        for s in streams:
            self.sock.setsockopt(zmq.SUBSCRIBE, s.encode() + b"\0")
        # Subscriptions reach the broker in order: once a block of the probe,
        # subscribed last, arrives, the others are in force too.
        self.sock.setsockopt(zmq.SUBSCRIBE, b"vadprobe\0")
        self.blocks = []
        deadline = time.time() + 60
        while time.time() < deadline:
            h.run_capped(["record", "--broker", ep, "--stream", "vadprobe", "--source", "synth:sine",
                          "--duration", "0.05", "--rate", "16000"], timeout=30)
            if self._receive(1.0, until=lambda b: b["stream"] == "vadprobe"):
                return
        raise RuntimeError("the subscription to the broker's data-out never took effect")

    def _receive(self, timeout, until=None):
        end = time.time() + timeout
        while time.time() < end:
            if not self.sock.poll(int(max(0.0, end - time.time()) * 1000) + 1):
                break
            topic, payload = self.sock.recv_multipart()
            b = abdecode.decode_block(topic, payload)
            if b["stream"] != "vadprobe":
                self.blocks.append(b)
            if until and until(b):
                return True
        return False

    def drain(self, quiet_s=2.0):
        """Receive until nothing has come for quiet_s."""
        while self._receive(quiet_s):
            pass

    def of(self, stream):
        return [b for b in self.blocks if b["stream"] == stream]

    def close(self):
        self.sock.close()
        self.ctx.term()


def run_through_broker(work, ep, events, stream, wav, params=()):
    """Play wav through the broker to a vad processor; its events as
    [(label, frame0, time_ns)], plus the processor's log."""
    args = ["process", "--broker", ep, "--stream", stream, "--plugin", os.path.join(PLUGINS, "vad.so"),
            "--name", "p_" + stream, "--exit-at-end"]
    for p in params:
        args += ["--param", p]
    proc = h.Node(work, "p_" + stream, args)
    h.check(h.wait_linked(ep, ["p_" + stream], timeout=30), "vad processor linked", stream)
    status, out, err = h.run(["record", "--broker", ep, "--stream", stream, "--source", "file:" + wav,
                              "--speed", SPEED, "--block", "800"], timeout=120)
    h.check(status == 0, "recorder exits 0 at the end of the file", stream, status, err[-500:])
    h.check(proc.wait(60) == 0, "vad processor exits 0 after the stream's end", stream, proc.output()[-1500:])
    events.drain()
    # The processor ends its output stream with an end marker when its input ends.
    blocks = [b for b in events.of(stream + "/vad") if b["type"] != "end"]
    got = [(b["label"], b["frame0"], b["time_ns"]) for b in blocks]
    for b in blocks:
        h.check(b["type"] == "event" and b["rate"] == RATE and b["frames"] == 0, "an event block at the stream's rate",
                stream, b["type"], b["rate"], b["frames"])
    return got, proc.output()


def run_offline(wav, gaps=(), block=160, params=()):
    """tests/vad_run.c on wav: (status, [(label, frame0, time_ns)], stderr)."""
    args = [VAD_RUN, os.path.join(PLUGINS, "vad.so"), wav, "--block", str(block)]
    for at, n in gaps:
        args += ["--gap", "%d:%d" % (at, n)]
    for p in params:
        args += ["--param", p]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return p.returncode, [(e["label"], e["frame0"], e["time_ns"]) for e in events], p.stderr


# ---- judging -------------------------------------------------------------------------

def segments_of(events, what):
    """[(start, end)] from alternating start/end events; checks the order."""
    segs, open_at = [], None
    for label, frame0, _ in events:
        if label == "speech_start":
            h.check(open_at is None, "no speech_start while a segment is open", what, frame0)
            open_at = frame0
        elif label == "speech_end":
            if h.check(open_at is not None, "speech_end only after a speech_start", what, frame0):
                h.check(frame0 > open_at, "a segment ends after it starts", what, open_at, frame0)
                segs.append((open_at, frame0))
            open_at = None
        else:
            h.check(False, "labels are speech_start or speech_end", what, label)
    h.check(open_at is None, "every segment is closed", what, open_at)
    return segs


def judge(what, segs, truth, names, errors):
    """One segment per utterance, boundaries within TOLERANCE_S, none in the pauses."""
    tol = TOLERANCE_S * RATE
    h.check(len(segs) == len(truth), "one segment per utterance", what, len(segs), len(truth),
            [(a / RATE, b / RATE) for a, b in segs])
    for i, (t0, t1) in enumerate(truth):
        hits = [s for s in segs if s[0] < t1 + tol and s[1] > t0 - tol]
        if not h.check(len(hits) == 1, "utterance %d found in exactly one segment" % i, what, t0 / RATE,
                       t1 / RATE, [(a / RATE, b / RATE) for a, b in hits]):
            continue
        start_err, end_err = (hits[0][0] - t0) / RATE, (hits[0][1] - t1) / RATE
        errors.append((what, names[i], start_err, end_err))
        h.check(abs(start_err) <= TOLERANCE_S, "start within 100 ms", what, i, "%+.3f s" % start_err)
        h.check(abs(end_err) <= TOLERANCE_S, "end within 100 ms", what, i, "%+.3f s" % end_err)
    for a, b in segs:
        h.check(any(a < t1 + tol and b > t0 - tol for t0, t1 in truth), "no segment in a pause",
                what, a / RATE, b / RATE)


def main():
    global PLUGINS, VAD_RUN
    work = h.setup()
    PLUGINS, VAD_RUN = option("--plugins"), option("--vad-run")
    if not PLUGINS or not VAD_RUN:
        sys.exit("usage: test_vad.py --bin AUDIOBUS --plugins DIR --vad-run PATH")

    clean_utts = []
    for i, (voice, wpm, text) in enumerate(UTTERANCES):
        x = speak(work, i, voice, wpm, text)
        a, b = speech_span(x)
        clean_utts.append(x[a:b])
    print("utterances: " + ", ".join("%.2f s" % (len(u) / RATE) for u in clean_utts))

    # (name, noise, mains Hz, seed, channels, order of the utterances)
    cases = [
        ("pink50", "pink", 50, 1, 1, [0, 1, 2, 3, 4, 5]),
        ("brown60", "brown", 60, 2, 2, [5, 2, 4, 0, 3, 1]),
        ("pink60", "pink", 60, 3, 1, [3, 0, 5, 1, 4, 2]),
    ]
    files = {}
    for name, kind, mains, seed, channels, order in cases:
        rng = np.random.default_rng(seed)
        clean, truth = lay_out([clean_utts[i] for i in order], PAUSES_S, LEAD_S, TAIL_S)
        chans = []
        for _ in range(channels):
            noise = coloured_noise(kind, len(clean), rng) + 0.5 * hum(mains, len(clean), rng)
            chans.append(mix(clean, truth, noise, SNR_DB))
        path = os.path.join(work, name + ".wav")
        write_s16(path, chans[0] if channels == 1 else np.stack(chans, axis=1))
        files[name] = (path, truth, [UTTERANCES[i][2] for i in order])
    # Noise alone: pink and brown with hum, as loud as in the cases above.
    rng = np.random.default_rng(4)
    n = 20 * RATE
    files["noise_only"] = (os.path.join(work, "noise_only.wav"), [], [])
    write_s16(files["noise_only"][0], coloured_noise("pink", n, rng) + coloured_noise("brown", n, rng)
              + 0.5 * hum(50, n, rng))
    # Speech running into the end of the file: closed when the stream ends.
    rng = np.random.default_rng(5)
    clean, truth = lay_out([clean_utts[0], clean_utts[2]], [1.0], LEAD_S, 0.0)
    cut = truth[1][0] + (truth[1][1] - truth[1][0]) // 2
    clean, truth = clean[:cut], [truth[0], (truth[1][0], cut)]
    noisy = mix(clean, truth, coloured_noise("pink", len(clean), rng) + 0.5 * hum(50, len(clean), rng), SNR_DB)
    files["cut_off"] = (os.path.join(work, "cut_off.wav"), truth, [UTTERANCES[0][2], UTTERANCES[2][2] + " (cut)"])
    write_s16(files["cut_off"][0], noisy)

    broker, ep = h.start_broker(work)
    events = Events(ep, h.data_out_endpoint(broker), [s for name in files for s in (name, name + "/vad")])
    errors = []
    for name, (path, truth, names) in files.items():
        got, log = run_through_broker(work, ep, events, name, path)
        segs = segments_of(got, name)
        print("%s: %d segments %s" % (name, len(segs), [(round(a / RATE, 3), round(b / RATE, 3)) for a, b in segs]))
        judge(name, segs, truth, names, errors)
        if name == "cut_off" and segs:
            h.check(segs[-1][1] == cut, "a segment open at the end of the stream ends at its last frame",
                    segs[-1][1], cut)
            h.check("open at the end of the stream" in log, "and the log says so", log[-800:])
        lines = [line for line in log.splitlines() if "[vad] speech " in line]
        h.check(len(lines) == len(segs), "one log line per segment", name, len(lines), len(segs), lines)
        # time_ns is the capture time of a block of the stream extrapolated to
        # frame0 at the stream's rate (the recorder's clock runs SPEED times
        # faster than that, so which block matters).
        audio = [(b["frame0"], b["time_ns"]) for b in events.of(name)]
        for label, frame0, t in got:
            h.check(any(abs(t - (bt + round((frame0 - bf) * 1e9 / RATE))) <= 2000 for bf, bt in audio),
                    "time_ns is the capture time of frame0", name, label, frame0, t)

        status, offline, err = run_offline(path)
        h.check(status == 0, "vad_run succeeds", name, status, err[-800:])
        h.check([e[:2] for e in offline] == [e[:2] for e in got], "the same events without a broker", name,
                offline, got)
        t0 = 1700000000000000000
        h.check(all(abs(t - (t0 + round(f * 1e9 / RATE))) <= 1000 for _, f, t in offline),
                "time_ns is the capture time of frame0", name, offline[:4])
    events.close()

    # Lost audio in the middle of an utterance ends its segment where the gap
    # begins, and the rest of the utterance, after the gap, is a new one.
    path, truth, _ = files["pink50"]
    t0, t1 = truth[2]  # the longest utterance
    gap_at, gap_len = t0 + (t1 - t0) // 2 // 160 * 160, 8000
    status, offline, err = run_offline(path, gaps=[(gap_at, gap_len)])
    h.check(status == 0, "vad_run with a gap succeeds", status, err[-800:])
    segs = segments_of(offline, "gap")
    cut_at = [s for s in segs if s[1] == gap_at]
    h.check(len(cut_at) == 1, "a segment ends exactly at the gap", gap_at, segs)
    after = [s for s in segs if gap_at + gap_len <= s[0] < t1]
    h.check(len(after) == 1, "speech after the gap is a segment of its own", gap_at + gap_len, segs)
    h.check("cut by lost audio" in err, "the log says the segment was cut by lost audio", err[-800:])

    # Parameters out of range are refused with the key, the value and what is accepted.
    for param, needle in [("hangover_ms=500", "hangover_ms 500 is longer than min_silence_ms 300"),
                          ("threshold_db=loud", 'bad value "loud" for threshold_db'),
                          ("release_db=7", "release_db 7 is above threshold_db 6"),
                          ("min_speech_ms=-3", 'bad value "-3" for min_speech_ms'),
                          ("speech=1", 'no parameter "speech"')]:
        status, out, err = h.run_capped(["process", "--broker", ep, "--stream", "refused", "--plugin",
                                         os.path.join(PLUGINS, "vad.so"), "--param", param], timeout=30)
        h.check(status not in (0, None) and needle in err, "refused with a message naming the problem", param,
                status, err[-400:])
    status, _, err = run_offline(files["noise_only"][0], params=["band_low_hz=9000", "band_high_hz=12000"])
    h.check(status != 0 and "above half the rate" in err, "a band above half the rate is refused", status,
            err[-400:])

    if errors:
        starts = np.array([e[2] for e in errors])
        ends = np.array([e[3] for e in errors])
        for what, text, s, e in errors:
            print("  %-10s start %+.3f s, end %+.3f s  %s" % (what, s, e, text))
        print("boundary errors over %d utterances: start mean %+.3f s, max |%.3f| s; end mean %+.3f s, max |%.3f| s"
              % (len(errors), starts.mean(), np.abs(starts).max(), ends.mean(), np.abs(ends).max()))
    h.finish()


if __name__ == "__main__":
    main()
