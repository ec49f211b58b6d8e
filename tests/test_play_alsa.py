"""`audiobus play` through real PortAudio: a counter stream goes from a
recorder through the broker to a player whose output device is ALSA's file
plugin (tests/alsa/asound.conf) writing into a FIFO. The test reads the FIFO
no faster than the sample rate, so the device runs at real-time pace, as a
sound card would. What reaches the FIFO must be the stream, sample-exact
and in order, with silence only before it, after it, and exactly as much
inside it as the player reports for underruns and gaps. Then the refusals:
a stream not published yet (waited for, with a message), a stream with
more channels or a higher rate than the device takes, an unknown device,
bad options."""
import array
import fcntl
import os
import re
import signal
import threading
import time

import msgpack
import zmq

import harness as h

work = h.setup()
RATE, CHANNELS, SECONDS, LATENCY_MS = 48000, 2, 3, 200
FRAMES = RATE * SECONDS
FRAME_BYTES = CHANNELS * 4
ALSA = {"ALSA_CONFIG_PATH": os.path.join(h.SOURCE_DIR, "tests", "alsa", "asound.conf")}


class PacedReader(threading.Thread):
    """Reads the FIFO the ALSA file plugin writes, from its first byte on
    no faster than RATE frames per second: the device's clock. The pipe is
    shrunk to one page so that the device cannot run far ahead of it."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # before the player opens it for writing
        fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, 4096)
        self.data = bytearray()
        self.done = threading.Event()

    def run(self):
        started = None
        while not self.done.is_set():
            allowed = 65536 if started is None else int((time.monotonic() - started) * RATE) * FRAME_BYTES - len(
                self.data)
            if allowed > 0:
                try:
                    chunk = os.read(self.fd, min(allowed, 65536))
                except BlockingIOError:
                    chunk = b""
                if chunk and started is None:
                    started = time.monotonic()
                self.data += chunk
            time.sleep(0.002)
        while True:  # what the writer left in the pipe
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                chunk = b""
            if not chunk:
                break
            self.data += chunk
        os.close(self.fd)


def counters(log):
    """The player's last report: {name: value}."""
    lines = [line for line in log.splitlines() if re.search(r"played \d+ frames", line)]
    if not lines:
        return None
    line = lines[-1]
    pattern = (r"played (\d+) frames .*underruns (\d+) \((\d+) frames of silence\), overruns (\d+) \((\d+) frames "
               r"dropped\), gaps (\d+) \((\d+) frames of silence\); blocks (\d+), lost (\d+)")
    m = re.search(pattern, line)
    if not m:
        return None
    names = ["played", "underruns", "underrun_frames", "overruns", "dropped_frames", "gaps", "gap_frames", "blocks",
             "lost"]
    return dict(zip(names, (int(v) for v in m.groups())))


# The shapes of the streams played: (array type code, channels, the samples
# of frame f, the frame whose samples these are or None).
F32_STEREO = ("f", 2, lambda f: (2.0 * f, 2.0 * f + 1),
              lambda t: int(t[0]) // 2 if t[0] == int(t[0]) and int(t[0]) % 2 == 0 and t[1] == t[0] + 1 else None)
S32_MONO = ("i", 1, lambda f: (f + 1,), lambda t: t[0] - 1 if t[0] > 0 else None)


def analyse(data, total, shape=F32_STEREO, start=0, then_more=False):
    """Walk the device's output from byte start: every frame must be the
    next frame of the counter stream, silence, or a later frame of the
    stream (a jump over frames that never played). With then_more, the walk
    stops after the stream's last frame (another shape follows)."""
    typecode, channels, expect, index = shape
    samples = array.array(typecode)
    size = samples.itemsize * channels
    samples.frombytes(bytes(data[start:start + (len(data) - start) // size * size]))
    n = len(samples) // channels
    frames = [tuple(samples[i * channels:(i + 1) * channels]) for i in range(n)]
    silence = (0,) * channels
    first = next((i for i in range(n) if frames[i] != silence), n)
    r = {"frames": n, "first": first, "start": list(frames[first]) if first < n else None, "expected": 0,
         "inner_silence": 0, "trailing": 0, "jumps": [], "bad": [], "end_byte": len(data)}
    expected, silence_run = 0, 0
    for i in range(first, n):
        frame = frames[i]
        if expected < total and frame == expect(expected):
            expected += 1
            silence_run = 0
            if expected == total and then_more:
                r["end_byte"] = start + (i + 1) * size
                break
        elif frame == silence:
            if expected < total:
                r["inner_silence"] += 1
                silence_run += 1
            else:
                r["trailing"] += 1
        elif expected < total and index(frame) is not None and expected < index(frame) < total and \
                frame == expect(index(frame)):
            r["jumps"].append((expected, index(frame) - expected, silence_run))
            expected = index(frame) + 1
            silence_run = 0
        else:
            r["bad"].append((i, frame))
    r["expected"] = expected
    r["skipped"] = sum(j[1] for j in r["jumps"])
    return r


def check_output(name, r, total, expect_start):
    print("%s output: %d frames, %d of leading silence, stream frames to %d of %d, silence inside %d, jumps %s, "
          "trailing silence %d" % (name, r["frames"], r["first"], r["expected"], total, r["inner_silence"],
                                   r["jumps"], r["trailing"]))
    h.check(r["start"] == expect_start, "%s: the first sound is the stream's frame 0, whole" % name, r["start"])
    h.check(not r["bad"], "%s: every frame is the stream's next one, or silence (first wrong frames)" % name,
            r["bad"][:5])
    h.check(r["expected"] == total, "%s: the stream was played to its last frame" % name, r["expected"], total)


def play(stream, feed):
    """Play stream into a paced FIFO while feed() publishes it; returns the
    player's counters, its log and the analysis of what the device got."""
    fifo = os.path.join(work, stream + ".fifo")
    os.mkfifo(fifo)
    reader = PacedReader(fifo)
    reader.start()
    name = "player-" + stream
    player = h.Node(work, name, ["play", "--broker", ep, "--stream", stream, "--name", name, "--latency",
                                 str(LATENCY_MS), "--exit-at-end"], env=dict(ALSA, AB_TEST_OUT=fifo))
    h.check(h.wait_linked(ep, [name]), "%s registers and links like a processor" % name, player.output()[-1000:])
    entry = h.node_entry(ep, name)
    h.check(entry is not None and entry["role"] == "processor" and entry["inputs"] == [stream],
            "audiobus ls lists %s with its input stream" % name, entry)
    feed()
    status = player.wait(60)
    h.check(status == 0, "%s exits 0 after playing the end out (--exit-at-end)" % name, status,
            player.output()[-2000:])
    reader.done.set()
    reader.join(10)
    log = player.output()
    got = counters(log)
    h.check(got is not None, "%s reports its counters at exit" % name, log[-1500:])
    got = got or {}
    print("%s: %s" % (name, got))
    if stream == "shape":
        r1 = analyse(reader.data, FRAMES // 3, then_more=True)
        check_output(name + " (first shape)", r1, FRAMES // 3, [0.0, 1.0])
        r = analyse(reader.data, 2 * FRAMES // 3, S32_MONO, start=r1["end_byte"])
        check_output(name + " (second shape)", r, 2 * FRAMES // 3, [1])
        inner = r1["inner_silence"] + r["inner_silence"]
        r["skipped"] += r1["skipped"]
    else:
        r = analyse(reader.data, FRAMES)
        check_output(name, r, FRAMES, [0.0, 1.0])
        inner = r["inner_silence"]
    h.check(inner == got.get("underrun_frames", -1) + got.get("gap_frames", -1),
            "%s: the silence inside the stream is exactly what the player reported for underruns and gaps" % name,
            inner, got)
    h.check(("underrun:" in log) == (got.get("underruns", 0) > 0),
            "%s: an underrun warning exactly when there were underruns" % name, log[-1500:])
    if got.get("underruns"):
        print("NOTE: %d underrun(s) on this run, accounted for exactly" % got["underruns"])
    return got, log, r


broker, ep = h.start_broker(work)

# ---- a counter stream from a recorder, played sample-exact ----------------------------------
def record_counter():
    rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "cnt", "--source", "synth:counter", "--rate",
                               str(RATE), "--channels", str(CHANNELS), "--duration", str(SECONDS), "--speed", "1"])

    def playing():
        e = h.node_entry(ep, "player-cnt")
        return e is not None and e["stats"].get("played_frames", 0) > 0
    h.check(h.wait_for(playing, 15, interval=0.2), "the player's heartbeat shows frames played",
            h.node_entry(ep, "player-cnt"))
    h.check(rec.wait(60) == 0, "the recorder exits 0", rec.output()[-1000:])


got, log, r = play("cnt", record_counter)
h.check(r["skipped"] == got.get("dropped_frames", -1),
        "frames missing from the output are exactly those reported dropped", r["jumps"], got)
h.check(got.get("played") == FRAMES - got.get("dropped_frames", 0), "the player counted every frame it played",
        got, FRAMES)
h.check(got.get("gaps") == 0 and got.get("lost") == 0, "no gap on loopback", got)

# ---- a stream with a hole: the missing audio is played as silence of its length ----------------
BLOCK, HOLE = 480, range(100, 105)
data_in = h.data_in_endpoint(broker)
ctx = zmq.Context()


def publish(stream, parts, skip=()):
    """Publish parts of a stream at real-time pace straight into the
    broker's data-in, as a recorder would, then its end. A part is (rate,
    channels, format, frames, epoch, samples(frame0, n) -> bytes); blocks
    are 10 ms; the blocks numbered in skip are never sent (nobody can
    resend them)."""
    pub = ctx.socket(zmq.XPUB)
    pub.connect(data_in)
    h.check(pub.poll(5000) and pub.recv() == b"\x01", "the broker subscribes to the test's publisher")
    start, offset = time.monotonic(), 0.0
    for rate, channels, fmt, frames, epoch, samples in parts:
        block = rate // 100
        for seq in range(frames // block + 1):
            delay = start + offset + seq * block / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = {"v": 1, "type": "audio", "stream": stream, "seq": seq, "frame0": seq * block, "time_ns": 0,
                   "rate": rate, "channels": channels, "format": fmt, "frames": block, "epoch": epoch}
            if seq == frames // block:
                if (rate, channels, fmt, frames, epoch, samples) != parts[-1]:
                    break  # a new run follows without an end, as after a crash
                msg.update(type="end", frames=0, samples=b"")
            elif seq in skip:
                continue
            else:
                msg["samples"] = samples(seq * block, block)
            pub.send_multipart([stream.encode() + b"\x00", msgpack.packb(msg, use_bin_type=True)])
        offset += frames / rate
    pub.close(linger=2000)


def f32_stereo(frame0, n):
    return array.array("f", range(2 * frame0, 2 * (frame0 + n))).tobytes()


def s32_mono(frame0, n):
    return array.array("i", range(frame0 + 1, frame0 + n + 1)).tobytes()


def publish_with_hole():
    publish("holes", [(RATE, CHANNELS, "f32", FRAMES, 1, f32_stereo)], skip=HOLE)


got, log, r = play("holes", publish_with_hole)
missing = len(HOLE) * BLOCK
h.check(got.get("lost") == len(HOLE) and got.get("gaps") == 1 and got.get("gap_frames") == missing,
        "the player reports the hole: %d blocks lost, one gap of %d frames of silence" % (len(HOLE), missing), got)
hole = [j for j in r["jumps"] if j[0] == HOLE[0] * BLOCK]
h.check(len(hole) == 1 and hole[0][1] == missing and hole[0][2] >= missing,
        "the output jumps over the hole after at least as much silence", r["jumps"])
h.check(r["skipped"] == missing + got.get("dropped_frames", -1), "no other frame is missing", r["jumps"], got)
h.check("did not come within" in log and "played as silence" in log, "the log says what was lost", log[-1500:])

# ---- a stream that changes shape: played out, the device reopened ------------------------------
# 1 s of 48 kHz stereo f32, then (its publisher restarted) 1 s of 96 kHz mono
# s32: as many bytes a second, so the FIFO's pace holds for both.
got, log, r = play("shape", lambda: publish("shape", [(RATE, CHANNELS, "f32", FRAMES // 3, 1, f32_stereo),
                                                      (2 * RATE, 1, "s32", 2 * FRAMES // 3, 2, s32_mono)]))
h.check("changed from 48000 Hz, 2 ch, f32 to 96000 Hz, 1 ch, s32" in log and
        "playing stream shape (96000 Hz, 1 ch, s32)" in log, "the log says the device was reopened in the new shape",
        log[-2000:])
h.check(got.get("played") == FRAMES // 3 + 2 * FRAMES // 3 - got.get("dropped_frames", 0),
        "both shapes were played to the end", got)
h.check(r["skipped"] == got.get("dropped_frames", -1), "frames missing from the output are those reported dropped",
        r["jumps"], got)

# ---- a stream not published yet: waited for, and said so --------------------------------
waiting = h.Node(work, "waiting", ["play", "--broker", ep, "--stream", "nosuch", "--name", "waiting"], env=ALSA)
h.check(h.wait_for(lambda: "not published yet" in waiting.output(), 15),
        "a player of a stream nobody publishes says it waits for it", waiting.output()[-1000:])
text = waiting.output()
h.check("nosuch" in text and "cnt" in text and "--stream" in text,
        "the message names the stream, the streams the broker knows, and --stream", text[-1000:])
h.check(waiting.proc.poll() is None, "it keeps waiting", waiting.output()[-500:])
h.check(waiting.stop(signal.SIGTERM) == 0, "SIGTERM stops it cleanly (exit 0)", waiting.output()[-1000:])
h.check(h.node_entry(ep, "waiting") is None, "it said goodbye to the broker", h.node_entry(ep, "waiting"))


# ---- SIGINT while playing: a clean stop ---------------------------------------------------------
live = h.Node(work, "live", ["play", "--broker", ep, "--stream", "live", "--name", "live"], env=ALSA)
h.check(h.wait_linked(ep, ["live"]), "player live linked", live.output()[-500:])
rec = h.Node(work, "rec-live", ["record", "--broker", ep, "--stream", "live", "--source", "synth:sine", "--duration",
                                "30", "--speed", "1"])
h.check(h.wait_for(lambda: (h.node_entry(ep, "live") or {}).get("stats", {}).get("played_frames", 0) > 0, 15,
                   interval=0.2), "player live plays", live.output()[-1000:])
status = live.stop(signal.SIGINT, timeout=15)
h.check(status == 0, "SIGINT while playing: exit 0", status, live.output()[-1500:])
h.check(counters(live.output()) is not None, "and the counters are reported", live.output()[-1000:])
h.check(h.node_entry(ep, "live") is None, "and the player said goodbye", h.node_entry(ep, "live"))
rec.stop()

# ---- shapes the device cannot play ---------------------------------------------------------
def refused(stream, record_args):
    """Start a player on stream, then a recorder with record_args; the
    player must exit 1 on its own. Returns its output."""
    node = h.Node(work, "play-" + stream, ["play", "--broker", ep, "--stream", stream, "--name", "play-" + stream],
                  env=ALSA)
    h.check(h.wait_linked(ep, ["play-" + stream]), "player of %s linked" % stream, node.output()[-500:])
    rec = h.Node(work, "rec-" + stream, ["record", "--broker", ep, "--stream", stream, "--source", "synth:sine",
                                         "--duration", "10", "--speed", "1"] + record_args)
    status = node.wait(30)
    rec.stop()
    h.check(status == 1, "a player that cannot open the device for %s exits 1 (no hang)" % stream, status,
            node.output()[-1500:])
    return node.output()


text = refused("wide", ["--channels", "200", "--rate", "8000"])
h.check("200 channels" in text and "at most 128" in text and "--device" in text and "--channels" in text,
        "200 channels: the message says what the device takes and what to do", text[-1500:])
text = refused("fast", ["--rate", "768000"])
h.check("768000 Hz" in text and "48000" in text and "--device" in text and "--rate" in text and "resample" in text,
        "768 kHz: the message lists the rates the device takes and what to do", text[-1500:])

# ---- options and devices -------------------------------------------------------------------------
status, out, err = h.run_capped(["play", "--broker", ep, "--stream", "cnt", "--device", "nosuch"], env=ALSA)
h.check(status == 1 and 'no output device "nosuch"' in err and "audiobus play --list-devices" in err,
        "an unknown --device fails at once, saying how to list devices", status, err)
h.check(h.node_entry(ep, "play-cnt") is None, "and registers nothing", h.listing(ep)["nodes"])
status, out, err = h.run_capped(["play", "--list-devices"], env=ALSA)
h.check(status == 0 and "ab_out" in out and "(default output)" in out, "--list-devices shows the output devices",
        status, out, err)
status, out, err = h.run_capped(["play", "--broker", ep, "--stream", "cnt", "--latency", "0"])
h.check(status == 2 and "--latency" in err, "--latency 0 is a usage error", status, err)
status, out, err = h.run_capped(["play", "--broker", ep])
h.check(status == 2 and "--stream" in err, "--stream is required", status, err)
status, out, err = h.run_capped(["play", "--help"])
h.check(status == 0 and out.startswith("usage: audiobus play") and all(
    o in out for o in ["--broker", "--stream", "--device", "--latency", "--host-api", "--exit-at-end", "--duration",
                       "--list-devices"]), "--help lists the options", status, out)
h.finish()
