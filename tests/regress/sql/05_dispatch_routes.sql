-- Routes a DBA adds with SQL, in the corners of api.routes: a parameter
-- whose "in" is null or names no source (the routes_check trigger can be
-- disabled), a STRICT handler given a null, "client" and "authorization"
-- arguments of other types than text.
CREATE FUNCTION pg_temp.d(method text, pattern text, path text, query text DEFAULT NULL,
	body text DEFAULT NULL, ctype text DEFAULT NULL, authz text DEFAULT NULL)
RETURNS TABLE (status int, headers text, body text) LANGUAGE sql AS $$
	SELECT * FROM api.dispatch((SELECT id FROM api.routes r WHERE r.method = d.method AND r.path = d.pattern),
		path, query, body, ctype, authz, '192.0.2.1')
$$;
-- the error of a statement as SQLSTATE, message (route ids as N) and detail
CREATE FUNCTION pg_temp.misconfigured(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ' ' || regexp_replace(msg, '[0-9]+', 'N') || ' / ' || det;
END
$$;
CREATE FUNCTION public.regress_routes_echo(v text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('v', v) $$;
GRANT EXECUTE ON FUNCTION public.regress_routes_echo(text) TO pgapp_gateway;

-- a parameter whose "in" is null, missing or unknown breaks its own route,
-- neither the backend nor the catalog's other routes
ALTER TABLE api.routes DISABLE TRIGGER routes_check;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/in-null', 'public.regress_routes_echo(text)', 'none', '[{"name": "v", "in": null}]'),
	('GET', '/api/v1/regress/in-missing', 'public.regress_routes_echo(text)', 'none', '[{"name": "v"}]'),
	('GET', '/api/v1/regress/in-cookie', 'public.regress_routes_echo(text)', 'none', '[{"name": "v", "in": "cookie"}]'),
	('GET', '/api/v1/regress/echo', 'public.regress_routes_echo(text)', 'none', '[{"name": "v", "in": "query"}]');
ALTER TABLE api.routes ENABLE TRIGGER routes_check;
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo', '/api/v1/regress/echo', 'v=works');
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/in-null', '/api/v1/regress/in-null', 'v=1')$$);
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/in-missing', '/api/v1/regress/in-missing', 'v=1')$$);
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/in-cookie', '/api/v1/regress/in-cookie', 'v=1')$$);
SELECT * FROM pg_temp.d('GET', '/api/v1/utils/health-check', '/api/v1/utils/health-check');
DELETE FROM api.routes WHERE path LIKE '/api/v1/regress/in-%';

-- a STRICT handler given a null is not called: the result is null, as
-- the executor has it
CREATE FUNCTION public.regress_routes_strict(n int, note text) RETURNS jsonb LANGUAGE plpgsql STRICT AS $$
BEGIN
	RETURN jsonb_build_object('called', true, 'n', n, 'note', note);
END $$;
GRANT EXECUTE ON FUNCTION public.regress_routes_strict(int, text) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/strict', 'public.regress_routes_strict(int, text)', 'none',
	 '[{"name": "n", "in": "query"}, {"name": "note", "in": "query", "default": null}]');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/strict', '/api/v1/regress/strict', 'n=1&note=x');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/strict', '/api/v1/regress/strict', 'n=1');

-- "client" and "authorization" are cast to the argument's type as any
-- other source: text, inet, int; absent, they are null
CREATE FUNCTION public.regress_routes_client(c inet, a text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('c', c, 'family', family(c), 'a', a) $$;
CREATE FUNCTION public.regress_routes_authz(a int) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('a', a) $$;
GRANT EXECUTE ON FUNCTION public.regress_routes_client(inet, text), public.regress_routes_authz(int) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/client', 'public.regress_routes_client(inet, text)', 'none',
	 '[{"name": "c", "in": "client"}, {"name": "a", "in": "authorization"}]'),
	('GET', '/api/v1/regress/authz', 'public.regress_routes_authz(int)', 'none',
	 '[{"name": "a", "in": "authorization"}]');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/client', '/api/v1/regress/client', authz => 'Bearer x');
SELECT status, body FROM api.dispatch((SELECT id FROM api.routes WHERE path = '/api/v1/regress/client'),
	'/api/v1/regress/client', NULL, NULL, NULL, NULL, '2001:db8::1');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/authz', '/api/v1/regress/authz', authz => '42');
-- an authorization the type refuses is a 422 that does not echo it
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/authz', '/api/v1/regress/authz', authz => 'Bearer secret-token');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/authz', '/api/v1/regress/authz');

DELETE FROM api.routes WHERE path LIKE '/api/v1/regress/%';
DROP FUNCTION public.regress_routes_echo(text), public.regress_routes_strict(int, text),
	public.regress_routes_client(inet, text), public.regress_routes_authz(int);
