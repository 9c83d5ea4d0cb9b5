#!/bin/bash
# tests/compose.sh: compose.yaml tried as the README's "Several machines"
# says, with podman-compose: two gb-serve containers and one Redis come up,
# each gb-serve answers on its published port (127.0.0.1:8001 and :8002,
# which must be free), both name Redis as their key state, rotate over
# one key list (30 chats spread over both use each of 3 keys 10 times), and
# a key found invalid through one is never used through the other. The
# project is taken down afterwards, its volume, network and the images this
# script made removed.
#
# The compose file is used as shipped, copied beside a .env; an override
# file only names the gemini-balance image, built here from the Dockerfile
# without its test stage (make check-docker runs that). The fake upstream
# runs on the host, on the host's own address, which the containers reach
# from their network. With no registry reachable the Redis image the
# compose file names is stood in for by one made from Debian's
# redis-server 7, started as the official image starts it (no protected
# mode: the compose network is its only way in).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
say() { echo "compose: $*"; }
. tests/lib/podman.bash
WORK=$(mktemp -d)
project=gbcompose$$
tag=localhost/gemini-balance:compose-$$
redis_image=docker.io/library/redis:7-bookworm
made_redis=
fake_pid=
K0=AIzaSyComposeKeyAAAAAAAAAAAAAAAAAAAAA0000
K1=AIzaSyComposeKeyBBBBBBBBBBBBBBBBBBBBB1111
K2=AIzaSyComposeKeyCCCCCCCCCCCCCCCCCCCCC2222

compose() {
	(cd "$WORK/project" && CONTAINERS_CONF=$WORK/containers.conf \
	    podman-compose -p "$project" -f compose.yaml -f override.yaml "$@")
}
cleanup() {
	compose down -v >/dev/null 2>&1 || true
	"${P[@]}" network rm -f "${project}_default" >/dev/null 2>&1 || true
	"${P[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
	[ -z "$made_redis" ] || "${P[@]}" rmi -f "$redis_image" >/dev/null 2>&1 || true
	podman_forget
	if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

podman_ready
if ! command -v podman-compose >/dev/null; then
	[ "$(id -u)" = 0 ] || { say "needs podman-compose: sudo apt-get install podman-compose"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null
fi
for p in 8001 8002; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		say "FAILED: port $p is busy; compose.yaml publishes it"
		exit 1
	fi
done
# what podman-compose runs podman with: runc, and limits it may set here
cat >"$WORK/containers.conf" <<-'EOF'
	[containers]
	default_ulimits = ["nofile=20000:20000", "nproc=8192:8192"]
	[engine]
	runtime = "runc"
EOF

say "building the image (without its test stage)"
podman_build "$tag" --build-arg CHECK=no
if ! "${P[@]}" image exists "$redis_image"; then
	say "no $redis_image: one from Debian's redis-server stands in"
	mkdir "$WORK/redis"
	cat >"$WORK/redis/Containerfile" <<-'EOF'
	FROM debian:bookworm-slim
	RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	    redis-server >/dev/null && rm -rf /var/lib/apt/lists/*
	RUN printf '#!/bin/sh\nexec /usr/bin/redis-server "$@" --protected-mode no\n' \
	    > /usr/local/bin/redis-server && chmod 0755 /usr/local/bin/redis-server \
	    && mkdir /data
	WORKDIR /data
	CMD ["redis-server"]
	EOF
	"${P[@]}" build "${UL[@]}" -t "$redis_image" "$WORK/redis" >"$WORK/redis.log" 2>&1 ||
	    { tail "$WORK/redis.log"; say "FAILED: the Redis stand-in"; exit 1; }
	made_redis=1
fi

# the fake upstream on the host's first address
hostip=$(hostname -I | awk '{ print $1 }')
[ -n "$hostip" ] || { say "FAILED: the host has no address the containers can reach"; exit 1; }
fport=$(free_port)
FAKE_UPSTREAM_BIND=$hostip python3 tests/fake-upstream.py "$fport" \
    >"$WORK/fake.log" 2>&1 </dev/null &
fake_pid=$!
fake="http://$hostip:$fport"
for i in $(seq 100); do
	curl -fsS "$fake/_control/health" >/dev/null 2>&1 && break
	[ "$i" -lt 100 ] || { cat "$WORK/fake.log"; say "FAILED: the fake upstream on $hostip"; exit 1; }
	sleep 0.1
done

mkdir "$WORK/project"
cp compose.yaml "$WORK/project/"
cat >"$WORK/project/.env" <<EOF
API_KEYS=["$K0","$K1","$K2"]
ALLOWED_TOKENS=["sk-compose"]
BASE_URL=$fake/v1beta
MAX_FAILURES=1
EOF
cat >"$WORK/project/override.yaml" <<EOF
services:
  gb1:
    image: $tag
  gb2:
    image: $tag
EOF

say "up"
compose up -d --no-build >"$WORK/up.log" 2>&1 ||
	{ tail -20 "$WORK/up.log"; say "FAILED: compose up"; exit 1; }
for p in 8001 8002; do
	[ "$(wait_health "$p")" = '{"status":"healthy"}' ] ||
	    { compose logs 2>&1 | tail -20; say "FAILED: /health on $p"; exit 1; }
done
logs=$(compose logs 2>&1)
n=$(grep -c 'key state: redis redis://redis:6379/0$' <<<"$logs" || true)
[ "$n" -eq 2 ] || { echo "$logs" | tail; say "FAILED: both servers name Redis as their key state ($n)"; exit 1; }
say "both servers up, key state on redis://redis:6379/0"

chat() {
	curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
	    -H 'Authorization: Bearer sk-compose' \
	    -d '{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}'
}
# uses KEY: the upstream requests made with KEY since the last reset
uses() {
	curl -fsS "$fake/_control/requests" | jq --arg k "$1" '[.[] | select(.key == $k)] | length'
}

for i in $(seq 15); do
	for p in 8001 8002; do
		s=$(chat "$p")
		[ "$s" = 200 ] || { say "FAILED: chat on $p: $s"; exit 1; }
	done
done
for k in "$K0" "$K1" "$K2"; do
	n=$(uses "$k")
	[ "$n" -eq 10 ] || { say "FAILED: 30 chats over both used a key $n times, not 10"; exit 1; }
done
say "30 chats over both servers: each key used 10 times"

# K1 invalid: found so through gb1, never tried again through gb2
curl -fsS "$fake/_control/script" -d "{\"key\":\"$K1\",\"status\":400,\"reason\":\"API_KEY_INVALID\",\"message\":\"API key not valid.\",\"repeat\":true}" >/dev/null
for i in 1 2 3; do
	s=$(chat 8001)
	[ "$s" = 200 ] || { say "FAILED: chat on 8001 with a key going bad: $s"; exit 1; }
done
[ "$(uses "$K1")" -ge 11 ] || { say "FAILED: gb1 never met the invalid key"; exit 1; }
curl -fsS -X POST "$fake/_control/reset" >/dev/null
for i in $(seq 10); do
	s=$(chat 8002)
	[ "$s" = 200 ] || { say "FAILED: chat on 8002: $s"; exit 1; }
done
n=$(uses "$K1")
[ "$n" -eq 0 ] || { say "FAILED: gb2 used the key gb1 found invalid ($n times)"; exit 1; }
say "a key found invalid through gb1: not used through gb2 in 10 chats"
say "ok"
