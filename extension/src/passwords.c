/*
 * passwords.c: bcrypt through pgcrypto, without its pitfalls.
 *
 * bcrypt reads only the first 72 bytes of a password and stops at a NUL,
 * so two long passwords sharing a prefix would verify against each other.
 * Passwords are therefore pre-hashed: base64(SHA-256(password)) is 44
 * printable bytes, and that is what bcrypt sees (scheme "v1").
 *
 * pgcrypto is reached through its C symbols, not through SQL: on
 * PostgreSQL 13 there is no @extschema:pgcrypto@, and a hostile
 * search_path must not be able to redirect crypt() (SPEC §8).
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "base64url.h"
#include "compat.h"
#include "pgapp.h"

static PGFunction pgcrypto_crypt;
static PGFunction pgcrypto_gen_salt_rounds;

static void
PasswordsLoadPgcrypto(void)
{
	if (pgcrypto_crypt != NULL)
		return;
	pgcrypto_crypt =
		load_external_function("$libdir/pgcrypto", "pg_crypt", true, NULL);
	pgcrypto_gen_salt_rounds = load_external_function(
		"$libdir/pgcrypto", "pg_gen_salt_rounds", true, NULL);
}

/* base64(SHA-256(password)): what bcrypt is given (scheme v1) */
static text *
PasswordsPrehash(text *password)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char		  encoded[64];
	int			  n;

	SHA256((unsigned char *) VARDATA_ANY(password),
		   VARSIZE_ANY_EXHDR(password), digest);
	n = pg_b64_encode((const char *) digest, sizeof(digest), encoded,
					  sizeof(encoded));
	OPENSSL_cleanse(digest, sizeof(digest));
	if (n < 0)
		elog(ERROR, "could not encode a password digest");
	return cstring_to_text_with_len(encoded, n);
}

/* pgapp.password_hash(password text, cost int) returns text */
PG_FUNCTION_INFO_V1(password_hash);
Datum
password_hash(PG_FUNCTION_ARGS)
{
	text *password = PG_GETARG_TEXT_PP(0);
	int32 cost = PG_GETARG_INT32(1);
	Datum salt;

	if (cost < 4 || cost > 16)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("bcrypt cost must be between 4 and 16")));
	PasswordsLoadPgcrypto();
	salt = DirectFunctionCall2(pgcrypto_gen_salt_rounds,
							   CStringGetTextDatum("bf"), Int32GetDatum(cost));
	PG_RETURN_DATUM(DirectFunctionCall2(
		pgcrypto_crypt, PointerGetDatum(PasswordsPrehash(password)), salt));
}

/*
 * Does crypt(input, hash) reproduce hash?  Only "$2a$" hashes are read:
 * pgcrypto treats other prefixes as DES or MD5 crypt.  Imported
 * $2b$/$2y$ hashes are converted when stored (pgapp.user_import).
 */
static bool
PasswordsMatch(text *input, text *hash)
{
	text *computed;

	if (VARSIZE_ANY_EXHDR(hash) != 60 ||
		strncmp(VARDATA_ANY(hash), "$2a$", 4) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("password hash is not a $2a$ bcrypt hash")));
	PasswordsLoadPgcrypto();
	computed = DatumGetTextPP(DirectFunctionCall2(
		pgcrypto_crypt, PointerGetDatum(input), PointerGetDatum(hash)));
	return VARSIZE_ANY_EXHDR(computed) == VARSIZE_ANY_EXHDR(hash) &&
		   CRYPTO_memcmp(VARDATA_ANY(computed), VARDATA_ANY(hash),
						 VARSIZE_ANY_EXHDR(hash)) == 0;
}

/* pgapp.password_verify(password text, hash text) returns boolean */
PG_FUNCTION_INFO_V1(password_verify);
Datum
password_verify(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PasswordsMatch(PasswordsPrehash(PG_GETARG_TEXT_PP(0)),
								  PG_GETARG_TEXT_PP(1)));
}

/*
 * pgapp.password_verify_bcrypt(password text, hash text) returns boolean
 *
 * For hashes imported from other systems: bcrypt of the raw password, with
 * bcrypt's 72-byte limit.  pgapp.password_matches replaces them at once.
 */
PG_FUNCTION_INFO_V1(password_verify_bcrypt);
Datum
password_verify_bcrypt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PasswordsMatch(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)));
}

/* pgapp.random_token(nbytes int) returns text: base64url, no padding */
PG_FUNCTION_INFO_V1(random_token);
Datum
random_token(PG_FUNCTION_ARGS)
{
	int32		  nbytes = PG_GETARG_INT32(0);
	unsigned char buf[64];
	char		  out[Base64UrlEncodedLength(64) + 1];
	size_t		  n;

	if (nbytes < 16 || nbytes > 64)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a random token has 16 to 64 bytes")));
	if (!pg_strong_random(buf, nbytes))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes")));
	n = Base64UrlEncode(buf, nbytes, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, n));
}
