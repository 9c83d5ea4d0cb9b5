#!/usr/bin/env bats
# gb-serve's accept loop (Accept=no, -l) serves each connection in a
# thread of its own process: many connections in one process, with the
# cap, the stop, the reload and the descriptors as with processes. The
# real tools behind it, against the fake Gemini upstream.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/threads

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	serve_test_setup
	CONNS_FD=
}

teardown() {
	[ -n "$CONNS_FD" ] && { exec {CONNS_FD}>&-; wait "$CONNS_PID"; }
	stop_serve
}

@test "16 keep-alive connections at once: threads of one process, each answered" {
	need_tool gb-convert
	start_serve listen -i 30
	conns_start
	for k in $(seq 16); do
		conns open "$k"
	done
	conns chatall tok-user
	conns_wait '16 200 echo: conn 16'
	for k in $(seq 16); do
		run -0 grep -cxF "$k 200 echo: conn $k" conns.out
		assert_output 1
	done
	# all 16 still open: a thread each, no process per connection (a
	# tool still finishing is not a gb-serve)
	[ "$(threads_of "$SERVE_PID")" -ge 17 ]
	for p in $(descendants_of "$SERVE_PID"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" != gb-serve ]
	done
	# each connection takes a second request
	conns chatall tok-user
	conns_wait_count 2 "16 200 echo: conn 16"
	conns_end
	# the threads end with their connections
	run -0 wait_value 1 threads_of "$SERVE_PID"
}

@test "descriptors: back to the base count once the connections close" {
	need_tool gb-convert
	start_serve listen -i 30
	# once it answers, all it keeps open is open (the tools' hosts start
	# before the first connection is taken)
	curl -sS -o /dev/null "$(url /health)"
	base=$(fds_of "$SERVE_PID")
	conns_start
	for k in $(seq 8); do
		conns open "$k"
	done
	conns chatall tok-user
	conns_wait '8 200 echo: conn 8'
	# a socket per open connection, nothing else left by the requests
	run -0 wait_value $((base + 8)) fds_of "$SERVE_PID"
	conns close 1
	conns close 2
	conns_wait '2 closed-by-us'
	run -0 wait_value $((base + 6)) fds_of "$SERVE_PID"
	conns_end
	run -0 wait_value "$base" fds_of "$SERVE_PID"
	# and again: nothing accumulates
	for i in 1 2 3; do
		curl -sS -o /dev/null -H 'Authorization: Bearer tok-user' \
		    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}' \
		    "$(url /v1/chat/completions)"
	done
	run -0 wait_value "$base" fds_of "$SERVE_PID"
}

@test "SIGTERM: idle keep-alive connections close at once, the process exits 0" {
	# an idle timeout far beyond the bound below: only the stop wakes them
	start_serve listen -i 60
	conns_start
	for k in 1 2 3 4; do
		conns open "$k"
		conns send "$k" tok-user /health
		conns recv "$k"
	done
	conns_wait '4 200 {"status":"healthy"}'
	kill -TERM "$SERVE_PID"
	run -0 wait_exit "$SERVE_PID" 5
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
	for k in 1 2 3 4; do
		conns check "$k"
		conns_wait "$k closed"
	done
}

@test "SIGTERM with a request in flight: idle ones close, the request completes, then exit 0" {
	start_serve listen -i 60
	upstream_script '{"path":"generateContent","wait_headers":true,"body":{"late":true}}'
	conns_start
	conns open idle
	conns send idle tok-user /health
	conns recv idle
	conns_wait 'idle 200 {"status":"healthy"}'
	conns open busy
	conns send busy tok-user /v1beta/models/gemini-2.0-flash:generateContent '{"contents":[]}'
	upstream_requests 1 > /dev/null
	kill -TERM "$SERVE_PID"
	conns check idle
	conns_wait 'idle closed'
	# still serving the request in flight; no new connection is taken
	[ -z "$(awk '/^State:/ { print $2 }' "/proc/$SERVE_PID/status" | grep Z)" ]
	run ! curl -sS -m 2 "$(url /health)"
	upstream_go
	conns recv busy
	conns_wait 'busy 200 {"late":true}'
	conns check busy
	conns_wait 'busy closed'
	run -0 wait_exit "$SERVE_PID" 5
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
}

@test "SIGHUP: new connections get the new configuration, open ones keep theirs" {
	need_tool gb-convert
	unset ALLOWED_TOKENS AUTH_TOKEN
	printf 'ALLOWED_TOKENS=old-token\n' > .env
	start_serve listen -i 30
	conns_start
	conns open before
	conns chat before old-token hello
	conns_wait 'before 200 echo: hello'
	printf 'ALLOWED_TOKENS=new-token\n' > .env
	kill -HUP "$SERVE_PID"
	wait_file_has "$SERVE_LOG" 'configuration reloaded'
	conns open after
	conns chat after old-token hello
	conns_wait 'after 401 {"error":{"message":"Invalid token","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
	conns open after2
	conns chat after2 new-token hello
	conns_wait 'after2 200 echo: hello'
	# the connection opened before the reload still has the old tokens
	conns chat before old-token again
	conns_wait 'before 200 echo: again'
	# a second reload while it is open, then it closes: its configuration,
	# two behind, is freed with it (the sanitizers and valgrind watch)
	printf 'ALLOWED_TOKENS=third-token\n' > .env
	kill -HUP "$SERVE_PID"
	run -0 wait_value 2 grep -c 'configuration reloaded' "$SERVE_LOG"
	conns close before
	conns chat after2 new-token still
	conns_wait 'after2 200 echo: still'
	conns_end
	CONNS_FD=
	kill -TERM "$SERVE_PID"
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
	run -0 cat "$SERVE_LOG"
	refute_output --partial ERROR
	refute_output --partial Sanitizer
}

@test "-c 2: a third connection at once gets 503, a freed slot is taken again" {
	start_serve listen -c 2 -i 30
	conns_start
	for k in 1 2 3; do
		conns open "$k"
		conns send "$k" tok-user /health
		conns recv "$k"
	done
	conns_wait '1 200 {"status":"healthy"}'
	conns_wait '2 200 {"status":"healthy"}'
	conns_wait '3 503 {"error":{"message":"server busy, try again","type":"server_error","param":null,"code":null}}'
	conns check 3
	conns_wait '3 closed'
	conns close 1
	# its thread ends (the accept loop's and connection 2's are left)
	run -0 wait_value 2 threads_of "$SERVE_PID"
	conns open 4
	conns send 4 tok-user /health
	conns recv 4
	conns_wait '4 200 {"status":"healthy"}'
}

# deep_chat: a chat whose request and answer nest as deep as Jansson
# allows, through gb-serve started with the environment given.
deep_chat() {
	local deep
	deep=$(python3 -c 'print("{\"a\":" * 2040 + "1" + "}" * 2040)')
	# the answer as a string: the fake's Python JSON does not nest so deep
	printf '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":%s}}]},"finishReason":"STOP"}]}' "$deep" |
	    jq -Rc '{path: "generateContent", body: .}' | upstream_script
	printf '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":%s}}]}' "$deep" > req.json
	start_serve listen
	run -0 curl -sS -o resp.json -w '%{http_code}' \
	    -H 'Authorization: Bearer tok-user' --data-binary @req.json \
	    "$(url /v1/chat/completions)"
	assert_output 200
	# (the arguments are a string: jq need not nest so deep either)
	run -0 jq -r '.choices[0].message.tool_calls[0].function.arguments' resp.json
	[ "$output" = "$deep" ]
}

@test "a document at Jansson's depth limit both ways: tools as processes fit the thread's stack" {
	need_tool gb-convert
	# each tool as a process of its own (gb-serve exec'd under its name)
	export GB_HOSTS=0
	deep_chat
}

@test "a document at Jansson's depth limit both ways, through the tools' hosts" {
	need_tool gb-convert
	deep_chat
}
