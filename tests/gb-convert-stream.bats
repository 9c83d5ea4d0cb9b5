#!/usr/bin/env bats
# The same Gemini candidates converted whole (gb-convert chat-response)
# and as a stream (gb-sse) must say the same thing: the stream's deltas,
# joined per choice, equal the whole answer's message (content,
# reasoning_content, tool_calls, finish_reason). Both go through one
# walker of a candidate's parts (lib/parts.c); this is what keeps it one.
# tests/lib/convert-stream.py does the feeding and the comparing.

bats_require_minimum_version 1.5.0

load test_helper
load lib/convert

STREAM_CASES=$CONVERT_FIXTURES/stream

# agree CASE.in-or-json ARGS-FILE ENV-FILE: one comparison, with the
# configuration in ENV-FILE (or none).
agree() {
	local args=()
	rm -f .env
	[ -f "$3" ] && cp "$3" .env
	[ -f "$2" ] && read -ra args < "$2"
	python3 "$BATS_TEST_DIRNAME/lib/convert-stream.py" "$1" "${args[@]}"
}

@test "every part kind, both code spellings: stream and whole agree" {
	local c fails=0 n=0
	for c in "$STREAM_CASES"/*.json; do
		for t in true false; do
			echo "SHOW_THINKING_PROCESS=$t" > think.env
			n=$((n + 1))
			agree "$c" "${c%.json}.args" think.env ||
			    { echo "case ${c##*/}, thinking $t"; fails=$((fails + 1)); }
		done
	done
	[ "$n" -ge 4 ]
	[ "$fails" -eq 0 ]
}

@test "the legacy code spellings render as the current ones in the whole answer" {
	local c=$STREAM_CASES/legacy-code-names
	# the same answer with the current names
	sed -e 's/"codeExecution"/"executableCode"/' \
	    -e 's/"executableCodeResult"/"codeExecutionResult"/' \
	    "$c.json" > current.json
	run -0 --separate-stderr bash -c "gb-convert chat-response -m m \
	    < '$c.json' | jq -r '.choices[0].message.content'"
	local legacy=$output
	run -0 --separate-stderr bash -c "gb-convert chat-response -m m \
	    < current.json | jq -r '.choices[0].message.content'"
	[ "$legacy" = "$output" ]
	[[ "$legacy" == *'```python'*'print(1 + 1)'*'> outcome: OUTCOME_OK'*'It is 2.' ]]
}

@test "every chat-response fixture that a stream can carry: stream and whole agree" {
	local f c fails=0 n=0 i=0 every=1
	# under valgrind a quarter of them, spread over the list: the
	# agreement is checked in full by the plain and sanitizer runs
	[ -z "${GB_VALGRIND:-}" ] || every=4
	for f in "$CONVERT_FIXTURES"/chat-response/*.in; do
		i=$((i + 1))
		((i % every == 0)) || continue
		c=${f%.in}
		[ -f "$c.status" ] && continue
		# a stream without a finish reason (or a block) is a cut stream
		jq -e '((.candidates // []) | length > 0 and
		    all(has("finishReason"))) or
		    ((.candidates // []) | length == 0 and
		    .promptFeedback.blockReason != null)' "$f" > /dev/null ||
		    continue
		n=$((n + 1))
		agree "$f" "$c.args" "$c.env" ||
		    { echo "case ${c##*/}"; fails=$((fails + 1)); }
	done
	[ "$n" -ge $((40 / every)) ]
	[ "$fails" -eq 0 ]
}
