\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.3'" to load this file. \quit

-- pgapp 1.3:
-- - SECRET_KEY is applied only when it differs from the key last applied
--   from it (signing_keys.from_environment): a restart no longer brings back
--   a key a DBA retired, nor takes signing away from a key a DBA added; a
--   SECRET_KEY equal to a retired key is refused.

ALTER TABLE pgapp.signing_keys ADD COLUMN from_environment boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pgapp.signing_keys.from_environment IS 'the key last applied from SECRET_KEY (pgapp.key_apply); at most one';
-- key_apply compares SECRET_KEY with this key, not with the newest one
CREATE UNIQUE INDEX signing_keys_from_environment_key ON pgapp.signing_keys (from_environment)
	WHERE from_environment;

-- the new column goes last, as CREATE OR REPLACE VIEW requires
CREATE OR REPLACE VIEW pgapp.keys AS
	SELECT k.kid, k.algorithm, k.created_at, k.retired_at,
		coalesce(k.kid OPERATOR(pg_catalog.=) s.kid, false) AS signing,
		k.from_environment
	FROM pgapp.signing_keys k
	LEFT JOIN (SELECT c.kid FROM pgapp.signing_keys c
		WHERE c.retired_at IS NULL
		ORDER BY c.created_at DESC, c.kid COLLATE "C" DESC
		LIMIT 1) s ON true;
COMMENT ON VIEW pgapp.keys IS 'the keyring without its secrets; signing marks the key that signs new tokens, from_environment the key last applied from SECRET_KEY';

-- SECRET_KEY is applied only when it differs from the key last applied
-- from it (from_environment), never merely because it is not the newest
-- live key: the db container runs this at every start, and a restart must
-- neither bring back a key a DBA retired nor take signing away from a key
-- a DBA added.
CREATE OR REPLACE FUNCTION pgapp.key_apply(secret text, algorithm text DEFAULT 'HS256')
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
