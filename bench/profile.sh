#!/usr/bin/env bash
# Where the time goes for one route: the same set-up as make bench, wrk on
# the route, and `perf record` (software clock: this machine has no
# hardware counters) on the gateway and on the gateway's database
# backends.  Prints the top symbols of each; the perf data stays in the
# kept directory for `perf report -i`.
#
#   bench/profile.sh [ROUTE] [SECONDS]     ROUTE: me items item create login health
#   PROFILE_CALLGRIND=1                    instead: the gateway under
#                                          valgrind --tool=callgrind (slow; wrk
#                                          with 2 connections); counts only the
#                                          measured run, not start-up or warm-up
#   PROFILE_CALLGRAPH=dwarf                full stacks through libc (bigger data)
#   BENCH_CONNS=8  BCRYPT_COST=12
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

route=${1:-me}
seconds=${2:-10}
BENCH_CONNS=${BENCH_CONNS:-8}
BENCH_POOL=${BENCH_POOL:-$BENCH_CONNS}
export KEEP=1
command -v perf >/dev/null || die "perf is missing (apt-get install linux-perf)"

if [ "${PROFILE_CALLGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null || die "valgrind is missing"
	# the gateway runs under callgrind from the start
	bench_start_gateway() {
		(
			unset SECRET_KEY
			exec env DATABASE_URL="$BENCH_GATEWAY_URL" PORT="$BENCH_HTTP_PORT" \
				GATEWAY_LISTEN=127.0.0.1 GATEWAY_WORKERS="$BENCH_POOL" \
				valgrind --tool=callgrind --callgrind-out-file="$bench_tmp/callgrind.out" \
				"$BENCH_GATEWAY_BIN"
		) >>"$bench_tmp/gateway.log" 2>&1 &
		bench_gateway_pid=$!
		local _
		for _ in $(seq 300); do
			curl -sf "$BENCH_URL/ready" >/dev/null && return 0
			sleep 0.1
		done
		die "the gateway did not become ready under valgrind"
	}
fi

bench_start
route_def "$route"
check_route
lua=$bench_tmp/$route.lua
write_lua "$route" "$lua"

if [ "${PROFILE_CALLGRIND:-0}" = 1 ]; then
	# Start-up (the pool's SCRAM logins: PBKDF2 in libcrypto) and the
	# warm-up would otherwise outweigh the requests: zero the counters
	# before the measured run and dump them right after it.
	wrk -t1 -c2 -d2s --timeout 30s -s "$lua" "$BENCH_URL" >/dev/null
	callgrind_control -z "$bench_gateway_pid" >/dev/null 2>&1 || die "callgrind_control -z failed"
	say "callgrind: $NAME for $seconds s, 2 connections"
	json=$(wrk -t1 -c2 -d"${seconds}s" --timeout 30s -s "$lua" "$BENCH_URL" | sed -n 's/^WRKJSON //p')
	echo "$json"
	callgrind_control -d measured "$bench_gateway_pid" >/dev/null 2>&1 || die "callgrind_control -d failed"
	kill -TERM "$bench_gateway_pid"
	wait "$bench_gateway_pid"
	bench_gateway_pid=
	dump=$(grep -l '^desc: Trigger: .*measured' "$bench_tmp"/callgrind.out.* | head -1)
	[ -n "$dump" ] || die "no callgrind dump of the measured run"
	requests=${json#*\"requests\":}
	requests=${requests%%,*}
	# A call that began before the zeroing is dumped as "calls=0", and
	# callgrind_annotate 3.19 then charges its whole inclusive cost to the
	# caller as self cost (here: everything to clone); count it as one call.
	sed -i 's/^calls=0 /calls=1 /' "$dump"
	callgrind_annotate --inclusive=no "$dump" 2>/dev/null | head -60 |
		awk -v n="$requests" '{ print } /PROGRAM TOTALS/ {
			gsub(",", "", $1); printf "%.0f instructions per request (%d requests)\n", $1 / n, n }'
	echo "(valgrind counts each byte of a rep stosb memset as an instruction: libmicrohttpd's pool clearing looks far bigger here than under perf)"
	echo "callgrind data: $dump"
	exit 0
fi

say "warm-up"
wrk -t2 -c"$BENCH_CONNS" -d2s --timeout 30s -s "$lua" "$BENCH_URL" >/dev/null
backends=$(echo "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'pgapp-gateway'" | psql_su)
say "perf: $NAME for $seconds s (gateway $bench_gateway_pid, backends $backends)"
perf record -q -e cpu-clock --call-graph "${PROFILE_CALLGRAPH:-fp}" -o "$bench_tmp/gateway.perf" -p "$bench_gateway_pid" -- sleep "$seconds" 2>/dev/null &
pg1=$!
perf record -q -e cpu-clock --call-graph "${PROFILE_CALLGRAPH:-fp}" -o "$bench_tmp/postgres.perf" -p "$backends" -- sleep "$seconds" 2>/dev/null &
pg2=$!
bench_track "$pg1"
bench_track "$pg2"
wrk -t2 -c"$BENCH_CONNS" -d"${seconds}s" --timeout 30s -s "$lua" "$BENCH_URL" | sed -n 's/^WRKJSON //p'
wait "$pg1" "$pg2"

for what in gateway postgres; do
	echo
	echo "== $what: top symbols (self)"
	perf report -i "$bench_tmp/$what.perf" --stdio --no-children --sort dso,symbol \
		-g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' | head -45
done
echo
echo "perf data: $bench_tmp/gateway.perf $bench_tmp/postgres.perf (perf report -i FILE)"
