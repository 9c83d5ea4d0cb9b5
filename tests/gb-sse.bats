#!/usr/bin/env bats
# gb-sse: Gemini SSE in, OpenAI (or re-framed Gemini) SSE out.

bats_require_minimum_version 1.5.0
load test_helper
load lib/sse

# One Gemini stream event, as Google frames it.
gem() {
	printf 'data: {"candidates": [{"content": {"parts": [{"text": "%s"}],"role": "model"}%s,"index": 0}],"modelVersion": "gemini-2.0-flash"}\r\n\r\n' \
	    "$1" "${2:+,\"finishReason\": \"$2\"}"
}

# What gb-sse -m m makes of one text delta / the finish chunk.
want_text() {
	printf 'data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"%s"},"logprobs":null,"finish_reason":null}]}' "$1"
}
want_role='data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
want_stop='data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}'

# read_event FD: one output event (its lines up to the blank line),
# normalised, into $event. The timeout only keeps a broken gb-sse from
# hanging the suite; nothing depends on how fast the event comes.
read_event() {
	local line
	event=
	while IFS= read -r -t 10 line <&"$1"; do
		[ -z "$line" ] && { event=$(printf '%s' "$event" | sse_normalise); return 0; }
		event+=$line
	done
	echo "no complete event on fd $1 (got: $event)" >&2
	return 1
}

@test "golden cases, whole input as Google frames it (CRLF)" {
	local c fails=0
	for c in $(sse_cases); do
		sse_check_case "$c" whole crlf || fails=$((fails + 1))
	done
	[ "$fails" -eq 0 ]
}

@test "golden cases, fed one byte per write" {
	local c fails=0
	for c in $(sse_cases); do
		sse_check_case "$c" bytes crlf || fails=$((fails + 1))
	done
	[ "$fails" -eq 0 ]
}

@test "golden cases with LF and with CR line ends give the same output" {
	local c e fails=0
	for c in $(sse_cases); do
		for e in lf cr; do
			sse_check_case "$c" whole "$e" || fails=$((fails + 1))
		done
	done
	# byte by byte too, where the framing is most varied
	for c in comments-multiline tool-calls-two-chunks native; do
		for e in lf cr; do
			sse_check_case "$c" bytes "$e" || fails=$((fails + 1))
		done
	done
	[ "$fails" -eq 0 ]
}

@test "every chunk shares one id, created and model; role first, [DONE] last" {
	run -0 --separate-stderr gb-sse -u < "$SSE_FIXTURES/usage-on.in"
	[ "$(printf '%s\n' "$output" | grep -o '"id":"chatcmpl-[0-9a-f]*"' | sort -u | wc -l)" -eq 1 ]
	[ "$(printf '%s\n' "$output" | grep -o '"created":[0-9]*' | sort -u | wc -l)" -eq 1 ]
	[ "$(printf '%s\n' "$output" | grep -o '"model":"[^"]*"' | sort -u)" = '"model":"gemini-2.0-flash"' ]
	[ "$(printf '%s\n' "$output" | grep -c '^data: {')" -eq 6 ]
	[ "$(printf '%s\n' "$output" | grep -c '"usage":null')" -eq 5 ]
	printf '%s\n' "$output" | head -n 1 | grep -q '"delta":{"role":"assistant","content":""}'
	[ "$(printf '%s\n' "$output" | tail -n 1)" = "data: [DONE]" ]
	# two runs, two ids
	run -0 --separate-stderr gb-sse < "$SSE_FIXTURES/text.in"
	id1=$(printf '%s\n' "$output" | grep -o 'chatcmpl-[0-9a-f]*' | head -n 1)
	run -0 --separate-stderr gb-sse < "$SSE_FIXTURES/text.in"
	id2=$(printf '%s\n' "$output" | grep -o 'chatcmpl-[0-9a-f]*' | head -n 1)
	[ "$id1" != "$id2" ]
}

@test "tool-call ids are fresh per call and carry the thought signature" {
	run -0 --separate-stderr gb-sse < "$SSE_FIXTURES/tool-calls-two-chunks.in"
	ids=$(printf '%s\n' "$output" | grep -o '"id":"call_[^"]*"')
	[ "$(printf '%s\n' "$ids" | wc -l)" -eq 3 ]
	[ "$(printf '%s\n' "$ids" | sort -u | wc -l)" -eq 3 ]
	printf '%s\n' "$ids" | head -n 1 | grep -Eq '^"id":"call_[0-9a-f]{16}~c2lnLWE="$'
	[ -z "$(printf '%s\n' "$ids" | tail -n 2 | grep '~')" ]
}

@test "each event is written as soon as it is complete (no buffering)" {
	mkfifo up down
	gb-sse -m m < up > down 2> err &
	pid=$!
	exec 7> up 8< down
	gem 'one' >&7
	read_event 8
	[ "$event" = "$want_role" ]
	read_event 8
	[ "$event" = "$(want_text one)" ]
	# a CR ends the line at the end of one write, the LF opens the next;
	# the event is complete at the second CR already
	printf 'data: {"candidates": [{"content": {"parts": [{"text": "two"}]},"index": 0}]}\r' >&7
	printf '\n\r' >&7
	read_event 8
	[ "$event" = "$(want_text two)" ]
	printf '\n' >&7
	gem 'three' STOP >&7
	read_event 8
	[ "$event" = "$(want_text three)" ]
	read_event 8
	[ "$event" = "$want_stop" ]
	exec 7>&-
	read_event 8
	[ "$event" = "data: [DONE]" ]
	wait "$pid"
	exec 8<&-
	[ ! -s err ]
}

@test "one write(2) per event, each a whole event" {
	strace -o /dev/null true 2> /dev/null || skip "strace cannot trace here"
	for c in usage-on error-mid-stream native; do
		read -ra args < "$SSE_FIXTURES/$c.args"
		strace -s 1000000 -e trace=write -e signal=none -o trace \
		    gb-sse "${args[@]}" < "$SSE_FIXTURES/$c.in" > out 2> /dev/null ||
		    true
		# write(1, "data: ...", n) = n: as many as events, each whole
		grep '^write(1, ' trace > writes
		[ "$(wc -l < writes)" -eq "$(grep -c '^data: ' out)" ]
		run -1 grep -Ev '^write\(1, "data: .*(\\n\\n|\\r\\n\\r\\n)", ([0-9]+)\) += \2$' \
		    writes
	done
}

@test "a large image goes out whole, in a delta and a write of its own" {
	# 384 KiB of image bytes (512 KiB of base64) between two texts, all
	# in one upstream event, then a text in the next
	python3 -c '
import base64, json, os
img = os.urandom(384 * 1024)
open("img.bin", "wb").write(img)
b64 = base64.b64encode(img).decode()
def ev(parts, fin=None):
    c = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if fin:
        c["finishReason"] = fin
    return "data: " + json.dumps({"candidates": [c]}) + "\r\n\r\n"
open("in", "w").write(ev([{"text": "Before."},
    {"inlineData": {"mimeType": "image/jpeg", "data": b64}},
    {"text": "After."}]) + ev([{"text": " End."}], "STOP"))
'
	# (LeakSanitizer cannot run under ptrace: leaks are left to the
	# untraced tests)
	strace -o /dev/null true 2> /dev/null && trace=(env
	    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" strace -s 0
	    -e trace=write -e signal=none -o trace) || trace=()
	run -0 --separate-stderr "${trace[@]}" gb-sse -m m < in
	printf '%s\n' "$output" > out
	run -0 python3 -c '
import base64, json
want = "data:image/jpeg;base64," + base64.b64encode(
    open("img.bin", "rb").read()).decode()
deltas = [json.loads(b[6:])["choices"][0]["delta"]
          for b in open("out").read().split("\n\n") if b.startswith("data: {")]
print(json.dumps([d.get("content", "")[:9] + "|" + str(len(d.get("images", [])))
                  for d in deltas]))
img = [d for d in deltas if "images" in d]
assert len(img) == 1
assert img[0]["images"] == [{"type": "image_url", "image_url": {"url": want}}]
assert img[0]["content"] == "\n\n![image](" + want + ")\n\n"
url = img[0]["images"][0]["image_url"]["url"]
assert base64.b64decode(url.split(",", 1)[1]) == open("img.bin", "rb").read()
'
	# role, Before., the image, After., End., the finish
	assert_output '["|0", "Before.|0", "\n\n![image|1", "After.|0", " End.|0", "|0"]'
	if [ ${#trace[@]} -gt 0 ]; then
		# one write(2) per event, the image's among them
		[ "$(grep -c '^write(1, ' trace)" -eq "$(grep -c '^data: ' out)" ]
		grep -Eq '^write\(1, .*, ([5-9][0-9]{5}|[0-9]{7,})\) += ' trace
	fi
}

@test "-g re-emits each event as soon as it is complete" {
	mkfifo up down
	gb-sse -g < up > down 2> err &
	pid=$!
	exec 7> up 8< down
	gem 'one' >&7
	IFS= read -r -t 10 line <&8
	[ "$line" = $'data: {"candidates":[{"content":{"parts":[{"text":"one"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash"}\r' ]
	IFS= read -r -t 10 line <&8
	[ "$line" = $'\r' ]
	gem 'two' STOP >&7
	IFS= read -r -t 10 line <&8
	[ "$line" = $'data: {"candidates":[{"content":{"parts":[{"text":"two"}],"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.0-flash"}\r' ]
	exec 7>&-
	wait "$pid"
	exec 8<&-
}

@test "-k: a silent upstream gets keep-alive comments between events" {
	mkfifo up down
	gb-sse -m m -k 1 < up > down 2> err &
	pid=$!
	exec 7> up 8< down
	gem 'one' >&7
	read_event 8
	read_event 8
	[ "$event" = "$(want_text one)" ]
	# stay silent for longer than the interval: a comment must come
	IFS= read -r -t 10 line <&8
	[ "$line" = ": keep-alive" ]
	IFS= read -r -t 10 line <&8
	[ "$line" = "" ]
	gem 'two' STOP >&7
	exec 7>&-
	# the rest: maybe more keep-alives, then the text, finish, [DONE]
	rest=$(cat <&8)
	exec 8<&-
	wait "$pid"
	printf '%s\n' "$rest" | sse_normalise | grep -v '^: keep-alive$' |
	    grep -v '^$' > got
	printf '%s\n' "$(want_text two)" "$want_stop" "data: [DONE]" > want
	cmp got want
}

@test "an event over the 16 MiB cap is an error event and exit 111" {
	python3 -c '
import sys
sys.stdout.write("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"ok\"}]},\"index\": 0}]}\r\n\r\n")
sys.stdout.write("data: \"" + "x" * (16 << 20) + "\"\r\n\r\n")' > big.in
	run -111 --separate-stderr gb-sse -m m < big.in
	[ "$stderr" = "gb-sse: upstream event larger than 16777216 bytes" ]
	[ "$(printf '%s\n' "$output" | sse_normalise)" = "$want_role

$(want_text ok)

data: {\"error\":{\"message\":\"upstream event larger than 16777216 bytes\",\"type\":\"server_error\",\"param\":null,\"code\":null}}

data: [DONE]" ]
}

@test "a 100 MiB stream passes in bounded memory" {
	[ -z "${GB_VALGRIND:-}" ] || skip "memory is measured without valgrind"
	local mib=100 limit=16384
	if [ "${SANITIZE:-}" = 1 ]; then
		# ASan's shadow memory says nothing about ours; keep it short
		mib=20 limit=
	fi
	run -0 python3 "$BATS_TEST_DIRNAME/lib/sse-flood.py" "$mib" 4000 -- \
	    gb-sse -u -m gemini-2.0-flash
	echo "$output"
	[[ $output =~ status=0 ]]
	[[ $output =~ maxrss_kib=([0-9]+) ]]
	rss=${BASH_REMATCH[1]}
	[ -z "$limit" ] || [ "$rss" -lt "$limit" ]
	[[ $output =~ in=([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -gt $((mib << 20)) ]
}

@test "a write error on stdout is exit 111" {
	run -111 --separate-stderr sh -c 'gb-sse < "$1" > /dev/full' sh \
	    "$SSE_FIXTURES/text.in"
	[ "$stderr" = "gb-sse: write error: No space left on device" ]
}

@test "a reader that goes away is exit 111, not a signal" {
	mkfifo up down
	gb-sse -m m < up > down 2> err &
	pid=$!
	exec 7> up 8< down
	gem 'one' >&7
	read_event 8
	exec 8<&-
	# gb-sse fails at its next write (of "one", or of what it makes of
	# these) and exits, so these writes may find nobody reading
	( gem 'two' >&7; gem 'three' STOP >&7 ) 2> /dev/null || true
	exec 7>&-
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 111 ]
	[ "$(cat err)" = "gb-sse: write error: Broken pipe" ]
}

@test "usage errors are exit 100" {
	run -100 --separate-stderr gb-sse -x
	[ "${stderr##*$'\n'}" = "usage: gb-sse [-gu] [-k seconds] [-m model] [-o chat | gemini | responses | anthropic]" ]
	run -100 --separate-stderr gb-sse extra
	[ "$stderr" = "usage: gb-sse [-gu] [-k seconds] [-m model] [-o chat | gemini | responses | anthropic]" ]
	run -100 --separate-stderr gb-sse -k 0
	[ "$stderr" = "gb-sse: keep-alive interval too small: 0" ]
	run -100 --separate-stderr gb-sse -k soon
	[ "$stderr" = "gb-sse: keep-alive interval invalid: soon" ]
	run -100 --separate-stderr gb-sse -m ''
	[ "$stderr" = "gb-sse: empty model name" ]
	SHOW_THINKING_PROCESS=perhaps run -100 --separate-stderr gb-sse < /dev/null
	[[ $stderr == gb-sse:*SHOW_THINKING_PROCESS* ]]
	[ -z "$output" ]
}

@test "the man page example works" {
	# the first display of EXAMPLES, with mdoc's \e turned back into \
	awk '/^\.Sh EXAMPLES/ { e = 1 } e && /^\.Bd/ { b = 1; next }
	    b && /^\.Ed/ { exit } b { print }' \
	    "$BATS_TEST_DIRNAME/../man/gb-sse.1" | sed 's/\\e/\\/g' > example.sh
	run -0 --separate-stderr sh example.sh
	[ "$(printf '%s\n' "$output" | sse_normalise)" = 'data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"gemini-2.0-flash","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]' ]
}

@test "valgrind: no leaks or errors on success, error and native paths" {
	[ "${SANITIZE:-}" = 1 ] && skip "the sanitizer build checks memory itself"
	local c
	for c in tool-calls-two-chunks search error-mid-stream cut-mid-event \
	    native image-two-in-one-event image-thought image-bad-data \
	    responses-image; do
		read -ra args < "$SSE_FIXTURES/$c.args"
		run valgrind -q --leak-check=full --errors-for-leak-kinds=all \
		    --error-exitcode=86 gb-sse "${args[@]}" < "$SSE_FIXTURES/$c.in"
		[ "$status" -ne 86 ] || { echo "$c: $output"; false; }
	done
}

@test "a reader gone while the input is silent ends gb-sse at once" {
	mkfifo in
	exec 4<>in	# a writer that never writes
	# `true` reads nothing and exits: without watching stdout, gb-sse
	# would wait for input that never comes (timeout: 124)
	run -0 timeout 5 bash -c 'gb-sse -m m < in 2>err | true; echo "${PIPESTATUS[0]}"'
	exec 4>&-
	assert_output 111
	run -0 cat err
	assert_output 'gb-sse: write error: Broken pipe'
}
