#!/bin/sh
# Install what building and testing need, but only what is missing.
# As root on Debian it runs apt-get; otherwise it names the packages and
# the command to run, and fails.
set -u

pkgs=""
need() { pkgs="$pkgs $1"; }

command -v cc >/dev/null 2>&1 || need build-essential
command -v pkg-config >/dev/null 2>&1 || need pkg-config
for p in libcurl:libcurl4-openssl-dev jansson:libjansson-dev \
    libsystemd:libsystemd-dev; do
	pkg-config --exists "${p%%:*}" 2>/dev/null || need "${p#*:}"
done
# MP3 encoding (lib/audio.c); `file` checks what the speech tests get
[ -f /usr/include/lame/lame.h ] || need libmp3lame-dev
command -v file >/dev/null 2>&1 || need file
# the shared key state on Redis (lib/redis.c) and its tests
[ -f /usr/include/hiredis/hiredis.h ] || need libhiredis-dev
command -v redis-server >/dev/null 2>&1 || need redis-server
command -v bats >/dev/null 2>&1 || need bats
[ -f /usr/lib/bats/bats-assert/load.bash ] || need bats-assert
[ -f /usr/lib/bats/bats-support/load.bash ] || need bats-support
command -v mandoc >/dev/null 2>&1 || need mandoc
# systemd-analyze verify checks the units' man: references with man(1)
command -v man >/dev/null 2>&1 || need man-db
command -v jq >/dev/null 2>&1 || need jq
command -v python3 >/dev/null 2>&1 || need python3
command -v curl >/dev/null 2>&1 || need curl
command -v systemd-socket-activate >/dev/null 2>&1 || need systemd
command -v valgrind >/dev/null 2>&1 || need valgrind
# make check-valgrind runs its files two at a time (bats --jobs)
command -v parallel >/dev/null 2>&1 || need parallel
command -v setsid >/dev/null 2>&1 || need util-linux
[ -x /usr/bin/time ] || need time
command -v col >/dev/null 2>&1 || need bsdextrautils
[ -f /etc/ssl/certs/ca-certificates.crt ] || need ca-certificates
command -v ps >/dev/null 2>&1 || need procps
# gb-serve-metrics.bats reads /metrics with prometheus_client's parser
# (Debian's python3, not another one on PATH)
[ -f /usr/lib/python3/dist-packages/prometheus_client/parser.py ] ||
    need python3-prometheus-client
# the tests check the end of Google's quota day with Python's zoneinfo
[ -f /usr/share/zoneinfo/America/Los_Angeles ] || need tzdata

if [ "${1:-}" = fuzz ]; then
	command -v clang >/dev/null 2>&1 || need clang
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
	    >/dev/null 2>&1 || need libclang-rt-14-dev
fi

[ -z "$pkgs" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$pkgs" >&2
	echo "deps: install them with: sudo apt-get install$pkgs" >&2
	exit 1
fi
echo "deps: installing:$pkgs"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null &&
	apt-get install -y -qq --no-install-recommends $pkgs >/dev/null ||
	{ echo "deps: apt-get install failed" >&2; exit 1; }
