-- The C core: version, the dispatcher, and small internal helpers.

CREATE FUNCTION api.version() RETURNS text
AS 'MODULE_PATHNAME', 'version' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION api.version() IS 'the version of the pgapp library';

CREATE FUNCTION api.dispatch(route_id int, req_path text, req_query text, req_body text,
	content_type text, authorization text, client text,
	OUT status int, OUT headers text, OUT body text)
AS 'MODULE_PATHNAME', 'dispatch' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION api.dispatch(int, text, text, text, text, text, text) IS
'the gateway''s one statement: authenticate, validate and cast, call the route''s handler; returns the HTTP status, extra headers and body';

CREATE FUNCTION pgapp.relcache_invalidate() RETURNS trigger
AS 'MODULE_PATHNAME', 'relcache_invalidate' LANGUAGE C;
COMMENT ON FUNCTION pgapp.relcache_invalidate() IS 'trigger: drop every backend''s cached copy of the table (route catalog, keyring)';

CREATE FUNCTION pgapp.password_hash(password text, cost int) RETURNS text
AS 'MODULE_PATHNAME', 'password_hash' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.password_hash(text, int) IS 'bcrypt ($2a$) of base64(SHA-256(password)) through pgcrypto''s C symbols';

CREATE FUNCTION pgapp.password_verify(password text, hash text) RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.password_verify(text, text) IS 'does password match a hash made by pgapp.password_hash (constant-time comparison)';

CREATE FUNCTION pgapp.password_verify_bcrypt(password text, hash text) RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify_bcrypt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.password_verify_bcrypt(text, text) IS 'does password match an imported $2a$ hash of the raw password (constant-time comparison)';

CREATE FUNCTION pgapp.random_token(nbytes int) RETURNS text
AS 'MODULE_PATHNAME', 'random_token' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.random_token(int) IS 'nbytes of strong randomness, base64url';

CREATE FUNCTION pgapp.token_hash(token text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8')) $$;
COMMENT ON FUNCTION pgapp.token_hash(text) IS 'how refresh and reset tokens are stored: SHA-256, never the token';

CREATE FUNCTION api.health_check() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT 'true'::pg_catalog.jsonb $$;
COMMENT ON FUNCTION api.health_check() IS 'true while the database answers (GET /utils/health-check/)';
