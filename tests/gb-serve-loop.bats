#!/usr/bin/env bats
# gb-serve's loop (-l, Accept=no): one process with one thread serves
# every connection, the tools' long-lived hosts behind it; the
# connection cap, the stop, the reload, the descriptors and their limit,
# and a host that dies. The real tools, against the fake Gemini upstream.
# Every wait is for a state, polled with a generous bound (lib/conns).

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/conns

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	serve_test_setup
	CONNS_FD=
	need_tool gb-convert
	need_tool gb-call
	need_tool gb-sse
}

teardown() {
	conns_stop
	stop_serve
}

BUSY='{"error":{"message":"server busy, try again","type":"server_error","param":null,"code":null}}'
EV1='{"candidates":[{"content":{"role":"model","parts":[{"text":"one "}]}}]}'
EV2='{"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}'

# hold_streams: every streamed call from now on sends its first event,
# then waits for a go (upstream_go) before the last.
hold_streams() {
	upstream_script '{"path":"streamGenerateContent","repeat":true,"events":['"$EV1,$EV2"'],"wait_before":[1]}'
}

# chat_code TOKEN: a chat completion through a new connection; its status.
chat_code() {
	curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
	    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}' \
	    "$(url /v1/chat/completions)"
}

# health_ok: a new connection is served.
health_ok() {
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$(url /health)" \
	    2>/dev/null)" = 200 ]
}

# no_clients: gb-serve holds no client connection (the one wait_port
# made, or a curl that just finished, are closed on its side too).
no_clients() {
	[ "$(client_socks "$SERVE_PID" "$SERVE_PORT")" = 0 ]
}

@test "one process, one thread: 200 streams held open at once" {
	start_serve listen -i 60
	# a first stream through every host; their threads as they are now
	conns_start
	conns open first
	conns stream first tok-user hello
	conns_wait 'first streaming'
	conns finish first
	conns_wait 'first finished done'
	local -A hpid hthr
	for t in gb-convert gb-call gb-sse; do
		hpid[$t]=$(host_of "$SERVE_PID" "$t")
		[ -n "${hpid[$t]}" ] || { echo "no $t host"; false; }
		hthr[$t]=$(threads_of "${hpid[$t]}")
	done
	# small: one thread each, gb-convert's four converters besides
	[ "${hthr[gb-call]}" -le 2 ] && [ "${hthr[gb-sse]}" -le 2 ] &&
	    [ "${hthr[gb-convert]}" -le 6 ] ||
	    { echo "threads: ${hthr[*]}"; false; }
	hold_streams
	conns openmany 200
	conns streamall tok-user
	# every stream got its first event and waits for the rest
	conns_wait 'streaming 201'
	run -0 client_socks "$SERVE_PID" "$SERVE_PORT"
	assert_output 201
	run -0 threads_of "$SERVE_PID"
	assert_output 1
	# the same hosts, as many threads as before: no thread and no
	# process per stream
	for t in gb-convert gb-call gb-sse; do
		run -0 host_of "$SERVE_PID" "$t"
		assert_output "${hpid[$t]}"
		run -0 threads_of "${hpid[$t]}"
		assert_output "${hthr[$t]}"
	done
	run -0 descendants_of "$SERVE_PID"
	assert_equal "$(sort -n <<<"$output" | tr '\n' ' ')" \
	    "$(printf '%s\n' "${hpid[@]}" | sort -n | tr '\n' ' ')"
	upstream_go 201
	conns finishall
	conns_wait 'finished 201: done=201 error=0 cut=0'
	run -0 threads_of "$SERVE_PID"
	assert_output 1
	conns_end
	run -0 cat "$SERVE_LOG"
	refute_output --partial Sanitizer
}

@test "-c 2: a third connection at once gets 503 with Retry-After, a freed slot is taken again" {
	start_serve listen -c 2 -i 60
	conns_start
	for k in 1 2 3; do
		conns open "$k"
		conns send "$k" tok-user /health
		conns recv "$k"
	done
	conns_wait '1 200 {"status":"healthy"}'
	conns_wait '2 200 {"status":"healthy"}'
	conns_wait "3 503 retry-after=1 $BUSY"
	conns check 3
	conns_wait '3 closed'
	# the two still hold their slots
	run -0 curl -sS -w ' %{http_code}' "$(url /health)"
	assert_output "$BUSY 503"
	conns close 1
	conns_wait '1 closed-by-us'
	run -0 wait_until health_ok
	conns open 4
	conns send 4 tok-user /health
	conns recv 4
	conns_wait '4 200 {"status":"healthy"}'
}

@test "descriptors: back to the base count once the connections close" {
	start_serve listen -i 60
	run -0 curl -sS "$(url /health)"
	# the base: no client connection open any more, no job running
	run -0 wait_until no_clients
	base=$(fds_of "$SERVE_PID")
	conns_start
	conns openmany 8
	conns chatall tok-user
	conns_wait 'c8 200 echo: conn c8'
	for k in $(seq 8); do
		run -0 grep -cxF "c$k 200 echo: conn c$k" conns.out
		assert_output 1
	done
	# a socket per open connection, nothing else left by the requests
	run -0 wait_value 8 client_socks "$SERVE_PID" "$SERVE_PORT"
	run -0 wait_value $((base + 8)) fds_of "$SERVE_PID"
	conns close c1
	conns close c2
	conns_wait 'c2 closed-by-us'
	run -0 wait_value $((base + 6)) fds_of "$SERVE_PID"
	conns_end
	run -0 wait_value "$base" fds_of "$SERVE_PID"
	# and again, a connection each: nothing accumulates
	for i in 1 2 3; do
		run -0 chat_code tok-user
		assert_output 200
	done
	run -0 wait_value "$base" fds_of "$SERVE_PID"
	# and the hosts run no job
	run -0 wait_value 0 pipes_of $(host_pids "$SERVE_PID")
}

@test "SIGTERM: idle keep-alive connections close at once, the process exits 0" {
	# an idle timeout far beyond any wait below: only the stop wakes them
	start_serve listen -i 600
	conns_start
	for k in 1 2 3 4; do
		conns open "$k"
		conns send "$k" tok-user /health
		conns recv "$k"
	done
	conns_wait '4 200 {"status":"healthy"}'
	kill -TERM "$SERVE_PID"
	run -0 wait_exit "$SERVE_PID"
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
	for k in 1 2 3 4; do
		conns check "$k"
		conns_wait "$k closed"
	done
}

@test "SIGTERM: no new connections, a request and a stream in flight finish, then exit 0" {
	start_serve listen -i 600
	upstream_script '{"path":"generateContent","wait_headers":true,"body":{"candidates":[{"content":{"parts":[{"text":"late"}]}}]}}'
	hold_streams
	conns_start
	conns open idle
	conns send idle tok-user /health
	conns recv idle
	conns_wait 'idle 200 {"status":"healthy"}'
	conns open busy
	conns send busy tok-user /v1beta/models/gemini-2.0-flash:generateContent '{"contents":[]}'
	conns open stream
	conns stream stream tok-user hello
	conns_wait 'stream streaming'
	upstream_requests 2 > /dev/null
	kill -TERM "$SERVE_PID"
	conns check idle
	conns_wait 'idle closed'
	# still serving what is in flight; no new connection is taken
	run -0 running "$SERVE_PID"
	run ! curl -sS -m 5 "$(url /health)"
	upstream_go 2
	conns recv busy
	conns_wait 'busy 200 {"candidates":[{"content":{"parts":[{"text":"late"}]}}]}'
	conns finish stream
	conns_wait 'stream finished done'
	conns check busy
	conns_wait 'busy closed'
	run -0 wait_exit "$SERVE_PID"
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
}

@test "SIGHUP: new connections get the new configuration, open streams go on, the old hosts leave once done" {
	unset ALLOWED_TOKENS AUTH_TOKEN
	printf 'ALLOWED_TOKENS=old-token\n' > .env
	start_serve listen -i 60
	conns_start
	conns open before
	conns chat before old-token hello
	conns_wait 'before 200 echo: hello'
	local -A was
	for t in gb-convert gb-call gb-sse; do
		was[$t]=$(host_of "$SERVE_PID" "$t")
		[ -n "${was[$t]}" ] || { echo "no $t host"; false; }
	done
	old=" ${was[*]} "
	hold_streams
	conns open held
	conns stream held old-token hello
	conns_wait 'held streaming'
	printf 'ALLOWED_TOKENS=new-token\n' > .env
	kill -HUP "$SERVE_PID"
	wait_file_has "$SERVE_LOG" 'configuration reloaded'
	# the old converter had no job left: it goes at once
	run -0 wait_gone "${was[gb-convert]}"
	# the old gb-call and gb-sse still run the held stream
	run -0 running "${was[gb-call]}"
	run -0 running "${was[gb-sse]}"
	# a new connection: the new tokens, served by new hosts
	conns open after
	conns chat after old-token hello
	conns_wait 'after 401 {"error":{"message":"Invalid token","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
	conns open after2
	conns chat after2 new-token hello
	conns_wait 'after2 200 echo: hello'
	for t in gb-convert gb-call; do
		run -0 host_of "$SERVE_PID" "$t"
		[ -n "$output" ] && [[ $old != *" $output "* ]] ||
		    { echo "$t host: '$output' (old:$old)"; false; }
	done
	# the connection opened before the reload keeps the old tokens
	conns chat before old-token again
	conns_wait 'before 200 echo: again'
	# the held stream goes on on the old hosts, which then leave
	run -0 running "${was[gb-call]}"
	run -0 running "${was[gb-sse]}"
	upstream_go
	conns finish held
	conns_wait 'held finished done'
	run -0 wait_gone "${was[gb-call]}" "${was[gb-sse]}"
	# a stream now: a new gb-sse host
	upstream_reset
	conns stream after2 new-token again
	conns_wait 'after2 streaming'
	conns finish after2
	conns_wait 'after2 finished done'
	run -0 host_of "$SERVE_PID" gb-sse
	[ -n "$output" ] && [[ $old != *" $output "* ]] ||
	    { echo "gb-sse host: '$output' (old:$old)"; false; }
	# a second reload while "before" is open, then it closes: its
	# configuration, two behind, is freed with it (the sanitizers and
	# valgrind watch)
	printf 'ALLOWED_TOKENS=third-token\n' > .env
	kill -HUP "$SERVE_PID"
	run -0 wait_value 2 grep -c 'configuration reloaded' "$SERVE_LOG"
	conns close before
	conns chat after2 new-token still
	conns_wait 'after2 200 echo: still'
	conns_end
	kill -TERM "$SERVE_PID"
	# exit 0 (not with run: wait needs this shell, not a subshell)
	wait "$SERVE_PID"
	SERVE_PID=
	run -0 cat "$SERVE_LOG"
	refute_output --partial ERROR
	refute_output --partial Sanitizer
}

@test "the soft descriptor limit goes up to the hard one, in gb-serve and its hosts" {
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] || [ "$hard" -gt 20000 ] && hard=20000
	[ "$hard" -gt 256 ] || skip "a hard descriptor limit of $hard is too low"
	soft=$((hard < 1024 * 2 ? hard / 2 : 1024))
	SERVE_WRAP="prlimit --nofile=$soft:$hard" start_serve listen
	run -0 nofile_of "$SERVE_PID"
	assert_output "$hard $hard"
	run -0 host_pids "$SERVE_PID"
	[ "$(wc -l <<<"$output")" = 3 ]
	for h in $output; do
		run -0 wait_value "$hard $hard" nofile_of "$h"
	done
}

@test "out of descriptors: the excess gets 503 with Retry-After, logged once a second, no spin; then served again" {
	# 64 descriptors, of which its own take about 16: some 50 connections
	# fit, and -c lets in more than that
	SERVE_WRAP="prlimit --nofile=64:64" start_serve listen -c 1000 -i 600
	run -0 nofile_of "$SERVE_PID"
	assert_output '64 64'
	run -0 wait_until no_clients
	t0=$(date +%s%N)
	c0=$(cpu_ticks "$SERVE_PID")
	conns_start
	conns openmany 80
	conns getall tok-user /health
	run -0 conns_wait_prefix 'getall 80:'
	line=$output
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$SERVE_PID")
	[[ $line =~ ^getall\ 80:\ 200=([0-9]+)\ 503=([0-9]+)\ retry-after=([0-9]+)$ ]] ||
	    { echo "$line"; false; }
	ok=${BASH_REMATCH[1]} busy=${BASH_REMATCH[2]} ra=${BASH_REMATCH[3]}
	# served while descriptors lasted, the rest told to come back
	[ "$ok" -ge 30 ] && [ "$busy" -ge 20 ] && [ "$ra" = "$busy" ] ||
	    { echo "$line"; false; }
	# said at most about once a second (and at least once)
	secs=$(((t1 - t0) / 1000000000))
	n=$(grep -c 'Too many open files' "$SERVE_LOG")
	[ "$n" -ge 1 ] && [ "$n" -le $((secs + 2)) ] ||
	    { echo "$n lines in $secs s"; grep 'Too many' "$SERVE_LOG"; false; }
	run -0 grep -c "^gb-serve: accept: Too many open files ($ok connections open); answering 503$" "$SERVE_LOG"
	# no spin: waiting for descriptors, it took a small part of a CPU
	# (a spinning loop takes all of one for the whole episode)
	ticks=$((c1 - c0)) wall=$(((t1 - t0) / 10000000))
	[ $((ticks * 4)) -le $((wall + 100)) ] ||
	    { echo "$ticks CPU ticks in $wall"; false; }
	# every descriptor in use: a job cannot get its pipes either
	conns chat c1 tok-user hi
	conns_wait "c1 503 retry-after=1 $BUSY"
	# the connections close: served normally again
	conns closeall
	conns_wait "closed $ok"
	run -0 wait_until health_ok
	run -0 chat_code tok-user
	assert_output 200
}

@test "a host killed mid-stream: an error event and [DONE], logged, and a new host for the next stream" {
	start_serve listen -i 60
	hold_streams
	conns_start
	conns open s
	conns stream s tok-user hello
	conns_wait 's streaming'
	sse=$(host_of "$SERVE_PID" gb-sse)
	[ -n "$sse" ]
	kill -KILL "$sse"
	conns finish s
	conns_wait 's finished error gb-sse host died (signal 9)'
	run -0 wait_file_has "$SERVE_LOG" 'host died'
	run -0 grep -E '^gb-serve: [^ ]+ POST /v1/chat/completions 200 [0-9]+ms .* error="gb-sse host died \(signal 9\)"$' "$SERVE_LOG"
	# the call feeding the dead host ends too: the upstream sees it go
	run -0 upstream_outcome 1
	assert_output client_gone
	# the next stream: a new host serves it
	upstream_reset
	conns stream s tok-user again
	conns_wait 's streaming'
	conns finish s
	conns_wait 's finished done'
	run -0 host_of "$SERVE_PID" gb-sse
	[ -n "$output" ] && [ "$output" != "$sse" ] ||
	    { echo "gb-sse host: '$output' (the killed one: $sse)"; false; }
	run -0 wait_gone "$sse"
}

# deep_chat MODE: a chat whose request and answer nest as deep as
# Jansson allows, through gb-serve started in MODE.
deep_chat() {
	local deep
	deep=$(python3 -c 'print("{\"a\":" * 2040 + "1" + "}" * 2040)')
	# the answer as a string: the fake's Python JSON does not nest so deep
	printf '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":%s}}]},"finishReason":"STOP"}]}' "$deep" |
	    jq -Rc '{path: "generateContent", body: .}' | upstream_script
	printf '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":%s}}]}' "$deep" > req.json
	start_serve "$1"
	run -0 curl -sS -o resp.json -w '%{http_code}' \
	    -H 'Authorization: Bearer tok-user' --data-binary @req.json \
	    "$(url /v1/chat/completions)"
	assert_output 200
	# (the arguments are a string: jq need not nest so deep either)
	run -0 jq -r '.choices[0].message.tool_calls[0].function.arguments' resp.json
	[ "$output" = "$deep" ]
}

@test "a document at Jansson's depth limit both ways, through the tools' hosts" {
	deep_chat listen
}

@test "a document at Jansson's depth limit both ways, the tools as processes (inetd)" {
	deep_chat inetd
}
