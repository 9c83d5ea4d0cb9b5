#!/usr/bin/env python3
"""load.py BINDIR - gb-serve under load, with faults on both sides.

gb-serve runs under systemd-socket-activate (Accept=no) in front of
tests/fake-upstream.py. Four API keys; every call made with the fourth
key fails (503, a reset before the headers, or 500 after a delay, in
turn), so about a quarter of upstream calls fail and are retried on the
next key. CLIENTS concurrent clients send chat, streamed chat and
embeddings requests; a tenth of them hang up at a random moment.

Checked: every client that stayed gets a complete answer (a chat
completion, an embeddings list, a stream ending in [DONE] with only
well-formed events, an error event allowed before it) or a well-formed
OpenAI error; gb-serve stays one thread all along; afterwards no gb-*
process is left but gb-serve itself and its tools' hosts, running no
job, no zombie, and the keys' use counts add up to the calls the
upstream saw (each call takes a key once: nothing sends a request
again by itself). Then gb-serve is stopped: it exits 0, its hosts leave
too, and no sanitizer reported anything. Prints the figures; exits 1
when a check fails.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLIENTS = int(os.environ.get("LOAD_CLIENTS") or 200)
QUITTERS = CLIENTS // 10
KEYS = ["AIzaSyLoad%02dKEYxxxxxxxxxxxxxxxxxxxxxxx%s" % (i, "abcd"[i])
        for i in range(4)]
TOKEN = "load-token"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def control(port, method, path, body=None):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/_control/%s" % (port, path), method=method,
        data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def descendants(pid):
    out = []
    for c in children(pid):
        out.append(c)
        out += descendants(c)
    return out


def is_host(pid):
    """A tool's long-lived host (lib/host.h): comm ends in -host."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip().endswith("-host")
    except OSError:
        return False


def pipes(pid):
    """Pipes a process holds: a host holds none but its running jobs'."""
    try:
        return sum(1 for fd in os.listdir("/proc/%d/fd" % pid)
                   if os.readlink("/proc/%d/fd/%s" % (pid, fd))
                   .startswith("pipe:"))
    except OSError:
        return 0


def busy(pid):
    """A request's process, or a host still running a job, under pid."""
    return [p for p in descendants(pid)
            if not is_host(p) or pipes(p) > 0]


def threads(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for l in f:
                if l.startswith("Threads:"):
                    return int(l.split()[1])
    except OSError:
        pass
    return 0


def proc_info(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/status" % pid) as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        return cmd, st["State"].split()[0], int(st["PPid"])
    except (OSError, KeyError, ValueError):
        return None


def is_tool(pid, bindir):
    """One of the tools under test, by its executable (a host's argv[0]
    is the tool's bare name)."""
    try:
        return os.readlink("/proc/%d/exe" % pid).startswith(bindir + "/gb-")
    except OSError:
        return False


def ours(bindir, mark):
    """This run's gb-* processes (their environment has mark), but
    zombies, whose environment cannot be read."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        info = proc_info(int(p))
        try:
            with open("/proc/%s/environ" % p, "rb") as f:
                mine = mark in f.read().split(b"\0")
        except OSError:
            mine = False
        if info is not None and mine and is_tool(int(p), bindir):
            out.append("%s %s" % (p, info[0]))
    return out


# ---- one client ----

REQS = [
    ("chat", "/v1/chat/completions",
     {"model": "gemini-2.0-flash",
      "messages": [{"role": "user", "content": "hello"}]}),
    ("stream", "/v1/chat/completions",
     {"model": "gemini-2.0-flash", "stream": True,
      "messages": [{"role": "user", "content": "hello"}]}),
    ("embed", "/v1/embeddings",
     {"model": "text-embedding-004", "input": ["a", "b", "c"]}),
]


def read_answer(sock):
    """Read one HTTP/1.1 response (Connection: close) off sock."""
    data = b""
    while True:
        b = sock.recv(65536)
        if not b:
            break
        data += b
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no complete head: %r" % data[:200])
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while True:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                raise ValueError("chunked body cut short")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            if len(rest) < n + 2 or rest[n:n + 2] != b"\r\n":
                raise ValueError("bad chunk")
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    elif "content-length" in hdrs:
        if len(body) != int(hdrs["content-length"]):
            raise ValueError("body shorter than Content-Length")
    else:
        raise ValueError("no framing")
    return status, hdrs, body


def is_openai_error(obj):
    return (isinstance(obj, dict) and isinstance(obj.get("error"), dict)
            and isinstance(obj["error"].get("message"), str))


def check(kind, status, body):
    """'ok' or 'error' when well formed; raise otherwise."""
    if status != 200:
        if not is_openai_error(json.loads(body)):
            raise ValueError("status %d without an error object" % status)
        return "error"
    if kind == "chat":
        obj = json.loads(body)
        if obj.get("object") != "chat.completion" or \
                not obj["choices"][0]["message"]["content"].startswith("echo"):
            raise ValueError("bad completion %r" % body[:200])
        return "ok"
    if kind == "embed":
        obj = json.loads(body)
        if obj.get("object") != "list" or len(obj["data"]) != 3:
            raise ValueError("bad embeddings %r" % body[:200])
        return "ok"
    events = body.decode().split("\n\n")
    if events[-1] != "":
        raise ValueError("stream does not end with a blank line")
    events = events[:-1]
    if events[-1] != "data: [DONE]":
        raise ValueError("stream without [DONE]: %r" % body[-200:])
    err = False
    for e in events[:-1]:
        if e.startswith(":"):
            continue
        if not e.startswith("data: "):
            raise ValueError("bad event %r" % e)
        obj = json.loads(e[6:])
        if is_openai_error(obj):
            err = True
        elif obj.get("object") != "chat.completion.chunk":
            raise ValueError("bad chunk %r" % e)
    return "error" if err else "ok"


def client(port, i, quitter, results):
    kind, path, body = REQS[i % len(REQS)]
    raw = json.dumps(body).encode()
    req = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n"
           "Connection: close\r\n\r\n" % (path, TOKEN, len(raw))).encode() + raw
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        if quitter:
            # hang up at a random moment: mid-request, waiting, mid-answer
            cut = random.random()
            if cut < 0.2:
                s.sendall(req[:random.randrange(1, len(req))])
            else:
                s.sendall(req)
                time.sleep(random.uniform(0, 0.6))
                if cut > 0.6:
                    s.recv(random.randrange(1, 400))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\1\0\0\0\0\0\0\0" if cut > 0.8 else b"\0" * 8)
            s.close()
            results[i] = ("quit", None)
            return
        s.sendall(req)
        status, _, data = read_answer(s)
        s.close()
        results[i] = (check(kind, status, data), status,
                      data[:300].decode(errors="replace"))
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        results[i] = ("FAIL", "%s %s: %s" % (kind, type(e).__name__, e))


def main():
    bindir = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="gb-load.")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("API_", "ALLOWED_", "AUTH_", "BASE_", "STATE_",
                                "MAX_", "TIMEOUT", "LOG_", "ENV_FILE"))}
    fails = []
    up_port, sv_port = free_port(), free_port()
    up = subprocess.Popen(
        [sys.executable, os.path.join(TOP, "tests", "fake-upstream.py"),
         str(up_port)], stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(tmp, "upstream.log"), "w"),
        env=dict(env, FAKE_UPSTREAM_MAX_RECORDS="100000"))
    serve = None
    try:
        if not wait_port(up_port):
            sys.exit("load: the fake upstream did not start")
        # answers take a while, so requests overlap
        control(up_port, "POST", "defaults",
                {"delay": 0.15, "event_delay": 0.05, "pieces": 4})
        faults = []
        for n in range(400):
            f = n % 3
            if f == 0:
                faults.append({"key": KEYS[3], "status": 503,
                               "message": "overloaded"})
            elif f == 1:
                faults.append({"key": KEYS[3], "reset_before_headers": True})
            else:
                faults.append({"key": KEYS[3], "status": 500, "delay": 0.1,
                               "message": "internal"})
        # and some streams broken off mid-way on the third key: those
        # clients get an error event and [DONE]
        for n in range(15):
            faults.append({"key": KEYS[2], "path": "streamGenerateContent",
                           "events": [{"candidates": [{"content": {
                               "role": "model",
                               "parts": [{"text": "echo: par"}]}}]}] * 2,
                           "reset_after": 1})
        control(up_port, "POST", "script", faults)

        senv = dict(env,
                    API_KEYS=json.dumps(KEYS), ALLOWED_TOKENS=json.dumps([TOKEN]),
                    AUTH_TOKEN="load-admin",
                    BASE_URL="http://127.0.0.1:%d/v1beta" % up_port,
                    STATE_DIRECTORY=os.path.join(tmp, "state"),
                    MAX_RETRIES="4", TIMEOUT="20", LOG_LEVEL="warn",
                    MAX_FAILURES="3")
        names = ["API_KEYS", "ALLOWED_TOKENS", "AUTH_TOKEN", "BASE_URL",
                 "STATE_DIRECTORY", "MAX_RETRIES", "TIMEOUT", "LOG_LEVEL",
                 "MAX_FAILURES"]
        for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if v in senv:
                names.append(v)
        cmd = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % sv_port]
        for n in names:
            cmd += ["-E", n]
        cmd += [os.path.join(bindir, "gb-serve"), "-c", "1024"]
        serve = subprocess.Popen(
            cmd, env=senv, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "serve.log"), "w"))
        if not wait_port(sv_port):
            sys.exit("load: gb-serve did not start")

        quitters = set(random.sample(range(CLIENTS), QUITTERS))
        results = [None] * CLIENTS
        # gb-serve's threads, watched while the clients run: one loop
        most = [threads(serve.pid)]
        running = threading.Event()
        running.set()

        def watch():
            while running.is_set():
                most[0] = max(most[0], threads(serve.pid))
                time.sleep(0.01)
        watcher = threading.Thread(target=watch)
        watcher.start()
        t0 = time.monotonic()
        clients = [threading.Thread(target=client,
                                    args=(sv_port, i, i in quitters, results))
                   for i in range(CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(90)
        took = time.monotonic() - t0
        running.clear()
        watcher.join()
        if any(t.is_alive() for t in clients):
            fails.append("clients still waiting after 90 s")
        if most[0] != 1:
            fails.append("gb-serve ran %d threads at once, not 1" % most[0])

        # let the server finish: every connection child and tool gone
        end = time.monotonic() + 30
        while time.monotonic() < end and busy(serve.pid):
            time.sleep(0.1)
        # systemd-socket-activate execs gb-serve: same PID. Left behind:
        # anything under it, and any gb-* tool of this run (found by its
        # STATE_DIRECTORY) that escaped to another parent.
        gb = serve.pid
        mark = ("STATE_DIRECTORY=" + senv["STATE_DIRECTORY"]).encode()
        left, zombies = [], []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == gb:
                continue
            info = proc_info(int(p))
            if info is None:
                continue
            cmdl, state, ppid = info
            if state == "Z" and ppid == gb:
                zombies.append(p)
            try:
                with open("/proc/%s/environ" % p, "rb") as f:
                    mine = mark in f.read().split(b"\0")
            except OSError:
                mine = False
            if mine and is_tool(int(p), bindir) and not \
                    (ppid == gb and is_host(int(p))):
                left.append("%s %s" % (p, cmdl))
        for p in busy(gb):
            info = proc_info(p)
            left.append("%d %s" % (p, info[0] if info else "?"))
        left = sorted(set(left))

        recs = control(up_port, "GET", "requests")
        calls = [r for r in recs if r["path"].startswith("/v1beta/")]
        failed_calls = [r for r in calls if r["key"] == KEYS[3] or
                        (r["key"] == KEYS[2] and r["outcome"] == "reset")]
        st = subprocess.run([os.path.join(bindir, "gb-keys"), "list", "--json"],
                            env=senv, capture_output=True, text=True)
        keys = json.loads(st.stdout)["keys"]
        uses = sum(k["uses"] for k in keys)

        ok = sum(1 for r in results if r and r[0] == "ok")
        err = sum(1 for r in results if r and r[0] == "error")
        quit_ = sum(1 for r in results if r and r[0] == "quit")
        bad = [r[1] for r in results if r is None or r[0] == "FAIL"]
        errs = sorted({r[1] for r in results if r and r[0] == "error"})
        for r in results:
            if r and r[0] == "error" and r[1] != 200:
                print("load: error answer %d: %s" % (r[1], r[2]))
        for b in bad[:10]:
            fails.append("client: %s" % b)
        if bad:
            fails.append("%d clients got no well-formed answer" % len(bad))
        if left:
            fails.append("left behind: %s" % "; ".join(left[:10]))
        if zombies:
            fails.append("zombies: %s" % " ".join(zombies))
        # Every upstream call took a key. A client that hangs up after
        # gb-call took its key but before the request went out ends the
        # pipeline there: that use has no call. So the uses equal the
        # calls, plus at most one per client that hung up. libcurl no
        # longer sends a request again by itself (a reset before the
        # headers on a reused connection used to give one use, two
        # calls): fewer uses than calls is a failure.
        resets = sum(1 for r in calls if r["outcome"] == "reset" and
                     r["status"] is None)
        if not len(calls) <= uses <= len(calls) + quit_:
            fails.append("key uses %d do not add up to upstream calls %d "
                         "(+ at most %d hang-ups)" %
                         (uses, len(calls), quit_))
        if serve.poll() is not None:
            fails.append("gb-serve is not running any more")
        else:
            # stopped, it exits 0 and its hosts leave with it
            serve.send_signal(signal.SIGTERM)
            try:
                rc = serve.wait(40)
            except subprocess.TimeoutExpired:
                rc = "nothing after 40 s"
            if rc != 0:
                fails.append("gb-serve stopped with %s, not 0" % rc)
            end = time.monotonic() + 10
            while time.monotonic() < end and ours(bindir, mark):
                time.sleep(0.1)
            for p in ours(bindir, mark)[:10]:
                fails.append("left after gb-serve stopped: %s" % p)
        with open(os.path.join(tmp, "serve.log"), errors="replace") as f:
            san = [l.rstrip() for l in f
                   if "Sanitizer" in l or "runtime error" in l or
                   "should not be reached" in l]
        if san:
            fails.append("sanitizer reports: %s" % "; ".join(san[:5]))

        print("load: %d clients (%d hung up) in %.1f s: %d complete answers, "
              "%d well-formed errors%s" % (CLIENTS, quit_, took, ok, err,
                                          " (statuses %s)" % errs if errs else ""))
        print("load: %d upstream calls, %d faults injected (%.0f%%), "
              "key uses %d: %s" % (len(calls), len(failed_calls),
                                   100.0 * len(failed_calls) / max(1, len(calls)),
                                   uses, " ".join("%d" % k["uses"] for k in keys)))
        print("load: resets before the headers: %d; gb-serve's threads at "
              "most: %d" % (resets, most[0]))
        print("load: key uses - upstream calls = %d (hang-ups between "
              "taking a key and calling: at most %d)" %
              (uses - len(calls), quit_))
        print("load: failures %d, leftovers %d, zombies %d" %
              (len(bad), len(left), len(zombies)))
        for f in fails:
            print("load: FAIL %s" % f)
        if fails or os.environ.get("LOAD_KEEP"):
            print("load: logs in %s" % tmp)
            tmp = None
        return 1 if fails else 0
    finally:
        for p in (serve, up):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
