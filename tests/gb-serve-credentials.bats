#!/usr/bin/env bats
# Secrets out of every process's environment: gb-serve as the shipped
# units start it (the keys and tokens as systemd credentials in
# $CREDENTIALS_DIRECTORY, none in the environment) and as a container
# starts it (the secrets in the environment alone), under
# systemd-socket-activate with a listening socket (the tools' hosts) and
# with --accept (the tools as processes of one connection). A chat, a
# stream and embeddings start every tool; the environment of gb-serve
# and of every tool it started (read from /proc/PID/environ, which
# shows the block a process was started with) holds no key or token,
# and the requests are answered.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/redis
load lib/proxy

KEY1=AIzaSyC5credKEYoneXXXXXXXXXXXXXXXXXXp3Qa
KEY2=AIzaSyD6credKEYtwoYYYYYYYYYYYYYYYYYYw8Rb
UTOK=sk-user-Hk27credTOKENuser
ATOK=sk-admin-Jm93credTOKENadmin
# the password of a Redis user in KEY_STATE, of a proxy user in PROXY or
# PROXIES (set by the tests using them)
RPW=
PPW=

setup_file() {
	serve_file_upstream
}

teardown_file() {
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/state
	SERVE_LOG=$BATS_TEST_TMPDIR/serve.log
	# the tools beside a copy of gb-serve, each behind a wrapper that
	# keeps the environment it was started with
	mkdir -p bin seen
	cp "$GB_BIN/gb-serve" bin/
	local t
	for t in gb-convert gb-call gb-sse gb-keys; do
		printf '#!/bin/sh\ntr "\\\\0" "\\\\n" < /proc/$$/environ > %s/seen/env.%s.$$\nexec %s/%s "$@"\n' \
		    "$PWD" "$t" "$GB_BIN" "$t" > "bin/$t"
		chmod +x "bin/$t"
	done
	SERVE_BIN=$PWD/bin/gb-serve
}

teardown() {
	stop_serve
	redis_stop
	proxy_stop_all
}

# as_units: the secrets as credentials, none in the environment
as_units() {
	mkdir -p creds
	printf '["%s","%s"]\n' "$KEY1" "$KEY2" > creds/API_KEYS
	printf '%s\n' "$UTOK" > creds/ALLOWED_TOKENS
	printf '%s\n' "$ATOK" > creds/AUTH_TOKEN
	chmod 0400 creds/*
	export CREDENTIALS_DIRECTORY=$PWD/creds
	unset API_KEYS ALLOWED_TOKENS AUTH_TOKEN
}

# as_container: the secrets in the environment alone
as_container() {
	export API_KEYS="$KEY1,$KEY2" ALLOWED_TOKENS=$UTOK AUTH_TOKEN=$ATOK
	unset CREDENTIALS_DIRECTORY
}

# hits FILE...: the lines holding a key or token
hits() {
	local s
	for s in "$KEY1" "$KEY2" "$UTOK" "$ATOK" "${KEY1:8:20}" "${UTOK:8:12}" \
	    "${ATOK:9:12}" $RPW $PPW; do
		grep -aHF -- "$s" "$@"
	done
	return 0
}

# environs PID: the environment of every gb-* process from PID down
# (PID included), one file each in seen/
environs() {
	local p c
	for p in "$1" $(descendants_of "$1"); do
		c=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case $c in
		gb-*) tr '\0' '\n' < "/proc/$p/environ" > "seen/live.$c.$p" ;;
		esac
	done
}

# exercise MODE: start gb-serve in MODE, a chat, a stream held half-way
# while every process's environment is read, embeddings; the admin
# list answers (AUTH_TOKEN was read); no secret in any environment.
exercise() {
	start_serve "$1"
	local chat='{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	run -0 curl -sS -H "Authorization: Bearer $UTOK" "$(url /v1/chat/completions)" -d "$chat"
	run -0 jq -r '.choices[0].message.content' <<<"$output"
	assert_output 'echo: hi'
	run -0 curl -sS -H "Authorization: Bearer $UTOK" "$(url /v1/embeddings)" \
	    -d '{"model":"text-embedding-004","input":["a","b"]}'
	run -0 jq -r '.data | length' <<<"$output"
	assert_output 2

	upstream_script '{"path":"stream","events":[{"candidates":[{"content":{"role":"model","parts":[{"text":"par"}]}}]},{"candidates":[{"content":{"role":"model","parts":[{"text":"t"}]},"finishReason":"STOP"}]}],"wait_before":[1]}'
	printf 'Authorization: Bearer %s\n' "$UTOK" > auth.hdr
	rm -f stream.out
	curl -sSN -H @auth.hdr "$(url /v1/chat/completions)" -o stream.out \
	    -d '{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}' &
	local client=$!
	# held after its first event: gb-call and gb-sse are at work
	wait_file_has stream.out '"content":"par"'
	environs "$SERVE_PID"
	upstream_go
	wait "$client"
	run -0 grep -c '"content":"t"' stream.out
	run -0 tail -n 2 stream.out
	assert_output --partial 'data: [DONE]'

	run -0 curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ATOK" \
	    "$(url /v1/keys/list)"
	assert_output 200

	# gb-serve and each tool, live; each tool as it was started
	ls seen/live.gb-serve.* seen/live.gb-call* seen/live.gb-sse* >/dev/null
	ls seen/env.gb-convert.* seen/env.gb-call.* seen/env.gb-sse.* >/dev/null
	run -0 hits seen/*
	assert_output ''
	# the positive control: the keys did reach gb-call, not in its
	# environment but on the descriptor it names
	run -0 grep -h '^GB_SECRETS_FD=' seen/env.gb-call.*
	run -1 grep -l '^GB_SECRETS_FD=' seen/env.gb-convert.* seen/env.gb-sse.*
	run -1 grep -l '^CREDENTIALS_DIRECTORY=' seen/env.*
}

@test "as the units start it, Accept=no: no key or token in any process's environment" {
	as_units
	exercise activate
}

@test "as the units start it, Accept=yes: no key or token in any process's environment" {
	as_units
	exercise accept
}

@test "secrets in the environment alone (containers), Accept=no: gone from every environment" {
	as_container
	exercise activate
	# the control: the launcher itself was given them
	run -0 hits <(tr '\0' '\n' < /proc/$$/environ) <(env)
	[ -n "$output" ]
}

@test "secrets in the environment alone, Accept=yes and -l: gone from every environment" {
	as_container
	exercise accept
	stop_serve
	rm -f seen/*
	exercise listen
}

@test "a credential wins over the environment; an unreadable one is an error" {
	as_units
	export API_KEYS=AIzaSyEnvKEYzzzzzzzzzzzzzzzzzzzzzzz9999
	run -0 gb-keys list --json
	run -0 jq -r '[.keys[].key] | join(" ")' <<<"$output"
	assert_output 'AIzaSy…p3Qa AIzaSy…w8Rb'
	# absent: the environment, then .env
	rm -f creds/API_KEYS
	run -0 gb-keys list --json
	run -0 jq -r '[.keys[].key] | join(" ")' <<<"$output"
	assert_output 'AIzaSy…9999'
	mkdir creds/API_KEYS
	run -100 --separate-stderr gb-keys list
	[ "$stderr" = "gb-keys: $PWD/creds/API_KEYS: Is a directory" ]
}

# with_redis_password: a Redis that only a user with a password may use;
# KEY_STATE names it with that password, and is left in the environment
with_redis_password() {
	RPW=Qx81credREDISpw
	REDIS_ARGS="--user default off --user gb on >$RPW ~* +@all" redis_start
	export KEY_STATE=redis://gb:$RPW@127.0.0.1:$REDIS_PORT/3
}

# used_redis: the requests' keys were picked on that Redis, so KEY_STATE
# did reach gb-call and gb-serve
used_redis() {
	run -0 redis-cli -p "$REDIS_PORT" --user gb --pass "$RPW" \
	    --no-auth-warning -n 3 --scan --pattern 'gbkeys:key:*'
	[ "${#lines[@]}" -eq 2 ]
	run -0 grep -c 'key state: redis' "$SERVE_LOG"
	run -0 hits "$SERVE_LOG"
	assert_output ''
}

@test "KEY_STATE with a Redis password, in the environment: gone from every environment" {
	as_container
	with_redis_password
	exercise activate
	used_redis
	stop_serve
	rm -f seen/*
	exercise accept
}

@test "KEY_STATE with a Redis password as a credential (Accept=no and yes)" {
	as_units
	with_redis_password
	printf '%s\n' "$KEY_STATE" > creds/KEY_STATE
	unset KEY_STATE
	exercise activate
	used_redis
	stop_serve
	rm -f seen/*
	exercise accept
}

# through_proxy: every upstream request came through the proxy, as its
# user, so PROXY or PROXIES did reach gb-call
through_proxy() {
	local users
	users=$(upstream_requests | jq -r '[.[].headers["x-via-proxy-user"]] | unique | join(",")')
	[ "$users" = pxuser ]
}

@test "a proxy's password (PROXY, PROXIES), in the environment or as a credential: in no environment" {
	PPW=Zr55credPROXYpw
	proxy_start px
	local u
	u=http://pxuser:$PPW@127.0.0.1:$PROXY_PORT_px
	as_container
	export PROXY=$u
	exercise activate
	through_proxy
	stop_serve
	rm -f seen/*
	upstream_reset
	unset PROXY
	export PROXIES="[\"$u\"]"
	exercise accept
	through_proxy
	stop_serve
	rm -f seen/*
	upstream_reset
	unset PROXIES
	as_units
	printf '%s\n' "$u" > creds/PROXY
	exercise activate
	through_proxy
}
