#!/usr/bin/env bats
# The real OpenAI Codex CLI (npm @openai/codex, a native binary) against
# gb-serve's Responses route and the fake upstream: `codex exec` runs
# one turn non-interactively, with a custom model provider whose
# base_url is gb-serve's /v1 and wire_api "responses". Codex keeps all
# its files under CODEX_HOME (a temporary directory); analytics and
# plugins are off, so it talks to nothing but gb-serve.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/npm

CODEX_VERSION=0.171.0

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	clients_setup_file "@openai/codex@$CODEX_VERSION"
}

teardown_file() {
	clients_teardown_file
}

setup() {
	[ -z "${NO_NPM:-}" ] || skip "$NO_NPM"
	clients_setup
	CX=$BATS_TEST_TMPDIR/codex
	mkdir -p "$CX/home" "$CX/codex_home" "$CX/work"
	cat > "$CX/codex_home/config.toml" <<EOF
model = "gemini-2.5-flash"
model_provider = "gb"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false

[model_providers.gb]
name = "gemini-balance"
base_url = "$GB_URL/v1"
wire_api = "responses"
env_key = "GB_TOKEN"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000
EOF
}

# codex PROMPT: one non-interactive turn; events in $CX/out.jsonl, the
# last message in $CX/last.txt, stderr in $CX/err.txt.
codex() {
	rm -f "$CX/last.txt"
	(cd "$CX/work" && HOME=$CX/home CODEX_HOME=$CX/codex_home \
	    GB_TOKEN=tok-user timeout -k 5 120 \
	    "$NPM_PREFIX/node_modules/.bin/codex" exec --skip-git-repo-check \
	    --dangerously-bypass-approvals-and-sandbox --ephemeral \
	    --color never --json -o "$CX/last.txt" "$1" \
	    < /dev/null > "$CX/out.jsonl" 2> "$CX/err.txt")
}

# A streamed Gemini answer of these parts (JSON array), finished.
answer() {
	printf '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":%s},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":5,"totalTokenCount":55}}]}' "$1"
}

@test "codex exec: a turn with a shell tool call round trip" {
	upstream_script "[$(answer '[{"functionCall":{"name":"exec_command","args":{"cmd":"echo hello-from-tool"}}}]'),
	    $(answer '[{"text":"The command printed hello-from-tool."}]')]"
	run codex "Run echo hello-from-tool and tell me the output."
	[ "$status" -eq 0 ] || { cat "$CX/err.txt" "$CX/out.jsonl"; false; }
	# Codex ran the call gb-serve handed it, and finished the turn
	jq -se 'any(.[]; .type == "item.completed" and
	    .item.type == "command_execution" and .item.exit_code == 0 and
	    (.item.aggregated_output | contains("hello-from-tool")))' \
	    "$CX/out.jsonl"
	jq -se 'any(.[]; .type == "turn.completed") and
	    (any(.[]; .type == "turn.failed") | not)' "$CX/out.jsonl"
	[ "$(cat "$CX/last.txt")" = "The command printed hello-from-tool." ]
	# two upstream calls, both streamed; Codex's developer prompt became
	# the system instruction and its shell tool a declaration
	[ "$(upstream_count)" = 2 ]
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:streamGenerateContent
	run -0 upstream_request 1 '.body | fromjson |
	    [(.systemInstruction.parts | length > 0),
	     (.tools[0].functionDeclarations | map(.name) | index("exec_command") != null),
	     (.tools | map(has("googleSearch")) | any)] | tojson'
	assert_output '[true,true,false]'
	# the second carried the call and the command's output back
	run -0 upstream_request 2 '.body | fromjson | .contents | map(.parts[]) |
	    [(map(.functionCall.name // empty) | first),
	     (map(.functionResponse.response.result // empty) | first |
	      contains("hello-from-tool"))] | tojson'
	assert_output '["exec_command",true]'
	# the request line, once the answer is over: 200, or 499 when the
	# agent hung up after its last event but before the stream's end
	wait_file_has "$SERVE_LOG" 'POST /v1/responses '
	grep -Eq 'POST /v1/responses (200 |499 .* error="client went away")' "$SERVE_LOG"
}

@test "codex exec: a plain answer, and a 429 on every key is Codex's error" {
	run codex "Say pong"
	[ "$status" -eq 0 ] || { cat "$CX/err.txt" "$CX/out.jsonl"; false; }
	# the fake echoes the user turn: Codex's context, then the prompt
	run -0 cat "$CX/last.txt"
	assert_output --regexp '^echo: .*Say pong$'
	upstream_script '{"status":429,"repeat":true,"retry_delay":"30s"}'
	run codex "Say pong again"
	[ "$status" -eq 1 ]
	jq -se 'any(.[]; .type == "turn.failed" and
	    (.error.message | contains("429")))' "$CX/out.jsonl"
	[ ! -s "$CX/last.txt" ]
}
