-- Everything the extension defines, without OIDs, one line per fact:
-- an upgraded database must print exactly what a fresh install prints.
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname IN ('api', 'pgapp'))
SELECT line FROM (
	SELECT format('relation %s kind=%s owner=%s acl=%s rls=%s force=%s comment=%s',
		c.oid::regclass, c.relkind, c.relowner::regrole, c.relacl, c.relrowsecurity,
		c.relforcerowsecurity, obj_description(c.oid, 'pg_class')) AS line
	  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'v', 'S', 'i')
	UNION ALL
	SELECT format('column %s.%s #%s %s notnull=%s default=%s acl=%s comment=%s', a.attrelid::regclass,
		a.attname, rank() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
		format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
		a.attacl, col_description(a.attrelid, a.attnum))
	  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind IN ('r', 'v')
	   AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
	  FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
	UNION ALL
	SELECT format('index %s', pg_get_indexdef(i.indexrelid))
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
	UNION ALL
	SELECT format('function %s owner=%s lang=%s vol=%s strict=%s definer=%s parallel=%s config=%s acl=%s result=%s src=%s comment=%s',
		p.oid::regprocedure, p.proowner::regrole, l.lanname, p.provolatile, p.proisstrict, p.prosecdef,
		p.proparallel, p.proconfig, p.proacl, pg_get_function_result(p.oid), md5(p.prosrc),
		obj_description(p.oid, 'pg_proc'))
	  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace IN (SELECT oid FROM ns)
	UNION ALL
	SELECT format('function-args %s %s', p.oid::regprocedure, pg_get_function_arguments(p.oid))
	  FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)
	UNION ALL
	SELECT format('policy %s.%s %s cmd=%s roles=%s using=%s check=%s', schemaname, tablename, policyname,
		cmd, roles, qual, with_check)
	  FROM pg_policies WHERE schemaname IN ('api', 'pgapp')
	UNION ALL
	SELECT format('trigger %s', pg_get_triggerdef(t.oid))
	  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace IN (SELECT oid FROM ns) AND NOT t.tgisinternal
	UNION ALL
	SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid))
	  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns) AND c.relkind = 'v'
	UNION ALL
	SELECT format('dumped %s where=%s', cfg::regclass, cond)
	  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond) WHERE e.extname = 'pgapp'
	UNION ALL
	SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
	  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE e.extname = 'pgapp' AND d.deptype = 'e'
	UNION ALL
	SELECT format('schema %s owner=%s acl=%s comment=%s', nspname, nspowner::regrole, nspacl,
		obj_description(oid, 'pg_namespace'))
	  FROM pg_namespace WHERE oid IN (SELECT oid FROM ns)
	UNION ALL
	-- the privileges pg_dump takes as given: a difference makes the dump
	-- of an upgraded database GRANT or REVOKE what a fresh install lacks
	SELECT format('init-privs %s type=%s acl=%s',
		pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs)
	  FROM pg_init_privs i JOIN pg_depend d
	    ON d.classid = i.classoid AND d.objid = i.objoid AND d.objsubid = 0 AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE e.extname = 'pgapp'
	UNION ALL
	SELECT format('route %s %s %s %s %s builtin=%s', method, path, handler, auth, params, builtin)
	  FROM api.routes
) facts
ORDER BY line;
