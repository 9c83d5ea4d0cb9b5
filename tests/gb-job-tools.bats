#!/usr/bin/env bats
# gb-convert and gb-sse as jobs (lib/job.h): many runs in one process,
# several at once in threads, each exactly as the tool alone, nothing
# leaked (tests/lib/jobdrive.c runs them; the cases are made here by
# running the standalone tools).

load test_helper
load lib/sse

C=$FIXTURES/convert
S=$FIXTURES/sse

# The tools' objects with main renamed, and the driver, built against
# the libgb.a beside GB_BIN (with the sanitizers when it has them).
build_driver() {
	local src=$BATS_TEST_DIRNAME/.. lib flags
	lib=$(dirname "$GB_BIN")/libgb.a
	[ -f "$lib" ] || return 1
	flags="-std=c11 -D_GNU_SOURCE -I$src/lib -O1 -g -Wall -Wextra
	    -Wno-missing-prototypes
	    $(pkg-config --cflags libcurl jansson libsystemd)"
	if nm "$lib" 2>/dev/null | grep -q ' U __asan_'; then
		flags+=" -fsanitize=address,undefined -fno-omit-frame-pointer"
		flags+=" -fno-sanitize-recover=undefined"
		echo 1 > "$JOBDIR/sanitized"
	fi
	# shellcheck disable=SC2086
	cc $flags -Dmain=gb_main_gb_convert -c -o "$JOBDIR/gb-convert.o" \
	    "$src/bin/gb-convert.c" &&
	cc $flags -Dmain=gb_main_gb_sse -c -o "$JOBDIR/gb-sse.o" \
	    "$src/bin/gb-sse.c" &&
	cc $flags -o "$JOBDIR/jobdrive" "$src/tests/lib/jobdrive.c" \
	    "$JOBDIR/gb-convert.o" "$JOBDIR/gb-sse.o" "$lib" \
	    $(pkg-config --libs libcurl jansson libsystemd) -lpthread
}

# mkcase DIR NAME INPUT OUTPATH WORDS...: a case for jobdrive from a run
# of the tool alone (descriptor 3 its -I channel, 4-9 closed); OUTPATH,
# if not empty, is opened as its stdout instead of a file.
mkcase() {
	local dir=$1 name=$2 input=$3 outpath=$4 p st=0
	shift 4
	p=$dir/$name
	printf '%s\n' "$*" > "$p.args"
	cp "$input" "$p.in"
	[ -z "$outpath" ] || echo "$outpath" > "$p.stdout"
	"$@" < "$p.in" > "${outpath:-$p.raw}" 2> "$p.err" 3> "$p.meta" \
	    4>&- 5>&- 6>&- 7>&- 8>&- 9>&- || st=$?
	touch "$p.raw"
	sse_normalise < "$p.raw" > "$p.out"
	echo "$st" > "$p.status"
}

# mkfix DIR NAME FIXTURE-DIR FIXTURE TOOL MODE... [-- EXTRA...]: a case
# from a fixture's input and options.
mkfix() {
	local dir=$1 name=$2 fdir=$3 fix=$4 args=()
	shift 4
	if [ -f "$fdir/$fix.args" ]; then
		read -ra args < "$fdir/$fix.args"
	fi
	mkcase "$dir" "$name" "$fdir/$fix.in" "" "$@" "${args[@]}"
}

setup_file() {
	JOBDIR=$BATS_FILE_TMPDIR/job
	export JOBDIR
	mkdir -p "$JOBDIR/convert" "$JOBDIR/sse"
	cd "$BATS_FILE_TMPDIR" || return 1
	build_driver || return 0

	local d=$JOBDIR/convert cr=$C/chat-request
	printf '{"model": "m", "messages": [' > "$JOBDIR/bad.json"
	printf '{"data": [] } {"x"' > "$JOBDIR/badseq.json"
	: > "$JOBDIR/empty"
	mkfix "$d" cr-tools "$cr" assistant-text-then-two-tool-calls \
	    gb-convert chat-request
	mkfix "$d" cr-meta "$cr" stream-meta-include-usage \
	    gb-convert chat-request -I 3
	mkfix "$d" cr-image "$cr" image-data-url-png-inline-data \
	    gb-convert chat-request -I 3
	mkfix "$d" cr-b64 "$cr" data-url-bad-base64-error \
	    gb-convert chat-request -I 3
	mkcase "$d" cr-badjson "$JOBDIR/bad.json" "" gb-convert chat-request
	mkcase "$d" cr-nojson "$JOBDIR/empty" "" gb-convert chat-request -I 3
	mkcase "$d" cr-badopt "$JOBDIR/empty" "" gb-convert chat-request -x
	mkcase "$d" cr-noarg "$JOBDIR/empty" "" gb-convert chat-request -I
	mkcase "$d" cr-nomode "$JOBDIR/empty" "" gb-convert
	mkcase "$d" cr-badmode "$JOBDIR/empty" "" gb-convert bogus
	mkcase "$d" cr-operand "$JOBDIR/empty" "" gb-convert models x
	mkcase "$d" cr-help "$JOBDIR/empty" "" gb-convert --help
	mkcase "$d" cr-need-m "$JOBDIR/empty" "" gb-convert chat-response
	mkfix "$d" cr-fd5 "$cr" user-string-one-text-part \
	    gb-convert chat-request -I 5
	mkfix "$d" cr-fd99 "$cr" user-string-one-text-part \
	    gb-convert chat-request -I 99
	mkfix "$d" cr-fdword "$cr" user-string-one-text-part \
	    gb-convert chat-request -I three
	mkcase "$d" cr-full "$cr/user-string-one-text-part.in" /dev/full \
	    gb-convert chat-request -I 3
	mkfix "$d" rsp-tools "$C/chat-response" \
	    finish-stop-with-function-call-to-tool-calls gb-convert chat-response
	mkfix "$d" rsp-code "$C/chat-response" \
	    code-execution-rendered-as-original gb-convert chat-response
	mkfix "$d" rsp-bad "$C/chat-response" candidates-not-array-error \
	    gb-convert chat-response
	mkfix "$d" er-batches "$C/embed-request" \
	    250-inputs-batches-of-100-100-50 gb-convert embed-request -I 3
	mkfix "$d" er-bad "$C/embed-request" token-array-error \
	    gb-convert embed-request -I 3
	mkfix "$d" es-b64 "$C/embed-response" base64-little-endian-float32 \
	    gb-convert embed-response
	mkcase "$d" es-badseq "$JOBDIR/badseq.json" "" \
	    gb-convert embed-response -m m
	mkcase "$d" es-none "$JOBDIR/empty" "" gb-convert embed-response -m m
	mkfix "$d" models "$C/models" \
	    list-ids-without-prefix-search-variant-after gb-convert models
	mkfix "$d" models-one "$C/models" one-model-by-id gb-convert models
	mkfix "$d" error "$C/error" api-key-invalid-becomes-401 \
	    gb-convert error -I 3

	d=$JOBDIR/sse
	local c
	for c in text usage-on blocked-prompt code-execution tool-calls-two-chunks \
	    error-mid-stream cut-mid-event last-event-unterminated empty \
	    not-json native native-cut search; do
		mkfix "$d" "$c" "$S" "$c" gb-sse
	done
	mkcase "$d" badopt "$JOBDIR/empty" "" gb-sse -x
	mkcase "$d" noarg "$JOBDIR/empty" "" gb-sse -m
	mkcase "$d" operand "$JOBDIR/empty" "" gb-sse extra
	mkcase "$d" k0 "$JOBDIR/empty" "" gb-sse -k 0
	mkcase "$d" ksoon "$JOBDIR/empty" "" gb-sse -k soon
	mkcase "$d" full "$S/text.in" /dev/full gb-sse -m m
}

setup() {
	[ -x "$JOBDIR/jobdrive" ] ||
	    skip "no libgb.a beside $GB_BIN to build tests/lib/jobdrive.c"
}

# The case prefixes under DIR.
cases() {
	local f
	for f in "$1"/*.args; do
		echo "${f%.args}"
	done
}

# Under valgrind, unless the driver has the sanitizers built in (they
# check leaks at exit themselves).
valgrind_or_skip() {
	[ ! -f "$JOBDIR/sanitized" ] || skip "sanitizer build"
	command -v valgrind > /dev/null || skip "no valgrind"
}

@test "the cases are what the tools alone make of them" {
	# a sample, so that a broken case set cannot pass unseen
	local d=$JOBDIR/convert
	[ "$(cat "$d/cr-tools.status" "$d/cr-meta.status" \
	    "$d/cr-badjson.status" "$d/cr-fd5.status" "$d/cr-full.status" \
	    "$d/er-batches.status")" = $'0\n0\n100\n100\n111\n0' ]
	[ "$(cat "$d/cr-fd5.err")" = \
	    "gb-convert: -I: not an open file descriptor" ]
	[ "$(cat "$d/cr-full.err")" = \
	    "gb-convert: stdout: No space left on device" ]
	[ "$(cat "$d/cr-badopt.err")" = "chat-request: invalid option -- 'x'
$(cat "$d/cr-nomode.err")" ]
	[[ $(cat "$d/cr-meta.meta") == '{"model":'*'"include_usage":true'* ]]
	[ "$(wc -l < "$d/er-batches.out")" -eq 3 ]
	[[ $(cat "$d/rsp-tools.out") == *'"id":"chatcmpl-ID"'* ]]
	d=$JOBDIR/sse
	[ "$(cat "$d/text.status" "$d/error-mid-stream.status" \
	    "$d/full.status" "$d/k0.status")" = $'0\n111\n111\n100' ]
	[ "$(cat "$d/full.err")" = \
	    "gb-sse: write error: No space left on device" ]
	[ "$(tail -n 2 "$d/text.out")" = 'data: [DONE]' ]
}

@test "the driver notices a run that differs from the tool alone" {
	cp "$JOBDIR"/convert/cr-tools.* .
	echo '{}' > cr-tools.out
	run -1 --separate-stderr "$JOBDIR/jobdrive" -n 3 "$PWD/cr-tools"
	[ "$output" = "" ]
	[[ $stderr == *"cr-tools: thread 0 run 0: stdout differs"* ]]
	cp "$JOBDIR"/convert/cr-tools.out .
	echo 100 > cr-tools.status
	run -1 --separate-stderr "$JOBDIR/jobdrive" -n 3 "$PWD/cr-tools"
	[[ $stderr == *"cr-tools: thread 0 run 0: status 0, want 100"* ]]
}

@test "gb-convert: 1000 jobs in one process, each as the tool alone" {
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 1000 \
	    $(cases "$JOBDIR/convert")
	[ "$output" = "1000 runs ok" ]
	[ "$stderr" = "" ]
}

@test "gb-convert: 8 threads of 1000 jobs at once" {
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 1000 -t 8 \
	    $(cases "$JOBDIR/convert")
	[ "$output" = "8000 runs ok" ]
	[ "$stderr" = "" ]
}

@test "gb-sse: 1000 jobs in one process, each as the tool alone" {
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 1000 \
	    $(cases "$JOBDIR/sse")
	[ "$output" = "1000 runs ok" ]
	[ "$stderr" = "" ]
}

@test "gb-sse: 8 threads of 1000 jobs at once" {
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 1000 -t 8 \
	    $(cases "$JOBDIR/sse")
	[ "$output" = "8000 runs ok" ]
	[ "$stderr" = "" ]
}

@test "both tools mixed in 8 threads" {
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 500 -t 8 \
	    $(cases "$JOBDIR/convert") $(cases "$JOBDIR/sse")
	[ "$output" = "4000 runs ok" ]
	[ "$stderr" = "" ]
}

@test "a bad configuration fails each job as it fails the tool" {
	export MAX_BODY=12
	mkcase . conv "$C/chat-request/user-string-one-text-part.in" "" \
	    gb-convert chat-request -I 3
	mkcase . sse "$S/text.in" "" gb-sse -m m
	[ "$(cat conv.status sse.status)" = $'100\n100' ]
	[[ $(cat conv.err) == "gb-convert: MAX_BODY"* ]]
	[[ $(cat sse.err) == "gb-sse: MAX_BODY"* ]]
	run -0 --separate-stderr "$JOBDIR/jobdrive" -n 200 -t 4 \
	    "$PWD/conv" "$PWD/sse"
	[ "$output" = "800 runs ok" ]
	[ "$stderr" = "" ]
}

@test "gb-convert jobs leak nothing, error paths included (valgrind)" {
	valgrind_or_skip
	local all
	all=$(cases "$JOBDIR/convert" | wc -l)
	run -0 --separate-stderr valgrind -q --leak-check=full \
	    --error-exitcode=99 "$JOBDIR/jobdrive" -n "$all" -t 2 \
	    $(cases "$JOBDIR/convert")
	[ "$output" = "$((all * 2)) runs ok" ]
	[ "$stderr" = "" ]
}

@test "gb-sse jobs leak nothing, error paths included (valgrind)" {
	valgrind_or_skip
	local all
	all=$(cases "$JOBDIR/sse" | wc -l)
	run -0 --separate-stderr valgrind -q --leak-check=full \
	    --error-exitcode=99 "$JOBDIR/jobdrive" -n "$all" -t 2 \
	    $(cases "$JOBDIR/sse")
	[ "$output" = "$((all * 2)) runs ok" ]
	[ "$stderr" = "" ]
}

@test "jobs with a bad configuration leak nothing (valgrind)" {
	valgrind_or_skip
	export MAX_BODY=12
	mkcase . conv "$C/chat-request/user-string-one-text-part.in" "" \
	    gb-convert chat-request -I 3
	mkcase . sse "$S/text.in" "" gb-sse -m m
	run -0 --separate-stderr valgrind -q --leak-check=full \
	    --error-exitcode=99 "$JOBDIR/jobdrive" -n 4 "$PWD/conv" "$PWD/sse"
	[ "$output" = "4 runs ok" ]
	[ "$stderr" = "" ]
}

@test "no writable static state in the tools" {
	# read-only tables only: the modes table (relocated, so "d")
	run -0 nm "$JOBDIR/gb-convert.o" "$JOBDIR/gb-sse.o"
	local w
	w=$(printf '%s\n' "$output" | grep -E ' [bBdD] ' | awk '{print $3}')
	[ "$w" = "modes" ]
}
