#!/usr/bin/env bats
# Secrets stay secret: a representative run of gb-serve (every route,
# streams, errors, LOG_LEVEL=debug) with distinctive keys and tokens,
# then a search of everything an outsider could see for them: every log
# line, every response (head and body) except the admin keys list, what
# the upstream was sent other than the x-goog-api-key header, and the
# command lines of every process while a stream is paused mid-way.
# Zero hits. The key state is private: files 0600, directory 0700.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

KEY1=AIzaSyQ7secretKEYoneXXXXXXXXXXXXXXXXj4Kq
KEY2=AIzaSyR8secretKEYtwoYYYYYYYYYYYYYYYYm5Lr
UTOK=sk-user-Zq81secretTOKENuser
ATOK=sk-admin-Wv42secretTOKENadmin

# the configuration (test_helper clears it before each test)
secrets_env() {
	export API_KEYS="[\"$KEY1\",\"$KEY2\"]" ALLOWED_TOKENS="[\"$UTOK\"]"
	export AUTH_TOKEN=$ATOK LOG_LEVEL=debug MAX_RETRIES=2
	export STATE_DIRECTORY=$BATS_FILE_TMPDIR/state
}

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	secrets_env
	export SERVE_LOG=$BATS_FILE_TMPDIR/serve.log
	start_serve activate
	export SERVE_PORT SERVE_PID
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_env
	secrets_env
}

# hits FILE...: every line of FILE holding a key or token (or a long
# enough piece of one), prefixed by the file name
hits() {
	local s
	for s in "$KEY1" "$KEY2" "$UTOK" "$ATOK" "${KEY1:8:20}" "${KEY2:8:20}" \
	    "${UTOK:8:14}" "${ATOK:9:14}"; do
		grep -aHF -- "$s" "$@"
	done
	return 0
}

# c NAME [curl args]: one request; head and body saved as seen/NAME
c() {
	local name=$1
	shift
	mkdir -p seen
	curl -sS -N -D "seen/$name.head" -o "seen/$name.body" -w '%{http_code}\n' "$@" \
	    >> seen/status || true
}

U() { url "$1"; }

@test "a representative run: no key or token in responses, logs, upstream URLs or argv" {
	local chat='{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	local stream='{"model":"gemini-2.0-flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
	upstream_reset
	c chat -H "Authorization: Bearer $UTOK" "$(U /v1/chat/completions)" -d "$chat"
	c chat-admin -H "Authorization: Bearer $ATOK" "$(U /hf/v1/chat/completions)" -d "$chat"
	c stream -H "Authorization: Bearer $UTOK" "$(U /v1/chat/completions)" -d "$stream"
	c embed -H "Authorization: Bearer $UTOK" "$(U /v1/embeddings)" \
	    -d '{"model":"text-embedding-004","input":["a","b"],"encoding_format":"base64"}'
	c models -H "Authorization: Bearer $UTOK" "$(U /v1/models)"
	c model -H "Authorization: Bearer $UTOK" "$(U /v1/models/gemini-2.0-flash)"
	c model404 -H "Authorization: Bearer $UTOK" "$(U /v1/models/nope)"
	c native-q "$(U "/v1beta/models/gemini-2.0-flash:generateContent?key=$UTOK")" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
	c native-h -H "x-goog-api-key: $UTOK" "$(U /gemini/v1beta/models/gemini-2.0-flash:countTokens)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"hi there"}]}]}'
	c native-s -H "Authorization: Bearer $ATOK" \
	    "$(U "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=$ATOK")" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
	c native-list "$(U "/v1beta/models?key=$UTOK&pageSize=2")"
	c native-bad "$(U "/v1beta/models?key=$UTOK-wrong")"
	c bad-token -H "Authorization: Bearer $UTOK-wrong" "$(U /v1/models)"
	c bad-json -H "Authorization: Bearer $UTOK" "$(U /v1/chat/completions)" -d "{\"key\":\"$UTOK\""
	c keys-user -H "Authorization: Bearer $UTOK" "$(U /v1/keys/list)"
	c keys-none "$(U "/v1/keys/list?key=$ATOK")"
	# upstream errors, the key's own failures included
	upstream_script '[{"status":400,"reason":"API_KEY_INVALID","message":"API key not valid. Please pass a valid API key."},{"status":429,"retry_delay":"1s"}]'
	c upstream-errors -H "Authorization: Bearer $UTOK" "$(U /v1/chat/completions)" -d "$chat"
	upstream_script '{"status":403,"message":"denied","repeat":true}'
	c upstream-403 -H "x-goog-api-key: $UTOK" "$(U /v1beta/models/gemini-2.0-flash:generateContent)" -d '{}'
	upstream_requests > upstream1.json
	upstream_reset
	gb-keys reset >/dev/null

	# a stream paused mid-way: every process's argv meanwhile
	upstream_script '{"path":"stream","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"par"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"t"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	# (the client keeps its token off argv too: the header from a file)
	printf 'Authorization: Bearer %s\n' "$UTOK" > auth.hdr
	c paused -H @auth.hdr "$(U /v1/chat/completions)" -d "$stream" &
	local client=$!
	upstream_requests 1 >/dev/null
	local p n=0
	: > cmdlines
	for p in /proc/[0-9]*; do
		{ tr "\\0" " " < "$p/cmdline"; } >> cmdlines 2>/dev/null && echo >> cmdlines
		n=$((n + 1))
	done
	grep -q gb-sse cmdlines
	grep -q gb-call cmdlines
	upstream_go
	wait "$client"

	# the positive control: the admin list does hold the full keys
	c keys-admin -H "Authorization: Bearer $ATOK" "$(U /v1/keys/list)"
	run -0 hits seen/keys-admin.body
	[ "${#lines[@]}" -ge 2 ]
	rm seen/keys-admin.*
	run -0 cat seen/status
	assert_output "$(printf '%s\n' 200 200 200 200 200 200 404 200 200 200 200 401 401 400 401 401 429 403 200 200)"

	upstream_requests > upstream2.json
	jq -s add upstream1.json upstream2.json > upstream.json
	jq -r '.[] | .path, .query, .body, (.headers | del(.["x-goog-api-key"]) | tostring)' \
	    upstream.json > upstream.seen
	# tokens go nowhere upstream, not even in x-goog-api-key
	jq -r '.[] | .headers["x-goog-api-key"] // empty' upstream.json > upstream.keys
	run -0 grep -c . upstream.keys
	[ "$output" -ge 10 ]

	run -0 hits "$SERVE_LOG" seen/* upstream.seen cmdlines
	assert_output ''
	run -1 grep -aHF -e "$UTOK" -e "$ATOK" upstream.json
	assert_output ''
	# and the log did say something about each request, masked
	run -0 grep -c '^gb-serve: .* [0-9]*ms ' "$SERVE_LOG"
	[ "$output" -ge 20 ]
	run -0 grep -c 'AIzaSy…' "$SERVE_LOG"
	[ "$output" -ge 5 ]
}

@test "the key state is private: directory 0700, files 0600" {
	run -0 stat -c '%a' "$STATE_DIRECTORY"
	assert_output 700
	run -0 find "$STATE_DIRECTORY" -mindepth 1 ! -perm 0600
	assert_output ''
	run -0 find "$STATE_DIRECTORY" -mindepth 1
	[ "${#lines[@]}" -ge 1 ]
	run -0 hits "$STATE_DIRECTORY"/*
	assert_output ''
}

@test "a state directory created under a permissive umask is still private" {
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/loose
	(umask 000 && gb-keys list >/dev/null)
	run -0 stat -c '%a' "$STATE_DIRECTORY"
	assert_output 700
	run -0 find "$STATE_DIRECTORY" -mindepth 1 ! -perm 0600
	assert_output ''
}
