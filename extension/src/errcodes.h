/*
 * errcodes.h: the SQLSTATEs pgapp raises, and how they become HTTP.
 *
 * Class PA ("pgapp application"): PAnnn is HTTP status nnn, with the
 * message as {"detail": message}.  PA422 carries FastAPI's validation list
 * (JSON) in DETAIL; PA429 carries the Retry-After seconds in DETAIL; PA401
 * responses get WWW-Authenticate.  Class PJ is a refused token (jwt.h):
 * always 401 "Could not validate credentials" over HTTP.  The one map from
 * SQLSTATE to response is DispatchMapError() in dispatch.c.
 */
#ifndef PGAPP_ERRCODES_H
#define PGAPP_ERRCODES_H

#include "utils/elog.h"

#define ERRCODE_PGAPP_400 MAKE_SQLSTATE('P', 'A', '4', '0', '0')
#define ERRCODE_PGAPP_401 MAKE_SQLSTATE('P', 'A', '4', '0', '1')
#define ERRCODE_PGAPP_403 MAKE_SQLSTATE('P', 'A', '4', '0', '3')
#define ERRCODE_PGAPP_404 MAKE_SQLSTATE('P', 'A', '4', '0', '4')
#define ERRCODE_PGAPP_415 MAKE_SQLSTATE('P', 'A', '4', '1', '5')
#define ERRCODE_PGAPP_422 MAKE_SQLSTATE('P', 'A', '4', '2', '2')
#define ERRCODE_PGAPP_429 MAKE_SQLSTATE('P', 'A', '4', '2', '9')

/* A route id the catalog does not hold (the catalog changed under the
 * gateway): the gateway answers 404 and reloads its copy */
#define ERRCODE_PGAPP_UNKNOWN_ROUTE MAKE_SQLSTATE('P', 'R', '4', '0', '4')

/* The class of every PAnnn code, and of the JWT codes */
#define ERRCODE_PGAPP_CLASS MAKE_SQLSTATE('P', 'A', '0', '0', '0')
#define ERRCODE_JWT_CLASS MAKE_SQLSTATE('P', 'J', '0', '0', '0')

#endif /* PGAPP_ERRCODES_H */
