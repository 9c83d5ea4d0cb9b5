#!/usr/bin/env python3
# conns.py PORT: hold many HTTP/1.1 connections to 127.0.0.1:PORT at once,
# driven by commands on stdin (one per line); prints one line per result,
# flushed, so a test can wait for it. Connections are named (K).
#   open K                      connect K; prints "K open"
#   openmany N                  connect c1..cN; prints "opened N"
#   send K TOKEN PATH [BODY]    send a request on K (GET without BODY,
#                               POST with it; TOKEN as a bearer token);
#                               prints nothing
#   recv K                      read one answer on K; prints "K STATUS X"
#                               where X is the chat answer's content, or
#                               the body on one line; a Retry-After header
#                               is shown before it as "retry-after=V"
#   chat K TOKEN TEXT...        send a chat completion of TEXT, then recv
#   chatall TOKEN               on every open connection at once: send
#                               "conn K" as a chat, then read every answer
#   getall TOKEN PATH           on every open connection at once: GET
#                               PATH, then read every answer; prints
#                               "getall N: S=n ... retry-after=n" (how
#                               many answers had each status, how many
#                               had a Retry-After header); a connection
#                               that answered other than 200 is dropped
#   stream K TOKEN TEXT...      send a streamed chat completion on K and
#                               read its head and first event: prints
#                               "K streaming" (or "K STATUS BODY")
#   streamall TOKEN             stream on every open connection that is
#                               not streaming yet: sends them all, then
#                               reads each head and first event; prints
#                               "streaming N" (N streams now open), and a
#                               line "K ..." for each that failed
#   finish K                    read K's stream to its end: prints
#                               "K finished done" (ended with [DONE]),
#                               "K finished error MESSAGE" (an error event
#                               before [DONE]) or "K finished cut WHY"
#   finishall                   finish every stream; prints
#                               "finished N: done=D error=E cut=C"
#   check K [SECONDS]           "K closed" if the server closed K (within
#                               SECONDS, default 5), else "K open"
#   close K                     close K; prints "K closed-by-us"
#   closeall                    close every connection; prints
#                               "closed N"
# At the end of stdin every connection is closed and it prints "done".
import json, socket, sys

port = int(sys.argv[1])
conns = {}
out = sys.stdout
TIMEOUT = 60


def say(s):
    out.write(s + "\n")
    out.flush()


def connect(k):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(TIMEOUT)
    conns[k] = {"s": s, "buf": b"", "body": b"", "streaming": False}


def send(k, token, path, body=None):
    head = "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n" % (
        "POST" if body is not None else "GET", path, token)
    data = b""
    if body is not None:
        data = body.encode()
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % (
            len(data))
    conns[k]["s"].sendall(head.encode() + b"\r\n" + data)


def more(c):
    b = c["s"].recv(65536)
    if not b:
        raise EOFError("connection closed")
    c["buf"] += b


def read_head(c):
    """The status and the headers (lower-case names) of the next answer."""
    while b"\r\n\r\n" not in c["buf"]:
        more(c)
    head, _, c["buf"] = c["buf"].partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        name, _, v = l.partition(":")
        hdrs[name.strip().lower()] = v.strip()
    return lines[0].split(" ")[1], hdrs


def read_chunk(c):
    """The next chunk of a chunked body; b"" at its end."""
    while b"\r\n" not in c["buf"]:
        more(c)
    line, _, c["buf"] = c["buf"].partition(b"\r\n")
    n = int(line.split(b";")[0], 16)
    while len(c["buf"]) < n + 2:
        more(c)
    data, c["buf"] = c["buf"][:n], c["buf"][n + 2:]
    return data


def read_body(c, hdrs):
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            d = read_chunk(c)
            if not d:
                return body
            body += d
    n = int(hdrs.get("content-length", "0"))
    while len(c["buf"]) < n:
        more(c)
    body, c["buf"] = c["buf"][:n], c["buf"][n:]
    return body


def answer(k):
    """Read one whole answer on k: (status, headers, body as one line)."""
    c = conns[k]
    status, hdrs = read_head(c)
    body = read_body(c, hdrs)
    x = body.decode("utf-8", "replace").replace("\n", " ")
    try:
        x = json.loads(body)["choices"][0]["message"]["content"]
    except Exception:
        pass
    return status, hdrs, x


def recv(k):
    try:
        status, hdrs, x = answer(k)
    except EOFError:
        say("%s eof" % k)
        conns[k]["buf"] = b""
        return
    ra = hdrs.get("retry-after")
    say("%s %s %s%s" % (k, status, "retry-after=%s " % ra if ra else "", x))


def chat(k, token, text, stream=False):
    req = {"model": "gemini-2.0-flash",
           "messages": [{"role": "user", "content": text}]}
    if stream:
        req["stream"] = True
    send(k, token, "/v1/chat/completions", json.dumps(req))


def next_event(c):
    """The next event of c's stream, or None at the end of the body."""
    while b"\n\n" not in c["body"]:
        d = read_chunk(c)
        if not d:
            return None
        c["body"] += d
    ev, _, c["body"] = c["body"].partition(b"\n\n")
    return ev.decode("utf-8", "replace")


def stream_start(k):
    """Read k's head and first event: None when streaming, else why not."""
    c = conns[k]
    try:
        status, hdrs = read_head(c)
        if status != "200":
            return "%s %s" % (status, read_body(c, hdrs).decode(
                "utf-8", "replace").replace("\n", " "))
        if hdrs.get("transfer-encoding", "").lower() != "chunked":
            return "200 not chunked"
        if next_event(c) is None:
            return "200 empty stream"
    except (EOFError, OSError) as e:
        return "cut %s" % e
    c["streaming"] = True
    return None


def finish(k):
    """Read k's stream to its end: "done", "error MSG" or "cut WHY"."""
    c = conns[k]
    c["streaming"] = False
    errs = []   # (index, message) of error events
    n = 0
    last = None
    try:
        while True:
            ev = next_event(c)
            if ev is None:
                break
            n += 1
            last = ev
            for l in ev.split("\n"):
                if not l.startswith("data: ") or l == "data: [DONE]":
                    continue
                try:
                    e = json.loads(l[6:])
                except ValueError:
                    return "cut bad event %r" % l[:80]
                if isinstance(e, dict) and isinstance(e.get("error"), dict):
                    errs.append((n, e["error"].get("message")))
    except (EOFError, OSError) as e:
        return "cut %s" % e
    if last is None or last.split("\n")[-1] != "data: [DONE]":
        return "cut no [DONE] (last %r)" % last
    if not errs:
        return "done"
    # an error ends a stream: it comes last, right before [DONE]
    if len(errs) > 1 or errs[0][0] != n - 1:
        return "cut an error event not right before [DONE]: %r" % errs
    return "error %s" % errs[0][1]


for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    cmd, args = w[0], w[1:]
    if cmd == "open":
        connect(args[0])
        say("%s open" % args[0])
    elif cmd == "openmany":
        for i in range(1, int(args[0]) + 1):
            connect("c%d" % i)
        say("opened %s" % args[0])
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
    elif cmd == "getall":
        for k in conns:
            try:
                send(k, args[0], args[1])
            except OSError:
                pass
        counts, retry = {}, 0
        for k in list(conns):
            try:
                status, hdrs, _ = answer(k)
            except (EOFError, OSError):
                status, hdrs = "eof", {}
            counts[status] = counts.get(status, 0) + 1
            if "retry-after" in hdrs:
                retry += 1
            if status != "200":
                conns.pop(k)["s"].close()
        say("getall %d: %s retry-after=%d" % (
            sum(counts.values()),
            " ".join("%s=%d" % kv for kv in sorted(counts.items())), retry))
    elif cmd == "stream":
        chat(args[0], args[1], " ".join(args[2:]), stream=True)
        why = stream_start(args[0])
        say("%s %s" % (args[0], why or "streaming"))
    elif cmd == "streamall":
        todo = [k for k in conns if not conns[k]["streaming"]]
        for k in todo:
            chat(k, args[0], "conn " + k, stream=True)
        for k in todo:
            why = stream_start(k)
            if why:
                say("%s %s" % (k, why))
        say("streaming %d" % sum(1 for c in conns.values()
                                 if c["streaming"]))
    elif cmd == "finish":
        say("%s finished %s" % (args[0], finish(args[0])))
    elif cmd == "finishall":
        counts = {"done": 0, "error": 0, "cut": 0}
        for k in [k for k in conns if conns[k]["streaming"]]:
            r = finish(k)
            counts[r.split(" ")[0]] += 1
            if r != "done":
                say("%s finished %s" % (k, r))
        say("finished %d: done=%d error=%d cut=%d" % (
            sum(counts.values()), counts["done"], counts["error"],
            counts["cut"]))
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
        s.settimeout(TIMEOUT)
    elif cmd == "close":
        conns.pop(args[0])["s"].close()
        say("%s closed-by-us" % args[0])
    elif cmd == "closeall":
        n = len(conns)
        for c in conns.values():
            c["s"].close()
        conns.clear()
        say("closed %d" % n)
    else:
        say("bad command: " + line.strip())
for c in conns.values():
    c["s"].close()
say("done")
