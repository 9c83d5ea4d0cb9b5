# tests/lib/upstream.bash - start, script and inspect tests/fake-upstream.py
# from bats. Load after test_helper:
#
#	load test_helper
#	load lib/upstream
#
#	setup_file()    { upstream_start; }       # or per test in setup()
#	teardown_file() { upstream_stop; }
#	setup()         { upstream_reset; upstream_env; }
#
# upstream_start exports UPSTREAM_PORT, UPSTREAM_PID, UPSTREAM_URL
# (http://127.0.0.1:PORT) and BASE_URL ($UPSTREAM_URL/v1beta). test_helper
# unsets BASE_URL again when it is loaded for each test, so call
# upstream_env in setup() to point BASE_URL at the fake. The control API is
# documented at the top of tests/fake-upstream.py.

UPSTREAM_PY=$BATS_TEST_DIRNAME/fake-upstream.py

# upstream_start [SCRIPT_DIR]: start the fake on a free loopback port.
upstream_start() {
	local log=${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/upstream.log
	UPSTREAM_PORT=$(free_port)
	python3 "$UPSTREAM_PY" "$UPSTREAM_PORT" ${1:+"$1"} \
		>"$log" 2>&1 3>&- </dev/null &
	UPSTREAM_PID=$!
	UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT
	BASE_URL=$UPSTREAM_URL/v1beta
	export UPSTREAM_PORT UPSTREAM_PID UPSTREAM_URL BASE_URL
	wait_port "$UPSTREAM_PORT" || { cat "$log" >&2; return 1; }
}

# upstream_env: export BASE_URL pointing at the running fake.
upstream_env() {
	export BASE_URL=$UPSTREAM_URL/v1beta
}

# upstream_stop: stop the fake started by upstream_start (by its PID).
upstream_stop() {
	stop_pid "${UPSTREAM_PID:-}"
	UPSTREAM_PID=
}

# upstream_ctl METHOD PATH [BODY]: one control call; prints the answer.
# A BODY of "-" is read from stdin (keeps secrets off argv).
upstream_ctl() {
	local method=$1 path=$2
	if [ $# -ge 3 ]; then
		if [ "$3" = - ]; then
			curl -sS --fail-with-body -X "$method" --data-binary @- \
				"$UPSTREAM_URL/_control/$path"
		else
			printf '%s' "$3" | curl -sS --fail-with-body -X "$method" \
				--data-binary @- "$UPSTREAM_URL/_control/$path"
		fi
	else
		curl -sS --fail-with-body -X "$method" \
			"$UPSTREAM_URL/_control/$path"
	fi
}

# upstream_script SPEC_JSON: queue one response spec or an array of them
# (read from stdin when no argument is given).
upstream_script() {
	if [ $# -ge 1 ]; then
		upstream_ctl POST script "$1" >/dev/null
	else
		upstream_ctl POST script - >/dev/null
	fi
}

# upstream_load NAME: queue SCRIPT_DIR/NAME.json.
upstream_load() {
	upstream_ctl POST "load?name=$1" >/dev/null
}

# upstream_go [N]: release N waiting points (default 1).
upstream_go() {
	upstream_ctl POST "go?count=${1:-1}" >/dev/null
}

# upstream_defaults JSON: shape every unscripted answer (see the fake's
# header: text, pieces, framing, split, delay, event_delay, transfer).
upstream_defaults() {
	upstream_ctl POST defaults "$1" >/dev/null
}

# upstream_reset: forget the queue, the recorded requests, the go count
# and the defaults.
upstream_reset() {
	upstream_ctl POST reset >/dev/null
}

# upstream_requests [N [settled]]: the recorded requests as a JSON array;
# with N, wait (up to 10 s) until N arrived (and, with "settled", finished).
upstream_requests() {
	local q=
	[ -n "${1:-}" ] && q="?wait=$1"
	[ -n "${2:-}" ] && q="$q&settled=1"
	upstream_ctl GET "requests$q"
}

# upstream_request N [JQ_FILTER]: request N (1-based), optionally filtered,
# e.g. upstream_request 1 .path -> "/v1beta/models/m:generateContent".
upstream_request() {
	upstream_requests "$1" | jq -r ".[$1 - 1]${2:-}"
}

# upstream_outcome N: wait until request N finished; print its outcome
# (complete, client_gone, reset, closed, go_timeout).
upstream_outcome() {
	upstream_requests "$1" settled | jq -r ".[$1 - 1].outcome"
}

# upstream_count: how many requests reached the fake.
upstream_count() {
	upstream_requests | jq length
}
