\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.4'" to load this file. \quit

-- pgapp 1.4: a login or a token refresh in a read-only transaction is
-- refused before any check (SQLSTATE 25006).  Such a transaction could
-- write no trace: a psql caller could guess passwords without the throttle
-- counting them, and tell a right password from a wrong one by the error
-- of the first write.

-- A login or a token refresh must be able to write what a failure leaves
-- (a throttle count, a revoked session).  In a read-only transaction it
-- could not: it would skip the throttle, and the error of its first write
-- would tell a right password (or a live token) from a wrong one.  So such
-- a transaction is refused before any check.
CREATE FUNCTION pgapp.refuse_read_only(action text) RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('transaction_read_only')::boolean THEN
		RAISE EXCEPTION 'cannot % in a read-only transaction', action
			USING ERRCODE = 'read_only_sql_transaction';
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.refuse_read_only(text) IS 'raise 25006 in a read-only transaction (logins and refreshes write what a failure leaves)';

REVOKE ALL ON FUNCTION pgapp.refuse_read_only(text) FROM PUBLIC;
ALTER FUNCTION pgapp.refuse_read_only(text) OWNER TO pgapp_owner;

CREATE OR REPLACE FUNCTION pgapp.login_core(email text, password text, client text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	u pgapp.users;
	ok boolean;
	sid uuid;
BEGIN
	PERFORM pgapp.refuse_read_only('log in');
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

CREATE OR REPLACE FUNCTION api.refresh_token(refresh_token text, grant_type text DEFAULT 'refresh_token') RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rt pgapp.refresh_tokens;
	s pgapp.sessions;
	active boolean;
BEGIN
	PERFORM pgapp.refuse_read_only('refresh a token');
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
