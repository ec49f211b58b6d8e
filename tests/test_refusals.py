"""The broker refuses what would break the registry, and refusals leave the
nodes already registered alone: a second node with a name in use, a second
recorder for a stream that has one. A processor that says goodbye leaves the
listing at once, and its name can be used again."""
import signal
import time

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)

rec1 = h.Node(work, "rec1", ["record", "--broker", ep, "--stream", "mic1", "--source", "synth:sine", "--speed", "1",
                             "--name", "rec1"])
lvl = h.Node(work, "lvl", ["process", "--broker", ep, "--stream", "mic1", "--plugin", "level", "--name", "lvl",
                           "--param", "interval=0"])
h.check(h.wait_linked(ep, ["lvl"]), "processor lvl linked", lvl.output()[-1000:])


def stream_grows(since, timeout=5):
    """Wait until mic1 has more blocks than `since`; returns its entry."""
    entry = [None]

    def grown():
        entry[0] = h.stream_entry(ep, "mic1")
        return entry[0] is not None and entry[0]["blocks"] > since
    h.wait_for(grown, timeout)
    return entry[0]


def consistent(entry, what):
    """mic1 has no gap and blocks == last_seq + 1: every block since seq 0
    arrived once, none lost, no restart (a second publisher restarting the
    numbering would break the equality or count gaps)."""
    h.check(entry is not None and entry["gaps"] == 0, what + ": no gap on mic1", entry)
    h.check(entry is not None and entry["blocks"] == entry["last_seq"] + 1,
            what + ": blocks == last_seq + 1 (no restart, no loss)", entry)
    h.check(entry is not None and entry["publisher"] == "rec1", what + ": rec1 still publishes mic1", entry)


before = stream_grows(0)
h.check(before is not None and before["blocks"] > 0, "mic1 flows", before)
consistent(before, "before the refusals")
lvl_node = h.node_entry(ep, "lvl")
rec_node = h.node_entry(ep, "rec1")

# ---- a name already in use --------------------------------------------------
status, out, err = h.run_capped(["process", "--broker", ep, "--stream", "mic1", "--plugin", "level", "--name", "lvl"],
                                timeout=20)
h.check(status not in (0, None), "a second processor named lvl is refused (non-zero exit, no hang)", status)
text = out + err
h.check('"lvl"' in text and "already registered" in text and "--name" in text,
        "the refusal names the node and says to choose another --name", text[-800:])
h.check(str(lvl.pid) in text, "the refusal says which process holds the name", lvl.pid, text[-800:])

# The name is taken across roles: a recorder may not take a processor's name.
status, out, err = h.run_capped(["record", "--broker", ep, "--stream", "other", "--source", "synth:sine",
                                 "--name", "lvl", "--duration", "5"], timeout=20)
text = out + err
h.check(status not in (0, None) and '"lvl"' in text and "already registered" in text,
        "a recorder named lvl is refused too", status, text[-800:])
h.check(h.stream_entry(ep, "other") is None or h.stream_entry(ep, "other")["blocks"] == 0,
        "the refused recorder published nothing", h.stream_entry(ep, "other"))

now = h.node_entry(ep, "lvl")
h.check(now is not None and now["linked"], "lvl is still listed and linked after the refusals", now)
h.check(now is not None and lvl_node is not None and now["session"] == lvl_node["session"] and now["pid"] == lvl.pid,
        "lvl keeps its registration (same session and pid)", lvl_node, now)
h.check(lvl.proc.poll() is None, "lvl still runs", lvl.output()[-500:])

# ---- a second recorder for mic1 ----------------------------------------------
mid = h.stream_entry(ep, "mic1")
status, out, err = h.run_capped(["record", "--broker", ep, "--stream", "mic1", "--source", "synth:sine",
                                 "--speed", "1", "--name", "rec2"], timeout=20)
text = out + err
h.check(status not in (0, None), "a second recorder for mic1 is refused (non-zero exit, no hang)", status)
h.check('"mic1"' in text and '"rec1"' in text and "already published" in text,
        "the refusal names the stream and the node publishing it", text[-800:])
h.check(h.node_entry(ep, "rec2") is None, "rec2 is not registered", h.node_entry(ep, "rec2"))
now = h.node_entry(ep, "rec1")
h.check(now is not None and rec_node is not None and now["session"] == rec_node["session"],
        "rec1 keeps its registration", rec_node, now)

# mic1 keeps flowing from rec1 alone: more blocks, still no gap or restart,
# and the processor saw none either.
after = stream_grows(mid["blocks"] if mid else 0)
h.check(after is not None and mid is not None and after["blocks"] > mid["blocks"],
        "mic1 keeps growing after the refusal", mid, after)
consistent(after, "after the refused recorder")
time.sleep(1.2)  # one heartbeat: the processor's counters reach the listing
later = stream_grows(after["blocks"] if after else 0)
consistent(later, "a second later")
stats = h.node_entry(ep, "lvl")["stats"]
h.check(stats.get("blocks", 0) > 0 and stats.get("gaps", 1) == 0 and stats.get("bad", 1) == 0,
        "the processor received mic1 with no gap and nothing bad", stats)

# ---- goodbye ----------------------------------------------------------------
# SIGTERM: the processor says bye before it exits, so the broker forgets it at
# once; without bye it would stay listed for 3 heartbeats (3 s).
lvl.proc.send_signal(signal.SIGTERM)
status, _ = h.wait_exit(lvl, 10)
exited_at = time.time()
h.check(status == 0, "the processor exits 0 on SIGTERM", status, lvl.output()[-800:])
gone = h.wait_for(lambda: h.node_entry(ep, "lvl") is None, 0.5, interval=0.02)
h.check(gone, "lvl left the listing within 0.5 s of its exit", time.time() - exited_at, h.node_entry(ep, "lvl"))
h.check("did not acknowledge" not in lvl.output(), "the broker acknowledged the goodbye", lvl.output()[-500:])
h.check(h.node_entry(ep, "rec1") is not None, "rec1 is unaffected by lvl leaving")

# ---- the name is free again ----------------------------------------------------
lvl2 = h.Node(work, "lvl2", ["process", "--broker", ep, "--stream", "mic1", "--plugin", "level", "--name", "lvl",
                             "--param", "interval=0"])
h.check(h.wait_linked(ep, ["lvl"]), "a new processor named lvl is accepted and linked", lvl2.output()[-800:])
again = h.node_entry(ep, "lvl")
h.check(again is not None and again["pid"] == lvl2.pid, "the listed lvl is the new process", again, lvl2.pid)
h.check(again is not None and lvl_node is not None and again["session"] != lvl_node["session"],
        "with a new session", again, lvl_node)
h.check(h.wait_for(lambda: (h.node_entry(ep, "lvl") or {}).get("stats", {}).get("blocks", 0) > 0, 5),
        "the new lvl receives mic1", h.node_entry(ep, "lvl"))
consistent(h.stream_entry(ep, "mic1"), "at the end")

h.check(lvl2.stop() == 0, "the new lvl exits 0", lvl2.output()[-500:])
h.check(rec1.stop() == 0, "rec1 exits 0 on SIGTERM", rec1.output()[-500:])
h.finish()
