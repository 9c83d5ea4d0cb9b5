#!/usr/bin/env bats
# What an image download of gb-convert chat-request may reach: never a
# loopback, private, link-local or other internal address unless
# FETCH_ALLOW_PRIVATE allows it, however the URL spells the address,
# whatever name resolves there, whatever a redirect says. The targets
# are HTTP servers on loopback that record every connection they accept
# (tests/lib/fetch-target.py): a refused download must leave none. The
# address classifier itself over a table (tests/lib/netaddr-check.c).

bats_require_minimum_version 1.5.0
load test_helper
load lib/fetch

setup_file() {
	load test_helper
	load lib/fetch
	build_driver netaddr-check tests/lib/netaddr-check.c || true
}

setup() {
	CHECK=$BATS_FILE_TMPDIR/netaddr-check
}

teardown() {
	fetch_targets_stop
}

# chat_image URL: a chat request with one image part
chat_image() {
	printf '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"%s"}}]}]}' "$1"
}

W='gb-convert: messages[0].content[1].image_url.url'
REFUSED='image URL resolves to a private, loopback or link-local address; refused'

# refused URL: gb-convert chat-request refuses to download URL, exit 100
# and the refusal on stderr, nothing on stdout
refused() {
	chat_image "$1" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[ "$stderr" = "$W: $1: $REFUSED" ] ||
	    { echo "for $1: $stderr" >&2; return 1; }
	[ -z "$output" ]
}

@test "the classifier: public, internal, and allowed by a list, over a table" {
	[ -x "$CHECK" ] || skip "no libgb.a beside $GB_BIN"
	# documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24,
	# 2001:db8::/32) are never on the internet: internal
	local table='8.8.8.8 public
1.1.1.1 public
93.184.216.34 public
100.63.255.255 public
100.128.0.0 public
172.15.255.255 public
172.32.0.0 public
192.167.255.255 public
192.169.0.0 public
223.255.255.255 public
2001:4860:4860::8888 public
2606:4700:4700::1111 public
::ffff:8.8.8.8 public
64:ff9b::808:808 public
2002:808:808::1 public
0.0.0.0 internal
0.255.255.255 internal
10.0.0.1 internal
10.255.255.255 internal
100.64.0.1 internal
100.127.255.255 internal
127.0.0.1 internal
127.255.255.254 internal
169.254.169.254 internal
169.254.0.1 internal
172.16.0.1 internal
172.31.255.255 internal
192.0.0.8 internal
192.0.2.1 internal
192.168.0.1 internal
192.168.255.255 internal
198.18.0.1 internal
198.19.255.255 internal
198.51.100.1 internal
203.0.113.7 internal
224.0.0.1 internal
239.255.255.250 internal
240.0.0.1 internal
255.255.255.255 internal
:: internal
::1 internal
::ffff:127.0.0.1 internal
::ffff:10.1.2.3 internal
::ffff:169.254.169.254 internal
::ffff:0.0.0.0 internal
::127.0.0.1 internal
::10.0.0.1 internal
64:ff9b::127.0.0.1 internal
64:ff9b::a9fe:a9fe internal
64:ff9b:1::1 internal
2002:7f00:1::1 internal
2002:c0a8:101::1 internal
fc00::1 internal
fd12:3456:789a::1 internal
fe80::1 internal
febf:ffff::1 internal
fec0::1 internal
ff02::1 internal
ff0e::1 internal
100::1 internal
2001:db8::1 internal
2001::1 internal
3fff::1 public
4000::1 internal
not-an-address invalid'
	run -0 "$CHECK" <<<"$(cut -d' ' -f1 <<<"$table")"
	assert_output "$table"
	# a list allows exactly its networks, IPv4 ones also in ::ffff: form
	run -0 "$CHECK" '127.0.0.2/32, 10.0.0.0/8,fd00::/8,[fe80::1]' <<'EOF'
127.0.0.2
127.0.0.1
127.0.0.3
::ffff:127.0.0.2
10.200.1.1
11.0.0.1
192.168.1.1
fd00::5
fc00::5
fe80::1
fe80::2
8.8.8.8
EOF
	assert_output '127.0.0.2 allowed
127.0.0.1 internal
127.0.0.3 internal
::ffff:127.0.0.2 allowed
10.200.1.1 allowed
11.0.0.1 public
192.168.1.1 internal
fd00::5 allowed
fc00::5 internal
fe80::1 allowed
fe80::2 internal
8.8.8.8 public'
	# true allows every address; false and empty none
	run -0 "$CHECK" true <<<'169.254.169.254'
	assert_output '169.254.169.254 allowed'
	run -0 "$CHECK" false <<<'127.0.0.1'
	assert_output '127.0.0.1 internal'
	run -0 "$CHECK" '' <<<'::1'
	assert_output '::1 internal'
}

@test "FETCH_ALLOW_PRIVATE: a bad value names the variable, at start" {
	local v
	for v in maybe 127.1 10.0.0.1/8 10.0.0.0/33 fd00::1/129 \
	    'localhost' '10.0.0.0/8,nope' 0x7f000001 '["[10.0.0.1]"]'; do
		run -100 --separate-stderr env FETCH_ALLOW_PRIVATE="$v" \
		    gb-convert chat-request <<<'{}'
		[[ "$stderr" == "gb-convert: FETCH_ALLOW_PRIVATE: \""*"\" is neither true, false nor an IP address or network (10.0.0.0/8, fd00::/8)" ]] ||
		    { echo "for $v: $stderr" >&2; return 1; }
	done
	# the JSON list form of every list variable works too
	fetch_target t4 127.0.0.1
	export FETCH_ALLOW_PRIVATE='["127.0.0.1"]'
	chat_image "http://127.0.0.1:$(fetch_port t4)/img" > req.json
	run -0 bash -c 'gb-convert chat-request < req.json |
	    jq -c ".contents[0].parts[1]"'
	assert_output '{"inlineData":{"mimeType":"image/png","data":"iVBORw=="}}'
}

@test "loopback by any spelling or name: refused, and nothing connects" {
	fetch_target t4 127.0.0.1
	fetch_target t6 ::1
	local p=$(fetch_port t4) p6=$(fetch_port t6) u name
	for u in "http://127.0.0.1:$p/img" "http://localhost:$p/img" \
	    "http://LocalHost:$p/img" "http://127.1:$p/img" \
	    "http://2130706433:$p/img" "http://0x7f.1:$p/img" \
	    "http://0177.0.0.1:$p/img" "http://0.0.0.0:$p/img" \
	    "http://[::ffff:127.0.0.1]:$p/img" "https://127.0.0.1:$p/img" \
	    "http://[::1]:$p6/img" "http://[0:0:0:0:0:0:0:1]:$p6/img" \
	    "http://user:pw@127.0.0.1:$p/img"; do
		refused "$u"
	done
	# a name other than localhost that resolves to loopback here
	name=$(hostname)
	if getent ahostsv4 "$name" | grep -q '^127\.'; then
		refused "http://$name:$p/img"
	else
		echo "# $name does not resolve to loopback: not tried" >&3
	fi
	# wait for anything in flight, then: no connection at all
	fetch_untouched t4 t6
}

@test "private, link-local, CGNAT, unspecified and multicast addresses are refused before any connect" {
	local u
	# no listener can stand there here: the refusal is the callback's
	# (an address that was tried would say "cannot download")
	for u in http://169.254.169.254/latest/meta-data/ \
	    http://10.0.0.1/x.png http://172.16.5.4:8080/x.png \
	    http://192.168.1.1/x.png http://100.64.0.1/x.png \
	    http://0.0.0.0/x.png http://224.0.0.1/x.png \
	    "http://[fd00::1]/x.png" "http://[fe80::1%25lo]/x.png" \
	    "http://[::ffff:169.254.169.254]/x.png" \
	    "http://[::ffff:a00:1]/x.png" "http://[64:ff9b::a9fe:a9fe]/x.png" \
	    http://2852039166/latest/meta-data/; do
		refused "$u"
	done
}

@test "a redirect from an allowed server to a loopback address: refused, nothing connects" {
	fetch_target t4 127.0.0.1
	fetch_target ok 127.0.0.2
	local p=$(fetch_port t4) q=$(fetch_port ok)
	# only the redirecting server is allowed
	export FETCH_ALLOW_PRIVATE=127.0.0.2/32
	chat_image "http://127.0.0.2:$q/img" > req.json
	run -0 bash -c 'gb-convert chat-request < req.json |
	    jq -c ".contents[0].parts[1].inlineData.mimeType"'
	assert_output '"image/png"'
	refused "http://127.0.0.2:$q/to/http://127.0.0.1:$p/img"
	refused "http://127.0.0.2:$q/to/http://localhost:$p/img"
	refused "http://127.0.0.2:$q/to/http://2130706433:$p/img"
	# a redirect to another scheme is not followed at all
	chat_image "http://127.0.0.2:$q/to/file:///etc/passwd" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[[ "$stderr" == "$W: http://127.0.0.2:$q/to/file:///etc/passwd: cannot download: "* ]]
	fetch_untouched t4
	# the allowed server saw the image request and the three redirects
	# and the one to file:, one connection each
	run -0 fetch_accepts ok
	assert_output 5
}

@test "FETCH_ALLOW_PRIVATE lets downloads reach what it lists, or everything" {
	fetch_target t4 127.0.0.1
	fetch_target ok 127.0.0.2
	local p=$(fetch_port t4) q=$(fetch_port ok)
	export FETCH_ALLOW_PRIVATE=127.0.0.2
	refused "http://127.0.0.1:$p/img"
	export FETCH_ALLOW_PRIVATE=127.0.0.0/8
	chat_image "http://127.0.0.2:$q/to/http://127.0.0.1:$p/img" > req.json
	run -0 bash -c 'gb-convert chat-request < req.json |
	    jq -c ".contents[0].parts[1]"'
	assert_output '{"inlineData":{"mimeType":"image/png","data":"iVBORw=="}}'
	export FETCH_ALLOW_PRIVATE=true
	chat_image "http://localhost:$p/img" > req.json
	run -0 bash -c 'gb-convert chat-request < req.json |
	    jq -c ".contents[0].parts[1].inlineData.mimeType"'
	assert_output '"image/png"'
	# an allowed server's own status is still named
	chat_image "http://127.0.0.1:$p/secret" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	[ "$stderr" = "$W: http://127.0.0.1:$p/secret: cannot download: HTTP status 404" ]
	run -0 fetch_accepts t4
	assert_output 3
}

@test "a refused download says nothing of what answers there" {
	fetch_target t4 127.0.0.1
	local p=$(fetch_port t4) closed
	closed=$(free_port)
	# a listening port, a closed one, one answering 404: the same answer
	refused "http://127.0.0.1:$p/img"
	refused "http://127.0.0.1:$p/secret"
	refused "http://127.0.0.1:$closed/img"
	[[ "$stderr" != *404* && "$stderr" != *refused\ to* ]]
}

@test "while the check is on, no proxy from the environment carries a download" {
	fetch_target px 127.0.0.2
	local q=$(fetch_port px)
	# a proxy would fetch the internal URL for us: it is not used
	export http_proxy=http://127.0.0.2:$q HTTPS_PROXY=http://127.0.0.2:$q
	export FETCH_ALLOW_PRIVATE=127.0.0.2/32
	refused "http://127.0.0.1:9/img"
	chat_image "http://127.0.0.2:$q/img" > req.json
	run -0 bash -c 'gb-convert chat-request < req.json |
	    jq -c ".contents[0].parts[1].inlineData.mimeType"'
	assert_output '"image/png"'
	# with every address allowed the proxy variables apply again
	export FETCH_ALLOW_PRIVATE=true
	chat_image "http://127.0.0.1:9/to/http://x" > req.json
	run -100 --separate-stderr gb-convert chat-request < req.json
	# the proxy (our target) answered 404 for the absolute URL
	[ "$stderr" = "$W: http://127.0.0.1:9/to/http://x: cannot download: HTTP status 404" ]
	run -0 fetch_accepts px
	assert_output 2
}
