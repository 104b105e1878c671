#!/usr/bin/env bash
# `make bench` and `make soak` work end to end; how fast and how flat is
# their own business (SPEC §10: speed is measured in the benchmark, never
# in a test).  make bench: one 1-second round per route and side at bcrypt
# cost 4; make soak: 10 seconds.  Both write into the run's directory; then
# one check each: bench exits 0, prints the table, writes the JSON (every
# route of SPEC §10 with its fields, no non-2xx answer) and the PNG; soak
# exits 0 with its PASS line and JSON.  bench/floor.sh: one 1-second round,
# exit 0 with a row per variant and no non-2xx; an unknown route is refused
# before anything starts; bench/floor.c refuses a bad command line or
# setting, and stops with the database's message when it cannot connect.
set -uo pipefail
# bench/lib.sh brings scripts/lib.sh and bench_build_floor
. "$(dirname "$0")/../bench/lib.sh"
tmp=$1
out=$tmp/bench-smoke.json log=$tmp/bench-smoke.log
BENCH_SECONDS=1 BENCH_ROUNDS=1 BENCH_WARMUP=1 BENCH_LOGIN_SECONDS=2 BENCH_LOGIN_ROUNDS=1 \
	BCRYPT_COST=4 BENCH_OUT=$out "$PGAPP_ROOT/bench/run.sh" >"$log" 2>&1
rc=$?
soak_out=$tmp/soak-smoke.json soak_log=$tmp/soak-smoke.log
SOAK_SECONDS=10 SOAK_SAMPLE=2 SOAK_OUT=$soak_out "$PGAPP_ROOT/bench/soak.sh" >"$soak_log" 2>&1
soak_rc=$?
floor_out=$tmp/floor-smoke.json floor_log=$tmp/floor-smoke.log
FLOOR_ROUNDS=1 BENCH_SECONDS=1 BCRYPT_COST=4 FLOOR_OUT=$floor_out "$PGAPP_ROOT/bench/floor.sh" me >"$floor_log" 2>&1
floor_rc=$?
floor_bad=$("$PGAPP_ROOT/bench/floor.sh" create 2>&1)
floor_bad_rc=$?

# floor.c's own refusals: "NAME|expected exit|expected text|rc|output" lines
floor_cases=$tmp/floor-cases.txt
: >"$floor_cases"
floor_case() {
	local name=$1 want_rc=$2 want_text=$3 out rc
	shift 3
	out=$(timeout 10 "$@" 2>&1)
	rc=$?
	printf '%s|%s|%s|%s|%s\n' "$name" "$want_rc" "$want_text" "$rc" "$(echo "$out" | head -1)" >>"$floor_cases"
}
floor_bin=$tmp/floor
if bench_build_floor "$floor_bin"; then
	floor_env=(env FLOOR_CONNINFO="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
		FLOOR_ROUTE=1 FLOOR_PATH=/)
	floor_case "floor.c: no port" 2 "usage: floor PORT" "$floor_bin"
	floor_case "floor.c: port 0" 2 "usage: floor PORT" "${floor_env[@]}" "$floor_bin" 0
	floor_case "floor.c: FLOOR_CONNINFO unset" 2 "FLOOR_CONNINFO is not set" \
		env FLOOR_ROUTE=1 FLOOR_PATH=/ "$floor_bin" "$(free_port)"
	floor_case "floor.c: FLOOR_PATH empty" 2 "FLOOR_PATH is not set" \
		"${floor_env[@]}" FLOOR_PATH= "$floor_bin" "$(free_port)"
	floor_case "floor.c: no database to connect to" 1 "floor: connection to server" \
		"${floor_env[@]}" FLOOR_SHARED=1 FLOOR_CONNS=2 "$floor_bin" "$(free_port)"
	floor_case "floor.c: FLOOR_CONNS 0" 2 "FLOOR_CONNS must be" \
		"${floor_env[@]}" FLOOR_SHARED=1 FLOOR_CONNS=0 "$floor_bin" "$(free_port)"
else
	echo "floor.c: build failed|0|built|1|" >>"$floor_cases"
fi
/usr/bin/python3 - "$rc" "$out" "$log" "$soak_rc" "$soak_out" "$soak_log" \
	"$floor_rc" "$floor_out" "$floor_log" "$floor_bad_rc" "$floor_bad" "$floor_cases" <<'PY'
import json, sys
rc, out, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
soak_rc, soak_out, soak_log = int(sys.argv[4]), sys.argv[5], sys.argv[6]
floor_rc, floor_out, floor_log = int(sys.argv[7]), sys.argv[8], sys.argv[9]
floor_bad_rc, floor_bad = int(sys.argv[10]), sys.argv[11]
floor_cases = [l.rstrip("\n").split("|", 4) for l in open(sys.argv[12]) if l.strip()]
routes = ["GET /api/v1/users/me", "GET /api/v1/items/?limit=10", "GET /api/v1/items/{id}",
          "POST /api/v1/items/", "POST /api/v1/login/access-token", "GET /api/v1/utils/health-check/"]
fields = ["route", "rps", "p50_ms", "p99_ms", "non2xx", "ceiling_tps", "ratio"]
text = open(log, errors="replace").read()
checks = [("bench/run.sh exits 0", rc == 0),
          ("the table is printed", all(r in text for r in routes) and "JWT verifications/s" in text)]
try:
    rows = {r.get("route"): r for r in json.load(open(out))}
except (OSError, ValueError, KeyError, TypeError, AttributeError):
    rows = {}
for r in routes:
    row = rows.get(r, {})
    checks.append((f"JSON row {r}", all(f in row for f in fields) and row.get("non2xx") == 0
                   and row.get("rps", 0) > 0 and row.get("ceiling_tps", 0) > 0))
try:
    png = open(out[:-len(".json")] + ".png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
except OSError:
    png = False
checks.append(("the PNG chart", png))
soak_text = open(soak_log, errors="replace").read()
try:
    soak = json.load(open(soak_out))
except (OSError, ValueError):
    soak = {}
checks.append(("make soak: exit 0, PASS line and JSON",
               soak_rc == 0 and (soak_text.strip().splitlines() or [""])[-1].startswith("soak: PASS")
               and soak.get("pass") is True and soak.get("requests", 0) > 0))
try:
    floor = {r["variant"]: r for r in json.load(open(floor_out))["rows"]}
except (OSError, ValueError, KeyError, TypeError):
    floor = {}
checks.append(("bench/floor.sh: exit 0, a row per variant, no non-2xx",
               floor_rc == 0 and sorted(floor) == ["floor", "floor+mhd", "gateway", "pgbench"]
               and all(r["rps"] > 0 and r["non2xx"] == 0 and r["socket_errors"] == 0 for r in floor.values())))
checks.append(("bench/floor.sh refuses a route it cannot measure",
               floor_bad_rc != 0 and "GET routes" in floor_bad and "create" in floor_bad))
for name, want_rc, want_text, got_rc, got in floor_cases:
    ok = got_rc == want_rc and want_text in got
    checks.append((name + ("" if ok else " (exit %s: %s)" % (got_rc, got)), ok))
bad = [name for name, ok in checks if not ok]
for name, ok in checks:
    print(("ok      " if ok else "FAILED  ") + name)
if bad:
    print("bench log: %s, soak log: %s, floor log: %s" % (log, soak_log, floor_log))
    print(text[-3000:])
    print(soak_text[-2000:])
print(f"{len(checks) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
PY
