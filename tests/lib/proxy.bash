# tests/lib/proxy.bash - start and stop tests/forward-proxy.py, the tagging
# forward proxy, from bats. Load after test_helper:
#
#	load lib/proxy
#	teardown() { proxy_stop_all; }
#
# proxy_start NAME [MODE] starts one on a free loopback port; its URL is
# then $(proxy_url NAME). Every request it forwards reaches the fake
# upstream with the header "X-Via-Proxy: NAME" (recorded as
# .headers["x-via-proxy"]). MODE "refuse": it answers everything 503.

PROXY_PY=$BATS_TEST_DIRNAME/forward-proxy.py
PROXY_PIDS=()

# proxy_start NAME [MODE]
proxy_start() {
	local name=$1 port log
	port=$(free_port)
	log=$BATS_TEST_TMPDIR/proxy-$name.log
	python3 "$PROXY_PY" "$port" "$name" ${2:+"$2"} >"$log" 2>&1 3>&- \
	    </dev/null &
	PROXY_PIDS+=("$!")
	printf -v "PROXY_PORT_$name" %s "$port"
	printf -v "PROXY_PID_$name" %s "$!"
	wait_port "$port" || { cat "$log" >&2; return 1; }
}

# proxy_url NAME: http://127.0.0.1:PORT of the proxy NAME
proxy_url() {
	local v=PROXY_PORT_$1
	echo "http://127.0.0.1:${!v}"
}

# proxy_stop NAME: stop one (by its PID); its port then refuses
# connections.
proxy_stop() {
	local v=PROXY_PID_$1
	stop_pid "${!v}"
}

# proxy_stop_all: every proxy this test started.
proxy_stop_all() {
	local p
	for p in "${PROXY_PIDS[@]}"; do
		stop_pid "$p"
	done
	PROXY_PIDS=()
}
