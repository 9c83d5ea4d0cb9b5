# Helpers for tests/gb-serve-threads.bats: many connections held open at
# once through tests/lib/conns.py, and what /proc says of the server.
# Load after test_helper and lib/serve.

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

# conns_wait LINE: until conns.out has the whole line LINE (at most 60 s:
# the sanitizers and valgrind are slow).
conns_wait() {
	conns_wait_count 1 "$1"
}

# conns_wait_count N LINE: until conns.out has LINE N times.
conns_wait_count() {
	local i
	for i in $(seq 1200); do
		[ "$(grep -cxF -- "$2" conns.out 2>/dev/null)" -ge "$1" ] &&
		    return 0
		sleep 0.05
	done
	echo "conns.out never got '$2' $1 times:" >&2
	cat conns.out conns.err >&2
	return 1
}

# conns_end: close every connection, wait for conns.py.
conns_end() {
	exec {CONNS_FD}>&-
	wait "$CONNS_PID"
}

# threads_of PID: its thread count.
threads_of() {
	awk '/^Threads:/ { print $2 }' "/proc/$1/status"
}

# fds_of PID: how many descriptors it has open.
fds_of() {
	ls "/proc/$1/fd" | wc -l
}

# wait_value N COMMAND...: until COMMAND prints N (at most 10 s); prints
# the last value on failure.
wait_value() {
	local want=$1 i v
	shift
	for i in $(seq 200); do
		v=$("$@")
		[ "$v" = "$want" ] && return 0
		sleep 0.05
	done
	echo "$*: $v, not $want" >&2
	return 1
}

# wait_exit PID SECONDS: until the process has exited, a zombie or gone
# (at most SECONDS).
wait_exit() {
	local i st
	for i in $(seq $(($2 * 20))); do
		st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.05
	done
	echo "$1 still runs after $2 s" >&2
	return 1
}
