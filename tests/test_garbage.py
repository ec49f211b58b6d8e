"""Garbage on every broker socket: raw TCP bytes, malformed control messages
on a real DEALER, malformed blocks on a real publisher, non-subscriptions on
a real subscriber. The broker answers every malformed control message with
`error`, forwards none of the bad blocks, counts all of it, and afterwards
still relays a live stream bit-exact."""
import json
import os
import random
import socket
import struct
import sys
import time

import msgpack
import zmq

import harness as h

work = h.setup()
args = sys.argv[1:]
VECTORS = os.path.abspath(args[args.index("--vectors") + 1]) if "--vectors" in args else \
    os.path.join(h.SOURCE_DIR, "proto", "vectors")
SEED = int(os.environ.get("AB_GARBAGE_SEED", "20240611"))
print("random garbage seed %d (set AB_GARBAGE_SEED to replay another)" % SEED)
rng = random.Random(SEED)

broker, ep = h.start_broker(work)
data_in = h.data_in_endpoint(broker)
data_out = h.data_out_endpoint(broker)
h.check(data_in and data_out, "the broker logged its data endpoints", data_in, data_out)
ctx = zmq.Context()
ctx.setsockopt(zmq.LINGER, 0)


def counters():
    return h.listing(ep)["broker"]


def settled():
    """The broker's bad_* counters once they stop moving (what was in flight
    has landed)."""
    def bad():
        return {k: v for k, v in counters().items() if k.startswith("bad_")}
    last = bad()
    for _ in range(50):
        time.sleep(0.2)
        now = bad()
        if now == last:
            return now
        last = now
    return last


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def block(stream, seq, frames=4, channels=1, **override):
    """A valid audio block (keys in the spec's order), optionally altered."""
    b = {"v": 1, "type": "audio", "stream": stream, "seq": seq, "frame0": seq * frames, "time_ns": 0,
         "rate": 48000, "channels": channels, "format": "f32", "frames": frames,
         "samples": bytes(4 * frames * channels)}
    b.update(override)
    return pack(b)


# ---- (a) raw TCP ------------------------------------------------------------
def greeting(major=3, minor=0, mechanism=b"NULL"):
    """A ZMTP 3.x greeting: signature, version, mechanism, as-server, filler."""
    return b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([major, minor]) + mechanism.ljust(20, b"\x00") + b"\x00" * 32


def command(name, body):
    payload = bytes([len(name)]) + name + body
    return b"\x04" + bytes([len(payload)]) + payload


def ready(socket_type):
    return command(b"READY", bytes([11]) + b"Socket-Type" + struct.pack(">I", len(socket_type)) + socket_type)


def frame(body):
    return (b"\x00" + bytes([len(body)]) if len(body) < 256 else b"\x02" + struct.pack(">Q", len(body))) + body


def raw_send(endpoint, data, hold=False):
    """Connect, send, read what comes back for a moment, close (or hold)."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=2)
    try:
        if data:
            s.sendall(data)
        if hold:
            return s
        s.settimeout(0.2)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, OSError):
            pass
    except OSError:
        pass  # the broker hung up mid-send: fine
    s.close()
    return None


# The peer type each socket accepts in a handshake (ZMTP's compatibility).
PEERS = {ep: b"DEALER", data_in: b"PUB", data_out: b"SUB"}
held = []
for endpoint, peer in PEERS.items():
    garbage = [
        rng.randbytes(4096),
        rng.randbytes(65536),
        b"GET / HTTP/1.1\r\nHost: audiobus\r\n\r\n",
        greeting() + rng.randbytes(512),                               # greeting, then noise
        greeting(mechanism=b"CURVE") + rng.randbytes(64),              # a mechanism it does not run
        greeting(mechanism=b"NOSUCHMECH") + ready(peer),
        greeting(major=99, minor=99) + rng.randbytes(64),              # a future version
        b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x01\x05" + rng.randbytes(64),  # ZMTP 2.0 signature, then noise
        greeting() + ready(b"PAIR"),                                   # an incompatible socket type
        greeting() + ready(b"NOSUCHTYPE"),
        greeting() + command(b"READY", b"\x7fshort"),                  # a property overrunning its command
        greeting() + ready(peer) + b"\x02" + struct.pack(">Q", 1 << 62),   # a frame claiming 4 EiB
        greeting() + ready(peer) + b"\x02" + struct.pack(">Q", 3 << 20) + rng.randbytes(4096),  # 3 MiB, too big
        greeting() + ready(peer) + b"\x07" + rng.randbytes(300),       # reserved flag bits
        # A well-formed ZMTP frame of garbage: it reaches the broker's own
        # checks, which count it (control: error reply; data: bad block;
        # data-out: not a subscription).
        greeting() + ready(peer) + frame(b"\xc1 raw garbage"),
    ]
    for data in garbage:
        raw_send(endpoint, data)
    held.append(raw_send(endpoint, b"", hold=True))                    # silent connection
    held.append(raw_send(endpoint, greeting()[:5], hold=True))          # a greeting cut short
# While half-open connections hang on every port, the broker still serves.
status, out, err = h.run_capped(["ls", "--broker", ep, "--json", "--timeout-ms", "3000"], timeout=10)
h.check(status == 0, "ls works while half-open raw connections are held", status, err)
for s in held:
    if s:
        s.close()
after_raw = settled()
h.check(broker.proc.poll() is None, "the broker survived the raw TCP garbage", broker.output()[-1500:])
h.check(after_raw["bad_control"] >= 1, "a raw ZMTP frame of garbage reached the control checks", after_raw)
h.check(after_raw["bad_data"] >= 1, "a raw ZMTP frame of garbage reached the data checks", after_raw)
h.check(after_raw["bad_subscriptions"] >= 1, "a raw ZMTP frame of garbage reached the subscription checks",
        after_raw)


# ---- (b) malformed control messages on a real DEALER ---------------------------
def deep(n):
    return b"\x91" * n + b"\xc0"


HELLO = {"v": 1, "cmd": "hello", "role": "client", "name": "junk", "host": "h", "pid": 1, "inputs": [],
         "outputs": []}
CONTROL_GARBAGE = [
    # (what, frames, words the reason must contain)
    ("not msgpack", [b"\xc1\xc1 this is not msgpack"], []),
    ("an empty frame", [b""], ["truncated"]),
    ("a msgpack array", [pack([1, 2, 3])], ["type"]),
    ("a msgpack string", [pack("list")], ["type"]),
    ("a msgpack int", [pack(7)], []),
    ("an unknown cmd", [pack({"v": 1, "cmd": "frobnicate"})], ["unknown command"]),
    ("cmd as an int", [pack({"v": 1, "cmd": 6})], ["type"]),
    ("wrong version", [pack({"v": 2, "cmd": "list"})], ["version"]),
    ("v as a string", [pack({"v": "1", "cmd": "list"})], ["type"]),
    ("no v", [pack({"cmd": "list"})], ["missing"]),
    ("no cmd", [pack({"v": 1})], ["missing"]),
    ("three frames", [pack({"v": 1, "cmd": "list"}), b"second", b"third"], ["frame"]),
    ("two frames", [pack({"v": 1, "cmd": "list"}), b"second"], ["frame"]),
    ("a 60000-byte host", [pack(dict(HELLO, host="h" * 60000))], ["limit"]),
    ("a 1000-byte name", [pack(dict(HELLO, name="n" * 1000))], ["name"]),
    ("a 300-byte unknown command", [pack({"v": 1, "cmd": "c" * 300})], []),
    ("a name with a space", [pack(dict(HELLO, name="bad name"))], ["name"]),
    ("an unknown role", [pack(dict(HELLO, role="emperor"))], []),
    ("65 inputs", [pack(dict(HELLO, role="processor", inputs=["s%d" % i for i in range(65)]))], ["limit"]),
    ("an output of 300 channels", [pack(dict(HELLO, role="recorder", outputs=[
        {"stream": "x", "type": "audio", "rate": 48000, "channels": 300, "format": "f32", "hop": 0}]))], []),
    ("hello without name", [pack({k: v for k, v in HELLO.items() if k != "name"})], ["missing"]),
    ("trailing bytes", [pack({"v": 1, "cmd": "list"}) + b"\xc0"], ["trailing"]),
    ("a map claiming 2^32-1 entries", [b"\xdf\xff\xff\xff\xff\xa1v\x01"], []),
    ("a str claiming 4 GiB", [b"\x82\xa1v\x01\xa3cmd\xdb\xff\xff\xff\xffab"], ["truncated"]),
    ("an unknown key nested 100 deep", [b"\x83\xa1v\x01\xa3cmd\xa4list\xa1x" + deep(100)], ["limit"]),
    ("welcome (broker-only)", [pack({"v": 1, "cmd": "welcome", "session": 1, "data_in": "tcp://a:1",
                                     "data_out": "tcp://a:2", "heartbeat_ms": 1000})], []),
    ("listing (broker-only)", [pack({"v": 1, "cmd": "listing"})], []),
    ("linked (broker-only)", [pack({"v": 1, "cmd": "linked"})], []),
    ("refuse (broker-only)", [pack({"v": 1, "cmd": "refuse", "reason": "no"})], []),
    ("error (broker-only)", [pack({"v": 1, "cmd": "error", "reason": "no"})], []),
] + [("random bytes #%d" % i, [rng.randbytes(rng.randint(1, 3000))], []) for i in range(12)]


def control_round(dealer, check_replies):
    """Send every malformed control message; each must get an `error`."""
    patience = 3000  # ms; shortened once a reply is missing, to fail fast
    for what, frames, words in CONTROL_GARBAGE:
        dealer.send_multipart(frames)
        if not dealer.poll(patience):
            h.check(False, "an error reply to " + what)
            patience = 100
            continue
        reply = dealer.recv_multipart()
        if not check_replies:
            continue
        h.check(len(reply) == 1, "the reply to %s is one frame" % what, len(reply))
        try:
            msg = msgpack.unpackb(reply[0], raw=False)
        except Exception as e:
            h.check(False, "the reply to %s is msgpack" % what, e, reply[0][:80])
            continue
        ok = isinstance(msg, dict) and msg.get("v") == 1 and msg.get("cmd") == "error"
        h.check(ok, "the reply to %s is an error" % what, msg)
        reason = msg.get("reason", "") if isinstance(msg, dict) else ""
        h.check(isinstance(reason, str) and reason, "the error to %s has a reason" % what, msg)
        missing = [w for w in words if w not in reason]
        h.check(not missing, "the reason for %s says %r" % (what, words), reason)


before = settled()
dealer = ctx.socket(zmq.DEALER)
dealer.connect(ep)
control_round(dealer, check_replies=True)
# Well-formed but out of place: answered, not counted as malformed.
dealer.send(pack({"v": 1, "cmd": "heartbeat", "stats": {}}))
reply = msgpack.unpackb(dealer.recv(), raw=False) if dealer.poll(3000) else None
h.check(reply and reply.get("cmd") == "error" and "hello" in reply.get("reason", ""),
        "a heartbeat from an unregistered peer gets an error saying to send hello", reply)
dealer.send(pack({"v": 1, "cmd": "bye"}))
reply = msgpack.unpackb(dealer.recv(), raw=False) if dealer.poll(3000) else None
h.check(reply and reply.get("cmd") == "bye", "a bye from an unknown peer is still answered with bye", reply)
# The same DEALER is still served normally.
dealer.send(pack({"v": 1, "cmd": "list"}))
reply = msgpack.unpackb(dealer.recv(), raw=False) if dealer.poll(3000) else None
h.check(reply and reply.get("cmd") == "listing", "the garbage sender still gets a listing", reply)
after = counters()
h.check(after["bad_control"] - before["bad_control"] == len(CONTROL_GARBAGE),
        "every malformed control message was counted once", after["bad_control"] - before["bad_control"],
        len(CONTROL_GARBAGE))
h.check(not any(n["name"] == "junk" for n in h.listing(ep)["nodes"]), "no malformed hello registered a node")

# More than the 64 KiB control limit: ZeroMQ drops the connection before the
# broker reads it, so there is no reply and nothing to count.
big = ctx.socket(zmq.DEALER)
big.connect(ep)
big.send(pack(dict(HELLO, host="h" * 100000)))
h.check(not big.poll(1000), "no reply to a control message over 64 KiB")
big.close()
status, out, err = h.run_capped(["ls", "--broker", ep, "--timeout-ms", "3000"], timeout=10)
h.check(status == 0, "ls works after an oversized control message", status, err)

# ---- (c) malformed blocks on a real publisher on data-in ----------------------------
with open(os.path.join(VECTORS, "vectors.json")) as f:
    vectors = json.load(f)
with open(os.path.join(VECTORS, "audio_f32.bin"), "rb") as f:
    GOOD = f.read()


def bin_claim(b, claim):
    """b with its samples bin header replaced by a bin32 claiming `claim` bytes."""
    at = b.rindex(b"\xa7samples") + 8
    return b[:at] + b"\xc6" + struct.pack(">I", claim) + b[at + 2:]


def padded(size):
    """A valid-looking block made exactly `size` bytes long by an unknown key."""
    pad = size - len(block("mic1", 1)) - 9  # "pad" key (4) + bin32 header (5)
    b = block("mic1", 1, pad=bytes(pad))
    assert len(b) == size, (len(b), size)
    return b


OVERSIZED = padded(1049089)
DATA_GARBAGE = []
for bad in vectors["bad"]:
    with open(os.path.join(VECTORS, bad["file"]), "rb") as f:
        DATA_GARBAGE.append((bad["file"], [bytes.fromhex(bad["topic_hex"]), f.read()]))
DATA_GARBAGE += [
    ("one frame", [b"mic1\x00"]),
    ("one frame holding a block", [GOOD]),
    ("three frames", [b"mic1\x00", GOOD, b"extra"]),
    ("five frames", [b"mic1\x00", GOOD, b"a", b"b", b"c"]),
    ("undecodable", [b"mic1\x00", b"\xc1" * 64]),
    ("an empty topic", [b"", GOOD]),
    ("a topic without NUL", [b"mic1", GOOD]),
    ("a topic with a suffix", [b"mic1\x00x", GOOD]),
    ("another stream's topic", [b"mic10\x00", GOOD]),
    ("frames 65536 x channels 256", [b"mic1\x00", block("mic1", 1, frames=65536, channels=256, samples=b"")]),
    ("a bin claiming 2 GiB", [b"mic1\x00", bin_claim(block("mic1", 1), 0x7FFFFFFF)]),
    ("a bin claiming 4 GiB - 1", [b"mic1\x00", bin_claim(block("mic1", 1), 0xFFFFFFFF)]),
    ("frames 2^32", [b"mic1\x00", block("mic1", 1, frames=1 << 32, samples=b"")]),
    ("rate 2^40", [b"mic1\x00", block("mic1", 1, rate=1 << 40)]),
    ("time_ns 2^64-1", [b"mic1\x00", block("mic1", 1, time_ns=(1 << 64) - 1)]),
    ("a block of 1049089 bytes, one over the limit", [b"mic1\x00", OVERSIZED]),
    ("a samples bin of 1 MiB + 4", [b"mic1\x00", block("mic1", 1, frames=65536, channels=4,
                                                      samples=bytes(1048580))]),
] + [("random #%d" % i, [rng.randbytes(rng.randint(1, 70)), rng.randbytes(rng.randint(0, 3000))])
     for i in range(20)]


def publisher():
    """An XPUB on data-in, returned once the broker's subscription arrived
    (before that, ZeroMQ would drop what it sends)."""
    pub = ctx.socket(zmq.XPUB)
    pub.connect(data_in)
    if not pub.poll(5000):
        h.check(False, "the broker's XSUB subscribed to a new publisher")
    else:
        h.check(pub.recv() == b"\x01", "the broker subscribes to everything")
    return pub


def data_round(pub):
    for what, frames in DATA_GARBAGE:
        pub.send_multipart(frames)


# A spy subscribed to everything on data-out sees what the broker forwards.
# Probe blocks on stream "probe" show when its subscription is in force, and
# one sent after the garbage marks that the broker has read all of it.
spy = ctx.socket(zmq.SUB)
spy.setsockopt(zmq.SUBSCRIBE, b"")
spy.connect(data_out)
pub = publisher()
seq = 0
while True:
    pub.send_multipart([b"probe\x00", block("probe", seq)])
    seq += 1
    if spy.poll(100) or seq > 100:
        break
h.check(seq <= 100, "the spy receives probe blocks", seq)
while spy.poll(200):
    spy.recv_multipart()
before = counters()
data_round(pub)
marker = seq
pub.send_multipart([b"probe\x00", block("probe", marker)])
seq += 1
forwarded = []
deadline = time.time() + 10
got_marker = False
while time.time() < deadline and not got_marker:
    if spy.poll(500):
        m = spy.recv_multipart()
        forwarded.append(m)
        if len(m) == 2 and m[0] == b"probe\x00" and msgpack.unpackb(m[1]).get("seq") == marker:
            got_marker = True
h.check(got_marker, "the marker block after the garbage was forwarded")
h.check(len(forwarded) == 1, "nothing of the garbage was forwarded (messages seen besides the marker)",
        [[f[:40] for f in m] for m in forwarded[:-1]][:5])
after = counters()
h.check(after["bad_data"] - before["bad_data"] == len(DATA_GARBAGE), "every bad data message was counted once",
        after["bad_data"] - before["bad_data"], len(DATA_GARBAGE))
probe = h.stream_entry(ep, "probe")
h.check(probe and probe["blocks"] == seq and probe["gaps"] == 0 and probe["bad"] == 0,
        "the probe blocks were all relayed, in order", probe, seq)
mic1 = h.stream_entry(ep, "mic1")
h.check(mic1 and mic1["blocks"] == 0 and mic1["bad"] > 0, "bad blocks naming mic1 counted as its bad, never blocks",
        mic1)
h.check(h.stream_entry(ep, "mic 1") is None and h.stream_entry(ep, "m" * 65) is None,
        "no stream was made up from an invalid name")

# Over ZMQ_MAXMSGSIZE: ZeroMQ drops the connection; the broker carries on.
big = publisher()
big.send_multipart([b"mic1\x00", bytes(3 << 20)])
big.close()
spy.close()

# ---- (d) non-subscriptions from a real XSUB on data-out -------------------------
SUB_GARBAGE = [b"\x02not a subscription", b"garbage", b"", b"\xff" * 100, b"\x01" + b"t" * 300] + \
    [bytes([rng.randint(2, 255)]) + rng.randbytes(rng.randint(0, 500)) for _ in range(10)]


def xsub_round():
    xsub = ctx.socket(zmq.XSUB)
    xsub.connect(data_out)
    for m in SUB_GARBAGE:
        xsub.send(m)
    xsub.send_multipart([b"\x01multi", b"part"])
    return xsub


before = counters()
xsub = xsub_round()
h.check(h.wait_for(lambda: counters()["bad_subscriptions"] - before["bad_subscriptions"] >= len(SUB_GARBAGE), 5),
        "every non-subscription on data-out was counted", counters(), before, len(SUB_GARBAGE))
xsub.close()

# ---- the broker still serves a live stream, bit-exact ---------------------------------
# A recorder and a WAV-writing processor through the broker that took all the
# above, with a second round of garbage sprayed while the stream flows.
status, out, err = h.run_capped(["ls", "--broker", ep, "--json"], timeout=10)
h.check(status == 0, "ls works after all the garbage", status, err)
h.check(broker.proc.poll() is None, "the broker is alive", broker.output()[-1500:])
RATE, SECONDS = 48000, 2
wav = os.path.join(work, "clean.wav")
proc = h.Node(work, "writer", ["process", "--broker", ep, "--stream", "clean", "--plugin", "wavwrite", "--name",
                               "writer", "--param", "path=" + wav, "--exit-at-end"])
h.check(h.wait_linked(ep, ["writer"]), "the processor linked", proc.output()[-800:])
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "clean", "--source", "synth:counter", "--rate",
                           str(RATE), "--duration", str(SECONDS), "--speed", "4", "--block", "256", "--name", "rec"])
during = counters()
pub = publisher()
data_round(pub)
control_round(dealer, check_replies=False)
xsub = xsub_round()
h.check(rec.wait(30) == 0, "the recorder exits 0", rec.output()[-800:])
h.check(proc.wait(30) == 0, "the processor exits 0 at the end of the stream", proc.output()[-800:])
h.check_counter_wav(wav, RATE, 1, RATE * SECONDS, "clean stream")
clean = h.stream_entry(ep, "clean")
h.check(clean and clean["gaps"] == 0 and clean["bad"] == 0 and clean["blocks"] == RATE * SECONDS // 256 + 1,
        "the broker relayed every block of the clean stream and its end", clean)
out = proc.output()
h.check("lost in transit 0" in out and "bad 0" in out, "the processor saw no loss and no bad block", out[-600:])

final = settled()
for key in ("bad_data", "bad_control", "bad_subscriptions"):
    h.check(final[key] > 0, "the listing counted the garbage in " + key, final)
h.check(final["bad_data"] >= during["bad_data"] + len(DATA_GARBAGE) and
        final["bad_control"] >= during["bad_control"] + len(CONTROL_GARBAGE) and
        final["bad_subscriptions"] >= during["bad_subscriptions"] + len(SUB_GARBAGE),
        "the second round was counted too", during, final)
h.check(h.listing(ep)["nodes"] == [], "no node is left registered (garbage registered none)", h.listing(ep)["nodes"])
ctx.destroy(linger=0)
h.check(broker.stop() == 0, "the broker exits 0 on SIGTERM", broker.output()[-1500:])
h.finish()
