#!/usr/bin/env bats
# POST /v1/responses, the OpenAI Responses API, through the official
# openai npm package (tests/clients/responses.mjs) and raw HTTP, against
# the fake upstream: text, streams, tool calls, reasoning, errors.

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
	clients_setup_file openai@6 @google/genai@2
}

teardown_file() {
	clients_teardown_file
}

setup() {
	clients_setup
}

sdk() {
	node "$CLIENTS/responses.mjs" "$@"
}

# post PATH BODY [TOKEN]: a raw POST; prints the body, then the status.
post() {
	curl -sS -m 20 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    -H "Authorization: Bearer ${3:-tok-user}" --data-binary "$2" \
	    "$GB_URL$1"
}

CALL='{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}'

@test "responses: create, the upstream asked with the instructions" {
	need_npm
	run -0 sdk create
	assert_output '["response","completed","gemini-2.5-flash","echo: hi",true,3]'
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:generateContent
	run -0 upstream_request 1 '.body | fromjson | .systemInstruction.parts[0].text'
	assert_output "be brief"
	# the access log names the route and the model
	# the request line is written once the answer's last byte is out,
	# which the client may not wait for
	wait_file_has "$SERVE_LOG" 'POST /v1/responses 200'
}

@test "responses: a stream's events in order, each delta when the upstream sends it" {
	need_npm
	upstream_defaults '{"pieces":3,"event_delay":0.4}'
	run -0 sdk stream
	assert_line --index 0 '["echo: hi","response.created","response.completed",true,"completed",3]'
	# three deltas, spread over the upstream's 2 x 0.4 s: never buffered
	run -0 jq -e 'length == 3 and (.[2] - .[0]) >= 600' <<<"${lines[1]}"
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:streamGenerateContent
}

@test "responses: the SDK's stream helper builds the final response" {
	need_npm
	run -0 sdk helper
	assert_output '["echo: hi","completed",true]'
}

@test "responses: a function call, whole and streamed, and its output sent back" {
	need_npm
	upstream_script "[{\"path\":\":generateContent\",\"body\":{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[$CALL]},\"finishReason\":\"STOP\",\"index\":0}]}},
	    {\"path\":\"streamGenerateContent\",\"events\":[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[$CALL]},\"finishReason\":\"STOP\",\"index\":0}]}]}]"
	run -0 sdk tools
	assert_line --index 0 '["get_weather",{"city":"Paris"},true,true]'
	assert_line --index 1 '["get_weather",{"city":"Paris"}]'
	assert_line --index 2 '["Hello from the fake upstream."]'
	# the third request carried the call and its result, in one turn each
	run -0 upstream_request 3 '.body'
	run -0 jq -c '[.contents[1].role, .contents[1].parts[0].functionCall.name,
	    .contents[2].parts[0].functionResponse]' <<<"$output"
	assert_output '["model","get_weather",{"name":"get_weather","response":{"result":"sunny"}}]'
	run -0 upstream_request 1 '.body | fromjson | .tools[0].functionDeclarations[0].name'
	assert_output get_weather
}

@test "responses: thoughts come back as a reasoning item, whole and streamed" {
	need_npm
	parts='[{"text":"pondering","thought":true},{"text":"answer"}]'
	usage='{"promptTokenCount":2,"candidatesTokenCount":1,"thoughtsTokenCount":4,"totalTokenCount":7}'
	upstream_script "[{\"path\":\":generateContent\",\"body\":{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":$parts},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":$usage}},
	    {\"path\":\"streamGenerateContent\",\"events\":[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ponder\",\"thought\":true}]},\"index\":0}]},
	    {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ing\",\"thought\":true}]},\"index\":0}]},
	    {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"answer\"}]},\"finishReason\":\"STOP\",\"index\":0}]}]}]"
	run -0 sdk reasoning
	assert_line --index 0 '["pondering","answer",4]'
	assert_line --index 1 '["pondering",["reasoning","message"]]'
	# reasoning.summary asked for the thoughts, effort low for a budget
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.thinkingConfig | tojson'
	run -0 jq -cS . <<<"$output"
	assert_output '{"includeThoughts":true,"thinkingBudget":1024}'
}

@test "responses: 429 on every key is a 429 with Retry-After" {
	need_npm
	upstream_script '{"status":429,"repeat":true,"retry_delay":"7s","reason":"RATE_LIMIT_EXCEEDED"}'
	run -0 sdk error
	assert_output --regexp '^\[429,"RateLimitError","[0-9]+"\]$'
	run -0 post /v1/responses '{"model":"gemini-2.5-flash","input":"hi"}'
	assert_line --index 1 429
	run -0 jq -r '.error.type' <<<"${lines[0]}"
	assert_output rate_limit_error
}

@test "responses: an upstream 500 is a 5xx, in OpenAI's shape" {
	need_npm
	upstream_script '{"status":500,"repeat":true}'
	run -0 sdk error
	assert_output --regexp '^\[50[0-9],"InternalServerError",null\]$'
}

@test "responses: a stream that fails after its first event ends in response.failed" {
	need_npm
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]},"index":0}]},{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]}'
	run -0 sdk cut
	assert_output '[true,"response.failed",false]'
	# and a cut without a finish reason, on raw HTTP
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]},"index":0}]}]}'
	run -0 curl -sS -N -m 20 -H 'Authorization: Bearer tok-user' \
	    --data-binary '{"model":"gemini-2.5-flash","input":"hi","stream":true}' \
	    "$GB_URL/v1/responses"
	run -0 grep -c '^event: response.failed$' <<<"$output"
	refute_output --partial response.completed
	grep -q 'error="upstream stream ended before a finish reason"' "$SERVE_LOG"
}

@test "responses: bad requests are 400s that name the field, in OpenAI's shape" {
	run -0 post /v1/responses '{"model":"gemini-2.5-flash","input":"more","previous_response_id":"resp_1"}'
	assert_line --index 1 400
	run -0 jq -r '.error.type + ": " + .error.message' <<<"${lines[0]}"
	assert_output --partial 'invalid_request_error: previous_response_id: not supported: this server keeps no responses'
	run -0 post /v1/responses '{"model":"gemini-2.5-flash","input":[{"type":"function_call_output","call_id":"call_x","output":"y"}]}'
	assert_line --index 1 400
	run -0 jq -r '.error.message' <<<"${lines[0]}"
	assert_output 'input[0].call_id: no earlier tool call has the id "call_x"'
	run -0 post /v1/responses 'not json'
	assert_line --index 1 400
	[ "$(upstream_count)" = 0 ]
}

@test "responses: stored responses are 404s (the server is stateless)" {
	run -0 curl -sS -m 10 -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    "$GB_URL/v1/responses/resp_abc"
	assert_line --index 1 404
	run -0 jq -r '.error.message' <<<"${lines[0]}"
	assert_output "No response found with id 'resp_abc': this server keeps no responses (it is stateless)"
	run -0 curl -sS -m 10 -o /dev/null -w '%{http_code}' -X DELETE \
	    -H 'Authorization: Bearer tok-user' "$GB_URL/v1/responses/resp_abc"
	assert_output 404
}

@test "responses: under /hf/v1 and without /v1 too; a bearer token is needed" {
	run -0 post /hf/v1/responses '{"model":"gemini-2.5-flash","input":"a"}'
	assert_line --index 1 200
	run -0 post /responses '{"model":"gemini-2.5-flash","input":"b"}'
	assert_line --index 1 200
	run -0 jq -r '.output[0].content[0].text' <<<"${lines[0]}"
	assert_output "echo: b"
	run -0 post /v1/responses '{"model":"gemini-2.5-flash","input":"c"}' wrong
	assert_line --index 1 401
	[ "$(upstream_count)" = 2 ]
}
