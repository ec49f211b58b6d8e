"""harness.py - what the integration tests share: start audiobus nodes as real
processes on free ports, wait for them, read their listings and WAV files,
and stop them by PID. Standard library only (plus numpy where a test needs it).

Every helper process writes to a log file in the test's directory (an
inherited stdout would make CTest wait for it) and is stopped at exit.
"""
import atexit
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

AUDIOBUS = os.environ.get("AUDIOBUS_BIN", "")
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# "address" or "thread" when audiobus is a sanitizer build (set by
# tests/CMakeLists.txt for such builds), "" otherwise.
SANITIZED = os.environ.get("AUDIOBUS_SANITIZED", "")

_procs = []
_failures = []
_work_dirs = []
_sanitizer_reports = []

# What a sanitizer runtime writes when it finds an error (ASan, LSan, UBSan,
# TSan). Node logs and captured stderr are searched for these at finish().
_SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                      "ThreadSanitizer: ", ": runtime error: ", "SUMMARY: UndefinedBehaviorSanitizer")


def setup():
    """Parse `--bin PATH` (the audiobus executable) and make a work dir."""
    global AUDIOBUS
    args = sys.argv[1:]
    if "--bin" in args:
        AUDIOBUS = args[args.index("--bin") + 1]
    if not AUDIOBUS or not os.access(AUDIOBUS, os.X_OK):
        sys.exit("usage: %s --bin PATH/TO/audiobus" % sys.argv[0])
    work = tempfile.mkdtemp(prefix="ab-test-")
    _work_dirs.append(work)
    return work


def skip_if_sanitized(what):
    """True (and says so) when audiobus is a sanitizer build: for a check
    on timing that the sanitizer's slowdown breaks, not the code."""
    if SANITIZED:
        print("SKIP under %s sanitizer (too slow for the timing): %s" % (SANITIZED, what), flush=True)
        return True
    return False


def _note_sanitizer_report(where, text):
    for marker in _SANITIZER_MARKERS:
        at = text.find(marker)
        if at >= 0:
            start = text.rfind("\n", 0, at) + 1
            _sanitizer_reports.append("%s: %s" % (where, text[start:start + 3000]))
            return


def _check_sanitizer_reports():
    """Every sanitizer report in a node's log (any *.log in a work dir) or in
    the captured stderr of run() fails the test."""
    for work in _work_dirs:
        for dirpath, _, files in os.walk(work):
            for name in sorted(files):
                if name.endswith(".log"):
                    with open(os.path.join(dirpath, name), errors="replace") as f:
                        _note_sanitizer_report(os.path.join(dirpath, name), f.read())
    for report in _sanitizer_reports:
        check(False, "no sanitizer report", report)


def check(condition, what, *values):
    """Record a failed check with the values involved; never raises."""
    if not condition:
        msg = "FAIL: %s %s" % (what, " ".join(repr(v) for v in values))
        print(msg, flush=True)
        _failures.append(msg)
    return condition


def failure_mark():
    """A mark for set_aside_failures(): how many checks have failed so far."""
    return len(_failures)


def set_aside_failures(mark, why):
    """Forget the checks failed since mark, saying why (a retry on a fresh
    environment that the test has shown to be broken, not the code)."""
    if len(_failures) > mark:
        print("set aside %d failed check(s): %s" % (len(_failures) - mark, why), flush=True)
        del _failures[mark:]


def all_passed():
    """True while no check has failed."""
    return not _failures


def finish():
    """Exit 0 when every check passed (removing the work dirs), 1 otherwise
    (keeping them, and saying where), after stopping nodes and looking for
    sanitizer reports in their output."""
    stop_all()
    _check_sanitizer_reports()
    if _failures:
        print("%d check(s) failed" % len(_failures))
        for work in _work_dirs:
            print("node logs and files kept in %s" % work)
        sys.exit(1)
    for work in _work_dirs:  # a passing test leaves nothing behind
        shutil.rmtree(work, ignore_errors=True)
    print("all checks passed")
    sys.exit(0)


class Node:
    """One audiobus process with its log file."""

    def __init__(self, work, name, args, env=None, new_session=False):
        """new_session: in a session and process group of its own, as a
        command started at a terminal (see interrupt())."""
        self.name = name
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen([AUDIOBUS] + args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, start_new_session=new_session)
        _procs.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout):
        """Exit status, or None if still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        status = self.wait(timeout)
        if status is None:
            self.proc.kill()
            status = self.wait(5)
        return status

    def interrupt(self, timeout=10):
        """Ctrl-C as a terminal sends it: SIGINT to the node's whole process
        group (start it with new_session=True). Returns its exit status, or
        None if still running after timeout seconds."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()


def stop_all():
    # A sanitizer build checks for leaks when a node exits: ask the nodes
    # still running to stop (SIGTERM) before killing what remains.
    if SANITIZED:
        for node in _procs:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for node in _procs:
            node.wait(max(0.1, deadline - time.time()))
    for node in reversed(_procs):
        if node.proc.poll() is None:
            node.proc.kill()
            node.wait(5)
    _procs.clear()


atexit.register(stop_all)


def run(args, timeout=30, env=None):
    """Run audiobus to completion: (status, stdout, stderr)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run([AUDIOBUS] + args, capture_output=True, text=True, timeout=timeout, env=full_env,
                       stdin=subprocess.DEVNULL)
    _note_sanitizer_report("audiobus " + " ".join(args), p.stderr)
    return p.returncode, p.stdout, p.stderr


def read_ready_file(path):
    """The control endpoint a broker wrote to its --ready-file, or None while
    there is none yet."""
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def start_broker(work, name="broker", extra=None):
    """Start a broker on free loopback ports; returns (node, control endpoint)."""
    ready = os.path.join(work, name + ".ready")
    node = Node(work, name, ["broker", "--bind", "tcp://127.0.0.1:*", "--ready-file", ready] + (extra or []))
    deadline = time.time() + 10
    while time.time() < deadline:
        endpoint = read_ready_file(ready)
        if endpoint:
            return node, endpoint
        if node.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("broker did not start:\n" + node.output())


def listing(endpoint):
    status, out, err = run(["ls", "--broker", endpoint, "--json"], timeout=10)
    if status != 0:
        raise RuntimeError("audiobus ls failed: " + err)
    return json.loads(out)


def node_entry(endpoint, name):
    for node in listing(endpoint)["nodes"]:
        if node["name"] == name:
            return node
    return None


def stream_entry(endpoint, stream):
    for s in listing(endpoint)["streams"]:
        if s["stream"] == stream:
            return s
    return None


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_linked(endpoint, names, timeout=10):
    """Wait until every named node is registered and its subscription is in force."""
    def all_linked():
        nodes = {n["name"]: n for n in listing(endpoint)["nodes"]}
        return all(name in nodes and nodes[name]["linked"] for name in names)
    return wait_for(all_linked, timeout)


def _broker_log_line(broker_node, text, timeout=5):
    """The first line of the broker's log holding text. The broker writes its
    ready file before it logs its endpoints: wait up to timeout seconds."""
    deadline = time.time() + timeout
    while True:
        for line in broker_node.output().splitlines():
            if text in line:
                return line
        if time.time() >= deadline or broker_node.proc.poll() is not None:
            return None
        time.sleep(0.02)


def data_out_endpoint(broker_node):
    """The broker's data-out endpoint, from its log line."""
    line = _broker_log_line(broker_node, "data out ")
    return line.split("data out ")[1].split()[0] if line else None


def read_wav(path):
    """(rate, channels, format, raw sample bytes) of a PCM16/32 or float32 WAV."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("%s is not a WAV file" % path)
    pos = 12
    fmt = None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real tag is in the GUID
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (rate, channels, {(1, 16): "s16", (1, 32): "s32", (3, 32): "f32"}[(tag, bits)])
        elif cid == b"data":
            return fmt + (body,)
        pos += 8 + size + (size & 1)
    raise ValueError("%s has no data chunk" % path)


def check_counter_wav(path, rate, channels, total, label="", at_least=False):
    """Check a float32 WAV written from a synth:counter stream: its format,
    every one of total samples exactly once, and sample k carrying k (the
    counter wraps at 2^24), bit-exact. With at_least, total is a minimum:
    the file holds the start of the stream (a processor stopped mid-stream).
    Returns whether all held."""
    if not check(os.path.exists(path), "output exists", label, path):
        return False
    try:
        got_rate, got_channels, fmt, raw = read_wav(path)
    except (OSError, ValueError) as e:
        return check(False, "output is a WAV file", label, path, str(e))
    ok = check((got_rate, got_channels, fmt) == (rate, channels, "f32"), "WAV format", label, got_rate,
               got_channels, fmt)
    samples = struct.unpack("<%df" % (len(raw) // 4), raw)
    if at_least:
        ok = check(len(samples) >= total, "at least the samples expected arrived", label, len(samples), total) and ok
    else:
        ok = check(len(samples) == total, "every sample arrived, exactly once", label, len(samples), total) and ok
    bad = [k for k, v in enumerate(samples) if v != float(k & 0xFFFFFF)]
    return check(not bad, "sample k carries k (first mismatches)", label, bad[:5]) and ok


def check_processor_no_loss(node, label=""):
    """Check a processor's exit report: nothing lost in transit, nothing
    dropped from its queue."""
    out = node.output()
    return check("lost in transit 0" in out and "dropped (queue full) 0" in out, "processor counted no loss", label,
                 [line for line in out.splitlines() if "received" in line])


def write_wav(path, rate, channels, fmt, raw):
    """Write raw little-endian samples as a WAV (PCM16/32 or float32)."""
    tag, bits = {"s16": (1, 16), "s32": (1, 32), "f32": (3, 32)}[fmt]
    block_align = channels * bits // 8
    fmt_body = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt_body) + 8 + len(raw)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body)
        f.write(b"data" + struct.pack("<I", len(raw)) + raw)


# --- helpers for the CLI, refusal, plugin-error and garbage tests ---

def data_in_endpoint(broker_node):
    """The broker's data-in endpoint, from its log line."""
    line = _broker_log_line(broker_node, "data in ")
    return line.split("data in ")[1].split(",")[0].split()[0] if line else None


def run_capped(args, timeout=20, env=None):
    """Like run(), but a command still running after timeout seconds is
    killed and reported as status None instead of raising."""
    try:
        return run(args, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        _note_sanitizer_report("audiobus " + " ".join(args), text(e.stderr))
        return None, text(e.stdout), text(e.stderr)


def free_tcp_port(count=1):
    """A loopback TCP port P with P .. P + count - 1 all free right now
    (bound, then released); a broker given --bind on P takes P + 1 and P + 2
    too (count=3). Chosen below the kernel's ephemeral range: ports there
    are handed out to the outgoing connections of the tests running beside
    this one, and a port found free a moment ago may be taken by then."""
    import random
    import socket
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low = max(1024, min(20000, ephemeral_low - 10000))
    for _ in range(200):
        port = random.randrange(low, ephemeral_low - count)
        sockets = []
        try:
            for k in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port + k))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no %d free loopback TCP ports in a row below %d" % (count, ephemeral_low))


def endpoint_port(endpoint):
    """The port of a tcp://HOST:PORT endpoint, as an int."""
    return int(endpoint.rsplit(":", 1)[1])


def wait_exit(node, timeout):
    """Wait for a Node to exit; returns (status or None, seconds waited)."""
    start = time.time()
    status = node.wait(timeout)
    return status, time.time() - start
