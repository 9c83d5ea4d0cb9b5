#!/usr/bin/env bats
# What an operator sees of gb-serve: one line at start (version, where
# it listens, how many keys, where the key state is), and log lines that
# carry a journal priority when standard error is the journal
# ($JOURNAL_STREAM names its device and inode, sd-daemon(3)) and none
# otherwise.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	serve_test_setup
}

teardown() {
	stop_serve
}

CHAT='{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'

chat() {
	curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-user' \
	    "$(url /v1/chat/completions)" -d "$CHAT"
}

@test "one line at start: version, address, key count, state backend" {
	start_serve listen
	run -0 grep '^gb-serve: gemini-balance ' "$SERVE_LOG"
	assert_output "gb-serve: gemini-balance 0.1.0 serving on 127.0.0.1:$SERVE_PORT (-l), 2 keys, key state: file $STATE_DIRECTORY/keys.state"
	stop_serve
	: > "$SERVE_LOG"
	start_serve activate
	chat
	run -0 grep -c "^gb-serve: gemini-balance 0.1.0 serving on 127.0.0.1:$SERVE_PORT (socket activation), 2 keys, " "$SERVE_LOG"
	assert_output 1
}

@test "stderr not the journal: no priority prefix" {
	export JOURNAL_STREAM=1:1
	start_serve listen
	run -0 chat
	assert_output 200
	run -1 grep -c '^<' "$SERVE_LOG"
	run -0 grep -c '^gb-serve: .* POST /v1/chat/completions 200 ' "$SERVE_LOG"
}

@test "stderr the journal: <6> info, <4> warnings, <7> debug, <3> errors" {
	: > "$SERVE_LOG"
	export JOURNAL_STREAM LOG_LEVEL=debug
	JOURNAL_STREAM=$(stat -c '%d:%i' "$SERVE_LOG")
	start_serve listen
	run -0 chat
	assert_output 200
	upstream_script '{"status":503}'
	run -0 chat
	run -0 grep -c '^<6>gb-serve: gemini-balance ' "$SERVE_LOG"
	run -0 grep -c '^<6>gb-serve: .* POST /v1/chat/completions 200 ' "$SERVE_LOG"
	run -0 grep -c '^<7>gb-serve: debug request: ' "$SERVE_LOG"
	# gb-call's host says it on the same stream, as a warning
	run -0 grep -c '^<4>gb-call: attempt 1 with key AIzaSy…' "$SERVE_LOG"
	# every line has one
	run -1 grep -v '^<[3467]>gb-' "$SERVE_LOG"
	stop_serve
	# a usage error, on the journal too
	run -100 --separate-stderr env JOURNAL_STREAM=$(stat -L -c '%d:%i' /dev/null) \
	    gb-serve -l 127.0.0.1:99999 2>/dev/null
	JOURNAL_STREAM=$(stat -c '%d:%i' "$SERVE_LOG") gb-serve -l 127.0.0.1:99999 \
	    2>>"$SERVE_LOG" || true
	run -0 tail -n 1 "$SERVE_LOG"
	assert_output '<3>gb-serve: 127.0.0.1:99999: port 99999 is too large (allowed 0 to 65535)'
}

@test "one connection alone: the tools' diagnostics relayed with a priority" {
	: > "$SERVE_LOG"
	export JOURNAL_STREAM
	JOURNAL_STREAM=$(stat -c '%d:%i' "$SERVE_LOG")
	start_serve accept
	upstream_script '{"status":503}'
	run -0 chat
	assert_output 200
	run -0 grep -c '^<4>gb-call: attempt 1 with key AIzaSy…' "$SERVE_LOG"
	run -0 grep -c '^<6>gb-serve: .* POST /v1/chat/completions 200 ' "$SERVE_LOG"
	# (systemd-socket-activate's own lines aside)
	run -1 grep -E '^gb-[a-z]+: ' "$SERVE_LOG"
}

# same_id: the request line's id is the one gb-call's diagnostic of that
# request ends with, and the line names the client
same_id() {
	local line id
	line=$(grep -E 'gb-serve: .* POST /v1/chat/completions 200 ' "$SERVE_LOG")
	[[ $line =~ \ client=127\.0\.0\.1:[0-9]+\ id=([0-9a-f]{12})$ ]] ||
	    { echo "request line: $line"; return 1; }
	id=${BASH_REMATCH[1]}
	run -0 grep -c "gb-call: attempt 1 with key AIzaSy…[A-Za-z]*: HTTP 503 id=$id\$" "$SERVE_LOG"
}

@test "a request id shared by the request line and its tools' diagnostics, with the client" {
	start_serve listen
	upstream_script '{"status":503}'
	run -0 chat
	assert_output 200
	same_id
	stop_serve
	: > "$SERVE_LOG"
	start_serve accept
	upstream_script '{"status":503}'
	run -0 chat
	assert_output 200
	same_id
}

@test "gb-keys on its own (gb-keys-check.service): its diagnostics with a priority" {
	local log=$BATS_TEST_TMPDIR/keys.log
	: > "$log"
	export JOURNAL_STREAM
	JOURNAL_STREAM=$(stat -c '%d:%i' "$log")
	run -100 bash -c 'gb-keys -w 99999999 list 2>>"$1"' _ "$log"
	run -0 cat "$log"
	assert_output '<3>gb-keys: -w is too large (allowed 0 to 3600)'
	# not the journal: none
	run -100 --separate-stderr gb-keys -w 99999999 list
	[[ $stderr == gb-keys:* ]]
}
