\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.5'" to load this file. \quit

-- pgapp 1.5: the findings of session 9's audits.  Each section below
-- restates, as released, the objects that 1.5 changes in sql/pgapp/.

-- pg_init_privs (sqldba 3): 1.3 and 1.4 revoked EXECUTE from PUBLIC on
-- these two functions before handing them to pgapp_owner, so the initial
-- privileges PostgreSQL 13 to 16 recorded for them name the superuser who
-- ran the update ({admin=X/admin}), where a fresh install records
-- {pgapp_owner=X/pgapp_owner}; pg_dump of an updated database then emits a
-- REVOKE ... FROM admin that fails on a restore elsewhere.  A privilege
-- command on an object of an extension being updated records its ACL
-- anew: re-issue the revoke now that pgapp_owner owns them.
REVOKE ALL ON FUNCTION pgapp.mail_pending(int), pgapp.refuse_read_only(text) FROM PUBLIC;

-- Row-level security on the keyring and the settings (sqldba 1): a role
-- granted pg_read_all_data (PostgreSQL 14+) could read every signing
-- secret.  Only the extension owner passes the policy (superusers bypass
-- it); the view pgapp.keys and the key loader read as the owner.
ALTER TABLE pgapp.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.settings FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.settings TO pgapp_owner USING (true) WITH CHECK (true);
ALTER TABLE pgapp.signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.signing_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.signing_keys TO pgapp_owner USING (true) WITH CHECK (true);
