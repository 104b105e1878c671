-- pgapp.user_import (1.1): users from other systems keep their bcrypt
-- hashes; $2b$ and $2y$ are converted to $2a$ (pgcrypto reads only $2a$,
-- and would treat the others as DES), and the first login replaces the
-- imported hash with a v1 one.
SELECT public.crypt('imported-pass-1', public.gen_salt('bf', 4)) AS h \gset
SELECT pgapp.user_import('import-2b@example.com', '$2b$' || substr(:'h', 5), 'Two B') ->> 'full_name' AS imported;
SELECT pgapp.user_import('import-2y@example.com', '$2y$' || substr(:'h', 5)) ->> 'email' AS imported;
SELECT pgapp.user_import('import-2a@example.com', :'h', is_superuser => true) ->> 'is_superuser' AS imported;
SELECT u.email, left(p.hash, 4) AS prefix, p.scheme, p.hash = :'h' AS same_hash
  FROM pgapp.users u JOIN pgapp.passwords p ON p.user_id = u.id
 WHERE u.email LIKE 'import-%' ORDER BY 1;

-- refused: other schemes, malformed hashes, duplicates, bad emails
SELECT pgapp.user_import('import-x@example.com', '$2x$' || substr(:'h', 5));
SELECT pgapp.user_import('import-x@example.com', '$1$abcdefgh$0123456789abcdefghijkl');
SELECT pgapp.user_import('import-x@example.com', 'plain-text-password');
SELECT pgapp.user_import('import-x@example.com', '$2b$03$' || substr(:'h', 8));
SELECT pgapp.user_import('import-x@example.com', NULL);
SELECT pgapp.user_import('IMPORT-2B@example.com', :'h');
SELECT pgapp.user_import('not-an-email', :'h');
SELECT count(*) AS not_created FROM pgapp.users WHERE email ILIKE 'import-x%' OR email = 'not-an-email';

-- the raw password works; a wrong one does not; the hash becomes v1
SELECT api.login('import-2b@example.com', 'imported-pass-1') ? 'access_token' AS login;
SELECT api.login('import-2y@example.com', 'wrong-password-1') ? 'access_token' AS wrong;
SELECT u.email, p.scheme, left(p.hash, 4) AS prefix
  FROM pgapp.users u JOIN pgapp.passwords p ON p.user_id = u.id
 WHERE u.email LIKE 'import-%' ORDER BY 1;
SELECT api.login('import-2b@example.com', 'imported-pass-1') ? 'access_token' AS login_again;

-- only DBAs may import
CREATE ROLE pgapp_regress_importer IN ROLE pgapp_caller;
SET ROLE pgapp_regress_importer;
SELECT pgapp.user_import('import-y@example.com', :'h');
RESET ROLE;
DROP ROLE pgapp_regress_importer;
DELETE FROM pgapp.users WHERE email LIKE 'import-%';
