#!/bin/sh
# systemd-analyze verify on the unit files, with /usr/local/bin pointed at the
# built tools and man(1) at the project's own pages (so every
# Documentation=man: reference is checked against man/, installed or not).
# Messages that only say this machine has no systemd as PID 1 are not
# failures.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bindir=$top/build/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/units"
for u in "$@"; do
	sed "s|/usr/local/bin/|$bindir/|g" "$u" > "$tmp/units/${u##*/}"
done
for m in "$top"/man/*.[0-9]; do
	mkdir -p "$tmp/man/man${m##*.}"
	ln -s "$m" "$tmp/man/man${m##*.}/"
done
out=$(cd "$tmp/units" && MANPATH=$tmp/man SYSTEMD_LOG_LEVEL=warning \
	systemd-analyze verify ./* 2>&1 | grep -v -e 'Failed to create' -e 'Not in a' \
	-e 'ignoring' -e 'is not executable: No such file' \
	-e 'Failed to connect to' -e 'No such file or directory')
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "systemd-analyze verify: $# units clean"
