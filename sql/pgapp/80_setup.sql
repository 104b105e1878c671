-- pgapp.setup: apply the environment (SPEC §4) to the database.  Run by
-- scripts/apply-env.sh (make run, make test, the db container at every
-- start) with the KEY=VALUE lines it reads from a file, so no secret is
-- ever part of SQL text.  Idempotent.
CREATE FUNCTION pgapp.setup(env text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	vars jsonb := '{}';
	line text;
	var_name text;
	var_value text;
	gw_user text;
	report text[] := '{}';
	kid text;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		RAISE EXCEPTION 'pgapp.setup must be run by a superuser' USING ERRCODE = 'insufficient_privilege';
	END IF;
	FOREACH line IN ARRAY regexp_split_to_array(coalesce(env, ''), E'\n') LOOP
		CONTINUE WHEN line = '' OR line LIKE '#%';
		IF position('=' IN line) = 0 THEN
			RAISE EXCEPTION 'setup: malformed line (expected NAME=VALUE)' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		var_name := split_part(line, '=', 1);
		var_value := substr(line, length(var_name) + 2);
		vars := vars || jsonb_build_object(var_name, var_value);
	END LOOP;

	-- validate everything first: a bad value changes nothing
	IF vars ? 'ENVIRONMENT' AND vars->>'ENVIRONMENT' NOT IN ('local', 'staging', 'production') THEN
		RAISE EXCEPTION 'ENVIRONMENT must be local, staging or production, not "%"', vars->>'ENVIRONMENT'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'ALGORITHM' AND vars->>'ALGORITHM' NOT IN ('HS256', 'HS384', 'HS512') THEN
		RAISE EXCEPTION 'ALGORITHM must be HS256, HS384 or HS512, not "%"', vars->>'ALGORITHM'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'ACCESS_TOKEN_EXPIRE_MINUTES' AND (vars->>'ACCESS_TOKEN_EXPIRE_MINUTES' !~ '^[0-9]{1,6}$'
		OR (vars->>'ACCESS_TOKEN_EXPIRE_MINUTES')::int NOT BETWEEN 1 AND 525600) THEN
		RAISE EXCEPTION 'ACCESS_TOKEN_EXPIRE_MINUTES must be a whole number of minutes between 1 and 525600'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'BCRYPT_COST' AND (vars->>'BCRYPT_COST' !~ '^[0-9]{1,2}$'
		OR (vars->>'BCRYPT_COST')::int NOT BETWEEN 4 AND 16) THEN
		RAISE EXCEPTION 'BCRYPT_COST must be between 4 and 16' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF vars ? 'FRONTEND_HOST' AND vars->>'FRONTEND_HOST' !~ '^https?://[^[:space:]"<>]+$' THEN
		RAISE EXCEPTION 'FRONTEND_HOST must be an http(s) URL' USING ERRCODE = 'invalid_parameter_value';
	END IF;

	INSERT INTO pgapp.settings (name, value)
	SELECT key, v FROM jsonb_each_text(vars) AS e(key, v)
	 WHERE key IN ('ENVIRONMENT', 'ALGORITHM', 'ACCESS_TOKEN_EXPIRE_MINUTES', 'BCRYPT_COST',
				   'FRONTEND_HOST', 'PROJECT_NAME')
	ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET value = EXCLUDED.value;

	IF coalesce(vars->>'SECRET_KEY', '') <> '' THEN
		kid := pgapp.key_apply(vars->>'SECRET_KEY', pgapp.setting('ALGORITHM'));
		report := report || ('signing key ' || kid);
	ELSIF NOT EXISTS (SELECT FROM pgapp.keys WHERE signing) THEN
		RAISE EXCEPTION 'SECRET_KEY must be set' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Set SECRET_KEY (at least 32 bytes) in .env.';
	END IF;

	IF coalesce(vars->>'GATEWAY_DB_PASSWORD', '') <> '' THEN
		gw_user := coalesce(nullif(vars->>'GATEWAY_DB_USER', ''), 'pgapp_gateway_login');
		IF EXISTS (SELECT FROM pg_roles WHERE rolname = gw_user AND (rolsuper OR rolbypassrls)) THEN
			RAISE EXCEPTION 'the gateway role "%" must not be a superuser or have BYPASSRLS', gw_user
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = gw_user) THEN
			EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', gw_user);
		END IF;
		EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', gw_user, vars->>'GATEWAY_DB_PASSWORD');
		EXECUTE format('GRANT pgapp_gateway TO %I', gw_user);
		EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', gw_user, '30s');
		EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', gw_user, '60s');
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length = 0', gw_user);
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length_on_error = 0', gw_user);
		report := report || ('gateway role ' || gw_user);
	END IF;

	IF coalesce(vars->>'FIRST_SUPERUSER', '') <> '' AND NOT EXISTS (
		SELECT FROM pgapp.users u WHERE lower(u.email) = lower(vars->>'FIRST_SUPERUSER')) THEN
		IF coalesce(vars->>'FIRST_SUPERUSER_PASSWORD', '') = '' THEN
			RAISE EXCEPTION 'FIRST_SUPERUSER_PASSWORD must be set with FIRST_SUPERUSER'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		PERFORM pgapp.user_insert(vars->>'FIRST_SUPERUSER', vars->>'FIRST_SUPERUSER_PASSWORD',
			NULL, true, true, 'The first superuser already exists');
		report := report || ('first superuser ' || (vars->>'FIRST_SUPERUSER'));
	END IF;
	RETURN array_to_string(report, ', ');
END
$$;
COMMENT ON FUNCTION pgapp.setup(text) IS
'apply the environment (KEY=VALUE lines): settings, signing key, gateway login role, first superuser';
