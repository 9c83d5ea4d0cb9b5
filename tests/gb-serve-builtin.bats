#!/usr/bin/env bats
# gb-serve and the tools it composes: each tool runs in a long-lived host
# of its own (TOOL -W), or as a process when no host can take it; the
# tools are also built into gb-serve (a multi-call binary, run under a
# tool's name), so gb-serve copied alone still runs them
# (lib/pipeline.h, gb-serve(8) DESIGN NOTES). GB_LIBEXECDIR turns the
# built-ins off.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

setup() {
	upstream_start
	serve_config
	unset GB_LIBEXECDIR
}

teardown() {
	stop_pid "${SERVE_PID:-}" || true
	upstream_stop
}

HI='{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
WANT='{"object":"chat.completion","model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"echo: hi"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'

GEN='{"candidates":[{"content":{"role":"model","parts":[{"text":"held"}]},"finishReason":"STOP"}]}'

chat() {
	curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' -d "$HI" \
	    "$(url /v1/chat/completions)"
}

# wait_tool NAME: print the PID of a descendant of SERVE_PID named NAME
wait_tool() {
	local i p
	for i in $(seq 200); do
		for p in $(descendants_of "$SERVE_PID"); do
			if [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$1" ]; then
				echo "$p"
				return 0
			fi
		done
		sleep 0.05
	done
	return 1
}

# stream_held: a streaming chat in the background (CLIENT its PID) whose
# upstream holds its second event until stream_done, so that the
# request's tools can be looked at meanwhile.
stream_held() {
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	curl -sSN -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' \
	    -d '{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
	    "$(url /v1/chat/completions)" >out &
	CLIENT=$!
}

# stream_done: let the held stream finish; it must have got both events.
stream_done() {
	upstream_go
	wait "$CLIENT"
	run -0 grep -c '"two"' out
}

@test "gb-serve with gb-call alone in a directory still runs every tool" {
	# gb-convert, gb-keys and gb-sse are built in; gb-call's host is
	# gb-call -W (exec'd once), so it must be there
	mkdir alone
	cp "$GB_BIN/gb-serve" "$GB_BIN/gb-call" alone/
	GB_BIN=$PWD/alone start_serve listen
	run -0 chat
	assert_line --index 1 200
	run -0 jq -c 'del(.id, .created)' <<<"${lines[0]}"
	assert_output "$WANT"
	# no host for gb-sse: it runs as gb-serve exec'd under its name
	stream_held
	pid=$(wait_tool gb-sse)
	[ "$(readlink /proc/"$pid"/exe)" = "$(readlink -f alone/gb-serve)" ]
	[ "$(tr '\0' ' ' < /proc/"$pid"/cmdline)" = "gb-sse -m gemini-2.0-flash -k 15 " ]
	stream_done
}

@test "the tools run in long-lived hosts, each its own program: TOOL -W" {
	start_serve listen
	run -0 chat
	assert_line --index 1 200
	for t in gb-convert gb-sse gb-call; do
		pid=$(wait_tool $t-host)
		# exec'd, not a fork of gb-serve: nothing of its threads' locks
		[ "$(readlink /proc/"$pid"/exe)" = "$(readlink -f "$GB_BIN/$t")" ]
		[ "$(tr '\0' ' ' < /proc/"$pid"/cmdline)" = "$t -W " ]
	done
	# the same hosts answer the next requests: no new process
	before=$(host_pids "$SERVE_PID" | sort | tr '\n' ' ')
	for i in 1 2 3; do
		run -0 chat
		assert_line --index 1 200
	done
	[ "$(host_pids "$SERVE_PID" | sort | tr '\n' ' ')" = "$before" ]
	[ "$(request_pids "$SERVE_PID" | wc -l)" -le 1 ]
}

@test "a host that dies is started again, and no request is lost" {
	start_serve listen
	run -0 chat
	assert_line --index 1 200
	for h in gb-convert-host gb-call-host; do
		pid=$(wait_tool $h)
		kill -9 "$pid"
		run -0 chat
		assert_line --index 1 200
		run -0 jq -c 'del(.id, .created)' <<<"${lines[0]}"
		assert_output "$WANT"
		new=$(wait_tool $h)
		[ "$new" != "$pid" ]
	done
}

@test "with GB_HOSTS=0 a process per tool, each its own program" {
	GB_HOSTS=0 start_serve listen
	stream_held
	pid=$(wait_tool gb-sse)
	[ "$(readlink /proc/"$pid"/exe)" = "$(readlink -f "$GB_BIN/gb-sse")" ]
	pid=$(wait_tool gb-call)
	[ "$(readlink /proc/"$pid"/exe)" = "$(readlink -f "$GB_BIN/gb-call")" ]
	[ -z "$(host_pids "$SERVE_PID")" ]
	stream_done
}

@test "run under a built-in tool's name, gb-serve is that tool" {
	ln -s "$GB_BIN/gb-serve" gb-convert
	ln -s "$GB_BIN/gb-serve" gb-keys
	run -0 ./gb-convert chat-request <<<"$HI"
	want=$("$GB_BIN/gb-convert" chat-request <<<"$HI")
	[ "$output" = "$want" ]
	run -100 --separate-stderr ./gb-convert nonsense
	[ "${stderr_lines[0]}" = "usage: gb-convert chat-request [-I fd]" ]
	export API_KEYS=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrS0001
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/st
	run -0 ./gb-keys list --json
	run -0 jq '.keys | length' <<<"$output"
	assert_output 1
}

@test "with GB_LIBEXECDIR the tools are exec'd from there" {
	upstream_script "{\"wait_headers\":true,\"body\":$GEN}"
	GB_LIBEXECDIR=$GB_BIN start_serve listen
	chat >out &
	client=$!
	pid=$(wait_tool gb-call)
	[ "$(readlink /proc/"$pid"/exe)" = "$(readlink -f "$GB_BIN/gb-call")" ]
	upstream_go
	wait "$client"
	run -0 cat out
	assert_line --index 1 200
	run -0 jq -r '.choices[0].message.content' <<<"${lines[0]}"
	assert_output held
}

@test "requests on one client connection share one upstream connection" {
	start_serve listen
	u=$(url /v1/chat/completions)
	n=/dev/null
	run -0 curl -sS -o $n -o $n -o $n -o $n \
	    -w '%{http_code} %{num_connects}\n' \
	    -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' -d "$HI" "$u" "$u" "$u" "$u"
	assert_output $'200 1\n200 0\n200 0\n200 0'
	run -0 upstream_requests 4
	run -0 jq -c '[.[].client_port] | unique | length' <<<"$output"
	assert_output 1
}

@test "with GB_LIBEXECDIR every request opens its own upstream connection" {
	GB_LIBEXECDIR=$GB_BIN start_serve listen
	u=$(url /v1/chat/completions)
	n=/dev/null
	run -0 curl -sS -o $n -o $n -o $n -w '%{http_code}\n' \
	    -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' -d "$HI" "$u" "$u" "$u"
	assert_output $'200\n200\n200'
	run -0 upstream_requests 3
	run -0 jq -c '[.[].client_port] | unique | length' <<<"$output"
	assert_output 3
}
