#!/usr/bin/env bats
# gb-convert image-request, image-edit-request and image-response
# (gb-convert(1), Images):
# golden fixtures under tests/fixtures/image/<mode>/<case>.in with the
# roles of tests/lib/convert.bash (.args, .env, .out, .meta, .err,
# .status); image-response's creation time is checked for its shape and
# then compared as 0. Also: the CLI's usage of the modes, and a run under
# valgrind when it is there.

bats_require_minimum_version 1.5.0
load test_helper
load lib/convert

IMAGE_FIXTURES=$FIXTURES/image

# check_image MODE CASE: one fixture (image-response's time made 0);
# every difference is shown, and any makes it fail (it runs inside an
# "if", where a failing command alone would not)
check_image() {
	local CONVERT_FIXTURES=$IMAGE_FIXTURES
	local dir=$IMAGE_FIXTURES/$1 name=$2 want=0 bad=0
	convert_fixture "$1" "$2"
	if [ "$1" = image-response ] && [ -s out ]; then
		jq -c 'if (.created|type) == "number" and
		    .created > 1700000000 then .created = 0 else . end' \
		    out > out.norm && mv out.norm out
	fi
	[ -f "$dir/$name.status" ] && want=$(cat "$dir/$name.status")
	if [ "$CONVERT_RC" != "$want" ]; then
		echo "exit status $CONVERT_RC, want $want"
		bad=1
	fi
	if [ -f "$dir/$name.out" ]; then
		diff -u "$dir/$name.out" out || bad=1
	else
		diff -u /dev/null out || bad=1
	fi
	if [ -f "$dir/$name.err" ]; then
		diff -u "$dir/$name.err" err || bad=1
	else
		diff -u /dev/null err || bad=1
	fi
	if [ -f "$dir/$name.meta" ]; then
		diff -u "$dir/$name.meta" meta || bad=1
	fi
	return "$bad"
}

@test "every image fixture" {
	local f mode name failed=0
	cd "$BATS_TEST_TMPDIR"
	for f in "$IMAGE_FIXTURES"/*/*.in; do
		mode=$(basename "$(dirname "$f")")
		name=$(basename "$f" .in)
		if ! check_image "$mode" "$name"; then
			echo "FAILED: $mode/$name"
			failed=1
		fi
	done
	[ "$failed" = 0 ]
}

@test "image-request writes one body per upstream call, nothing on a bad request" {
	cd "$BATS_TEST_TMPDIR"
	run -0 --separate-stderr gb-convert image-request <<<'{"prompt":"p","model":"gemini-2.5-flash-image","n":8}'
	[ "${#lines[@]}" = 8 ]
	run -100 --separate-stderr gb-convert image-request <<<'{"prompt":"p","n":9}'
	assert_output ''
	[ "$stderr" = "gb-convert: n: expected an integer from 1 to 8" ]
}

@test "image modes take no -m; image-response none of -I" {
	run -100 --separate-stderr gb-convert image-response -m x </dev/null
	[[ ${stderr_lines[0]} == usage:* ]]
	run -100 --separate-stderr gb-convert image-response -I 4 </dev/null
	[[ ${stderr_lines[0]} == usage:* ]]
}

@test "a bad IMAGE_MODEL is an error naming the variable" {
	cd "$BATS_TEST_TMPDIR"
	IMAGE_MODEL='a/b' run -100 --separate-stderr gb-convert image-request <<<'{"prompt":"p"}'
	[ "$stderr" = 'gb-convert: IMAGE_MODEL: "a/b" is not a model name' ]
}

@test "image-response writes to a full stdout: exit 111" {
	cd "$BATS_TEST_TMPDIR"
	run -111 --separate-stderr bash -c 'gb-convert image-response \
	    < "$1" > /dev/full' - \
	    "$IMAGE_FIXTURES/image-response/imagen-two-predictions.in"
	[[ $stderr == "gb-convert: stdout: "* ]]
}
