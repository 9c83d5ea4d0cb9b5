#!/usr/bin/env bats
# Upstream faults through gb-serve (the real tools, against the fake
# upstream): refused connections, resets before headers, mid-body and
# mid-stream, a stalled stream, garbage, truncated or error bodies in a
# 200, an SSE event over gb-sse's cap and an answer over MAX_BODY. For
# each: the client gets a well-formed error (or a stream ending in an
# error event and [DONE]), the key state records the right outcome, and
# nothing of the request is left behind (no process, no job in a host).

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/proxy

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	serve_test_setup
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	export TIMEOUT=2 MAX_RETRIES=2 MAX_BODY=65536
}

teardown() {
	[ -n "${SERVE_PID:-}" ] && stop_serve
	SERVE_PID=
	proxy_stop_all
}

USER_AUTH='Authorization: Bearer tok-user'

# chat [JSON_FIELDS]: a chat request; the body then " STATUS"
chat() {
	curl -sS -N -w ' %{http_code}' -H "$USER_AUTH" "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash",'"${1:-}"'"messages":[{"role":"user","content":"hi"}]}'
}

# keys: each key's outcome as "uses consecutive failures state reason status"
keys() {
	gb-keys list --json | jq -r '.keys[] | "\(.uses) \(.consecutive_failures) \(.failures) \(.state) \(.last_error.reason // "-") \(.last_error.status // "-")"'
}

# no_leftovers: once the client is answered, nothing of its request is
# left: no process under gb-serve but the tools' hosts, and they run no
# job (a host holds no pipe but a running job's).
no_leftovers() {
	local i left
	for i in $(seq 60); do
		# no request's process, and the hosts run no job
		left=$(request_pids "$SERVE_PID")
		[ -z "$left" ] &&
		    [ "$(pipes_of $(host_pids "$SERVE_PID"))" -eq 0 ] && return 0
		sleep 0.05
	done
	echo "jobs: $(pipes_of $(host_pids "$SERVE_PID")) pipes in hosts" >&2
	for i in $left; do
		echo "left: $i $(tr '\0' ' ' < /proc/$i/cmdline)" >&2
	done
	return 1
}

# assert_openai_error STATUS: output is one OpenAI error object, then STATUS
assert_openai_error() {
	[[ $output == *" $1" ]] || { echo "status: $output"; return 1; }
	jq -e '(.error | keys == ["code","message","param","type"]) and (.error.message | type == "string")' <<<"${output% "$1"}" >/dev/null ||
	    { echo "not an OpenAI error: $output"; return 1; }
}

# assert_stream_error: an SSE stream whose last events are an error and
# [DONE]; prints the text deltas
assert_stream_error() {
	local data
	[[ $output == *" 200" ]] || { echo "status: $output"; return 1; }
	data=$(sed -n 's/^data: //p' <<<"${output% 200}")
	[ "$(tail -n 1 <<<"$data")" = '[DONE]' ] || { echo "no [DONE]: $output"; return 1; }
	[ "$(grep -c '^\[DONE\]$' <<<"$data")" = 1 ]
	tail -n 2 <<<"$data" | head -n 1 | jq -e '.error.message | type == "string"' >/dev/null ||
	    { echo "no error event: $output"; return 1; }
}

STREAM_PARTIAL='"events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"par"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"tial"}]}}]}]'

@test "connection refused: 502 in each dialect, a network error noted on every key" {
	export BASE_URL=http://127.0.0.1:$(free_port)/v1beta
	start_serve listen
	run -0 chat
	assert_openai_error 502
	assert_output --partial '"upstream unreachable"'
	run -0 chat '"stream":true,'
	assert_openai_error 502
	run -0 curl -sS -w ' %{http_code}' -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/m:generateContent)" -d '{}'
	assert_output '{"error":{"code":502,"message":"upstream unreachable","status":"INTERNAL"}} 502'
	run -0 keys
	assert_output $'3 0 0 active network error -\n3 0 0 active network error -'
	run -0 no_leftovers
}

@test "reset before the headers: retried on the next key, then 502" {
	upstream_script '{"reset_before_headers":true,"repeat":true}'
	start_serve listen
	run -0 chat
	assert_openai_error 502
	run -0 upstream_requests 2 settled
	run -0 jq -c '[.[].outcome]' <<<"$output"
	assert_output '["reset","reset"]'
	run -0 keys
	assert_output $'1 0 0 active network error -\n1 0 0 active network error -'
	run -0 no_leftovers
}

@test "reset mid-body: retried, the second key's answer is used" {
	upstream_script '{"status":200,"chunks":["{\"candidates\":[{\"content\":","{}]}"],"reset_after":1}'
	start_serve listen
	run -0 chat
	[[ $output == *' 200' ]]
	run -0 jq -r '.choices[0].message.content' <<<"${output% 200}"
	assert_output 'echo: hi'
	run -0 keys
	assert_output --regexp '^1 0 0 active network error -'$'\n''1 0 0 active - -$|^1 0 0 active - -'$'\n''1 0 0 active network error -$'
	run -0 no_leftovers
}

@test "reset mid-body on every key: 502" {
	upstream_script '{"status":200,"chunks":["{\"candidates\":[","{}]}"],"reset_after":1,"repeat":true}'
	start_serve listen
	run -0 chat
	assert_openai_error 502
	run -0 keys
	assert_output $'1 0 0 active network error -\n1 0 0 active network error -'
	run -0 no_leftovers
}

@test "reset mid-stream: the text so far once, then an error event and [DONE]" {
	upstream_script '{"path":"stream",'"$STREAM_PARTIAL"',"reset_after":1}'
	start_serve listen
	run -0 chat '"stream":true,'
	assert_stream_error
	run -0 jq -rj 'select(type == "object") | .choices[0].delta.content // empty' \
	    <<<"$(sed -n 's/^data: //p' <<<"${output% 200}" | sed '$d')"
	assert_output par
	run -0 upstream_count
	assert_output 1
	run -0 keys
	assert_output --regexp '^1 0 0 active'
	run -0 no_leftovers
}

@test "a stream stalling past TIMEOUT ends with an error event and [DONE]" {
	export TIMEOUT=1
	upstream_script '{"path":"stream",'"$STREAM_PARTIAL"',"wait_before":[1]}'
	start_serve listen
	SECONDS=0
	run -0 chat '"stream":true,'
	local took=$SECONDS
	assert_stream_error
	run -0 upstream_outcome 1
	assert_output client_gone
	# cut off about TIMEOUT after the last byte (not libcurl's ~6 s
	# more); the margin is wide, the fault this guards against is not
	[ "$took" -le 4 ] || { echo "took $took s"; false; }
	run -0 keys
	assert_output --regexp '^1 0 0 active'
	run -0 no_leftovers
}

@test "garbage or truncated JSON in a 200: retried on the next key, then 502" {
	upstream_script '[{"status":200,"body":"<html>oops</html>"},{"status":200,"body":"{\"candidates\":[{\"content\""}]'
	start_serve listen
	run -0 chat
	assert_openai_error 502
	[[ $output == *'upstream answer is not JSON'* ]]
	run -0 keys
	assert_output $'1 0 0 active not JSON 200\n1 0 0 active not JSON 200'
	# cut short by the connection's end: the other key answers
	upstream_script '{"status":200,"chunks":["{\"candidates\":["],"transfer":"close"}'
	run -0 chat
	[[ $output == *' 200' ]]
	run -0 jq -r '.choices[0].message.content' <<<"${output% 200}"
	assert_output 'echo: hi'
	run -0 upstream_count
	assert_output 4
	run -0 no_leftovers
}

@test "a 200 carrying an error body: 502 with the upstream's message" {
	upstream_script '{"status":200,"body":{"error":{"code":500,"message":"internal","status":"INTERNAL"}}}'
	start_serve listen
	run -0 chat
	assert_openai_error 502
	assert_output --partial internal
	run -0 no_leftovers
}

@test "an SSE event over gb-sse's cap: an error event and [DONE]" {
	python3 -c '
import json
big = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"" + "a" * (17 << 20) + "\"}]}}]}\r\n\r\n"
print(json.dumps({"path": "stream", "events": [{"candidates":[{"content":{"role":"model","parts":[{"text":"par"}]}}]}, big]}))' > big.json
	upstream_script < big.json
	start_serve listen
	run -0 chat '"stream":true,'
	assert_stream_error
	[ "${#output}" -lt 100000 ]
	run -0 keys
	assert_output --regexp '^1 0 0 active'
	run -0 no_leftovers
}

@test "an answer larger than MAX_BODY: a well-formed 502" {
	python3 -c '
import json
print(json.dumps({"status": 200, "body": {"candidates":[{"content":{"role":"model","parts":[{"text":"b" * 200000}]},"finishReason":"STOP"}]}}))' > huge.json
	upstream_script < huge.json
	start_serve listen
	run -0 chat
	assert_openai_error 502
	[ "${#output}" -lt 1000 ]
	run -0 no_leftovers
}

@test "an error body over gb-call's cap is not passed on whole" {
	python3 -c '
import json
print(json.dumps({"status": 500, "body": "x" * (2 << 20), "repeat": True}))' > hugeerr.json
	upstream_script < hugeerr.json
	start_serve listen
	run -0 chat
	assert_openai_error 502
	[ "${#output}" -lt 1000 ]
	run -0 keys
	assert_output $'1 0 0 active network error -\n1 0 0 active network error -'
	run -0 no_leftovers
}

@test "PROXIES: each upstream request through its key's proxy; a proxy down costs an attempt, not the key" {
	proxy_start A
	proxy_start B
	API_KEYS=$(for i in $(seq 20); do
		printf 'AIzaSyP1b2C3d4E5f6G7h8I9j0KlMnOpQrS%04d,' "$i"; done)
	# TIMEOUT bounds a request's attempts and their backoffs together:
	# the dead proxy's keys may come several in a row (the hash of a
	# random port decides), and six backoffs already pass 2 s
	export API_KEYS=${API_KEYS%,} MAX_RETRIES=20 TIMEOUT=30
	export PROXIES="[\"$(proxy_url A)\", \"$(proxy_url B)\"]"
	start_serve listen
	for i in $(seq 20); do
		run -0 chat
		[[ $output == *' 200' ]]
		run -0 chat '"stream":true,'
		[[ $output == *'data: [DONE]'*' 200' ]]
	done
	run -0 upstream_requests 40
	reqs=$output
	[ "$(jq length <<<"$reqs")" = 40 ]
	[ "$(jq -c '[.[].headers["x-via-proxy"]] - ["A", "B"]' <<<"$reqs")" = '[]' ]
	# each key twice (a chat and a stream), through one proxy
	[ "$(jq -c 'group_by(.key) | map([length, ([.[].headers["x-via-proxy"]] | unique | length)]) | unique' <<<"$reqs")" = '[[2,1]]' ]
	# the first key's proxy goes away: its keys' attempts fail, the
	# others' answer; nothing is held against a key
	down=$(jq -r 'sort_by(.seq)[0].headers["x-via-proxy"]' <<<"$reqs")
	proxy_stop "$down"
	upstream_reset
	for i in $(seq 10); do
		run -0 chat
		[[ $output == *' 200' ]]
	done
	up=A
	[ "$down" = B ] || up=B
	[ "$(upstream_requests | jq -c '[.[].headers["x-via-proxy"]] | unique')" = "[\"$up\"]" ]
	grep -q "via $(proxy_url "$down"): proxy failed: " "$SERVE_LOG"
	run -0 keys
	refute_output --partial invalid
	[ "$(gb-keys list --json | jq -c '[.keys[].consecutive_failures] | unique')" = '[0]' ]
	[ "$(gb-keys list --json | jq '[.keys[] | select(.last_error.reason == "proxy error")] | length')" -gt 0 ]
	run -0 no_leftovers
}

# native PATH: a native call; the body then " STATUS"
native() {
	curl -sS -N -w ' %{http_code}' -H 'x-goog-api-key: tok-user' \
	    "$(url "/v1beta/models/gemini-2.0-flash:$1")" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
}

# deltas: the text of a chat stream's deltas (output without " STATUS")
deltas() {
	sed -n 's/^data: //p' <<<"${output% 200}" | sed '$d' |
	    jq -rj '.choices[0].delta.content // empty'
}

@test "an empty answer is retried: the client sees only the second key's (chat, native; streamed and not)" {
	start_serve listen
	upstream_script '{"gemini":"empty_text"}'
	run -0 chat
	[[ $output == *' 200' ]]
	[ "$(jq -r '.choices[0].message.content' <<<"${output% 200}")" = 'echo: hi' ]
	upstream_script '{"gemini":"no_candidates"}'
	run -0 chat '"stream":true,'
	[[ $output == *'data: [DONE]'*' 200' ]]
	[ "$(deltas)" = 'echo: hi' ]
	upstream_script '{"gemini":"no_parts"}'
	run -0 native generateContent
	[[ $output == *' 200' ]]
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"${output% 200}")" = 'echo: hi' ]
	upstream_script '{"gemini":"empty_parts"}'
	run -0 native 'streamGenerateContent?alt=sse'
	[[ $output == *' 200' ]]
	[[ $output != *'"modelVersion":"fake"'* ]]
	[ "$(sed -n 's/^data: //p' <<<"${output% 200}" | jq -rj '.candidates[0].content.parts[0].text')" = 'echo: hi' ]
	# two upstream requests each, the empty one first
	[ "$(upstream_requests | jq -c '[.[].outcome]')" = '["complete","complete","complete","complete","complete","complete","complete","complete"]' ]
	run -0 keys
	# the first key got every empty answer, the second every real one
	assert_output $'4 0 0 active empty answer 200\n4 0 0 active - -'
	grep -q 'HTTP 200, stream ended before any content' "$SERVE_LOG"
	grep -q 'HTTP 200, empty answer (no content)' "$SERVE_LOG"
	run -0 no_leftovers
}

@test "a blocked prompt is answered at once: one upstream request each" {
	start_serve listen
	upstream_script '{"gemini":"blocked"}'
	run -0 chat
	[ "$(jq -r '.choices[0].finish_reason' <<<"${output% 200}")" = content_filter ]
	upstream_script '{"gemini":"safety"}'
	run -0 chat '"stream":true,'
	[[ $output == *'"finish_reason":"content_filter"'*'data: [DONE]'*' 200' ]]
	upstream_script '{"gemini":"blocked"}'
	run -0 native generateContent
	[ "$(jq -r .promptFeedback.blockReason <<<"${output% 200}")" = SAFETY ]
	upstream_script '{"gemini":"blocked"}'
	run -0 native 'streamGenerateContent?alt=sse'
	[[ $output == *'"blockReason":"SAFETY"'*' 200' ]]
	[ "$(upstream_count)" = 4 ]
	run -0 keys
	assert_output --regexp '^[0-9]+ 0 0 active - -'$'\n''[0-9]+ 0 0 active - -$'
}

@test "every attempt empty: a 502 saying so, in each route's dialect" {
	upstream_script '{"gemini":"empty_text","repeat":true}'
	start_serve listen
	msg='upstream answer is empty (no content)'
	run -0 chat
	assert_openai_error 502
	[ "$(jq -r .error.message <<<"${output% 502}")" = "$msg" ]
	run -0 chat '"stream":true,'
	assert_openai_error 502
	[ "$(jq -r .error.message <<<"${output% 502}")" = "$msg" ]
	run -0 native generateContent
	assert_output "{\"error\":{\"code\":502,\"message\":\"$msg\",\"status\":\"INTERNAL\"}} 502"
	run -0 native 'streamGenerateContent?alt=sse'
	assert_output "{\"error\":{\"code\":502,\"message\":\"$msg\",\"status\":\"INTERNAL\"}} 502"
	run -0 curl -sS -w ' %{http_code}' -H "$USER_AUTH" "$(url /v1/responses)" \
	    -d '{"model":"gemini-2.0-flash","input":"hi"}'
	assert_openai_error 502
	[ "$(jq -r .error.message <<<"${output% 502}")" = "$msg" ]
	run -0 curl -sS -w ' %{http_code}' -H "$USER_AUTH" "$(url /v1/responses)" \
	    -d '{"model":"gemini-2.0-flash","input":"hi","stream":true}'
	assert_openai_error 502
	run -0 curl -sS -w ' %{http_code}' -H 'x-api-key: tok-user' \
	    -H 'anthropic-version: 2023-06-01' "$(url /v1/messages)" \
	    -d '{"model":"gemini-2.0-flash","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
	assert_output "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"$msg\"}} 502"
	run -0 curl -sS -w ' %{http_code}' -H 'x-api-key: tok-user' \
	    -H 'anthropic-version: 2023-06-01' "$(url /v1/messages)" \
	    -d '{"model":"gemini-2.0-flash","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
	assert_output "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"$msg\"}} 502"
	# MAX_RETRIES (2) attempts each, no key charged
	[ "$(upstream_count)" = 16 ]
	run -0 keys
	assert_output --regexp '^8 0 0 active empty answer 200'$'\n''8 0 0 active empty answer 200$'
	run -0 no_leftovers
}
