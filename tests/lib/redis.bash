# tests/lib/redis.bash - a private redis-server for the shared key state
# tests (KEY_STATE). Load after test_helper.
#
# redis_start [PORT]: start redis-server on 127.0.0.1 (a free port, or
# PORT to come back on the same one), nothing saved; sets REDIS_PORT,
# REDIS_PID and exports KEY_STATE. redis_stop: stop it by PID.
# redis_kill: kill -9 by PID.

redis_start() {
	command -v redis-server >/dev/null || skip "redis-server is not installed"
	REDIS_PORT=${1:-$(free_port)}
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
	    --appendonly no --dir "${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}" \
	    ${REDIS_ARGS:-} >>"${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/redis.log" \
	    2>&1 3>&- </dev/null &
	REDIS_PID=$!
	export REDIS_PORT REDIS_PID
	export KEY_STATE=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
	wait_port "$REDIS_PORT"
}

redis_stop() {
	stop_pid "${REDIS_PID:-}"
	REDIS_PID=
}

redis_kill() {
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
}

# rcli ARGS...: redis-cli on the test's server
rcli() {
	redis-cli -p "$REDIS_PORT" ${REDIS_AUTH:+--user "$REDIS_USER" --pass "$REDIS_AUTH" --no-auth-warning} "$@"
}
