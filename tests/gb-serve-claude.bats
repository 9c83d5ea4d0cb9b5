#!/usr/bin/env bats
# The real Claude Code CLI (npm @anthropic-ai/claude-code, a native
# binary) against gb-serve's Messages route and the fake upstream:
# `claude -p` answers one prompt non-interactively, with
# ANTHROPIC_BASE_URL at gb-serve and a Gemini model name. Everything it
# writes stays under a temporary HOME, CLAUDE_CONFIG_DIR and TMPDIR; it
# sends nothing but its requests to gb-serve (no non-essential traffic),
# never retries, and never falls back from a failed stream to a whole
# answer, so a broken stream cannot pass unseen.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/npm

CLAUDE_VERSION=2.1.197

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	clients_setup_file "@anthropic-ai/claude-code@$CLAUDE_VERSION"
}

teardown_file() {
	clients_teardown_file
}

setup() {
	[ -z "${NO_NPM:-}" ] || skip "$NO_NPM"
	clients_setup
	CC=$BATS_TEST_TMPDIR/claude
	mkdir -p "$CC/home" "$CC/work" "$CC/tmp"
}

# claude ARGS...: one non-interactive prompt; stdout in $CC/out, stderr
# in $CC/err. IS_SANDBOX lets it run its tools as root.
claude() {
	(cd "$CC/work" && env -i PATH=/usr/local/bin:/usr/bin:/bin TERM=dumb \
	    HOME="$CC/home" CLAUDE_CONFIG_DIR="$CC/home/.claude" \
	    TMPDIR="$CC/tmp" IS_SANDBOX=1 \
	    ANTHROPIC_BASE_URL="$GB_URL" ANTHROPIC_API_KEY=tok-user \
	    ANTHROPIC_MODEL=gemini-2.5-flash \
	    ANTHROPIC_SMALL_FAST_MODEL=gemini-2.5-flash \
	    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
	    DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
	    CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1 \
	    CLAUDE_CODE_MAX_RETRIES=0 \
	    timeout -k 5 120 "$NPM_PREFIX/node_modules/.bin/claude" "$@" \
	    < /dev/null > "$CC/out" 2> "$CC/err")
}

# A streamed Gemini answer of these parts (JSON array), finished.
answer() {
	printf '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":%s},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":5,"totalTokenCount":55}}]}' "$1"
}

@test "claude -p: a prompt with a Bash tool call round trip" {
	upstream_script "[$(answer '[{"functionCall":{"name":"Bash","args":{"command":"echo hello-from-tool","description":"Print a marker"}}}]'),
	    $(answer '[{"text":"The command printed hello-from-tool."}]')]"
	run claude -p "Run the shell command: echo hello-from-tool" \
	    --tools Bash --allowedTools Bash --output-format stream-json \
	    --verbose --no-session-persistence
	[ "$status" -eq 0 ] || { cat "$CC/err" "$CC/out"; false; }
	# Claude Code ran the call gb-serve handed it and finished the turn
	jq -se '(map(select(.type == "user") | .message.content[] |
	    select(.type == "tool_result" and (.is_error | not) and
	    (.content | tostring | contains("hello-from-tool")))) |
	    length == 1) and (last | .type == "result" and
	    .is_error == false and .num_turns >= 2 and
	    .result == "The command printed hello-from-tool.")' "$CC/out"
	# both upstream calls streamed; its system prompt and the system
	# message inside messages became the system instruction, its Bash
	# tool a declaration without the keywords Gemini refuses
	[ "$(upstream_count)" = 2 ]
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash:streamGenerateContent
	run -0 upstream_request 1 '.body | fromjson |
	    [(.systemInstruction.parts | length > 0),
	     (.contents | map(.role) | all(. == "user" or . == "model")),
	     (.tools[0].functionDeclarations | map(.name) | index("Bash") != null),
	     ([.. | objects | keys[]] | index("$schema") == null)] | tojson'
	assert_output '[true,true,true,true]'
	# the second carried the call and the command's output back
	run -0 upstream_request 2 '.body | fromjson | .contents | map(.parts[]) |
	    [(map(.functionCall.name // empty) | first),
	     (map(.functionResponse.response.result // empty) | first |
	      contains("hello-from-tool"))] | tojson'
	assert_output '["Bash",true]'
	# the request line, once the answer is over: 200, or 499 when the
	# agent hung up after its last event but before the stream's end
	wait_file_has "$SERVE_LOG" 'POST /v1/messages '
	grep -Eq 'POST /v1/messages (200 |499 .* error="client went away")' "$SERVE_LOG"
}

@test "claude -p: a plain answer, and a 429 on every key is its API error" {
	run claude -p "Say pong" --output-format json --no-session-persistence
	[ "$status" -eq 0 ] || { cat "$CC/err" "$CC/out"; false; }
	jq -e '.type == "result" and .is_error == false and
	    (.result | startswith("echo: ") and endswith("Say pong"))' "$CC/out"
	upstream_script '{"status":429,"repeat":true,"retry_delay":"30s"}'
	run claude -p "Say pong again" --output-format json \
	    --no-session-persistence
	[ "$status" -eq 1 ]
	jq -e '.is_error == true and (.result | contains("429"))' "$CC/out"
}
