--
-- Users and login through the SQL API (40_users.sql), with the same rules
-- as HTTP: signup, login, me, update me, password change (other sessions
-- stop working), delete me, superuser management, recovery and reset
-- (single use), refresh rotation and reuse detection, logout, isolation
-- between users, and no hash or key for a non-superuser.
-- Tokens live in a temp table or psql variables: never printed.
--
SET client_min_messages = warning;

CREATE TEMP TABLE tokens (who text PRIMARY KEY, token text NOT NULL);
CREATE TEMP TABLE refresh (name text PRIMARY KEY, token text NOT NULL);
-- run(who, query): as who (NULL: anonymous) for this transaction; the
-- single value, or "SQLSTATE message" and the DETAIL
CREATE FUNCTION pg_temp.run(who text, query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	result text;
	state text;
	message text;
	detail text;
BEGIN
	IF who IS NOT NULL THEN
		BEGIN
			PERFORM api.authenticate((SELECT t.token FROM pg_temp.tokens t WHERE t.who = run.who));
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
			RETURN 'token of ' || who || ': ' || state || ' ' || message;
		END;
	END IF;
	BEGIN
		EXECUTE query INTO result;
		RETURN coalesce(result, 'NULL');
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
			detail = PG_EXCEPTION_DETAIL;
		RETURN state || ' ' || message || coalesce(E'\n' || nullif(detail, ''), '');
	END;
END
$$;
CREATE FUNCTION pg_temp.login(as_who text, email text, password text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t jsonb;
BEGIN
	t := api.login(email, password);
	INSERT INTO pg_temp.tokens AS x VALUES (as_who, t->>'access_token')
		ON CONFLICT ON CONSTRAINT tokens_pkey DO UPDATE SET token = EXCLUDED.token;
	INSERT INTO pg_temp.refresh AS x VALUES (as_who, t->>'refresh_token')
		ON CONFLICT ON CONSTRAINT refresh_pkey DO UPDATE SET token = EXCLUDED.token;
	RETURN (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(t) k)
		|| ' ' || (t->>'token_type') || ' ' || (t->>'expires_in');
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.rt(name text) RETURNS text LANGUAGE sql
AS $$ SELECT r.token FROM pg_temp.refresh r WHERE r.name = rt.name $$;

--
-- signup
--
SELECT api.signup('users-a@example.com', 'password-a', 'User A')
	- 'id' - 'created_at' AS signup;
SELECT pg_temp.run(NULL, $$SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(api.signup('Users-B@Example.com', 'password-b')) k$$) AS user_public_keys;
SELECT pg_temp.run(NULL, $$SELECT api.signup('USERS-A@example.com', 'password-x')$$) AS duplicate;
SELECT pg_temp.run(NULL, $$SELECT api.signup('not-an-email', 'password-x')$$) AS bad_email;
SELECT pg_temp.run(NULL, $$SELECT api.signup('users-c@example.com', 'short')$$) AS short_password;
SELECT pg_temp.run(NULL, $$SELECT api.signup('users-c@example.com', repeat('p', 129))$$) AS long_password;
SELECT pg_temp.run(NULL, $$SELECT api.signup('users-c@example.com', NULL)$$) AS null_password;
SELECT pg_temp.run(NULL, $$SELECT api.signup('users-c@example.com', repeat(chr(233), 128))->>'email'$$) AS multibyte_128;
SELECT pg_temp.run(NULL, $$SELECT api.signup('a..b@example.com', 'password-x')$$) AS double_dot_email;
-- email addresses as the template's EmailStr (email-validator) sees them:
-- one per line, accepted (NULL) or the reason the 422 gives
SELECT CASE WHEN char_length(e) > 40 THEN left(e, 12) || '...(' || char_length(e) || ' characters)' ELSE e END AS email,
	pgapp.email_problem(e) AS problem FROM unnest(ARRAY[
	'plain@example.com', 'first.last+tag@sub.example.co.uk', 'o''brien_x-y@ex-ample.com',
	'USER@EXAMPLE.COM', 'jos' || chr(233) || '@example.com', 'x@xn--bcher-kva.example', 'x@b' || chr(252) || 'cher.de',
	'no-at-sign', 'a@b@example.com', '@example.com', 'x@',
	repeat('l', 64) || '@example.com', repeat('l', 65) || '@example.com',
	'.a@example.com', 'a.@example.com', 'a..b@example.com', '"quoted"@example.com',
	'sp ace@example.com', 'semi;colon@example.com', 'tab' || chr(9) || '@example.com',
	'x@[127.0.0.1]', 'x@example.com.', 'x@.example.com', 'x@example..com',
	'x@-example.com', 'x@example-.com', 'x@exa_mple.com', 'x@ab--cd.com',
	'x@' || repeat('d', 64) || '.com', 'x@' || repeat('d', 63) || '.com',
	'x@localhost', 'x@example.123', 'x@foo.test', 'x@printer.local', 'x@a.invalid',
	'x@host.localhost', 'x@10.in-addr.arpa', 'x@abc.onion', 'x@testing.com',
	repeat('l', 64) || '@' || repeat('d', 63) || '.' || repeat('d', 63) || '.' || repeat('d', 59) || '.com'
]) e;
-- the stored email keeps its case
SELECT email FROM pgapp.users WHERE lower(email) = 'users-b@example.com';

--
-- login
--
SELECT pg_temp.login('a', 'users-a@example.com', 'password-a') AS login_a;
SELECT pg_temp.login('b', 'users-b@example.com', 'password-b') AS login_b_case_insensitive;
SELECT pg_temp.login('x', 'users-a@example.com', 'password-b') AS wrong_password;
SELECT pg_temp.login('x', 'nobody@example.com', 'password-b') AS unknown_email;
SELECT pg_temp.login('x', 'users-a@example.com', NULL) AS null_password;
-- bcrypt reads 72 bytes: pgapp does not stop there
SELECT api.signup('users-long@example.com', repeat('x', 72) || '-one')->>'email' AS signup;
SELECT pg_temp.login('x', 'users-long@example.com', repeat('x', 72) || '-two') AS same_72_bytes;
SELECT pg_temp.login('x', 'users-long@example.com', repeat('x', 72)) AS prefix_only;
SELECT pg_temp.login('long', 'users-long@example.com', repeat('x', 72) || '-one') AS right_one;
-- what is stored is a $2a$ hash of neither the password nor its prefix
SELECT hash LIKE '$2a$04$%' AS bcrypt_2a_cost_4, length(hash) AS len
	FROM pgapp.passwords p JOIN pgapp.users u ON u.id = p.user_id WHERE u.email = 'users-a@example.com';

--
-- me, update me
--
SELECT pg_temp.run('a', $$SELECT api.me() - 'id' - 'created_at'$$) AS me;
SELECT pg_temp.run(NULL, $$SELECT api.me()$$) AS anonymous;
SELECT pg_temp.run('a', $$SELECT api.update_me('{"full_name": "Alice", "is_superuser": true}') - 'id' - 'created_at'$$) AS update_me;
SELECT pg_temp.run('a', $$SELECT api.update_me('{"email": "users-b@EXAMPLE.com"}')$$) AS duplicate_email;
SELECT pg_temp.run('a', $$SELECT api.update_me('{"email": "bad"}')$$) AS bad_email;
SELECT pg_temp.run('a', $$SELECT api.update_me('[]')$$) AS not_an_object;
SELECT pg_temp.run('a', $$SELECT api.update_me('{"full_name": null}')->'full_name'$$) AS cleared;

--
-- isolation: users see themselves only (the table as a psql caller role)
--
CREATE ROLE regress_users_caller IN ROLE pgapp_caller;
GRANT SELECT ON tokens TO regress_users_caller;
SET ROLE regress_users_caller;
SELECT pg_temp.run('a', $$SELECT count(*) || ' ' || min(email) FROM pgapp.users$$) AS a_sees;
SELECT pg_temp.run('b', $$SELECT count(*) || ' ' || min(email) FROM pgapp.users$$) AS b_sees;
SELECT pg_temp.run(NULL, $$SELECT count(*) FROM pgapp.users$$) AS anonymous_sees;
SELECT pg_temp.run('a', $$WITH u AS (UPDATE pgapp.users SET full_name = 'hacked' RETURNING 1) SELECT count(*) FROM u$$) AS update_table;
RESET ROLE;
SELECT pg_temp.run('a', $$SELECT api.user_get((SELECT id FROM pgapp.users WHERE email = 'users-a@example.com'))->>'email'$$) AS self;
SELECT pg_temp.run('a', $$SELECT api.user_get('00000000-0000-0000-0000-000000000000')$$) AS other;
SELECT pg_temp.run('a', $$SELECT api.users_list()$$) AS list;
SELECT pg_temp.run('a', $$SELECT api.user_update('00000000-0000-0000-0000-000000000000', '{}')$$) AS update_other;
SELECT pg_temp.run('a', $$SELECT api.user_delete('00000000-0000-0000-0000-000000000000')$$) AS delete_other;
SELECT pg_temp.run('a', $$SELECT api.user_create('users-z@example.com', 'password-z')$$) AS create;
SELECT pg_temp.run('a', $$SELECT api.password_recovery_html_content('users-b@example.com')$$) AS html;
SELECT count(*) AS hacked FROM pgapp.users WHERE full_name = 'hacked';

--
-- password change: the other sessions stop working, this one lives
--
SELECT pg_temp.login('a2', 'users-a@example.com', 'password-a') AS second_session;
SELECT pg_temp.run('a', $$SELECT api.update_password_me('wrong-password', 'password-a2')$$) AS wrong_current;
SELECT pg_temp.run('a', $$SELECT api.update_password_me('password-a', 'password-a')$$) AS same_password;
SELECT pg_temp.run('a', $$SELECT api.update_password_me('password-a', 'short')$$) AS short_new;
SELECT pg_temp.run('a', $$SELECT api.update_password_me('password-a', 'password-a2')$$) AS changed;
SELECT pg_temp.run('a', $$SELECT api.me()->>'email'$$) AS this_session;
SELECT pg_temp.run('a2', $$SELECT api.me()->>'email'$$) AS other_session;
SELECT pg_temp.run(NULL, $$SELECT api.refresh_token(pg_temp.rt('a2')) IS NOT NULL$$) AS other_refresh;
SELECT pg_temp.login('x', 'users-a@example.com', 'password-a') AS old_password;
SELECT pg_temp.login('a', 'users-a@example.com', 'password-a2') AS new_password;

--
-- refresh rotation and reuse detection
--
INSERT INTO refresh SELECT 'r0', token FROM refresh WHERE name = 'a';
SELECT pg_temp.run(NULL, $$SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(api.refresh_token(pg_temp.rt('r0'), 'wrong_grant')) k$$) AS bad_grant;
CREATE FUNCTION pg_temp.rotate(from_name text, to_name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	t jsonb;
BEGIN
	t := api.refresh_token(pg_temp.rt(from_name));
	INSERT INTO pg_temp.refresh VALUES (to_name, t->>'refresh_token');
	INSERT INTO pg_temp.tokens VALUES (to_name, t->>'access_token');
	RETURN (t->>'refresh_token') <> pg_temp.rt(from_name);
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
SELECT pg_temp.rotate('r0', 'r1') AS rotated;
SELECT pg_temp.rotate('r1', 'r2') AS rotated_again;
SELECT pg_temp.run('r2', $$SELECT api.me()->>'email'$$) AS new_access;
SELECT pg_temp.run('a', $$SELECT api.me()->>'email'$$) AS first_access_same_session;
-- reuse of a spent token: refused, and the whole session is revoked
SELECT pg_temp.rotate('r0', 'rx') AS reuse;
SELECT pg_temp.run('r2', $$SELECT api.me()->>'email'$$) AS access_after_reuse;
SELECT pg_temp.rotate('r2', 'r3') AS newest_refresh_after_reuse;
SELECT pg_temp.run(NULL, $$SELECT api.refresh_token('no-such-token')$$) AS unknown_token;

--
-- logout
--
SELECT pg_temp.login('l1', 'users-a@example.com', 'password-a2') AS login;
SELECT pg_temp.login('l2', 'users-a@example.com', 'password-a2') AS login;
SELECT pg_temp.run('l1', $$SELECT api.logout()$$) AS logout;
SELECT pg_temp.run('l1', $$SELECT api.me()$$) AS logged_out;
SELECT pg_temp.rotate('l1', 'l1b') AS refresh_after_logout;
SELECT pg_temp.run('l2', $$SELECT api.me()->>'email'$$) AS other_session_lives;
SELECT pg_temp.run(NULL, $$SELECT api.logout()$$) AS anonymous;

--
-- recovery and reset
--
SELECT api.password_recovery('users-b@example.com') AS known;
SELECT api.password_recovery('nobody@example.com') AS unknown;
SELECT count(*) AS mails, bool_and(html LIKE '%http://localhost:5173/reset-password?token=%') AS has_link
	FROM pgapp.mail_outbox WHERE recipient = 'Users-B@Example.com';
SELECT count(*) AS no_mail FROM pgapp.mail_outbox WHERE recipient = 'nobody@example.com';
SELECT substring(html FROM 'token=([A-Za-z0-9_-]+)') AS reset_token
	FROM pgapp.mail_outbox WHERE recipient = 'Users-B@Example.com' ORDER BY id DESC LIMIT 1 \gset
SELECT pg_temp.login('b2', 'users-b@example.com', 'password-b') AS b_second_session;
SELECT pg_temp.run(NULL, format('SELECT api.reset_password(%L, %L)', :'reset_token', 'short')) AS short_not_spent;
SELECT pg_temp.run(NULL, format('SELECT api.reset_password(%L, %L)', :'reset_token', 'password-b2')) AS reset;
SELECT pg_temp.run(NULL, format('SELECT api.reset_password(%L, %L)', :'reset_token', 'password-b3')) AS second_use;
SELECT pg_temp.run(NULL, $$SELECT api.reset_password('bogus', 'password-b3')$$) AS bogus;
SELECT pg_temp.run('b', $$SELECT api.me()$$) AS b_session_revoked;
SELECT pg_temp.run('b2', $$SELECT api.me()$$) AS b2_session_revoked;
SELECT pg_temp.login('x', 'users-b@example.com', 'password-b') AS old_password;
SELECT pg_temp.login('b', 'users-b@example.com', 'password-b2') AS new_password;

--
-- superuser management
--
UPDATE pgapp.users SET is_superuser = true WHERE email = 'users-a@example.com';
SELECT pg_temp.login('s', 'users-a@example.com', 'password-a2') AS superuser_login;
SELECT pg_temp.run('s', $$SELECT api.user_create('users-c2@example.com', 'password-c', 'C', true, false) - 'id' - 'created_at'$$) AS create;
SELECT pg_temp.run('s', $$SELECT api.user_create('USERS-C2@example.com', 'password-c')$$) AS duplicate;
SELECT pg_temp.run('s', $$SELECT (api.users_list()->>'count')::int >= 4$$) AS list;
SELECT pg_temp.run('s', $$SELECT api.users_list(0, 0)$$) AS limit_0;
SELECT pg_temp.run('s', $$SELECT api.user_update((SELECT id FROM pgapp.users WHERE email = 'users-c2@example.com'), '{"is_active": false, "full_name": "C2"}') - 'id' - 'created_at'$$) AS deactivate;
SELECT pg_temp.login('x', 'users-c2@example.com', 'password-c') AS inactive_login;
SELECT pg_temp.run('s', $$SELECT api.user_update((SELECT id FROM pgapp.users WHERE email = 'users-c2@example.com'), '{"email": "users-b@example.com"}')$$) AS duplicate_update;
SELECT pg_temp.run('s', $$SELECT api.user_update('00000000-0000-0000-0000-000000000000', '{}')$$) AS unknown;
SELECT pg_temp.run('s', $$SELECT api.user_get('00000000-0000-0000-0000-000000000000')$$) AS unknown;
SELECT pg_temp.run('s', $$SELECT api.user_get((SELECT id FROM pgapp.users WHERE email = 'Users-B@Example.com'))->>'email'$$) AS get_b;
SELECT pg_temp.run('s', $$SELECT api.delete_me()$$) AS superuser_delete_me;
SELECT pg_temp.run('s', $$SELECT api.user_delete((SELECT id FROM pgapp.users WHERE email = 'users-a@example.com'))$$) AS delete_self;
SELECT pg_temp.run('s', $$SELECT length(api.password_recovery_html_content('users-b@example.com')) > 100$$) AS html;
SELECT pg_temp.run('s', $$SELECT api.password_recovery_html_content('nobody@example.com')$$) AS html_unknown;
-- deleting a user takes their items, sessions and password with them
SELECT pg_temp.run('b', $$SELECT api.item_create('b item')->>'title'$$) AS b_item;
SELECT pg_temp.run('s', $$SELECT api.user_delete((SELECT id FROM pgapp.users WHERE email = 'Users-B@Example.com'))$$) AS delete_b;
SELECT count(*) AS b_left FROM pgapp.users WHERE lower(email) = 'users-b@example.com';
SELECT count(*) AS b_items_left FROM pgapp.items WHERE title = 'b item';
SELECT pg_temp.run('b', $$SELECT api.me()$$) AS deleted_user_token;

--
-- delete me
--
SELECT pg_temp.login('long', 'users-long@example.com', repeat('x', 72) || '-one') AS login;
SELECT pg_temp.run('long', $$SELECT api.delete_me()$$) AS delete_me;
SELECT pg_temp.run('long', $$SELECT api.me()$$) AS after_delete;
SELECT count(*) AS passwords_left FROM pgapp.passwords p
	WHERE NOT EXISTS (SELECT FROM pgapp.users u WHERE u.id = p.user_id);

--
-- a non-superuser role cannot read a hash or a key
--
SET ROLE regress_users_caller;
SELECT hash FROM pgapp.passwords;
SELECT secret FROM pgapp.signing_keys;
SELECT kid FROM pgapp.keys;
SELECT token_hash FROM pgapp.refresh_tokens;
SELECT token_hash FROM pgapp.reset_tokens;
SELECT html FROM pgapp.mail_outbox;
SELECT count(*) AS anonymous_sees FROM pgapp.users;
SELECT pgapp.password_hash('x', 4);
SELECT pgapp.jwt_sign('{"exp": 1}');
RESET ROLE;
DROP OWNED BY regress_users_caller;
DROP ROLE regress_users_caller;

--
-- traces: a write undone by a rolled-back savepoint is written again,
-- one kept by a released savepoint is not (each failure counts once)
--
BEGIN;
SELECT pgapp.trace('login_failure', '{"email": "users-trace@example.com", "client": "192.0.2.7"}');
SAVEPOINT a;
SELECT pgapp.traces_flush();
RELEASE a;
SELECT pgapp.trace('login_failure', '{"email": "users-trace@example.com", "client": "192.0.2.7"}');
SAVEPOINT b;
SELECT pgapp.traces_flush();
ROLLBACK TO b;
COMMIT;
SELECT pgapp.traces_flush();
SELECT pgapp.traces_flush();
SELECT t.key, t.failures FROM pgapp.login_throttle t
  JOIN pgapp.throttle_keys('users-trace@example.com', '192.0.2.7') k USING (key)
 ORDER BY t.key;
DELETE FROM pgapp.login_throttle t
 USING pgapp.throttle_keys('users-trace@example.com', '192.0.2.7') k WHERE t.key = k.key;

--
-- a login or a refresh in a read-only transaction is refused before any
-- check: the same error for the right and a wrong password (no oracle),
-- nothing to count, and the refresh token neither spent nor tried
--
SELECT api.signup('users-ro@example.com', 'password-ro')->>'email' AS signup;
SELECT pg_temp.login('ro', 'users-ro@example.com', 'password-ro') AS login_ro;
BEGIN READ ONLY;
SELECT pg_temp.login('x', 'users-ro@example.com', 'password-ro') AS read_only_right;
ROLLBACK;
BEGIN READ ONLY;
SELECT pg_temp.login('x', 'users-ro@example.com', 'wrong-password') AS read_only_wrong;
ROLLBACK;
SET default_transaction_read_only = on;
SELECT pg_temp.login('x', 'users-ro@example.com', 'wrong-password') AS default_read_only;
SELECT pg_temp.run(NULL, $$SELECT api.refresh_token(pg_temp.rt('ro')) IS NOT NULL$$) AS read_only_refresh;
RESET default_transaction_read_only;
SELECT count(*) AS failures_counted FROM pgapp.login_throttle t
  JOIN pgapp.throttle_keys('users-ro@example.com', NULL) k USING (key);
SELECT pg_temp.run(NULL, $$SELECT api.refresh_token(pg_temp.rt('ro')) IS NOT NULL$$) AS refresh_still_live;

-- clean up
DELETE FROM pgapp.users WHERE email LIKE 'users-%@example.com';
