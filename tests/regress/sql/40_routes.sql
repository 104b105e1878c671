--
-- The route catalog as a DBA edits it (60_routes.sql): what the
-- routes_check trigger refuses, and how built-in routes survive a dump
-- and restore (routes_builtin).
--
\set SHOW_CONTEXT never
CREATE FUNCTION public.regress_route(x text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('x', x) $$;

-- an argument source that is null, missing or unknown is refused
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/route', 'public.regress_route(text)', 'none', '[{"name": "x", "in": null}]');
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/route', 'public.regress_route(text)', 'none', '[{"name": "x"}]');
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/route', 'public.regress_route(text)', 'none', '[{"name": "x", "in": "header"}]');
-- a handler that names no function is refused, also after the fact
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/route', 4000000000::oid::regprocedure, 'none', '[]');
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/route', 'public.regress_route(text)', 'none', '[{"name": "x", "in": "query"}]');
SELECT count(*) AS accepted FROM api.routes WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = 4000000000::oid::regprocedure WHERE path = '/api/v1/regress/route';

-- the handler is stored as its canonical signature (text since 1.6: a
-- regprocedure column stops pg_upgrade), however it was written
SELECT handler FROM api.routes WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = ' public . regress_route ( pg_catalog.text ) ' WHERE path = '/api/v1/regress/route'
	RETURNING handler;
UPDATE api.routes SET handler = 'public."regress_route"(character varying)' WHERE path = '/api/v1/regress/route'
	RETURNING handler;
-- resolved with search_path pinned to pg_catalog: an unqualified name is
-- refused even where the caller's search_path would find it, so a
-- signature names one function whoever reads it
SET search_path = public, pg_catalog;
UPDATE api.routes SET handler = 'regress_route(text)' WHERE path = '/api/v1/regress/route';
RESET search_path;
-- text that is no signature is refused, never an error of its own: bad
-- syntax, an unknown type, too many dots, a bare OID (PostgreSQL 16 and
-- later would take it as one), empty
UPDATE api.routes SET handler = 'public.regress_route(text' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = 'public.regress_route(no_such_type)' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = 'public.regress_route(int int)' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = 'a.b.c.regress_route(text)' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = '4000000000' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = '' WHERE path = '/api/v1/regress/route';
SELECT handler AS unchanged FROM api.routes WHERE path = '/api/v1/regress/route';
-- the helpers round-trip (also a name that must be quoted, with a dot, a
-- quote and a parenthesis in it), and name no function for what is no
-- canonical signature: a dropped function's OID, text as a DBA writes it
CREATE FUNCTION public."Regress ""Q"".(x"(x text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('x', x) $$;
SELECT s AS signature, pgapp.handler_oid(s) = f AS found, pgapp.handler_resolve(s) = f AS resolved
  FROM (VALUES ('api.password_recovery(text)'::regprocedure), ('public."Regress ""Q"".(x"(text)'),
			   ('pg_catalog.now()'), ('api.items_list(integer, integer)')) v(f),
	   LATERAL pgapp.handler_signature(f) s;
SELECT pgapp.handler_signature(4000000000) AS dangling, pgapp.handler_oid('4000000000') AS bare_oid,
	   pgapp.handler_oid('api.password_recovery( text )') AS not_canonical,
	   pgapp.handler_oid('api.password_recovery') AS no_args, pgapp.handler_oid('') AS empty,
	   pgapp.handler_resolve('api.x(') AS resolve_syntax;
SELECT pgapp.handler_resolve(f::oid::text) AS resolve_oid_of_a_function, pgapp.handler_oid(f::oid::text) AS oid_of_a_function
  FROM (SELECT 'public.regress_route(text)'::regprocedure) v(f);
-- a handler whose name must be quoted is served
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/quoted', 'public."Regress ""Q"".(x"(text)', 'none', '[{"name": "x", "in": "query"}]')
	RETURNING handler;
SELECT status, body FROM api.dispatch((SELECT id FROM api.routes WHERE path = '/api/v1/regress/quoted'),
	'/api/v1/regress/quoted', 'x=1', NULL, NULL, NULL, NULL);
DELETE FROM api.routes WHERE path = '/api/v1/regress/quoted';
DROP FUNCTION public."Regress ""Q"".(x"(text);

-- a parameter's "name" is a non-empty string, given once per source
UPDATE api.routes SET params = '[{"name": null, "in": "query"}]' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET params = '[{"name": 5, "in": "query"}]' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET params = '[{"name": "", "in": "query"}]' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET params = '[{"name": ["x"], "in": "client"}]' WHERE path = '/api/v1/regress/route';
CREATE FUNCTION public.regress_route2(x text, y text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('x', x, 'y', y) $$;
UPDATE api.routes SET handler = 'public.regress_route2(text, text)',
	params = '[{"name": "x", "in": "query"}, {"name": "x", "in": "query"}]' WHERE path = '/api/v1/regress/route';
UPDATE api.routes SET handler = 'public.regress_route2(text, text)',
	params = '[{"name": "c", "in": "client"}, {"name": "c", "in": "client"}]' WHERE path = '/api/v1/regress/route';
-- the same name from two sources is two values
UPDATE api.routes SET handler = 'public.regress_route2(text, text)',
	params = '[{"name": "x", "in": "query"}, {"name": "x", "in": "body"}]' WHERE path = '/api/v1/regress/route'
	RETURNING handler, params;
UPDATE api.routes SET handler = 'public.regress_route(text)', params = '[{"name": "x", "in": "query"}]'
 WHERE path = '/api/v1/regress/route';
DROP FUNCTION public.regress_route2(text, text);
-- every built-in route passes the trigger as it stands
BEGIN;
UPDATE api.routes SET handler = handler, params = params WHERE builtin;
SELECT count(*) AS builtin_routes_valid_and_canonical FROM api.routes
 WHERE builtin AND handler = pgapp.handler_signature(pgapp.handler_oid(handler));
ROLLBACK;

-- what pg_dump keeps of the catalog: the DBA's routes and edited built-in ones
SELECT u.cond AS dump_filter
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
 WHERE e.extname = 'pgapp' AND u.cfg = 'api.routes'::regclass;
SELECT count(*) AS dumped_before FROM api.routes WHERE NOT builtin OR edited;

BEGIN;
-- a change to a built-in route marks it edited, so it is dumped; a
-- statement that changes nothing does not; the mark stays
UPDATE api.routes SET auth = auth WHERE path = '/api/v1/users/signup';
SELECT edited FROM api.routes WHERE path = '/api/v1/users/signup';
-- nor does the same handler written another way (stored canonical)
UPDATE api.routes SET handler = ' api . health_check ( ) ' WHERE path = '/api/v1/utils/health-check';
SELECT handler, edited FROM api.routes WHERE path = '/api/v1/utils/health-check';
UPDATE api.routes SET auth = 'superuser' WHERE path = '/api/v1/password-recovery/{email}';
SELECT auth, builtin, edited FROM api.routes WHERE path = '/api/v1/password-recovery/{email}';
SELECT method, path FROM api.routes WHERE (NOT builtin OR edited) AND path LIKE '/api/v1/password%';
UPDATE api.routes SET edited = false, auth = 'none' WHERE path = '/api/v1/password-recovery/{email}';
SELECT auth, edited FROM api.routes WHERE path = '/api/v1/password-recovery/{email}';
UPDATE api.routes SET edited = true WHERE path = '/api/v1/regress/route';
SELECT edited AS dba_route_edited FROM api.routes WHERE path = '/api/v1/regress/route';
-- the restore: CREATE EXTENSION installed the original, then the dumped
-- edited copy arrives and takes its place and its id
UPDATE api.routes SET auth = 'superuser' WHERE path = '/api/v1/password-recovery/{email}';
CREATE TEMP TABLE dumped AS SELECT * FROM api.routes WHERE path = '/api/v1/password-recovery/{email}';
ALTER TABLE api.routes DISABLE TRIGGER routes_builtin;
UPDATE api.routes SET auth = 'none', edited = false, id = id + 1000 WHERE path = '/api/v1/password-recovery/{email}';
ALTER TABLE api.routes ENABLE TRIGGER routes_builtin;
INSERT INTO api.routes SELECT * FROM dumped;
SELECT r.id = d.id + 1000 AS took_the_id, r.auth, r.builtin, r.edited
  FROM api.routes r, dumped d WHERE r.path = '/api/v1/password-recovery/{email}';
ROLLBACK;

-- a built-in route cannot be deleted (a restore would bring it back), the
-- catalog not truncated, builtin not changed either way
DELETE FROM api.routes WHERE path = '/api/v1/users/signup';
TRUNCATE api.routes;
UPDATE api.routes SET builtin = false WHERE path = '/api/v1/users/signup';
UPDATE api.routes SET builtin = true WHERE path = '/api/v1/regress/route';
SELECT count(*) AS dumped_after FROM api.routes WHERE NOT builtin OR edited;
-- a DBA's route is deleted as before
DELETE FROM api.routes WHERE path = '/api/v1/regress/route';
DROP FUNCTION public.regress_route(text);
SELECT count(*) AS dumped_at_end FROM api.routes WHERE NOT builtin OR edited;
