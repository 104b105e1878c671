\echo Use "CREATE EXTENSION pgapp" to load this file. \quit

-- Roles are cluster-wide: create them only when absent (SPEC §7).
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_owner') THEN
		CREATE ROLE pgapp_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_gateway') THEN
		CREATE ROLE pgapp_gateway NOLOGIN NOSUPERUSER NOBYPASSRLS;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_caller') THEN
		CREATE ROLE pgapp_caller NOLOGIN NOSUPERUSER NOBYPASSRLS;
	END IF;
END
$$;

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'pgapp public interface: one function per HTTP operation, the route catalog';
COMMENT ON SCHEMA pgapp IS 'pgapp private schema: tables, keys, internals';

-- Settings applied from the environment by pgapp.setup() (make run, the
-- db container).  Defaults live in pgapp.setting(), so a missing row
-- means "the default of SPEC §4".
CREATE TABLE pgapp.settings (
	name text PRIMARY KEY,
	value text NOT NULL
);
COMMENT ON TABLE pgapp.settings IS 'configuration applied from the environment (ENVIRONMENT, BCRYPT_COST, ...)';

CREATE FUNCTION pgapp.setting(setting_name text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
		(SELECT s.value FROM pgapp.settings s WHERE s.name = setting_name),
		CASE setting_name
			WHEN 'ENVIRONMENT' THEN 'local'
			WHEN 'ALGORITHM' THEN 'HS256'
			WHEN 'ACCESS_TOKEN_EXPIRE_MINUTES' THEN '30'
			WHEN 'REFRESH_TOKEN_EXPIRE_DAYS' THEN '8'
			WHEN 'RESET_TOKEN_EXPIRE_HOURS' THEN '1'
			WHEN 'BCRYPT_COST' THEN '12'
			WHEN 'FRONTEND_HOST' THEN 'http://localhost:5173'
			WHEN 'PROJECT_NAME' THEN 'pgapp'
		END)
$$;
COMMENT ON FUNCTION pgapp.setting(text) IS 'a configuration value: the applied one, else the default of SPEC §4';

-- pgapp.raise: the one way SQL code raises an HTTP-mapped error.
-- code is the HTTP status; the SQLSTATE is PA + status (errcodes.h).
CREATE FUNCTION pgapp.raise(status int, message text, detail text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF detail IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'PA' || lpad(status::text, 3, '0'), MESSAGE = message;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'PA' || lpad(status::text, 3, '0'), MESSAGE = message, DETAIL = detail;
END
$$;
COMMENT ON FUNCTION pgapp.raise(int, text, text) IS 'raise SQLSTATE PA<status> with a message (and a detail)';

-- A 422 in FastAPI's shape: DETAIL holds the list
-- [{"type","loc","msg","input"}]; the message is for psql callers.
CREATE FUNCTION pgapp.raise_invalid(loc text[], type text, msg text, input jsonb DEFAULT 'null')
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'PA422',
		MESSAGE = format('invalid value for %s: %s', array_to_string(loc, '.'), msg),
		DETAIL = jsonb_build_array(jsonb_build_object(
			'type', type, 'loc', to_jsonb(loc), 'msg', msg, 'input', input))::text;
END
$$;
COMMENT ON FUNCTION pgapp.raise_invalid(text[], text, text, jsonb) IS 'raise a validation error (422) in FastAPI''s shape';
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
-- 20_keys.sql: the signing keyring (keys.c) and the JWT functions (jwt.c).
--
-- Grants this file needs from the security script: none besides the one
-- below.  pgapp.signing_keys, pgapp.keys and every pgapp.key_* /
-- pgapp.jwt_sign / pgapp.jwt_hmac function are for the extension's owner
-- (its own SECURITY DEFINER code) and superusers only.

CREATE TABLE pgapp.signing_keys (
	kid text PRIMARY KEY
		CHECK (kid ~ '^[A-Za-z0-9._:-]{1,128}$'),
	algorithm text NOT NULL
		CHECK (algorithm IN ('HS256', 'HS384', 'HS512')),
	secret bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz,
	-- RFC 7518 §3.2: a key at least as long as the hash output
	CHECK (octet_length(secret) >= CASE algorithm
		WHEN 'HS256' THEN 32 WHEN 'HS384' THEN 48 ELSE 64 END)
);
COMMENT ON TABLE pgapp.signing_keys IS 'JWT signing keys (HMAC secrets): the signing key is the newest one with no retired_at; a key verifies while retired_at is null or in the future. Readable by the extension owner and superusers only';
COMMENT ON COLUMN pgapp.signing_keys.kid IS 'key id, sent in the token header "kid"';
COMMENT ON COLUMN pgapp.signing_keys.algorithm IS 'HS256, HS384 or HS512: the only algorithm a token of this key may name';
COMMENT ON COLUMN pgapp.signing_keys.secret IS 'the HMAC secret (SECRET_KEY as UTF-8 bytes)';
COMMENT ON COLUMN pgapp.signing_keys.retired_at IS 'from this time on the key neither signs nor verifies; null: live';
REVOKE ALL ON TABLE pgapp.signing_keys FROM PUBLIC;
-- pg_dump keeps the keys (SPEC §7 backups): restored tokens stay valid
SELECT pg_catalog.pg_extension_config_dump('pgapp.signing_keys', '');

-- Every change to the keyring invalidates the key cache of every backend
CREATE TRIGGER signing_keys_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgapp.signing_keys
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.relcache_invalidate();
COMMENT ON TRIGGER signing_keys_invalidate ON pgapp.signing_keys IS 'reload the key caches after any change';

CREATE VIEW pgapp.keys AS
	SELECT k.kid, k.algorithm, k.created_at, k.retired_at,
		coalesce(k.kid OPERATOR(pg_catalog.=) s.kid, false) AS signing
	FROM pgapp.signing_keys k
	LEFT JOIN (SELECT c.kid FROM pgapp.signing_keys c
		WHERE c.retired_at IS NULL
		ORDER BY c.created_at DESC, c.kid COLLATE "C" DESC
		LIMIT 1) s ON true;
COMMENT ON VIEW pgapp.keys IS 'the keyring without its secrets; signing marks the key that signs new tokens';
REVOKE ALL ON pgapp.keys FROM PUBLIC;

-- What every key must satisfy, checked by key_import and key_apply.
CREATE FUNCTION pgapp.key_check(secret bytea, algorithm text)
RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	min_len int;
BEGIN
	IF key_check.secret IS NULL OR key_check.algorithm IS NULL THEN
		RAISE EXCEPTION 'signing key secret and algorithm must not be null'
			USING ERRCODE = '22004';
	END IF;
	min_len := CASE key_check.algorithm
		WHEN 'HS256' THEN 32 WHEN 'HS384' THEN 48 WHEN 'HS512' THEN 64 END;
	IF min_len IS NULL THEN
		RAISE EXCEPTION 'unsupported signing algorithm'
			USING ERRCODE = '22023',
			HINT = 'Use HS256, HS384 or HS512 (exactly so spelt).';
	END IF;
	IF octet_length(key_check.secret) < min_len THEN
		RAISE EXCEPTION 'signing key is too short'
			USING ERRCODE = '22023',
			DETAIL = format('%s needs a secret of at least %s bytes; this one has %s.',
				key_check.algorithm, min_len, octet_length(key_check.secret)),
			HINT = 'Generate one with: openssl rand -base64 48';
	END IF;
	IF key_check.secret = convert_to('dev-secret-key-for-local-use-only-change-me-0123456789', 'UTF8')
		AND pgapp.setting('ENVIRONMENT') IS DISTINCT FROM 'local' THEN
		RAISE EXCEPTION 'the development signing key is refused outside the local environment'
			USING ERRCODE = '22023',
			DETAIL = 'SECRET_KEY is the published key of .env.example and ENVIRONMENT is not "local".',
			HINT = 'Set SECRET_KEY to a random value, for example from: openssl rand -base64 48';
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.key_check(bytea, text) IS 'refuse a signing key that is null, too short for its algorithm (RFC 7518 §3.2), of an unknown algorithm, or the published development key outside ENVIRONMENT=local';

-- The one place keys enter the keyring.  Binary secrets and chosen kids
-- serve imports from another issuer and published test vectors.
CREATE FUNCTION pgapp.key_import(secret bytea, algorithm text DEFAULT 'HS256', kid text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_kid text := coalesce(key_import.kid,
		left(replace(gen_random_uuid()::text, '-', ''), 16));
BEGIN
	PERFORM pgapp.key_check(key_import.secret, key_import.algorithm);
	IF new_kid !~ '^[A-Za-z0-9._:-]{1,128}$' THEN
		RAISE EXCEPTION 'invalid key id'
			USING ERRCODE = '22023',
			HINT = 'A key id is 1 to 128 characters from A-Z, a-z, 0-9, ".", "_", ":" and "-".';
	END IF;
	-- clock_timestamp: two keys added in one transaction still have an order
	INSERT INTO pgapp.signing_keys (kid, algorithm, secret, created_at)
		VALUES (new_kid, key_import.algorithm, key_import.secret, clock_timestamp());
	RETURN new_kid;
END
$$;
COMMENT ON FUNCTION pgapp.key_import(bytea, text, text) IS 'add a binary HMAC secret (optionally with a chosen kid) as the new signing key; returns its kid';

CREATE FUNCTION pgapp.key_add(secret text, algorithm text DEFAULT 'HS256')
RETURNS text LANGUAGE sql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pgapp.key_import(convert_to(secret, 'UTF8'), algorithm)
$$;
COMMENT ON FUNCTION pgapp.key_add(text, text) IS 'add a signing key (the secret''s UTF-8 bytes, as PyJWT uses a str key); returns the new kid, now signing; the previous keys keep verifying until retired';

CREATE FUNCTION pgapp.key_retire(kid text)
RETURNS void LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pgapp.signing_keys k WHERE k.kid = key_retire.kid) THEN
		RAISE EXCEPTION 'signing key does not exist'
			USING ERRCODE = '42704',
			HINT = 'SELECT kid FROM pgapp.keys lists the keys.';
	END IF;
	UPDATE pgapp.signing_keys k SET retired_at = now()
		WHERE k.kid = key_retire.kid
		AND (k.retired_at IS NULL OR k.retired_at > now());
	-- Retiring the last live key is allowed on purpose: it is how a
	-- compromised key is stopped at once.  Say what it means.
	IF NOT EXISTS (SELECT FROM pgapp.signing_keys k WHERE k.retired_at IS NULL) THEN
		RAISE WARNING 'no signing key is left'
			USING DETAIL = 'No token can be issued until a key is added.',
			HINT = 'Add one with pgapp.key_add() or apply SECRET_KEY.';
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.key_retire(text) IS 'retire a key now: it stops signing and verifying at once (retiring the last live key is allowed, with a warning)';

CREATE FUNCTION pgapp.key_apply(secret text, algorithm text DEFAULT 'HS256')
RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	raw bytea := convert_to(key_apply.secret, 'UTF8');
	alg text := coalesce(key_apply.algorithm, 'HS256');
	cur record;
	new_kid text;
	grace interval;
BEGIN
	-- refused keys are refused even when already signing (ENVIRONMENT
	-- changed from local to production with the development key)
	PERFORM pgapp.key_check(raw, alg);
	-- one application at a time (two containers starting together)
	LOCK TABLE pgapp.signing_keys IN SHARE ROW EXCLUSIVE MODE;
	SELECT k.kid, k.algorithm, k.secret INTO cur
		FROM pgapp.signing_keys k
		WHERE k.retired_at IS NULL
		ORDER BY k.created_at DESC, k.kid COLLATE "C" DESC
		LIMIT 1;
	IF FOUND AND cur.algorithm = alg AND cur.secret = raw THEN
		RETURN cur.kid;
	END IF;
	new_kid := pgapp.key_import(raw, alg);
	-- tokens signed by the previous keys live until they expire
	grace := make_interval(mins => pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES')::int);
	UPDATE pgapp.signing_keys k SET retired_at = now() + grace
		WHERE k.kid <> new_kid
		AND (k.retired_at IS NULL OR k.retired_at > now() + grace);
	RETURN new_kid;
END
$$;
COMMENT ON FUNCTION pgapp.key_apply(text, text) IS 'make SECRET_KEY/ALGORITHM the signing key, idempotently: when they changed, add a key and retire the others after ACCESS_TOKEN_EXPIRE_MINUTES; returns the signing kid';

CREATE FUNCTION api.jwt_verify(token text) RETURNS jsonb
LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'jwt_verify';
COMMENT ON FUNCTION api.jwt_verify(text) IS 'verify a JWT against the keyring (SPEC §8) and return its claims; raises PJ001..PJ008';
-- A psql caller may check a token it holds; the gateway goes through
-- api.dispatch and needs nothing here.
GRANT EXECUTE ON FUNCTION api.jwt_verify(text) TO pgapp_caller;

CREATE FUNCTION pgapp.jwt_sign(claims jsonb) RETURNS text
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'jwt_sign';
COMMENT ON FUNCTION pgapp.jwt_sign(jsonb) IS 'sign claims (a JSON object with a numeric exp) with the signing key; for the extension''s own functions and superusers';

CREATE FUNCTION pgapp.jwt_hmac(data text, key bytea, algorithm text) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'jwt_hmac';
COMMENT ON FUNCTION pgapp.jwt_hmac(text, bytea, text) IS 'base64url(HMAC(key, data)): the signature core of jwt_sign/jwt_verify, for tests against published vectors';

-- SPEC §7: nothing here is for PUBLIC; the one grant back is above.
REVOKE EXECUTE ON FUNCTION pgapp.key_check(bytea, text),
	pgapp.key_import(bytea, text, text),
	pgapp.key_add(text, text), pgapp.key_retire(text), pgapp.key_apply(text, text),
	api.jwt_verify(text), pgapp.jwt_sign(jsonb), pgapp.jwt_hmac(text, bytea, text)
	FROM PUBLIC;
-- Identity (extension/src/identity.c): kept in backend memory, set only by
-- verifying a token in C.  Every reader is PARALLEL RESTRICTED: parallel
-- workers do not share the leader's memory.

CREATE FUNCTION api.authenticate(token text, session boolean DEFAULT false) RETURNS uuid
AS 'MODULE_PATHNAME', 'authenticate' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION api.authenticate(text, boolean) IS
'verify an access token and take on its user for the current transaction (session => true: for the rest of the session)';

CREATE FUNCTION api.current_user_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'current_user_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION api.current_user_id() IS 'the authenticated user, or NULL';

CREATE FUNCTION pgapp.current_user_is_superuser() RETURNS boolean
AS 'MODULE_PATHNAME', 'current_user_is_superuser' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.current_user_is_superuser() IS 'is the authenticated user a pgapp superuser (false when anonymous)';

CREATE FUNCTION pgapp.current_session_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'current_session_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.current_session_id() IS 'the login session of the authenticated user, or NULL';

CREATE FUNCTION pgapp.logout_identity() RETURNS void
AS 'MODULE_PATHNAME', 'logout_identity' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.logout_identity() IS 'forget the identity of this backend (after logout)';

CREATE FUNCTION pgapp.trace(kind text, payload jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'trace' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION pgapp.trace(text, jsonb) IS
'queue a trace that must survive the failing request (written by pgapp.trace_apply after the rollback)';

CREATE FUNCTION pgapp.traces_flush() RETURNS void
AS 'MODULE_PATHNAME', 'traces_flush' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pgapp.traces_flush() IS 'write the queued traces now';
-- Users, passwords, sessions, login, throttling, password recovery.
--
-- Row-level security: users are visible to themselves and to superusers
-- (api.current_user_id(), set only by C).  The extension's own SECURITY
-- DEFINER code (owner pgapp_owner) may also read accounts, because a login
-- must find an account before anyone is authenticated; it writes users only
-- through the checks of the functions below.  The tables holding secrets
-- and machinery (passwords, sessions, tokens, throttle, outbox) are
-- reachable by the owner alone.

CREATE TABLE pgapp.users (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	email text NOT NULL CHECK (pg_catalog.char_length(email) <= 255),
	full_name text CHECK (full_name IS NULL OR pg_catalog.char_length(full_name) <= 255),
	is_active boolean NOT NULL DEFAULT true,
	is_superuser boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX users_email_lower_key ON pgapp.users (pg_catalog.lower(email));
CREATE INDEX users_created_at_idx ON pgapp.users (created_at DESC, id DESC);
COMMENT ON TABLE pgapp.users IS 'user accounts; email unique case-insensitively, stored as given';

CREATE TABLE pgapp.passwords (
	user_id uuid PRIMARY KEY REFERENCES pgapp.users (id) ON DELETE CASCADE,
	hash text NOT NULL CHECK (hash LIKE '$2a$%'),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	scheme text NOT NULL DEFAULT 'v1' CHECK (scheme IN ('v1', 'bcrypt'))
);
COMMENT ON TABLE pgapp.passwords IS 'bcrypt hashes of base64(SHA-256(password)); readable by the extension owner only';
COMMENT ON COLUMN pgapp.passwords.scheme IS 'v1: bcrypt of base64(SHA-256(password)); bcrypt: an imported hash of the raw password, replaced by v1 at the next login';

CREATE TABLE pgapp.sessions (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	user_id uuid NOT NULL REFERENCES pgapp.users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	client text
);
CREATE INDEX sessions_user_idx ON pgapp.sessions (user_id);
COMMENT ON TABLE pgapp.sessions IS 'login sessions: one per login, holding its access and refresh tokens';

CREATE TABLE pgapp.refresh_tokens (
	token_hash bytea PRIMARY KEY,
	session_id uuid NOT NULL REFERENCES pgapp.sessions (id) ON DELETE CASCADE,
	issued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz NOT NULL,
	spent_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON pgapp.refresh_tokens (session_id);
COMMENT ON TABLE pgapp.refresh_tokens IS 'single-use refresh tokens (SHA-256 only); a spent one used again revokes its session';

CREATE TABLE pgapp.reset_tokens (
	token_hash bytea PRIMARY KEY,
	user_id uuid NOT NULL REFERENCES pgapp.users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz NOT NULL,
	used_at timestamptz
);
CREATE INDEX reset_tokens_user_idx ON pgapp.reset_tokens (user_id);
COMMENT ON TABLE pgapp.reset_tokens IS 'single-use password reset tokens (SHA-256 only)';

CREATE TABLE pgapp.mail_outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	recipient text NOT NULL,
	subject text NOT NULL,
	html text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz NOT NULL,
	sent_at timestamptz
);
COMMENT ON TABLE pgapp.mail_outbox IS 'mail waiting for a sender; bodies holding a live link are wiped once sent or expired';

CREATE TABLE pgapp.login_throttle (
	key text PRIMARY KEY,
	window_start timestamptz NOT NULL,
	failures int NOT NULL,
	locks int NOT NULL DEFAULT 0,
	locked_until timestamptz
);
COMMENT ON TABLE pgapp.login_throttle IS 'failed-login counters per (account, address), address and account; pruned';

-- Row-level security.
ALTER TABLE pgapp.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visible ON pgapp.users FOR SELECT
	USING (id OPERATOR(pg_catalog.=) api.current_user_id() OR pgapp.current_user_is_superuser());
CREATE POLICY users_lookup ON pgapp.users FOR SELECT TO pgapp_owner USING (true);
CREATE POLICY users_register ON pgapp.users FOR INSERT TO pgapp_owner WITH CHECK (true);
CREATE POLICY users_update ON pgapp.users FOR UPDATE
	USING (id OPERATOR(pg_catalog.=) api.current_user_id() OR pgapp.current_user_is_superuser());
CREATE POLICY users_delete ON pgapp.users FOR DELETE
	USING (id OPERATOR(pg_catalog.=) api.current_user_id() OR pgapp.current_user_is_superuser());

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['passwords', 'sessions', 'refresh_tokens', 'reset_tokens',
							 'mail_outbox', 'login_throttle'] LOOP
		EXECUTE format('ALTER TABLE pgapp.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE pgapp.%I FORCE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY owner_only ON pgapp.%I TO pgapp_owner USING (true) WITH CHECK (true)', t);
	END LOOP;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('pgapp.users', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.passwords', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.reset_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.mail_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.mail_outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgapp.settings', '');

-- ---------- helpers ----------

-- No SET clause, every name qualified: a SET would stop PostgreSQL from
-- inlining it, and GET /users/me would pay a GUC save/restore and a plan
-- on every call (bench/README.md).
CREATE FUNCTION pgapp.user_public(u pgapp.users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object('id', u.id, 'email', u.email, 'is_active', u.is_active,
		'is_superuser', u.is_superuser, 'full_name', u.full_name, 'created_at', u.created_at)
$$;
COMMENT ON FUNCTION pgapp.user_public(pgapp.users) IS 'a user as UserPublic';

CREATE FUNCTION pgapp.require_user() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := api.current_user_id();
BEGIN
	IF uid IS NULL THEN
		PERFORM pgapp.raise(401, 'Not authenticated');
	END IF;
	RETURN uid;
END
$$;
COMMENT ON FUNCTION pgapp.require_user() IS 'the current user, or 401 "Not authenticated"';

CREATE FUNCTION pgapp.require_superuser() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_user();
BEGIN
	IF NOT pgapp.current_user_is_superuser() THEN
		PERFORM pgapp.raise(403, 'The user doesn''t have enough privileges');
	END IF;
	RETURN uid;
END
$$;
COMMENT ON FUNCTION pgapp.require_superuser() IS 'the current user if a superuser, else 401/403';

CREATE FUNCTION pgapp.check_email(email text, loc text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF email IS NULL THEN
		PERFORM pgapp.raise_invalid(loc, 'missing', 'Field required');
	ELSIF char_length(email) > 255 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_long', 'String should have at most 255 characters', to_jsonb(email));
	ELSIF email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:].]+(\.[^@[:space:][:cntrl:].]+)+$' THEN
		PERFORM pgapp.raise_invalid(loc, 'value_error',
			'value is not a valid email address: An email address must have an @-sign and a domain.', to_jsonb(email));
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_email(text, text[]) IS 'validate an email address (422 at loc)';

CREATE FUNCTION pgapp.check_password(password text, loc text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- the input is never echoed back: it is a password
	IF password IS NULL THEN
		PERFORM pgapp.raise_invalid(loc, 'missing', 'Field required');
	ELSIF char_length(password) < 8 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_short', 'String should have at least 8 characters');
	ELSIF char_length(password) > 128 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_long', 'String should have at most 128 characters');
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_password(text, text[]) IS 'validate a new password: 8..128 characters (422 at loc)';

CREATE FUNCTION pgapp.check_full_name(full_name text, loc text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF char_length(full_name) > 255 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_long', 'String should have at most 255 characters', to_jsonb(full_name));
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_full_name(text, text[]) IS 'validate a full name: at most 255 characters (422 at loc)';

CREATE FUNCTION pgapp.check_page(skip int, "limit" int) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF skip IS NULL OR skip < 0 THEN
		PERFORM pgapp.raise_invalid(ARRAY['query', 'skip'], 'greater_than_equal',
			'Input should be greater than or equal to 0', to_jsonb(skip::text));
	ELSIF "limit" IS NULL OR "limit" < 1 THEN
		PERFORM pgapp.raise_invalid(ARRAY['query', 'limit'], 'greater_than_equal',
			'Input should be greater than or equal to 1', to_jsonb("limit"::text));
	ELSIF "limit" > 1000 THEN
		PERFORM pgapp.raise_invalid(ARRAY['query', 'limit'], 'less_than_equal',
			'Input should be less than or equal to 1000', to_jsonb("limit"::text));
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_page(int, int) IS 'validate skip >= 0 and limit 1..1000 (422)';

-- A field of a JSON patch: absent (present = false), or a string, or null
-- where nullable.  Anything else is a 422 at ["body", key].
CREATE FUNCTION pgapp.patch_text(patch jsonb, key text, nullable boolean, OUT present boolean, OUT value text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	present := patch ? key;
	IF NOT present THEN
		RETURN;
	END IF;
	IF jsonb_typeof(patch -> key) = 'string' THEN
		value := patch ->> key;
	ELSIF jsonb_typeof(patch -> key) = 'null' AND nullable THEN
		value := NULL;
	ELSE
		PERFORM pgapp.raise_invalid(ARRAY['body', key], 'string_type', 'Input should be a valid string', patch -> key);
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.patch_text(jsonb, text, boolean) IS 'read a string field of a partial update';

CREATE FUNCTION pgapp.patch_bool(patch jsonb, key text, OUT present boolean, OUT value boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	present := patch ? key;
	IF NOT present THEN
		RETURN;
	END IF;
	IF jsonb_typeof(patch -> key) = 'boolean' THEN
		value := (patch ->> key)::boolean;
	ELSE
		PERFORM pgapp.raise_invalid(ARRAY['body', key], 'bool_type', 'Input should be a valid boolean', patch -> key);
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.patch_bool(jsonb, text) IS 'read a boolean field of a partial update';

CREATE FUNCTION pgapp.check_patch(patch jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF patch IS NULL THEN
		PERFORM pgapp.raise_invalid(ARRAY['body'], 'missing', 'Field required');
	ELSIF jsonb_typeof(patch) <> 'object' THEN
		PERFORM pgapp.raise_invalid(ARRAY['body'], 'model_attributes_type',
			'Input should be a valid dictionary or object to extract fields from', patch);
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_patch(jsonb) IS 'a partial update must be a JSON object (422)';

CREATE FUNCTION pgapp.bcrypt_cost() RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgapp.setting('BCRYPT_COST')::int $$;
COMMENT ON FUNCTION pgapp.bcrypt_cost() IS 'the configured bcrypt cost (BCRYPT_COST, default 12)';

CREATE FUNCTION pgapp.set_password(uid uuid, password text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO pgapp.passwords AS p (user_id, hash)
	VALUES (uid, pgapp.password_hash(password, pgapp.bcrypt_cost()))
	ON CONFLICT (user_id) DO UPDATE SET hash = EXCLUDED.hash, scheme = 'v1', updated_at = now()
$$;
COMMENT ON FUNCTION pgapp.set_password(uuid, text) IS 'store a new password hash for a user';

CREATE FUNCTION pgapp.password_matches(uid uuid, password text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p pgapp.passwords;
BEGIN
	SELECT * INTO p FROM pgapp.passwords WHERE user_id = uid;
	IF NOT FOUND THEN
		RETURN NULL;
	ELSIF p.scheme = 'v1' THEN
		RETURN pgapp.password_verify(password, p.hash);
	ELSIF pgapp.password_verify_bcrypt(password, p.hash) THEN
		-- an imported hash has bcrypt's 72-byte limit: replace it now
		PERFORM pgapp.set_password(uid, password);
		RETURN true;
	END IF;
	RETURN false;
END
$$;
COMMENT ON FUNCTION pgapp.password_matches(uuid, text) IS
'does password match the user''s hash (NULL: no password); an imported hash is replaced by a v1 one on success';

-- Revoke a user's sessions, all of them or all but one.
CREATE FUNCTION pgapp.revoke_sessions(uid uuid, keep uuid DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE pgapp.sessions SET revoked_at = now()
	 WHERE user_id = uid AND revoked_at IS NULL AND id IS DISTINCT FROM keep
$$;
COMMENT ON FUNCTION pgapp.revoke_sessions(uuid, uuid) IS 'revoke a user''s sessions (but keep)';

-- ---------- tokens and sessions ----------

CREATE FUNCTION pgapp.issue_tokens(uid uuid, sid uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	minutes int := pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES')::int;
	refresh_days int := pgapp.setting('REFRESH_TOKEN_EXPIRE_DAYS')::int;
	issued double precision := floor(extract(epoch FROM now()));
	access text;
	refresh text := pgapp.random_token(32);
BEGIN
	access := pgapp.jwt_sign(jsonb_build_object(
		'sub', uid::text, 'sid', sid::text, 'iat', issued::bigint,
		'exp', (issued + minutes * 60)::bigint, 'jti', pgapp.random_token(16)));
	INSERT INTO pgapp.refresh_tokens (token_hash, session_id, expires_at)
	VALUES (pgapp.token_hash(refresh), sid, now() + make_interval(days => refresh_days));
	UPDATE pgapp.sessions SET expires_at = now() + make_interval(days => refresh_days)
	 WHERE id = sid;
	RETURN jsonb_build_object('access_token', access, 'token_type', 'bearer',
		'expires_in', minutes * 60, 'refresh_token', refresh);
END
$$;
COMMENT ON FUNCTION pgapp.issue_tokens(uuid, uuid) IS 'a new access token and refresh token for a session (the Token response)';

CREATE FUNCTION pgapp.client_net(client text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	addr inet;
BEGIN
	IF client IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		addr := client::inet;
	EXCEPTION WHEN invalid_text_representation THEN
		RETURN client;
	END;
	IF family(addr) = 6 THEN
		RETURN host(network(set_masklen(addr, 64))) || '/64';
	END IF;
	RETURN host(addr);
END
$$;
COMMENT ON FUNCTION pgapp.client_net(text) IS 'the throttling unit of a client address: the address, or an IPv6 client''s /64';

-- The throttle keys of a login: (key, window, limit).
CREATE FUNCTION pgapp.throttle_keys(email text, client text,
	OUT key text, OUT window_len interval, OUT max_failures int)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'pair:' || lower(email) || '|' || pgapp.client_net(client), interval '1 minute', 10
	 WHERE client IS NOT NULL
	UNION ALL
	SELECT 'client:' || pgapp.client_net(client), interval '1 minute', 100
	 WHERE client IS NOT NULL
	UNION ALL
	SELECT 'account:' || lower(email), interval '1 hour', 1000
$$;
COMMENT ON FUNCTION pgapp.throttle_keys(text, text) IS 'SPEC §5: 10/min per (account, address), 100/min per address, 1000/h per account';

CREATE FUNCTION pgapp.throttle_check(email text, client text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	until timestamptz;
BEGIN
	SELECT max(t.locked_until) INTO until
	  FROM pgapp.throttle_keys(email, client) k
	  JOIN pgapp.login_throttle t ON t.key = k.key
	 WHERE t.locked_until > now();
	IF until IS NOT NULL THEN
		PERFORM pgapp.raise(429, 'Too many login attempts, try again later',
			ceil(extract(epoch FROM until - now()))::bigint::text);
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.throttle_check(text, text) IS '429 with Retry-After while a login''s account or address is locked';

CREATE FUNCTION pgapp.throttle_fail(email text, client text, n int) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k record;
BEGIN
	FOR k IN SELECT * FROM pgapp.throttle_keys(email, client) LOOP
		INSERT INTO pgapp.login_throttle AS t (key, window_start, failures)
		VALUES (k.key, now(), n)
		ON CONFLICT (key) DO UPDATE
		   SET failures = CASE WHEN t.window_start + k.window_len <= now() THEN 0 ELSE t.failures END
		                  + n,
		       window_start = CASE WHEN t.window_start + k.window_len <= now() THEN now() ELSE t.window_start END;
		-- a full window locks the key; each lock lasts twice the last
		UPDATE pgapp.login_throttle t
		   SET locks = t.locks + 1, failures = 0, window_start = now(),
		       locked_until = now() + least(interval '1 minute' * power(2, t.locks), interval '1 hour')
		 WHERE t.key = k.key AND t.failures >= k.max_failures;
	END LOOP;
END
$$;
COMMENT ON FUNCTION pgapp.throttle_fail(text, text, int) IS 'count failed logins; lock the keys whose window is full';

CREATE FUNCTION pgapp.prune() RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM pgapp.login_throttle
	 WHERE window_start < now() - interval '1 hour'
	   AND (locked_until IS NULL OR locked_until < now() - interval '1 day');
	DELETE FROM pgapp.sessions WHERE expires_at < now() - interval '1 day'
	   OR revoked_at < now() - interval '1 day';
	DELETE FROM pgapp.refresh_tokens WHERE expires_at < now();
	DELETE FROM pgapp.reset_tokens WHERE expires_at < now() OR used_at IS NOT NULL;
	UPDATE pgapp.mail_outbox SET html = NULL
	 WHERE html IS NOT NULL AND (sent_at IS NOT NULL OR expires_at < now());
	DELETE FROM pgapp.mail_outbox WHERE created_at < now() - interval '30 days';
$$;
COMMENT ON FUNCTION pgapp.prune() IS 'delete expired sessions, tokens and throttle entries; wipe mail bodies once sent or expired';

-- Traces queued by pgapp.trace() are written here, after the request that
-- queued them failed and rolled back (identity.c).
CREATE FUNCTION pgapp.trace_apply(kind text, payload jsonb, occurrences int) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	CASE kind
		WHEN 'login_failure' THEN
			PERFORM pgapp.throttle_fail(payload ->> 'email', payload ->> 'client', occurrences);
		WHEN 'session_revoke' THEN
			UPDATE pgapp.sessions SET revoked_at = now()
			 WHERE id = (payload ->> 'session')::uuid AND revoked_at IS NULL;
		ELSE
			RAISE EXCEPTION 'unknown trace kind "%"', kind;
	END CASE;
END
$$;
COMMENT ON FUNCTION pgapp.trace_apply(text, jsonb, int) IS 'write a trace that outlives its failed request';

-- ---------- login ----------

CREATE FUNCTION pgapp.login_core(email text, password text, client text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
	ok boolean;
	sid uuid;
BEGIN
	IF email IS NULL OR password IS NULL THEN
		PERFORM pgapp.raise(400, 'Incorrect email or password');
	END IF;
	PERFORM pgapp.throttle_check(email, client);

	SELECT * INTO u FROM pgapp.users WHERE lower(users.email) = lower(login_core.email);
	IF FOUND THEN
		ok := pgapp.password_matches(u.id, password);
	END IF;
	IF ok IS NULL THEN
		-- the same bcrypt work as a real check: no timing difference
		PERFORM pgapp.password_hash(password, pgapp.bcrypt_cost());
		ok := false;
	END IF;
	IF NOT ok THEN
		PERFORM pgapp.trace('login_failure', jsonb_build_object('email', lower(email), 'client', client));
		PERFORM pgapp.raise(400, 'Incorrect email or password');
	END IF;
	IF NOT u.is_active THEN
		PERFORM pgapp.raise(400, 'Inactive user');
	END IF;

	IF random() < 0.01 THEN
		PERFORM pgapp.prune();
	END IF;
	INSERT INTO pgapp.sessions (user_id, expires_at, client)
	VALUES (u.id, now(), client) RETURNING id INTO sid;
	RETURN pgapp.issue_tokens(u.id, sid);
END
$$;
COMMENT ON FUNCTION pgapp.login_core(text, text, text) IS 'check throttling, then the password; start a session';

CREATE FUNCTION api.login(email text, password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- a failed psql login aborts its transaction: write its trace now
	PERFORM pgapp.traces_flush();
	RETURN pgapp.login_core(email, password, NULL);
END
$$;
COMMENT ON FUNCTION api.login(text, text) IS
'log in: returns {access_token, token_type, expires_in, refresh_token}; throttled per account';

CREATE FUNCTION pgapp.login_http(username text, password text, grant_type text, client text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF grant_type IS NOT NULL AND grant_type <> 'password' THEN
		PERFORM pgapp.raise_invalid(ARRAY['body', 'grant_type'], 'string_pattern_mismatch',
			'String should match pattern ''^password$''', to_jsonb(grant_type));
	END IF;
	RETURN pgapp.login_core(username, password, client);
END
$$;
COMMENT ON FUNCTION pgapp.login_http(text, text, text, text) IS
'POST /login/access-token: the OAuth2 password form; throttled per account and client address';

CREATE FUNCTION api.refresh_token(refresh_token text, grant_type text DEFAULT 'refresh_token') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rt pgapp.refresh_tokens;
	s pgapp.sessions;
	active boolean;
BEGIN
	PERFORM pgapp.traces_flush();
	IF grant_type IS DISTINCT FROM 'refresh_token' THEN
		PERFORM pgapp.raise_invalid(ARRAY['body', 'grant_type'], 'string_pattern_mismatch',
			'String should match pattern ''^refresh_token$''', to_jsonb(grant_type));
	END IF;
	SELECT * INTO rt FROM pgapp.refresh_tokens t
	 WHERE t.token_hash = pgapp.token_hash(refresh_token) FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(400, 'Invalid refresh token');
	END IF;
	IF rt.spent_at IS NOT NULL THEN
		-- reuse of a spent token: the session is compromised
		PERFORM pgapp.trace('session_revoke', jsonb_build_object('session', rt.session_id));
		PERFORM pgapp.raise(400, 'Invalid refresh token');
	END IF;
	SELECT * INTO s FROM pgapp.sessions WHERE id = rt.session_id FOR UPDATE;
	IF rt.expires_at <= now() OR s.revoked_at IS NOT NULL OR s.expires_at <= now() THEN
		PERFORM pgapp.raise(400, 'Invalid refresh token');
	END IF;
	SELECT u.is_active INTO active FROM pgapp.users u WHERE u.id = s.user_id;
	IF NOT active THEN
		PERFORM pgapp.raise(400, 'Inactive user');
	END IF;
	UPDATE pgapp.refresh_tokens SET spent_at = now() WHERE token_hash = rt.token_hash;
	RETURN pgapp.issue_tokens(s.user_id, s.id);
END
$$;
COMMENT ON FUNCTION api.refresh_token(text, text) IS
'exchange a refresh token for a new pair; the old one is spent, and reusing a spent one revokes its session';

CREATE FUNCTION api.logout() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pgapp.require_user();
	UPDATE pgapp.sessions SET revoked_at = now()
	 WHERE id = pgapp.current_session_id() AND revoked_at IS NULL;
	PERFORM pgapp.logout_identity();
	RETURN jsonb_build_object('message', 'Logged out');
END
$$;
COMMENT ON FUNCTION api.logout() IS 'end the calling session: its access and refresh tokens stop working at once';

CREATE FUNCTION api.test_token() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$ SELECT api.me() $$;
COMMENT ON FUNCTION api.test_token() IS 'the current user (POST /login/test-token)';

-- ---------- password recovery ----------

CREATE FUNCTION pgapp.recovery_mail(u pgapp.users, OUT subject text, OUT html text, OUT expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	token text := pgapp.random_token(32);
	hours int := pgapp.setting('RESET_TOKEN_EXPIRE_HOURS')::int;
	link text;
	project text := pgapp.setting('PROJECT_NAME');
BEGIN
	expires_at := now() + make_interval(hours => hours);
	INSERT INTO pgapp.reset_tokens (token_hash, user_id, expires_at)
	VALUES (pgapp.token_hash(token), u.id, recovery_mail.expires_at);
	link := pgapp.setting('FRONTEND_HOST') || '/reset-password?token=' || token;
	subject := format('%s - Password recovery for user %s', project, u.email);
	html := format('<!DOCTYPE html><html><body><p>Hello %s,</p>'
		'<p>We received a request to recover the password of your %s account. '
		'Click the link below to reset it:</p><p><a href="%s">Reset password</a></p>'
		'<p>The link is valid for %s hours. If you did not ask for this, ignore this mail.</p>'
		'</body></html>',
		replace(replace(replace(u.email, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		project, link, hours);
END
$$;
COMMENT ON FUNCTION pgapp.recovery_mail(pgapp.users) IS 'a new single-use reset token and the recovery mail that carries it';

CREATE FUNCTION api.password_recovery(email text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
	m record;
BEGIN
	SELECT * INTO u FROM pgapp.users WHERE lower(users.email) = lower(password_recovery.email);
	IF FOUND AND u.is_active THEN
		m := pgapp.recovery_mail(u);
		INSERT INTO pgapp.mail_outbox (recipient, subject, html, expires_at)
		VALUES (u.email, m.subject, m.html, m.expires_at);
	END IF;
	-- the same answer whether or not the account exists
	RETURN jsonb_build_object('message', 'Password recovery email sent');
END
$$;
COMMENT ON FUNCTION api.password_recovery(text) IS 'queue a recovery mail for an active account; always the same answer';

CREATE FUNCTION api.password_recovery_html_content(email text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
BEGIN
	PERFORM pgapp.require_superuser();
	SELECT * INTO u FROM pgapp.users WHERE lower(users.email) = lower(password_recovery_html_content.email);
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'The user with this username does not exist in the system.');
	END IF;
	RETURN (pgapp.recovery_mail(u)).html;
END
$$;
COMMENT ON FUNCTION api.password_recovery_html_content(text) IS 'the HTML of a recovery mail (superusers)';

CREATE FUNCTION api.reset_password(token text, new_password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rt pgapp.reset_tokens;
	active boolean;
BEGIN
	-- validate first: a 422 does not spend the token
	PERFORM pgapp.check_password(new_password, ARRAY['body', 'new_password']);
	SELECT * INTO rt FROM pgapp.reset_tokens t
	 WHERE t.token_hash = pgapp.token_hash(token) FOR UPDATE;
	IF NOT FOUND OR rt.used_at IS NOT NULL OR rt.expires_at <= now() THEN
		PERFORM pgapp.raise(400, 'Invalid token');
	END IF;
	SELECT u.is_active INTO active FROM pgapp.users u WHERE u.id = rt.user_id;
	IF NOT active THEN
		PERFORM pgapp.raise(400, 'Inactive user');
	END IF;
	UPDATE pgapp.reset_tokens SET used_at = now() WHERE token_hash = rt.token_hash;
	PERFORM pgapp.set_password(rt.user_id, new_password);
	PERFORM pgapp.revoke_sessions(rt.user_id);
	RETURN jsonb_build_object('message', 'Password updated successfully');
END
$$;
COMMENT ON FUNCTION api.reset_password(text, text) IS 'set a new password with a single-use reset token; revokes all the user''s sessions';

-- ---------- users ----------

CREATE FUNCTION pgapp.user_insert(email text, password text, full_name text,
	is_active boolean, is_superuser boolean, duplicate_message text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
BEGIN
	PERFORM pgapp.check_email(email, ARRAY['body', 'email']);
	PERFORM pgapp.check_password(password, ARRAY['body', 'password']);
	PERFORM pgapp.check_full_name(full_name, ARRAY['body', 'full_name']);
	BEGIN
		INSERT INTO pgapp.users (email, full_name, is_active, is_superuser)
		VALUES (email, full_name, coalesce(is_active, true), coalesce(is_superuser, false))
		RETURNING * INTO u;
	EXCEPTION WHEN unique_violation THEN
		PERFORM pgapp.raise(400, duplicate_message);
	END;
	PERFORM pgapp.set_password(u.id, password);
	RETURN pgapp.user_public(u);
END
$$;
COMMENT ON FUNCTION pgapp.user_insert(text, text, text, boolean, boolean, text) IS 'validate and create a user';

CREATE FUNCTION api.signup(email text, password text, full_name text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pgapp.user_insert(email, password, full_name, true, false,
		'The user with this email already exists in the system')
$$;
COMMENT ON FUNCTION api.signup(text, text, text) IS 'register a new (non-superuser) account';

CREATE FUNCTION api.user_create(email text, password text, full_name text DEFAULT NULL,
	is_active boolean DEFAULT true, is_superuser boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pgapp.require_superuser();
	RETURN pgapp.user_insert(email, password, full_name, is_active, is_superuser,
		'The user with this email already exists in the system.');
END
$$;
COMMENT ON FUNCTION api.user_create(text, text, text, boolean, boolean) IS 'create a user (superusers)';

CREATE FUNCTION api.users_list(skip int DEFAULT 0, "limit" int DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result jsonb;
BEGIN
	PERFORM pgapp.require_superuser();
	PERFORM pgapp.check_page(skip, "limit");
	SELECT jsonb_build_object(
		'data', coalesce((SELECT jsonb_agg(pgapp.user_public(u) ORDER BY u.created_at DESC, u.id DESC)
			FROM (SELECT * FROM pgapp.users ORDER BY created_at DESC, id DESC
				  OFFSET skip LIMIT "limit") u), '[]'),
		'count', (SELECT count(*) FROM pgapp.users))
	INTO result;
	RETURN result;
END
$$;
COMMENT ON FUNCTION api.users_list(int, int) IS 'all users, newest first (superusers)';

CREATE FUNCTION api.me() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
BEGIN
	SELECT * INTO u FROM pgapp.users WHERE id = pgapp.require_user();
	IF NOT FOUND THEN
		PERFORM pgapp.raise(401, 'Could not validate credentials');
	END IF;
	RETURN pgapp.user_public(u);
END
$$;
COMMENT ON FUNCTION api.me() IS 'the current user (GET /users/me)';

CREATE FUNCTION pgapp.user_patch(uid uuid, patch jsonb, with_admin_fields boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
	email record := pgapp.patch_text(patch, 'email', true);
	full_name record := pgapp.patch_text(patch, 'full_name', true);
	-- the admin fields read as absent unless the caller may set them
	password record := pgapp.patch_text('{}', 'password', true);
	active record := pgapp.patch_bool('{}', 'is_active');
	superuser record := pgapp.patch_bool('{}', 'is_superuser');
BEGIN
	IF email.present THEN
		IF email.value IS NULL THEN
			-- an explicit null email means "unchanged" in the template
			email.present := false;
		ELSE
			PERFORM pgapp.check_email(email.value, ARRAY['body', 'email']);
		END IF;
	END IF;
	IF full_name.present THEN
		PERFORM pgapp.check_full_name(full_name.value, ARRAY['body', 'full_name']);
	END IF;
	IF with_admin_fields THEN
		password := pgapp.patch_text(patch, 'password', true);
		active := pgapp.patch_bool(patch, 'is_active');
		superuser := pgapp.patch_bool(patch, 'is_superuser');
		IF password.present AND password.value IS NOT NULL THEN
			PERFORM pgapp.check_password(password.value, ARRAY['body', 'password']);
		END IF;
	END IF;

	BEGIN
		UPDATE pgapp.users SET
			email = CASE WHEN email.present THEN email.value ELSE users.email END,
			full_name = CASE WHEN full_name.present THEN full_name.value ELSE users.full_name END,
			is_active = CASE WHEN with_admin_fields AND active.present THEN active.value ELSE users.is_active END,
			is_superuser = CASE WHEN with_admin_fields AND superuser.present THEN superuser.value ELSE users.is_superuser END
		 WHERE id = uid
		RETURNING * INTO u;
	EXCEPTION WHEN unique_violation THEN
		PERFORM pgapp.raise(409, 'User with this email already exists');
	END;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF with_admin_fields AND password.present AND password.value IS NOT NULL THEN
		PERFORM pgapp.set_password(uid, password.value);
		PERFORM pgapp.revoke_sessions(uid);
	END IF;
	RETURN pgapp.user_public(u);
END
$$;
COMMENT ON FUNCTION pgapp.user_patch(uuid, jsonb, boolean) IS 'apply a partial update to a user (NULL when not found)';

CREATE FUNCTION api.update_me(patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_user();
BEGIN
	PERFORM pgapp.check_patch(patch);
	RETURN pgapp.user_patch(uid, patch, false);
END
$$;
COMMENT ON FUNCTION api.update_me(jsonb) IS 'update the current user: {full_name?, email?}';

CREATE FUNCTION api.update_password_me(current_password text, new_password text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_user();
BEGIN
	PERFORM pgapp.check_password(current_password, ARRAY['body', 'current_password']);
	PERFORM pgapp.check_password(new_password, ARRAY['body', 'new_password']);
	IF NOT coalesce(pgapp.password_matches(uid, current_password), false) THEN
		PERFORM pgapp.raise(400, 'Incorrect password');
	END IF;
	IF current_password = new_password THEN
		PERFORM pgapp.raise(400, 'New password cannot be the same as the current one');
	END IF;
	PERFORM pgapp.set_password(uid, new_password);
	PERFORM pgapp.revoke_sessions(uid, keep => pgapp.current_session_id());
	RETURN jsonb_build_object('message', 'Password updated successfully');
END
$$;
COMMENT ON FUNCTION api.update_password_me(text, text) IS 'change the current user''s password; the user''s other sessions are revoked';

CREATE FUNCTION api.delete_me() RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_user();
BEGIN
	IF pgapp.current_user_is_superuser() THEN
		PERFORM pgapp.raise(403, 'Super users are not allowed to delete themselves');
	END IF;
	DELETE FROM pgapp.users WHERE id = uid;
	RETURN jsonb_build_object('message', 'User deleted successfully');
END
$$;
COMMENT ON FUNCTION api.delete_me() IS 'delete the current user and their items (not for superusers)';

CREATE FUNCTION api.user_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_user();
	u pgapp.users;
BEGIN
	IF id IS DISTINCT FROM uid AND NOT pgapp.current_user_is_superuser() THEN
		PERFORM pgapp.raise(403, 'The user doesn''t have enough privileges');
	END IF;
	SELECT * INTO u FROM pgapp.users WHERE users.id = user_get.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'User not found');
	END IF;
	RETURN pgapp.user_public(u);
END
$$;
COMMENT ON FUNCTION api.user_get(uuid) IS 'a user by id (themselves, or any for superusers)';

CREATE FUNCTION api.user_update(id uuid, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result jsonb;
BEGIN
	PERFORM pgapp.require_superuser();
	PERFORM pgapp.check_patch(patch);
	result := pgapp.user_patch(id, patch, true);
	IF result IS NULL THEN
		PERFORM pgapp.raise(404, 'The user with this id does not exist in the system');
	END IF;
	RETURN result;
END
$$;
COMMENT ON FUNCTION api.user_update(uuid, jsonb) IS 'update a user (superusers): {email?, password?, full_name?, is_active?, is_superuser?}';

CREATE FUNCTION api.user_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.require_superuser();
BEGIN
	IF id = uid THEN
		PERFORM pgapp.raise(403, 'Super users are not allowed to delete themselves');
	END IF;
	DELETE FROM pgapp.users WHERE users.id = user_delete.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'User not found');
	END IF;
	RETURN jsonb_build_object('message', 'User deleted successfully');
END
$$;
COMMENT ON FUNCTION api.user_delete(uuid) IS 'delete a user and their items (superusers)';

-- ---------- import (1.1) ----------

CREATE FUNCTION pgapp.user_import(email text, password_hash text, full_name text DEFAULT NULL,
	is_active boolean DEFAULT true, is_superuser boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
BEGIN
	IF password_hash IS NULL
		OR password_hash !~ '^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$' THEN
		RAISE EXCEPTION 'password hash is not a bcrypt hash'
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'Accepted: $2a$, $2b$ or $2y$, a two-digit cost from 04 to 31, then 53 characters of salt and hash.',
			HINT = 'Other schemes cannot be imported: let the user reset the password.';
	END IF;
	PERFORM pgapp.check_email(email, ARRAY['email']);
	PERFORM pgapp.check_full_name(full_name, ARRAY['full_name']);
	BEGIN
		INSERT INTO pgapp.users (email, full_name, is_active, is_superuser)
		VALUES (email, full_name, coalesce(is_active, true), coalesce(is_superuser, false))
		RETURNING * INTO u;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'a user with email "%" already exists', email
			USING ERRCODE = 'unique_violation';
	END;
	-- pgcrypto reads only $2a$ (SPEC §8); $2b$ and $2y$ are the same
	-- algorithm for these hashes, so convert instead of passing through
	INSERT INTO pgapp.passwords (user_id, hash, scheme)
	VALUES (u.id, '$2a$' || substr(password_hash, 5), 'bcrypt');
	RETURN pgapp.user_public(u);
END
$$;
COMMENT ON FUNCTION pgapp.user_import(text, text, text, boolean, boolean) IS
'create a user with a bcrypt hash from another system ($2a$/$2b$/$2y$, converted to $2a$); the first login replaces it (DBAs)';
-- Items: the template's example resource (SPEC §5, §6).
--
-- Every row belongs to a user; row-level security (forced, so that the
-- SECURITY DEFINER functions below, owned by pgapp_owner, obey it too)
-- lets a user see and change only their own items and a superuser all of
-- them.  The api.item* functions add FastAPI's validation and error
-- bodies on top; a pgapp_caller role may also use the table directly, with
-- the same visibility.

CREATE TABLE pgapp.items (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	title text NOT NULL CHECK (pg_catalog.char_length(title) BETWEEN 1 AND 255),
	description text CHECK (pg_catalog.char_length(description) <= 255),
	owner_id uuid NOT NULL REFERENCES pgapp.users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgapp.items IS 'items: title 1..255, description <= 255 or null, owned by a user (row-level security)';
COMMENT ON COLUMN pgapp.items.owner_id IS 'the owning user; the items go with the user';

-- The owner's listing, newest first, and the superuser's listing of all.
CREATE INDEX items_owner_created_idx ON pgapp.items (owner_id, created_at DESC, id DESC);
CREATE INDEX items_created_idx ON pgapp.items (created_at DESC, id DESC);

ALTER TABLE pgapp.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.items FORCE ROW LEVEL SECURITY;

-- The identity functions are wrapped in scalar subqueries so that they
-- run once per statement (an init plan), not once per row.
CREATE POLICY items_select ON pgapp.items FOR SELECT
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
CREATE POLICY items_insert ON pgapp.items FOR INSERT
	WITH CHECK (owner_id = (SELECT api.current_user_id()));
CREATE POLICY items_update ON pgapp.items FOR UPDATE
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()))
	WITH CHECK (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
CREATE POLICY items_delete ON pgapp.items FOR DELETE
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
COMMENT ON POLICY items_select ON pgapp.items IS 'a user sees their own items, a superuser all';
COMMENT ON POLICY items_insert ON pgapp.items IS 'everyone, superusers included, creates items for themselves only';
COMMENT ON POLICY items_update ON pgapp.items IS 'a user changes their own items, a superuser any; nobody gives an item away';
COMMENT ON POLICY items_delete ON pgapp.items IS 'a user deletes their own items, a superuser any';

SELECT pg_catalog.pg_extension_config_dump('pgapp.items', '');

-- ItemPublic.  Plain SQL without SET so that the planner inlines it into
-- the listing; every name in it is schema-qualified instead.
CREATE FUNCTION pgapp.item_public(i pgapp.items) RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', i.id,
		'title', i.title,
		'description', i.description,
		'owner_id', i.owner_id,
		'created_at', i.created_at)
$$;
COMMENT ON FUNCTION pgapp.item_public(pgapp.items) IS 'an item as the ItemPublic JSON object';

-- One element of FastAPI's 422 list; ctx only when given, as pydantic does.
CREATE FUNCTION pgapp.item_error(loc text[], type text, msg text, input jsonb, ctx jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('type', type, 'loc', to_jsonb(loc), 'msg', msg,
		'input', coalesce(input, 'null'::jsonb))
		|| CASE WHEN ctx IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('ctx', ctx) END
$$;
COMMENT ON FUNCTION pgapp.item_error(text[], text, text, jsonb, jsonb) IS 'one validation error in FastAPI''s shape {type, loc, msg, input[, ctx]}';

-- Raise a 422 with a list of errors (DETAIL, as pgapp.raise_invalid does).
CREATE FUNCTION pgapp.item_raise_invalid(errors jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'PA422',
		MESSAGE = format('invalid value for %s: %s',
			(SELECT string_agg(l, '.') FROM jsonb_array_elements_text(errors->0->'loc') l),
			errors->0->>'msg'),
		DETAIL = errors::text;
END
$$;
COMMENT ON FUNCTION pgapp.item_raise_invalid(jsonb) IS 'raise a validation error (422) carrying a list of errors';

-- Validate an ItemCreate (partial = false) or ItemUpdate (partial = true)
-- body; returns the list of errors, empty when valid.  Unknown keys are
-- ignored, as FastAPI does.  title is never null (the template would fail
-- with a 500 on a null title in an update); description may be.
CREATE FUNCTION pgapp.item_validate(body jsonb, partial boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	errors jsonb := '[]';
	field text;
	min_length int;
	nullable boolean;
	value jsonb;
	len int;
BEGIN
	FOR field, min_length, nullable IN
		SELECT * FROM (VALUES ('title', 1, false), ('description', 0, true)) AS f
	LOOP
		IF NOT body ? field THEN
			IF NOT partial AND NOT nullable THEN
				errors := errors || pgapp.item_error(ARRAY['body', field], 'missing',
					'Field required', body);
			END IF;
			CONTINUE;
		END IF;
		value := body->field;
		IF jsonb_typeof(value) = 'null' AND nullable THEN
			CONTINUE;
		END IF;
		IF jsonb_typeof(value) <> 'string' THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_type',
				'Input should be a valid string', value);
			CONTINUE;
		END IF;
		len := char_length(value #>> '{}');
		IF len < min_length THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_too_short',
				format('String should have at least %s character%s', min_length,
					CASE WHEN min_length = 1 THEN '' ELSE 's' END),
				value, jsonb_build_object('min_length', min_length));
		ELSIF len > 255 THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_too_long',
				'String should have at most 255 characters',
				value, jsonb_build_object('max_length', 255));
		END IF;
	END LOOP;
	RETURN errors;
END
$$;
COMMENT ON FUNCTION pgapp.item_validate(jsonb, boolean) IS 'FastAPI''s validation of an ItemCreate (or, partial, ItemUpdate) body: the list of errors';

-- The caller's identity, or 401 for a psql caller who did not authenticate.
CREATE FUNCTION pgapp.item_caller() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := api.current_user_id();
BEGIN
	IF uid IS NULL THEN
		PERFORM pgapp.raise(401, 'Not authenticated');
	END IF;
	RETURN uid;
END
$$;
COMMENT ON FUNCTION pgapp.item_caller() IS 'the authenticated user''s id, else 401 "Not authenticated"';

CREATE FUNCTION api.items_list(skip int DEFAULT 0, "limit" int DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	n_skip int := coalesce(items_list.skip, 0);
	n_limit int := coalesce(items_list."limit", 100);
	errors jsonb := '[]';
	page jsonb;
	total bigint;
BEGIN
	IF n_skip < 0 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'skip'], 'greater_than_equal',
			'Input should be greater than or equal to 0', to_jsonb(n_skip::text),
			'{"ge": 0}');
	END IF;
	IF n_limit < 1 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'limit'], 'greater_than_equal',
			'Input should be greater than or equal to 1', to_jsonb(n_limit::text),
			'{"ge": 1}');
	ELSIF n_limit > 1000 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'limit'], 'less_than_equal',
			'Input should be less than or equal to 1000', to_jsonb(n_limit::text),
			'{"le": 1000}');
	END IF;
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;

	-- Two static queries rather than "superuser OR owner_id = uid", so that
	-- each gets its own index (row-level security filters both anyway).
	IF pgapp.current_user_is_superuser() THEN
		SELECT coalesce(jsonb_agg(pgapp.item_public(i) ORDER BY i.created_at DESC, i.id DESC), '[]')
		  INTO page
		  FROM (SELECT * FROM pgapp.items
				 ORDER BY created_at DESC, id DESC
				OFFSET n_skip LIMIT n_limit) i;
		SELECT count(*) INTO total FROM pgapp.items;
	ELSE
		SELECT coalesce(jsonb_agg(pgapp.item_public(i) ORDER BY i.created_at DESC, i.id DESC), '[]')
		  INTO page
		  FROM (SELECT * FROM pgapp.items
				 WHERE owner_id = uid
				 ORDER BY created_at DESC, id DESC
				OFFSET n_skip LIMIT n_limit) i;
		SELECT count(*) INTO total FROM pgapp.items WHERE owner_id = uid;
	END IF;
	RETURN jsonb_build_object('data', page, 'count', total);
END
$$;
COMMENT ON FUNCTION api.items_list(int, int) IS 'GET /items/: the caller''s items (all for a superuser), newest first: {"data": [ItemPublic], "count"}; skip >= 0, limit 1..1000 (NULL = default)';

CREATE FUNCTION api.item_create(title text, description text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	errors jsonb;
	item pgapp.items;
BEGIN
	errors := pgapp.item_validate(jsonb_build_object(
		'title', item_create.title, 'description', item_create.description), false);
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;
	INSERT INTO pgapp.items (title, description, owner_id)
	VALUES (item_create.title, item_create.description, uid)
	RETURNING * INTO item;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_create(text, text) IS 'POST /items/: create an item owned by the caller; returns ItemPublic';

CREATE FUNCTION api.item_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	item pgapp.items;
BEGIN
	SELECT * INTO item FROM pgapp.items i WHERE i.id = item_get.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_get(uuid) IS 'GET /items/{id}: an item of the caller (any for a superuser), else 404 "Item not found"';

CREATE FUNCTION api.item_update(id uuid, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	errors jsonb;
	item pgapp.items;
BEGIN
	IF patch IS NULL OR jsonb_typeof(patch) = 'null' THEN
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(
			ARRAY['body'], 'missing', 'Field required', 'null')));
	END IF;
	IF jsonb_typeof(patch) <> 'object' THEN
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(
			ARRAY['body'], 'model_attributes_type',
			'Input should be a valid dictionary or object to extract fields from', patch)));
	END IF;
	errors := pgapp.item_validate(patch, true);
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;
	UPDATE pgapp.items i
	   SET title = CASE WHEN patch ? 'title' THEN patch->>'title' ELSE i.title END,
	       description = CASE WHEN patch ? 'description' THEN patch->>'description' ELSE i.description END
	 WHERE i.id = item_update.id
	RETURNING * INTO item;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_update(uuid, jsonb) IS 'PUT /items/{id}: partial update from an ItemUpdate patch {title?, description?}; returns ItemPublic';

CREATE FUNCTION api.item_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
BEGIN
	DELETE FROM pgapp.items i WHERE i.id = item_delete.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN '{"message": "Item deleted successfully"}'::jsonb;
END
$$;
COMMENT ON FUNCTION api.item_delete(uuid) IS 'DELETE /items/{id}: delete an item of the caller (any for a superuser); returns Message';

-- Privileges: the helpers stay private (the api.* functions run them as
-- their owner); the gateway and psql callers get the five operations, and
-- psql callers the table itself, under row-level security.  A caller may
-- not choose an item's id or creation time, nor move it to another owner.
REVOKE ALL ON FUNCTION pgapp.item_public(pgapp.items), pgapp.item_error(text[], text, text, jsonb, jsonb),
	pgapp.item_raise_invalid(jsonb), pgapp.item_validate(jsonb, boolean), pgapp.item_caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION api.items_list(int, int), api.item_create(text, text), api.item_get(uuid),
	api.item_update(uuid, jsonb), api.item_delete(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.items_list(int, int), api.item_create(text, text), api.item_get(uuid),
	api.item_update(uuid, jsonb), api.item_delete(uuid) TO pgapp_gateway, pgapp_caller;
REVOKE ALL ON TABLE pgapp.items FROM PUBLIC;
GRANT SELECT, DELETE ON TABLE pgapp.items TO pgapp_caller;
GRANT INSERT (title, description, owner_id), UPDATE (title, description) ON TABLE pgapp.items TO pgapp_caller;
-- The route catalog (SPEC §1 invariant 2).  The gateway loads it through
-- api.route_list() and reloads it on NOTIFY pgapp_routes.
CREATE TABLE api.routes (
	id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	method text NOT NULL CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
	path text NOT NULL CHECK (path ~ '^(/[A-Za-z0-9._~@:-]+|/\{[a-z_][a-z0-9_]*\})+$'),
	handler regprocedure NOT NULL,
	auth text NOT NULL DEFAULT 'user' CHECK (auth IN ('none', 'user', 'superuser')),
	params jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(params) = 'array'),
	operation_id text,
	summary text,
	tags text[] NOT NULL DEFAULT '{}',
	request_schema text,
	response_schema text,
	builtin boolean NOT NULL DEFAULT false,
	UNIQUE (method, path)
);
COMMENT ON TABLE api.routes IS 'HTTP route catalog: method + path pattern -> handler function, auth, argument sources';
COMMENT ON COLUMN api.routes.path IS 'pattern such as /api/v1/items/{id}, without a trailing slash';
COMMENT ON COLUMN api.routes.auth IS 'none, user (an active user) or superuser';
COMMENT ON COLUMN api.routes.params IS 'one {"name","in"} per handler argument, in order; in = path, query, body, json, form, client, authorization';
COMMENT ON COLUMN api.routes.builtin IS 'installed by the extension (not dumped); rows added by a DBA are dumped';

CREATE FUNCTION pgapp.routes_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nargs int;
	p jsonb;
BEGIN
	SELECT pronargs INTO nargs FROM pg_proc WHERE oid = NEW.handler::oid;
	IF nargs <> jsonb_array_length(NEW.params) THEN
		RAISE EXCEPTION 'route % %: handler % takes % arguments, params describes %',
			NEW.method, NEW.path, NEW.handler, nargs, jsonb_array_length(NEW.params)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR p IN SELECT * FROM jsonb_array_elements(NEW.params) LOOP
		IF jsonb_typeof(p) <> 'object' OR NOT (p ? 'name') OR NOT (p ? 'in')
			OR p->>'in' NOT IN ('path', 'query', 'body', 'json', 'form', 'client', 'authorization') THEN
			RAISE EXCEPTION 'route % %: invalid parameter description %', NEW.method, NEW.path, p
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF p->>'in' = 'path' AND position('{' || (p->>'name') || '}' IN NEW.path) = 0 THEN
			RAISE EXCEPTION 'route % %: path parameter "%" is not in the path', NEW.method, NEW.path, p->>'name'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgapp.routes_check() IS 'trigger: a route''s params must describe its handler''s arguments';

CREATE TRIGGER routes_check BEFORE INSERT OR UPDATE ON api.routes
	FOR EACH ROW EXECUTE FUNCTION pgapp.routes_check();

CREATE FUNCTION pgapp.routes_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_notify('pgapp_routes', '');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgapp.routes_notify() IS 'trigger: tell every gateway to reload the route catalog';

CREATE TRIGGER routes_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api.routes
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.routes_notify();

CREATE FUNCTION api.route_list(OUT id int, OUT method text, OUT path text)
RETURNS SETOF record
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.id, r.method, r.path FROM api.routes r ORDER BY r.id
$$;
COMMENT ON FUNCTION api.route_list() IS 'the route catalog as the gateway loads it';

-- Routes a DBA adds are user data: dump them (built-in ones come back
-- with CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('api.routes', 'WHERE NOT builtin');

-- Row changes send no relcache invalidation by themselves; the
-- dispatcher's route cache listens for one.
CREATE TRIGGER routes_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api.routes
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.relcache_invalidate();
-- The built-in routes for login, users and utils (SPEC §5).  Items:
-- 62_routes_items.sql; the OpenAPI document: 70_openapi.sql.
INSERT INTO api.routes (method, path, handler, auth, params, operation_id, summary, tags,
	request_schema, response_schema, builtin) VALUES
('POST', '/api/v1/login/access-token', 'pgapp.login_http(text, text, text, text)', 'none',
 '[{"name": "username", "in": "form"}, {"name": "password", "in": "form"},
   {"name": "grant_type", "in": "form", "default": null}, {"name": "client", "in": "client"}]',
 'login-login_access_token', 'Login Access Token', '{login}', 'Body_login-login_access_token', 'Token', true),
('POST', '/api/v1/login/refresh-token', 'api.refresh_token(text, text)', 'none',
 '[{"name": "refresh_token", "in": "form"}, {"name": "grant_type", "in": "form", "default": "refresh_token"}]',
 'login-refresh_token', 'Refresh Token', '{login}', 'Body_login-refresh_token', 'Token', true),
('POST', '/api/v1/logout', 'api.logout()', 'user', '[]',
 'login-logout', 'Logout', '{login}', NULL, 'Message', true),
('POST', '/api/v1/login/test-token', 'api.test_token()', 'user', '[]',
 'login-test_token', 'Test Token', '{login}', NULL, 'UserPublic', true),
('POST', '/api/v1/password-recovery/{email}', 'api.password_recovery(text)', 'none',
 '[{"name": "email", "in": "path"}]',
 'login-recover_password', 'Recover Password', '{login}', NULL, 'Message', true),
('POST', '/api/v1/reset-password', 'api.reset_password(text, text)', 'none',
 '[{"name": "token", "in": "body"}, {"name": "new_password", "in": "body"}]',
 'login-reset_password', 'Reset Password', '{login}', 'NewPassword', 'Message', true),
('POST', '/api/v1/password-recovery-html-content/{email}', 'api.password_recovery_html_content(text)', 'superuser',
 '[{"name": "email", "in": "path"}]',
 'login-recover_password_html_content', 'Recover Password Html Content', '{login}', NULL, 'text/html', true),
('GET', '/api/v1/users', 'api.users_list(int, int)', 'superuser',
 '[{"name": "skip", "in": "query", "default": "0"}, {"name": "limit", "in": "query", "default": "100"}]',
 'users-read_users', 'Read Users', '{users}', NULL, 'UsersPublic', true),
('POST', '/api/v1/users', 'api.user_create(text, text, text, boolean, boolean)', 'superuser',
 '[{"name": "email", "in": "body"}, {"name": "password", "in": "body"},
   {"name": "full_name", "in": "body", "default": null},
   {"name": "is_active", "in": "body", "default": "true"},
   {"name": "is_superuser", "in": "body", "default": "false"}]',
 'users-create_user', 'Create User', '{users}', 'UserCreate', 'UserPublic', true),
('GET', '/api/v1/users/me', 'api.me()', 'user', '[]',
 'users-read_user_me', 'Read User Me', '{users}', NULL, 'UserPublic', true),
('PATCH', '/api/v1/users/me', 'api.update_me(jsonb)', 'user',
 '[{"name": "patch", "in": "json"}]',
 'users-update_user_me', 'Update User Me', '{users}', 'UserUpdateMe', 'UserPublic', true),
('PATCH', '/api/v1/users/me/password', 'api.update_password_me(text, text)', 'user',
 '[{"name": "current_password", "in": "body"}, {"name": "new_password", "in": "body"}]',
 'users-update_password_me', 'Update Password Me', '{users}', 'UpdatePassword', 'Message', true),
('DELETE', '/api/v1/users/me', 'api.delete_me()', 'user', '[]',
 'users-delete_user_me', 'Delete User Me', '{users}', NULL, 'Message', true),
('POST', '/api/v1/users/signup', 'api.signup(text, text, text)', 'none',
 '[{"name": "email", "in": "body"}, {"name": "password", "in": "body"},
   {"name": "full_name", "in": "body", "default": null}]',
 'users-register_user', 'Register User', '{users}', 'UserRegister', 'UserPublic', true),
('GET', '/api/v1/users/{user_id}', 'api.user_get(uuid)', 'user',
 '[{"name": "user_id", "in": "path"}]',
 'users-read_user_by_id', 'Read User By Id', '{users}', NULL, 'UserPublic', true),
('PATCH', '/api/v1/users/{user_id}', 'api.user_update(uuid, jsonb)', 'superuser',
 '[{"name": "user_id", "in": "path"}, {"name": "patch", "in": "json"}]',
 'users-update_user', 'Update User', '{users}', 'UserUpdate', 'UserPublic', true),
('DELETE', '/api/v1/users/{user_id}', 'api.user_delete(uuid)', 'superuser',
 '[{"name": "user_id", "in": "path"}]',
 'users-delete_user', 'Delete User', '{users}', NULL, 'Message', true),
('GET', '/api/v1/utils/health-check', 'api.health_check()', 'none', '[]',
 'utils-health_check', 'Health Check', '{utils}', NULL, 'boolean', true);
-- HTTP routes of the items resource (SPEC §5).  Path parameters carry the
-- template's name (item_id) so that 422 locs read ["path","item_id"]; the
-- SQL functions keep their own argument names.
INSERT INTO api.routes (method, path, handler, auth, params, operation_id, summary, tags,
		request_schema, response_schema, builtin)
VALUES
	('GET', '/api/v1/items', 'api.items_list(int, int)', 'user',
	 '[{"name": "skip", "in": "query", "default": "0"},
	   {"name": "limit", "in": "query", "default": "100"}]',
	 'items-read_items', 'Read Items', '{items}', NULL, 'ItemsPublic', true),
	('POST', '/api/v1/items', 'api.item_create(text, text)', 'user',
	 '[{"name": "title", "in": "body"},
	   {"name": "description", "in": "body", "default": null}]',
	 'items-create_item', 'Create Item', '{items}', 'ItemCreate', 'ItemPublic', true),
	('GET', '/api/v1/items/{item_id}', 'api.item_get(uuid)', 'user',
	 '[{"name": "item_id", "in": "path"}]',
	 'items-read_item', 'Read Item', '{items}', NULL, 'ItemPublic', true),
	-- The whole body is the patch; an absent body reaches the handler as
	-- NULL, which answers FastAPI's 422 "missing" at ["body"].
	('PUT', '/api/v1/items/{item_id}', 'api.item_update(uuid, jsonb)', 'user',
	 '[{"name": "item_id", "in": "path"},
	   {"name": "patch", "in": "json", "default": null}]',
	 'items-update_item', 'Update Item', '{items}', 'ItemUpdate', 'ItemPublic', true),
	('DELETE', '/api/v1/items/{item_id}', 'api.item_delete(uuid)', 'user',
	 '[{"name": "item_id", "in": "path"}]',
	 'items-delete_item', 'Delete Item', '{items}', NULL, 'Message', true);
-- The OpenAPI document (SPEC §5 GET /openapi.json), generated from the
-- route catalog so that a route a DBA adds is documented too.  The
-- component schemas are the full-stack FastAPI template's, written by hand
-- (their names are what its generated client imports).

CREATE FUNCTION pgapp.openapi_schemas() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT $json$
{
  "Body_login-login_access_token": {
    "properties": {
      "grant_type": {"anyOf": [{"type": "string", "pattern": "^password$"}, {"type": "null"}], "title": "Grant Type"},
      "username": {"type": "string", "title": "Username"},
      "password": {"type": "string", "format": "password", "title": "Password"},
      "scope": {"type": "string", "title": "Scope", "default": ""},
      "client_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Client Id"},
      "client_secret": {"anyOf": [{"type": "string"}, {"type": "null"}], "format": "password", "title": "Client Secret"}
    },
    "type": "object",
    "required": ["username", "password"],
    "title": "Body_login-login_access_token"
  },
  "HTTPValidationError": {
    "properties": {
      "detail": {"items": {"$ref": "#/components/schemas/ValidationError"}, "type": "array", "title": "Detail"}
    },
    "type": "object",
    "title": "HTTPValidationError"
  },
  "ValidationError": {
    "properties": {
      "loc": {"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "type": "array", "title": "Location"},
      "msg": {"type": "string", "title": "Message"},
      "type": {"type": "string", "title": "Error Type"},
      "input": {"title": "Input"},
      "ctx": {"type": "object", "title": "Context"}
    },
    "type": "object",
    "required": ["loc", "msg", "type"],
    "title": "ValidationError"
  },
  "ItemCreate": {
    "properties": {
      "title": {"type": "string", "maxLength": 255, "minLength": 1, "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"}
    },
    "type": "object",
    "required": ["title"],
    "title": "ItemCreate"
  },
  "ItemPublic": {
    "properties": {
      "title": {"type": "string", "maxLength": 255, "minLength": 1, "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"},
      "id": {"type": "string", "format": "uuid", "title": "Id"},
      "owner_id": {"type": "string", "format": "uuid", "title": "Owner Id"},
      "created_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Created At"}
    },
    "type": "object",
    "required": ["title", "id", "owner_id"],
    "title": "ItemPublic"
  },
  "ItemUpdate": {
    "properties": {
      "title": {"anyOf": [{"type": "string", "maxLength": 255, "minLength": 1}, {"type": "null"}], "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"}
    },
    "type": "object",
    "title": "ItemUpdate"
  },
  "ItemsPublic": {
    "properties": {
      "data": {"items": {"$ref": "#/components/schemas/ItemPublic"}, "type": "array", "title": "Data"},
      "count": {"type": "integer", "title": "Count"}
    },
    "type": "object",
    "required": ["data", "count"],
    "title": "ItemsPublic"
  },
  "Message": {
    "properties": {
      "message": {"type": "string", "title": "Message"}
    },
    "type": "object",
    "required": ["message"],
    "title": "Message"
  },
  "NewPassword": {
    "properties": {
      "token": {"type": "string", "title": "Token"},
      "new_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "New Password"}
    },
    "type": "object",
    "required": ["token", "new_password"],
    "title": "NewPassword"
  },
  "Token": {
    "properties": {
      "access_token": {"type": "string", "title": "Access Token"},
      "token_type": {"type": "string", "title": "Token Type", "default": "bearer"},
      "expires_in": {"type": "integer", "title": "Expires In"},
      "refresh_token": {"type": "string", "title": "Refresh Token"}
    },
    "type": "object",
    "required": ["access_token"],
    "title": "Token"
  },
  "UpdatePassword": {
    "properties": {
      "current_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Current Password"},
      "new_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "New Password"}
    },
    "type": "object",
    "required": ["current_password", "new_password"],
    "title": "UpdatePassword"
  },
  "UserCreate": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "is_active": {"type": "boolean", "title": "Is Active", "default": true},
      "is_superuser": {"type": "boolean", "title": "Is Superuser", "default": false},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Password"}
    },
    "type": "object",
    "required": ["email", "password"],
    "title": "UserCreate"
  },
  "UserPublic": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "is_active": {"type": "boolean", "title": "Is Active", "default": true},
      "is_superuser": {"type": "boolean", "title": "Is Superuser", "default": false},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "id": {"type": "string", "format": "uuid", "title": "Id"},
      "created_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Created At"}
    },
    "type": "object",
    "required": ["email", "id"],
    "title": "UserPublic"
  },
  "UserRegister": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Password"},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"}
    },
    "type": "object",
    "required": ["email", "password"],
    "title": "UserRegister"
  },
  "UserUpdate": {
    "properties": {
      "email": {"anyOf": [{"type": "string", "maxLength": 255, "format": "email"}, {"type": "null"}], "title": "Email"},
      "is_active": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "title": "Is Active"},
      "is_superuser": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "title": "Is Superuser"},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "password": {"anyOf": [{"type": "string", "maxLength": 128, "minLength": 8}, {"type": "null"}], "title": "Password"}
    },
    "type": "object",
    "title": "UserUpdate"
  },
  "UserUpdateMe": {
    "properties": {
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "email": {"anyOf": [{"type": "string", "maxLength": 255, "format": "email"}, {"type": "null"}], "title": "Email"}
    },
    "type": "object",
    "title": "UserUpdateMe"
  },
  "UsersPublic": {
    "properties": {
      "data": {"items": {"$ref": "#/components/schemas/UserPublic"}, "type": "array", "title": "Data"},
      "count": {"type": "integer", "title": "Count"}
    },
    "type": "object",
    "required": ["data", "count"],
    "title": "UsersPublic"
  }
}
$json$::jsonb
$$;
COMMENT ON FUNCTION pgapp.openapi_schemas() IS 'the OpenAPI component schemas: the full-stack FastAPI template''s models';

-- The JSON schema of a handler argument's type.
CREATE FUNCTION pgapp.openapi_type(t regtype) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE t
		WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
		WHEN 'smallint'::regtype THEN '{"type": "integer"}'
		WHEN 'integer'::regtype THEN '{"type": "integer"}'
		WHEN 'bigint'::regtype THEN '{"type": "integer"}'
		WHEN 'numeric'::regtype THEN '{"type": "number"}'
		WHEN 'real'::regtype THEN '{"type": "number"}'
		WHEN 'double precision'::regtype THEN '{"type": "number"}'
		WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
		WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'timestamp without time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
		WHEN 'jsonb'::regtype THEN '{}'
		WHEN 'json'::regtype THEN '{}'
		ELSE '{"type": "string"}'
	END::jsonb
$$;
COMMENT ON FUNCTION pgapp.openapi_type(regtype) IS 'the JSON schema of a PostgreSQL type, for OpenAPI parameters';

-- A route parameter's default (a JSON string such as "100" in the catalog)
-- as a value of the parameter's JSON type.
CREATE FUNCTION pgapp.openapi_default(schema jsonb, value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN jsonb_typeof(value) <> 'string' THEN value
		WHEN schema->>'type' = 'integer' AND value #>> '{}' ~ '^-?[0-9]{1,18}$'
			THEN to_jsonb((value #>> '{}')::bigint)
		WHEN schema->>'type' = 'number' AND value #>> '{}' ~ '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'
			THEN to_jsonb((value #>> '{}')::numeric)
		WHEN schema->>'type' = 'boolean' AND value #>> '{}' IN ('true', 'false')
			THEN to_jsonb((value #>> '{}')::boolean)
		ELSE value
	END
$$;
COMMENT ON FUNCTION pgapp.openapi_default(jsonb, jsonb) IS 'a route parameter default as a value of the parameter''s JSON type';

-- A schema reference when the catalog names a component, a JSON type for
-- a primitive response (true from the health check), else any value.
CREATE FUNCTION pgapp.openapi_schema_ref(name text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN name IS NULL THEN '{}'::jsonb
		WHEN pgapp.openapi_schemas() ? name
			THEN jsonb_build_object('$ref', '#/components/schemas/' || name)
		WHEN name IN ('boolean', 'string', 'integer', 'number', 'object', 'array')
			THEN jsonb_build_object('type', name)
		ELSE jsonb_build_object('title', name)
	END
$$;
COMMENT ON FUNCTION pgapp.openapi_schema_ref(text) IS 'the schema for a catalog request/response schema name';

CREATE FUNCTION api.openapi() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (
	WITH route AS (
		SELECT r.*, p.proname, p.proargtypes,
			   obj_description(r.handler::oid, 'pg_proc') AS handler_comment
		  FROM api.routes r
		  JOIN pg_proc p ON p.oid = r.handler::oid
	),
	arg AS (
		SELECT r.id AS route_id, a.ord, a.param,
			   a.param->>'name' AS name, a.param->>'in' AS place,
			   pgapp.openapi_type(r.proargtypes[a.ord - 1]::regtype)
				   || jsonb_build_object('title', initcap(replace(a.param->>'name', '_', ' '))) AS schema
		  FROM route r, jsonb_array_elements(r.params) WITH ORDINALITY AS a(param, ord)
	),
	parameter AS (
		SELECT route_id,
			   jsonb_agg(jsonb_build_object(
					'name', name, 'in', place,
					'required', place = 'path' OR NOT param ? 'default',
					'schema', schema || CASE WHEN param ? 'default' AND place <> 'path'
						THEN jsonb_build_object('default', pgapp.openapi_default(schema, param->'default'))
						ELSE '{}' END)
				   ORDER BY ord) AS list
		  FROM arg
		 WHERE place IN ('path', 'query')
		 GROUP BY route_id
	),
	body AS (
		SELECT route_id,
			   bool_or(place = 'form') AS is_form,
			   bool_or(NOT param ? 'default') AS required,
			   jsonb_build_object('type', 'object',
					'properties', coalesce(jsonb_object_agg(name, schema) FILTER (WHERE place IN ('body', 'form')), '{}'),
					'required', coalesce(jsonb_agg(name ORDER BY ord) FILTER (WHERE place IN ('body', 'form') AND NOT param ? 'default'), '[]'))
				   AS inline_schema
		  FROM arg
		 WHERE place IN ('body', 'json', 'form')
		 GROUP BY route_id
	),
	validated AS (
		SELECT DISTINCT route_id FROM arg WHERE place IN ('path', 'query', 'body', 'json', 'form')
	),
	operation AS (
		SELECT r.path, lower(r.method) AS method,
			   (SELECT jsonb_object_agg(k, v) FROM (VALUES
					('tags', CASE WHEN cardinality(r.tags) > 0 THEN to_jsonb(r.tags) END),
					('summary', to_jsonb(coalesce(r.summary, r.handler_comment,
						initcap(replace(r.proname, '_', ' '))))),
					('description', CASE WHEN r.summary IS NOT NULL THEN to_jsonb(r.handler_comment) END),
					('operationId', to_jsonb(coalesce(r.operation_id,
						r.proname || regexp_replace(r.path, '\W', '_', 'g') || '_' || lower(r.method)))),
					('parameters', p.list),
					('requestBody', CASE WHEN b.route_id IS NOT NULL THEN jsonb_build_object(
						'content', jsonb_build_object(
							CASE WHEN b.is_form THEN 'application/x-www-form-urlencoded' ELSE 'application/json' END,
							jsonb_build_object('schema',
								CASE WHEN pgapp.openapi_schemas() ? r.request_schema
									 THEN pgapp.openapi_schema_ref(r.request_schema)
									 ELSE b.inline_schema || jsonb_build_object('title', coalesce(
										r.request_schema, 'Body_' || coalesce(r.operation_id, r.proname))) END)),
						'required', r.request_schema IS NOT NULL OR b.required) END),
					('responses', jsonb_build_object('200', jsonb_build_object(
							'description', 'Successful Response',
							'content', CASE WHEN r.response_schema LIKE '%/%'
								THEN jsonb_build_object(r.response_schema, jsonb_build_object('schema', '{"type": "string"}'::jsonb))
								ELSE jsonb_build_object('application/json', jsonb_build_object(
									'schema', pgapp.openapi_schema_ref(r.response_schema))) END))
						|| CASE WHEN v.route_id IS NOT NULL THEN jsonb_build_object('422', jsonb_build_object(
							'description', 'Validation Error',
							'content', jsonb_build_object('application/json', jsonb_build_object(
								'schema', '{"$ref": "#/components/schemas/HTTPValidationError"}'::jsonb))))
						   ELSE '{}' END),
					('security', CASE WHEN r.auth <> 'none' THEN '[{"OAuth2PasswordBearer": []}]'::jsonb END)
				) AS f(k, v) WHERE v IS NOT NULL) AS op
		  FROM route r
		  LEFT JOIN parameter p ON p.route_id = r.id
		  LEFT JOIN body b ON b.route_id = r.id
		  LEFT JOIN validated v ON v.route_id = r.id
	),
	path_item AS (
		SELECT path, jsonb_object_agg(method, op) AS methods
		  FROM operation
		 GROUP BY path
	)
	SELECT jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object('title', pgapp.setting('PROJECT_NAME'), 'version', api.version()),
		'paths', coalesce((SELECT jsonb_object_agg(path, methods) FROM path_item), '{}'),
		'components', jsonb_build_object(
			'schemas', pgapp.openapi_schemas(),
			'securitySchemes', jsonb_build_object('OAuth2PasswordBearer', jsonb_build_object(
				'type', 'oauth2',
				'flows', jsonb_build_object('password', jsonb_build_object(
					'scopes', '{}'::jsonb,
					'tokenUrl', '/api/v1/login/access-token'))))))
	);
END
$$;
COMMENT ON FUNCTION api.openapi() IS 'GET /openapi.json: the OpenAPI 3.1 document of the route catalog';

INSERT INTO api.routes (method, path, handler, auth, params, operation_id, summary, tags,
		request_schema, response_schema, builtin)
VALUES ('GET', '/api/v1/openapi.json', 'api.openapi()', 'none', '[]',
		'openapi', 'OpenAPI document', '{}', NULL, 'object', true);

REVOKE ALL ON FUNCTION pgapp.openapi_schemas(), pgapp.openapi_type(regtype),
	pgapp.openapi_default(jsonb, jsonb), pgapp.openapi_schema_ref(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api.openapi() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.openapi() TO pgapp_gateway, pgapp_caller;
-- pgapp.setup: apply the environment (SPEC §4) to the database.  Run by
-- scripts/apply-env.sh (make run, make test, the db container at every
-- start) with the KEY=VALUE lines it reads from a file, so no secret is
-- ever part of SQL text.  Idempotent.
CREATE FUNCTION pgapp.setup(env text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	vars jsonb := '{}';
	line text;
	var_name text;
	var_value text;
	gw_user text;
	report text[] := '{}';
	kid text;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'pgapp.setup must be run by a superuser' USING ERRCODE = 'insufficient_privilege';
	END IF;
	FOREACH line IN ARRAY regexp_split_to_array(coalesce(env, ''), E'\n') LOOP
		CONTINUE WHEN line = '' OR line LIKE '#%';
		IF position('=' IN line) = 0 THEN
			RAISE EXCEPTION 'setup: malformed line (expected NAME=VALUE)' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		var_name := split_part(line, '=', 1);
		var_value := substr(line, length(var_name) + 2);
		vars := vars || jsonb_build_object(var_name, var_value);
	END LOOP;

	-- validate everything first: a bad value changes nothing
	IF vars ? 'ENVIRONMENT' AND vars->>'ENVIRONMENT' NOT IN ('local', 'staging', 'production') THEN
		RAISE EXCEPTION 'ENVIRONMENT must be local, staging or production, not "%"', vars->>'ENVIRONMENT'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'ALGORITHM' AND vars->>'ALGORITHM' NOT IN ('HS256', 'HS384', 'HS512') THEN
		RAISE EXCEPTION 'ALGORITHM must be HS256, HS384 or HS512, not "%"', vars->>'ALGORITHM'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'ACCESS_TOKEN_EXPIRE_MINUTES' AND (vars->>'ACCESS_TOKEN_EXPIRE_MINUTES' !~ '^[0-9]{1,6}$'
		OR (vars->>'ACCESS_TOKEN_EXPIRE_MINUTES')::int NOT BETWEEN 1 AND 525600) THEN
		RAISE EXCEPTION 'ACCESS_TOKEN_EXPIRE_MINUTES must be a whole number of minutes between 1 and 525600'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'BCRYPT_COST' AND (vars->>'BCRYPT_COST' !~ '^[0-9]{1,2}$'
		OR (vars->>'BCRYPT_COST')::int NOT BETWEEN 4 AND 16) THEN
		RAISE EXCEPTION 'BCRYPT_COST must be between 4 and 16' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'FRONTEND_HOST' AND vars->>'FRONTEND_HOST' !~ '^https?://[^[:space:]"<>]+$' THEN
		RAISE EXCEPTION 'FRONTEND_HOST must be an http(s) URL' USING ERRCODE = 'invalid_parameter_value';
	END IF;

	INSERT INTO pgapp.settings (name, value)
	SELECT key, v FROM jsonb_each_text(vars) AS e(key, v)
	 WHERE key IN ('ENVIRONMENT', 'ALGORITHM', 'ACCESS_TOKEN_EXPIRE_MINUTES', 'BCRYPT_COST',
				   'FRONTEND_HOST', 'PROJECT_NAME')
	ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET value = EXCLUDED.value;

	IF coalesce(vars->>'SECRET_KEY', '') <> '' THEN
		kid := pgapp.key_apply(vars->>'SECRET_KEY', pgapp.setting('ALGORITHM'));
		report := report || ('signing key ' || kid);
	ELSIF NOT EXISTS (SELECT FROM pgapp.keys WHERE signing) THEN
		RAISE EXCEPTION 'SECRET_KEY must be set' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Set SECRET_KEY (at least 32 bytes) in .env.';
	END IF;

	IF coalesce(vars->>'GATEWAY_DB_PASSWORD', '') <> '' THEN
		gw_user := coalesce(nullif(vars->>'GATEWAY_DB_USER', ''), 'pgapp_gateway_login');
		IF EXISTS (SELECT FROM pg_roles WHERE rolname = gw_user AND (rolsuper OR rolbypassrls)) THEN
			RAISE EXCEPTION 'the gateway role "%" must not be a superuser or have BYPASSRLS', gw_user
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = gw_user) THEN
			EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', gw_user);
		END IF;
		EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', gw_user, vars->>'GATEWAY_DB_PASSWORD');
		EXECUTE format('GRANT pgapp_gateway TO %I', gw_user);
		EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', gw_user, '30s');
		EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', gw_user, '60s');
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length = 0', gw_user);
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length_on_error = 0', gw_user);
		report := report || ('gateway role ' || gw_user);
	END IF;

	IF coalesce(vars->>'FIRST_SUPERUSER', '') <> '' AND NOT EXISTS (
		SELECT FROM pgapp.users u WHERE lower(u.email) = lower(vars->>'FIRST_SUPERUSER')) THEN
		IF coalesce(vars->>'FIRST_SUPERUSER_PASSWORD', '') = '' THEN
			RAISE EXCEPTION 'FIRST_SUPERUSER_PASSWORD must be set with FIRST_SUPERUSER'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		PERFORM pgapp.user_insert(vars->>'FIRST_SUPERUSER', vars->>'FIRST_SUPERUSER_PASSWORD',
			NULL, true, true, 'The first superuser already exists');
		report := report || ('first superuser ' || (vars->>'FIRST_SUPERUSER'));
	END IF;
	RETURN array_to_string(report, ', ');
END
$$;
COMMENT ON FUNCTION pgapp.setup(text) IS
'apply the environment (KEY=VALUE lines): settings, signing key, gateway login role, first superuser';
-- Ownership and privileges (SPEC §7), last: every object of the extension
-- belongs to pgapp_owner (NOSUPERUSER, NOBYPASSRLS), so SECURITY DEFINER
-- code obeys FORCE ROW LEVEL SECURITY; PUBLIC can execute nothing; each
-- role gets back only what it needs.
DO $$
DECLARE
	obj record;
BEGIN
	FOR obj IN
		SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
					  c.oid::regclass) AS what
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'S', 'p')
		   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
		UNION ALL
		SELECT format('FUNCTION %s', p.oid::regprocedure)
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname IN ('api', 'pgapp')
	LOOP
		EXECUTE format('ALTER %s OWNER TO pgapp_owner', obj.what);
	END LOOP;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgapp FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA api FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgapp FROM PUBLIC;

GRANT USAGE ON SCHEMA api, pgapp TO pgapp_owner, pgapp_gateway, pgapp_caller;

-- RLS policies call these as the querying role.
GRANT EXECUTE ON FUNCTION api.current_user_id(), pgapp.current_user_is_superuser()
	TO pgapp_gateway, pgapp_caller;

-- The gateway: the dispatcher, the catalog, and the route handlers.
GRANT EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text),
	api.route_list() TO pgapp_gateway;
DO $$
DECLARE
	h regprocedure;
BEGIN
	FOR h IN SELECT DISTINCT handler FROM api.routes LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgapp_gateway', h);
	END LOOP;
END
$$;

-- psql callers: the api schema, minus what only the gateway runs.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO pgapp_caller;
REVOKE EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text),
	api.route_list() FROM pgapp_caller;
GRANT SELECT ON pgapp.users TO pgapp_caller;
