\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.1'" to load this file. \quit

-- pgapp 1.1: users imported from other systems with their bcrypt hashes
-- (SPEC §8: $2b$/$2y$ are converted to $2a$, never passed through).

ALTER TABLE pgapp.passwords
	ADD COLUMN scheme text NOT NULL DEFAULT 'v1' CHECK (scheme IN ('v1', 'bcrypt'));
COMMENT ON COLUMN pgapp.passwords.scheme IS 'v1: bcrypt of base64(SHA-256(password)); bcrypt: an imported hash of the raw password, replaced by v1 at the next login';

CREATE FUNCTION pgapp.password_verify_bcrypt(password text, hash text) RETURNS boolean
AS 'MODULE_PATHNAME', 'password_verify_bcrypt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.password_verify_bcrypt(text, text) IS 'does password match an imported $2a$ hash of the raw password (constant-time comparison)';

CREATE OR REPLACE FUNCTION pgapp.set_password(uid uuid, password text) RETURNS void
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

CREATE OR REPLACE FUNCTION pgapp.login_core(email text, password text, client text) RETURNS jsonb
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

CREATE OR REPLACE FUNCTION api.update_password_me(current_password text, new_password text) RETURNS jsonb
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

-- Handlers on the hot path without a SET clause (names qualified instead),
-- so PostgreSQL can inline them (bench/README.md).
CREATE OR REPLACE FUNCTION pgapp.user_public(u pgapp.users) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object('id', u.id, 'email', u.email, 'is_active', u.is_active,
		'is_superuser', u.is_superuser, 'full_name', u.full_name, 'created_at', u.created_at)
$$;
CREATE OR REPLACE FUNCTION api.health_check() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT 'true'::pg_catalog.jsonb $$;

-- as 90_security.sql does for every object of a fresh install
ALTER FUNCTION pgapp.password_verify_bcrypt(text, text) OWNER TO pgapp_owner;
ALTER FUNCTION pgapp.password_matches(uuid, text) OWNER TO pgapp_owner;
ALTER FUNCTION pgapp.user_import(text, text, text, boolean, boolean) OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.password_verify_bcrypt(text, text), pgapp.password_matches(uuid, text),
	pgapp.user_import(text, text, text, boolean, boolean) FROM PUBLIC;
