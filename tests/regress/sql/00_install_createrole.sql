-- (since 1.6) On PostgreSQL 16 and later a role with CREATEROLE holds
-- ADMIN OPTION on every role it creates: a pgapp_owner it made before
-- CREATE EXTENSION would let it grant itself the owner of every table of
-- the extension, so CREATE EXTENSION refuses the role.  Before 16 CREATE
-- ROLE gives its creator nothing, the role is taken (and a role with
-- CREATEROLE may grant itself any role that is not a superuser anyway).
-- Expected: 00_install_createrole.out on 16 and later,
-- 00_install_createrole_1.out on 13 to 15.
-- pgapp_owner exists (it owns this database's extension): it is renamed
-- aside in a transaction that rolls back, in a database of its own.
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pgapp_regress_createrole;	-- left by a failed run
DROP ROLE IF EXISTS regress_creator;
RESET client_min_messages;
CREATE DATABASE pgapp_regress_createrole;
CREATE ROLE regress_creator NOLOGIN CREATEROLE;
\c pgapp_regress_createrole
\set SHOW_CONTEXT never
BEGIN;
ALTER ROLE pgapp_owner RENAME TO regress_pgapp_owner_aside;
SET ROLE regress_creator;
CREATE ROLE pgapp_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
RESET ROLE;
SELECT m.rolname AS member, a.admin_option
  FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
 WHERE a.roleid = 'pgapp_owner'::regrole;
SAVEPOINT install;
CREATE EXTENSION pgapp CASCADE;
ROLLBACK TO SAVEPOINT install;
-- the hint, followed (on 13 to 15 there is nothing to revoke)
REVOKE pgapp_owner FROM regress_creator;
CREATE EXTENSION pgapp CASCADE;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'pgapp';
ROLLBACK;
\c :regress_db
DROP DATABASE pgapp_regress_createrole;
DROP ROLE regress_creator;
