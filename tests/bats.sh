#!/bin/bash
# tests/bats.sh ARGS...: run bats (TAP output), then print one summary
# line, "bats: N passed, N failed, N skipped", and exit with bats' status.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bats "$@" | tee "$log"
status=${PIPESTATUS[0]}
ok=$(grep -cE '^ok [0-9]+' "$log")
skip=$(grep -cE '^ok [0-9]+ .*# skip' "$log")
fail=$(grep -cE '^not ok [0-9]+' "$log")
echo "bats: $((ok - skip)) passed, $fail failed, $skip skipped"
exit "$status"
