#!/usr/bin/env bash
# pgapp-healthcheck: healthy when the server accepts TCP connections, the
# environment was applied in this start, and the extension is installed.
set -euo pipefail
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
pg_isready -q -h "${PGAPP_READY_HOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "$user" -d "$db"
[ -f "${PGAPP_MARKER:-/tmp/pgapp-env-applied}" ]
[ "$(psql -X -At -h "${PGHOST:-/var/run/postgresql}" -p "${PGPORT:-5432}" -U "$user" -d "$db" \
	-c "SELECT count(*) FROM pg_extension WHERE extname = 'pgapp'")" = 1 ]
