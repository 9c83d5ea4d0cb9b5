-- wrk script: POST the body in $BENCH_BODY to $BENCH_PATH with a bearer
-- token from $BENCH_TOKEN (none if empty); done() prints one
-- machine-readable line with exact percentiles in microseconds.
local function slurp(p)
	local f = assert(io.open(p, "rb"))
	local s = f:read("*a")
	f:close()
	return s
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = slurp(os.getenv("BENCH_BODY"))
wrk.headers["Content-Type"] = "application/json"
local tok = os.getenv("BENCH_TOKEN")
if tok and tok ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. tok
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d " ..
	    "p50_us=%.1f p99_us=%.1f mean_us=%.1f errors=%d " ..
	    "connect=%d read=%d write=%d status=%d timeout=%d\n",
	    summary.requests, summary.duration,
	    latency:percentile(50), latency:percentile(99), latency.mean,
	    e.connect + e.read + e.write + e.status + e.timeout,
	    e.connect, e.read, e.write, e.status, e.timeout))
end
