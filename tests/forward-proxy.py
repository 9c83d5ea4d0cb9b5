#!/usr/bin/env python3
"""forward-proxy.py - a tagging HTTP forward proxy for tests.

Usage: forward-proxy.py PORT NAME [MODE]

Listens on 127.0.0.1:PORT (PORT 0: the kernel picks one), prints one line
"listening on 127.0.0.1:<port>" to stdout once it accepts connections, and
serves until SIGTERM/SIGINT. Python 3 standard library only.

A request in absolute form ("GET http://host:port/path HTTP/1.1") is sent
on to host:port in origin form with one header added, "X-Via-Proxy: NAME",
so that the server behind (tests/fake-upstream.py records every request's
headers) can tell which proxy carried which request. Proxy-Connection,
Proxy-Authorization and Connection are not passed on; the answer is
relayed as it arrives (a stream stays a stream), with "Connection: close":
one request per connection to the proxy, so a test never depends on a
kept-alive proxy connection.

With Proxy-Authorization (Basic) the user name is passed on too, as
"X-Via-Proxy-User: USER" (never the password).

CONNECT host:port opens a tunnel (200, then bytes both ways).

It speaks SOCKS5 as well (socks5:// and socks5h:// URLs; no
authentication, or user and password, whose user is passed on as above):
what goes through the tunnel is taken as one HTTP request in origin form,
tagged and relayed the same way.

MODE
  forward         the above (default)
  refuse          every request and CONNECT is answered 503 by the proxy
                  itself (a proxy that cannot reach the outside); a SOCKS5
                  greeting gets "no acceptable method" (a handshake
                  failure)
"""

import base64
import signal
import socket
import socketserver
import struct
import sys
import threading
import urllib.parse

NAME = "proxy"
MODE = "forward"
DROP = ("proxy-connection", "proxy-authorization", "connection",
        "keep-alive")


def read_head(rfile):
    line = rfile.readline(65537)
    if not line:
        return None, None
    headers = []
    while True:
        h = rfile.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            break
        headers.append(h.decode("latin-1").rstrip("\r\n"))
    return line.decode("latin-1").rstrip("\r\n"), headers


def header(headers, name):
    for h in headers:
        k, _, v = h.partition(":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Handler(socketserver.StreamRequestHandler):
    def refuse(self):
        body = b"proxy " + NAME.encode() + b": refused\n"
        self.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\n"
                         b"Content-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)
        self.wfile.flush()

    def handle(self):
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.rfile.peek(1)[:1] == b"\x05":
            return self.socks()
        return self.http(None, None)

    def socks(self):
        """SOCKS5 (RFC 1928, user/password per RFC 1929), CONNECT only;
        what goes through the tunnel is taken as HTTP and tagged."""
        r = self.rfile
        n = r.read(2)[1]
        methods = r.read(n)
        if MODE == "refuse":
            self.wfile.write(b"\x05\xff")
            return
        user = None
        if 2 in methods:
            self.wfile.write(b"\x05\x02")
            self.wfile.flush()
            r.read(1)
            user = r.read(r.read(1)[0]).decode("latin-1")
            r.read(r.read(1)[0])
            self.wfile.write(b"\x01\x00")
        else:
            self.wfile.write(b"\x05\x00")
        self.wfile.flush()
        _, cmd, _, atyp = r.read(4)
        if atyp == 1:
            host = socket.inet_ntoa(r.read(4))
        elif atyp == 3:
            host = r.read(r.read(1)[0]).decode("latin-1")
        else:
            host = socket.inet_ntop(socket.AF_INET6, r.read(16))
        port = struct.unpack(">H", r.read(2))[0]
        if cmd != 1:
            self.wfile.write(b"\x05\x07\x00\x01\0\0\0\0\0\0")
            return
        self.wfile.write(b"\x05\x00\x00\x01\0\0\0\0\0\0")
        self.wfile.flush()
        self.http((host, port), user)

    def http(self, dest, user):
        """One request: in absolute form to a proxy, or in origin form
        inside a SOCKS tunnel to dest."""
        line, headers = read_head(self.rfile)
        if line is None:
            return
        try:
            method, target, _ = line.split(" ", 2)
        except ValueError:
            return
        if MODE == "refuse":
            return self.refuse()
        if method == "CONNECT":
            return self.tunnel(target)
        if dest is None:
            u = urllib.parse.urlsplit(target)
            dest = (u.hostname, u.port or 80)
            target = (u.path or "/") + ("?" + u.query if u.query else "")
        auth = header(headers, "proxy-authorization")
        if auth is not None and auth.lower().startswith("basic "):
            user = base64.b64decode(auth[6:]).decode("latin-1") \
                .partition(":")[0]
        n = int(header(headers, "content-length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        up = socket.create_connection(dest)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = ["%s %s HTTP/1.1" % (method, target)]
        out += [h for h in headers
                if h.partition(":")[0].strip().lower() not in DROP]
        out += ["X-Via-Proxy: " + NAME]
        if user is not None:
            out += ["X-Via-Proxy-User: " + user]
        out += ["Connection: close", "", ""]
        up.sendall("\r\n".join(out).encode("latin-1") + body)
        # the answer's head, with our Connection header, then the rest raw
        upr = up.makefile("rb")
        status, rh = read_head(upr)
        if status is None:
            up.close()
            return
        back = [status] + [h for h in rh if h.partition(":")[0].strip()
                           .lower() not in DROP]
        back += ["Connection: close", "", ""]
        self.wfile.write("\r\n".join(back).encode("latin-1"))
        self.wfile.flush()
        try:
            while True:
                data = upr.read1(65536)
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
        except OSError:
            pass
        up.close()

    def tunnel(self, target):
        host, _, port = target.rpartition(":")
        try:
            up = socket.create_connection((host, int(port)))
        except (OSError, ValueError):
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\n"
                             b"Content-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        t = threading.Thread(target=pipe, args=(up, self.connection),
                             daemon=True)
        t.start()
        pipe(self.connection, up)
        t.join()
        up.close()


def main():
    global NAME, MODE
    if len(sys.argv) not in (3, 4):
        sys.stderr.write("usage: forward-proxy.py PORT NAME [MODE]\n")
        sys.exit(100)
    port = int(sys.argv[1])
    NAME = sys.argv[2]
    if len(sys.argv) == 4:
        MODE = sys.argv[3]
    if MODE not in ("forward", "refuse"):
        sys.stderr.write("forward-proxy.py: unknown mode " + MODE + "\n")
        sys.exit(100)
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
