#!/usr/bin/env bash
# make soak: the gateway under a mixed wrk load for SOAK_SECONDS (default
# 10 minutes), its RSS sampled every SOAK_SAMPLE seconds.  Passes when
# every request answered 2xx (no non-2xx, no socket error or timeout) and
# the RSS grew by less than SOAK_MAX_GROWTH_KB after the warm-up.  Same
# set-up as make bench (bench/lib.sh); everything started is stopped by
# PID on exit.  The last line is "soak: PASS ..." or "soak: FAIL ...".
#
#   SOAK_SECONDS=600      duration of the load
#   SOAK_SAMPLE=10        RSS sampling interval, seconds
#   SOAK_WARMUP=60        samples before this are warm-up (at most a fifth
#                         of the run)
#   SOAK_MAX_GROWTH_KB=2048   allowed RSS growth after the warm-up
#   BENCH_CONNS=8         wrk connections = gateway pool
#   BCRYPT_COST=4         the mix logs in now and then (1 request in 50):
#                         at cost 12 bcrypt alone would fill the machine
#   SOAK_OUT=bench/results/soak.json (git-ignored)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_SAMPLE=${SOAK_SAMPLE:-10}
SOAK_WARMUP=${SOAK_WARMUP:-60}
SOAK_MAX_GROWTH_KB=${SOAK_MAX_GROWTH_KB:-2048}
SOAK_OUT=${SOAK_OUT:-$BENCH_DIR/results/soak.json}
BENCH_CONNS=${BENCH_CONNS:-8}
BENCH_POOL=${BENCH_POOL:-$BENCH_CONNS}
export BCRYPT_COST=${BCRYPT_COST:-4}
[ "$SOAK_WARMUP" -le $((SOAK_SECONDS / 5)) ] || SOAK_WARMUP=$((SOAK_SECONDS / 5))

bench_start

# A second account writes the items, so the bench user's list (and its
# count) stays the same size for the whole run.
writer_token=$(echo "SELECT api.signup('writer@example.com', :'pw')" |
	psql_su -v pw="$BENCH_PASSWORD" >/dev/null &&
	curl -sf --data-urlencode "username=writer@example.com" --data-urlencode "password=$BENCH_PASSWORD" \
		"$BENCH_URL/api/v1/login/access-token" |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
	die "cannot create the writer account"

# The mix, in request order (one cycle = 50 requests): reads dominate, as
# in the template's front end.
lua=$bench_tmp/soak.lua
cat >"$lua" <<LUA
local auth = "Bearer $BENCH_TOKEN"
local writer = "Bearer $writer_token"
local json = "application/json"
local form = "application/x-www-form-urlencoded"
local mix = {
	{12, "GET", "/api/v1/users/me", auth},
	{12, "GET", "/api/v1/items/?limit=10", auth},
	{12, "GET", "/api/v1/items/$BENCH_ITEM_ID", auth},
	{6, "POST", "/api/v1/items/", writer, json, '{"title":"soak","description":"written by make soak"}'},
	{7, "GET", "/api/v1/utils/health-check/"},
	{1, "POST", "/api/v1/login/access-token", nil, form,
		"username=bench%40example.com&password=$BENCH_PASSWORD"},
}
local reqs, n = {}, 0
init = function(args)
	for _, m in ipairs(mix) do
		local h = {}
		if m[4] then h["Authorization"] = m[4] end
		if m[5] then h["Content-Type"] = m[5] end
		local r = wrk.format(m[2], m[3], h, m[6])
		for _ = 1, m[1] do reqs[#reqs + 1] = r end
	end
	-- interleave: stride through the list so that kinds alternate
	local mixed, stride = {}, 7
	for i = 0, #reqs - 1 do mixed[#mixed + 1] = reqs[(i * stride) % #reqs + 1] end
	reqs = mixed
end
request = function()
	n = n % #reqs + 1
	return reqs[n]
end
LUA
wrk_done_lua >>"$lua"

samples=$bench_tmp/rss.tsv
: >"$samples"
sample() {
	printf '%d\t%s\t%s\t%s\t%s\n' "$1" "$(proc_kb "$bench_gateway_pid" VmRSS)" \
		"$(proc_kb "$bench_gateway_pid" VmHWM)" "$(proc_kb "$bench_gateway_pid" Threads)" "$2" >>"$samples"
}
# samples while wrk runs; the last one is taken when it has just ended
sampler() {
	local pid=$1 t0=$EPOCHSECONDS
	while kill -0 "$pid" 2>/dev/null; do
		sample $((EPOCHSECONDS - t0)) load
		sleep "$SOAK_SAMPLE"
	done
}

say "soak: $SOAK_SECONDS s of mixed load, $BENCH_CONNS connections, RSS every $SOAK_SAMPLE s"
sample 0 idle
g0=$(proc_ticks "$bench_gateway_pid")
wrk -t2 -c"$BENCH_CONNS" -d"${SOAK_SECONDS}s" --timeout 30s --latency -s "$lua" "$BENCH_URL" \
	>"$bench_tmp/soak.wrk" 2>&1 &
wpid=$!
bench_track "$wpid"
sampler "$wpid" &
bench_track $!
wait "$wpid"
g1=$(proc_ticks "$bench_gateway_pid")
sleep 1
sample "$SOAK_SECONDS" after
wrkjson=$(sed -n 's/^WRKJSON //p' "$bench_tmp/soak.wrk")
[ -n "$wrkjson" ] || { cat "$bench_tmp/soak.wrk" >&2; die "wrk failed"; }
errors=$(grep -v ' access ' "$bench_tmp/gateway.log" | grep -c -E ' (warn|error) ')

mkdir -p "$(dirname "$SOAK_OUT")"
/usr/bin/python3 - "$samples" "$wrkjson" "$SOAK_OUT" "$SOAK_WARMUP" "$SOAK_MAX_GROWTH_KB" \
	$((g1 - g0)) "$CLK_TCK" "$errors" "$BENCH_CONNS" "$SOAK_SECONDS" <<'PY'
import json, sys
path, wrk, out, warm, bound, gticks, hz, logerrs, conns, secs = sys.argv[1:]
warm, bound, hz, secs = int(warm), int(bound), float(hz), int(secs)
wrk = json.loads(wrk)
s = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
s = [(int(t), int(r), int(h), int(n), phase) for t, r, h, n, phase in s if r and h]
load = [x for x in s if x[4] == "load"]
# growth is judged under load only: once wrk is gone the connection
# threads exit and the RSS drops, which would hide a leak
after = [x for x in load if x[0] >= warm] or load[-2:]
t = [x[0] / 60 for x in after]
r = [x[1] for x in after]
mt, mr = sum(t) / len(t), sum(r) / len(r)
den = sum((a - mt) ** 2 for a in t)
slope = sum((a - mt) * (b - mr) for a, b in zip(t, r)) / den if den else 0.0
growth = r[-1] - r[0]
socket = wrk["connect_errors"] + wrk["read_errors"] + wrk["write_errors"] + wrk["timeouts"]
ok = wrk["non2xx"] == 0 and socket == 0 and growth < bound
res = {
    "seconds": secs, "connections": int(conns), "requests": wrk["requests"],
    "rps": round(wrk["requests"] / (wrk["duration_us"] / 1e6), 1),
    "p50_ms": wrk["p50_us"] / 1000, "p99_ms": wrk["p99_us"] / 1000,
    "non2xx": wrk["non2xx"], "socket_errors": socket,
    "gateway_log_warnings": int(logerrs),
    "gateway_cpu_s_per_1k": round(int(gticks) / hz / max(wrk["requests"], 1) * 1000, 4),
    "rss_kb_after_warmup": r[0], "rss_kb_end": r[-1], "rss_growth_kb": growth,
    "rss_slope_kb_per_min": round(slope, 1), "rss_peak_kb": max(x[2] for x in s),
    "rss_max_growth_kb": bound, "warmup_seconds": warm,
    "rss_kb_after_load": s[-1][1], "threads_under_load": load[-1][3],
    "samples": [{"t": x[0], "rss_kb": x[1], "hwm_kb": x[2], "threads": x[3], "phase": x[4]} for x in s],
    "pass": ok,
}
json.dump(res, open(out, "w"), indent=1)
print("\n  t(s)   RSS kB   HWM kB  threads")
for x in s:
    print("%6d %8d %8d %8d  %s" % x)
print("\n%d requests (%.0f/s), p50 %.2f ms, p99 %.2f ms, non-2xx %d, socket errors %d, gateway log warnings %d"
      % (wrk["requests"], res["rps"], res["p50_ms"], res["p99_ms"], wrk["non2xx"], socket, int(logerrs)))
print("gateway CPU %.3f s per 1000 requests" % res["gateway_cpu_s_per_1k"])
print("soak: %s: RSS %d kB after %d s warm-up -> %d kB at the end of the load (growth %+d kB, bound %d kB; trend %+.1f kB/min), "
      "%d non-2xx, %d socket errors, %d requests in %d s"
      % ("PASS" if ok else "FAIL", r[0], warm, r[-1], growth, bound, slope, wrk["non2xx"], socket,
         wrk["requests"], secs))
sys.exit(0 if ok else 1)
PY
