#!/usr/bin/env python3
# rawhttp.py PORT [-t SECONDS] [-e] [-s N] [-u STR] [-T FILE] [-G URL -g STR...]:
# send stdin's bytes to 127.0.0.1:PORT as they are, print every byte
# received, then "[closed]" when the server closed the connection or
# "[timeout]" when it kept it open for SECONDS (default 3) after the
# last byte.
#  -e: send only the head first, wait for "100 Continue", then the body.
#  -s N: hang up N seconds after sending (no reading); for disconnects.
#  -H FILE: the same, but hang up once FILE exists (the test says when).
#  -u STR: read until STR arrives, print what came, then (after -s N
#     seconds, or once -H FILE exists, if given) hang up; for disconnects
#     mid-stream.
#  -T FILE: write to FILE the seconds from the last byte sent to the
#     close (or the timeout): how long the server let the request be.
#  -G URL -g STR: once STR has arrived, POST to URL (the fake upstream's
#     /_control/go); each -g in turn, each looked for after the one
#     before. The upstream sends its next piece only once the client has
#     the one before: a stream is shown to come piece by piece.
import os, socket, sys, time, urllib.request

args = sys.argv[1:]
port = int(args.pop(0))
timeout, expect, hang, until, tfile, go_url = 3.0, False, None, None, None, None
hangfile = None
marks = []
while args:
    a = args.pop(0)
    if a == "-t":
        timeout = float(args.pop(0))
    elif a == "-e":
        expect = True
    elif a == "-s":
        hang = float(args.pop(0))
    elif a == "-H":
        hangfile = args.pop(0)
    elif a == "-u":
        until = args.pop(0).encode()
    elif a == "-T":
        tfile = args.pop(0)
    elif a == "-G":
        go_url = args.pop(0)
    elif a == "-g":
        marks.append(args.pop(0).encode())
data = sys.stdin.buffer.read()
if data.endswith(b"\n") and not data.endswith(b"\r\n"):
    data = data[:-1]    # the newline a bash here-string adds
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(timeout)
out = sys.stdout.buffer
if expect:
    head, _, body = data.partition(b"\r\n\r\n")
    s.sendall(head + b"\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    out.write(got)
    s.sendall(body)
else:
    s.sendall(data)
last = time.monotonic()


def wait_hangup():
    if hangfile is not None:
        while not os.path.exists(hangfile):
            time.sleep(0.01)
    else:
        time.sleep(hang or 0)


if until is not None:
    got = b""
    while until not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    out.write(got)
    out.flush()
    wait_hangup()
    s.close()
    sys.exit(0)
if hang is not None or hangfile is not None:
    wait_hangup()
    s.close()
    sys.exit(0)
seen, pos = b"", 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            out.write(b"[closed]\n")
            break
        out.write(b)
        out.flush()
        seen += b
        while marks and marks[0] in seen[pos:]:
            pos = seen.index(marks[0], pos) + len(marks[0])
            marks.pop(0)
            urllib.request.urlopen(urllib.request.Request(
                go_url, data=b"", method="POST"), timeout=10).read()
except socket.timeout:
    out.write(b"[timeout]\n")
except ConnectionResetError:
    out.write(b"[reset]\n")
if tfile is not None:
    with open(tfile, "w") as f:
        f.write("%.2f\n" % (time.monotonic() - last))
