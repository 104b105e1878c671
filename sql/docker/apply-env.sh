#!/usr/bin/env bash
# pgapp-apply-env: in the db container, install or update the extension and
# apply the environment (SPEC §4) with scripts/apply-env.sh, the same script
# that `make run` and `make test` use.  Run by pgapp-entrypoint at every
# start, and by reinstall-pgapp.  Connects over the unix socket as
# POSTGRES_USER; the values travel in a file under PGDATA, never in SQL text.
set -euo pipefail
export PGHOST=${PGHOST:-/var/run/postgresql}
export PGPORT=${PGPORT:-5432}
export PGUSER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$PGUSER}
lib=${PGAPP_SCRIPTS:-/usr/local/lib/pgapp}
"$lib/apply-env.sh" "${PGDATA:-/var/lib/postgresql/data}"
echo "pgapp-apply-env: pgapp is installed in database \"$POSTGRES_DB\" and the environment is applied" >&2
