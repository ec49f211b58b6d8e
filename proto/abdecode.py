#!/usr/bin/python3
"""abdecode.py - an independent decoder of audiobus data blocks (proto/PROTOCOL.md).

Written from the spec alone (stdlib and python3-msgpack; no audiobus code), so
that agreement with libaudiobus on the golden vectors means both follow the
spec, not each other.

    /usr/bin/python3 proto/abdecode.py check-vectors DIR
    /usr/bin/python3 proto/abdecode.py decode FILE [--topic STREAM]
    /usr/bin/python3 proto/abdecode.py listen ENDPOINT STREAM [--count N] [--timeout S]

decode_block(topic, payload) returns a dict of the block's fields or raises
BlockError whose .code is the protocol's error name ("AB_ETRUNC", ...).
"""
import argparse
import json
import os
import re
import struct
import sys
import time

PROTOCOL_VERSION = 1
STREAM_NAME_MAX = 64
LABEL_MAX = 64
MAX_FRAMES = 65536
MAX_CHANNELS = 256
RATE_MIN, RATE_MAX = 1, 1000000
MAX_SAMPLE_BYTES = 1 << 20
HEADER_MAX = 512
MAX_BLOCK_BYTES = MAX_SAMPLE_BYTES + HEADER_MAX
MAX_MAP_ENTRIES = 64
MAX_DEPTH = 16
U32_MAX = (1 << 32) - 1
I64_MAX = (1 << 63) - 1

TYPES = ("audio", "features", "event", "end")
FORMATS = {"f32": (4, "<%df"), "s16": (2, "<%dh"), "s32": (4, "<%di")}
REQUIRED = ("v", "type", "stream", "seq", "frame0", "time_ns", "rate", "channels",
            "format", "frames", "samples")
NAME_RE = re.compile(r"[A-Za-z0-9._/-]+")

ERRORS = ("AB_ETRUNC", "AB_ETYPE", "AB_EVERSION", "AB_ETOOBIG", "AB_EMISSING", "AB_EFORMAT",
          "AB_ERANGE", "AB_ESIZE", "AB_ENAME", "AB_EEXTRA", "AB_EFRAMES")


class BlockError(Exception):
    """A message that breaks the protocol; code is an AB_E... name."""

    def __init__(self, code, detail=""):
        assert code in ERRORS, code
        super().__init__("%s%s" % (code, ": " + detail if detail else ""))
        self.code = code
        self.detail = detail


class Reader:
    """A msgpack cursor that believes no length: each claim is checked
    against the bytes that remain before it is used."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def _take(self, n, what):
        if n > self.remaining():
            raise BlockError("AB_ETRUNC", "%s needs %d bytes, %d left" % (what, n, self.remaining()))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _tag(self):
        if self.pos >= len(self.data):
            raise BlockError("AB_ETRUNC", "message ends before a value")
        return self.data[self.pos]

    def _be(self, n, what):
        return int.from_bytes(self._take(n, what), "big")

    def _container(self, fix_lo, fix_hi, tag16, tag32, min_each, what):
        tag = self._tag()
        start = self.pos
        self.pos += 1
        try:
            if fix_lo <= tag <= fix_hi:
                count = tag & 0x0F
            elif tag == tag16:
                count = self._be(2, what + " length")
            elif tag == tag32:
                count = self._be(4, what + " length")
            else:
                raise BlockError("AB_ETYPE", "expected a %s, found tag 0x%02x" % (what, tag))
            if count * min_each > self.remaining():
                raise BlockError("AB_ETRUNC", "%s claims %d entries, %d bytes left"
                                 % (what, count, self.remaining()))
        except BlockError:
            self.pos = start
            raise
        return count

    def read_map(self):
        return self._container(0x80, 0x8F, 0xDE, 0xDF, 2, "map")

    def read_array(self):
        return self._container(0x90, 0x9F, 0xDC, 0xDD, 1, "array")

    def _sized(self, tags, what):
        tag = self._tag()
        start = self.pos
        self.pos += 1
        try:
            if tag not in tags:
                raise BlockError("AB_ETYPE", "expected a %s, found tag 0x%02x" % (what, tag))
            width = tags[tag]  # bytes of the length after the tag; 0: fixstr
            n = self._be(width, what + " length") if width else tag & 0x1F
            return self._take(n, what)
        except BlockError:
            self.pos = start
            raise

    STR_TAGS = dict([(t, 0) for t in range(0xA0, 0xC0)] + [(0xD9, 1), (0xDA, 2), (0xDB, 4)])
    BIN_TAGS = {0xC4: 1, 0xC5: 2, 0xC6: 4}

    def read_str(self):
        return self._sized(self.STR_TAGS, "str")

    def read_bin(self):
        return self._sized(self.BIN_TAGS, "bin")

    def read_integer(self):
        tag = self._tag()
        start = self.pos
        self.pos += 1
        try:
            if tag <= 0x7F:
                return tag
            if tag >= 0xE0:
                return tag - 0x100
            if 0xCC <= tag <= 0xCF:
                return self._be(1 << (tag - 0xCC), "uint")
            if 0xD0 <= tag <= 0xD3:
                n = 1 << (tag - 0xD0)
                return int.from_bytes(self._take(n, "int"), "big", signed=True)
            raise BlockError("AB_ETYPE", "expected an integer, found tag 0x%02x" % tag)
        except BlockError:
            self.pos = start
            raise

    def read_uint(self, limit=(1 << 64) - 1):
        start = self.pos
        v = self.read_integer()
        if v < 0 or v > limit:
            self.pos = start
            raise BlockError("AB_ERANGE", "%d out of 0..%d" % (v, limit))
        return v

    def read_int64(self):
        start = self.pos
        v = self.read_integer()
        if v > I64_MAX:
            self.pos = start
            raise BlockError("AB_ERANGE", "%d does not fit int64" % v)
        return v

    # Fixed sizes after the tag byte of scalars and fixext (fixext: type + data).
    FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
             0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}

    def skip(self, depth=0):
        """Skip one value of any type, nested at most MAX_DEPTH deep."""
        start = self.pos
        try:
            self._skip(depth)
        except BlockError:
            self.pos = start
            raise

    def _skip(self, depth):
        if depth > MAX_DEPTH:
            raise BlockError("AB_ETOOBIG", "nested deeper than %d" % MAX_DEPTH)
        tag = self._tag()
        if tag <= 0x7F or tag >= 0xE0:
            self.pos += 1
        elif 0x80 <= tag <= 0x8F or tag in (0xDE, 0xDF):
            for _ in range(2 * self.read_map()):
                self._skip(depth + 1)
        elif 0x90 <= tag <= 0x9F or tag in (0xDC, 0xDD):
            for _ in range(self.read_array()):
                self._skip(depth + 1)
        elif tag in self.STR_TAGS:
            self.read_str()
        elif tag in self.BIN_TAGS:
            self.read_bin()
        elif tag in self.FIXED:
            self.pos += 1
            self._take(self.FIXED[tag], "value")
        elif tag in (0xC7, 0xC8, 0xC9):
            self.pos += 1
            n = self._be({0xC7: 1, 0xC8: 2, 0xC9: 4}[tag], "ext length")
            self._take(n + 1, "ext")
        else:
            raise BlockError("AB_ETYPE", "tag 0x%02x is not msgpack" % tag)


def stream_name_valid(name):
    """1..64 bytes of [A-Za-z0-9._/-], no leading or trailing '/', no '//'."""
    if isinstance(name, str):
        try:
            name = name.encode("ascii")
        except UnicodeEncodeError:
            return False
    if not 1 <= len(name) <= STREAM_NAME_MAX:
        return False
    text = name.decode("latin-1")
    return (NAME_RE.fullmatch(text) is not None and not text.startswith("/")
            and not text.endswith("/") and "//" not in text)


def _field(block, r, key):
    """Read the value of one map entry, with the checks that need only it."""
    if key == "v":
        block["v"] = r.read_uint(U32_MAX)
        if block["v"] != PROTOCOL_VERSION:
            raise BlockError("AB_EVERSION", "v = %d" % block["v"])
    elif key == "type":
        t = r.read_str()
        try:
            block["type"] = TYPES[TYPES.index(t.decode("latin-1"))]
        except ValueError:
            raise BlockError("AB_ERANGE", "unknown type %r" % t) from None
    elif key == "stream":
        s = r.read_str()
        if len(s) > STREAM_NAME_MAX or b"\0" in s:
            raise BlockError("AB_ENAME", "stream %r" % s)
        block["stream"] = s.decode("latin-1")
    elif key in ("seq", "frame0"):
        block[key] = r.read_uint()
    elif key == "time_ns":
        block[key] = r.read_int64()
    elif key in ("rate", "channels", "frames", "hop"):
        block[key] = r.read_uint(U32_MAX)
    elif key == "format":
        f = r.read_str()
        if f.decode("latin-1") not in FORMATS:
            raise BlockError("AB_EFORMAT", "format %r" % f)
        block["format"] = f.decode("latin-1")
    elif key == "label":
        s = r.read_str()
        if len(s) > LABEL_MAX:
            raise BlockError("AB_ETOOBIG", "label of %d bytes" % len(s))
        if b"\0" in s:
            raise BlockError("AB_ERANGE", "label contains NUL")
        block["label"] = s.decode("utf-8", "replace")
    elif key == "samples":
        b = r.read_bin()
        if len(b) > MAX_SAMPLE_BYTES:
            raise BlockError("AB_ETOOBIG", "samples of %d bytes" % len(b))
        block["samples"] = bytes(b)
    else:
        r.skip()  # unknown keys are ignored: later minor versions add fields
        return False
    return True


def _validate(b):
    """The rules between fields, in the order of PROTOCOL.md."""
    if not stream_name_valid(b["stream"]):
        raise BlockError("AB_ENAME", "stream %r" % b["stream"])
    if not RATE_MIN <= b["rate"] <= RATE_MAX:
        raise BlockError("AB_ERANGE", "rate %d" % b["rate"])
    if not 1 <= b["channels"] <= MAX_CHANNELS:
        raise BlockError("AB_ERANGE", "channels %d" % b["channels"])
    if b["frames"] > MAX_FRAMES:
        raise BlockError("AB_ETOOBIG", "frames %d" % b["frames"])
    carries = b["type"] in ("audio", "features")
    if carries and b["frames"] == 0 or not carries and b["frames"] != 0:
        raise BlockError("AB_ERANGE", "%s block with frames %d" % (b["type"], b["frames"]))
    if b["type"] == "features" and b["hop"] == 0:
        raise BlockError("AB_ERANGE", "features block with hop 0")
    want = b["frames"] * b["channels"] * FORMATS[b["format"]][0]
    if want > MAX_SAMPLE_BYTES:
        raise BlockError("AB_ETOOBIG", "%d sample bytes" % want)
    if len(b["samples"]) != want:
        raise BlockError("AB_ESIZE", "%d sample bytes, frames x channels x size = %d"
                         % (len(b["samples"]), want))


def decode_block(topic, payload):
    """Decode and check one [topic][block] message. topic None skips the
    topic check. Returns a dict; raises BlockError."""
    payload = bytes(payload)
    if len(payload) == 0:
        raise BlockError("AB_ETRUNC", "empty message")
    if len(payload) > MAX_BLOCK_BYTES:
        raise BlockError("AB_ETOOBIG", "%d bytes" % len(payload))
    r = Reader(payload)
    count = r.read_map()
    if count > MAX_MAP_ENTRIES:
        raise BlockError("AB_ETOOBIG", "map of %d entries" % count)
    block = {"hop": 0, "label": ""}
    seen = set()
    for _ in range(count):
        key = r.read_str()
        name = key.decode("latin-1")
        if _field(block, r, name):
            seen.add(name)
    if r.remaining():
        raise BlockError("AB_EEXTRA", "%d bytes after the map" % r.remaining())
    missing = [k for k in REQUIRED if k not in seen]
    if not missing and block["type"] == "features" and "hop" not in seen:
        missing = ["hop"]
    if missing:
        raise BlockError("AB_EMISSING", "no " + ", ".join(missing))
    _validate(block)
    if topic is not None and bytes(topic) != block["stream"].encode("latin-1") + b"\0":
        raise BlockError("AB_ENAME", "topic %r does not match stream %r" % (bytes(topic), block["stream"]))
    return {k: block[k] for k in ("v", "type", "stream", "seq", "frame0", "time_ns", "rate",
                                  "channels", "format", "frames", "hop", "label", "samples")}


def sample_values(block, limit=None):
    """The samples of a decoded block as numbers (interleaved)."""
    size, fmt = FORMATS[block["format"]]
    n = len(block["samples"]) // size
    if limit is not None:
        n = min(n, limit)
    return list(struct.unpack(fmt % n, block["samples"][:n * size]))


# ---------------------------------------------------------------- check-vectors

def _hexdumps(markdown):
    """{file name: bytes} from PROTOCOL.md's xxd-style dumps."""
    dumps = {}
    pattern = re.compile(r"^`([A-Za-z0-9_]+\.bin)` \(\d+ bytes\)[^\n]*\n+```text\n(.*?)```",
                         re.S | re.M)
    for m in pattern.finditer(markdown):
        data = bytearray()
        for line in m.group(2).splitlines():
            mm = re.match(r"^[0-9a-f]{8}: ((?:[0-9a-f]{2,4} ?)+)", line)
            if mm:
                data += bytes.fromhex(mm.group(1).replace(" ", ""))
        dumps[m.group(1)] = bytes(data)
    return dumps


def check_vectors(directory):
    import msgpack  # python3-msgpack: a second, unrelated msgpack reading

    with open(os.path.join(directory, "vectors.json")) as f:
        doc = json.load(f)
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL %s" % what)
        return ok

    def read(name):
        with open(os.path.join(directory, name), "rb") as f:
            return f.read()

    check(len(doc.get("good", [])) >= 5 and len(doc.get("bad", [])) >= 9,
          "vectors.json lists at least 5 good and 9 bad vectors")
    for e in doc["good"]:
        name, truth = e["file"], e["block"]
        data = read(name)
        topic = bytes.fromhex(e["topic_hex"])
        try:
            got = decode_block(topic, data)
        except BlockError as err:
            check(False, "%s: %s" % (name, err))
            continue
        for k in ("v", "type", "stream", "seq", "frame0", "time_ns", "rate", "channels",
                  "format", "frames", "hop", "label"):
            check(got[k] == truth[k], "%s: %s = %r, expected %r" % (name, k, got[k], truth[k]))
        values = sample_values(got)
        check(values == truth["samples"], "%s: samples %r, expected %r"
              % (name, values, truth["samples"]))
        # python3-msgpack's own reading of the same bytes must agree.
        other = msgpack.unpackb(data, raw=False, strict_map_key=True)
        for k in ("v", "type", "stream", "seq", "frame0", "time_ns", "rate", "channels",
                  "format", "frames"):
            check(other.get(k) == got[k], "%s: msgpack reads %s = %r, decoder %r"
                  % (name, k, other.get(k), got[k]))
        if e.get("reencode"):
            wire = {k: got[k] for k in ("v", "type", "stream", "seq", "frame0", "time_ns",
                                        "rate", "channels", "format", "frames")}
            if got["type"] == "features":
                wire["hop"] = got["hop"]
            if got["label"]:
                wire["label"] = got["label"]
            wire["samples"] = got["samples"]
            again = msgpack.packb(wire, use_bin_type=True)
            check(again == data, "%s: smallest-form encoding differs from the file" % name)
        for n in range(len(data)):
            try:
                decode_block(None, data[:n])
                check(False, "%s cut to %d bytes: accepted" % (name, n))
            except BlockError as err:
                check(err.code == "AB_ETRUNC", "%s cut to %d bytes: %s, expected AB_ETRUNC"
                      % (name, n, err.code))
    for e in doc["bad"]:
        name = e["file"]
        try:
            decode_block(bytes.fromhex(e["topic_hex"]), read(name))
            check(False, "%s (%s): accepted, expected %s" % (name, e["why"], e["error"]))
        except BlockError as err:
            check(err.code == e["error"], "%s (%s): %s, expected %s"
                  % (name, e["why"], err, e["error"]))

    # The dumps printed in the spec are the files, byte for byte.
    spec = os.path.join(directory, os.pardir, "PROTOCOL.md")
    if os.path.exists(spec):
        with open(spec) as f:
            dumps = _hexdumps(f.read())
        for e in doc["good"] + doc["bad"]:
            name = e["file"]
            data = read(name)
            if len(data) > 512:
                continue
            if data:
                check(dumps.get(name) == data, "PROTOCOL.md: hex dump of %s differs from the file"
                      % name)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


# ---------------------------------------------------------------- listen

def listen(endpoint, stream, count, timeout):
    """Subscribe to one stream at a broker's data-out endpoint and check it."""
    import zmq

    if not stream_name_valid(stream):
        print("abdecode listen: invalid stream name %r (1..64 bytes of [A-Za-z0-9._/-])" % stream,
              file=sys.stderr)
        return 2
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_BLOCK_BYTES + 4096)
    sock.connect(endpoint)
    sock.setsockopt(zmq.SUBSCRIBE, stream.encode() + b"\0")
    deadline = time.monotonic() + timeout
    received = errors = gaps = overruns = 0
    last = None
    ended = False
    try:
        while received < count and not ended:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000) + 1):
                break
            frames = sock.recv_multipart()
            received += 1
            line = {}
            try:
                if len(frames) != 2:
                    raise BlockError("AB_EFRAMES", "%d frames, expected 2" % len(frames))
                b = decode_block(frames[0], frames[1])
                line = {"stream": b["stream"], "type": b["type"], "seq": b["seq"],
                        "frame0": b["frame0"], "frames": b["frames"], "time_ns": b["time_ns"],
                        "rate": b["rate"], "channels": b["channels"], "format": b["format"],
                        "samples": sample_values(b, 8)}
                if b["type"] == "features":
                    line["hop"] = b["hop"]
                if b["label"]:
                    line["label"] = b["label"]
                if last is not None:
                    if b["seq"] != last["seq"] + 1:
                        line["gap"] = b["seq"] - last["seq"] - 1
                        gaps += 1
                    elif b["type"] == "audio" and last["type"] == "audio" \
                            and b["frame0"] != last["frame0"] + last["frames"]:
                        line["overrun_frames"] = b["frame0"] - last["frame0"] - last["frames"]
                        overruns += 1
                last = b
                ended = b["type"] == "end"
            except BlockError as err:
                errors += 1
                line = {"error": err.code, "detail": err.detail}
            print(json.dumps(line), flush=True)
    finally:
        sock.close()
        ctx.term()
    print("abdecode listen: %d blocks, %d seq gaps, %d capture overruns, %d bad%s"
          % (received, gaps, overruns, errors, ", stream ended" if ended else ""), file=sys.stderr)
    if errors or gaps:
        return 1
    if received < count and not ended:
        print("abdecode listen: timed out after %.1f s with %d of %d blocks from %s"
              % (timeout, received, count, endpoint), file=sys.stderr)
        return 2
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="abdecode.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-vectors", help="check every vector of DIR against vectors.json")
    c.add_argument("dir")
    d = sub.add_parser("decode", help="decode one block file and print it as JSON")
    d.add_argument("file")
    d.add_argument("--topic", help="stream name of the topic frame to check against")
    li = sub.add_parser("listen", help="subscribe at a broker's data-out endpoint and check blocks",
                        description="Exit status: 0 when COUNT blocks (or the stream's end) "
                        "arrived, all valid and in sequence; 1 on a bad block or a seq gap; "
                        "2 on timeout.")
    li.add_argument("endpoint", help="e.g. tcp://127.0.0.1:5552")
    li.add_argument("stream")
    li.add_argument("--count", type=int, default=10)
    li.add_argument("--timeout", type=float, default=10.0, help="seconds for all blocks")
    a = p.parse_args(argv[1:])
    if a.cmd == "check-vectors":
        return check_vectors(a.dir)
    if a.cmd == "decode":
        with open(a.file, "rb") as f:
            data = f.read()
        try:
            b = decode_block(a.topic.encode() + b"\0" if a.topic else None, data)
        except BlockError as err:
            print(json.dumps({"error": err.code, "detail": err.detail}))
            return 1
        b = dict(b, samples=sample_values(b))
        print(json.dumps(b))
        return 0
    return listen(a.endpoint, a.stream, a.count, a.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
