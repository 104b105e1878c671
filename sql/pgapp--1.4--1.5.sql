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
