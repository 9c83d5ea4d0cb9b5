#!/usr/bin/env bats
# gb-serve end to end: the real tools (gb-convert, gb-call, gb-keys,
# gb-sse) behind gb-serve under systemd-socket-activate (Accept=no),
# against the fake Gemini upstream. Every route, auth, error mapping,
# streaming, and what reaches the upstream.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	export MAX_RETRIES=2 KEY_COOLDOWN=60
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	serve_config
	gb-keys reset >/dev/null
}

USER_AUTH='Authorization: Bearer tok-user'
HI='{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'

# post PATH BODY [curl args]: status code after the body
post() {
	local p=$1 b=$2
	shift 2
	curl -sS -w '\n%{http_code}' -H "$USER_AUTH" \
	    -H 'Content-Type: application/json' "$@" -d "$b" "$(url "$p")"
}

@test "chat completion through gb-convert, gb-call, gb-convert" {
	need_tool gb-convert
	run -0 post /v1/chat/completions "$HI"
	assert_line --index 1 200
	run -0 jq -c 'del(.id, .created)' <<<"${lines[0]}"
	assert_output '{"object":"chat.completion","model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"echo: hi"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'
}

@test "the client's token never reaches the upstream; a configured key does" {
	need_tool gb-convert
	run -0 post /hf/v1/chat/completions "$HI"
	run -0 upstream_request 1 '.key'
	[[ $output == AIzaSy* ]]
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.0-flash:generateContent
	curl -sS -o /dev/null -H 'x-goog-api-key: tok-user' \
	    "$(url '/v1beta/models/gemini-2.0-flash:generateContent?key=tok-user&alt=json')" -d '{"contents":[]}'
	run -0 upstream_requests 2
	refute_output --partial tok-user
}

@test "a streamed chat is SSE, chunked, with include_usage and [DONE] last" {
	need_tool gb-convert
	need_tool gb-sse
	run -0 curl -sSN -D headers -H "$USER_AUTH" "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
	data=$(sed -n 's/^data: //p' <<<"$output")
	run -0 grep -c $'^Transfer-Encoding: chunked\r$' headers
	run -0 grep -c $'^Content-Type: text/event-stream\r$' headers
	run -0 tail -n 1 <<<"$data"
	assert_output '[DONE]'
	run -0 jq -rj 'select(type == "object") | .choices[0].delta.content // empty' <<<"$(sed '$d' <<<"$data")"
	assert_output 'echo: hi'
	run -0 jq -c 'select(.choices == []) | .usage' <<<"$(sed '$d' <<<"$data")"
	assert_output '{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'
}

@test "embeddings as floats and as base64, in input order" {
	need_tool gb-convert
	run -0 post /v1/embeddings '{"model":"text-embedding-004","input":["a","b"]}'
	assert_line --index 1 200
	run -0 jq -c '[.object, .model, (.data | map(.index)), (.data[0].embedding | type)]' <<<"${lines[0]}"
	assert_output '["list","text-embedding-004",[0,1],"array"]'
	run -0 post /v1/embeddings '{"model":"text-embedding-004","input":"a","encoding_format":"base64"}'
	run -0 jq -r '.data[0].embedding | type' <<<"${lines[0]}"
	assert_output string
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/text-embedding-004:batchEmbedContents
}

@test "models: the list, one model by percent-encoded id, an unknown one 404" {
	need_tool gb-convert
	run -0 curl -sS -H "$USER_AUTH" "$(url /v1/models)"
	run -0 jq -r '.object, (.data[0] | .id, .object, .owned_by)' <<<"$output"
	assert_output $'list\ngemini-2.0-flash\nmodel\ngoogle'
	run -0 curl -sS -H "$USER_AUTH" "$(url /v1/models/models%2Fgemini-2.0-flash)"
	assert_output '{"id":"gemini-2.0-flash","object":"model","created":0,"owned_by":"google"}'
	run -0 curl -sS -w '%{http_code}' -H "$USER_AUTH" "$(url /models/nope)"
	assert_output '{"error":{"message":"model not found: nope","type":"not_found_error","param":null,"code":"model_not_found"}}404'
}

@test "keys list: full keys, valid and invalid, for AUTH_TOKEN only" {
	gb-keys fail 1 400 API_KEY_INVALID >/dev/null
	gb-keys fail 1 400 API_KEY_INVALID >/dev/null
	gb-keys fail 1 400 API_KEY_INVALID >/dev/null
	run -0 curl -sS -H 'Authorization: Bearer tok-admin' "$(url /v1/keys/list)"
	local list=$output
	run -0 jq -c 'del(.data.recent)' <<<"$list"
	assert_output '{"status":"success","data":{"valid_keys":["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"],"invalid_keys":["AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ"],"cooling_keys":[]},"total":2}'
	# each key's recent attempts (their counts are the earlier tests')
	run -0 jq -c '[.data.recent[] | [.key, (.["1m", "1h", "24h"] | keys)]]' <<<"$list"
	assert_output '[["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI",["429","failures","uses"],["429","failures","uses"],["429","failures","uses"]],["AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ",["429","failures","uses"],["429","failures","uses"],["429","failures","uses"]]]'
	# a key resting for one model stays valid, and says so
	gb-keys -m gemini-2.5-pro cool 0 600 >/dev/null
	run -0 curl -sS -H 'Authorization: Bearer tok-admin' "$(url /v1/keys/list)"
	run -0 jq -c '.data | [.valid_keys, (.cooling_keys[] | [.key, .until, .models[0].model, (.models[0].until - now | . > 590 and . <= 600)])]' <<<"$output"
	assert_output '[["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"],["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI",null,"gemini-2.5-pro",true]]'
	run -0 curl -sS -w '%{http_code}' -H "$USER_AUTH" "$(url /hf/v1/keys/list)"
	assert_output --partial '401'
}

@test "every key cooling: 429 with Retry-After, in OpenAI's shape" {
	need_tool gb-convert
	upstream_script '{"status":429,"retry_delay":"37s","repeat":true}'
	run -0 post /v1/chat/completions "$HI" -D headers
	assert_line --index 1 429
	run -0 jq -r '.error.type' <<<"${lines[0]}"
	assert_output rate_limit_error
	run -0 grep -i '^retry-after:' headers
	[[ $output =~ ^Retry-After:\ (3[0-7])$'\r'$ ]]
}

@test "a per-day 429 benches the key for that model until midnight Pacific time; it still serves the others" {
	need_tool gb-convert
	PRO='{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}'
	upstream_script '{"status":429,"retry_delay":"0s","quota_id":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}'
	run -0 post /v1/chat/completions "$HI"
	assert_line --index 1 200
	k=$(upstream_request 1 .key)
	[ "$(upstream_request 2 .key)" != "$k" ]
	for i in 1 2 3 4; do
		run -0 post /v1/chat/completions "$HI"
		assert_line --index 1 200
		run -0 post /v1/chat/completions "$PRO"
		assert_line --index 1 200
	done
	# no later request for the model used that key; the other model did
	run -0 jq -r --arg k "$k" '.[2:] | map(select(.key == $k) | .path) | unique | join(" ")' <<<"$(upstream_requests)"
	assert_output /v1beta/models/gemini-2.5-pro:generateContent
	# gb-keys list shows it, until the next midnight in Los Angeles
	want=$(python3 -c 'import datetime, zoneinfo
z = zoneinfo.ZoneInfo("America/Los_Angeles")
d = datetime.datetime.now(z).date() + datetime.timedelta(days=1)
print(int(datetime.datetime(d.year, d.month, d.day, tzinfo=z).timestamp()))')
	run -0 jq -c --arg k "$(gb-keys list --json | jq -r --arg p "${k:0:6}" --arg s "${k: -4}" '.keys[] | select(.key == $p + "…" + $s) | .index')" '.keys[$k | tonumber] | [.state, .models_cooling]' <<<"$(gb-keys list --json)"
	assert_output "[\"active\",[{\"model\":\"gemini-2.0-flash\",\"until\":$want}]]"
}

@test "upstream API_KEY_INVALID is 401 for an OpenAI client" {
	need_tool gb-convert
	upstream_script '{"status":400,"reason":"API_KEY_INVALID","message":"API key not valid. Please pass a valid API key.","repeat":true}'
	run -0 post /v1/chat/completions "$HI"
	assert_output $'{"error":{"message":"API key not valid. Please pass a valid API key.","type":"authentication_error","param":null,"code":"invalid_api_key"}}\n401'
}

@test "an unknown model upstream is 404 with the upstream's message" {
	need_tool gb-convert
	upstream_script '{"status":404,"message":"models/nope is not found for API version v1beta","path":"nope"}'
	run -0 post /v1/chat/completions '{"model":"nope","messages":[{"role":"user","content":"hi"}]}'
	assert_output $'{"error":{"message":"models/nope is not found for API version v1beta","type":"not_found_error","param":null,"code":"NOT_FOUND"}}\n404'
}

@test "an upstream that cannot be reached is 502" {
	need_tool gb-convert
	upstream_script '{"chunks":["x"],"reset_after":0,"repeat":true}'
	run -0 post /v1/chat/completions "$HI"
	assert_line --index 1 502
	run -0 jq -r '.error.type' <<<"${lines[0]}"
	assert_output server_error
}

@test "a bad chat request is 400 with gb-convert's message" {
	need_tool gb-convert
	run -0 post /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":[{"type":"weird"}]}]}'
	assert_line --index 1 400
	run -0 jq -r '.error.type' <<<"${lines[0]}"
	assert_output invalid_request_error
	run -0 upstream_count
	assert_output 0
}

@test "native generateContent and countTokens pass Gemini JSON through" {
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/gemini-2.0-flash:generateContent)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"yo"}]}]}'
	run -0 jq -r '.candidates[0].content.parts[0].text' <<<"$output"
	assert_output 'echo: yo'
	run -0 curl -sS "$(url '/gemini/v1beta/models/gemini-2.0-flash:countTokens?key=tok-user')" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"yo yo"}]}]}'
	assert_output '{"totalTokens":2,"promptTokensDetails":[{"modality":"TEXT","tokenCount":2}]}'
}

@test "native embedContent and batchEmbedContents" {
	run -0 curl -sS -H 'Authorization: Bearer tok-user' "$(url /v1beta/models/text-embedding-004:embedContent)" \
	    -d '{"content":{"parts":[{"text":"a"}]}}'
	run -0 jq -r '.embedding.values | length > 0' <<<"$output"
	assert_output true
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/text-embedding-004:batchEmbedContents)" \
	    -d '{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]}}]}'
	run -0 jq -r '.embeddings | length' <<<"$output"
	assert_output 2
}

@test "native streamGenerateContent is SSE through gb-sse -g, no [DONE]" {
	need_tool gb-sse
	run -0 curl -sSN -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"yo"}]}]}'
	refute_output --partial '[DONE]'
	run -0 jq -rj '.candidates[0].content.parts[0].text // empty' <<<"$(sed -n 's/^data: //p' <<<"$output")"
	assert_output 'echo: yo'
	run -0 upstream_request 1 '.query'
	assert_output alt=sse
}

@test "native models list and one model; unknown is Gemini's 404" {
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /v1beta/models)"
	run -0 jq -r '.models[0].name' <<<"$output"
	assert_output models/gemini-2.0-flash
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /gemini/v1beta/models/gemini-2.0-flash)"
	run -0 jq -r '.name' <<<"$output"
	assert_output models/gemini-2.0-flash
	run -0 curl -sS -w '%{http_code}' -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/nope)"
	assert_output --partial '"status":"NOT_FOUND"}}404'
}

@test "native 429 keeps Gemini's shape, the status and Retry-After" {
	upstream_script '{"status":429,"retry_delay":"20s","repeat":true}'
	run -0 curl -sS -D headers -w '%{http_code}' -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d '{"contents":[]}'
	assert_output --partial '"status":"RESOURCE_EXHAUSTED"'
	assert_output --partial '}429'
	run -0 grep -ci '^retry-after: ' headers
}

@test "a client gone mid-stream ends its pipeline: no process left within 1 s" {
	need_tool gb-convert
	need_tool gb-sse
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	body='{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}'
	# the client reads the first event, then hangs up when told
	python3 "$SERVE_LIB/rawhttp.py" "$SERVE_PORT" -u '"one"' -H hangup \
	    > stream.out 3>&- <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"$USER_AUTH"$'\r\n'"Content-Length: ${#body}"$'\r\n\r\n'"$body" &
	client=$!
	wait_file_has stream.out '"one"'
	pids=$(request_pids "$SERVE_PID")
	hosts=$(host_pids "$SERVE_PID")
	# gb-call and gb-sse are running (gb-convert has finished): as jobs
	# of their hosts (the pipes they hold), or processes of their own
	# (the connection is a thread of gb-serve)
	[ "$(pipes_of $hosts)" -ge 2 ] || [ "$(wc -w <<<"$pids")" -ge 2 ]
	touch hangup
	wait "$client"
	wait_gone $pids
	wait_no_pipes $hosts
	run -0 upstream_outcome 1
	assert_output client_gone
}

@test "a client gone while the upstream thinks ends gb-call at once" {
	upstream_script '{"path":"generateContent","wait_headers":true}'
	body='{"contents":[{"role":"user","parts":[{"text":"yo"}]}]}'
	# the client hangs up when told, long before any answer
	python3 "$SERVE_LIB/rawhttp.py" "$SERVE_PORT" -H hangup 3>&- <<<"POST /v1beta/models/gemini-2.0-flash:generateContent HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"x-goog-api-key: tok-user"$'\r\n'"Content-Length: ${#body}"$'\r\n\r\n'"$body" &
	client=$!
	upstream_requests 1 > /dev/null
	pids=$(request_pids "$SERVE_PID")
	hosts=$(host_pids "$SERVE_PID")
	# gb-call is running, as a job of its host or a process of its own
	# (the connection is a thread of gb-serve)
	[ "$(pipes_of $hosts)" -ge 1 ] || [ "$(wc -w <<<"$pids")" -ge 1 ]
	touch hangup
	wait "$client"
	wait_gone $pids
	wait_no_pipes $hosts
	run -0 upstream_outcome 1
	assert_output client_gone
}
