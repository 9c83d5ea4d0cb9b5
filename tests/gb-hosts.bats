#!/usr/bin/env bats
# gb-convert -W, gb-call -W and gb-sse -W, the hosts gb-serve hands its
# jobs to (lib/host.h, lib/proto.h; "Host mode" in each tool's page),
# driven directly through their queues by tests/lib/hostdrive.py: a job
# answers exactly as the standalone tool does, many run at once, the
# messages say what crosses (HEAD, META, DONE), messages that are not
# jobs are dropped without harm, and a host ends when its queue does.

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
}

drive() {
	timeout 60 python3 "$BATS_TEST_DIRNAME/lib/hostdrive.py" -- \
	    "$GB_BIN/$1" -W
}

@test "gb-convert -W: a job answers as gb-convert, its meta object first" {
	printf '%s' '{"model":"gemini-2.0-flash","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.5}' > in
	"$GB_BIN/gb-convert" chat-request -I 3 < in > want 3> want.meta
	run -0 drive gb-convert <<<$'job convert mode=chat-request\nclose'
	assert_line --index 0 "meta $(cat want.meta)"
	assert_line --index 1 'done 0'
	assert_line --index 2 'exit 0'
	cmp want out
}

@test "gb-convert -W: a failure has the standalone tool's status and message" {
	printf '{"messages": 3}' > in
	run -100 --separate-stderr "$GB_BIN/gb-convert" chat-request < in
	want=${stderr#gb-convert: }
	[ -n "$want" ]
	run -0 drive gb-convert <<<$'job convert mode=chat-request\njob convert mode=nonsense\nclose'
	assert_line --index 0 "done 100 $want"
	assert_line --index 1 'done 100 unknown mode'
	[ ! -s out ]
}

@test "gb-convert -W: models -i, and a model it does not have (exit 1)" {
	printf '%s' '{"models":[{"name":"models/gemini-2.0-flash"}]}' > in
	"$GB_BIN/gb-convert" models -i gemini-2.0-flash < in > want
	run -0 drive gb-convert <<<$'job convert mode=models arg=gemini-2.0-flash\nclose'
	assert_line --index 0 'done 0'
	cmp want out
	run -0 drive gb-convert <<<$'job convert mode=models arg=nope\nclose'
	assert_line --index 0 --partial 'done 1 '
}

@test "gb-sse -W: a job turns a Gemini stream into the same events as gb-sse" {
	printf 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]}\r\n\r\ndata: {"candidates":[{"content":{"role":"model","parts":[{"text":"two"}]},"finishReason":"STOP"}]}\r\n\r\n' > in
	"$GB_BIN/gb-sse" -u -m gemini-2.0-flash < in > want
	run -0 drive gb-sse <<<$'job sse model=gemini-2.0-flash flags=usage\nclose'
	assert_line --index 0 'done 0'
	# ids and times differ from run to run; the rest must not
	norm() { sed -E 's/"id":"[^"]*"/"id":""/; s/"created":[0-9]+/"created":0/' "$1"; }
	[ "$(norm want)" = "$(norm out)" ]
	run -0 grep -c '^data: ' out
	[ "$output" -ge 4 ]
}

@test "gb-sse -W: a stream cut in the middle ends with an error event, exit 111" {
	printf 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"one"}]}}]}\r\n\r\n' > in
	run -0 drive gb-sse <<<$'job sse model=gemini-2.0-flash\nclose'
	assert_line --index 0 --partial 'done 111 '
	run -0 tail -n 4 out
	assert_output --partial '"error"'
	assert_output --partial 'data: [DONE]'
}

@test "gb-call -W: HEAD before the answer, then DONE; key uses counted once each" {
	printf '%s' '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > in
	run -0 drive gb-call <<<$'job call mode=POST arg='"$GEN"$'\njob call mode=POST arg='"$GEN"$'\nclose'
	assert_line --index 0 --regexp '^head 200 1 -1 AIzaSy.*'
	assert_line --index 1 'done 0'
	assert_line --index 2 --regexp '^head 200 1 -1 '
	assert_line --index 3 'done 0'
	run -0 jq -r '.candidates[0].content.parts[0].text' out
	assert_output 'echo: hi'
	run -0 upstream_requests 2
	run -0 jq -c '[.[].client_port] | unique | length' <<<"$output"
	assert_output 1
	run -0 "$GB_BIN/gb-keys" list --json
	run -0 jq -c '[.keys[].uses]' <<<"$output"
	assert_output '[1,1]'
}

@test "gb-call -W: a job it cannot run is refused, and the next one runs" {
	printf '%s' '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > in
	run -0 drive gb-call <<<$'job call mode=PUT arg=x\njob call mode=POST arg='"$GEN"$'\nclose'
	assert_line --index 0 'done 100 not a gb-call job'
	assert_line --index 2 'done 0'
}

@test "gb-call -W: the key table job is gb-keys list --json" {
	rm -f in
	"$GB_BIN/gb-keys" list --json > want
	run -0 drive gb-call <<<$'job keys\nclose'
	assert_line --index 0 'done 0'
	run -0 jq -c '[.keys[] | {index, key, state}]' out
	[ "$output" = "$(jq -c '[.keys[] | {index, key, state}]' want)" ]
}

@test "gb-call -W: a key table larger than a pipe holds comes whole" {
	rm -f in
	# 2,000 keys: about 400 KB of JSON, several times a pipe's 64 KiB
	API_KEYS=$(for i in $(seq 2000); do
		printf 'AIzaSyBigTable%025d,' "$i"; done)
	export API_KEYS=${API_KEYS%,}
	run -0 drive gb-call <<<$'job keys\nclose'
	assert_line --index 0 'done 0'
	[ "$(stat -c %s out)" -gt 262144 ]
	run -0 jq '.keys | length' out
	assert_output 2000
}

@test "many jobs at once in one host, each answered" {
	printf '%s' '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' > in
	run -0 drive gb-call <<<$'jobs 50 call mode=POST arg='"$GEN"$'\nclose'
	run -0 grep -c '^done 0$' <<<"$output"
	assert_output 50
	for i in $(seq 50); do
		jq -e '.candidates[0].content.parts[0].text == "echo: hi"' \
		    "out.$i" > /dev/null
	done
	printf 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"STOP"}]}\r\n\r\n' > in
	run -0 drive gb-sse <<<$'jobs 200 sse model=m\nclose'
	run -0 grep -c '^done 0$' <<<"$output"
	assert_output 200
}

@test "messages that are not jobs are dropped; the host answers the next job" {
	printf '%s' '{"models":[{"name":"models/gemini-2.0-flash"}]}' > in
	run -0 drive gb-convert <<<$'job convert mode=models\npipes\njunk empty\njunk short\njunk badtype\njunk unterminated\njunk manyfds\njunk trunc\njob convert mode=models\npipes\nclose'
	assert_line --index 0 'done 0'
	assert_line --index 8 'done 0'
	# nothing the junk carried is left open in the host
	[ "${lines[1]}" = "${lines[9]}" ]
	assert_line --index 10 'exit 0'
}

@test "a host names itself TOOL-host and ends when its queue does" {
	for t in gb-convert gb-call gb-sse; do
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

@test "a host raises its soft descriptor limit to the hard one" {
	[ -z "${GB_VALGRIND:-}" ] ||
	    skip "valgrind keeps descriptors of its own below the limit"
	rm -f in
	mkfifo q
	prlimit --nofile=256:4096 python3 "$BATS_TEST_DIRNAME/lib/hostdrive.py" \
	    -- "$GB_BIN/gb-sse" -W < q > o &
	drv=$!
	exec {w}>q
	pid=
	for i in $(seq 200); do
		pid=$(pgrep -P "$drv" | head -1) && [ -n "$pid" ] &&
		    [ "$(cat /proc/"$pid"/comm)" = gb-sse-host ] && break
		pid=
		sleep 0.05
	done
	[ -n "$pid" ]
	run -0 awk '/^Max open files/ {print $4, $5}' "/proc/$pid/limits"
	echo close >&"$w"
	exec {w}>&-
	wait "$drv"
	assert_output '4096 4096'
}

@test "without a queue on descriptor 3, -W is a usage error" {
	for t in gb-convert gb-call gb-sse; do
		run -100 --separate-stderr "$GB_BIN/$t" -W 3<&-
		[ "$stderr" = "$t: -W: no queue on descriptor 3" ]
	done
}
