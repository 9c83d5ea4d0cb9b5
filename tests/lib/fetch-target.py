#!/usr/bin/env python3
"""An HTTP server that records every connection it accepts, for the
tests of what image downloads may reach (tests/gb-convert-fetch.bats).

usage: fetch-target.py ADDR PORTFILE LOG
  Listens on ADDR (IPv4 or IPv6) at a port the kernel picks, and writes
  that port to PORTFILE once it listens (wait for the file, never
  connect to see: that would be recorded). Each accepted connection
  appends one line to LOG ("accept PEER"), flushed before the request
  is read.
  /img        200, image/png, 4 bytes
  /to/URL     302 to URL (the rest of the path, as it is)
  other       404
"""
import http.server
import os
import socket
import sys

from tinyhttp import Sender


class Handler(Sender):
    def do_GET(self):
        if self.path == "/img":
            self.send(200, b"\x89PNG", "image/png")
        elif self.path.startswith("/to/"):
            self.send(302, headers=[("Location", self.path[4:])])
        else:
            self.send(404, b"internal secret", "text/plain")


class Server(http.server.HTTPServer):
    def process_request(self, request, client_address):
        with open(LOG, "a") as f:
            f.write("accept %s\n" % (client_address[0],))
        super().process_request(request, client_address)


addr, portfile, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
if ":" in addr:
    Server.address_family = socket.AF_INET6
srv = Server((addr, 0), Handler)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, portfile)
srv.serve_forever()
