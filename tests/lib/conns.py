#!/usr/bin/env python3
# conns.py PORT: hold many HTTP/1.1 connections to 127.0.0.1:PORT at once,
# driven by commands on stdin (one per line); prints one line per result,
# flushed, so a test can wait for it. Connections are named by a number.
#   open K                      connect K; prints "K open"
#   send K TOKEN PATH [BODY]    send a request on K (GET without BODY,
#                               POST with it; TOKEN as a bearer token);
#                               prints nothing
#   recv K                      read one answer on K; prints "K STATUS X"
#                               where X is the chat answer's content, or
#                               the body on one line
#   chat K TOKEN TEXT...        send a chat completion of TEXT, then recv
#   chatall TOKEN               on every open connection at once: send
#                               "conn K" as a chat, then read every answer
#   check K [SECONDS]           "K closed" if the server closed K (within
#                               SECONDS, default 5), else "K open"
#   close K                     close K; prints "K closed-by-us"
# At the end of stdin every connection is closed and it prints "done".
import json, socket, sys

port = int(sys.argv[1])
conns = {}
out = sys.stdout


def say(s):
    out.write(s + "\n")
    out.flush()


def send(k, token, path, body=None):
    head = "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n" % (
        "POST" if body is not None else "GET", path, token)
    data = b""
    if body is not None:
        data = body.encode()
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % (
            len(data))
    conns[k]["s"].sendall(head.encode() + b"\r\n" + data)


def recv(k):
    c = conns[k]
    s, buf = c["s"], c["buf"]
    s.settimeout(30)
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            say("%s eof" % k)
            c["buf"] = b""
            return
        buf += b
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1]
    n = 0
    for l in lines[1:]:
        name, _, v = l.partition(":")
        if name.strip().lower() == "content-length":
            n = int(v.strip())
    while len(buf) < n:
        b = s.recv(65536)
        if not b:
            break
        buf += b
    body, c["buf"] = buf[:n], buf[n:]
    x = body.decode("utf-8", "replace").replace("\n", " ")
    try:
        x = json.loads(body)["choices"][0]["message"]["content"]
    except Exception:
        pass
    say("%s %s %s" % (k, status, x))


def chat(k, token, text):
    send(k, token, "/v1/chat/completions", json.dumps(
        {"model": "gemini-2.0-flash",
         "messages": [{"role": "user", "content": text}]}))


for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    cmd, args = w[0], w[1:]
    if cmd == "open":
        conns[args[0]] = {"s": socket.create_connection(("127.0.0.1", port)),
                          "buf": b""}
        say("%s open" % args[0])
    elif cmd == "send":
        send(args[0], args[1], args[2],
             " ".join(args[3:]) if len(args) > 3 else None)
    elif cmd == "recv":
        recv(args[0])
    elif cmd == "chat":
        chat(args[0], args[1], " ".join(args[2:]))
        recv(args[0])
    elif cmd == "chatall":
        for k in conns:
            chat(k, args[0], "conn " + k)
        for k in conns:
            recv(k)
    elif cmd == "check":
        s = conns[args[0]]["s"]
        s.settimeout(float(args[1]) if len(args) > 1 else 5.0)
        try:
            b = s.recv(65536)
            say("%s %s" % (args[0], "closed" if not b else "data"))
        except socket.timeout:
            say("%s open" % args[0])
        except ConnectionResetError:
            say("%s reset" % args[0])
    elif cmd == "close":
        conns.pop(args[0])["s"].close()
        say("%s closed-by-us" % args[0])
    else:
        say("bad command: " + line.strip())
for c in conns.values():
    c["s"].close()
say("done")
