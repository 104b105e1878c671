#!/usr/bin/env bash
# pg_regress over tests/regress, in a fresh database pgapp_regress that
# already holds the extension with the test environment applied.
# PGAPP_REGRESS_FROM=1.0: the database starts at that release and is
# updated with ALTER EXTENSION pgapp UPDATE before the suite runs.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$1
from=${PGAPP_REGRESS_FROM:-}
out=$tmp/regress${from:+-from-$from}
regress=$(/usr/lib/postgresql/15/bin/pg_config --pgxs | xargs dirname)/../test/regress/pg_regress
psql_su() { "$PGAPP_PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
setup() {
	psql_su -c 'DROP DATABASE IF EXISTS pgapp_regress' 2>/dev/null
	if [ -n "$from" ]; then
		POSTGRES_DB=pgapp_regress PGAPP_EXTENSION_VERSION=$from \
			"$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null || return 1
	fi
	POSTGRES_DB=pgapp_regress "$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null
}
setup || { echo "0 passed, 1 failed"; exit 1; }
tests=$(cd "$PGAPP_ROOT/tests/regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
mkdir -p "$out"
"$regress" --use-existing --dbname=pgapp_regress \
	--inputdir="$PGAPP_ROOT/tests/regress" --outputdir="$out" \
	--bindir=/usr/lib/postgresql/15/bin --host="$PGHOST" --port="$PGPORT" \
	--user=postgres $tests | tee "$out/summary.out"
rc=${PIPESTATUS[0]}
total=$(echo "$tests" | wc -w)
failed=$(grep -cE '^(not ok|test .* \.\.\. FAILED|     .* \.\.\. FAILED)' "$out/summary.out")
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$total
[ -f "$out/regression.diffs" ] && head -100 "$out/regression.diffs"
echo "$((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
