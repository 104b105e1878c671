--
-- JWT signing and verification (jwt.c, base64url.c): published vectors,
-- then one hostile token per line, each with its pinned error.
-- Tokens carry the current time, so outputs show verdicts, never tokens.
--
SET client_min_messages = warning;
CREATE TEMP TABLE saved_keys AS SELECT kid, retired_at FROM pgapp.signing_keys;

-- helpers
CREATE FUNCTION pg_temp.b64u(data bytea) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT translate(replace(encode(data, 'base64'), E'\n', ''), '+/=', '-_') $$;
CREATE FUNCTION pg_temp.b64u_decode(s text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64') $$;
-- a token from header and payload text, signed with key as alg
CREATE FUNCTION pg_temp.tok(header text, payload text, key bytea, alg text DEFAULT 'HS256')
RETURNS text LANGUAGE sql
AS $$ SELECT s || '.' || pgapp.jwt_hmac(s, key, alg)
	FROM (SELECT pg_temp.b64u(convert_to(header, 'UTF8')) || '.'
		|| pg_temp.b64u(convert_to(payload, 'UTF8')) AS s) x $$;
-- the same from raw header bytes
CREATE FUNCTION pg_temp.tokb(header bytea, payload text, key bytea)
RETURNS text LANGUAGE sql
AS $$ SELECT s || '.' || pgapp.jwt_hmac(s, key, 'HS256')
	FROM (SELECT pg_temp.b64u(header) || '.'
		|| pg_temp.b64u(convert_to(payload, 'UTF8')) AS s) x $$;
-- the last character's successor: same bytes when only padding bits change
CREATE FUNCTION pg_temp.bump(s text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT left(s, -1) || substr(a, strpos(a, right(s, 1)) + 1, 1)
	FROM (SELECT 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'::text AS a) x $$;
CREATE FUNCTION pg_temp.key(name text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT convert_to(CASE name
	WHEN 'hs256' THEN 'regress-hs256-secret-0123456789ab'
	WHEN 'hs384' THEN repeat('regress-hs384-', 4)
	WHEN 'hs512' THEN repeat('regress-hs512-', 5)
	WHEN 'other' THEN 'regress-other-secret-0123456789ab' END, 'UTF8') $$;
-- the verdict on a token: ok, or SQLSTATE, message and detail
CREATE FUNCTION pg_temp.try(token text) RETURNS text LANGUAGE plpgsql
AS $$
DECLARE
	st text;
	msg text;
	det text;
BEGIN
	PERFORM api.jwt_verify(token);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL;
	RETURN st || ' ' || msg || coalesce(': ' || nullif(det, ''), '');
END
$$;

--
-- RFC 7515 Appendix A.1 (HS256).  The token has no kid, so it is refused;
-- its signature is checked through the HMAC core that signs and verifies,
-- and against pgcrypto.
--
\set a1_input 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ'
\set a1_sig 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
\set a1_key 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow'
SELECT api.jwt_verify(:'a1_input' || '.' || :'a1_sig');
SELECT pgapp.jwt_hmac(:'a1_input', pg_temp.b64u_decode(:'a1_key'), 'HS256') = :'a1_sig' AS a1_signature;
SELECT extnamespace::regnamespace AS crypto FROM pg_extension WHERE extname = 'pgcrypto' \gset
SELECT pg_temp.b64u(:crypto.hmac(convert_to(:'a1_input', 'UTF8'), pg_temp.b64u_decode(:'a1_key'), 'sha256')) = :'a1_sig' AS a1_pgcrypto;
-- with A.1's key in the keyring under a kid, A.1's header (plus that kid)
-- and payload pass every check up to the signature and stop at exp (2011)
SELECT pgapp.key_import(pg_temp.b64u_decode(:'a1_key'), 'HS256', 'rfc7515-a1');
SELECT pg_temp.try(s || '.' || pgapp.jwt_hmac(s, pg_temp.b64u_decode(:'a1_key'), 'HS256')) AS a1_with_kid
	FROM (SELECT pg_temp.b64u(convert_to(E'{"typ":"JWT",\r\n "alg":"HS256","kid":"rfc7515-a1"}', 'UTF8'))
		|| '.' || split_part(:'a1_input', '.', 2) AS s) x;
-- the same payload with a wrong signature is refused for its signature
SELECT pg_temp.try(pg_temp.b64u(convert_to('{"alg":"HS256","kid":"rfc7515-a1"}', 'UTF8'))
	|| '.' || split_part(:'a1_input', '.', 2) || '.' || :'a1_sig') AS a1_wrong_sig;

--
-- RFC 7520 §4.4 (HS256 with kid): the signature verifies, but the payload
-- is prose, not a JSON claims set, so the token is refused.
--
\set r7520 'eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0'
SELECT pgapp.key_import(pg_temp.b64u_decode('hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg'),
	'HS256', '018c0ae5-4d9b-471b-bfd6-eef314bc7037');
SELECT pgapp.jwt_hmac(split_part(:'r7520', '.', 1) || '.' || split_part(:'r7520', '.', 2),
	pg_temp.b64u_decode('hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg'), 'HS256')
	= split_part(:'r7520', '.', 3) AS rfc7520_signature;
SELECT api.jwt_verify(:'r7520');

--
-- Our own keys; regress-hs256 is imported last, so it signs.
--
SELECT pgapp.key_import(pg_temp.key('hs512'), 'HS512', 'regress-hs512');
SELECT pgapp.key_import(pg_temp.key('hs384'), 'HS384', 'regress-hs384');
SELECT pgapp.key_import(pg_temp.key('hs256'), 'HS256', 'regress-hs256');
SELECT kid, algorithm, signing FROM pgapp.keys WHERE kid LIKE 'regress-%' ORDER BY kid;

SELECT extract(epoch FROM now())::bigint AS now \gset
\set h256 '{"alg":"HS256","typ":"JWT","kid":"regress-hs256"}'
SELECT format('{"sub":"u1","exp":%s}', :now + 3600) AS p \gset

-- sign: header, round trip, refusals
SELECT convert_from(pg_temp.b64u_decode(split_part(
	pgapp.jwt_sign(jsonb_build_object('sub', 'u1', 'exp', :now + 60)), '.', 1)), 'UTF8') AS header;
SELECT api.jwt_verify(pgapp.jwt_sign(jsonb_build_object('sub', 'u1', 'exp', :now + 60))) - 'exp' AS claims;
SELECT pgapp.jwt_sign('[1]');
SELECT pgapp.jwt_sign('{"sub":"u1"}');
SELECT pgapp.jwt_sign('{"sub":"u1","exp":"tomorrow"}');
SELECT pgapp.jwt_sign(jsonb_build_object('exp', :now + 60, 'pad', repeat('x', 7000)));
SELECT pgapp.jwt_hmac('x', '\x00', 'none');
SELECT api.jwt_verify(NULL) IS NULL AS strict;

--
-- Every token below is one case: its verdict is pinned.
--
CREATE TEMP TABLE cases (n serial, name text, token text);
INSERT INTO cases (name, token) VALUES
('valid HS256', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256'))),
('valid HS384', pg_temp.tok('{"alg":"HS384","kid":"regress-hs384"}', :'p', pg_temp.key('hs384'), 'HS384')),
('valid HS512', pg_temp.tok('{"alg":"HS512","kid":"regress-hs512"}', :'p', pg_temp.key('hs512'), 'HS512')),
('typ lower case', pg_temp.tok('{"alg":"HS256","typ":"jwt","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg none, empty signature', split_part(pg_temp.tok('{"alg":"none","kid":"regress-hs256"}', :'p', pg_temp.key('hs256')), '.', 1)
	|| '.' || split_part(pg_temp.tok('{"alg":"none","kid":"regress-hs256"}', :'p', pg_temp.key('hs256')), '.', 2) || '.'),
('alg none, signed', pg_temp.tok('{"alg":"none","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg None', pg_temp.tok('{"alg":"None","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg NONE', pg_temp.tok('{"alg":"NONE","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg nOnE', pg_temp.tok('{"alg":"nOnE","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg hs256 (case)', pg_temp.tok('{"alg":"hs256","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg RS256', pg_temp.tok('{"alg":"RS256","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg missing', pg_temp.tok('{"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg not a string', pg_temp.tok('{"alg":256,"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('alg HS384 on an HS256 key', pg_temp.tok('{"alg":"HS384","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'), 'HS384')),
('alg HS256 on an HS512 key', pg_temp.tok('{"alg":"HS256","kid":"regress-hs512"}', :'p', pg_temp.key('hs512'))),
('kid missing', pg_temp.tok('{"alg":"HS256","typ":"JWT"}', :'p', pg_temp.key('hs256'))),
('kid unknown', pg_temp.tok('{"alg":"HS256","kid":"regress-nope"}', :'p', pg_temp.key('hs256'))),
('kid SQL injection', pg_temp.tok('{"alg":"HS256","kid":"x'' OR ''1''=''1"}', :'p', pg_temp.key('hs256'))),
('kid path traversal', pg_temp.tok('{"alg":"HS256","kid":"../../../dev/null"}', :'p', '')),
('kid not a string', pg_temp.tok('{"alg":"HS256","kid":["regress-hs256"]}', :'p', pg_temp.key('hs256'))),
('kid with NUL escape', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256\u0000"}', :'p', pg_temp.key('hs256'))),
('typ JWS', pg_temp.tok('{"alg":"HS256","typ":"JWS","kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('typ not a string', pg_temp.tok('{"alg":"HS256","typ":1,"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('crit exp', pg_temp.tok('{"alg":"HS256","crit":["exp"],"exp":1,"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('crit empty', pg_temp.tok('{"alg":"HS256","crit":[],"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('crit b64', pg_temp.tok('{"alg":"HS256","b64":false,"crit":["b64"],"kid":"regress-hs256"}', :'p', pg_temp.key('hs256'))),
('two segments', 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9'),
('four segments', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || '.AAAA'),
('one segment', 'eyJhbGciOiJIUzI1NiJ9'),
('empty token', ''),
('empty header', '.' || split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 2) || '.AAAA'),
('empty payload', split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 1) || '..AAAA'),
('leading space', ' ' || pg_temp.tok(:'h256', :'p', pg_temp.key('hs256'))),
('trailing newline', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || E'\n'),
('Bearer prefix', 'Bearer ' || pg_temp.tok(:'h256', :'p', pg_temp.key('hs256'))),
('space inside', replace(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', ' .')),
('standard base64 +', translate(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '-_', '+/') || '+'),
('standard base64 /', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || '/'),
('padding =', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || '='),
('percent-encoded', replace(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', '%2E')),
('non-ASCII byte', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || 'é'),
('segment of 4n+1 chars', 'eyJhbGciOiJIUzI1NiJ9A.eyJleHAiOjF9.AAAA'),
('non-canonical signature bits', pg_temp.bump(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')))),
('non-canonical header bits', pg_temp.bump(pg_temp.b64u(convert_to('{"alg":"HS256","kid":"regress-hs256"}', 'UTF8')))
	|| '.' || split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 2) || '.AAAA'),
('header not JSON', pg_temp.tok('{"alg":"HS256",', :'p', pg_temp.key('hs256'))),
('header an array', pg_temp.tok('[{"alg":"HS256","kid":"regress-hs256"}]', :'p', pg_temp.key('hs256'))),
('header a string', pg_temp.tok('"HS256"', :'p', pg_temp.key('hs256'))),
('header null', pg_temp.tok('null', :'p', pg_temp.key('hs256'))),
('header with trailing garbage', pg_temp.tok(:'h256' || '{}', :'p', pg_temp.key('hs256'))),
('header raw NUL byte', pg_temp.tokb('\x7b22616c67223a224853323536222c226b6964223a22726567726573732d6873323536227d00', :'p', pg_temp.key('hs256'))),
('header invalid UTF-8', pg_temp.tokb('\x7b22616c67223a224853323536222c226b6964223a22ff227d', :'p', pg_temp.key('hs256'))),
('header duplicate alg', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256","alg":"none"}', :'p', pg_temp.key('hs256'))),
('header duplicate escaped', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256","\u0061lg":"none"}', :'p', pg_temp.key('hs256'))),
('header duplicate nested', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256","x":[{"a":1,"a":1}]}', :'p', pg_temp.key('hs256'))),
('header nested too deep', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256","x":' || repeat('[', 100) || repeat(']', 100) || '}', :'p', pg_temp.key('hs256'))),
('payload not JSON', pg_temp.tok(:'h256', 'hello', pg_temp.key('hs256'))),
('payload an array', pg_temp.tok(:'h256', format('[{"exp":%s}]', :now + 3600), pg_temp.key('hs256'))),
('payload a number', pg_temp.tok(:'h256', (:now + 3600)::text, pg_temp.key('hs256'))),
('payload duplicate sub', pg_temp.tok(:'h256', format('{"sub":"a","sub":"b","exp":%s}', :now + 3600), pg_temp.key('hs256'))),
('payload duplicate exp', pg_temp.tok(:'h256', format('{"exp":%s,"exp":%s}', :now + 3600, :now - 3600), pg_temp.key('hs256'))),
('payload duplicate nested', pg_temp.tok(:'h256', format('{"exp":%s,"x":{"y":{"a":1,"a":2}}}', :now + 3600), pg_temp.key('hs256'))),
('payload same key in other objects', pg_temp.tok(:'h256', format('{"exp":%s,"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}', :now + 3600), pg_temp.key('hs256'))),
('payload unicode', pg_temp.tok(:'h256', format('{"sub":"Zoë ✓","exp":%s}', :now + 3600), pg_temp.key('hs256'))),
('payload \u0000 in a value', pg_temp.tok(:'h256', format('{"sub":"a\u0000b","exp":%s}', :now + 3600), pg_temp.key('hs256'))),
('exp missing', pg_temp.tok(:'h256', '{"sub":"u1"}', pg_temp.key('hs256'))),
('exp a string', pg_temp.tok(:'h256', format('{"exp":"%s"}', :now + 3600), pg_temp.key('hs256'))),
('exp null', pg_temp.tok(:'h256', '{"exp":null}', pg_temp.key('hs256'))),
('exp true', pg_temp.tok(:'h256', '{"exp":true}', pg_temp.key('hs256'))),
('exp an object', pg_temp.tok(:'h256', '{"exp":{}}', pg_temp.key('hs256'))),
('exp 1e300', pg_temp.tok(:'h256', '{"exp":1e300}', pg_temp.key('hs256'))),
('exp 40 digits', pg_temp.tok(:'h256', '{"exp":1234567890123456789012345678901234567890}', pg_temp.key('hs256'))),
('exp year 10000', pg_temp.tok(:'h256', '{"exp":253402300800}', pg_temp.key('hs256'))),
('exp year 9999', pg_temp.tok(:'h256', '{"exp":253402300799}', pg_temp.key('hs256'))),
('exp negative', pg_temp.tok(:'h256', '{"exp":-1}', pg_temp.key('hs256'))),
('exp past', pg_temp.tok(:'h256', format('{"exp":%s}', :now - 60), pg_temp.key('hs256'))),
('exp past fractional', pg_temp.tok(:'h256', format('{"exp":%s.5}', :now - 60), pg_temp.key('hs256'))),
('exp future fractional', pg_temp.tok(:'h256', format('{"exp":%s.25}', :now + 3600), pg_temp.key('hs256'))),
('exp 1e10 exponent form', pg_temp.tok(:'h256', '{"exp":1e10}', pg_temp.key('hs256'))),
('nbf 120 s ahead', pg_temp.tok(:'h256', format('{"exp":%s,"nbf":%s}', :now + 3600, :now + 120), pg_temp.key('hs256'))),
('nbf 10 s ahead (leeway)', pg_temp.tok(:'h256', format('{"exp":%s,"nbf":%s}', :now + 3600, :now + 10), pg_temp.key('hs256'))),
('nbf past', pg_temp.tok(:'h256', format('{"exp":%s,"nbf":%s}', :now + 3600, :now - 10), pg_temp.key('hs256'))),
('nbf a string', pg_temp.tok(:'h256', format('{"exp":%s,"nbf":"0"}', :now + 3600), pg_temp.key('hs256'))),
('iat 120 s ahead', pg_temp.tok(:'h256', format('{"exp":%s,"iat":%s}', :now + 3600, :now + 120), pg_temp.key('hs256'))),
('iat 10 s ahead (leeway)', pg_temp.tok(:'h256', format('{"exp":%s,"iat":%s}', :now + 3600, :now + 10), pg_temp.key('hs256'))),
('iat huge', pg_temp.tok(:'h256', format('{"exp":%s,"iat":1e400}', :now + 3600), pg_temp.key('hs256'))),
('iat null', pg_temp.tok(:'h256', format('{"exp":%s,"iat":null}', :now + 3600), pg_temp.key('hs256'))),
('large token under the cap', pg_temp.tok(:'h256', format('{"exp":%s,"pad":"%s"}', :now + 3600, repeat('x', 5900)), pg_temp.key('hs256'))),
('token over 8 KiB', pg_temp.tok(:'h256', format('{"exp":%s,"pad":"%s"}', :now + 3600, repeat('x', 6100)), pg_temp.key('hs256'))),
('huge token', repeat('A', 100000) || '.A.A'),
('tampered signature', (SELECT overlay(t PLACING CASE substr(t, length(t) - 20, 1) WHEN 'A' THEN 'B' ELSE 'A' END
	FROM length(t) - 20 FOR 1) FROM (SELECT pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) AS t) x)),
('truncated signature', left(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), -3)),
('extended signature', pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')) || 'AAAA'),
('tampered payload', split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 1) || '.'
	|| pg_temp.b64u(convert_to(format('{"sub":"admin","exp":%s}', :now + 3600), 'UTF8')) || '.'
	|| split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 3)),
('tampered header', pg_temp.b64u(convert_to('{"alg":"HS256","typ":"jwt","kid":"regress-hs256"}', 'UTF8')) || '.'
	|| split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 2) || '.'
	|| split_part(pg_temp.tok(:'h256', :'p', pg_temp.key('hs256')), '.', 3)),
('signed with another secret', pg_temp.tok(:'h256', :'p', pg_temp.key('other'))),
('alg HS256 on an HS384 key', pg_temp.tok('{"alg":"HS256","kid":"regress-hs384"}', :'p', pg_temp.key('hs384'))),
('empty-key signature', pg_temp.tok(:'h256', :'p', '')),
('header number beyond numeric', pg_temp.tok('{"alg":"HS256","kid":"regress-hs256","n":1e200000}', :'p', pg_temp.key('hs256'))),
('payload number beyond numeric', pg_temp.tok(:'h256', format('{"exp":%s,"n":-1e200000}', :now + 3600), pg_temp.key('hs256')));
SELECT n, name, pg_temp.try(token) AS verdict FROM cases ORDER BY n;

-- claims come back as sent (valid token, unicode, fractional exp)
SELECT api.jwt_verify(token) - 'exp' AS claims FROM cases
	WHERE name IN ('valid HS256', 'payload unicode', 'payload same key in other objects') ORDER BY n;
SELECT (api.jwt_verify(token) ->> 'exp')::numeric - :now AS exp_offset FROM cases
	WHERE name = 'exp future fractional';

-- errors as psql shows them: no token, no key in any message
SELECT api.jwt_verify(token) FROM cases WHERE name = 'alg none, signed';
SELECT api.jwt_verify(token) FROM cases WHERE name = 'kid unknown';
SELECT api.jwt_verify(token) FROM cases WHERE name = 'exp past';
SELECT api.jwt_verify(token) FROM cases WHERE name = 'header number beyond numeric';

-- clean up: our keys go, the keyring is as it was
DELETE FROM pgapp.signing_keys k WHERE NOT EXISTS (SELECT FROM saved_keys s WHERE s.kid = k.kid);
SELECT count(*) AS regress_keys_left FROM pgapp.signing_keys WHERE kid LIKE 'regress-%' OR kid IN ('rfc7515-a1', '018c0ae5-4d9b-471b-bfd6-eef314bc7037');
SELECT pg_temp.try(token) AS after_cleanup FROM cases WHERE name = 'valid HS256';
