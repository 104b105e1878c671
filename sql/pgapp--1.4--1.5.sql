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

-- The route catalog (sqldba 4, 5).  routes_check refused neither a
-- parameter whose "in" is null ({"name":"a","in":null} made NOT IN null)
-- nor a handler oid that names no function (pronargs null skipped the
-- check).  Built-in routes are not dumped, so a DBA's change to one (auth,
-- handler) or its deletion was undone by a dump and restore: a change now
-- marks the route edited, which pg_dump keeps and a restore puts in place
-- of the built-in route; deleting a built-in route, truncating the
-- catalog or changing builtin is refused (routes_builtin).
ALTER TABLE api.routes ADD COLUMN edited boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN api.routes.builtin IS 'installed by the extension (not dumped unless edited); rows added by a DBA are dumped';
COMMENT ON COLUMN api.routes.edited IS 'a built-in route a DBA changed (kept by the routes_builtin trigger): dumped, and restored in place of the built-in one';

CREATE OR REPLACE FUNCTION pgapp.routes_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nargs int;
	p jsonb;
BEGIN
	SELECT pronargs INTO nargs FROM pg_proc WHERE oid = NEW.handler::oid;
	IF nargs <> jsonb_array_length(NEW.params) THEN
		RAISE EXCEPTION 'route % %: handler % takes % arguments, params describes %',
			NEW.method, NEW.path, NEW.handler, nargs, jsonb_array_length(NEW.params)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR p IN SELECT * FROM jsonb_array_elements(NEW.params) LOOP
		IF jsonb_typeof(p) <> 'object' OR NOT (p ? 'name') OR p->>'in' IS NULL
			OR p->>'in' NOT IN ('path', 'query', 'body', 'json', 'form', 'client', 'authorization') THEN
			RAISE EXCEPTION 'route % %: invalid parameter description %', NEW.method, NEW.path, p
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF p->>'in' = 'path' AND position('{' || (p->>'name') || '}' IN NEW.path) = 0 THEN
			RAISE EXCEPTION 'route % %: path parameter "%" is not in the path', NEW.method, NEW.path, p->>'name'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	-- checked last: the errors above keep the line numbers that their
	-- CONTEXT has shown since 1.0
	IF nargs IS NULL THEN
		RAISE EXCEPTION 'route % %: handler % does not exist', NEW.method, NEW.path, NEW.handler::oid
			USING ERRCODE = 'undefined_function',
			HINT = 'Name the handler by its signature, for example ''api.health_check()''.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgapp.routes_check() IS 'trigger: a route''s handler must exist and its params describe the handler''s arguments';

CREATE FUNCTION pgapp.routes_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	replaced int;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		RAISE EXCEPTION 'cannot truncate the route catalog'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'Built-in routes come back with every CREATE EXTENSION, so a restore would bring them back.',
			HINT = 'DELETE FROM api.routes WHERE NOT builtin removes the routes a DBA added.';
	ELSIF TG_OP = 'DELETE' THEN
		IF OLD.builtin AND pg_trigger_depth() = 1 THEN
			RAISE EXCEPTION 'cannot delete built-in route % %', OLD.method, OLD.path
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'Built-in routes come back with every CREATE EXTENSION, so a restore would bring it back.',
				HINT = 'To close it to all but superusers, set its auth to ''superuser''; pg_dump keeps that change.';
		END IF;
		RETURN OLD;
	ELSIF TG_OP = 'UPDATE' THEN
		IF NEW.builtin IS DISTINCT FROM OLD.builtin THEN
			RAISE EXCEPTION 'cannot change whether route % % is built in', OLD.method, OLD.path
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = 'builtin is set by the extension: it decides what CREATE EXTENSION brings back and what pg_dump keeps.';
		END IF;
		-- edited is kept here, never taken from the statement
		NEW.edited := OLD.edited;
		IF OLD.builtin AND NEW IS DISTINCT FROM OLD THEN
			NEW.edited := true;
		END IF;
		RETURN NEW;
	END IF;
	-- INSERT: an edited built-in route arrives only from pg_restore, after
	-- CREATE EXTENSION installed the original
	IF NEW.builtin AND NEW.edited THEN
		DELETE FROM api.routes r
		 WHERE r.builtin AND r.method = NEW.method AND r.path = NEW.path
		RETURNING r.id INTO replaced;
		IF FOUND THEN
			NEW.id := replaced;
		END IF;
	ELSIF NOT NEW.builtin THEN
		NEW.edited := false;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgapp.routes_builtin() IS 'trigger: a change to a built-in route marks it edited (dumped, restored in its place); a built-in route cannot be deleted, the catalog not truncated, builtin not changed';

ALTER FUNCTION pgapp.routes_builtin() OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.routes_builtin() FROM PUBLIC;

CREATE TRIGGER routes_builtin BEFORE INSERT OR UPDATE OR DELETE ON api.routes
	FOR EACH ROW EXECUTE FUNCTION pgapp.routes_builtin();
CREATE TRIGGER routes_builtin_truncate BEFORE TRUNCATE ON api.routes
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.routes_builtin();
SELECT pg_catalog.pg_extension_config_dump('api.routes', 'WHERE NOT builtin OR edited');

-- Comments on the two identity sequences (sqldba 7): every object of the
-- extension has one (\dx+ pgapp).
COMMENT ON SEQUENCE api.routes_id_seq IS 'ids of api.routes (dumped, so a route added after a restore gets a fresh id)';
COMMENT ON SEQUENCE pgapp.mail_outbox_id_seq IS 'ids of pgapp.mail_outbox (dumped with it)';
