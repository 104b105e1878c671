#!/usr/bin/env bash
# Installs or updates the extension in the database and applies the
# environment (SPEC §4) to it: settings, signing key, the gateway's login
# role, the first superuser.  Run by `make run`/`make test` (through
# cluster.sh) and by the db container at every start.
#
#   apply-env.sh DIR [PORT]
#
# DIR is a directory the database server can read (the cluster's data
# directory's parent for local clusters, PGDATA in the container).  The
# values reach the server through a file it reads with pg_read_file, never
# inside SQL text, so no statement log can keep a secret.  Connection: the
# PG* variables (local clusters: the socket in DIR/sock); psql from $PSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$1
if [ $# -ge 2 ]; then
	export PGHOST="$dir/sock" PGPORT=$2 PGUSER=postgres
	PSQL=${PSQL:-$("$PGAPP_ROOT/scripts/cluster.sh" bin psql)}
fi
PSQL=${PSQL:-psql}
# The database's name is data: psql variables (:'db', :"db") quote it in
# SQL, PGDATABASE (never expanded as a connection string) connects to it.
db=${POSTGRES_DB:-pgapp}
# NOTICEs ("already a member", "already exists, skipping") are noise at
# every start; warnings and errors still show.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

psql_db() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
psql_in_db() { PGDATABASE=$db psql_db "$@"; }

if [ "$(psql_db -d postgres -v db="$db" <<<"SELECT count(*) FROM pg_database WHERE datname = :'db'")" = 0 ]; then
	psql_db -d postgres -v db="$db" <<<'CREATE DATABASE :"db"'
fi
# PGAPP_EXTENSION_VERSION installs an earlier release and keeps it (the
# upgrade tests); otherwise the newest, and an existing one is updated.
version=${PGAPP_EXTENSION_VERSION:-}
[[ "$version" =~ ^([0-9]+\.[0-9]+)?$ ]] || die "PGAPP_EXTENSION_VERSION: not a version: $version"
if [ "$(psql_in_db -c "SELECT count(*) FROM pg_extension WHERE extname = 'pgapp'")" = 0 ]; then
	psql_in_db -c "CREATE EXTENSION pgapp ${version:+VERSION '$version'} CASCADE"
elif [ -z "$version" ]; then
	psql_in_db -c 'ALTER EXTENSION pgapp UPDATE'
fi

vars=(ENVIRONMENT SECRET_KEY ALGORITHM ACCESS_TOKEN_EXPIRE_MINUTES BCRYPT_COST
	FRONTEND_HOST FIRST_SUPERUSER FIRST_SUPERUSER_PASSWORD
	GATEWAY_DB_USER GATEWAY_DB_PASSWORD PROJECT_NAME EMAIL_RESET_TOKEN_EXPIRE_HOURS)
file="$dir/pgapp-setup.env"
# the file holds SECRET_KEY: it goes however this script ends, also when
# a value is refused below
trap 'rm -f "$file"' EXIT
umask 077
: >"$file"
# unset or empty: the default, or the value the database already keeps
# (compose passes every variable, empty when .env leaves it out)
for v in "${vars[@]}"; do
	[ -n "${!v:-}" ] || continue
	case "${!v}" in *$'\n'*) die "$v: newlines are not allowed" ;; esac
	printf '%s=%s\n' "$v" "${!v}" >>"$file"
done
[ "$(id -u)" -ne 0 ] || chown "$(stat -c %U "$dir")" "$file"
echo "SELECT pgapp.setup(pg_read_file(:'file'))" | psql_in_db -v file="$file" >/dev/null
