"""Several hosts on one simulated LAN (network namespaces, see netns.py):
a broker on H1, recorders on H2, processors on H3.

1. Every block of a synth:counter stream arrives bit-exact at two processors
   on another host; `audiobus ls` run from H2 lists the three nodes with the
   hosts and PIDs they really have; the broker saw no gap.
2. A processor whose cable is pulled for 2 s in the middle of a real-time
   stream. What must hold today: once the cable is back it is registered
   (still, or again) and receives blocks again, and the blocks it received
   are contiguous except for the gaps its log reports. Everything else (how
   many blocks it lost, whether the broker forgot it) is measured and printed
   as "cut:" lines, not asserted. The cut processor runs without
   --exit-at-end and is stopped once the broker has heard from it again and
   the stream has ended, so neither waits for the other. A processor on H2
   that is not cut receives the whole stream.

Needs root: exits 77 (skipped) otherwise.
"""
import glob
import json
import os
import re
import signal
import struct
import time

import netns

netns.enter_sandbox()
netns.require_root_or_skip()

import harness as h  # noqa: E402  (after the sandbox: one work dir, made inside it)

work = h.setup()
BIN = os.path.abspath(h.AUDIOBUS)
RATE, BLOCK, PORT = 48000, 256, 5550

lan = netns.make_lan(3)
H1, H2, H3 = lan.host(1), lan.host(2), lan.host(3)
ep = "tcp://%s:%d" % (H1.addr, PORT)
print("LAN: %s; broker at %s" % (lan.hosts, ep), flush=True)


def log_of(name):
    return os.path.join(work, name + ".log")


def read_log(name):
    with open(log_of(name), errors="replace") as f:
        return f.read()


def listing(i=2):
    """The broker's listing, asked from host i; None when ls failed."""
    r = lan.call(i, [BIN, "ls", "--broker", ep, "--json", "--timeout-ms", "1500"], timeout=10)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def nodes_of(lst):
    return {n["name"]: n for n in lst["nodes"]} if lst else {}


def stream_of(lst, name):
    for s in (lst or {}).get("streams", []):
        if s["stream"] == name:
            return s
    return None


def linked(names, timeout=15):
    def all_linked():
        nodes = nodes_of(listing())
        return all(n in nodes and nodes[n]["linked"] for n in names)
    return netns.wait_until(all_linked, timeout, interval=0.1)


def wait_proc(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except Exception:
        return None


def stop_proc(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    status = wait_proc(proc, 10)
    if status is None:
        proc.kill()
        status = wait_proc(proc, 5)
    return status


def process(host, name, stream, path, exit_at_end=True):
    return lan.run(host, [BIN, "process", "--broker", ep, "--stream", stream, "--plugin", "wavwrite",
                          "--name", name, "--param", "path=" + path] + (["--exit-at-end"] if exit_at_end else []),
                   log_of(name))


def files_of(path):
    """path and the files wavwrite continued it in (path-2.wav, ...), in
    order: those that exist."""
    base, ext = os.path.splitext(path)
    files = [path] + sorted(glob.glob(base + "-*" + ext), key=lambda p: int(p[len(base) + 1:-len(ext)]))
    return [f for f in files if os.path.exists(f)]


def samples_of(path):
    """Every sample of path and of the files wavwrite continued it in, in
    order; and how many files there were."""
    files = files_of(path)
    out = []
    for f in files:
        rate, channels, fmt, raw = h.read_wav(f)
        h.check((rate, channels, fmt) == (RATE, 1, "f32"), "WAV format", f, rate, channels, fmt)
        out.extend(struct.unpack("<%df" % (len(raw) // 4), raw))
    return out, len(files)


def runs_of(samples):
    """Contiguous runs of the counter as [first, last] sample values."""
    runs = []
    for v in samples:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return runs


def log_count(text, label):
    m = re.findall(r"%s (\d+)" % re.escape(label), text)
    return int(m[-1]) if m else None


# The broker forgets a silent node only after 10 heartbeats, longer than the
# cut below: the cut processor's control connection is remade while the
# broker still holds its entry, and it must be known again by its routing id
# (same session), not refused for its own name.
broker = lan.run(1, [BIN, "broker", "--bind", ep, "--heartbeat-misses", "10",
                     "--ready-file", os.path.join(work, "broker.ready")], log_of("broker"))
h.check(netns.wait_until(lambda: os.path.exists(os.path.join(work, "broker.ready")) or broker.poll() is not None, 10)
        and broker.poll() is None, "broker starts on H1", read_log("broker")[-1000:])

# --- 1. bit-exact across the LAN; ls from another host ---
SECONDS = 4
outs = {name: os.path.join(work, name + ".wav") for name in ("p1", "p2")}
procs = {name: process(3, name, "lan", path) for name, path in outs.items()}
h.check(linked(list(procs)), "processors on H3 linked before the recorder starts", listing())

rec = lan.run(2, [BIN, "record", "--broker", ep, "--stream", "lan", "--source", "synth:counter",
                  "--duration", str(SECONDS), "--speed", "4", "--block", str(BLOCK), "--name", "rec"], log_of("rec"))
seen = {}


def all_three_listed():
    nodes = nodes_of(listing())
    if all(n in nodes for n in ("rec", "p1", "p2")):
        seen.update(nodes)
        return True
    return rec.poll() is not None


netns.wait_until(all_three_listed, 10, interval=0.02)
h.check(set(seen) >= {"rec", "p1", "p2"}, "ls from H2 lists the recorder and both processors at once", sorted(seen))
if seen:
    expect = {"rec": (H2.hostname, rec.pid, "recorder"), "p1": (H3.hostname, procs["p1"].pid, "processor"),
              "p2": (H3.hostname, procs["p2"].pid, "processor")}
    for name, (host, pid, role) in expect.items():
        n = seen.get(name, {})
        h.check((n.get("host"), n.get("pid"), n.get("role")) == (host, pid, role),
                "ls shows the node's host, pid and role", name, n.get("host"), n.get("pid"), n.get("role"),
                "expected", host, pid, role)

h.check(wait_proc(rec, 30) == 0, "recorder on H2 exits 0", read_log("rec")[-1500:])
for name, proc in procs.items():
    status = wait_proc(proc, 20)
    if status is None:
        stop_proc(proc)
    h.check(status == 0, "processor exits 0 at the end of the stream", name, read_log(name)[-1500:])

total = RATE * SECONDS
for name, path in outs.items():
    files = len(files_of(path))
    h.check(files == 1, "one WAV file", name, files)
    h.check_counter_wav(path, RATE, 1, total, name)
    text = read_log(name)
    h.check(log_count(text, "lost in transit") == 0 and log_count(text, "dropped (queue full)") == 0,
            "processor counted no loss", name, text[-500:])

stream = stream_of(listing(), "lan")
blocks = (total + BLOCK - 1) // BLOCK
h.check(stream is not None and stream["gaps"] == 0, "broker saw no gap", stream)
h.check(stream is not None and stream["blocks"] == blocks + 1, "broker relayed every block and the end marker",
        stream and stream["blocks"], blocks + 1)

# --- 2. a 4 s cut of H3 (longer than ZMTP's 3 s heartbeat timeout: the
# connections are remade) in the middle of an 8 s real-time stream ---
SECONDS2, CUT_AT, CUT_FOR = 8, 2.0, 4.0
cut_wav, ref_wav = os.path.join(work, "pc.wav"), os.path.join(work, "pref.wav")
# Without --exit-at-end: whether the broker hears from it again must not
# race with the end of the stream. It is stopped once both are known.
pc = process(3, "pc", "cut", cut_wav, exit_at_end=False)
pref = process(2, "pref", "cut", ref_wav)
h.check(linked(["pc", "pref"]), "processors linked before the second recorder starts", listing())

t_launch = time.time()
rec2 = lan.run(2, [BIN, "record", "--broker", ep, "--stream", "cut", "--source", "synth:counter",
                   "--duration", str(SECONDS2), "--speed", "1", "--block", str(BLOCK), "--name", "rec2"],
               log_of("rec2"))
netns.wait_until(lambda: (stream_of(listing(), "cut") or {}).get("blocks", 0) > 0, 5, interval=0.02)
t_stream = time.time()  # the stream is flowing (an upper bound of its start)
t_cut = t_restore = t_rec_end = t_pc_end = None
timeline = []  # (s since t_stream, listed, linked, session, heartbeat_ms_ago, blocks, gaps, last_seq per stats)


def heard_again():
    """Seconds from the restore to the first listing that shows pc with a
    heartbeat age that dropped or a new session; None until then."""
    for prev, entry in zip(timeline, timeline[1:]):
        if t_restore and entry[0] >= round(t_restore - t_stream, 2) and entry[1] and (
                entry[3] != prev[3] or (entry[4] or 0) < (prev[4] or 0)):
            return round(entry[0] - (t_restore - t_stream), 2)
    return None


while True:
    now = time.time()
    if t_cut is None and now >= t_stream + CUT_AT:
        lan.cut(3)
        t_cut = time.time()
    elif t_cut is not None and t_restore is None and now >= t_cut + CUT_FOR:
        h.check(lan.restore(3), "H3's link is up again")
        t_restore = time.time()
    if t_rec_end is None and rec2.poll() is not None:
        t_rec_end = time.time()
    if t_pc_end is None and pc.poll() is not None:
        t_pc_end = time.time()
    if t_pc_end is not None:
        break  # it should not exit by itself
    if t_rec_end is not None and heard_again() is not None and "ended at frame" in read_log("pc"):
        break
    if t_rec_end is not None and now > t_rec_end + 15:
        break
    node = nodes_of(listing()).get("pc")
    stats = (node or {}).get("stats", {})
    timeline.append((round(time.time() - t_stream, 2), node is not None, bool(node and node["linked"]),
                     node and node.get("session"), node and node.get("heartbeat_ms_ago"),
                     stats.get("blocks"), stats.get("gaps"), stats.get("last_seq")))
    time.sleep(0.1)

saw_end = "ended at frame" in read_log("pc")
exited_early = pc.poll() is not None
pc_status = pc.poll() if exited_early else stop_proc(pc)
h.check(not exited_early and pc_status == 0, "the cut processor runs until stopped and exits 0 on SIGTERM",
        pc_status, read_log("pc")[-1500:])
h.check(wait_proc(rec2, 20) == 0, "second recorder exits 0", read_log("rec2")[-1500:])
ref_status = wait_proc(pref, 20)
if ref_status is None:
    stop_proc(pref)
h.check(ref_status == 0, "the processor that was not cut exits 0 at the end", read_log("pref")[-1500:])

total2 = RATE * SECONDS2
ref, _ = samples_of(ref_wav)
h.check(len(ref) == total2 and all(v == float(k) for k, v in enumerate(ref)),
        "the processor on H2 (not cut) received the whole stream bit-exact", len(ref), total2)

samples, files = samples_of(cut_wav)
runs = runs_of(samples)
pc_log, broker_log = read_log("pc"), read_log("broker")
lost = log_count(pc_log, "lost in transit")
dropped = log_count(pc_log, "dropped (queue full)")
received = log_count(pc_log, "received")
h.check(lost is not None, "the cut processor printed its counters", pc_log[-1500:])
h.check(bool(runs) and all(a % BLOCK == 0 for a, _ in runs) and all((b + 1) % BLOCK == 0 for _, b in runs),
        "the cut processor received whole blocks", runs[:10])
gap_blocks = sum(int(runs[k + 1][0] - runs[k][1] - 1) // BLOCK for k in range(len(runs) - 1))
backwards = [k for k in range(len(runs) - 1) if runs[k + 1][0] <= runs[k][1]]
h.check(not backwards, "no block arrived twice or out of order", [runs[k:k + 2] for k in backwards[:3]])
h.check(lost is not None and gap_blocks == lost + (dropped or 0),
        "the blocks received are contiguous except for the gaps the log reports", gap_blocks, lost, dropped)
head_lost = int(runs[0][0]) // BLOCK if runs else None
tail_lost = (total2 - int(runs[-1][1]) - 1) // BLOCK if runs else None

# Blocks produced after the cable came back: a sample v was produced no
# earlier than t_launch + v / RATE, so v > (t_restore - t_launch) * RATE
# was certainly captured after the restore.
frame_at_restore = int((t_restore - t_launch) * RATE) if t_restore else total2
after = [v for v in samples if v > frame_at_restore]
h.check(len(after) > 0, "the cut processor receives blocks again after the cable is back",
        frame_at_restore, runs[-3:])
rel = lambda t: round(t - t_stream, 2) if t else None  # noqa: E731
sessions = sorted(set(e[3] for e in timeline if e[3] is not None))
forgotten = any("node pc (" in line and "forgotten" in line for line in broker_log.splitlines())
# "unlinked" right before its goodbye is the normal end; before that it is news.
pc_lines = [line for line in broker_log.splitlines() if "node pc " in line]
unlinked = any("unlinked" in line and (k + 1 == len(pc_lines) or "said goodbye" not in pc_lines[k + 1])
               for k, line in enumerate(pc_lines))
resumed = heard_again()
h.check(resumed is not None, "after the cut the broker hears from the processor again (registered, still or again)",
        [e for e in timeline if t_restore and e[0] >= rel(t_restore)][:8])
h.check(not forgotten and len(sessions) == 1 and "refused" not in pc_log,
        "the broker knows the cut processor again by its routing id: one session, never refused",
        sessions, [line for line in pc_log.splitlines() if "refused" in line])

print("cut: H3 cut at t=%.2f s for %.2f s (restored at t=%.2f s, link up), stream %d s at 1x, %d blocks of %d"
      % (rel(t_cut), t_restore - t_cut, rel(t_restore), SECONDS2, total2 // BLOCK, BLOCK))
print("cut: processor received %s blocks, lost in transit %s, dropped %s; WAV files %d, runs %s"
      % (received, lost, dropped, files, [(int(a) // BLOCK, int(b) // BLOCK) for a, b in runs]))
print("cut: blocks missing at the head %s, in gaps %s, at the tail %s; saw the end of the stream: %s"
      % (head_lost, gap_blocks, tail_lost, saw_end))
print("cut: broker forgot it: %s; unlinked it mid-stream: %s; sessions seen %s; registered again (node log): %s"
      % (forgotten, unlinked, sessions, "registered again" in pc_log))
print("cut: broker lines about pc:")
for line in broker_log.splitlines():
    if " pc " in line or "node pc" in line:
        print("cut:   " + line)
print("cut: processor log lines:")
for line in pc_log.splitlines():
    if any(w in line for w in ("lost", "again", "silent", "answered", "ended", "received", "linked", "broker")):
        print("cut:   " + line)
print("cut: longest silence of pc seen by the broker: %s ms; heard from it again %s s after the restore"
      % (max([e[4] or 0 for e in timeline] or [0]), resumed))
print("cut: ls from H2 (t, listed, linked, session, heartbeat_ms_ago, blocks, gaps, last_seq), when it changed:")
previous = None
for entry in timeline:
    if previous is None or entry[1:4] != previous[1:4] or entry[5:] != previous[5:]:
        print("cut:   %s" % (entry,))
    previous = entry

lan.teardown()
h.finish()
