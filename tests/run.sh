#!/bin/sh
# make run: serve on 127.0.0.1:8000 (GB_LISTEN to change it) with the
# settings of the environment and ./.env (or $ENV_FILE), through systemd-socket-activate as systemd would, or
# with gb-serve -l when that is not installed.
#
#	tests/run.sh BINDIR
set -u
bin=$1
listen=${GB_LISTEN:-127.0.0.1:8000}
env=${ENV_FILE:-./.env}

# the settings may be in the environment alone: only when they are
# missing there and no .env is at hand, say what to put where
if ! "$bin/gb-serve" -n 2>/dev/null && [ ! -f "$env" ]; then
	cat >&2 <<'MSG'
make run: API_KEYS and ALLOWED_TOKENS are set neither in the environment
nor in a .env file here. Create ./.env with at least these two lines
(your Gemini API keys, and the tokens your clients will send), or export
them:

  API_KEYS=["AIzaSy...your-first-key","AIzaSy...your-second-key"]
  ALLOWED_TOKENS=["choose-a-client-token"]

Optional: AUTH_TOKEN (admin, for /v1/keys/list), BASE_URL, MODEL_SEARCH,
PROXY, TIMEOUT, MAX_RETRIES, ... (see gemini-balance(7)). The environment
wins over the file; ENV_FILE names another file. Then run make run again.
MSG
	exit 1
fi

# systemd-socket-activate hands the child a bare environment: forward the
# configuration (the .env itself is read by the tools, from this
# directory).
vars="API_KEYS ALLOWED_TOKENS AUTH_TOKEN BASE_URL MODEL_SEARCH
TOOLS_CODE_EXECUTION_ENABLED SHOW_SEARCH_LINK SHOW_THINKING_PROCESS
MAX_FAILURES MAX_RETRIES KEY_COOLDOWN TIMEOUT PROXY PROXIES
PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY MAX_BODY STATE_DIRECTORY KEY_STATE
METRICS_LISTEN
LOG_LEVEL ENV_FILE http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy
ALL_PROXY no_proxy NO_PROXY ASAN_OPTIONS UBSAN_OPTIONS TTS_MODEL TTS_VOICE
IMAGE_MODEL IMAGE_MODELS FETCH_ALLOW_PRIVATE"
set --
for v in $vars; do
	eval "isset=\${$v+x}"
	[ -n "$isset" ] && set -- "$@" -E "$v"
done

# systemd-socket-activate starts gb-serve at the first connection: check
# the configuration now, so a mistake shows here and not at the first
# request
"$bin/gb-serve" -n || exit 1
echo "make run: serving on http://$listen (configuration from the environment and $env; Ctrl-C stops)" >&2
if command -v systemd-socket-activate >/dev/null 2>&1; then
	exec systemd-socket-activate -l "$listen" "$@" "$bin/gb-serve"
fi
exec "$bin/gb-serve" -l "$listen"
