#!/usr/bin/env bats
# gb-keys against the shared state on Redis (KEY_STATE): list, next,
# fail, cool, reset, check see and change what every machine sees; keys
# appear in Redis by their ids only; the password stays out of argv and
# messages.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/redis

K0=AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI
K1=AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ
K2=AIzaSyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCcCcC

setup() {
	export API_KEYS="$K0,$K1,$K2"
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
}

teardown() {
	redis_stop
	upstream_stop
}

@test "gb-keys next, fail, cool, list and reset on Redis; two state directories see one state" {
	redis_start
	run -0 gb-keys next
	assert_output "$K0"
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/other run -0 gb-keys next
	assert_output "$K1"
	MAX_FAILURES=1 run -0 gb-keys fail 2 400 'bad key'
	run -0 gb-keys -m gemini-2.5-pro cool 0 600
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/other run -0 gb-keys list --json
	[ "$(jq -r '.keys[2].state' <<<"$output")" = invalid ]
	[ "$(jq -r '.keys[0].models_cooling[0].model' <<<"$output")" = gemini-2.5-pro ]
	[ "$(jq -r '[.keys[].uses] | add' <<<"$output")" = 2 ]
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/other run -0 gb-keys -m gemini-2.5-pro next
	assert_output "$K1"
	run -0 gb-keys reset
	run -0 gb-keys list --json
	[ "$(jq -r '[.keys[].state] | unique | join(",")' <<<"$output")" = active ]
	[ "$(jq -r '[.keys[].models_cooling | length] | add' <<<"$output")" = 0 ]
	# no state file was written: the state lives on Redis
	[ ! -e "$STATE_DIRECTORY/keys.state" ]
	# keys never in clear, in names or values
	run -0 bash -c "redis-cli -p $REDIS_PORT --scan"
	refute_output --partial AIzaSy
	for k in $(redis-cli -p "$REDIS_PORT" --scan); do
		case $(redis-cli -p "$REDIS_PORT" type "$k") in
		hash) v=$(redis-cli -p "$REDIS_PORT" hgetall "$k") ;;
		*) v=$(redis-cli -p "$REDIS_PORT" get "$k") ;;
		esac
		[[ $v != *AIzaSy* ]]
	done
}

@test "gb-keys check on Redis revives a key that answers again" {
	upstream_start
	upstream_env
	redis_start
	MAX_FAILURES=1 run -0 gb-keys fail 1 400 'bad key'
	run -0 gb-keys check
	run -0 gb-keys list --json
	[ "$(jq -r '.keys[1].state' <<<"$output")" = active ]
}

@test "an ACL user and password: accepted, never in messages; a wrong one is a clear error" {
	REDIS_ARGS="--user default off --user gb on >s3cretPW ~* +@all" redis_start
	export KEY_STATE=redis://gb:s3cretPW@127.0.0.1:$REDIS_PORT/2
	run -0 gb-keys next
	assert_output "$K0"
	[ "$(redis-cli -p "$REDIS_PORT" --user gb --pass s3cretPW --no-auth-warning -n 2 --scan | grep -c gbkeys:key:)" -eq 1 ]
	export KEY_STATE=redis://gb:wrongPW@127.0.0.1:$REDIS_PORT/2
	run -111 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: key state: redis unreachable ("*")" ]]
	[[ $stderr != *wrongPW* ]]
	# a bad URL names the variable, not the password
	export KEY_STATE=redis://gb:s3cretPW@127.0.0.1:99999
	run -100 --separate-stderr gb-keys list
	[[ $stderr == *KEY_STATE* ]]
	[[ $stderr != *s3cretPW* ]]
}

@test "gb-keys with Redis unreachable fails (111) rather than show a local state" {
	export KEY_STATE=redis://127.0.0.1:$(free_port)
	run -111 --separate-stderr gb-keys next
	[[ $stderr == "gb-keys: key state: redis unreachable ("*")" ]]
}
