"""Soak: 8 real-time streams (synth:sine, 48 kHz, 256-frame blocks) x 4
processors each (level, publish=0, interval=0) for 60 s.

Checks: zero loss everywhere (every processor: stats gaps, dropped,
lost_frames and bad 0, every block processed; every broker stream: gaps 0,
every block relayed; no recorder overrun), every node exits 0; and no node's
resident memory grows: VmRSS (/proc/PID/status) of the broker, every
recorder and every processor is sampled every 5 s, and from the sample taken
10 s into the streams on, no node grows by more than max(2 MiB, 5 %) of it,
plus, for the broker, what libzmq's queues of its control connections are
known to add (control_queue_growth below). The first 10 s are left out: the
broker's history and the recorders' resend buffers (10 s of blocks each by
default) fill up then.

AUDIOBUS_SOAK_SECONDS=600 makes it the 10-minute soak; run it directly, since
its CTest entry stops at 300 s:
    AUDIOBUS_SOAK_SECONDS=600 /usr/bin/python3 tests/test_soak.py --bin build/bin/audiobus
"""
import os
import signal
import time

import harness as h

work = h.setup()
SECONDS = int(os.environ.get("AUDIOBUS_SOAK_SECONDS", "60"))
N_STREAMS, N_PROCS = 8, 4
RATE, BLOCK = 48000, 256
BLOCKS = RATE * SECONDS // BLOCK
SAMPLE_EVERY = 5.0
SETTLE = 10.0                        # s into the streams before the memory baseline
GROWTH_ABS, GROWTH_REL = 2 << 20, 0.05
MiB = float(1 << 20)
ZMQ_QUEUE_CHUNK_MSGS, ZMQ_MSG_BYTES, PAGE = 256, 64, 4096


def control_queue_growth(nodes, heartbeats):
    """Bytes the broker's resident memory gains from the queues of its control
    connections over a run of this many heartbeats. Each node's connection is
    a pipe each way, and libzmq queues a pipe's messages in chunks of 256
    64-byte slots: one chunk at first, a second (kept as a spare for good)
    once 256 messages have passed, and a chunk's pages become resident only
    as its slots are first written, one a heartbeat each way. So a node adds
    64 bytes a heartbeat each way for its first 512 heartbeats (64 KiB in
    all), then nothing (BENCHMARKS.md, "Memory"); and a page more a chunk,
    for chunks that do not start on a page."""
    written = min(heartbeats, 2 * ZMQ_QUEUE_CHUNK_MSGS) * ZMQ_MSG_BYTES
    return nodes * 2 * (written + 2 * PAGE)


def vm_rss(pid):
    """Resident memory of a process in bytes, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


broker, ep = h.start_broker(work)
streams = ["soak%d" % s for s in range(N_STREAMS)]
procs = {}
for s in streams:
    for p in range(N_PROCS):
        name = "%s-p%d" % (s, p)
        procs[name] = h.Node(work, name, ["process", "--broker", ep, "--stream", s, "--plugin", "level",
                                          "--name", name, "--param", "publish=0", "--param", "interval=0"])
h.check(h.wait_linked(ep, list(procs), timeout=60), "all %d processors linked" % len(procs))
recs = {}
for s in streams:
    name = "%s-rec" % s
    recs[name] = h.Node(work, name, ["record", "--broker", ep, "--stream", s, "--source", "synth:sine",
                                     "--rate", str(RATE), "--block", str(BLOCK), "--duration", str(SECONDS),
                                     "--speed", "1", "--name", name])


def all_streams_flowing():
    listed = {x["stream"]: x for x in h.listing(ep)["streams"]}
    return all(s in listed and listed[s]["blocks"] > 0 for s in streams)


h.check(h.wait_for(all_streams_flowing, 30, 0.1), "every stream is flowing")
t0 = time.time()
print("%d streams x %d processors, %d s, started" % (N_STREAMS, N_PROCS, SECONDS), flush=True)

kinds = {"broker": {"broker": broker}, "recorders": recs, "processors": procs}
rss = {name: [] for nodes in kinds.values() for name in nodes}   # name -> [(t, bytes)]
next_sample = t0
while any(r.proc.poll() is None for r in recs.values()):
    now = time.time()
    if now >= next_sample:
        t = now - t0
        for nodes in kinds.values():
            for name, node in nodes.items():
                value = vm_rss(node.pid)
                if value is not None and node.proc.poll() is None:
                    rss[name].append((t, value))
        listed = h.listing(ep)
        lossy = [(n["name"], {k: n["stats"].get(k) for k in ("gaps", "dropped", "lost_frames")})
                 for n in listed["nodes"] if n["role"] == "processor" and
                 any(n["stats"].get(k) for k in ("gaps", "dropped", "lost_frames"))]
        print("t=%5.1f s  broker %.1f MiB  streams %s blocks  processors with losses: %s"
              % (t, rss["broker"][-1][1] / MiB if rss["broker"] else 0,
                 sorted({x["blocks"] for x in listed["streams"] if x["stream"] in streams}), lossy or "none"),
              flush=True)
        next_sample += SAMPLE_EVERY
    time.sleep(0.1)

# --- zero loss -----------------------------------------------------------------------
for name, rec in recs.items():
    h.check(rec.wait(10) == 0, "recorder exits 0", name, rec.output()[-1000:])
    out = rec.output()
    h.check("overruns" not in out, "the recorder reports no overrun", name, out[-600:])
    h.check("published %d blocks" % BLOCKS in out, "the recorder published every block", name,
            [line for line in out.splitlines() if "published" in line])


def final_stats():
    return {n["name"]: n.get("stats", {}) for n in h.listing(ep)["nodes"] if n["name"] in procs}


# Counters come with heartbeats (1 s): wait for the ones that cover the end.
h.check(h.wait_for(lambda: all(s.get("processed") == BLOCKS for s in final_stats().values())
                   and len(final_stats()) == len(procs), 15, 0.5),
        "every processor processed every block",
        sorted((n, s.get("processed")) for n, s in final_stats().items() if s.get("processed") != BLOCKS)[:8])
stats = final_stats()
for name in procs:
    st = stats.get(name, {})
    for key in ("gaps", "dropped", "lost_frames", "bad"):
        h.check(st.get(key) == 0, "processor lost nothing: stats %s == 0" % key, name, st.get(key), st)
    h.check(st.get("blocks") == BLOCKS + 1, "processor received every block and the end marker", name,
            st.get("blocks"))
listed = {x["stream"]: x for x in h.listing(ep)["streams"]}
for s in streams:
    x = listed.get(s)
    h.check(x is not None and x["gaps"] == 0, "the broker saw no gap in the stream", s, x)
    h.check(x is not None and x["blocks"] == BLOCKS + 1, "the broker relayed every block", s, x and x["blocks"])

# Every processor's last sample, then a clean stop.
for name, node in procs.items():
    value = vm_rss(node.pid)
    if value is not None:
        rss[name].append((time.time() - t0, value))
value = vm_rss(broker.pid)
if value is not None:
    rss["broker"].append((time.time() - t0, value))
for name, node in procs.items():
    h.check(node.stop(signal.SIGTERM) == 0, "processor exits 0 on SIGTERM", name, node.output()[-800:])
h.check(broker.stop() == 0, "the broker exits 0 on SIGTERM", broker.output()[-800:])

# --- memory ----------------------------------------------------------------------------
print("\nresident memory (VmRSS), MiB; baseline = the sample %.0f s into the streams" % SETTLE)
print("%-11s %3s %15s %15s %15s %15s %15s" % ("kind", "n", "first", "baseline", "last", "max", "growth max"))
for kind, nodes in kinds.items():
    firsts, bases, lasts, maxes, growths = [], [], [], [], []
    for name in nodes:
        samples = rss[name]
        after = [v for t, v in samples if t >= SETTLE - 0.5]
        if not h.check(len(after) >= 2, "memory sampled after the first %.0f s" % SETTLE, name, len(samples)):
            continue
        base = after[0]
        growth = max(after) - base
        limit = max(GROWTH_ABS, GROWTH_REL * base)
        if kind == "broker":
            limit += control_queue_growth(len(recs) + len(procs), SECONDS)  # 1 s heartbeats
        h.check(growth <= limit, "resident memory does not grow after the first %.0f s" % SETTLE, name,
                "baseline %.2f MiB, max %.2f MiB, growth %.2f MiB > %.2f MiB"
                % (base / MiB, max(after) / MiB, growth / MiB, limit / MiB),
                ["%.0fs:%.2f" % (t, v / MiB) for t, v in samples])
        firsts.append(samples[0][1])
        bases.append(base)
        lasts.append(samples[-1][1])
        maxes.append(max(v for t, v in samples))
        growths.append(growth)
    if firsts:
        def span(values):
            lo, hi = min(values) / MiB, max(values) / MiB
            return "%.1f" % lo if abs(hi - lo) < 0.05 else "%.1f..%.1f" % (lo, hi)
        print("%-11s %3d %15s %15s %15s %15s %15s" % (kind, len(firsts), span(firsts), span(bases), span(lasts),
                                                      span(maxes), span(growths)))
h.finish()
