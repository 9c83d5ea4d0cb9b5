# Helpers for tests/gb-keys.bats: fake keys, state inspection, a fake
# upstream for "gb-keys check".

# gbk_key N [FILL]: a 39-character fake key "AIzaSy" + 29 x FILL + N as
# four digits; its masked id is AIzaSy…NNNN.
gbk_key() {
	local fill
	printf -v fill '%029d' 0
	fill=${fill//0/${2:-x}}
	printf 'AIzaSy%s%04d' "$fill" "$1"
}

# gbk_keys N: API_KEYS value with keys 1..N, comma-separated.
gbk_keys() {
	local i fill out=
	printf -v fill '%029d' 0
	fill=${fill//0/x}
	for ((i = 1; i <= $1; i++)); do
		printf -v out '%s%sAIzaSy%s%04d' "$out" "${out:+,}" "$fill" "$i"
	done
	printf '%s' "$out"
}

# gbk_json FILTER: run jq FILTER over `gb-keys list --json`.
gbk_json() {
	gb-keys list --json | jq -r "$1"
}

# gbk_hold_lock: hold state/keys.lock from a background process until
# stopped by PID ($GBK_HOLDER); returns once the lock is held.
gbk_hold_lock() {
	mkdir -p state
	rm -f locked
	(exec 9>>state/keys.lock; flock -x 9; touch locked; exec sleep 60) \
	    3>&- &
	GBK_HOLDER=$!
	local i
	for i in $(seq 100); do
		[ -e locked ] && return 0
		sleep 0.05
	done
	echo "could not take the lock" >&2
	return 1
}

# gbk_fake_upstream GOODKEYS...: start a fake Gemini "models" endpoint on
# 127.0.0.1 answering 200 for the keys given and 400 API_KEY_INVALID for
# any other; each request is logged to upstream.log as
# "METHOD PATH KEY" (the key as received in x-goog-api-key, or "-").
# Sets GBK_PORT and GBK_UPSTREAM (the PID).
gbk_fake_upstream() {
	cat > fake.py <<'PY'
import http.server, json, sys
good = set(sys.argv[2:])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        key = self.headers.get("x-goog-api-key", "-")
        with open("upstream.log", "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, key))
        if key in good:
            code, body = 200, {"models": [{"name": "models/gemini-2.0-flash"}],
                               "nextPageToken": "x"}
        else:
            code, body = 400, {"error": {"code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "API_KEY_INVALID"}]}}
        b = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	GBK_PORT=$(free_port)
	python3 fake.py "$GBK_PORT" "$@" 3>&- &
	GBK_UPSTREAM=$!
	wait_port "$GBK_PORT"
}
