#!/usr/bin/env python3
"""hostdrive.py -- PROG -W: drive a tool host (lib/host.h) directly.

Starts PROG with one end of a SOCK_SEQPACKET socketpair on descriptor 3
(the queue, lib/proto.h), then reads commands, one per line, from stdin:

  job TOOL [opt=value...]
                  a job; TOOL is convert, call, sse or keys; options:
                  mode=, model=, arg=, num=, pin=, hdrs= (lines
                  joined by a literal \\n), flags= (stream, native,
                  usage, base64, joined by commas); stdin from ./in when
                  it exists (else none), stdout to ./out. Prints what
                  the host says about the job, in order: "head STATUS
                  ATTEMPTS RETRY KEY", "meta JSON", "done EXIT MESSAGE"
  jobs N TOOL [opt=value...]
                  N such jobs at once, stdouts ./out.1 .. ./out.N; prints
                  "done EXIT" per job in id order once all are done
  junk KIND       a message that is not a good job (KIND: empty, short,
                  badtype, unterminated, manyfds, trunc); prints "sent"
  pipes           prints "pipes N", the pipes the host holds beyond its
                  standard descriptors
  close           closes our end of the queue and prints the host's exit
                  status once it has exited ("exit N")

The host must survive every junk message and answer the next job.
"""
import fcntl
import os
import socket
import struct
import subprocess
import sys
import threading

MSG_JOB, MSG_HEAD, MSG_META, MSG_DONE = 1, 2, 3, 4
TOOLS = {"convert": 1, "call": 2, "sse": 3, "keys": 4}
FLAGS = {"stream": 1, "native": 2, "usage": 4, "base64": 8}
JOB = struct.Struct("=IIIIIi32s256s2048s24s1024s16s")  # type id | tool flags fds num ...
HEAD = struct.Struct("=IIiiq32s")  # the union starts at offset 8
DONE = struct.Struct("=IIi512s")
HDR = struct.Struct("=II")


def cstr(b):
    return b.split(b"\0", 1)[0].decode(errors="replace")


def job_msg(jid, words, fds=3):
    tool = TOOLS[words[0]]
    opt = {"mode": "", "model": "", "arg": "", "num": "0", "flags": "",
           "pin": "", "hdrs": ""}
    for w in words[1:]:
        k, _, v = w.partition("=")
        opt[k] = v
    flags = 0
    for f in filter(None, opt["flags"].split(",")):
        flags |= FLAGS[f]
    return JOB.pack(MSG_JOB, jid, tool, flags, fds, int(opt["num"]),
                    opt["mode"].encode(), opt["model"].encode(),
                    opt["arg"].encode(), opt["pin"].encode(),
                    opt["hdrs"].replace("\\n", "\n").encode(),
                    opt.get("rid", "").encode())


def read_reply(sock):
    data = sock.recv(8192)
    if not data:
        return None
    typ, jid = HDR.unpack_from(data)
    if typ == MSG_HEAD:
        _, _, st, att, retry, key = HEAD.unpack_from(data)
        return jid, "head %d %d %d %s" % (st, att, retry, cstr(key) or "-")
    if typ == MSG_META:
        return jid, "meta " + cstr(data[8:])
    if typ == MSG_DONE:
        _, _, ex, msg = DONE.unpack_from(data)
        return jid, ("done %d %s" % (ex, cstr(msg))).rstrip()
    return jid, "unknown %d" % typ


def feed(w, data):
    """Write data into a pipe's write end, then close it."""
    try:
        os.write(w, data) if len(data) < 65536 else [
            os.write(w, data[i:i + 65536]) for i in range(0, len(data),
                                                         65536)]
    except BrokenPipeError:
        pass
    os.close(w)


def drain(r, name):
    """Copy a pipe's read end into a file until its end."""
    with open(name, "wb") as f:
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            f.write(b)
    os.close(r)


def main():
    cmd = sys.argv[sys.argv.index("--") + 1:]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # keep our end clear of descriptor 3
    high = fcntl.fcntl(ours.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
    ours.close()
    ours = socket.socket(fileno=high)
    os.dup2(theirs.fileno(), 3, inheritable=True)
    theirs.close()
    host = subprocess.Popen(cmd, pass_fds=(3,))
    os.close(3)
    jid = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] in ("job", "jobs"):
            n = 1 if words[0] == "job" else int(words[1])
            spec = words[1:] if words[0] == "job" else words[2:]
            ids = []
            threads = []
            data = open("in", "rb").read() if os.path.exists("in") else None
            for i in range(n):
                jid += 1
                ids.append(jid)
                # the job's stdin and stdout are pipes, as gb-serve gives
                fds = [-1]
                if data is not None:
                    r, w = os.pipe()
                    fds[0] = r
                    threads.append(threading.Thread(target=feed,
                                                    args=(w, data)))
                r, w = os.pipe()
                fds.append(w)
                threads.append(threading.Thread(
                    target=drain, args=(r, "out" if n == 1 else
                                        "out.%d" % (i + 1))))
                socket.send_fds(ours, [job_msg(jid, spec,
                                               (1 if fds[0] >= 0 else 0) |
                                               2)],
                                [f for f in fds if f >= 0])
                for f in fds:
                    if f >= 0:
                        os.close(f)
            for t in threads:
                t.start()
            left = set(ids)
            done = {}
            while left:
                r = read_reply(ours)
                if r is None:
                    print("gone", flush=True)
                    break
                rid, text = r
                if n == 1:
                    print(text, flush=True)
                if text.startswith("done "):
                    left.discard(rid)
                    done[rid] = text.split()[1]
            for t in threads:
                t.join()
            if n > 1:
                for i in ids:
                    print("done %s" % done.get(i, "?"), flush=True)
        elif words[0] == "junk":
            kind = words[1]
            r, w = os.pipe()
            if kind == "empty":
                ours.send(b"")
            elif kind == "short":
                socket.send_fds(ours, [b"\1"], [r])
            elif kind == "badtype":
                socket.send_fds(ours, [HDR.pack(99, 1) + b"x" * 40], [r])
            elif kind == "unterminated":
                m = bytearray(job_msg(999, ["convert", "mode=models"]))
                m[24:24 + 32] = b"m" * 32        # mode without its NUL
                socket.send_fds(ours, [bytes(m)], [r])
            elif kind == "manyfds":
                socket.send_fds(ours, [job_msg(999, ["convert",
                                                     "mode=models"])],
                                [r] * 20)
            elif kind == "trunc":
                socket.send_fds(ours, [b"a" * 10000], [r])
            os.close(r)
            os.close(w)
            print("sent", flush=True)
        elif words[0] == "pipes":
            d = "/proc/%d/fd" % host.pid
            print("pipes %d" % sum(
                1 for f in os.listdir(d) if int(f) > 2 and
                os.readlink(os.path.join(d, f)).startswith("pipe:")),
                flush=True)
        elif words[0] == "close":
            ours.close()
            print("exit %d" % host.wait(timeout=30), flush=True)
            return
    ours.close()
    host.wait(timeout=30)


main()
