#!/usr/bin/env python3
"""hostdrive.py PROG -- drive a tool host (lib/host.h) directly.

Starts PROG (argv after --, e.g. gb-call -W) with one end of a
SOCK_SEQPACKET socketpair on descriptor 3, then reads commands, one per
line, from stdin:

  job ARG...      a job with stdin from ./in (if present), stdout to
                  ./out, stderr to ./err, descriptor 4 to ./fd4; prints
                  "status N" (the job's exit status) or "status gone"
  junk KIND       a message that is not a job (KIND: empty, nofds,
                  short, badmask, manyfds, trunc); prints "sent"
  pipes           prints "pipes N", the pipes the host holds beyond its
                  standard descriptors (junk messages carry pipes)
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


def main():
    cmd = sys.argv[sys.argv.index("--") + 1:]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # keep our end clear of descriptor 3
    high = fcntl.fcntl(ours.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
    ours.close()
    ours = socket.socket(fileno=high)
    # the host's queue is its descriptor 3 (ours too, here: whatever was
    # there is not needed by this script)
    os.dup2(theirs.fileno(), 3, inheritable=True)
    theirs.close()
    host = subprocess.Popen(cmd, pass_fds=(3,))
    os.close(3)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "job":
            rp, rq = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            fds = []
            mask = 0
            names = [("in", os.O_RDONLY), ("out", os.O_WRONLY | os.O_CREAT |
                     os.O_TRUNC), ("err", os.O_WRONLY | os.O_CREAT |
                     os.O_TRUNC), (None, 0), ("fd4", os.O_WRONLY |
                     os.O_CREAT | os.O_TRUNC)]
            for i, (name, flags) in enumerate(names):
                if name is None or (name == "in" and not os.path.exists(name)):
                    continue
                fds.append(os.open(name, flags, 0o600))
                mask |= 1 << i
            data = struct.pack("I", mask) + b"".join(
                w.encode() + b"\0" for w in words[1:])
            socket.send_fds(ours, [data], [rq.fileno()] + fds)
            rq.close()
            for f in fds:
                os.close(f)
            st = rp.recv(16)
            rp.close()
            print("status %d" % struct.unpack("i", st)[0] if len(st) == 4
                  else "status gone", flush=True)
        elif words[0] == "junk":
            kind = words[1]
            r, w = os.pipe()
            if kind == "empty":
                ours.send(b"")
            elif kind == "nofds":
                ours.send(struct.pack("I", 0) + b"gb-call\0")
            elif kind == "short":
                socket.send_fds(ours, [b"\1"], [r])
            elif kind == "badmask":
                # claims descriptors 0-7 but carries only the reply socket
                socket.send_fds(ours, [struct.pack("I", 0xff) + b"x\0"], [r])
            elif kind == "manyfds":
                socket.send_fds(ours, [struct.pack("I", 1) + b"x\0"],
                                [r] * 20)
            elif kind == "trunc":
                socket.send_fds(ours, [struct.pack("I", 0) +
                                       b"a" * 10000 + b"\0"], [r])
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
            print("exit %d" % host.wait(timeout=10), flush=True)
            return
    ours.close()
    host.wait(timeout=10)


main()
