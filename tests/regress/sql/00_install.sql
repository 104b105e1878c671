-- The extension as a DBA sees it: version, roles, ownership, privileges,
-- comments, dump registration.
-- the library reports the version it was built for, the control file's
SELECT api.version() = (SELECT extversion FROM pg_extension WHERE extname = 'pgapp') AS library_matches_extension;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('pgapp', 'pgcrypto') ORDER BY 1;

-- roles: none is a superuser or bypasses RLS; the owner cannot log in
SELECT rolname, rolsuper, rolbypassrls, rolcanlogin
  FROM pg_roles WHERE rolname IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller') ORDER BY 1;

-- every table, view, sequence and function belongs to pgapp_owner
SELECT count(*) AS not_owned_by_pgapp_owner FROM (
	SELECT c.relowner AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'S')
	UNION ALL
	SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname IN ('api', 'pgapp')) o
 WHERE o.owner <> 'pgapp_owner'::regrole;

-- nothing is executable by PUBLIC: a role with no memberships can run nothing
CREATE ROLE pgapp_regress_nobody NOLOGIN;
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('api', 'pgapp')
   AND has_function_privilege('pgapp_regress_nobody', p.oid, 'EXECUTE')
 ORDER BY 1;
SELECT c.oid::regclass AS readable_by_public
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v')
   AND has_table_privilege('pgapp_regress_nobody', c.oid, 'SELECT')
 ORDER BY 1;
DROP ROLE pgapp_regress_nobody;

-- what the gateway role may execute: the dispatcher, the catalog, handlers
SELECT count(*) > 0 AS gateway_runs_dispatch
  FROM pg_proc WHERE oid = 'api.dispatch(int, text, text, text, text, text, text)'::regprocedure
   AND has_function_privilege('pgapp_gateway', oid, 'EXECUTE');
SELECT has_function_privilege('pgapp_gateway', 'pgapp.jwt_sign(jsonb)', 'EXECUTE') AS gateway_signs,
       has_function_privilege('pgapp_gateway', 'pgapp.setup(text)', 'EXECUTE') AS gateway_setup,
       has_table_privilege('pgapp_gateway', 'pgapp.users', 'SELECT') AS gateway_reads_users,
       has_table_privilege('pgapp_caller', 'pgapp.passwords', 'SELECT') AS caller_reads_hashes,
       has_table_privilege('pgapp_caller', 'pgapp.signing_keys', 'SELECT') AS caller_reads_keys,
       has_function_privilege('pgapp_caller', 'api.dispatch(int, text, text, text, text, text, text)', 'EXECUTE') AS caller_dispatches;

-- every table has row-level security, forced
SELECT c.oid::regclass AS table_without_forced_rls
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pgapp' AND c.relkind = 'r'
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
 ORDER BY 1;

-- every function, table, view and sequence has a comment
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('api', 'pgapp') AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1;
SELECT c.oid::regclass AS relation_without_comment
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'S')
   AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;

-- SECURITY DEFINER functions pin their search_path
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('api', 'pgapp') AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
 ORDER BY 1;

-- functions reading identity are PARALLEL RESTRICTED (or UNSAFE)
SELECT p.oid::regprocedure, p.proparallel
  FROM pg_proc p
 WHERE p.oid IN ('api.current_user_id()'::regprocedure, 'pgapp.current_user_is_superuser()'::regprocedure,
				 'api.authenticate(text, boolean)'::regprocedure)
 ORDER BY 1;

-- no column of the extension's tables holds an OID that pg_upgrade does not
-- preserve: it refuses a cluster with a user-table column of these reg*
-- types, or of an array, domain or composite type over one ("Checking for
-- reg* data types in user tables"), extension tables included (1.6:
-- api.routes.handler was regprocedure); regdatabase is new after 17 and
-- OID-valued too
WITH RECURSIVE refused(oid) AS (
	SELECT oid FROM pg_type
	 WHERE typname IN ('regproc', 'regprocedure', 'regoper', 'regoperator', 'regconfig',
					   'regdictionary', 'regnamespace', 'regcollation', 'regdatabase')
	   AND typnamespace = 'pg_catalog'::regnamespace
	UNION ALL
	SELECT t.oid FROM pg_type t, refused r
	 WHERE t.typelem = r.oid AND t.typcategory = 'A'
		OR t.typbasetype = r.oid
		OR t.typtype = 'c' AND t.typrelid IN (SELECT a.attrelid FROM pg_attribute a
											   WHERE a.atttypid = r.oid AND NOT a.attisdropped)
)
SELECT a.attrelid::regclass AS relation, a.attname AS column_pg_upgrade_refuses, format_type(a.atttypid, NULL) AS type
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace IN ('api'::regnamespace, 'pgapp'::regnamespace) AND c.relkind IN ('r', 'm', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid IN (SELECT oid FROM refused)
 ORDER BY 1, 2;

-- the tables pg_dump must keep
SELECT dumped FROM (SELECT unnest(extconfig)::regclass::text AS dumped FROM pg_extension WHERE extname = 'pgapp') d ORDER BY dumped COLLATE "C";

-- the gateway's login role and its settings
SELECT r.rolname, r.rolsuper, r.rolbypassrls, pg_has_role(r.oid, 'pgapp_gateway', 'MEMBER') AS gateway_member
  FROM pg_roles r WHERE r.rolname = 'pgapp_gateway_login';
SELECT unnest(s.setconfig) AS setting
  FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
 WHERE r.rolname = 'pgapp_gateway_login' ORDER BY 1;

-- CREATE EXTENSION refuses a pgapp schema a non-superuser made beforehand
-- (its owner could swap the extension's tables), and pgapp roles that can
-- log in, are superusers or bypass row-level security; in a database of
-- its own, since this one has the extension
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pgapp_regress_install;	-- left by a failed run
DROP ROLE IF EXISTS regress_squatter;
RESET client_min_messages;
CREATE DATABASE pgapp_regress_install;
CREATE ROLE regress_squatter NOLOGIN;
GRANT CREATE ON DATABASE pgapp_regress_install TO regress_squatter;
\c pgapp_regress_install
\set SHOW_CONTEXT never
SET ROLE regress_squatter;
CREATE SCHEMA pgapp;
RESET ROLE;
CREATE EXTENSION pgapp CASCADE;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pgapp';
DROP SCHEMA pgapp;
BEGIN;
ALTER ROLE pgapp_gateway LOGIN BYPASSRLS;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK;
BEGIN;
ALTER ROLE pgapp_owner SUPERUSER;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK;
-- (since 1.6) and a pgapp role that a role other than a superuser may
-- grant (ADMIN OPTION), or a pgapp_owner with a member that is not a
-- superuser; each hint, followed, leads to the next refusal, then to the
-- install.  Granted by a role that is not a superuser: the hint names it
-- (GRANTED BY), and comes first (on 16+ its grantor's REVOKE would need
-- CASCADE).
BEGIN;
CREATE ROLE regress_holder NOLOGIN;
CREATE ROLE regress_grantee NOLOGIN;
GRANT pgapp_owner TO regress_holder WITH ADMIN OPTION;
SET ROLE regress_holder;
GRANT pgapp_owner TO regress_grantee;
RESET ROLE;
SAVEPOINT install;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK TO SAVEPOINT install;
REVOKE pgapp_owner FROM regress_grantee GRANTED BY regress_holder;
SAVEPOINT install;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK TO SAVEPOINT install;
REVOKE pgapp_owner FROM regress_holder;
GRANT pgapp_caller TO regress_holder WITH ADMIN OPTION;
SAVEPOINT install;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK TO SAVEPOINT install;
REVOKE pgapp_caller FROM regress_holder;
GRANT pgapp_gateway TO regress_grantee WITH ADMIN OPTION;
SAVEPOINT install;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK TO SAVEPOINT install;
REVOKE pgapp_gateway FROM regress_grantee;
-- members the extension expects are taken: plain members of
-- pgapp_gateway (the gateway's login role, pgapp_gateway_login, is one
-- here) and pgapp_caller, and superusers, whatever they hold
GRANT pgapp_gateway, pgapp_caller TO regress_holder;
CREATE ROLE regress_dba SUPERUSER NOLOGIN;
GRANT pgapp_owner, pgapp_gateway, pgapp_caller TO regress_dba WITH ADMIN OPTION;
SELECT g.rolname, m.rolname AS member, a.admin_option
  FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
 WHERE g.rolname IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller')
   AND m.rolname IN ('pgapp_gateway_login', 'regress_holder', 'regress_grantee', 'regress_dba')
 ORDER BY 1, 2;
CREATE EXTENSION pgapp CASCADE;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pgapp';
ROLLBACK;
-- a schema a superuser made beforehand is taken, as the one CREATE
-- EXTENSION makes
BEGIN;
CREATE SCHEMA pgapp;
CREATE EXTENSION pgapp CASCADE;
SELECT extname, nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'pgapp';
ROLLBACK;
\c :regress_db
DROP DATABASE pgapp_regress_install;
DROP ROLE regress_squatter;
