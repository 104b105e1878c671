/*
 * scram.c: the SCRAM-SHA-256 verifier of a database role's password.
 *
 * pgapp.setup gives the gateway's login role its password.  Written as
 * ALTER ROLE ... PASSWORD 'plain text', the password would be SQL text: the
 * CONTEXT line of a failed statement and pg_stat_statements (track = all)
 * would keep it (SPEC §4).  The verifier is computed here, from a bound
 * parameter, by the server's own encrypt_password, and only the verifier
 * is ever part of a statement.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/crypt.h"
#include "utils/builtins.h"

#include "compat.h"

/* pgapp.scram_verifier(password text) returns text */
PG_FUNCTION_INFO_V1(scram_verifier);
Datum
scram_verifier(PG_FUNCTION_ARGS)
{
	char *password = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *verifier;

	if (password[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a role password must not be empty")));
	/*
	 * encrypt_password passes an MD5 or SCRAM hash through unchanged: the
	 * role could then not log in with the string it was given.
	 */
	if (get_password_type(password) != PASSWORD_TYPE_PLAINTEXT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a role password must not be an MD5 or SCRAM hash"),
				 errhint("Give the password itself: pgapp computes the "
						 "SCRAM-SHA-256 verifier.")));
	/* the role name only salts MD5 hashes; SCRAM draws a random salt */
	verifier = encrypt_password(PASSWORD_TYPE_SCRAM_SHA_256, "", password);
	explicit_bzero(password, strlen(password));
	PG_RETURN_TEXT_P(cstring_to_text(verifier));
}
