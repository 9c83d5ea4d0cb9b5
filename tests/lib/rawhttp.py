#!/usr/bin/env python3
# rawhttp.py PORT [-t SECONDS] [-e] [-s N]: send stdin's bytes to
# 127.0.0.1:PORT as they are, print every byte received, then "[closed]"
# when the server closed the connection or "[timeout]" when it kept it
# open for SECONDS (default 3) after the last byte.
#  -e: send only the head first, wait for "100 Continue", then the body.
#  -s N: hang up N seconds after sending (no reading); for disconnects.
#  -u STR: read until STR arrives, print what came, then (after -s N
#     seconds, if given) hang up; for disconnects mid-stream.
import socket, sys, time

args = sys.argv[1:]
port = int(args.pop(0))
timeout, expect, hang, until = 3.0, False, None, None
while args:
    a = args.pop(0)
    if a == "-t":
        timeout = float(args.pop(0))
    elif a == "-e":
        expect = True
    elif a == "-s":
        hang = float(args.pop(0))
    elif a == "-u":
        until = args.pop(0).encode()
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
if until is not None:
    got = b""
    while until not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    out.write(got)
    out.flush()
    time.sleep(hang or 0)
    s.close()
    sys.exit(0)
if hang is not None:
    time.sleep(hang)
    s.close()
    sys.exit(0)
try:
    while True:
        b = s.recv(65536)
        if not b:
            out.write(b"[closed]\n")
            break
        out.write(b)
        out.flush()
except socket.timeout:
    out.write(b"[timeout]\n")
except ConnectionResetError:
    out.write(b"[reset]\n")
