--
-- Housekeeping (SPEC §5, §9): what pgapp.prune() deletes and keeps, that
-- failed logins alone prune, pgapp.mail_mark_sent, the default bcrypt
-- cost.  (That prune never waits for a row in use: tests/e2e/test_housekeeping.py.)
--
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT api.signup('hk@example.com', 'hk-password-1') ->> 'email' AS signed_up;

-- sessions, each with a live and an expired refresh token
INSERT INTO pgapp.sessions (user_id, expires_at, revoked_at, client)
SELECT u.id, now() + v.expires_in, now() + v.revoked_in, v.client
  FROM pgapp.users u, (VALUES
	('hk-live', interval '1 day', NULL::interval),
	('hk-expired-an-hour-ago', interval '-1 hour', NULL),
	('hk-expired-2-days-ago', interval '-2 days', NULL),
	('hk-revoked-an-hour-ago', interval '1 day', interval '-1 hour'),
	('hk-revoked-2-days-ago', interval '1 day', interval '-2 days')) v(client, expires_in, revoked_in)
 WHERE u.email = 'hk@example.com';
INSERT INTO pgapp.refresh_tokens (token_hash, session_id, expires_at)
SELECT sha256(convert_to(s.client || t.name, 'UTF8')), s.id, now() + t.expires_in
  FROM pgapp.sessions s, (VALUES ('/live', interval '1 day'), ('/expired', interval '-1 minute')) t(name, expires_in)
 WHERE s.client LIKE 'hk-%';
-- reset tokens
INSERT INTO pgapp.reset_tokens (token_hash, user_id, expires_at, used_at)
SELECT sha256(convert_to('hk-reset/' || v.name, 'UTF8')), u.id, now() + v.expires_in, now() + v.used_in
  FROM pgapp.users u, (VALUES
	('live', interval '1 hour', NULL::interval),
	('expired', interval '-1 minute', NULL),
	('used', interval '1 hour', interval '-1 minute')) v(name, expires_in, used_in)
 WHERE u.email = 'hk@example.com';
-- mail
INSERT INTO pgapp.mail_outbox (recipient, subject, html, created_at, expires_at, sent_at) VALUES
	('hk-pending@example.com', 'pending', '<a href="x?token=live">', now(), now() + interval '1 hour', NULL),
	('hk-sent@example.com', 'sent', '<a href="x?token=sent">', now(), now() + interval '1 hour', now()),
	('hk-expired@example.com', 'expired', '<a href="x?token=expired">', now() - interval '2 hours', now() - interval '1 hour', NULL),
	('hk-month-old@example.com', 'month old', NULL, now() - interval '31 days', now() - interval '31 days', now() - interval '31 days');
-- throttle entries: a window lasts at most an hour, a lock's count is kept
-- for a day after it ended
INSERT INTO pgapp.login_throttle (key, window_start, failures, locks, locked_until) VALUES
	('hk:current', now(), 3, 0, NULL),
	('hk:window-59-minutes-old', now() - interval '59 minutes', 3, 0, NULL),
	('hk:window-2-hours-old', now() - interval '2 hours', 3, 0, NULL),
	('hk:locked', now() - interval '2 hours', 0, 5, now() + interval '1 hour'),
	('hk:lock-ended-an-hour-ago', now() - interval '2 hours', 0, 2, now() - interval '1 hour'),
	('hk:lock-ended-2-days-ago', now() - interval '3 days', 0, 2, now() - interval '2 days');

SELECT pgapp.prune();
SELECT client AS sessions_kept FROM pgapp.sessions WHERE client LIKE 'hk-%' ORDER BY 1;
SELECT s.client, r.expires_at > now() AS live_token
  FROM pgapp.refresh_tokens r JOIN pgapp.sessions s ON s.id = r.session_id
 WHERE s.client LIKE 'hk-%' ORDER BY 1, 2;
SELECT count(*) AS orphan_tokens FROM pgapp.refresh_tokens r
 WHERE NOT EXISTS (SELECT FROM pgapp.sessions s WHERE s.id = r.session_id);
SELECT v.name AS reset_tokens_kept FROM (VALUES ('live'), ('expired'), ('used')) v(name)
  JOIN pgapp.reset_tokens t ON t.token_hash = sha256(convert_to('hk-reset/' || v.name, 'UTF8'))
 ORDER BY 1;
SELECT subject, html IS NOT NULL AS has_body, sent_at IS NOT NULL AS sent
  FROM pgapp.mail_outbox WHERE recipient LIKE 'hk-%' ORDER BY created_at, subject;
SELECT key AS throttle_kept FROM pgapp.login_throttle WHERE key LIKE 'hk:%' ORDER BY 1;
-- again: nothing more to do
SELECT pgapp.prune();
SELECT count(*) AS sessions_kept FROM pgapp.sessions WHERE client LIKE 'hk-%';

--
-- failed logins alone prune (the gateway's path, api.dispatch): each
-- failure has the 1 % chance of a successful login.  Distinct emails and
-- addresses, so no 429 stops the flood; setseed makes the run repeatable.
--
INSERT INTO pgapp.login_throttle (key, window_start, failures) VALUES
	('hk:stale', now() - interval '2 hours', 1);
CREATE FUNCTION pg_temp.fail_until_pruned(max_logins int) RETURNS text LANGUAGE plpgsql
AS $$
DECLARE
	route int := (SELECT id FROM api.routes WHERE method = 'POST' AND path = '/api/v1/login/access-token');
	n int := 0;
	st int;
BEGIN
	PERFORM setseed(0.25);
	WHILE n < max_logins AND EXISTS (SELECT FROM pgapp.login_throttle WHERE key = 'hk:stale') LOOP
		n := n + 1;
		SELECT d.status INTO st FROM api.dispatch(route, '/api/v1/login/access-token', NULL,
			format('username=hk-flood-%s%%40example.com&password=wrong-password', n),
			'application/x-www-form-urlencoded', NULL, format('198.51.100.%s', n % 200 + 1)) d;
		IF st <> 400 THEN
			RETURN format('login %s answered %s', n, st);
		END IF;
	END LOOP;
	IF n = max_logins THEN
		RETURN format('not pruned after %s failed logins', n);
	END IF;
	RETURN 'pruned';
END
$$;
SELECT pg_temp.fail_until_pruned(1500) AS failed_logins;
DELETE FROM pgapp.login_throttle WHERE key LIKE '%hk-flood-%' OR key LIKE 'client:198.51.100.%';

--
-- pgapp.mail_pending and pgapp.mail_mark_sent: for the DBA's mail sender,
-- with a grant
--
SELECT api.password_recovery('hk@example.com') ->> 'message' AS recovery;
SELECT id AS mail_id FROM pgapp.mail_outbox WHERE recipient = 'hk@example.com' \gset
SELECT html LIKE '%/reset-password?token=%' AS has_link, sent_at IS NULL AS pending
  FROM pgapp.mail_outbox WHERE id = :mail_id;
CREATE ROLE regress_mailer NOLOGIN;
GRANT USAGE ON SCHEMA pgapp TO regress_mailer;
SET ROLE regress_mailer;
SELECT pgapp.mail_mark_sent(:mail_id);
RESET ROLE;
SELECT html IS NOT NULL AS body_kept FROM pgapp.mail_outbox WHERE id = :mail_id;
SET ROLE regress_mailer;
SELECT count(*) FROM pgapp.mail_pending();
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgapp.mail_mark_sent(bigint), pgapp.mail_pending(int) TO regress_mailer;
SET ROLE regress_mailer;
-- the sender cannot read the outbox itself, only what mail_pending gives
SELECT count(*) FROM pgapp.mail_outbox;
SELECT id = :mail_id AS the_mail, recipient, subject <> '' AS has_subject,
	html LIKE '%/reset-password?token=%' AS has_link, expires_at > created_at AS expires
  FROM pgapp.mail_pending(1000) WHERE recipient = 'hk@example.com';
SELECT pgapp.mail_pending(0);
SELECT pgapp.mail_pending(1001);
SELECT pgapp.mail_pending(NULL);
SELECT pgapp.mail_mark_sent(:mail_id);
SELECT count(*) AS still_pending FROM pgapp.mail_pending(1000) WHERE id = :mail_id;
SELECT pgapp.mail_mark_sent(-1);
SELECT pgapp.mail_mark_sent(NULL);
RESET ROLE;
SELECT html IS NULL AS body_wiped, sent_at IS NOT NULL AS sent FROM pgapp.mail_outbox WHERE id = :mail_id;
SELECT sent_at AS first_sent FROM pgapp.mail_outbox WHERE id = :mail_id \gset
SELECT pgapp.mail_mark_sent(:mail_id);
SELECT sent_at = :'first_sent' AS first_time_kept FROM pgapp.mail_outbox WHERE id = :mail_id;
REVOKE EXECUTE ON FUNCTION pgapp.mail_mark_sent(bigint), pgapp.mail_pending(int) FROM regress_mailer;
REVOKE USAGE ON SCHEMA pgapp FROM regress_mailer;
DROP ROLE regress_mailer;

--
-- BCRYPT_COST is 12 where it was never set (SPEC §4, §8)
--
BEGIN;
DELETE FROM pgapp.settings WHERE name = 'BCRYPT_COST';
SELECT pgapp.setting('BCRYPT_COST') AS bcrypt_cost, pgapp.bcrypt_cost() AS cost_used,
	left(pgapp.password_hash('hk-password', pgapp.bcrypt_cost()), 7) AS hash_prefix;
ROLLBACK;

-- clean up
DELETE FROM pgapp.mail_outbox WHERE recipient LIKE 'hk-%' OR recipient = 'hk@example.com';
DELETE FROM pgapp.login_throttle WHERE key LIKE 'hk:%';
DELETE FROM pgapp.users WHERE email = 'hk@example.com';
