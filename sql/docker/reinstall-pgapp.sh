#!/usr/bin/env bash
# reinstall-pgapp: the development loop for the extension (dev image only,
# sources mounted at /src):  docker compose exec db reinstall-pgapp
#
# Rebuilds the extension from /src with scripts/build-extension.sh, installs
# it, and applies the environment again (ALTER EXTENSION pgapp UPDATE).
# New connections load the new pgapp.so; the gateway reconnects by itself
# (restart the app service to drop its old connections at once).
#   --recreate   DROP EXTENSION pgapp CASCADE first: picks up SQL changes
#                made without a new version number.  Deletes all of
#                pgapp's data (users, items, keys).
set -euo pipefail
src=${PGAPP_SRC:-/src}
[ -x "$src/scripts/build-extension.sh" ] ||
	{ echo "reinstall-pgapp: no sources at $src (the dev image mounts them there)" >&2; exit 1; }
pg_config=$(command -v pg_config || echo "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config")
# Build in a scratch copy: the mounted tree stays free of root-owned objects.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/extension" "$src/sql" "$work/"
mkdir "$work/scripts" && cp "$src/scripts/build-extension.sh" "$work/scripts/"
find "$work/extension" \( -name '*.o' -o -name '*.so' -o -name '*.bc' -o -name 'pgapp--*.sql' \) -delete
"$work/scripts/build-extension.sh" "$pg_config"
if [ "${1:-}" = --recreate ]; then
	user=${POSTGRES_USER:-postgres}
	psql -X -q -v ON_ERROR_STOP=1 -h "${PGHOST:-/var/run/postgresql}" -U "$user" -d "${POSTGRES_DB:-$user}" \
		-c 'DROP EXTENSION IF EXISTS pgapp CASCADE'
fi
pgapp-apply-env
