"""Broken plugins and bad plugin parameters are refused with a message that
names the plugin, the problem and the fix; a plugin that crashes or fails
once the stream flows takes down only its own processor, while another
processor on the same stream and the broker carry on."""
import os
import sys
import time

import harness as h

work = h.setup()
args = sys.argv[1:]
PLUGINS = os.path.abspath(args[args.index("--plugins") + 1]) if "--plugins" in args else ""
if not os.path.isdir(PLUGINS):
    sys.exit("usage: %s --bin PATH/TO/audiobus --plugins BUILD/test-plugins" % sys.argv[0])

broker, ep = h.start_broker(work)


def refused(plugin, *needles, params=(), env=None, what=None):
    """Run a processor that must be refused before it registers."""
    cmd = ["process", "--broker", ep, "--stream", "mic1", "--plugin", plugin, "--name", "refusee"]
    for p in params:
        cmd += ["--param", p]
    status, out, err = h.run_capped(cmd, timeout=20, env=env)
    what = what or plugin
    h.check(status not in (0, None), "refused: " + what, status, err)
    h.check(status != 2, "a plugin problem is not a usage error (exit 1): " + what, status)
    missing = [n for n in needles if n not in err]
    h.check(not missing, "the message for %s says (missing parts)" % what, missing, err)
    h.check(err.count("\n") <= 2, "one short message for " + what, err)
    h.check(h.node_entry(ep, "refusee") is None, "nothing registered for " + what)
    return err


def plugin_path(name):
    return os.path.join(PLUGINS, name + ".so")


# ---- refused at load ------------------------------------------------------
# Each message: the plugin (path), what is wrong, and what to do about it.
refused(plugin_path("bad_abi"), plugin_path("bad_abi"), "incompatible ABI", "2.0", "rebuild")
refused(plugin_path("no_symbol"), plugin_path("no_symbol"), 'no "audiobus_plugin" symbol', "AB_PLUGIN_EXPORT",
        "ab_plugin.h")
refused(plugin_path("missing_fn"), plugin_path("missing_fn"), "missing", "process", "required")
refused(plugin_path("short_struct"), plugin_path("short_struct"), "struct_size 12",
        "sizeof(ab_plugin_descriptor_t)")

# Not a shared object at all, and a path that does not exist.
junk = os.path.join(work, "junk.so")
with open(junk, "w") as f:
    f.write("this is not an ELF file\n")
refused(junk, junk, "cannot load")
refused(os.path.join(work, "absent.so"), "absent.so", "cannot load", what="a missing path")

# By name: found through AUDIOBUS_PLUGIN_PATH, and checked the same way.
refused("bad_abi", plugin_path("bad_abi"), "incompatible ABI", env={"AUDIOBUS_PLUGIN_PATH": PLUGINS},
        what="bad_abi by name via AUDIOBUS_PLUGIN_PATH")
# An unknown name lists every place searched and how to add one.
extra_dir = os.path.join(work, "my-plugins")
os.mkdir(extra_dir)
err = refused("nosuchplugin", '"nosuchplugin" not found', "searched", extra_dir, PLUGINS, "AUDIOBUS_PLUGIN_PATH",
              env={"AUDIOBUS_PLUGIN_PATH": extra_dir + ":" + PLUGINS}, what="an unknown plugin name")
exe_dir = os.path.dirname(os.path.realpath(h.AUDIOBUS))
h.check(exe_dir + "/../plugins" in err, "the plugins/ directory beside the executable's is searched too", err)

# ---- refused parameters ------------------------------------------------------
refused("level", '"level"', '"nosuch"', "known: interval, publish", params=["nosuch=1"], what="an unknown --param")
refused("wavwrite", '"wavwrite"', '"colour"', "path", params=["path=" + os.path.join(work, "x.wav"), "colour=red"],
        what="an unknown --param after a good one")
refused("level", '"level"', "interval", '"abc"', params=["interval=abc"], what="level interval=abc")
refused("level", '"level"', "publish", params=["publish=maybe"], what="level publish=maybe")
refused("wavwrite", '"wavwrite"', "path", "path=", what="wavwrite without path")
refused(plugin_path("bad_abi"), "incompatible ABI", params=["nosuch=1"], what="a bad plugin with a param")
h.check(not os.path.exists(os.path.join(work, "x.wav")), "a refused wavwrite created no file")

# ---- failing once the stream flows -------------------------------------------
# A live stream, a well-behaved processor on it, then the bad ones beside it.
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "mic1", "--source", "synth:sine", "--speed", "1",
                           "--name", "rec"])
good = h.Node(work, "good", ["process", "--broker", ep, "--stream", "mic1", "--plugin", "level", "--name", "good",
                             "--param", "interval=0"])
h.check(h.wait_linked(ep, ["good"]), "the good processor linked", good.output()[-800:])
h.check(h.wait_for(lambda: (h.node_entry(ep, "good") or {}).get("stats", {}).get("blocks", 0) > 0, 5),
        "the good processor receives mic1", h.node_entry(ep, "good"))

crash = h.Node(work, "crash", ["process", "--broker", ep, "--stream", "mic1", "--plugin", plugin_path("crash"),
                               "--name", "crasher"])
status = crash.wait(20)
out = crash.output()
h.check(status not in (0, None), "the crashing processor exits non-zero", status, out[-800:])
h.check('"crash"' in out and plugin_path("crash") in out and "crashed" in out,
        "it says which plugin crashed, with its path", out[-800:])
h.check("unaffected" in out, "and that the rest of the system is unaffected", out[-800:])

# The same with the plugin on the receive thread (--inline), where a failure
# must stop processing as well, without a processing thread to stop.
for mode in ([], ["--inline"]):
    what = " (inline)" if mode else ""
    fails = h.Node(work, "fails" + what.strip(" ()"), ["process", "--broker", ep, "--stream", "mic1", "--plugin",
                                                        plugin_path("fails"), "--name", "failer"] + mode)
    status = fails.wait(20)
    out = fails.output()
    h.check(status not in (0, None), "the failing processor exits non-zero" + what, status, out[-800:])
    h.check("fails" in out and "disk quota exceeded" in out and "free some space" in out,
            "it reports the plugin's own message, with the plugin's name" + what, out[-800:])
    # fail() is an orderly stop: it says goodbye, so the broker forgets it at once.
    h.check(h.node_entry(ep, "failer") is None, "the failed processor left the listing" + what,
            h.node_entry(ep, "failer"))

# The broker still answers, and the good processor kept receiving through it
# all: its block count grows across heartbeats, with no gap and nothing bad.
first = h.node_entry(ep, "good")
time.sleep(2.3)
second = h.node_entry(ep, "good")
h.check(first is not None and second is not None, "the good processor is still listed", first, second)
if first and second:
    h.check(second["stats"]["blocks"] > first["stats"]["blocks"], "its block count keeps increasing",
            first["stats"], second["stats"])
    h.check(second["stats"].get("gaps", 1) == 0 and second["stats"].get("dropped", 1) == 0 and
            second["stats"].get("bad", 1) == 0, "with no gap, drop or bad block", second["stats"])
    h.check(second["linked"], "and still linked", second)
stream = h.stream_entry(ep, "mic1")
h.check(stream is not None and stream["gaps"] == 0 and stream["blocks"] == stream["last_seq"] + 1,
        "the broker relayed mic1 without a gap", stream)
# The crashed processor sent no bye; the broker forgets it after its heartbeats.
h.check(h.wait_for(lambda: h.node_entry(ep, "crasher") is None, 5), "the crashed processor expires from the listing",
        h.node_entry(ep, "crasher"))
h.check(good.proc.poll() is None and rec.proc.poll() is None and broker.proc.poll() is None,
        "recorder, good processor and broker still run")
h.check(good.stop() == 0, "the good processor exits 0", good.output()[-500:])
h.check(rec.stop() == 0, "the recorder exits 0", rec.output()[-500:])
h.finish()
