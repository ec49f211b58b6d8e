#!/usr/bin/python3
"""make_ctl_corpus.py - write the seed corpus of fuzz_ctl: one valid control
message per command (proto/PROTOCOL.md, "Control plane"), the same messages in
wide, non-canonical msgpack forms, and malformed ones that stop the decoder at
each kind of check.

usage: /usr/bin/python3 tests/fuzz/make_ctl_corpus.py [OUT_DIR]
       (default: tests/fuzz/corpus/fuzz_ctl next to this script)

Debian's python3-msgpack is needed: run it with /usr/bin/python3.
"""
import os
import struct
import sys

import msgpack


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


# --- wide encodings: what a receiver must accept although no sender writes it ---

def wide_str(s):
    b = s.encode()
    return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b


def wide_uint(n):
    return b"\xcf" + struct.pack(">Q", n)


def wide(obj):
    """msgpack with the widest header of every str, uint, array and map."""
    if isinstance(obj, dict):
        out = b"\xdf" + struct.pack(">I", len(obj))
        for k, v in obj.items():
            out += wide(k) + wide(v)
        return out
    if isinstance(obj, list):
        return b"\xdd" + struct.pack(">I", len(obj)) + b"".join(wide(v) for v in obj)
    if isinstance(obj, str):
        return b"\xdb" + struct.pack(">I", len(obj.encode())) + obj.encode()
    if isinstance(obj, bool) or obj is None:
        return pack(obj)
    if isinstance(obj, int) and obj >= 0:
        return wide_uint(obj)
    return pack(obj)


OUTPUT_AUDIO = {"stream": "mic1", "type": "audio", "rate": 48000, "channels": 2, "format": "f32", "hop": 0}
OUTPUT_FEATURES = {"stream": "mic1/logmel", "type": "features", "rate": 16000, "channels": 64,
                   "format": "f32", "hop": 160}

VALID = {
    "hello_recorder": {"v": 1, "cmd": "hello", "role": "recorder", "name": "rec-1", "host": "studio.local",
                       "pid": 4242, "inputs": [], "outputs": [OUTPUT_AUDIO]},
    "hello_processor": {"v": 1, "cmd": "hello", "role": "processor", "name": "mel.1", "host": "gpu-box",
                        "pid": 77, "inputs": ["mic1", "mic2/raw"],
                        "outputs": [OUTPUT_FEATURES,
                                    {"stream": "mic1/vad", "type": "event", "rate": 16000, "channels": 1,
                                     "format": "s16", "hop": 0},
                                    {"stream": "mix", "type": "audio", "rate": 1000000, "channels": 256,
                                     "format": "s32", "hop": 0}]},
    "hello_client": {"v": 1, "cmd": "hello", "role": "client", "name": "ls", "host": "", "pid": 0,
                     "inputs": [], "outputs": []},
    "welcome": {"v": 1, "cmd": "welcome", "session": 42, "data_in": "tcp://*:5551",
                "data_out": "tcp://0.0.0.0:5552", "heartbeat_ms": 1000},
    "welcome_ipc": {"v": 1, "cmd": "welcome", "session": 2**64 - 1, "data_in": "ipc:///tmp/ab.in",
                    "data_out": "tcp://[::]:5552", "heartbeat_ms": 250},
    "refuse": {"v": 1, "cmd": "refuse", "reason": "name \"rec-1\" is already registered (pick another --name)"},
    "linked": {"v": 1, "cmd": "linked"},
    "heartbeat_node": {"v": 1, "cmd": "heartbeat",
                       "stats": {"blocks": 1200, "gaps": 0, "dropped": 3, "overruns": 1, "lag": 2, "bad": 0}},
    "heartbeat_processor": {"v": 1, "cmd": "heartbeat", "stats": {"processed": 90, "last_seq": 41},
                            "input_seqs": [41, 0, 2**64 - 1]},
    "heartbeat_broker": {"v": 1, "cmd": "heartbeat"},
    "bye": {"v": 1, "cmd": "bye"},
    "list": {"v": 1, "cmd": "list"},
    "error": {"v": 1, "cmd": "error", "reason": "unknown command \"jump\""},
    "replay_range": {"v": 1, "cmd": "replay", "stream": "mic1", "from_seq": 100, "to_seq": 180,
                     "session": 7, "backlog_ms": 0},
    "replay_backlog": {"v": 1, "cmd": "replay", "stream": "mic1/logmel", "from_seq": 1, "to_seq": 0,
                       "session": 7, "backlog_ms": 2000},
    "replaying": {"v": 1, "cmd": "replaying", "stream": "mic1", "from_seq": 120, "to_seq": 180,
                  "first_seq": 120, "live_seq": 140},
    "resend": {"v": 1, "cmd": "resend", "stream": "mic1", "from_seq": 2**64 - 2, "to_seq": 2**64 - 1},
    "unknown_keys": {"v": 1, "cmd": "bye", "x-extra": {"nested": [1, -2, 3.5, None, True, b"\x00\x01"]},
                     "x-ext": msgpack.ExtType(5, b"abcd")},
}


def malformed():
    """(name, bytes) of messages each decoder check must refuse."""
    hello = VALID["hello_processor"]
    yield "bad_empty", b""
    yield "bad_not_a_map", pack([1, "hello"])
    yield "bad_truncated_hello", pack(hello)[:-7]
    yield "bad_trailing", pack(VALID["bye"]) + b"\xc0"
    yield "bad_version", pack({"v": 2, "cmd": "bye"})
    yield "bad_no_version", pack({"cmd": "bye"})
    yield "bad_no_cmd", pack({"v": 1})
    yield "bad_unknown_cmd", pack({"v": 1, "cmd": "jump"})
    yield "bad_listing", pack({"v": 1, "cmd": "listing", "nodes": [], "streams": [], "broker": {}})
    yield "bad_cmd_type", pack({"v": 1, "cmd": 7})
    yield "bad_name", pack(dict(hello, name="a//b"))
    yield "bad_name_nul", pack(dict(hello, name="a\x00b"))
    yield "bad_role", pack(dict(hello, role="mixer"))
    yield "bad_65_inputs", pack(dict(hello, inputs=["s%d" % i for i in range(65)]))
    yield "bad_output_format", pack(dict(hello, outputs=[dict(OUTPUT_AUDIO, format="f64")]))
    yield "bad_output_rate", pack(dict(hello, outputs=[dict(OUTPUT_AUDIO, rate=0)]))
    yield "bad_host_too_long", pack(dict(hello, host="h" * 256))
    yield "bad_welcome_missing", pack({"v": 1, "cmd": "welcome", "session": 1, "data_in": "tcp://*:1"})
    yield "bad_negative_pid", pack(dict(hello, pid=-1))
    yield "bad_17_stats", pack({"v": 1, "cmd": "heartbeat", "stats": {"c%d" % i: i for i in range(17)}})
    yield "bad_65_input_seqs", pack({"v": 1, "cmd": "heartbeat", "stats": {}, "input_seqs": list(range(65))})
    yield "bad_input_seq_type", pack({"v": 1, "cmd": "heartbeat", "stats": {}, "input_seqs": [1, "2"]})
    yield "bad_stat_name", pack({"v": 1, "cmd": "heartbeat", "stats": {"n" * 32: 1}})
    yield "bad_deep", pack({"v": 1, "cmd": "bye", "x": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]})
    yield "bad_65_keys", pack(dict({"v": 1, "cmd": "bye"}, **{"k%02d" % i: i for i in range(63)}))
    yield "bad_replay_no_stream", pack({"v": 1, "cmd": "replay", "from_seq": 1, "to_seq": 2})
    yield "bad_resend_reversed", pack({"v": 1, "cmd": "resend", "stream": "mic1", "from_seq": 9, "to_seq": 2})
    # Found by fuzz_ctl: a stream name with a character names cannot have
    # was accepted, and the message then could not be encoded again.
    yield "bad_replay_name", pack({"v": 1, "cmd": "replay", "stream": "}ic1", "from_seq": 1, "to_seq": 2,
                                   "session": 7, "backlog_ms": 0})
    yield "bad_replaying_name", pack({"v": 1, "cmd": "replaying", "stream": "mic1//x", "from_seq": 1,
                                      "to_seq": 2, "first_seq": 1})
    yield "bad_resend_name", pack({"v": 1, "cmd": "resend", "stream": "/mic1", "from_seq": 1, "to_seq": 2})
    yield "bad_map_count_lies", b"\xdf\x7f\xff\xff\xff\xa1v\x01"
    yield "bad_str_len_lies", b"\x82\xa1v\x01\xa3cmd\xdb\x7f\xff\xff\xffbye"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "fuzz_ctl")
    os.makedirs(out, exist_ok=True)
    written = 0
    for name, msg in VALID.items():
        for suffix, data in (("", pack(msg)), ("_wide", wide(msg) if name != "unknown_keys" else None)):
            if data is None:
                continue
            with open(os.path.join(out, name + suffix + ".bin"), "wb") as f:
                f.write(data)
            written += 1
    for name, data in malformed():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        written += 1
    print("%d control messages written to %s" % (written, out))


if __name__ == "__main__":
    main()
