#!/usr/bin/env bats
# Key affinity (gb-serve(8), KEY AFFINITY): a file, a cached content, an
# interaction, a batch or an operation belongs to the key that created
# it, and every later request naming it goes with that key, whatever the
# rotation would pick. The fake upstream knows which key created what and
# answers 403 to any other; its records say which key served each
# request. Three keys, so that rotation always moves away. The
# @google/genai tests use the real npm client (tests/lib/npm.bash); the
# rest speak raw HTTP.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/npm

K0=AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI
K1=AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ
K2=AIzaSyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCcCcC

aff_config() {
	serve_config
	export API_KEYS="[\"$K0\",\"$K1\",\"$K2\"]"
}

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	npm_clients @google/genai@2 || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	aff_config
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG GB_URL=http://127.0.0.1:$SERVE_PORT
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	upstream_reset
	upstream_env
	aff_config
	gb-keys reset >/dev/null
	# what earlier tests created is gone from the fake: from the store too
	rm -rf "$STATE_DIRECTORY/affinity"
	export GB_TOKEN=tok-user
}

genai() {
	node "$CLIENTS/affinity.mjs" "$@"
}

# g METHOD PATH [BODY [curl options...]]: a native request; prints the
# body, then the status on a line of its own
g() {
	local m=$1 p=$2 b=${3-}
	shift 3 2>/dev/null || shift $#
	curl -sS -X "$m" -w '\n%{http_code}' -H 'x-goog-api-key: tok-user' \
	    -H 'Content-Type: application/json' ${b:+--data-binary "$b"} \
	    "$@" "$GB_URL$p"
}

# served PATTERN: the keys that served the upstream requests whose path
# matches the regex PATTERN (and whose body matches BODY_RE, if set),
# one per line, in order
served() {
	upstream_requests | jq -r --arg p "$1" --arg b "${BODY_RE:-}" \
	    '.[] | select((.path | test($p)) and (.body | test($b))) | .key'
}

# id IDX: the state id of key IDX
id() {
	gb-keys list --json | jq -r ".keys[$1].id"
}

# record NAME IDX|ID [SECONDS]: write a store record by hand
record() {
	local k=$2
	[ ${#k} -eq 16 ] || k=$(id "$k")
	mkdir -p "$STATE_DIRECTORY/affinity"
	printf '%s %s %s\n' "$k" "$(($(date +%s) + ${3:-3600}))" "$1" \
	    >"$STATE_DIRECTORY/affinity/${1//\//:}"
}

# upload TEXT [PREFIX]: a resumable upload with curl; prints the file
upload() {
	local pre=${2:-}
	curl -sS -D start.h -H 'x-goog-api-key: tok-user' \
	    -H 'X-Goog-Upload-Protocol: resumable' \
	    -H 'X-Goog-Upload-Command: start' \
	    -H "X-Goog-Upload-Header-Content-Length: ${#1}" \
	    -H 'X-Goog-Upload-Header-Content-Type: text/plain' \
	    -H 'Content-Type: application/json' \
	    -d '{"file":{"display_name":"t"}}' \
	    "$GB_URL$pre/upload/v1beta/files" >/dev/null || return 1
	url=$(tr -d '\r' <start.h | sed -n 's/^X-Goog-Upload-URL: //ip')
	curl -sS -D final.h -H 'x-goog-api-key: tok-user' \
	    -H 'X-Goog-Upload-Command: upload, finalize' \
	    -H 'X-Goog-Upload-Offset: 0' --data-binary "$1" "$url"
}

GEN=':generateContent$'

@test "@google/genai: an uploaded file goes with its key in three generateContent calls between plain ones" {
	need_npm
	run -0 genai files
	run -0 jq -c '.[1:]' <<<"$output"
	assert_output '["11","greeting",["echo: file 0","echo: plain","echo: file 1","echo: plain","echo: file 2","echo: plain"]]'
	owner=$(upstream_request 1 .key)
	[ "$(upstream_request 1 .path)" = /upload/v1beta/files ]
	# start and upload+finalize with the same key
	[ "$(upstream_request 2 .key)" = "$owner" ]
	[ "$(upstream_request 2 .query)" != "" ]
	BODY_RE=fileUri run -0 served "$GEN"
	[ "${#lines[@]}" = 3 ]
	[ "$(sort -u <<<"$output")" = "$owner" ]
	# the plain calls rotated: the pinned ones did not just happen to match
	BODY_RE='"text":"plain"' run -0 served "$GEN"
	[ "${#lines[@]}" = 3 ]
	[ "$(sort -u <<<"$output" | wc -l)" -ge 2 ]
	[ "$(served '^/v1beta/files/')" = "$owner" ]
}

@test "@google/genai: a cached content goes with its key (create from a file, use three times, update, delete)" {
	need_npm
	run -0 genai caches
	assert_output '[true,true,["echo: cached 0","echo: plain","echo: cached 1","echo: plain","echo: cached 2","echo: plain"]]'
	owner=$(upstream_request 1 .key)
	# the cache was made from the file: with the file's key
	[ "$(served '^/v1beta/cachedContents$')" = "$owner" ]
	BODY_RE=cachedContent run -0 served "$GEN"
	[ "${#lines[@]}" = 3 ]
	[ "$(sort -u <<<"$output")" = "$owner" ]
	run -0 served '^/v1beta/cachedContents/'
	[ "$(sort -u <<<"$output")" = "$owner" ]
	BODY_RE='"text":"plain"' run -0 served "$GEN"
	[ "$(sort -u <<<"$output" | wc -l)" -ge 2 ]
	# deleted: the store forgot it
	[ -z "$(ls "$STATE_DIRECTORY/affinity" | grep '^cachedContents:' || true)" ]
}

@test "@google/genai: an interaction continued with previous_interaction_id goes with its key" {
	need_npm
	run -0 genai interactions
	assert_output '[true,["echo: next 0","echo: plain","echo: next 1","echo: plain","echo: next 2","echo: plain"]]'
	run -0 served '^/v1beta/interactions'
	[ "${#lines[@]}" = 5 ]
	[ "$(sort -u <<<"$output" | wc -l)" = 1 ]
	BODY_RE='"text":"plain"' run -0 served "$GEN"
	[ "$(sort -u <<<"$output" | wc -l)" -ge 2 ]
}

@test "the rewritten upload URL points at gb-serve and carries no key" {
	run -0 upload hello
	file=$(jq -r .file.name <<<"$output")
	url=$(tr -d '\r' <start.h | sed -n 's/^X-Goog-Upload-URL: //ip')
	[[ $url == "$GB_URL/upload/v1beta/files?upload_id="*"&upload_protocol=resumable" ]]
	[[ $url != *key* && $url != *"$UPSTREAM_PORT"* ]]
	for k in "$K0" "$K1" "$K2" tok-user; do
		! grep -qF "$k" start.h final.h
	done
	grep -qi '^X-Goog-Upload-Status: final' final.h
	# under /gemini the URL keeps the prefix; a ?key= token is not passed on
	curl -sS -D start2.h -H 'X-Goog-Upload-Protocol: resumable' \
	    -H 'X-Goog-Upload-Command: start' -d '{}' \
	    "$GB_URL/gemini/upload/v1beta/files?key=tok-user" >/dev/null
	url=$(tr -d '\r' <start2.h | sed -n 's/^X-Goog-Upload-URL: //ip')
	[[ $url == "$GB_URL/gemini/upload/v1beta/files?upload_id="* ]]
	[[ $url != *key* ]]
	[ "$(upstream_request 3 .query)" = "" ]
	# the upload and its file: the start's key
	[ "$(served '^/upload/' | sort -u | wc -l)" = 2 ]
	[ "$(upstream_request 2 .key)" = "$(upstream_request 1 .key)" ]
	run -0 g GET "/gemini/v1beta/$file"
	assert_line --index 1 200
	[ "$(upstream_request 4 .key)" = "$(upstream_request 1 .key)" ]
}

@test "files: get, list merged over the owning keys, delete; the store forgets a deleted file" {
	run -0 upload one
	a=$(jq -r .file.name <<<"$output")
	run -0 upload two
	b=$(jq -r .file.name <<<"$output")
	# rotation gave the two uploads two keys
	[ "$(upstream_request 1 .key)" != "$(upstream_request 3 .key)" ]
	run -0 g GET /v1beta/files
	assert_line --index 1 200
	[ "$(jq -r '[.files[].name] | sort | join(" ")' <<<"${lines[0]}")" = "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ' | sed 's/ $//')" ]
	[ "$(served '^/v1beta/files$' | sort -u | wc -l)" = 2 ]
	for i in 1 2 3; do
		run -0 g GET "/v1beta/$a"
		assert_line --index 1 200
	done
	[ "$(served "^/v1beta/$a\$" | sort -u)" = "$(upstream_request 1 .key)" ]
	run -0 g DELETE "/v1beta/$a"
	assert_line --index 1 200
	[ ! -e "$STATE_DIRECTORY/affinity/${a//\//:}" ]
	[ -e "$STATE_DIRECTORY/affinity/${b//\//:}" ]
	# the record: the key's id, the expiry, the name; never the key
	read -r kid exp name <"$STATE_DIRECTORY/affinity/${b//\//:}"
	[ "$kid" = "$(id 1)" ] || [ "$kid" = "$(id 0)" ] || [ "$kid" = "$(id 2)" ]
	[ "$name" = "$b" ]
	[ "$exp" -gt $(($(date +%s) + 47 * 3600)) ]
	! grep -rqF AIzaSy "$STATE_DIRECTORY/affinity"
}

@test "a resource whose key was removed or is invalid: a clear 403, no other key tried" {
	record files/gone 0123456789abcdef
	run -0 g GET /v1beta/files/gone
	assert_line --index 1 403
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "the API key that owns this resource (id 0123456789abcdef) is no longer configured" ]
	[ "$(jq -r .error.status <<<"${lines[0]}")" = PERMISSION_DENIED ]
	run -0 g POST "/v1beta/models/gemini-2.0-flash:generateContent" '{"contents":[{"role":"user","parts":[{"fileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/gone"}},{"text":"x"}]}]}'
	assert_line --index 1 403
	record files/dead 1
	for i in 1 2 3; do gb-keys fail 1 >/dev/null; done
	run -0 g DELETE /v1beta/files/dead
	assert_line --index 1 403
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "the API key that owns this resource (id $(id 1)) is invalid (gb-keys reset revives it)" ]
	[ "$(upstream_count)" = 0 ]
}

@test "resources of two keys in one request: 400; a name the store does not know goes by rotation" {
	record files/a 0
	record cachedContents/b 1
	run -0 g POST "/v1beta/models/gemini-2.0-flash:generateContent" '{"cachedContent":"cachedContents/b","contents":[{"role":"user","parts":[{"fileData":{"fileUri":"files/a"}}]}]}'
	assert_line --index 1 400
	[ "$(jq -r .error.message <<<"${lines[0]}")" = "cachedContents/b and files/a were created with different API keys and cannot be used in one request" ]
	[ "$(upstream_count)" = 0 ]
	# unknown: passed on with the usual rotation; Google's answer comes back
	upstream_script "{\"key\":\"$K1\",\"path\":\"/files/elsewhere\",\"body\":{\"name\":\"files/elsewhere\"}}"
	run -0 g GET /v1beta/files/elsewhere
	assert_line --index 1 200
	# ... and the key that answered 2xx is learnt
	[ "$(cut -d' ' -f1 "$STATE_DIRECTORY/affinity/files:elsewhere")" = "$(id 1)" ]
	# an expired record is no record
	record files/old 2 -10
	run -0 g GET /v1beta/files/old
	[ "$(served '^/v1beta/files/old$' | head -1)" != "$K2" ] ||
	    [ "$(served '^/v1beta/files/old$' | wc -l)" -gt 1 ]
}

@test "batches: create, get three times between plain calls, list, cancel, delete with the creating key" {
	run -0 g POST "/v1beta/models/gemini-2.0-flash:batchGenerateContent" '{"batch":{"display_name":"b","input_config":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"hi"}]}]}}]}}}}'
	assert_line --index 1 200
	name=$(jq -r .name <<<"${lines[0]}")
	[[ $name == batches/* ]]
	owner=$(upstream_request 1 .key)
	for i in 1 2 3; do
		run -0 g GET "/v1beta/$name"
		assert_line --index 1 200
		run -0 g POST "/v1beta/models/gemini-2.0-flash:generateContent" '{"contents":[{"parts":[{"text":"plain"}]}]}'
	done
	run -0 g GET /v1beta/batches
	[ "$(jq -r '.operations[0].name' <<<"${lines[0]}")" = "$name" ]
	run -0 g POST "/v1beta/$name:cancel"
	assert_line --index 1 200
	run -0 g DELETE "/gemini/v1beta/$name"
	assert_line --index 1 200
	run -0 served '^/v1beta/batches/'
	[ "${#lines[@]}" = 5 ]
	[ "$(sort -u <<<"$output")" = "$owner" ]
	[ "$(served "$GEN" | sort -u | wc -l)" -ge 2 ]
	[ ! -e "$STATE_DIRECTORY/affinity/${name//\//:}" ]
}

@test "operations: predictLongRunning, then its operation with the same key" {
	run -0 g POST /v1beta/models/veo-3.0-generate-preview:predictLongRunning '{"instances":[{"prompt":"a cat"}]}'
	assert_line --index 1 200
	op=$(jq -r .name <<<"${lines[0]}")
	[[ $op == models/veo-3.0-generate-preview/operations/* ]]
	for i in 1 2 3; do
		run -0 g GET "/v1beta/$op"
		assert_line --index 1 200
	done
	[ "$(jq -r .done <<<"${lines[0]}")" = true ]
	[ "$(served '/operations/' | sort -u)" = "$(upstream_request 1 .key)" ]
	[ "$(served '/operations/' | wc -l)" = 3 ]
}

@test "interactions by raw HTTP: get, cancel, delete with the creating key; a create naming another key's interaction is pinned to it" {
	run -0 g POST /v1beta/interactions '{"model":"gemini-2.5-flash","input":"hi"}'
	assert_line --index 1 200
	iid=$(jq -r .id <<<"${lines[0]}")
	owner=$(upstream_request 1 .key)
	run -0 g GET "/v1beta/interactions/$iid"
	assert_line --index 1 200
	run -0 g POST "/v1beta/interactions/$iid/cancel"
	assert_line --index 1 200
	run -0 g POST /v1beta/interactions "{\"model\":\"gemini-2.5-flash\",\"input\":\"more\",\"previous_interaction_id\":\"$iid\"}"
	assert_line --index 1 200
	run -0 g DELETE "/v1beta/interactions/$iid"
	assert_line --index 1 200
	[ "$(served '^/v1beta/interactions' | sort -u)" = "$owner" ]
	[ ! -e "$STATE_DIRECTORY/affinity/interactions:$iid" ]
}

@test "Accept=yes (the tools as processes: gb-call -K, -H, the status line): an upload and its file keep their key" {
	local port=$SERVE_PORT pid=$SERVE_PID
	SERVE_LOG=$BATS_TEST_TMPDIR/accept.log start_serve accept
	GB_URL=http://127.0.0.1:$SERVE_PORT run -0 upload hello
	file=$(jq -r .file.name <<<"$output")
	GB_URL=http://127.0.0.1:$SERVE_PORT run -0 g GET "/v1beta/$file"
	stop_pid "$SERVE_PID"
	SERVE_PORT=$port SERVE_PID=$pid
	assert_line --index 1 200
	url=$(tr -d '\r' <start.h | sed -n 's/^X-Goog-Upload-URL: //ip')
	[[ $url == "http://127.0.0.1:"*"/upload/v1beta/files?upload_id="* ]]
	[ "$(served '.' | sort -u | wc -l)" = 1 ]
	[ "$(served '.' | wc -l)" = 3 ]
}
