-- api.dispatch: the one statement of the gateway.  Route lookup, the
-- authentication step, argument binding and casting, and the error map.
CREATE FUNCTION pg_temp.d(method text, pattern text, path text, query text DEFAULT NULL,
	body text DEFAULT NULL, ctype text DEFAULT NULL, authz text DEFAULT NULL)
RETURNS TABLE (status int, headers text, body text) LANGUAGE sql AS $$
	SELECT * FROM api.dispatch((SELECT id FROM api.routes r WHERE r.method = d.method AND r.path = d.pattern),
		path, query, body, ctype, authz, '192.0.2.1')
$$;

-- a public route, with and without the trailing slash
SELECT * FROM pg_temp.d('GET', '/api/v1/utils/health-check', '/api/v1/utils/health-check/');
SELECT * FROM pg_temp.d('GET', '/api/v1/utils/health-check', '/api/v1/utils/health-check');
-- an unknown route id, a path that does not match the route
SELECT * FROM api.dispatch(-1, '/x', NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM api.dispatch(NULL, '/x', NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pg_temp.d('GET', '/api/v1/utils/health-check', '/api/v1/utils/other');

-- authentication comes before validation
SELECT * FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me');
SELECT * FROM pg_temp.d('GET', '/api/v1/users/{user_id}', '/api/v1/users/not-a-uuid');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{bad json', 'application/json');
SELECT * FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'Basic abc');
SELECT * FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'Bearer ');
SELECT * FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'Bearer not.a.token');
-- a header number beyond numeric's range fails the token as any other
-- fault of it (401), never as a data exception (422)
SELECT * FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'Bearer '
	|| translate(encode(convert_to('{"alg":"HS256","kid":"k","n":1e200000}', 'UTF8'), 'base64'), '+/=', '-_')
	|| '.e30.AAAA');

-- a signed-up user, logged in through the form route
SELECT status FROM pg_temp.d('POST', '/api/v1/users/signup', '/api/v1/users/signup', NULL,
	'{"email": "dispatch@example.com", "password": "dispatch-pass-1", "full_name": "D", "extra": 1}', 'application/json');
SELECT status, headers, body::jsonb ?& ARRAY['access_token', 'token_type', 'expires_in', 'refresh_token'] AS token_shape,
	body::jsonb ->> 'token_type' AS token_type
  FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=Dispatch%40Example.com&password=dispatch-pass-1&grant_type=password',
	'application/x-www-form-urlencoded; charset=UTF-8');
SELECT 'Bearer ' || (body::jsonb ->> 'access_token') AS authz
  FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=dispatch%40example.com&password=dispatch-pass-1', 'application/x-www-form-urlencoded') \gset

SELECT status, body::jsonb ->> 'email' AS email, headers FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => :'authz');
SELECT status, body::jsonb ->> 'email' AS email FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'bearer  ' || substr(:'authz', 8));
-- spaces and tabs around the token are not part of it (RFC 9110 5.5)
SELECT status, body::jsonb ->> 'email' AS email FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => 'Bearer ' || substr(:'authz', 8) || E' \t ');
SELECT status FROM pg_temp.d('GET', '/api/v1/users/me', '/api/v1/users/me', authz => E'Bearer \t ');
-- the identity does not outlive the dispatch's transaction
SELECT api.current_user_id() IS NULL AS anonymous_afterwards;
-- not a superuser
SELECT * FROM pg_temp.d('GET', '/api/v1/users', '/api/v1/users', authz => :'authz');

-- form bodies: wrong media type, invalid escapes, missing fields, grant_type
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=a&password=b', 'application/json');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=a%zz&password=b', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=a%00&password=b', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=a%', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=a%40b.c&password=whatever1&grant_type=client_credentials', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=nobody%40example.com&password=whatever1', 'application/x-www-form-urlencoded');
-- an empty form field is one not sent, as FastAPI reads forms: a required
-- one is missing (and no failed login is counted), an optional one takes
-- its default; in a query string, an empty value is a value
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=empty-form%40example.com&password=', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=&password=', 'application/x-www-form-urlencoded');
SELECT count(*) AS failures_counted FROM pgapp.login_throttle WHERE key LIKE '%empty-form@example.com%';
SELECT status, body::jsonb ? 'access_token' AS token
  FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	'username=dispatch%40example.com&password=dispatch-pass-1&grant_type=', 'application/x-www-form-urlencoded');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/refresh-token', '/api/v1/login/refresh-token', NULL,
	'refresh_token=nope&grant_type=', 'application/x-www-form-urlencoded');

-- multipart bodies, as a browser posts a FormData object (one field per part)
CREATE FUNCTION pg_temp.mp(VARIADIC parts text[]) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(E'--XyZ\r\n' || p, '') || E'--XyZ--\r\n' FROM unnest(parts) p
$$;
CREATE FUNCTION pg_temp.field(name text, value text) RETURNS text LANGUAGE sql AS $$
	SELECT format(E'Content-Disposition: form-data; name="%s"\r\n\r\n%s\r\n', name, value)
$$;
SELECT status, body::jsonb ? 'access_token' AS token
  FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'dispatch@example.com'), pg_temp.field('password', 'dispatch-pass-1')),
	'multipart/form-data; boundary=XyZ');
-- a preamble, a quoted boundary, padding after a delimiter, other part
-- headers, an unquoted name, an empty field, an epilogue
SELECT status, body::jsonb ? 'access_token' AS token
  FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	E'preamble\r\n--XyZ \t\r\nContent-Type: text/plain; charset=UTF-8\r\ncontent-disposition: Form-Data;name=username\r\n\r\n'
	|| E'dispatch@example.com\r\n--XyZ\r\n' || pg_temp.field('scope', '') || E'--XyZ\r\n'
	|| pg_temp.field('password', 'dispatch-pass-1') || E'--XyZ--\r\nepilogue',
	'Multipart/Form-Data; charset=utf-8; boundary="XyZ"');
-- an empty multipart field is one not sent too
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'empty-form@example.com'), pg_temp.field('password', '')),
	'multipart/form-data; boundary=XyZ');
-- a file where a field is expected is a field not sent; a wrong password
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'dispatch@example.com'),
		E'Content-Disposition: form-data; name="password"; filename="p.txt"\r\nContent-Type: text/plain\r\n\r\ndispatch-pass-1\r\n'),
	'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'dispatch@example.com'), pg_temp.field('password', E'dispatch-pass-1\r\n')),
	'multipart/form-data; boundary=XyZ');
-- malformed: no boundary, a boundary not in the body, cut short, no
-- Content-Disposition, no name, two names, not form-data, no blank line,
-- a bare LF, a bad boundary parameter; and another multipart type
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'a@b.c')), 'multipart/form-data');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'a@b.c')), 'multipart/form-data; boundary=Other');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	E'--XyZ\r\n' || pg_temp.field('username', 'a@b.c'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(E'Content-Type: text/plain\r\n\r\nx\r\n'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(E'Content-Disposition: form-data; filename="x"\r\n\r\nx\r\n'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(E'Content-Disposition: form-data; name="a"; name="b"\r\n\r\nx\r\n'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(E'Content-Disposition: attachment; name="a"\r\n\r\nx\r\n'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(E'Content-Disposition: form-data; name="a"\r\nx\r\n'), 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	E'--XyZ\nContent-Disposition: form-data; name="a"\n\nx\n--XyZ--\n', 'multipart/form-data; boundary=XyZ');
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'a@b.c')), 'multipart/form-data; boundary=' || repeat('x', 71));
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	pg_temp.mp(pg_temp.field('username', 'a@b.c')), 'multipart/mixed; boundary=XyZ');
-- more than 1,000 parts
SELECT * FROM pg_temp.d('POST', '/api/v1/login/access-token', '/api/v1/login/access-token', NULL,
	(SELECT string_agg(E'--XyZ\r\n' || pg_temp.field('f' || g, 'v'), '') || E'--XyZ--\r\n' FROM generate_series(1, 1001) g),
	'multipart/form-data; boundary=XyZ');

-- JSON bodies: wrong media type, malformed, not an object, types, nulls
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": "t"}', 'text/plain', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": "t",}', 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '"\u0000"', 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, repeat('[', 10000), 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '[1, 2]', 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": 5}', 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": null}', 'application/json', :'authz');
SELECT * FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": {"a": 1}}', 'application/json', :'authz');
SELECT status, body::jsonb ->> 'title' AS title, body::jsonb ->> 'description' AS description
  FROM pg_temp.d('POST', '/api/v1/items', '/api/v1/items', NULL, '{"title": "t", "description": null}', NULL, :'authz');
-- JSON media types as FastAPI reads them: type application, subtype json
-- or ending in +json, in any case, parameters ignored, or an empty
-- Content-Type; others are 415
SELECT to_json(ctype) AS ctype, status, body::jsonb ->> 'full_name' AS full_name
  FROM unnest(ARRAY['application/json', 'application/merge-patch+json', 'Application/VND.API+JSON; charset=utf-8',
		' application/json ; charset=utf-8', E'application/ld+json\t', '']) WITH ORDINALITY u(ctype, n),
	pg_temp.d('PATCH', '/api/v1/users/me', '/api/v1/users/me', NULL, '{"full_name": "D"}', ctype, :'authz')
 ORDER BY n;
SELECT to_json(ctype) AS ctype, status, body
  FROM unnest(ARRAY['text/json', 'application/jsonx', 'application/json+xml', 'application/x-json',
		'application/json/x', 'text/plain+json', 'application /json', 'json', ' ']) WITH ORDINALITY u(ctype, n),
	pg_temp.d('PATCH', '/api/v1/users/me', '/api/v1/users/me', NULL, '{"full_name": "D"}', ctype, :'authz')
 ORDER BY n;

-- query strings: defaults, casts, invalid escapes, several errors at once
SELECT status, body::jsonb -> 'count' AS count
  FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'skip=0&limit=1', NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'skip=x&limit=y', NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=99999999999', NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=%zz', NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=', NULL, NULL, :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=1001', NULL, NULL, :'authz');
SELECT status FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=%31&unknown=1&flag', NULL, NULL, :'authz');
-- a field sent twice counts with its last value, as FastAPI reads it
SELECT status AS last_valid FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=abc&limit=5', NULL, NULL, :'authz');
SELECT status AS last_invalid, body::jsonb->'detail'->0->>'input' AS input FROM pg_temp.d('GET', '/api/v1/items', '/api/v1/items', 'limit=5&limit=abc', NULL, NULL, :'authz');

-- path parameters: uuid forms
SELECT * FROM pg_temp.d('GET', '/api/v1/items/{item_id}', '/api/v1/items/00000000-0000-0000-0000-000000000000', authz => :'authz');
SELECT * FROM pg_temp.d('GET', '/api/v1/items/{item_id}', '/api/v1/items/0000000000000000000000000000000g', authz => :'authz');

-- text handlers answer HTML (a superuser route: promotion takes effect at once)
SELECT status, headers FROM pg_temp.d('POST', '/api/v1/password-recovery-html-content/{email}',
	'/api/v1/password-recovery-html-content/dispatch@example.com', authz => :'authz');
UPDATE pgapp.users SET is_superuser = true WHERE email = 'dispatch@example.com';
SELECT status, headers, body LIKE '<!DOCTYPE html>%/reset-password?token=%' AS html FROM pg_temp.d('POST', '/api/v1/password-recovery-html-content/{email}',
	'/api/v1/password-recovery-html-content/dispatch@example.com', authz => :'authz');

-- a route added by a DBA with SQL alone is served, and its errors are mapped
CREATE FUNCTION public.regress_echo(n int, who text) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('n', n, 'who', who) $$;
CREATE FUNCTION public.regress_fail(code text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	IF code = 'unexpected' THEN
		RAISE EXCEPTION 'something broke' USING ERRCODE = 'XX000';
	ELSIF code = 'data' THEN
		RETURN jsonb_build_object('v', 'abc'::int);
	ELSIF code = 'retry' THEN
		PERFORM pgapp.raise(429, 'slow down', '7');
	END IF;
	PERFORM pgapp.raise(code::int, 'custom message');
	RETURN NULL;
END $$;
GRANT EXECUTE ON FUNCTION public.regress_echo(int, text), public.regress_fail(text) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/echo/{n}', 'public.regress_echo(int, text)', 'none',
	 '[{"name": "n", "in": "path"}, {"name": "who", "in": "query", "default": "world"}]'),
	('GET', '/api/v1/regress/fail', 'public.regress_fail(text)', 'none', '[{"name": "code", "in": "query"}]');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo/{n}', '/api/v1/regress/echo/42');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo/{n}', '/api/v1/regress/echo/42/', 'who=caf%C3%A9+bar');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo/{n}', '/api/v1/regress/echo/42', 'who=%FF');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=409');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=401');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=retry');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=data');
\set VERBOSITY terse
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=unexpected');
\set VERBOSITY default
-- a route whose params do not describe its handler is refused
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/bad', 'public.regress_echo(int, text)', 'none', '[]');
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/bad', 'public.regress_echo(int, text)', 'none',
	 '[{"name": "x", "in": "path"}, {"name": "who", "in": "query"}]');
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/bad/{n}', 'public.regress_echo(int, text)', 'none',
	 '[{"name": "n", "in": "path"}, {"name": "who", "in": "cookie"}]');
\set VERBOSITY terse
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('TRACE', '/api/v1/regress/bad', 'public.regress_fail(text)', 'none', '[{"name": "code", "in": "query"}]');
\set VERBOSITY default
-- a changed catalog is seen at once (relcache invalidation)
UPDATE api.routes SET params = '[{"name": "n", "in": "path"}, {"name": "who", "in": "query", "default": "again"}]'
 WHERE path = '/api/v1/regress/echo/{n}';
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo/{n}', '/api/v1/regress/echo/7');
-- input that the fast checks let through but the type's input function
-- refuses is a 422, never an uncaught error: a uuid with a '-' after its
-- last group inside braces, JSON that does not parse
CREATE FUNCTION public.regress_types(u uuid, j jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('u', u, 'j', j) $$;
GRANT EXECUTE ON FUNCTION public.regress_types(uuid, jsonb) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/types', 'public.regress_types(uuid, jsonb)', 'none',
	 '[{"name": "u", "in": "query"}, {"name": "j", "in": "query", "default": "{}"}]');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/types', '/api/v1/regress/types',
	'u=%7Ba0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11%7D&j=%5B1%5D');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/types', '/api/v1/regress/types',
	'u=%7Ba0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-%7D');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/types', '/api/v1/regress/types',
	'u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11&j=%7Bbad');
-- a route the dispatcher cannot bind (a bypassed routes_check trigger lets
-- any params in) answers an error naming the route; the other routes keep
-- working
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
-- (since 1.6 the trigger refuses a parameter without a name: stored past it)
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/noname', 'public.regress_fail(text)', 'none', '[{"name": null, "in": "query"}]');
-- (past the trigger a handler must be written canonical, as routes_check
-- would have stored it)
SET session_replication_role = replica;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/noname', 'public.regress_fail(text)', 'none', '[{"name": null, "in": "query"}]'),
	('GET', '/api/v1/regress/fewer', 'public.regress_echo(integer,text)', 'none', '[{"name": "n", "in": "query"}]'),
	('GET', '/api/v1/regress/more', 'public.regress_fail(text)', 'none',
	 '[{"name": "code", "in": "query"}, {"name": "x", "in": "query"}]');
RESET session_replication_role;
UPDATE api.routes SET summary = summary WHERE false;	-- the invalidation the bypassed trigger did not send
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/noname', '/api/v1/regress/noname', 'code=1')$$);
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fewer', '/api/v1/regress/fewer', 'n=1')$$);
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/more', '/api/v1/regress/more', 'code=1')$$);
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=409');
-- a handler dropped, renamed, or whose schema was renamed after its route
-- was added: the route holds a signature (1.6), which then names no
-- function, so that route is misconfigured and the others keep working; a
-- function of that signature again serves it again
CREATE SCHEMA regress_handlers;
CREATE FUNCTION public.regress_gone() RETURNS jsonb LANGUAGE sql AS $$ SELECT '"gone"'::jsonb $$;
CREATE FUNCTION public.regress_moved() RETURNS jsonb LANGUAGE sql AS $$ SELECT '"moved"'::jsonb $$;
CREATE FUNCTION regress_handlers.regress_inside() RETURNS jsonb LANGUAGE sql AS $$ SELECT '"inside"'::jsonb $$;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/gone', 'public.regress_gone()', 'none', '[]'),
	('GET', '/api/v1/regress/moved', 'public.regress_moved()', 'none', '[]'),
	('GET', '/api/v1/regress/inside', 'regress_handlers.regress_inside()', 'none', '[]');
SELECT body FROM pg_temp.d('GET', '/api/v1/regress/gone', '/api/v1/regress/gone')
UNION ALL SELECT body FROM pg_temp.d('GET', '/api/v1/regress/moved', '/api/v1/regress/moved')
UNION ALL SELECT body FROM pg_temp.d('GET', '/api/v1/regress/inside', '/api/v1/regress/inside');
DROP FUNCTION public.regress_gone();
ALTER FUNCTION public.regress_moved() RENAME TO regress_renamed;
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/gone', '/api/v1/regress/gone')$$);
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/moved', '/api/v1/regress/moved')$$);
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/inside', '/api/v1/regress/inside');
ALTER SCHEMA regress_handlers RENAME TO regress_handlers_renamed;
SELECT pg_temp.misconfigured($$SELECT * FROM pg_temp.d('GET', '/api/v1/regress/inside', '/api/v1/regress/inside')$$);
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/fail', '/api/v1/regress/fail', 'code=409');
ALTER FUNCTION public.regress_renamed() RENAME TO regress_moved;
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/moved', '/api/v1/regress/moved');
-- the OpenAPI document leaves the broken routes out
SELECT path FROM jsonb_object_keys(api.openapi()->'paths') AS path WHERE path LIKE '/api/v1/regress/%' ORDER BY 1;
DROP SCHEMA regress_handlers_renamed CASCADE;
-- a handler that changes pg_proc, then dispatches itself: the inner call
-- must not rebuild the cache the running route lives in
CREATE FUNCTION public.regress_nested() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	CREATE FUNCTION pg_temp.regress_inval() RETURNS int LANGUAGE sql AS 'SELECT 1';
	RETURN (SELECT d.body::jsonb FROM api.dispatch(
		(SELECT id FROM api.routes WHERE path = '/api/v1/regress/echo/{n}'),
		'/api/v1/regress/echo/5', NULL, NULL, NULL, NULL, NULL) d);
END $$;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/nested', 'public.regress_nested()', 'none', '[]');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/nested', '/api/v1/regress/nested');
SELECT * FROM pg_temp.d('GET', '/api/v1/regress/echo/{n}', '/api/v1/regress/echo/6');
DELETE FROM api.routes WHERE path LIKE '/api/v1/regress/%';
DROP FUNCTION public.regress_echo(int, text), public.regress_fail(text), public.regress_types(uuid, jsonb),
	public.regress_nested(), public.regress_moved();
