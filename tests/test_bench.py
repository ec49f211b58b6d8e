"""`audiobus bench --quick --json`: the whole pipeline of the benchmark runs
end to end — a broker, a recorder and processors hosting the installed
bench_probe plugin, and the bare-ZeroMQ baseline, interleaved — and reports
a complete result with no block lost. No timing is asserted: speed is
judged from the benchmark itself (BENCHMARKS.md), not from a test."""
import json
import shutil
import signal
import subprocess
import time

import harness as h

work = h.setup()
status, out, err = h.run(["bench", "--quick", "--json"], timeout=300)
h.check(status == 0, "bench --quick exits 0", status, err[-3000:])
try:
    result = json.loads(out)
except ValueError as e:
    result = {}
    h.check(False, "stdout is one JSON object", e, out[-2000:], err[-2000:])

config = result.get("config", {})
h.check(config.get("streams") == 1 and config.get("processors") == 2, "quick is 1 stream x 2 processors", config)
h.check(config.get("rate") == 48000 and config.get("block") == 256, "default 48 kHz, 256-frame blocks", config)
h.check(config.get("transport") == "tcp" and config.get("baseline") is True, "tcp, with the baseline", config)
runs = result.get("runs", [])
kinds = [r.get("kind") for r in runs]
h.check(kinds == ["baseline", "audiobus"] * config.get("runs", 0) and len(runs) >= 2,
        "runs interleaved: baseline, audiobus, ...", kinds)

# 2 s of 48 kHz in 256-frame blocks is 375 blocks per stream, for each of 2 receivers.
expected_per_run = 375 * 2
latency_fields = ("p50_us", "p99_us", "p999_us", "max_us")
for i, r in enumerate(runs):
    what = "run %d (%s)" % (i + 1, r.get("kind"))
    h.check(r.get("ok") is True, what + ": every node started and exited cleanly", r)
    h.check(r.get("expected") == expected_per_run, what + ": blocks expected", r.get("expected"))
    h.check(r.get("received") == r.get("expected") and r.get("lost") == 0, what + ": no block lost",
            r.get("expected"), r.get("received"))
    h.check(r.get("out_of_order") == 0, what + ": every block in order", r.get("out_of_order"))
    for field in latency_fields:
        h.check(isinstance(r.get(field), (int, float)) and r[field] > 0, what + ": latency " + field, r.get(field))
    h.check(r["p50_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"], what + ": percentiles ordered",
            [r.get(f) for f in latency_fields])
    h.check(r.get("deliveries_per_s", 0) > 0, what + ": deliveries/s", r.get("deliveries_per_s"))
    roles = sorted(n.get("role") for n in r.get("nodes", []))
    want = (["processor", "processor", "recorder", "broker"] if r.get("kind") == "audiobus"
            else ["publisher", "relay", "subscriber", "subscriber"])
    h.check(roles == sorted(want), what + ": one entry per node", roles)
    for n in r.get("nodes", []):
        h.check(isinstance(n.get("cpu_percent"), (int, float)) and n["cpu_percent"] >= 0,
                what + ": CPU of " + str(n.get("name")), n)
        h.check(isinstance(n.get("rss_kb"), (int, float)) and n["rss_kb"] > 0,
                what + ": resident memory of " + str(n.get("name")), n)

for kind in ("audiobus", "baseline"):
    summary = result.get(kind) or {}
    h.check(summary.get("expected", 0) > 0 and summary.get("received") == summary.get("expected")
            and summary.get("lost") == 0, kind + ": no loss over all runs", summary.get("expected"),
            summary.get("received"))
    for field in latency_fields + ("deliveries_per_s",):
        spread = summary.get(field) or {}
        h.check(all(isinstance(spread.get(k), (int, float)) for k in ("median", "min", "max"))
                and spread["min"] <= spread["median"] <= spread["max"], kind + ": median and spread of " + field,
                spread)
    h.check(len(summary.get("nodes", [])) == 4, kind + ": per-node summary", summary.get("nodes"))
ratios = result.get("ratios") or {}
h.check(all(isinstance(ratios.get(k), (int, float)) and ratios[k] > 0 for k in ("p50", "p99", "deliveries_per_s")),
        "ratios audiobus / baseline", ratios)
h.check(result.get("ok") is True, "overall ok", result.get("ok"))

for r in runs:
    if r.get("kind") == "audiobus":
        capture = r.get("capture") or {}
        h.check(capture.get("overrun_frames") == 0 and capture.get("callbacks") == 0,
                "synthetic recorders: no capture overrun, no PortAudio callback", capture)


def bench_json(args, what):
    status, out, err = h.run(["bench", "--json"] + args, timeout=300)
    h.check(status == 0, what + ": exits 0", status, err[-3000:])
    try:
        return json.loads(out)
    except ValueError as e:
        h.check(False, what + ": stdout is one JSON object", e, out[-2000:], err[-2000:])
        return {}


# --speed and --capacity run as fast as the machine goes: a sanitizer's
# slowdown, not the code, would fail them (a slowed baseline subscriber drops
# blocks at its high-water mark; a search may find no speed kept up).
fast_checks = not h.skip_if_sanitized("bench --speed 20 and --capacity")
if fast_checks:
    # --speed: 1 s of a run at 20x real time is 20 s of audio a stream.
    fast = bench_json(["--speed", "20", "--duration", "1", "--runs", "1", "--processors", "1"], "bench --speed 20")
    fast_runs = fast.get("runs", [])
    h.check(len(fast_runs) == 2 and all(r.get("expected") == 3750 and r.get("lost") == 0 for r in fast_runs),
            "--speed 20: 3750 blocks a receiver, none lost, both kinds",
            [(r.get("kind"), r.get("expected"), r.get("received")) for r in fast_runs])
    h.check((fast.get("config") or {}).get("speed") == 20, "--speed is reported", fast.get("config"))

# Twelve streams: stream s1's receivers get s1 alone, not s10 and s11 too
# (topics are prefixes to ZeroMQ), in the baseline as in audiobus.
many = bench_json(["--streams", "12", "--duration", "0.5", "--runs", "1", "--processors", "1"], "bench --streams 12")
many_runs = many.get("runs", [])
h.check(len(many_runs) == 2 and all(r.get("expected") == 12 * 94 and r.get("received") == r.get("expected")
                                    and r.get("out_of_order") == 0 for r in many_runs),
        "--streams 12: every receiver gets its own stream's blocks, no other's",
        [(r.get("kind"), r.get("expected"), r.get("received"), r.get("out_of_order")) for r in many_runs])

if fast_checks:
    # --capacity: per kind, speeds double from --speed until a step fails, then
    # bisect between the best that kept up and the lowest that failed; the
    # capacity reported is the best step's deliveries/s.
    cap = bench_json(["--capacity", "--processors", "1", "--duration", "0.5", "--speed", "16"], "bench --capacity")
    steps = cap.get("steps", [])
    h.check(len(steps) >= 4, "--capacity made several steps", len(steps))
    for kind in ("baseline", "audiobus"):
        mine = [st for st in steps if st.get("kind") == kind]
        best, failed = 0.0, None
        for k, st in enumerate(mine):
            speed = st.get("speed", 0)
            if k == 0:
                h.check(speed == 16, kind + ": the search starts at --speed", speed)
            elif failed is None:
                h.check(abs(speed - 2 * best) < 1e-9, kind + ": doubles while every step keeps up", speed, best)
            else:
                h.check(best < speed < failed, kind + ": bisects between kept-up and failed", best, speed, failed)
            lost = st.get("expected", 0) - st.get("received", 0)
            h.check(st.get("kept_up") == (st.get("ok") is True and lost == 0
                                          and st.get("deliveries_per_s", 0) >= 0.95 * st.get("offered_per_s", 1)),
                    kind + ": kept_up means a clean run, no loss and >= 95% of the offered rate", st)
            if st.get("kept_up"):
                best = max(best, speed)
            else:
                failed = speed if failed is None else min(failed, speed)
        result = cap.get(kind) or {}
        kept = [st for st in mine if st.get("kept_up")]
        h.check(kept and result.get("speed") == max(st["speed"] for st in kept)
                and result.get("deliveries_per_s") == max(kept, key=lambda st: st["speed"])["deliveries_per_s"],
                kind + ": capacity is the fastest step that kept up", result, kept[-3:])
    h.check(isinstance(cap.get("ratio"), (int, float)) and cap["ratio"] > 0, "--capacity ratio", cap.get("ratio"))

# --jack: real PortAudio capture, paced by a dummy JACK server of bench's own.
if shutil.which("jackd") and shutil.which("jack_lsp"):
    jack = bench_json(["--jack", "--quick", "--runs", "1", "--duration", "1", "--no-baseline"], "bench --jack")
    jack_runs = jack.get("runs", [])
    r = jack_runs[0] if jack_runs else {}
    capture = r.get("capture") or {}
    h.check(r.get("lost") == 0 and r.get("expected") == 188 * 2, "--jack: every captured block delivered", r)
    h.check(capture.get("callbacks", 0) >= 150 and capture.get("callback_max_ns", 0) > 0
            and capture.get("overrun_frames") == 0, "--jack: the callback's own time is measured", capture)
    # Capture timestamps come from the stream clock mapped to the wall clock:
    # even the first block's must be a moment ago, not the epoch.
    h.check(0 < r.get("max_us", 0) < 1e6, "--jack: every block's capture time is less than 1 s old",
            r.get("max_us"))
    h.check("jack" in [n.get("role") for n in r.get("nodes", [])], "--jack: the JACK server is listed", r.get("nodes"))
else:
    print("bench --jack not tried: jackd2 is not installed")

# --inline and --queued: the processors run their plugin so, and the run
# says so; every block still arrives.
inl_blocks = 2 * -(-48000 // 256)  # 1 s a processor, the last block partial
for mode in ("inline", "queued"):
    inl = bench_json(["--" + mode, "--quick", "--runs", "1", "--duration", "1", "--no-baseline"], "bench --" + mode)
    inl_runs = inl.get("runs", [])
    config = inl.get("config") or {}
    h.check(config.get("processing") == mode and config.get("inline") is (mode == "inline"),
            "--%s is reported" % mode, config)
    h.check(len(inl_runs) == 1 and inl_runs[0].get("lost") == 0 and inl_runs[0].get("expected") == inl_blocks and
            inl_runs[0].get("received") == inl_blocks, "--%s: 2 processors x 188 blocks, none lost" % mode,
            [(r.get("kind"), r.get("expected"), r.get("received")) for r in inl_runs])

# Blocks longer than a plugin call takes (8192 frames) reach the probe in
# two calls each: still counted once, none lost, in order.
big = bench_json(["--block", "16384", "--duration", "2", "--runs", "1", "--processors", "1", "--no-baseline"],
                 "bench --block 16384")
big_runs = big.get("runs", [])
h.check(len(big_runs) == 1 and big_runs[0].get("expected") == 6 and big_runs[0].get("received") == 6
        and big_runs[0].get("lost") == 0 and big_runs[0].get("out_of_order") == 0 and big_runs[0].get("p50_us", -1) > 0,
        "--block 16384: 6 blocks of 2 calls each counted as 6, none lost, latencies positive",
        [(r.get("expected"), r.get("received"), r.get("out_of_order"), r.get("p50_us")) for r in big_runs])

# The text table says the same.
status, out, err = h.run(["bench", "--quick", "--runs", "1", "--duration", "0.5", "--transport", "ipc"], timeout=300)
h.check(status == 0, "bench over ipc exits 0", status, err[-3000:])
for text in ("baseline 1", "audiobus 1", "ratio audiobus / baseline", "0 lost", "broker broker", "relay relay"):
    h.check(text in out, "the table shows " + repr(text), out[-3000:])

# Ctrl-C at a terminal in the middle of a run: SIGINT reaches bench alone
# (its nodes run in process groups of their own), and bench stops the
# recorders and processors first, all at once, then the broker: each node
# can still tell the broker it leaves, so none has to be killed and each
# exits 0. (When the whole group got the SIGINT, the broker left at once and
# bench's own SIGTERM came to the nodes as a second signal: exit 130; when
# bench stopped the broker first, every recorder waited for it in vain until
# bench killed it.)
def bench_broker_endpoint(pid):
    """The control endpoint of the broker a running bench started, or None."""
    out = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True).stdout
    for line in out.splitlines():
        words = line.split()
        if "broker" in words and "--ready-file" in words:
            return h.read_ready_file(words[words.index("--ready-file") + 1])
    return None


stopped = h.Node(work, "bench-stopped", ["bench", "--streams", "3", "--processors", "2", "--duration", "60",
                                         "--runs", "1", "--no-baseline"], new_session=True)
h.check(h.wait_for(lambda: bench_broker_endpoint(stopped.pid), 60, 0.1), "bench started its broker",
        stopped.output()[-2000:])
stopped_ep = bench_broker_endpoint(stopped.pid)


def streams_flowing():
    try:
        listed = h.listing(stopped_ep)["streams"] if stopped_ep else []
    except RuntimeError:
        return False
    return sum(1 for x in listed if x.get("blocks", 0) > 0) == 3


h.check(h.wait_for(streams_flowing, 60, 0.2), "its three recorders are publishing")
stopped_status = stopped.interrupt(timeout=60)
stopped_out = stopped.output()
h.check(stopped_status == 1, "an interrupted bench exits 1", stopped_status, stopped_out[-2000:])
h.check("bench was stopped" in stopped_out, "it says it was stopped", stopped_out[-2000:])
h.check("killing it" not in stopped_out, "every node stopped when asked, none had to be killed",
        [line for line in stopped_out.splitlines() if "killing it" in line])
h.check("exited with status" not in stopped_out, "every node exited 0",
        [line for line in stopped_out.splitlines() if "exited with status" in line])

# Stopped during its first baseline run: the report has that run and no
# audiobus run, and says there is nothing to compare rather than a ratio of 0.
halted = h.Node(work, "bench-stopped-baseline", ["bench", "--processors", "1", "--duration", "60", "--runs", "1"],
                new_session=True)


def baseline_publishing():
    out = subprocess.run(["pgrep", "-P", str(halted.pid), "-f", "baseline-node publisher"], capture_output=True,
                         text=True).stdout
    return out.strip() != ""


h.check(h.wait_for(baseline_publishing, 60, 0.1), "the baseline run started", halted.output()[-2000:])
time.sleep(1)
halted_status = halted.interrupt(timeout=60)
halted_out = halted.output()
h.check(halted_status == 1, "an interrupted bench exits 1", halted_status, halted_out[-2000:])
h.check("baseline 1" in halted_out and "audiobus 1" not in halted_out, "the report has the baseline run only",
        halted_out[-2000:])
h.check("ratio audiobus / baseline: none" in halted_out and "0.00x" not in halted_out,
        "no ratio is made up without an audiobus run", halted_out[-2000:])

left = subprocess.run(["pgrep", "-f", "baseline-node|audiobus-bench|jackd -n bench"], capture_output=True,
                      text=True).stdout
h.check(left.strip() == "", "no node left running", left)
h.finish()
