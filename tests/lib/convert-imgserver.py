#!/usr/bin/env python3
"""A tiny image server for the gb-convert download tests, on 127.0.0.1.

usage: convert-imgserver.py PORT
  /pic        200, Content-Type "image/webp; charset=binary", 6 bytes
  /photo.jpg  200, no Content-Type, 3 bytes (the name decides)
  /blob       200, no Content-Type, no telling name
  /again      302 to /pic
  /missing    404
  /big        200, 20 MiB + 1 bytes (over gb-convert's cap)
"""
import http.server
import sys

from tinyhttp import Sender


class Handler(Sender):
    def do_GET(self):
        if self.path == "/pic":
            self.send(200, b"RIFF\x00\xff", "image/webp; charset=binary")
        elif self.path == "/photo.jpg":
            self.send(200, b"\xff\xd8\xff")
        elif self.path == "/blob":
            self.send(200, b"abc")
        elif self.path == "/again":
            self.send(302, headers=[("Location", "/pic")])
        elif self.path == "/big":
            n = 20 * 1024 * 1024 + 1
            self.send_response_only(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                while n > 0:
                    self.wfile.write(chunk[:min(n, len(chunk))])
                    n -= min(n, len(chunk))
            except OSError:
                pass
        else:
            self.send(404, b"not here", "text/plain")


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
