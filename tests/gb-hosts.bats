#!/usr/bin/env bats
# gb-convert -W and gb-sse -W, the hosts gb-serve hands those tools'
# requests to (lib/host.h; "Host mode" in gb-convert(1), gb-sse(1)),
# driven directly through their queues: a job answers exactly as the
# standalone tool does, and the host ends when its queue does. gb-call
# -W has its own file, gb-call-host.bats.

bats_require_minimum_version 1.5.0

load test_helper

drive() {
	timeout 60 python3 "$BATS_TEST_DIRNAME/lib/hostdrive.py" -- \
	    "$GB_BIN/$1" -W
}

@test "gb-convert -W: jobs answer as the standalone gb-convert, good and bad" {
	printf '%s' '{"model":"gemini-2.0-flash","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.5}' > in
	"$GB_BIN/gb-convert" chat-request < in > want 2> want.err
	run -0 drive gb-convert <<<$'job gb-convert chat-request\nclose'
	assert_line --index 0 'status 0'
	assert_line --index 1 'exit 0'
	cmp want out
	[ ! -s err ]
	# a failure: the same status and message as the standalone tool
	printf '{"messages": 3}' > in
	run -100 --separate-stderr "$GB_BIN/gb-convert" chat-request < in
	want_err=$stderr
	run -0 drive gb-convert <<<$'job gb-convert chat-request\nclose'
	assert_line --index 0 'status 100'
	assert_line --index 1 'exit 0'
	[ -n "$want_err" ]
	[ "$(cat err)" = "$want_err" ]
	[ ! -s out ]
	run -0 drive gb-convert <<<$'job gb-convert nonsense\nclose'
	assert_line --index 0 'status 100'
	run -0 head -1 err
	assert_output 'usage: gb-convert chat-request [-I fd]'
}

@test "gb-sse -W: a job turns a Gemini stream into the same events as gb-sse" {
	printf 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]}\r\n\r\ndata: {"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}\r\n\r\n' > in
	"$GB_BIN/gb-sse" -m gemini-2.0-flash < in > want
	run -0 drive gb-sse <<<$'job gb-sse -m gemini-2.0-flash\nclose'
	assert_line --index 0 'status 0'
	assert_line --index 1 'exit 0'
	# ids and times differ from run to run; the rest must not
	norm() { sed -E 's/"id":"[^"]*"/"id":""/; s/"created":[0-9]+/"created":0/' "$1"; }
	[ "$(norm want)" = "$(norm out)" ]
	run -0 grep -c '^data: ' out
	[ "$output" -ge 3 ]
}

@test "a host names itself TOOL-host" {
	for t in gb-convert gb-sse; do
		mkfifo "q.$t"
		python3 "$BATS_TEST_DIRNAME/lib/hostdrive.py" -- \
		    "$GB_BIN/$t" -W < "q.$t" > "o.$t" &
		drv=$!
		exec {w}>"q.$t"
		pid=
		for i in $(seq 200); do
			pid=$(pgrep -P "$drv" | head -1) && [ -n "$pid" ] &&
			    [ "$(cat /proc/"$pid"/comm)" = "$t-host" ] && break
			pid=
			sleep 0.05
		done
		echo close >&"$w"
		exec {w}>&-
		wait "$drv"
		[ -n "$pid" ]
		run -0 cat "o.$t"
		assert_output 'exit 0'
	done
}

@test "without a queue on descriptor 3, -W is a usage error" {
	run -100 --separate-stderr "$GB_BIN/gb-convert" -W 3<&-
	[ "$stderr" = "gb-convert: -W: no queue on descriptor 3" ]
	run -100 --separate-stderr "$GB_BIN/gb-sse" -W 3<&-
	[ "$stderr" = "gb-sse: -W: no queue on descriptor 3" ]
}
