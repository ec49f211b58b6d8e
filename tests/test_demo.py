"""`audiobus demo`, the main job: broker, recorder (the shipped speech
recording here, where there is no input device) and two processors, live
output from both, then a clean shutdown with exit 0 and no process left."""
import subprocess

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
h.finish()
