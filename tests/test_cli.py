"""The audiobus command line: help texts, usage errors (exit 2 naming the
option and value), source errors, and --config files merged under the
command line."""
import json
import os

import harness as h

work = h.setup()


def said(text, *needles):
    """True when every needle occurs in text."""
    return all(n in text for n in needles)


# ---- help ---------------------------------------------------------------
# Each subcommand's --help exits 0 on stdout and names the options a user
# needs first; a help that lost an option, or failed, breaks this.
COMMON = ["--config", "--log-level", "--log-format", "--help"]
HELP = {
    "broker": ["--bind", "--data-in", "--data-out", "--heartbeat-ms", "--hwm", "--ready-file"],
    "record": ["--broker", "--stream", "--source", "--rate", "--channels", "--block", "--format", "--speed",
               "--duration", "--list-devices", "--name", "portaudio", "file:", "synth:"],
    "process": ["--broker", "--stream", "--plugin", "--param", "--name", "--exit-at-end", "AUDIOBUS_PLUGIN_PATH"],
    "ls": ["--broker", "--json", "--timeout-ms"],
    "demo": ["--duration", "--source"],
    "play": ["--broker", "--stream", "--device", "--latency", "--host-api", "--exit-at-end", "--list-devices"],
    "latency": ["--device", "--host-api", "--rate", "--block", "--count", "--json", "--through-broker"],
}
for command, options in HELP.items():
    for flag in ("--help", "-h"):
        status, out, err = h.run_capped([command, flag], timeout=10)
        h.check(status == 0, "%s %s exits 0" % (command, flag), status, err)
        h.check(out.startswith("usage: audiobus " + command), "%s %s prints its usage on stdout" % (command, flag),
                out[:200])
        missing = [o for o in options + COMMON if o not in out]
        h.check(not missing, "%s %s mentions its key options (missing ones)" % (command, flag), missing)

status, out, err = h.run_capped(["--help"], timeout=10)
h.check(status == 0, "audiobus --help exits 0", status, err)
h.check(all(c in out for c in HELP), "audiobus --help lists every subcommand", out)
status, out, err = h.run_capped([], timeout=10)
h.check(status == 2 and all(c in err for c in HELP), "audiobus alone exits 2 and lists the subcommands on stderr",
        status, err)
status, out, err = h.run_capped(["--version"], timeout=10)
h.check(status == 0 and out.startswith("audiobus "), "audiobus --version", status, out)

# With --plugin, process --help also describes the plugin's parameters.
plugin_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(h.AUDIOBUS))), "plugins")
if os.path.exists(os.path.join(plugin_dir, "level.so")):
    status, out, err = h.run_capped(["process", "--plugin", "level", "--help"], timeout=10)
    h.check(status == 0 and said(out, "plugin level", "interval", "publish"),
            "process --plugin level --help lists the plugin's parameters", status, out[-600:], err)

# ---- usage errors -------------------------------------------------------
# A usage error exits 2 before anything connects, with one line naming the
# option and the bad value. The broker endpoint given is a live broker of
# this test, so a check that stopped refusing a value would show as a
# different status (or a timeout), never as a hang on a default port.
broker, ep = h.start_broker(work)


def usage_error(args, *needles, what=None):
    status, out, err = h.run_capped(args, timeout=15)
    what = what or " ".join(args)
    h.check(status == 2, "exit 2 for: " + what, status, err)
    h.check(said(err, *needles), "the message names %r for: %s" % (needles, what), err)
    h.check(err.count("\n") <= 3, "a short message for: " + what, err)


REC = ["record", "--broker", ep, "--stream", "clitest", "--source", "synth:sine", "--duration", "0.1"]
usage_error(REC + ["--rate", "abc"], "--rate", '"abc"')
usage_error(REC + ["--rate", "10"], "--rate", '"10"')
usage_error(["record", "--broker", ep, "--stream", "clitest", "--source", "synth:sine", "--duration", "-1"],
            "--duration", '"-1"')
usage_error(["record", "--broker", ep, "--stream", "clitest", "--source", "synth:sine", "--duration", "0"],
            "--duration", '"0"')
usage_error(REC + ["--format", "f64"], "--format", '"f64"', "f32")
usage_error(REC + ["--block", "0"], "--block", '"0"')
usage_error(REC + ["--block", "1x"], "--block", '"1x"')
usage_error(REC + ["--channels", "0"], "--channels", '"0"')
usage_error(REC + ["--channels", "257"], "--channels", '"257"')
usage_error(REC + ["--speed", "fast"], "--speed", '"fast"')
usage_error(REC + ["--ring", "-3"], "--ring", '"-3"')
usage_error(["record", "--broker", ep, "--source", "synth:sine", "--duration", "0.1"], "--stream", "required",
            what="record without --stream")
usage_error(REC + ["--bogus"], "--bogus", what="record --bogus")
usage_error(REC + ["stray"], '"stray"', what="record with a stray argument")
usage_error(REC + ["--rate"], "--rate", what="record --rate without a value")
usage_error(["broker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "5"], "--heartbeat-ms", '"5"')
usage_error(["broker", "--bind", "tcp://127.0.0.1:*", "--hwm", "0"], "--hwm", '"0"')
usage_error(["broker", "--bind", "tcp://127.0.0.1:*", "--bogus"], "--bogus", what="broker --bogus")
usage_error(["ls", "--broker", ep, "--timeout-ms", "0"], "--timeout-ms", '"0"')
usage_error(["ls", "--broker", ep, "--timeout-ms", "soon"], "--timeout-ms", '"soon"')
usage_error(["ls", "--broker", ep, "--bogus"], "--bogus", what="ls --bogus")
usage_error(["ls", "--broker", ep, "stray"], '"stray"', what="ls with a stray argument")
usage_error(["process", "--broker", ep, "--stream", "clitest", "--plugin", "level", "--queue-mb", "0"],
            "--queue-mb", '"0"')
usage_error(["process", "--broker", ep, "--stream", "clitest", "--plugin", "level", "--param", "interval"],
            "--param", '"interval"', "KEY=VALUE")
usage_error(["process", "--broker", ep, "--stream", "clitest", "--plugin", "level", "--param", "=1"],
            "--param", '"=1"')
usage_error(["process", "--broker", ep, "--plugin", "level"], "--stream", "required", what="process without --stream")
usage_error(["process", "--broker", ep, "--stream", "clitest"], "--plugin", "required",
            what="process without --plugin")
usage_error(["demo", "--duration", "0"], "--duration", '"0"')
usage_error(["demo", "--bogus"], "--bogus", what="demo --bogus")
for command in ("broker", "record", "process", "ls", "demo", "play", "latency"):
    usage_error([command, "--log-level", "nonsense"], "log level", '"nonsense"', what=command + " --log-level nonsense")
status, out, err = h.run_capped(["nosuch"], timeout=10)
h.check(status == 2 and said(err, '"nosuch"', "--help"), "audiobus nosuch exits 2 naming the command", status, err)

# ---- source errors --------------------------------------------------------
# These pass the usage checks and fail when the source is opened: not 2,
# non-zero, with a message that says what is accepted or what to do.
status, out, err = h.run_capped(["record", "--broker", ep, "--stream", "clitest", "--source", "nosuch:x",
                                 "--duration", "0.1"], timeout=20)
h.check(status not in (0, 2, None), "record --source nosuch:x fails (not a usage error, no hang)", status, err)
h.check(said(err, '"nosuch:x"', "file:", "synth:"), "the message names the source and the accepted kinds", err)

status, out, err = h.run_capped(["record", "--broker", ep, "--stream", "clitest", "--source", "file:" +
                                 os.path.join(work, "absent.wav"), "--duration", "0.1"], timeout=20)
h.check(status not in (0, 2, None), "record --source file:ABSENT fails", status, err)
h.check("absent.wav" in err, "the message names the missing file", err)

# On a machine without an input device, portaudio must say what to do
# instead; with one (a developer's laptop) the check does not apply.
status, out, err = h.run_capped(["record", "--list-devices"], timeout=20)
h.check(status == 0, "record --list-devices exits 0", status, err)
if "no default input device" in out:
    status, out, err = h.run_capped(["record", "--broker", ep, "--stream", "clitest", "--source", "portaudio",
                                     "--duration", "0.1"], timeout=20)
    h.check(status not in (0, 2, None), "record --source portaudio fails without a sound card", status, err)
    h.check("--list-devices" in err or "file:" in err, "the message says what to do instead", err)
    h.check(err.count("\n") <= 4, "the PortAudio failure is a short message, not library noise", err)
else:
    print("this machine has an input device: the no-sound-card check is skipped")
h.check(h.listing(ep)["nodes"] == [], "the failed recorders left no node registered", h.listing(ep)["nodes"])

# ---- --config files ---------------------------------------------------------
# The keys of the paper's server_info.json: SERVER and PORT make the broker
# endpoint, the framing keys are accepted and ignored, logging_* set the log.
port = h.endpoint_port(ep)


def write_config(name, obj):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


paper = write_config("server_info.json", {
    "SERVER": "127.0.0.1", "PORT": port, "HEADER": 64, "FORMAT": "utf-8", "DISCONNECT_MSG": "DISCONNECT",
    "logging_level": "info", "logging_format": "%(asctime)s-%(message)s"})
status, out, err = h.run_capped(["ls", "--config", paper, "--json", "--timeout-ms", "3000"], timeout=15)
h.check(status == 0, "ls --config server_info.json reaches the broker on PORT", status, err)
try:
    listed = json.loads(out)
    h.check("broker" in listed and "nodes" in listed, "the listing came from that broker", listed)
except ValueError:
    h.check(False, "ls --config --json prints JSON", out)
status, out, err = h.run_capped(["ls", "--config=" + paper, "--timeout-ms", "3000"], timeout=15)
h.check(status == 0 and "NODE" in out, "--config=FILE works too", status, err)

# Without a reachable port in the config the same command fails, so the
# success above was the config's doing and not a default.
wrong_port = h.free_tcp_port()
wrong = write_config("wrong_port.json", {"SERVER": "127.0.0.1", "PORT": wrong_port})
status, out, err = h.run_capped(["ls", "--config", wrong, "--timeout-ms", "500"], timeout=15)
h.check(status == 1 and str(wrong_port) in err, "a config with a dead port fails naming it", status, err)
# The command line wins over the config.
status, out, err = h.run_capped(["ls", "--config", wrong, "--broker", ep, "--timeout-ms", "3000"], timeout=15)
h.check(status == 0, "--broker on the command line overrides the config's SERVER/PORT", status, err)
status, out, err = h.run_capped(["ls", "--broker", ep, "--config", wrong, "--timeout-ms", "3000"], timeout=15)
h.check(status == 0, "... also when --broker comes before --config", status, err)
levels = write_config("levels.json", {"SERVER": "127.0.0.1", "PORT": port, "logging_level": "nonsense"})
status, out, err = h.run_capped(["ls", "--config", levels, "--timeout-ms", "3000"], timeout=15)
h.check(status == 2 and said(err, '"nonsense"'), "a bad logging_level in the config exits 2 naming it", status, err)

# Keys unknown to the subcommand are refused, naming the key.
for command, obj, key in (
        ("ls", {"SERVER": "127.0.0.1", "PORT": port, "stream": "mic1"}, "stream"),
        ("ls", {"bogus_key": 1}, "bogus_key"),
        ("record", {"plugin": "level"}, "plugin"),
        ("process", {"source": "synth:sine"}, "source"),
        ("broker", {"json": True}, "json")):
    path = write_config("unknown_%s_%s.json" % (command, key), obj)
    status, out, err = h.run_capped([command, "--config", path], timeout=15)
    h.check(status == 2 and said(err, '"%s"' % key, path), "%s --config refuses key %s naming it" % (command, key),
            status, err)

# Values of the wrong JSON type, unreadable files and non-objects: exit 2.
for name, text, needle in (
        ("flag_type.json", json.dumps({"json": "yes"}), '"json"'),
        ("array.json", json.dumps([1, 2]), "object"),
        ("broken.json", '{"SERVER": "127.0.0.1",', "broken.json")):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    status, out, err = h.run_capped(["ls", "--config", path, "--timeout-ms", "500"], timeout=15)
    h.check(status == 2 and needle in err, "ls --config %s exits 2 saying why" % name, status, err)
status, out, err = h.run_capped(["ls", "--config", os.path.join(work, "absent.json")], timeout=15)
h.check(status == 2 and "absent.json" in err, "a missing config file exits 2 naming it", status, err)

# A config drives a real recorder: the broker from SERVER/PORT, the stream,
# source and duration from long-option keys, and the log format from
# logging_format (every log line starts with the marker).
rec_cfg = write_config("record.json", {
    "SERVER": "127.0.0.1", "PORT": port, "HEADER": 64, "FORMAT": "utf-8", "DISCONNECT_MSG": "DISCONNECT",
    "logging_level": "info", "logging_format": "CFGLOG %(levelname)s %(message)s",
    "stream": "fromconfig", "source": "synth:sine", "duration": 0.25, "speed": 10, "block": 128})
status, out, err = h.run_capped(["record", "--config", rec_cfg], timeout=30)
h.check(status == 0, "record --config runs to its configured duration", status, err[-800:])
lines = [l for l in (out + err).splitlines() if l.strip()]
h.check(lines and all(l.startswith("CFGLOG ") for l in lines), "logging_format applies to every log line",
        lines[:5])
s = h.stream_entry(ep, "fromconfig")
h.check(s is not None and s["blocks"] > 0 and s["gaps"] == 0, "the configured stream reached the broker", s)
# 0.25 s of 48 kHz in 128-frame blocks: 94 audio blocks plus the end marker.
h.check(s is not None and s["blocks"] == 94 + 1, "the configured --block and --duration took effect",
        s and s["blocks"])
# The command line overrides a config value.
status, out, err = h.run_capped(["record", "--config", rec_cfg, "--stream", "fromcli", "--log-level", "warn"],
                                timeout=30)
h.check(status == 0 and h.stream_entry(ep, "fromcli") is not None, "--stream on the command line wins", status,
        err[-500:])
h.check(not any(" INFO " in l for l in (out + err).splitlines()), "--log-level warn wins over logging_level info",
        err[-500:])

h.finish()
