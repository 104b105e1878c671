--
-- api.openapi(): an OpenAPI 3.1 document generated from the route catalog.
-- Checks that hold whatever routes the catalog has, then the item routes in
-- detail.
--
CREATE TEMP TABLE doc AS SELECT api.openapi() AS d;

-- Top level.
SELECT d->>'openapi' AS openapi,
	   d->'info'->>'title' = pgapp.setting('PROJECT_NAME') AS title,
	   d->'info'->>'version' = api.version() AS version,
	   (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(d) k) AS keys
  FROM doc;

-- Every catalog route is an operation, and nothing else is.
SELECT r.method, r.path FROM api.routes r, doc
 WHERE NOT coalesce(d->'paths'->r.path ? lower(r.method), false);
SELECT (SELECT count(*) FROM doc, jsonb_each(d->'paths') p, jsonb_object_keys(p.value) m)
	   = (SELECT count(*) FROM api.routes) AS same_count;
-- operationIds are unique, every operation answers 200 and has a summary.
SELECT count(*) = count(DISTINCT o.value->>'operationId') AS unique_ids,
	   bool_and(o.value->'responses' ? '200') AS all_200,
	   bool_and(o.value->>'summary' <> '') AS all_summaries,
	   bool_and(m IN ('get', 'post', 'put', 'patch', 'delete')) AS methods
  FROM doc, jsonb_each(d->'paths') p, jsonb_each(p.value) AS o(m, value);
-- Security exactly where the route needs authentication.
SELECT bool_and((o.value ? 'security') = (r.auth <> 'none')) AS security_matches_auth
  FROM api.routes r, doc, jsonb_each(d->'paths'->r.path) o
 WHERE o.key = lower(r.method);
-- Every {name} of a path is a required path parameter of each operation.
SELECT p.key AS path, o.key AS method, n[1] AS undeclared
  FROM doc, jsonb_each(d->'paths') p, jsonb_each(p.value) o,
	   regexp_matches(p.key, '\{([a-z_][a-z0-9_]*)\}', 'g') n
 WHERE NOT coalesce(o.value->'parameters' @? format('$[*] ? (@.in == "path" && @.name == "%s" && @.required == true)', n[1])::jsonpath, false);
-- Every $ref resolves to a component schema.
SELECT r AS dangling_ref
  FROM doc, jsonb_path_query(d, 'strict $.**."$ref"') r
 WHERE NOT (d->'components'->'schemas' ? substr(r #>> '{}', length('#/components/schemas/') + 1))
	OR NOT (r #>> '{}' LIKE '#/components/schemas/%');
-- The template's schema names, each titled with its own name.
SELECT s.key AS schema, s.value->>'title' = s.key AS titled, s.value->>'type' AS type,
	   s.value->'required' AS required
  FROM doc, jsonb_each(d->'components'->'schemas') s ORDER BY s.key;
SELECT jsonb_pretty(d->'components'->'securitySchemes') AS security_schemes FROM doc;

-- The item routes in detail.
SELECT p.key AS path, o.key AS method, o.value->>'operationId' AS operation_id,
	   o.value->>'summary' AS summary, o.value->'tags' AS tags,
	   o.value->'responses'->'200'->'content'->'application/json'->'schema'->>'$ref' AS response,
	   o.value->'requestBody'->'content'->'application/json'->'schema'->>'$ref' AS request,
	   o.value->'requestBody'->'required' AS body_required,
	   o.value->'responses' ? '422' AS validates,
	   o.value->'security' AS security
  FROM doc, jsonb_each(d->'paths') p, jsonb_each(p.value) o
 WHERE p.key LIKE '/api/v1/items%'
 ORDER BY p.key, o.key;
SELECT jsonb_pretty(d->'paths'->'/api/v1/items'->'get'->'parameters') AS list_parameters FROM doc;
SELECT jsonb_pretty(d->'paths'->'/api/v1/items/{item_id}'->'put'->'parameters') AS update_parameters FROM doc;
-- The document's own route: anonymous, no validation.
SELECT o.value ? 'security' AS secured, o.value->'responses' ? '422' AS validates
  FROM doc, jsonb_each(d->'paths'->'/api/v1/openapi.json') o;

-- A route a DBA adds is documented at once: query parameters typed from
-- the handler, an inline body schema for body fields without a model.
BEGIN;
CREATE FUNCTION api.regress_echo(n int, flag boolean, note text, at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT jsonb_build_object('n', n) $$;
COMMENT ON FUNCTION api.regress_echo(int, boolean, text, timestamptz) IS 'echo for the OpenAPI test';
INSERT INTO api.routes (method, path, handler, auth, params)
VALUES ('POST', '/api/v1/regress/{n}', 'api.regress_echo(int, boolean, text, timestamptz)', 'none',
		'[{"name": "n", "in": "path"}, {"name": "flag", "in": "query", "default": "true"},
		  {"name": "note", "in": "body"}, {"name": "at", "in": "body", "default": null}]');
SELECT jsonb_pretty(api.openapi()->'paths'->'/api/v1/regress/{n}') AS dba_route;
ROLLBACK;

-- Who may read it.
SELECT has_function_privilege('pgapp_gateway', 'api.openapi()', 'EXECUTE') AS gateway,
	   has_function_privilege('pgapp_caller', 'api.openapi()', 'EXECUTE') AS caller,
	   has_function_privilege('public', 'api.openapi()', 'EXECUTE') AS public;
SELECT provolatile, prosecdef FROM pg_proc WHERE oid = 'api.openapi()'::regprocedure;
