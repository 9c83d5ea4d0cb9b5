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
	MAX_FAILURES MAX_RETRIES KEY_COOLDOWN TIMEOUT PROXY PROXIES KEY_STATE \
	PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY MAX_BODY STATE_DIRECTORY \
	METRICS_LISTEN \
	LOG_LEVEL ENV_FILE TTS_MODEL TTS_VOICE IMAGE_MODEL IMAGE_MODELS \
	FETCH_ALLOW_PRIVATE \
	http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	CREDENTIALS_DIRECTORY JOURNAL_STREAM GB_SECRETS_FD

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

# build_driver NAME SOURCE: a test driver (a C file of tests/lib) built
# against the libgb.a beside GB_BIN into $BATS_FILE_TMPDIR/NAME, with the
# sanitizers when libgb.a has them; under tests/valgrind.sh GB_BIN holds
# shims, and the driver runs under valgrind itself. Fails when there is
# no libgb.a.
build_driver() {
	local src=$BATS_TEST_DIRNAME/.. lib flags
	lib=$(dirname "$GB_BIN")/libgb.a
	[ -f "$lib" ] || [ -z "${GB_VALGRIND:-}" ] || lib=$src/build/libgb.a
	[ -f "$lib" ] || return 1
	flags="-std=c11 -D_GNU_SOURCE -I$src/lib -O1 -g -Wall -Wextra
	    $(pkg-config --cflags libcurl jansson libsystemd)"
	if nm "$lib" 2>/dev/null | grep -q ' U __asan_'; then
		flags+=" -fsanitize=address,undefined -fno-omit-frame-pointer"
		flags+=" -fno-sanitize-recover=undefined"
	fi
	# shellcheck disable=SC2086
	cc $flags -o "$BATS_FILE_TMPDIR/$1" "$src/$2" \
	    "$lib" $(pkg-config --libs libcurl jansson libsystemd) -lmp3lame -lhiredis \
	    -lpthread
}
