# npm_clients PACKAGE...: make the real client packages available, from
# the npm registry into a cache directory (GB_NPM_CACHE, default
# ~/.cache/gemini-balance/npm) on first use, and copy the test's client
# scripts (tests/clients/*.mjs) beside them, since ES modules resolve
# packages from their own directory. Sets NPM_PREFIX and CLIENTS.
#
# Returns 0 when the packages are there. Without npm, or without a
# reachable registry, sets NO_NPM to the reason (the tests skip) and
# returns 0 - except under CI, where the registry is part of the machine
# and a failure must show: then it returns 1.
npm_clients() {
	local p missing=
	if ! command -v npm >/dev/null; then
		export NO_NPM="npm is not installed"
		[ -z "${CI:-}" ] || return 1
		return 0
	fi
	NPM_PREFIX=${GB_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gemini-balance/npm}
	for p in "$@"; do
		# the name without its version: @scope/name@1 -> @scope/name
		local name=${p%@*}
		[ -n "$name" ] || name=$p
		[ -f "$NPM_PREFIX/node_modules/$name/package.json" ] || missing=1
	done
	if [ -n "$missing" ]; then
		mkdir -p "$NPM_PREFIX"
		if ! npm install --prefix "$NPM_PREFIX" --no-audit --no-fund \
		    --loglevel=error "$@" >&2; then
			[ -z "${CI:-}" ] || return 1
			export NO_NPM="the npm registry cannot be reached"
			return 0
		fi
	fi
	CLIENTS=$NPM_PREFIX/gb-clients
	mkdir -p "$CLIENTS"
	cp "$BATS_TEST_DIRNAME"/clients/*.mjs "$CLIENTS/"
	export NPM_PREFIX CLIENTS
}

# The setup of a file of client tests against one gb-serve (Accept=no)
# and the fake upstream: clients_setup_file PACKAGE... from setup_file,
# clients_teardown_file from teardown_file, clients_setup from setup.
# Without the packages (NO_NPM) the server still runs, for the tests
# that use raw HTTP.
clients_setup_file() {
	npm_clients "$@" || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG GB_URL=http://127.0.0.1:$SERVE_PORT
}

clients_teardown_file() {
	stop_serve
	upstream_stop
}

clients_setup() {
	need_tool gb-convert
	need_tool gb-sse
	upstream_reset
	upstream_env
	serve_config
	gb-keys reset >/dev/null
	export GB_TOKEN=tok-user
}

# need_npm: skip a test that needs the client packages when they could
# not be had (a skip inside `run` would not reach the test).
need_npm() {
	[ -z "${NO_NPM:-}" ] || skip "$NO_NPM"
}
