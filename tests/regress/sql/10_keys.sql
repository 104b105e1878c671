--
-- The keyring (20_keys.sql, keys.c): add, retire, apply, rotation, the
-- key cache, and who may touch secrets.  Kids are random: outputs show
-- facts about them, never the kids themselves.
--
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TEMP TABLE saved_keys AS SELECT kid, retired_at, from_environment FROM pgapp.signing_keys;
CREATE TEMP TABLE saved_settings AS SELECT name, value FROM pgapp.settings
	WHERE name IN ('ENVIRONMENT', 'ACCESS_TOKEN_EXPIRE_MINUTES');
CREATE FUNCTION pg_temp.try(token text) RETURNS text LANGUAGE plpgsql
AS $$
DECLARE
	st text;
	msg text;
BEGIN
	PERFORM api.jwt_verify(token);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ' ' || msg;
END
$$;
CREATE FUNCTION pg_temp.kid_of(token text) RETURNS text LANGUAGE sql
AS $$ SELECT convert_from(decode(rpad(translate(split_part(token, '.', 1), '-_', '+/'),
	(length(split_part(token, '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb ->> 'kid' $$;
CREATE FUNCTION pg_temp.sign() RETURNS text LANGUAGE sql
AS $$ SELECT pgapp.jwt_sign(jsonb_build_object('sub', 'u1',
	'exp', extract(epoch FROM now())::bigint + 3600)) $$;

INSERT INTO pgapp.settings VALUES ('ENVIRONMENT', 'local')
	ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- refusals
SELECT pgapp.key_add('too-short-secret');
SELECT pgapp.key_add(repeat('x', 31));
SELECT pgapp.key_add(repeat('é', 16)) ~ '^[0-9a-f]{16}$' AS accepted_32_bytes;
SELECT pgapp.key_add(repeat('x', 40), 'HS384');
SELECT pgapp.key_add(repeat('x', 63), 'HS512');
SELECT pgapp.key_add(repeat('x', 64), 'hs256');
SELECT pgapp.key_add(repeat('x', 64), 'none');
SELECT pgapp.key_add(repeat('x', 64), 'RS256');
SELECT pgapp.key_add(NULL);
SELECT pgapp.key_import(convert_to(repeat('x', 64), 'UTF8'), 'HS256', 'bad kid!');
SELECT pgapp.key_import(convert_to(repeat('x', 64), 'UTF8'), 'HS256', '');
\set VERBOSITY terse
INSERT INTO pgapp.signing_keys (kid, algorithm, secret) VALUES ('regress-short', 'HS512', '\x00');
\set VERBOSITY default

-- the development key of .env.example: local only
SELECT pgapp.key_add('dev-secret-key-for-local-use-only-change-me-0123456789') ~ '^[0-9a-f]{16}$' AS dev_key_local;
UPDATE pgapp.settings SET value = 'production' WHERE name = 'ENVIRONMENT';
SELECT pgapp.key_add('dev-secret-key-for-local-use-only-change-me-0123456789');
SELECT pgapp.key_apply('dev-secret-key-for-local-use-only-change-me-0123456789', 'HS256');
SELECT pgapp.key_add('dev-secret-key-for-local-use-only-change-me-0123456789x') ~ '^[0-9a-f]{16}$' AS other_key_production;
UPDATE pgapp.settings SET value = 'local' WHERE name = 'ENVIRONMENT';

-- key_add: a new kid, now the one signing key; the view shows no secret
SELECT pgapp.key_add('regress-rotation-key-one-0123456789') AS k1 \gset
SELECT :'k1' ~ '^[0-9a-f]{16}$' AS kid_shape, signing, algorithm, retired_at
	FROM pgapp.keys WHERE kid = :'k1';
SELECT count(*) FILTER (WHERE signing) AS signing_keys FROM pgapp.keys;
SELECT column_name FROM information_schema.columns
	WHERE table_schema = 'pgapp' AND table_name = 'keys' ORDER BY ordinal_position;
SELECT pg_temp.sign() AS t1 \gset
SELECT pg_temp.kid_of(:'t1') = :'k1' AS t1_signed_by_k1, pg_temp.try(:'t1') AS t1;

-- rotation by hand: k2 signs, tokens of k1 verify until k1 is retired
SELECT pgapp.key_add('regress-rotation-key-two-0123456789', 'HS256') AS k2 \gset
SELECT pg_temp.sign() AS t2 \gset
SELECT pg_temp.kid_of(:'t2') = :'k2' AS t2_signed_by_k2,
	(SELECT signing FROM pgapp.keys WHERE kid = :'k1') AS k1_signing,
	(SELECT signing FROM pgapp.keys WHERE kid = :'k2') AS k2_signing;
SELECT pg_temp.try(:'t1') AS t1_after_rotation, pg_temp.try(:'t2') AS t2;
-- the cache was loaded above; retiring k1 must reach it
SELECT pgapp.key_retire(:'k1');
SELECT pg_temp.try(:'t1') AS t1_after_retire, pg_temp.try(:'t2') AS t2;
SELECT retired_at IS NOT NULL AS k1_retired, signing FROM pgapp.keys WHERE kid = :'k1';
SELECT pgapp.key_retire(:'k1');                          -- again: no change
SELECT pgapp.key_retire('no-such-key');
SELECT pgapp.key_retire(NULL);

-- every kind of change reaches the cache: UPDATE, DELETE, TRUNCATE and
-- the rollback of each
UPDATE pgapp.signing_keys SET retired_at = now() - interval '1 second' WHERE kid = :'k2';
SELECT pg_temp.try(:'t2') AS t2_after_update;
UPDATE pgapp.signing_keys SET retired_at = NULL WHERE kid = :'k2';
SELECT pg_temp.try(:'t2') AS t2_after_unretire;
BEGIN;
DELETE FROM pgapp.signing_keys WHERE kid = :'k2';
SELECT pg_temp.try(:'t2') AS t2_deleted_in_transaction;
ROLLBACK;
SELECT pg_temp.try(:'t2') AS t2_after_rollback;
BEGIN;
TRUNCATE pgapp.signing_keys;
SELECT pg_temp.try(:'t2') AS t2_truncated_in_transaction;
SELECT pgapp.jwt_sign('{"exp":1}');
ROLLBACK;
SELECT pg_temp.try(:'t2') AS t2_after_rollback;

-- retirement is a time, checked at each verification, not at load
UPDATE pgapp.signing_keys SET retired_at = clock_timestamp() + interval '2 seconds' WHERE kid = :'k2';
SELECT pg_temp.try(:'t2') AS t2_before_retired_at;
SELECT pg_sleep(2.5);
SELECT pg_temp.try(:'t2') AS t2_after_retired_at;
UPDATE pgapp.signing_keys SET retired_at = NULL WHERE kid = :'k2';

-- retiring the last live key is allowed, with a warning
BEGIN;
UPDATE pgapp.signing_keys SET retired_at = now() WHERE kid <> :'k2' AND retired_at IS NULL;
SET LOCAL client_min_messages = warning;
SELECT pgapp.key_retire(:'k2');
SELECT count(*) FILTER (WHERE signing) AS signing_keys FROM pgapp.keys;
SELECT pgapp.jwt_sign('{"exp":1}');
ROLLBACK;

-- key_apply (SECRET_KEY, at every start): the environment's key of this
-- database is the one marked; k2, added by hand, signs
SELECT count(*) FILTER (WHERE from_environment) AS marked,
	bool_or(signing AND from_environment) AS marked_key_signs FROM pgapp.keys;
-- a change to the secret of a live key takes that key over (no duplicate)
-- and retires the others after ACCESS_TOKEN_EXPIRE_MINUTES, so their tokens
-- live until they expire; applying it again is a no-op
SELECT count(*) AS keys_before FROM pgapp.signing_keys \gset
SELECT pgapp.key_apply('regress-rotation-key-two-0123456789', 'HS256') = :'k2' AS k2_taken_over;
SELECT count(*) - :keys_before AS keys_added,
	(SELECT kid FROM pgapp.keys WHERE from_environment) = :'k2' AS k2_marked FROM pgapp.signing_keys;
SELECT pgapp.key_apply('regress-applied-key-three-0123456789', 'HS256') AS k3 \gset
SELECT :'k3' <> :'k2' AS new_kid,
	(SELECT signing FROM pgapp.keys WHERE kid = :'k3') AS k3_signing,
	(SELECT retired_at - now() BETWEEN interval '29 minutes' AND interval '30 minutes'
		FROM pgapp.keys WHERE kid = :'k2') AS k2_retires_in_30_min;
SELECT pgapp.key_apply('regress-applied-key-three-0123456789', 'HS256') = :'k3' AS apply_again_is_noop;
SELECT count(*) AS keys_added_by_reapply FROM pgapp.signing_keys
	WHERE created_at > (SELECT created_at FROM pgapp.signing_keys WHERE kid = :'k3');
SELECT pg_temp.try(:'t2') AS t2_during_grace;
SELECT pg_temp.sign() AS t3 \gset
SELECT pg_temp.kid_of(:'t3') = :'k3' AS t3_signed_by_k3, pg_temp.try(:'t3') AS t3;
-- same secret, other algorithm: a change; the grace period follows the setting
INSERT INTO pgapp.settings VALUES ('ACCESS_TOKEN_EXPIRE_MINUTES', '5')
	ON CONFLICT (name) DO UPDATE SET value = excluded.value;
SELECT pgapp.key_apply('regress-applied-key-three-0123456789-and-more-bytes', 'HS384') AS k4 \gset
SELECT algorithm, signing FROM pgapp.keys WHERE kid = :'k4';
SELECT kid = :'k3' AS is_k3, retired_at - now() BETWEEN interval '4 minutes' AND interval '5 minutes' AS retires_in_5_min
	FROM pgapp.keys WHERE kid IN (:'k2', :'k3') ORDER BY 1;
SELECT pg_temp.sign() AS t4 \gset
SELECT convert_from(decode(rpad(translate(split_part(:'t4', '.', 1), '-_', '+/'),
	(length(split_part(:'t4', '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb ->> 'alg' AS t4_alg,
	pg_temp.try(:'t4') AS t4, pg_temp.try(:'t3') AS t3, pg_temp.try(:'t2') AS t2;

-- secrets stored compressed in line, out of line (TOAST) and both load
-- like the others (keys.c wipes each copy it makes of them on the way)
BEGIN;
SELECT reltoastrelid::regclass AS toast FROM pg_class WHERE oid = 'pgapp.signing_keys'::regclass \gset
SELECT count(DISTINCT chunk_id) AS toasted_before FROM :toast \gset
SELECT pgapp.key_add(repeat('regress-compressible-', 200)) AS kc \gset
SELECT pg_temp.sign() AS tc \gset
SELECT pgapp.key_import((SELECT string_agg(sha256(convert_to(g::text, 'UTF8')), '' ORDER BY g)
	FROM generate_series(1, 100) g)) AS ke \gset
SELECT pg_temp.sign() AS te \gset
SELECT pgapp.key_add(repeat('x', 300000)) AS kx \gset
SELECT pg_temp.sign() AS tx \gset
SELECT kid = :'kc' AS is_kc, kid = :'ke' AS is_ke, octet_length(secret) AS bytes,
	pg_column_size(secret) < octet_length(secret) AS compressed
	FROM pgapp.signing_keys WHERE kid IN (:'kc', :'ke', :'kx') ORDER BY 3;
SELECT count(DISTINCT chunk_id) - :toasted_before AS out_of_line FROM :toast;
SELECT pg_temp.kid_of(:'tc') = :'kc' AS tc_signed_by_kc, pg_temp.kid_of(:'te') = :'ke' AS te_signed_by_ke,
	pg_temp.kid_of(:'tx') = :'kx' AS tx_signed_by_kx;
SELECT pg_temp.try(:'tc') AS tc, pg_temp.try(:'te') AS te, pg_temp.try(:'tx') AS tx;
-- a changed secret is refused: the cache holds each secret, not a prefix
UPDATE pgapp.signing_keys SET secret = overlay(secret PLACING '\x79' FROM 299999) WHERE kid = :'kx';
SELECT pg_temp.try(:'tx') AS tx_changed_secret, pg_temp.try(:'tc') AS tc;
ROLLBACK;

-- steady state: the cache answers, no query per verification
SELECT pg_temp.try(:'t4') AS t4_loads_the_cache;
BEGIN;
SELECT pg_stat_get_xact_numscans('pgapp.signing_keys'::regclass) AS scans_before \gset
SELECT count(*) FILTER (WHERE pg_temp.try(:'t4') = 'ok') AS verified FROM generate_series(1, 100);
SELECT pg_stat_get_xact_numscans('pgapp.signing_keys'::regclass) - :scans_before AS keyring_scans;
COMMIT;

-- no setting changes signing or verification: whatever a session SETs,
-- alg none stays refused and the key decides the algorithm
DO $$
DECLARE
	name text;
BEGIN
	FOREACH name IN ARRAY ARRAY['pgapp.algorithm', 'pgapp.alg', 'pgapp.jwt_algorithm',
		'pgapp.leeway', 'pgapp.verify', 'request.jwt.claims'] LOOP
		BEGIN
			PERFORM set_config(name, 'none', false);
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END LOOP;
END
$$;
SELECT pg_temp.try(split_part(:'t4', '.', 1) || '.' || split_part(:'t4', '.', 2) || '.') AS unsigned,
	pg_temp.try(translate(
		replace(replace(encode(convert_to('{"alg":"none","kid":"' || :'k4' || '"}', 'UTF8'), 'base64'), E'\n', ''), '=', ''),
		'+/', '-_') || '.' || split_part(:'t4', '.', 2) || '.' || split_part(:'t4', '.', 3)) AS alg_none,
	pg_temp.try(:'t4') AS t4;

-- an unchanged SECRET_KEY leaves alone what a DBA did since it was
-- applied: a key added by hand keeps signing ...
SELECT pgapp.key_add('regress-dba-key-five-0123456789abcdef') AS k5 \gset
SELECT count(*) AS keys_before FROM pgapp.signing_keys \gset
SELECT pgapp.key_apply('regress-applied-key-three-0123456789-and-more-bytes', 'HS384') = :'k5' AS k5_still_signs;
SELECT kid = :'k4' AS is_k4, signing, from_environment, retired_at IS NULL AS live
	FROM pgapp.keys WHERE kid IN (:'k4', :'k5') ORDER BY 1;
-- ... and a key retired by hand stays retired (with a warning)
SELECT pgapp.key_retire(:'k4');
SELECT pgapp.key_apply('regress-applied-key-three-0123456789-and-more-bytes', 'HS384') = :'k5' AS k5_still_signs;
SELECT retired_at <= now() AS k4_retired, signing, from_environment FROM pgapp.keys WHERE kid = :'k4';
SELECT count(*) - :keys_before AS keys_added FROM pgapp.signing_keys;
SELECT pg_temp.try(:'t4') AS t4_stays_refused;
-- with no other key to sign, the retired SECRET_KEY is refused
BEGIN;
SELECT pgapp.key_retire(:'k5');
SELECT pgapp.key_apply('regress-applied-key-three-0123456789-and-more-bytes', 'HS384');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a changed SECRET_KEY equal to a retired key (k1, k4) is refused, also
-- through setup as at a start, and nothing changes, not even the settings
SELECT pgapp.key_apply('regress-rotation-key-one-0123456789', 'HS256');
\echo :LAST_ERROR_SQLSTATE
SELECT pgapp.key_apply('regress-applied-key-three-0123456789-and-more-bytes', 'HS256');
\echo :LAST_ERROR_SQLSTATE
SELECT pgapp.setup(E'ACCESS_TOKEN_EXPIRE_MINUTES=7\nSECRET_KEY=regress-rotation-key-one-0123456789');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :keys_before AS keys_added, pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES') AS minutes,
	(SELECT kid FROM pgapp.keys WHERE from_environment) = :'k4' AS k4_still_marked FROM pgapp.signing_keys;
-- a new SECRET_KEY rotates: it signs, the DBA's key retires after the grace
SELECT pgapp.key_apply('regress-applied-key-six-0123456789abcdef', 'HS256') AS k6 \gset
SELECT kid = :'k6' AS is_k6, signing, from_environment,
	retired_at - now() BETWEEN interval '4 minutes' AND interval '5 minutes' AS retires_in_5_min
	FROM pgapp.keys WHERE kid IN (:'k5', :'k6') ORDER BY 1;
SELECT count(*) FILTER (WHERE from_environment) AS marked FROM pgapp.keys;
-- a database from before 1.3 has no marked key: the first application
-- takes over a live key with the secret and changes nothing else, so a
-- key a DBA added since the last start keeps signing
BEGIN;
SELECT pgapp.key_add('regress-dba-key-seven-0123456789abcdef') AS k7 \gset
UPDATE pgapp.signing_keys SET from_environment = false;
SELECT count(*) AS keys_before FROM pgapp.signing_keys \gset
SELECT pgapp.key_apply('regress-applied-key-six-0123456789abcdef', 'HS256') = :'k7' AS k7_still_signs;
SELECT count(*) - :keys_before AS keys_added,
	(SELECT kid FROM pgapp.keys WHERE from_environment) = :'k6' AS k6_marked,
	(SELECT retired_at FROM pgapp.keys WHERE kid = :'k6') AS k6_retired_at FROM pgapp.signing_keys;
ROLLBACK;

-- secrets are the extension owner's and the superusers' only
CREATE ROLE regress_keys_user NOLOGIN;
GRANT pgapp_caller TO regress_keys_user;
SET ROLE regress_keys_user;
DO $$
DECLARE
	probe text;
	probes text[] := ARRAY[
		'SELECT secret FROM pgapp.signing_keys',
		'SELECT kid FROM pgapp.keys',
		'SELECT pgapp.jwt_sign(''{"exp":1}'')',
		'SELECT pgapp.jwt_hmac(''x'', ''\x00'', ''HS256'')',
		'SELECT pgapp.key_add(repeat(''x'', 64))',
		'SELECT pgapp.key_import(''\x00'', ''HS256'', NULL)',
		'SELECT pgapp.key_apply(repeat(''x'', 64), ''HS256'')',
		'SELECT pgapp.key_retire(''x'')',
		'UPDATE pgapp.signing_keys SET retired_at = NULL',
		'DELETE FROM pgapp.signing_keys'];
BEGIN
	FOREACH probe IN ARRAY probes LOOP
		BEGIN
			EXECUTE probe;
			RAISE WARNING '% -> allowed', probe;
		EXCEPTION WHEN insufficient_privilege THEN
			RAISE WARNING '% -> permission denied', probe;
		WHEN OTHERS THEN
			RAISE WARNING '% -> %', probe, SQLSTATE;
		END;
	END LOOP;
END
$$;
RESET ROLE;
DROP ROLE regress_keys_user;
-- ... also from a role that may SELECT every table: pg_read_all_data
-- (PostgreSQL 14+), or on 13 the same privileges granted one by one.  Row
-- security hides every row of the keyring and the settings from it; the
-- view pgapp.keys (no secrets) still lists the keys, and the owner, which
-- the key loader switches to, sees them all
CREATE ROLE regress_backup NOLOGIN;
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_read_all_data') THEN
		EXECUTE 'GRANT pg_read_all_data TO regress_backup';
	ELSE
		GRANT USAGE ON SCHEMA pgapp TO regress_backup;
		GRANT SELECT ON pgapp.signing_keys, pgapp.settings, pgapp.keys TO regress_backup;
	END IF;
END
$$;
SELECT has_table_privilege('regress_backup', 'pgapp.signing_keys', 'SELECT') AS backup_may_select_keys,
	has_table_privilege('regress_backup', 'pgapp.settings', 'SELECT') AS backup_may_select_settings;
SET ROLE regress_backup;
SELECT count(*) AS secrets_seen_by_backup FROM pgapp.signing_keys;
SELECT count(*) AS settings_seen_by_backup FROM pgapp.settings;
SELECT count(*) > 0 AS backup_lists_keys FROM pgapp.keys;
RESET ROLE;
SET ROLE pgapp_owner;
SELECT count(*) > 0 AS owner_reads_keys FROM pgapp.signing_keys;
SELECT count(*) > 0 AS owner_reads_settings FROM pgapp.settings;
RESET ROLE;
SELECT pg_temp.try(pg_temp.sign()) AS signed_and_verified_after_role_switches;
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_read_all_data') THEN
		EXECUTE 'REVOKE pg_read_all_data FROM regress_backup';
	ELSE
		REVOKE USAGE ON SCHEMA pgapp FROM regress_backup;
		REVOKE SELECT ON pgapp.signing_keys, pgapp.settings, pgapp.keys FROM regress_backup;
	END IF;
END
$$;
DROP ROLE regress_backup;

-- clean up: the keyring and the settings are as they were
DELETE FROM pgapp.signing_keys k WHERE NOT EXISTS (SELECT FROM saved_keys s WHERE s.kid = k.kid);
UPDATE pgapp.signing_keys k SET retired_at = s.retired_at FROM saved_keys s
	WHERE s.kid = k.kid AND k.retired_at IS DISTINCT FROM s.retired_at;
UPDATE pgapp.signing_keys k SET from_environment = false FROM saved_keys s
	WHERE s.kid = k.kid AND k.from_environment AND NOT s.from_environment;
UPDATE pgapp.signing_keys k SET from_environment = true FROM saved_keys s
	WHERE s.kid = k.kid AND s.from_environment AND NOT k.from_environment;
DELETE FROM pgapp.settings WHERE name IN ('ENVIRONMENT', 'ACCESS_TOKEN_EXPIRE_MINUTES');
INSERT INTO pgapp.settings SELECT name, value FROM saved_settings;
SELECT (SELECT count(*) FROM pgapp.signing_keys) = (SELECT count(*) FROM saved_keys) AS keyring_restored,
	(SELECT count(*) FROM pgapp.signing_keys k JOIN saved_keys s USING (kid, from_environment)) = (SELECT count(*) FROM saved_keys) AS marks_restored;
