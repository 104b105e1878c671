\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.3'" to load this file. \quit

-- pgapp 1.3:
-- - SECRET_KEY is applied only when it differs from the key last applied
--   from it (signing_keys.from_environment): a restart no longer brings back
--   a key a DBA retired, nor takes signing away from a key a DBA added; a
--   SECRET_KEY equal to a retired key is refused.
-- - Failed logins prune too; pgapp.prune() skips rows in use and never runs
--   twice at once; pgapp.mail_pending() and pgapp.mail_mark_sent() for the
--   DBA's mail sender.
-- - pgapp_gateway may no longer execute api.current_user_id() and
--   pgapp.current_user_is_superuser(): it reads no table, so no policy ever
--   runs as it (SPEC §7: what the gateway calls, nothing else).

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

CREATE OR REPLACE FUNCTION pgapp.throttle_fail(email text, client text, n int) RETURNS void
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
CREATE OR REPLACE FUNCTION pgapp.prune() RETURNS void
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

-- as 90_security.sql does for every object of a fresh install
ALTER FUNCTION pgapp.mail_mark_sent(bigint) OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.mail_mark_sent(bigint) FROM PUBLIC;

-- the gateway executes what it calls, nothing else (SPEC §7)
REVOKE EXECUTE ON FUNCTION api.current_user_id(), pgapp.current_user_is_superuser()
	FROM pgapp_gateway;

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
ALTER FUNCTION pgapp.mail_pending(int) OWNER TO pgapp_owner;
