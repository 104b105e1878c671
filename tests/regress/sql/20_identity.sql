--
-- Identity (identity.c): api.authenticate / api.current_user_id, the
-- transaction scope (cleared at commit and abort, restored by ROLLBACK TO),
-- the session scope (re-checked every transaction), the gateway's refusal
-- of a session identity, no forging with SET / set_config, and parallel
-- queries under row-level security.  Tokens live in psql variables (the
-- echo shows :'tok_a', never a token); no uuid or timestamp is printed.
--
SET client_min_messages = warning;

SELECT api.signup('ident-a@example.com', 'password-a')->>'email' AS signup;
SELECT api.signup('ident-b@example.com', 'password-b')->>'email' AS signup;
SELECT api.login('ident-a@example.com', 'password-a')->>'access_token' AS tok_a \gset
SELECT api.login('ident-b@example.com', 'password-b')->>'access_token' AS tok_b \gset
SELECT id AS uid_a FROM pgapp.users WHERE email = 'ident-a@example.com' \gset
-- a token lives ACCESS_TOKEN_EXPIRE_MINUTES: the template's client, which
-- never refreshes, wants its 8 days (docs/TEMPLATE.md)
BEGIN;
INSERT INTO pgapp.settings VALUES ('ACCESS_TOKEN_EXPIRE_MINUTES', '11520')
	ON CONFLICT (name) DO UPDATE SET value = excluded.value;
SELECT (l->>'expires_in')::int AS expires_in, (p->>'exp')::bigint - (p->>'iat')::bigint AS exp_minus_iat
  FROM api.login('ident-a@example.com', 'password-a') l,
	LATERAL (SELECT split_part(l->>'access_token', '.', 2) AS b64) s,
	LATERAL (SELECT convert_from(decode(rpad(translate(b64, '-_', '+/'),
		4 * ((length(b64) + 3) / 4), '='), 'base64'), 'UTF8')::jsonb AS p) d;
ROLLBACK;

-- who am I: the local part of the current user's email, or nobody
CREATE FUNCTION pg_temp.who() RETURNS text LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN api.current_user_id() IS NULL THEN 'nobody'
		ELSE coalesce((SELECT split_part(email, '@', 1) FROM pgapp.users
			WHERE id = api.current_user_id()), 'invisible') END $$;
-- the outcome of a statement: its value, or SQLSTATE and message
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	result text;
	st text;
	msg text;
BEGIN
	EXECUTE q INTO result;
	RETURN coalesce(result, 'NULL');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ' ' || msg;
END
$$;

--
-- Transaction scope
--
SELECT pg_temp.who() AS anonymous, api.current_user_id() IS NULL AS no_id;
SELECT api.authenticate(:'tok_a') = :'uid_a' AS authenticate_returns_the_user;
-- autocommit: the statement's transaction ended, and the identity with it
SELECT pg_temp.who() AS after_autocommit;
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SELECT pg_temp.who() AS in_transaction, api.current_user_id() = :'uid_a' AS id_matches;
SELECT pg_temp.who() AS still;
COMMIT;
SELECT pg_temp.who() AS after_commit;
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
ROLLBACK;
SELECT pg_temp.who() AS after_rollback;
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SELECT 1 / 0;
ROLLBACK;
SELECT pg_temp.who() AS after_error;
-- a later authenticate replaces the earlier one
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT pg_temp.who() AS replaced;
COMMIT;

--
-- Savepoints
--
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SAVEPOINT s1;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT pg_temp.who() AS inside_s1;
ROLLBACK TO s1;
SELECT pg_temp.who() AS back_to_a;
SAVEPOINT s2;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
RELEASE s2;
SELECT pg_temp.who() AS released_keeps_b;
SAVEPOINT s3;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SAVEPOINT s4;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT 1 / 0;
ROLLBACK TO s4;
SELECT pg_temp.who() AS back_to_a_after_error;
ROLLBACK TO s3;
SELECT pg_temp.who() AS back_to_b;
COMMIT;
SELECT pg_temp.who() AS after_commit;
-- an identity taken in a savepoint that is rolled back does not survive,
-- when there was none before
BEGIN;
SAVEPOINT s;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
ROLLBACK TO s;
SELECT pg_temp.who() AS nobody_again;
COMMIT;
-- the same through PL/pgSQL exception blocks
SELECT pg_temp.try($$SELECT api.authenticate('not a token')$$) AS bad_token;
SELECT pg_temp.who() AS after_bad_token;
DO $$
DECLARE
	t text := api.login('ident-b@example.com', 'password-b')->>'access_token';
BEGIN
	BEGIN
		PERFORM api.authenticate(t);
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	RAISE WARNING 'after the block: %', pg_temp.who();
END
$$;

--
-- Session scope: for psql callers (pgapp_caller), re-checked every transaction
--
CREATE ROLE regress_ident_caller IN ROLE pgapp_caller;
CREATE ROLE regress_ident_gateway IN ROLE pgapp_gateway, pgapp_caller;
-- a superuser has every role's privileges but is no member of the
-- gateway's role: a DBA in psql may take a session identity
SELECT api.authenticate(:'tok_a', session => true) = :'uid_a' AS superuser_session;
SELECT pg_temp.who() AS superuser_next_statement;
SELECT pgapp.logout_identity();
SELECT pg_temp.who() AS superuser_forgotten;
SET ROLE regress_ident_gateway;
SELECT pg_temp.try(format('SELECT api.authenticate(%L, session => true)', :'tok_a')) AS gateway_session;
SELECT pg_temp.who() AS gateway_still_nobody;
-- a transaction identity is fine for the gateway role
BEGIN;
SELECT api.authenticate(:'tok_a') IS NOT NULL AS ok;
SELECT pg_temp.who() AS gateway_transaction;
COMMIT;
RESET ROLE;
SET ROLE regress_ident_caller;
SELECT api.login('ident-a@example.com', 'password-a')->>'access_token' AS tok_a2 \gset
SELECT api.authenticate(:'tok_a2', session => true) = :'uid_a' AS session_identity;
SELECT pg_temp.who() AS next_statement;
BEGIN;
SELECT pg_temp.who() AS next_transaction;
ROLLBACK;
SELECT pg_temp.who() AS after_rollback;
SELECT api.me()->>'email' AS me;
-- the caller sees its own row only
SELECT count(*) AS visible_users FROM pgapp.users;
-- a transaction identity on top of it
BEGIN;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT pg_temp.who() AS transaction_over_session;
COMMIT;
-- ... ends with its transaction: the session identity is in force again
SELECT pg_temp.who() AS session_after_commit;
BEGIN;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
ROLLBACK;
SELECT pg_temp.who() AS session_after_rollback;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS autocommit_transaction_identity;
SELECT pg_temp.who() AS session_after_autocommit;
-- a session identity and a transaction identity over it, in one transaction
BEGIN;
SELECT api.authenticate(:'tok_b', session => true) IS NOT NULL AS ok;
SELECT api.authenticate(:'tok_a2') IS NOT NULL AS ok;
SELECT pg_temp.who() AS transaction_identity;
COMMIT;
SELECT pg_temp.who() AS session_taken_under_it;
-- logout in the same session: the identity is gone at once
SELECT api.authenticate(:'tok_a2', session => true) IS NOT NULL AS again;
SELECT api.logout()->>'message' AS logout;
SELECT pg_temp.who() AS after_logout;
SELECT pg_temp.try(format('SELECT api.authenticate(%L, session => true)', :'tok_a2')) AS revoked_token;
-- revoked behind its back (another connection): refused at the next transaction
SELECT api.login('ident-a@example.com', 'password-a')->>'access_token' AS tok_a3 \gset
SELECT api.authenticate(:'tok_a3', session => true) IS NOT NULL AS session_again;
RESET ROLE;
UPDATE pgapp.sessions SET revoked_at = now()
	WHERE user_id = :'uid_a' AND revoked_at IS NULL;
SET ROLE regress_ident_caller;
SELECT pg_temp.try('SELECT pg_temp.who()') AS revoked_elsewhere;
SELECT pg_temp.who() AS then_nobody;
RESET ROLE;

--
-- SET and set_config cannot forge an identity
--
SET ROLE regress_ident_caller;
SET pgapp.user_id = :'uid_a';
SELECT pg_temp.who() AS set_user_id;
SELECT set_config('request.jwt.claims', format('{"sub": "%s"}', :'uid_a'), false) IS NOT NULL AS set;
SELECT set_config('request.jwt.claim.sub', :'uid_a', false) IS NOT NULL AS set;
SELECT pg_temp.who() AS set_config_claims;
SELECT pg_temp.try('SELECT api.me()') AS me;
SELECT count(*) AS visible_users FROM pgapp.users;
SELECT pg_temp.try('SELECT pgapp.logout_identity()') AS internal;
RESET pgapp.user_id;
RESET ROLE;

--
-- Parallel query: the identity lives in the leader; RLS still filters
--
SELECT api.login('ident-a@example.com', 'password-a')->>'access_token' AS tok_a4 \gset
BEGIN;
SELECT api.authenticate(:'tok_a4') IS NOT NULL AS ok;
SELECT count(*) AS created FROM (SELECT api.item_create('ident-item-' || g) FROM generate_series(1, 5) g) x;
COMMIT;
BEGIN;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT api.item_create('ident-b-item')->>'title' AS created;
COMMIT;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- debug_parallel_query (16+) was force_parallel_mode (13..15)
DO $$
BEGIN
	BEGIN
		SET debug_parallel_query = on;
	EXCEPTION WHEN undefined_object THEN
		SET force_parallel_mode = on;
	END;
END
$$;
SET ROLE regress_ident_caller;
BEGIN;
SELECT api.authenticate(:'tok_a4') IS NOT NULL AS ok;
SELECT count(*) AS a_items FROM pgapp.items;
SELECT count(*) AS a_items_titled FROM pgapp.items WHERE title LIKE 'ident-%';
SELECT string_agg(title, ',' ORDER BY title) AS a_titles FROM pgapp.items;
SELECT api.items_list()->>'count' AS a_list_count;
SELECT count(*) AS a_users FROM pgapp.users;
COMMIT;
BEGIN;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
SELECT string_agg(title, ',' ORDER BY title) AS b_titles FROM pgapp.items;
COMMIT;
SELECT count(*) AS anonymous_items FROM pgapp.items;
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DO $$
BEGIN
	BEGIN
		RESET debug_parallel_query;
	EXCEPTION WHEN undefined_object THEN
		RESET force_parallel_mode;
	END;
END
$$;

--
-- The session check runs as the extension owner but is parsed with the
-- caller's search_path: a caller's own "=" for uuid, put ahead of
-- pg_catalog in a schema the owner can see, must not be used (it would run
-- with the owner's rights)
--
CREATE SCHEMA regress_ident_evil AUTHORIZATION regress_ident_caller;
SET ROLE regress_ident_caller;
GRANT USAGE ON SCHEMA regress_ident_evil TO PUBLIC;
CREATE FUNCTION regress_ident_evil.uuid_eq(a uuid, b uuid) RETURNS boolean
	LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'operator hijacked as %', current_user; END $$;
CREATE OPERATOR regress_ident_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_ident_evil.uuid_eq);
SET search_path = regress_ident_evil, pg_catalog;
SELECT pg_temp.try(format('SELECT api.authenticate(%L) IS NOT NULL', :'tok_b')) AS hijack_refused;
RESET search_path;
RESET ROLE;
DROP SCHEMA regress_ident_evil CASCADE;

--
-- A session identity taken in a transaction that rolls back is undone with
-- it, and so is one taken in a subtransaction rolled back to its savepoint
--
SET ROLE regress_ident_caller;
SELECT api.login('ident-a@example.com', 'password-a')->>'access_token' AS tok_a5 \gset
BEGIN;
SELECT api.authenticate(:'tok_a5', session => true) IS NOT NULL AS ok;
SELECT pg_temp.who() AS in_transaction;
ROLLBACK;
SELECT pg_temp.who() AS after_rollback;
SELECT api.authenticate(:'tok_a5', session => true) IS NOT NULL AS session_a;
BEGIN;
SAVEPOINT s;
SELECT api.authenticate(:'tok_b', session => true) IS NOT NULL AS ok;
SELECT pg_temp.who() AS in_savepoint;
ROLLBACK TO s;
SELECT pg_temp.who() AS after_rollback_to;
COMMIT;
SELECT pg_temp.who() AS after_commit;

--
-- PREPARE TRANSACTION is refused once the transaction took a session
-- identity (ROLLBACK PREPARED could not undo it) or wrote the traces of
-- failed requests (ROLLBACK PREPARED would lose them): the transaction
-- rolls back and nothing is lost.  This cluster runs with
-- max_prepared_transactions = 0, so a PREPARE that passes these checks
-- fails next with "prepared transactions are disabled" (shown terse: the
-- hint quotes the setting's name from PostgreSQL 17 on).
--
BEGIN;
SELECT api.authenticate(:'tok_b', session => true) IS NOT NULL AS ok;
PREPARE TRANSACTION 'regress_ident_session';
SELECT pg_temp.who() AS session_a_after_refused_prepare;
BEGIN;
SAVEPOINT s;
SELECT api.authenticate(:'tok_b', session => true) IS NOT NULL AS ok;
RELEASE s;
SELECT api.authenticate(:'tok_a5') IS NOT NULL AS transaction_identity_over_it;
PREPARE TRANSACTION 'regress_ident_session_under';
SELECT pg_temp.who() AS session_a_still;
-- a transaction identity alone is no reason to refuse
BEGIN;
SELECT api.authenticate(:'tok_b') IS NOT NULL AS ok;
\set VERBOSITY terse
PREPARE TRANSACTION 'regress_ident_transaction';
\set VERBOSITY default
SELECT pg_temp.who() AS session_a_after_prepare;
-- a session identity taken in a savepoint rolled back is no reason either
BEGIN;
SAVEPOINT s;
SELECT api.authenticate(:'tok_b', session => true) IS NOT NULL AS ok;
ROLLBACK TO s;
\set VERBOSITY terse
PREPARE TRANSACTION 'regress_ident_rolled_back';
\set VERBOSITY default
RESET ROLE;
-- traces: a failed login, written by the flush of a transaction
SELECT coalesce((SELECT failures FROM pgapp.login_throttle
	WHERE key = 'account:ident-a@example.com'), 0) AS failures_before \gset
SELECT pg_temp.try($$SELECT api.login('ident-a@example.com', 'wrong-password')$$) AS failed_login;
BEGIN;
SELECT pgapp.traces_flush();
SELECT failures - :failures_before AS written_in_transaction FROM pgapp.login_throttle
	WHERE key = 'account:ident-a@example.com';
PREPARE TRANSACTION 'regress_ident_traces';
SELECT coalesce((SELECT failures FROM pgapp.login_throttle
	WHERE key = 'account:ident-a@example.com'), 0) - :failures_before AS after_refused_prepare;
SELECT pgapp.traces_flush();
SELECT coalesce((SELECT failures FROM pgapp.login_throttle
	WHERE key = 'account:ident-a@example.com'), 0) - :failures_before AS written_later;
-- queued but not yet written (the failed call rolled back): no reason to
-- refuse, and the trace stays queued
SELECT pg_temp.try($$SELECT api.login('ident-a@example.com', 'wrong-password')$$) AS failed_login;
BEGIN;
SELECT 1 AS no_flush;
\set VERBOSITY terse
PREPARE TRANSACTION 'regress_ident_queued';
\set VERBOSITY default
SELECT pgapp.traces_flush();
SELECT coalesce((SELECT failures FROM pgapp.login_throttle
	WHERE key = 'account:ident-a@example.com'), 0) - :failures_before AS written_after_prepare;
SELECT pgapp.logout_identity();

-- clean up
DELETE FROM pgapp.login_throttle WHERE key = 'account:ident-a@example.com';
DELETE FROM pgapp.users WHERE email LIKE 'ident-%@example.com';
DROP ROLE regress_ident_caller;
DROP ROLE regress_ident_gateway;

--
-- DISCARD ALL, a connection pooler's reset between two clients, forgets a
-- session identity (last: it also drops this file's temporary helpers)
--
SELECT api.signup('ident-c@example.com', 'password-c')->>'email' AS signup;
SELECT api.login('ident-c@example.com', 'password-c')->>'access_token' AS tok_c \gset
CREATE ROLE regress_ident_pooled IN ROLE pgapp_caller;
SET ROLE regress_ident_pooled;
SELECT api.authenticate(:'tok_c', session => true) IS NOT NULL AS session_c;
SELECT api.me()->>'email' AS me;
RESET ROLE;
DISCARD ALL;
SET ROLE regress_ident_pooled;
SELECT api.current_user_id() IS NULL AS after_discard_all;
RESET ROLE;
DROP ROLE regress_ident_pooled;
DELETE FROM pgapp.users WHERE email = 'ident-c@example.com';
