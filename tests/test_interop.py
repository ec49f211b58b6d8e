"""An independent decoder (proto/abdecode.py: Python, python3-msgpack and
python3-zmq, no audiobus code) receives live blocks from a running broker
and finds them valid and contiguous."""
import json
import os
import subprocess
import time

import harness as h

work = h.setup()
broker, ep = h.start_broker(work)
data_out = h.data_out_endpoint(broker)
h.check(data_out is not None, "broker logged its data-out endpoint")
decoder = subprocess.Popen(["/usr/bin/python3", os.path.join(h.SOURCE_DIR, "proto", "abdecode.py"), "listen",
                            data_out, "py1", "--count", "100", "--timeout", "20"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(1.0)  # PUB/SUB: let the decoder's subscription reach the broker first
status, out, err = h.run(["record", "--broker", ep, "--stream", "py1", "--source", "synth:counter", "--format",
                          "s16", "--rate", "16000", "--duration", "2", "--speed", "10", "--block", "160"])
h.check(status == 0, "recorder exits 0", err)
out, err = decoder.communicate(timeout=30)
h.check(decoder.returncode == 0, "the independent decoder accepted every block", decoder.returncode, err[-800:])
lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
h.check(len(lines) >= 100, "it printed the blocks", len(lines))
if lines:
    first = lines[0]
    h.check(first.get("seq") == 0 and first.get("frame0") == 0, "from the first block", first)
    h.check(first.get("format") == "s16" and first.get("rate") == 16000, "with the stream's format", first)
    seqs = [line["seq"] for line in lines]
    h.check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), "contiguous sequence numbers", seqs[:10])
h.finish()
