#!/usr/bin/env bats
# gb-call -W, the host gb-serve hands gb-call's requests to (lib/host.h,
# gb-call(1) "Host mode"), driven directly through its queue: jobs run
# as the standalone tool would, messages that are not jobs are dropped
# without harm, and the host ends when its queue does.

bats_require_minimum_version 1.5.0

load test_helper
load lib/upstream

K1=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrS0001
K2=AIzaSyB1b2C3d4E5f6G7h8I9j0KlMnOpQrS0002
GEN=models/gemini-2.0-flash:generateContent

setup_file() {
	upstream_start
}

teardown_file() {
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	export API_KEYS="$K1,$K2"
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	printf '%s' '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > in
}

drive() {
	timeout 60 python3 "$BATS_TEST_DIRNAME/lib/hostdrive.py" -- \
	    "$GB_BIN/gb-call" -W
}

@test "jobs answer as the standalone gb-call, one after another, on one upstream connection" {
	run -0 drive <<<$'job gb-call -S 4 POST '"$GEN"$'\njob gb-call -S 4 POST '"$GEN"$'\njob gb-call POST bad path\nclose'
	assert_line --index 0 'status 0'
	assert_line --index 1 'status 0'
	assert_line --index 2 'status 100'
	assert_line --index 3 'exit 0'
	run -0 jq -c '.candidates[0].content.parts[0].text' out
	run -0 cat err
	assert_output 'usage: gb-call [-s] [-S fd] method path'
	run -0 upstream_requests 2
	run -0 jq -c '[.[].client_port] | unique | length' <<<"$output"
	assert_output 1
	run -0 gb-keys list --json
	run -0 jq -c '[.keys[].uses]' <<<"$output"
	assert_output '[1,1]'
}

@test "the status line goes to the job's descriptor 4, not the host's" {
	run -0 drive <<<$'job gb-call -S 4 POST '"$GEN"$'\nclose'
	assert_line --index 0 'status 0'
	run -0 jq -c '{status, attempts}' fd4
	assert_output '{"status":200,"attempts":1}'
}

@test "messages that are not jobs are dropped; the host answers the next job" {
	run -0 drive <<<$'job gb-call -S 4 POST '"$GEN"$'\npipes\njunk empty\njunk nofds\njunk short\njunk badmask\njunk manyfds\njunk trunc\njob gb-call -S 4 POST '"$GEN"$'\npipes\nclose'
	assert_line --index 0 'status 0'
	assert_line --index 8 'status 0'
	# nothing the junk carried is left open in the host (a valgrind
	# shim holds pipes of its own: compare with before)
	[ "${lines[1]}" = "${lines[9]}" ]
	assert_line --index 10 'exit 0'
}

@test "without a queue on descriptor 3, -W is a usage error" {
	run -100 --separate-stderr "$GB_BIN/gb-call" -W 3<&-
	[ "$stderr" = "gb-call: -W: no queue on descriptor 3" ]
}
