/*
 * compat.h: every PostgreSQL version difference (13 .. 17) in one place.
 */
#ifndef PGAPP_COMPAT_H
#define PGAPP_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "pgapp needs PostgreSQL 13 or later"
#endif

/* varatt.h was split out of postgres.h in 16 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* Reserve the GUC prefix: MarkGUCPrefixReserved appeared in 15 */
#if PG_VERSION_NUM >= 150000
#define PgappReserveGucPrefix(p) MarkGUCPrefixReserved(p)
#else
#define PgappReserveGucPrefix(p) EmitWarningsOnPlaceholders(p)
#endif

/* The local transaction id moved into a struct in 17 */
#if PG_VERSION_NUM >= 170000
#define PgappCurrentLxid() (MyProc->vxid.lxid)
#else
#define PgappCurrentLxid() (MyProc->lxid)
#endif

/* pg_proc_aclcheck was folded into object_aclcheck in 16 */
#if PG_VERSION_NUM >= 160000
#define PgappProcAclCheck(proc, role, mode) \
	object_aclcheck(ProcedureRelationId, (proc), (role), (mode))
#else
#define PgappProcAclCheck(proc, role, mode) \
	pg_proc_aclcheck((proc), (role), (mode))
#endif

/* ProcessUtility_hook gained readOnlyTree in 14 */
#if PG_VERSION_NUM >= 140000
#define PGAPP_PROCESS_UTILITY_ARGS                                  \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
		ProcessUtilityContext context, ParamListInfo params,        \
		QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PGAPP_PROCESS_UTILITY_PASS \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define PGAPP_PROCESS_UTILITY_ARGS                           \
	PlannedStmt *pstmt, const char *queryString,             \
		ProcessUtilityContext context, ParamListInfo params, \
		QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define PGAPP_PROCESS_UTILITY_PASS \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* HASH_STRINGS must be said explicitly from 14 on; 13 assumes it */
#ifndef HASH_STRINGS
#define HASH_STRINGS 0
#endif

#endif /* PGAPP_COMPAT_H */

/*
 * JSON parser (common/jsonapi.h), used by jwt.c.  Semantic actions return
 * JsonParseErrorType from 16 on (void before); makeJsonLexContextCstringLen
 * takes a caller-provided JsonLexContext (NULL: allocate) from 17 on.
 * Declare actions as "static PGAPP_JSON_ACTION_RESULT f(...)" and end them
 * with "return PGAPP_JSON_ACTION_OK;".
 */
#if PG_VERSION_NUM >= 160000
#define PGAPP_JSON_ACTION_RESULT JsonParseErrorType
#define PGAPP_JSON_ACTION_OK JSON_SUCCESS
#else
#define PGAPP_JSON_ACTION_RESULT void
#define PGAPP_JSON_ACTION_OK
#endif

#if PG_VERSION_NUM >= 170000
#define PgappMakeJsonLexContext(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding),  \
								 (need_escapes))
#else
#define PgappMakeJsonLexContext(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen((json), (len), (encoding), (need_escapes))
#endif
