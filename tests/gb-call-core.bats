#!/usr/bin/env bats
# gb-call's event-driven core (lib/upstream.h) driven directly, as a host
# of many requests drives it: several calls at once on one upstream and
# one sd-event loop, backpressure, cancelling, freeing with calls
# running (tests/lib/upcall.c checks the sink contract of every call).

bats_require_minimum_version 1.5.0

load test_helper
load lib/upstream

K1=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrS0001
K2=AIzaSyB1b2C3d4E5f6G7h8I9j0KlMnOpQrS0002
K3=AIzaSyC1b2C3d4E5f6G7h8I9j0KlMnOpQrS0003
GEN=models/gemini-2.0-flash:generateContent
STREAM='models/gemini-2.0-flash:streamGenerateContent?alt=sse'
REQ='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
# stream events with content: E n
E() {
	printf '{"candidates":[{"content":{"parts":[{"text":"%s"}]}}]}' "$1"
}
ANSWER='{"candidates":[{"content":{"parts":[{"text":"echo: hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3},"modelVersion":"gemini-2.0-flash","responseId":"fake-'

setup_file() {
	build_driver upcall tests/lib/upcall.c || true
	upstream_start
}

teardown_file() {
	upstream_stop
}

setup() {
	[ -x "$BATS_FILE_TMPDIR/upcall" ] ||
	    skip "no libgb.a beside $GB_BIN to build tests/lib/upcall.c"
	upstream_reset
	upstream_env
	export API_KEYS="$K1,$K2,$K3"
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	printf '%s' "$REQ" >req.json
}

upcall() {
	if [ -n "${GB_VALGRIND:-}" ]; then
		valgrind -q --leak-check=full \
		    --show-leak-kinds=definite,indirect \
		    --errors-for-leak-kinds=definite,indirect \
		    --error-exitcode=99 "$BATS_FILE_TMPDIR/upcall" "$@"
	else
		"$BATS_FILE_TMPDIR/upcall" "$@"
	fi
}

@test "calls at once on one upstream: each answered once, connections reused by the next round" {
	run -0 --separate-stderr upcall -n 4 -r 3 POST "$GEN" req.json
	[ "$stderr" = "" ]
	[ "$(grep -c '^head [0-2]\.[0-3] 200 1$' <<<"$output")" = 12 ]
	[ "$(grep -c '^done [0-2]\.[0-3] 0 $' <<<"$output")" = 12 ]
	for f in out.*; do
		[[ $(cat "$f") == "$ANSWER"*'"}' ]]
	done
	[ "$(upstream_count)" = 12 ]
	# rounds 2 and 3 went on the connections of round 1
	(($(upstream_requests | jq '[.[].client_port] | unique | length') <= 4))
	[ "$(gb-keys list --json | jq -c '[.keys[].uses]')" = '[4,4,4]' ]
}

@test "retries of calls at once: distinct keys per call, one use per upstream request" {
	upstream_script "{\"key\":\"$K1\",\"status\":503,\"repeat\":true}"
	run -0 --separate-stderr upcall -n 6 GET models
	[ "$(grep -c '^done 0\.[0-5] 0 $' <<<"$output")" = 6 ]
	[ "$(grep -c '^head 0\.[0-5] 200 2$' <<<"$output")" = 2 ]
	[ "$(grep -c '^head 0\.[0-5] 200 1$' <<<"$output")" = 4 ]
	[ "$(grep -c "with key AIzaSy…0001: HTTP 503$" <<<"$stderr")" = 2 ]
	[ "$(upstream_count)" = 8 ]
	[ "$(gb-keys list --json | jq '[.keys[].uses] | add')" = 8 ]
}

@test "backpressure: a paused stream gets nothing until resumed, then the rest in order" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"','"$(E 3)"','"$(E 4)"'],"event_delay":0.1,"framing":"lf"}'
	t0=$(date +%s%N)
	run -0 --separate-stderr upcall -s -p 250 POST "$STREAM" req.json
	t1=$(date +%s%N)
	[ "$stderr" = "" ]
	assert_line --index 0 'head 0.0 200 1'
	assert_line --index 1 'done 0.0 0 '
	# events come 0.1 s apart (what arrived while paused may come as
	# one piece), each piece after the resume of the one before
	[[ ${lines[2]} =~ ^pieces\ 0\.0\ ([2-4])$ ]]
	((t1 - t0 >= (BASH_REMATCH[1] - 1) * 250000000))
	[ "$(cat out.0.0)" = $'data: '"$(E 1)"$'\n\ndata: '"$(E 2)"$'\n\ndata: '"$(E 3)"$'\n\ndata: '"$(E 4)" ]
	[ "$(upstream_outcome 1)" = complete ]
}

@test "cancel from the body callback: the transfer stops, 111, the key not penalised" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"'],"wait_before":[1]}'
	run -0 --separate-stderr upcall -s -c 1 POST "$STREAM" req.json
	assert_output $'head 0.0 200 1\ndone 0.0 111 the caller went away'
	[ "$(upstream_outcome 1)" = client_gone ]
	[ "$(upstream_request 1 .events_sent)" = 1 ]
	[ "$(gb-keys list --json | jq -c '.keys[0] | [.consecutive_failures, .last_error]')" = '[0,null]' ]
}

@test "cancel from the loop while upstream is silent: done at once, no head" {
	upstream_script '{"delay":20}'
	SECONDS=0
	run -0 --separate-stderr upcall -k 200 GET models
	((SECONDS < 5))
	assert_output 'done 0.0 111 the caller went away'
	[ "$(upstream_outcome 1)" = client_gone ]
	[ "$(gb-keys list --json | jq -c '.keys[0] | [.consecutive_failures, .last_error]')" = '[0,null]' ]
}

@test "cancel during a backoff: done at once, no other key tried" {
	upstream_script '{"status":503,"repeat":true}'
	run -0 --separate-stderr upcall -w GET models
	assert_output 'done 0.0 111 the caller went away'
	[ "$(upstream_count)" = 1 ]
}

@test "freeing the upstream with calls running: no done, every connection closed" {
	upstream_script '{"events":['"$(E 1)"','"$(E 2)"'],"wait_before":[1],"repeat":true}'
	run -0 --separate-stderr upcall -s -n 4 -f 1 POST "$STREAM" req.json
	[ "$stderr" = "" ]
	# heads of the calls that got a byte before the free, no done at all
	((${#lines[@]} >= 1))
	for l in "${lines[@]}"; do
		[[ $l =~ ^head\ 0\.[0-3]\ 200\ 1$ ]]
	done
	for i in 1 2 3 4; do
		[ "$(upstream_outcome $i)" = client_gone ]
	done
}
