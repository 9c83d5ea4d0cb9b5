#!/usr/bin/env python3
"""Render the markdown report of bench/run.sh from its raw results.

usage: report.py RESULTS.tsv MICRO.tsv START.tsv HAVE_GB TLS_OK ROUNDS
       SECONDS ELAPSED

RESULTS.tsv rows: round, target, metric, value (see run.sh measure()).
BENCH_STREAMS_TSV (environment) names the concurrent-streams rows: N,
case, metric, value (bench/streams.sh); BENCH_STREAMS_ONLY=1 reports
only those.
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys

NAMES = {
    "floor": "nginx pass-through (floor)",
    "no": "gb-serve, Accept=no",
    "yes": "gb-serve, Accept=yes",
    "tls": "gb-serve, Accept=no",
}

# metric, target test, human target
TARGETS = [
    ("p50", lambda r: r <= 2.5, "chat p50 at c=1 ≤ ×2.5 floor"),
    ("first", lambda r: r <= 2.5, "stream first event p50 at c=1 ≤ ×2.5 floor"),
    ("rps", lambda r: r >= 0.04, "chat req/s at c=32 ≥ ×0.04 floor"),
    ("rps", lambda r: r >= 0.01, "(on the way) chat req/s at c=32 ≥ ×0.01 floor"),
]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load(path):
    data = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            rnd, tgt, metric, value = parts
            data[(rnd, tgt, metric)] = value
    return data


def us(v):
    v = num(v)
    if v is None:
        return "–"
    if v >= 10000:
        return "%.1f ms" % (v / 1000)
    if v >= 1000:
        return "%.2f ms" % (v / 1000)
    return "%.0f µs" % v


def rps(v):
    v = num(v)
    return "–" if v is None else "{:,.0f}".format(v)


def mib(v):
    v = num(v)
    return "–" if v is None else "%.1f MiB" % (v / 1024)


def ratio(a, b):
    a, b = num(a), num(b)
    if a is None or b is None or b == 0:
        return None
    return a / b


def rfmt(r):
    if r is None:
        return "–"
    if r >= 10:
        return "×%.0f" % r
    if r >= 0.1:
        return "×%.2f" % r
    return "×%.4f" % r


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              shell=True).stdout.strip()
    except OSError:
        return "?"


STREAM_NAMES = {
    "direct": "direct to the upstream",
    "serve": "gb-serve -l, defaults",
    "sock": "gb-serve, Accept=no (systemd-socket-activate), defaults",
    "nofile": "gb-serve -l, defaults, soft RLIMIT_NOFILE 1024",
}


def stream_name(c):
    if c in STREAM_NAMES:
        return STREAM_NAMES[c]
    if c.startswith("c"):
        return "gb-serve -l -c %s" % c[1:]
    return c


def dur(v):
    v = num(v)
    if v is None:
        return "–"
    if v >= 1e6:
        return "%.2f s" % (v / 1e6)
    return us(v)


def streams_section(path, w):
    """The concurrent-streams table from bench/streams.sh's rows."""
    rows, order = {}, []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 4:
                    continue
                n, c, m, v = parts
                if (n, c) not in order:
                    order.append((n, c))
                rows[(n, c, m)] = v
    except OSError:
        return
    if not order:
        return
    env = os.environ.get
    w("### Concurrent streams: N clients at once, each a long stream")
    w("")
    w("Each of N clients opens a connection (all opened within %s ms, "
      "none retried), sends one streaming request and reads the answer "
      "to its end (`bench/streams.c client`, one epoll loop). The "
      "upstream (`bench/streams.c up`, one epoll loop) answers "
      "`streamGenerateContent?alt=sse` with %s events %s ms apart, "
      "chunked, each written when due. Through gb-serve: "
      "`POST /v1/chat/completions` with `\"stream\":true`, complete when "
      "`data: [DONE]` came and the chunked body ended; direct: the same "
      "client POSTs the native request to the upstream, complete when the "
      "`finishReason` event came. wall = first connect() → last stream "
      "ended; first event = connect() → first `data:` line (p50/p99 over "
      "the streams that got one); ratios are to the direct run of the "
      "same N in this run. Peak RSS/threads/fds: summed over gb-serve and "
      "its descendants (by PID, /proc, every 50 ms; fds every 500 ms). "
      "Upstream: TCP connections accepted / streams / most streams at "
      "once, as the upstream counted them, and the latest it wrote an "
      "event after its due time (its own lag). gb-serve runs with its "
      "defaults (LOG_LEVEL info), each case started afresh." % (
          env("BENCH_STREAM_OPEN_MS", "1000"),
          env("BENCH_STREAM_EVENTS", "10"),
          env("BENCH_STREAM_GAP_MS", "500")))
    w("")
    w("| N | target | listen backlog | ok | failed | wall | ×direct "
      "| first event p50 | p99 | p99 ×direct | connect p99 | peak RSS "
      "| peak threads | peak fds | upstream conns / streams / at once "
      "| upstream latest event |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, c in order:
        g = lambda m: rows.get((n, c, m))
        d = lambda m: rows.get((n, "direct", m))
        fails = g("fails") or "–"
        if fails != "-" and fails != "–":
            fails = ", ".join(x.replace("_", " ").replace(":", ": ")
                              for x in fails.split(","))
            fails = "%s (%s)" % (g("failed") or "?", fails)
        else:
            fails = g("failed") or "–"
        direct = c == "direct"
        w("| {:,} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} "
          "| {} | {} | {} | {} |".format(
              int(n), stream_name(c), g("backlog") or "–",
              g("ok") or "–", fails, dur(g("wall_us")),
              "" if direct else rfmt(ratio(g("wall_us"), d("wall_us"))),
              dur(g("first_p50_us")), dur(g("first_p99_us")),
              "" if direct else rfmt(ratio(g("first_p99_us"),
                                           d("first_p99_us"))),
              dur(g("conn_p99_us")),
              "" if direct else mib(g("peak_kib")),
              "" if direct else (g("peak_threads") or "–"),
              "" if direct else (g("peak_fds") or "–"),
              "%s / %s / %s" % (g("up_accepted") or "–",
                                g("up_streams") or "–",
                                g("up_peak") or "–"),
              dur(g("up_late_max_us"))))
    w("")
    notes = []
    for n, c in order:
        if c == "direct":
            continue
        st = rows.get((n, c, "log_status")) or "none"
        other = rows.get((n, c, "log_other")) or ""
        sample = rows.get((n, c, "samples")) or ""
        lim = rows.get((n, c, "nofile")) or "?"
        notes.append("- N=%s, %s (descriptor limit soft/hard %s): "
                     "request log lines by status %s%s%s" % (
                         n, stream_name(c), lim, st,
                         "; other lines: " + other if other else
                         "; no other lines",
                         "; first error body the client got per status: "
                         + sample if sample else ""))
    if notes:
        w("gb-serve's log (stderr) per case, and what its error answers "
          "said:")
        w("")
        for line in notes:
            w(line)
        w("")


def keys_section(data, rounds, secs, w):
    """Chat req/s at c=32 by key pool size (bench/run.sh keys_section)."""
    sizes = sorted({int(t[4:]) for (_, t, _) in data if t.startswith("keys")
                    and t[4:].isdigit()})
    if not sizes:
        return
    base = sizes[0]
    w("### Key pool size: chat req/s at c=32 (`wrk -t2 -c32 -d%ss`), "
      "gb-serve Accept=no, N keys" % secs)
    w("")
    w("Each pool its own gb-serve and state directory, rounds "
      "interleaved; ratio to %d keys in the same round." % base)
    w("")
    w("| round | " + " | ".join("%d keys" % n for n in sizes) + " |")
    w("|---|" + "---|" * len(sizes))
    meds = {}
    for n in sizes:
        vals = [num(data.get((str(r), "keys%d" % n, "rps")))
                for r in range(1, rounds + 1)]
        vals = [v for v in vals if v is not None]
        meds[n] = sorted(vals)[len(vals) // 2] if vals else None
    for r in range(1, rounds + 1):
        b = data.get((str(r), "keys%d" % base, "rps"))
        cells = []
        for n in sizes:
            v = data.get((str(r), "keys%d" % n, "rps"))
            e = data.get((str(r), "keys%d" % n, "err32"))
            c = rps(v)
            if n != base:
                c += " (%s)" % rfmt(ratio(v, b))
            if e not in (None, "", "0"):
                c += ", %s errors" % e
            cells.append(c)
        w("| %d | %s |" % (r, " | ".join(cells)))
    w("| median | %s |" % " | ".join(
        rps(meds[n]) + ("" if n == base else " (%s)" %
                        rfmt(ratio(meds[n], meds[base]))) for n in sizes))
    w("")


def main():
    (res, micro, start, have_gb, tls_ok, rounds, secs,
     elapsed) = sys.argv[1:9]
    data = load(res)
    rounds = int(rounds)
    streams_tsv = os.environ.get("BENCH_STREAMS_TSV", "")
    only = os.environ.get("BENCH_STREAMS_ONLY", "0") == "1"
    targets = ["floor"] + (["no", "yes"] if have_gb == "1" else [])
    out = []
    w = out.append

    cpu = sh("sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1")
    w("## Run of %s" % datetime.datetime.utcnow().strftime(
        "%Y-%m-%d %H:%M UTC"))
    w("")
    w("- machine: %s CPUs (`nproc`), %s, Linux %s, %s" % (
        os.cpu_count(), cpu, platform.release(),
        sh("sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '\"'")))
    commit = sh("git -C %s rev-parse --short HEAD 2>/dev/null" %
                os.path.dirname(os.path.abspath(__file__)))
    if only:
        w("- commit %s" % commit)
    else:
        w("- tools: %s, %s, commit %s" % (
            sh("nginx -v 2>&1 | sed 's/^nginx version: //'"),
            sh("wrk -v 2>&1 | head -1 | cut -d' ' -f1-2"), commit))
    w("- load average (1/5/15 min) at start / end: %s (other work on "
      "the machine shows here and in the spread between rounds)" %
      os.environ.get("BENCH_LOAD", "?"))
    if only:
        w("- command: `BENCH_STREAMS_ONLY=1 make bench` (BENCH_STREAMS=%s%s); "
          "took %s s" % (os.environ.get("BENCH_STREAMS", "2000 5000"),
                         " BENCH_STREAMS_C=" + os.environ["BENCH_STREAMS_C"]
                         if os.environ.get("BENCH_STREAMS_C") else "",
                         elapsed))
        w("")
        if streams_tsv:
            streams_section(streams_tsv, w)
        print("\n".join(out))
        return
    w("- command: `make bench` (BENCH_ROUNDS=%d BENCH_SECONDS=%s); "
      "took %s s" % (rounds, secs, elapsed))
    w("- workloads: chat = non-stream `POST /v1/chat/completions` "
      "(floor: the same Gemini call passed through); c=1 is "
      "`wrk -t1 -c1 -d%ss`, c=32 is `wrk -t2 -c32 -d%ss`; stream = "
      "`bench/firstev`, time from request written to first `data:` "
      "line, p50 over up to 3000 sequential requests; RSS = peak of the "
      "summed VmRSS of the target's process tree (gb-* or nginx) "
      "sampled every 50 ms during the c=32 run; CPU/req = CPU time of "
      "that tree during the c=32 run ÷ requests; PSS = the same with "
      "shared pages split between processes (smaps_rollup); upstream "
      "conns/upstream req = new TCP connections ÷ requests, both counted "
      "by the fake upstream (stub_status) during the c=32 run; upstream "
      "calls/req = upstream requests ÷ client requests" %
      (secs, secs))
    if have_gb != "1":
        w("")
        w("**gb-serve is not built yet (or does not answer correctly): "
          "only the floor was measured.**")
    w("")

    # Per-round table.
    w("### Every round (ratio to the floor of the same round)")
    w("")
    w("| round | target | chat p50 c=1 | chat p99 c=1 | chat req/s c=32 "
      "| stream first event p50 | peak RSS c=32 | peak PSS c=32 | procs "
      "| CPU/req | upstream conns/upstream req | upstream calls/req "
      "| errors |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in range(1, rounds + 1):
        rs = str(r)
        for t in targets:
            g = lambda m: data.get((rs, t, m))
            f = lambda m: data.get((rs, "floor", m))
            def cell(m, fmt):
                v = g(m)
                if t == "floor":
                    return fmt(v)
                return "%s (%s)" % (fmt(v), rfmt(ratio(v, f(m))))
            errs = sum(int(num(g(m)) or 0)
                       for m in ("err1", "err32", "errs"))
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
              "| %s | %s |" % (
                rs, NAMES[t], cell("p50", us), cell("p99", us),
                cell("rps", rps), cell("first", us), mib(g("rss")),
                mib(g("pss")),
                g("procs") or "–", us(g("cpureq")),
                g("conns") or "–", g("ureq") or "–", errs))
    w("")

    # Summary against the targets: medians over the rounds.
    def med(t, m):
        vals = [num(data.get((str(r), t, m))) for r in range(1, rounds + 1)]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def rmed(t, m):
        vals = [ratio(data.get((str(r), t, m)), data.get((str(r), "floor", m)))
                for r in range(1, rounds + 1)]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    w("### Targets (issue 7), medians over %d rounds" % rounds)
    w("")
    if have_gb != "1":
        w("Floor medians: chat p50 %s, chat %s req/s at c=32, stream "
          "first event %s, peak RSS %s. No gb-serve to compare." % (
              us(med("floor", "p50")), rps(med("floor", "rps")),
              us(med("floor", "first")), mib(med("floor", "rss"))))
    else:
        w("| target | " + " | ".join(NAMES[t] for t in targets[1:]) + " |")
        w("|---|" + "---|" * len(targets[1:]))
        for m, test, label in TARGETS:
            cells = []
            for t in targets[1:]:
                r = rmed(t, m)
                cells.append("–" if r is None else "%s %s" % (
                    rfmt(r), "**holds**" if test(r) else "**misses**"))
            w("| %s | %s |" % (label, " | ".join(cells)))
        cells = []
        for t in targets[1:]:
            v = med(t, "rss")
            cells.append("–" if v is None else "%s %s" % (
                mib(v), "**holds**" if v <= 32 * 1024 else "**misses**"))
        w("| peak RSS of all gb-* processes at c=32 ≤ 32 MiB | %s |" %
          " | ".join(cells))
        cells = []
        for t in targets[1:]:
            v = med(t, "conns")
            cells.append("–" if v is None else "%.3f %s" % (
                v, "**holds**" if v <= 0.01 else "**misses**"))
        w("| new upstream connections per request → 0 (≤ 0.01) | %s |" %
          " | ".join(cells))
    w("")

    # TLS.
    w("### TLS upstream (self-signed, made at bench time): connection "
      "reuse, 3 s at c=32")
    w("")
    tl = [t for t in ("floor", "tls") if (("tls", t, "rps") in data)]
    ca_note = ("gb-call has no way (yet) to trust the bench's CA: libcurl "
               "7.88 with OpenSSL on Debian ignores SSL_CERT_FILE, "
               "SSL_CERT_DIR and CURL_CA_BUNDLE (it sets its compiled-in "
               "CA bundle itself); gb-call needs an option that sets "
               "CURLOPT_CAINFO, e.g. from CURL_CA_BUNDLE.")
    if tls_ok == "shim":
        w("gb-serve reached the TLS upstream only with `bench/cashim.c` "
          "preloaded (it sets CURLOPT_CAINFO on every libcurl handle): "
          + ca_note)
        w("")
    elif tls_ok != "1" and have_gb == "1":
        w("gb-serve could not be measured against the TLS upstream: "
          + ca_note)
        w("")
    w("| target | req/s | new TCP conns/upstream req | TLS handshakes | of which "
      "resumed | TLS requests | errors |")
    w("|---|---|---|---|---|---|---|")
    for t in tl:
        g = lambda m: data.get(("tls", t, m))
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            NAMES[t] + (" (TLS upstream)" if t == "tls" else " to TLS"),
            rps(g("rps")), g("conns") or "–", g("hs") or "–",
            g("resumed") or "–", g("tlsreq") or "–", g("err32") or "0"))
    w("")

    # Micro.
    rows = [l.rstrip("\n").split("\t") for l in open(micro) if l.strip()]
    if rows:
        w("### CPU per invocation, each tool run standalone (fork+exec, "
          "stdin from a file, 3×60 runs)")
        w("")
        w("| program | wall per run | CPU per run | user/sys µs | failed runs |")
        w("|---|---|---|---|---|")
        for label, wall, c, usys, fails in rows:
            w("| %s | %s | %s | %s | %s |" % (label, us(wall), us(c),
                                               usys, fails))
        w("")
    inproc = os.environ.get("BENCH_INPROC", "")
    if inproc:
        w("### A chat request's work without any process start")
        w("")
        kv = {}
        for tok in inproc.split():
            if "=" in tok:
                k, _, v = tok.partition("=")
                kv[k] = v
        if "total_us" in kv:
            conns = ""
            for line in inproc.splitlines():
                if line.startswith("INPROC_CONNS"):
                    conns = line.split()[1]
            w("`bench/inproc`: one long-lived process calling the lib/ "
              "functions the tools are made of, one chat request after "
              "another for 3 s (sequential, c=1) against the same fake "
              "upstream: the cost left for a design with long-lived "
              "workers.")
            w("")
            w("| stage | mean per request |")
            w("|---|---|")
            w("| chat-request conversion (parse, convert, serialise) | %s |"
              % us(kv.get("req_us")))
            w("| upstream call (keys + libcurl on a kept handle) | %s |"
              % us(kv.get("call_us")))
            w("| … of which one key-state update pair "
              "(gb_keys_next + gb_keys_record, measured apart) | %s |"
              % us(kv.get("keys_us")))
            w("| … for comparison: a bare libcurl POST on a kept handle, no "
              "key state | %s |"
              % us(kv.get("once_us")))
            w("| chat-response conversion | %s |" % us(kv.get("resp_us")))
            w("| **total** (%s requests; new upstream connections per "
              "request %s) | **%s** |" % (kv.get("n"), conns or "–",
                                          us(kv.get("total_us"))))
        else:
            w("`bench/inproc` gave no figures: %s" % inproc.strip()[:400])
        w("")
    rows = [l.rstrip("\n").split("\t") for l in open(start) if l.strip()]
    if rows:
        w("### Process start costs (median of 5 rounds × 100; pipe: × 20000)")
        w("")
        w("| what | wall per iteration | CPU of the child (wait4) |")
        w("|---|---|---|")
        for label, wall, c in rows:
            w("| %s | %s | %s |" % (label, us(wall), us(c)))
        w("")
    keys_section(data, rounds, secs, w)
    if streams_tsv:
        streams_section(streams_tsv, w)
    print("\n".join(out))


main()
