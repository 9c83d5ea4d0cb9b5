#!/usr/bin/env bats
# gb-serve under each launcher: systemd-socket-activate with Accept=no
# (listening socket) and Accept=yes (connection on fd 3), inetd style
# (stdin/stdout), and -l; sd_notify, SIGTERM, SIGHUP, the connection cap,
# configuration errors, where the tools come from. With a listening
# socket gb-serve runs the tools' hosts; serving one connection alone
# (Accept=yes, inetd) it runs each tool as a process of its own. The
# real tools, against the fake upstream.

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
}

teardown() {
	conns_stop
	stop_serve
}

GEN='{"contents":[{"role":"user","parts":[{"text":"yo"}]}]}'

# check_serving: health, a native call through gb-call, and keep-alive.
check_serving() {
	run -0 curl -sS "$(url /health)"
	assert_output '{"status":"healthy"}'
	run -0 curl -sS -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d "$GEN"
	run -0 jq -r '.candidates[0].content.parts[0].text' <<<"$output"
	assert_output 'echo: yo'
	run -0 curl -sS -v "$(url /health)" "$(url /)"
	assert_output --partial 'Re-using existing connection'
}

# check_streams: a native stream and a Responses stream, each through
# gb-sse in its dialect (as a host, or run with -o by a connection's
# gb-serve).
check_streams() {
	need_tool gb-sse
	run -0 curl -sSN -H 'x-goog-api-key: tok-user' \
	    "$(url '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse')" \
	    -d "$GEN"
	run -0 grep -c '"finishReason":"STOP"' <<<"$output"
	run -0 curl -sSN -H 'Authorization: Bearer tok-user' "$(url /v1/responses)" \
	    -d '{"model":"gemini-2.0-flash","input":"yo","stream":true}'
	assert_line 'event: response.completed'
	assert_output --partial '"text":"echo: yo"'
}

# comms PID: the comm of each descendant of PID, sorted, on one line.
comms() {
	local p
	for p in $(descendants_of "$1"); do
		cat "/proc/$p/comm" 2>/dev/null
	done | sort | tr '\n' ' '
}

# gb_serves PID: the descendants of PID that run gb-serve.
gb_serves() {
	local p exe
	exe=$(readlink -f "$GB_BIN/gb-serve")
	for p in $(descendants_of "$1"); do
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$exe" ] &&
		    running "$p" && echo "$p"
	done
	return 0
}

# check_processes: one connection alone (Accept=yes, inetd): a chat and
# a stream work, and while the stream runs its tools run as processes
# of the connection's gb-serve, none of them a host.
check_processes() {
	need_tool gb-convert
	need_tool gb-sse
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"one "}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	# the connections before are over, their gb-serve gone
	run -0 wait_value '' gb_serves "$SERVE_PID"
	conns_start
	conns open s
	conns chat s tok-user hello
	conns_wait 's 200 echo: hello'
	conns stream s tok-user hello
	conns_wait 's streaming'
	# gb-call and gb-sse, children of the one gb-serve, no host
	run -0 comms "$SERVE_PID"
	[[ $output == *"gb-call "* && $output == *"gb-sse "* &&
	    $output != *"-host "* ]] || { echo "processes: $output"; false; }
	run -0 gb_serves "$SERVE_PID"
	[ "$(wc -w <<<"$output")" = 1 ] || { echo "gb-serve: $output"; false; }
	run -0 comms "$output"
	[[ $output == *"gb-call "* && $output == *"gb-sse "* ]] ||
	    { echo "under gb-serve: $output"; false; }
	upstream_go
	conns finish s
	conns_wait 's finished done'
	# and on the same connection once more, not streamed
	conns chat s tok-user again
	conns_wait 's 200 echo: again'
	run -0 comms "$SERVE_PID"
	[[ $output != *"-host "* ]] || { echo "processes: $output"; false; }
	conns_end
}

@test "systemd Accept=no: the listening socket on fd 3, the tools' hosts behind it" {
	start_serve activate
	check_serving
	check_streams
	# the activated process is gb-serve itself, serving from fd 3
	run -0 readlink "/proc/$SERVE_PID/exe"
	assert_output "$(readlink -f "$GB_BIN/gb-serve")"
	# with its three hosts, and no other process
	run -0 wait_value 'gb-call-host gb-convert-host gb-sse-host ' \
	    comms "$SERVE_PID"
}

@test "systemd Accept=yes: the connection on fd 3, the tools as processes, no host" {
	start_serve accept
	check_serving
	check_streams
	check_processes
}

@test "inetd style: the connection on stdin and stdout, the tools as processes, no host" {
	start_serve inetd
	check_serving
	check_streams
	check_processes
}

@test "gb-serve -l binds and listens itself (IPv4 and IPv6)" {
	start_serve listen
	check_serving
	if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
		port=$(free_port)
		gb-serve -l "[::1]:$port" 2>/dev/null 3>&- &
		pid6=$!
		for i in $(seq 50); do curl -sS -g "http://[::1]:$port/health" 2>/dev/null && break; sleep 0.05; done
		run -0 curl -sS -g "http://[::1]:$port/health"
		stop_pid "$pid6"
		assert_output '{"status":"healthy"}'
	fi
}

@test "sd_notify: READY=1 and a STATUS line reach NOTIFY_SOCKET" {
	sock=$BATS_TEST_TMPDIR/notify.sock
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
with open(sys.argv[2], "w") as f:
    for _ in range(2):
        f.write(s.recv(4096).decode() + "\n")
        f.flush()
' "$sock" notify.out 3>&- &
	listener=$!
	while [ ! -S "$sock" ]; do sleep 0.05; done
	NOTIFY_SOCKET=$sock start_serve activate
	wait "$listener"
	run -0 cat notify.out
	assert_line READY=1
	assert_line 'STATUS=serving; 0 connections'
}

@test "SIGTERM: no new connections, the request in flight still finishes" {
	start_serve activate
	upstream_script '{"path":"generateContent","wait_headers":true,"body":{"candidates":[{"content":{"parts":[{"text":"late"}]}}]}}'
	curl -sS -o inflight.out -w '%{http_code}' -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d "$GEN" \
	    > inflight.code 3>&- &
	client=$!
	upstream_requests 1 > /dev/null
	kill -TERM "$SERVE_PID"
	# the listening socket is closed: nothing new is served
	for i in $(seq 50); do
		curl -sS -m 1 "$(url /health)" >/dev/null 2>&1 || break
		sleep 0.05
	done
	run ! curl -sS -m 1 "$(url /health)"
	upstream_go
	wait "$client"
	run -0 cat inflight.code
	assert_output 200
	run -0 cat inflight.out
	assert_output '{"candidates":[{"content":{"parts":[{"text":"late"}]}}]}'
	wait "$SERVE_PID"
}

@test "SIGTERM closes idle keep-alive connections and exits 0" {
	start_serve listen
	raw -t 10 > idle.out <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' 3>&- &
	client=$!
	wait_file_has idle.out healthy
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	wait "$client"
	run -0 cat idle.out
	assert_output --partial '{"status":"healthy"}[closed]'
}

@test "SIGHUP re-reads the configuration for new connections" {
	unset ALLOWED_TOKENS AUTH_TOKEN
	printf 'ALLOWED_TOKENS=old-token\n' > .env
	start_serve listen
	run -0 curl -sS -o /dev/null -w '%{http_code}' -H 'x-goog-api-key: new-token' \
	    "$(url /v1beta/models/gemini-2.0-flash:countTokens)" -d "$GEN"
	assert_output 401
	printf 'ALLOWED_TOKENS=new-token\n' > .env
	kill -HUP "$SERVE_PID"
	wait_file_has "$SERVE_LOG" 'configuration reloaded'
	run -0 curl -sS -o /dev/null -w '%{http_code}' -H 'x-goog-api-key: new-token' \
	    "$(url /v1beta/models/gemini-2.0-flash:countTokens)" -d "$GEN"
	assert_output 200
}

@test "over the connection cap (-c) a client gets 503 at once" {
	start_serve listen -c 1
	# a keep-alive connection, served and then idle, holds the one slot
	raw -t 5 > first.out <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' 3>&- &
	first=$!
	wait_file_has first.out healthy
	run -0 curl -sS -w '%{http_code}' "$(url /health)"
	assert_output '{"error":{"message":"server busy, try again","type":"server_error","param":null,"code":null}}503'
	# stopping the server (teardown) closes the first connection too
}

@test "finished connections leave no zombies behind" {
	start_serve listen
	for i in 1 2 3; do curl -sS -o /dev/null "$(url /health)"; done
	# what stays is the tools' hosts (comm *-host), none a zombie
	others() {
		local c
		for c in $(children_of "$SERVE_PID"); do
			case $(cat "/proc/$c/comm") in
			*-host) [ "$(awk '/^State/ {print $2}' "/proc/$c/status")" = Z ] && echo "$c" ;;
			*) echo "$c" ;;
			esac
		done
		return 0
	}
	for i in $(seq 40); do
		[ -z "$(others)" ] && break
		sleep 0.05
	done
	run -0 others
	assert_output ''
}

@test "a bad configuration is exit 100 naming the variable" {
	unset API_KEYS
	run -100 --separate-stderr gb-serve -l 127.0.0.1:1
	[ "$stderr" = "gb-serve: API_KEYS is not set (in the environment or .env)" ]
	export API_KEYS=k MAX_BODY=lots
	run -100 --separate-stderr gb-serve -l 127.0.0.1:1
	[[ $stderr == "gb-serve: MAX_BODY"* ]]
	# -n checks without serving
	run -100 --separate-stderr gb-serve -n
	[[ $stderr == "gb-serve: MAX_BODY"* ]]
	unset MAX_BODY
	run -0 --separate-stderr gb-serve -n
	[ "$stderr" = "" ]
}

@test "make run checks the configuration before it listens" {
	printf 'API_KEYS=k\n' > bad.env
	unset API_KEYS ALLOWED_TOKENS AUTH_TOKEN
	run -2 --separate-stderr env ENV_FILE="$PWD/bad.env" \
	    make -s --no-print-directory -C "$BATS_TEST_DIRNAME/.." run
	[[ $stderr == *"gb-serve: ALLOWED_TOKENS"* ]]
}

@test "usage errors: operands, bad numbers, no socket, a bad address" {
	run -100 --separate-stderr gb-serve extra
	[ "$stderr" = "usage: gb-serve [-n] [-c connections] [-i idle] [-l address] [-t timeout]" ]
	run -100 --separate-stderr gb-serve -c 0
	[ "$stderr" = "gb-serve: -c 0: too small" ]
	run -100 --separate-stderr gb-serve < /dev/null
	[ "$stderr" = "gb-serve: no socket to serve: give -l address, or start under systemd socket activation or inetd" ]
	run -100 --separate-stderr gb-serve -l nonsense
	[ "$stderr" = "gb-serve: nonsense: expected host:port" ]
	# not taken modulo 65536 (80000 would listen on 14464)
	run -100 --separate-stderr gb-serve -l 127.0.0.1:80000
	[ "$stderr" = "gb-serve: 127.0.0.1:80000: port 80000 is too large (allowed 0 to 65535)" ]
	run -100 --separate-stderr gb-serve -l 127.0.0.1:http
	[ "$stderr" = "gb-serve: 127.0.0.1:http: port http is invalid (allowed 0 to 65535)" ]
}

@test "make run without a .env or the settings says what to put there and fails" {
	unset API_KEYS ALLOWED_TOKENS
	run -2 --separate-stderr env ENV_FILE="$BATS_TEST_TMPDIR/none.env" \
	    make -s --no-print-directory -C "$BATS_TEST_DIRNAME/.." run
	[[ $stderr == *'API_KEYS=["AIzaSy...your-first-key","AIzaSy...your-second-key"]'* ]]
	[[ $stderr == *'ALLOWED_TOKENS=["choose-a-client-token"]'* ]]
}

# need_run_build: make run serves from the repository's own build
need_run_build() {
	local b=build
	[ "${SANITIZE:-}" = 1 ] && b=build-san
	[ -x "$BATS_TEST_DIRNAME/../$b/bin/gb-convert" ] ||
	    skip "gb-convert is not built in $b yet"
}

# make_run_chat TOKEN [VAR=VALUE...]: make run, on a free port, with the
# variables given; one chat with TOKEN is answered; then stopped
make_run_chat() {
	local tok=$1 makepid
	shift
	SERVE_PORT=$(free_port)
	env "$@" GB_LISTEN=127.0.0.1:$SERVE_PORT \
	    make -s --no-print-directory -C "$BATS_TEST_DIRNAME/.." run \
	    2>run.log 3>&- &
	makepid=$!
	wait_port "$SERVE_PORT"
	SERVE_PID=$(children_of "$makepid")
	run -0 curl -sS -H "Authorization: Bearer $tok" "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: hi'
	stop_other "$SERVE_PID"
	SERVE_PID=
	wait "$makepid" || true
}

@test "make run with a .env serves a chat completion" {
	need_run_build
	unset API_KEYS ALLOWED_TOKENS AUTH_TOKEN STATE_DIRECTORY
	cat > run.env <<-EOF2
	API_KEYS=["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"]
	ALLOWED_TOKENS=["tok-run"]
	BASE_URL=$BASE_URL
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	EOF2
	unset BASE_URL
	make_run_chat tok-run ENV_FILE="$PWD/run.env"
}

@test "make run with the settings in the environment alone serves a chat completion" {
	need_run_build
	mkdir empty
	cd empty
	[ ! -e .env ]
	make_run_chat tok-env \
	    API_KEYS='["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"]' \
	    ALLOWED_TOKENS=tok-env STATE_DIRECTORY="$BATS_TEST_TMPDIR/state"
}

@test "an empty variable does not hide .env's value (systemd-socket-activate -E NAME)" {
	printf 'API_KEYS=["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"]\nALLOWED_TOKENS=tok-file\n' > .env
	unset API_KEYS ALLOWED_TOKENS AUTH_TOKEN
	# gb-serve(8)'s first example: -E names variables this shell lacks
	SERVE_PORT=$(free_port)
	systemd-socket-activate -l "127.0.0.1:$SERVE_PORT" -E API_KEYS \
	    -E ALLOWED_TOKENS -E STATE_DIRECTORY -E BASE_URL \
	    "$GB_BIN/gb-serve" 2>>"$SERVE_LOG" 3>&- &
	SERVE_PID=$!
	wait_port "$SERVE_PORT"
	run -0 curl -sS -H 'Authorization: Bearer tok-file' "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: hi'
	API_KEYS= run -0 gb-keys list --json
}

@test "LOG_LEVEL=debug logs bodies with every key and token masked" {
	export LOG_LEVEL=debug
	start_serve listen
	run -0 curl -sS -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI tok-admin tok-user"}]}]}'
	run -0 grep -F 'gb-serve: debug request: {"contents":[{"role":"user","parts":[{"text":"AIzaSy…fGhI …in …er"}]}]}' "$SERVE_LOG"
	run -0 grep -F 'gb-serve: debug response: {"candidates"' "$SERVE_LOG"
	run -1 grep -e AIzaSyAAAA -e tok-user -e tok-admin "$SERVE_LOG"
}

@test "tools come from gb-serve's own directory, never PATH or GB_LIBEXECDIR" {
	mkdir alone
	cp "$GB_BIN/gb-serve" alone/
	# the tools are on PATH (test_helper puts them there) and in
	# GB_LIBEXECDIR, not beside this gb-serve: neither is used
	GB_LIBEXECDIR=$GB_BIN SERVE_BIN=$PWD/alone/gb-serve start_serve listen
	run -0 curl -sS -w '%{http_code}' -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d "$GEN"
	assert_output '{"error":{"code":500,"message":"cannot start gb-call: No such file or directory","status":"INTERNAL"}}500'
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer tok-user' \
	    "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	assert_output '{"error":{"message":"cannot start gb-convert: No such file or directory","type":"server_error","param":null,"code":null}}500'
	run -0 grep -F "gb-serve: cannot start $PWD/alone/gb-call: No such file or directory" "$SERVE_LOG"
	run -0 grep -F "error=\"cannot start gb-call: No such file or directory\"" "$SERVE_LOG"
	# gb-call beside it: the next call starts its host from there
	cp "$GB_BIN/gb-call" alone/
	run -0 curl -sS -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d "$GEN"
	run -0 jq -r '.candidates[0].content.parts[0].text' <<<"$output"
	assert_output 'echo: yo'
	run -0 host_of "$SERVE_PID" gb-call
	run -0 readlink "/proc/$output/exe"
	assert_output "$PWD/alone/gb-call"
}

@test "one connection alone (inetd): a tool missing beside gb-serve is a clear error" {
	mkdir alone
	cp "$GB_BIN/gb-serve" alone/
	SERVE_BIN=$PWD/alone/gb-serve start_serve inetd
	run -0 curl -sS -w '%{http_code}' -H 'x-goog-api-key: tok-user' \
	    "$(url /v1beta/models/gemini-2.0-flash:generateContent)" -d "$GEN"
	assert_output '{"error":{"code":500,"message":"cannot start gb-call: No such file or directory","status":"INTERNAL"}}500'
	run -0 wait_file_has "$SERVE_LOG" "gb-serve: cannot run $PWD/alone/gb-call: No such file or directory"
}

@test "valgrind: gb-serve leaks nothing over a connection's requests" {
	[ "${SANITIZE:-}" != 1 ] || skip "the sanitizer build checks memory itself"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	SERVE_PORT=$(free_port)
	# inetd style: one valgrind-run gb-serve per connection
	systemd-socket-activate -a --inetd -l "127.0.0.1:$SERVE_PORT" \
	    -E API_KEYS -E ALLOWED_TOKENS -E AUTH_TOKEN -E BASE_URL \
	    -E STATE_DIRECTORY -E MAX_BODY -E LOG_LEVEL \
	    "$(command -v valgrind)" -q --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect \
	    --log-file="$PWD/vg.%p" "$GB_BIN/gb-serve" 2>>"$SERVE_LOG" 3>&- &
	SERVE_PID=$!
	wait_port "$SERVE_PORT"
	codes=
	for args in "$(url /health)" "$(url /v1/nothing)" "$(url /v1/models)" \
	    "-H x-goog-api-key:tok-user -d $GEN $(url /v1beta/models/gemini-2.0-flash:generateContent)" \
	    "-d {} $(url /v1beta/models/gemini-2.0-flash:countTokens?key=bad)"; do
		# shellcheck disable=SC2086
		codes="$codes$(curl -sS -o /dev/null -w '%{http_code}' $args) "
	done
	[ "$codes" = '200 404 401 200 401 ' ]
	run -0 raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
	stop_serve
	# every per-connection process has finished and reported nothing
	for i in $(seq 100); do
		[ -z "$(children_of "$SERVE_PID" 2>/dev/null)" ] && break
		sleep 0.05
	done
	ls vg.* > /dev/null
	# valgrind's own notes ("--PID-- WARNING: unhandled syscall", for
	# sd-event's pidfd_open) are not findings; its reports ("==PID==")
	# are (grep's 1: no line but those notes)
	run -1 grep -hv '^--[0-9]*-- ' vg.*
	assert_output ''
}
