/*
 * identity.h: the authenticated user, kept in backend memory.
 */
#ifndef PGAPP_IDENTITY_H
#define PGAPP_IDENTITY_H

#include "utils/uuid.h"

/* A valid token whose session is revoked or expired, or whose user is
 * gone: class PJ like every refused token (jwt.h), so 401 over HTTP */
#define ERRCODE_PGAPP_TOKEN_REVOKED MAKE_SQLSTATE('P', 'J', '0', '1', '0')

/*
 * Verify a token and take on its identity for the current transaction, or
 * for the session.  Raises PJxxx for a bad token (PJ010: its session is
 * revoked or expired, or its user deleted), PA400 for an inactive user.
 */
extern void IdentityAuthenticate(const char *token, size_t len, bool session);

/* The current user, if any (false when anonymous) */
extern bool IdentityCurrent(pg_uuid_t *user_id);
extern bool IdentityIsSuperuser(void);

/* The extension owner, whose privileges internal lookups run with */
extern Oid IdentityOwnerOid(void);

/*
 * SPI as the extension owner, for the internal queries that read what the
 * caller may not (sessions, the route catalog, traces): connect switches
 * user and connects, finish disconnects and switches back.  An error in
 * between is cleaned up by the (sub)transaction abort.
 */
typedef struct OwnerSpi
{
	Oid save_userid;
	int save_sec;
} OwnerSpi;

extern void IdentityOwnerSpiConnect(OwnerSpi *spi);
extern void IdentityOwnerSpiFinish(OwnerSpi *spi);

#endif /* PGAPP_IDENTITY_H */
