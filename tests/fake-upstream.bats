#!/usr/bin/env bats
# The fake Gemini upstream itself (tests/fake-upstream.py): its default
# routes and its control API, which every other test file relies on.

bats_require_minimum_version 1.5.0

load test_helper
load lib/upstream

setup_file() {
	mkdir -p "$BATS_FILE_TMPDIR/scripts"
	printf 'data: {"x":1}\n\n' >"$BATS_FILE_TMPDIR/scripts/one.sse"
	printf '{"events":["data: {\\"y\\":2}\\n\\n"],"key":"K9"}' \
	    >"$BATS_FILE_TMPDIR/scripts/named.json"
	printf '{"body_file":"one.sse"}' >"$BATS_FILE_TMPDIR/scripts/file.json"
	upstream_start "$BATS_FILE_TMPDIR/scripts"
}

teardown_file() {
	upstream_stop
}

setup() {
	upstream_reset
}

# g [CURL ARGS...] PATH: a request to the fake as Gemini's client would
g() {
	local path=${!#}
	curl -sS -H 'x-goog-api-key: K1' "${@:1:$#-1}" "$UPSTREAM_URL/v1beta/$path"
}

@test "health and the listening line" {
	run -0 upstream_ctl GET health
	assert_output "{\"status\":\"ok\",\"port\":$UPSTREAM_PORT}"
	[ "$(head -1 "$BATS_FILE_TMPDIR/upstream.log")" = "listening on 127.0.0.1:$UPSTREAM_PORT" ]
}

@test "default generateContent echoes the last user text" {
	run -0 g -d '{"contents":[{"role":"user","parts":[{"text":"a b"}]}]}' \
	    models/gemini-2.5-flash:generateContent
	assert_output '{"candidates":[{"content":{"parts":[{"text":"echo: a b"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"fake-1"}'
}

@test "default stream: 3 CRLF-framed events, STOP and usage on the last" {
	g -N -d '{"contents":[{"parts":[{"text":"hi"}]}]}' \
	    'models/m:streamGenerateContent?alt=sse' >out
	[ "$(grep -c $'^data: .*\r$' out)" = 3 ]
	[ "$(grep -c $'^\r$' out)" = 3 ]
	[ "$(tr -d '\r' <out | sed -n 's/^data: //p' | jq -rj '.candidates[0].content.parts[0].text')" = "echo: hi" ]
	[ "$(tr -d '\r' <out | sed -n 's/^data: //p' | tail -1 | jq -r '.candidates[0].finishReason')" = STOP ]
}

@test "defaults: LF framing, more pieces, fixed text" {
	upstream_defaults '{"framing":"lf","pieces":5,"text":"abcdefghij"}'
	g -N -d '{}' 'models/m:streamGenerateContent?alt=sse' >out
	[ "$(grep -c '^data: ' out)" = 5 ]
	! grep -q $'\r' out
	[ "$(sed -n 's/^data: //p' out | jq -rj '.candidates[0].content.parts[0].text')" = abcdefghij ]
	upstream_reset
	g -N -d '{}' 'models/m:streamGenerateContent?alt=sse' >out
	grep -q $'\r' out
}

@test "models: paged list, one model, 404 for an unknown one" {
	run -0 g 'models?pageSize=2'
	[ "$(jq -r '.models | length' <<<"$output")" = 2 ]
	[ "$(jq -r .nextPageToken <<<"$output")" = 2 ]
	run -0 g 'models?pageSize=2&pageToken=4'
	[ "$(jq -r '.nextPageToken' <<<"$output")" = null ]
	run -0 g models/gemini-embedding-001
	[ "$(jq -r '.supportedGenerationMethods | index("batchEmbedContents")' <<<"$output")" != null ]
	run -0 g -w ' %{http_code}' models/nope
	[ "${output##* }" = 404 ]
}

@test "no key: 403 PERMISSION_DENIED as Google answers" {
	run -0 curl -sS -w ' %{http_code}' "$UPSTREAM_URL/v1beta/models"
	[ "${output##* }" = 403 ]
	[ "$(jq -r .error.status <<<"${output% *}")" = PERMISSION_DENIED ]
	[ "$(upstream_request 1 .key)" = null ]
}

@test "countTokens, embedContent, batchEmbedContents" {
	run -0 g -d '{"contents":[{"parts":[{"text":"one two three"}]}]}' models/m:countTokens
	[ "$(jq -r .totalTokens <<<"$output")" = 3 ]
	run -0 g -d '{"content":{"parts":[{"text":"x"}]},"outputDimensionality":4}' models/e:embedContent
	[ "$(jq -r '.embedding.values | length' <<<"$output")" = 4 ]
	run -0 g -d '{"requests":[{"model":"models/e","content":{"parts":[{"text":"a"}]}},{"model":"models/e","content":{"parts":[{"text":"b"}]}}]}' models/e:batchEmbedContents
	[ "$(jq -r '.embeddings | length' <<<"$output")" = 2 ]
	[ "$(jq -c '.embeddings[0].values != .embeddings[1].values' <<<"$output")" = true ]
	run -0 g -w ' %{http_code}' -d '{"requests":[{"model":"models/other"}]}' models/e:batchEmbedContents
	[ "${output##* }" = 400 ]
}

@test "scripted answers: queue order, key and path matches, repeat" {
	upstream_script '[{"status":429,"retry_delay":"7s","key":"K2"},{"status":500,"path":"countTokens"},{"status":201,"body":"first"},{"status":202,"body":"always","repeat":true,"method":"GET"}]'
	run -0 g -w ' %{http_code}' -d '{}' models/m:countTokens
	[ "${output##* }" = 500 ]
	run -0 g -w ' %{http_code}' -d '{}' models/m:generateContent
	assert_output 'first 201'
	run -0 g -w ' %{http_code}' models
	assert_output 'always 202'
	run -0 g -w ' %{http_code}' models
	assert_output 'always 202'
	run -0 curl -sS -H 'x-goog-api-key: K2' "$UPSTREAM_URL/v1beta/models"
	assert_output '{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}'
	[ "$(upstream_ctl GET queue | jq length)" = 1 ]
}

@test "load a named script; body_file from SCRIPT_DIR" {
	upstream_load named
	upstream_load file
	run -0 g models
	assert_output 'data: {"x":1}'
	run -0 curl -sS -H 'x-goog-api-key: K9' "$UPSTREAM_URL/v1beta/models"
	assert_output 'data: {"y":2}'
	run -22 curl -sS --fail-with-body -X POST "$UPSTREAM_URL/_control/load?name=../x"
}

@test "records: method, path, query, headers, body, key, outcome" {
	g -H 'X-Test: 1' -d 'raw body' 'models/m:generateContent?a=b' >/dev/null || true
	r=$(upstream_request 1)
	[ "$(jq -r '[.seq,.method,.path,.query,.body,.key,.status,.outcome] | @tsv' <<<"$r")" = $'1\tPOST\t/v1beta/models/m:generateContent\ta=b\traw body\tK1\t400\tcomplete' ]
	[ "$(jq -r '.headers["x-test"]' <<<"$r")" = 1 ]
}

@test "wait_before and go; split writes; reset and close mid-body" {
	upstream_script '{"events":[{"n":1},{"n":2}],"wait_before":[1],"split":3}'
	mkfifo out
	curl -sSN -H 'x-goog-api-key: K1' "$UPSTREAM_URL/v1beta/models" >out 3>&- &
	pid=$!
	exec 5<out
	IFS= read -r -t 10 l <&5
	[ "$l" = $'data: {"n":1}\r' ]
	[ "$(upstream_request 1 .events_sent)" = 1 ]
	upstream_go
	run cat <&5
	exec 5<&-
	wait "$pid"
	assert_output $'\r\ndata: {"n":2}\r\n\r'
	[ "$(upstream_outcome 1)" = complete ]

	upstream_script '[{"chunks":["ab","cd"],"reset_after":1},{"chunks":["ab","cd"],"close_after":1}]'
	run -56 g models
	run -18 g models
	[ "$(upstream_outcome 2)" = reset ]
	[ "$(upstream_outcome 3)" = closed ]
}

@test "a client that leaves during a wait is recorded as gone" {
	upstream_script '{"events":[{"n":1},{"n":2}],"wait_before":[1]}'
	curl -sSN -H 'x-goog-api-key: K1' "$UPSTREAM_URL/v1beta/models" \
	    >/dev/null 2>&1 3>&- &
	pid=$!
	upstream_requests 1 >/dev/null
	kill "$pid"
	wait "$pid" || true
	[ "$(upstream_outcome 1)" = client_gone ]
	[ "$(upstream_request 1 .events_sent)" -le 1 ]
}

@test "gemini forms: a body, an SSE stream or a JSON array per action" {
	upstream_script '[{"gemini":"empty_text"},{"gemini":"empty_text"},{"gemini":"blocked"},{"gemini":"nope"}]'
	run -0 g -d '{}' models/m:generateContent
	assert_output '{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1},"modelVersion":"fake"}'
	run -0 g -d '{}' 'models/m:streamGenerateContent?alt=sse'
	assert_output $'data: {"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1},"modelVersion":"fake"}\r\n\r\ndata: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1},"modelVersion":"fake"}\r\n\r'
	run -0 g -d '{}' models/m:streamGenerateContent
	assert_output '[{"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1},"modelVersion":"fake"},{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH"}]},"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1},"modelVersion":"fake"}]'
	run -0 g -d '{}' models/m:generateContent
	assert_output '{"error":{"code":400,"message":"fake: unknown gemini form nope","status":"INVALID_ARGUMENT"}}'
}
