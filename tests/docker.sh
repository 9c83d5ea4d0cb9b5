#!/bin/bash
# tests/docker.sh: build the Dockerfile with podman and try the image as a
# user would: it starts, GET /health answers, the HEALTHCHECK passes, and a
# chat completion goes through to a fake Gemini upstream on the host.
# Everything is removed afterwards (the image too, unless KEEP_IMAGE=1).
#
# Needs podman with runc (installed here via apt-get when run as root) and
# a local debian:bookworm-slim image; when no registry is reachable the
# base image is made once with debootstrap from the configured Debian
# mirror. The container shares the host's network (--network host): on
# slirp4netns the host's loopback would be 10.0.2.2, but some sandboxes
# intercept that address. gb-serve in the container listens on port 8000,
# which must be free. The image is built in Docker's format, as podman
# keeps HEALTHCHECK only in that format.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
say() { echo "docker: $*"; }
. tests/lib/podman.bash
tag=gemini-balance:check-$$
name=gb-check-$$
WORK=$(mktemp -d)
fake_pid=
cleanup() {
	"${P[@]}" rm -f "$name" >/dev/null 2>&1 || true
	[ "${KEEP_IMAGE:-0}" = 1 ] || "${P[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
	podman_forget
	if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

podman_ready
say "building the image (the builder stage runs make check)"
podman_build "$tag"
say "$(grep -E '^[0-9]+ (tests|passed)|^1\.\.[0-9]+|^bats: ' "$WORK/build.log" | tail -1)"

fport=$(free_port)
hport=8000
if (exec 3<>/dev/tcp/127.0.0.1/$hport) 2>/dev/null; then
	say "FAILED: port $hport is busy; the container needs it"
	exit 1
fi
python3 tests/fake-upstream.py "$fport" >"$WORK/fake.log" 2>&1 </dev/null &
fake_pid=$!

"${P[@]}" run -d "${UL[@]}" --name "$name" --network host \
	-e API_KEYS='["AIzaSyDockerTestKeyAAAAAAAAAAAAAAAA0001"]' \
	-e ALLOWED_TOKENS='["sk-docker"]' \
	-e BASE_URL="http://127.0.0.1:$fport/v1beta" "$tag" >/dev/null

wait_health "$hport" >"$WORK/health" || true
[ "$(cat "$WORK/health")" = '{"status":"healthy"}' ] ||
	{ "${P[@]}" logs "$name" | tail; say "FAILED: /health"; exit 1; }
say "GET /health: $(cat "$WORK/health")"

"${P[@]}" healthcheck run "$name" 2>/dev/null || { say "FAILED: HEALTHCHECK"; exit 1; }
say "HEALTHCHECK: healthy"

user=$("${P[@]}" exec "$name" id -un)
[ "$user" != root ] || { say "FAILED: runs as root"; exit 1; }
say "runs as: $user"

ans=$(curl -sS "http://127.0.0.1:$hport/v1/chat/completions" \
	-H 'Authorization: Bearer sk-docker' -H 'Content-Type: application/json' \
	-d '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hello from the container test"}]}')
content=$(printf '%s' "$ans" | jq -r '.choices[0].message.content')
[ "$content" = "echo: hello from the container test" ] ||
	{ echo "$ans"; "${P[@]}" logs "$name" | tail; say "FAILED: chat completion"; exit 1; }
say "chat completion through the container: $content"
say "ok"
