--
-- Items: the five operations, their errors (SQLSTATE PA<status>, FastAPI's
-- 422 list in DETAIL), row-level security for functions and for direct
-- table access by a pgapp_caller role, pagination, cascade on user delete.
-- Output is deterministic: no uuid or timestamp is ever printed.
--

-- pg_temp.run(who, query): authenticate as who (NULL: anonymous) for this
-- transaction, run query, and return its single value, or the error as
-- "SQLSTATE message" plus the DETAIL.  Each top-level statement is its own
-- transaction, so the identity ends with it and created_at differs.
CREATE TEMP TABLE tokens (who text PRIMARY KEY, token text NOT NULL);
CREATE TEMP TABLE ids (name text PRIMARY KEY, id uuid);
CREATE FUNCTION pg_temp.run(who text, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
	state text;
	message text;
	detail text;
BEGIN
	IF who IS NOT NULL THEN
		PERFORM api.authenticate((SELECT t.token FROM pg_temp.tokens t WHERE t.who = run.who));
	END IF;
	BEGIN
		EXECUTE query INTO result;
		RETURN result;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
			detail = PG_EXCEPTION_DETAIL;
		RETURN state || ' ' || message || coalesce(E'\n' || nullif(detail, ''), '');
	END;
END
$$;
CREATE FUNCTION pg_temp.id(name text) RETURNS uuid
LANGUAGE sql AS $$ SELECT i.id FROM pg_temp.ids i WHERE i.name = id.name $$;

-- Three users through the users API; s becomes a superuser.
SELECT api.signup('items-a@example.com', 'password-a')->>'email' AS signup;
SELECT api.signup('items-b@example.com', 'password-b')->>'email' AS signup;
SELECT api.signup('items-s@example.com', 'password-s')->>'email' AS signup;
UPDATE pgapp.users SET is_superuser = true WHERE email = 'items-s@example.com';
INSERT INTO tokens VALUES
	('a', api.login('items-a@example.com', 'password-a')->>'access_token'),
	('b', api.login('items-b@example.com', 'password-b')->>'access_token'),
	('s', api.login('items-s@example.com', 'password-s')->>'access_token');
INSERT INTO ids SELECT 'user_' || substr(email, 7, 1), id FROM pgapp.users
	WHERE email IN ('items-a@example.com', 'items-b@example.com', 'items-s@example.com');
SELECT count(*) AS users FROM ids;

-- The table: forced row-level security, one policy per command, dumped.
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'pgapp.items'::regclass;
SELECT polname, polcmd FROM pg_policy WHERE polrelid = 'pgapp.items'::regclass ORDER BY polname;
SELECT 'pgapp.items'::regclass = ANY (extconfig) AS dumped FROM pg_extension WHERE extname = 'pgapp';

-- Anonymous psql callers: 401 from every operation.
SELECT pg_temp.run(NULL, $$SELECT api.items_list()$$);
SELECT pg_temp.run(NULL, $$SELECT api.item_create('x')$$);
SELECT pg_temp.run(NULL, $$SELECT api.item_get('00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.run(NULL, $$SELECT api.item_update('00000000-0000-0000-0000-000000000000', '{}')$$);
SELECT pg_temp.run(NULL, $$SELECT api.item_delete('00000000-0000-0000-0000-000000000000')$$);
-- Authentication comes before validation.
SELECT pg_temp.run(NULL, $$SELECT api.item_create('')$$);
SELECT pg_temp.run(NULL, $$SELECT api.items_list(-1)$$);

--
-- item_create
--
INSERT INTO ids SELECT 'a1', pg_temp.run('a', $$SELECT api.item_create('A1', 'first of a')->>'id'$$)::uuid;
INSERT INTO ids SELECT 'a2', pg_temp.run('a', $$SELECT api.item_create('A2')->>'id'$$)::uuid;
INSERT INTO ids SELECT 'a3', pg_temp.run('a', $$SELECT api.item_create(title => 'A3', description => NULL)->>'id'$$)::uuid;
INSERT INTO ids SELECT 'b1', pg_temp.run('b', $$SELECT api.item_create('B1', 'only item of b')->>'id'$$)::uuid;
SELECT name, id IS NOT NULL AS created FROM ids WHERE name NOT LIKE 'user_%' ORDER BY name;
-- ItemPublic: exactly these keys, owner = the caller.
SELECT pg_temp.run('a', $$SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(api.item_get(pg_temp.id('a1'))) k$$) AS keys;
SELECT pg_temp.run('a', $$SELECT (i->>'owner_id')::uuid = pg_temp.id('user_a') AND (i->>'id')::uuid = pg_temp.id('a1')
	AND i->>'title' = 'A1' AND i->>'description' = 'first of a' AND (i->>'created_at')::timestamptz <= now()
	FROM api.item_get(pg_temp.id('a1')) i$$) AS item_public;
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('a2'))->'description'$$) AS null_description;
-- Validation, with FastAPI's types, messages, locs and ctx.
SELECT pg_temp.run('a', $$SELECT api.item_create('')$$);
SELECT pg_temp.run('a', $$SELECT api.item_create(NULL)$$);
SELECT pg_temp.run('a', $$SELECT api.item_create(repeat('t', 256))$$);
SELECT pg_temp.run('a', $$SELECT api.item_create('ok', repeat('d', 256))$$);
SELECT pg_temp.run('a', $$SELECT api.item_create('', repeat('d', 256))$$);
-- Lengths are counted in characters, not bytes.
SELECT pg_temp.run('a', $$SELECT char_length(api.item_create(repeat(chr(233), 255), repeat(chr(252), 255))->>'title')$$) AS multibyte_255;
SELECT pg_temp.run('a', $$SELECT api.item_create(repeat(chr(233), 256))->>'title'$$) LIKE 'PA422 %string_too_long%' AS multibyte_256;
SELECT pg_temp.run('a', $$SELECT api.item_delete((api.items_list(0, 1)->'data'->0->>'id')::uuid)->>'message'$$) AS cleanup;

--
-- item_get
--
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('a1'))->>'title'$$) AS own;
SELECT pg_temp.run('b', $$SELECT api.item_get(pg_temp.id('b1'))->>'title'$$) AS own;
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('b1'))$$) AS other;
SELECT pg_temp.run('b', $$SELECT api.item_get(pg_temp.id('a1'))$$) AS other;
SELECT pg_temp.run('a', $$SELECT api.item_get('00000000-0000-0000-0000-000000000000')$$) AS unknown;
SELECT pg_temp.run('a', $$SELECT api.item_get(NULL)$$) AS null_id;

--
-- items_list: own items only, newest first, count of all visible
--
SELECT pg_temp.run('a', $$SELECT jsonb_path_query_array(api.items_list(), '$.data[*].title')::text || ' count ' || (api.items_list()->>'count')$$) AS a_list;
SELECT pg_temp.run('b', $$SELECT jsonb_path_query_array(api.items_list(), '$.data[*].title')::text || ' count ' || (api.items_list()->>'count')$$) AS b_list;
SELECT pg_temp.run('a', $$SELECT api.items_list(1, 1)::text LIKE '%"title": "A2"%' AND (api.items_list(1, 1)->'data') @? '$.size() ? (@ == 1)'$$) AS skip1_limit1;
SELECT pg_temp.run('a', $$SELECT jsonb_path_query_array(api.items_list(2, 1000), '$.data[*].title')::text$$) AS skip2;
SELECT pg_temp.run('a', $$SELECT api.items_list(3, 1)::text$$) AS skip_to_end;
SELECT pg_temp.run('a', $$SELECT api.items_list(1000000, 1000)::text$$) AS skip_past_end;
SELECT pg_temp.run('a', $$SELECT jsonb_array_length(api.items_list(0, 1000)->'data')$$) AS limit_1000;
SELECT pg_temp.run('a', $$SELECT jsonb_array_length(api.items_list(0, 1)->'data')$$) AS limit_1;
SELECT pg_temp.run('a', $$SELECT jsonb_array_length(api.items_list(NULL, NULL)->'data')$$) AS null_means_default;
SELECT pg_temp.run('a', $$SELECT jsonb_array_length(api.items_list("limit" => 2)->'data')$$) AS named_limit;
SELECT pg_temp.run('a', $$SELECT api.items_list(0, 1001)$$) AS limit_1001;
SELECT pg_temp.run('a', $$SELECT api.items_list(0, 0)$$) AS limit_0;
SELECT pg_temp.run('a', $$SELECT api.items_list(0, -5)$$) AS limit_negative;
SELECT pg_temp.run('a', $$SELECT api.items_list(-1)$$) AS skip_negative;
SELECT pg_temp.run('a', $$SELECT api.items_list(-1, 1001)$$) AS both_invalid;

--
-- item_update: partial, validated before the lookup
--
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"title": "A1 renamed"}')->>'description'$$) AS description_kept;
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('a1'))->>'title'$$) AS title;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"description": "new"}')->>'title'$$) AS title_kept;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"description": null}')->'description'$$) AS description_cleared;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{}')->>'title'$$) AS empty_patch;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"title": "A1", "owner_id": "00000000-0000-0000-0000-000000000000", "id": "x", "confirm": 1}') - 'id' - 'owner_id' - 'created_at'$$) AS unknown_keys_ignored;
SELECT pg_temp.run('a', $$SELECT (api.item_get(pg_temp.id('a1'))->>'owner_id')::uuid = pg_temp.id('user_a')$$) AS owner_unchanged;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"title": null}')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"title": 5, "description": true}')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '{"title": ""}')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), jsonb_build_object('title', repeat('t', 256)))$$) LIKE 'PA422 %string_too_long%' AS title_too_long;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), jsonb_build_object('description', repeat('d', 256)))$$) LIKE 'PA422 %["body", "description"]%string_too_long%' AS description_too_long;
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '[{"title": "x"}]')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), '"x"')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), 'null')$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('a1'), NULL)$$);
SELECT pg_temp.run('a', $$SELECT api.item_update(pg_temp.id('b1'), '{"title": "stolen"}')$$) AS other;
SELECT pg_temp.run('a', $$SELECT api.item_update('00000000-0000-0000-0000-000000000000', '{"title": "x"}')$$) AS unknown;
SELECT pg_temp.run('a', $$SELECT api.item_update('00000000-0000-0000-0000-000000000000', '{"title": ""}')$$) AS invalid_and_unknown;
SELECT pg_temp.run('b', $$SELECT api.item_get(pg_temp.id('b1'))->>'title'$$) AS b1_untouched;

--
-- item_delete
--
SELECT pg_temp.run('a', $$SELECT api.item_delete(pg_temp.id('b1'))$$) AS other;
SELECT pg_temp.run('b', $$SELECT api.item_get(pg_temp.id('b1'))->>'title'$$) AS b1_still_there;
SELECT pg_temp.run('a', $$SELECT api.item_delete(pg_temp.id('a3'))$$) AS own;
SELECT pg_temp.run('a', $$SELECT api.item_delete(pg_temp.id('a3'))$$) AS again;
SELECT pg_temp.run('a', $$SELECT api.item_delete(NULL)$$) AS null_id;
SELECT pg_temp.run('a', $$SELECT api.items_list()->>'count'$$) AS a_count;

--
-- A superuser sees, changes and deletes every item, and creates its own.
--
SELECT pg_temp.run('s', $$SELECT (api.items_list(0, 1000)->>'count')::bigint = (SELECT count(*) FROM pgapp.items)$$) AS sees_all;
SELECT pg_temp.run('s', $$SELECT api.items_list(0, 1000) @? '$.data[*] ? (@.title == "B1")' AND api.items_list(0, 1000) @? '$.data[*] ? (@.title == "A1")'$$) AS sees_a_and_b;
SELECT pg_temp.run('s', $$SELECT api.item_get(pg_temp.id('b1'))->>'title'$$) AS get_other;
SELECT pg_temp.run('s', $$SELECT api.item_update(pg_temp.id('b1'), '{"description": "edited by s"}')->>'description'$$) AS update_other;
SELECT pg_temp.run('b', $$SELECT (api.item_get(pg_temp.id('b1'))->>'owner_id')::uuid = pg_temp.id('user_b')$$) AS owner_still_b;
INSERT INTO ids SELECT 's1', pg_temp.run('s', $$SELECT api.item_create('S1')->>'id'$$)::uuid;
SELECT pg_temp.run('s', $$SELECT (api.item_get(pg_temp.id('s1'))->>'owner_id')::uuid = pg_temp.id('user_s')$$) AS s_owns_s1;
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('s1'))$$) AS a_cannot_see_s1;
SELECT pg_temp.run('s', $$SELECT api.item_delete(pg_temp.id('a2'))->>'message'$$) AS delete_other;
SELECT pg_temp.run('a', $$SELECT api.item_get(pg_temp.id('a2'))$$) AS a2_gone;

--
-- Direct table access by a psql caller: row-level security, column
-- privileges, check constraints.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_items_caller;
RESET client_min_messages;
CREATE ROLE regress_items_caller IN ROLE pgapp_caller;
GRANT SELECT ON tokens, ids TO regress_items_caller;
SET ROLE regress_items_caller;
-- Anonymous: nothing visible, nothing changed.
SELECT count(*) AS anonymous_sees FROM pgapp.items;
WITH d AS (DELETE FROM pgapp.items RETURNING 1) SELECT count(*) AS anonymous_deletes FROM d;
SELECT pg_temp.run(NULL, $$INSERT INTO pgapp.items (title, owner_id) VALUES ('x', pg_temp.id('user_a')) RETURNING title$$) AS anonymous_inserts;
-- As a: own rows only.
BEGIN;
SELECT api.authenticate((SELECT token FROM tokens WHERE who = 'a')) = pg_temp.id('user_a') AS authenticated;
SELECT title FROM pgapp.items ORDER BY title;
SELECT count(*) AS b1_visible FROM pgapp.items WHERE id = pg_temp.id('b1');
WITH u AS (UPDATE pgapp.items SET title = 'stolen' WHERE id = pg_temp.id('b1') RETURNING 1) SELECT count(*) AS b1_updated FROM u;
WITH d AS (DELETE FROM pgapp.items WHERE id IN (pg_temp.id('b1'), pg_temp.id('s1')) RETURNING 1) SELECT count(*) AS others_deleted FROM d;
WITH u AS (UPDATE pgapp.items SET title = 'A1' WHERE id = pg_temp.id('a1') RETURNING 1) SELECT count(*) AS a1_updated FROM u;
SELECT pg_temp.run(NULL, $$INSERT INTO pgapp.items (title, owner_id) VALUES ('planted', pg_temp.id('user_b')) RETURNING title$$) AS insert_for_b;
SELECT pg_temp.run(NULL, $$UPDATE pgapp.items SET owner_id = pg_temp.id('user_b') WHERE id = pg_temp.id('a1') RETURNING title$$) AS give_away;
SELECT pg_temp.run(NULL, $$UPDATE pgapp.items SET created_at = now() - interval '1 day' WHERE id = pg_temp.id('a1') RETURNING title$$) AS backdate;
SELECT pg_temp.run(NULL, $$INSERT INTO pgapp.items (title, owner_id) VALUES ('', pg_temp.id('user_a')) RETURNING title$$) AS empty_title;
SELECT pg_temp.run(NULL, $$INSERT INTO pgapp.items (title, description, owner_id) VALUES ('d', repeat('d', 256), pg_temp.id('user_a')) RETURNING title$$) AS long_description;
SELECT pg_temp.run(NULL, $$INSERT INTO pgapp.items (title, owner_id) VALUES ('A4 direct', pg_temp.id('user_a')) RETURNING title$$) AS own_insert;
COMMIT;
-- The directly inserted row is an ordinary item for the API.
SELECT pg_temp.run('a', $$SELECT jsonb_path_query_array(api.items_list(), '$.data[*].title')::text$$) AS a_list;
-- As b, a's rows are invisible.
BEGIN;
SELECT api.authenticate((SELECT token FROM tokens WHERE who = 'b')) = pg_temp.id('user_b') AS authenticated;
SELECT title FROM pgapp.items ORDER BY title;
WITH d AS (DELETE FROM pgapp.items WHERE id = pg_temp.id('a1') RETURNING 1) SELECT count(*) AS a1_deleted FROM d;
COMMIT;
-- As the superuser, every row.
BEGIN;
SELECT api.authenticate((SELECT token FROM tokens WHERE who = 's')) = pg_temp.id('user_s') AS authenticated;
SELECT count(*) FILTER (WHERE owner_id IN (SELECT id FROM ids WHERE name LIKE 'user_%')) AS regress_rows FROM pgapp.items;
ROLLBACK;
RESET ROLE;
-- Creation time is the server's.
SELECT pg_temp.run('a', $$SELECT (api.item_get(pg_temp.id('a1'))->>'created_at')::timestamptz > now() - interval '1 hour'$$) AS not_backdated;

--
-- Deleting a user deletes their items.
--
SELECT count(*) AS b_items_before FROM pgapp.items WHERE owner_id = pg_temp.id('user_b');
SELECT pg_temp.run('s', $$SELECT api.user_delete(pg_temp.id('user_b'))->>'message'$$) AS user_delete;
SELECT count(*) AS b_items_after FROM pgapp.items WHERE owner_id = pg_temp.id('user_b');
SELECT pg_temp.run('s', $$SELECT api.item_get(pg_temp.id('b1'))$$) AS b1_gone;
-- ... and only theirs.
SELECT count(*) AS a_items_after FROM pgapp.items WHERE owner_id = pg_temp.id('user_a');
DELETE FROM pgapp.users WHERE id = pg_temp.id('user_a');
SELECT count(*) AS a_items_after_delete FROM pgapp.items WHERE owner_id = pg_temp.id('user_a');

-- Privileges: PUBLIC runs none of the item functions; both roles run the API.
SELECT p.oid::regprocedure AS function,
	   has_function_privilege('public', p.oid, 'EXECUTE') AS public,
	   has_function_privilege('pgapp_gateway', p.oid, 'EXECUTE') AS gateway,
	   has_function_privilege('pgapp_caller', p.oid, 'EXECUTE') AS caller
  FROM pg_proc p
 WHERE p.proname LIKE 'item%' AND p.pronamespace IN ('api'::regnamespace, 'pgapp'::regnamespace)
 ORDER BY p.oid::regprocedure::text;
SELECT has_table_privilege('pgapp_gateway', 'pgapp.items', 'SELECT') AS gateway_select,
	   has_table_privilege('public', 'pgapp.items', 'SELECT') AS public_select,
	   has_column_privilege('pgapp_caller', 'pgapp.items', 'owner_id', 'UPDATE') AS caller_update_owner;

-- Clean up what this test created (the users' items cascade).
DELETE FROM pgapp.users WHERE id IN (SELECT id FROM ids WHERE name LIKE 'user_%');
REVOKE ALL ON tokens, ids FROM regress_items_caller;
DROP ROLE regress_items_caller;
