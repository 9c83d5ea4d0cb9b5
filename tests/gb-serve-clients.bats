#!/usr/bin/env bats
# Real clients against gb-serve: the official openai npm package and
# Google's @google/genai, installed from the npm registry into a cache
# directory on first use (tests/lib/npm.bash). Skipped only when npm or
# the registry is missing, never under CI.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	# bats 1.8 cannot skip from setup_file: setup() skips each test
	npm_clients openai@6 @google/genai@2 || return 1
	[ -z "${NO_NPM:-}" ] || return 0
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG GB_URL=http://127.0.0.1:$SERVE_PORT
}

teardown_file() {
	[ -n "${NO_NPM:-}" ] && return 0
	stop_serve
	upstream_stop
}

setup() {
	[ -z "${NO_NPM:-}" ] || skip "$NO_NPM"
	need_tool gb-convert
	upstream_reset
	export GB_TOKEN=tok-user
}

openai() {
	node "$CLIENTS/openai.mjs" "$@"
}

genai() {
	node "$CLIENTS/genai.mjs" "$@"
}

@test "openai: chat completion" {
	run -0 openai chat
	assert_output '["chat.completion","gemini-2.0-flash","echo: hi","stop",3]'
}

@test "openai: stream with include_usage" {
	need_tool gb-sse
	run -0 openai stream
	assert_output '["echo: hi",{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},true]'
}

@test "openai: tools, whole and streamed, and the tool result sent back" {
	need_tool gb-sse
	call='{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}'
	upstream_script "[{\"path\":\":generateContent\",\"body\":{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[$call]},\"finishReason\":\"STOP\",\"index\":0}]}},
	    {\"path\":\"streamGenerateContent\",\"events\":[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[$call]},\"finishReason\":\"STOP\",\"index\":0}]}]}]"
	run -0 openai tools
	assert_line --index 0 '["tool_calls","function","get_weather",{"city":"Paris"},true]'
	assert_line --index 1 '["tool_calls","get_weather",{"city":"Paris"}]'
	# the third request carried the call and its result to the upstream
	run -0 upstream_request 3 '.body'
	run -0 jq -c '[.contents[1].parts[0].functionCall.name, .contents[2].parts[0].functionResponse.name]' <<<"$output"
	assert_output '["get_weather","get_weather"]'
}

@test "openai: embeddings with the SDK's default base64 encoding" {
	run -0 openai embeddings
	assert_output '["list",2,[0,1],true]'
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/text-embedding-004:batchEmbedContents
}

@test "openai: models list, retrieve with an encoded id, and a 404" {
	run -0 openai models
	assert_line --index 0 '[true,"gemini-2.0-flash","model"]'
	assert_line --index 1 '[404,"model_not_found"]'
}

@test "openai: a wrong token is an AuthenticationError" {
	run -0 openai autherror
	assert_output '[401,"AuthenticationError","invalid_api_key"]'
}

@test "@google/genai: generateContent on the native route" {
	run -0 genai generate
	assert_output '["echo: yo","STOP"]'
	run -0 upstream_request 1 '.key'
	[[ $output == AIzaSy* ]]
}

@test "@google/genai: generateContentStream on the native route" {
	need_tool gb-sse
	run -0 genai stream
	assert_output '["echo: yo",true]'
}

@test "@google/genai: countTokens, and a wrong key is 401" {
	run -0 genai count
	assert_output '[3]'
	run -0 genai autherror
	assert_output '[401]'
}
