#!/usr/bin/env bats
# Image URLs sent to gb-serve are not a way into its network: a chat
# image_url, a Responses input_image and a Messages image url source
# that point at loopback (by address, name or a redirect from the one
# server FETCH_ALLOW_PRIVATE allows) are a 400 in the route's error
# shape naming the rule, the upstream is never called, and the target,
# which records every connection it accepts, saw none.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/fetch

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	# the one internal server downloads may reach: 127.0.0.2
	export FETCH_ALLOW_PRIVATE=127.0.0.2/32
	start_serve listen
	export SERVE_PORT SERVE_PID SERVE_LOG GB_URL=http://127.0.0.1:$SERVE_PORT
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	need_tool gb-convert
	upstream_reset
	upstream_env
	serve_config
	fetch_target t4 127.0.0.1
	fetch_target t6 ::1
	fetch_target ok 127.0.0.2
	P=$(fetch_port t4) P6=$(fetch_port t6) Q=$(fetch_port ok)
	# every way to name the loopback target
	BAD=("http://127.0.0.1:$P/img" "http://localhost:$P/img"
	    "http://[::1]:$P6/img" "http://127.1:$P/img"
	    "http://2130706433:$P/img" "http://0.0.0.0:$P/img"
	    "http://[::ffff:127.0.0.1]:$P/img"
	    "http://127.0.0.2:$Q/to/http://127.0.0.1:$P/img"
	    "http://127.0.0.2:$Q/to/http://localhost:$P/img"
	    "http://169.254.169.254/latest/meta-data/"
	    "http://10.1.2.3/x.png" "http://192.168.0.1/x.png")
}

teardown() {
	fetch_targets_stop
}

# post PATH BODY [HEADER...]: a raw POST with the client token; prints
# the body, then the status on a line of its own.
post() {
	local path=$1 body=$2
	shift 2
	curl -sS -m 30 --noproxy '*' -w '\n%{http_code}' \
	    -H 'Content-Type: application/json' \
	    -H 'Authorization: Bearer tok-user' "$@" --data-binary "$body" \
	    "$GB_URL$path"
}

RULE='image URL resolves to a private, loopback or link-local address; refused'

chat_body() {
	printf '{"model":"gemini-2.5-flash","stream":%s,"messages":[{"role":"user","content":[{"type":"text","text":"what is it"},{"type":"image_url","image_url":{"url":"%s"}}]}]}' "$2" "$1"
}

responses_body() {
	printf '{"model":"gemini-2.5-flash","input":[{"role":"user","content":[{"type":"input_text","text":"what is it"},{"type":"input_image","image_url":"%s"}]}]}' "$1"
}

messages_body() {
	printf '{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"what is it"},{"type":"image","source":{"type":"url","url":"%s"}}]}]}' "$1"
}

# nothing_connected: after every request finished, the loopback targets
# accepted no connection and the upstream got no request
nothing_connected() {
	fetch_untouched t4 t6
	run -0 upstream_count
	assert_output 0
}

@test "chat: an image URL at loopback, private or link-local is a 400 naming the rule, nothing connects" {
	local u s body
	for s in false true; do
		for u in "${BAD[@]}"; do
			run -0 post /v1/chat/completions "$(chat_body "$u" "$s")"
			assert_line --index 1 400
			body=${lines[0]}
			run -0 jq -r '.error.message' <<<"$body"
			assert_output "messages[0].content[1].image_url.url: $u: $RULE"
			run -0 jq -r '.error.type' <<<"$body"
			assert_output invalid_request_error
		done
	done
	nothing_connected
}

@test "responses: an input_image URL at loopback is a 400 in the Responses shape, nothing connects" {
	local u
	for u in "${BAD[@]}"; do
		run -0 post /v1/responses "$(responses_body "$u")"
		assert_line --index 1 400
		run -0 jq -r '.error.message' <<<"${lines[0]}"
		[[ "$output" == *": $u: $RULE" ]]
	done
	nothing_connected
}

@test "messages: an image url source at loopback is a 400 in Anthropic's shape, nothing connects" {
	local u body
	for u in "${BAD[@]}"; do
		run -0 post /v1/messages "$(messages_body "$u")" \
		    -H 'anthropic-version: 2023-06-01'
		assert_line --index 1 400
		body=${lines[0]}
		run -0 jq -r '.type, .error.type' <<<"$body"
		assert_output $'error\ninvalid_request_error'
		run -0 jq -r '.error.message' <<<"$body"
		[[ "$output" == *": $u: $RULE" ]]
	done
	nothing_connected
}

@test "the allowed server is reached on every route, and its image goes upstream" {
	local u="http://127.0.0.2:$Q/img" n
	run -0 post /v1/chat/completions "$(chat_body "$u" false)"
	assert_line --index 1 200
	run -0 post /v1/responses "$(responses_body "$u")"
	assert_line --index 1 200
	run -0 post /v1/messages "$(messages_body "$u")" \
	    -H 'anthropic-version: 2023-06-01'
	assert_line --index 1 200
	for n in 1 2 3; do
		run -0 upstream_request "$n" \
		    '.body | fromjson | .contents[0].parts[1].inlineData | tojson'
		assert_output '{"mimeType":"image/png","data":"iVBORw=="}'
	done
	run -0 fetch_accepts ok
	assert_output 3
	run -0 fetch_accepts t4
	assert_output 0
}
