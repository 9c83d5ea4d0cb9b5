#!/usr/bin/env bats
# gb-keys: the key rotation state on disk (gb-keys(1), gb-keys(5)).

bats_require_minimum_version 1.5.0
load test_helper
load lib/keys
load lib/proxy

K1=$(gbk_key 1)
K2=$(gbk_key 2)
K3=$(gbk_key 3)
M1='AIzaSy…0001'
M2='AIzaSy…0002'
M3='AIzaSy…0003'

USAGE='usage: gb-keys [-w seconds] [-m model] next
       gb-keys [-w seconds] ok key
       gb-keys [-w seconds] fail key [status [reason]]
       gb-keys [-w seconds] [-m model] cool key [seconds | day]
       gb-keys [-w seconds] list [--json]
       gb-keys [-w seconds] reset [key]
       gb-keys [-w seconds] check'

setup() {
	export API_KEYS="$K1,$K2,$K3"
}

teardown() {
	# (stop_pid's wait reports the TERM; that is no failure here)
	stop_pid "${GBK_HOLDER:-}" || true
	stop_pid "${GBK_UPSTREAM:-}" || true
	proxy_stop_all
	if [ -n "${GBK_SHM:-}" ]; then rm -rf "$GBK_SHM"; fi
}

# --- usage and configuration -------------------------------------------

@test "usage: no command, unknown command, extra operands" {
	run -100 --separate-stderr gb-keys
	[ "$output" = "" ]
	[ "$stderr" = "$USAGE" ]
	run -100 --separate-stderr gb-keys frobnicate
	[ "$stderr" = "$USAGE" ]
	run -100 --separate-stderr gb-keys next 1
	[ "$stderr" = "$USAGE" ]
	run -100 --separate-stderr gb-keys list --yaml
	[ "$stderr" = "$USAGE" ]
	run -100 --separate-stderr gb-keys ok
	[ "$stderr" = "$USAGE" ]
}

@test "usage: bad numbers are refused without echoing them" {
	run -100 --separate-stderr gb-keys -w soon next
	[ "$stderr" = "gb-keys: -w is invalid (allowed 0 to 3600)" ]
	run -100 --separate-stderr gb-keys cool 0 "$K1"
	[ "$stderr" = "gb-keys: seconds is invalid (allowed 0 to 604800)" ]
	run -100 --separate-stderr gb-keys fail 0 1000
	[ "$stderr" = "gb-keys: status is too large (allowed 0 to 999)" ]
	[ ! -e state/keys.state ]
}

@test "API_KEYS missing is a usage error naming it" {
	unset API_KEYS
	run -100 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: API_KEYS is not set (in the environment or .env)" ]
}

@test "API_KEYS from .env, JSON form" {
	unset API_KEYS
	printf 'API_KEYS=["%s","%s"]\n' "$K2" "$K3" > .env
	run -0 gb-keys next
	[ "$output" = "$K2" ]
}

# --- next: round robin -------------------------------------------------

@test "next: round robin in API_KEYS order, full key on stdout" {
	run -0 --separate-stderr gb-keys next
	[ "$output" = "$K1" ]
	[ "$stderr" = "" ]
	run -0 gb-keys next
	[ "$output" = "$K2" ]
	run -0 gb-keys next
	[ "$output" = "$K3" ]
	run -0 gb-keys next
	[ "$output" = "$K1" ]
	run -0 gbk_json '[.keys[].uses] | join(" ")'
	[ "$output" = "2 1 1" ]
	run -0 gbk_json .position
	[ "$output" = "1" ]
}

@test "state directory is 0700, state and lock files 0600, no key inside" {
	run -0 gb-keys next
	[ "$(stat -c %a state)" = 700 ]
	[ "$(stat -c %a state/keys.state)" = 600 ]
	[ "$(stat -c %a state/keys.lock)" = 600 ]
	! grep -rF -e "$K1" -e "$K2" -e "$K3" -e xxxxxxxxxx state
}

@test "state ids are SipHash-2-4 of the key: stable across versions" {
	# changing the hash would orphan every existing state file
	run -0 gbk_json '[.keys[].id] | join(" ")'
	[ "$output" = "aee8560046a6ce30 087b7b3d364826f1 $(gbk_json '.keys[2].id')" ]
	export API_KEYS=AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0001
	run -0 gbk_json '.keys[0].id'
	[ "$output" = 399f6aa3d03f6e91 ]
}

@test "STATE_DIRECTORY is honoured (first of a colon list)" {
	export STATE_DIRECTORY=$PWD/st1:$PWD/st2
	run -0 gb-keys next
	[ -f st1/keys.state ]
	[ ! -e st2 ]
	[ ! -e state ]
}

@test "a key repeated in API_KEYS is one key" {
	export API_KEYS="$K1,$K2,$K1"
	run -0 gbk_json '[.keys[].key] | join(" ")'
	[ "$output" = "$M1 $M2" ]
}

# --- naming keys ---------------------------------------------------------

@test "keys are named by index or masked id, with … or ..." {
	run -0 gb-keys fail 0
	run -0 gb-keys fail "$M2"
	run -0 gb-keys fail 'AIzaSy...0003'
	run -0 gbk_json '[.keys[].failures] | join(" ")'
	[ "$output" = "1 1 1" ]
}

@test "bad key names: exit 100 with a clear message" {
	run -100 --separate-stderr gb-keys ok 3
	[ "$stderr" = "gb-keys: key index 3 out of range (0 to 2)" ]
	run -100 --separate-stderr gb-keys ok 'AIzaSy...9999'
	[ "$stderr" = "gb-keys: no key matches AIzaSy…9999" ]
	run -100 --separate-stderr gb-keys ok bogus
	[ "$stderr" = "gb-keys: not a key index or masked id (like AIzaSy...fGhI)" ]
	# a "masked id" too long to be one is not echoed: it may be a key
	run -100 --separate-stderr gb-keys ok "${K1:0:20}...${K1:30}"
	[ "$stderr" = "gb-keys: not a key index or masked id (like AIzaSy...fGhI)" ]
	run -100 --separate-stderr gb-keys ok -- -1
	[ "$stderr" = "$USAGE" ]
}

@test "a full key on the command line is refused and not echoed" {
	run -100 --separate-stderr gb-keys ok "$K2"
	[ "$stderr" = "gb-keys: a full key on the command line is refused; name it by index or masked id" ]
	[ ! -e state/keys.state ]
}

@test "an ambiguous masked id is an error; the index still works" {
	export API_KEYS="$K1,$(gbk_key 1 y)"
	run -100 --separate-stderr gb-keys cool 'AIzaSy...0001' 5
	[ "$stderr" = "gb-keys: AIzaSy…0001 is ambiguous (keys 0 and 1); use the index" ]
	run -0 gb-keys cool 1 5
	run -0 gbk_json '[.keys[].state] | join(" ")'
	[ "$output" = "active cooling" ]
}

# --- the state machine ---------------------------------------------------

@test "fail x MAX_FAILURES makes a key invalid; next skips it" {
	export MAX_FAILURES=2
	run -0 gb-keys fail 1 401 UNAUTHENTICATED
	run -0 gbk_json '.keys[1] | "\(.state) \(.consecutive_failures)"'
	[ "$output" = "active 1" ]
	run -0 gb-keys fail 1 400 API_KEY_INVALID
	run -0 gbk_json '.keys[1] | "\(.state) \(.consecutive_failures) \(.last_error.status) \(.last_error.reason)"'
	[ "$output" = "invalid 2 400 API_KEY_INVALID" ]
	for want in "$K1" "$K3" "$K1" "$K3"; do
		run -0 gb-keys next
		[ "$output" = "$want" ]
	done
}

@test "ok resets the consecutive count (and revives)" {
	export MAX_FAILURES=2
	run -0 gb-keys fail 0
	run -0 gb-keys ok 0
	run -0 gb-keys fail 0
	run -0 gbk_json '.keys[0] | "\(.state) \(.consecutive_failures) \(.failures)"'
	[ "$output" = "active 1 2" ]
	run -0 gb-keys fail 0
	run -0 gbk_json '.keys[0].state'
	[ "$output" = "invalid" ]
	run -0 gb-keys ok 0
	run -0 gbk_json '.keys[0] | "\(.state) \(.consecutive_failures) \(.failures)"'
	[ "$output" = "active 0 3" ]
}

@test "a plain ok of a key in good standing writes nothing" {
	run -0 gb-keys next
	cp state/keys.state copy
	run -0 gb-keys ok 0
	cmp state/keys.state copy
	# an ok that ends a failure streak is written
	run -0 gb-keys fail 1
	cp state/keys.state copy
	run -0 gb-keys ok 1
	! cmp -s state/keys.state copy
	run -0 gbk_json '.keys[1].consecutive_failures'
	[ "$output" = "0" ]
}

@test "updates are in place: one inode, fixed-size records, no temp file" {
	run -0 gb-keys next
	a=$(stat -c %i state/keys.state)
	for i in 1 2 3 4; do
		run -0 gb-keys next
		[ "$(stat -c %i state/keys.state)" = "$a" ]
	done
	run -0 gb-keys fail 2 503 X
	run -0 gb-keys cool 1 60
	[ "$(stat -c %i state/keys.state)" = "$a" ]
	[ ! -e state/keys.state.tmp ]
	# a header and three key records of 256 bytes, each ending in a newline
	[ "$(stat -c %s state/keys.state)" = 1024 ]
	[ "$(awk '{ print length($0) }' state/keys.state | sort -u)" = 255 ]
	run -0 sed -n '1s/ *$//p' state/keys.state
	[[ $output =~ ^gbkeys\ 2\ 2\ 3\ 0\ [0-9]+\ [0-9a-f]{16}$ ]]
	run -0 gbk_json '[.keys[].uses] | add'
	[ "$output" = 5 ]
}

@test "a version 1 state file still loads, and is rewritten as version 2" {
	ids=($(STATE_DIRECTORY=ids gb-keys list --json | jq -r '.keys[].id'))
	mkdir -m 700 state
	{
		printf 'gbkeys 1 2 3\n'
		printf '%s 0 0 1 7 1 1795675518 1795675518 401 UNAUTHENTICATED\n' "${ids[0]}"
		printf '%s 1 0 3 4 3 1795675518 1795675519 403 PERMISSION_DENIED\n' "${ids[1]}"
		printf '%s 0 0 0 2 0 1795675518 0 0 \n' "${ids[2]}"
	} > state/keys.state
	run -0 gbk_json '[.keys[] | "\(.state) \(.uses) \(.failures) \(.last_error.reason)"] | join(",")'
	[ "$output" = "active 7 1 UNAUTHENTICATED,invalid 4 3 PERMISSION_DENIED,active 2 0 null" ]
	[ "$(head -c 9 state/keys.state)" = "gbkeys 1 " ]
	run -0 gb-keys next
	[ "$output" = "$K3" ]
	[ "$(head -c 9 state/keys.state)" = "gbkeys 2 " ]
	run -0 gbk_json '[.keys[] | "\(.state) \(.uses) \(.failures)"] | join(",")'
	[ "$output" = "active 7 1,invalid 4 3,active 3 0" ]
}

@test "readers never see a torn record while writers update in place" {
	export API_KEYS=$(for i in $(seq 40); do printf '%s,' "$(gbk_key "$i")"; done)
	run -0 gb-keys next
	for w in 1 2; do
		( for i in $(seq 150); do gb-keys next > /dev/null || exit 1; done ) &
		eval "w$w=\$!"
	done
	bad=0
	for i in $(seq 150); do
		gb-keys list --json 2>err | jq -e '.keys | length == 40' > /dev/null || { bad=$((bad + 1)); cat err >&2; }
	done
	wait "$w1"
	wait "$w2"
	[ "$bad" = 0 ]
	[ ! -e state/keys.state.bad ]
	run -0 gbk_json '[.keys[].uses] | add'
	[ "$output" = 301 ]
}

@test "durability: an empty file (what a power cut may leave) is recovered" {
	run -0 gb-keys next
	: > state/keys.state
	run -0 --separate-stderr gb-keys next
	[ "$output" = "$K1" ]
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (not a gb-keys state file); moved to keys.state.bad, starting afresh" ]
	run -0 --separate-stderr gb-keys list --json
	[ "$stderr" = "" ]
}

@test "cool skips the key until the deadline, then it comes back" {
	run -0 gb-keys cool 0 300
	run -0 gbk_json '.keys[0] | "\(.state) \(.last_error.status)"'
	[ "$output" = "cooling 429" ]
	for want in "$K2" "$K3" "$K2" "$K3"; do
		run -0 gb-keys next
		[ "$output" = "$want" ]
	done
	# a new, short cooldown replaces the long one
	run -0 gb-keys cool 0 1
	# poll for the deadline rather than sleeping an exact time
	for i in $(seq 100); do
		[ "$(gbk_json '.keys[0].state')" = active ] && break
		sleep 0.1
	done
	[ "$(gbk_json '.keys[0].state')" = active ]
	run -0 gb-keys next
	[ "$output" = "$K1" ]
}

@test "cool -m: the key rests for that model alone" {
	run -0 gb-keys -m gemini-2.5-pro cool 0 300
	run -0 gb-keys -m gemini-2.5-flash cool 0 60
	run -0 gbk_json '.keys[0] | "\(.state) \([.models_cooling[].model] | join(","))"'
	[ "$output" = "active gemini-2.5-pro,gemini-2.5-flash" ]
	run -0 gbk_json '.keys[0].models_cooling[0].until - .now'
	((output > 200 && output <= 300))
	# next for that model skips it; for another model, or none, it does not
	for want in "$K2" "$K3" "$K2"; do
		run -0 gb-keys -m gemini-2.5-pro next
		[ "$output" = "$want" ]
	done
	run -0 gb-keys -m gemini-2.0-flash next
	[ "$output" = "$K3" ]
	run -0 gb-keys next
	[ "$output" = "$K1" ]
	# the table shows it
	run -0 gb-keys list
	[[ ${lines[1]} =~ ^0\ +AIzaSy…0001\ +active\ +gemini-2.5-pro\ [0-9]+\ s,\ gemini-2.5-flash\ [0-9]+\ s\  ]]
	# a new cooldown of the same model replaces the old; reset clears all
	run -0 gb-keys -m gemini-2.5-pro cool 0 10
	run -0 gbk_json '.keys[0].models_cooling | map(.until) | .[0] < .[1]'
	[ "$output" = true ]
	run -0 gb-keys reset 0
	run -0 gbk_json '.keys[0].models_cooling | length'
	[ "$output" = 0 ]
	# three records: the header, keys, and the two cooldown slots (free now)
	[ "$(stat -c %s state/keys.state)" = $((256 * 6)) ]
}

@test "every key cooling for a model: no usable key for it, with the earliest return" {
	for i in 0 1 2; do run -0 gb-keys -m m1 cool "$i" $((100 + 10 * i)); done
	run -1 --separate-stderr gb-keys -m m1 next
	[[ $stderr =~ ^gb-keys:\ no\ usable\ key\ for\ m1\;\ retry\ after\ (9[0-9]|100)\ s\ \(at\ [0-9]+\)$ ]]
	run -0 gb-keys -m m2 next
	[ "$output" = "$K1" ]
	run -100 --separate-stderr gb-keys -m 'a b' next
	[ "$stderr" = "gb-keys: -m: not a model name (1 to 200 characters, no space)" ]
	run -100 --separate-stderr gb-keys -m m1 list
}

@test "cool day: until midnight Pacific time, which moves with daylight saving" {
	run -0 gb-keys -m m1 cool 1 day
	want=$(python3 -c 'import datetime, zoneinfo
z = zoneinfo.ZoneInfo("America/Los_Angeles")
d = datetime.datetime.now(z).date() + datetime.timedelta(days=1)
print(int(datetime.datetime(d.year, d.month, d.day, tzinfo=z).timestamp()))')
	[ "$(gbk_json '.keys[1].models_cooling[0].until')" = "$want" ]
	build_driver dayend tests/lib/dayend.c ||
	    skip "no libgb.a beside $GB_BIN to build tests/lib/dayend.c"
	# every hour over three years, around every change of the clocks
	python3 -c 'import datetime, zoneinfo
z = zoneinfo.ZoneInfo("America/Los_Angeles")
t = int(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
for i in range(3 * 366 * 24 * 4):
    u = t + i * 900 + (i % 7)
    d = datetime.datetime.fromtimestamp(u, z).date() + datetime.timedelta(days=1)
    print(u, int(datetime.datetime(d.year, d.month, d.day, tzinfo=z).timestamp()))' > want
	cut -d' ' -f1 want | "$BATS_FILE_TMPDIR/dayend" > got
	cut -d' ' -f2 want | diff - got
}

@test "cool without seconds uses KEY_COOLDOWN" {
	export KEY_COOLDOWN=100
	run -0 gb-keys cool 2
	run -0 gbk_json '.keys[2].cooling_until - .now'
	(( output >= 90 && output <= 100 ))
}

@test "no usable key: exit 1 with the earliest recovery time" {
	export MAX_FAILURES=1
	run -0 gb-keys fail 0
	run -0 gb-keys cool 1 300
	run -0 gb-keys cool 2 40
	run -1 --separate-stderr gb-keys next
	[ "$output" = "" ]
	[[ $stderr =~ ^gb-keys:\ no\ usable\ key\;\ retry\ after\ ([0-9]+)\ s\ \(at\ ([0-9]+)\)$ ]]
	(( BASH_REMATCH[1] >= 30 && BASH_REMATCH[1] <= 40 ))
	[ "${BASH_REMATCH[2]}" = "$(gbk_json '.keys[2].cooling_until')" ]
}

@test "no usable key and none cooling: exit 1, no retry time" {
	export MAX_FAILURES=1
	for i in 0 1 2; do run -0 gb-keys fail $i; done
	run -1 --separate-stderr gb-keys next
	[ "$output" = "" ]
	[ "$stderr" = "gb-keys: no usable key" ]
}

@test "reset KEY revives one key, reset revives all; totals stay" {
	export MAX_FAILURES=1
	run -0 gb-keys fail 0
	run -0 gb-keys fail 1
	run -0 gb-keys cool 2 300
	run -0 gb-keys reset "$M2"
	run -0 gbk_json '[.keys[].state] | join(" ")'
	[ "$output" = "invalid active cooling" ]
	run -0 gb-keys reset
	run -0 gbk_json '[.keys[] | "\(.state)/\(.consecutive_failures)/\(.failures)"] | join(" ")'
	[ "$output" = "active/0/1 active/0/1 active/0/0" ]
}

@test "keys removed from API_KEYS disappear; the others keep their counters" {
	run -0 gb-keys next
	run -0 gb-keys next
	run -0 gb-keys next
	run -0 gb-keys fail 2 403 PERMISSION_DENIED
	id2=$(gbk_json '.keys[1].id')
	grep -q "^$id2 " state/keys.state
	export API_KEYS="$K1,$K3"
	run -0 gbk_json '[.keys[] | "\(.key) \(.uses) \(.failures)"] | join(",")'
	[ "$output" = "$M1 1 0,$M3 1 1" ]
	run -0 gb-keys next
	[ "$(wc -l < state/keys.state)" = 3 ]
	! grep -q "^$id2 " state/keys.state
	# and a key added later starts fresh
	export API_KEYS="$K1,$K3,$K2"
	run -0 gbk_json '[.keys[] | "\(.key) \(.uses) \(.failures)"] | join(",")'
	[ "$output" = "$M1 2 0,$M3 1 1,$M2 0 0" ]
}

# --- list ----------------------------------------------------------------

@test "list: an aligned table, masked keys" {
	run -0 gb-keys next
	run -0 gb-keys next
	run -0 --separate-stderr gb-keys list
	[ "$stderr" = "" ]
	[ "$output" = "INDEX  KEY          STATE   COOLING FOR  FAILS  USES  1M     1H     24H    LAST ERROR  WHEN
0      AIzaSy…0001  active  -            0/0    1     0/0/0  0/0/0  0/0/0  -           -
1      AIzaSy…0002  active  -            0/0    1     0/0/0  0/0/0  0/0/0  -           -
2      AIzaSy…0003  active  -            0/0    0     0/0/0  0/0/0  0/0/0  -           -" ]
}

@test "list: errors and cooling shown with their time" {
	run -0 gb-keys fail 0 400 API_KEY_INVALID
	run -0 gb-keys cool 1 600
	run -0 gb-keys list
	[[ ${lines[1]} =~ ^0\ +AIzaSy…0001\ +active\ +-\ +1/1\ +0\ +0/0/0\ +0/0/0\ +0/0/0\ +400\ API_KEY_INVALID\ +20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]
	[[ ${lines[2]} =~ ^1\ +AIzaSy…0002\ +cooling\ (5[0-9][0-9]|600)\ s\ +-\ +0/0\ +0\ +0/0/0\ +0/0/0\ +0/0/0\ +429\ -\ +20[0-9-]{8}T[0-9:]{8}Z$ ]]
}

@test "list --json: every field" {
	run -0 gb-keys next
	run -0 gb-keys fail 0 401 UNAUTHENTICATED
	run -0 --separate-stderr gb-keys list --json
	[ "$stderr" = "" ]
	# times are replaced by whether they are within 5 s before "now"
	run -0 jq -c '.now as $n | .keys[0]
	    | .last_used |= ($n - . | . >= 0 and . <= 5)
	    | .last_error.at |= ($n - . | . >= 0 and . <= 5)' <<<"$output"
	[ "$output" = '{"index":0,"key":"AIzaSy…0001","id":"aee8560046a6ce30","state":"active","cooling_until":null,"models_cooling":[],"consecutive_failures":1,"failures":1,"uses":1,"last_used":true,"last_error":{"status":401,"reason":"UNAUTHENTICATED","at":true},"recent":{"1m":{"uses":0,"failures":0,"429":0},"1h":{"uses":0,"failures":0,"429":0},"24h":{"uses":0,"failures":0,"429":0}}}' ]
	run -0 gbk_json '.keys[1] | [.uses, .last_used, .last_error] | tostring'
	[ "$output" = "[0,null,null]" ]
	run -0 gbk_json '.position'
	[ "$output" = 1 ]
}

@test "no full key in list, --json, reasons or error messages" {
	export MAX_FAILURES=1
	run -0 gb-keys fail 0 400 "key $K1 rejected; $K2 too"
	run -0 gbk_json '.keys[0].last_error.reason'
	[ "$output" = "key AIzaSy...0001 rejected; AIzaSy...0002 too" ]
	{
		gb-keys list
		gb-keys list --json
		gb-keys ok "$K3"
		gb-keys cool "$K3"
		gb-keys bogus
		gb-keys reset "$K1"
		gb-keys fail 0
		gb-keys fail 1
		gb-keys fail 2
		gb-keys next
		cat state/*
	} > all.out 2>&1 || true
	[ -s all.out ]
	! grep -F -e "$K1" -e "$K2" -e "$K3" -e xxxxxxxxxx all.out
}

@test "a write error on stdout is exit 111" {
	run -111 --separate-stderr bash -c 'gb-keys list > /dev/full'
	[ "$stderr" = "gb-keys: stdout: No space left on device" ]
	run -111 --separate-stderr bash -c 'gb-keys list --json > /dev/full'
	[ "$stderr" = "gb-keys: stdout: No space left on device" ]
	run -111 --separate-stderr bash -c 'gb-keys next > /dev/full'
	[ "$stderr" = "gb-keys: stdout: No space left on device" ]
}

# --- the file: corruption, locking, crashes ------------------------------

# The tests below run a thousand processes or more; LeakSanitizer's exit
# scan costs each some 30 ms, so they leave it off (the other tests and
# valgrind cover leaks).
no_leak_scan() {
	if [ -n "${GB_VALGRIND:-}" ]; then
		skip "a thousand processes or more: too slow under valgrind"
	fi
	ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}
	export ASAN_OPTIONS
}

# The concurrency tests are about the lock, not the disk: their state
# goes to tmpfs when there is one, so that fsync latency on a shared
# disk (measured at up to 850 ms) does not dominate them. The sanitizer
# build runs them at a fifth of the size (each process starts ten times
# slower); the full size is the normal build's.
fast_state() {
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		GBK_SHM=$(mktemp -d /dev/shm/gb-keys-test.XXXXXX)
		export STATE_DIRECTORY=$GBK_SHM/state
	fi
	if [ "${SANITIZE:-}" = 1 ]; then
		GBK_SCALE=5
	else
		GBK_SCALE=1
	fi
}

@test "corrupt state: list fails clearly, the next update moves it aside" {
	mkdir -m 700 state
	printf 'gbkeys 1 0 2\n0123456789abcdef 0 0 0 0 0 0 0 0 \n' > state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$output" = "" ]
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (1 entries, header says 2); the next update moves it to keys.state.bad" ]
	run -0 --separate-stderr gb-keys next
	[ "$output" = "$K1" ]
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (1 entries, header says 2); moved to keys.state.bad, starting afresh" ]
	[ -f state/keys.state.bad ]
	run -0 --separate-stderr gb-keys list --json
	[ "$stderr" = "" ]
}

@test "corrupt state: a torn or garbage file is detected" {
	run -0 gb-keys fail 0 401 UNAUTHENTICATED
	cp state/keys.state whole
	head -c -3 whole > torn
	cp torn state/keys.state
	run -111 --separate-stderr gb-keys list --json
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (1021 bytes for 3 keys and 0 cooldowns); the next update moves it to keys.state.bad" ]
	printf 'hello\n' > state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (not a gb-keys state file); the next update moves it to keys.state.bad" ]
	sed '2s/^\([0-9a-f]\{16\}\) 0 /\1 7 /' whole > state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (record 1: malformed entry); the next update moves it to keys.state.bad" ]
	sed -i '1s/^gbkeys 2 0 3/gbkeys 2 0 x/' state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (record 0: malformed header); the next update moves it to keys.state.bad" ]
}

@test "fast path: a bad record met by next is found and the file recovered" {
	run -0 gb-keys next
	# key 1's record keeps its id but gets a bad field
	sed -i '3s/^\([0-9a-f]\{16\}\) 0 /\1 7 /' state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (record 2: malformed entry); the next update moves it to keys.state.bad" ]
	run -0 --separate-stderr gb-keys next
	[ "$output" = "$K1" ]
	[ "$stderr" = "gb-keys: ./state/keys.state: corrupt state (record 2: malformed entry); moved to keys.state.bad, starting afresh" ]
	run -0 gbk_json '[.keys[].uses] | join(" ")'
	[ "$output" = "1 0 0" ]
}

@test "keys reordered in API_KEYS keep their own counters" {
	run -0 gb-keys next
	run -0 gb-keys fail 2 401 X
	export API_KEYS="$K3,$K1,$K2"
	run -0 gb-keys ok 0
	run -0 gbk_json '[.keys[] | "\(.key) \(.uses) \(.failures)"] | join(",")'
	[ "$output" = "$M3 0 1,$M1 1 0,$M2 0 0" ]
	# the file is rewritten in the new order
	[ "$(sed -n 2p state/keys.state | cut -c1-16)" = "$(gbk_json '.keys[0].id')" ]
}

@test "an unreadable state file is a clear error (exit 111)" {
	mkdir -p state/keys.state
	run -111 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: ./state/keys.state: Is a directory" ]
	run -111 --separate-stderr gb-keys next
	[ "$output" = "" ]
	[ "$stderr" = "gb-keys: ./state/keys.state: Is a directory" ]
}

@test "a lock held too long: exit 111 after -w seconds; list still works" {
	run -0 gb-keys next
	gbk_hold_lock
	run -111 --separate-stderr gb-keys -w 1 next
	[ "$output" = "" ]
	[ "$stderr" = "gb-keys: ./state/keys.lock: still locked after 1000 ms (a stuck process holds it; see lslocks)" ]
	run -111 --separate-stderr gb-keys -w 0 fail 0
	[ "$stderr" = "gb-keys: ./state/keys.lock: still locked after 0 ms (a stuck process holds it; see lslocks)" ]
	run -0 gbk_json '[.keys[].uses] | join(" ")'
	[ "$output" = "1 0 0" ]
	stop_pid "$GBK_HOLDER" || true
	GBK_HOLDER=
	run -0 gb-keys -w 1 next
	[ "$output" = "$K2" ]
}

@test "concurrency: 4 x 250 next on 5 keys, each key 200 times, no lost use" {
	no_leak_scan
	fast_state
	export API_KEYS=$(gbk_keys 5)
	local pids=() p n=$((250 / GBK_SCALE)) each
	each=$((4 * n / 5))
	for p in 1 2 3 4; do
		(for ((i = 0; i < n; i++)); do gb-keys next || echo ERROR; done) \
		    > out.$p 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	! grep -h ERROR out.*
	[ "$(cat out.* | wc -l)" = $((4 * n)) ]
	cat out.* | sort | uniq -c | awk '{ print $1 }' > counts
	[ "$(wc -l < counts)" = 5 ]
	while read -r c; do
		(( c >= each - 2 && c <= each + 2 ))
	done < counts
	run -0 gbk_json '[.keys[].uses] | add'
	[ "$output" = $((4 * n)) ]
	# each key's recorded uses equal the times it was printed
	for i in 1 2 3 4 5; do
		[ "$(gbk_json ".keys[$((i - 1))].uses")" = \
		    "$(cat out.* | grep -c "$(gbk_key $i)")" ]
	done
}

@test "concurrency: next with fail and ok interleaved, counts add up" {
	no_leak_scan
	fast_state
	export API_KEYS=$(gbk_keys 5) MAX_FAILURES=1000000
	local -A idx
	local i pids=() p n=$((250 / GBK_SCALE))
	for i in 1 2 3 4 5; do idx[$(gbk_key $i)]=$((i - 1)); done
	# 4 processes, each: next n times, and after every other next a
	# fail or an ok for the key it got
	worker() {
		local i k
		for ((i = 0; i < n; i++)); do
			k=$(gb-keys next) || { echo ERROR; continue; }
			echo "U ${idx[$k]}"
			case $((i % 4)) in
			0)	gb-keys fail "${idx[$k]}" 401 X || echo ERROR
				echo "F ${idx[$k]}" ;;
			2)	gb-keys ok "${idx[$k]}" || echo ERROR ;;
			esac
		done
	}
	for p in 1 2 3 4; do
		worker > log.$p 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	! grep -h ERROR log.*
	fails=$(cat log.* | grep -c '^F')
	(( fails == 4 * ((n + 3) / 4) ))
	run -0 gbk_json '"\([.keys[].uses] | add) \([.keys[].failures] | add)"'
	[ "$output" = "$((4 * n)) $fails" ]
	for i in 0 1 2 3 4; do
		[ "$(gbk_json ".keys[$i].failures")" = "$(cat log.* | grep -c "^F $i$")" ]
		[ "$(gbk_json ".keys[$i].uses")" = "$(cat log.* | grep -c "^U $i$")" ]
	done
}

@test "crash safety: 200 kill -9 at random moments never leave a bad file" {
	no_leak_scan
	export API_KEYS=$(gbk_keys 100)
	local kills=0 torn=0 done=0 tries=0 st pid t0 life maxd delay fifo
	# how long one writer lives, so the kills spread over its whole life
	t0=$EPOCHREALTIME
	for i in 1 2 3 4 5 6 7 8 9 10; do gb-keys next > /dev/null; done
	done=10
	life=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 10 ))
	# the delay before the kill is random in [0, maxd); maxd shrinks
	# when a writer finishes first and grows when it is killed, which
	# settles where some 80 % of the writers are killed, anywhere in
	# their life
	maxd=$life
	# a FIFO opened read-write: "read -t" on it is a sleep without a fork
	mkfifo fifo
	exec {fifo}<>fifo
	fast_state
	unset STATE_DIRECTORY	# the crash test stays on the real disk
	want=$((200 / GBK_SCALE))
	while (( kills < want && tries < 10 * want )); do
		tries=$((tries + 1))
		if (( tries % 2 )); then
			gb-keys next > /dev/null 3>&- &
		else
			gb-keys fail $((RANDOM % 100)) 401 X 3>&- &
		fi
		pid=$!
		delay=$(( RANDOM * maxd / 32768 ))
		printf -v delay '0.%06d' "$delay"
		read -r -t "$delay" -u "$fifo" || true
		kill -9 "$pid" 2>/dev/null || true
		st=0
		wait "$pid" || st=$?
		if (( st == 0 )); then
			if (( tries % 2 )); then done=$((done + 1)); fi
			maxd=$((maxd - maxd / 8))
			continue
		fi
		maxd=$((maxd + maxd / 32 + 1))
		# a temp file left behind: killed between creating and renaming
		if [ -e state/keys.state.tmp ]; then
			torn=$((torn + 1))
			rm state/keys.state.tmp
		fi
		if (( st != 137 )); then
			echo "writer exited $st" >&2
			false
		fi
		kills=$((kills + 1))
		gb-keys list --json | jq -e '.keys | length == 100' > /dev/null
	done
	exec {fifo}>&-
	echo "# $kills kills in $tries runs, $torn during a write" \
	    "(writer life ${life} us, kill delay < ${maxd} us)" >&3
	(( kills >= want ))
	[ ! -e state/keys.state.bad ]
	# every completed next was recorded; a killed one may or may not be
	uses=$(gbk_json '[.keys[].uses] | add')
	(( uses >= done && uses <= done + kills ))
}

# --- check ---------------------------------------------------------------

@test "check: revives keys that answer 200, keeps the others, header only" {
	export MAX_FAILURES=1
	gbk_fake_upstream "$K1"
	export BASE_URL=http://127.0.0.1:$GBK_PORT/v1beta
	run -0 gb-keys fail 0 400 API_KEY_INVALID
	run -0 gb-keys cool 1 300
	run -0 --separate-stderr gb-keys check
	[ "$stderr" = "" ]
	[ "$output" = "0 $M1 revived
1 $M2 still cooling (400 API_KEY_INVALID)" ]
	[ "$(cat upstream.log)" = "GET /v1beta/models?pageSize=1 $K1
GET /v1beta/models?pageSize=1 $K2" ]
	run -0 gbk_json '[.keys[] | "\(.state) \(.last_error.status)"] | join(",")'
	[ "$output" = "active 400,cooling 400,active null" ]
	run -0 gb-keys next
	[ "$output" = "$K1" ]
}

@test "check: through the key's egress proxy of PROXIES" {
	gbk_fake_upstream "$K2"
	export BASE_URL=http://127.0.0.1:$GBK_PORT/v1beta
	proxy_start p refuse
	export PROXIES=$(proxy_url p)
	run -0 gb-keys cool 1 300
	run -0 --separate-stderr gb-keys check
	# the proxy answered (503), the upstream saw nothing
	[[ $output == "1 $M2 still cooling (503 "* ]]
	[ ! -s upstream.log ]
	unset PROXIES
	run -0 gb-keys check
	[ "$output" = "1 $M2 revived" ]
}

@test "check: nothing to check is a quiet success" {
	gbk_fake_upstream
	export BASE_URL=http://127.0.0.1:$GBK_PORT/v1beta
	run -0 --separate-stderr gb-keys check
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ ! -e upstream.log ]
}

@test "check: an unreachable upstream is exit 111, the state unchanged" {
	export MAX_FAILURES=1 BASE_URL=http://127.0.0.1:$(free_port)/v1beta
	run -0 gb-keys fail 2 400 API_KEY_INVALID
	run -111 --separate-stderr gb-keys check
	[[ $output =~ ^2\ AIzaSy…0003\ unreachable\ \(.+\)$ ]]
	run -0 gbk_json '.keys[2].state'
	[ "$output" = invalid ]
}

# --- the manual ------------------------------------------------------------

@test "the EXAMPLES of gb-keys(1) run" {
	gbk_fake_upstream "$K2"
	export BASE_URL=http://127.0.0.1:$GBK_PORT/v1beta MAX_FAILURES=1
	sed -n '/^\.Sh EXAMPLES/,/^\.Sh /s/^\$ //p' \
	    "$BATS_TEST_DIRNAME/../man/gb-keys.1" > examples
	[ "$(wc -l < examples)" -ge 7 ]
	while read -r line; do
		run -0 bash -c "$line"
	done < examples
	# check asked about key 1 (invalid) and key 2 (cooling), reset did
	# the rest
	[ "$(cut -d' ' -f3 upstream.log)" = "$K2
$K3" ]
	run -0 gbk_json '[.keys[].state] | join(" ")'
	[ "$output" = "active active active" ]
}
