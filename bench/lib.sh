# Shared by bench/run.sh (make bench) and bench/soak.sh (make soak):
# a throwaway cluster and a release-built gateway on free loopback ports,
# the seed data, and the measuring helpers.  Sourced, never run.
#
# Everything started here is recorded and stopped by PID in bench_cleanup
# (installed as the EXIT trap by bench_start), also on failure or Ctrl-C.
# shellcheck shell=bash
# Variables set here are read by run.sh, soak.sh and profile.sh:
# shellcheck disable=SC2034

. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BENCH_DIR=$PGAPP_ROOT/bench
CLK_TCK=$(getconf CLK_TCK)
BENCH_LOGIN_USERS=${BENCH_LOGIN_USERS:-100}
BENCH_ITEMS=${BENCH_ITEMS:-100}

bench_tmp=
bench_gateway_pid=
bench_children=()

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid
	for pid in "${bench_children[@]}"; do
		kill "$pid" 2>/dev/null
	done
	if [ -n "$bench_gateway_pid" ]; then
		kill -TERM "$bench_gateway_pid" 2>/dev/null
		wait "$bench_gateway_pid" 2>/dev/null
	fi
	if [ -n "$bench_tmp" ]; then
		"$PGAPP_ROOT/scripts/cluster.sh" stop "$bench_tmp" immediate 2>/dev/null
		if [ "${KEEP:-0}" = 1 ]; then
			echo "kept $bench_tmp" >&2
		else
			rm -rf "$bench_tmp"
		fi
	fi
	exit "$rc"
}

# A child to stop on exit (wrk, samplers).
bench_track() { bench_children+=("$1"); }

# --- CPU and memory from /proc ---------------------------------------------

# utime+stime of one process, in clock ticks.
proc_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Every PostgreSQL process of the cluster, in clock ticks: the postmaster's
# own time, the time of the children it has reaped (cutime+cstime: backends
# that exited, e.g. pgbench's), and the live children's time.
pg_ticks() {
	local pm=$1 total pid
	total=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat")
	for pid in $(pgrep -P "$pm"); do
		total=$((total + $(proc_ticks "$pid")))
	done
	echo "$total"
}

# with_rusage FILE CMD...: run CMD and write its exact user+system CPU, in
# clock ticks, to FILE (wait4's rusage; SIGTERM/SIGINT are passed on).
with_rusage() {
	/usr/bin/python3 -c '
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
for s in (signal.SIGTERM, signal.SIGINT):
    signal.signal(s, lambda n, f: os.kill(pid, n))
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % round((ru.ru_utime + ru.ru_stime) * int(sys.argv[2])))
sys.exit(os.waitstatus_to_exitcode(status))
' "$1" "$CLK_TCK" "${@:2}"
}

# Wait (at most 3 s) until the postmaster has no more than N children:
# the backends of a finished client have exited and been reaped, so their
# CPU time is in the postmaster's cutime rather than lost in between.
pg_settle() {
	local pm=$1 n=$2 _
	for _ in $(seq 60); do
		[ "$(pgrep -c -P "$pm")" -le "$n" ] && return 0
		sleep 0.05
	done
}

# Machine-wide CPU ticks from /proc/stat: "busy total" over all CPUs.
machine_ticks() {
	awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# What other processes took while we measured, in % of the machine:
# others_pct BUSY0 TOTAL0 BUSY1 TOTAL1 OURS_TICKS
others_pct() {
	awk -v b0="$1" -v t0="$2" -v b1="$3" -v t1="$4" -v ours="$5" \
		'BEGIN { o = (b1 - b0 - ours) / (t1 - t0) * 100; printf "%.1f", (o < 0 ? 0 : o) }'
}

# Who else used the CPU while we measured: every SAMPLE seconds, the CPU
# time of every process that is neither ours (descendants of ROOT_PID or
# of our postmaster) nor a kernel thread, summed by command; written to
# FILE as JSON each round.  others_sampler FILE ROOT_PID POSTMASTER_PID
others_sampler() {
	/usr/bin/python3 - "$@" <<'PY' &
import json, os, sys, time
out, root, pm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hz = os.sysconf("SC_CLK_TCK")

def procs():
    res = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        rest = st[st.rindex(")") + 2:].split()
        res[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]), cmd or "[%s]" % comm)
    return res

def ours(pid, table):
    seen = 0
    while pid > 1 and seen < 64:
        if pid in (root, pm):
            return True
        pid = table.get(pid, (0,))[0]
        seen += 1
    return False

prev, total, start = procs(), {}, time.time()
while os.path.exists("/proc/%d" % root):
    time.sleep(float(os.environ.get("OTHERS_SAMPLE", "2")))
    cur = procs()
    for pid, (ppid, ticks, cmd) in cur.items():
        if ours(pid, cur) or cmd.startswith("["):
            continue
        # a process born since the last sample brings all its time
        d = ticks - prev[pid][1] if pid in prev else ticks
        if d > 0:
            key = " ".join(cmd.split()[:4])[:90]
            total[key] = total.get(key, 0) + d
    prev = cur
    secs = time.time() - start
    top = sorted(total.items(), key=lambda kv: -kv[1])[:8]
    with open(out + ".tmp", "w") as f:
        json.dump({"seconds": round(secs), "cpu_seconds": round(sum(total.values()) / hz, 1),
                   "top": [{"command": k, "cpu_seconds": round(v / hz, 1)} for k, v in top]}, f)
    os.replace(out + ".tmp", out)
PY
	bench_track $!
}

# A /proc/PID/status field in kB (VmRSS, VmHWM).
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

postmaster_pid() { head -1 "$bench_tmp/data/postmaster.pid"; }

# --- set-up --------------------------------------------------------------

psql_su() { "$PGAPP_PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# A release gateway of our own: a private copy of gateway/ built with the
# Makefile's default flags (CFLAGS from the environment, which might hold
# sanitizers, is dropped), so a concurrent build in the work tree cannot
# swap the binary under the benchmark.
bench_build_gateway() {
	local dst=$bench_tmp/gateway
	mkdir -p "$dst"
	cp -a "$PGAPP_ROOT/gateway/Makefile" "$PGAPP_ROOT/gateway/src" "$dst/"
	rm -f "$dst"/src/*.o "$dst/pgapp-gateway"
	env -u CFLAGS -u LDFLAGS make -s -C "$dst" PG_CONFIG=/usr/lib/postgresql/$PG/bin/pg_config \
		pgapp-gateway >&2 || die "gateway build failed"
	if nm "$dst/pgapp-gateway" 2>/dev/null | grep -q -E '__asan|__ubsan|__msan|__tsan'; then
		die "the gateway build carries sanitizers"
	fi
	BENCH_GATEWAY_BIN=$dst/pgapp-gateway
	BENCH_GATEWAY_CFLAGS=$(make -s -C "$dst" -p -n 2>/dev/null | sed -n 's/^CFLAGS := //p;s/^CFLAGS = //p' | head -1)
}

# bench/floor.c into OUT, with the flags of the gateway's Makefile
bench_build_floor() {
	cc -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
		-I"$(/usr/lib/postgresql/"$PG"/bin/pg_config --includedir)" \
		-o "$1" "$BENCH_DIR/floor.c" -lpq -lpthread
}

bench_start_gateway() {
	(
		unset SECRET_KEY
		exec env DATABASE_URL="$BENCH_GATEWAY_URL" PORT="$BENCH_HTTP_PORT" \
			GATEWAY_LISTEN=127.0.0.1 GATEWAY_WORKERS="$BENCH_POOL" \
			GATEWAY_MAX_CONNS_PER_IP=0 \
			"$BENCH_GATEWAY_BIN"
	) >>"$bench_tmp/gateway.log" 2>&1 &
	bench_gateway_pid=$!
	local _
	for _ in $(seq 100); do
		curl -sf "$BENCH_URL/ready" >/dev/null && return 0
		sleep 0.1
	done
	tail -20 "$bench_tmp/gateway.log" >&2
	die "the gateway did not become ready"
}

# bench_start: build, cluster, gateway, seed.  Sets BENCH_URL,
# BENCH_TOKEN, BENCH_ITEM_ID, BENCH_GATEWAY_URL, BENCH_PG_URL...
bench_start() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	[ "$PG" = 15 ] || die "the benchmark runs on PostgreSQL 15 (Debian 12's own)"
	"$PGAPP_ROOT/scripts/deps.sh" || exit 1
	command -v wrk >/dev/null || die "wrk is missing (scripts/deps.sh)"

	say "build (PostgreSQL $PG, release gateway)"
	export PGAPP_STAGE_DIR
	PGAPP_STAGE_DIR=$("$PGAPP_ROOT/scripts/cluster.sh" stage) || exit 1
	local workdir
	workdir=$("$PGAPP_ROOT/scripts/cluster.sh" workdir)
	mkdir -p "$workdir"
	bench_tmp=$(mktemp -d "$workdir/bench.XXXXXX")
	chmod 755 "$bench_tmp"
	bench_build_gateway

	BENCH_PG_PORT=$(free_port)
	BENCH_HTTP_PORT=$(free_port)
	export ENVIRONMENT=local
	SECRET_KEY="bench-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	export SECRET_KEY
	export ALGORITHM=HS256 BCRYPT_COST=${BCRYPT_COST:-12}
	# long enough for any soak: a token expiring mid-run would be a 401
	export ACCESS_TOKEN_EXPIRE_MINUTES=${ACCESS_TOKEN_EXPIRE_MINUTES:-1440}
	export FIRST_SUPERUSER=admin@example.com
	FIRST_SUPERUSER_PASSWORD="admin-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	export FIRST_SUPERUSER_PASSWORD
	export GATEWAY_DB_USER=pgapp_gateway_login
	GATEWAY_DB_PASSWORD="gw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	export GATEWAY_DB_PASSWORD
	export FRONTEND_HOST=http://localhost:5173

	say "cluster on port $BENCH_PG_PORT (bcrypt cost $BCRYPT_COST)"
	"$PGAPP_ROOT/scripts/cluster.sh" init "$bench_tmp" "$BENCH_PG_PORT" || exit 1
	export PGHOST=$bench_tmp/sock PGPORT=$BENCH_PG_PORT PGUSER=postgres PGDATABASE=pgapp
	PGAPP_PSQL=$("$PGAPP_ROOT/scripts/cluster.sh" bin psql)
	PGBENCH=$("$PGAPP_ROOT/scripts/cluster.sh" bin pgbench)
	BENCH_GATEWAY_URL="postgresql://$GATEWAY_DB_USER:$GATEWAY_DB_PASSWORD@127.0.0.1:$BENCH_PG_PORT/pgapp"
	BENCH_URL=http://127.0.0.1:$BENCH_HTTP_PORT

	say "gateway on port $BENCH_HTTP_PORT (pool $BENCH_POOL)"
	bench_start_gateway
	bench_seed
}

# One bench user with BENCH_ITEMS items, BENCH_LOGIN_USERS accounts for the
# login route (all with the bench password, one bcrypt hash at the
# configured cost computed once and shared), and a token for the user.
bench_seed() {
	BENCH_PASSWORD="bench-password-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	BENCH_EMAIL=bench@example.com
	say "seed: 1 user with $BENCH_ITEMS items, $BENCH_LOGIN_USERS login accounts"
	psql_su -v pw="$BENCH_PASSWORD" -v cost="$BCRYPT_COST" \
		-v nitems="$BENCH_ITEMS" -v nlogin="$BENCH_LOGIN_USERS" >/dev/null <<'SQL'
BEGIN;
SELECT pgapp.password_hash(:'pw', :'cost'::int) AS hash \gset
WITH u AS (
	INSERT INTO pgapp.users (email, full_name)
	SELECT CASE WHEN g = 0 THEN 'bench@example.com' ELSE format('login%s@example.com', g) END,
	       'Bench User ' || g
	  FROM generate_series(0, :'nlogin'::int) g
	RETURNING id)
INSERT INTO pgapp.passwords (user_id, hash) SELECT id, :'hash' FROM u;
COMMIT;
SQL
	BENCH_TOKEN=$(curl -sf --data-urlencode "username=$BENCH_EMAIL" \
		--data-urlencode "password=$BENCH_PASSWORD" "$BENCH_URL/api/v1/login/access-token" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
		die "cannot log the bench user in"
	BENCH_ITEM_ID=$(psql_su -v t="$BENCH_TOKEN" -v nitems="$BENCH_ITEMS" <<'SQL' | tail -1
BEGIN;
SELECT api.authenticate(:'t') \gset
SELECT count(api.item_create('bench item ' || g, 'seeded by bench/lib.sh')) FROM generate_series(1, :'nitems'::int) g \gset
SELECT id FROM pgapp.items ORDER BY created_at, id LIMIT 1;
COMMIT;
SQL
)
	[ -n "$BENCH_ITEM_ID" ] || die "seeding items failed"
	psql_su -c 'VACUUM ANALYZE' >/dev/null
}

# Route ids from the catalog: route_id METHOD PATTERN
route_id() {
	echo "SELECT id FROM api.routes WHERE method = :'m' AND path = :'p'" |
		psql_su -v m="$1" -v p="$2" | tail -1
}

# --- wrk -----------------------------------------------------------------

# The wrk Lua prelude for one route: wrk_lua AUTH METHOD PATH [BODY [CTYPE]]
# (AUTH: "auth" sends the bench user's token).  The request is formatted
# once by wrk; done() prints one line "WRKJSON {...}" for the caller.
wrk_lua() {
	local auth=$1 method=$2 path=$3 body=${4:-} ctype=${5:-}
	printf 'wrk.method = "%s"\n' "$method"
	printf 'wrk.path = [==[%s]==]\n' "$path"
	[ "$auth" != auth ] || printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$BENCH_TOKEN"
	[ -z "$ctype" ] || printf 'wrk.headers["Content-Type"] = "%s"\n' "$ctype"
	[ -z "$body" ] || printf 'wrk.body = [==[%s]==]\n' "$body"
	wrk_done_lua
}

# wrk counts statuses >= 400 as errors.status (the API answers no 1xx/3xx
# on these routes, so that is the non-2xx count).
wrk_done_lua() {
	cat <<'LUA'
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
		'"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
		summary.requests, summary.duration, summary.bytes, e.status,
		e.connect, e.read, e.write, e.timeout,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency.max, latency.mean))
end
LUA
}

# --- one measured run -----------------------------------------------------

# pgbench_run SCRIPT [pgbench args...]: prints "tps latency_ms pg_ticks
# transactions client_ticks others_pct" (PostgreSQL's and pgbench's own
# CPU; the share of the machine that other processes took meanwhile)
pgbench_run() {
	local script=$1 out=$bench_tmp/pgbench.out pm p0 p1 pid c nchildren m0 m1
	shift
	pm=$(postmaster_pid)
	nchildren=$(pgrep -c -P "$pm")
	m0=$(machine_ticks)
	p0=$(pg_ticks "$pm")
	with_rusage "$bench_tmp/pgbench.ticks" "$PGBENCH" -n -M prepared -T "$BENCH_SECONDS" \
		-c "$BENCH_CONNS" -j 2 -f "$script" "$@" >"$out" 2>&1 &
	pid=$!
	wait "$pid"
	c=$(cat "$bench_tmp/pgbench.ticks")
	pg_settle "$pm" "$nchildren"
	p1=$(pg_ticks "$pm")
	m1=$(machine_ticks)
	if grep -qiE 'aborted|error' "$out"; then
		cat "$out" >&2
		return 1
	fi
	awk -v d=$((p1 - p0)) -v c="$c" -v o="$(others_pct $m0 $m1 $((p1 - p0 + c)))" '
		/^tps = / { tps = $3 }
		/^latency average/ { lat = $4 }
		/^number of transactions actually processed/ { split($6, a, "/"); n = a[1] }
		END { print tps, lat, d, n, c, o }' "$out"
}

# wrk_run LUA SECONDS [URL PID]: one wrk run against URL (the gateway's by
# default); prints its WRKJSON with the CPU ticks of the server PID (the
# gateway), PostgreSQL and wrk during the run added.
wrk_run() {
	local lua=$1 secs=$2 url=${3:-$BENCH_URL} server=${4:-$bench_gateway_pid}
	local out=$bench_tmp/wrk.out pm g0 g1 p0 p1 w pid json m0 m1
	pm=$(postmaster_pid)
	m0=$(machine_ticks)
	g0=$(proc_ticks "$server")
	p0=$(pg_ticks "$pm")
	with_rusage "$bench_tmp/wrk.ticks" wrk -t"$BENCH_THREADS" -c"$BENCH_CONNS" -d"${secs}s" \
		--timeout 30s --latency -s "$lua" "$url" >"$out" 2>&1 &
	pid=$!
	bench_track "$pid"
	wait "$pid"
	w=$(cat "$bench_tmp/wrk.ticks")
	g1=$(proc_ticks "$server")
	p1=$(pg_ticks "$pm")
	m1=$(machine_ticks)
	json=$(sed -n 's/^WRKJSON //p' "$out")
	[ -n "$json" ] || { cat "$out" >&2; return 1; }
	echo "${json%\}},\"gateway_ticks\":$((g1 - g0)),\"postgres_ticks\":$((p1 - p0)),\"wrk_ticks\":$w,\"others_pct\":$(others_pct $m0 $m1 $((g1 - g0 + p1 - p0 + w)))}"
}

# --- the measured routes ----------------------------------------------------

# route_def KEY: NAME METHOD PATTERN PATH QUERY BODY CTYPE AUTH
route_def() {
	QUERY='' BODY='' CTYPE='' AUTH=auth
	case $1 in
	me) NAME="GET /api/v1/users/me" METHOD=GET PATTERN=/api/v1/users/me PATH_=/api/v1/users/me ;;
	items) NAME="GET /api/v1/items/?limit=10" METHOD=GET PATTERN=/api/v1/items PATH_=/api/v1/items/ QUERY="limit=10" ;;
	item) NAME="GET /api/v1/items/{id}" METHOD=GET PATTERN="/api/v1/items/{item_id}" PATH_=/api/v1/items/$BENCH_ITEM_ID ;;
	create)
		NAME="POST /api/v1/items/" METHOD=POST PATTERN=/api/v1/items PATH_=/api/v1/items/
		BODY='{"title":"bench","description":"created by make bench"}' CTYPE=application/json
		;;
	login)
		NAME="POST /api/v1/login/access-token" METHOD=POST PATTERN=/api/v1/login/access-token
		PATH_=/api/v1/login/access-token CTYPE=application/x-www-form-urlencoded AUTH=none
		BODY="username=bench%40example.com&password=$BENCH_PASSWORD"
		;;
	health) NAME="GET /api/v1/utils/health-check/" METHOD=GET PATTERN=/api/v1/utils/health-check PATH_=/api/v1/utils/health-check/ AUTH=none ;;
	*) die "unknown route $1" ;;
	esac
}

# wrk's Lua for the route; login cycles through the seeded accounts
# (successful logins are never throttled; see README).
write_lua() {
	local key=$1 file=$2
	if [ "$key" = login ]; then
		cat >"$file" <<LUA
local reqs, n = {}, 0
init = function(args)
	for i = 1, $BENCH_LOGIN_USERS do
		reqs[i] = wrk.format("POST", "$PATH_",
			{["Content-Type"] = "$CTYPE"},
			"username=login" .. i .. "%40example.com&password=$BENCH_PASSWORD")
	end
end
request = function()
	n = n % #reqs + 1
	return reqs[n]
end
LUA
		wrk_done_lua >>"$file"
	else
		wrk_lua "$AUTH" "$METHOD" "$PATH_${QUERY:+?$QUERY}" "$BODY" "$CTYPE" >"$file"
	fi
}

# The pgbench script: the gateway's statement, parameters bound as in the
# gateway (-M prepared turns every :var into $n); an absent value is NULL.
write_pgbench() {
	local key=$1 file=$2 q=NULL b=NULL c=NULL a=NULL
	[ -z "$QUERY" ] || q=:query
	[ -z "$BODY" ] || b=:body
	[ -z "$CTYPE" ] || c=:ctype
	[ "$AUTH" != auth ] || a=:authz
	if [ "$key" = login ]; then
		# the same accounts as wrk, one drawn per transaction
		printf '\\set n random(1, %d)\n' "$BENCH_LOGIN_USERS" >"$file"
		b="'username=login' || :n || '%40example.com&password=' || :pw"
	else
		: >"$file"
	fi
	printf 'SELECT status, headers, body FROM api.dispatch(:route::int4, :path, %s, %s, %s, %s, :client);\n' \
		"$q" "$b" "$c" "$a" >>"$file"
}

# One request through the gateway must answer 2xx, and the statement
# itself must answer status 200 as the gateway's role: otherwise the
# numbers would compare a failure path.
check_route() {
	local code
	local args=(-s -o /dev/null -w '%{http_code}' -X "$METHOD")
	[ "$AUTH" != auth ] || args+=(-H "Authorization: Bearer $BENCH_TOKEN")
	[ -z "$CTYPE" ] || args+=(-H "Content-Type: $CTYPE")
	[ -z "$BODY" ] || args+=(--data-raw "$BODY")
	code=$(curl "${args[@]}" "$BENCH_URL$PATH_${QUERY:+?$QUERY}")
	case $code in 2??) ;; *) die "$NAME answers $code through the gateway" ;; esac
}

