--
-- pgapp.setup (80_setup.sql), what scripts/apply-env.sh runs at every
-- start: the gateway login's password reaches the catalog as a SCRAM
-- verifier only; GATEWAY_DB_USER may not name pgapp's own, reserved or
-- privileged roles; the development key is refused outside
-- ENVIRONMENT=local even when SECRET_KEY is empty; the first superuser's
-- errors name its variables.  Every case rolls back: roles are
-- cluster-wide and the gateway of the test run logs in with its own.
--
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- the verifier: SCRAM-SHA-256, salted, never of a hash or of nothing
SELECT pgapp.scram_verifier('regress-password-0123')
	~ '^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*:[A-Za-z0-9+/]+=*$' AS scram_shape;
SELECT pgapp.scram_verifier('same') <> pgapp.scram_verifier('same') AS salted;
SELECT pgapp.scram_verifier('');
SELECT pgapp.scram_verifier('md5' || md5('x'));
SELECT pgapp.scram_verifier(pgapp.scram_verifier('x'));
SELECT has_function_privilege('pgapp_gateway', 'pgapp.scram_verifier(text)', 'EXECUTE') AS gateway,
	has_function_privilege('pgapp_caller', 'pgapp.scram_verifier(text)', 'EXECUTE') AS caller;

-- the gateway login: a verifier in the catalog, the role's settings, and
-- a changed GATEWAY_DB_USER takes pgapp_gateway away from the previous one
BEGIN;
DELETE FROM pgapp.settings WHERE name = 'GATEWAY_DB_USER';
SELECT pgapp.setup(E'GATEWAY_DB_USER=regress_setup_gw\nGATEWAY_DB_PASSWORD=TopSecretPw42') AS report;
SELECT rolname, left(rolpassword, 14) AS stored, rolpassword LIKE '%TopSecretPw42%' AS plain,
	rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, pg_has_role(oid, 'pgapp_gateway', 'MEMBER') AS gateway_member
  FROM pg_authid WHERE rolname = 'regress_setup_gw';
SELECT value FROM pgapp.settings WHERE name = 'GATEWAY_DB_USER';
-- the same again: nothing to say
SELECT pgapp.setup(E'GATEWAY_DB_USER=regress_setup_gw\nGATEWAY_DB_PASSWORD=TopSecretPw42') AS report;
SELECT pgapp.setup(E'GATEWAY_DB_USER=regress_setup_gw2\nGATEWAY_DB_PASSWORD=OtherSecretPw43') AS report;
SELECT rolname, rolcanlogin, pg_has_role(oid, 'pgapp_gateway', 'MEMBER') AS gateway_member
  FROM pg_authid WHERE rolname LIKE 'regress\_setup\_gw%' ORDER BY 1;
SELECT value FROM pgapp.settings WHERE name = 'GATEWAY_DB_USER';
ROLLBACK;

-- roles GATEWAY_DB_USER may not name, refused before anything changes
CREATE ROLE regress_setup_bypass LOGIN BYPASSRLS;
CREATE ROLE regress_setup_super LOGIN SUPERUSER;
CREATE ROLE regress_setup_ownerish LOGIN;
GRANT pgapp_owner TO regress_setup_ownerish;
SELECT pgapp.setting('PROJECT_NAME') AS project_before \gset
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pgapp_owner\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pgapp_gateway\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pgapp_caller\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pg_database_owner\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pg_regress_new_role\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=regress_setup_bypass\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=regress_setup_super\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=regress_setup_ownerish\nGATEWAY_DB_PASSWORD=TopSecretPw42');
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=' || repeat('r', 64) || E'\nGATEWAY_DB_PASSWORD=TopSecretPw42');
-- without a password too: the name alone is refused
SELECT pgapp.setup(E'PROJECT_NAME=changed\nGATEWAY_DB_USER=pgapp_owner');
SELECT pgapp.setting('PROJECT_NAME') = :'project_before' AS project_unchanged;
SELECT rolname, rolcanlogin, rolpassword IS NULL AS no_password
  FROM pg_authid WHERE rolname IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller', 'regress_setup_bypass',
	'regress_setup_super', 'regress_setup_ownerish') ORDER BY 1;
DROP ROLE regress_setup_bypass, regress_setup_super, regress_setup_ownerish;

-- the development key: applied while local, it keeps signing when
-- ENVIRONMENT becomes production with SECRET_KEY empty: refused
BEGIN;
DELETE FROM pgapp.settings WHERE name = 'ENVIRONMENT';
SELECT pgapp.key_add('dev-secret-key-for-local-use-only-change-me-0123456789') IS NOT NULL AS dev_key_local;
SAVEPOINT dev;
SELECT pgapp.setup('ENVIRONMENT=production');
ROLLBACK TO dev;
SELECT pgapp.setup(E'ENVIRONMENT=staging\nSECRET_KEY=');
ROLLBACK TO dev;
SELECT pgapp.setup('ENVIRONMENT=local') AS still_local;
-- a new SECRET_KEY replaces it, and the published key gets no grace period
SELECT pgapp.setup(E'ENVIRONMENT=production\nSECRET_KEY=regress-setup-production-key-0123456789') <> '' AS applied;
SELECT retired_at = now() AS dev_key_retired_now
  FROM pgapp.signing_keys WHERE secret = convert_to('dev-secret-key-for-local-use-only-change-me-0123456789', 'UTF8');
SELECT pgapp.setting('ENVIRONMENT');
ROLLBACK;

-- the first superuser: errors name the variable, not body.email
SELECT pgapp.setup(E'FIRST_SUPERUSER=not-an-email\nFIRST_SUPERUSER_PASSWORD=long-enough-pw');
SELECT pgapp.setup(E'FIRST_SUPERUSER=regress-first@example.com\nFIRST_SUPERUSER_PASSWORD=short');
SELECT pgapp.setup(E'FIRST_SUPERUSER=regress-first@example.com\nFIRST_SUPERUSER_PASSWORD=' || repeat('p', 129));
SELECT pgapp.setup(E'FIRST_SUPERUSER=regress-first@example.com');
SELECT count(*) AS created FROM pgapp.users WHERE email = 'regress-first@example.com';

-- EMAIL_RESET_TOKEN_EXPIRE_HOURS (the template's name): 1..168 hours,
-- pgapp's default 1, and the mail says it in English
SELECT pgapp.setup('EMAIL_RESET_TOKEN_EXPIRE_HOURS=0');
SELECT pgapp.setup('EMAIL_RESET_TOKEN_EXPIRE_HOURS=169');
SELECT pgapp.setup('EMAIL_RESET_TOKEN_EXPIRE_HOURS=two');
SELECT pgapp.setup('EMAIL_RESET_TOKEN_EXPIRE_HOURS=-1');
SELECT pgapp.setting('RESET_TOKEN_EXPIRE_HOURS') AS default_hours;
BEGIN;
INSERT INTO pgapp.users (email) VALUES ('regress-reset-mail@example.com');
SELECT m.html ~ 'valid for 1 hour\.' AS one_hour, m.expires_at - now() AS lifetime
  FROM pgapp.users u, pgapp.recovery_mail(u) m WHERE u.email = 'regress-reset-mail@example.com';
SELECT pgapp.setup('EMAIL_RESET_TOKEN_EXPIRE_HOURS=048') AS report;
SELECT pgapp.setting('RESET_TOKEN_EXPIRE_HOURS') AS hours;
SELECT m.html ~ 'valid for 48 hours\.' AS hours_48, m.expires_at - now() AS lifetime
  FROM pgapp.users u, pgapp.recovery_mail(u) m WHERE u.email = 'regress-reset-mail@example.com';
ROLLBACK;
