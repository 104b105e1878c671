#!/usr/bin/env bash
# make run: build, keep a local cluster under .pgapp/run (its data survives
# between runs), apply .env, serve the API in the foreground.  Ctrl-C stops
# the gateway, then the cluster, and exits 130 (SIGTERM: 143); a gateway
# that stops on its own stops the cluster too, with the gateway's status.
#
#   scripts/run.sh          serve (PORT, default 8000; cluster on
#                           127.0.0.1:PGAPP_DB_PORT, default 54329)
#   scripts/run.sh psql     psql into the running cluster as its DBA (make psql)
#
# Configuration: .env, or .env.example when there is none; a variable set
# in the environment wins over the file.  While it runs, .pgapp/run.env
# holds DATABASE_URL (the DBA's URI) and PORT for other scripts.
# GATEWAY_LISTEN (default 127.0.0.1) is the gateway's bind address.
# PGAPP_RUN_DIR puts the cluster elsewhere (under `cluster.sh workdir`,
# refused anywhere else), with its run.env beside it (DIR.env); the tests
# use it so as never to touch a developer's own cluster.  A directory that
# is neither empty nor a cluster directory of make run (marked with
# RUN_MARKER) is refused, never emptied.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The file make run puts in a cluster directory before it creates the
# cluster: only a directory holding it may be removed when its cluster is
# incomplete (an interrupted first start).
RUN_MARKER=.pgapp-run-dir

if [ -n "${PGAPP_RUN_DIR:-}" ]; then
	run_env=$(realpath -m "$PGAPP_RUN_DIR").env
else
	run_env=$PGAPP_ROOT/.pgapp/run.env
fi

cmd_psql() {
	[ -f "$run_env" ] || die "no cluster is running: start \`make run\` first (in another terminal)"
	local url
	url=$(sed -n 's/^DATABASE_URL=//p' "$run_env")
	exec "$("$PGAPP_ROOT/scripts/cluster.sh" bin psql)" "$url" "$@"
}

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=sys.argv[2]))' "$1" "${2:-}"; }

# check_port NAME VALUE: a TCP port number, 1..65535, or die with one line.
check_port() {
	[[ "$2" =~ ^[1-9][0-9]{0,4}$ ]] && [ "$2" -le 65535 ] ||
		die "$1: not a port number (1..65535): \"$2\""
}

# The cluster directory (global: the EXIT trap needs it): PGAPP_RUN_DIR,
# only under the cluster work directory, or WORKDIR/run.  Dies unless it is
# absent, empty, or a cluster directory of make run.
choose_run_dir() {
	local workdir
	workdir=$(realpath -m "$1")
	dir=$workdir/run
	if [ -n "${PGAPP_RUN_DIR:-}" ]; then
		dir=$(realpath -m "$PGAPP_RUN_DIR")
		case "$dir" in
		"$workdir"/?*) ;;
		*) die "PGAPP_RUN_DIR must be a directory under $workdir, not $dir" ;;
		esac
	fi
	if [ -e "$dir" ] && [ ! -f "$dir/data/PG_VERSION" ] && [ ! -f "$dir/$RUN_MARKER" ] &&
		{ [ ! -d "$dir" ] || [ -n "$(ls -A "$dir")" ]; }; then
		die "$dir is not empty and holds no cluster of make run: move it away or choose another PGAPP_RUN_DIR"
	fi
}

cmd_serve() {
	if [ -f "$PGAPP_ROOT/.env" ]; then
		load_env_file "$PGAPP_ROOT/.env"
	else
		say "no .env: using .env.example's defaults (cp .env.example .env to change them)"
		load_env_file "$PGAPP_ROOT/.env.example"
	fi
	local port=${PORT:-8000} db_port=${PGAPP_DB_PORT:-54329} db=${POSTGRES_DB:-pgapp}
	export POSTGRES_DB=$db
	# Before anything starts: a bad port would otherwise be found by pg_ctl
	# (PGAPP_DB_PORT, written into postgresql.conf) or by the gateway once
	# the cluster runs (PORT).
	check_port PORT "$port"
	check_port PGAPP_DB_PORT "$db_port"
	local workdir
	workdir=$("$PGAPP_ROOT/scripts/cluster.sh" workdir)
	choose_run_dir "$workdir"

	"$PGAPP_ROOT/scripts/deps.sh"
	say "build (PostgreSQL $PG)"
	"$PGAPP_ROOT/scripts/cluster.sh" stage >/dev/null
	make -s -C "$PGAPP_ROOT/gateway" >&2

	mkdir -p "$workdir"
	# on_stop (lib.sh) stops the gateway first, then calls this
	stop_cluster() {
		rm -f "$run_env"
		say "stopping the cluster"
		"$PGAPP_ROOT/scripts/cluster.sh" stop "$dir" fast
	}

	if [ -f "$dir/data/PG_VERSION" ]; then
		if [ -f "$dir/data/postmaster.pid" ] &&
			"$PGAPP_ROOT/scripts/cluster.sh" bin pg_ctl >/dev/null &&
			as_cluster_user "$("$PGAPP_ROOT/scripts/cluster.sh" bin pg_ctl)" -D "$dir/data" status >/dev/null 2>&1; then
			die "the cluster in $dir is already running (another make run?)"
		fi
		sed -i "s/^port = .*/port = $db_port/" "$dir/data/postgresql.conf"
		on_stop stop_cluster
		say "cluster $dir: starting on port $db_port"
		"$PGAPP_ROOT/scripts/cluster.sh" start "$dir"
		"$PGAPP_ROOT/scripts/apply-env.sh" "$dir" "$db_port"
	else
		# choose_run_dir let through only an empty directory or one that
		# make run marked: what an interrupted first start left behind
		rm -rf "$dir"
		mkdir -p "$dir"
		: >"$dir/$RUN_MARKER"
		on_stop stop_cluster
		say "cluster $dir: creating on port $db_port"
		"$PGAPP_ROOT/scripts/cluster.sh" init "$dir" "$db_port"
	fi

	local dba_url gw_url
	dba_url="postgresql:///$(urlencode "$db")?host=$(urlencode "$dir/sock" /)&port=$db_port&user=postgres"
	gw_url="postgresql://$(urlencode "${GATEWAY_DB_USER:-pgapp_gateway_login}"):$(urlencode "${GATEWAY_DB_PASSWORD:-}")@127.0.0.1:$db_port/$(urlencode "$db")"
	umask 077
	printf 'DATABASE_URL=%s\nPORT=%s\n' "$dba_url" "$port" >"$run_env"
	umask 022

	say "cluster URI (DBA): $dba_url"
	say "psql: make psql    API: http://localhost:$port/api/v1/    OpenAPI: http://localhost:$port/api/v1/openapi.json"
	# The gateway gets its own variables only, never SECRET_KEY: those of
	# the README's Configuration, as Compose passes them (empty: its default).
	local gateway_env=(PATH="$PATH" LANG="${LANG:-C.UTF-8}" DATABASE_URL="$gw_url" PORT="$port"
		GATEWAY_LISTEN="${GATEWAY_LISTEN:-127.0.0.1}" ENVIRONMENT="${ENVIRONMENT:-local}") name
	for name in GATEWAY_WORKERS MAX_BODY_BYTES BACKEND_CORS_ORIGINS TRUSTED_PROXIES \
		GATEWAY_POOL_WAIT_MS GATEWAY_MAX_CONNS GATEWAY_MAX_CONNS_PER_IP GATEWAY_CONN_TIMEOUT \
		GATEWAY_REQUEST_DEADLINE GATEWAY_DRAIN_SECONDS GATEWAY_LOG_FLUSH_MS; do
		gateway_env+=("$name=${!name:-}")
	done
	env -i "${gateway_env[@]}" "$PGAPP_ROOT/gateway/pgapp-gateway" &
	service_pid=$!
	say "gateway on port $port (pid $service_pid); Ctrl-C stops it and the cluster"
	wait_service
}

# pg_ctl status as the cluster's user (the chroot wrappers switch user themselves).
as_cluster_user() { if [ "$PG" != 15 ]; then "$@"; else as_pg_user "$@"; fi; }

case "${1:-serve}" in
serve) cmd_serve ;;
psql) shift; cmd_psql "$@" ;;
*) die "usage: run.sh [serve|psql [PSQL ARGS]]" ;;
esac
