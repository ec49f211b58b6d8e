"""Processors joining and leaving all the time do not disturb the one that
stays. A real-time synth:counter stream runs for 12 s; one wavwrite processor
("stay") is there from before the first block to after the last; meanwhile
50 level processors (distinct names) join mid-stream and leave a few at a
time (at most 8 alive at once on a 2-core machine), most with SIGTERM, every
seventh with SIGKILL.

Checks: the broker keeps answering and exits 0 on SIGTERM at the end; the
staying processor's WAV is complete and bit-exact and it counted no loss;
the broker saw no gap; every churning processor processed blocks; every
SIGTERMed one exited 0 after saying goodbye; every SIGKILLed one is
forgotten by the broker within its heartbeat timeout (3 x 1 s); at the end
`ls` lists only the staying processor.
"""
import os
import random
import signal
import time

import harness as h

work = h.setup()
RATE, BLOCK, SECONDS = 48000, 256, 12
# The churn must happen while the stream runs; in a sanitizer build each
# processor starts and stops several times slower (the churn takes ~15-30 s).
SECONDS = 40 if h.SANITIZED else SECONDS
N_CHURN, MAX_ALIVE = 50, 8
KILL_EVERY = 7                    # churn-03, churn-10, ... leave with SIGKILL
LAUNCH_GAP = 0.15                 # s between two joins: 50 joins in ~7.5 s
LIFE = (0.3, 1.2)                 # s a churning processor stays once running
FORGET_WITHIN = 4.0               # heartbeat timeout 3 s + expiry tick + ls polling
rng = random.Random(20240601)

broker, ep = h.start_broker(work)
wav = os.path.join(work, "stay.wav")
stay = h.Node(work, "stay", ["process", "--broker", ep, "--stream", "mic", "--plugin", "wavwrite",
                             "--name", "stay", "--param", "path=" + wav])
h.check(h.wait_linked(ep, ["stay"]), "the staying processor is linked before the recorder starts")
rec = h.Node(work, "rec", ["record", "--broker", ep, "--stream", "mic", "--source", "synth:counter",
                           "--rate", str(RATE), "--block", str(BLOCK), "--duration", str(SECONDS),
                           "--speed", "1", "--name", "rec"])
t0 = time.time()


class Churner:
    def __init__(self, i):
        self.name = "churn-%02d" % i
        self.kill = i % KILL_EVERY == KILL_EVERY - 4
        self.life = rng.uniform(*LIFE)
        self.node = h.Node(work, self.name, ["process", "--broker", ep, "--stream", "mic", "--plugin", "level",
                                             "--name", self.name, "--param", "publish=0", "--param", "interval=0"])
        self.started = time.time()
        self.running_since = None   # when its log says it processes the stream
        self.stopped_at = None
        self.forgotten_after = None  # s from SIGKILL until it was gone from `ls`

    def alive(self):
        return self.node.proc.poll() is None


churners, launched = [], 0
broker_answers = []


def poll_ls():
    """One `ls`: note when each SIGKILLed processor is gone from it. True
    once every SIGKILLed one is gone."""
    now = time.time()
    try:
        names = {n["name"] for n in h.listing(ep)["nodes"]}
        broker_answers.append(True)
    except Exception as e:  # noqa: BLE001 - reported as a failed check below
        broker_answers.append(False)
        print("ls failed at %.1f s: %s" % (now - t0, e))
        return False
    for c in churners:
        if c.kill and c.stopped_at is not None and c.forgotten_after is None and c.name not in names:
            c.forgotten_after = now - c.stopped_at
    return all(c.forgotten_after is not None for c in churners if c.kill)


peak_alive = 0
last_ls = 0.0
while launched < N_CHURN or any(c.stopped_at is None for c in churners):
    now = time.time()
    alive = [c for c in churners if c.alive()]
    peak_alive = max(peak_alive, len(alive))
    # Joins on a schedule (one every LAUNCH_GAP), held back while MAX_ALIVE run.
    while launched < N_CHURN and len(alive) < MAX_ALIVE and now - t0 >= launched * LAUNCH_GAP:
        churners.append(Churner(launched))
        alive.append(churners[-1])
        launched += 1
    for c in churners:
        if c.stopped_at is not None:
            continue
        if c.running_since is None and "processing stream" in c.node.output():
            c.running_since = now
        if c.running_since is None and now - c.started > 15:
            h.check(False, "a churning processor starts within 15 s", c.name, c.node.output()[-800:])
            c.stopped_at = now
            c.node.stop(signal.SIGKILL)
        elif c.running_since is not None and now - c.running_since >= c.life:
            c.node.proc.send_signal(signal.SIGKILL if c.kill else signal.SIGTERM)
            c.stopped_at = now
    if now - last_ls >= 0.5:
        last_ls = now
        poll_ls()
    time.sleep(0.05)
t_churn = time.time() - t0
stream_running = rec.proc.poll() is None
# SIGKILLed processors: forgotten within the heartbeat timeout of their kill.
h.wait_for(poll_ls, FORGET_WITHIN + 2, 0.2)
print("%d processors joined and left in %.1f s (at most %d alive at once, %d SIGKILLed)"
      % (len(churners), t_churn, peak_alive, sum(c.kill for c in churners)))
startups = sorted(c.running_since - c.started for c in churners if c.running_since is not None)
if startups:
    print("time from start to processing: median %.2f s, max %.2f s"
          % (startups[len(startups) // 2], startups[-1]))
h.check(all(broker_answers), "the broker answered every `ls` during the churn",
        broker_answers.count(False), len(broker_answers))
h.check(peak_alive <= MAX_ALIVE, "a few processors at a time", peak_alive)
h.check(stream_running, "the churn happened while the stream was running", round(t_churn, 1))

# Every one that got SIGTERM exits 0, after processing blocks and saying goodbye.
for c in churners:
    status = c.node.wait(15)
    if c.kill:
        h.check(status == -signal.SIGKILL, "SIGKILLed processor died of SIGKILL", c.name, status)
        continue
    out = c.node.output()
    h.check(status == 0, "a SIGTERMed processor exits 0", c.name, status, out[-1200:])
    summary = [line for line in out.splitlines() if "received " in line and "processed " in line]
    processed = int(summary[-1].split("processed ")[1].split(",")[0]) if summary else 0
    h.check(processed > 0, "a processor joining mid-stream processes blocks", c.name, summary)
    h.check("did not acknowledge goodbye" not in out, "the broker acknowledged its goodbye", c.name, out[-600:])
broker_log = broker.output()
for c in churners:
    if not c.kill:
        h.check("node %s (processor" % c.name in broker_log and
                any(c.name in line and "said goodbye" in line for line in broker_log.splitlines()),
                "the broker logged the goodbye", c.name)

h.check(rec.wait(SECONDS + 20) == 0, "recorder exits 0", rec.output()[-1500:])
rec_out = rec.output()
h.check("overruns" not in rec_out, "the recorder never fell behind (no capture overrun)", rec_out[-800:])

killed = [(c.name, None if c.forgotten_after is None else round(c.forgotten_after, 1)) for c in churners if c.kill]
print("SIGKILLed processors forgotten after (s): %s" % killed)
for name, after in killed:
    h.check(after is not None and after <= FORGET_WITHIN + 0.5,  # + the 0.5 s between two `ls` polls
            "a SIGKILLed processor is forgotten within the heartbeat timeout", name, after)

nodes = sorted(n["name"] for n in h.listing(ep)["nodes"])
h.check(nodes == ["stay"], "at the end `ls` lists only the staying processor", nodes)
stream = h.stream_entry(ep, "mic")
blocks = (RATE * SECONDS + BLOCK - 1) // BLOCK
h.check(stream is not None and stream["gaps"] == 0, "the broker saw no gap in the stream", stream)
h.check(stream is not None and stream["blocks"] == blocks + 1, "the broker relayed every block and the end marker",
        stream and stream["blocks"], blocks + 1)
h.check(h.wait_for(lambda: (h.node_entry(ep, "stay") or {}).get("stats", {}).get("processed") == blocks, 5, 0.2),
        "the staying processor processed every block", (h.node_entry(ep, "stay") or {}).get("stats"))
st = (h.node_entry(ep, "stay") or {}).get("stats", {})
for key in ("gaps", "dropped", "lost_frames", "bad"):
    h.check(st.get(key) == 0, "the staying processor lost nothing: stats %s == 0" % key, st.get(key), st)

h.check(stay.stop() == 0, "the staying processor exits 0 on SIGTERM", stay.output()[-1500:])
h.check_counter_wav(wav, RATE, 1, RATE * SECONDS, "stay")
h.check(broker.proc.poll() is None, "the broker is still running")
h.check(h.run_capped(["ls", "--broker", ep], 10)[0] == 0, "the broker still answers `ls`")
h.check(broker.stop() == 0, "the broker exits 0 on SIGTERM", broker.output()[-1500:])
h.finish()
