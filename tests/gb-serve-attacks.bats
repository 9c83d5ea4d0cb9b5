#!/usr/bin/env bats
# Hostile clients against gb-serve (the real tools, systemd Accept=no,
# the fake upstream): odd or misplaced credentials, path tricks against
# the admin route, request smuggling, oversized requests, slowloris, a
# flood of idle connections, and bytes that are not JSON text. Each must
# get the right 4xx in its route's dialect, never admin data, and leave
# the server serving everyone else.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

ATTACK=$BATS_TEST_DIRNAME/lib/attack.py

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	export MAX_BODY=65536 MAX_RETRIES=1
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	serve_config
	export MAX_BODY=65536 MAX_RETRIES=1
	MAIN_PID=$SERVE_PID MAIN_PORT=$SERVE_PORT
	LOG_AT=$(stat -c %s "$SERVE_LOG")
}

# No attack made a tool's host die, nor a sanitizer speak (a host's
# stderr is the server's). A test that started a server of its own
# stops it, even when it failed.
teardown() {
	local said rc=0
	if said=$(tail -c +"$((LOG_AT + 1))" "$SERVE_LOG" |
	    grep -E 'host (ended|died)|Sanitizer|runtime error'); then
		echo "in the server's log: $said" >&2
		rc=1
	fi
	if [ "$SERVE_PID" != "$MAIN_PID" ]; then
		stop_serve
		SERVE_PID=$MAIN_PID SERVE_PORT=$MAIN_PORT
	fi
	return "$rc"
}

# still_serving: a well-behaved client is answered, and every request's
# processes are gone.
still_serving() {
	run -0 curl -sS -w ' %{http_code}' "$(url /health)"
	assert_output '{"status":"healthy"} 200'
	run -0 wait_no_pipeline
}

# wait_no_pipeline: no request's process left under the server, and no
# job running in the tools' hosts (its connections may linger for
# keep-alive; no job may).
wait_no_pipeline() {
	local i left
	for i in $(seq 40); do
		# no tool as a process of its own, nor a job in the
		# tools' hosts
		left=$(request_pids "$SERVE_PID")
		[ -z "$left" ] &&
		    [ "$(pipes_of $(host_pids "$SERVE_PID"))" -eq 0 ] &&
		    return 0
		sleep 0.05
	done
	echo "pipeline processes left: $left" >&2
	return 1
}

# get PATH [curl args]: body, a space, the status
get() {
	local p=$1
	shift
	curl -sS --path-as-is -w ' %{http_code}' "$@" "$(url "$p")"
}

OAI_MISSING='{"error":{"message":"Missing Authorization header","type":"authentication_error","param":null,"code":null}}'
OAI_FORMAT='{"error":{"message":"Invalid Authorization header format","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
OAI_INVALID='{"error":{"message":"Invalid token","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
OAI_MULTI='{"error":{"message":"Multiple credential headers","type":"authentication_error","param":null,"code":"invalid_api_key"}}'

@test "odd Authorization headers on an OpenAI route are 401" {
	run -0 get /v1/models -H 'Authorization: Bearer'
	assert_output "$OAI_FORMAT 401"
	run -0 get /v1/models -H 'Authorization: Bearer    '
	assert_output "$OAI_FORMAT 401"
	run -0 get /v1/models -H 'Authorization: Bearertok-user'
	assert_output "$OAI_FORMAT 401"
	run -0 get /v1/models -H 'Authorization: tok-user'
	assert_output "$OAI_FORMAT 401"
	run -0 get /v1/models -H 'Authorization: Basic dG9rLXVzZXI6'
	assert_output "$OAI_FORMAT 401"
	run -0 get /v1/models -H 'Authorization: Bearer tok-user extra'
	assert_output "$OAI_INVALID 401"
	run -0 get /v1/models -H 'Authorization: Bearer TOK-USER'
	assert_output "$OAI_INVALID 401"
	run -0 get /v1/models -H 'Authorization: Bearer tok-use'
	assert_output "$OAI_INVALID 401"
	run -0 get /v1/models -H 'Authorization: Bearer tok-userx'
	assert_output "$OAI_INVALID 401"
	run -0 get /v1/models -H 'Authorization:'
	assert_output "$OAI_MISSING 401"
	still_serving
}

@test "the scheme's case and spaces around the token do not matter" {
	# surrounding whitespace is not part of a field value (RFC 9110 5.5)
	for h in 'bEaReR tok-user' 'Bearer    tok-user' 'Bearer tok-user   ' \
	    $'Bearer\ttok-user'; do
		run -0 curl -sS -o /dev/null -w "%{http_code}" -H "Authorization: $h" "$(url /v1/models)"
		[ "$output" = 200 ] || { echo "'$h': $output"; false; }
	done
}

@test "two Authorization headers are refused, whichever comes first" {
	run -0 get /v1/models -H 'Authorization: Bearer tok-user' -H 'Authorization: Bearer nope'
	assert_output "$OAI_MULTI 401"
	run -0 get /v1/models -H 'Authorization: Bearer nope' -H 'Authorization: Bearer tok-user'
	assert_output "$OAI_MULTI 401"
	run -0 get /v1/keys/list -H 'Authorization: Bearer tok-admin' -H 'Authorization: Bearer tok-user'
	assert_output "$OAI_MULTI 401"
	run -0 get /v1beta/models -H 'x-goog-api-key: tok-user' -H 'x-goog-api-key: nope'
	assert_output '{"error":{"code":401,"message":"Multiple credential headers","status":"UNAUTHENTICATED"}} 401'
	run -0 upstream_count
	assert_output 0
	still_serving
}

@test "tokens in the query, a cookie or x-goog-api-key do not open OpenAI routes" {
	run -0 get '/v1/models?key=tok-user'
	assert_output "$OAI_MISSING 401"
	run -0 get '/v1/models?access_token=tok-user&token=tok-user'
	assert_output "$OAI_MISSING 401"
	run -0 get /v1/models -b 'key=tok-user; token=tok-user; Authorization=Bearer tok-user'
	assert_output "$OAI_MISSING 401"
	run -0 get /v1/models -H 'x-goog-api-key: tok-user'
	assert_output "$OAI_MISSING 401"
	run -0 get /v1/models -H 'Proxy-Authorization: Bearer tok-user'
	assert_output "$OAI_MISSING 401"
	run -0 get '/v1/keys/list?key=tok-admin' -H 'x-goog-api-key: tok-admin' -b 'key=tok-admin'
	assert_output '{"error":{"message":"Missing auth_token header","type":"authentication_error","param":null,"code":null}} 401'
	run -0 upstream_count
	assert_output 0
}

@test "path tricks never return key data without AUTH_TOKEN" {
	local p a
	for p in //v1/keys/list /v1//keys/list /v1/%6beys/list /v1/%6Beys/list \
	    /v1/./keys/list /v1/x/../keys/list /v1/%2e/keys/list \
	    /v1/%2E%2E/v1/keys/list /v1%2fkeys%2flist /v1/keys%2flist \
	    /v1/keys/list/ /v1/keys/list// /V1/KEYS/LIST /v1/keys/list%00 \
	    /v1/keys/list%20 '/v1/keys/list;x' /hf/v1/keys/list/ \
	    /hf//v1/keys/list /v1/models/../keys/list /./v1/keys/list \
	    /v1/keys/./list '/v1/keys/list?x=/' /v1/keys/list%3f; do
		for a in '' 'Authorization: Bearer tok-user' \
		    'Authorization: tok-user' 'x-goog-api-key: tok-admin'; do
			run -0 curl -sS --path-as-is -w ' %{http_code}' \
			    ${a:+-H "$a"} "$(url "$p")"
			[[ $output != *AIzaSy* ]] || { echo "$p [$a]: key data"; false; }
			[[ $output == *' 401' || $output == *' 404' ]] ||
			    { echo "$p [$a]: $output"; false; }
		done
	done
	run -0 upstream_count
	assert_output 0
	still_serving
}

@test "the admin route answers its own token and nothing else" {
	run -0 curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-admin' "$(url /v1/keys/list)"
	assert_output 200
	for m in POST PUT DELETE; do
		run -0 curl -sS -o /dev/null -w '%{http_code}' -X $m -H 'Authorization: Bearer tok-user' "$(url /v1/keys/list)"
		[[ $output == 401 || $output == 405 ]] || { echo "$m: $output"; false; }
	done
	run -0 curl -sS -I -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-user' "$(url /v1/keys/list)"
	[[ $output == 401 || $output == 405 ]]
}

# rawreq BYTES: send raw bytes (printf escapes), print the answer
rawreq() {
	printf "$1" | raw -t 3
}

# assert_refused STATUS: one answer with STATUS, then the close
assert_refused() {
	assert_line --index 0 "HTTP/1.1 $1 $(reason "$1")"
	[ "$(grep -c '^HTTP/1' <<<"$output")" = 1 ]
	assert_line $'Connection: close\r'
	assert_line --partial '"type":"invalid_request_error"'
	assert_line --index -1 --partial '[closed]'
	[[ $output != *AIzaSy* ]]
}

reason() {
	case $1 in
	400) echo $'Bad Request\r' ;;
	413) echo $'Content Too Large\r' ;;
	431) echo $'Request Header Fields Too Large\r' ;;
	501) echo $'Not Implemented\r' ;;
	esac
}

GET_KEYS='GET /v1/keys/list HTTP/1.1\r\nHost: x\r\n\r\n'

@test "smuggling: Content-Length with Transfer-Encoding is 400, either order" {
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$GET_KEYS"
	assert_refused 400
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\n$GET_KEYS"
	assert_refused 400
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"
	assert_refused 400
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
	assert_refused 400
	run -0 rawreq "POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	assert_line --index 0 $'HTTP/1.0 400 Bad Request\r'
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
	assert_refused 400
	still_serving
}

@test "smuggling: two different or odd Content-Lengths are 400" {
	local cl
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 45\r\n\r\n{}$GET_KEYS"
	assert_refused 400
	for cl in '2, 2' '+2' '-1' '0x2' '2 2' '' '99999999999999999999'; do
		run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: $cl\r\n\r\n{}"
		assert_refused 400
	done
	still_serving
}

@test "smuggling: bad chunk sizes are 400, an overflowing one 413" {
	local sz
	for sz in '-1' '0x2' '2z' '' ' 2' '+2' '2\r\n{}X'; do
		run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nTransfer-Encoding: chunked\r\n\r\n$sz\r\n{}\r\n0\r\n\r\n"
		assert_refused 400
	done
	for sz in ffffffffffffffffffffffff 10000000000000002 10001; do
		run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nTransfer-Encoding: chunked\r\n\r\n$sz\r\n{}\r\n0\r\n\r\n$GET_KEYS"
		assert_refused 413
	done
	run -0 upstream_count
	assert_output 0
	still_serving
}

@test "smuggling: obs-fold header lines are 400" {
	run -0 rawreq "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n tok-user\r\n\r\n"
	assert_refused 400
	run -0 rawreq "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tContent-Length: 40\r\n\r\n"
	assert_refused 400
}

@test "a refused request's unread body is never read as a next request" {
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 63\r\n\r\nGET /v1/keys/list HTTP/1.1\r\nHost: x\r\nAuthorization: tok-admin\r\n\r\n"
	assert_line --index 0 $'HTTP/1.1 401 Unauthorized\r'
	[ "$(grep -c '^HTTP/1' <<<"$output")" = 1 ]
	assert_line --index -1 --partial '[closed]'
	[[ $output != *AIzaSy* ]]
}

@test "oversized request line, head, field count and body are 431 and 413" {
	run -0 python3 -c 'import sys; sys.stdout.write("GET /" + "a" * 17000 + " HTTP/1.1\r\nHost: x\r\n\r\n")'
	run -0 raw -t 3 <<<"$output"
	assert_refused 431
	run -0 python3 -c 'import sys; sys.stdout.write("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 17000 + "\r\n\r\n")'
	run -0 raw -t 3 <<<"$output"
	assert_refused 431
	run -0 python3 -c 'import sys; sys.stdout.write("GET /health HTTP/1.1\r\nHost: x\r\n" + "".join("X-%d: y\r\n" % i for i in range(120)) + "\r\n")'
	run -0 raw -t 3 <<<"$output"
	assert_refused 431
	run -0 rawreq "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nContent-Length: 65537\r\n\r\n"
	assert_refused 413
	run -0 python3 -c 'import sys; sys.stdout.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nTransfer-Encoding: chunked\r\n\r\n" + "8000\r\n" + "x" * 32768 + "\r\n" + "8001\r\n" + "x" * 32769 + "\r\n0\r\n\r\n")'
	run -0 raw -t 3 <<<"$output"
	assert_refused 413
	run -0 upstream_count
	assert_output 0
	still_serving
}

@test "slowloris: a head trickling in a byte a second is cut off with 408" {
	start_serve activate -t 2
	printf 'GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n' |
	    python3 "$ATTACK" slow "$SERVE_PORT" 1 > slow.out &
	local slow=$!
	# meanwhile everyone else is served
	run -0 curl -sS -w ' %{http_code}' "$(url /health)"
	assert_output '{"status":"healthy"} 200'
	wait "$slow"
	run -0 cat slow.out
	assert_line --index 0 $'HTTP/1.1 408 Request Timeout\r'
	assert_line --index -1 --regexp '^\[closed after [0-9] of 70 bytes\]$'
}

@test "a flood of idle connections: the cap holds, the idle timeout frees them" {
	start_serve activate -c 8 -i 1 -t 1
	run -0 python3 "$ATTACK" flood "$SERVE_PORT" 8
	assert_output 'busy=503 closed=8/8 after=200'
	run -0 wait_no_pipeline
}

# chat BYTES: a chat request whose user text is BYTES (printf escapes)
chat() {
	printf '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"'"$1"'"}]}' |
	    curl -sS -w ' %{http_code}' -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' --data-binary @- "$(url /v1/chat/completions)"
}

@test "non-UTF-8 and NUL bytes in JSON strings are a clean 400" {
	local s
	for s in 'a\\u0000b' 'a\000b' 'a\377\376b' '\300\200' '\355\240\200' \
	    'a\\ud800b' '\\udc00' 'a\001b' '\342\202'; do
		run -0 chat "$s"
		[[ $output == *' 400' ]] || { echo "$s: $output"; false; }
		run -0 jq -r .error.type <<<"${output% 400}"
		assert_output invalid_request_error
	done
	run -0 bash -c "printf '{\"model\":\"text-embedding-004\",\"input\":\"a\\\\u0000b\"}' |
	    curl -sS -w ' %{http_code}' -H 'Authorization: Bearer tok-user' --data-binary @- '$(url /v1/embeddings)'"
	assert_output --partial '"type":"invalid_request_error"'
	assert_output --partial ' 400'
	run -0 upstream_count
	assert_output 0
	run -0 grep -c 'gb-serve: .* POST /v1/chat/completions 400 ' "$SERVE_LOG"
	[ "$output" -ge 9 ]
	still_serving
}

@test "over the cap, a client whose request is already waiting still reads its 503" {
	start_serve listen -c 1
	# a keep-alive connection, served and then idle, holds the one slot
	raw -t 5 > first.out <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' 3>&- &
	wait_file_has first.out healthy
	run -0 python3 "$ATTACK" late "$SERVE_PORT" "$SERVE_PID"
	assert_output 503
}

@test "a model name never steers the upstream URL" {
	local p
	for p in '/v1beta/models/..%2f..%2fv1beta%2fcachedContents%3fx=:generateContent' \
	    '/v1beta/models/a%2f..%2f..%2ffiles:generateContent' \
	    '/v1beta/models/m%3fkey=zz%26:generateContent' \
	    '/v1beta/models/m%23frag:streamGenerateContent' \
	    '/v1beta/models/m%0d%0aX-Evil:%201:generateContent' \
	    '/gemini/v1beta/models/%2e%2e:countTokens' \
	    '/v1beta/models/..%2f..%2fcachedContents' '/v1beta/models/x%3fpageSize=1'; do
		run -0 curl -sS --path-as-is -o /dev/null -w '%{http_code}' \
		    -H 'x-goog-api-key: tok-user' "$(url "$p")" -d '{}'
		[ "$output" = 404 ] || { echo "$p: $output"; false; }
	done
	run -0 curl -sS --path-as-is -o /dev/null -w '%{http_code}' \
	    -H 'Authorization: Bearer tok-user' "$(url '/v1/models/..%2f..%2fcachedContents')"
	assert_output 404
	# only the models list was fetched (to look the id up), nothing else
	run -0 upstream_requests
	run -0 jq -r '.[] | "\(.method) \(.path)?\(.query)"' <<<"$output"
	refute_output --partial cachedContents
	refute_output --partial files
	refute_output --partial ':'
}

@test "absolute-form and asterisk-form targets are 400" {
	run -0 rawreq "GET http://evil/v1/keys/list HTTP/1.1\r\nHost: evil\r\nAuthorization: tok-admin\r\n\r\n"
	assert_refused 400
	run -0 rawreq "GET * HTTP/1.1\r\nHost: x\r\n\r\n"
	assert_refused 400
}

@test "a request body that stalls is cut off after the idle timeout" {
	start_serve activate -i 1 -t 1
	run -0 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nContent-Length: 100\r\n\r\n{\"model\":")
s.settimeout(20)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(got.split(b"\r\n")[0].decode())' "$SERVE_PORT"
	assert_output 'HTTP/1.1 408 Request Timeout'
}
