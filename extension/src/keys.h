/*
 * keys.h: the signing keyring (pgapp.signing_keys) and its per-backend
 * cache.
 *
 * The cache is loaded once per backend and reloaded only after a change
 * to pgapp.signing_keys (a statement trigger sends a relcache
 * invalidation, see pgapp.relcache_invalidate()), so verifying a token costs
 * no query in the steady state.  Time-based retirement (retired_at in the
 * future) is evaluated at each lookup, never frozen in the cache.
 */
#ifndef PGAPP_KEYS_H
#define PGAPP_KEYS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* The algorithms a key can have; the names are the JWS "alg" values. */
typedef enum JwtAlg
{
	JWT_ALG_HS256,
	JWT_ALG_HS384,
	JWT_ALG_HS512
} JwtAlg;

typedef struct KeysEntry
{
	char		  *kid; /* NUL-terminated */
	size_t		   kid_len;
	JwtAlg		   alg;
	unsigned char *secret;
	size_t		   secret_len;
	TimestampTz	   created_at;
	bool		   retired; /* retired_at is not null */
	TimestampTz	   retired_at;
} KeysEntry;

/* "HS256" -> JWT_ALG_HS256; false when name is not exactly one of them */
extern bool		   JwtAlgFromName(const char *name, size_t len, JwtAlg *alg);
extern const char *JwtAlgName(JwtAlg alg);

/*
 * The key with this kid that may verify at time now (retired_at null or
 * later than now), or NULL.  The result points into the cache: use it at
 * once, before anything that may process invalidations (catalog access,
 * lock acquisition, SPI), which may wipe it.
 */
extern const KeysEntry *KeysLookup(const char *kid, size_t kid_len,
								   TimestampTz now);

/*
 * The signing key: the newest key (created_at, then kid) whose retired_at
 * is null, or NULL when there is none.  Same lifetime rule as KeysLookup.
 */
extern const KeysEntry *KeysSigningKey(void);

#endif /* PGAPP_KEYS_H */
