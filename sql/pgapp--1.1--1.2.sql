\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.2'" to load this file. \quit

-- pgapp 1.2: the id sequence of api.routes is dumped with the DBA's routes,
-- so a route added after a restore does not collide with a restored id.

SELECT pg_catalog.pg_extension_config_dump(
	pg_catalog.pg_get_serial_sequence('api.routes', 'id')::regclass, '');
