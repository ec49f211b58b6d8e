#!/usr/bin/python3
"""make_vectors.py - writes audiobus's golden block vectors and vectors.json.

Usage: /usr/bin/python3 proto/vectors/make_vectors.py [OUTDIR] [--markdown]

The good vectors are packed with python3-msgpack in the key order of
proto/PROTOCOL.md. python3-msgpack and msgpack-c both choose the smallest
encoding of every integer, str, bin and map header, so these bytes are what
libaudiobus's encoder must produce; tests/test_block.c re-encodes each good
vector and compares byte for byte. The bad vectors each break exactly one
rule and name the error every conforming decoder reports.

--markdown prints the "Golden vectors" section of PROTOCOL.md (xxd-style
dumps) instead of writing files.
"""
import json
import os
import struct
import sys

import msgpack

KEY_ORDER = ("v", "type", "stream", "seq", "frame0", "time_ns", "rate",
             "channels", "format", "frames", "hop", "label", "samples")
SAMPLE_PACK = {"f32": "<%df", "s16": "<%dh", "s32": "<%di"}


def samples_bytes(fmt, values):
    return struct.pack(SAMPLE_PACK[fmt] % len(values), *values)


def block_map(b):
    """The wire map of a block description, keys in protocol order."""
    m = {}
    for k in KEY_ORDER:
        if k == "hop" and b["type"] != "features":
            continue
        if k == "label" and not b.get("label"):
            continue
        if k == "samples":
            m[k] = samples_bytes(b["format"], b["samples"])
        else:
            m[k] = b[k]
    return m


def pack(m):
    return msgpack.packb(m, use_bin_type=True)


def topic(stream):
    return stream.encode() + b"\0"


# Good vectors: the decoded truth of each file.
GOOD = [
    ("audio_f32.bin", "two channels of float audio, 4 frames", {
        "v": 1, "type": "audio", "stream": "mic1", "seq": 7, "frame0": 1792,
        "time_ns": 1700000000123456789, "rate": 48000, "channels": 2,
        "format": "f32", "frames": 4, "hop": 0, "label": "",
        "samples": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]}),
    ("audio_s16.bin", "one channel of 16-bit audio, the first block of its stream", {
        "v": 1, "type": "audio", "stream": "mic1", "seq": 0, "frame0": 0,
        "time_ns": 0, "rate": 16000, "channels": 1, "format": "s16",
        "frames": 3, "hop": 0, "label": "", "samples": [-1, 0, 32767]}),
    ("features.bin", "2 feature frames of 2 features, one every 160 source frames", {
        "v": 1, "type": "features", "stream": "mic1/logmel", "seq": 3,
        "frame0": 480, "time_ns": 30000000, "rate": 16000, "channels": 2,
        "format": "f32", "frames": 2, "hop": 160, "label": "",
        "samples": [0.5, -0.5, 1.5, -1.5]}),
    ("event.bin", "a labelled moment at source frame 16000", {
        "v": 1, "type": "event", "stream": "mic1/vad", "seq": 0,
        "frame0": 16000, "time_ns": 5, "rate": 16000, "channels": 1,
        "format": "f32", "frames": 0, "hop": 0, "label": "speech_start",
        "samples": []}),
    ("end.bin", "end of stream mic1 after audio_f32.bin's block", {
        "v": 1, "type": "end", "stream": "mic1", "seq": 8, "frame0": 1796,
        "time_ns": 1700000000123540122, "rate": 48000, "channels": 2,
        "format": "f32", "frames": 0, "hop": 0, "label": "", "samples": []}),
]

AUDIO = GOOD[0][2]
FEATURES = GOOD[2][2]
EVENT = GOOD[3][2]


def with_(base, **changes):
    b = dict(base)
    b.update(changes)
    return b


def replace_key(m, key, value):
    """m with key's value replaced (order kept); value None drops the key."""
    out = {}
    for k, v in m.items():
        if k != key:
            out[k] = v
        elif value is not None:
            out[k] = value
    return out


def insert_before(m, before, key, value):
    out = {}
    for k, v in m.items():
        if k == before:
            out[key] = value
        out[k] = v
    return out


def nested_arrays(depth):
    v = None
    for _ in range(depth):
        v = [v]
    return v


def bad_vectors(audio_bytes):
    am = block_map(AUDIO)
    header = pack(replace_key(am, "samples", None))
    map_count = len(am)
    bad = []

    def add(name, error, why, data, stream="mic1"):
        bad.append((name, error, why, data, topic(stream)))

    add("truncated.bin", "AB_ETRUNC", "audio_f32.bin cut in the middle of its samples",
        audio_bytes[:len(audio_bytes) - 13])
    # Same header as audio_f32, then a bin32 that claims 2 GiB with 32 bytes behind it.
    assert header[0] == 0x80 | (map_count - 1)
    oversized = bytes([0x80 | map_count]) + header[1:] + pack("samples") \
        + b"\xc6\x80\x00\x00\x00" + samples_bytes("f32", AUDIO["samples"])
    add("oversized.bin", "AB_ETRUNC",
        "samples claims a 2 GiB bin; a claim larger than the bytes that remain is a truncation",
        oversized)
    add("huge_map.bin", "AB_ETRUNC", "a map32 claiming 2^32-1 entries in 5 bytes",
        b"\xdf\xff\xff\xff\xff")
    add("empty.bin", "AB_ETRUNC", "zero bytes", b"")
    add("not_a_map.bin", "AB_ETYPE", "the block is an array, not a map",
        pack([1, "audio", "mic1"]))
    add("wrong_type.bin", "AB_ETYPE", "stream given as an integer",
        pack(replace_key(am, "stream", 1)))
    add("float_rate.bin", "AB_ETYPE", "rate given as a float",
        pack(replace_key(am, "rate", 48000.0)))
    add("wrong_version.bin", "AB_EVERSION", "v = 2",
        pack(replace_key(am, "v", 2)))
    add("missing_key.bin", "AB_EMISSING", "no seq",
        pack(replace_key(am, "seq", None)))
    add("missing_version.bin", "AB_EMISSING", "no v",
        pack(replace_key(am, "v", None)))
    add("features_no_hop.bin", "AB_EMISSING", "a features block without hop",
        pack(replace_key(block_map(FEATURES), "hop", None)), "mic1/logmel")
    add("size_mismatch.bin", "AB_ESIZE", "frames 5 with 4 frames of samples",
        pack(replace_key(am, "frames", 5)))
    add("trailing.bin", "AB_EEXTRA", "audio_f32.bin followed by one more byte (nil)",
        audio_bytes + b"\xc0")
    add("bad_name.bin", "AB_ENAME", "stream \"mic 1\" has a space",
        pack(replace_key(am, "stream", "mic 1")), "mic 1")
    long_name = "m" * 65
    add("long_name.bin", "AB_ENAME", "stream name of 65 bytes",
        pack(replace_key(am, "stream", long_name)), long_name)
    add("topic_mismatch.bin", "AB_ENAME",
        "audio_f32.bin (stream mic1) under the topic \"mic2\\0\"", audio_bytes, "mic2")
    add("bad_format.bin", "AB_EFORMAT", "format \"f64\"",
        pack(replace_key(am, "format", "f64")))
    add("unknown_type.bin", "AB_ERANGE", "type \"video\"",
        pack(replace_key(am, "type", "video")))
    add("rate_zero.bin", "AB_ERANGE", "rate 0",
        pack(replace_key(am, "rate", 0)))
    add("channels_257.bin", "AB_ERANGE", "channels 257 (frames 0, so no samples either)",
        pack(replace_key(replace_key(replace_key(am, "channels", 257), "frames", 0),
                         "samples", b"")))
    add("negative_seq.bin", "AB_ERANGE", "seq -1",
        pack(replace_key(am, "seq", -1)))
    add("audio_no_frames.bin", "AB_ERANGE", "an audio block with frames 0",
        pack(replace_key(replace_key(am, "frames", 0), "samples", b"")))
    add("event_with_frames.bin", "AB_ERANGE", "an event block with frames 1 and samples",
        pack(replace_key(replace_key(block_map(EVENT), "frames", 1), "samples",
                         samples_bytes("f32", [1.0]))), "mic1/vad")
    add("features_hop_zero.bin", "AB_ERANGE", "a features block with hop 0",
        pack(replace_key(block_map(FEATURES), "hop", 0)), "mic1/logmel")
    add("too_many_frames.bin", "AB_ETOOBIG", "frames 65537 (more than a block may hold)",
        pack(replace_key(am, "frames", 65537)))
    add("label_too_long.bin", "AB_ETOOBIG", "an event label of 65 bytes",
        pack(replace_key(block_map(EVENT), "label", "x" * 65)), "mic1/vad")
    add("deep_unknown.bin", "AB_ETOOBIG", "an unknown key whose value nests arrays 100 deep",
        pack(insert_before(am, "samples", "x", nested_arrays(100))))
    add("too_many_keys.bin", "AB_ETOOBIG", "a map of 65 entries",
        pack(dict(am, **{"x%02d" % i: 0 for i in range(65 - len(am))})))
    return bad


def extra_good(audio_bytes):
    """Good vectors whose bytes an encoder would not write (not re-encoded)."""
    am = block_map(AUDIO)
    unknown = insert_before(am, "samples", "gain_db", 1.5)
    unknown = insert_before(unknown, "v", "x-meta", {"a": [1, 2, {"b": None}], "c": b"\x00"})
    raw = bytearray(b"\xdf" + struct.pack(">I", len(am)))  # same values, widest forms
    for k, v in am.items():
        raw += b"\xdb" + struct.pack(">I", len(k)) + k.encode()
        if isinstance(v, int):
            raw += b"\xd3" + struct.pack(">q", v) if k == "time_ns" else b"\xcf" + struct.pack(">Q", v)
        elif isinstance(v, str):
            raw += b"\xdb" + struct.pack(">I", len(v)) + v.encode()
        else:
            raw += b"\xc6" + struct.pack(">I", len(v)) + v
    return [
        ("unknown_keys.bin", "audio_f32.bin with two unknown keys, one a nested map: ignored",
         AUDIO, pack(unknown)),
        ("wide_ints.bin", "audio_f32.bin with every map, integer, str and bin in its 32/64-bit form",
         AUDIO, bytes(raw)),
    ]


def xxd(data):
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexpart = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(c) if 0x20 <= c < 0x7f else "." for c in chunk)
        lines.append("%08x: %-39s  %s" % (off, hexpart, text))
    return "\n".join(lines)


def build():
    files = {}
    doc = {"version": 1, "good": [], "bad": []}
    for name, why, b in GOOD:
        data = pack(block_map(b))
        files[name] = data
        doc["good"].append({"file": name, "why": why, "topic_hex": topic(b["stream"]).hex(),
                            "reencode": True, "block": b})
    audio_bytes = files["audio_f32.bin"]
    for name, why, b, data in extra_good(audio_bytes):
        files[name] = data
        doc["good"].append({"file": name, "why": why, "topic_hex": topic(b["stream"]).hex(),
                            "reencode": False, "block": b})
    for name, error, why, data, top in bad_vectors(audio_bytes):
        files[name] = data
        doc["bad"].append({"file": name, "why": why, "topic_hex": top.hex(), "error": error})
    return files, doc


def markdown(files, doc):
    out = []
    for section, entries in (("Good vectors", doc["good"]), ("Bad vectors", doc["bad"])):
        out.append("### %s\n" % section)
        for e in entries:
            data = files[e["file"]]
            tail = (", must be rejected with `%s`" % e["error"]) if "error" in e else ""
            out.append("`%s` (%d bytes): %s%s.\n" % (e["file"], len(data), e["why"], tail))
            if len(data) > 512:
                out.append("(%d bytes; not shown.)\n" % len(data))
                continue
            out.append("```text\n%s\n```\n" % (xxd(data) if data else "(empty)"))
    return "\n".join(out)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    outdir = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    files, doc = build()
    if "--markdown" in argv:
        sys.stdout.write(markdown(files, doc))
        return 0
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "vectors.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote %d vectors and vectors.json to %s" % (len(files), outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
