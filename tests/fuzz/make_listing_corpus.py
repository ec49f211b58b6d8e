#!/usr/bin/python3
"""make_listing_corpus.py - write the seed corpus of fuzz_listing: replies of a
real broker to `list` (empty, then with a recorder and two processors), its
`error` replies, and synthetic listings that reach every branch of the reader
and the table printer (every msgpack type the reader takes, wide headers,
fields of unexpected types, strings longer than the table's buffers).

usage: /usr/bin/python3 tests/fuzz/make_listing_corpus.py --bin build/bin/audiobus [OUT_DIR]
       (default OUT_DIR: tests/fuzz/corpus/fuzz_listing next to this script)

The nodes run on 127.0.0.1 with their output in a temporary directory and are
stopped by PID. Debian's python3-zmq and python3-msgpack are needed: run it
with /usr/bin/python3.
"""
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


class Nodes:
    """audiobus processes with their logs, stopped by PID at the end."""

    def __init__(self, binary, work):
        self.binary, self.work, self.procs = binary, work, []

    def start(self, name, args):
        log = open(os.path.join(self.work, name + ".log"), "w")
        proc = subprocess.Popen([self.binary] + args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()


def request(ctx, endpoint, message):
    """Send one control message from a fresh DEALER; return the raw reply."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send(message)
    if not sock.poll(3000):
        sock.close()
        raise SystemExit("no reply from the broker at %s" % endpoint)
    reply = sock.recv()
    sock.close()
    return reply


def wait_for_ready(path, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        time.sleep(0.05)
    raise SystemExit("the broker did not write %s" % path)


def capture(binary):
    """(name, bytes) of real replies."""
    work = tempfile.mkdtemp(prefix="ab-listing-")
    nodes = Nodes(binary, work)
    ctx = zmq.Context()
    list_msg = pack({"v": 1, "cmd": "list"})
    try:
        ready = os.path.join(work, "ready")
        nodes.start("broker", ["broker", "--bind", "tcp://127.0.0.1:*", "--ready-file", ready])
        endpoint = wait_for_ready(ready)
        yield "real_empty", request(ctx, endpoint, list_msg)
        yield "real_error_unknown_cmd", request(ctx, endpoint, pack({"v": 1, "cmd": "jump"}))
        yield "real_error_heartbeat", request(ctx, endpoint, pack({"v": 1, "cmd": "heartbeat", "stats": {}}))
        nodes.start("record", ["record", "--broker", endpoint, "--source", "synth:sine", "--stream", "s",
                               "--name", "rec-s"])
        nodes.start("level", ["process", "--broker", endpoint, "--stream", "s", "--plugin", "level",
                              "--name", "level-s"])
        nodes.start("logmel", ["process", "--broker", endpoint, "--stream", "s", "--plugin", "logmel",
                               "--name", "logmel-s"])
        deadline = time.time() + 20
        reply = None
        while time.time() < deadline:
            reply = request(ctx, endpoint, list_msg)
            listing = msgpack.unpackb(reply, raw=False)
            linked = [n for n in listing.get("nodes", []) if n.get("linked")]
            busy = [s for s in listing.get("streams", []) if s.get("blocks", 0) > 0]
            heard = [n for n in linked if "blocks" in n.get("stats", {})]  # a heartbeat arrived
            if len(heard) == 3 and len(busy) >= 2:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the nodes did not all link; see the logs in %s" % work)
        yield "real_three_nodes", reply
    finally:
        nodes.stop_all()
        ctx.term()


def wide(obj):
    """msgpack with the widest header of every str, int, array and map."""
    if isinstance(obj, dict):
        return b"\xdf" + struct.pack(">I", len(obj)) + b"".join(wide(k) + wide(v) for k, v in obj.items())
    if isinstance(obj, list):
        return b"\xdd" + struct.pack(">I", len(obj)) + b"".join(wide(v) for v in obj)
    if isinstance(obj, str):
        return b"\xdb" + struct.pack(">I", len(obj.encode())) + obj.encode()
    if isinstance(obj, bool) or obj is None or isinstance(obj, float):
        return pack(obj)
    return b"\xd3" + struct.pack(">q", obj)


def deep(arrays):
    """An empty map inside that many arrays: in a listing's "extra" map, 14
    arrays put it at depth 16, the deepest the reader takes."""
    value = {}
    for _ in range(arrays):
        value = [value]
    return value


def synthetic():
    """(name, bytes) of listings made up to reach the reader's and printer's corners."""
    node = {"name": "rec-1", "role": "recorder", "host": "studio", "pid": 12, "session": 3,
            "inputs": [], "outputs": ["mic1"], "age_ms": 5000, "heartbeat_ms_ago": 120, "linked": True,
            "stats": {"blocks": 10, "gaps": 0, "bad_messages": 0}}
    stream = {"stream": "mic1", "type": "audio", "rate": 48000, "channels": 2, "format": "f32", "hop": 0,
              "publisher": "rec-1", "blocks": 10, "gaps": 0, "bad": 0, "bytes": 20480, "last_seq": 9}
    broker = {"uptime_ms": 60000, "bad_data": 0, "bad_control": 0, "bad_subscriptions": 0}
    base = {"v": 1, "cmd": "listing", "nodes": [node], "streams": [stream], "broker": broker}
    yield "synth_small", pack(base)
    yield "synth_wide", wide(base)
    # Every scalar type the reader turns into JSON, and nesting to its limit.
    odd = dict(base, extra={"nil": None, "f32": "F32PLACEHOLDER", "neg": -5, "min": -2**63, "max": 2**63 - 1,
                            "float": 0.25, "bool": False, "utf8": "\u00e9t\u00e9 \U0001f3b5",
                            "deep": deep(14)})
    data = pack(odd).replace(pack("F32PLACEHOLDER"), b"\xca" + struct.pack(">f", 0.25))  # msgpack float32
    yield "synth_types", data
    yield "synth_too_deep", pack(dict(base, extra={"deep": deep(15)}))
    # Fields of unexpected types: the printer must fall back to "" and 0.
    yield "synth_wrong_types", pack({"v": 1, "cmd": "listing", "nodes": [5, {"name": 7, "inputs": "x",
                                     "outputs": [1, None], "stats": [1], "linked": "yes", "pid": "12"}],
                                     "streams": {"stream": "mic1"}, "broker": []})
    # Strings longer than the table's buffers (256-byte stream lists, 1024-byte counter lines).
    long_node = dict(node, name="n" * 64, host="h" * 255, inputs=["in%02d/" % i + "x" * 58 for i in range(16)],
                     outputs=["out%02d/" % i + "y" * 57 for i in range(16)],
                     stats={"c%02d" % i + "z" * 28: 2**63 - 1 for i in range(16)})
    yield "synth_long", pack(dict(base, nodes=[long_node]))
    yield "synth_error_reason", pack({"v": 1, "cmd": "error", "reason": "broker says no"})
    yield "synth_error_reason_int", pack({"v": 1, "cmd": "error", "reason": 17})
    yield "synth_not_listing", pack({"v": 1, "cmd": "welcome"})
    yield "synth_top_array", pack([{"cmd": "listing"}])
    yield "synth_bin", pack(dict(base, blob=b"\x00\x01"))
    yield "synth_nan", pack(dict(base, bad=float("nan")))
    yield "synth_big_uint", pack(dict(base, big=2**64 - 1))


def main():
    args = sys.argv[1:]
    if "--bin" not in args or args.index("--bin") + 1 >= len(args):
        raise SystemExit(__doc__)
    i = args.index("--bin")
    binary = args[i + 1]
    del args[i:i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    out = args[0] if args else os.path.join(here, "corpus", "fuzz_listing")
    os.makedirs(out, exist_ok=True)
    written = 0
    for name, data in list(capture(binary)) + list(synthetic()):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        written += 1
    print("%d listings written to %s" % (written, out))


if __name__ == "__main__":
    main()
