# bench/streams.sh - the concurrent-streams section of bench/run.sh.
#
# Sourced by run.sh, which provides say, die, wait_port, stop_tree, field,
# the pids array, $work, $here, $bin, $keys, $token, $model and the
# helpers built into $work/bin (streams from bench/streams.c, proctree).
#
# For each N of BENCH_STREAMS, N clients (bench/streams.c "client", one
# epoll loop) each open a connection, all within BENCH_STREAM_OPEN_MS,
# and stream one answer; the upstream (bench/streams.c "up", one epoll
# loop) answers every streamGenerateContent?alt=sse with
# BENCH_STREAM_EVENTS events BENCH_STREAM_GAP_MS apart. The same client
# talks to, in turn:
#   direct  the upstream itself (native Gemini request and path)
#   serve   gb-serve -l 127.0.0.1:P, default settings (no -c)
#   sock    gb-serve under systemd-socket-activate (Accept=no), defaults
#   cV      gb-serve -c V -l 127.0.0.1:P, for each V of BENCH_STREAMS_C
# and, at N = BENCH_STREAMS_NOFILE, direct and
#   nofile  gb-serve -l 127.0.0.1:P started with a soft descriptor limit
#           of 1024 (prlimit --nofile=1024:HARD), defaults otherwise.
# Each gb-serve is started afresh for its case (its own state directory,
# default LOG_LEVEL) and stopped by PID after it; bench/proctree samples
# the summed RSS, threads and descriptors of it and its descendants.
# Rows go to $work/streams.tsv: N, case, metric, value.

streams_rec() {	# N CASE METRIC VALUE
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$work/streams.tsv"
}

forget_pid() {	# drop a stopped PID from the cleanup list (PID reuse)
	local p keep=()
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

freeport() {
	python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

upstats() {	# the stream upstream's counters, "key=value ..."
	curl -s -m 5 "http://127.0.0.1:$S_UP/_stats${1:-}"
}

# streams_client N PORT PATH BODY TOKEN MARKER -> the STREAMS line
streams_client() {
	"$work/bin/streams" client 127.0.0.1 "$2" "$3" "$4" "$5" "$1" \
	    "$S_OPEN" "$S_TIMEOUT" "$6" 2>>"$work/streams-client.err"
}

# streams_record N CASE LINE: the client's figures and the upstream's.
streams_record() {
	local n=$1 c=$2 line=$3 u m
	for m in ok failed wall_us first_p50_us first_p99_us conn_p99_us \
	    full_p50_us fails; do
		streams_rec "$n" "$c" "$m" \
		    "$(echo "$line" | head -1 | field "$m")"
	done
	streams_rec "$n" "$c" samples "$(echo "$line" | sed -n 's/^SAMPLE //p' |
	    tr '\t' ' ' | awk '{ printf "%s%s", (NR > 1 ? " | " : ""), $0 }')"
	u=" $(upstats)"
	for m in accepted streams peak late_max_us gone; do
		streams_rec "$n" "$c" "up_$m" "$(echo "$u" | field "$m")"
	done
}

streams_direct() {	# N
	local line
	say "streams: N=$1 direct"
	upstats '?reset=1' >/dev/null
	line=$(streams_client "$1" "$S_UP" \
	    "/v1beta/models/$model:streamGenerateContent?alt=sse" \
	    "$here/bodies/gemini.json" - finishReason)
	streams_record "$1" direct "$line"
	streams_rec "$1" direct backlog "$(ss -Hltn "sport = :$S_UP" |
	    awk '{ print $3; exit }')"
}

# streams_gb N CASE: start gb-serve as CASE says, stream N, stop it.
streams_gb() {
	local n=$1 c=$2 port pid line rsspid log other m skip
	port=$(freeport)
	mkdir -p "$work/state/streams-$c-$n"
	log=$work/streams-$c-$n.err
	set -- env PATH="$bin:/usr/local/bin:/usr/bin:/bin" \
	    API_KEYS="$keys" ALLOWED_TOKENS="$token" \
	    BASE_URL="http://127.0.0.1:$S_UP/v1beta" \
	    STATE_DIRECTORY="$work/state/streams-$c-$n" \
	    ENV_FILE="$work/empty.env" "$bin/gb-serve"
	case $c in
	serve)	"$@" -l "127.0.0.1:$port" 2>"$log" & ;;
	c*)	"$@" -c "${c#c}" -l "127.0.0.1:$port" 2>"$log" & ;;
	nofile)	prlimit --nofile="1024:$(ulimit -Hn)" "$@" \
		    -l "127.0.0.1:$port" 2>"$log" & ;;
	sock)	systemd-socket-activate -l "127.0.0.1:$port" \
		    -E PATH="$bin:/usr/local/bin:/usr/bin:/bin" \
		    -E API_KEYS="$keys" -E ALLOWED_TOKENS="$token" \
		    -E BASE_URL="http://127.0.0.1:$S_UP/v1beta" \
		    -E STATE_DIRECTORY="$work/state/streams-$c-$n" \
		    -E ENV_FILE="$work/empty.env" \
		    "$bin/gb-serve" 2>"$log" & ;;
	esac
	pid=$!
	pids+=("$pid")
	if ! wait_port "$port"; then
		say "streams: gb-serve ($c) did not listen:" \
		    "$(tail -c 300 "$log")"
		stop_tree "$pid"; forget_pid "$pid"
		streams_rec "$n" "$c" fails "gb-serve did not start"
		streams_rec "$n" "$c" log_other "$(tail -c 240 "$log" |
		    tr '\n\t' '  ' | sed "s|$work|WORK|g")"
		return 1
	fi
	sleep 0.5	# its hosts start before the first connection
	say "streams: N=$n gb-serve ($c)"
	streams_rec "$n" "$c" backlog "$(ss -Hltn "sport = :$port" |
	    awk '{ print $3; exit }')"
	streams_rec "$n" "$c" nofile "$(awk '/^Max open files/ {
	    print $4 "/" $5 }' "/proc/$pid/limits")"
	"$PT" rss "$pid" gb- > "$work/streams-rss.out" &
	rsspid=$!
	upstats '?reset=1' >/dev/null
	line=$(streams_client "$n" "$port" /v1/chat/completions \
	    "$here/bodies/chat-stream.json" "$token" '[DONE]')
	kill -TERM "$rsspid"; wait "$rsspid"
	streams_record "$n" "$c" "$line"
	for m in peak_kib peak_threads peak_fds peak_procs; do
		streams_rec "$n" "$c" "$m" \
		    "$(field "$m" < "$work/streams-rss.out")"
	done
	stop_tree "$pid"; forget_pid "$pid"
	# The log: request lines by status, and the other lines (errors),
	# the distinct ones with their digits blanked, most frequent first.
	streams_rec "$n" "$c" log_status "$(awk '
	    /^gb-serve: [0-9-]+T[0-9:]+Z [A-Z]+ / { s[$5]++ }
	    END { for (k in s) printf "%s%s:%d", n++ ? "," : "", k, s[k] }' \
	    "$log")"
	# (systemd-socket-activate's own lines are left out)
	skip='^gb-serve: [0-9-]+T[0-9:]+Z [A-Z]+ '
	skip="$skip|^Listening on |^Execing |^Communication attempt on fd "
	other=$(grep -Ev "$skip" "$log" | sed "s|$work|WORK|g" |
	    sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | sort -rn | head -4 |
	    awk '{ c = $1; sub(/^ *[0-9]+ /, ""); gsub(/\t/, " ");
	    printf "%s%d× %s", (NR > 1 ? " | " : ""), c,
	    substr($0, 1, 160) }')
	streams_rec "$n" "$c" log_other "$other"
}

streams_section() {
	local n v
	S_EVENTS=${BENCH_STREAM_EVENTS:-10}
	S_GAP=${BENCH_STREAM_GAP_MS:-500}
	S_OPEN=${BENCH_STREAM_OPEN_MS:-1000}
	S_TIMEOUT=${BENCH_STREAM_TIMEOUT:-120}
	: > "$work/streams.tsv"
	"$work/bin/streams" up "$S_EVENTS" "$S_GAP" > "$work/streams-up.out" \
	    2>"$work/streams-up.err" &
	S_UP_PID=$!
	pids+=("$S_UP_PID")
	for v in $(seq 100); do
		S_UP=$(sed -n 's/^UP port=//p' "$work/streams-up.out")
		[ -n "$S_UP" ] && break
		sleep 0.05
	done
	[ -n "$S_UP" ] || die "the stream upstream did not start:" \
	    "$(cat "$work/streams-up.err")"
	# A stand-in gb-serve (bench/selftest, a script forking per
	# connection) gets a few streams only, unless asked otherwise.
	S_NS=${BENCH_STREAMS-2000 5000}
	S_NOFILE=${BENCH_STREAMS_NOFILE-250}
	if [ "$(head -c 2 "$bin/gb-serve" 2>/dev/null)" = '#!' ]; then
		S_NS=${BENCH_STREAMS-50}
		S_NOFILE=${BENCH_STREAMS_NOFILE-20}
	fi
	for n in $S_NS; do
		streams_direct "$n"
		if [ -x "$bin/gb-serve" ]; then
			streams_gb "$n" serve
			[ "${BENCH_STREAMS_ACCEPTNO:-1}" = 1 ] &&
			    streams_gb "$n" sock
			for v in ${BENCH_STREAMS_C:-}; do
				streams_gb "$n" "c$v"
			done
		fi
	done
	n=$S_NOFILE
	if [ -n "$n" ] && [ -x "$bin/gb-serve" ]; then
		streams_direct "$n"
		streams_gb "$n" nofile
	fi
	stop_tree "$S_UP_PID"; forget_pid "$S_UP_PID"
}
