#!/usr/bin/env bash
# The db image's entrypoint: the official postgres entrypoint, plus pgapp's
# set-up at EVERY start.  The official image runs docker-entrypoint-initdb.d
# only when the data directory is empty, so a changed SECRET_KEY (a key
# rotation), a new FIRST_SUPERUSER or a new gateway password in .env would
# otherwise never reach an existing database.
#
# This script stays the container's PID 1: it starts the official
# entrypoint (which becomes the server) as its child, forwards the stop
# signals to it, and once the server accepts TCP connections (the official
# entrypoint's temporary first-init server listens on the socket only) it
# runs pgapp-apply-env (CREATE EXTENSION or ALTER EXTENSION UPDATE, then
# pgapp.setup with the environment).  If that fails the server is stopped
# and the container exits non-zero: a wrong configuration is loud.
set -uo pipefail

# Only the server command gets the set-up; `docker run IMAGE bash` etc. pass through.
if [ "${1:-}" != postgres ] && [ "${1#-}" = "${1:-}" ]; then
	exec docker-entrypoint.sh "$@"
fi

marker=${PGAPP_MARKER:-/tmp/pgapp-env-applied}
rm -f "$marker"

docker-entrypoint.sh "$@" &
server=$!
for sig in TERM INT QUIT; do
	# shellcheck disable=SC2064
	trap "kill -$sig $server 2>/dev/null" "$sig"
done

apply_when_ready() {
	for _ in $(seq 600); do
		kill -0 "$server" 2>/dev/null || return 0
		if pg_isready -q -h "${PGAPP_READY_HOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${POSTGRES_USER:-postgres}" -d postgres; then
			if pgapp-apply-env; then
				touch "$marker"
				return 0
			fi
			echo "pgapp-entrypoint: applying the environment failed; stopping the server" >&2
			kill -INT "$server" 2>/dev/null
			return 1
		fi
		sleep 0.5
	done
	echo "pgapp-entrypoint: the server did not accept connections in 300 s" >&2
	kill -INT "$server" 2>/dev/null
	return 1
}
apply_when_ready &
applier=$!

# wait returns early when a trapped signal arrives (with 128 + the signal):
# wait again until the server is gone, then once more for its status.  The
# server may have stopped and been reaped between the interrupted wait and
# `kill -0`; bash keeps the status of a reaped child for a later wait, so
# the last one gives the server's own status, never the interruption's.
wait "$server"
while kill -0 "$server" 2>/dev/null; do
	wait "$server"
done
wait "$server"
rc=$?
wait "$applier"
applied=$?
[ "$applied" -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
exit "$rc"
