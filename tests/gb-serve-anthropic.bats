#!/usr/bin/env bats
# POST /v1/messages, the Anthropic Messages API, through the official
# @anthropic-ai/sdk (tests/clients/anthropic.mjs) and raw HTTP, against
# the fake upstream: text, streams, tool use, thinking, counts, errors.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/npm

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	# bats 1.8 cannot skip from setup_file: sdk() skips the client tests
	clients_setup_file @anthropic-ai/sdk@0
}

teardown_file() {
	clients_teardown_file
}

setup() {
	clients_setup
}

sdk() {
	node "$CLIENTS/anthropic.mjs" "$@"
}

# post PATH BODY [TOKEN]: a raw POST; prints the body, then the status.
post() {
	curl -sS -m 20 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    -H "Authorization: Bearer ${3:-tok-user}" --data-binary "$2" \
	    "$GB_URL$1"
}



# answer PATH PARTS [USAGE]: a scripted Gemini answer of these parts
# (JSON array), whole for :generateContent, one event for a stream.
answer() {
	local u=${3:-'{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5}'}
	if [ "$1" = stream ]; then
		printf '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":%s},"finishReason":"STOP","index":0}],"usageMetadata":%s}]}' "$2" "$u"
	else
		printf '{"path":":generateContent","body":{"candidates":[{"content":{"role":"model","parts":%s},"finishReason":"STOP","index":0}],"usageMetadata":%s}}' "$2" "$u"
	fi
}

@test "messages: create, with the system prompt sent upstream" {
	need_npm
	run -0 sdk create
	assert_output '["message","assistant","gemini-2.5-flash","text","echo: hi","end_turn",true,1,2]'
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:generateContent
	run -0 upstream_request 1 '.body | fromjson | [.systemInstruction.parts[0].text, .generationConfig.maxOutputTokens] | tojson'
	assert_output '["be brief",100]'
	# the request line is written once the answer's last byte is out,
	# which the client may not wait for
	wait_file_has "$SERVE_LOG" 'POST /v1/messages 200'
}

@test "messages: a stream's events, each delta when the upstream sends it; the SDK's helper" {
	need_npm
	upstream_defaults '{"pieces":3,"event_delay":0.4}'
	run -0 sdk stream
	assert_line --index 0 '["echo: hi","message_start","message_stop"]'
	assert_line --index 2 '["echo: hi","end_turn",2]'
	# three deltas, spread over the upstream's 2 x 0.4 s: never buffered
	run -0 jq -e 'length == 3 and (.[2] - .[0]) >= 600' <<<"${lines[1]}"
}

@test "messages: a tool_use, whole and streamed, and its tool_result sent back" {
	need_npm
	call='[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]'
	upstream_script "[$(answer whole "$call"), $(answer stream "$call")]"
	run -0 sdk tools
	assert_line --index 0 '["tool_use","get_weather",{"city":"Paris"},true]'
	assert_line --index 1 '["tool_use","get_weather",{"city":"Paris"}]'
	assert_line --index 2 '["Hello from the fake upstream.","end_turn"]'
	run -0 upstream_request 3 '.body | fromjson | [.contents[1].parts[0].functionCall.name, .contents[2].parts[0].functionResponse] | tojson'
	assert_output '["get_weather",{"name":"get_weather","response":{"result":"sunny"}}]'
	run -0 upstream_request 1 '.body | fromjson | .tools[0].functionDeclarations[0] | [.name, (.parametersJsonSchema | has("additionalProperties"))] | tojson'
	assert_output '["get_weather",false]'
}

@test "messages: thinking blocks, whole and streamed, asked for with a budget" {
	need_npm
	parts='[{"text":"pondering","thought":true},{"text":"answer"}]'
	upstream_script "[$(answer whole "$parts"),
	    {\"path\":\"streamGenerateContent\",\"events\":[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ponder\",\"thought\":true}]},\"index\":0}]},
	    {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ing\",\"thought\":true}]},\"index\":0}]},
	    {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"answer\"}]},\"finishReason\":\"STOP\",\"index\":0}]}]}]"
	run -0 sdk thinking
	assert_line --index 0 '[["thinking","pondering"],["text","answer"]]'
	assert_line --index 1 '["pondering",["thinking","text"]]'
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.thinkingConfig | tojson'
	run -0 jq -cS . <<<"$output"
	assert_output '{"includeThoughts":true,"thinkingBudget":2048}'
}

@test "messages: count_tokens through the upstream's countTokens" {
	need_npm
	run -0 sdk count
	assert_output '[3]'
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:countTokens
	run -0 upstream_request 1 '.body | fromjson | [.generateContentRequest.model, .generateContentRequest.systemInstruction.parts[0].text] | tojson'
	assert_output '["models/gemini-2.5-flash","be brief"]'
}

@test "messages: errors in Anthropic's shape: 429 with retry-after, 5xx, 400, 401" {
	need_npm
	upstream_script '{"status":429,"repeat":true,"retry_delay":"7s"}'
	run -0 sdk error
	assert_output --regexp '^\[429,"RateLimitError","rate_limit_error","[0-9]+"\]$'
	upstream_reset
	gb-keys reset >/dev/null
	upstream_script '{"status":500,"repeat":true}'
	run -0 sdk error
	assert_output --regexp '^\[50[0-9],"InternalServerError","api_error",null\]$'
	upstream_reset
	gb-keys reset >/dev/null
	upstream_script '{"status":400,"message":"Invalid JSON payload received."}'
	run -0 sdk error
	assert_output '[400,"BadRequestError","invalid_request_error",null]'
	run -0 post /v1/messages '{"model":"gemini-2.5-flash","max_tokens":10,"messages":[{"role":"user","content":"x"}]}' wrong
	assert_line --index 1 401
	assert_line --index 0 '{"type":"error","error":{"type":"authentication_error","message":"Invalid x-api-key"}}'
	run -0 post /v1/messages '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"y"}]}]}'
	assert_line --index 1 400
	assert_line --index 0 '{"type":"error","error":{"type":"invalid_request_error","message":"messages[0].content[0].tool_use_id: no earlier tool call has the id \"toolu_x\""}}'
}

@test "messages: a stream that fails after its first event ends with an error event" {
	need_npm
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]},"index":0}]},{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]}'
	run -0 sdk cut
	assert_output '[true,"threw APIError"]'
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]},"index":0}]}]}'
	run -0 curl -sS -N -m 20 -H 'x-api-key: tok-user' \
	    --data-binary '{"model":"gemini-2.5-flash","max_tokens":10,"messages":[{"role":"user","content":"x"}],"stream":true}' \
	    "$GB_URL/v1/messages"
	assert_line 'event: error'
	refute_output --partial message_stop
}

@test "messages: a bearer token (ANTHROPIC_AUTH_TOKEN), and without /v1" {
	need_npm
	run -0 sdk bearer
	assert_output '["echo: hi"]'
	run -0 post /messages '{"model":"gemini-2.5-flash","max_tokens":10,"messages":[{"role":"system","content":"sys"},{"role":"user","content":"b"}]}'
	assert_line --index 1 200
	run -0 jq -r '.content[0].text' <<<"${lines[0]}"
	assert_output "echo: b"
	run -0 upstream_request 2 '.body | fromjson | .systemInstruction.parts[0].text'
	assert_output sys
}

@test "messages: the models list in Anthropic's shape for Anthropic's clients" {
	need_npm
	run -0 sdk models
	assert_line --index 0 '[true,"model","gemini-2.0-flash"]'
	assert_line --index 1 '[404,"not_found_error"]'
	# without anthropic-version: OpenAI's list
	run -0 curl -sS -m 10 -H 'Authorization: Bearer tok-user' "$GB_URL/v1/models"
	run -0 jq -r '.object' <<<"$output"
	assert_output list
}

@test "messages: a body over MAX_BODY is a 413 in Anthropic's shape" {
	# MAX_BODY is 32 MiB by default; the head alone tells
	run -0 curl -sS -m 20 -w '\n%{http_code}' -H 'x-api-key: tok-user' \
	    -H 'Content-Type: application/json' -H 'Content-Length: 999999999' \
	    --data-binary '{}' "$GB_URL/v1/messages"
	assert_line --index 1 413
	assert_line --index 0 '{"type":"error","error":{"type":"request_too_large","message":"request body too large"}}'
	[ "$(upstream_count)" = 0 ]
}
