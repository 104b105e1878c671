-- Ownership and privileges (SPEC §7), last: every object of the extension
-- belongs to pgapp_owner (NOSUPERUSER, NOBYPASSRLS), so SECURITY DEFINER
-- code obeys FORCE ROW LEVEL SECURITY; PUBLIC can execute nothing; each
-- role gets back only what it needs.
DO $$
DECLARE
	obj record;
BEGIN
	FOR obj IN
		SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
					  c.oid::regclass) AS what
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'S', 'p')
		   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
		UNION ALL
		SELECT format('FUNCTION %s', p.oid::regprocedure)
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname IN ('api', 'pgapp')
	LOOP
		EXECUTE format('ALTER %s OWNER TO pgapp_owner', obj.what);
	END LOOP;
END
$$;

-- The identity sequence of pgapp.mail_outbox (40_users.sql) needs a
-- COMMENT too: every object of the extension has one (\dx+ pgapp).
COMMENT ON SEQUENCE pgapp.mail_outbox_id_seq IS 'ids of pgapp.mail_outbox (dumped with it)';

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgapp FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA api FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgapp FROM PUBLIC;

GRANT USAGE ON SCHEMA api, pgapp TO pgapp_owner, pgapp_gateway, pgapp_caller;

-- RLS policies call these as the querying role: psql callers read
-- pgapp.users and pgapp.items.  Not the gateway, which reads no table (its
-- handlers do, as pgapp_owner): it may execute what it calls, nothing else.
GRANT EXECUTE ON FUNCTION api.current_user_id(), pgapp.current_user_is_superuser()
	TO pgapp_caller;

-- The gateway: the dispatcher, the catalog, and the route handlers.
GRANT EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text),
	api.route_list() TO pgapp_gateway;
DO $$
DECLARE
	h text;	-- a canonical signature (60_routes.sql)
BEGIN
	FOR h IN SELECT DISTINCT handler FROM api.routes LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgapp_gateway', h);
	END LOOP;
END
$$;

-- psql callers: the api schema, minus what only the gateway runs.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO pgapp_caller;
REVOKE EXECUTE ON FUNCTION api.dispatch(int, text, text, text, text, text, text),
	api.route_list() FROM pgapp_caller;
GRANT SELECT ON pgapp.users TO pgapp_caller;
