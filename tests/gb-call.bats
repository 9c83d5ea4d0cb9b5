#!/usr/bin/env bats
# gb-call against the fake upstream: every row of the retry policy (what
# the caller sees and what the key state says afterwards), streaming
# without buffering, client disconnect, and keys kept out of argv, URLs
# and messages.

bats_require_minimum_version 1.5.0

load test_helper
load lib/upstream
load lib/proxy

# Three keys shaped like Google's (39 characters); masks end in their
# last four characters.
K1=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrS0001
K2=AIzaSyB1b2C3d4E5f6G7h8I9j0KlMnOpQrS0002
K3=AIzaSyC1b2C3d4E5f6G7h8I9j0KlMnOpQrS0003
M1='AIzaSy…0001'
M2='AIzaSy…0002'
M3='AIzaSy…0003'
GEN=models/gemini-2.0-flash:generateContent
STREAM='models/gemini-2.0-flash:streamGenerateContent?alt=sse'
REQ='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
# stream events with content: E n (n = 1, 2, 3, 9)
E() {
	printf '{"candidates":[{"content":{"parts":[{"text":"%s"}]}}]}' "$1"
}

setup_file() {
	upstream_start
}

teardown_file() {
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	export API_KEYS="$K1,$K2,$K3"
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	printf '%s' "$REQ" >req.json
}

teardown() {
	proxy_stop_all
}

# many_keys N: API_KEYS of N keys shaped like Google's
many_keys() {
	local i
	API_KEYS=
	for i in $(seq "$1"); do
		API_KEYS+=$(printf 'AIzaSyP1b2C3d4E5f6G7h8I9j0KlMnOpQrS%04d,' "$i")
	done
	export API_KEYS=${API_KEYS%,}
}

# calls N [ARGS...]: N calls of gb-call GET models/gemini-2.0-flash, one
# after the other, stderr appended to ./err, status lines to ./status;
# fails at the first that fails
calls() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		gb-call -S 4 "$@" GET models/gemini-2.0-flash >/dev/null \
		    2>>err 4>>status 3>&- || return 1
	done
}

# via: the recorded requests as [key, proxy that carried it] pairs, in
# order; via_by_key: per key, the proxies of its requests in order
via() {
	upstream_requests | jq -c 'map([.key, .headers["x-via-proxy"]])'
}
via_by_key() {
	upstream_requests | jq -c 'sort_by(.seq) | group_by(.key) |
	    map([.[].headers["x-via-proxy"]])'
}

# gbcall ARGS...: gb-call with its status line written to ./status
gbcall() {
	gb-call -S 4 "$@" 4>status
}

# status_is JSON: the status line, exactly, but for its key_id (the
# key's state id, a digest: checked on its own by the -K tests)
status_is() {
	local got
	got=$(jq -c 'del(.key_id)' status)
	[ "$got" = "$1" ] || {
		printf 'status line\n  expected: %s\n  actual:   %s\n' "$1" \
		    "$got" >&2
		return 1
	}
}

# key IDX FIELD: a field of gb-keys list --json for key IDX
key() {
	gb-keys list --json | jq -r ".keys[$1].$2"
}

# no_keys TEXT...: none of the full keys appears in TEXT
no_keys() {
	local t="$*"
	[[ $t != *"$K1"* && $t != *"$K2"* && $t != *"$K3"* ]] || {
		echo "a full key leaked: $t" >&2
		return 1
	}
}

# The Google-style error bodies the fake makes up (for exact comparisons).
ERR_KEY='{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}'
ERR_503='{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}'

# --- 2xx ---------------------------------------------------------------

@test "2xx: the answer on stdout, status line first, key recorded ok" {
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output '{"candidates":[{"content":{"parts":[{"text":"echo: hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3},"modelVersion":"gemini-2.0-flash","responseId":"fake-1"}'
	[ "$stderr" = "" ]
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[ "$(key 0 state)" = active ]
	[ "$(key 0 uses)" = 1 ]
	[ "$(key 0 consecutive_failures)" = 0 ]
}

@test "what reaches upstream: method, path, query, key header, body" {
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	r=$(upstream_request 1)
	[ "$(jq -r .method <<<"$r")" = POST ]
	[ "$(jq -r .path <<<"$r")" = /v1beta/models/gemini-2.0-flash:generateContent ]
	[ "$(jq -r .query <<<"$r")" = "" ]
	[ "$(jq -r '.headers["x-goog-api-key"]' <<<"$r")" = "$K1" ]
	[ "$(jq -r '.headers["content-type"]' <<<"$r")" = application/json ]
	[ "$(jq -r '.headers.expect' <<<"$r")" = null ]
	[ "$(jq -r .body <<<"$r")" = "$REQ" ]

	# GET: no body, no content type; the query is passed on as given
	run -0 --separate-stderr gbcall GET 'models?pageSize=2'
	r=$(upstream_request 2)
	[ "$(jq -r .method <<<"$r")" = GET ]
	[ "$(jq -r .path <<<"$r")" = /v1beta/models ]
	[ "$(jq -r .query <<<"$r")" = pageSize=2 ]
	[ "$(jq -r '.headers["x-goog-api-key"]' <<<"$r")" = "$K2" ]
	[ "$(jq -r '.headers["content-type"]' <<<"$r")" = null ]
	[ "$(jq -r .body <<<"$r")" = "" ]
	[ "$(jq -r '.models | length' <<<"$output")" = 2 ]
}

@test "a POST body is passed on byte for byte (binary, no newline added)" {
	upstream_script '{"body":{"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}}'
	printf '{"a":"\\u00e9\001"}\n\n' >body
	run -0 --separate-stderr gbcall POST "$GEN" <body
	upstream_request 1 .body >got
	printf '{"a":"\\u00e9\001"}\n\n\n' | cmp - got
}

# --- key faults: 400 API_KEY_INVALID, 401, 403 -------------------------

@test "400 API_KEY_INVALID: key failure recorded, retried on the next key" {
	upstream_script '{"status":400,"reason":"API_KEY_INVALID"}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 400 API_KEY_INVALID, key failure recorded" ]
	[ "$(upstream_request 1 '.headers["x-goog-api-key"]')" = "$K1" ]
	[ "$(upstream_request 2 '.headers["x-goog-api-key"]')" = "$K2" ]
	[ "$(upstream_request 2 .body)" = "$REQ" ]
	[ "$(key 0 consecutive_failures)" = 1 ]
	[ "$(key 0 last_error.status)" = 400 ]
	[ "$(key 0 last_error.reason)" = API_KEY_INVALID ]
	[ "$(key 1 consecutive_failures)" = 0 ]
	[ "$(key 1 state)" = active ]
}

@test "an error wrapped in an array (as Google sometimes sends) is understood" {
	upstream_script "{\"status\":400,\"body\":[$ERR_KEY]}"
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[ "$(key 0 last_error.reason)" = API_KEY_INVALID ]
}

@test "a success resets the key's failure count" {
	upstream_script "{\"status\":400,\"reason\":\"API_KEY_INVALID\",\"key\":\"$K1\"}"
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[ "$(key 0 consecutive_failures)" = 1 ]
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":1}"
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[ "$(key 0 consecutive_failures)" = 0 ]
	[ "$(key 0 failures)" = 1 ]
}

@test "401 and 403: key failures, retried on the next key" {
	upstream_script '[{"status":401},{"status":403}]'
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":3}"
	[ "$(upstream_count)" = 3 ]
	[ "$(key 0 consecutive_failures)" = 1 ]
	[ "$(key 0 last_error.status)" = 401 ]
	[ "$(key 1 consecutive_failures)" = 1 ]
	[ "$(key 1 last_error.status)" = 403 ]
	[ "$(key 2 consecutive_failures)" = 0 ]
}

@test "MAX_FAILURES key faults make a key invalid; none left: 503, exit 1" {
	export MAX_FAILURES=1
	upstream_script '{"status":400,"reason":"API_KEY_INVALID","repeat":true}'
	run -1 --separate-stderr gbcall POST "$GEN" <req.json
	# the last upstream answer is passed on unchanged
	assert_output "$ERR_KEY"
	status_is "{\"status\":400,\"key\":\"$M3\",\"attempts\":3}"
	[ "${stderr##*$'\n'}" = "gb-call: giving up after 3 attempts: HTTP 400 API_KEY_INVALID" ]
	for i in 0 1 2; do [ "$(key $i state)" = invalid ]; done

	run -1 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output '{"error":{"code":503,"message":"no usable API key","status":"UNAVAILABLE"}}'
	status_is '{"status":503,"key":null,"attempts":0}'
	[ "$stderr" = "gb-call: no usable API key" ]
	[ "$(upstream_count)" = 3 ]
}

# --- 429 ---------------------------------------------------------------

@test "429: the key cools for RetryInfo's delay, retried on the next key" {
	upstream_script '{"status":429,"retry_delay":"37s","quota_id":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 429, key cools down for gemini-2.0-flash for 37 s" ]
	list=$(gb-keys list --json)
	# cooling for that model only: the key stays active for the others
	[ "$(jq -r '.keys[0].state' <<<"$list")" = active ]
	[ "$(jq -r '.keys[0].models_cooling[0].model' <<<"$list")" = gemini-2.0-flash ]
	left=$(jq -r '.keys[0].models_cooling[0].until - .now' <<<"$list")
	((left > 30 && left <= 37))
	[ "$(jq -r '.keys[0].consecutive_failures' <<<"$list")" = 0 ]
	[ "$(jq -r '.keys[1].state' <<<"$list")" = active ]
}

@test "429: a fractional delay rounds up; no delay means KEY_COOLDOWN" {
	export KEY_COOLDOWN=123
	upstream_script '[{"status":429,"retry_delay":"1.200s"},{"status":429}]'
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 429, key cools down for 2 s
gb-call: attempt 2 with key $M2: HTTP 429, key cools down for 123 s" ]
	list=$(gb-keys list --json)
	left=$(jq -r '.keys[1].cooling_until - .now' <<<"$list")
	((left > 115 && left <= 123))
}

@test "429: a Retry-After header is used when RetryInfo is missing" {
	upstream_script '{"status":429,"headers":{"Retry-After":"45"}}'
	run -0 --separate-stderr gbcall GET models
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 429, key cools down for 45 s" ]
}

@test "every key cooling: 429 with retry_after = earliest recovery, exit 1" {
	upstream_script '[{"status":429,"retry_delay":"30s"},{"status":429,"retry_delay":"10s"},{"status":429,"retry_delay":"20s"}]'
	run -1 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r .error.status <<<"$output")" = RESOURCE_EXHAUSTED ]
	[ "$(jq -r '.error.details[0].retryDelay' <<<"$output")" = 20s ]
	[ "$(jq -c 'del(.retry_after, .key_id)' status)" = "{\"status\":429,\"key\":\"$M3\",\"attempts\":3}" ]
	ra=$(jq .retry_after status)
	((ra >= 1 && ra <= 10))
	for i in 0 1 2; do [ "$(key $i 'models_cooling[0].model')" = gemini-2.0-flash ]; done

	# the next call makes no upstream request at all
	run -1 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output '{"error":{"code":429,"message":"every API key is cooling down; retry later","status":"RESOURCE_EXHAUSTED"}}'
	[ "$(jq -c 'del(.retry_after, .key_id)' status)" = '{"status":429,"key":null,"attempts":0}' ]
	ra=$(jq .retry_after status)
	((ra >= 1 && ra <= 10))
	[[ $stderr == "gb-call: every API key is cooling down (next in "*" s)" ]]
	[ "$(upstream_count)" = 3 ]
}

@test "429 for one model: the key rests for it and still serves the others" {
	PRO=models/gemini-2.5-pro:generateContent
	upstream_script '{"status":429,"retry_delay":"300s"}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	# six calls of each model, interleaved
	for i in 1 2 3 4 5 6; do
		run -0 gbcall POST "$GEN" <req.json
		run -0 gbcall POST "$PRO" <req.json
	done
	run -0 jq -r '.[2:] | map(select(.path | contains("2.0-flash"))) | map(.key) | unique | join(" ")' <<<"$(upstream_requests)"
	[ "$output" = "$K2 $K3" ]
	# while key 0 still serves the other model
	run -0 jq -r --arg k "$K1" '.[2:] | map(select(.path | contains("2.5-pro"))) | map(select(.key == $k)) | length' <<<"$(upstream_requests)"
	((output >= 1))
	[ "$(key 0 state)" = active ]
	[ "$(key 0 consecutive_failures)" = 0 ]
}

@test "429 of a per-day quota: the key rests for the model until midnight Pacific time" {
	upstream_script '{"status":429,"retry_delay":"0s","quota_id":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[[ $stderr == "gb-call: attempt 1 with key $M1: HTTP 429, key cools down for gemini-2.0-flash for "*" s (a per-day quota: until midnight Pacific time)" ]]
	until=$(key 0 'models_cooling[0].until')
	# midnight in Los Angeles after now (before and after the call)
	want=$(python3 -c 'import datetime, zoneinfo
z = zoneinfo.ZoneInfo("America/Los_Angeles")
d = datetime.datetime.now(z).date() + datetime.timedelta(days=1)
print(int(datetime.datetime(d.year, d.month, d.day, tzinfo=z).timestamp()))')
	[ "$until" = "$want" ]
	[ "$(key 0 state)" = active ]
	[ "$(key 0 'models_cooling | length')" = 1 ]
}

@test "429 of a per-minute quota without a delay rests for KEY_COOLDOWN" {
	export KEY_COOLDOWN=77
	upstream_script '{"status":429,"quota_id":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 429, key cools down for gemini-2.0-flash for 77 s" ]
}

# --- 5xx, network, timeout ---------------------------------------------

@test "5xx: retried on the next key, keys not penalised" {
	upstream_script '[{"status":500},{"status":503}]'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 500
gb-call: attempt 2 with key $M2: HTTP 503" ]
	for i in 0 1; do
		[ "$(key $i state)" = active ]
		[ "$(key $i consecutive_failures)" = 0 ]
	done
	# remembered as the last error all the same
	[ "$(key 1 last_error.status)" = 503 ]
}

@test "5xx on every attempt: the last answer passed on, exit 111" {
	upstream_script '{"status":503,"repeat":true}'
	run -111 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output "$ERR_503"
	status_is "{\"status\":503,\"key\":\"$M3\",\"attempts\":3}"
	[ "${stderr##*$'\n'}" = "gb-call: giving up after 3 attempts: HTTP 503" ]
	[ "$(upstream_count)" = 3 ]
	for i in 0 1 2; do [ "$(key $i consecutive_failures)" = 0 ]; done
}

@test "a 2xx that is not JSON is no answer: retried on the next key, no penalty" {
	upstream_script '{"body":"<html>proxy error</html>","headers":{"Content-Type":"text/html"}}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
	[ "$(jq -r .responseId <<<"$output")" = fake-2 ]
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 200, not JSON" ]
	[ "$(upstream_count)" = 2 ]
	[ "$(gb-keys list --json | jq -c '[.keys[].uses]')" = '[1,1,0]' ]
	[ "$(key 0 state)" = active ]
	[ "$(key 0 consecutive_failures)" = 0 ]
	[ "$(key 0 last_error.status)" = 200 ]
	[ "$(key 0 last_error.reason)" = "not JSON" ]
	[ "$(key 1 last_error)" = null ]
}

@test "no attempt answers JSON: 502 upstream answer is not JSON, exit 111" {
	# an HTML page, a truncated body, a body cut by the connection's end
	upstream_script '[{"body":"<html>a</html>"},{"body":"{\"candidates\":[{\"content\""},{"chunks":["{\"candidates\":["],"transfer":"close"}]'
	run -111 --separate-stderr gbcall GET models
	assert_output '{"error":{"code":502,"message":"upstream answer is not JSON","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 200, not JSON
gb-call: attempt 2 with key $M2: HTTP 200, not JSON
gb-call: attempt 3 with key $M3: HTTP 200, not JSON
gb-call: giving up after 3 attempts: HTTP 200, not JSON" ]
	[ "$(upstream_count)" = 3 ]
	[ "$(gb-keys list --json | jq -c '[.keys[].uses]')" = '[1,1,1]' ]
	for i in 0 1 2; do
		[ "$(key $i state)" = active ]
		[ "$(key $i consecutive_failures)" = 0 ]
	done

	# an empty 2xx body is no answer either; the last outcome decides
	upstream_script '[{"body":""},{"status":503}]'
	export MAX_RETRIES=2
	run -111 --separate-stderr gbcall GET models
	assert_output "$ERR_503"
	status_is "{\"status\":503,\"key\":\"$M2\",\"attempts\":2}"
}

@test "-s: a streamed 2xx is not checked as JSON, passed on from its first byte" {
	# not a generate stream: passed on whatever it is
	upstream_script '{"body":"<html>a</html>"}'
	run -0 --separate-stderr gbcall -s POST models/m:countTokens <req.json
	assert_output '<html>a</html>'
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[ "$(upstream_count)" = 1 ]
	# a generate stream without a single event is an empty stream
	upstream_script '{"body":"<html>a</html>"}'
	run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
	[ "$stderr" = "gb-call: attempt 1 with key $M2: HTTP 200, stream ended before any content" ]
	[[ $output == 'data: {"candidates":[{"content":{"parts":[{"text":"ec"}],'* ]]
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":2}"
}

@test "MAX_RETRIES bounds the attempts" {
	export MAX_RETRIES=2
	upstream_script '{"status":500,"repeat":true}'
	run -111 --separate-stderr gbcall GET models
	status_is "{\"status\":500,\"key\":\"$M2\",\"attempts\":2}"
	[ "$(upstream_count)" = 2 ]
}

@test "connection reset mid-answer (not -s): retried, nothing of it on stdout" {
	upstream_script '{"chunks":["{\"candidates\":[{\"content\":","{}}]}"],"reset_after":1}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	[[ $stderr == "gb-call: attempt 1 with key $M1: "* ]]
	[ "$(upstream_outcome 1)" = reset ]
	[ "$(key 0 consecutive_failures)" = 0 ]
	[ "$(key 0 last_error.reason)" = "network error" ]
}

@test "a reused connection lost before the answer is not sent again by libcurl" {
	upstream_script '[{"status":503},{"reset_before_headers":true}]'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 503
gb-call: attempt 2 with key $M2: connection lost before an answer (not sent again)" ]
	# attempt 2 went on the connection attempt 1 left open
	[ "$(upstream_request 2 .client_port)" = "$(upstream_request 1 .client_port)" ]
	[ "$(upstream_outcome 2)" = reset ]
	# the next key, not the same one again: one use per upstream request
	[ "$(upstream_request 3 .key)" = "$K3" ]
	[ "$(upstream_count)" = 3 ]
	[ "$(gb-keys list --json | jq -c '[.keys[].uses]')" = '[1,1,1]' ]
	[ "$(key 1 consecutive_failures)" = 0 ]
	[ "$(key 1 last_error.reason)" = "network error" ]

	# nor a GET
	upstream_script '[{"status":503},{"reset_before_headers":true}]'
	run -0 --separate-stderr gbcall GET models
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":3}"
	[ "$(upstream_count)" = 6 ]
}

@test "unreachable upstream: 502 Gemini-style error, exit 111, no penalty" {
	port=$(free_port)
	BASE_URL=http://127.0.0.1:$port/v1beta run -111 --separate-stderr \
	    gbcall GET models
	assert_output '{"error":{"code":502,"message":"upstream unreachable","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[[ ${stderr##*$'\n'} == "gb-call: giving up after 3 attempts: Failed to connect to 127.0.0.1 port $port"* ]]
	for i in 0 1 2; do
		[ "$(key $i state)" = active ]
		[ "$(key $i consecutive_failures)" = 0 ]
	done
}

@test "TIMEOUT: 504 when the deadline passes, the upstream connection dropped" {
	export TIMEOUT=1
	upstream_script '{"delay":20}'
	run -111 --separate-stderr gbcall GET models
	assert_output '{"error":{"code":504,"message":"upstream timed out","status":"DEADLINE_EXCEEDED"}}'
	status_is "{\"status\":504,\"key\":\"$M1\",\"attempts\":1}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: timed out
gb-call: giving up after 1 attempt: timed out" ]
	[ "$(upstream_outcome 1)" = client_gone ]
	[ "$(key 0 consecutive_failures)" = 0 ]
}

# --- other 4xx ---------------------------------------------------------

@test "other 4xx: passed on unchanged, not retried, key not penalised" {
	body='{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}'
	upstream_script "{\"status\":400,\"body\":$body}"
	run -1 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output "$body"
	status_is "{\"status\":400,\"key\":\"$M1\",\"attempts\":1}"
	[ "$stderr" = "gb-call: upstream answered HTTP 400" ]
	[ "$(upstream_count)" = 1 ]
	[ "$(key 0 consecutive_failures)" = 0 ]
	[ "$(key 0 last_error)" = null ]

	run -1 --separate-stderr gbcall GET models/no-such-model
	assert_output '{"error":{"code":404,"message":"models/no-such-model is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}'
	status_is "{\"status\":404,\"key\":\"$M2\",\"attempts\":1}"
	[ "$(upstream_count)" = 2 ]
	[ "$(key 1 consecutive_failures)" = 0 ]
}

@test "a non-JSON error body is passed on as it came" {
	upstream_script '{"status":400,"body":"<html>Bad Request</html>","headers":{"Content-Type":"text/html"}}'
	run -1 --separate-stderr gbcall GET models
	assert_output '<html>Bad Request</html>'
	status_is "{\"status\":400,\"key\":\"$M1\",\"attempts\":1}"
}

@test "LOG_LEVEL=error keeps retries and 4xx answers off stderr" {
	export LOG_LEVEL=error
	upstream_script '[{"status":503},{"status":404}]'
	run -1 --separate-stderr gbcall GET models
	[ "$stderr" = "" ]
	status_is "{\"status\":404,\"key\":\"$M2\",\"attempts\":2}"
}

# --- streaming ---------------------------------------------------------

@test "-s: each event reaches stdout before upstream sends the next" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"','"$(E 3)"'],"wait_before":[1,2]}'
	mkfifo out
	gb-call -s -S 4 POST "$STREAM" <req.json >out 2>err 4>status 3>&- &
	pid=$!
	exec 5<out
	# event 1 is readable while upstream holds back event 2 (it waits
	# for a go that only comes after we have read event 1)
	IFS= read -r -t 10 l1 <&5
	IFS= read -r -t 10 l2 <&5
	[ "$l1" = $'data: '"$(E 1)"$'\r' ]
	[ "$l2" = $'\r' ]
	# and the status line was out before the first byte
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[ "$(upstream_request 1 .events_sent)" = 1 ]
	upstream_go
	IFS= read -r -t 10 l1 <&5
	IFS= read -r -t 10 l2 <&5
	[ "$l1" = $'data: '"$(E 2)"$'\r' ]
	[ "$(upstream_request 1 .events_sent)" = 2 ]
	upstream_go
	run cat <&5
	exec 5<&-
	assert_output $'data: '"$(E 3)"$'\r\n\r'
	wait "$pid"
	[ "$(cat err)" = "" ]
	[ "$(upstream_request 1 .query)" = alt=sse ]
}

@test "-s: a 503 before the first byte is retried; stdout holds one answer" {
	upstream_script '[{"status":503},{"events":['"$(E 1)"','"$(E 2)"'],"framing":"lf"}]'
	run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
	assert_output $'data: '"$(E 1)"$'\n\ndata: '"$(E 2)"
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
}

@test "-s: a stream broken after its first byte is not retried, exit 111" {
	upstream_script '[{"events":['"$(E 1)"','"$(E 2)"'],"reset_after":1},{"events":['"$(E 9)"']}]'
	run -111 --separate-stderr gbcall -s POST "$STREAM" <req.json
	assert_output $'data: '"$(E 1)"$'\r\n\r'
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[[ $stderr == "gb-call: upstream answer broke off: "* ]]
	[ "$(upstream_count)" = 1 ]
	# the key answered 200: it is fine
	[ "$(key 0 state)" = active ]
	[ "$(key 0 consecutive_failures)" = 0 ]
}

@test "-s: a stream closed before its end is an error too" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"'],"close_after":1}'
	run -111 --separate-stderr gbcall -s POST "$STREAM" <req.json
	assert_output $'data: '"$(E 1)"$'\r\n\r'
	[[ $stderr == "gb-call: upstream answer broke off: "* ]]
}

@test "client disconnect: gb-call and its upstream connection end, no penalty" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"'],"wait_before":[1]}'
	mkfifo out
	gb-call -s -S 4 POST "$STREAM" <req.json >out 2>err 4>status 3>&- &
	pid=$!
	exec 5<out
	IFS= read -r -t 10 l1 <&5
	[ "$l1" = $'data: '"$(E 1)"$'\r' ]
	# the key is in no argv while the call is under way
	run cat "/proc/$pid/cmdline"
	no_keys "$output"
	# (under tests/valgrind.sh the process is valgrind running gb-call)
	[ -n "${GB_VALGRIND:-}" ] ||
	    [ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "gb-call -s -S 4 POST $STREAM " ]
	exec 5<&-
	# without any go: upstream sees the client leave, gb-call exits
	[ "$(upstream_outcome 1)" = client_gone ]
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	run wait "$pid"
	[ "$status" = 111 ]
	[ "$(cat err)" = "gb-call: write error: Broken pipe" ]
	[ "$(upstream_request 1 .events_sent)" = 1 ]
	[ "$(key 0 state)" = active ]
	[ "$(key 0 consecutive_failures)" = 0 ]
	[ "$(key 0 last_error)" = null ]
}

# --- empty answers -----------------------------------------------------

NATIVE='models/gemini-2.0-flash:streamGenerateContent'
ECHO_STREAM=$'data: {"candidates":[{"content":{"parts":[{"text":"ec"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash","responseId":"fake-2","usageMetadata":{"promptTokenCount":1,"totalTokenCount":1}}\r\n\r'

@test "an empty answer (each form) is retried on the next key, the key not charged" {
	for form in no_parts empty_parts empty_text no_candidates; do
		upstream_reset
		rm -rf "$STATE_DIRECTORY"
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall POST "$GEN" <req.json
		[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]
		[ "$(jq -r .responseId <<<"$output")" = fake-2 ]
		status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
		[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 200, empty answer (no content)" ]
		[ "$(key 0 state)" = active ]
		[ "$(key 0 consecutive_failures)" = 0 ]
		[ "$(key 0 failures)" = 0 ]
		[ "$(key 0 last_error.status)" = 200 ]
		[ "$(key 0 last_error.reason)" = "empty answer" ]
	done
}

@test "-s: a stream that ends before its first content is retried; none of it reaches stdout" {
	for form in no_parts empty_parts empty_text no_candidates; do
		upstream_reset
		rm -rf "$STATE_DIRECTORY"
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
		# the second key's stream, from its first byte
		[ "${lines[0]}" = "${ECHO_STREAM%$'\n'*}" ]
		[[ $output != *'"modelVersion":"fake"'* ]]
		[ "$(grep -c '^data: ' <<<"$output")" = 3 ]
		status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
		[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 200, stream ended before any content" ]
		[ "$(key 0 consecutive_failures)" = 0 ]
		[ "$(key 0 last_error.reason)" = "empty answer" ]
	done
	# unframed (no alt=sse), streamed or not
	upstream_script '{"gemini":"empty_text"}'
	run -0 --separate-stderr gbcall -s POST "$NATIVE" <req.json
	[ "$(jq -r '.[0].responseId' <<<"$output")" = fake-4 ]
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":2}"
	upstream_script '{"gemini":"no_parts"}'
	run -0 --separate-stderr gbcall POST "$NATIVE" <req.json
	[ "$(jq -r '.[0].responseId' <<<"$output")" = fake-6 ]
	status_is "{\"status\":200,\"key\":\"$M3\",\"attempts\":2}"
}

@test "a blocked prompt, a SAFETY finish, an error event: answered at once" {
	for form in blocked safety; do
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall POST "$GEN" <req.json
		[ "$(jq -r '.promptFeedback.blockReason // .candidates[0].finishReason' <<<"$output")" = SAFETY ]
		[ "$(jq -r .modelVersion <<<"$output")" = fake ]
		[ "$(jq .attempts status)" = 1 ]
		[ "$stderr" = "" ]
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
		[[ $output == *'"modelVersion":"fake"'* ]]
		[ "$(jq .attempts status)" = 1 ]
		[ "$stderr" = "" ]
	done
	[ "$(upstream_count)" = 4 ]
	# an error event before any content is passed on as it came
	upstream_script '{"events":[{"usageMetadata":{}},{"error":{"code":500,"message":"internal","status":"INTERNAL"}}]}'
	run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
	[[ $output == *'"message":"internal"'* ]]
	[ "$(jq .attempts status)" = 1 ]
	[ "$(upstream_count)" = 5 ]
	for i in 0 1 2; do [ "$(key $i last_error)" = null ]; done
}

@test "thought-only, function-call and MAX_TOKENS answers are content" {
	for form in thought function_call; do
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall POST "$GEN" <req.json
		[ "$(jq -r .modelVersion <<<"$output")" = fake ]
		upstream_script "{\"gemini\":\"$form\"}"
		run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
		[[ $output == *'"modelVersion":"fake"'* ]]
	done
	upstream_script '{"body":{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS"}]}}'
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r '.candidates[0].finishReason' <<<"$output")" = MAX_TOKENS ]
	[ "$(upstream_count)" = 5 ]
}

@test "every attempt empty: 502 with a clear message, exit 111, no key charged" {
	upstream_script '{"gemini":"empty_text","repeat":true}'
	run -111 --separate-stderr gbcall POST "$GEN" <req.json
	assert_output '{"error":{"code":502,"message":"upstream answer is empty (no content)","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1: HTTP 200, empty answer (no content)
gb-call: attempt 2 with key $M2: HTTP 200, empty answer (no content)
gb-call: attempt 3 with key $M3: HTTP 200, empty answer (no content)
gb-call: giving up after 3 attempts: HTTP 200, empty answer (no content)" ]
	run -111 --separate-stderr gbcall -s POST "$STREAM" <req.json
	assert_output '{"error":{"code":502,"message":"upstream answer is empty (no content)","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[ "${stderr##*$'\n'}" = "gb-call: giving up after 3 attempts: HTTP 200, stream ended before any content" ]
	[ "$(upstream_count)" = 6 ]
	for i in 0 1 2; do
		[ "$(key $i state)" = active ]
		[ "$(key $i consecutive_failures)" = 0 ]
		[ "$(key $i last_error.reason)" = "empty answer" ]
	done
}

@test "only generate answers are judged: other calls pass an empty 200 on" {
	upstream_script '[{"body":{}},{"body":{}},{"body":{}},{"body":{"models":[]}}]'
	for p in models/m:countTokens models/m:embedContent \
	    models/m:batchEmbedContents; do
		run -0 --separate-stderr gbcall POST "$p" <req.json
		assert_output '{}'
		[ "$(jq .attempts status)" = 1 ]
	done
	run -0 --separate-stderr gbcall GET models
	assert_output '{"models":[]}'
	[ "$(upstream_count)" = 4 ]
}

@test "-s: a stream is held until its first content, then flows event by event" {
	U='{"usageMetadata":{"promptTokenCount":1}}'
	upstream_script '{"events":['"$U,$U,$(E 1),$(E 2)"'],"wait_before":[3]}'
	mkfifo out
	gb-call -s -S 4 POST "$STREAM" <req.json >out 2>err 4>status 3>&- &
	pid=$!
	exec 5<out
	# the held events and the first content, before upstream sends more
	for want in "data: $U" '' "data: $U" '' "data: $(E 1)" ''; do
		IFS= read -r -t 10 l <&5
		[ "$l" = "$want"$'\r' ]
	done
	status_is "{\"status\":200,\"key\":\"$M1\",\"attempts\":1}"
	[ "$(upstream_request 1 .events_sent)" = 3 ]
	upstream_go
	run cat <&5
	exec 5<&-
	assert_output "data: $(E 2)"$'\r\n\r'
	wait "$pid"
	[ "$(cat err)" = "" ]
}

@test "-s: past 1 MiB held without content, a stream is passed on unjudged" {
	python3 -c 'import json; print(json.dumps({"events": [{"usageMetadata": {}, "pad": "x" * (1024 * 1024 + 10)}, {"usageMetadata": {}}]}))' >big.json
	upstream_script "$(cat big.json)"
	run -0 --separate-stderr gbcall -s POST "$STREAM" <req.json
	[ "$(grep -c '^data: ' <<<"$output")" = 2 ]
	[ "$(jq .attempts status)" = 1 ]
	[ "$(upstream_count)" = 1 ]
}

# --- keys stay secret --------------------------------------------------

@test "keys appear in no URL, message or status line" {
	upstream_script '[{"status":400,"reason":"API_KEY_INVALID"},{"status":429},{"status":503}]'
	run -111 --separate-stderr gbcall POST "$STREAM" <req.json
	no_keys "$output" "$stderr" "$(cat status)"
	BASE_URL=http://127.0.0.1:$(free_port)/v1beta run -111 \
	    --separate-stderr gbcall GET models
	no_keys "$output" "$stderr" "$(cat status)"
	run -0 upstream_requests
	for i in 1 2 3; do
		r=$(upstream_request $i)
		no_keys "$(jq -r '.path, .query' <<<"$r")"
		[ "$(jq -r .headers.host <<<"$r")" = "127.0.0.1:$UPSTREAM_PORT" ]
	done
	# nor in the request's URL line as a ?key= parameter
	[ "$(upstream_request 1 .query)" = alt=sse ]
}

# --- proxy -------------------------------------------------------------

@test "PROXY: the request goes through the proxy" {
	export PROXY=$UPSTREAM_URL
	BASE_URL=http://gemini.invalid/v1beta run -0 --separate-stderr \
	    gbcall GET models/gemini-2.0-flash
	[ "$(jq -r .name <<<"$output")" = models/gemini-2.0-flash ]
	[ "$(upstream_request 1 .headers.host)" = gemini.invalid ]
	[ "$(upstream_request 1 .path)" = /v1beta/models/gemini-2.0-flash ]
}

@test "PROXIES: every request through a proxy, each key always through the same one" {
	proxy_start A
	proxy_start B
	many_keys 30
	export PROXIES="[\"$(proxy_url A)\", \"$(proxy_url B)\"]"
	calls 90
	[ "$(cat err)" = "" ]
	[ "$(upstream_count)" = 90 ]
	# every request came through a proxy, and both carried some
	[ "$(via | jq -c 'map(.[1]) | unique')" = '["A","B"]' ]
	# each of the 30 keys three times, always through the same proxy
	run -0 via_by_key
	[ "$(jq length <<<"$output")" = 30 ]
	[ "$(jq -c 'map([length, unique]) | map([.[0], (.[1] | length)]) | unique' <<<"$output")" = '[[3,1]]' ]
}

@test "PROXIES: removing a proxy moves only the keys it carried" {
	proxy_start A
	proxy_start B
	proxy_start C
	many_keys 30
	# the comma form, then the JSON one without B
	export PROXIES="$(proxy_url A), $(proxy_url B) ,$(proxy_url C)"
	calls 30
	export PROXIES="[\"$(proxy_url A)\", \"$(proxy_url C)\"]"
	calls 30
	[ "$(cat err)" = "" ]
	run -0 via_by_key
	moves=$output
	# each key once with each list
	[ "$(jq -c 'map(length) | unique' <<<"$moves")" = '[2]' ]
	# A's and C's keys stayed where they were
	[ "$(jq '[.[] | select(.[0] != "B" and .[0] != .[1])] | length' <<<"$moves")" = 0 ]
	[ "$(jq '[.[] | select(.[0] != "B")] | length' <<<"$moves")" -gt 0 ]
	# B carried some keys, and they went to A and C
	[ "$(jq '[.[] | select(.[0] == "B")] | length' <<<"$moves")" -gt 0 ]
	[ "$(jq -c '[.[] | select(.[0] == "B") | .[1]] - ["A", "C"]' <<<"$moves")" = '[]' ]
}

@test "PROXIES: a proxy that cannot be reached costs an attempt, not the key" {
	proxy_start A
	proxy_start B
	many_keys 30
	export PROXIES="[\"$(proxy_url A)\", \"$(proxy_url B)\"]"
	export MAX_RETRIES=30
	# B goes away: its URL still in the list, its port refusing
	proxy_stop B
	b=$PROXY_PORT_B
	calls 30
	# every call was answered, some only on a later key
	[ "$(jq -sc 'map(.status) | unique' status)" = '[200]' ]
	(($(jq -s 'map(.attempts) | max' status) > 1))
	# every failed attempt was one through B, refused
	[ -s err ]
	run -1 grep -v "^gb-call: attempt [0-9]* with key AIzaSy…[0-9]* via http://127.0.0.1:$b: proxy failed: Failed to connect to 127.0.0.1 port $b after [0-9]* ms: Couldn't connect to server\$" err
	# what reached upstream came through A
	[ "$(via | jq -c 'map(.[1]) | unique')" = '["A"]' ]
	# B's keys: still active, no failure counted, the proxy noted
	list=$(gb-keys list --json)
	[ "$(jq -c '[.keys[] | select(.last_error != null) |
	    [.state, .consecutive_failures, .last_error.status, .last_error.reason]] | unique' <<<"$list")" = '[["active",0,null,"proxy error"]]' ]
	[ "$(jq '[.keys[] | select(.last_error != null)] | length' <<<"$list")" -gt 0 ]
}

@test "a proxy that refuses, cannot be resolved or speaks no SOCKS: retried, 502, keys not blamed" {
	proxy_start R refuse
	r=$(proxy_url R)
	# a refused CONNECT (an https upstream goes through a tunnel)
	PROXIES=$r BASE_URL=https://gemini.invalid/v1beta \
	    run -111 --separate-stderr gbcall GET models
	assert_output '{"error":{"code":502,"message":"upstream unreachable: the proxy failed","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[ "$stderr" = "gb-call: attempt 1 with key $M1 via $r: proxy failed: CONNECT tunnel failed, response 503
gb-call: attempt 2 with key $M2 via $r: proxy failed: CONNECT tunnel failed, response 503
gb-call: attempt 3 with key $M3 via $r: proxy failed: CONNECT tunnel failed, response 503
gb-call: giving up after 3 attempts: proxy failed: CONNECT tunnel failed, response 503" ]
	# a proxy name that does not resolve (this once was 502 at once)
	PROXIES=http://proxy.invalid:3128 run -111 --separate-stderr \
	    gbcall GET models
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[ "${stderr%%$'\n'*}" = "gb-call: attempt 1 with key $M1 via http://proxy.invalid:3128: proxy failed: Could not resolve proxy: proxy.invalid" ]
	# a SOCKS handshake refused
	PROXIES=socks5h://127.0.0.1:$PROXY_PORT_R run -111 --separate-stderr \
	    gbcall GET models
	status_is "{\"status\":502,\"key\":\"$M3\",\"attempts\":3}"
	[[ ${stderr%%$'\n'*} == "gb-call: attempt 1 with key $M1 via socks5h://127.0.0.1:$PROXY_PORT_R: proxy failed: "* ]]
	[ "$(upstream_count)" = 0 ]
	for i in 0 1 2; do
		[ "$(key $i state)" = active ]
		[ "$(key $i consecutive_failures)" = 0 ]
		[ "$(key $i last_error.reason)" = "proxy error" ]
	done
}

@test "PROXIES: socks5 and socks5h proxies, with a user and password" {
	proxy_start S
	PROXIES="socks5h://127.0.0.1:$PROXY_PORT_S" run -0 --separate-stderr \
	    gbcall GET models/gemini-2.0-flash
	PROXIES="socks5://alice:s3cr3t-pw@127.0.0.1:$PROXY_PORT_S" \
	    run -0 --separate-stderr gbcall GET models/gemini-2.0-flash
	[ "$(jq -r .name <<<"$output")" = models/gemini-2.0-flash ]
	[ "$(upstream_request 1 '.headers["x-via-proxy"]')" = S ]
	[ "$(upstream_request 2 '.headers["x-via-proxy"]')" = S ]
	[ "$(upstream_request 2 '.headers["x-via-proxy-user"]')" = alice ]
}

@test "a proxy's user and password reach the proxy, never a message" {
	proxy_start A
	a=$PROXY_PORT_A
	PROXIES="[\"http://alice:s3cr3t-pw@127.0.0.1:$a\"]" LOG_LEVEL=debug \
	    run -0 --separate-stderr gbcall GET models/gemini-2.0-flash
	[ "$(upstream_request 1 '.headers["x-via-proxy-user"]')" = alice ]
	[ "$stderr" = "gb-call: attempt 1 of 3: GET models/gemini-2.0-flash with key $M1 via http://***@127.0.0.1:$a" ]
	proxy_stop A
	PROXIES="[\"http://alice:s3cr3t-pw@127.0.0.1:$a\"]" LOG_LEVEL=debug \
	    run -111 --separate-stderr gbcall GET models/gemini-2.0-flash
	[[ $stderr == *"with key $M2 via http://***@127.0.0.1:$a: proxy failed: "* ]]
	[[ $stderr != *s3cr3t* && $stderr != *alice* && $output != *s3cr3t* ]]
	run -0 gb-keys list --json
	[[ $output != *s3cr3t* ]]
	PROXIES="http://a:b@127.0.0.1:$a, ftp://alice:s3cr3t-pw@127.0.0.1:1" \
	    run -100 --separate-stderr gb-call GET models
	[ "$stderr" = 'gb-call: PROXIES: "ftp://***@127.0.0.1:1" is not an http://, https://, socks5:// or socks5h:// URL' ]
}

@test "PROXIES wins over PROXY; without the hash a key's attempts go through any proxy" {
	proxy_start A
	proxy_start B
	PROXY=$(proxy_url A) PROXIES=$(proxy_url B) run -0 gb-call GET models
	[ "$(upstream_request 1 '.headers["x-via-proxy"]')" = B ]
	export API_KEYS=$K1 PROXIES="$(proxy_url A),$(proxy_url B)"
	calls 20
	[ "$(via | jq -c '.[1:] | map(.[1]) | unique | length')" = 1 ]
	export PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY=false
	calls 20
	[ "$(via | jq -c '.[21:] | map(.[1]) | unique')" = '["A","B"]' ]
	[ "$(cat err)" = "" ]
}

@test "http_proxy is honoured when PROXY is not set" {
	http_proxy=$UPSTREAM_URL BASE_URL=http://gemini.invalid/v1beta \
	    run -0 --separate-stderr gbcall GET models
	[ "$(upstream_request 1 .headers.host)" = gemini.invalid ]
}

@test "TLS: an unverifiable certificate fails at once, on no other key" {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
	    -out cert.pem -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	cat cert.pem key.pem >both.pem
	port=$(free_port)
	FAKE_UPSTREAM_CERT=$PWD/both.pem python3 "$UPSTREAM_PY" "$port" \
	    >tls.log 2>&1 3>&- &
	tls=$!
	wait_port "$port"
	BASE_URL=https://127.0.0.1:$port/v1beta run -111 --separate-stderr \
	    gbcall GET models
	stop_pid "$tls"
	assert_output '{"error":{"code":502,"message":"upstream request failed: SSL certificate problem: self-signed certificate","status":"INTERNAL"}}'
	status_is "{\"status\":502,\"key\":\"$M1\",\"attempts\":1}"
	[ "${stderr##*$'\n'}" = "gb-call: upstream request failed: SSL certificate problem: self-signed certificate" ]
	[ "$(key 0 consecutive_failures)" = 0 ]
}

@test "TLS: CURL_CA_BUNDLE names a private CA to trust" {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
	    -out cert.pem -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	cat cert.pem key.pem >both.pem
	port=$(free_port)
	FAKE_UPSTREAM_CERT=$PWD/both.pem python3 "$UPSTREAM_PY" "$port" \
	    >tls.log 2>&1 3>&- &
	tls=$!
	wait_port "$port"
	CURL_CA_BUNDLE=$PWD/cert.pem BASE_URL=https://127.0.0.1:$port/v1beta \
	    run -0 --separate-stderr gb-call GET models/gemini-2.0-flash
	stop_pid "$tls"
	[ "$(jq -r .name <<<"$output")" = models/gemini-2.0-flash ]
}

# --- a pinned key (-K), methods, upload headers (-H) -----------------

@test "-K ID: the call goes with that key alone; the status line names its id" {
	id=$(key 2 id)
	for i in 1 2 3; do
		run -0 --separate-stderr gbcall -K "$id" POST "$GEN" <req.json
		[ "$(jq -r .key_id status)" = "$id" ]
		[ "$(jq -r .key status)" = "$M3" ]
	done
	run -0 upstream_requests 3
	[ "$(jq -r '[.[].key] | unique | join(",")' <<<"$output")" = "$K3" ]
	# without -K the status line names the key that answered, by id too
	run -0 --separate-stderr gbcall POST "$GEN" <req.json
	[ "$(jq -r .key_id status)" = "$(key 0 id)" ]
}

@test "-K: a 403 or 429 is the answer, no other key is tried, the key is not charged" {
	id=$(key 1 id)
	upstream_script "{\"key\":\"$K2\",\"status\":403,\"message\":\"You do not have permission to access the File x or it may not exist.\"}"
	run -1 --separate-stderr gbcall -K "$id" GET files/x
	status_is "{\"status\":403,\"key\":\"$M2\",\"attempts\":1}"
	[ "$(jq -r .error.code <<<"$output")" = 403 ]
	[ "$(upstream_count)" = 1 ]
	[ "$(key 1 consecutive_failures)" = 0 ]
	upstream_script "{\"key\":\"$K2\",\"status\":429,\"retry_delay\":\"7s\"}"
	run -1 --separate-stderr gbcall -K "$id" POST "$GEN" <req.json
	status_is "{\"status\":429,\"key\":\"$M2\",\"attempts\":1,\"retry_after\":7}"
	[ "$(upstream_count)" = 2 ]
	# a 5xx is tried again, on the same key
	upstream_script "{\"key\":\"$K2\",\"status\":503}"
	run -0 --separate-stderr gbcall -K "$id" POST "$GEN" <req.json
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":2}"
	run -0 upstream_requests 4
	[ "$(jq -r '[.[].key] | unique | join(",")' <<<"$output")" = "$K2" ]
}

@test "-K: a key no longer configured, or invalid, is a 403 without an attempt" {
	id=$(key 2 id)
	API_KEYS="$K1,$K2" run -1 --separate-stderr gbcall -K "$id" GET files/x
	status_is '{"status":403,"key":null,"attempts":0}'
	[ "$(jq -r .error.message <<<"$output")" = "the API key that owns this resource (id $id) is no longer configured" ]
	[ "$stderr" = "gb-call: the API key that owns this resource (id $id) is no longer configured" ]
	for i in 1 2 3; do gb-keys fail 2 >/dev/null; done
	run -1 --separate-stderr gbcall -K "$id" GET files/x
	[ "$(jq -r .error.message <<<"$output")" = "the API key that owns this resource (id $id) is invalid (gb-keys reset revives it)" ]
	[ "$(upstream_count)" = 0 ]
	run -100 --separate-stderr gb-call -K 0123 GET files/x
	[ "$stderr" = "gb-call: -K 0123: not a key id (16 hex digits)" ]
}

@test "PATCH and DELETE; upload paths go below the upload root, with -H headers" {
	upstream_script '[{"method":"PATCH","body":{"name":"cachedContents/c"}},{"method":"DELETE","body":{}}]'
	run -0 --separate-stderr gbcall PATCH 'cachedContents/c?updateMask=ttl' <<<'{"ttl":"60s"}'
	[ "$(upstream_request 1 .method)" = PATCH ]
	[ "$(upstream_request 1 .body)" = '{"ttl":"60s"}' ]
	run -0 --separate-stderr gbcall DELETE cachedContents/c </dev/null
	[ "$(upstream_request 2 .method)" = DELETE ]
	[ "$(upstream_request 2 .path)" = /v1beta/cachedContents/c ]
	# a start: its empty 2xx answer is the answer (not "not JSON")
	printf '{"file":{}}' >meta.json
	run -0 --separate-stderr gbcall -H 'X-Goog-Upload-Protocol: resumable' -H 'X-Goog-Upload-Command: start' POST upload/files <meta.json
	[ "$output" = "" ]
	[ "$(upstream_request 3 .path)" = /upload/v1beta/files ]
	[ "$(upstream_request 3 '.headers["x-goog-upload-command"]')" = start ]
	url=$(jq -r .headers status | sed -n 's/^X-Goog-Upload-URL: //p')
	[[ $url == "$UPSTREAM_URL/upload/v1beta/files?upload_id="* ]]
	[ "$(jq -r .headers status | grep -c '^X-Goog-Upload-Status: active$')" = 1 ]
	# only upload headers and Content-Type may be added
	run -100 --separate-stderr gb-call -H "x-goog-api-key: $K2" GET models
	[ "$stderr" = "gb-call: -H: not an upload header, or too long" ]
	run -100 --separate-stderr gb-call -H $'X-Goog-Upload-Command: a\r\nHost: b' GET models
}

# --- output and usage errors ------------------------------------------

@test "stdout on /dev/full: exit 111 with a write error" {
	run -111 --separate-stderr sh -c 'gb-call POST "$1" <req.json >/dev/full' sh "$GEN"
	[ "$stderr" = "gb-call: write error: No space left on device" ]
	[ "$(key 0 state)" = active ]
}

@test "without -S the status line goes nowhere; stdout only has the body" {
	run -0 --separate-stderr gb-call GET models/gemini-2.5-flash
	[ "$(jq -r .name <<<"$output")" = models/gemini-2.5-flash ]
}

@test "usage errors exit 100" {
	run -100 --separate-stderr gb-call
	[ "$stderr" = "usage: gb-call [-s] [-H header] [-K id] [-S fd] method path" ]
	run -100 --separate-stderr gb-call -x GET models
	[ "${stderr##*$'\n'}" = "usage: gb-call [-s] [-H header] [-K id] [-S fd] method path" ]
	run -100 --separate-stderr gb-call GET
	run -100 --separate-stderr gb-call GET a b
	run -100 --separate-stderr gb-call PUT models
	[ "$stderr" = "gb-call: PUT: method must be GET, POST, PATCH or DELETE" ]
	run -100 --separate-stderr gb-call GET 'models x'
	[ "$stderr" = "gb-call: invalid path" ]
	run -100 --separate-stderr gb-call GET ''
	run -100 --separate-stderr gb-call GET 'models?key=abc'
	[ "$stderr" = "gb-call: the path must not carry a key parameter" ]
	run -100 --separate-stderr gb-call POST "$STREAM&key=abc" <req.json
	[ "$stderr" = "gb-call: the path must not carry a key parameter" ]
	run -100 --separate-stderr gb-call -S x GET models
	[ "$stderr" = "gb-call: -S x: invalid" ]
	run -100 --separate-stderr gb-call -S 1 GET models
	[ "$stderr" = "gb-call: -S 1: not a status fd" ]
	run -100 --separate-stderr gb-call -S 9 GET models
	[ "$stderr" = "gb-call: -S 9: Bad file descriptor" ]
	[ "$(upstream_count)" = 0 ]
}

@test "configuration errors exit 100 and name the variable" {
	unset API_KEYS
	run -100 --separate-stderr gb-call GET models
	[[ $stderr == "gb-call: API_KEYS is not set"* ]]
	API_KEYS=$K1 MAX_RETRIES=x run -100 --separate-stderr gb-call GET models
	[[ $stderr == "gb-call: MAX_RETRIES"* ]]
}

@test "a body larger than MAX_BODY exits 100 before any request" {
	export MAX_BODY=1024
	head -c 1025 /dev/zero >big
	run -100 --separate-stderr gb-call POST "$GEN" <big
	[ "$stderr" = "gb-call: request body larger than MAX_BODY (1024 bytes)" ]
	[ "$output" = "" ]
	head -c 1024 /dev/zero >ok
	run -1 --separate-stderr gb-call POST "$GEN" <ok
	[ "$(upstream_count)" = 1 ]
}

@test "the man page EXAMPLES work as shown" {
	run -0 --separate-stderr bash -c "echo '{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}' |
	    gb-call POST models/gemini-2.0-flash:generateContent"
	[ "$(jq -r '.candidates[0].content.parts[0].text' <<<"$output")" = "echo: hi" ]

	run -0 --separate-stderr bash -c "gb-call -s -S 3 POST \
	    'models/gemini-2.0-flash:streamGenerateContent?alt=sse' \
	    <req.json 3>status"
	[ "${#lines[@]}" = 6 ]
	status_is "{\"status\":200,\"key\":\"$M2\",\"attempts\":1}"

	run -0 --separate-stderr bash -c \
	    "gb-call GET 'models?pageSize=1000' | jq -r '.models[].name'"
	[ "${lines[0]}" = models/gemini-2.0-flash ]
	[ "$(upstream_request 3 .query)" = pageSize=1000 ]

	# 2a66a387aa92ae75 is K1's id
	upstream_script '{"path":"/files/abc123","body":{"name":"files/abc123"}}'
	run -0 --separate-stderr gb-call -K 2a66a387aa92ae75 GET files/abc123
	[ "$(upstream_request 4 .key)" = "$K1" ]
	[ "$(jq -r .name <<<"$output")" = files/abc123 ]
}

@test "concurrent calls share the key state without losing a use" {
	for i in $(seq 12); do
		gb-call POST "$GEN" <req.json >"out.$i" 2>"err.$i" 3>&- &
	done
	for i in $(seq 12); do
		wait -n || { echo "a call failed" >&2; return 1; }
	done
	[ "$(cat err.* | wc -c)" = 0 ]
	[ "$(gb-keys list --json | jq '[.keys[].uses] | add')" = 12 ]
	[ "$(gb-keys list --json | jq -c '[.keys[].uses]')" = '[4,4,4]' ]
	[ "$(upstream_count)" = 12 ]
}
