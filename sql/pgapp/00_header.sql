\echo Use "CREATE EXTENSION pgapp" to load this file. \quit

-- Roles are cluster-wide: create them only when absent (SPEC §7).
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_owner') THEN
		CREATE ROLE pgapp_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_gateway') THEN
		CREATE ROLE pgapp_gateway NOLOGIN NOSUPERUSER NOBYPASSRLS;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgapp_caller') THEN
		CREATE ROLE pgapp_caller NOLOGIN NOSUPERUSER NOBYPASSRLS;
	END IF;
END
$$;

-- CREATE EXTENSION trusts what it finds.  The schema pgapp is created by
-- CREATE EXTENSION itself, owned by the superuser who runs it, unless it
-- exists already; the roles are created only when absent.  A schema made
-- beforehand by a role with CREATE on the database, or a pgapp role made
-- beforehand with LOGIN, SUPERUSER or BYPASSRLS, would hand that role the
-- extension (its tables, its SECURITY DEFINER code): refuse both.
-- So would a pre-existing pgapp role that a role other than a superuser
-- may grant (ADMIN OPTION: on PostgreSQL 16 and later a role with
-- CREATEROLE gets it on every role it creates), and a pgapp_owner with a
-- member other than a superuser (the owner of every table and function):
-- refuse these too.  Plain members of pgapp_gateway and pgapp_caller are
-- the extension's own (the gateway's login role, psql callers' logins) and
-- stay, so a re-install or a restore into a cluster that has them works.
DO $$
DECLARE
	schema_owner pg_catalog.pg_roles;
	r record;
BEGIN
	SELECT o.* INTO schema_owner
	  FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner
	 WHERE n.nspname = 'pgapp';
	IF NOT schema_owner.rolsuper THEN
		RAISE EXCEPTION 'schema "pgapp" is owned by role "%", which is not a superuser', schema_owner.rolname
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The owner of the schema could replace the extension''s tables and functions.',
			HINT = 'Check what the schema holds and drop it (or give it to a superuser), then run CREATE EXTENSION again.';
	END IF;
	FOR r IN
		SELECT rolname, array_to_string(array_remove(ARRAY[
				CASE WHEN rolcanlogin THEN 'LOGIN' END,
				CASE WHEN rolsuper THEN 'SUPERUSER' END,
				CASE WHEN rolbypassrls THEN 'BYPASSRLS' END], NULL), ', ') AS attributes
		  FROM pg_catalog.pg_roles
		 WHERE rolname IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller')
		   AND (rolcanlogin OR rolsuper OR rolbypassrls)
		 ORDER BY rolname
	LOOP
		RAISE EXCEPTION 'role "%" already exists with %', r.rolname, r.attributes
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The roles of pgapp must be NOLOGIN, NOSUPERUSER and NOBYPASSRLS: row-level security and the extension''s privileges rest on them.',
			HINT = format('Check who made the role and who uses it, then run ALTER ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS (or drop it) and CREATE EXTENSION again.', r.rolname);
	END LOOP;
	FOR r IN
		SELECT g.rolname, m.rolname AS member, a.admin_option,
			   CASE WHEN NOT gr.rolsuper THEN format(' GRANTED BY %I', gr.rolname) ELSE '' END AS granted_by,
			   CASE g.rolname
				   WHEN 'pgapp_owner' THEN 'the owner of every table and function of the extension'
				   WHEN 'pgapp_gateway' THEN 'the role that runs the dispatcher and the route handlers'
				   ELSE 'the role of the SQL API''s callers'
			   END AS what
		  FROM pg_catalog.pg_auth_members a
		  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
		  JOIN pg_catalog.pg_roles m ON m.oid = a.member
		  LEFT JOIN pg_catalog.pg_roles gr ON gr.oid = a.grantor
		 WHERE g.rolname IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller')
		   AND NOT m.rolsuper
		   AND (a.admin_option OR g.rolname = 'pgapp_owner')
		 -- a grant made by a role that is not a superuser first: revoked
		 -- before its grantor's (whose REVOKE would need CASCADE on 16+)
		 ORDER BY coalesce(gr.rolsuper, true), a.admin_option DESC, g.rolname, m.rolname
	LOOP
		IF r.admin_option THEN
			RAISE EXCEPTION 'role "%" already exists and role "%", which is not a superuser, holds ADMIN OPTION on it', r.rolname, r.member
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = format('Role "%s" may grant %s, %s, to any role, itself included. On PostgreSQL 16 and later a role with CREATEROLE holds this option on every role it creates.', r.member, r.rolname, r.what),
				HINT = format('Check who made the role and why "%s" holds it, then run REVOKE %I FROM %I%s (or drop role %I) and CREATE EXTENSION again.', r.member, r.rolname, r.member, r.granted_by, r.rolname);
		END IF;
		RAISE EXCEPTION 'role "%" already exists with member "%", which is not a superuser', r.rolname, r.member
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = format('Role "%s" could act as %s, %s.', r.member, r.rolname, r.what),
			HINT = format('Check who made the role and why "%s" is a member, then run REVOKE %I FROM %I%s (or drop role %I) and CREATE EXTENSION again.', r.member, r.rolname, r.member, r.granted_by, r.rolname);
	END LOOP;
END
$$;

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'pgapp public interface: one function per HTTP operation, the route catalog';
COMMENT ON SCHEMA pgapp IS 'pgapp private schema: tables, keys, internals';

-- Settings applied from the environment by pgapp.setup() (make run, the
-- db container).  Defaults live in pgapp.setting(), so a missing row
-- means "the default of SPEC §4".
CREATE TABLE pgapp.settings (
	name text PRIMARY KEY,
	value text NOT NULL
);
COMMENT ON TABLE pgapp.settings IS 'configuration applied from the environment (ENVIRONMENT, BCRYPT_COST, ...)';
-- Readable by the extension owner only (and superusers, who bypass
-- row-level security): a role granted pg_read_all_data (PostgreSQL 14+)
-- has SELECT on every table, but no way past a policy.
ALTER TABLE pgapp.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.settings FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.settings TO pgapp_owner USING (true) WITH CHECK (true);

CREATE FUNCTION pgapp.setting(setting_name text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
		(SELECT s.value FROM pgapp.settings s WHERE s.name = setting_name),
		CASE setting_name
			WHEN 'ENVIRONMENT' THEN 'local'
			WHEN 'ALGORITHM' THEN 'HS256'
			WHEN 'ACCESS_TOKEN_EXPIRE_MINUTES' THEN '30'
			WHEN 'REFRESH_TOKEN_EXPIRE_DAYS' THEN '8'
			WHEN 'RESET_TOKEN_EXPIRE_HOURS' THEN '1'
			WHEN 'BCRYPT_COST' THEN '12'
			WHEN 'FRONTEND_HOST' THEN 'http://localhost:5173'
			WHEN 'PROJECT_NAME' THEN 'pgapp'
		END)
$$;
COMMENT ON FUNCTION pgapp.setting(text) IS 'a configuration value: the applied one, else the default of SPEC §4';

-- pgapp.raise: the one way SQL code raises an HTTP-mapped error.
-- code is the HTTP status; the SQLSTATE is PA + status (errcodes.h).
CREATE FUNCTION pgapp.raise(status int, message text, detail text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF detail IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'PA' || lpad(status::text, 3, '0'), MESSAGE = message;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'PA' || lpad(status::text, 3, '0'), MESSAGE = message, DETAIL = detail;
END
$$;
COMMENT ON FUNCTION pgapp.raise(int, text, text) IS 'raise SQLSTATE PA<status> with a message (and a detail)';

-- A 422 in FastAPI's shape: DETAIL holds the list
-- [{"type","loc","msg","input"}]; the message is for psql callers.
CREATE FUNCTION pgapp.raise_invalid(loc text[], type text, msg text, input jsonb DEFAULT 'null')
RETURNS void LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'PA422',
		MESSAGE = format('invalid value for %s: %s', array_to_string(loc, '.'), msg),
		DETAIL = jsonb_build_array(jsonb_build_object(
			'type', type, 'loc', to_jsonb(loc), 'msg', msg, 'input', input))::text;
END
$$;
COMMENT ON FUNCTION pgapp.raise_invalid(text[], text, text, jsonb) IS 'raise a validation error (422) in FastAPI''s shape';
