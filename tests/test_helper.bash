# Loaded by every tests/*.bats file: assertions, the tools under test on
# PATH, a clean configuration environment, and small process helpers.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

GB_BIN=${GB_BIN:-$BATS_TEST_DIRNAME/../build/bin}
PATH=$GB_BIN:$PATH
FIXTURES=$BATS_TEST_DIRNAME/fixtures
export PATH GB_BIN FIXTURES

# Sanitizer reports get their own exit codes so they never pass for one
# of ours (1, 100, 111).
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:exitcode=87:print_stacktrace=1}

# Nothing from the host's configuration leaks into a test.
unset API_KEYS ALLOWED_TOKENS AUTH_TOKEN BASE_URL MODEL_SEARCH \
	TOOLS_CODE_EXECUTION_ENABLED SHOW_SEARCH_LINK SHOW_THINKING_PROCESS \
	MAX_FAILURES MAX_RETRIES KEY_COOLDOWN TIMEOUT PROXY PROXIES \
	PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY MAX_BODY STATE_DIRECTORY \
	LOG_LEVEL ENV_FILE \
	http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# The tests run in their own directory so ./.env and ./state are theirs.
cd "$BATS_TEST_TMPDIR" || exit 1

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
	local port=$1 tries=$(( ${2:-10} * 20 ))
	while (( tries-- > 0 )); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$port" >&2
	return 1
}

# stop_pid PID: TERM, then KILL after 5 s; never by name.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	return 0
}

# run_fixture TOOL ARGS... < case.in: compare with case.out / .err / .status
# (used by fixture loops; see gb-convert.bats).
