#!/usr/bin/env bash
# ALTER EXTENSION pgapp UPDATE from every earlier release (SPEC §7): for
# each release X.Y that an upgrade script sql/pgapp--X.Y--*.sql starts from
# (installed with CREATE EXTENSION ... VERSION 'X.Y', which PostgreSQL
# builds from the oldest install script and the upgrade scripts up to it),
#   1. install it, add data (a user, a session, an item), update, and check
#      that the data, the old session and logins still work;
#   2. compare the updated catalog with a fresh install's, fact by fact;
#   3. run the whole pg_regress suite on a database updated from it.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$1
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$PGAPP_ROOT/extension/pgapp.control")
passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
psql_db() { "$PGAPP_PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
fresh_db() {
	"$PGAPP_PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" 2>/dev/null
	POSTGRES_DB=$1 PGAPP_EXTENSION_VERSION=${2:-} "$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null
}

fresh_db pgapp_fresh || { echo "0 passed, 1 failed"; exit 1; }
psql_db pgapp_fresh -f "$PGAPP_ROOT/tests/upgrade/catalog.sql" >"$tmp/catalog-fresh.txt"

# each release once, however many upgrade scripts start from it
releases=$(for script in "$PGAPP_ROOT"/sql/pgapp--*--*.sql; do
	base=${script##*/pgapp--}
	echo "${base%%--*}"
done | sort -u -V)
for old in $releases; do
	[ "$old" != "$current" ] || continue

	# 1. data survives the update
	if fresh_db pgapp_upgrade "$old" &&
		psql_db pgapp_upgrade >"$tmp/upgrade-before.txt" <<'SQL' &&
SELECT extversion FROM pg_extension WHERE extname = 'pgapp';
SELECT api.signup('upgrade@example.com', 'upgrade-pass-1') ->> 'email';
SELECT api.login('upgrade@example.com', 'upgrade-pass-1') ->> 'access_token' AS token \gset
CREATE TABLE public.upgrade_token AS SELECT :'token'::text AS token;
BEGIN;
SELECT api.authenticate(:'token') IS NOT NULL;
SELECT api.item_create('made in the old release') ->> 'title';
COMMIT;
-- a DBA's route whose handler was dropped before the update (no release
-- kept a dependency): the update must not fail on it (1.6 stores
-- signatures), and the route stays broken
CREATE FUNCTION public.upgrade_gone() RETURNS jsonb LANGUAGE sql AS $$ SELECT 'null'::jsonb $$;
INSERT INTO api.routes (method, path, handler, auth, params)
	VALUES ('GET', '/api/v1/upgrade/gone', 'public.upgrade_gone()', 'none', '[]');
CREATE TABLE public.upgrade_gone AS SELECT 'public.upgrade_gone()'::regprocedure::oid::text AS oid;
DROP FUNCTION public.upgrade_gone();
SQL
		POSTGRES_DB=pgapp_upgrade "$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null &&
		psql_db pgapp_upgrade >"$tmp/upgrade-after.txt" <<'SQL'
SELECT extversion FROM pg_extension WHERE extname = 'pgapp';
BEGIN;
SELECT api.authenticate((SELECT token FROM public.upgrade_token)) IS NOT NULL AS old_session;
SELECT api.me() ->> 'email';
SELECT (api.items_list(0, 10) -> 'data' -> 0) ->> 'title';
COMMIT;
SELECT api.login('upgrade@example.com', 'upgrade-pass-1') ? 'access_token' AS login;
SELECT handler = (SELECT oid FROM public.upgrade_gone) AS gone_handler_is_its_oid,
	   pgapp.handler_oid(handler) IS NULL AS names_no_function
  FROM api.routes WHERE path = '/api/v1/upgrade/gone';
SELECT handler FROM api.routes WHERE method = 'PATCH' AND path = '/api/v1/users/me';
SQL
	then
		expected="$current
t
upgrade@example.com
made in the old release
t
t|t
api.update_me(jsonb)"
		if [ "$(head -1 "$tmp/upgrade-before.txt")" = "$old" ] &&
			[ "$(cat "$tmp/upgrade-after.txt")" = "$expected" ]; then
			pass "$old -> $current keeps users, sessions and items"
		else
			fail "$old -> $current: before: $(tr '\n' ' ' <"$tmp/upgrade-before.txt") after: $(tr '\n' ' ' <"$tmp/upgrade-after.txt")"
		fi
	else
		fail "$old -> $current: install, data or update failed"
	fi

	# 2. the updated catalog is the fresh one
	fresh_db pgapp_upgrade "$old" && POSTGRES_DB=pgapp_upgrade "$PGAPP_ROOT/scripts/apply-env.sh" "$tmp" >/dev/null
	psql_db pgapp_upgrade -f "$PGAPP_ROOT/tests/upgrade/catalog.sql" >"$tmp/catalog-from-$old.txt"
	if [ -s "$tmp/catalog-fresh.txt" ] && diff -u "$tmp/catalog-fresh.txt" "$tmp/catalog-from-$old.txt" >"$tmp/catalog-from-$old.diff"; then
		pass "$old -> $current: catalog equals a fresh install ($(wc -l <"$tmp/catalog-fresh.txt") facts)"
	else
		fail "$old -> $current: catalog differs from a fresh install:"
		head -40 "$tmp/catalog-from-$old.diff"
	fi

	# 3. the whole regress suite on an updated database
	line=$(PGAPP_REGRESS_FROM=$old "$PGAPP_ROOT/scripts/suite-regress.sh" "$tmp" | tee "$tmp/regress-from-$old.log" | tail -1)
	p=$(echo "$line" | awk '{print $1}')
	f=$(echo "$line" | awk '{print $3}')
	if [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
		passed=$((passed + p))
		failed=$((failed + f))
		[ "$f" -eq 0 ] || grep -E 'FAILED|^[-+]' "$tmp/regress-from-$old.log" | head -40
	else
		fail "$old -> $current: regress suite did not run"
	fi
	echo "regress suite on a database updated from $old: $line"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
