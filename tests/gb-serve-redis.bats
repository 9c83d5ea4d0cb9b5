#!/usr/bin/env bats
# The key state shared through Redis (KEY_STATE; gb-keys(5), SHARED STATE
# ON REDIS): two gb-serve processes with separate state directories and
# one redis-server rotate fairly over one key list, share every mark and
# every resource's owner, and keep answering when Redis dies.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/redis

K=(AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ
   AIzaSyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCcCcC AIzaSyDDDDDDDDDDDDDDDDDDDDDDDDDDDDDdDdD
   AIzaSyEEEEEEEEEEEEEEEEEEEEEEEEEEEEEeEeE)

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
}

teardown_file() {
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	serve_config
	export API_KEYS="[\"${K[0]}\",\"${K[1]}\",\"${K[2]}\",\"${K[3]}\",\"${K[4]}\"]"
	export MAX_FAILURES=1
	redis_start
	# two machines: each its own state directory and log
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/a SERVE_LOG=$BATS_TEST_TMPDIR/a.log \
	    start_serve listen
	A_PORT=$SERVE_PORT A_PID=$SERVE_PID
	STATE_DIRECTORY=$BATS_TEST_TMPDIR/b SERVE_LOG=$BATS_TEST_TMPDIR/b.log \
	    start_serve listen
	B_PORT=$SERVE_PORT B_PID=$SERVE_PID
	export STATE_DIRECTORY=$BATS_TEST_TMPDIR/a
}

teardown() {
	stop_pid "${A_PID:-}"
	stop_pid "${B_PID:-}"
	redis_stop
}

# spread N: N chat requests, alternately to A and B, 8 at a time; prints
# each answer's status, one a line
spread() {
	python3 - "$1" "$A_PORT" "$B_PORT" <<'PY'
import sys, json, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
n, ports = int(sys.argv[1]), sys.argv[2:]
body = json.dumps({"model": "gemini-2.0-flash",
    "messages": [{"role": "user", "content": "hi"}]}).encode()
def one(i):
    rq = urllib.request.Request("http://127.0.0.1:%s/v1/chat/completions"
        % ports[i % 2], data=body, headers={"Authorization": "Bearer tok-user",
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(rq, timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return "error %s" % e
with ThreadPoolExecutor(8) as ex:
    for s in ex.map(one, range(n)):
        print(s)
PY
}

# chat PORT: one chat request; its status
chat() {
	curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}' \
	    "http://127.0.0.1:$1/v1/chat/completions"
}

# used: how many upstream requests each key served, "COUNT KEY" lines
used() {
	upstream_requests | jq -r '.[].key' | sort | uniq -c
}

@test "1,000 chats over two gb-serve sharing Redis use each of 5 keys 200 ± 2 times" {
	run -0 spread 1000
	[ "$(grep -c '^200$' <<<"$output")" -eq 1000 ]
	run -0 used
	[ "${#lines[@]}" -eq 5 ]
	for l in "${lines[@]}"; do
		read -r n k <<<"$l"
		echo "$k: $n" >&3
		[ "$n" -ge 198 ] && [ "$n" -le 202 ]
	done
	# the state is on Redis only: the local files saw no use
	run -0 gb-keys list --json
	[ "$(jq '[.keys[].uses] | add' <<<"$output")" -eq 1000 ]
}

@test "a key made invalid through one is never used by the other; a cooling mark is seen at once" {
	upstream_script "{\"key\":\"${K[1]}\",\"repeat\":true,\"status\":400,\"reason\":\"API_KEY_INVALID\",\"message\":\"API key not valid\"}"
	upstream_script "{\"key\":\"${K[2]}\",\"repeat\":true,\"status\":429,\"retry_delay\":\"600s\",\"quota_id\":\"GenerateRequestsPerMinutePerProjectPerModel\"}"
	# through A until both marks are made
	for i in 1 2 3 4 5; do [ "$(chat "$A_PORT")" = 200 ]; done
	run -0 gb-keys list --json
	[ "$(jq -r '.keys[1].state' <<<"$output")" = invalid ]
	[ "$(jq -r '.keys[2].models_cooling[0].model' <<<"$output")" = gemini-2.0-flash ]
	before=$(upstream_count)
	# B never tries them
	for i in $(seq 10); do [ "$(chat "$B_PORT")" = 200 ]; done
	run -0 bash -c "curl -sS '$UPSTREAM_URL/_control/requests' | jq -r '.[$before:][].key' | sort -u"
	refute_line "${K[1]}"
	refute_line "${K[2]}"
	[ "${#lines[@]}" -eq 3 ]
}

@test "Redis killed under load: every request answered, the fallback logged once, shared again after a restart" {
	spread 200 >"$BATS_TEST_TMPDIR/load.out" &
	lp=$!
	upstream_requests 40 >/dev/null
	port=$REDIS_PORT
	redis_kill
	wait "$lp"
	run -0 sort -u "$BATS_TEST_TMPDIR/load.out"
	assert_output 200
	[ "$(wc -l <"$BATS_TEST_TMPDIR/load.out")" -eq 200 ]
	for log in a b; do
		[ "$(grep -c 'gb-call: key state: redis unreachable (.*); using local state' "$BATS_TEST_TMPDIR/$log.log")" -eq 1 ]
	done
	# back on the same port: after the retry interval both share again
	redis_start "$port"
	upstream_script "{\"key\":\"${K[3]}\",\"repeat\":true,\"status\":400,\"reason\":\"API_KEY_INVALID\",\"message\":\"API key not valid\"}"
	# (the retry is due 30 s after the failure: let the state say when)
	for i in $(seq 400); do
		[ "$(chat "$A_PORT")" = 200 ]
		[ "$(rcli hget "gbkeys:key:$(gb-keys list --json | jq -r '.keys[3].id')" invalid)" = 1 ] && break
		sleep 0.1
	done
	[ "$(rcli hget "gbkeys:key:$(gb-keys list --json | jq -r '.keys[3].id')" invalid)" = 1 ]
	wait_file_has "$BATS_TEST_TMPDIR/a.log" "redis reachable again"
	# B, back on Redis too, never uses it
	for i in $(seq 40); do
		[ "$(chat "$B_PORT")" = 200 ]
		grep -q "redis reachable again" "$BATS_TEST_TMPDIR/b.log" && break
		sleep 0.1
	done
	before=$(upstream_count)
	for i in $(seq 10); do [ "$(chat "$B_PORT")" = 200 ]; done
	run -0 bash -c "curl -sS '$UPSTREAM_URL/_control/requests' | jq -r '.[$before:][].key' | sort -u"
	refute_line "${K[3]}"
}

@test "a file uploaded through one gb-serve is used through the other with the same key" {
	curl -sS -D start.h -H 'x-goog-api-key: tok-user' \
	    -H 'X-Goog-Upload-Protocol: resumable' -H 'X-Goog-Upload-Command: start' \
	    -H 'X-Goog-Upload-Header-Content-Length: 5' \
	    -H 'X-Goog-Upload-Header-Content-Type: text/plain' \
	    -H 'Content-Type: application/json' -d '{"file":{"display_name":"t"}}' \
	    "http://127.0.0.1:$A_PORT/upload/v1beta/files" >/dev/null
	url=$(tr -d '\r' <start.h | sed -n 's/^X-Goog-Upload-URL: //ip')
	[ -n "$url" ]
	run -0 curl -sS -H 'x-goog-api-key: tok-user' \
	    -H 'X-Goog-Upload-Command: upload, finalize' -H 'X-Goog-Upload-Offset: 0' \
	    --data-binary hello "$url"
	name=$(jq -r .file.name <<<"$output")
	owner=$(upstream_request 1 .key)
	# the owner is on Redis, with the file's lifetime as TTL
	id=$(rcli get "gbaff:res:$name")
	[ ${#id} -eq 16 ]
	[ "$(rcli ttl "gbaff:res:$name")" -gt 0 ]
	# through B, three times: always the owner's key
	for i in 1 2 3; do
		run -0 curl -sS -w ' %{http_code}' -H 'x-goog-api-key: tok-user' \
		    "http://127.0.0.1:$B_PORT/v1beta/$name"
		assert_output --regexp ' 200$'
	done
	run -0 bash -c "curl -sS '$UPSTREAM_URL/_control/requests' | jq -r '.[] | select(.path | test(\"^/v1beta/files/\")) | .key' | sort -u"
	assert_output "$owner"
}
