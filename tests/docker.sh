#!/bin/sh
# tests/docker.sh: build the Dockerfile and check the image for real:
# health, the HEALTHCHECK, one chat completion against the fake upstream
# on the host, then remove everything. Too slow for every make check; run
# it by hand or in CI. Needs docker or podman (podman: see
# reference/containers.md for the runtime and ulimit flags used here).
set -eu
cd "$(dirname "$0")/.."
if command -v podman >/dev/null 2>&1; then
	ctl="podman --runtime runc"
	lim="--ulimit nofile=20000:20000 --ulimit nproc=8192:8192"
	host=10.0.2.2
elif command -v docker >/dev/null 2>&1; then
	ctl=docker
	lim=
	host=host.docker.internal
else
	echo "docker.sh: neither podman nor docker is installed" >&2
	exit 1
fi
tag=gemini-balance-test:$$
name=gb-test-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
upport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tmp=$(mktemp -d)
uppid=
cleanup() {
	$ctl rm -f "$name" >/dev/null 2>&1 || true
	$ctl rmi -f "$tag" >/dev/null 2>&1 || true
	[ -n "$uppid" ] && kill "$uppid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "docker.sh: building $tag" >&2
# shellcheck disable=SC2086
$ctl build $lim -t "$tag" . >"$tmp/build.log" 2>&1 || {
	grep -v "^ok " "$tmp/build.log" | tail -n 80 >&2
	exit 1
}
python3 tests/fake-upstream.py "$upport" >"$tmp/up.log" 2>&1 &
uppid=$!
sleep 1
# the fake listens on the host's loopback: podman's slirp4netns shows it
# to the container as 10.0.2.2
# shellcheck disable=SC2086
$ctl run -d $lim --name "$name" -p "127.0.0.1:$port:8000" \
	-e API_KEYS='["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI"]' \
	-e ALLOWED_TOKENS='["tok-docker"]' \
	-e BASE_URL="http://$host:$upport/v1beta" "$tag" >/dev/null
i=0
until curl -fsS "http://127.0.0.1:$port/health" >"$tmp/health" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { $ctl logs "$name" >&2; exit 1; }
	sleep 0.1
done
[ "$(cat "$tmp/health")" = '{"status":"healthy"}' ]
$ctl healthcheck run "$name" >/dev/null 2>&1 ||
	$ctl inspect --format '{{.State.Health.Status}}' "$name" | grep -q healthy
[ "$($ctl exec "$name" id -un)" = gemini ]
curl -fsS "http://127.0.0.1:$port/v1/chat/completions" \
	-H 'Authorization: Bearer tok-docker' \
	-d '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}' \
	| grep -q '"content":"echo: hi"'
echo "docker.sh: image builds, tests pass inside, serves health and a chat completion" >&2
