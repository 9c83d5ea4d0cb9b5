#!/bin/sh
# tests/load.sh BINDIR: gb-serve under load with faults (make check-load).
# 200 concurrent clients, a tenth hanging up at random moments, against
# a fake upstream that fails a quarter of the calls; see tests/lib/load.py
# for what is checked. Prints the figures; exit 1 when a check fails.
set -u
[ $# -eq 1 ] || { echo "usage: sh tests/load.sh BINDIR" >&2; exit 100; }
command -v systemd-socket-activate >/dev/null ||
	{ echo "load: systemd-socket-activate is missing" >&2; exit 111; }
exec python3 "$(dirname "$0")/lib/load.py" "$1"
