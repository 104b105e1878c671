-- The SCRAM-SHA-256 verifier of a role password (scram.c): pgapp.setup
-- puts only the verifier into ALTER ROLE, so GATEWAY_DB_PASSWORD is never
-- SQL text (SPEC §4).  For the extension's owner and superusers only.
CREATE FUNCTION pgapp.scram_verifier(password text) RETURNS text
AS 'MODULE_PATHNAME', 'scram_verifier' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.scram_verifier(text) IS 'the SCRAM-SHA-256 verifier of a role password (random salt), as ALTER ROLE ... PASSWORD stores it';
REVOKE ALL ON FUNCTION pgapp.scram_verifier(text) FROM PUBLIC;

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
	previous_gw_user text;
	report text[] := '{}';
	kid text;
	msg text;
	-- the published key of .env.example (pgapp.key_check refuses it too)
	development_key constant bytea :=
		convert_to('dev-secret-key-for-local-use-only-change-me-0123456789', 'UTF8');
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
	-- the template's name; pgapp keeps its own default of 1 hour (a reset
	-- link is single-use and short-lived on purpose)
	IF vars ? 'EMAIL_RESET_TOKEN_EXPIRE_HOURS' AND (vars->>'EMAIL_RESET_TOKEN_EXPIRE_HOURS' !~ '^[0-9]{1,3}$'
		OR (vars->>'EMAIL_RESET_TOKEN_EXPIRE_HOURS')::int NOT BETWEEN 1 AND 168) THEN
		RAISE EXCEPTION 'EMAIL_RESET_TOKEN_EXPIRE_HOURS must be a whole number of hours between 1 and 168'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- The gateway's login: never one of pgapp's own roles (pgapp_owner
	-- owns every object and could read the keys), a reserved pg_* role,
	-- or a role that RLS would not hold (SPEC §1.7).
	gw_user := coalesce(nullif(vars->>'GATEWAY_DB_USER', ''), 'pgapp_gateway_login');
	IF octet_length(gw_user) >= 64 THEN
		RAISE EXCEPTION 'GATEWAY_DB_USER must be a role name of at most 63 bytes'
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF gw_user LIKE 'pg\_%' THEN
		RAISE EXCEPTION 'GATEWAY_DB_USER must not be a reserved role, not "%"', gw_user
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'Role names starting with "pg_" are reserved for PostgreSQL.';
	ELSIF gw_user IN ('pgapp_owner', 'pgapp_gateway', 'pgapp_caller') THEN
		RAISE EXCEPTION 'GATEWAY_DB_USER must not be one of pgapp''s own roles, not "%"', gw_user
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'The gateway logs in as a role of its own, which setup makes a member of pgapp_gateway.';
	ELSIF EXISTS (SELECT FROM pg_roles r WHERE r.rolname = gw_user
		AND (r.rolsuper OR r.rolbypassrls OR pg_has_role(r.oid, 'pgapp_owner', 'MEMBER'))) THEN
		RAISE EXCEPTION 'GATEWAY_DB_USER must not be a superuser, a BYPASSRLS role or a member of pgapp_owner, not "%"', gw_user
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'Row-level security would not hold for the gateway (SPEC §1).';
	END IF;

	IF coalesce(vars->>'FIRST_SUPERUSER', '') <> '' AND NOT EXISTS (
		SELECT FROM pgapp.users u WHERE lower(u.email) = lower(vars->>'FIRST_SUPERUSER')) THEN
		-- the checks of api.signup, with the variable's name in the message
		BEGIN
			PERFORM pgapp.check_email(vars->>'FIRST_SUPERUSER', ARRAY['FIRST_SUPERUSER']);
			IF coalesce(vars->>'FIRST_SUPERUSER_PASSWORD', '') = '' THEN
				RAISE EXCEPTION 'FIRST_SUPERUSER_PASSWORD must be set with FIRST_SUPERUSER'
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			PERFORM pgapp.check_password(vars->>'FIRST_SUPERUSER_PASSWORD', ARRAY['FIRST_SUPERUSER_PASSWORD']);
		EXCEPTION WHEN SQLSTATE 'PA422' THEN
			GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
			RAISE EXCEPTION USING MESSAGE = rtrim(msg, '.'), ERRCODE = 'invalid_parameter_value';
		END;
	END IF;

	INSERT INTO pgapp.settings (name, value)
	SELECT key, v FROM jsonb_each_text(vars) AS e(key, v)
	 WHERE key IN ('ENVIRONMENT', 'ALGORITHM', 'ACCESS_TOKEN_EXPIRE_MINUTES', 'BCRYPT_COST',
				   'FRONTEND_HOST', 'PROJECT_NAME')
	ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET value = EXCLUDED.value;
	-- read by pgapp.setting('RESET_TOKEN_EXPIRE_HOURS'), default 1
	IF vars ? 'EMAIL_RESET_TOKEN_EXPIRE_HOURS' THEN
		INSERT INTO pgapp.settings (name, value)
		VALUES ('RESET_TOKEN_EXPIRE_HOURS', ((vars->>'EMAIL_RESET_TOKEN_EXPIRE_HOURS')::int)::text)
		ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET value = EXCLUDED.value;
	END IF;

	IF coalesce(vars->>'SECRET_KEY', '') <> '' THEN
		kid := pgapp.key_apply(vars->>'SECRET_KEY', pgapp.setting('ALGORITHM'));
		report := report || ('signing key ' || kid);
	ELSIF NOT EXISTS (SELECT FROM pgapp.keys WHERE signing) THEN
		RAISE EXCEPTION 'SECRET_KEY must be set' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Set SECRET_KEY (at least 32 bytes) in .env.';
	END IF;
	-- SPEC §4: the published development key is refused unless
	-- ENVIRONMENT=local, also when it was applied while it was local and
	-- SECRET_KEY is now empty (the database keeps the key it has)
	IF pgapp.setting('ENVIRONMENT') <> 'local' THEN
		IF EXISTS (SELECT FROM pgapp.signing_keys k
			WHERE k.secret = development_key AND k.retired_at IS NULL) THEN
			RAISE EXCEPTION 'the development signing key is refused outside the local environment'
				USING ERRCODE = 'invalid_parameter_value',
				DETAIL = format('A live signing key is the published key of .env.example and ENVIRONMENT is "%s".',
					pgapp.setting('ENVIRONMENT')),
				HINT = 'Set SECRET_KEY to a random value, for example from: openssl rand -base64 48';
		END IF;
		-- replaced by a new SECRET_KEY: no grace period for a published key
		UPDATE pgapp.signing_keys k SET retired_at = now()
		 WHERE k.secret = development_key AND k.retired_at > now();
	END IF;

	IF coalesce(vars->>'GATEWAY_DB_PASSWORD', '') <> '' THEN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = gw_user) THEN
			EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', gw_user);
		END IF;
		-- only the verifier is SQL text, never the password
		EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', gw_user,
			pgapp.scram_verifier(vars->>'GATEWAY_DB_PASSWORD'));
		IF NOT pg_has_role(gw_user, 'pgapp_gateway', 'MEMBER') THEN
			EXECUTE format('GRANT pgapp_gateway TO %I', gw_user);
		END IF;
		EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', gw_user, '30s');
		EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', gw_user, '60s');
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length = 0', gw_user);
		EXECUTE format('ALTER ROLE %I SET log_parameter_max_length_on_error = 0', gw_user);
		-- a login that GATEWAY_DB_USER named before stops being the gateway
		SELECT s.value INTO previous_gw_user FROM pgapp.settings s WHERE s.name = 'GATEWAY_DB_USER';
		IF previous_gw_user <> gw_user AND EXISTS (SELECT FROM pg_auth_members m
			WHERE m.roleid = 'pgapp_gateway'::regrole AND m.member = (
				SELECT r.oid FROM pg_roles r WHERE r.rolname = previous_gw_user)) THEN
			EXECUTE format('REVOKE pgapp_gateway FROM %I', previous_gw_user);
			RAISE WARNING 'role "%" is no longer a member of pgapp_gateway', previous_gw_user
				USING DETAIL = format('GATEWAY_DB_USER changed from "%s" to "%s".', previous_gw_user, gw_user),
				HINT = 'Drop the previous role if nothing else uses it: it keeps its login and password.';
		END IF;
		INSERT INTO pgapp.settings (name, value) VALUES ('GATEWAY_DB_USER', gw_user)
		ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET value = EXCLUDED.value;
		report := report || ('gateway role ' || gw_user);
	END IF;

	IF coalesce(vars->>'FIRST_SUPERUSER', '') <> '' AND NOT EXISTS (
		SELECT FROM pgapp.users u WHERE lower(u.email) = lower(vars->>'FIRST_SUPERUSER')) THEN
		PERFORM pgapp.user_insert(vars->>'FIRST_SUPERUSER', vars->>'FIRST_SUPERUSER_PASSWORD',
			NULL, true, true, 'The first superuser already exists');
		report := report || ('first superuser ' || (vars->>'FIRST_SUPERUSER'));
	END IF;
	RETURN array_to_string(report, ', ');
END
$$;
COMMENT ON FUNCTION pgapp.setup(text) IS
'apply the environment (KEY=VALUE lines): settings (EMAIL_RESET_TOKEN_EXPIRE_HOURS as RESET_TOKEN_EXPIRE_HOURS), signing key, gateway login role, first superuser; refuses a bad value, a privileged or pgapp-owned GATEWAY_DB_USER and the development key outside ENVIRONMENT=local before changing anything';
