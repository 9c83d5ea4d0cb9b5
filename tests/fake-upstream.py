#!/usr/bin/env python3
"""fake-upstream.py - a scriptable fake of Google's Gemini API (v1beta) for tests.

Usage: fake-upstream.py PORT [SCRIPT_DIR]
       FAKE_UPSTREAM_CERT=cert+key.pem fake-upstream.py PORT   (HTTPS)

Listens on 127.0.0.1:PORT (PORT 0: the kernel picks one; another address
with FAKE_UPSTREAM_BIND), prints one line "listening on <address>:<port>"
to stdout once it accepts connections, and
serves until it gets SIGTERM/SIGINT. Python 3 standard library only.
With FAKE_UPSTREAM_CERT naming a PEM file holding a certificate and its
key, it speaks HTTPS instead (to test certificate verification).
FAKE_UPSTREAM_VERBOSE=1 logs every request to stderr.
FAKE_UPSTREAM_MAX_RECORDS (default 10000) bounds the request records kept
in memory; past it the oldest are dropped (long benchmark runs).
Point BASE_URL at http://127.0.0.1:<port>/v1beta.

Gemini routes (default behaviour, when no scripted response matches)
  GET  /v1beta/models[?pageSize=N&pageToken=T]   a small models list, paged
  GET  /v1beta/models/{m}                        one model, or 404 NOT_FOUND
  POST /v1beta/models/{m}:generateContent        "echo: <last user text>",
                                                 finishReason STOP, usageMetadata
  POST /v1beta/models/{m}:streamGenerateContent  ?alt=sse: the same answer in
                                                 3 SSE events (CRLF framing);
                                                 without alt=sse: a JSON array
  POST /v1beta/models/{m}:generateContent        of a model whose name holds
       and :streamGenerateContent               "image": a text part, an
                                                inlineData part (image/png,
                                                fixtures/media/pixel.png),
                                                a text part; streamed, one
                                                event each
  POST /v1beta/models/{m}:countTokens            {"totalTokens": <words>}
  POST /v1beta/models/{m}:embedContent           a deterministic vector
  POST /v1beta/models/{m}:batchEmbedContents     one vector per request
  POST /v1beta/models/{m}:generateContent        for a model whose name holds
                                                 "tts": speech, one inlineData
                                                 part of audio/L16 24 kHz PCM,
                                                 tests/fixtures/media/tone.pcm
  POST /v1beta/models/imagen-*:predict           sampleCount (default 1)
                                                 predictions, each the PNG
                                                 tests/fixtures/media/pixel.png
The key is taken from the x-goog-api-key header (or ?key=). No key: 403
PERMISSION_DENIED as Google answers. Any other key is valid unless a
scripted response says otherwise. Unknown paths: 404 NOT_FOUND.

Control interface (JSON in, JSON out; stable, other tests rely on it)
  GET  /_control/health            {"status":"ok","port":N}
  POST /_control/script            body: a response spec or an array of them;
                                   appended to the queue -> {"queued":N}
  POST /_control/load?name=NAME    like script, from SCRIPT_DIR/NAME.json
  POST /_control/go[?count=N]      release N (default 1) waits ("go" signals
                                   are counted; a wait consumes one)
  POST /_control/defaults          body: an object that shapes every unscripted
                                   answer: "text" (the answer instead of
                                   "echo: ..."), "pieces" (SSE events per
                                   stream, default 3), and any of "framing",
                                   "split", "delay", "event_delay",
                                   "transfer" below; {} restores the defaults
  POST /_control/reset             empty the queue, the records, the go count,
                                   the defaults
  GET  /_control/queue             what is left in the queue
  GET  /_control/requests[?wait=N[&settled=1]]
                                   every request recorded so far, oldest
                                   first. wait=N blocks (up to 10 s) until at
                                   least N requests arrived; settled=1 also
                                   until the first N have an outcome.

  A record: {"seq":1, "method":"POST", "path":"/v1beta/models/m:generateContent",
  "query":"alt=sse", "headers":{lower-case name: value}, "body":"<text>",
  "key":"<x-goog-api-key or ?key= or null>", "status":200, "events_sent":N,
  "client_port":N (the TCP port of the connection it came on),
  "outcome":null|"complete"|"client_gone"|"reset"|"closed"|"go_timeout"}.
  outcome is null while the response is in progress; "client_gone" means the
  client closed its end (seen while writing, or while waiting or sleeping).

Response spec (every field optional)
  "key": "K"         only a request with this key may take this entry
  "path": "S"        only a request whose path contains S may take it
  "method": "POST"   only a request with this method may take it
  "repeat": true     never consumed (e.g. key K always invalid)
  "status": 200      HTTP status
  "headers": {...}   extra response headers
  "body": str|json   the body (JSON values are encoded compactly)
  "body_file": "F"   the body, read from SCRIPT_DIR/F
  "message","reason","retry_delay","quota_id"
                     for status >= 400 without a body: a Google-style error
                     body {"error":{"code","message","status","details"}}
                     with ErrorInfo.reason, RetryInfo.retryDelay ("37s"),
                     QuotaFailure quotaId as given
  "events": [...]    an SSE stream: a JSON value becomes one event
                     "data: <compact json>" + blank line; a string is sent
                     verbatim (comments, split events, bad framing)
  "framing": "crlf"  line ends for events: "crlf" (Google's) or "lf"
  "chunks": [str]    raw body pieces, each written and flushed alone
  "split": N         write every event/chunk in pieces of N bytes
  "delay": S         seconds to wait before the status line
  "event_delay": S   seconds to wait before each event/chunk after the first
  "wait_headers": true  wait for a go signal before the status line
  "wait_before": [i] wait for a go signal before event/chunk i (0-based)
  "reset_before_headers": true
                     reset the connection (RST) instead of answering
  "reset_after": N   after N events/chunks, reset the connection (RST)
  "close_after": N   after N events/chunks, close without finishing the body
  "transfer": "chunked"|"length"|"close"
                     how the body is delimited; default "length" for a
                     plain body, "chunked" for events/chunks
  "gemini": FORM     a 200 GenerateContentResponse of one of these forms,
                     as a body, or for streamGenerateContent as a stream
                     (SSE with alt=sse, else a JSON array) of an event
                     with only usageMetadata, then one of the form:
                       no_parts       a candidate without content, STOP
                       empty_parts    a candidate whose parts are [], STOP
                       empty_text     a candidate whose one part is
                                      {"text": ""}, STOP
                       no_candidates  usageMetadata alone
                       blocked        promptFeedback.blockReason SAFETY
                       safety         a candidate finished SAFETY, no content
                       thought        only a thought part, STOP
                       function_call  only a functionCall part, STOP
                     ("events", "body" and the shaping fields may be
                     given beside it, and win)
Resources and their owners (each belongs to the key that created it; any
other key gets 403 PERMISSION_DENIED, as Google answers, and a name never
created gets the same)
  POST /upload/v1beta/files          X-Goog-Upload-Command: start -> 200,
                                     empty body, X-Goog-Upload-URL (this
                                     server, ?upload_id=..) and
                                     X-Goog-Upload-Status: active;
                                     with ?upload_id: "upload[, finalize]"
                                     appends the body; finalize answers
                                     {"file":{...}}, X-Goog-Upload-Status:
                                     final
  GET|DELETE /v1beta/files/{id}      GET /v1beta/files lists the key's own
  POST /v1beta/cachedContents        ttl ("300s") or expireTime; GET, PATCH,
                                     DELETE cachedContents/{id}, GET list
  POST models/{m}:batchGenerateContent  batches/{id}: GET, DELETE,
                                     POST :cancel; GET /v1beta/batches
  POST models/{m}:predictLongRunning models/{m}/operations/{id}: GET
                                     (also as operations/{id}); done: true
                                     from the first GET on
  POST /v1beta/interactions          previous_interaction_id must be the
                                     key's; GET, DELETE interactions/{id},
                                     POST interactions/{id}/cancel
  generateContent, streamGenerateContent and countTokens check every
  fileData.fileUri and cachedContent of the body the same way.
  GET /_control/resources            {name: owner key} of what exists

A request takes the first queue entry it matches; with none, the resources
above, then the default behaviour answers. Waits give up after 30 s (outcome "go_timeout").
A client that closes its connection during a wait or delay is noticed at
once (outcome "client_gone").
"""

import base64
import hashlib
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPT_DIR = None
STATE = threading.Condition()
QUEUE = []
RECORDS = []
DROPPED = [0]
MAX_RECORDS = int(os.environ.get("FAKE_UPSTREAM_MAX_RECORDS") or 10000)
GO = [0]
DEFAULTS = {}
SHAPING = ("framing", "split", "delay", "event_delay", "transfer")
WAIT_LIMIT = 30.0

MODELS = [
    ("gemini-2.0-flash", "Gemini 2.0 Flash",
     ["generateContent", "countTokens"]),
    ("gemini-2.0-flash-exp", "Gemini 2.0 Flash Experimental",
     ["generateContent", "countTokens"]),
    ("gemini-2.5-flash", "Gemini 2.5 Flash",
     ["generateContent", "countTokens", "createCachedContent"]),
    ("gemini-2.5-pro", "Gemini 2.5 Pro",
     ["generateContent", "countTokens", "createCachedContent"]),
    ("gemini-embedding-001", "Gemini Embedding 001",
     ["embedContent", "countTextTokens", "countTokens",
      "batchEmbedContents"]),
    ("text-embedding-004", "Text Embedding 004",
     ["embedContent", "batchEmbedContents"]),
]

CANONICAL = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


class ClientGone(Exception):
    pass


class GoTimeout(Exception):
    pass


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def google_error(status, message=None, reason=None, retry_delay=None,
                 quota_id=None):
    if status in CANONICAL:
        canon = CANONICAL[status]
    elif status >= 500:
        canon = "INTERNAL"
    else:
        canon = "FAILED_PRECONDITION"
    if message is None:
        if reason == "API_KEY_INVALID":
            message = "API key not valid. Please pass a valid API key."
        else:
            message = MESSAGES.get(status, "Error %d" % status)
    err = {"code": status, "message": message, "status": canon}
    details = []
    if reason is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason, "domain": "googleapis.com",
                        "metadata": {"service":
                                     "generativelanguage.googleapis.com"}})
    if quota_id is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{"quotaMetric":
                                        "generativelanguage.googleapis.com/"
                                        "generate_content_free_tier_requests",
                                        "quotaId": quota_id}]})
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": retry_delay})
    if details:
        err["details"] = details
    return {"error": err}


def model_object(mid, display, methods):
    return {"name": "models/" + mid, "version": "001",
            "displayName": display, "description": display + " (fake)",
            "inputTokenLimit": 1048576, "outputTokenLimit": 8192,
            "supportedGenerationMethods": methods,
            "temperature": 1.0, "topP": 0.95, "topK": 40}


def last_user_text(req):
    texts = []
    contents = req.get("contents") if isinstance(req, dict) else None
    if isinstance(contents, list):
        for c in reversed(contents):
            if isinstance(c, dict) and c.get("role", "user") == "user":
                for p in c.get("parts") or []:
                    if isinstance(p, dict) and isinstance(p.get("text"), str):
                        texts.append(p["text"])
                break
    return "".join(texts)


def vector(text, dims):
    out = []
    seed = text.encode("utf-8", "replace")
    i = 0
    while len(out) < dims:
        h = hashlib.sha256(seed + b"#" + str(i).encode()).digest()
        for b in h:
            if len(out) == dims:
                break
            out.append(round(b / 255.0 - 0.5, 6))
        i += 1
    return out


def parse_body(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def default_response(method, path, query, raw, key, seq):
    """The spec answering an unscripted request, shaped by DEFAULTS."""
    with STATE:
        d = dict(DEFAULTS)
    spec = default_spec(method, path, query, raw, key, seq, d)
    for k in SHAPING:
        if k in d:
            spec[k] = d[k]
    return spec


def speech_answer(model, action):
    """A TTS model's answer: the tone fixture as Gemini sends speech."""
    import base64
    if action != "generateContent" or "tts" not in model:
        return None
    tone = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "media", "tone.pcm")
    with open(tone, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    part = {"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000",
                           "data": data}}
    return {"body": {"candidates": [{"content": {"parts": [part],
                                                 "role": "model"},
                                     "finishReason": "STOP"}]}}


def default_spec(method, path, query, raw, key, seq, d):
    q = urllib.parse.parse_qs(query)
    if not path.startswith("/v1beta/"):
        return {"status": 404, "message": "Not found: " + path}
    if key is None or key == "":
        return {"status": 403, "message": "Method doesn't allow unregistered "
                "callers (callers without established identity). Please use "
                "API Key or other form of API consumer identity to call "
                "this API."}
    rest = path[len("/v1beta/"):]
    if method == "GET" and rest == "models":
        try:
            size = int(q.get("pageSize", ["50"])[0])
            start = int(q.get("pageToken", ["0"])[0] or 0)
        except ValueError:
            return {"status": 400, "message": "Invalid pageSize or pageToken"}
        size = max(1, min(size, 1000))
        page = MODELS[start:start + size]
        body = {"models": [model_object(*m) for m in page]}
        if start + size < len(MODELS):
            body["nextPageToken"] = str(start + size)
        return {"body": body}
    if method == "GET" and rest.startswith("models/"):
        mid = rest[len("models/"):]
        for m in MODELS:
            if m[0] == mid:
                return {"body": model_object(*m)}
        return {"status": 404, "message": "models/%s is not found for API "
                "version v1beta, or is not supported for generateContent."
                % mid}
    if method != "POST" or not rest.startswith("models/") or ":" not in rest:
        return {"status": 404, "message": "Not found: " + path}
    model, action = rest[len("models/"):].rsplit(":", 1)
    req = parse_body(raw)
    if req is None:
        return {"status": 400, "message": "Invalid JSON payload received."}
    spoken = speech_answer(model, action)
    if spoken is not None:
        return spoken
    if action in ("generateContent", "streamGenerateContent") \
            and "image" in model:
        return image_answer(model, action, q, req, seq)
    if action in ("generateContent", "streamGenerateContent"):
        text = last_user_text(req)
        answer = ("echo: " + text) if text else "Hello from the fake upstream."
        if isinstance(d.get("text"), str):
            answer = d["text"]
        ptok = max(1, len(text.split()))
        ctok = len(answer.split())
        usage = {"promptTokenCount": ptok, "candidatesTokenCount": ctok,
                 "totalTokenCount": ptok + ctok}
        if action == "generateContent":
            return {"body": {
                "candidates": [{"content": {"parts": [{"text": answer}],
                                            "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model,
                "responseId": "fake-%d" % seq}}
        n = len(answer)
        k = max(1, int(d.get("pieces", 3)))
        cuts = [n * i // k for i in range(k + 1)]
        evs = []
        for i in range(k):
            cand = {"content": {"parts": [{"text": answer[cuts[i]:cuts[i + 1]]}],
                                "role": "model"}, "index": 0}
            ev = {"candidates": [cand], "modelVersion": model,
                  "responseId": "fake-%d" % seq}
            if i == k - 1:
                cand["finishReason"] = "STOP"
                ev["usageMetadata"] = usage
            else:
                ev["usageMetadata"] = {"promptTokenCount": ptok,
                                       "totalTokenCount": ptok}
            evs.append(ev)
        if q.get("alt", [""])[0] == "sse":
            return {"events": evs,
                    "headers": {"Content-Type": "text/event-stream"}}
        return {"body": evs}
    if action == "countTokens":
        inner = req.get("generateContentRequest", req)
        words = 0
        for c in inner.get("contents") or []:
            for p in (c.get("parts") or []) if isinstance(c, dict) else []:
                if isinstance(p, dict) and isinstance(p.get("text"), str):
                    words += len(p["text"].split())
        return {"body": {"totalTokens": words,
                         "promptTokensDetails": [{"modality": "TEXT",
                                                  "tokenCount": words}]}}
    if action == "embedContent":
        dims = req.get("outputDimensionality") or 8
        text = "".join(p.get("text", "") for p in
                       (req.get("content") or {}).get("parts") or [])
        return {"body": {"embedding": {"values": vector(text, dims)}}}
    if action == "batchEmbedContents":
        reqs = req.get("requests")
        if not isinstance(reqs, list) or len(reqs) > 100:
            return {"status": 400, "message": "* BatchEmbedContentsRequest."
                    "requests: at most 100 requests can be in one batch\n"}
        embs = []
        for r in reqs:
            if r.get("model") != "models/" + model:
                return {"status": 400, "message": "Model name in request "
                        "does not match the URL's model"}
            dims = r.get("outputDimensionality") or 8
            text = "".join(p.get("text", "") for p in
                           (r.get("content") or {}).get("parts") or [])
            embs.append({"values": vector(text, dims)})
        return {"body": {"embeddings": embs}}
    media = media_default(model, action, req)
    if media is not None:
        return media
    return {"status": 404, "message": "Unknown action " + action}


PIXEL = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "fixtures", "media", "pixel.png")


def media_default(model, action, req):
    """The unscripted answers of the media actions, or None: Imagen's
    predict gives sampleCount copies of the fixture PNG."""
    if action == "predict" and model.startswith("imagen"):
        params = req.get("parameters") or {}
        n = params.get("sampleCount", 1)
        if not isinstance(n, int) or n < 1 or n > 4:
            return {"status": 400, "message": "sampleCount must be "
                    "between 1 and 4"}
        with open(PIXEL, "rb") as f:
            png = base64.b64encode(f.read()).decode("ascii")
        return {"body": {"predictions": [
            {"bytesBase64Encoded": png, "mimeType": "image/png"}
            for _ in range(n)]}}
    return None


def operation_alias(name):
    """operations/ID -> the models/M/operations/ID it names, if any."""
    if not name.startswith("operations/") or name.count("/") != 1:
        return name
    with STATE:
        for n in RESOURCES:
            if n.startswith("models/") and \
                    n.endswith("/" + name):
                return n
    return name
# Images in chat answers: a model whose name contains "image" draws
# tests/fixtures/media/pixel.png (PIXEL).


def image_answer(model, action, q, req, seq):
    """generateContent / streamGenerateContent of an image model: a text
    part, an inlineData part (pixel.png, image/png), another text part;
    streamed, each part in an event of its own."""
    with open(PIXEL, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    parts = [{"text": "Here is a pixel for: " + last_user_text(req)},
             {"inlineData": {"mimeType": "image/png", "data": data}},
             {"text": "That was the pixel."}]
    usage = {"promptTokenCount": 3, "candidatesTokenCount": 1300,
             "totalTokenCount": 1303}
    if action == "generateContent":
        return {"body": {
            "candidates": [{"content": {"parts": parts, "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage, "modelVersion": model,
            "responseId": "fake-%d" % seq}}
    evs = []
    for i, part in enumerate(parts):
        cand = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if i == len(parts) - 1:
            cand["finishReason"] = "STOP"
        evs.append({"candidates": [cand], "usageMetadata": usage,
                    "modelVersion": model, "responseId": "fake-%d" % seq})
    if q.get("alt", [""])[0] == "sse":
        return {"events": evs,
                "headers": {"Content-Type": "text/event-stream"}}
    return {"body": evs}


RESOURCES = {}     # name -> {"key": owner, "obj": the resource}
UPLOADS = {}       # upload_id -> {"key", "meta", "data", "mime"}
SERIAL = [0]


def new_id(prefix=""):
    with STATE:
        SERIAL[0] += 1
        return "%s%s%d" % (prefix, hashlib.sha256(
            str(time.time()).encode()).hexdigest()[:8], SERIAL[0])


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000Z"


def denied(name):
    return {"status": 403, "message": "You do not have permission to "
            "access the %s or it may not exist." % name}


def owned(name, key):
    with STATE:
        r = RESOURCES.get(name)
        return r is not None and r["key"] == key


def referenced(v, out):
    """The resource names a request body refers to."""
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("fileUri", "file_uri") and isinstance(x, str):
                i = x.find("files/")
                if i >= 0:
                    out.append(x[i:].split(":")[0].split("?")[0])
            elif k in ("cachedContent", "cached_content") and \
                    isinstance(x, str):
                out.append(x)
            elif k == "previous_interaction_id" and isinstance(x, str):
                out.append("interactions/" + x)
            else:
                referenced(x, out)
    elif isinstance(v, list):
        for x in v:
            referenced(x, out)
    return out


def create(name, key, obj):
    with STATE:
        RESOURCES[name] = {"key": key, "obj": obj}
    return {"body": obj}


def resource_response(method, path, query, raw, key, headers, port):
    """The answer of the resource routes, or None for the default."""
    q = urllib.parse.parse_qs(query)
    if not key:
        return None
    if path == "/upload/v1beta/files" and method == "POST":
        cmd = (headers.get("X-Goog-Upload-Command") or "").lower()
        uid = q.get("upload_id", [None])[0]
        if uid is None:
            if cmd != "start" or headers.get(
                    "X-Goog-Upload-Protocol") != "resumable":
                return {"status": 400, "message": "bad upload start"}
            uid = new_id("up-")
            with STATE:
                UPLOADS[uid] = {"key": key, "meta": parse_body(raw) or {},
                                "data": b"", "mime": headers.get(
                                    "X-Goog-Upload-Header-Content-Type")}
            return {"body": "", "headers": {
                "X-Goog-Upload-URL": "http://127.0.0.1:%d/upload/v1beta/"
                "files?upload_id=%s&upload_protocol=resumable" % (port, uid),
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-Chunk-Granularity": "8388608"}}
        with STATE:
            up = UPLOADS.get(uid)
        if up is None or up["key"] != key:
            return denied("upload " + str(uid))
        up["data"] += raw
        if "finalize" not in cmd:
            return {"body": "", "headers": {"X-Goog-Upload-Status": "active",
                                            "X-Goog-Upload-Size-Received":
                                            str(len(up["data"]))}}
        fid = new_id("f")
        name = "files/" + fid
        meta = up["meta"].get("file") or {}
        obj = {"name": name, "displayName": meta.get("displayName", fid),
               "mimeType": up["mime"] or "application/octet-stream",
               "sizeBytes": str(len(up["data"])),
               "createTime": rfc3339(time.time()),
               "expirationTime": rfc3339(time.time() + 48 * 3600),
               "uri": "http://127.0.0.1:%d/v1beta/%s" % (port, name),
               "state": "ACTIVE", "source": "UPLOADED"}
        with STATE:
            del UPLOADS[uid]
        create(name, key, obj)
        return {"body": {"file": obj},
                "headers": {"X-Goog-Upload-Status": "final"}}
    if not path.startswith("/v1beta/"):
        return None
    rest = path[len("/v1beta/"):]
    body = parse_body(raw) if raw else None
    if ":" in rest and rest.startswith("models/"):
        model, action = rest[len("models/"):].rsplit(":", 1)
        if action in ("generateContent", "streamGenerateContent",
                      "countTokens", "batchGenerateContent"):
            for n in referenced(body, []):
                if not owned(n, key):
                    return denied(n)
        if action == "batchGenerateContent" and method == "POST":
            name = "batches/" + new_id("b")
            obj = {"name": name, "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage."
                "v1main.GenerateContentBatch", "name": name,
                "model": "models/" + model, "state": "BATCH_STATE_PENDING",
                "createTime": rfc3339(time.time())}}
            return create(name, key, obj)
        if action == "predictLongRunning" and method == "POST":
            name = "models/%s/operations/%s" % (model, new_id("o"))
            return create(name, key, {"name": name})
        return None
    coll = rest.split("/", 1)[0]
    if coll not in ("files", "cachedContents", "batches", "interactions") \
            and "/operations/" not in rest and coll != "operations":
        return None
    if rest == coll:
        if method == "GET":
            field = {"batches": "operations"}.get(coll, coll)
            with STATE:
                mine = [r["obj"] for n, r in RESOURCES.items()
                        if n.startswith(coll + "/") and r["key"] == key]
            return {"body": {field: mine} if mine else {}}
        if method == "POST" and coll == "cachedContents":
            if not isinstance(body, dict):
                return {"status": 400, "message": "Invalid JSON payload"}
            for n in referenced(body, []):
                if not owned(n, key):
                    return denied(n)
            ttl = 3600.0
            if isinstance(body.get("ttl"), str):
                ttl = float(body["ttl"].rstrip("s"))
            name = "cachedContents/" + new_id("c")
            obj = {"name": name, "model": body.get("model"),
                   "createTime": rfc3339(time.time()),
                   "expireTime": body.get("expireTime") or
                   rfc3339(time.time() + ttl),
                   "usageMetadata": {"totalTokenCount": 10}}
            return create(name, key, obj)
        if method == "POST" and coll == "interactions":
            if not isinstance(body, dict):
                return {"status": 400, "message": "Invalid JSON payload"}
            for n in referenced(body, []):
                if not owned(n, key):
                    return {"status": 404, "message": "Interaction %s not "
                            "found" % n}
            iid = new_id("v1_")
            text = body.get("input")
            obj = {"id": iid, "object": "interaction",
                   "status": "completed", "model": body.get("model"),
                   "created": rfc3339(time.time()),
                   "updated": rfc3339(time.time()),
                   "role": "model",
                   "outputs": [{"type": "text", "text": "echo: %s" % (
                       text if isinstance(text, str) else "...")}],
                   "usage": {"total_input_tokens": 1,
                             "total_output_tokens": 2, "total_tokens": 3}}
            if body.get("previous_interaction_id"):
                obj["previous_interaction_id"] = \
                    body["previous_interaction_id"]
            return create("interactions/" + iid, key, obj)
        return {"status": 404, "message": "Not found: " + path}
    name = rest
    verb = None
    if name.endswith(":cancel") or name.endswith("/cancel"):
        name, verb = name[:-len(":cancel")], "cancel"
    name = operation_alias(name)
    if not owned(name, key):
        return denied(name)
    with STATE:
        r = RESOURCES[name]
        if method == "GET" and verb is None:
            if "/operations/" in name:
                r["obj"]["done"] = True
            return {"body": r["obj"]}
        if method == "DELETE" and verb is None:
            del RESOURCES[name]
            return {"body": {}}
        if method == "POST" and verb == "cancel":
            if "state" in r["obj"].get("metadata", {}):
                r["obj"]["metadata"]["state"] = "BATCH_STATE_CANCELLED"
            else:
                r["obj"]["status"] = "cancelled"
            return {"body": {}}
        if method == "PATCH" and coll == "cachedContents":
            if isinstance(body, dict) and isinstance(body.get("ttl"), str):
                r["obj"]["expireTime"] = rfc3339(
                    time.time() + float(body["ttl"].rstrip("s")))
            return {"body": r["obj"]}
    return {"status": 404, "message": "Not found: " + path}


GEMINI_FORMS = {
    "no_parts": {"candidates": [{"content": {"role": "model"},
                                 "finishReason": "STOP", "index": 0}]},
    "empty_parts": {"candidates": [{"content": {"role": "model",
                                                "parts": []},
                                    "finishReason": "STOP", "index": 0}]},
    "empty_text": {"candidates": [{"content": {"role": "model",
                                               "parts": [{"text": ""}]},
                                   "finishReason": "STOP", "index": 0}]},
    "no_candidates": {},
    "blocked": {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
         "probability": "HIGH"}]}},
    "safety": {"candidates": [{"finishReason": "SAFETY", "index": 0,
                               "safetyRatings": [
                                   {"category":
                                    "HARM_CATEGORY_DANGEROUS_CONTENT",
                                    "probability": "HIGH"}]}]},
    "thought": {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "pondering", "thought": True}]},
        "finishReason": "STOP", "index": 0}]},
    "function_call": {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather",
                          "args": {"city": "Paris"}}}]},
        "finishReason": "STOP", "index": 0}]},
}


def gemini_form(spec, path, query):
    """A spec with "gemini": FORM, made concrete for this request."""
    form = spec["gemini"]
    if form not in GEMINI_FORMS:
        return {"status": 400, "message": "fake: unknown gemini form " +
                str(form)}
    usage = {"promptTokenCount": 1, "totalTokenCount": 1}
    body = dict(GEMINI_FORMS[form])
    body["usageMetadata"] = usage
    body["modelVersion"] = "fake"
    out = dict(spec)
    del out["gemini"]
    if path.endswith(":streamGenerateContent"):
        evs = [{"usageMetadata": usage, "modelVersion": "fake"}, body]
        if "alt=sse" in query:
            out.setdefault("events", evs)
        else:
            out.setdefault("body", evs)
    else:
        out.setdefault("body", body)
    return out


def take_scripted(method, path, key):
    with STATE:
        for i, spec in enumerate(QUEUE):
            if "key" in spec and spec["key"] != key:
                continue
            if "path" in spec and spec["path"] not in path:
                continue
            if "method" in spec and spec["method"] != method:
                continue
            if not spec.get("repeat"):
                del QUEUE[i]
            return spec
    return None


def load_script(name):
    if SCRIPT_DIR is None or "/" in name or name.startswith("."):
        raise ValueError("no such script: " + name)
    with open(os.path.join(SCRIPT_DIR, name + ".json"), "rb") as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gemini/1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_UPSTREAM_VERBOSE"):
            sys.stderr.write("fake-upstream: " + (fmt % args) + "\n")

    # --- request side ---

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        if url.path.startswith("/_control/"):
            self.control(url.path[len("/_control/"):], url.query, raw)
            return
        q = urllib.parse.parse_qs(url.query)
        key = self.headers.get("x-goog-api-key")
        if key is None and "key" in q:
            key = q["key"][0]
        rec = {"method": self.command, "path": url.path, "query": url.query,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": raw.decode("utf-8", "replace"), "key": key,
               "status": None, "events_sent": 0, "outcome": None,
               "client_port": self.client_address[1]}
        with STATE:
            rec["seq"] = DROPPED[0] + len(RECORDS) + 1
            RECORDS.append(rec)
            if len(RECORDS) > MAX_RECORDS:
                del RECORDS[0]
                DROPPED[0] += 1
            STATE.notify_all()
        spec = take_scripted(self.command, url.path, key)
        if spec is not None and "gemini" in spec:
            spec = gemini_form(spec, url.path, url.query)
        if spec is None:
            spec = resource_response(self.command, url.path, url.query, raw,
                                     key, self.headers,
                                     self.server.server_port)
        if spec is None:
            spec = default_response(self.command, url.path, url.query, raw,
                                    key, rec["seq"])
        try:
            outcome = self.respond(spec, rec)
        except ClientGone:
            outcome = "client_gone"
            self.close_connection = True
        except GoTimeout:
            outcome = "go_timeout"
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            outcome = "client_gone"
            self.close_connection = True
        with STATE:
            rec["outcome"] = outcome
            STATE.notify_all()

    # --- response side ---

    def client_gone(self):
        """True when the peer has closed its end (EOF or RST pending)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            data = self.connection.recv(1, socket.MSG_PEEK)
            return data == b""
        except (ConnectionResetError, OSError):
            return True

    def pause(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.client_gone():
                raise ClientGone()
            time.sleep(min(left, 0.02))

    def wait_go(self):
        end = time.monotonic() + WAIT_LIMIT
        while True:
            with STATE:
                if GO[0] > 0:
                    GO[0] -= 1
                    return
                STATE.wait(0.02)
            if self.client_gone():
                raise ClientGone()
            if time.monotonic() > end:
                raise GoTimeout()

    def send_piece(self, data, chunked, split):
        if not data:
            return
        step = split if split and split > 0 else len(data)
        for i in range(0, len(data), step):
            part = data[i:i + step]
            if chunked:
                part = b"%x\r\n" % len(part) + part + b"\r\n"
            self.wfile.write(part)
            self.wfile.flush()

    def respond(self, spec, rec):
        status = int(spec.get("status", 200))
        headers = dict(spec.get("headers") or {})
        framing = "\r\n" if spec.get("framing", "crlf") == "crlf" else "\n"
        pieces = None
        if "events" in spec:
            pieces = []
            for ev in spec["events"]:
                if isinstance(ev, str):
                    pieces.append(ev.encode("utf-8"))
                else:
                    pieces.append(("data: " + compact(ev) + framing +
                                   framing).encode("utf-8"))
            headers.setdefault("Content-Type", "text/event-stream")
        elif "chunks" in spec:
            pieces = [c.encode("utf-8") for c in spec["chunks"]]
        if pieces is None:
            if "body_file" in spec:
                with open(os.path.join(SCRIPT_DIR or ".", spec["body_file"]),
                          "rb") as f:
                    body = f.read()
            elif "body" in spec:
                b = spec["body"]
                body = b.encode("utf-8") if isinstance(b, str) else \
                    compact(b).encode("utf-8")
            elif status >= 400:
                body = compact(google_error(
                    status, spec.get("message"), spec.get("reason"),
                    spec.get("retry_delay"), spec.get("quota_id"))).encode()
            else:
                body = b""
            pieces = [body]
            transfer = spec.get("transfer", "length")
        else:
            transfer = spec.get("transfer", "chunked")
        headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        if spec.get("delay"):
            self.pause(float(spec["delay"]))
        if spec.get("wait_headers"):
            self.wait_go()
        if spec.get("reset_before_headers"):
            return self.reset()
        rec["status"] = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        if transfer == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif transfer == "length":
            self.send_header("Content-Length", str(sum(map(len, pieces))))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        chunked = transfer == "chunked"
        waits = set(spec.get("wait_before") or [])
        split = int(spec.get("split", 0))
        for i, piece in enumerate(pieces):
            if spec.get("reset_after") == i:
                return self.reset()
            if spec.get("close_after") == i:
                self.close_connection = True
                return "closed"
            if i > 0 and spec.get("event_delay"):
                self.pause(float(spec["event_delay"]))
            if i in waits:
                self.wait_go()
            self.send_piece(piece, chunked, split)
            with STATE:
                rec["events_sent"] = i + 1
        if spec.get("reset_after") == len(pieces):
            return self.reset()
        if spec.get("close_after") == len(pieces):
            self.close_connection = True
            return "closed"
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        return "complete"

    def reset(self):
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.connection.close()
        return "reset"

    # --- control interface ---

    def reply(self, status, obj):
        body = (compact(obj) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, what, query, raw):
        q = urllib.parse.parse_qs(query)
        try:
            if what == "health" and self.command == "GET":
                return self.reply(200, {"status": "ok",
                                        "port": self.server.server_port})
            if what in ("script", "load") and self.command == "POST":
                if what == "load":
                    specs = load_script(q.get("name", [""])[0])
                else:
                    specs = json.loads(raw.decode("utf-8"))
                if isinstance(specs, dict):
                    specs = [specs]
                if not isinstance(specs, list) or \
                        not all(isinstance(s, dict) for s in specs):
                    raise ValueError("a spec is a JSON object")
                with STATE:
                    QUEUE.extend(specs)
                return self.reply(200, {"queued": len(specs)})
            if what == "go" and self.command == "POST":
                n = int(q.get("count", ["1"])[0])
                with STATE:
                    GO[0] += n
                    STATE.notify_all()
                return self.reply(200, {"go": GO[0]})
            if what == "defaults" and self.command == "POST":
                d = json.loads(raw.decode("utf-8") or "{}")
                if not isinstance(d, dict):
                    raise ValueError("defaults are a JSON object")
                with STATE:
                    DEFAULTS.clear()
                    DEFAULTS.update(d)
                return self.reply(200, d)
            if what == "reset" and self.command == "POST":
                with STATE:
                    del QUEUE[:]
                    del RECORDS[:]
                    DROPPED[0] = 0
                    GO[0] = 0
                    DEFAULTS.clear()
                    RESOURCES.clear()
                    UPLOADS.clear()
                return self.reply(200, {"reset": True})
            if what == "resources" and self.command == "GET":
                with STATE:
                    return self.reply(200, {n: r["key"] for n, r in
                                            RESOURCES.items()})
            if what == "queue" and self.command == "GET":
                with STATE:
                    return self.reply(200, list(QUEUE))
            if what == "requests" and self.command == "GET":
                want = int(q.get("wait", ["0"])[0])
                settled = q.get("settled", ["0"])[0] not in ("0", "")
                end = time.monotonic() + 10
                with STATE:
                    while time.monotonic() < end:
                        if DROPPED[0] + len(RECORDS) >= want and not (
                                settled and any(
                                    r["outcome"] is None for r in RECORDS
                                    if r["seq"] <= want)):
                            break
                        STATE.wait(0.05)
                    return self.reply(200, list(RECORDS))
        except (ValueError, OSError) as e:
            return self.reply(400, {"error": str(e)})
        return self.reply(404, {"error": "no such control: " + what})


def main():
    global SCRIPT_DIR
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: fake-upstream.py PORT [SCRIPT_DIR]\n")
        sys.exit(100)
    port = int(sys.argv[1])
    if len(sys.argv) == 3:
        SCRIPT_DIR = sys.argv[2]
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    # benchmarks open many connections at once: a deep accept queue keeps
    # them from waiting out SYN retransmits
    ThreadingHTTPServer.request_queue_size = 1024
    bind = os.environ.get("FAKE_UPSTREAM_BIND", "127.0.0.1")
    srv = ThreadingHTTPServer((bind, port), Handler)
    if os.environ.get("FAKE_UPSTREAM_CERT"):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["FAKE_UPSTREAM_CERT"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("listening on %s:%d" % (bind, srv.server_port), flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
