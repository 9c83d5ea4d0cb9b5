# Helpers for the gb-serve tests: start the server under each launcher,
# talk raw HTTP to it, find its processes. Load after test_helper.

SERVE_LIB=$BATS_TEST_DIRNAME/lib

# The variables gb-serve and its tools read; systemd-socket-activate
# passes the child only what is named with -E.
SERVE_VARS="API_KEYS ALLOWED_TOKENS AUTH_TOKEN BASE_URL MODEL_SEARCH
	TOOLS_CODE_EXECUTION_ENABLED SHOW_SEARCH_LINK SHOW_THINKING_PROCESS
	MAX_FAILURES MAX_RETRIES KEY_COOLDOWN TIMEOUT PROXY PROXIES
	PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY MAX_BODY KEY_STATE
	STATE_DIRECTORY METRICS_LISTEN LOG_LEVEL ENV_FILE ASAN_OPTIONS UBSAN_OPTIONS
	LSAN_OPTIONS NOTIFY_SOCKET TTS_MODEL TTS_VOICE IMAGE_MODEL IMAGE_MODELS
	FETCH_ALLOW_PRIVATE CREDENTIALS_DIRECTORY JOURNAL_STREAM"

# start_serve MODE [gb-serve options...]
#   MODE: listen (gb-serve -l), activate (systemd-socket-activate, Accept=no),
#         accept (--accept: connection on fd 3), inetd (--accept --inetd)
# Sets SERVE_PORT, SERVE_PID (the process the test stops), SERVE_LOG.
# SERVE_BIN (default $GB_BIN/gb-serve) is the program; SERVE_WRAP, when
# set, a command that execs it (e.g. "prlimit --nofile=64:64"), so that
# SERVE_PID is gb-serve's all the same.
start_serve() {
	local mode=$1 v bin=${SERVE_BIN:-$GB_BIN/gb-serve}
	local -a wrap
	shift
	read -r -a wrap <<<"${SERVE_WRAP:-}"
	local -a envs=()
	for v in $SERVE_VARS; do
		[ -n "${!v+x}" ] && envs+=(-E "$v")
	done
	SERVE_PORT=$(free_port)
	SERVE_LOG=${SERVE_LOG:-${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/serve.log}
	case $mode in
	listen)
		"${wrap[@]}" "$bin" -l "127.0.0.1:$SERVE_PORT" "$@" \
		    2>>"$SERVE_LOG" 3>&- &
		;;
	activate)
		systemd-socket-activate -l "127.0.0.1:$SERVE_PORT" \
		    "${envs[@]}" "${wrap[@]}" "$bin" "$@" 2>>"$SERVE_LOG" 3>&- &
		;;
	accept)
		systemd-socket-activate -a -l "127.0.0.1:$SERVE_PORT" \
		    "${envs[@]}" "${wrap[@]}" "$bin" "$@" 2>>"$SERVE_LOG" 3>&- &
		;;
	inetd)
		systemd-socket-activate -a --inetd -l "127.0.0.1:$SERVE_PORT" \
		    "${envs[@]}" "${wrap[@]}" "$bin" "$@" 2>>"$SERVE_LOG" 3>&- &
		;;
	*)
		echo "start_serve: unknown mode $mode" >&2
		return 1
		;;
	esac
	SERVE_PID=$!
	wait_port "$SERVE_PORT"
}

stop_serve() {
	stop_pid "$SERVE_PID"
}

# raw [rawhttp options]: stdin (printf-escaped by the caller) to the server
raw() {
	python3 "$SERVE_LIB/rawhttp.py" "$SERVE_PORT" "$@"
}

# url PATH
url() {
	echo "http://127.0.0.1:$SERVE_PORT$1"
}

# The direct children of a process, by PID (every process's parent, as
# /proc/PID/stat gives it: a thread's children file can miss a child).
children_of() {
	ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '
}

# All descendants of a process.
descendants_of() {
	local c
	for c in $(children_of "$1"); do
		echo "$c"
		descendants_of "$c"
	done
}

# serve_file_upstream: for setup_file: one fake upstream for all the
# tests of a file, started from the file's temporary directory.
serve_file_upstream() {
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
}

# serve_test_setup: for setup: the fake's queue and records emptied,
# BASE_URL at it, the usual configuration, SERVE_LOG in the test's own
# directory.
serve_test_setup() {
	upstream_reset
	upstream_env
	serve_config
	SERVE_LOG=$BATS_TEST_TMPDIR/serve.log
}

# host_pids PID: the tools' hosts under PID (lib/host.h; their comm ends
# in -host). request_pids PID: the other descendants, a request's own.
host_pids() {
	local p
	for p in $(descendants_of "$1"); do
		case $(cat "/proc/$p/comm" 2>/dev/null) in
		*-host) echo "$p" ;;
		esac
	done
}
request_pids() {
	local p
	for p in $(descendants_of "$1"); do
		case $(cat "/proc/$p/comm" 2>/dev/null) in
		*-host) ;;
		*) echo "$p" ;;
		esac
	done
}

# pipes_of PID...: how many pipes the processes hold (a host holds none
# but a running job's).
pipes_of() {
	local p n=0
	for p in "$@"; do
		n=$((n + $(find "/proc/$p/fd" -lname 'pipe:*' 2>/dev/null | wc -l)))
	done
	echo "$n"
}

# wait_no_pipes PID...: true once the hosts hold no pipe, i.e. no job is
# running (polling for at most 10 s: a loaded machine is slow).
wait_no_pipes() {
	local i
	for i in $(seq 200); do
		[ "$(pipes_of "$@")" -eq 0 ] && return 0
		sleep 0.05
	done
	echo "jobs still running after 10 s: $(pipes_of "$@") pipes in $*" >&2
	return 1
}

# A minimal valid configuration for the server.
serve_config() {
	export API_KEYS='["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI","AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBwXyZ"]'
	export ALLOWED_TOKENS='["tok-user"]'
	export AUTH_TOKEN=tok-admin
	export STATE_DIRECTORY=${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/state
}

# need_tool NAME: skip when a tool gb-serve composes is not built yet.
need_tool() {
	[ -x "$GB_BIN/$1" ] || skip "$1 is not built in $GB_BIN yet"
}

# wait_gone PID...: true once none of the processes exists (zombies
# included: /proc/PID stays until the parent reaps it), polling for at
# most 10 s.
wait_gone() {
	local i p left
	for i in $(seq 200); do
		left=
		for p in "$@"; do
			[ -e "/proc/$p" ] && left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "still there after 10 s:$left" >&2
	for p in $left; do
		echo "$p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) $(awk '/^State/ {print $2}' "/proc/$p/status" 2>/dev/null)" >&2
	done
	return 1
}

# wait_file_has FILE STRING: until FILE contains STRING (at most 5 s).
wait_file_has() {
	local i
	for i in $(seq 100); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$1 never got '$2'" >&2
	return 1
}

# stop_other PID: like stop_pid, for a process that is not this shell's
# child (wait would fail on it).
stop_other() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
