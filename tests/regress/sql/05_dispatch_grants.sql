-- api.dispatch calls a route's handler only when the role calling it may
-- execute that handler (directly or through a membership), as the executor
-- would; the privilege is read on every call, so GRANT and REVOKE hold at
-- once.  A role in pgapp_gateway stands for the gateway's login role.
CREATE ROLE regress_grants_gateway NOLOGIN IN ROLE pgapp_gateway;
CREATE ROLE regress_grants_direct NOLOGIN;
GRANT USAGE ON SCHEMA api TO regress_grants_direct;
GRANT EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text) TO regress_grants_direct;
CREATE FUNCTION public.regress_grants_hello() RETURNS jsonb LANGUAGE sql
	AS $$ SELECT '{"hello": true}'::jsonb $$;
REVOKE EXECUTE ON FUNCTION public.regress_grants_hello() FROM PUBLIC;
INSERT INTO api.routes (method, path, handler, auth, params) VALUES
	('GET', '/api/v1/regress/grants', 'public.regress_grants_hello()', 'none', '[]');
SELECT id AS hello FROM api.routes WHERE path = '/api/v1/regress/grants' \gset
SELECT id AS health FROM api.routes WHERE method = 'GET' AND path = '/api/v1/utils/health-check' \gset
SELECT id AS me FROM api.routes WHERE method = 'GET' AND path = '/api/v1/users/me' \gset

-- a built-in handler is granted to pgapp_gateway
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:health, '/api/v1/utils/health-check', NULL, NULL, NULL, NULL, NULL);
-- a DBA's handler that nobody granted: refused, 42501
SELECT status, body FROM api.dispatch(:hello, '/api/v1/regress/grants', NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- granted to pgapp_gateway: served at the next call, no reload
GRANT EXECUTE ON FUNCTION public.regress_grants_hello() TO pgapp_gateway;
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:hello, '/api/v1/regress/grants', NULL, NULL, NULL, NULL, NULL);
RESET ROLE;
-- revoked again: refused at once
REVOKE EXECUTE ON FUNCTION public.regress_grants_hello() FROM pgapp_gateway;
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:hello, '/api/v1/regress/grants', NULL, NULL, NULL, NULL, NULL);
RESET ROLE;

-- a role outside pgapp_gateway needs its own grant
SET ROLE regress_grants_direct;
SELECT status, body FROM api.dispatch(:hello, '/api/v1/regress/grants', NULL, NULL, NULL, NULL, NULL);
RESET ROLE;
GRANT EXECUTE ON FUNCTION public.regress_grants_hello() TO regress_grants_direct;
SET ROLE regress_grants_direct;
SELECT status, body FROM api.dispatch(:hello, '/api/v1/regress/grants', NULL, NULL, NULL, NULL, NULL);
RESET ROLE;

-- a built-in handler revoked from pgapp_gateway stops its route; the check
-- comes before authentication (no 401 for a route that cannot run)
BEGIN;
REVOKE EXECUTE ON FUNCTION api.health_check() FROM pgapp_gateway;
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:health, '/api/v1/utils/health-check', NULL, NULL, NULL, NULL, NULL);
ROLLBACK;
BEGIN;
REVOKE EXECUTE ON FUNCTION api.me() FROM pgapp_gateway;
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:me, '/api/v1/users/me', NULL, NULL, NULL, NULL, NULL);
ROLLBACK;
SET ROLE regress_grants_gateway;
SELECT status, body FROM api.dispatch(:me, '/api/v1/users/me', NULL, NULL, NULL, NULL, NULL);
RESET ROLE;

-- as SECURITY DEFINER the dispatcher would check its owner: refused
BEGIN;
ALTER FUNCTION api.dispatch(int, text, text, text, text, text, text) SECURITY DEFINER;
SELECT status, body FROM api.dispatch(:health, '/api/v1/utils/health-check', NULL, NULL, NULL, NULL, NULL);
ROLLBACK;
SELECT status, body FROM api.dispatch(:health, '/api/v1/utils/health-check', NULL, NULL, NULL, NULL, NULL);

DELETE FROM api.routes WHERE path = '/api/v1/regress/grants';
DROP FUNCTION public.regress_grants_hello();
REVOKE EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text) FROM regress_grants_direct;
REVOKE USAGE ON SCHEMA api FROM regress_grants_direct;
DROP ROLE regress_grants_gateway, regress_grants_direct;
