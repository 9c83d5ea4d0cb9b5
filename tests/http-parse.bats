#!/usr/bin/env bats
# lib/httpmsg.c, the HTTP/1.1 parser and writer over buffers that
# gb-serve's event loop feeds: every acceptance rule of the head, bodies
# (Content-Length, chunked) split at every point, pipelined requests and
# the answers' framing, HEAD included (tests/lib/httpcheck.c, built here
# against the libgb.a beside GB_BIN).

bats_require_minimum_version 1.5.0
load test_helper

setup_file() {
	local src=$BATS_TEST_DIRNAME/.. lib flags
	lib=$(dirname "$GB_BIN")/libgb.a
	export HTTPCHECK=$BATS_FILE_TMPDIR/httpcheck
	[ -f "$lib" ] || return 0
	flags="-std=c11 -D_GNU_SOURCE -I$src/lib -O1 -g -Wall -Wextra"
	# with the sanitizers when the library has them
	if nm "$lib" 2>/dev/null | grep -q ' U __asan_'; then
		flags+=" -fsanitize=address,undefined -fno-omit-frame-pointer"
		flags+=" -fno-sanitize-recover=undefined"
	fi
	# shellcheck disable=SC2086
	cc $flags -o "$HTTPCHECK" "$src/tests/lib/httpcheck.c" "$lib"
}

httpcheck() {
	[ -x "$HTTPCHECK" ] ||
	    skip "no libgb.a beside $GB_BIN to build tests/lib/httpcheck.c"
	run -0 --separate-stderr "$HTTPCHECK" "$1"
	assert_output --regexp '^[0-9]+ checks ok$'
	[ -z "$stderr" ]
}

@test "heads: every acceptance rule, at once, byte by byte, split anywhere" {
	httpcheck head
}

@test "bodies: Content-Length and chunked, split at every byte" {
	httpcheck body
}

@test "pipelined requests on one connection, however they arrive" {
	httpcheck pipeline
}

@test "answers: today's bytes, keep-alive, streams, HEAD without a body" {
	httpcheck format
}

@test "httpcheck refuses a wrong usage" {
	[ -x "$HTTPCHECK" ] || skip "no httpcheck"
	run -2 --separate-stderr "$HTTPCHECK" nothing
	[ "$stderr" = "usage: httpcheck head|body|pipeline|format" ]
}
