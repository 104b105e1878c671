\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.6'" to load this file. \quit

-- pgapp 1.6: the leftovers session 9 noted.  Each section below restates,
-- as released, the objects that 1.6 changes in sql/pgapp/.

-- ---------- api.routes.handler: a signature (text), not a regprocedure ----------
-- pg_upgrade refuses a cluster with a reg* column other than regclass,
-- regrole or regtype in a user table ("Checking for reg* data types in user
-- tables": function OIDs are not preserved), extension tables included: no
-- database with pgapp could move to a newer PostgreSQL major.  The handler
-- is now its canonical signature, resolved where an OID is needed
-- (pgapp.handler_oid); a route whose function was dropped or renamed later
-- answers the dispatcher's misconfiguration error.  routes_check stores the
-- canonical form, and also refuses a parameter whose "name" is not a
-- non-empty string and two parameters with the same "name" and "in".
-- An existing row whose function no longer exists becomes the text of its
-- OID (what regprocedure printed for it), which names no function: the
-- update does not fail, and the route stays as broken as it was.
-- A route's handler is stored as text, its signature (1.6): a column of
-- type regprocedure holds a function's OID, which pg_upgrade does not
-- preserve, so pg_upgrade refuses a cluster with one in a user table.
-- The canonical signature is what regprocedure prints under search_path =
-- pg_catalog: the function schema-qualified (unless in pg_catalog), its
-- argument types likewise, e.g. api.users_me(text).  A dropped function's
-- OID prints as a bare number, which names no function below.
CREATE FUNCTION pgapp.handler_signature(handler oid) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT handler::regprocedure::text
$$;
COMMENT ON FUNCTION pgapp.handler_signature(oid) IS 'the canonical signature of a function, as api.routes.handler stores it';

-- The function a stored (canonical) signature names, or NULL: the
-- function of that name whose canonical signature is exactly this text.
-- No parsing beyond the name, so nothing a row holds can raise an error,
-- and no lookup that checks a privilege (to_regprocedure needs USAGE on
-- the schema): the dispatcher reads the catalog as the extension's owner.
CREATE FUNCTION pgapp.handler_oid(signature text) RETURNS oid
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.oid
	  FROM regexp_match(signature,
			'^(?:(?:[a-z_][a-z0-9_]*|"(?:[^"]|"")+")\.)?([a-z_][a-z0-9_]*|"(?:[^"]|"")+")\(') m,
		   LATERAL (SELECT CASE WHEN m[1] LIKE '"%'
							 THEN replace(substr(m[1], 2, length(m[1]) - 2), '""', '"')
							 ELSE m[1] END AS name) n
	  JOIN pg_proc p ON p.proname = n.name
	 WHERE pgapp.handler_signature(p.oid) = signature
$$;
COMMENT ON FUNCTION pgapp.handler_oid(text) IS 'the function a canonical handler signature names, or NULL';

-- The function a signature as a DBA writes it names, or NULL: resolved by
-- to_regprocedure with the caller's privileges and search_path pinned to
-- pg_catalog (so the name must be schema-qualified, unless in pg_catalog).
-- to_regprocedure raises on bad syntax and, before PostgreSQL 16, on an
-- unknown argument type: those mean NULL here, so routes_check refuses
-- them all with one message.  A text without '(' is never a signature:
-- from PostgreSQL 16 on to_regprocedure takes a bare number as an OID.
-- PARALLEL UNSAFE: the EXCEPTION block starts a subtransaction.
CREATE FUNCTION pgapp.handler_resolve(signature text) RETURNS oid
LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF strpos(signature, '(') = 0 THEN
		RETURN NULL;
	END IF;
	RETURN to_regprocedure(signature)::oid;
EXCEPTION
	WHEN data_exception OR syntax_error_or_access_rule_violation
		OR invalid_schema_name OR feature_not_supported THEN
		RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgapp.handler_resolve(text) IS 'the function a handler signature as written names (schema-qualified; search_path pinned to pg_catalog), or NULL';

-- owner first, as a fresh install does: pg_init_privs then names the owner
ALTER FUNCTION pgapp.handler_signature(oid) OWNER TO pgapp_owner;
ALTER FUNCTION pgapp.handler_oid(text) OWNER TO pgapp_owner;
ALTER FUNCTION pgapp.handler_resolve(text) OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.handler_signature(oid), pgapp.handler_oid(text),
	pgapp.handler_resolve(text) FROM PUBLIC;

ALTER TABLE api.routes ALTER COLUMN handler TYPE text
	USING pgapp.handler_signature(handler::oid);
COMMENT ON COLUMN api.routes.handler IS 'the handler function''s schema-qualified signature, such as api.users_me(text); routes_check stores it canonical';

CREATE OR REPLACE FUNCTION pgapp.routes_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nargs int;
	p jsonb; dup_name text; dup_in text; fn oid;
BEGIN
	SELECT oid, pronargs INTO fn, nargs FROM pg_proc WHERE oid = pgapp.handler_resolve(NEW.handler);
	IF nargs <> jsonb_array_length(NEW.params) THEN
		RAISE EXCEPTION 'route % %: handler % takes % arguments, params describes %',
			NEW.method, NEW.path, pgapp.handler_signature(fn), nargs, jsonb_array_length(NEW.params)
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
		RAISE EXCEPTION 'route % %: handler % does not exist', NEW.method, NEW.path, NEW.handler
			USING ERRCODE = 'undefined_function',
			HINT = 'Name the handler by its signature, schema-qualified, for example ''api.health_check()'' or ''public.my_handler(text, integer)''.';
	END IF;
	-- every parameter names the value it binds (the dispatcher looks it up
	-- by name, and reports it in a 422's loc), once per source (1.6)
	FOR p IN SELECT * FROM jsonb_array_elements(NEW.params) LOOP
		IF jsonb_typeof(p->'name') IS DISTINCT FROM 'string' OR p->>'name' = '' THEN
			RAISE EXCEPTION 'route % %: a parameter''s "name" must be a non-empty string, not %', NEW.method, NEW.path, p->'name'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	SELECT e->>'name', e->>'in' INTO dup_name, dup_in
	  FROM jsonb_array_elements(NEW.params) e
	 GROUP BY e->>'name', e->>'in' HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'route % %: parameter "%" in % is described twice', NEW.method, NEW.path, dup_name, dup_in
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- stored canonical: one function, one text, however it was written
	NEW.handler := pgapp.handler_signature(fn);
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgapp.routes_check() IS 'trigger: a route''s handler must exist (stored as its canonical signature) and its params describe the handler''s arguments, each named, no name twice per source';

-- the handler resolved by pgapp.handler_oid (no longer a regprocedure)
CREATE OR REPLACE FUNCTION api.openapi() RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (
	WITH route AS (
		SELECT r.*, p.proname, p.proargtypes,
			   obj_description(p.oid, 'pg_proc') AS handler_comment
		  FROM (SELECT r.*, pgapp.handler_oid(r.handler) AS handler_oid
				  FROM api.routes r OFFSET 0) r	-- resolved once per route
		  JOIN pg_proc p ON p.oid = r.handler_oid
	),
	arg AS (
		SELECT r.id AS route_id, a.ord, a.param,
			   a.param->>'name' AS name, a.param->>'in' AS place,
			   pgapp.openapi_type(r.proargtypes[a.ord - 1]::regtype)
				   || jsonb_build_object('title', initcap(replace(a.param->>'name', '_', ' '))) AS schema
		  FROM route r, jsonb_array_elements(r.params) WITH ORDINALITY AS a(param, ord)
	),
	parameter AS (
		SELECT route_id,
			   jsonb_agg(jsonb_build_object(
					'name', name, 'in', place,
					'required', place = 'path' OR NOT param ? 'default',
					'schema', schema || CASE WHEN param ? 'default' AND place <> 'path'
						THEN jsonb_build_object('default', pgapp.openapi_default(schema, param->'default'))
						ELSE '{}' END)
				   ORDER BY ord) AS list
		  FROM arg
		 WHERE place IN ('path', 'query')
		 GROUP BY route_id
	),
	body AS (
		SELECT route_id,
			   bool_or(place = 'form') AS is_form,
			   bool_or(NOT param ? 'default') AS required,
			   jsonb_build_object('type', 'object',
					'properties', coalesce(jsonb_object_agg(name, schema) FILTER (WHERE place IN ('body', 'form')), '{}'),
					'required', coalesce(jsonb_agg(name ORDER BY ord) FILTER (WHERE place IN ('body', 'form') AND NOT param ? 'default'), '[]'))
				   AS inline_schema
		  FROM arg
		 WHERE place IN ('body', 'json', 'form')
		 GROUP BY route_id
	),
	validated AS (
		SELECT DISTINCT route_id FROM arg WHERE place IN ('path', 'query', 'body', 'json', 'form')
	),
	operation AS (
		SELECT r.path, lower(r.method) AS method,
			   (SELECT jsonb_object_agg(k, v) FROM (VALUES
					('tags', CASE WHEN cardinality(r.tags) > 0 THEN to_jsonb(r.tags) END),
					('summary', to_jsonb(coalesce(r.summary, r.handler_comment,
						initcap(replace(r.proname, '_', ' '))))),
					('description', CASE WHEN r.summary IS NOT NULL THEN to_jsonb(r.handler_comment) END),
					('operationId', to_jsonb(coalesce(r.operation_id,
						r.proname || regexp_replace(r.path, '\W', '_', 'g') || '_' || lower(r.method)))),
					('parameters', p.list),
					('requestBody', CASE WHEN b.route_id IS NOT NULL THEN jsonb_build_object(
						'content', jsonb_build_object(
							CASE WHEN b.is_form THEN 'application/x-www-form-urlencoded' ELSE 'application/json' END,
							jsonb_build_object('schema',
								CASE WHEN pgapp.openapi_schemas() ? r.request_schema
									 THEN pgapp.openapi_schema_ref(r.request_schema)
									 ELSE b.inline_schema || jsonb_build_object('title', coalesce(
										r.request_schema, 'Body_' || coalesce(r.operation_id, r.proname))) END)),
						'required', r.request_schema IS NOT NULL OR b.required) END),
					('responses', jsonb_build_object('200', jsonb_build_object(
							'description', 'Successful Response',
							'content', CASE WHEN r.response_schema LIKE '%/%'
								THEN jsonb_build_object(r.response_schema, jsonb_build_object('schema', '{"type": "string"}'::jsonb))
								ELSE jsonb_build_object('application/json', jsonb_build_object(
									'schema', pgapp.openapi_schema_ref(r.response_schema))) END))
						|| CASE WHEN v.route_id IS NOT NULL THEN jsonb_build_object('422', jsonb_build_object(
							'description', 'Validation Error',
							'content', jsonb_build_object('application/json', jsonb_build_object(
								'schema', '{"$ref": "#/components/schemas/HTTPValidationError"}'::jsonb))))
						   ELSE '{}' END),
					('security', CASE WHEN r.auth <> 'none' THEN '[{"OAuth2PasswordBearer": []}]'::jsonb END)
				) AS f(k, v) WHERE v IS NOT NULL) AS op
		  FROM route r
		  LEFT JOIN parameter p ON p.route_id = r.id
		  LEFT JOIN body b ON b.route_id = r.id
		  LEFT JOIN validated v ON v.route_id = r.id
	),
	path_item AS (
		SELECT path, jsonb_object_agg(method, op) AS methods
		  FROM operation
		 GROUP BY path
	)
	SELECT jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object('title', pgapp.setting('PROJECT_NAME'), 'version', api.version()),
		'paths', coalesce((SELECT jsonb_object_agg(path, methods) FROM path_item), '{}'),
		'components', jsonb_build_object(
			'schemas', pgapp.openapi_schemas(),
			'securitySchemes', jsonb_build_object('OAuth2PasswordBearer', jsonb_build_object(
				'type', 'oauth2',
				'flows', jsonb_build_object('password', jsonb_build_object(
					'scopes', '{}'::jsonb,
					'tokenUrl', '/api/v1/login/access-token'))))))
	);
END
$$;

-- routes_builtin: a built-in route whose handler is written another way
-- (' api.health_check( )') is not edited: compared as routes_check stores it.
CREATE OR REPLACE FUNCTION pgapp.routes_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	replaced int;
	compared api.routes;
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
		-- compared with the handler as routes_check will store it (it runs
		-- after this trigger): another spelling of the same function is no
		-- change (1.6)
		compared := NEW;
		compared.handler := coalesce(pgapp.handler_signature(pgapp.handler_resolve(NEW.handler)), NEW.handler);
		IF OLD.builtin AND compared IS DISTINCT FROM OLD THEN
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
