#!/usr/bin/env bats
# gb-serve's HTTP/1.1 layer: framing, limits, timeouts, keep-alive,
# pipelining, HEAD, CORS, routing and auth. The real tools run behind it
# in their hosts, against the fake Gemini upstream (fake-upstream.py):
# where a request's body matters, the test checks what the upstream
# received (the converted request carries the client's text) and what
# came back (the fake answers "echo: <text>").
#
# The server's idle time (-i) and header time (-t) differ, so a test can
# tell which of them closed a connection.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

IDLE=3		# gb-serve -i: a quiet connection's time
HEADER=1	# gb-serve -t: a head's time

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	export MAX_BODY=100000 MAX_RETRIES=2
	start_serve listen -i "$IDLE" -t "$HEADER"
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
	gb-keys reset >/dev/null
	LOG_AT=$(stat -c %s "$SERVE_LOG")
}

# No request made a tool's host die, nor a sanitizer speak (a host's
# stderr is the server's); a test that kills a host on purpose says so.
teardown() {
	local said
	[ -z "${HOST_KILLED:-}" ] || return 0
	said=$(tail -c +"$((LOG_AT + 1))" "$SERVE_LOG" |
	    grep -E 'host (ended|died)|Sanitizer|runtime error') || return 0
	echo "in the server's log: $said" >&2
	return 1
}

CHAT_HDRS=$'Host: x\r\nAuthorization: Bearer tok-user\r\nContent-Type: application/json\r\n'

# chat_body TEXT [FIELDS]: an OpenAI chat request whose user text is
# TEXT; FIELDS (e.g. '"stream":true,') go before the messages
chat_body() {
	printf '{"model":"gemini-2.0-flash",%s"messages":[{"role":"user","content":"%s"}]}' \
	    "${2:-}" "$1"
}

# chat_req BODY [HEADER_LINES]: a raw chat request carrying BODY
chat_req() {
	printf 'POST /v1/chat/completions HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n%s' \
	    "$CHAT_HDRS" "${2:-}" "${#1}" "$1"
}

# answers METHOD...: the answers in the file "out" (lib/answers.py),
# also kept in the file "parsed"
answers() {
	local rc=0
	python3 "$SERVE_LIB/answers.py" "$@" < out > parsed || rc=$?
	cat parsed
	return "$rc"
}

# body_json N: the body of answer N in "parsed" as JSON: a string, or
# the array of its chunks; body_of N: the body, its chunks joined
body_json() {
	sed -n "${1}p" parsed | cut -d' ' -f3-
}
body_of() {
	body_json "$1" | jq -r 'if type == "array" then join("") else . end'
}

# sse_text: the text deltas of an OpenAI event stream on stdin
sse_text() {
	sed -n 's/^data: //p' | sed '/^\[DONE\]$/d' |
	    jq -rj '.choices[0].delta.content // empty'
}

# took_between LOW HIGH: the seconds rawhttp.py -T wrote to "took"
took_between() {
	local t
	t=$(cat took)
	awk -v t="$t" -v lo="$1" -v hi="$2" 'BEGIN { exit !(t >= lo && t < hi) }' ||
	    { echo "took $t s, not in [$1, $2)"; return 1; }
}

@test "GET /health answers healthy with exact framing and CORS" {
	raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' > out
	# the date changes: check its form, then compare the rest exactly
	run -0 grep -cE $'^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\r$' out
	run -0 sed '/^Date: /d' out
	assert_output $'HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: *\r\nContent-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{"status":"healthy"}[closed]'
}

@test "GET / is the health check too; an Origin is echoed with credentials" {
	run -0 curl -sS -D - -H 'Origin: https://app.example' "$(url /)"
	assert_line --partial 'HTTP/1.1 200 OK'
	assert_line $'Access-Control-Allow-Origin: https://app.example\r'
	assert_line $'Access-Control-Allow-Credentials: true\r'
	assert_line '{"status":"healthy"}'
}

@test "a malformed request line is 400 and the connection closes" {
	run -0 raw <<<$'GET /health\r\nHost: x\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	assert_output --partial '"message":"malformed request"'
	assert_output --partial '[closed]'
}

@test "an unsupported HTTP version is 505" {
	run -0 raw <<<$'GET /health HTTP/2.0\r\nHost: x\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 505 HTTP Version Not Supported\r'
}

@test "headers over 16 KiB are 431" {
	big=$(head -c 17000 /dev/zero | tr '\0' a)
	run -0 raw <<<"GET /health HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"X-Big: $big"$'\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 431 Request Header Fields Too Large\r'
	assert_output --partial '[closed]'
}

@test "a missing Host on HTTP/1.1 is 400; obsolete line folding is 400" {
	run -0 raw <<<$'GET /health HTTP/1.1\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	run -0 raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
}

@test "bare LF line ends are accepted" {
	run -0 raw <<<$'GET /health HTTP/1.1\nHost: x\nConnection: close\n\n'
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_output --partial '{"status":"healthy"}[closed]'
}

@test "Content-Length over MAX_BODY is 413 before any body is read" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Content-Length: 100001"$'\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 413 Content Too Large\r'
	assert_output --partial '"message":"request body too large"'
	assert_output --partial '[closed]'
	run -0 upstream_count
	assert_output 0
}

@test "Content-Length together with Transfer-Encoding is 400" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Content-Length: 5"$'\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	assert_output --partial '[closed]'
}

@test "two different Content-Lengths are 400; the same one twice is fine" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Content-Length: 2"$'\r\nContent-Length: 3\r\n\r\n{}'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	body=$(chat_body twice)
	raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\n'"Content-Length: ${#body}"$'\r\n'"Content-Length: ${#body}"$'\r\n\r\n'"$body" > out
	run -0 answers POST
	assert_line --index 0 --regexp '^200 length '
	assert_line --index 1 '[closed]'
	run -0 jq -r '.choices[0].message.content' <<<"$(body_of 1)"
	assert_output 'echo: twice'
}

@test "a transfer coding other than chunked is 501" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Transfer-Encoding: gzip"$'\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 501 Not Implemented\r'
}

@test "a chunked request body is reassembled" {
	# {"model":"gemini-2.0-flash","messages":[{"role":"user","content":"chunked hello"}]}
	# in three chunks, one with an extension, then a trailer
	raw > out <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mod\r\n'"23;ext=1"$'\r\nel":"gemini-2.0-flash","messages":[\r\n2b\r\n{"role":"user","content":"chunked hello"}]}\r\n0\r\nTrailer: ignored\r\n\r\n'
	run -0 answers POST
	assert_line --index 0 --regexp '^200 length '
	assert_line --index 1 '[closed]'
	run -0 jq -r '.choices[0].message.content' <<<"$(body_of 1)"
	assert_output 'echo: chunked hello'
	run -0 upstream_request 1 '.body | fromjson | .contents[0].parts[0].text'
	assert_output 'chunked hello'
}

@test "a bad chunk size is 400" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Transfer-Encoding: chunked"$'\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Transfer-Encoding: chunked"$'\r\n\r\n3\r\nhello\r\n0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
}

@test "a chunked body over MAX_BODY is 413" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Transfer-Encoding: chunked"$'\r\n\r\n186a1\r\n'
	assert_line --index 0 $'HTTP/1.1 413 Content Too Large\r'
}

@test "Expect: 100-continue gets 100 Continue before the body is sent" {
	# rawhttp.py -e sends the body only once the interim answer came
	chat_req "$(chat_body continued)" $'Connection: close\r\nExpect: 100-continue\r\n' |
	    raw -e > out
	run -0 answers POST
	assert_line --index 0 '100 interim'
	assert_line --index 1 --regexp '^200 length '
	assert_line --index 2 '[closed]'
	run -0 jq -r '.choices[0].message.content' <<<"$(body_of 2)"
	assert_output 'echo: continued'
	run -0 upstream_request 1 '.body | fromjson | .contents[0].parts[0].text'
	assert_output continued
}

@test "curl's Expect: 100-continue upload goes through without a stall" {
	pad=$(head -c 60000 /dev/zero | tr '\0' x)
	chat_body "$pad" > body.json
	run -0 curl -sS -v -H 'Authorization: Bearer tok-user' \
	    -H 'Expect: 100-continue' --expect100-timeout 30 \
	    --data-binary @body.json "$(url /v1/chat/completions)" -o out.json
	assert_output --partial '< HTTP/1.1 100 Continue'
	echo "echo: $pad" > want
	jq -r '.choices[0].message.content' out.json > got
	cmp want got
	echo "$pad" > want
	upstream_request 1 '.body | fromjson | .contents[0].parts[0].text' > got
	cmp want got
}

@test "keep-alive: two requests on one connection, the second closes it" {
	run -0 raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	[ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" = 2 ]
	assert_output --partial '{"status":"healthy"}HTTP/1.1 200 OK'
	assert_output --partial '{"status":"healthy"}[closed]'
}

@test "keep-alive: curl reuses the connection for a second URL" {
	run -0 curl -sS -v "$(url /health)" --next \
	    -H 'Authorization: Bearer tok-user' -d "$(chat_body k1)" \
	    "$(url /v1/chat/completions)"
	assert_output --partial 'Re-using existing connection'
	assert_output --partial '"content":"echo: k1"'
	run -0 upstream_request 1 '.body | fromjson | .contents[0].parts[0].text'
	assert_output k1
}

@test "HTTP/1.0 gets Connection: close by default" {
	run -0 raw <<<$'GET /health HTTP/1.0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.0 200 OK\r'
	assert_line $'Connection: close\r'
	assert_output --partial '[closed]'
}

@test "HEAD gets the GET answer's head and no body; the connection goes on" {
	raw > out <<<$'HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	# answers.py reads no body after the HEAD answer: a body there
	# would be read as the next status line and fail
	run -0 answers HEAD GET
	assert_output $'200 none\n200 length "{\\"status\\":\\"healthy\\"}"\n[closed]'
	# the same head, but for the Date and the last answer's close
	sed -n '1,/^\r$/p' out | sed '/^Date: /d' > head1
	sed '1,/^\r$/d' out | sed -n '1,/^\r$/p' |
	    sed '/^Date: /d; /^Connection: close\r$/d' > head2
	diff head1 head2
	grep -q $'^Content-Length: 20\r$' head1
	# a route through the tools: the same length as the GET answer's
	raw > out <<<$'HEAD /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-user\r\nConnection: close\r\n\r\n'
	run -0 answers HEAD GET
	assert_line --index 0 '200 none'
	assert_line --index 1 --regexp '^200 length "\{'
	assert_line --index 2 '[closed]'
	len=$(body_json 2 | jq -j . | wc -c)
	[ "$len" -gt 100 ]
	run -0 grep -c $'^Content-Length: '"$len"$'\r$' out
	assert_output 2
}

@test "a new client that sends nothing is closed after the header time, unanswered" {
	run -0 raw -t 20 -T took < /dev/null
	assert_output '[closed]'
	# the header time (shorter than the idle time): silent sockets
	# cannot fill the connection cap
	took_between $((HEADER - 1)) $((IDLE - 1))
}

@test "an idle keep-alive connection is closed after the idle time" {
	raw -t 20 -T took > out <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'
	run -0 answers GET
	assert_output $'200 length "{\\"status\\":\\"healthy\\"}"\n[closed]'
	took_between $((IDLE - 1)) 15
}

@test "a head trickling in past the header timeout is 408" {
	run -0 raw -t 20 -T took <<<$'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1'
	assert_line --index 0 $'HTTP/1.1 408 Request Timeout\r'
	assert_output --partial '[closed]'
	# the header time, not the idle time
	took_between 0.5 $((IDLE - 1))
}

@test "pipelined requests are answered in order, one at a time" {
	# the first chat's upstream answer waits for a go; the requests
	# behind it, even those needing no upstream, wait for it
	upstream_script '{"path":":generateContent","wait_headers":true,"body":{"candidates":[{"content":{"role":"model","parts":[{"text":"held: one"}]},"finishReason":"STOP"}]}}'
	{
		chat_req "$(chat_body one)"
		printf 'GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n'
		chat_req "$(chat_body two '"stream":true,')"
		printf 'HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n'
		printf 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	} > requests
	raw -t 20 < requests > out 3>&- &
	local client=$!
	upstream_requests 1 > /dev/null
	run -0 upstream_count
	assert_output 1
	[ ! -s out ] || { echo "answered before the first: $(cat out)"; false; }
	upstream_go
	wait "$client"
	run -0 answers POST GET POST HEAD GET
	assert_line --index 0 --regexp '^200 length '
	assert_line --index 1 '404 length "{\"error\":{\"message\":\"Not Found\",\"type\":\"not_found_error\",\"param\":null,\"code\":null}}"'
	assert_line --index 2 --regexp '^200 chunked '
	assert_line --index 3 '200 none'
	assert_line --index 4 '200 length "{\"status\":\"healthy\"}"'
	assert_line --index 5 '[closed]'
	run -0 jq -r '.choices[0].message.content' <<<"$(body_of 1)"
	assert_output 'held: one'
	run -0 sse_text <<<"$(body_of 3)"
	assert_output 'echo: two'
	run -0 upstream_requests 2
	run -0 jq -r '.[].body | fromjson | .contents[0].parts[0].text' <<<"$output"
	assert_output $'one\ntwo'
}

@test "OPTIONS is a CORS preflight on any path, without auth" {
	run -0 raw <<<$'OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Access-Control-Allow-Origin: https://a.example\r'
	assert_line $'Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS\r'
	assert_line $'Access-Control-Allow-Headers: authorization, content-type\r'
	assert_line $'Access-Control-Max-Age: 600\r'
	assert_line $'Access-Control-Allow-Credentials: true\r'
}

@test "OpenAI routes: missing, malformed and wrong bearer tokens are 401" {
	run -0 curl -sS -w '%{http_code}' "$(url /v1/models)"
	assert_output '{"error":{"message":"Missing Authorization header","type":"authentication_error","param":null,"code":null}}401'
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Basic tok-user' "$(url /v1/models)"
	assert_output '{"error":{"message":"Invalid Authorization header format","type":"authentication_error","param":null,"code":"invalid_api_key"}}401'
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer nope' "$(url /hf/v1/chat/completions)" -d '{}'
	assert_output '{"error":{"message":"Invalid token","type":"authentication_error","param":null,"code":"invalid_api_key"}}401'
	run -0 upstream_count
	assert_output 0
}

@test "the bearer scheme is case-insensitive; AUTH_TOKEN is a client token" {
	run -0 curl -sS -H 'Authorization: bearer tok-user' "$(url /v1/chat/completions)" -d "$(chat_body c1)"
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: c1'
	run -0 curl -sS -H 'Authorization: BEARER tok-admin' "$(url /chat/completions)" -d "$(chat_body c2)"
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: c2'
}

@test "native routes: 401 in Gemini's shape; x-goog-api-key, ?key= and bearer work" {
	run -0 curl -sS -w '%{http_code}' "$(url /v1beta/models/m1:generateContent)" -d '{}'
	assert_output '{"error":{"code":401,"message":"Missing x-goog-api-key header","status":"UNAUTHENTICATED"}}401'
	run -0 curl -sS -w '%{http_code}' -H 'x-goog-api-key: bad' "$(url /gemini/v1beta/models/m1:generateContent)" -d '{}'
	assert_output '{"error":{"code":401,"message":"Invalid x-goog-api-key","status":"UNAUTHENTICATED"}}401'
	run -0 upstream_count
	assert_output 0
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/m1:generateContent)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"a1"}]}]}'
	run -0 jq -r '.candidates[0].content.parts[0].text' <<<"$output"
	assert_output 'echo: a1'
	run -0 curl -sS "$(url '/v1beta/models/m1:countTokens?alt=json&key=tok-user')" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"a b c"}]}]}'
	run -0 jq -r .totalTokens <<<"$output"
	assert_output 3
	run -0 curl -sS -H 'Authorization: Bearer tok-user' "$(url /gemini/v1beta/models/m1:embedContent)" \
	    -d '{"content":{"parts":[{"text":"a3"}]},"outputDimensionality":3}'
	run -0 jq -r '.embedding.values | length' <<<"$output"
	assert_output 3
	# each went upstream as sent, with a configured key, never the token
	run -0 upstream_requests 3
	run -0 jq -r '.[] | "\(.path) \(.key | startswith("AIzaSy"))"' <<<"$output"
	assert_output $'/v1beta/models/m1:generateContent true\n/v1beta/models/m1:countTokens true\n/v1beta/models/m1:embedContent true'
	run -0 upstream_requests 3
	refute_output --partial tok-user
}

@test "/v1/keys/list takes only AUTH_TOKEN" {
	run -0 curl -sS -w '%{http_code}' "$(url /v1/keys/list)"
	assert_output '{"error":{"message":"Missing auth_token header","type":"authentication_error","param":null,"code":null}}401'
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer tok-user' "$(url /hf/v1/keys/list)"
	assert_output '{"error":{"message":"Invalid auth_token","type":"authentication_error","param":null,"code":"invalid_api_key"}}401'
}

@test "path tricks never reach the admin route" {
	for p in //v1/keys/list /v1//keys/list /v1/%6beys/list /v1/keys%2flist \
	    /v1/x/../keys/list /v1/./keys/list /keys/list /v1/keys/list/ \
	    /v1/models/../keys/list; do
		run -0 curl -sS --path-as-is -o /dev/null -w '%{http_code}' \
		    -H 'Authorization: Bearer tok-user' "$(url "$p")"
		[ "$output" != 200 ] || { echo "$p reached"; false; }
		[ "$output" = 404 ] || [ "$output" = 401 ] || { echo "$p: $output"; false; }
	done
}

@test "unknown paths are 404 and wrong methods 405, in the route's dialect" {
	run -0 curl -sS -w '%{http_code}' "$(url /v1/nothing)"
	assert_output '{"error":{"message":"Not Found","type":"not_found_error","param":null,"code":null}}404'
	run -0 curl -sS -w '%{http_code}' "$(url /v1/chat/completions)"
	assert_output '{"error":{"message":"Method Not Allowed","type":"invalid_request_error","param":null,"code":null}}405'
	run -0 curl -sS -w '%{http_code}' "$(url /v1beta/models/m:nope)" -d '{}'
	assert_output '{"error":{"code":404,"message":"Not Found","status":"NOT_FOUND"}}404'
	run -0 curl -sS -w '%{http_code}' -X DELETE "$(url /gemini/v1beta/models)"
	assert_output --partial '"code":405'
	assert_output --partial '405'
}

@test "upstream 429 keeps its status and gets Retry-After" {
	upstream_script '{"path":"fail-429","status":429,"retry_delay":"7s","message":"quota gone","repeat":true}'
	run -0 curl -sS -D - -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" \
	    -d '{"model":"fail-429","messages":[{"role":"user","content":"hi"}]}'
	assert_line --index 0 $'HTTP/1.1 429 Too Many Requests\r'
	# the upstream's delay, less the second that may have begun since
	assert_line --regexp $'^Retry-After: [67]\r$'
	assert_line --index -1 '{"error":{"message":"quota gone","type":"rate_limit_error","param":null,"code":"RESOURCE_EXHAUSTED"}}'
	# now every key cools down: refused without asking the upstream
	run -0 curl -sS -D - -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" \
	    -d '{"model":"fail-429","messages":[{"role":"user","content":"hi"}]}'
	assert_line --index 0 $'HTTP/1.1 429 Too Many Requests\r'
	assert_line --regexp $'^Retry-After: [67]\r$'
	assert_line --index -1 '{"error":{"message":"every API key is cooling down; retry later","type":"rate_limit_error","param":null,"code":"RESOURCE_EXHAUSTED"}}'
	run -0 upstream_count
	assert_output 2
}

@test "upstream 400 API_KEY_INVALID reaches an OpenAI client as 401" {
	upstream_script '{"path":"fail-key","status":400,"reason":"API_KEY_INVALID","message":"API key not valid.","repeat":true}'
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" \
	    -d '{"model":"fail-key","messages":[{"role":"user","content":"hi"}]}'
	assert_output '{"error":{"message":"API key not valid.","type":"authentication_error","param":null,"code":"invalid_api_key"}}401'
}

@test "native route errors keep Gemini's shape and the real status" {
	upstream_script '{"path":"fail-429","status":429,"retry_delay":"7s","message":"quota gone","repeat":true}'
	run -0 curl -sS -D - -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/fail-429:generateContent)" \
	    -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
	assert_line --index 0 $'HTTP/1.1 429 Too Many Requests\r'
	assert_line --regexp $'^Retry-After: [67]\r$'
	assert_line --index -1 --partial '{"error":{"code":429,"message":"quota gone","status":"RESOURCE_EXHAUSTED"'
}

@test "gb-call's host dying before a status is 502; the next request gets a new host" {
	upstream_script '{"path":":generateContent","wait_headers":true}'
	curl -sS -w ' %{http_code}' -H 'Authorization: Bearer tok-user' \
	    "$(url /v1/chat/completions)" -d "$(chat_body dies)" > died.out 3>&- &
	local client=$! p host=
	# gb-call's host holds the call, waiting for the upstream's status
	upstream_requests 1 > /dev/null
	for p in $(host_pids "$SERVE_PID"); do
		if [ "$(cat "/proc/$p/comm")" = gb-call-host ]; then host=$p; fi
	done
	[ -n "$host" ]
	HOST_KILLED=1
	kill -KILL "$host"
	wait "$client"
	run -0 cat died.out
	assert_output --regexp '^\{"error":\{"message":"upstream call failed \(gb-call exit (137: gb-call host died \(signal 9\)|111: gb-call host ended)\)","type":"server_error","param":null,"code":null\}\} 502$'
	run -0 upstream_outcome 1
	assert_output client_gone
	run -0 curl -sS -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" -d "$(chat_body again)"
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: again'
	local again=
	for p in $(host_pids "$SERVE_PID"); do
		if [ "$(cat "/proc/$p/comm")" = gb-call-host ]; then again=$p; fi
	done
	[ -n "$again" ] && [ "$again" != "$host" ]
}

@test "a streamed answer is chunked, each event sent as it comes" {
	# the upstream sends each event only once the client has the one
	# before (rawhttp.py -g): no event waits for the next
	upstream_script '{"path":"streamGenerateContent","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"three"}]},"finishReason":"STOP"}]}],"wait_before":[1,2]}'
	chat_req "$(chat_body s1 '"stream":true,')" $'Connection: close\r\n' |
	    raw -t 20 -G "$UPSTREAM_URL/_control/go" -g '"one"' -g '"two"' > out
	run -0 cat out
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Transfer-Encoding: chunked\r'
	assert_line $'Content-Type: text/event-stream\r'
	run -0 answers POST
	assert_line --index 0 --regexp '^200 chunked '
	assert_line --index 1 '[closed]'
	# every chunk holds whole events, and no two upstream events
	run -0 jq -r 'all(.[]; test("^(data: [^\n]*\n\n)+$"))' <<<"$(body_json 1)"
	assert_output true
	run -0 jq -r 'map([test("\"one\""), test("\"two\""), test("\"three\"")] | map(select(.)) | length) | max' <<<"$(body_json 1)"
	assert_output 1
	run -0 sse_text <<<"$(body_of 1)"
	assert_output onetwothree
	run -0 jq -r 'join("") | endswith("\n\ndata: [DONE]\n\n")' <<<"$(body_json 1)"
	assert_output true
}

@test "the log has one line per request, with no token in it" {
	run -0 curl -sS -o /dev/null -w '%{size_download}' -H 'Authorization: Bearer tok-user' \
	    "$(url /v1/chat/completions)" -d '{"model":"logme","messages":[{"role":"user","content":"hi"}]}'
	local n=$output key
	key=$(upstream_request 1 .key)
	run -0 grep -c "POST /v1/chat/completions 200 [0-9]*ms model=logme key=${key:0:6}…${key: -4} bytes=$n client=127.0.0.1:[0-9]* id=[0-9a-f]\{12\}\$" "$SERVE_LOG"
	assert_output 1
	run -1 grep -e tok-user -e tok-admin -e AIzaSyAAAA -e AIzaSyBBBB "$SERVE_LOG"
}

@test "an HTTP/1.0 client gets a stream delimited by the close" {
	body=$(chat_body s0 '"stream":true,')
	raw > out <<<"POST /v1/chat/completions HTTP/1.0"$'\r\nAuthorization: Bearer tok-user\r\n'"Content-Length: ${#body}"$'\r\n\r\n'"$body"
	run -0 cat out
	assert_line --index 0 $'HTTP/1.0 200 OK\r'
	refute_output --partial 'Transfer-Encoding'
	assert_line $'Connection: close\r'
	run -0 answers POST
	assert_line --index 0 --regexp '^200 close '
	assert_line --index 1 '[closed]'
	run -0 jq -r 'endswith("\n\ndata: [DONE]\n\n")' <<<"$(body_json 1)"
	assert_output true
	run -0 sse_text <<<"$(body_of 1)"
	assert_output 'echo: s0'
}
