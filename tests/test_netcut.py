"""A processor cut off the network (network namespaces: broker, recorder
and processor on three simulated hosts, see netns.py):

1. a 5 s cut: it catches up with zero loss, every block exactly once, in
   order, bit-exact: what ZeroMQ dropped for it is replayed from the
   broker's history;
2. a 20 s cut with 10 s of history: it reports the exact missing range,
   in its log and to its plugin, and everything around it is intact;
3. a cut that outlasts the stream: no later block reveals what it missed,
   yet once its connection is back it asks for the tail, receives every
   block and the end marker, and exits at the end;
4. an 8 s cut of a stream of 32-frame blocks (12,000 blocks, more than
   the repair's default window of 8,192): repaired with zero loss too, as
   the window spans time, not a count of blocks.

Both cuts really lose blocks in transit (a connection silent for 3 s is
dropped and made again), so the repair has to work.
Needs root: exits 77 (skipped) otherwise.
"""
import os
import re
import struct
import time

import netns

netns.enter_sandbox()
netns.require_root_or_skip()

import harness as h  # noqa: E402

work = h.setup()
BIN = os.path.abspath(h.AUDIOBUS)
RATE, BLOCK, PORT = 48000, 256, 5550
lan = netns.make_lan(3)
ep = "tcp://%s:%d" % (lan.host(1).addr, PORT)


def log(name):
    return os.path.join(work, name + ".log")


def read_log(name):
    with open(log(name), errors="replace") as f:
        return f.read()


broker = lan.run(1, [BIN, "broker", "--bind", ep, "--history", "10"], log("broker"))
h.check(netns.wait_until(lambda: lan.call(2, [BIN, "ls", "--broker", ep, "--timeout-ms", "500"]).returncode == 0,
                         10), "broker answers")


def linked(name):
    r = lan.call(2, [BIN, "ls", "--broker", ep, "--json", "--timeout-ms", "1500"])
    return r.returncode == 0 and ('"name": "%s"' % name) in r.stdout and '"linked": true' in r.stdout


def scenario(label, cut_seconds, stream_seconds, cut_at=3, block=BLOCK):
    path = os.path.join(work, label + ".wav")
    proc = lan.run(3, [BIN, "process", "--broker", ep, "--stream", label, "--plugin", "wavwrite", "--name",
                       "p-" + label, "--param", "path=" + path, "--exit-at-end", "--log-level", "debug"],
                   log("p-" + label))
    h.check(netns.wait_until(lambda: linked("p-" + label), 15), "processor linked", label)
    rec = lan.run(2, [BIN, "record", "--broker", ep, "--stream", label, "--source", "synth:counter", "--duration",
                      str(stream_seconds), "--history", "10", "--block", str(block), "--name", "r-" + label], log("r-" + label))
    time.sleep(cut_at)
    lan.cut(3)
    t0 = time.time()
    time.sleep(cut_seconds)
    lan.restore(3)
    print("%s: cut for %.1f s" % (label, time.time() - t0), flush=True)
    try:
        h.check(rec.wait(timeout=stream_seconds + 30) == 0, "recorder exits 0", label, read_log("r-" + label)[-800:])
    except Exception:
        h.check(False, "recorder finished", label)
    try:
        status = proc.wait(timeout=90)
    except Exception:
        status = None
    out = read_log("p-" + label)
    h.check(status == 0, "processor exits 0 at the end of the stream", label, status, out[-2000:])
    for line in out.splitlines():
        if "received" in line or "lost for good" in line or "made again" in line:
            print("%s: %s" % (label, line), flush=True)
    return path, out


# 1. 5 s cut: nothing lost.
path, out = scenario("cut5", 5, 14)
h.check_counter_wav(path, RATE, 1, 14 * RATE, "5 s cut")
h.check("lost for good" not in out, "5 s cut: nothing reported lost", out[-800:])

# 2. 20 s cut, 10 s history: the exact range is reported and is what is missing.
path, out = scenario("cut20", 20, 30)
rate, channels, fmt, raw = h.read_wav(path)
samples = struct.unpack("<%df" % (len(raw) // 4), raw)
jumps = [(i, samples[i - 1], samples[i]) for i in range(1, len(samples)) if samples[i] != samples[i - 1] + 1]
h.check(samples and samples[0] == 0.0, "20 s cut: starts at sample 0")
h.check(len(jumps) == 1, "20 s cut: exactly one hole in the recording", jumps[:5])
m = re.search(r"frames (\d+)\.\.(\d+) \((\d+) frames\) missing", out)
h.check(m is not None, "20 s cut: the loss is reported with its frame range", out[-1500:])
if m and len(jumps) == 1:
    lost_from, lost_to = int(m.group(1)), int(m.group(2))
    _, before, after = jumps[0]
    h.check((lost_from, lost_to) == (int(before) + 1, int(after)), "the reported range is exactly the hole",
            (lost_from, lost_to), (int(before) + 1, int(after)))
    missing_seconds = (lost_to - lost_from) / RATE
    h.check(5 <= missing_seconds <= 15, "about cut minus history is missing", missing_seconds)
    h.check(samples[-1] == float(30 * RATE - 1), "and everything after the hole arrived", samples[-1])

# 3. The cut outlasts the stream (6 s, cut from 3 s to 9 s): only asking
#    for the tail after the reconnection recovers it.
path, out = scenario("tail", 6, 6)
h.check_counter_wav(path, RATE, 1, 6 * RATE, "cut past the end")
h.check("lost for good" not in out, "cut past the end: nothing reported lost", out[-800:])
h.check("made again" in out, "cut past the end: the data connection was really remade", out[-1500:])
# 4. 8 s of 32-frame blocks: more blocks than a window of a fixed count.
path, out = scenario("small", 8, 14, block=32)
h.check_counter_wav(path, RATE, 1, 14 * RATE, "8 s cut of 32-frame blocks")
h.check("lost for good" not in out, "8 s cut of 32-frame blocks: nothing reported lost", out[-800:])
lan.teardown()
h.finish()
