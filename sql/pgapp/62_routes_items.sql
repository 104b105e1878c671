-- HTTP routes of the items resource (SPEC §5).  Path parameters carry the
-- template's name (item_id) so that 422 locs read ["path","item_id"]; the
-- SQL functions keep their own argument names.
INSERT INTO api.routes (method, path, handler, auth, params, operation_id, summary, tags,
		request_schema, response_schema, builtin)
VALUES
	('GET', '/api/v1/items', 'api.items_list(int, int)', 'user',
	 '[{"name": "skip", "in": "query", "default": "0"},
	   {"name": "limit", "in": "query", "default": "100"}]',
	 'items-read_items', 'Read Items', '{items}', NULL, 'ItemsPublic', true),
	('POST', '/api/v1/items', 'api.item_create(text, text)', 'user',
	 '[{"name": "title", "in": "body"},
	   {"name": "description", "in": "body", "default": null}]',
	 'items-create_item', 'Create Item', '{items}', 'ItemCreate', 'ItemPublic', true),
	('GET', '/api/v1/items/{item_id}', 'api.item_get(uuid)', 'user',
	 '[{"name": "item_id", "in": "path"}]',
	 'items-read_item', 'Read Item', '{items}', NULL, 'ItemPublic', true),
	-- The whole body is the patch; an absent body reaches the handler as
	-- NULL, which answers FastAPI's 422 "missing" at ["body"].
	('PUT', '/api/v1/items/{item_id}', 'api.item_update(uuid, jsonb)', 'user',
	 '[{"name": "item_id", "in": "path"},
	   {"name": "patch", "in": "json", "default": null}]',
	 'items-update_item', 'Update Item', '{items}', 'ItemUpdate', 'ItemPublic', true),
	('DELETE', '/api/v1/items/{item_id}', 'api.item_delete(uuid)', 'user',
	 '[{"name": "item_id", "in": "path"}]',
	 'items-delete_item', 'Delete Item', '{items}', NULL, 'Message', true);
