#!/usr/bin/env bats
# gb_convert_run() as a host calls it: on a job's whole input in memory,
# several runs at once on threads (tests/lib/convert-run.c). For every
# golden fixture it must print exactly what gb-convert prints, which
# reads its stdin as it parses: stdout, stderr, the -I line, the exit
# status.

bats_require_minimum_version 1.5.0

load test_helper
load lib/convert

# The driver, built against the libgb.a beside GB_BIN (with the
# sanitizers when it has them).
setup_file() {
	RUNNER=$BATS_FILE_TMPDIR/convert-run
	export RUNNER
	build_driver convert-run tests/lib/convert-run.c || true
}

@test "gb_convert_run on whole inputs, 3 threads at once, prints what gb-convert prints for every fixture" {
	[ -x "$RUNNER" ] || skip "no libgb.a beside $GB_BIN"
	# the driver itself does not run under valgrind: there this would
	# only run gb-convert on every fixture again
	[ -z "${GB_VALGRIND:-}" ] ||
	    skip "gb-convert is run on every fixture by gb-convert-fixtures.bats"
	local f mode name dir args st n=0 fails=0
	for f in "$CONVERT_FIXTURES"/*/*.in; do
		name=${f##*/}
		name=${name%.in}
		dir=${f%/*}
		mode=${dir##*/}
		convert_fixture "$mode" "$name"
		args=()
		[ -f "$dir/$name.args" ] && read -ra args < "$dir/$name.args"
		[ -f "$dir/$name.meta" ] && args+=(-I 4)
		st=0
		"$RUNNER" -t 3 -n 4 "$mode" "${args[@]}" < "$f" > out2 \
		    2> err2 4> meta2 || st=$?
		convert_norm_file "$mode" out2
		n=$((n + 1))
		if [ "$st" != "$CONVERT_RC" ] || ! cmp -s out out2 ||
		    ! cmp -s err err2 || ! cmp -s meta meta2; then
			echo "$mode/$name: status $st, gb-convert $CONVERT_RC"
			diff -u out out2
			diff -u err err2
			diff -u meta meta2
			fails=$((fails + 1))
		fi
	done
	[ "$n" -ge 200 ]
	[ "$fails" -eq 0 ]
}

@test "gb_convert_run: an input over MAX_BODY, in memory, is the same error" {
	[ -x "$RUNNER" ] || skip "no libgb.a beside $GB_BIN"
	echo 'MAX_BODY=1024' > .env
	printf '{"model":"m","messages":[],"x":"%02000d"}' 0 > big.json
	run -100 --separate-stderr "$RUNNER" chat-request < big.json
	[ "$stderr" = "gb-convert: stdin: more than 1024 bytes (MAX_BODY)" ]
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert chat-request < big.json
	[ "$stderr" = "gb-convert: stdin: more than 1024 bytes (MAX_BODY)" ]
	run -100 --separate-stderr "$RUNNER" models < big.json
	[ "$stderr" = "gb-convert: stdin: more than 1024 bytes (MAX_BODY)" ]
}
