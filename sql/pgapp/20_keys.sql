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
		WHEN 'HS256' THEN 32 WHEN 'HS384' THEN 48 ELSE 64 END),
	from_environment boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE pgapp.signing_keys IS 'JWT signing keys (HMAC secrets): the signing key is the newest one with no retired_at; a key verifies while retired_at is null or in the future. Readable by the extension owner and superusers only';
COMMENT ON COLUMN pgapp.signing_keys.kid IS 'key id, sent in the token header "kid"';
COMMENT ON COLUMN pgapp.signing_keys.algorithm IS 'HS256, HS384 or HS512: the only algorithm a token of this key may name';
COMMENT ON COLUMN pgapp.signing_keys.secret IS 'the HMAC secret (SECRET_KEY as UTF-8 bytes)';
COMMENT ON COLUMN pgapp.signing_keys.retired_at IS 'from this time on the key neither signs nor verifies; null: live';
COMMENT ON COLUMN pgapp.signing_keys.from_environment IS 'the key last applied from SECRET_KEY (pgapp.key_apply); at most one';
-- key_apply compares SECRET_KEY with this key, not with the newest one
CREATE UNIQUE INDEX signing_keys_from_environment_key ON pgapp.signing_keys (from_environment)
	WHERE from_environment;
REVOKE ALL ON TABLE pgapp.signing_keys FROM PUBLIC;
-- SPEC §7: no role but the extension owner and superusers reads a secret.
-- Privileges alone do not hold: pg_read_all_data (PostgreSQL 14+) grants
-- SELECT on every table.  The policy names the role, not current_user:
-- through the view pgapp.keys the table is read with the view owner's
-- rights (pgapp_owner) while current_user stays the caller's, and the key
-- loader (keys.c) switches to the owner for its one query.
ALTER TABLE pgapp.signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.signing_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.signing_keys TO pgapp_owner USING (true) WITH CHECK (true);
-- pg_dump keeps the keys (SPEC §7 backups): restored tokens stay valid
SELECT pg_catalog.pg_extension_config_dump('pgapp.signing_keys', '');

-- Every change to the keyring invalidates the key cache of every backend
CREATE TRIGGER signing_keys_invalidate
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgapp.signing_keys
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.relcache_invalidate();
COMMENT ON TRIGGER signing_keys_invalidate ON pgapp.signing_keys IS 'reload the key caches after any change';

CREATE VIEW pgapp.keys AS
	SELECT k.kid, k.algorithm, k.created_at, k.retired_at,
		coalesce(k.kid OPERATOR(pg_catalog.=) s.kid, false) AS signing,
		k.from_environment
	FROM pgapp.signing_keys k
	LEFT JOIN (SELECT c.kid FROM pgapp.signing_keys c
		WHERE c.retired_at IS NULL
		ORDER BY c.created_at DESC, c.kid COLLATE "C" DESC
		LIMIT 1) s ON true;
COMMENT ON VIEW pgapp.keys IS 'the keyring without its secrets; signing marks the key that signs new tokens, from_environment the key last applied from SECRET_KEY';
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

-- SECRET_KEY is applied only when it differs from the key last applied
-- from it (from_environment), never merely because it is not the newest
-- live key: the db container runs this at every start, and a restart must
-- neither bring back a key a DBA retired nor take signing away from a key
-- a DBA added.
CREATE FUNCTION pgapp.key_apply(secret text, algorithm text DEFAULT 'HS256')
RETURNS text LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	raw bytea := convert_to(key_apply.secret, 'UTF8');
	alg text := coalesce(key_apply.algorithm, 'HS256');
	env record;
	applied_before boolean;
	imported boolean := false;
	signing_kid text;
	new_kid text;
	grace interval;
BEGIN
	-- refused keys are refused even when already signing (ENVIRONMENT
	-- changed from local to production with the development key)
	PERFORM pgapp.key_check(raw, alg);
	-- one application at a time (two containers starting together)
	LOCK TABLE pgapp.signing_keys IN SHARE ROW EXCLUSIVE MODE;
	SELECT k.kid, k.algorithm, k.secret, k.retired_at INTO env
		FROM pgapp.signing_keys k WHERE k.from_environment;
	applied_before := FOUND;
	IF applied_before AND env.algorithm = alg AND env.secret = raw THEN
		-- unchanged: whatever a DBA did since stands
		SELECT k.kid INTO signing_kid FROM pgapp.keys k WHERE k.signing;
		IF signing_kid IS NULL THEN
			RAISE EXCEPTION 'SECRET_KEY is a retired signing key: set a new SECRET_KEY'
				USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'The key applied from SECRET_KEY was retired and no other key signs; nothing was changed.',
				HINT = 'Generate one with: openssl rand -base64 48';
		ELSIF env.retired_at <= now() THEN
			RAISE WARNING 'SECRET_KEY is a retired signing key'
				USING DETAIL = 'It stays retired; the key a DBA added signs.',
				HINT = 'Set a new SECRET_KEY, for example from: openssl rand -base64 48';
		END IF;
		RETURN signing_kid;
	END IF;

	-- changed (or never applied): a live key with this secret is taken
	-- over rather than duplicated; a retired one never signs again
	SELECT k.kid INTO new_kid FROM pgapp.signing_keys k
		WHERE k.secret = raw AND k.algorithm = alg AND k.retired_at IS NULL
		ORDER BY k.created_at DESC, k.kid COLLATE "C" DESC
		LIMIT 1;
	IF NOT FOUND THEN
		IF EXISTS (SELECT FROM pgapp.signing_keys k WHERE k.secret = raw AND k.retired_at <= now()) THEN
			RAISE EXCEPTION 'SECRET_KEY is a retired signing key: set a new SECRET_KEY'
				USING ERRCODE = 'invalid_parameter_value',
				DETAIL = 'A key retired with pgapp.key_retire, or replaced by another SECRET_KEY and past its grace period, never signs again; nothing was changed.',
				HINT = 'Generate one with: openssl rand -base64 48';
		END IF;
		new_kid := pgapp.key_import(raw, alg);
		imported := true;
	END IF;
	-- two statements: the unique index allows one marked key at any moment
	UPDATE pgapp.signing_keys k SET from_environment = false
		WHERE k.from_environment AND k.kid <> new_kid;
	UPDATE pgapp.signing_keys k SET from_environment = true
		WHERE k.kid = new_kid AND NOT k.from_environment;
	-- a real change rotates: tokens signed by the other keys live until
	-- they expire.  A first application that took over a live key (a
	-- database from before 1.3) leaves the keyring as it was.
	IF applied_before OR imported THEN
		grace := make_interval(mins => pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES')::int);
		UPDATE pgapp.signing_keys k SET retired_at = now() + grace
			WHERE k.kid <> new_kid
			AND (k.retired_at IS NULL OR k.retired_at > now() + grace);
	END IF;
	SELECT k.kid INTO signing_kid FROM pgapp.keys k WHERE k.signing;
	RETURN signing_kid;
END
$$;
COMMENT ON FUNCTION pgapp.key_apply(text, text) IS 'apply SECRET_KEY/ALGORITHM when they differ from the key last applied from them: take over a live key with that secret or add one, then retire the others after ACCESS_TOKEN_EXPIRE_MINUTES; an unchanged SECRET_KEY changes nothing; a retired key is refused; returns the signing kid';

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
