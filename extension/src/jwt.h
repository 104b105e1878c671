/*
 * jwt.h: JSON Web Tokens (RFC 7519) in JWS compact form, HMAC only
 * (HS256, HS384, HS512), verified per RFC 8725 and SPEC §8.
 *
 * Every verification failure raises one of these SQLSTATEs (class PJ);
 * the dispatcher maps the whole class to HTTP 401 "Could not validate
 * credentials".  Messages never contain the token or a key.
 *
 *   PJ001 malformed token        size cap, not three segments, bytes
 *                                outside base64url, non-canonical
 *                                base64url, header or payload not a JSON
 *                                object, invalid JSON, duplicate keys at
 *                                any level, nesting deeper than 64, a
 *                                value jsonb cannot store (a number
 *                                beyond numeric's range), typ other
 *                                than "JWT"
 *   PJ002 algorithm not allowed  alg missing, not a string, not exactly
 *                                HS256/HS384/HS512 (so none/None/NONE),
 *                                or not the algorithm of the token's key
 *   PJ003 unknown key            kid missing or not a string, or no live
 *                                key in the keyring has it (unknown or
 *                                retired)
 *   PJ004 invalid signature      wrong length or wrong bytes
 *   PJ005 unsupported critical   any "crit" header parameter
 *         header
 *   PJ006 invalid claims         exp missing; exp, nbf or iat not a JSON
 *                                number or outside 0 .. 253402300799
 *                                (year 9999)
 *   PJ007 token expired          now >= exp (no leeway: we issue and
 *                                verify with the same clock)
 *   PJ008 token not yet valid    nbf or iat later than now + 30 s
 *
 * The header is checked before the signature (it names the key); the
 * payload is parsed only once the signature is verified.
 */
#ifndef PGAPP_JWT_H
#define PGAPP_JWT_H

#include "postgres.h"

#include "utils/jsonb.h"

#define ERRCODE_PGAPP_JWT_MALFORMED MAKE_SQLSTATE('P', 'J', '0', '0', '1')
#define ERRCODE_PGAPP_JWT_ALGORITHM MAKE_SQLSTATE('P', 'J', '0', '0', '2')
#define ERRCODE_PGAPP_JWT_UNKNOWN_KEY MAKE_SQLSTATE('P', 'J', '0', '0', '3')
#define ERRCODE_PGAPP_JWT_SIGNATURE MAKE_SQLSTATE('P', 'J', '0', '0', '4')
#define ERRCODE_PGAPP_JWT_CRITICAL MAKE_SQLSTATE('P', 'J', '0', '0', '5')
#define ERRCODE_PGAPP_JWT_CLAIMS MAKE_SQLSTATE('P', 'J', '0', '0', '6')
#define ERRCODE_PGAPP_JWT_EXPIRED MAKE_SQLSTATE('P', 'J', '0', '0', '7')
#define ERRCODE_PGAPP_JWT_NOT_YET_VALID MAKE_SQLSTATE('P', 'J', '0', '0', '8')

/* Clock leeway for nbf and iat, in seconds (SPEC §5: 30 s) */
#define JWT_LEEWAY_SECONDS 30

/*
 * Verify a compact JWS of len bytes (not NUL-terminated) against the
 * keyring at the current statement's time.  Returns the claims (a JSON
 * object) or raises one of the PJ errors above.
 */
extern Jsonb *JwtVerify(const char *token, size_t len);

/*
 * Sign claims (a JSON object with a numeric "exp") with the current
 * signing key.  The header is {"alg":<key's>,"typ":"JWT","kid":<key's>}.
 * Raises 55000 when the keyring has no signing key, 22023 for bad claims,
 * 54000 when the token would exceed 8 KiB.
 */
extern text *JwtSign(Jsonb *claims);

#endif /* PGAPP_JWT_H */
