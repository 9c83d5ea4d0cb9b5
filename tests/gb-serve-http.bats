#!/usr/bin/env bats
# gb-serve's HTTP/1.1 layer: framing, limits, timeouts, keep-alive,
# CORS, routing and auth. The tools behind it are the stand-ins in
# fixtures/gb-serve/fakebin (an echo: the chat route returns the body it
# was sent), so these tests need no upstream.

bats_require_minimum_version 1.5.0
load test_helper
load lib/serve

setup_file() {
	load test_helper
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	serve_config
	use_fake_tools
	export MAX_BODY=100000
	start_serve listen -i 2 -t 2
	export SERVE_PORT SERVE_PID SERVE_LOG
}

teardown_file() {
	stop_serve
}

CHAT_HDRS=$'Host: x\r\nAuthorization: Bearer tok-user\r\nContent-Type: application/json\r\n'

@test "GET /health answers healthy with exact framing and CORS" {
	run -0 raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
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
}

@test "Content-Length together with Transfer-Encoding is 400" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Content-Length: 5"$'\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	assert_output --partial '[closed]'
}

@test "two different Content-Lengths are 400; the same one twice is fine" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Content-Length: 2"$'\r\nContent-Length: 3\r\n\r\n{}'
	assert_line --index 0 $'HTTP/1.1 400 Bad Request\r'
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\n'"Content-Length: 2"$'\r\nContent-Length: 2\r\n\r\n{}'
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
}

@test "a transfer coding other than chunked is 501" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Transfer-Encoding: gzip"$'\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 501 Not Implemented\r'
}

@test "a chunked request body is reassembled" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mod\r\n'"11;ext=1"$'\r\nel":"m1","x":[1]}\r\n0\r\nTrailer: ignored\r\n\r\n'
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Content-Length: 22\r'
	assert_output --partial $'\r\n\r\n{"model":"m1","x":[1]}[closed]'
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
	run -0 raw -e <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\nExpect: 100-continue\r\nContent-Length: 16\r\n\r\n{"model":"m100"}'
	assert_line --index 0 $'HTTP/1.1 100 Continue\r'
	assert_line --index 2 $'HTTP/1.1 200 OK\r'
	assert_output --partial '{"model":"m100"}[closed]'
}

@test "curl's Expect: 100-continue upload goes through without a stall" {
	head -c 60000 /dev/zero | tr '\0' x | sed 's/^/{"model":"big","pad":"/; s/$/"}/' > body.json
	run -0 curl -sS -v -H 'Authorization: Bearer tok-user' \
	    -H 'Expect: 100-continue' --expect100-timeout 30 \
	    --data-binary @body.json "$(url /v1/chat/completions)" -o out.json
	assert_output --partial '< HTTP/1.1 100 Continue'
	cmp body.json out.json
}

@test "keep-alive: two requests on one connection, the second closes it" {
	run -0 raw <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	[ "$(grep -c 'HTTP/1.1 200 OK' <<<"$output")" = 2 ]
	assert_output --partial '{"status":"healthy"}HTTP/1.1 200 OK'
	assert_output --partial '{"status":"healthy"}[closed]'
}

@test "keep-alive: curl reuses the connection for a second URL" {
	run -0 curl -sS -v "$(url /health)" --next \
	    -H 'Authorization: Bearer tok-user' -d '{"model":"k1"}' \
	    "$(url /v1/chat/completions)"
	assert_output --partial 'Re-using existing connection'
	assert_output --partial '{"model":"k1"}'
}

@test "HTTP/1.0 gets Connection: close by default" {
	run -0 raw <<<$'GET /health HTTP/1.0\r\n\r\n'
	assert_line --index 0 $'HTTP/1.0 200 OK\r'
	assert_line $'Connection: close\r'
	assert_output --partial '[closed]'
}

@test "an idle connection is closed after the idle timeout" {
	run -0 raw -t 10 < /dev/null
	assert_output '[closed]'
	run -0 raw -t 10 <<<$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'
	assert_output --partial '{"status":"healthy"}[closed]'
}

@test "a head trickling in past the header timeout is 408" {
	run -0 raw -t 10 <<<$'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1'
	assert_line --index 0 $'HTTP/1.1 408 Request Timeout\r'
	assert_output --partial '[closed]'
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
}

@test "the bearer scheme is case-insensitive; AUTH_TOKEN is a client token" {
	run -0 curl -sS -H 'Authorization: bearer tok-user' "$(url /v1/chat/completions)" -d '{"model":"c1"}'
	assert_output '{"model":"c1"}'
	run -0 curl -sS -H 'Authorization: BEARER tok-admin' "$(url /chat/completions)" -d '{"model":"c2"}'
	assert_output '{"model":"c2"}'
}

@test "native routes: 401 in Gemini's shape; x-goog-api-key, ?key= and bearer work" {
	run -0 curl -sS -w '%{http_code}' "$(url /v1beta/models/m1:generateContent)" -d '{}'
	assert_output '{"error":{"code":401,"message":"Missing x-goog-api-key header","status":"UNAUTHENTICATED"}}401'
	run -0 curl -sS -w '%{http_code}' -H 'x-goog-api-key: bad' "$(url /gemini/v1beta/models/m1:generateContent)" -d '{}'
	assert_output '{"error":{"code":401,"message":"Invalid x-goog-api-key","status":"UNAUTHENTICATED"}}401'
	run -0 curl -sS -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/m1:generateContent)" -d '{"a":1}'
	assert_output '{"a":1}'
	run -0 curl -sS "$(url '/v1beta/models/m1:countTokens?alt=json&key=tok-user')" -d '{"a":2}'
	assert_output '{"a":2}'
	run -0 curl -sS -H 'Authorization: Bearer tok-user' "$(url /gemini/v1beta/models/m1:embedContent)" -d '{"a":3}'
	assert_output '{"a":3}'
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
	run -0 curl -sS -D - -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" -d '{"model":"fail-429"}'
	assert_line --index 0 $'HTTP/1.1 429 Too Many Requests\r'
	assert_line $'Retry-After: 7\r'
	assert_output --partial '{"error":{"message":"all keys are cooling down","type":"rate_limit_error"'
}

@test "upstream 400 API_KEY_INVALID reaches an OpenAI client as 401" {
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" -d '{"model":"fail-key"}'
	assert_output '{"error":{"message":"API key not valid.","type":"authentication_error","param":null,"code":"invalid_api_key"}}401'
}

@test "native route errors keep Gemini's shape and the real status" {
	run -0 curl -sS -D - -H 'x-goog-api-key: tok-user' "$(url /v1beta/models/fail-429:generateContent)" -d '{}'
	assert_line --index 0 $'HTTP/1.1 429 Too Many Requests\r'
	assert_line $'Retry-After: 7\r'
	assert_output --partial '{"error":{"code":429,"message":"all keys are cooling down","status":"RESOURCE_EXHAUSTED"}}'
}

@test "a gb-call that dies without a status line is 502" {
	run -0 curl -sS -w '%{http_code}' -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" -d '{"model":"crash"}'
	assert_output --partial 'upstream call failed'
}

@test "a streamed answer is chunked, one chunk per event" {
	run -0 raw <<<"POST /v1/chat/completions HTTP/1.1"$'\r\n'"${CHAT_HDRS}Connection: close"$'\r\nContent-Length: 29\r\n\r\n{"model":"s1","stream": true}'
	assert_line --index 0 $'HTTP/1.1 200 OK\r'
	assert_line $'Transfer-Encoding: chunked\r'
	assert_line $'Content-Type: text/event-stream\r'
	assert_output --partial $'\r\n\r\n1d\r\n{"model":"s1","stream": true}\r\n0\r\n\r\n[closed]'
}

@test "the log has one line per request, with no token in it" {
	curl -sS -o /dev/null -H 'Authorization: Bearer tok-user' "$(url /v1/chat/completions)" -d '{"model":"logme"}'
	run -0 grep -c 'POST /v1/chat/completions 200 [0-9]*ms model=logme key=AIzaSy…fGhI bytes=17$' "$SERVE_LOG"
	run -1 grep -e tok-user -e tok-admin -e AIzaSyAAAA "$SERVE_LOG"
}
