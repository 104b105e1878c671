#!/usr/bin/env bash
# make test: a throwaway cluster and gateway on free loopback ports, then
# every suite.  Everything started here is stopped by PID on exit, also on
# failure or Ctrl-C.  The last line is "N passed, N failed".
#
#   SUITES="lint regress upgrade unit e2e fuzz bench image"   which suites
#                                    (default: every one that can run here:
#                                    bench on PostgreSQL 15 only, as make
#                                    bench; image as root only)
#   PG=15                            PostgreSQL major (13, 15, 17)
#   KEEP=1                           keep the test directory
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ -z "${SUITES:-}" ]; then
	SUITES="lint regress upgrade unit e2e fuzz"
	[ "$PG" != 15 ] || SUITES+=" bench"
	if [ "$(id -u)" -eq 0 ]; then
		SUITES+=" image"
	else
		say "suite image not run: it needs root (debootstrap, chroot)"
	fi
fi
"$PGAPP_ROOT/scripts/deps.sh" || exit 1

gateway_pid=
tmp=
summarized=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# A set-up failure still ends with the summary line.
	[ "$summarized" = 1 ] || [ "$rc" -eq 0 ] || { echo; echo "0 passed, 1 failed"; }
	[ -z "$gateway_pid" ] || { kill "$gateway_pid" 2>/dev/null; wait "$gateway_pid" 2>/dev/null; }
	if [ -n "$tmp" ]; then
		"$PGAPP_ROOT/scripts/cluster.sh" stop "$tmp" immediate 2>/dev/null
		# Whatever still runs in the cluster directory (a server a test
		# restarted by hand) must not outlive the run.
		"$PGAPP_ROOT/scripts/pgchroot.sh" sweep "$tmp"
		[ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "build (PostgreSQL $PG)"
export PGAPP_STAGE_DIR
PGAPP_STAGE_DIR=$("$PGAPP_ROOT/scripts/cluster.sh" stage) || exit 1
make -s -C "$PGAPP_ROOT/gateway" >&2 || exit 1

# The cluster directory: under .pgapp, or inside the chroot for PG 13 / 17.
workdir=$("$PGAPP_ROOT/scripts/cluster.sh" workdir) || exit 1
mkdir -p "$workdir"
tmp=$(mktemp -d "$workdir/test.XXXXXX")
chmod 755 "$tmp"
results="$tmp/results"
: >"$results"

pg_port=$(free_port)
http_port=$(free_port)

# The test environment: a fast bcrypt cost, a random key, local mode.
export ENVIRONMENT=local
export SECRET_KEY="test-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALGORITHM=HS256 ACCESS_TOKEN_EXPIRE_MINUTES=30 BCRYPT_COST=4
export FIRST_SUPERUSER=admin@example.com
export FIRST_SUPERUSER_PASSWORD="admin-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export GATEWAY_DB_USER=pgapp_gateway_login
export GATEWAY_DB_PASSWORD="gw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export FRONTEND_HOST=http://localhost:5173

say "cluster on port $pg_port"
"$PGAPP_ROOT/scripts/cluster.sh" init "$tmp" "$pg_port" || exit 1

export PGAPP_CLUSTER_DIR=$tmp PGHOST=$tmp/sock PGPORT=$pg_port PGUSER=postgres PGDATABASE=pgapp
export PGAPP_PSQL=$("$PGAPP_ROOT/scripts/cluster.sh" bin psql)
export PGAPP_BINDIR=$("$PGAPP_ROOT/scripts/cluster.sh" bindir)
export PGAPP_PG_MAJOR=$PG
export PGAPP_GATEWAY_BIN=$PGAPP_ROOT/gateway/pgapp-gateway
export PGAPP_GATEWAY_DATABASE_URL="postgresql://$GATEWAY_DB_USER:$GATEWAY_DB_PASSWORD@127.0.0.1:$pg_port/pgapp"
export PGAPP_GATEWAY_LOG=$tmp/gateway.log
export PGAPP_BASE_URL=http://127.0.0.1:$http_port
export PGAPP_TEST_CORS_ORIGIN=http://localhost:5173

start_gateway() {
	(
		unset SECRET_KEY
		exec env DATABASE_URL="$PGAPP_GATEWAY_DATABASE_URL" PORT="$http_port" \
			GATEWAY_LISTEN=127.0.0.1 BACKEND_CORS_ORIGINS="$PGAPP_TEST_CORS_ORIGIN" \
			"$PGAPP_GATEWAY_BIN"
	) >>"$PGAPP_GATEWAY_LOG" 2>&1 &
	gateway_pid=$!
	export PGAPP_GATEWAY_PID=$gateway_pid
	for _ in $(seq 100); do
		curl -sf "$PGAPP_BASE_URL/ready" >/dev/null && return 0
		sleep 0.1
	done
	echo "gateway did not become ready; log:" >&2
	tail -20 "$PGAPP_GATEWAY_LOG" >&2
	return 1
}
start_gateway || exit 1

for suite in $SUITES; do
	say "suite: $suite"
	out="$tmp/suite-$suite.out"
	"$PGAPP_ROOT/scripts/suite-$suite.sh" "$tmp" 2>&1 | tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
	[ -n "$line" ] || line="0 passed, 1 failed"
	echo "$suite $line" >>"$results"
done

passed=$(awk '{p+=$2} END {print p+0}' "$results")
failed=$(awk '{f+=$4} END {print f+0}' "$results")
echo "gateway log: $PGAPP_GATEWAY_LOG" >&2
echo
echo "$passed passed, $failed failed"
summarized=1
[ "$failed" -eq 0 ]
