#!/usr/bin/env bash
# make bench: HTTP throughput of the gateway next to the database's own
# ceiling (SPEC §10).  A throwaway cluster and a release-built gateway on
# free loopback ports; for each route, wrk over loopback, then pgbench
# running exactly the SQL the gateway sends, with the same client count.
# Everything started is stopped by PID on exit (bench/lib.sh), also on
# Ctrl-C.  Method and results: bench/README.md.
#
#   BENCH_SECONDS=4      duration of each measured run (wrk and pgbench)
#   BENCH_ROUNDS=5       alternating wrk/pgbench rounds per route; the ratio
#                        is the median of the rounds' paired ratios
#   BENCH_LOGIN_SECONDS=15 BENCH_LOGIN_ROUNDS=3   the same for the login
#   BENCH_WARMUP=2       wrk warm-up before each measured route, seconds
#   BENCH_CONNS=8        wrk connections = pgbench clients = gateway pool
#   BENCH_ROUTES="me items item create login health"   which routes
#   BCRYPT_COST=12       the production default
#   BENCH_OUT=bench/results/latest.json
#   KEEP=1               keep the cluster directory (logs)
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_SECONDS=${BENCH_SECONDS:-4}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_LOGIN_SECONDS=${BENCH_LOGIN_SECONDS:-15}
BENCH_LOGIN_ROUNDS=${BENCH_LOGIN_ROUNDS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNS=${BENCH_CONNS:-8}
BENCH_THREADS=2
BENCH_POOL=${BENCH_POOL:-$BENCH_CONNS}
BENCH_ROUTES=${BENCH_ROUTES:-me items item create login health}
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/results/latest.json}


load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# what else is busy (top's second sample: the last second, not lifetimes)
busy_now() {
	top -b -n 2 -d 1 -o %CPU -w 200 2>/dev/null |
		awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 { printf "%s%s(%s%%)", sep, $12, $9; sep=", " }'
}
others_start=$(busy_now)
bench_start

results=$bench_tmp/results.jsonl
: >"$results"
pm=$(postmaster_pid)
client=127.0.0.1
others_sampler "$bench_tmp/others.json" $$ "$pm"

# One route: ROUNDS x (wrk, then pgbench on the same statement), so that
# both sides see the same background load; a login round also runs
# pgbench on the login's own dispatch statement.
measure_route() {
	local key=$1 rid lua pgs rounds secs i w c d='' rows=$bench_tmp/rounds.jsonl
	route_def "$key"
	rid=$(route_id "$METHOD" "$PATTERN")
	[ -n "$rid" ] || die "no route $METHOD $PATTERN in api.routes"
	rounds=$BENCH_ROUNDS secs=$BENCH_SECONDS
	if [ "$key" = login ]; then
		rounds=$BENCH_LOGIN_ROUNDS secs=$BENCH_LOGIN_SECONDS
	fi
	say "$NAME (route $rid): $rounds x (wrk ${secs} s, pgbench ${secs} s)"
	check_route
	lua=$bench_tmp/$key.lua
	pgs=$bench_tmp/$key.pgbench
	write_lua "$key" "$lua"
	write_pgbench "$key" "$pgs"

	local vars=(-D route="$rid" -D path="$PATH_" -D client="$client")
	[ -z "$QUERY" ] || vars+=(-D query="$QUERY")
	[ -z "$BODY" ] || [ "$key" = login ] || vars+=(-D body="$BODY")
	[ -z "$CTYPE" ] || vars+=(-D ctype="$CTYPE")
	[ "$AUTH" != auth ] || vars+=(-D authz="Bearer $BENCH_TOKEN")
	[ "$key" != login ] || vars+=(-D pw="$BENCH_PASSWORD")
	local hash=
	if [ "$key" = login ]; then
		# login's ceiling is bcrypt alone: the check the login does
		# (pgapp.password_verify: crypt() over the pre-hash, same cost)
		hash=$(psql_su -c "SELECT hash FROM pgapp.passwords LIMIT 1")
		echo 'SELECT pgapp.password_verify(:pw, :hash);' >"$bench_tmp/crypt.pgbench"
	fi

	[ "$BENCH_WARMUP" = 0 ] || wrk -t"$BENCH_THREADS" -c"$BENCH_CONNS" -d"${BENCH_WARMUP}s" \
		--timeout 30s -s "$lua" "$BENCH_URL" >/dev/null 2>&1
	: >"$rows"
	for i in $(seq "$rounds"); do
		w=$(BENCH_SECONDS=$secs wrk_run "$lua" "$secs") || die "wrk failed on $NAME"
		if [ "$key" = login ]; then
			c=$(BENCH_SECONDS=$secs pgbench_run "$bench_tmp/crypt.pgbench" \
				-D pw="$BENCH_PASSWORD" -D hash="$hash" -h "$bench_tmp/sock" -U postgres pgapp) ||
				die "pgbench (crypt) failed"
			if [ "$i" = 1 ]; then
				d=$(BENCH_SECONDS=$secs PGPASSWORD=$GATEWAY_DB_PASSWORD pgbench_run "$pgs" "${vars[@]}" \
					-h 127.0.0.1 -U "$GATEWAY_DB_USER" pgapp) || die "pgbench (login dispatch) failed"
			fi
		else
			c=$(BENCH_SECONDS=$secs PGPASSWORD=$GATEWAY_DB_PASSWORD pgbench_run "$pgs" "${vars[@]}" \
				-h 127.0.0.1 -U "$GATEWAY_DB_USER" pgapp) || die "pgbench failed on $NAME"
		fi
		echo "{\"wrk\": $w, \"pgbench\": \"$c\", \"dispatch\": \"$d\"}" >>"$rows"
		echo "   round $i: wrk $(echo "$w" | sed 's/.*"requests":\([0-9]*\).*/\1/') requests; pgbench tps ${c%% *}" >&2
	done

	/usr/bin/python3 - "$NAME" "$key" "$CLK_TCK" "$rows" >>"$results" <<'PY'
import json, statistics, sys
name, key, hz, rows = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
rounds = [json.loads(l) for l in open(rows) if l.strip()]

def pg(text):
    tps, lat, pticks, tx, cticks, others = text.split()
    return {"tps": float(tps), "lat": float(lat), "pticks": int(pticks), "tx": int(tx), "cticks": int(cticks),
            "others": float(others)}

wrk = [r["wrk"] for r in rounds]
ceil = [pg(r["pgbench"]) for r in rounds]
n = sum(w["requests"] for w in wrk)
secs = sum(w["duration_us"] for w in wrk) / 1e6
rps = n / secs
# pgbench's tps is per round over its own elapsed time: weight by transactions
ceil_time = sum(c["tx"] / c["tps"] for c in ceil)
ceil_tx = sum(c["tx"] for c in ceil)
ceil_tps = ceil_tx / ceil_time
per_round = [w["requests"] / (w["duration_us"] / 1e6) / c["tps"] for w, c in zip(wrk, ceil)]
row = {
    "route": name,
    "rps": round(rps, 1),
    "p50_ms": round(statistics.median(w["p50_us"] for w in wrk) / 1000, 2),
    "p99_ms": round(max(w["p99_us"] for w in wrk) / 1000, 2),
    "non2xx": sum(w["non2xx"] for w in wrk),
    "socket_errors": sum(w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"] for w in wrk),
    "ceiling_tps": round(ceil_tps, 1),
    # each round pairs a wrk run with the pgbench run right after it, under
    # about the same background load: the median of the paired ratios
    # resists a burst from other processes better than pooled totals
    "ratio": round(statistics.median(per_round), 3),
    "ratio_rounds": [round(x, 3) for x in per_round],
    "ratio_pooled": round(rps / ceil_tps, 3),
    "requests": n,
    "seconds": round(secs, 1),
    "p90_ms": round(statistics.median(w["p90_us"] for w in wrk) / 1000, 2),
    "mean_ms": round(sum(w["mean_us"] * w["requests"] for w in wrk) / n / 1000, 2),
    "ceiling_latency_ms": round(statistics.median(c["lat"] for c in ceil), 3),
    "gateway_cpu_s_per_1k": round(sum(w["gateway_ticks"] for w in wrk) / hz / n * 1000, 4),
    "postgres_cpu_s_per_1k": round(sum(w["postgres_ticks"] for w in wrk) / hz / n * 1000, 4),
    "wrk_cpu_s_per_1k": round(sum(w["wrk_ticks"] for w in wrk) / hz / n * 1000, 4),
    "ceiling_postgres_cpu_s_per_1k": round(sum(c["pticks"] for c in ceil) / hz / ceil_tx * 1000, 4),
    "ceiling_pgbench_cpu_s_per_1k": round(sum(c["cticks"] for c in ceil) / hz / ceil_tx * 1000, 4),
    "others_cpu_pct_wrk": round(statistics.mean(w["others_pct"] for w in wrk), 1),
    "others_cpu_pct_pgbench": round(statistics.mean(c["others"] for c in ceil), 1),
}
if key == "login":
    row["ceiling"] = "pgbench: SELECT pgapp.password_verify(pw, hash) (bcrypt at the same cost, superuser)"
    # wrk drops the requests in flight when its time is up (pgbench lets
    # them finish): with C connections that is C/2 requests per round on
    # average, which matters only for requests as slow as a bcrypt
    mean_s = row["mean_ms"] / 1000
    row["rps_tail_corrected"] = round(n / (secs - len(wrk) * mean_s / 2), 1)
    row["ratio_tail_corrected"] = round(statistics.median(
        w["requests"] / (w["duration_us"] / 1e6 - mean_s / 2) / c["tps"] for w, c in zip(wrk, ceil)), 3)
    d = pg(rounds[0]["dispatch"])
    row["dispatch_tps"] = round(d["tps"], 1)
    row["dispatch_ratio"] = round(rps / d["tps"], 3)
else:
    row["ceiling"] = "pgbench: the gateway's statement SELECT status, headers, body FROM api.dispatch(...) as the gateway's role"
print(json.dumps(row))
PY
	tail -1 "$results" >&2
}

for key in $BENCH_ROUTES; do
	measure_route "$key"
done

# JWT verification in C, one backend: 100,000 verifications in one
# statement, minus the same loop without them.
say "JWT verifications per second"
jwt_loop() {
	local t0 t1
	t0=$EPOCHREALTIME
	echo "SELECT count($1) FROM generate_series(1, 100000) g" | psql_su -v t="$BENCH_TOKEN" >/dev/null ||
		die "jwt loop failed"
	t1=$EPOCHREALTIME
	echo "$t0 $t1" | awk '{ print $2 - $1 }'
}
jwt_base=$(jwt_loop "CASE WHEN g > 0 THEN :'t' END")
jwt_full=$(jwt_loop "api.jwt_verify(CASE WHEN g > 0 THEN :'t' END)")
jwt_per_s=$(awk -v a="$jwt_full" -v b="$jwt_base" 'BEGIN { printf "%.0f", 100000 / (a - b) }')

gw_hwm=$(proc_kb "$bench_gateway_pid" VmHWM)
gw_rss=$(proc_kb "$bench_gateway_pid" VmRSS)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
others_end=$(busy_now)

mkdir -p "$(dirname "$BENCH_OUT")"
/usr/bin/python3 - "$results" "$BENCH_OUT" <<PY
import json, sys, datetime, subprocess
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "commit": subprocess.run(["git", "-C", "$PGAPP_ROOT", "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip(),
    "seconds": $BENCH_SECONDS, "rounds": $BENCH_ROUNDS, "warmup_seconds": $BENCH_WARMUP,
    "login_seconds": $BENCH_LOGIN_SECONDS, "login_rounds": $BENCH_LOGIN_ROUNDS,
    "connections": $BENCH_CONNS, "wrk_threads": $BENCH_THREADS, "pgbench_jobs": 2,
    "gateway_pool": $BENCH_POOL, "bcrypt_cost": $BCRYPT_COST,
    "cpus": $(nproc), "gateway_cflags": "${BENCH_GATEWAY_CFLAGS}",
    "jwt_verify_per_s": $jwt_per_s,
    "gateway_vmhwm_kb": $gw_hwm, "gateway_vmrss_kb": $gw_rss,
    "loadavg_start": "$load_start", "loadavg_end": "$load_end",
    "busy_processes_start": "$others_start", "busy_processes_end": "$others_end",
}
try:
    meta["other_processes"] = json.load(open("$bench_tmp/others.json"))
except (OSError, ValueError):
    pass
# a list of route rows; each carries the run's facts under "run"
for r in rows:
    r["run"] = meta
json.dump(rows, open(sys.argv[2], "w"), indent=1)
open(sys.argv[2], "a").write("\n")

hdr = ("route", "req/s", "p50 ms", "p99 ms", "non-2xx", "ceiling tps", "ratio", "gw cpu s/1k", "pg cpu s/1k")
fmt = "%-34s %9s %8s %8s %8s %12s %7s %12s %12s"
print()
print(fmt % hdr)
# ratio: median of the paired rounds' ratios (see README)
for r in rows:
    print(fmt % (r["route"], "%.0f" % r["rps"], "%.2f" % r["p50_ms"], "%.2f" % r["p99_ms"],
                 r["non2xx"] + r["socket_errors"], "%.0f" % r["ceiling_tps"], "%.2f" % r["ratio"],
                 "%.3f" % r["gateway_cpu_s_per_1k"], "%.3f" % r["postgres_cpu_s_per_1k"]))
    if "dispatch_tps" in r:
        print(fmt % ("  (login dispatch via pgbench)", "", "", "", "", "%.0f" % r["dispatch_tps"],
                     "%.2f" % r["dispatch_ratio"], "", ""))
print()
print("JWT verifications/s (C, one backend): %d" % meta["jwt_verify_per_s"])
print("gateway RSS: peak (VmHWM) %.1f MiB, now %.1f MiB" % (meta["gateway_vmhwm_kb"] / 1024, meta["gateway_vmrss_kb"] / 1024))
print("%d x %d s per route and side (login %d x %d s), %d connections, %d CPUs, bcrypt cost %d; load %s -> %s" % (
    meta["rounds"], meta["seconds"], meta["login_rounds"], meta["login_seconds"], meta["connections"],
    meta["cpus"], meta["bcrypt_cost"], meta["loadavg_start"], meta["loadavg_end"]))
o = meta.get("other_processes")
if o:
    print("other processes meanwhile: %.0f CPU-s in %d s (%.0f%% of the machine); most: %s" % (
        o["cpu_seconds"], o["seconds"], 100 * o["cpu_seconds"] / max(o["seconds"], 1) / meta["cpus"],
        "; ".join("%s (%.0f s)" % (t["command"], t["cpu_seconds"]) for t in o["top"][:4])))
if any(r["non2xx"] + r["socket_errors"] for r in rows):
    print("WARNING: some requests failed (non-2xx or socket errors)")
PY

if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	/usr/bin/python3 "$BENCH_DIR/chart.py" "$BENCH_OUT" "${BENCH_OUT%.json}.png" ||
		echo "chart failed (the table above stands)" >&2
else
	echo "no python3-matplotlib: no chart (scripts/deps.sh installs it)" >&2
fi
echo "results: $BENCH_OUT"
