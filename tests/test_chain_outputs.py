"""Processors' output streams through a real broker: announced, ended, refused.

0. The protocol, on raw DEALERs: a registered node that says hello again
   with other outputs keeps its session and the broker records them (with
   their rate); hello again offering a stream another node publishes is
   refused, naming both, and the refused node stays registered with what
   it had.
1. A 3-stage chain: a recorder, "bp" (bandpass on mic), "lv" (level on
   mic/bandpass) and "ww" (wavwrite on mic/bandpass/level), all with
   --exit-at-end. The bandpass and level plugins declare their outputs in
   activate(), with the input's first block: once they run, `audiobus ls
   --json` lists each output with its processor as publisher and the
   input's rate and the output's channels, and each processor keeps its
   session. A second bandpass processor ("bp2") on mic, which would publish
   mic/bandpass too, is refused with a message naming the stream and its
   publisher, and nothing of it reaches the stream. When the recorder ends
   its stream, every processor ends its output (the end marker after its
   last block, with the next seq and the end position) and each exits 0 by
   itself. "lv" runs its plugin on its receive thread (--inline).
2. A processor stopped by SIGTERM mid-stream ends its output as a recorder
   does: the wavwrite processor on it (--exit-at-end) exits 0 by itself.
   The stopped processor runs --inline, and leaves once the broker says it
   holds the output's end marker (no warning that it did not answer).
3. A processor without --exit-at-end whose input ends ends its output and
   keeps running; stopped later, it sends no second end marker.
"""
import os
import signal
import sys
import time

import msgpack
import zmq

import harness as h

sys.path.insert(0, os.path.join(h.SOURCE_DIR, "proto"))
import abdecode  # noqa: E402

RATE, CHANNELS, BLOCK, SECONDS = 16000, 2, 320, 3
TOTAL = RATE * SECONDS
EXIT_WITHIN = 30  # s: generous for sanitizer builds; a working chain ends within a second


def subscribe(endpoint, streams):
    """A SUB socket on the broker's data-out endpoint for these streams: (context, socket)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    for stream in streams:
        sock.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\0")
    return ctx, sock


def collect(sock, blocks, until, timeout):
    """Decode blocks from sock into blocks[stream] until until() holds or timeout seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline and not until():
        if sock.poll(100):
            topic, payload = sock.recv_multipart()
            block = abdecode.decode_block(topic, payload)
            blocks.setdefault(block["stream"], []).append(block)
    return until()


def ends_of(blocks, stream):
    return [b for b in blocks.get(stream, []) if b["type"] == "end"]


def check_ended(blocks, stream, input_end=None):
    """One stream as a subscriber saw it: contiguous seqs from 0, exactly one
    end marker, last, with the next seq and the end of the last block."""
    got = blocks.get(stream, [])
    ends = ends_of(blocks, stream)
    h.check(len(got) > 1, stream + ": blocks and an end marker arrived", len(got))
    h.check([b["seq"] for b in got] == list(range(len(got))), stream + ": seq 0, 1, 2, ... without a hole",
            [b["seq"] for b in got][:5], len(got))
    h.check(len(ends) == 1 and got and got[-1]["type"] == "end", stream + ": exactly one end marker, last",
            len(ends), got[-1]["type"] if got else None)
    if len(got) < 2 or got[-1]["type"] != "end":
        return
    last, end = got[-2], got[-1]
    step = last["frames"] * (last["hop"] if last["type"] == "features" else 1)
    h.check(end["frame0"] == last["frame0"] + step, stream + ": the end marker's frame0 is where the last block ended",
            end["frame0"], last["frame0"], step)
    h.check(end["rate"] == last["rate"] and end["channels"] == last["channels"] and end["frames"] == 0,
            stream + ": the end marker has the stream's rate and channels", end, last["rate"], last["channels"])
    if input_end is not None:
        h.check(end["frame0"] == input_end, stream + ": ends where its input ended", end["frame0"], input_end)


def listed(ep):
    """(nodes by name, streams by name) of one `audiobus ls --json`."""
    listing = h.listing(ep)
    return {n["name"]: n for n in listing["nodes"]}, {s["stream"]: s for s in listing["streams"]}


work = h.setup()
broker, ep = h.start_broker(work)
data_out = h.data_out_endpoint(broker)
wav = os.path.join(work, "level.wav")

# ---- 0. hello again, on raw DEALERs ---------------------------------------------
raw_ctx = zmq.Context()


def hello(name, outputs):
    return msgpack.packb({"v": 1, "cmd": "hello", "role": "processor", "name": name, "host": "h", "pid": 1,
                          "inputs": ["raw"], "outputs": outputs}, use_bin_type=True)


def ask(dealer, message):
    dealer.send(message)
    return msgpack.unpackb(dealer.recv(), raw=False) if dealer.poll(5000) else None


RAW_X = {"stream": "raw/x", "type": "features", "rate": 16000, "channels": 3, "format": "f32", "hop": 160}
a, b = raw_ctx.socket(zmq.DEALER), raw_ctx.socket(zmq.DEALER)
for dealer in (a, b):
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(ep)
first = ask(a, hello("raw-a", []))
h.check(first and first.get("cmd") == "welcome", "raw-a is welcomed", first)
again = ask(a, hello("raw-a", [RAW_X]))
h.check(again and again.get("cmd") == "welcome" and first and again.get("session") == first.get("session"),
        "hello again with an output: welcome, same session", first, again)
nodes, streams = listed(ep)
x = streams.get("raw/x", {})
h.check((x.get("publisher"), x.get("type"), x.get("rate"), x.get("channels"), x.get("hop")) ==
        ("raw-a", "features", 16000, 3, 160), "the broker records the output as announced again", x)
h.check(nodes.get("raw-a", {}).get("outputs") == ["raw/x"], "raw-a is listed with its output", nodes.get("raw-a"))
first_b = ask(b, hello("raw-b", []))
refused = ask(b, hello("raw-b", [RAW_X]))
reason = (refused or {}).get("reason", "")
h.check(refused and refused.get("cmd") == "refuse" and '"raw/x"' in reason and '"raw-a"' in reason,
        "hello again offering a stream raw-a publishes is refused, naming both", refused)
nodes, streams = listed(ep)
h.check(nodes.get("raw-b", {}).get("outputs") == [] and first_b
        and nodes.get("raw-b", {}).get("session") == first_b.get("session"),
        "the refused node stays registered, with its session and no output", nodes.get("raw-b"), first_b)
h.check(streams.get("raw/x", {}).get("publisher") == "raw-a", "raw-a still publishes raw/x", streams.get("raw/x"))
dropped = ask(a, hello("raw-a", []))
h.check(dropped and dropped.get("cmd") == "welcome", "hello again without the output: welcome", dropped)
h.check((h.stream_entry(ep, "raw/x") or {}).get("publisher") == "", "raw/x has no publisher any more",
        h.stream_entry(ep, "raw/x"))
for dealer in (a, b):
    h.check((ask(dealer, msgpack.packb({"v": 1, "cmd": "bye"})) or {}).get("cmd") == "bye", "bye answered")
    dealer.close()
raw_ctx.term()

# ---- 1. a 3-stage chain ended by its recorder ----------------------------------
bp = h.Node(work, "bp", ["process", "--broker", ep, "--stream", "mic", "--plugin", "bandpass", "--name", "bp",
                         "--exit-at-end"])
lv = h.Node(work, "lv", ["process", "--broker", ep, "--stream", "mic/bandpass", "--plugin", "level", "--name", "lv",
                         "--param", "interval=0", "--exit-at-end", "--inline"])
ww = h.Node(work, "ww", ["process", "--broker", ep, "--stream", "mic/bandpass/level", "--plugin", "wavwrite",
                         "--name", "ww", "--param", "path=" + wav, "--exit-at-end"])
h.check(h.wait_linked(ep, ["bp", "lv", "ww"], timeout=30), "the three processors are linked",
        bp.output()[-500:], lv.output()[-500:], ww.output()[-500:])
nodes, streams = listed(ep)
sessions = {name: nodes[name]["session"] for name in ("bp", "lv", "ww") if name in nodes}
h.check("mic/bandpass" not in streams and nodes.get("bp", {}).get("outputs") == [],
        "before its first block, bandpass has announced no output (it declares it in activate)", streams.keys(),
        nodes.get("bp"))

ctx, sock = subscribe(data_out, ["mic/bandpass", "mic/bandpass/level"])
time.sleep(0.5)  # PUB/SUB: let the subscriptions reach the broker before the first block
blocks = {}
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "mic", "--source", "synth:sine:1000",
                           "--rate", str(RATE), "--channels", str(CHANNELS), "--block", str(BLOCK),
                           "--duration", str(SECONDS), "--speed", "1", "--name", "rec"])


def outputs_listed():
    nodes, streams = listed(ep)
    bpf, lvl = streams.get("mic/bandpass"), streams.get("mic/bandpass/level")
    return (bpf is not None and bpf["publisher"] == "bp" and lvl is not None and lvl["publisher"] == "lv"
            and nodes.get("bp", {}).get("outputs") == ["mic/bandpass"])


collect(sock, blocks, lambda: sum(len(v) for v in blocks.values()) >= 4, 20)
h.check(h.wait_for(outputs_listed, 10), "once activated, each processor is listed as its output's publisher",
        h.listing(ep))
nodes, streams = listed(ep)
bpf, lvl = streams.get("mic/bandpass", {}), streams.get("mic/bandpass/level", {})
h.check((bpf.get("type"), bpf.get("rate"), bpf.get("channels"), bpf.get("format")) == ("audio", RATE, CHANNELS, "f32"),
        "mic/bandpass is listed as audio at the input's rate and channels", bpf)
h.check((lvl.get("type"), lvl.get("rate"), lvl.get("channels")) == ("features", RATE, 2 * CHANNELS)
        and lvl.get("hop", 0) > 0, "mic/bandpass/level is listed as features (rms and peak per channel)", lvl)
h.check(all(nodes.get(n, {}).get("session") == s for n, s in sessions.items()) and len(sessions) == 3,
        "announcing outputs keeps each processor's session", sessions, {n: nodes.get(n, {}).get("session")
                                                                       for n in sessions})

# A second processor that would publish mic/bandpass is refused, clearly. It
# starts with the broker's last seconds of mic (--backlog), so it has blocks
# to activate with even if the stream is over by then; without
# --exit-at-end, only the refusal ends it.
status, out, err = h.run_capped(["process", "--broker", ep, "--stream", "mic", "--plugin", "bandpass",
                                 "--name", "bp2", "--backlog", "10"], timeout=30)
text = out + err
print(text[-600:])
h.check(status not in (0, None), "a second bandpass processor on mic is refused (non-zero exit, no hang)", status)
h.check('"mic/bandpass"' in text and '"bp"' in text and "already published" in text and str(bp.pid) in text,
        "the refusal names the stream, the node publishing it and its pid", text[-800:])
h.check("refused" in text and "bp2" in text, "the refused processor says it was refused", text[-800:])
nodes, streams = listed(ep)
h.check("bp2" not in nodes, "bp2 is not listed after its refusal", sorted(nodes))
h.check(streams.get("mic/bandpass", {}).get("publisher") == "bp", "bp still publishes mic/bandpass",
        streams.get("mic/bandpass"))

h.check(rec.wait(SECONDS + 30) == 0, "the recorder exits 0 at --duration", rec.output()[-800:])
for node in (bp, lv, ww):
    status = node.wait(EXIT_WITHIN)
    h.check(status == 0, "%s exits 0 by itself after the end of its input (--exit-at-end)" % node.name, status,
            node.output()[-1500:])
collect(sock, blocks, lambda: len(ends_of(blocks, "mic/bandpass")) >= 1
        and len(ends_of(blocks, "mic/bandpass/level")) >= 1, 10)
collect(sock, blocks, lambda: False, 0.5)  # anything more (there must be nothing) arrives
check_ended(blocks, "mic/bandpass", input_end=TOTAL)
check_ended(blocks, "mic/bandpass/level")
h.check(sum(b["frames"] for b in blocks.get("mic/bandpass", [])) == TOTAL,
        "mic/bandpass has exactly the input's frames (the tail flushed at deactivate, before the end)",
        sum(b["frames"] for b in blocks.get("mic/bandpass", [])), TOTAL)
h.check("ended at frame %d" % TOTAL in lv.output(), "lv saw mic/bandpass end where mic ended", lv.output()[-800:])
h.check("stream mic/bandpass/level ended" in ww.output(), "ww saw mic/bandpass/level end", ww.output()[-800:])
nodes, streams = listed(ep)
h.check(not nodes, "every node said goodbye", sorted(nodes))
for name in ("mic/bandpass", "mic/bandpass/level"):
    entry = streams.get(name, {})
    h.check(entry.get("gaps") == 0 and entry.get("blocks") == entry.get("last_seq", -2) + 1,
            name + ": the broker saw every block once, one publisher (blocks == last_seq + 1, no gap)", entry)
try:
    rate, channels, fmt, raw = h.read_wav(wav)
    h.check((rate, channels) == (RATE, 2 * CHANNELS) and len(raw) > 0, "ww wrote the level features", rate,
            channels, len(raw))
except (OSError, ValueError) as e:
    h.check(False, "ww wrote a WAV file", str(e))

# ---- 2. a processor stopped by SIGTERM ends its output --------------------------
bq = h.Node(work, "bq", ["process", "--broker", ep, "--stream", "live", "--plugin", "bandpass", "--name", "bq",
                         "--inline"])
wq_wav = os.path.join(work, "live.wav")
wq = h.Node(work, "wq", ["process", "--broker", ep, "--stream", "live/bandpass", "--plugin", "wavwrite",
                         "--name", "wq", "--param", "path=" + wq_wav, "--exit-at-end"])
h.check(h.wait_linked(ep, ["bq", "wq"], timeout=30), "bq and wq are linked")
sock.setsockopt(zmq.SUBSCRIBE, b"live/bandpass\0")
time.sleep(0.5)
live = h.Node(work, "live", ["record", "--broker", ep, "--stream", "live", "--source", "synth:sine:1000",
                             "--rate", str(RATE), "--block", str(BLOCK), "--speed", "1", "--name", "live"])
h.check(collect(sock, blocks, lambda: len(blocks.get("live/bandpass", [])) >= 20, 30),
        "live/bandpass flows", len(blocks.get("live/bandpass", [])))
h.check(bq.stop(signal.SIGTERM, 20) == 0, "bq exits 0 on SIGTERM", bq.output()[-800:])
# Before leaving, bq asks the broker whether it holds live/bandpass up to
# its end marker; a stop signal must not cut those questions short.
h.check("does not answer" not in bq.output() and "are lost unless" not in bq.output(),
        "bq learnt that the broker holds its output's end", bq.output()[-800:])
status = wq.wait(EXIT_WITHIN)
h.check(status == 0, "wq exits 0 by itself once bq ended live/bandpass", status, wq.output()[-1500:])
collect(sock, blocks, lambda: len(ends_of(blocks, "live/bandpass")) >= 1, 10)
check_ended(blocks, "live/bandpass")
h.check(live.stop() == 0, "the live recorder exits 0 on SIGTERM", live.output()[-500:])
h.check("does not answer" not in live.output(), "the live recorder learnt that the broker holds its end",
        live.output()[-500:])

# ---- 3. without --exit-at-end: the output ends, the processor stays ------------
bs = h.Node(work, "bs", ["process", "--broker", ep, "--stream", "short", "--plugin", "bandpass", "--name", "bs"])
h.check(h.wait_linked(ep, ["bs"], timeout=30), "bs is linked")
sock.setsockopt(zmq.SUBSCRIBE, b"short/bandpass\0")
time.sleep(0.5)
status, out, err = h.run(["record", "--broker", ep, "--stream", "short", "--source", "synth:sine:1000", "--rate",
                          str(RATE), "--block", str(BLOCK), "--duration", "1", "--speed", "4", "--name", "short"],
                         timeout=60)
h.check(status == 0, "the short recorder exits 0", status, err[-500:])
h.check(collect(sock, blocks, lambda: len(ends_of(blocks, "short/bandpass")) >= 1, 20),
        "bs ends short/bandpass when short ends", len(blocks.get("short/bandpass", [])))
time.sleep(0.5)
h.check(bs.proc.poll() is None, "bs keeps running without --exit-at-end", bs.output()[-800:])
h.check(bs.stop(signal.SIGTERM, 20) == 0, "bs exits 0 on SIGTERM", bs.output()[-800:])
collect(sock, blocks, lambda: False, 1.0)
check_ended(blocks, "short/bandpass", input_end=RATE)

sock.close()
ctx.term()
h.finish()
