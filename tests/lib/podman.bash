# tests/lib/podman.bash - podman as these scripts use it, for
# tests/docker.sh and tests/compose.sh (sourced, after set -euo pipefail).
#
# P: podman with runc (crun cannot run a RUN step on this kind of host);
# UL: the ulimits to pass (podman's defaults cannot be raised here).
# podman_ready: podman and runc installed (apt-get, as root), and a local
# debian:bookworm-slim (made once with debootstrap from the configured
# Debian mirror when no registry is reachable). WORK must name a scratch
# directory.
# podman_build TAG [ARG...]: build the Dockerfile in Docker's format
# (podman keeps HEALTHCHECK only in that format), the log in
# build/docker-build.log on failure.
# podman_forget: after podman_build, what it left unnamed removed.

P=(podman --runtime runc)
UL=(--ulimit nofile=20000:20000 --ulimit nproc=8192:8192)

podman_ready() {
	if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
		[ "$(id -u)" = 0 ] || { say "needs podman and runc: sudo apt-get install podman runc slirp4netns uidmap fuse-overlayfs"; return 1; }
		say "installing podman"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman \
		    buildah runc slirp4netns uidmap fuse-overlayfs debootstrap \
		    >/dev/null
	fi
	"${P[@]}" image exists debian:bookworm-slim && return 0
	command -v debootstrap >/dev/null ||
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	local mirror root=$WORK/root
	mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	say "making debian:bookworm-slim with debootstrap from $mirror"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
	    { tail "$WORK/debootstrap.log"; return 1; }
	cp -a /etc/apt/sources.list* "$root/etc/apt/" 2>/dev/null || true
	tar --numeric-owner -C "$root" -c . | "${P[@]}" import - debian:bookworm-slim >/dev/null
}

podman_build() {
	local tag=$1 t0
	shift
	t0=$(date +%s)
	"${P[@]}" images -q -f dangling=true | sort >"$WORK/dangling.before"
	"${P[@]}" build --format docker "${UL[@]}" "$@" -t "$tag" . >"$WORK/build.log" 2>&1 ||
	    { mkdir -p build; cp "$WORK/build.log" build/docker-build.log
	      grep -E -A12 '^not ok|^Error|error:' "$WORK/build.log" | grep -v Killed | head -120
	      say "FAILED: build (whole log in build/docker-build.log)"; return 1; }
	say "built $tag in $(( $(date +%s) - t0 )) s"
}

# podman_forget: the images a build left unnamed (its builder stage)
# removed; those that were there before it stay.
podman_forget() {
	[ -f "$WORK/dangling.before" ] || return 0
	"${P[@]}" images -q -f dangling=true | sort |
	    comm -13 "$WORK/dangling.before" - |
	    xargs -r "${P[@]}" rmi -f >/dev/null 2>&1 || true
}

# free_port: a port the kernel has just handed out on loopback
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_health PORT: gb-serve on 127.0.0.1:PORT answers /health (10 s)
wait_health() {
	local i
	for i in $(seq 100); do
		curl -fsS "http://127.0.0.1:$1/health" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
