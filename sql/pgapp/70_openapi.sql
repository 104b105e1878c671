-- The OpenAPI document (SPEC §5 GET /openapi.json), generated from the
-- route catalog so that a route a DBA adds is documented too.  The
-- component schemas are the full-stack FastAPI template's, written by hand
-- (their names are what its generated client imports).

CREATE FUNCTION pgapp.openapi_schemas() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT $json$
{
  "Body_login-login_access_token": {
    "properties": {
      "grant_type": {"anyOf": [{"type": "string", "pattern": "^password$"}, {"type": "null"}], "title": "Grant Type"},
      "username": {"type": "string", "title": "Username"},
      "password": {"type": "string", "format": "password", "title": "Password"},
      "scope": {"type": "string", "title": "Scope", "default": ""},
      "client_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Client Id"},
      "client_secret": {"anyOf": [{"type": "string"}, {"type": "null"}], "format": "password", "title": "Client Secret"}
    },
    "type": "object",
    "required": ["username", "password"],
    "title": "Body_login-login_access_token"
  },
  "HTTPValidationError": {
    "properties": {
      "detail": {"items": {"$ref": "#/components/schemas/ValidationError"}, "type": "array", "title": "Detail"}
    },
    "type": "object",
    "title": "HTTPValidationError"
  },
  "ValidationError": {
    "properties": {
      "loc": {"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "type": "array", "title": "Location"},
      "msg": {"type": "string", "title": "Message"},
      "type": {"type": "string", "title": "Error Type"},
      "input": {"title": "Input"},
      "ctx": {"type": "object", "title": "Context"}
    },
    "type": "object",
    "required": ["loc", "msg", "type"],
    "title": "ValidationError"
  },
  "ItemCreate": {
    "properties": {
      "title": {"type": "string", "maxLength": 255, "minLength": 1, "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"}
    },
    "type": "object",
    "required": ["title"],
    "title": "ItemCreate"
  },
  "ItemPublic": {
    "properties": {
      "title": {"type": "string", "maxLength": 255, "minLength": 1, "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"},
      "id": {"type": "string", "format": "uuid", "title": "Id"},
      "owner_id": {"type": "string", "format": "uuid", "title": "Owner Id"},
      "created_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Created At"}
    },
    "type": "object",
    "required": ["title", "id", "owner_id"],
    "title": "ItemPublic"
  },
  "ItemUpdate": {
    "properties": {
      "title": {"anyOf": [{"type": "string", "maxLength": 255, "minLength": 1}, {"type": "null"}], "title": "Title"},
      "description": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Description"}
    },
    "type": "object",
    "title": "ItemUpdate"
  },
  "ItemsPublic": {
    "properties": {
      "data": {"items": {"$ref": "#/components/schemas/ItemPublic"}, "type": "array", "title": "Data"},
      "count": {"type": "integer", "title": "Count"}
    },
    "type": "object",
    "required": ["data", "count"],
    "title": "ItemsPublic"
  },
  "Message": {
    "properties": {
      "message": {"type": "string", "title": "Message"}
    },
    "type": "object",
    "required": ["message"],
    "title": "Message"
  },
  "NewPassword": {
    "properties": {
      "token": {"type": "string", "title": "Token"},
      "new_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "New Password"}
    },
    "type": "object",
    "required": ["token", "new_password"],
    "title": "NewPassword"
  },
  "Token": {
    "properties": {
      "access_token": {"type": "string", "title": "Access Token"},
      "token_type": {"type": "string", "title": "Token Type", "default": "bearer"},
      "expires_in": {"type": "integer", "title": "Expires In"},
      "refresh_token": {"type": "string", "title": "Refresh Token"}
    },
    "type": "object",
    "required": ["access_token"],
    "title": "Token"
  },
  "UpdatePassword": {
    "properties": {
      "current_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Current Password"},
      "new_password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "New Password"}
    },
    "type": "object",
    "required": ["current_password", "new_password"],
    "title": "UpdatePassword"
  },
  "UserCreate": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "is_active": {"type": "boolean", "title": "Is Active", "default": true},
      "is_superuser": {"type": "boolean", "title": "Is Superuser", "default": false},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Password"}
    },
    "type": "object",
    "required": ["email", "password"],
    "title": "UserCreate"
  },
  "UserPublic": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "is_active": {"type": "boolean", "title": "Is Active", "default": true},
      "is_superuser": {"type": "boolean", "title": "Is Superuser", "default": false},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "id": {"type": "string", "format": "uuid", "title": "Id"},
      "created_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Created At"}
    },
    "type": "object",
    "required": ["email", "id"],
    "title": "UserPublic"
  },
  "UserRegister": {
    "properties": {
      "email": {"type": "string", "maxLength": 255, "format": "email", "title": "Email"},
      "password": {"type": "string", "maxLength": 128, "minLength": 8, "title": "Password"},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"}
    },
    "type": "object",
    "required": ["email", "password"],
    "title": "UserRegister"
  },
  "UserUpdate": {
    "properties": {
      "email": {"anyOf": [{"type": "string", "maxLength": 255, "format": "email"}, {"type": "null"}], "title": "Email"},
      "is_active": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "title": "Is Active"},
      "is_superuser": {"anyOf": [{"type": "boolean"}, {"type": "null"}], "title": "Is Superuser"},
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "password": {"anyOf": [{"type": "string", "maxLength": 128, "minLength": 8}, {"type": "null"}], "title": "Password"}
    },
    "type": "object",
    "title": "UserUpdate"
  },
  "UserUpdateMe": {
    "properties": {
      "full_name": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "Full Name"},
      "email": {"anyOf": [{"type": "string", "maxLength": 255, "format": "email"}, {"type": "null"}], "title": "Email"}
    },
    "type": "object",
    "title": "UserUpdateMe"
  },
  "UsersPublic": {
    "properties": {
      "data": {"items": {"$ref": "#/components/schemas/UserPublic"}, "type": "array", "title": "Data"},
      "count": {"type": "integer", "title": "Count"}
    },
    "type": "object",
    "required": ["data", "count"],
    "title": "UsersPublic"
  }
}
$json$::jsonb
$$;
COMMENT ON FUNCTION pgapp.openapi_schemas() IS 'the OpenAPI component schemas: the full-stack FastAPI template''s models';

-- The JSON schema of a handler argument's type.
CREATE FUNCTION pgapp.openapi_type(t regtype) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE t
		WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
		WHEN 'smallint'::regtype THEN '{"type": "integer"}'
		WHEN 'integer'::regtype THEN '{"type": "integer"}'
		WHEN 'bigint'::regtype THEN '{"type": "integer"}'
		WHEN 'numeric'::regtype THEN '{"type": "number"}'
		WHEN 'real'::regtype THEN '{"type": "number"}'
		WHEN 'double precision'::regtype THEN '{"type": "number"}'
		WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
		WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'timestamp without time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
		WHEN 'jsonb'::regtype THEN '{}'
		WHEN 'json'::regtype THEN '{}'
		ELSE '{"type": "string"}'
	END::jsonb
$$;
COMMENT ON FUNCTION pgapp.openapi_type(regtype) IS 'the JSON schema of a PostgreSQL type, for OpenAPI parameters';

-- A route parameter's default (a JSON string such as "100" in the catalog)
-- as a value of the parameter's JSON type.
CREATE FUNCTION pgapp.openapi_default(schema jsonb, value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN jsonb_typeof(value) <> 'string' THEN value
		WHEN schema->>'type' = 'integer' AND value #>> '{}' ~ '^-?[0-9]{1,18}$'
			THEN to_jsonb((value #>> '{}')::bigint)
		WHEN schema->>'type' = 'number' AND value #>> '{}' ~ '^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$'
			THEN to_jsonb((value #>> '{}')::numeric)
		WHEN schema->>'type' = 'boolean' AND value #>> '{}' IN ('true', 'false')
			THEN to_jsonb((value #>> '{}')::boolean)
		ELSE value
	END
$$;
COMMENT ON FUNCTION pgapp.openapi_default(jsonb, jsonb) IS 'a route parameter default as a value of the parameter''s JSON type';

-- A schema reference when the catalog names a component, a JSON type for
-- a primitive response (true from the health check), else any value.
CREATE FUNCTION pgapp.openapi_schema_ref(name text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN name IS NULL THEN '{}'::jsonb
		WHEN pgapp.openapi_schemas() ? name
			THEN jsonb_build_object('$ref', '#/components/schemas/' || name)
		WHEN name IN ('boolean', 'string', 'integer', 'number', 'object', 'array')
			THEN jsonb_build_object('type', name)
		ELSE jsonb_build_object('title', name)
	END
$$;
COMMENT ON FUNCTION pgapp.openapi_schema_ref(text) IS 'the schema for a catalog request/response schema name';

CREATE FUNCTION api.openapi() RETURNS jsonb
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
COMMENT ON FUNCTION api.openapi() IS 'GET /openapi.json: the OpenAPI 3.1 document of the route catalog';

INSERT INTO api.routes (method, path, handler, auth, params, operation_id, summary, tags,
		request_schema, response_schema, builtin)
VALUES ('GET', '/api/v1/openapi.json', 'api.openapi()', 'none', '[]',
		'openapi', 'OpenAPI document', '{}', NULL, 'object', true);

REVOKE ALL ON FUNCTION pgapp.openapi_schemas(), pgapp.openapi_type(regtype),
	pgapp.openapi_default(jsonb, jsonb), pgapp.openapi_schema_ref(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api.openapi() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.openapi() TO pgapp_gateway, pgapp_caller;
