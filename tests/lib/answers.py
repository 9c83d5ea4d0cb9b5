#!/usr/bin/env python3
# answers.py METHOD...: split what rawhttp.py printed (stdin) into the
# HTTP/1.x answers to requests made with these METHODs, in order, and
# check their framing strictly. One line per answer:
#
#   STATUS length "BODY"     Content-Length bytes
#   STATUS chunked ["C1",..] each chunk's data; the last chunk and the
#                            empty trailer section came
#   STATUS close "BODY"      delimited by the close (an HTTP/1.0 answer)
#   STATUS none              no body: a HEAD answer (its Content-Length
#                            is not followed), 204, 304
#   STATUS interim           a 1xx answer (100 Continue); the final one
#                            follows on the next line
#
# BODY and the chunks are JSON strings. A last line holds what is left
# after the answers ("[closed]", "[timeout]", or bytes nobody asked for,
# as a JSON string). A framing error (a bad chunk, a body short of its
# Content-Length) prints "bad framing: why" and exits 1.
import json, sys

data = sys.stdin.buffer.read()
methods = sys.argv[1:]
pos = 0


def fail(why):
    print("bad framing: %s at byte %d" % (why, pos))
    sys.exit(1)


def line():
    global pos
    end = data.find(b"\r\n", pos)
    if end < 0:
        fail("no CRLF")
    s = data[pos:end]
    pos = end + 2
    return s


def text(b):
    return json.dumps(b.decode("utf-8", "replace"), ensure_ascii=False)


for method in methods:
    while True:
        status_line = line()
        if not status_line.startswith(b"HTTP/1."):
            fail("no status line")
        status = int(status_line.split(b" ")[1])
        hdrs = {}
        while True:
            h = line()
            if h == b"":
                break
            name, _, value = h.partition(b":")
            hdrs[name.strip().lower()] = value.strip()
        if status >= 200:
            break
        print("%d interim" % status)
    if method == "HEAD" or status in (204, 304):
        print("%d none" % status)
    elif hdrs.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = line()
            try:
                n = int(size.split(b";")[0], 16)
            except ValueError:
                fail("chunk size %r" % size)
            if n == 0:
                if line() != b"":
                    fail("trailers")
                break
            if len(data) < pos + n + 2 or data[pos + n:pos + n + 2] != b"\r\n":
                fail("chunk of %d bytes" % n)
            chunks.append(data[pos:pos + n].decode("utf-8", "replace"))
            pos += n + 2
        print("%d chunked %s" % (status, json.dumps(chunks,
                                                    ensure_ascii=False)))
    elif b"content-length" in hdrs:
        n = int(hdrs[b"content-length"])
        body = data[pos:pos + n]
        if len(body) < n:
            fail("body of %d bytes short of %d" % (len(body), n))
        pos += n
        print("%d length %s" % (status, text(body)))
    else:
        for end in (b"[closed]\n", b"[timeout]\n", b"[reset]\n"):
            if data.endswith(end):
                break
        else:
            fail("no end")
        body = data[pos:len(data) - len(end)]
        pos += len(body)
        print("%d close %s" % (status, text(body)))
rest = data[pos:]
print(rest.decode().rstrip("\n") if rest in (b"[closed]\n", b"[timeout]\n",
                                              b"[reset]\n") else text(rest))
