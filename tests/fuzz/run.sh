#!/bin/sh
# tests/fuzz/run.sh SECONDS FUZZER...: replay each harness's committed
# corpus and regression inputs, then fuzz it for SECONDS from a scratch
# copy of the corpus (the committed corpus is never rewritten). A crash
# leaves its input in build-fuzz/crashes/<harness>/ and fails the run;
# commit such inputs under tests/fuzz/regress/<harness>/ once fixed.
set -u
secs=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
status=0
for f in "$@"; do
	name=${f##*/}
	name=${name#fuzz_}
	corpus=$top/tests/fuzz/corpus/$name
	regress=$top/tests/fuzz/regress/$name
	work=$top/build-fuzz/work/$name
	crashes=$top/build-fuzz/crashes/$name
	rm -rf "$work"
	mkdir -p "$work" "$crashes" "$corpus"
	[ -d "$regress" ] && ls "$regress"/* >/dev/null 2>&1 &&
		{ "$f" -runs=0 "$regress"/* >/dev/null 2>&1 ||
		  { echo "fuzz $name: a regression input fails again"; status=1; }; }
	cp -r "$corpus"/. "$work"/ 2>/dev/null
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -artifact_prefix="$crashes/" -print_final_stats=1 \
	    "$work" "$corpus" > "$top/build-fuzz/$name.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$top/build-fuzz/$name.log")
		echo "fuzz $name: ${runs:-?} runs in ${secs}s, no crash"
	else
		echo "fuzz $name: FAILED (see build-fuzz/$name.log, input in $crashes)"
		tail -30 "$top/build-fuzz/$name.log"
		status=1
	fi
done
exit $status
