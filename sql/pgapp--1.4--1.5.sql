\echo Use "ALTER EXTENSION pgapp UPDATE TO '1.5'" to load this file. \quit

-- pgapp 1.5: the findings of session 9's audits.  Each section below
-- restates, as released, the objects that 1.5 changes in sql/pgapp/.

-- ---------- email addresses as the template's EmailStr checks them ----------
-- 1.4 took anything shaped like a@b.c: a..b@example.com, x@-example.com,
-- x@example.123, x@[127.0.0.1], "q"@example.com, a 65-character local part
-- and special-use domains (.test, .local, ...) were stored, where the
-- template answers 422.  pgapp.email_problem follows email-validator's
-- syntax rules and words; the 422 carries ctx.reason as pydantic's does.
-- What is wrong with an email address, in the words of the email-validator
-- library that the template's EmailStr uses (syntax only, no DNS), or NULL
-- when nothing is.  The address is stored as given: no normalization.
CREATE FUNCTION pgapp.email_problem(email text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- RFC 5322 atext, and any character beyond ASCII but controls and spaces
	atom constant text := '[-a-zA-Z0-9_!#$%&''*+/=?^`{|}~\u00a1-\u167f\u1681-\u1fff\u2010-\u2027\u2030-\u205e\u2070-\u2fff\u3001-\ufefe\uff00-\U0010ffff]';
	parts text[] := string_to_array(email, '@');
	local_part text;
	domain text;
	label text;
	bad text;
	too_many int;
BEGIN
	IF cardinality(parts) <> 2 THEN
		RETURN 'The email address is not valid. It must have exactly one @-sign.';
	END IF;
	local_part := parts[1];
	domain := lower(parts[2]);

	IF local_part = '' THEN
		RETURN 'There must be something before the @-sign.';
	ELSIF char_length(local_part) > 64 THEN
		too_many := char_length(local_part) - 64;
		RETURN format('The email address is too long before the @-sign (%s character%s too many).',
			too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
	ELSIF local_part ~ '^".*"$' THEN
		RETURN 'Quoting the part before the @-sign is not allowed here.';
	END IF;
	bad := (SELECT string_agg(DISTINCT quote_literal(c), ', ')
			  FROM regexp_split_to_table(local_part, '') c
			 WHERE c <> '.' AND c !~ ('^' || atom || '$'));
	IF bad IS NOT NULL THEN
		RETURN format('The email address contains invalid characters before the @-sign: %s.', bad);
	ELSIF left(local_part, 1) = '.' THEN
		RETURN 'An email address cannot start with a period.';
	ELSIF right(local_part, 1) = '.' THEN
		RETURN 'An email address cannot have a period immediately before the @-sign.';
	ELSIF strpos(local_part, '..') > 0 THEN
		RETURN 'An email address cannot have two periods in a row.';
	END IF;

	IF domain = '' THEN
		RETURN 'There must be something after the @-sign.';
	ELSIF domain ~ '^\[.*\]$' THEN
		RETURN 'A bracketed IP address after the @-sign is not allowed here.';
	ELSIF right(domain, 1) = '.' THEN
		RETURN 'An email address cannot end with a period.';
	ELSIF left(domain, 1) = '.' THEN
		RETURN 'An email address cannot have a period immediately after the @-sign.';
	ELSIF strpos(domain, '..') > 0 THEN
		RETURN 'An email address cannot have two periods in a row.';
	ELSIF octet_length(domain) > 253 THEN
		RETURN 'The email address is too long after the @-sign.';
	END IF;
	FOREACH label IN ARRAY string_to_array(domain, '.') LOOP
		IF char_length(label) > 63 THEN
			too_many := char_length(label) - 63;
			RETURN format('After the @-sign, periods cannot be separated by so many characters (%s character%s too many).',
				too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
		ELSIF label !~ '^[a-z0-9\u00a1-\U0010ffff]([-a-z0-9\u00a1-\U0010ffff]*[a-z0-9\u00a1-\U0010ffff])?$' THEN
			RETURN 'The email address contains invalid characters after the @-sign.';
		ELSIF label ~ '^..--' AND label !~ '^xn--' THEN
			RETURN format('The domain name %s contains invalid characters (Label has disallowed hyphens in 3rd and 4th position).', domain);
		END IF;
	END LOOP;
	IF strpos(domain, '.') = 0 THEN
		RETURN format('The domain name %s is not valid. It should have a period.', domain);
	ELSIF substring(domain FROM '[^.]*$') ~ '^[-a-z0-9]*[-0-9]$' THEN
		-- every top-level domain ends with a letter (an internationalized
		-- one, in its xn-- form, may end with either: not judged here)
		RETURN format('The domain name %s is not valid. It is not within a valid top-level domain.', domain);
	ELSIF domain ~ '(^|\.)(arpa|invalid|local|localhost|onion|test)$' THEN
		RETURN format('The domain name %s is a special-use or reserved name that cannot be used with email.', domain);
	ELSIF char_length(email) > 254 THEN
		too_many := char_length(email) - 254;
		RETURN format('The email address is too long (%s character%s too many).',
			too_many, CASE WHEN too_many > 1 THEN 's' ELSE '' END);
	ELSIF octet_length(email) > 254 THEN
		RETURN format('The email address is too long (at least %s characters too many).', octet_length(email) - 254);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgapp.email_problem(text) IS 'what is wrong with an email address (email-validator''s syntax rules and words), or NULL';

CREATE OR REPLACE FUNCTION pgapp.check_email(email text, loc text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problem text;
BEGIN
	IF email IS NULL THEN
		PERFORM pgapp.raise_invalid(loc, 'missing', 'Field required');
	ELSIF char_length(email) > 255 THEN
		PERFORM pgapp.raise_invalid(loc, 'string_too_long', 'String should have at most 255 characters', to_jsonb(email));
	END IF;
	problem := pgapp.email_problem(email);
	IF problem IS NOT NULL THEN
		-- pydantic's words around the library's reason, which ctx repeats
		PERFORM pgapp.item_raise_invalid(jsonb_build_array(pgapp.item_error(loc, 'value_error',
			'value is not a valid email address: ' || problem, to_jsonb(email),
			jsonb_build_object('reason', problem))));
	END IF;
END
$$;
COMMENT ON FUNCTION pgapp.check_email(text, text[]) IS 'validate an email address (422 at loc)';
ALTER FUNCTION pgapp.email_problem(text) OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.email_problem(text) FROM PUBLIC;
-- ---------- setup: secrets, roles and keys (80_setup.sql) ----------
-- pgapp.setup wrote GATEWAY_DB_PASSWORD into ALTER ROLE as SQL text (a
-- failed statement's CONTEXT line and pg_stat_statements kept it): now
-- only a SCRAM verifier computed in C (pgapp.scram_verifier) is.
-- GATEWAY_DB_USER may no longer name pgapp_owner, pgapp_gateway,
-- pgapp_caller, a pg_* role or a privileged role, and a changed one takes
-- pgapp_gateway away from the previous login (recorded in pgapp.settings).
-- The development key is refused outside ENVIRONMENT=local also when
-- SECRET_KEY is empty.  The first superuser's errors name its variables.
-- EMAIL_RESET_TOKEN_EXPIRE_HOURS (1..168) sets the reset links' lifetime.

-- The SCRAM-SHA-256 verifier of a role password (scram.c): pgapp.setup
-- puts only the verifier into ALTER ROLE, so GATEWAY_DB_PASSWORD is never
-- SQL text (SPEC §4).  For the extension's owner and superusers only.
CREATE FUNCTION pgapp.scram_verifier(password text) RETURNS text
AS 'MODULE_PATHNAME', 'scram_verifier' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgapp.scram_verifier(text) IS 'the SCRAM-SHA-256 verifier of a role password (random salt), as ALTER ROLE ... PASSWORD stores it';
-- owner first, as a fresh install does: pg_init_privs then names the owner
ALTER FUNCTION pgapp.scram_verifier(text) OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.scram_verifier(text) FROM PUBLIC;

-- pgapp.setup: apply the environment (SPEC §4) to the database.  Run by
-- scripts/apply-env.sh (make run, make test, the db container at every
-- start) with the KEY=VALUE lines it reads from a file, so no secret is
-- ever part of SQL text.  Idempotent.
CREATE OR REPLACE FUNCTION pgapp.setup(env text) RETURNS text
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

-- The recovery mail said "valid for 1 hours"; now "1 hour" / "N hours",
-- N from EMAIL_RESET_TOKEN_EXPIRE_HOURS (setup, 1..168, default 1).
CREATE OR REPLACE FUNCTION pgapp.recovery_mail(u pgapp.users, OUT subject text, OUT html text, OUT expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	token text := pgapp.random_token(32);
	hours int := pgapp.setting('RESET_TOKEN_EXPIRE_HOURS')::int;
	link text;
	project text := pgapp.setting('PROJECT_NAME');
BEGIN
	expires_at := now() + make_interval(hours => hours);
	INSERT INTO pgapp.reset_tokens (token_hash, user_id, expires_at)
	VALUES (pgapp.token_hash(token), u.id, recovery_mail.expires_at);
	link := pgapp.setting('FRONTEND_HOST') || '/reset-password?token=' || token;
	subject := format('%s - Password recovery for user %s', project, u.email);
	html := format('<!DOCTYPE html><html><body><p>Hello %s,</p>'
		'<p>We received a request to recover the password of your %s account. '
		'Click the link below to reset it:</p><p><a href="%s">Reset password</a></p>'
		'<p>The link is valid for %s. If you did not ask for this, ignore this mail.</p>'
		'</body></html>',
		replace(replace(replace(u.email, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		project, link, CASE WHEN hours = 1 THEN '1 hour' ELSE hours || ' hours' END);
END
$$;
COMMENT ON FUNCTION pgapp.recovery_mail(pgapp.users) IS 'a new single-use reset token and the recovery mail that carries it';
-- pg_init_privs (sqldba 3): 1.3 and 1.4 revoked EXECUTE from PUBLIC on
-- these two functions before handing them to pgapp_owner, so the initial
-- privileges PostgreSQL 13 to 16 recorded for them name the superuser who
-- ran the update ({admin=X/admin}), where a fresh install records
-- {pgapp_owner=X/pgapp_owner}; pg_dump of an updated database then emits a
-- REVOKE ... FROM admin that fails on a restore elsewhere.  A privilege
-- command on an object of an extension being updated records its ACL
-- anew: re-issue the revoke now that pgapp_owner owns them.
REVOKE ALL ON FUNCTION pgapp.mail_pending(int), pgapp.refuse_read_only(text) FROM PUBLIC;

-- Row-level security on the keyring and the settings (sqldba 1): a role
-- granted pg_read_all_data (PostgreSQL 14+) could read every signing
-- secret.  Only the extension owner passes the policy (superusers bypass
-- it); the view pgapp.keys and the key loader read as the owner.
ALTER TABLE pgapp.settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.settings FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.settings TO pgapp_owner USING (true) WITH CHECK (true);
ALTER TABLE pgapp.signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgapp.signing_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON pgapp.signing_keys TO pgapp_owner USING (true) WITH CHECK (true);

-- The route catalog (sqldba 4, 5).  routes_check refused neither a
-- parameter whose "in" is null ({"name":"a","in":null} made NOT IN null)
-- nor a handler oid that names no function (pronargs null skipped the
-- check).  Built-in routes are not dumped, so a DBA's change to one (auth,
-- handler) or its deletion was undone by a dump and restore: a change now
-- marks the route edited, which pg_dump keeps and a restore puts in place
-- of the built-in route; deleting a built-in route, truncating the
-- catalog or changing builtin is refused (routes_builtin).
ALTER TABLE api.routes ADD COLUMN edited boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN api.routes.builtin IS 'installed by the extension (not dumped unless edited); rows added by a DBA are dumped';
COMMENT ON COLUMN api.routes.edited IS 'a built-in route a DBA changed (kept by the routes_builtin trigger): dumped, and restored in place of the built-in one';

CREATE OR REPLACE FUNCTION pgapp.routes_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	nargs int;
	p jsonb;
BEGIN
	SELECT pronargs INTO nargs FROM pg_proc WHERE oid = NEW.handler::oid;
	IF nargs <> jsonb_array_length(NEW.params) THEN
		RAISE EXCEPTION 'route % %: handler % takes % arguments, params describes %',
			NEW.method, NEW.path, NEW.handler, nargs, jsonb_array_length(NEW.params)
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
		RAISE EXCEPTION 'route % %: handler % does not exist', NEW.method, NEW.path, NEW.handler::oid
			USING ERRCODE = 'undefined_function',
			HINT = 'Name the handler by its signature, for example ''api.health_check()''.';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgapp.routes_check() IS 'trigger: a route''s handler must exist and its params describe the handler''s arguments';

CREATE FUNCTION pgapp.routes_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	replaced int;
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
		IF OLD.builtin AND NEW IS DISTINCT FROM OLD THEN
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

ALTER FUNCTION pgapp.routes_builtin() OWNER TO pgapp_owner;
REVOKE ALL ON FUNCTION pgapp.routes_builtin() FROM PUBLIC;

CREATE TRIGGER routes_builtin BEFORE INSERT OR UPDATE OR DELETE ON api.routes
	FOR EACH ROW EXECUTE FUNCTION pgapp.routes_builtin();
CREATE TRIGGER routes_builtin_truncate BEFORE TRUNCATE ON api.routes
	FOR EACH STATEMENT EXECUTE FUNCTION pgapp.routes_builtin();
SELECT pg_catalog.pg_extension_config_dump('api.routes', 'WHERE NOT builtin OR edited');

-- Comments on the two identity sequences (sqldba 7): every object of the
-- extension has one (\dx+ pgapp).
COMMENT ON SEQUENCE api.routes_id_seq IS 'ids of api.routes (dumped, so a route added after a restore gets a fresh id)';
COMMENT ON SEQUENCE pgapp.mail_outbox_id_seq IS 'ids of pgapp.mail_outbox (dumped with it)';

-- ---------- the route catalog's path comment names the real pattern ----------
COMMENT ON COLUMN api.routes.path IS 'pattern such as /api/v1/items/{item_id}, without a trailing slash';
