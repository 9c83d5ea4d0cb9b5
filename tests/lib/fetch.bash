# Helpers for the tests of what image downloads may reach: targets that
# record every connection they accept (tests/lib/fetch-target.py), one
# per NAME, in the test's directory. Load after test_helper. Every
# target started is stopped by fetch_targets_stop (by PID).

FETCH_TARGETS=()

# fetch_target NAME ADDR: start a target on ADDR (a port the kernel
# picks); returns once it listens, without connecting to it.
fetch_target() {
	local name=$1 addr=$2 i
	rm -f "$name.port" "$name.log"
	: > "$name.log"
	python3 "$BATS_TEST_DIRNAME/lib/fetch-target.py" "$addr" \
	    "$name.port" "$name.log" 3>&- &
	FETCH_TARGETS+=("$!")
	printf '%s\n' "$addr" > "$name.addr"
	for i in $(seq 200); do
		[ -s "$name.port" ] && return 0
		kill -0 "$!" 2>/dev/null || break
		sleep 0.05
	done
	echo "fetch target $name on $addr did not start" >&2
	return 1
}

# fetch_port NAME: its port
fetch_port() {
	cat "$1.port"
}

# fetch_sync NAME: one request of our own, answered only after every
# connection accepted before it (the target serves one at a time, in
# order); marked in the log so that fetch_accepts leaves it out.
fetch_sync() {
	local addr
	addr=$(cat "$1.addr")
	[[ $addr == *:* ]] && addr="[$addr]"
	curl -sS -o /dev/null --noproxy '*' -m 10 \
	    "http://$addr:$(fetch_port "$1")/img"
	echo sync >> "$1.log"
}

# fetch_accepts NAME: how many connections it accepted, fetch_sync's
# left out
fetch_accepts() {
	local a s
	a=$(grep -c '^accept ' "$1.log")
	s=$(grep -c '^sync$' "$1.log")
	echo $((a - s))
}

# fetch_untouched NAME...: once every connection in flight is in, the
# targets named accepted none (each count is said when it is not 0)
fetch_untouched() {
	local t n rc=0
	for t in "$@"; do
		fetch_sync "$t"
		n=$(fetch_accepts "$t")
		[ "$n" = 0 ] || { echo "fetch target $t accepted $n" >&2; rc=1; }
	done
	return $rc
}

fetch_targets_stop() {
	local p
	for p in "${FETCH_TARGETS[@]}"; do
		stop_pid "$p"
	done
	FETCH_TARGETS=()
}
