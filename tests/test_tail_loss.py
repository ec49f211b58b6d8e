"""A processor that stalls while its stream ends learns what it missed at
the end, the end marker included, although no later block would reveal it.

A processor (level, --exit-at-end, --repair-timeout 1) is linked, then
stopped with SIGSTOP; a recorder sends 22500 blocks (120 s of 48 kHz audio
in 256-frame blocks, at 100x real time) and its end marker; the queues to
the stopped processor (the broker's 4096 blocks for it, set by --hwm, the TCP buffers)
fill, and the broker drops the rest for it: the stream's tail and its end
marker. The processor is continued within 2 s (less than the 3 heartbeats
after which the broker would forget it). Checks: it exits 0 by itself at
the stream's end (so the end marker reached it); every block is accounted
for - processed or reported lost for good (its exit report: processed +
lost in transit = 22500), some were lost, and its log names the lost range.
"""
import re
import signal
import time

import harness as h

work = h.setup()
RATE, BLOCK, AUDIO_SECONDS, SPEED = 48000, 256, 120, 100
BLOCKS = RATE * AUDIO_SECONDS // BLOCK

broker, ep = h.start_broker(work, extra=["--hwm", "4096"])  # queues that overflow soon
proc = h.Node(work, "stalled", ["process", "--broker", ep, "--stream", "mic", "--plugin", "level", "--name",
                                "stalled", "--param", "interval=0", "--param", "publish=0", "--exit-at-end",
                                "--repair-timeout", "1"])
h.check(h.wait_linked(ep, ["stalled"]), "the processor linked before the recorder starts", proc.output()[-800:])

proc.proc.send_signal(signal.SIGSTOP)
stopped_at = time.monotonic()
try:
    status, out, err = h.run(["record", "--broker", ep, "--stream", "mic", "--source", "synth:sine", "--rate",
                              str(RATE), "--block", str(BLOCK), "--duration", str(AUDIO_SECONDS), "--speed",
                              str(SPEED)], timeout=60)
finally:
    time.sleep(max(0.0, 0.3 - (time.monotonic() - stopped_at)))
    proc.proc.send_signal(signal.SIGCONT)
stalled_for = time.monotonic() - stopped_at
h.check(status == 0, "recorder exits 0", status, err[-800:])
h.check(stalled_for < 2.8, "the stall stayed shorter than the broker's 3 heartbeats", "%.1f s" % stalled_for)
stream = h.stream_entry(ep, "mic")
h.check(stream is not None and stream["blocks"] == BLOCKS + 1, "the broker relayed every block and the end marker",
        stream)

status = proc.wait(30)
out = proc.output()
h.check(status == 0, "the processor exits 0 by itself at the stream's end: the end marker reached it", status,
        out[-1500:])
report = re.search(r"received \d+ blocks, processed (\d+), lost in transit (\d+)", out)
h.check(report is not None, "the processor reports what it processed and lost", out[-1500:])
if report:
    processed, lost = int(report.group(1)), int(report.group(2))
    h.check(lost > 0, "blocks were dropped for the stalled processor (the test's premise)", processed, lost)
    h.check(processed + lost == BLOCKS, "every block is processed or reported lost", processed, lost, BLOCKS)
h.check("lost for good" in out, "its log names the lost range", out[-1500:])
h.finish()
