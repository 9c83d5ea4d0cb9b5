#!/bin/bash
# bench/run.sh [BINDIR] - the benchmark behind `make bench`.
#
# Starts, on 127.0.0.1 ephemeral ports, a fake Gemini upstream (nginx
# serving canned answers, plain and TLS), the floor (an nginx reverse
# proxy that only adds a header) and, when BINDIR/gb-serve exists,
# gb-serve under systemd-socket-activate in Accept=no and Accept=yes
# mode; drives each with wrk and bench/firstev; then many concurrent
# streams through gb-serve against a Gemini-like upstream of its own
# (bench/streams.sh, bench/streams.c); prints a markdown report (also
# kept in bench/out/last.md). Everything it starts is stopped by PID
# when it ends. See bench/RESULTS.md for what each figure means.
#
# Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS (5, per wrk run),
# BENCH_MICRO (1; 0 skips the per-tool and process-start reports),
# MICRO_N (60) and START_N (100) iterations per micro round, BENCH_KEEP
# (set: keep the work directory with logs and configurations).
# Key pool sizes: BENCH_KEYS ("3 10000"; empty skips the section): chat
# req/s at c=32 with that many keys, ratios to the first size.
# Concurrent streams (bench/streams.sh): BENCH_STREAMS ("2000 5000";
# empty skips the section), BENCH_STREAM_EVENTS (10), BENCH_STREAM_GAP_MS
# (500), BENCH_STREAM_OPEN_MS (1000: every connection opened within it),
# BENCH_STREAM_TIMEOUT (120 s per stream), BENCH_STREAMS_C (unset; e.g.
# "8000 15000": also gb-serve -c V at each N), BENCH_STREAMS_ACCEPTNO (1;
# 0 skips the systemd-socket-activate case), BENCH_STREAMS_NOFILE (250:
# N of the case under a soft descriptor limit of 1024; empty skips it),
# BENCH_STREAMS_ONLY (1: only this section, no nginx or wrk needed).
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${1:-$top/build/bin}
rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-5}
micro=${BENCH_MICRO:-1}
streams_only=${BENCH_STREAMS_ONLY:-0}
[ "$streams_only" = 1 ] && micro=0
model=gemini-2.0-flash
token=sk-bench-token-1
keys="AIzaSyBENCHxxxxxxxxxxxxxxxxxxxxxxxxxx01,AIzaSyBENCHxxxxxxxxxxxxxxxxxxxxxxxxxx02,AIzaSyBENCHxxxxxxxxxxxxxxxxxxxxxxxxxx03,AIzaSyBENCHxxxxxxxxxxxxxxxxxxxxxxxxxx04"
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- dependencies: nginx and wrk from Debian, installed if missing -------
deps() {
	local pkgs="" c
	local need="nginx:nginx wrk:wrk openssl:openssl"
	[ "$streams_only" = 1 ] && need=""
	for c in $need cc:build-essential \
	    pkg-config:pkg-config python3:python3 curl:curl \
	    systemd-socket-activate:systemd prlimit:util-linux ss:iproute2; do
		command -v "${c%%:*}" >/dev/null 2>&1 || pkgs="$pkgs ${c#*:}"
	done
	[ -z "$pkgs" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		say "missing:$pkgs"
		die "install them with: sudo apt-get install$pkgs"
	fi
	say "installing:$pkgs"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $pkgs >/dev/null ||
	    die "apt-get install$pkgs failed"
}
PATH=$PATH:/usr/sbin:/sbin
deps

# --- work directory, cleanup by PID -----------------------------------------
work=$(mktemp -d /tmp/gb-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$work"	# nginx workers run as nobody when we are root
mkdir -p "$work/tmp" "$work/www/c" "$work/bin" "$work/state"
pids=()

children_of() {	# the PIDs whose parent is $1 (field 1 of stat is the PID)
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{
	    s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
	    if (f[2] == p) print $1 }'
}
alive() {	# PID $1 exists and is no zombie (its parent may reap it late)
	local s
	kill -0 "$1" 2>/dev/null || return 1
	s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${s%% *}" != Z ]
}
stop_tree() {
	local p=$1 c i
	for c in $(children_of "$p"); do
		stop_tree "$c"
	done
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq 50); do
		alive "$p" || return 0
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
}
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		stop_tree "$p"
	done
	wait 2>/dev/null
	if [ -n "${BENCH_KEEP:-}" ]; then
		say "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers built from bench/*.c -------------------------------------------
cflags="-O2 -Wall -Wextra"
deplibs=$(pkg-config --cflags --libs libcurl jansson libsystemd 2>/dev/null)
cc $cflags -o "$work/bin/firstev" "$here/firstev.c" &&
cc $cflags -o "$work/bin/proctree" "$here/proctree.c" &&
cc $cflags -o "$work/bin/spawnbench" "$here/spawnbench.c" &&
cc $cflags -o "$work/bin/streams" "$here/streams.c" &&
cc $cflags -shared -fPIC -o "$work/bin/cashim.so" "$here/cashim.c" -ldl ||
    die "building the helpers failed"
if [ "$micro" = 1 ]; then
	cc $cflags -DWITH_CURL -o "$work/bin/spawnbench-curl" \
	    "$here/spawnbench.c" $deplibs &&
	cc -O2 -static -o "$work/bin/nop-static" "$here/nop.c" &&
	cc -O2 -o "$work/bin/nop-dyn" "$here/nop.c" &&
	cc -O2 -DNOP_JANSSON -o "$work/bin/nop-jansson" "$here/nop.c" \
	    -ljansson &&
	cc -O2 -DNOP_CURL -o "$work/bin/nop-curl" "$here/nop.c" $deplibs &&
	cc -O2 -DNOP_CURLINIT -o "$work/bin/nop-curlinit" "$here/nop.c" \
	    $deplibs || die "building the process-start probes failed"
fi
PT=$work/bin/proctree
field() { sed -n "s/.*[ ]$1=\\([^ ]*\\).*/\\1/p"; }

wait_port() {
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
: > "$work/empty.env"
. "$here/streams.sh"

# report HAVE_GB TLS_OK: the markdown report, kept in bench/out/.
report() {
	local t_end
	t_end=$(date +%s)
	BENCH_LOAD="$load_start / $(cut -d' ' -f1-3 /proc/loadavg)" \
	BENCH_INPROC="$(cat "$work/inproc.out" 2>/dev/null)" \
	BENCH_STREAMS_TSV="$work/streams.tsv" \
	python3 "$here/report.py" "$res" "$work/micro.tsv" "$work/start.tsv" \
	    "$1" "$2" "$rounds" "$secs" "$((t_end - t_start))" \
	    > "$work/report.md" || die "report failed"
	mkdir -p "$here/out"
	cp "$work/report.md" "$here/out/last.md"
	cp "$res" "$here/out/last.tsv"
	[ -f "$work/streams.tsv" ] && cp "$work/streams.tsv" \
	    "$here/out/last-streams.tsv"
	cat "$work/report.md"
}
res=$work/results.tsv
: > "$res"
: > "$work/micro.tsv"
: > "$work/start.tsv"
: > "$work/streams.tsv"
if [ "$streams_only" = 1 ]; then
	[ -x "$bin/gb-serve" ] ||
	    say "gb-serve is not built yet ($bin/gb-serve); direct only"
	streams_section
	report "$([ -x "$bin/gb-serve" ] && echo 1 || echo 0)" 0
	exit 0
fi

# --- ports, certificate, configuration --------------------------------------
read -r P_UP P_UPTLS P_UPSTAT P_FLOOR P_FLOORTLS P_NO P_YES P_TLS < <(
    python3 -c 'import socket
ss=[socket.socket() for i in range(8)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    >/dev/null 2>&1 || die "openssl could not make a certificate"
cp "$here/canned/generate.json" "$here/canned/models.json" \
    "$here/canned/embed.json" "$work/www/c/"
sed 's/$/\r/' "$here/canned/stream.txt" > "$work/www/c/stream.sse"
cp "$work/www/c/stream.sse" "$work/stream.sse"
chmod -R a+rX "$work/www" "$work/cert.pem"
sub="s|@DIR@|$work|g;s|@UP@|$P_UP|g;s|@UPTLS@|$P_UPTLS|g"
sub="$sub;s|@UPSTAT@|$P_UPSTAT|g;s|@FLOOR@|$P_FLOOR|g"
sub="$sub;s|@FLOORTLS@|$P_FLOORTLS|g"
for f in upstream.conf canned.conf floor.conf; do
	sed "$sub" "$here/$f" > "$work/$f"
done


# --- start the fake upstream and the floor ----------------------------------
nginx -p "$work" -e "$work/nginx-start.log" -c "$work/upstream.conf" \
    2>>"$work/nginx.err" &
up_pid=$!; pids+=("$up_pid")
nginx -p "$work" -e "$work/nginx-start.log" -c "$work/floor.conf" \
    2>>"$work/nginx.err" &
floor_pid=$!; pids+=("$floor_pid")
for p in $P_UP $P_UPTLS $P_UPSTAT $P_FLOOR $P_FLOORTLS; do
	wait_port "$p" || { cat "$work/nginx.err" >&2; die "nginx did not start"; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    --data-binary @"$here/bodies/gemini.json" \
    "http://127.0.0.1:$P_FLOOR/v1beta/models/$model:generateContent")
[ "$code" = 200 ] || die "the floor answered $code"

# --- gb-serve under systemd-socket-activate --------------------------------
have_gb=0
gbserve_start() {	# NAME PORT BASE_URL [--accept]
	local name=$1 port=$2 base=$3
	shift 3
	mkdir -p "$work/state/$name"
	systemd-socket-activate -l "127.0.0.1:$port" "$@" \
	    -E PATH="$bin:/usr/local/bin:/usr/bin:/bin" \
	    ${keys:+-E API_KEYS="$keys"} -E ALLOWED_TOKENS="$token" \
	    -E BASE_URL="$base" -E STATE_DIRECTORY="$work/state/$name" \
	    -E ENV_FILE="${envfile:-$work/empty.env}" -E LOG_LEVEL=error \
	    -E CURL_CA_BUNDLE="$work/cert.pem" \
	    -E SSL_CERT_FILE="$work/cert.pem" \
	    "$bin/gb-serve" 2>>"$work/$name.err" &
	pids+=("$!")
	eval "pid_$name=$!"
	wait_port "$port"
}
# gb_check NAME PORT: one chat and one stream request must look right.
gb_check() {
	local out
	out=$(curl -s -m 10 -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' \
	    --data-binary @"$here/bodies/chat.json" \
	    -w '\n%{http_code}' "http://127.0.0.1:$2/v1/chat/completions")
	case $out in
	*'"chat.completion"'*200) ;;
	*) say "gb-serve ($1) chat answered: $(printf '%s' "$out" |
	    tr '\n' ' ' | cut -c1-300)"; return 1 ;;
	esac
	out=$(curl -s -N -m 10 -H "Authorization: Bearer $token" \
	    -H 'Content-Type: application/json' \
	    --data-binary @"$here/bodies/chat-stream.json" \
	    -w '\n%{http_code}' "http://127.0.0.1:$2/v1/chat/completions")
	case $out in
	*'data: [DONE]'*200) ;;
	*) say "gb-serve ($1) stream answered: $(printf '%s' "$out" |
	    tr '\n' ' ' | cut -c1-300)"; return 1 ;;
	esac
}
if [ -x "$bin/gb-serve" ]; then
	gbserve_start no "$P_NO" "http://127.0.0.1:$P_UP/v1beta"
	gbserve_start yes "$P_YES" "http://127.0.0.1:$P_UP/v1beta" --accept
	gbserve_start tls "$P_TLS" "https://127.0.0.1:$P_UPTLS/v1beta"
	if gb_check no "$P_NO" && gb_check yes "$P_YES"; then
		have_gb=1
	else
		say "gb-serve does not answer correctly yet; measuring the" \
		    "floor only (logs: $work/*.err with BENCH_KEEP=1)"
	fi
else
	say "gb-serve is not built yet ($bin/gb-serve); measuring the floor only"
fi

# --- measurement primitives -------------------------------------------------
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$res"; }
upstat() {	# accepts and requests of the upstream nginx
	curl -s -m 5 "http://127.0.0.1:$P_UPSTAT/" | awk 'NR == 3 { print $1, $3 }'
}

# target NAME: sets T_PORT T_CPATH T_SPATH T_CBODY T_SBODY T_TOKEN T_PID T_PFX
target() {
	case $1 in
	floor)
		T_PORT=$P_FLOOR T_TOKEN="" T_PID=$floor_pid T_PFX=nginx
		T_CPATH="/v1beta/models/$model:generateContent"
		T_SPATH="/v1beta/models/$model:streamGenerateContent?alt=sse"
		T_CBODY=$here/bodies/gemini.json T_SBODY=$T_CBODY ;;
	no|yes|tls)
		eval "T_PORT=\$P_$(echo "$1" | tr a-z A-Z)"
		eval "T_PID=\$pid_$1"
		T_TOKEN=$token T_PFX=gb-
		T_CPATH=/v1/chat/completions T_SPATH=$T_CPATH
		T_CBODY=$here/bodies/chat.json
		T_SBODY=$here/bodies/chat-stream.json ;;
	esac
}

wrk_run() {	# CONNS THREADS SECONDS -> BENCH line
	BENCH_PATH=$T_CPATH BENCH_BODY=$T_CBODY BENCH_TOKEN=$T_TOKEN \
	    wrk -t"$2" -c"$1" -d"$3"s --timeout 10s --latency -s "$here/chat.lua" \
	    "http://127.0.0.1:$T_PORT" 2>&1 | tee -a "$work/wrk.log" |
	    grep '^BENCH'
}

# measure ROUND NAME: the three workloads against one target.
measure() {
	local r=$1 t=$2 line rsspid s0 s1 c0 c1 n
	target "$t"
	line=$(wrk_run 1 1 "$secs")
	record "$r" "$t" p50 "$(echo "$line" | field p50_us)"
	record "$r" "$t" p99 "$(echo "$line" | field p99_us)"
	record "$r" "$t" err1 "$(echo "$line" | field errors)"

	"$PT" rss "$T_PID" "$T_PFX" > "$work/rss.out" &
	rsspid=$!
	s0=$(upstat)
	c0=$("$PT" cpu "$T_PID" "$T_PFX" | field us)
	line=$(wrk_run 32 2 "$secs")
	sleep 0.3	# let per-connection processes finish and be reaped
	c1=$("$PT" cpu "$T_PID" "$T_PFX" | field us)
	s1=$(upstat)
	kill -TERM "$rsspid"; wait "$rsspid"
	n=$(echo "$line" | field requests)
	record "$r" "$t" rps "$(awk -v n="$n" \
	    -v d="$(echo "$line" | field duration_us)" \
	    'BEGIN { if (d > 0) printf "%.0f", n / (d / 1e6) }')"
	record "$r" "$t" err32 "$(echo "$line" | field errors)"
	record "$r" "$t" rss "$(field peak_kib < "$work/rss.out")"
	record "$r" "$t" pss "$(field peak_pss_kib < "$work/rss.out")"
	record "$r" "$t" procs "$(field peak_procs < "$work/rss.out")"
	record "$r" "$t" cpureq "$(awk -v a="$c0" -v b="$c1" -v n="$n" \
	    'BEGIN { if (n > 0) printf "%.0f", (b - a) / n }')"
	# New upstream connections per upstream request (both counted by
	# the upstream, so requests still in flight at the end do not skew
	# it), and upstream requests per client request.
	record "$r" "$t" conns "$(echo "$s0 $s1" | awk '{
	    if ($4 - $2 > 1) printf "%.3f", ($3 - $1 - 1) / ($4 - $2 - 1) }')"
	record "$r" "$t" ureq "$(echo "$s0 $s1 $n" | awk '{
	    if ($5 > 0) printf "%.3f", ($4 - $2 - 1) / $5 }')"

	line=$("$work/bin/firstev" 127.0.0.1 "$T_PORT" "$T_SPATH" \
	    "$T_SBODY" "${T_TOKEN:--}" 3000 "$((secs < 3 ? secs : 3))")
	record "$r" "$t" first "$(echo "$line" | field p50_us)"
	record "$r" "$t" errs "$(echo "$line" | field errors)"
}

targets="floor"
[ "$have_gb" = 1 ] && targets="floor no yes"
for t in $targets; do	# warm-up: caches, key state, connection pools
	target "$t"
	wrk_run 8 1 1 >/dev/null
done
for r in $(seq "$rounds"); do
	for t in $targets; do
		say "round $r/$rounds: $t"
		measure "$r" "$t"
	done
done

# --- the size of the key pool: chat at c=32 with N keys ----------------------
# One gb-serve (Accept=no) per N of BENCH_KEYS, each with its own state and
# N generated keys in a .env file (a 10,000-key API_KEYS does not fit in
# one environment string); rounds interleave the pool sizes.
keys_section() {
	local n r port line
	for n in $BENCH_KEYS_LIST; do
		port=$(python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		awk -v n="$n" 'BEGIN { printf "API_KEYS="
		    for (i = 1; i <= n; i++)
			printf "%sAIzaSyPOOL%029d", (i > 1 ? "," : ""), i
		    print "" }' > "$work/keys$n.env"
		keys= envfile=$work/keys$n.env gbserve_start "k$n" "$port" \
		    "http://127.0.0.1:$P_UP/v1beta"
		eval "P_K$n=$port"
		gb_check "k$n" "$port" || die "gb-serve with $n keys failed"
		T_PORT=$port T_CPATH=/v1/chat/completions T_TOKEN=$token
		T_CBODY=$here/bodies/chat.json
		wrk_run 8 1 1 >/dev/null
	done
	for r in $(seq "$rounds"); do
		for n in $BENCH_KEYS_LIST; do
			say "keys round $r/$rounds: $n keys"
			eval "T_PORT=\$P_K$n"
			line=$(wrk_run 32 2 "$secs")
			record "$r" "keys$n" rps "$(awk \
			    -v n="$(echo "$line" | field requests)" \
			    -v d="$(echo "$line" | field duration_us)" \
			    'BEGIN { if (d > 0) printf "%.0f", n / (d / 1e6) }')"
			record "$r" "keys$n" err32 "$(echo "$line" | field errors)"
		done
	done
}
BENCH_KEYS_LIST=${BENCH_KEYS-3 10000}
[ "$have_gb" = 1 ] && [ -n "$BENCH_KEYS_LIST" ] && keys_section

# --- TLS to the upstream: new connections and handshakes per request --------
tls_run() {	# NAME: 3 s at c=32 against a target whose upstream is TLS
	local s0 s1 line n l0 l1 h resumed lines
	target "$1"
	[ "$1" = floor ] && T_PORT=$P_FLOORTLS
	wrk_run 8 1 1 >/dev/null
	l0=$(wc -l < "$work/upstream-tls.log")
	s0=$(upstat)
	line=$(wrk_run 32 2 3)
	s1=$(upstat)
	l1=$(wc -l < "$work/upstream-tls.log")
	n=$(echo "$line" | field requests)
	record tls "$1" rps "$(echo "$line" | field requests |
	    awk '{ printf "%.0f", $1 / 3 }')"
	record tls "$1" err32 "$(echo "$line" | field errors)"
	record tls "$1" conns "$(echo "$s0 $s1" | awk '{
	    if ($4 - $2 > 1) printf "%.4f", ($3 - $1 - 1) / ($4 - $2 - 1) }')"
	# Handshakes: TLS connections that appear for the first time in
	# the log during the run ($connection_requests == 1), and of those
	# how many resumed a session ($ssl_session_reused == "r").
	sed -n "$((l0 + 1)),${l1}p" "$work/upstream-tls.log" |
	    awk -v n="$n" '$2 == 1 { h++; if ($4 == "r") res++ }
	    END { printf "%d %d %d\n", h, res, NR }' > "$work/tls.out"
	read -r h resumed lines < "$work/tls.out"
	record tls "$1" hs "$h"
	record tls "$1" resumed "$resumed"
	record tls "$1" tlsreq "$lines"
}
say "TLS upstream: floor"
tls_run floor
# gb-call must trust the bench's CA. Tried first as is (CURL_CA_BUNDLE and
# SSL_CERT_FILE are passed); if that fails, the instance is restarted with
# bench/cashim.c preloaded, which sets CURLOPT_CAINFO on every handle.
tls_ok=0
if [ "$have_gb" = 1 ]; then
	if gb_check tls "$P_TLS" 2>"$work/tlscheck.err"; then
		tls_ok=1
	else
		say "gb-serve cannot trust the bench CA by itself:" \
		    "$(cut -c1-160 "$work/tlscheck.err"); retrying with" \
		    "the CURLOPT_CAINFO shim"
		stop_tree "$pid_tls"
		gbserve_start tls "$P_TLS" "https://127.0.0.1:$P_UPTLS/v1beta" \
		    -E LD_PRELOAD="$work/bin/cashim.so" \
		    -E BENCH_CAINFO="$work/cert.pem"
		gb_check tls "$P_TLS" 2>>"$work/tlscheck.err" && tls_ok=shim
	fi
	if [ "$tls_ok" != 0 ]; then
		say "TLS upstream: gb-serve (Accept=no)"
		tls_run tls
	else
		say "gb-serve cannot reach the TLS upstream:" \
		    "$(tail -c 200 "$work/tlscheck.err")"
	fi
fi

# --- micro: CPU per invocation of each tool, and process start costs ---------
SB=$work/bin/spawnbench
spawn_line() {	# LABEL INPUT PROG ARGS... (env already set by caller)
	local label=$1 in=$2 line
	shift 2
	line=$("$SB" -n "${MICRO_N:-60}" -r 3 -i "$in" exec "$@")
	printf '%s\t%s\t%s\t%s\t%s\n' "$label" \
	    "$(echo "$line" | field wall_us)" "$(echo "$line" | field cpu_us)" \
	    "$(echo "$line" | field user_us)/$(echo "$line" | field sys_us)" \
	    "$(echo "$line" | field fails)" >> "$work/micro.tsv"
}
if [ "$micro" = 1 ]; then
	say "micro: CPU per tool invocation"
	(
		export API_KEYS="$keys" ALLOWED_TOKENS="$token"
		export BASE_URL="http://127.0.0.1:$P_UP/v1beta"
		export STATE_DIRECTORY="$work/state/micro" LOG_LEVEL=error
		export ENV_FILE="$work/empty.env"
		mkdir -p "$STATE_DIRECTORY"
		spawn_line "/bin/true (fork+exec baseline)" /dev/null /bin/true
		spawn_line "static no-op" /dev/null "$work/bin/nop-static"
		spawn_line "no-op linked to libcurl+jansson+libsystemd" \
		    /dev/null "$work/bin/nop-curl"
		spawn_line "no-op + curl_global_init" /dev/null \
		    "$work/bin/nop-curlinit"
		if [ -x "$bin/gb-convert" ]; then
			spawn_line "gb-convert chat-request" \
			    "$here/bodies/chat.json" "$bin/gb-convert" \
			    chat-request
			spawn_line "gb-convert chat-response" \
			    "$here/canned/generate.json" "$bin/gb-convert" \
			    chat-response -m "$model"
		fi
		[ -x "$bin/gb-call" ] && spawn_line "gb-call (plain HTTP)" \
		    "$here/bodies/gemini.json" "$bin/gb-call" POST \
		    "models/$model:generateContent"
		[ -x "$bin/gb-sse" ] && spawn_line "gb-sse" \
		    "$work/stream.sse" "$bin/gb-sse" -m "$model"
		[ -x "$bin/gb-keys" ] && spawn_line "gb-keys next" \
		    /dev/null "$bin/gb-keys" next
		# The same work in one long-lived process (lib/ functions),
		# when libgb.a has them: what long-lived workers would pay.
		lib=$(dirname "$bin")/libgb.a
		inc=$(dirname "$(dirname "$bin")")/lib
		if [ -f "$lib" ] && cc $cflags -D_GNU_SOURCE -I"$inc" \
		    -o "$work/bin/inproc" "$here/inproc.c" "$lib" $deplibs \
		    2>"$work/inproc.build"; then
			s0=$(upstat)
			"$work/bin/inproc" "$here/bodies/chat.json" 3 \
			    > "$work/inproc.out" 2>&1
			s1=$(upstat)
			echo "$s0 $s1" | awk '{ if ($4 - $2 > 1) printf \
			    "INPROC_CONNS %.4f\n", ($3 - $1 - 1) / ($4 - $2 - 1) }' \
			    >> "$work/inproc.out"
		elif [ -f "$lib" ]; then
			echo "inproc could not be built against this lib/" \
			    "(API changed?): $(grep -m1 -E 'error|undefined' \
			    "$work/inproc.build")" > "$work/inproc.out"
		fi
	)
	say "micro: process start costs"
	start_line() {	# LABEL DRIVER MODE [PROG]
		local label=$1 drv=$2 line
		shift 2
		line=$("$drv" -n "${START_N:-100}" -r 5 "$@")
		printf '%s\t%s\t%s\n' "$label" \
		    "$(echo "$line" | field wall_us)" \
		    "$(echo "$line" | field cpu_us)" >> "$work/start.tsv"
	}
	B=$work/bin
	start_line "fork() + _exit, small parent" "$SB" fork
	start_line "fork() + _exit, parent with libcurl initialised" \
	    "$B/spawnbench-curl" fork
	start_line "fork+exec static no-op" "$SB" exec "$B/nop-static"
	start_line "fork+exec dynamic no-op (libc only)" "$SB" exec \
	    "$B/nop-dyn"
	start_line "fork+exec no-op linked to jansson" "$SB" exec \
	    "$B/nop-jansson"
	start_line "fork+exec no-op linked to libcurl+jansson+libsystemd" \
	    "$SB" exec "$B/nop-curl"
	start_line "fork+exec the same + curl_global_init" "$SB" exec \
	    "$B/nop-curlinit"
	start_line "posix_spawn static no-op" "$SB" spawn "$B/nop-static"
	start_line "posix_spawn static no-op, parent with libcurl" \
	    "$B/spawnbench-curl" spawn "$B/nop-static"
	start_line "fork+exec static no-op, parent with libcurl" \
	    "$B/spawnbench-curl" exec "$B/nop-static"
	start_line "posix_spawn libcurl no-op, parent with libcurl" \
	    "$B/spawnbench-curl" spawn "$B/nop-curl"
	START_N=20000 start_line "round trip of 1 KiB to a running worker over two pipes" \
	    "$SB" pipe
fi

# --- concurrent streams (bench/streams.sh) ----------------------------------
[ -n "${BENCH_STREAMS-2000 5000}${BENCH_STREAMS_NOFILE-250}" ] &&
    streams_section

# --- report -----------------------------------------------------------------
report "$have_gb" "$tls_ok"
