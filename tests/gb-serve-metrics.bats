#!/usr/bin/env bats
# GET /metrics: the Prometheus text format, read by a strict parser
# (tests/lib/promcheck.py); counters that move by exactly the requests
# made, whichever process counted them (gb-serve, or its gb-call host,
# restarted or not); the admin token, or METRICS_LISTEN without one and
# with nothing else; and each key's recent history in gb-keys list.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

PROMCHECK=$BATS_TEST_DIRNAME/lib/promcheck.py
ADMIN='Authorization: Bearer tok-admin'
USER_AUTH='Authorization: Bearer tok-user'

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c \
	    'import prometheus_client' 2>/dev/null ||
	    skip "python3-prometheus-client is not installed"
	serve_test_setup
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	export KEY_COOLDOWN=600
}

teardown() {
	[ -n "${SERVE_PID:-}" ] && stop_serve
	SERVE_PID=
}

# Bytes each curl sent, summed into $BATS_TEST_TMPDIR/sent.
count_sent() {
	echo "$1" >> "$BATS_TEST_TMPDIR/sent"
}

# scrape FILE: /metrics with the admin token, checked, its samples as JSON
# in FILE; the request's size counted.
scrape() {
	local body=$BATS_TEST_TMPDIR/scrape.txt w
	w=$(curl -sS -o "$body" -w '%{http_code} %{size_request}' \
	    -H "$ADMIN" "$(url /metrics)")
	[ "${w% *}" = 200 ] || { echo "scrape: ${w% *}"; return 1; }
	count_sent "${w#* }"
	/usr/bin/python3 "$PROMCHECK" < "$body" > "$1"
}

# chat [JSON_FIELDS]: a chat request; its status printed, its size counted
chat() {
	local body='{"model":"gemini-2.0-flash",'"${1:-}"'"messages":[{"role":"user","content":"hi"}]}' w
	# size_request counts the head and the body curl sent
	w=$(curl -sS -N -o /dev/null -w '%{http_code} %{size_request}' \
	    -H "$USER_AUTH" "$(url /v1/chat/completions)" -d "$body")
	count_sent "${w#* }"
	echo "${w% *}"
}

# get PATH [curl options]: its status printed, its size counted
get() {
	local path=$1 w
	shift
	w=$(curl -sS -o /dev/null -w '%{http_code} %{size_request}' "$@" "$(url "$path")")
	count_sent "${w#* }"
	echo "${w% *}"
}

# delta A B SERIES: B's value less A's (a series absent counts 0)
delta() {
	jq -n --slurpfile a "$1" --slurpfile b "$2" --arg s "$3" \
	    '(($b[0][$s] // 0) - ($a[0][$s] // 0)) | floor'
}

@test "the exposition parses strictly: HELP and TYPE for each family, no key or token" {
	start_serve listen
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	run -0 curl -sS -D "$BATS_TEST_TMPDIR/head" -H "$ADMIN" "$(url /metrics)"
	text=$output
	grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$BATS_TEST_TMPDIR/head"
	run -0 /usr/bin/python3 "$PROMCHECK" <<<"$text"
	# every family, each with HELP and TYPE
	run -0 sed -n 's/^# TYPE //p' <<<"$text"
	assert_output 'gb_build_info gauge
gb_requests_total counter
gb_request_duration_seconds histogram
gb_upstream_attempts_total counter
gb_upstream_retries_total counter
gb_keys gauge
gb_keys_cooling_per_model gauge
gb_open_streams gauge
gb_open_connections gauge
gb_received_bytes_total counter
gb_sent_bytes_total counter'
	[ "$(grep -c '^# HELP ' <<<"$text")" = 11 ]
	grep -q '^gb_build_info{version="[0-9][0-9.]*"} 1$' <<<"$text"
	# routes are the table's patterns, never a path as asked
	grep -q '^gb_requests_total{route="/v1/chat/completions",method="POST",code="2xx"} 1$' <<<"$text"
	# no key, no token, not even masked
	for s in AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ \
	    AIzaSy fGhI wXyZ tok-user tok-admin; do
		! grep -qF "$s" <<<"$text"
	done
}

@test "counters move by exactly the requests made" {
	start_serve listen
	# the first scrape starts the hosts; its own request is counted after it
	scrape "$BATS_TEST_TMPDIR/0.json"
	: > "$BATS_TEST_TMPDIR/sent"
	scrape "$BATS_TEST_TMPDIR/a.json"
	sent_a=$(( $(paste -sd+ "$BATS_TEST_TMPDIR/sent") + 0 ))
	: > "$BATS_TEST_TMPDIR/sent"
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	[ "$(chat '"stream":true,')" = 200 ]
	# an empty answer, retried on the next key
	upstream_script '{"gemini":"empty_text"}'
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	# a 429: the key cools for the model, the next key answers
	upstream_script '{"status":429,"retry_delay":"300s"}'
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	# refused before any upstream call
	[ "$(get /v1/models -H 'Authorization: Bearer nope')" = 401 ]
	[ "$(get /no/such/path)" = 404 ]
	scrape "$BATS_TEST_TMPDIR/b.json"
	a=$BATS_TEST_TMPDIR/a.json b=$BATS_TEST_TMPDIR/b.json
	chat_route='route="/v1/chat/completions"'
	[ "$(delta "$a" "$b" 'gb_requests_total{code="2xx",method="POST",'"$chat_route"'}')" = 5 ]
	[ "$(delta "$a" "$b" 'gb_requests_total{code="4xx",method="POST",'"$chat_route"'}')" = 0 ]
	[ "$(delta "$a" "$b" 'gb_requests_total{code="4xx",method="GET",route="/v1/models"}')" = 1 ]
	[ "$(delta "$a" "$b" 'gb_requests_total{code="4xx",method="none",route="none"}')" = 1 ]
	[ "$(delta "$a" "$b" 'gb_requests_total{code="2xx",method="GET",route="/metrics"}')" = 1 ]
	[ "$(delta "$a" "$b" 'gb_request_duration_seconds_count{method="POST",'"$chat_route"'}')" = 5 ]
	[ "$(delta "$a" "$b" 'gb_request_duration_seconds_bucket{le="+Inf",method="POST",'"$chat_route"'}')" = 5 ]
	[ "$(delta "$a" "$b" 'gb_upstream_attempts_total{outcome="ok"}')" = 5 ]
	[ "$(delta "$a" "$b" 'gb_upstream_attempts_total{outcome="429"}')" = 1 ]
	[ "$(delta "$a" "$b" 'gb_upstream_attempts_total{outcome="empty"}')" = 1 ]
	for o in 4xx 5xx invalid_key not_json network cancelled; do
		[ "$(delta "$a" "$b" 'gb_upstream_attempts_total{outcome="'$o'"}')" = 0 ]
	done
	[ "$(delta "$a" "$b" gb_upstream_retries_total)" = 2 ]
	# bytes both ways
	sent=$(( $(paste -sd+ "$BATS_TEST_TMPDIR/sent") + 0 ))
	# received: every request after scrape a, scrape b's included (it is
	# read before its answer is made), to the byte; sent: chunked framing
	# is not in what curl reports, so only its order of magnitude
	[ "$(delta "$a" "$b" gb_received_bytes_total)" = "$sent" ]
	[ "$(delta "$a" "$b" gb_sent_bytes_total)" -gt 1000 ]
	# gauges: now
	run -0 jq -c '[.["gb_keys{state=\"active\"}"], .["gb_keys{state=\"cooling\"}"],
	    .["gb_keys{state=\"invalid\"}"], .["gb_keys_cooling_per_model{model=\"gemini-2.0-flash\"}"],
	    .gb_open_streams, .gb_open_connections]' "$b"
	assert_output '[2,0,0,1,0,1]'
	[ "$sent_a" -gt 0 ]
}

@test "open streams: a stream paused mid-way is counted, and not once it ended" {
	start_serve listen
	upstream_script '{"path":"stream","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"par"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"t"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	local out=$BATS_TEST_TMPDIR/stream.out
	curl -sS -N -H "$USER_AUTH" "$(url /v1/chat/completions)" \
	    -d '{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
	    > "$out" &
	local client=$!
	# the first delta has reached the client: the stream is open
	wait_file_has "$out" '"par"'
	scrape "$BATS_TEST_TMPDIR/during.json"
	[ "$(jq '.gb_open_streams' "$BATS_TEST_TMPDIR/during.json")" = 1 ]
	upstream_go
	wait "$client"
	grep -q 'data: \[DONE\]' "$out"
	scrape "$BATS_TEST_TMPDIR/after.json"
	[ "$(jq '.gb_open_streams' "$BATS_TEST_TMPDIR/after.json")" = 0 ]
}

@test "a gb-call host killed and started again counts into the same totals" {
	start_serve listen
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	scrape "$BATS_TEST_TMPDIR/a.json"
	host=
	for p in $(host_pids "$SERVE_PID"); do
		[ "$(cat /proc/$p/comm)" = gb-call-host ] && host=$p
	done
	[ -n "$host" ]
	kill -9 "$host"
	for i in $(seq 100); do
		kill -0 "$host" 2>/dev/null || break
		sleep 0.05
	done
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	scrape "$BATS_TEST_TMPDIR/b.json"
	[ "$(delta "$BATS_TEST_TMPDIR/a.json" "$BATS_TEST_TMPDIR/b.json" 'gb_upstream_attempts_total{outcome="ok"}')" = 2 ]
	[ "$(jq '.["gb_upstream_attempts_total{outcome=\"ok\"}"]' "$BATS_TEST_TMPDIR/b.json")" = 3 ]
}

@test "auth: the admin token on the main address; METRICS_LISTEN without one, serving nothing else" {
	mport=$(free_port)
	export METRICS_LISTEN=127.0.0.1:$mport
	start_serve listen
	wait_port "$mport"
	[ "$(get /metrics)" = 401 ]
	[ "$(get /metrics -H "$USER_AUTH")" = 401 ]
	[ "$(get /metrics -H "$ADMIN")" = 200 ]
	m=http://127.0.0.1:$mport
	run -0 curl -sS -o "$BATS_TEST_TMPDIR/m.txt" -w '%{http_code}' "$m/metrics"
	assert_output 200
	/usr/bin/python3 "$PROMCHECK" < "$BATS_TEST_TMPDIR/m.txt" > /dev/null
	for p in /health / /v1/models /v1/keys/list /metrics/ /metrics?x=1x; do
		run -0 curl -sS -o /dev/null -w '%{http_code}' -H "$ADMIN" "$m$p"
		if [ "$p" = '/metrics?x=1x' ]; then
			assert_output 200
		else
			assert_output 404
		fi
	done
	run -0 curl -sS -o /dev/null -w '%{http_code}' -H "$USER_AUTH" "$m/v1/chat/completions" \
	    -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
	assert_output 404
	run -0 curl -sS -o /dev/null -w '%{http_code}' -X POST "$m/metrics"
	assert_output 405
	run -0 curl -sS -o /dev/null -w '%{http_code}' -X OPTIONS "$m/metrics"
	assert_output 405
	# nothing reached upstream
	[ "$(upstream_requests | jq length)" = 0 ]
}

@test "a bad METRICS_LISTEN is an error at start" {
	export METRICS_LISTEN=nothing
	run -100 --separate-stderr gb-serve -n
	[[ $stderr == *METRICS_LISTEN* ]]
}

@test "gb-keys list: uses, failures and 429s of the last minute, hour and day" {
	start_serve listen
	upstream_script '{"gemini":"empty_text"}'
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	upstream_script '{"status":429,"retry_delay":"300s"}'
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	# five attempts: a 429, an empty answer, three answers
	for span in 1m 1h 24h; do
		run -0 jq -c --arg s "$span" '[.keys[].recent[$s]] |
		    [(map(.uses) | add), (map(.failures) | add), (map(.["429"]) | add)]' \
		    <<<"$(gb-keys list --json)"
		assert_output '[5,1,1]'
	done
	# the table: USES/FAILS/429 for each span, the same in each
	run -0 gb-keys list
	[[ ${lines[0]} == *'USES  1M     1H     24H    LAST ERROR'* ]]
	run -0 sh -c 'gb-keys list | awk "NR > 1 { print \$7, \$8, \$9 }" | sort'
	[ "${#lines[@]}" = 2 ]
	for l in "${lines[@]}"; do
		set -- $l
		[ "$1" = "$2" ] && [ "$2" = "$3" ]
	done
	# the same history reaches gb-serve's key table
	run -0 curl -sS -H "$ADMIN" "$(url /v1/keys/list)"
	[ "$(jq '.total' <<<"$output")" = 2 ]
	for span in 1m 1h 24h; do
		run -0 jq -c --arg s "$span" '[.data.recent[][$s]] |
		    [(map(.uses) | add), (map(.failures) | add), (map(.["429"]) | add)]' \
		    <<<"$output"
		assert_output '[5,1,1]'
		output=$(curl -sS -H "$ADMIN" "$(url /v1/keys/list)")
	done
	# each entry is a configured key, in full (as the rest of that page)
	[ "$(jq -c '[.data.recent[].key] | sort' <<<"$output")" = "$(jq -c 'sort' <<<"$API_KEYS")" ]
}

@test "a state directory without the history or metrics file still works" {
	mkdir -p "$STATE_DIRECTORY"
	run -0 gb-keys next
	rm -f "$STATE_DIRECTORY/keys.hist" "$STATE_DIRECTORY/metrics"
	run -0 gb-keys list --json
	[ "$(jq -c '[.keys[].recent["24h"].uses]' <<<"$output")" = '[0,0]' ]
	# an unreadable history is shown as zeros, the list still works
	rm -f "$STATE_DIRECTORY/keys.hist"
	mkdir "$STATE_DIRECTORY/keys.hist"
	run -0 gb-keys list
	[[ ${lines[1]} == *' 0/0/0  0/0/0  0/0/0 '* ]]
	rmdir "$STATE_DIRECTORY/keys.hist"
	start_serve listen
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	[ -f "$STATE_DIRECTORY/metrics" ] && [ -f "$STATE_DIRECTORY/keys.hist" ]
	scrape "$BATS_TEST_TMPDIR/a.json"
	[ "$(jq '.["gb_upstream_attempts_total{outcome=\"ok\"}"]' "$BATS_TEST_TMPDIR/a.json")" = 1 ]
}

@test "one connection per process (Accept=yes): the counters are the machine's" {
	start_serve accept
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	st=$(chat); [ "$st" = 200 ] || { echo "chat: $st"; cat "$SERVE_LOG"; false; }
	scrape "$BATS_TEST_TMPDIR/a.json"
	run -0 jq -c '[.["gb_upstream_attempts_total{outcome=\"ok\"}"],
	    .["gb_requests_total{code=\"2xx\",method=\"POST\",route=\"/v1/chat/completions\"}"],
	    .["gb_keys{state=\"active\"}"]]' "$BATS_TEST_TMPDIR/a.json"
	assert_output '[2,2,2]'
}
