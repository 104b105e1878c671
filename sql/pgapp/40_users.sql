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

-- What is wrong with an email address, in the words of the email-validator
-- library that the template's EmailStr uses (syntax only, no DNS), or NULL
-- when nothing is.  The address is stored as given: no normalization.
CREATE FUNCTION pgapp.email_problem(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- RFC 5322 atext, and any character beyond ASCII but controls and spaces
	atom constant text := '[-a-zA-Z0-9_!#$%&''*+/=?^`{|}~\u00a1-\u167f\u1681-\u1fff\u2010-\u2027\u2030-\u205e\u2070-\u2fff\u3001-\ufefe\uff00-\U0010ffff]';
	parts text[] := string_to_array(email, '@');
	local_part text;
	domain text;
	label text;
	bad text;
	too_many int;
BEGIN
	IF cardinality(parts) <> 2 THEN
		RETURN 'The email address is not valid. It must have exactly one @-sign.';
	END IF;
	local_part := parts[1];
	domain := lower(parts[2]);

	IF local_part = '' THEN
		RETURN 'There must be something before the @-sign.';
	ELSIF char_length(local_part) > 64 THEN
		too_many := char_length(local_part) - 64;
		RETURN format('The email address is too long before the @-sign (%s character%s too many).',
			too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
	ELSIF local_part ~ '^".*"$' THEN
		RETURN 'Quoting the part before the @-sign is not allowed here.';
	END IF;
	bad := (SELECT string_agg(DISTINCT quote_literal(c), ', ')
			  FROM regexp_split_to_table(local_part, '') c
			 WHERE c <> '.' AND c !~ ('^' || atom || '$'));
	IF bad IS NOT NULL THEN
		RETURN format('The email address contains invalid characters before the @-sign: %s.', bad);
	ELSIF left(local_part, 1) = '.' THEN
		RETURN 'An email address cannot start with a period.';
	ELSIF right(local_part, 1) = '.' THEN
		RETURN 'An email address cannot have a period immediately before the @-sign.';
	ELSIF strpos(local_part, '..') > 0 THEN
		RETURN 'An email address cannot have two periods in a row.';
	END IF;

	IF domain = '' THEN
		RETURN 'There must be something after the @-sign.';
	ELSIF domain ~ '^\[.*\]$' THEN
		RETURN 'A bracketed IP address after the @-sign is not allowed here.';
	ELSIF right(domain, 1) = '.' THEN
		RETURN 'An email address cannot end with a period.';
	ELSIF left(domain, 1) = '.' THEN
		RETURN 'An email address cannot have a period immediately after the @-sign.';
	ELSIF strpos(domain, '..') > 0 THEN
		RETURN 'An email address cannot have two periods in a row.';
	ELSIF octet_length(domain) > 253 THEN
		RETURN 'The email address is too long after the @-sign.';
	END IF;
	FOREACH label IN ARRAY string_to_array(domain, '.') LOOP
		IF char_length(label) > 63 THEN
			too_many := char_length(label) - 63;
			RETURN format('After the @-sign, periods cannot be separated by so many characters (%s character%s too many).',
				too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
		ELSIF label !~ '^[a-z0-9\u00a1-\U0010ffff]([-a-z0-9\u00a1-\U0010ffff]*[a-z0-9\u00a1-\U0010ffff])?$' THEN
			RETURN 'The email address contains invalid characters after the @-sign.';
		ELSIF label ~ '^..--' AND label !~ '^xn--' THEN
			RETURN format('The domain name %s contains invalid characters (Label has disallowed hyphens in 3rd and 4th position).', domain);
		END IF;
	END LOOP;
	IF strpos(domain, '.') = 0 THEN
		RETURN format('The domain name %s is not valid. It should have a period.', domain);
	ELSIF substring(domain FROM '[^.]*$') ~ '^[-a-z0-9]*[-0-9]$' THEN
		-- every top-level domain ends with a letter (an internationalized
		-- one, in its xn-- form, may end with either: not judged here)
		RETURN format('The domain name %s is not valid. It is not within a valid top-level domain.', domain);
	ELSIF domain ~ '(^|\.)(arpa|invalid|local|localhost|onion|test)$' THEN
		RETURN format('The domain name %s is a special-use or reserved name that cannot be used with email.', domain);
	ELSIF char_length(email) > 254 THEN
		too_many := char_length(email) - 254;
		RETURN format('The email address is too long (%s character%s too many).',
			too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
	ELSIF octet_length(email) > 254 THEN
		RETURN format('The email address is too long (at least %s characters too many).', octet_length(email) - 254);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgapp.email_problem(text) IS 'what is wrong with an email address (email-validator''s syntax rules and words), or NULL';

CREATE FUNCTION pgapp.check_email(email text, loc text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problem text;
BEGIN
	IF email IS NULL THEN
		PERFORM pgapp.raise_invalid(loc, 'missing', 'Field required');
	ELSIF char_length(email) > 255 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_long', 'String should have at most 255 characters', to_jsonb(email));
	END IF;
	problem := pgapp.email_problem(email);
	IF problem IS NOT NULL THEN
		-- pydantic's words around the library's reason, which ctx repeats
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(loc, 'value_error',
			'value is not a valid email address: ' || problem, to_jsonb(email),
			jsonb_build_object('reason', problem))));
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
	-- Failures prune as successful logins do, each with the same 1 %
	-- chance: a flood of failures from many addresses and emails must not
	-- grow the table until someone logs in (SPEC §5).  Pruned last, so
	-- the rows this login holds are current and skipped.
	IF random() < 1 - power(0.99::float8, n) THEN
		PERFORM pgapp.prune();
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.throttle_fail(text, text, int) IS 'count failed logins; lock the keys whose window is full; prune now and then';

-- Runs inside logins (successful and failed), so it must never make one
-- wait or deadlock: one prune at a time (a transaction-level advisory
-- lock, tried, never waited for), and only rows nobody holds (SKIP LOCKED:
-- a row in use is left to the next prune).  Refresh tokens go before their
-- sessions, so deleting a session never cascades onto a token that a
-- refresh holds.
CREATE FUNCTION pgapp.prune() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- ('pgap' as an int4, 1): the advisory lock of prune
	IF NOT pg_try_advisory_xact_lock(1885823344, 1) THEN
		RETURN;
	END IF;
	DELETE FROM pgapp.login_throttle d WHERE d.key IN (
		SELECT t.key FROM pgapp.login_throttle t
		 WHERE t.window_start < now() - interval '1 hour'
		   AND (t.locked_until IS NULL OR t.locked_until < now() - interval '1 day')
		   FOR UPDATE SKIP LOCKED);
	DELETE FROM pgapp.refresh_tokens d WHERE d.token_hash IN (
		SELECT r.token_hash FROM pgapp.refresh_tokens r
		 WHERE r.expires_at < now()
		    OR r.session_id IN (SELECT s.id FROM pgapp.sessions s
				 WHERE s.expires_at < now() - interval '1 day' OR s.revoked_at < now() - interval '1 day')
		   FOR UPDATE OF r SKIP LOCKED);
	DELETE FROM pgapp.sessions d WHERE d.id IN (
		SELECT s.id FROM pgapp.sessions s
		 WHERE (s.expires_at < now() - interval '1 day' OR s.revoked_at < now() - interval '1 day')
		   AND NOT EXISTS (SELECT FROM pgapp.refresh_tokens r WHERE r.session_id = s.id)
		   FOR UPDATE OF s SKIP LOCKED);
	DELETE FROM pgapp.reset_tokens d WHERE d.token_hash IN (
		SELECT t.token_hash FROM pgapp.reset_tokens t
		 WHERE t.expires_at < now() OR t.used_at IS NOT NULL
		   FOR UPDATE SKIP LOCKED);
	UPDATE pgapp.mail_outbox o SET html = NULL WHERE o.id IN (
		SELECT m.id FROM pgapp.mail_outbox m
		 WHERE m.html IS NOT NULL AND (m.sent_at IS NOT NULL OR m.expires_at < now())
		   FOR UPDATE SKIP LOCKED);
	DELETE FROM pgapp.mail_outbox o WHERE o.id IN (
		SELECT m.id FROM pgapp.mail_outbox m
		 WHERE m.created_at < now() - interval '30 days'
		   FOR UPDATE SKIP LOCKED);
END
$$;
COMMENT ON FUNCTION pgapp.prune() IS 'delete expired sessions, tokens and throttle entries and month-old mail; wipe mail bodies once sent or expired; skips rows in use and returns at once while another prune runs';

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

CREATE FUNCTION pgapp.login_core(email text, password text, client text) RETURNS jsonb
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
		'<p>The link is valid for %s. If you did not ask for this, ignore this mail.</p>'
		'</body></html>',
		replace(replace(replace(u.email, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		project, link, CASE WHEN hours = 1 THEN '1 hour' ELSE hours || ' hours' END);
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

-- For the mail sender of the DBA's choice (EXECUTE granted by the DBA):
-- a sent mail's body holds a live reset link, so it goes at once.
CREATE FUNCTION pgapp.mail_mark_sent(id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE pgapp.mail_outbox m SET sent_at = coalesce(m.sent_at, now()), html = NULL
	 WHERE m.id = mail_mark_sent.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'mail % does not exist', mail_mark_sent.id
			USING ERRCODE = 'undefined_object',
			HINT = 'pgapp.mail_pending() lists the mail to send.';
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.mail_mark_sent(bigint) IS 'mark a mail of pgapp.mail_outbox sent and wipe its body (for the DBA''s mail sender; marking again keeps the first time)';
REVOKE EXECUTE ON FUNCTION pgapp.mail_mark_sent(bigint) FROM PUBLIC;

-- For the mail sender of the DBA's choice (EXECUTE granted by the DBA):
-- the mail to send, which only the owner may read (forced row-level
-- security).  Rows are locked until the sender's transaction ends and
-- rows another sender holds are skipped, so several senders never send
-- one mail twice:  BEGIN; SELECT * FROM pgapp.mail_pending(); (send;
-- SELECT pgapp.mail_mark_sent(id) for each) COMMIT;
CREATE FUNCTION pgapp.mail_pending(max_rows int DEFAULT 10)
RETURNS TABLE (id bigint, recipient text, subject text, html text, created_at timestamptz,
	expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', coalesce(max_rows::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
		SELECT m.id, m.recipient, m.subject, m.html, m.created_at, m.expires_at
		  FROM pgapp.mail_outbox m
		 WHERE m.sent_at IS NULL AND m.html IS NOT NULL AND m.expires_at > now()
		 ORDER BY m.id
		 LIMIT max_rows
		   FOR UPDATE SKIP LOCKED;
END
$$;
COMMENT ON FUNCTION pgapp.mail_pending(int) IS 'the mail of pgapp.mail_outbox still to send, oldest first, locked for the calling transaction (rows another sender holds are skipped; for the DBA''s mail sender)';
REVOKE EXECUTE ON FUNCTION pgapp.mail_pending(int) FROM PUBLIC;

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
