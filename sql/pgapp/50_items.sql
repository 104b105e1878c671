-- Items: the template's example resource (SPEC §5, §6).
--
-- Every row belongs to a user; row-level security (forced, so that the
-- SECURITY DEFINER functions below, owned by pgapp_owner, obey it too)
-- lets a user see and change only their own items and a superuser all of
-- them.  The api.item* functions add FastAPI's validation and error
-- bodies on top; a pgapp_caller role may also use the table directly, with
-- the same visibility.

CREATE TABLE pgapp.items (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	title text NOT NULL CHECK (pg_catalog.char_length(title) BETWEEN 1 AND 255),
	description text CHECK (pg_catalog.char_length(description) <= 255),
	owner_id uuid NOT NULL REFERENCES pgapp.users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgapp.items IS 'items: title 1..255, description <= 255 or null, owned by a user (row-level security)';
COMMENT ON COLUMN pgapp.items.owner_id IS 'the owning user; the items go with the user';

-- The owner's listing, newest first, and the superuser's listing of all.
CREATE INDEX items_owner_created_idx ON pgapp.items (owner_id, created_at DESC, id DESC);
CREATE INDEX items_created_idx ON pgapp.items (created_at DESC, id DESC);

ALTER TABLE pgapp.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.items FORCE ROW LEVEL SECURITY;

-- The identity functions are wrapped in scalar subqueries so that they
-- run once per statement (an init plan), not once per row.
CREATE POLICY items_select ON pgapp.items FOR SELECT
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
CREATE POLICY items_insert ON pgapp.items FOR INSERT
	WITH CHECK (owner_id = (SELECT api.current_user_id()));
CREATE POLICY items_update ON pgapp.items FOR UPDATE
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()))
	WITH CHECK (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
CREATE POLICY items_delete ON pgapp.items FOR DELETE
	USING (owner_id = (SELECT api.current_user_id())
		OR (SELECT pgapp.current_user_is_superuser()));
COMMENT ON POLICY items_select ON pgapp.items IS 'a user sees their own items, a superuser all';
COMMENT ON POLICY items_insert ON pgapp.items IS 'everyone, superusers included, creates items for themselves only';
COMMENT ON POLICY items_update ON pgapp.items IS 'a user changes their own items, a superuser any; nobody gives an item away';
COMMENT ON POLICY items_delete ON pgapp.items IS 'a user deletes their own items, a superuser any';

SELECT pg_catalog.pg_extension_config_dump('pgapp.items', '');

-- ItemPublic.  Plain SQL without SET so that the planner inlines it into
-- the listing; every name in it is schema-qualified instead.
CREATE FUNCTION pgapp.item_public(i pgapp.items) RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', i.id,
		'title', i.title,
		'description', i.description,
		'owner_id', i.owner_id,
		'created_at', i.created_at)
$$;
COMMENT ON FUNCTION pgapp.item_public(pgapp.items) IS 'an item as the ItemPublic JSON object';

-- One element of FastAPI's 422 list; ctx only when given, as pydantic does.
CREATE FUNCTION pgapp.item_error(loc text[], type text, msg text, input jsonb, ctx jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object('type', type, 'loc', to_jsonb(loc), 'msg', msg,
		'input', coalesce(input, 'null'::jsonb))
		|| CASE WHEN ctx IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('ctx', ctx) END
$$;
COMMENT ON FUNCTION pgapp.item_error(text[], text, text, jsonb, jsonb) IS 'one validation error in FastAPI''s shape {type, loc, msg, input[, ctx]}';

-- Raise a 422 with a list of errors (DETAIL, as pgapp.raise_invalid does).
CREATE FUNCTION pgapp.item_raise_invalid(errors jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'PA422',
		MESSAGE = format('invalid value for %s: %s',
			(SELECT string_agg(l, '.') FROM jsonb_array_elements_text(errors->0->'loc') l),
			errors->0->>'msg'),
		DETAIL = errors::text;
END
$$;
COMMENT ON FUNCTION pgapp.item_raise_invalid(jsonb) IS 'raise a validation error (422) carrying a list of errors';

-- Validate an ItemCreate (partial = false) or ItemUpdate (partial = true)
-- body; returns the list of errors, empty when valid.  Unknown keys are
-- ignored, as FastAPI does.  title is never null (the template would fail
-- with a 500 on a null title in an update); description may be.
CREATE FUNCTION pgapp.item_validate(body jsonb, partial boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	errors jsonb := '[]';
	field text;
	min_length int;
	nullable boolean;
	value jsonb;
	len int;
BEGIN
	FOR field, min_length, nullable IN
		SELECT * FROM (VALUES ('title', 1, false), ('description', 0, true)) AS f
	LOOP
		IF NOT body ? field THEN
			IF NOT partial AND NOT nullable THEN
				errors := errors || pgapp.item_error(ARRAY['body', field], 'missing',
					'Field required', body);
			END IF;
			CONTINUE;
		END IF;
		value := body->field;
		IF jsonb_typeof(value) = 'null' AND nullable THEN
			CONTINUE;
		END IF;
		IF jsonb_typeof(value) <> 'string' THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_type',
				'Input should be a valid string', value);
			CONTINUE;
		END IF;
		len := char_length(value #>> '{}');
		IF len < min_length THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_too_short',
				format('String should have at least %s character%s', min_length,
					CASE WHEN min_length = 1 THEN '' ELSE 's' END),
				value, jsonb_build_object('min_length', min_length));
		ELSIF len > 255 THEN
			errors := errors || pgapp.item_error(ARRAY['body', field], 'string_too_long',
				'String should have at most 255 characters',
				value, jsonb_build_object('max_length', 255));
		END IF;
	END LOOP;
	RETURN errors;
END
$$;
COMMENT ON FUNCTION pgapp.item_validate(jsonb, boolean) IS 'FastAPI''s validation of an ItemCreate (or, partial, ItemUpdate) body: the list of errors';

-- The caller's identity, or 401 for a psql caller who did not authenticate.
CREATE FUNCTION pgapp.item_caller() RETURNS uuid
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := api.current_user_id();
BEGIN
	IF uid IS NULL THEN
		PERFORM pgapp.raise(401, 'Not authenticated');
	END IF;
	RETURN uid;
END
$$;
COMMENT ON FUNCTION pgapp.item_caller() IS 'the authenticated user''s id, else 401 "Not authenticated"';

CREATE FUNCTION api.items_list(skip int DEFAULT 0, "limit" int DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	n_skip int := coalesce(items_list.skip, 0);
	n_limit int := coalesce(items_list."limit", 100);
	errors jsonb := '[]';
	page jsonb;
	total bigint;
BEGIN
	IF n_skip < 0 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'skip'], 'greater_than_equal',
			'Input should be greater than or equal to 0', to_jsonb(n_skip::text),
			'{"ge": 0}');
	END IF;
	IF n_limit < 1 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'limit'], 'greater_than_equal',
			'Input should be greater than or equal to 1', to_jsonb(n_limit::text),
			'{"ge": 1}');
	ELSIF n_limit > 1000 THEN
		errors := errors || pgapp.item_error(ARRAY['query', 'limit'], 'less_than_equal',
			'Input should be less than or equal to 1000', to_jsonb(n_limit::text),
			'{"le": 1000}');
	END IF;
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;

	-- Two static queries rather than "superuser OR owner_id = uid", so that
	-- each gets its own index (row-level security filters both anyway).
	IF pgapp.current_user_is_superuser() THEN
		SELECT coalesce(jsonb_agg(pgapp.item_public(i) ORDER BY i.created_at DESC, i.id DESC), '[]')
		  INTO page
		  FROM (SELECT * FROM pgapp.items
				 ORDER BY created_at DESC, id DESC
				OFFSET n_skip LIMIT n_limit) i;
		SELECT count(*) INTO total FROM pgapp.items;
	ELSE
		SELECT coalesce(jsonb_agg(pgapp.item_public(i) ORDER BY i.created_at DESC, i.id DESC), '[]')
		  INTO page
		  FROM (SELECT * FROM pgapp.items
				 WHERE owner_id = uid
				 ORDER BY created_at DESC, id DESC
				OFFSET n_skip LIMIT n_limit) i;
		SELECT count(*) INTO total FROM pgapp.items WHERE owner_id = uid;
	END IF;
	RETURN jsonb_build_object('data', page, 'count', total);
END
$$;
COMMENT ON FUNCTION api.items_list(int, int) IS 'GET /items/: the caller''s items (all for a superuser), newest first: {"data": [ItemPublic], "count"}; skip >= 0, limit 1..1000 (NULL = default)';

CREATE FUNCTION api.item_create(title text, description text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	errors jsonb;
	item pgapp.items;
BEGIN
	errors := pgapp.item_validate(jsonb_build_object(
		'title', item_create.title, 'description', item_create.description), false);
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;
	INSERT INTO pgapp.items (title, description, owner_id)
	VALUES (item_create.title, item_create.description, uid)
	RETURNING * INTO item;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_create(text, text) IS 'POST /items/: create an item owned by the caller; returns ItemPublic';

CREATE FUNCTION api.item_get(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	item pgapp.items;
BEGIN
	SELECT * INTO item FROM pgapp.items i WHERE i.id = item_get.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_get(uuid) IS 'GET /items/{id}: an item of the caller (any for a superuser), else 404 "Item not found"';

CREATE FUNCTION api.item_update(id uuid, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
	errors jsonb;
	item pgapp.items;
BEGIN
	IF patch IS NULL OR jsonb_typeof(patch) = 'null' THEN
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(
			ARRAY['body'], 'missing', 'Field required', 'null')));
	END IF;
	IF jsonb_typeof(patch) <> 'object' THEN
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(
			ARRAY['body'], 'model_attributes_type',
			'Input should be a valid dictionary or object to extract fields from', patch)));
	END IF;
	errors := pgapp.item_validate(patch, true);
	IF errors <> '[]' THEN
		PERFORM pgapp.item_raise_invalid(errors);
	END IF;
	UPDATE pgapp.items i
	   SET title = CASE WHEN patch ? 'title' THEN patch->>'title' ELSE i.title END,
	       description = CASE WHEN patch ? 'description' THEN patch->>'description' ELSE i.description END
	 WHERE i.id = item_update.id
	RETURNING * INTO item;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN pgapp.item_public(item);
END
$$;
COMMENT ON FUNCTION api.item_update(uuid, jsonb) IS 'PUT /items/{id}: partial update from an ItemUpdate patch {title?, description?}; returns ItemPublic';

CREATE FUNCTION api.item_delete(id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid uuid := pgapp.item_caller();
BEGIN
	DELETE FROM pgapp.items i WHERE i.id = item_delete.id;
	IF NOT FOUND THEN
		PERFORM pgapp.raise(404, 'Item not found');
	END IF;
	RETURN '{"message": "Item deleted successfully"}'::jsonb;
END
$$;
COMMENT ON FUNCTION api.item_delete(uuid) IS 'DELETE /items/{id}: delete an item of the caller (any for a superuser); returns Message';

-- Privileges: the helpers stay private (the api.* functions run them as
-- their owner); the gateway and psql callers get the five operations, and
-- psql callers the table itself, under row-level security.  A caller may
-- not choose an item's id or creation time, nor move it to another owner.
REVOKE ALL ON FUNCTION pgapp.item_public(pgapp.items), pgapp.item_error(text[], text, text, jsonb, jsonb),
	pgapp.item_raise_invalid(jsonb), pgapp.item_validate(jsonb, boolean), pgapp.item_caller() FROM PUBLIC;
REVOKE ALL ON FUNCTION api.items_list(int, int), api.item_create(text, text), api.item_get(uuid),
	api.item_update(uuid, jsonb), api.item_delete(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.items_list(int, int), api.item_create(text, text), api.item_get(uuid),
	api.item_update(uuid, jsonb), api.item_delete(uuid) TO pgapp_gateway, pgapp_caller;
REVOKE ALL ON TABLE pgapp.items FROM PUBLIC;
GRANT SELECT, DELETE ON TABLE pgapp.items TO pgapp_caller;
GRANT INSERT (title, description, owner_id), UPDATE (title, description) ON TABLE pgapp.items TO pgapp_caller;
