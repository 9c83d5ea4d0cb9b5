# Helpers for tests/gb-sse.bats.

SSE_FIXTURES=$FIXTURES/sse

# The random parts of gb-sse output, made comparable: the completion id,
# the created time and the random half of tool-call ids; in Responses
# events the response and item ids and created_at; in Anthropic events
# the message and tool_use ids.
sse_normalise() {
	sed -E -e 's/"id":"chatcmpl-[0-9a-f]{24}"/"id":"chatcmpl-ID"/g' \
	    -e 's/"created":[0-9]+,/"created":0,/g' \
	    -e 's/"created_at":[0-9]+,/"created_at":0,/g' \
	    -e 's/"(resp|msg|rs|fc)_[0-9a-f]{32}"/"\1_ID"/g' \
	    -e 's/"(msg|toolu)_[0-9a-f]{24}"/"\1_ID"/g' \
	    -e 's/"call_[0-9a-f]{16}/"call_ID/g'
}

# Line ends of an input (stored with CRLF, as Google sends): crlf, lf, cr.
sse_line_ends() {
	case $1 in
	crlf)	cat ;;
	lf)	sed 's/\r$//' ;;
	cr)	tr -d '\n' ;;
	esac
}

# Copy stdin to stdout one byte per write(2).
sse_bytewise() {
	python3 -c '
import os, sys
d = sys.stdin.buffer.read()
for i in range(len(d)):
    os.write(1, d[i:i + 1])
'
}

# sse_run_case NAME whole|bytes crlf|lf|cr: run one golden case in the
# current directory; leaves out, err, status there.
sse_run_case() {
	local name=$1 feed=$2 ends=$3 args=() st
	if [ -f "$SSE_FIXTURES/$name.args" ]; then
		read -ra args < "$SSE_FIXTURES/$name.args"
	fi
	rm -f .env
	if [ -f "$SSE_FIXTURES/$name.env" ]; then
		cp "$SSE_FIXTURES/$name.env" .env
	fi
	if [ "$feed" = bytes ]; then
		sse_line_ends "$ends" < "$SSE_FIXTURES/$name.in" | sse_bytewise |
		    gb-sse "${args[@]}" > raw 2> err
		st=${PIPESTATUS[2]}
	else
		sse_line_ends "$ends" < "$SSE_FIXTURES/$name.in" |
		    gb-sse "${args[@]}" > raw 2> err
		st=${PIPESTATUS[1]}
	fi
	echo "$st" > status
	sse_normalise < raw > out
}

# sse_check_case NAME whole|bytes crlf|lf|cr: run and compare with the
# expected .out, .err (default: empty) and .status (default: 0).
sse_check_case() {
	local name=$1 want_status=0 want_err=/dev/null
	sse_run_case "$@"
	[ -f "$SSE_FIXTURES/$name.status" ] &&
	    want_status=$(cat "$SSE_FIXTURES/$name.status")
	[ -f "$SSE_FIXTURES/$name.err" ] && want_err=$SSE_FIXTURES/$name.err
	if ! cmp -s out "$SSE_FIXTURES/$name.out"; then
		echo "case $name ($2, $3): stdout differs" >&2
		diff "$SSE_FIXTURES/$name.out" out >&2
		return 1
	fi
	if ! cmp -s err "$want_err"; then
		echo "case $name ($2, $3): stderr differs" >&2
		diff "$want_err" err >&2
		return 1
	fi
	if [ "$(cat status)" != "$want_status" ]; then
		echo "case $name ($2, $3): exit $(cat status)," \
		    "want $want_status" >&2
		return 1
	fi
}

# Every case name (a .in file) of the golden set.
sse_cases() {
	local f
	for f in "$SSE_FIXTURES"/*.in; do
		f=${f##*/}
		echo "${f%.in}"
	done
}
