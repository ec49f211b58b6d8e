"""The logmel plugin end to end: a recording (a 1 kHz tone, white noise, then a rising chirp) goes
through a broker to four processors running logmel, which are stopped with SIGTERM.

- a: defaults (HTK, power, dB), png=a.png, publishing "spec/logmel": the features stream has one
  frame per hop, frame0 advancing by hop from 0, values equal to the numpy reference of
  test_mel_reference.py (1e-4 dB on every value 20 dB above the floor); the PNG is frames wide
  and n_mels high, equals the documented grey mapping of the reference within one grey level, shows
  the tone in the band holding 1 kHz, noise across the bands, and a chirp that rises;
- b: scale=slaney spectrum=magnitude norm=slaney n_mels=64 png_seconds=1: the PNG keeps the last
  second of frames only (the log says so), and equals the reference's last frames;
- c: png=/dev/full: writing fails at the end, the log names the file and the reason, the processor
  still exits 0;
- d: png in a directory that does not exist: activate fails naming the path and the reason.
"""
import math
import os
import signal
import struct
import sys
import time
import zlib

import numpy as np

import harness as h
import test_mel_reference as ref

sys.path.insert(0, os.path.join(h.SOURCE_DIR, "proto"))
import abdecode  # noqa: E402

RATE = 16000
N_FFT, HOP = 512, 160


def read_png(path):
    """(width, height, rows as a numpy uint8 array) of an 8-bit greyscale PNG, decoded here."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s is not a PNG" % path)
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise ValueError("%s: bad CRC in chunk %r" % (path, kind))
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if (depth, colour, interlace) != (8, 0, 0):
        raise ValueError("%s: depth %d colour type %d interlace %d, expected 8-bit grey"
                         % (path, depth, colour, interlace))
    raw = zlib.decompress(idat)
    rows = np.zeros((height, width), dtype=np.int32)
    prev = np.zeros(width, dtype=np.int32)
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, cur = line[0], np.frombuffer(line[1:], dtype=np.uint8).astype(np.int32)
        out = np.zeros(width, dtype=np.int32)
        for x in range(width):
            a = out[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[x] = (cur[x] + pred) & 0xFF
        rows[y] = out
        prev = out
    return width, height, rows.astype(np.uint8)


def expected_grey(db, floor_db, png_range=80.0):
    """The mapping documented in logmel.c: frames x bands in dB -> rows (band 0 at the bottom)."""
    top = db[np.isfinite(db)].max()
    bottom = max(top - png_range, floor_db)
    if top <= bottom:
        grey = np.zeros(db.shape)
    else:
        grey = np.clip(np.round(255 * (db - bottom) / (top - bottom)), 0, 255)
    return grey.T[::-1].astype(np.int32)


def band_of(hz, n_mels, scale):
    """The band whose triangle weighs hz the most."""
    weights = ref.filterbank(RATE, 1 << 16, n_mels, 0.0, RATE / 2.0, scale, "none")
    return int(np.argmax(weights[:, int(round(hz * (1 << 16) / RATE))]))


def recording():
    rng = np.random.default_rng(99)
    t1 = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * t1)
    noise = 0.2 * rng.standard_normal(RATE)
    n3 = int(1.5 * RATE)
    t3 = np.arange(n3) / RATE
    f0, f1 = 200.0, 7000.0
    chirp = 0.5 * np.sin(2 * np.pi * (f0 * t3 + (f1 - f0) * t3 * t3 / (2 * 1.5)))
    return np.concatenate([tone, noise, chirp]).astype(np.float32), (RATE, 2 * RATE)


def subscribe(endpoint, stream):
    """A SUB socket on the broker's data-out endpoint for one stream: (context, socket)."""
    import zmq
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\0")
    return ctx, sock


def collect(sock, until, timeout):
    """Decoded blocks from sock until until(blocks) holds or timeout seconds pass."""
    blocks = []
    deadline = time.time() + timeout
    while time.time() < deadline and not until(blocks):
        if sock.poll(200):
            topic, payload = sock.recv_multipart()
            blocks.append(abdecode.decode_block(topic, payload))
    return blocks


def main():
    work = h.setup()
    # The build tree's plugins, beside bin/ (the processor also looks there itself).
    plugin_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(h.AUDIOBUS))), "plugins")
    env = {"AUDIOBUS_PLUGIN_PATH": plugin_dir} if os.path.isdir(plugin_dir) else {}
    broker, ep = h.start_broker(work)
    data_out = h.data_out_endpoint(broker)

    x, (noise_at, chirp_at) = recording()
    wav = os.path.join(work, "in.wav")
    h.write_wav(wav, RATE, 1, "f32", x.astype("<f4").tobytes())
    expect_frames = (len(x) - N_FFT) // HOP + 1

    a_png, b_png = os.path.join(work, "a.png"), os.path.join(work, "b.png")
    missing = os.path.join(work, "no-such-dir", "d.png")
    common = ["process", "--broker", ep, "--stream", "spec", "--plugin", "logmel",
              "--param", "n_fft=%d" % N_FFT, "--param", "hop=%d" % HOP]

    def params(*pairs):
        return [arg for pair in pairs for arg in ("--param", pair)]

    procs = {
        "a": h.Node(work, "a", common + ["--name", "a"] + params("png=" + a_png), env=env),
        "b": h.Node(work, "b", common + ["--name", "b"] + params(
            "png=" + b_png, "png_seconds=1", "scale=slaney", "spectrum=magnitude", "norm=slaney", "n_mels=64",
            "publish=0"), env=env),
        "d": h.Node(work, "d", common + ["--name", "d"] + params("png=" + missing, "publish=0"), env=env),
    }
    if os.path.exists("/dev/full"):
        procs["c"] = h.Node(work, "c", common + ["--name", "c"] + params("png=/dev/full", "publish=0"), env=env)
    h.check(h.wait_linked(ep, sorted(procs), timeout=30), "all four processors linked")
    ctx, sock = subscribe(data_out, "spec/logmel")
    time.sleep(1.0)  # PUB/SUB: let the subscription reach the broker first

    status, out, err = h.run(["record", "--broker", ep, "--stream", "spec", "--source", "file:" + wav,
                              "--speed", "10", "--block", "400"], timeout=60)
    h.check(status == 0, "recorder exits 0 at the end of the file", status, err[-800:])

    def frames_in(blocks):
        return sum(b["frames"] for b in blocks)

    blocks = collect(sock, lambda bl: frames_in(bl) >= expect_frames, 60)
    sock.close()
    ctx.term()

    # d failed at activate, naming the path and the reason.
    status_d = procs["d"].wait(20)
    log_d = procs["d"].output()
    h.check(status_d not in (0, None), "d (png in a missing directory) exits non-zero", status_d)
    h.check(missing in log_d and "No such file or directory" in log_d,
            "d's log names the path and the system's reason", log_d[-800:])

    # Each processor logs the end of the stream once it has processed every block before it.
    running = [n for n in sorted(procs) if n != "d"]
    h.check(h.wait_for(lambda: all("stream spec ended" in procs[n].output() for n in running), 60),
            "every processor reached the end of the stream", [procs[n].output()[-300:] for n in running])
    for name in running:
        h.check(procs[name].stop(signal.SIGTERM, 20) == 0, "%s exits 0 after SIGTERM" % name,
                procs[name].output()[-1500:])

    # --- the features stream of a
    n_mels = 40
    h.check(frames_in(blocks) == expect_frames, "a published one frame per hop", frames_in(blocks),
            expect_frames)
    h.check(all(b["type"] == "features" and b["channels"] == n_mels and b["hop"] == HOP and b["rate"] == RATE
                for b in blocks), "features blocks of 40 bands, hop 160, 16 kHz",
            [(b["type"], b["channels"], b["hop"], b["rate"]) for b in blocks[:3]])
    starts = []
    for b in blocks:
        starts.extend(b["frame0"] + HOP * k for k in range(b["frames"]))
    h.check(starts == [HOP * k for k in range(len(starts))], "frame0 starts at 0 and advances by hop",
            starts[:5])
    cfg = dict(rate=RATE, n_fft=N_FFT, hop=HOP, n_mels=n_mels)
    want, energy, _ = ref.reference(x, cfg)
    if frames_in(blocks) == expect_frames:
        got = np.concatenate([np.array(abdecode.sample_values(b), dtype=np.float32).reshape(-1, n_mels)
                              for b in blocks])
        ref.failures.clear()
        worst, _, deepest = ref.compare("a features", cfg, got, want, energy)
        for failure in ref.failures:
            h.check(False, failure)
        print("features of a: %d frames, largest difference %.2e dB (values down to %.1f dB below the loudest band)"
              % (len(got), worst, deepest))

    # --- a's picture
    log_a = procs["a"].output()
    h.check("picture %s: %d x %d px" % (a_png, expect_frames, n_mels) in log_a, "a logs the picture it wrote",
            log_a[-800:])
    if h.check(os.path.exists(a_png), "a wrote its PNG", a_png):
        width, height, rows = read_png(a_png)
        h.check((width, height) == (expect_frames, n_mels), "a's picture is frames x n_mels", (width, height))
        if (width, height) == (expect_frames, n_mels):
            grey = expected_grey(want, -100.0)
            worst = int(np.abs(rows.astype(np.int32) - grey).max())
            h.check(worst <= 1, "a's picture is the documented mapping of the reference, within 1 grey level",
                    worst)
            band = band_of(1000.0, n_mels, "htk")
            tone_cols = rows[:, :(noise_at - N_FFT) // HOP]
            brightest = height - 1 - np.argmax(tone_cols, axis=0)
            h.check(np.all(np.abs(brightest - band) <= 1),
                    "the tone's band (%d, 1 kHz) is the brightest" % band, sorted(set(brightest.tolist())))
            row = height - 1 - band
            others = np.delete(tone_cols, [r for r in (row - 1, row, row + 1) if 0 <= r < height], axis=0)
            h.check(tone_cols[row].min() > others.max() + 20, "and brighter than every band away from it",
                    int(tone_cols[row].min()), int(others.max()))
            noise_cols = rows[:, noise_at // HOP + 1:(chirp_at - N_FFT) // HOP]
            h.check(np.median(noise_cols) > 150 and np.median(noise_cols) > 3 * np.median(tone_cols),
                    "noise lights every band", float(np.median(noise_cols)), float(np.median(tone_cols)))
            chirp_cols = rows[:, chirp_at // HOP + 1:]
            peak = height - 1 - np.argmax(chirp_cols, axis=0)
            h.check(peak[-1] - peak[0] >= n_mels // 2, "the chirp rises across the bands", int(peak[0]),
                    int(peak[-1]))
            h.check(np.all(np.diff(peak) >= -1), "and never falls by more than a band", peak.tolist())

    # --- b keeps the last second
    log_b = procs["b"].output()
    kept = int(math.ceil(1.0 * RATE / HOP))
    h.check("the last %d of %d frames" % (kept, expect_frames) in log_b, "b says it kept the last second only",
            log_b[-800:])
    if h.check(os.path.exists(b_png), "b wrote its PNG", b_png):
        width, height, rows = read_png(b_png)
        h.check((width, height) == (kept, 64), "b's picture is the last second x 64 bands", (width, height))
        cfg_b = dict(rate=RATE, n_fft=N_FFT, hop=HOP, n_mels=64, scale="slaney", spectrum="magnitude",
                     norm="slaney")
        want_b, _, _ = ref.reference(x, cfg_b)
        if (width, height) == (kept, 64):
            grey = expected_grey(want_b[-kept:], -100.0)
            worst = int(np.abs(rows.astype(np.int32) - grey).max())
            h.check(worst <= 1, "b's picture is the reference's last frames, within 1 grey level", worst)

    # --- c could not write /dev/full and said so
    if "c" in procs:
        log_c = procs["c"].output()
        h.check("cannot write picture /dev/full" in log_c and "No space left on device" in log_c,
                "c logs the failed write with the path and the reason", log_c[-800:])
        h.check(os.path.exists("/dev/full") and not os.path.isfile("/dev/full"), "/dev/full is left alone")
    h.finish()


main()
