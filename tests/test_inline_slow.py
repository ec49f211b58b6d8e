"""A processor run --inline (its plugin on its receive thread) that is far
slower than its stream holds up only itself.

A synth:counter stream of 7500 blocks (40 s of 48 kHz audio in 256-frame
blocks, sent at 20x real time) goes to two processors linked before it
starts: "fast" (wavwrite, the default queued mode) and "slow" (the latency
plugin with delay_factor=1 and --inline: process() sleeps one block period,
5.3 ms, per block, so it takes ~190 blocks/s of the 3750 offered). Checks:
the fast processor writes every sample bit-exact and reports no loss; the
broker relays every block without a gap; the recorder is not held up (it
finishes in a few seconds, not the 40 the slow plugin would need); the slow
processor is listed as behind (its `lag`) yet alive and linked, its
heartbeats answered from its control thread; and a SIGTERM stops it cleanly
(exit 0, in seconds) although its plugin is busy and blocks are still
waiting for it.

Then, on a new broker, an inline processor whose backlog outgrows the
ZeroMQ queues (56250 blocks sent at 100x real time; it takes ~1900 blocks/s,
delay_factor=0.1; the broker's queue for it holds 4096 blocks (--hwm) and its
socket 16384): the broker drops blocks for it, and every block is still
accounted for - processed, or reported lost for good (stats `processed` +
`gaps` = every block sent, `gaps` > 0, the loss in its log); its plugin
hears the lost audio as gap() calls covering exactly the missing frames.

Last, a processor on two streams ("first", short and handled at once, then
"second", sent 20x faster than the plugin takes it): the broker lists it
with lag 0 once "first" and its end marker are handled, then with the lag
of "second", the input it is behind on, not of its first input.

usage: test_inline_slow.py --bin PATH/TO/audiobus --latency-plugin PATH/TO/latency.so
"""
import os
import sys
import time

import harness as h

work = h.setup()
LATENCY_SO = sys.argv[sys.argv.index("--latency-plugin") + 1]
RATE, BLOCK, AUDIO_SECONDS, SPEED = 48000, 256, 40, 20
BLOCKS = RATE * AUDIO_SECONDS // BLOCK

broker, ep = h.start_broker(work)
wav = os.path.join(work, "fast.wav")
fast = h.Node(work, "fast", ["process", "--broker", ep, "--stream", "mic", "--plugin", "wavwrite", "--name", "fast",
                             "--param", "path=" + wav, "--exit-at-end"])
slow = h.Node(work, "slow", ["process", "--broker", ep, "--stream", "mic", "--plugin", LATENCY_SO, "--name", "slow",
                             "--inline", "--param", "delay_factor=1",
                             "--param", "path=" + os.path.join(work, "slow.txt")])
h.check(h.wait_linked(ep, ["fast", "slow"]), "processors linked before the recorder starts")

started = time.monotonic()
status, out, err = h.run(["record", "--broker", ep, "--stream", "mic", "--source", "synth:counter", "--rate",
                          str(RATE), "--block", str(BLOCK), "--duration", str(AUDIO_SECONDS), "--speed", str(SPEED)],
                         timeout=60)
took = time.monotonic() - started
h.check(status == 0, "recorder exits 0", status, err[-800:])
h.check(took < AUDIO_SECONDS / 2, "the recorder was not held up by the slow processor", "%.1f s" % took)
h.check(fast.wait(30) == 0, "the fast processor exits 0 at the end of the stream", fast.output()[-1500:])

h.check_counter_wav(wav, RATE, 1, BLOCKS * BLOCK, "fast")
h.check_processor_no_loss(fast, "fast")

stream = h.stream_entry(ep, "mic")
h.check(stream is not None and stream["gaps"] == 0 and stream["blocks"] == BLOCKS + 1,
        "the broker relayed every block and the end marker, without a gap", stream)

# The slow one is still working through its input, and says so.
h.check(h.wait_for(lambda: (h.node_entry(ep, "slow") or {}).get("lag", 0) > 1000, 5),
        "the slow processor is listed as far behind", h.node_entry(ep, "slow"))
time.sleep(2.5)  # more than two heartbeats
entry = h.node_entry(ep, "slow")
h.check(entry is not None and entry.get("linked"), "and is still listed and linked", entry)
h.check(slow.proc.poll() is None, "the slow processor still runs")

stop_started = time.monotonic()
status = slow.stop(timeout=20)
h.check(status == 0, "SIGTERM stops the busy inline processor with exit 0", status, slow.output()[-1500:])
h.check(time.monotonic() - stop_started < 10, "within seconds", "%.1f s" % (time.monotonic() - stop_started))
broker.stop()

# ---- 2. a backlog beyond the queues: lost, but never silently ------------------
SPEED2, SECONDS2 = 100, 300
BLOCKS2 = RATE * SECONDS2 // BLOCK
broker2, ep2 = h.start_broker(work, "broker2", extra=["--hwm", "4096"])  # queues that overflow soon
lat_path = os.path.join(work, "behind.txt")
behind = h.Node(work, "behind", ["process", "--broker", ep2, "--stream", "mic", "--plugin", LATENCY_SO, "--name",
                                 "behind", "--inline", "--repair-timeout", "1", "--param", "delay_factor=0.1",
                                 "--param", "path=" + lat_path])
h.check(h.wait_linked(ep2, ["behind"]), "the inline processor linked before the recorder starts")
status, out, err = h.run(["record", "--broker", ep2, "--stream", "mic", "--source", "synth:sine", "--rate",
                          str(RATE), "--block", str(BLOCK), "--duration", str(SECONDS2), "--speed", str(SPEED2)],
                         timeout=120)
h.check(status == 0, "recorder exits 0", status, err[-800:])


def accounted():
    stats = (h.node_entry(ep2, "behind") or {}).get("stats", {})
    return stats.get("processed", 0) + stats.get("gaps", 0)


h.wait_for(lambda: accounted() >= BLOCKS2, 90, interval=0.5)
stats = (h.node_entry(ep2, "behind") or {}).get("stats", {})
h.check(stats.get("gaps", 0) > 0, "the broker dropped blocks for the inline processor: lost for good", stats)
h.check(stats.get("processed", 0) + stats.get("gaps", 0) == BLOCKS2,
        "every block is processed or reported lost (processed + gaps = blocks sent)", stats, BLOCKS2)
h.check(stats.get("lost_frames", 0) == stats.get("gaps", 0) * BLOCK, "the frames reported lost are the lost blocks'",
        stats)
status = behind.stop(timeout=30)
out = behind.output()
h.check(status == 0, "it stops with exit 0", status, out[-1500:])
h.check("lost for good" in out, "its log says which audio was lost", out[-1500:])
# The plugin heard the loss: its gap() calls cover exactly the frames lost,
# and it saw every processed block.
try:
    with open(lat_path) as f:
        heard_blocks = sum(1 for line in f if line.strip())
    with open(lat_path + ".gaps") as f:
        heard_gaps = [tuple(int(v) for v in line.split()) for line in f if line.strip()]
except OSError as e:
    h.check(False, "the plugin wrote its latencies and gaps", str(e))
else:
    h.check(heard_blocks == stats.get("processed"), "the plugin saw every processed block", heard_blocks, stats)
    h.check(sum(n for _, n in heard_gaps) == stats.get("lost_frames"), "gap() covered exactly the frames lost",
            sum(n for _, n in heard_gaps), stats.get("lost_frames"))
broker2.stop()

# ---- 3. behind on its second input: the lag shown is that input's --------------
# "first" is short and handled at once, its end marker too (lag 0, not 1);
# then "second" comes 20x faster than the plugin takes it. The broker's lag
# is the input furthest behind, not the first one.
broker3, ep3 = h.start_broker(work, "broker3")
two = h.Node(work, "two", ["process", "--broker", ep3, "--stream", "first,second", "--plugin", LATENCY_SO, "--name",
                           "two", "--inline", "--param", "delay_factor=1",
                           "--param", "path=%s/two-{stream}.txt" % work])
h.check(h.wait_linked(ep3, ["two"]), "the two-stream processor linked before the recorders start")


def record(stream, seconds):
    status, out, err = h.run(["record", "--broker", ep3, "--stream", stream, "--source", "synth:sine", "--rate",
                              str(RATE), "--block", str(BLOCK), "--duration", str(seconds), "--speed", "20"],
                             timeout=60)
    h.check(status == 0, "recorder of %s exits 0" % stream, status, err[-800:])


FIRST_BLOCKS = -(-RATE // 5 // BLOCK)  # 0.2 s, the last block partly filled
record("first", 0.2)
h.check(h.wait_for(lambda: (h.node_entry(ep3, "two") or {}).get("stats", {}).get("processed", 0) >= FIRST_BLOCKS, 10),
        "the first input's blocks were all handed to the plugin", h.node_entry(ep3, "two"))
h.check(h.wait_for(lambda: (h.node_entry(ep3, "two") or {}).get("lag") == 0, 5),
        "with its end marker handled too, the processor is listed with lag 0", h.node_entry(ep3, "two"),
        h.stream_entry(ep3, "first"))
record("second", 20)
h.check(h.wait_for(lambda: (h.node_entry(ep3, "two") or {}).get("lag", 0) > 1000, 5),
        "the processor is listed as far behind: on its second input", h.node_entry(ep3, "two"),
        h.stream_entry(ep3, "second"))
h.check(two.stop(timeout=20) == 0, "SIGTERM stops it with exit 0", two.output()[-1500:])
broker3.stop()
h.finish()
