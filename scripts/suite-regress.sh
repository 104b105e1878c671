#!/usr/bin/env bash
# pg_regress over tests/regress, in a fresh database pgapp_regress that
# already holds the extension with the test environment applied.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$1
regress=$(/usr/lib/postgresql/15/bin/pg_config --pgxs | xargs dirname)/../test/regress/pg_regress
psql_su() { "$PGAPP_PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
psql_su -c 'DROP DATABASE IF EXISTS pgapp_regress' 2>/dev/null
POSTGRES_DB=pgapp_regress "$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
tests=$(cd "$PGAPP_ROOT/tests/regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
mkdir -p "$tmp/regress"
"$regress" --use-existing --dbname=pgapp_regress \
	--inputdir="$PGAPP_ROOT/tests/regress" --outputdir="$tmp/regress" \
	--bindir=/usr/lib/postgresql/15/bin --host="$PGHOST" --port="$PGPORT" \
	--user=postgres $tests | tee "$tmp/regress/summary.out"
rc=${PIPESTATUS[0]}
total=$(echo "$tests" | wc -w)
failed=$(grep -cE '^(not ok|test .* \.\.\. FAILED|     .* \.\.\. FAILED)' "$tmp/regress/summary.out")
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$total
[ -f "$tmp/regress/regression.diffs" ] && head -100 "$tmp/regress/regression.diffs"
echo "$((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
