"""`audiobus latency` on a dummy JACK server: the probes go out of the
profiler's JACK output port, through a connection the test makes, back into
its input port, and the reported round trip is what JACK's and PortAudio's
buffering imply, to the frame.

What the round trip must be, in frames (P = the JACK period, B = --block):

- JACK runs every client once per period. A client's output port connected
  back to its own input port closes a loop, which JACK breaks by one cycle:
  what the client writes in cycle n it reads in cycle n + 1. That is P.
- PortAudio's JACK host API, asked for a fixed callback size in a
  full-duplex stream, passes the audio through its buffer processor, which
  holds one user buffer on the way: B more. With --block 0 (PortAudio's
  paFramesPerBufferUnspecified) the callback gets JACK's buffers as they
  are and nothing is added.
- So one full-duplex stream measures P + B, and P alone with --block 0.
  With --separate-streams (an input and an output stream of the same JACK
  client, both run in the same cycle, each with callbacks of the period's
  size) there is no full-duplex adaptation: P, up to the few frames by which
  the callbacks' clock relates two counters.

The profiler counts frames, not time, so a dummy loop gives the same figure
for every probe unless JACK reports an xrun (a missed cycle, possible on a
loaded machine); then each figure is still within one period. The period is
varied (128, 256, 512) so that a profiler that ignored the loop could not
pass. Also: no loop -> a clear error; a loop cut mid-run -> probes counted
as not found.

With `--part broker`, the loop goes through audiobus instead: the profiler
(--through-broker) starts a broker, `audiobus record` and `audiobus play`;
the test connects profiler out -> recorder in and player out -> profiler in.
The player holds its jitter buffer target (--play-latency) of audio before
it plays, and the recorder and the player each move whole blocks of 256
frames, so the path adds the target, give or take two blocks, to the direct
round trip measured just before on the same server; a longer target adds
that much more. A loaded machine disturbs that path: JACK xruns (cycles a
client missed) make the recorder lose audio (it logs input overflows, the
profiler counts xruns), so the player's buffer and the round trip shrink by
a period each time; the player may run dry (an underrun: it re-buffers) or
fall behind (an overrun: it drops audio), which it logs; a burst of blocks
fills its buffer beyond the target, which it trims only beyond twice the
target plus a block. Then only the shape is checked: most probes come back,
and the median lies between half the target and twice the target plus four
blocks (its trimming limit, the recorder's block, two JACK cycles) later
than direct.

Skips (77) when the JACK tools are not installed (cmake/setup.sh installs
Debian's jackd2)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import harness as h

TOOLS = ("jackd", "jack_lsp", "jack_connect", "jack_disconnect")
missing = [t for t in TOOLS if not shutil.which(t)]
if missing:
    print("SKIP: %s not installed (Debian package jackd2; cmake/setup.sh installs it)" % ", ".join(missing))
    sys.exit(77)

PART = sys.argv[sys.argv.index("--part") + 1] if "--part" in sys.argv else "direct"
work = h.setup()
RATE = 48000
CLIENT = "ablat"


class Jack:
    """A dummy JACK server of this test's own, stopped by PID. Named by the
    test part and period, not the PID: JACK keeps at most 8 servers in its
    registry (/dev/shm/jack-shm-registry) and frees the entry of a server
    that did not exit cleanly (the stall part's, stopped mid-cycle) only for
    a server of the same name; with names unique per run, every run left
    one entry behind and the ninth run found "Too many servers already
    active"."""

    def __init__(self, period):
        self.period = period
        self.name = "ab-latency-%s-%d" % (PART, period)
        self.env = {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1"}
        # Appended to: a server tried again after a stall keeps the log of
        # the one before; this server's part starts at log_start.
        self.log = open(os.path.join(work, "jackd-%d.txt" % period), "a")
        self.log_start = self.log.tell()
        self.tool_timeouts = 0
        self.proc = subprocess.Popen(["jackd", "-n", self.name, "-d", "dummy", "-r", str(RATE), "-p", str(period)],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, **self.env))
        if not h.wait_for(lambda: "system:capture_1" in self.ports() or self.proc.poll() is not None, 20, 0.1) \
                or self.proc.poll() is not None:
            self.stop()
            with open(self.log.name) as f:
                f.seek(self.log_start)
                raise RuntimeError("jackd did not start:\n" + f.read())

    def tool(self, *args):
        """Run a JACK tool on this server. A tool that hangs (libjack waiting
        on a stalled server) counts as failed, with what it was, rather than
        ending the test with a traceback."""
        try:
            return subprocess.run(list(args), capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
                                  env=dict(os.environ, **self.env))
        except subprocess.TimeoutExpired:
            message = "%s did not finish within 20 s (a stalled JACK server; see %s)" % (" ".join(args),
                                                                                        self.log.name)
            print(message, flush=True)
            self.tool_timeouts += 1
            return subprocess.CompletedProcess(list(args), -1, "", message)

    def ports(self):
        return self.tool("jack_lsp", "-s", self.name).stdout.split()

    def connect(self, source, destination):
        r = self.tool("jack_connect", "-s", self.name, source, destination)
        return h.check(r.returncode == 0, "jack_connect", source, destination, r.stdout, r.stderr)

    def disconnect(self, source, destination):
        r = self.tool("jack_disconnect", "-s", self.name, source, destination)
        return h.check(r.returncode == 0, "jack_disconnect", source, destination, r.stdout, r.stderr)

    def stalled_cycles(self):
        """Cycles in which jackd woke a client that never ran ("was not
        finished, state = Triggered": the client's JACK thread still waits in
        libjack; seen on this kind of VM now and then, on a fresh server too)."""
        self.log.flush()
        with open(self.log.name) as f:
            f.seek(self.log_start)
            return f.read().count("was not finished, state = Triggered")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def start_latency(jack, tag, args):
    """Start the profiler on jack's server; returns (node, output port, input port)
    once its ports exist (not yet connected to each other)."""
    node = h.Node(work, "latency-%d-%s" % (jack.period, tag),
                  ["latency", "--host-api", "JACK", "--jack-name", CLIENT, "--rate", str(RATE)] + args,
                  env=jack.env)
    out_port, in_port = CLIENT + ":out_0", CLIENT + ":in_0"
    ready = h.wait_for(lambda: node.proc.poll() is not None or
                       (out_port in jack.ports() and in_port in jack.ports()), 30, 0.1)
    h.check(ready and node.proc.poll() is None, "the profiler's JACK ports appear", tag, node.output()[-2000:])
    return node, out_port, in_port


def result_of(node, tag, timeout=60):
    status = node.wait(timeout)
    if status is None:
        node.stop()  # its children go with it: the next run starts clean
    output = node.output()
    h.check(status == 0, "latency exits 0", tag, status, output[-2000:])
    for line in output.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    h.check(False, "latency printed a JSON result", tag, output[-2000:])
    return None


def measure(jack, tag, args, count=20):
    node, out_port, in_port = start_latency(jack, tag, ["--json", "--count", str(count), "--interval", "0.1",
                                                        "--wait", "30"] + args)
    jack.connect(out_port, in_port)
    return result_of(node, tag)


def check_round_trip(r, tag, expected, period, exact_to=0):
    """Every probe found; the median is expected (within exact_to frames);
    every figure within one period of it, and all equal when there was no
    xrun (and exact_to is 0)."""
    if r is None:
        return
    print("%s: %s" % (tag, {k: r[k] for k in ("count", "found", "missed", "frames", "reported_frames", "xruns")}),
          flush=True)
    h.check(r["complete"] and r["count"] == 20, "20 probes measured", tag, r["count"])
    h.check(r["found"] == r["count"] and r["missed"] == 0, "every probe found", tag, r["found"], r["missed"])
    f = r["frames"]
    if not f:
        return
    h.check(abs(f["p50"] - expected) <= exact_to, "median round trip", tag, f["p50"], "expected", expected)
    h.check(expected - period <= f["min"] and f["max"] <= expected + period, "every round trip within a period",
            tag, f["min"], f["max"], expected, period)
    if r["xruns"] == 0 and exact_to == 0:
        h.check(f["min"] == f["max"] == expected, "frame-exact without xruns", tag, f["min"], f["max"], expected)
    h.check(abs(r["ms"]["p50"] - f["p50"] * 1000.0 / RATE) < 1e-9, "ms agree with frames", tag, r["ms"], f)
    h.check(r["min_score"] > 0.99, "a dummy loop is bit-exact: correlation 1", tag, r["min_score"])


def through_broker(jack, target_ms):
    """The round trip through record -> broker -> play with this jitter target."""
    tag = "through-%d" % target_ms
    node = h.Node(work, "latency-" + tag,
                  ["latency", "--host-api", "JACK", "--jack-name", CLIENT, "--rate", str(RATE), "--block", "256",
                   "--through-broker", "--play-latency", str(target_ms), "--count", "20", "--interval", "0.25",
                   "--json", "--wait", "60", "--log-level", "info"], env=jack.env)
    out_port, in_port = CLIENT + ":out_0", CLIENT + ":in_0"
    record_in, play_out = "audiobus-record:in_0", "audiobus-play:out_0"

    def ready():
        if node.proc.poll() is not None:
            return True
        ports = jack.ports()
        return all(p in ports for p in (out_port, in_port, record_in, play_out))
    h.check(h.wait_for(ready, 30, 0.1) and node.proc.poll() is None, "the chain's JACK ports appear", tag,
            node.output()[-3000:])
    jack.connect(out_port, record_in)
    jack.connect(play_out, in_port)
    r = result_of(node, tag, timeout=120)
    if r:
        # The children's messages are in the profiler's log: the player's
        # underruns and overruns among them.
        r["disturbed"] = r["xruns"] > 0 or re.search(r"underrun|overrun|overflow", node.output()) is not None
        print("%s: %s" % (tag, {k: r[k] for k in ("count", "found", "missed", "frames", "disturbed")}), flush=True)
        h.check(r["through_broker"] and r["through_broker"]["play_latency_ms"] == target_ms,
                "the result names the chain", tag, r["through_broker"])
        h.check(r["count"] == 20, "20 probes measured", tag, r["count"])
        if r["disturbed"]:
            h.check(r["found"] >= 15, "most probes came back through audiobus (the player was disturbed)", tag,
                    r["found"], r["latencies"])
        else:
            h.check(r["found"] == 20, "every probe came back through audiobus", tag, r["found"], r["latencies"])
    return r


def on_fresh_server(period, part, attempts=5):
    """Run part(jack) on a new server of this period. A stalled JACK server
    (a tool hanging on it, or clients woken that never run) is the machine's
    and libjack's, not audiobus's: when checks failed on a server that
    stalled, they are set aside and part runs again on a new server, up to
    attempts times (three servers in a row were seen to stall in one spell
    on 2026-12-06). Returns part's result."""
    for attempt in range(1, attempts + 1):
        mark = h.failure_mark()
        jack = Jack(period)
        try:
            result = part(jack)
        finally:
            cycles = jack.stalled_cycles()
            jack.stop()
        # Stalled: a JACK tool hung on it, or it woke clients that never ran
        # in 100 cycles or more.
        stalled = jack.tool_timeouts > 0 or cycles >= 100
        if h.failure_mark() == mark or not stalled or attempt == attempts:
            return result
        h.set_aside_failures(mark, "attempt %d: the JACK server (period %d) stalled (%d tool(s) hung, %d stalled "
                             "cycles); again on a new server" % (attempt, period, jack.tool_timeouts, cycles))


def broker_part(jack):
    """direct, through-50 and through-150 on one server."""
    direct = measure(jack, "direct", ["--block", "256"])
    check_round_trip(direct, "P=256 B=256 direct, for reference", 512, 256)
    return direct, through_broker(jack, 50), through_broker(jack, 150)


if PART == "broker":
    direct, r50, r150 = on_fresh_server(256, broker_part)
    if direct and direct["frames"] and r50 and r50["frames"] and r150 and r150["frames"]:
        base = direct["frames"]["p50"]
        for target_ms, r in ((50, r50), (150, r150)):
            added = r["frames"]["p50"] - base
            target = target_ms * RATE / 1000
            print("through audiobus, play target %d ms: round trip %d frames (%.1f ms), %d frames (%.1f ms) more "
                  "than direct; spread %d frames" % (target_ms, r["frames"]["p50"], r["ms"]["p50"], added,
                                                     added * 1000.0 / RATE, r["frames"]["max"] - r["frames"]["min"]),
                  flush=True)
            if r["disturbed"]:
                # Only a bound above: the player drops what is beyond twice
                # its target. Below the target, anything goes on a disturbed
                # run: cycles JACK skipped before the recorder lose frames
                # that no one counts, and the round trip looks that much
                # shorter (seen under TSan: 1024 frames for a 2400 target).
                h.check(added <= 2 * target + 4 * 256,
                        "added latency within the player's bound (disturbed run)", target_ms, added, target)
                continue
            h.check(abs(added - target) <= 2 * 256, "added latency is the play target, within two blocks",
                    target_ms, added, target)
            h.check(r["frames"]["max"] - r["frames"]["min"] <= 2 * 256, "round trips through audiobus steady",
                    target_ms, r["frames"], r["latencies"])
        if not r50["disturbed"] and not r150["disturbed"]:
            more = r150["frames"]["p50"] - r50["frames"]["p50"]
            h.check(abs(more - 100 * RATE / 1000) <= 2 * 256, "100 ms more target, 100 ms more round trip", more)
    h.finish()

if PART == "stall":
    # A JACK server that stops running the graph (SIGSTOP here; a stalled
    # graph does the same) must not hang the nodes on it: PortAudio's JACK
    # host API waits ten minutes for a callback to take a stop request.
    jack = Jack(256)
    try:
        broker, ep = h.start_broker(work, "broker-stall")
        record = h.Node(work, "record-stall", ["record", "--broker", ep, "--stream", "st", "--source", "portaudio",
                                               "--host-api", "JACK", "--rate", str(RATE), "--block", "256",
                                               "--channels", "1", "--log-level", "info"], env=jack.env)
        h.check(h.wait_for(lambda: "recording input device" in record.output(), 20), "the recorder records",
                record.output()[-2000:])
        play = h.Node(work, "play-stall", ["play", "--broker", ep, "--stream", "st", "--host-api", "JACK",
                                           "--log-level", "info"], env=jack.env)
        h.check(h.wait_for(lambda: "playing stream" in play.output(), 20), "the player plays", play.output()[-2000:])
        node, out_port, in_port = start_latency(jack, "stall", ["--count", "1000", "--interval", "0.1",
                                                                "--block", "256", "--wait", "30"])
        jack.connect(out_port, in_port)
        h.check(h.wait_for(lambda: "came back" in node.output(), 30), "the profiler measures", node.output()[-2000:])
        os.kill(jack.proc.pid, signal.SIGSTOP)
        started = time.time()
        status = node.wait(20)
        h.check(status is not None and status != 0, "the profiler exits (non-zero) soon after its input stops",
                status, round(time.time() - started, 1), node.output()[-2000:])
        h.check("delivered no audio for 3 s" in node.output(), "the profiler says the input stopped",
                node.output()[-2000:])
        for what, n in (("recorder", record), ("player", play)):
            n.proc.send_signal(signal.SIGTERM)
            started = time.time()
            status = n.wait(15)
            took = time.time() - started
            print("%s stopped in %.1f s on a stalled server (status %s)" % (what, took, status), flush=True)
            h.check(status == 0, "the %s stops cleanly on a stalled server" % what, status, round(took, 1),
                    n.output()[-2000:])
            h.check("has not called back" in n.output(), "the %s says its device stalled" % what,
                    n.output()[-2000:])
    finally:
        if jack.proc.poll() is None:
            os.kill(jack.proc.pid, signal.SIGCONT)
        jack.stop()
    h.finish()

# --- period 256 -------------------------------------------------------------
def period_256(jack):
    r = measure(jack, "block256", ["--block", "256"])
    check_round_trip(r, "P=256 B=256 full duplex", 256 + 256, 256)
    h.check(r is None or r["full_duplex"], "one full-duplex stream on one host API", r and r["description"])

    r = measure(jack, "block0", ["--block", "0"])
    check_round_trip(r, "P=256 B=0 full duplex", 256, 256)

    r = measure(jack, "separate", ["--block", "256", "--separate-streams"])
    check_round_trip(r, "P=256 B=256 two streams", 256, 256, exact_to=8)
    h.check(r is None or not r["full_duplex"], "two streams when asked", r and r["description"])

    # The human-readable table: the same figures.
    node, out_port, in_port = start_latency(jack, "text", ["--count", "5", "--interval", "0.1", "--block", "0"])
    jack.connect(out_port, in_port)
    status = node.wait(60)
    text = node.output()
    h.check(status == 0, "latency (text) exits 0", status, text[-2000:])
    h.check(re.search(r"5 found, 0 not found", text) is not None, "text: found and not found", text)
    h.check(re.search(r"^frames\s+256\s+256\s+256\s+256\s*$", text, re.M) is not None, "text: frames row", text)
    h.check(re.search(r"^ms\s+5\.333\s+5\.333\s+5\.333\s+5\.333\s*$", text, re.M) is not None, "text: ms row", text)
    h.check(re.search(r"\s+min\s+p50\s+p99\s+max", text) is not None, "text: header", text)

    # No loop: a clear error naming the ports to connect, exit 1.
    node, out_port, in_port = start_latency(jack, "noloop", ["--wait", "1.5", "--interval", "0.1"])
    status = node.wait(30)
    text = node.output()
    h.check(status == 1, "no loop: exit 1", status, text[-2000:])
    h.check("no probe came back within 1.5 s" in text and out_port in text and in_port in text,
            "no loop: the message says what to connect", text[-2000:])

    # A loop cut for a while mid-run: the probes sent meanwhile are counted
    # as not found, the others are still exact.
    node, out_port, in_port = start_latency(jack, "cut", ["--json", "--count", "40", "--interval", "0.1",
                                                          "--block", "0", "--wait", "30"])
    jack.connect(out_port, in_port)
    h.check(h.wait_for(lambda: "came back" in node.output() or node.proc.poll() is not None, 30),
            "cut: measuring started", node.output()[-2000:])
    time.sleep(0.5)
    jack.disconnect(out_port, in_port)
    time.sleep(1.0)
    jack.connect(out_port, in_port)
    r = result_of(node, "cut")
    if r:
        print("cut: found %d, missed %d, %s" % (r["found"], r["missed"], r["frames"]), flush=True)
        h.check(r["count"] == 40 and r["found"] + r["missed"] == 40, "cut: 40 probes measured", r["count"])
        h.check(r["missed"] >= 4, "cut: the probes sent while cut are not found", r["missed"], r["latencies"])
        h.check(r["found"] >= 10, "cut: the others are found", r["found"], r["latencies"])
        h.check(r["frames"] and r["frames"]["p50"] == 256, "cut: the found ones still 256", r["frames"])


def period_512(jack):
    check_round_trip(measure(jack, "block256", ["--block", "256"]), "P=512 B=256 full duplex", 512 + 256, 512)
    check_round_trip(measure(jack, "block0", ["--block", "0"]), "P=512 B=0 full duplex", 512, 512)


def period_128(jack):
    check_round_trip(measure(jack, "block128", ["--block", "128"]), "P=128 B=128 full duplex", 128 + 128, 128)


on_fresh_server(256, period_256)
# Other periods: the figure follows the period.
on_fresh_server(512, period_512)
on_fresh_server(128, period_128)
h.finish()
