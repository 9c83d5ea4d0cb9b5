#!/usr/bin/env python3
# attack.py - hostile clients for tests/gb-serve-attacks.bats.
#
#   attack.py slow PORT INTERVAL      stdin's bytes sent one at a time,
#       INTERVAL seconds apart, while reading; prints what came back and
#       "[closed after N of M bytes]" (or "[sent all]" if the server let
#       every byte in).
#   attack.py flood PORT N            N idle connections, then one more
#       asking GET /health; waits (up to 20 s) for the server to close the
#       N idle ones, then asks GET /health on a fresh connection (a few
#       tries while the server reaps the freed slots). Prints
#       "busy=<status of the extra one> closed=<K>/<N> after=<status>".
#   attack.py late PORT PID          GET /health sent while the server
#       (PID) is stopped, so the request is waiting when it accepts; read
#       only half a second after it resumes. Prints the answer's status
#       ("reset after ..." when the connection was reset, not closed).
import os, select, signal, socket, sys, time

HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def status_of(data):
    parts = data.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and data.startswith(b"HTTP/") else "none"


def ask(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(HEALTH)
    got = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return status_of(got) if got else "reset"
        if not b:
            break
        got += b
    s.close()
    return status_of(got)


def slow(port, interval):
    data = sys.stdin.buffer.read()
    s = socket.create_connection(("127.0.0.1", port))
    got, sent, closed = b"", 0, False
    for i in range(len(data)):
        try:
            s.sendall(data[i:i + 1])
        except OSError:
            closed = True
            break
        sent += 1
        end = time.monotonic() + interval
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if r:
                try:
                    b = s.recv(65536)
                except OSError:
                    b = b""
                if not b:
                    closed = True
                    break
                got += b
        if closed:
            break
    sys.stdout.buffer.write(got)
    sys.stdout.buffer.flush()
    if got and not got.endswith(b"\n"):
        print()
    if closed:
        print("[closed after %d of %d bytes]" % (sent, len(data)))
    else:
        print("[sent all]")


def flood(port, n):
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    time.sleep(0.2)
    busy = ask(port)
    deadline = time.monotonic() + 20
    closed = set()
    while len(closed) < n and time.monotonic() < deadline:
        live = [s for s in idle if s not in closed]
        r, _, _ = select.select(live, [], [], 0.5)
        for s in r:
            try:
                b = s.recv(65536)
            except OSError:
                b = b""
            if not b:
                closed.add(s)
    # the server may not have reaped the freed children yet: a few tries
    for _ in range(50):
        after = ask(port)
        if after == "200":
            break
        time.sleep(0.1)
    print("busy=%s closed=%d/%d after=%s" % (busy, len(closed), n, after))
    for s in idle:
        s.close()


def late(port, pid):
    os.kill(pid, signal.SIGSTOP)
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(HEALTH)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    got = b""
    s.settimeout(10)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        print("reset after %r" % got[:12])
        return
    print(status_of(got))


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "slow":
        slow(port, float(sys.argv[3]))
    elif mode == "flood":
        flood(port, int(sys.argv[3]))
    elif mode == "late":
        late(port, int(sys.argv[3]))
    else:
        sys.exit("attack.py: unknown mode " + mode)
