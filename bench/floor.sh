#!/usr/bin/env bash
# How close the gateway is to the floor of any separate-process proxy
# (bench/README.md, finding 12).  The set-up of make bench; then, for one
# GET route, interleaved rounds of wrk through
#   gateway       the release gateway, as make bench measures it
#   floor         bench/floor.c: blocking recv, one PQexecPrepared of the
#                 same statement, one sendmsg; nothing else
#   floor+mhd     the floor plus libmicrohttpd 0.9.75's two fixed costs per
#                 request: clearing 1.5 x the gateway's MHD_MEMORY_LIMIT and
#                 a select() before each read
# and pgbench on the same statement (the ceiling).  Prints one line per
# variant (req/s, median paired ratio to pgbench, CPU per request of the
# proxy and of PostgreSQL) and writes them as JSON.
#
#   bench/floor.sh [ROUTE]     ROUTE: me (default), items, item, health
#   FLOOR_ROUNDS=8  BENCH_SECONDS=4  BENCH_CONNS=8
#   FLOOR_OUT=bench/results/floor.json
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

route=${1:-me}
rounds=${FLOOR_ROUNDS:-8}
BENCH_SECONDS=${BENCH_SECONDS:-4}
BENCH_CONNS=${BENCH_CONNS:-8}
BENCH_THREADS=2
BENCH_POOL=$BENCH_CONNS
FLOOR_OUT=${FLOOR_OUT:-$BENCH_DIR/results/floor.json}
case $route in
me | items | item | health) ;;
*) die "floor.sh measures GET routes: me, items, item or health, not $route" ;;
esac
pool_kib=$(sed -n 's/^#define MHD_MEMORY_LIMIT (\([0-9]*\) \* 1024)$/\1/p' "$PGAPP_ROOT/gateway/src/http.c")
[ -n "$pool_kib" ] || die "MHD_MEMORY_LIMIT not found in gateway/src/http.c"

bench_start
floor_bin=$bench_tmp/floor
bench_build_floor "$floor_bin" || die "floor.c does not build"

route_def "$route"
rid=$(route_id "$METHOD" "$PATTERN")
[ -n "$rid" ] || die "no route $METHOD $PATTERN in api.routes"
check_route
lua=$bench_tmp/$route.lua
pgs=$bench_tmp/$route.pgbench
write_lua "$route" "$lua"
write_pgbench "$route" "$pgs"
vars=(-D route="$rid" -D path="$PATH_" -D client=127.0.0.1)
[ -z "$QUERY" ] || vars+=(-D query="$QUERY")
authz=
[ "$AUTH" != auth ] || authz="Bearer $BENCH_TOKEN"
[ -z "$authz" ] || vars+=(-D authz="$authz")

declare -A url pid
url[gateway]=$BENCH_URL pid[gateway]=$bench_gateway_pid
start_floor() {
	local name=$1 port
	shift
	port=$(free_port)
	env FLOOR_CONNINFO="$BENCH_GATEWAY_URL" FLOOR_ROUTE="$rid" FLOOR_PATH="$PATH_" \
		FLOOR_QUERY="$QUERY" FLOOR_AUTHZ="$authz" "$@" \
		"$floor_bin" "$port" >>"$bench_tmp/$name.log" 2>&1 &
	pid[$name]=$!
	bench_track "${pid[$name]}"
	url[$name]=http://127.0.0.1:$port
}
start_floor floor
start_floor floor+mhd FLOOR_CLEAR=$((pool_kib * 1024 * 3 / 2)) FLOOR_SELECT=1
variants=(gateway floor floor+mhd)
for v in "${variants[@]}"; do
	ok=
	for _ in $(seq 50); do
		code=$(curl -s -o /dev/null -w '%{http_code}' ${authz:+-H "Authorization: $authz"} \
			"${url[$v]}$PATH_${QUERY:+?$QUERY}") && [ "$code" = 200 ] && ok=1 && break
		sleep 0.1
	done
	[ -n "$ok" ] || { cat "$bench_tmp/$v.log" >&2 2>/dev/null; die "$v does not answer 200 on $NAME"; }
	wrk -t"$BENCH_THREADS" -c"$BENCH_CONNS" -d1s -s "$lua" "${url[$v]}" >/dev/null 2>&1
done

say "$NAME: $rounds x (${#variants[@]} proxies and pgbench, ${BENCH_SECONDS} s each, order reversed every other round)"
rows=$bench_tmp/floor-rounds.jsonl
: >"$rows"
for i in $(seq "$rounds"); do
	order=("${variants[@]}")
	[ $((i % 2)) = 1 ] || order=(floor+mhd floor gateway)
	for v in "${order[@]}"; do
		w=$(wrk_run "$lua" "$BENCH_SECONDS" "${url[$v]}" "${pid[$v]}") || die "wrk failed on $v"
		echo "{\"round\": $i, \"variant\": \"$v\", \"wrk\": $w}" >>"$rows"
	done
	c=$(PGPASSWORD=$GATEWAY_DB_PASSWORD pgbench_run "$pgs" "${vars[@]}" \
		-h 127.0.0.1 -U "$GATEWAY_DB_USER" pgapp) || die "pgbench failed on $NAME"
	echo "{\"round\": $i, \"variant\": \"pgbench\", \"pgbench\": \"$c\"}" >>"$rows"
	echo "   round $i done" >&2
done

mkdir -p "$(dirname "$FLOOR_OUT")"
/usr/bin/python3 - "$rows" "$CLK_TCK" "$NAME" "$FLOOR_OUT" "$pool_kib" <<'PY'
import json, statistics, subprocess, sys
rows, hz, name, out, pool_kib = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
data = [json.loads(l) for l in open(rows) if l.strip()]
ceiling = {}
for d in data:
    if d["variant"] == "pgbench":
        tps, _lat, pticks, tx, _c, _o = d["pgbench"].split()
        ceiling[d["round"]] = (float(tps), int(pticks) / hz / int(tx) * 1e6)
result = []
for v in ("gateway", "floor", "floor+mhd"):
    runs = [d for d in data if d["variant"] == v]
    n = sum(r["wrk"]["requests"] for r in runs)
    secs = sum(r["wrk"]["duration_us"] for r in runs) / 1e6
    result.append({
        "variant": v, "route": name, "rps": round(n / secs, 1),
        "ratio": round(statistics.median(
            r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6) / ceiling[r["round"]][0] for r in runs), 3),
        "proxy_us": round(sum(r["wrk"]["gateway_ticks"] for r in runs) / hz / n * 1e6, 1),
        "postgres_us": round(sum(r["wrk"]["postgres_ticks"] for r in runs) / hz / n * 1e6, 1),
        "non2xx": sum(r["wrk"]["non2xx"] for r in runs),
        "socket_errors": sum(r["wrk"]["connect_errors"] + r["wrk"]["read_errors"] + r["wrk"]["write_errors"]
                             + r["wrk"]["timeouts"] for r in runs),
    })
tps = [c[0] for c in ceiling.values()]
result.append({"variant": "pgbench", "route": name, "rps": round(statistics.mean(tps), 1), "ratio": 1.0,
               "proxy_us": 0.0, "postgres_us": round(statistics.mean(c[1] for c in ceiling.values()), 1),
               "non2xx": 0, "socket_errors": 0})
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
json.dump({"commit": commit, "rounds": len(ceiling), "mhd_memory_limit_kib": int(pool_kib), "rows": result},
          open(out, "w"), indent=1)
print("\n%-10s %8s %7s %13s %16s %8s" % ("variant", "req/s", "ratio", "proxy us/req", "postgres us/req", "non-2xx"))
for r in result:
    print("%-10s %8.0f %7.2f %13.1f %16.1f %8d" % (r["variant"], r["rps"], r["ratio"], r["proxy_us"],
                                                    r["postgres_us"], r["non2xx"] + r["socket_errors"]))
print("results: " + out)
PY
