"""`audiobus bench --quick --json`: the whole pipeline of the benchmark runs
end to end — a broker, a recorder and processors hosting the installed
bench_probe plugin, and the bare-ZeroMQ baseline, interleaved — and reports
a complete result with no block lost. No timing is asserted: speed is
judged from the benchmark itself (BENCHMARKS.md), not from a test."""
import json
import subprocess

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

# The text table says the same.
status, out, err = h.run(["bench", "--quick", "--runs", "1", "--duration", "0.5", "--transport", "ipc"], timeout=300)
h.check(status == 0, "bench over ipc exits 0", status, err[-3000:])
for text in ("baseline 1", "audiobus 1", "ratio audiobus / baseline", "0 lost", "broker broker", "relay relay"):
    h.check(text in out, "the table shows " + repr(text), out[-3000:])

left = subprocess.run(["pgrep", "-f", "baseline-node|audiobus-bench"], capture_output=True, text=True).stdout
h.check(left.strip() == "", "no node left running", left)
h.finish()
