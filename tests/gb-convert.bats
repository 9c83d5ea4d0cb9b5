#!/usr/bin/env bats
# gb-convert: the command line, the things golden fixtures cannot show
# (image download, size, speed, write errors, the man page), and that the
# generated per-fixture tests are current. The conversions themselves are
# checked by gb-convert-fixtures.bats.

bats_require_minimum_version 1.5.0

load test_helper
load lib/convert

teardown() {
	stop_pid "${SERVER:-}"
}

@test "fixture tests are generated from every fixture" {
	run -0 sh "$BATS_TEST_DIRNAME/lib/gen-convert-fixtures.sh"
	diff -u "$BATS_TEST_DIRNAME/gb-convert-fixtures.bats" - <<< "$output"
}

@test "every fixture has an expected output or error" {
	local f c missing=
	for f in "$CONVERT_FIXTURES"/*/*.in; do
		c=${f%.in}
		[ -f "$c.out" ] || [ -f "$c.err" ] || missing+=" $c"
	done
	[ -z "$missing" ] || { echo "no .out/.err:$missing"; return 1; }
}

@test "--help prints the usage on stdout and exits 0" {
	run -0 --separate-stderr gb-convert --help
	[ "${lines[0]}" = "usage: gb-convert chat-request [-I fd]" ]
	[ "${#lines[@]}" -eq 19 ]
	[ -z "$stderr" ]
}

@test "usage text equals the man page SYNOPSIS" {
	local syn
	syn=$(MANWIDTH=200 mandoc -Tascii -O width=200 \
	    "$BATS_TEST_DIRNAME/../man/gb-convert.1" | col -b |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' |
	    sed 's/^ *//' | grep -v '^$')
	run -0 gb-convert --help
	diff -u <(sed 's/^usage: //; s/^ *//' <<< "$output") <(echo "$syn")
}

@test "no mode, an unknown mode or a wrong option is a usage error" {
	run -100 --separate-stderr gb-convert
	[ "${stderr_lines[0]}" = "usage: gb-convert chat-request [-I fd]" ]
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert translate
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert chat-request -m x
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert chat-response
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert embed-response -m x -e int8
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert models extra
	[ -z "$output" ]
}

@test "-I needs an open descriptor, -s a status" {
	run -100 --separate-stderr gb-convert chat-request -I 9 < /dev/null
	[ "$stderr" = "gb-convert: -I: not an open file descriptor" ]
	run -100 --separate-stderr gb-convert error -s 42 < /dev/null
	[ "$stderr" = "gb-convert: -s 42: too small" ]
	run -100 --separate-stderr gb-convert error -s x < /dev/null
	[ "$stderr" = "gb-convert: -s x: invalid" ]
}

@test "a bad configuration value is named" {
	echo 'SHOW_SEARCH_LINK=maybe' > .env
	run -100 --separate-stderr gb-convert models <<< '{"models":[]}'
	[[ "$stderr" == "gb-convert: "*SHOW_SEARCH_LINK* ]]
	[ -z "$output" ]
}

@test "chat-request works as a filter into jq" {
	local in=$CONVERT_FIXTURES/chat-request/user-string-one-text-part.in
	run -0 bash -c "gb-convert chat-request < '$in' | jq -r '.contents[0].parts[0].text'"
	[ "$output" = Hello ]
}

@test "the -I line comes before the body and its descriptor is closed" {
	local in=$CONVERT_FIXTURES/chat-request/user-string-one-text-part.in
	# both on one pipe: the meta line must arrive first
	run -0 bash -c "gb-convert chat-request -I 3 < '$in' 3>&1"
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .path <<< "${lines[0]}")" = \
	    "models/gemini-2.0-flash:generateContent" ]
	[ "$(jq -r '.contents[0].role' <<< "${lines[1]}")" = user ]
}

@test "writing to a full disk exits 111" {
	local in=$CONVERT_FIXTURES/chat-request/user-string-one-text-part.in
	run -111 --separate-stderr bash -c \
	    "gb-convert chat-request < '$in' > /dev/full"
	[ "$stderr" = "gb-convert: stdout: No space left on device" ]
	run -111 --separate-stderr bash -c \
	    "gb-convert chat-request -I 3 < '$in' 3> /dev/full"
	[ "$stderr" = "gb-convert: info fd: No space left on device" ]
	[ -z "$output" ]
}

@test "a failed conversion writes nothing, not even the -I line" {
	run -100 --separate-stderr bash -c \
	    "gb-convert chat-request -I 3 <<< '{\"model\":\"m\",\"messages\":[]}' 3>meta"
	[ -z "$output" ]
	[ ! -s meta ]
}

@test "embeddings in base64 decode to the float32 values" {
	run -0 bash -c 'echo "{\"embeddings\":[{\"values\":[0.1,-2.5,3e-7]}]}" |
	    gb-convert embed-response -m m -e base64 | jq -r ".data[0].embedding"'
	run -0 python3 -c 'import base64,struct,sys
v = struct.unpack("<3f", base64.b64decode(sys.argv[1]))
print(" ".join("%.7g" % x for x in v))' "$output"
	[ "$output" = "0.1 -2.5 3e-07" ]
}

@test "models -i on a missing id exits 1 with nothing on stdout" {
	run -1 --separate-stderr gb-convert models -i nope <<< '{"models":[]}'
	[ -z "$output" ]
	[ "$stderr" = "gb-convert: model not found: nope" ]
}

@test "the man page EXAMPLES give the output they show" {
	local page=$BATS_TEST_DIRNAME/../man/gb-convert.1 line cmd= want= n=0
	run_example() {
		[ -n "$cmd" ] || return 0
		n=$((n + 1))
		run -0 bash -c "$cmd"
		diff -u <(printf '%s' "$want") <(printf '%s\n' "$output") ||
		    { echo "example: $cmd"; return 1; }
	}
	while IFS= read -r line; do
		case $line in
		'$ '*)	run_example; cmd=${line#\$ }; want= ;;
		.Ed)	run_example; cmd= ;;
		.*)	;;
		*)	[ -z "$cmd" ] || want+="$line"$'\n' ;;
		esac
	done < <(sed -n '/^\.Sh EXAMPLES/,/^\.Sh DESIGN/p' "$page")
	[ "$n" -ge 5 ]
}

# image_request URL: a chat request with one image part
image_request() {
	printf '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"%s"}}]}]}' "$1"
}

# start_imgserver: the image server on 127.0.0.1, which downloads may
# reach only when allowed (gb-convert-fetch.bats tests the refusals)
start_imgserver() {
	export FETCH_ALLOW_PRIVATE=127.0.0.1/32
	PORT=$(free_port)
	python3 "$BATS_TEST_DIRNAME/lib/convert-imgserver.py" "$PORT" 3>&- &
	SERVER=$!
	wait_port "$PORT"
}

@test "http image URLs are downloaded and inlined with the server's type" {
	start_imgserver
	local u=http://127.0.0.1:$PORT
	run -0 bash -c "$(declare -f image_request); image_request $u/pic |
	    gb-convert chat-request | jq -c '.contents[0].parts[1]'"
	[ "$output" = '{"inlineData":{"mimeType":"image/webp","data":"UklGRgD/"}}' ]
	# no Content-Type: the file name decides
	run -0 bash -c "$(declare -f image_request); image_request $u/photo.jpg |
	    gb-convert chat-request | jq -c '.contents[0].parts[1]'"
	[ "$output" = '{"inlineData":{"mimeType":"image/jpeg","data":"/9j/"}}' ]
	# redirects are followed
	run -0 bash -c "$(declare -f image_request); image_request $u/again |
	    gb-convert chat-request | jq -c '.contents[0].parts[1].inlineData.mimeType'"
	[ "$output" = '"image/webp"' ]
	stop_pid "$SERVER"
}

@test "a failed download is an error naming the URL" {
	start_imgserver
	local u=http://127.0.0.1:$PORT w='gb-convert: messages[0].content[1].image_url.url'
	image_request "$u/missing" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[ "$stderr" = "$w: $u/missing: cannot download: HTTP status 404" ]
	[ -z "$output" ]
	image_request "$u/blob" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[ "$stderr" = "$w: $u/blob: no media type in the answer or the name" ]
	image_request "$u/big" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[ "$stderr" = "$w: $u/big: image larger than 20971520 bytes" ]
	stop_pid "$SERVER"
	# nothing listens any more
	image_request "$u/pic" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[[ "$stderr" == "$w: $u/pic: cannot download: "* ]]
	[ -z "$output" ]
}

@test "a 20 MB image request converts in under 3 times its size in memory" {
	[ -z "${GB_VALGRIND:-}" ] || skip "memory is measured without valgrind"
	python3 -c 'import base64, json, os
d = base64.b64encode(os.urandom(15 * 1024 * 1024)).decode()
json.dump({"model": "gemini-2.0-flash", "messages": [{"role": "user",
    "content": [{"type": "text", "text": "What is this?"}, {"type":
    "image_url", "image_url": {"url": "data:image/png;base64," + d}}]}]},
    open("big.json", "w"))'
	/usr/bin/time -o rss -f %M gb-convert chat-request < big.json > big.out
	python3 -c 'import json
i = json.load(open("big.json"))["messages"][0]["content"][1]
o = json.load(open("big.out"))["contents"][0]["parts"][1]["inlineData"]
assert o["mimeType"] == "image/png"
assert "data:image/png;base64," + o["data"] == i["image_url"]["url"]'
	local size kb
	size=$(stat -c %s big.json)
	kb=$(cat rss)
	echo "# input $size bytes, peak RSS $((kb * 1024)) bytes" >&3
	# sanitizer builds carry their own shadow memory
	if [ "${SANITIZE:-}" != 1 ]; then
		[ $((kb * 1024)) -lt $((3 * size)) ]
	fi
}

@test "valgrind finds no leaks or errors, on success and on failure" {
	[ "${SANITIZE:-}" != 1 ] || skip "valgrind does not run ASan builds"
	command -v valgrind > /dev/null || skip "valgrind is not installed"
	local c
	for c in chat-request/tool-results-reversed-still-call-order \
	    chat-request/response-format-json-schema-strict-and-schema-stripped \
	    chat-request/tool-result-unknown-id-error \
	    chat-request/not-json-error \
	    chat-response/code-execution-rendered-as-original \
	    chat-response/function-call-signature-in-id-and-extra-content \
	    chat-response/images-two-kept-in-order \
	    chat-response/image-data-not-base64-error \
	    chat-request/modalities-text-image-and-image-config \
	    chat-request/image-config-unknown-key-error \
	    embed-request/three-strings-in-order \
	    embed-response/base64-little-endian-float32 \
	    models/unknown-id-exit-1 error/api-key-invalid-becomes-401; do
		local mode=${c%%/*} name=${c#*/} args=()
		if [ -f "$CONVERT_FIXTURES/$c.args" ]; then
			read -ra args < "$CONVERT_FIXTURES/$c.args"
		fi
		valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		    --error-exitcode=99 "$GB_BIN/gb-convert" "$mode" "${args[@]}" \
		    < "$CONVERT_FIXTURES/$c.in" > /dev/null 2> vg.err ||
		    [ $? != 99 ] || { echo "$c"; cat vg.err; return 1; }
	done
}
