#!/usr/bin/env bats
# The hardening of the units as systemd rates it: `systemd-analyze
# security --offline=yes` on each service (the built tools in place of
# /usr/local/bin) must report an overall exposure of 2.0 or lower, "OK".

bats_require_minimum_version 1.5.0
load test_helper

UNITS=$BATS_TEST_DIRNAME/../systemd

# exposure UNIT: the overall exposure figure and its verdict, e.g. "1.4 OK"
exposure() {
	local u=$1 f
	mkdir -p units
	for f in "$UNITS"/*; do
		sed "s|/usr/local/bin/|$GB_BIN/|g" "$f" > "units/${f##*/}"
	done
	(cd units && systemd-analyze security --offline=yes --no-pager "./$u" 2>/dev/null) |
	    sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p'
}

need_offline() {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	systemd-analyze security --help 2>/dev/null | grep -q -- --offline ||
	    skip "systemd-analyze security has no --offline"
}

# assert_exposure UNIT: 2.0 or lower, OK
assert_exposure() {
	run -0 exposure "$1"
	[[ $output =~ ^([0-9]+\.[0-9])\ OK$ ]] || { echo "$1: '$output'"; return 1; }
	awk -v e="${BASH_REMATCH[1]}" 'BEGIN { exit !(e <= 2.0) }' ||
	    { echo "$1: exposure $output"; return 1; }
}

@test "gb-serve.service: exposure 2.0 or lower" {
	need_offline
	assert_exposure gb-serve.service
}

@test "gb-serve-inetd@.service and gb-keys-check.service: exposure 2.0 or lower" {
	need_offline
	assert_exposure gb-serve-inetd@.service
	assert_exposure gb-keys-check.service
}

@test "the figure is read from systemd-analyze (a weakened unit fails)" {
	need_offline
	mkdir -p weak
	grep -v -e '^Protect' -e '^Restrict' -e '^SystemCall' -e '^Capability' \
	    -e '^Private' -e '^DynamicUser' -e '^User=' "$UNITS/gb-serve.service" |
	    sed "s|/usr/local/bin/|$GB_BIN/|g" > weak/gb-serve.service
	run -0 bash -c 'cd weak && systemd-analyze security --offline=yes --no-pager ./gb-serve.service 2>/dev/null | sed -n "s/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p"'
	awk -v e="$output" 'BEGIN { exit !(e > 2.0) }'
}
