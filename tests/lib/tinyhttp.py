"""tinyhttp - the request handler the small test servers share.

Sender.send(code, body, ctype, headers) answers with a Content-Length;
nothing is logged.
"""
import http.server


class Sender(http.server.BaseHTTPRequestHandler):
    def send(self, code, body=b"", ctype=None, headers=()):
        self.send_response_only(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
