#!/usr/bin/env python3
# sse-flood.py MEGABYTES EVENTBYTES -- gb-sse [args]: generate a Gemini
# stream of about MEGABYTES MiB on the fly (events of about EVENTBYTES
# bytes, the last one with finishReason STOP), pipe it through the
# command, check the output's shape and print one line:
#   in=<bytes> out=<bytes> events=<n> maxrss_kib=<n> seconds=<s> status=<n>
# Peak RSS comes from /usr/bin/time around the command: a child forked
# from python would report python's own size as its peak.
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

mib, evsize = int(sys.argv[1]), int(sys.argv[2])
cmd = sys.argv[4:]
total = mib << 20


def event(text, finish=None):
    c = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        c["finishReason"] = finish
    r = {"candidates": [c], "usageMetadata": {"promptTokenCount": 3,
         "totalTokenCount": 3}, "modelVersion": "gemini-2.0-flash"}
    return ("data: " + json.dumps(r, separators=(",", ": ")) +
            "\r\n\r\n").encode()


filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit; "
base = len(event(""))
chunk = event((filler * (evsize // len(filler) + 1))[:max(1, evsize - base)])
rssfile = tempfile.NamedTemporaryFile(prefix="sse-flood-rss.")
cmd = ["/usr/bin/time", "-f", "%M", "-o", rssfile.name] + cmd
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
sent = [0]


def feed():
    n = 0
    try:
        while n < total:
            p.stdin.write(chunk)
            n += len(chunk)
        last = event("end.", "STOP")
        p.stdin.write(last)
        n += len(last)
    finally:
        sent[0] = n
        p.stdin.close()


start = time.monotonic()
t = threading.Thread(target=feed)
t.start()
out = 0
events = 0
tail = b""
fd = p.stdout.fileno()
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    out += len(b)
    # JSON escapes newlines: every LF is framing, two per event
    events += b.count(b"\n")
    tail = (tail + b)[-64:]
t.join()
status = p.wait()
secs = time.monotonic() - start
rss = int(open(rssfile.name).read().split()[-1])
if not tail.endswith(b"data: [DONE]\n\n"):
    print("output does not end with [DONE]: %r" % tail, file=sys.stderr)
    status = 99
print("in=%d out=%d events=%d maxrss_kib=%d seconds=%.2f status=%d" %
      (sent[0], out, events // 2, rss, secs, status))
