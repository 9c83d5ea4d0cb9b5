# Helpers for the tests of gb-serve's loop (tests/gb-serve-loop.bats):
# many connections held open at once through tests/lib/conns.py, what
# /proc says of the server and its hosts, and waits for a state. Load
# after test_helper and lib/serve.
#
# Every wait polls for a state with a generous bound (WAIT_BOUND
# seconds, default 60: a loaded machine and the sanitizers are slow);
# none sleeps a fixed time and hopes.

WAIT_BOUND=${WAIT_BOUND:-60}

# conns_start: start conns.py on SERVE_PORT, commands through a FIFO;
# its answers go to conns.out.
conns_start() {
	rm -f conns.cmd conns.out
	mkfifo conns.cmd
	python3 "$SERVE_LIB/conns.py" "$SERVE_PORT" < conns.cmd \
	    > conns.out 2>conns.err 3>&- &
	CONNS_PID=$!
	exec {CONNS_FD}>conns.cmd
}

# conns COMMAND...: one command (see conns.py).
conns() {
	echo "$*" >&"$CONNS_FD"
}

# conns_wait LINE: until conns.out has the whole line LINE.
conns_wait() {
	conns_wait_count 1 "$1"
}

# conns_wait_count N LINE: until conns.out has LINE N times.
conns_wait_count() {
	local i
	for i in $(seq $((WAIT_BOUND * 20))); do
		[ "$(grep -cxF -- "$2" conns.out 2>/dev/null)" -ge "$1" ] &&
		    return 0
		# conns.py gone: nothing more will come
		kill -0 "$CONNS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "conns.out never got '$2' $1 times:" >&2
	cat conns.out conns.err >&2
	return 1
}

# conns_wait_prefix PREFIX: until conns.out has a line starting with
# PREFIX; prints that line.
conns_wait_prefix() {
	local i l
	for i in $(seq $((WAIT_BOUND * 20))); do
		l=$(awk -v p="$1" 'index($0, p) == 1 { print; exit }' \
		    conns.out 2>/dev/null)
		[ -n "$l" ] && { echo "$l"; return 0; }
		kill -0 "$CONNS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "conns.out never got a line '$1...':" >&2
	cat conns.out conns.err >&2
	return 1
}

# conns_end: close every connection, wait for conns.py.
conns_end() {
	exec {CONNS_FD}>&-
	CONNS_FD=
	wait "$CONNS_PID"
}

# conns_stop: for teardown: conns.py stopped (by its PID) if it runs.
conns_stop() {
	[ -n "${CONNS_FD:-}" ] || return 0
	exec {CONNS_FD}>&-
	CONNS_FD=
	stop_pid "$CONNS_PID"
}

# threads_of PID: its thread count.
threads_of() {
	awk '/^Threads:/ { print $2 }' "/proc/$1/status"
}

# fds_of PID: how many descriptors it has open.
fds_of() {
	ls "/proc/$1/fd" | wc -l
}

# cpu_ticks PID: the CPU time it used so far (user + system), in clock
# ticks (/proc/PID/stat fields 14 and 15, after the parenthesised comm).
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# nofile_of PID: its descriptor limits, "SOFT HARD".
nofile_of() {
	awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits"
}

# client_socks PID PORT: how many of PID's descriptors are TCP
# connections whose local port is PORT (clients of a server on PORT),
# from /proc/net/tcp{,6} matched by inode.
client_socks() {
	local pid=$1 hex
	hex=$(printf '%04X' "$2")
	{
		awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p &&
		    $4 != "0A" { print "socket:[" $10 "]" }' \
		    /proc/net/tcp /proc/net/tcp6 2>/dev/null
		echo --
		find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null
	} | awk '$0 == "--" { fds = 1; next }
	    !fds { conn[$0] = 1; next }
	    ($0 in conn) { n++ } END { print n + 0 }'
}

# wait_value N COMMAND...: until COMMAND prints N; prints the last value
# on failure.
wait_value() {
	local want=$1 i v
	shift
	for i in $(seq $((WAIT_BOUND * 20))); do
		v=$("$@")
		[ "$v" = "$want" ] && return 0
		sleep 0.05
	done
	echo "$*: $v, not $want after $WAIT_BOUND s" >&2
	return 1
}

# wait_until COMMAND...: until COMMAND succeeds.
wait_until() {
	local i
	for i in $(seq $((WAIT_BOUND * 20))); do
		"$@" && return 0
		sleep 0.05
	done
	echo "never true after $WAIT_BOUND s: $*" >&2
	return 1
}

# wait_exit PID: until the process has exited, a zombie or gone.
wait_exit() {
	local i st
	for i in $(seq $((WAIT_BOUND * 20))); do
		st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.05
	done
	echo "$1 still runs after $WAIT_BOUND s" >&2
	return 1
}

# running PID: the process exists and is not a zombie.
running() {
	local st
	st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# host_of PID TOOL: the PID of TOOL's host (comm TOOL-host) among the
# children of PID, if any.
host_of() {
	local c
	for c in $(children_of "$1"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$2-host" ] &&
		    running "$c" && echo "$c"
	done
	return 0
}
