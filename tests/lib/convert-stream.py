#!/usr/bin/env python3
# convert-stream.py CASE.in [ARGS...]: feed one Gemini
# GenerateContentResponse to "gb-convert chat-response ARGS" whole, and
# the same candidates to "gb-sse ARGS" as a stream, then check that the
# deltas of the stream, joined per choice, say what the whole answer's
# message says: content, reasoning_content, tool_calls, images,
# finish_reason.
#
# The stream gives every part of every candidate an event of its own (so
# the joining is exercised), in the candidates' order, each candidate
# marked with the index the whole conversion gives it (its "index", or
# its position); the finishReason and groundingMetadata come with the
# candidate's last event, the promptFeedback and usage with the last
# event of all. Tool-call ids are random but for the signature after
# "~": "call_<16 hex>" is replaced before comparing.
#
# Both tools run in the current directory (its .env applies) and come
# from PATH. Exit 0 when they agree, 1 (with a report on stderr) when
# not, 2 when a tool failed.
import json
import re
import subprocess
import sys

CALL_ID = re.compile(r"^call_[0-9a-f]{16}(~.+)?$")


def events(resp):
    out = []
    cands = resp.get("candidates") or []
    for pos, c in enumerate(cands):
        idx = c.get("index", pos)
        parts = (c.get("content") or {}).get("parts") or []
        # at least one event per candidate, even without parts
        for i in range(max(len(parts), 1)):
            ec = {"index": idx}
            if parts:
                ec["content"] = {"role": "model", "parts": [parts[i]]}
            if i == max(len(parts), 1) - 1:
                for k in ("finishReason", "groundingMetadata"):
                    if k in c:
                        ec[k] = c[k]
            out.append({"candidates": [ec]})
    if not out:
        out.append({})
    for k in ("promptFeedback", "usageMetadata", "modelVersion"):
        if k in resp:
            out[-1][k] = resp[k]
    return "".join("data: " + json.dumps(e, ensure_ascii=False) + "\n\n"
                   for e in out).encode()


def norm_call(tc, where, problems):
    tc = dict(tc)
    m = CALL_ID.match(tc.get("id", ""))
    if m is None:
        problems.append("%s: tool call id %r" % (where, tc.get("id")))
    else:
        tc["id"] = "call_ID" + (m.group(1) or "")
    return tc


def whole_choices(doc, problems):
    got = {}
    for ch in doc["choices"]:
        msg = ch["message"]
        got[ch["index"]] = {
            "content": msg.get("content") or "",
            "reasoning_content": msg.get("reasoning_content", ""),
            "tool_calls": [norm_call(t, "whole", problems)
                           for t in msg.get("tool_calls", [])],
            "images": msg.get("images", []),
            "finish_reason": ch["finish_reason"],
        }
    return got


def stream_choices(raw, problems):
    got = {}
    for block in raw.decode().split("\n\n"):
        if not block.startswith("data: {"):
            continue
        ev = json.loads(block[len("data: "):])
        for ch in ev.get("choices", []):
            c = got.setdefault(ch["index"], {"content": "",
                                              "reasoning_content": "",
                                              "tool_calls": [],
                                              "images": [],
                                              "finish_reason": None})
            d = ch["delta"]
            c["content"] += d.get("content", "")
            c["reasoning_content"] += d.get("reasoning_content", "")
            c["images"] += d.get("images", [])
            for t in d.get("tool_calls", []):
                t = dict(t)
                if t.pop("index", None) != len(c["tool_calls"]):
                    problems.append("stream: tool call index out of order")
                c["tool_calls"].append(norm_call(t, "stream", problems))
            if ch.get("finish_reason") is not None:
                c["finish_reason"] = ch["finish_reason"]
    return got


def run(argv, data):
    p = subprocess.run(argv, input=data, capture_output=True)
    if p.returncode != 0:
        sys.stderr.write("%s: exit %d\n%s" % (" ".join(argv), p.returncode,
                                             p.stderr.decode()))
        sys.exit(2)
    return p.stdout


def main():
    case, args = sys.argv[1], sys.argv[2:]
    with open(case, "rb") as f:
        data = f.read()
    resp = json.loads(data)
    problems = []
    whole = whole_choices(json.loads(run(["gb-convert", "chat-response"] +
                                         args, data)), problems)
    stream = stream_choices(run(["gb-sse"] + args, events(resp)), problems)
    if whole != stream:
        problems.append("whole answer and joined stream differ:\n"
                        "whole:  %s\nstream: %s" %
                        (json.dumps(whole, ensure_ascii=False,
                                    sort_keys=True),
                         json.dumps(stream, ensure_ascii=False,
                                    sort_keys=True)))
    for p in problems:
        sys.stderr.write("%s: %s\n" % (case, p))
    sys.exit(1 if problems else 0)


main()
