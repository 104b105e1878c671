/*
 * dispatch.c: api.dispatch, the one statement the gateway runs.
 *
 * One request = one call: look the route up in the catalog cache,
 * authenticate, bind and cast the handler's arguments from the raw request
 * (422 at the argument's loc when that fails), call the handler in a
 * subtransaction and turn its outcome into (status, headers, body).
 * DispatchMapError() is the one place where an SQLSTATE becomes an HTTP
 * response (SPEC §1 invariant 6).  See docs/ARCHITECTURE.md.
 *
 * fmgr checks no privilege: the dispatcher checks EXECUTE on the handler
 * itself, on every call, for the role that calls api.dispatch, as the
 * executor would before calling a function (DispatchCheckPrivilege).
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "compat.h"
#include "errcodes.h"
#include "identity.h"
#include "multipart.h"
#include "pgapp.h"
#include "traces.h"

typedef enum ParamSource
{
	SRC_PATH,
	SRC_QUERY,
	SRC_BODY,
	SRC_JSON,
	SRC_FORM,
	SRC_CLIENT,
	SRC_AUTHORIZATION
} ParamSource;

static const char *const source_names[] = {
	"path", "query", "body", "json", "form", "client", "authorization"};

typedef enum RouteAuth
{
	AUTH_NONE,
	AUTH_USER,
	AUTH_SUPERUSER
} RouteAuth;

typedef struct RouteParam
{
	char	   *name;
	ParamSource source;
	bool		has_default;
	char	   *default_text; /* NULL: the default is SQL NULL */
	Oid			type;
	Oid			typinput;
	Oid			typioparam;
} RouteParam;

typedef struct Route
{
	int			id;		  /* hash key */
	char	  **segments; /* the path pattern split at '/' */
	int			nsegments;
	RouteAuth	auth;
	Oid			handler;
	Oid			rettype;
	int			nparams;
	RouteParam *params;
	bool		wants_json;	  /* some argument comes from a JSON body */
	bool		wants_fields; /* some argument is a field of a JSON object */
	bool		wants_form;
	FmgrInfo	flinfo;
	int			nargs;	/* the handler's pronargs */
	const char *broken; /* why the row cannot be used, or NULL */
} Route;

/*
 * The catalog cache: rebuilt after any change to api.routes, pg_proc or
 * pg_namespace (a handler is a signature, resolved at each rebuild)
 */
static HTAB			*routes;
static MemoryContext routes_context;
static bool			 routes_stale = true;
static Oid			 routes_relid = InvalidOid;
/* api.dispatch, found not SECURITY DEFINER since pg_proc last changed */
static Oid invoker_checked = InvalidOid;

/*
 * Handlers running now.  A handler that calls api.dispatch itself must not
 * reload the cache: the running route and its FmgrInfo live in it.
 */
static int handler_depth = 0;

/* A key/value pair of a query string or form body, decoded */
typedef struct Pair
{
	char *name;
	char *value;
} Pair;

typedef struct Request
{
	char **segments; /* the request path, split once */
	int	   nsegments;
	Pair  *query;
	int	   nquery;
	Pair  *form;
	int	   nform;
	Jsonb *body; /* parsed JSON body, or NULL */
	text  *client;
	text  *authorization;
} Request;

typedef struct Response
{
	int			   status;
	StringInfoData headers;
	char		  *body;
} Response;

static void
DispatchInvalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == routes_relid)
		routes_stale = true;
}

static void
DispatchInvalidateProc(Datum arg, int cacheid, uint32 hashvalue)
{
	routes_stale = true;
	invoker_checked = InvalidOid;
}

void
DispatchInit(void)
{
	CacheRegisterRelcacheCallback(DispatchInvalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, DispatchInvalidateProc, (Datum) 0);
	/* a renamed schema changes what a handler's signature names */
	CacheRegisterSyscacheCallback(NAMESPACEOID, DispatchInvalidateProc,
								  (Datum) 0);
}

/* pgapp.relcache_invalidate(): trigger that turns row changes into a
 * relcache invalidation, so every backend's cache of the table is dropped */
PG_FUNCTION_INFO_V1(relcache_invalidate);
Datum
relcache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("relcache_invalidate() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * The source a parameter's "in" names; false for a null or unknown one
 * (the routes_check trigger can be bypassed), which breaks only its route.
 */
static bool
DispatchSource(const char *name, ParamSource *source)
{
	int i;

	if (name == NULL)
		return false;
	for (i = 0; i < lengthof(source_names); i++)
		if (strcmp(name, source_names[i]) == 0)
		{
			*source = (ParamSource) i;
			return true;
		}
	return false;
}

/* Split a path at '/' (empty segments dropped: a trailing slash matches) */
static int
DispatchSplitPath(const char *path, char ***segments)
{
	char *copy = pstrdup(path);
	char *p;
	int	  n = 0;

	for (p = copy; *p; p++)
		if (*p == '/')
			n++;
	*segments = palloc(sizeof(char *) * (n + 1));
	n = 0;
	for (p = strtok(copy, "/"); p != NULL; p = strtok(NULL, "/"))
		(*segments)[n++] = p;
	return n;
}

/*
 * A params list that does not describe the handler's arguments (the
 * routes_check trigger can be bypassed) would
 * call the handler with unset arguments: such a route answers an error
 * instead, and the others keep working.
 */
static void
DispatchCheckRoute(Route *route)
{
	if (route != NULL && route->broken == NULL &&
		route->nparams != route->nargs)
		route->broken = "params does not describe every handler argument";
}

/* Load every route and its parameters; runs as the extension owner */
static void
DispatchLoadRoutes(void)
{
	HASHCTL		  ctl;
	HTAB		 *loaded;
	OwnerSpi	  spi;
	MemoryContext old;
	uint64		  i;
	Route		 *route = NULL;

	if (routes_context != NULL)
		MemoryContextDelete(routes_context);
	/* published only when complete: a load that fails is retried */
	routes = NULL;
	routes_context = AllocSetContextCreate(CacheMemoryContext, "pgapp routes",
										   ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int);
	ctl.entrysize = sizeof(Route);
	ctl.hcxt = routes_context;
	loaded = hash_create("pgapp routes", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	/* before the query: an invalidation during the load makes it stale */
	routes_stale = false;

	IdentityOwnerSpiConnect(&spi);
	routes_relid =
		RangeVarGetRelid(makeRangeVar("api", "routes", -1), NoLock, false);

	/*
	 * Parsed with the caller's search_path but run as the owner: every
	 * operator and type name is qualified, so none can be redirected.  The
	 * handler is a signature (text, since 1.6), resolved here once per load
	 * by pgapp.handler_oid, an exact match of the canonical text (OFFSET 0:
	 * once per route, not per pg_proc row); one that names no function
	 * leaves p.oid null and breaks only its route.
	 */
	if (SPI_execute(
			"SELECT r.id, r.path, r.auth, p.oid, "
			"       p.prorettype, a.ord::int, "
			"       a.v OPERATOR(pg_catalog.->>) 'name', "
			"       a.v OPERATOR(pg_catalog.->>) 'in', "
			"       a.v OPERATOR(pg_catalog.?) 'default', "
			"       a.v OPERATOR(pg_catalog.->>) 'default', "
			"       p.proargtypes[a.ord OPERATOR(pg_catalog.-) 1], "
			"       p.pronargs::int, r.handler "
			"  FROM (SELECT r.*, pgapp.handler_oid(r.handler) AS handler_oid "
			"          FROM api.routes r OFFSET 0) r "
			"  LEFT JOIN pg_catalog.pg_proc p "
			"    ON p.oid OPERATOR(pg_catalog.=) r.handler_oid "
			"  LEFT JOIN LATERAL pg_catalog.jsonb_array_elements(r.params) "
			"       WITH ORDINALITY a(v, ord) ON true "
			" ORDER BY r.id, a.ord",
			true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not load the route catalog");

	old = MemoryContextSwitchTo(routes_context);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		RouteParam *param;
		char	   *auth;
		bool		found;

		if (route == NULL || route->id != id)
		{
			DispatchCheckRoute(route);
			route = hash_search(loaded, &id, HASH_ENTER, &found);
			route->nsegments = DispatchSplitPath(SPI_getvalue(tup, desc, 2),
												 &route->segments);
			auth = SPI_getvalue(tup, desc, 3);
			route->auth = strcmp(auth, "none") == 0		   ? AUTH_NONE
						  : strcmp(auth, "superuser") == 0 ? AUTH_SUPERUSER
														   : AUTH_USER;
			route->nparams = 0;
			route->params = palloc0(sizeof(RouteParam) * FUNC_MAX_ARGS);
			route->wants_json = route->wants_form = route->wants_fields =
				false;
			route->broken = NULL;
			route->handler =
				DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
			if (isnull)
			{
				/* dropped or renamed since routes_check saw it */
				route->handler = InvalidOid;
				route->nargs = 0;
				/* in routes_context, as the route */
				route->broken = psprintf("handler %s does not exist",
										 SPI_getvalue(tup, desc, 13));
				continue;
			}
			route->rettype =
				DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
			route->nargs =
				DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
			fmgr_info_cxt(route->handler, &route->flinfo, routes_context);
		}
		(void) SPI_getbinval(tup, desc, 6, &isnull);
		if (isnull || route->broken != NULL)
			continue; /* no arguments, or already refused */
		/* params[] has FUNC_MAX_ARGS slots, and pronargs is at most that */
		if (route->nparams >= route->nargs)
		{
			route->broken =
				"params describes more arguments than the handler takes";
			continue;
		}
		param = &route->params[route->nparams++];
		param->name = SPI_getvalue(tup, desc, 7);
		if (param->name == NULL)
		{
			route->broken = "a parameter has no \"name\"";
			continue;
		}
		if (!DispatchSource(SPI_getvalue(tup, desc, 8), &param->source))
		{
			/* in routes_context, as the route */
			route->broken =
				psprintf("parameter \"%s\" has no valid \"in\"", param->name);
			continue;
		}
		param->has_default =
			DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		param->default_text = SPI_getvalue(tup, desc, 10);
		param->type = DatumGetObjectId(SPI_getbinval(tup, desc, 11, &isnull));
		getTypeInputInfo(param->type, &param->typinput, &param->typioparam);
		if (param->source == SRC_BODY || param->source == SRC_JSON)
			route->wants_json = true;
		if (param->source == SRC_BODY)
			route->wants_fields = true;
		if (param->source == SRC_FORM)
			route->wants_form = true;
	}
	DispatchCheckRoute(route);
	MemoryContextSwitchTo(old);
	IdentityOwnerSpiFinish(&spi);
	routes = loaded;
}

static Route *
DispatchFindRoute(int id)
{
	if (routes == NULL || (routes_stale && handler_depth == 0))
		DispatchLoadRoutes();
	return hash_search(routes, &id, HASH_FIND, NULL);
}

/*
 * api.dispatch must run as its caller: as SECURITY DEFINER, GetUserId()
 * would be its owner, who may execute every handler of the extension, and
 * DispatchCheckPrivilege would check nothing.  Looked up once, and again
 * after any change to pg_proc (DispatchInvalidateProc), not on every call.
 */
static void
DispatchCheckInvoker(Oid self)
{
	HeapTuple tup;
	bool	  secdef;

	if (self == invoker_checked)
		return;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", self);
	secdef = ((Form_pg_proc) GETSTRUCT(tup))->prosecdef;
	ReleaseSysCache(tup);
	if (secdef)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s must not be SECURITY DEFINER",
						format_procedure(self)),
				 errdetail("The privilege to execute a route's handler is "
						   "checked for the role calling the dispatcher; "
						   "SECURITY DEFINER would make that its owner.")));
	invoker_checked = self;
}

/*
 * The role that calls api.dispatch must hold EXECUTE on the route's
 * handler, directly or through a membership (pgapp_gateway for the
 * gateway's login role), as the executor requires before it calls a
 * function (init_fcache): fmgr checks nothing, and the route cache was
 * built as the extension owner.  GetUserId() is that role, or the owner
 * of a SECURITY DEFINER function that called api.dispatch, exactly the
 * role the executor would check.  Checked on every call (a syscache
 * lookup; acl.c caches role memberships), so a GRANT or REVOKE holds at
 * the next request without a catalog reload.
 */
static void
DispatchCheckPrivilege(Route *route)
{
	if (PgappProcAclCheck(route->handler, GetUserId(), ACL_EXECUTE) !=
		ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s",
						get_func_name(route->handler)),
				 errhint("Grant EXECUTE on function %s to pgapp_gateway, "
						 "or to the role calling api.dispatch.",
						 format_procedure(route->handler))));
	InvokeFunctionExecuteHook(route->handler);
}

/* ---------- responses ---------- */

static void
DispatchAddHeader(Response *res, const char *name, const char *value)
{
	if (res->headers.len > 0)
		appendStringInfoChar(&res->headers, '\n');
	appendStringInfo(&res->headers, "%s: %s", name, value);
}

static char *
DispatchDetail(const char *message)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"detail\": ");
	escape_json(&buf, message);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static void
DispatchRespond(Response *res, int status, const char *message)
{
	res->status = status;
	res->body = DispatchDetail(message);
	if (status == 401)
		DispatchAddHeader(res, "WWW-Authenticate", "Bearer");
}

/* ---------- validation errors (422) ---------- */

typedef struct Invalid
{
	StringInfoData list;
	int			   count;
} Invalid;

static void
DispatchInvalid(Invalid *inv, const char *type, const char *where,
				const char *name, const char *msg, const char *input_json)
{
	StringInfo b = &inv->list;

	appendStringInfoString(b, inv->count++ == 0 ? "[" : ", ");
	appendStringInfoString(b, "{\"type\": ");
	escape_json(b, type);
	appendStringInfoString(b, ", \"loc\": [");
	escape_json(b, where);
	if (name)
	{
		appendStringInfoString(b, ", ");
		escape_json(b, name);
	}
	appendStringInfoString(b, "], \"msg\": ");
	escape_json(b, msg);
	appendStringInfo(b, ", \"input\": %s}", input_json ? input_json : "null");
}

static void
DispatchInvalidInit(Invalid *inv)
{
	initStringInfo(&inv->list);
	inv->count = 0;
}

/* Answer 422 with the errors collected in inv */
static void
DispatchRespondInvalid(Response *res, Invalid *inv)
{
	res->status = 422;
	res->body = psprintf("{\"detail\": %s]}", inv->list.data);
}

static char *
DispatchJsonString(const char *s)
{
	StringInfoData buf;

	if (s == NULL)
		return "null";
	initStringInfo(&buf);
	escape_json(&buf, s);
	return buf.data;
}

/* ---------- request decoding ---------- */

static int
DispatchHex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode one application/x-www-form-urlencoded component ('+' is a
 * space).  Returns NULL for an invalid escape, an encoded NUL or invalid
 * UTF-8.
 */
static char *
DispatchUnescape(const char *s, int len)
{
	char *out = palloc(len + 1);
	int	  i, n = 0;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int hi, lo;

			if (i + 2 >= len)
				return NULL;
			hi = DispatchHex(s[i + 1]);
			lo = DispatchHex(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			out[n++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else if (s[i] == '+')
			out[n++] = ' ';
		else
			out[n++] = s[i];
	}
	out[n] = '\0';
	if (pg_verify_mbstr_len(PG_UTF8, out, n, true) < 0)
		return NULL;
	return out;
}

/* Append a pair; *pairs grows by doubling (cap: its allocated length) */
static void
DispatchAddPair(Pair **pairs, int *npairs, int *cap, Pair pair)
{
	if (*pairs == NULL)
		*pairs = palloc(sizeof(Pair) * (*cap = 8));
	else if (*npairs == *cap)
		*pairs = repalloc(*pairs, sizeof(Pair) * (*cap *= 2));
	(*pairs)[(*npairs)++] = pair;
}

/* Split a query string or form body into decoded pairs, all or nothing */
static bool
DispatchParsePairs(const char *s, Pair **pairs, int *npairs)
{
	int			cap = 0;
	const char *p = s;

	*npairs = 0;
	*pairs = NULL;
	while (*p)
	{
		const char *end = strchr(p, '&');
		const char *eq;
		int			len = end ? end - p : strlen(p);
		Pair		pair;

		if (len > 0)
		{
			eq = memchr(p, '=', len);
			pair.name = DispatchUnescape(p, eq ? eq - p : len);
			pair.value =
				eq ? DispatchUnescape(eq + 1, len - (eq + 1 - p)) : "";
			if (pair.name == NULL || pair.value == NULL)
				return false;
			DispatchAddPair(pairs, npairs, &cap, pair);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return true;
}

typedef struct FormParts
{
	Pair **pairs;
	int	  *npairs;
	int	   cap;
} FormParts;

/* A copy of [s, s + len) that is valid UTF-8 without NUL, else NULL */
static char *
DispatchFieldText(const char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL ||
		pg_verify_mbstr_len(PG_UTF8, s, (int) len, true) < 0)
		return NULL;
	return pnstrdup(s, len);
}

static bool
DispatchAddPart(const MultipartPart *part, void *arg)
{
	FormParts *f = arg;
	Pair	   pair;

	/* an uploaded file is no text field: as if it were not sent */
	if (part->is_file)
		return true;
	pair.name = DispatchFieldText(part->name, part->name_len);
	pair.value = DispatchFieldText(part->value, part->value_len);
	if (pair.name == NULL || pair.value == NULL)
		return false;
	DispatchAddPair(f->pairs, f->npairs, &f->cap, pair);
	return true;
}

/* The text fields of a multipart/form-data body, all or nothing */
static bool
DispatchParseMultipart(text *body, text *ctype, Pair **pairs, int *npairs)
{
	char	  boundary[MULTIPART_MAX_BOUNDARY + 1];
	FormParts f = {pairs, npairs, 0};

	*npairs = 0;
	*pairs = NULL;
	return MultipartBoundary(text_to_cstring(ctype), boundary) &&
		   MultipartParse(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), boundary,
						  DispatchAddPart, &f);
}

/*
 * A field sent more than once counts with its last value, as in Starlette's
 * MultiDict, which FastAPI reads query strings and forms with.
 */
static const char *
DispatchPairValue(Pair *pairs, int npairs, const char *name)
{
	int i;

	for (i = npairs - 1; i >= 0; i--)
		if (strcmp(pairs[i].name, name) == 0)
			return pairs[i].value;
	return NULL;
}

/* The request's segment at {name} in the route's pattern (path matched) */
static char *
DispatchPathValue(Route *route, Request *req, const char *name)
{
	size_t len = strlen(name);
	int	   i;

	for (i = 0; i < route->nsegments && i < req->nsegments; i++)
	{
		const char *pat = route->segments[i];

		if (pat[0] == '{' && strncmp(pat + 1, name, len) == 0 &&
			pat[len + 1] == '}' && pat[len + 2] == '\0')
			return req->segments[i];
	}
	return NULL;
}

static bool
DispatchPathMatches(Route *route, Request *req)
{
	int i;

	if (req->nsegments != route->nsegments)
		return false;
	for (i = 0; i < route->nsegments; i++)
		if (route->segments[i][0] != '{' &&
			strcmp(route->segments[i], req->segments[i]) != 0)
			return false;
	return true;
}

/* Does the Content-Type's media type equal want (parameters ignored)? */
static bool
DispatchMediaType(text *ctype, const char *want)
{
	char  *s;
	size_t n = strlen(want);

	if (ctype == NULL)
		return false;
	s = text_to_cstring(ctype);
	while (*s == ' ')
		s++;
	return pg_strncasecmp(s, want, n) == 0 &&
		   (s[n] == '\0' || s[n] == ';' || s[n] == ' ');
}

/*
 * Is the Content-Type a JSON one, as FastAPI decides it: type
 * "application" and subtype "json" or ending in "+json"
 * (application/merge-patch+json, application/vnd.api+json), case
 * insensitive, parameters ignored.  As Python's email parser, the media
 * type is what precedes the first ';', trimmed, with exactly one '/'.
 */
static bool
DispatchJsonMediaType(text *ctype)
{
	char *s;
	char *end;
	char *slash;
	int	  len;

	if (ctype == NULL)
		return false;
	s = text_to_cstring(ctype);
	end = strchr(s, ';');
	if (end != NULL)
		*end = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	slash = strchr(s, '/');
	if (slash == NULL || strchr(slash + 1, '/') != NULL)
		return false;
	if (slash - s != 11 || pg_strncasecmp(s, "application", 11) != 0)
		return false;
	s = slash + 1;
	len = strlen(s);
	return pg_strcasecmp(s, "json") == 0 ||
		   (len >= 5 && pg_strcasecmp(s + len - 5, "+json") == 0);
}

/*
 * An error that says nothing about the input (a cancel or statement
 * timeout, out of memory, shutdown, I/O): re-raised, never a 422.
 */
static bool
DispatchIsInterrupt(ErrorData *e)
{
	int class = ERRCODE_TO_CATEGORY(e->sqlerrcode);

	return e->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		   class == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) ||
		   class == ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) ||
		   class == ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR);
}

/*
 * Run fn(arg) in a subtransaction.  Returns NULL when it succeeded, else
 * its error, with the subtransaction rolled back and the error state
 * cleared: the caller decides whether it becomes a response or is
 * re-raised.
 */
typedef void (*DispatchStep)(void *arg);

static ErrorData *
DispatchTry(DispatchStep fn, void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			  saved_depth = handler_depth;
	ErrorData *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		handler_depth = saved_depth;
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return edata;
}

typedef struct JsonStep
{
	const char *text;
	Jsonb	   *result;
} JsonStep;

static void
DispatchJsonStep(void *arg)
{
	JsonStep *j = arg;

	j->result = DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(j->text)));
}

/*
 * Parse the JSON body with PostgreSQL's own parser.  Its errors (syntax,
 * nesting depth, invalid Unicode) become a 422, never a 500.
 */
static bool
DispatchParseJson(const char *body, Jsonb **out)
{
	JsonStep   step = {body, NULL};
	ErrorData *edata = DispatchTry(DispatchJsonStep, &step);

	if (edata != NULL && DispatchIsInterrupt(edata))
		ReThrowError(edata);
	*out = step.result;
	return edata == NULL;
}

/* ---------- argument binding ---------- */

static const char *
DispatchTypeError(Oid type, bool parsing, const char **msg)
{
	switch (type)
	{
		case UUIDOID:
			*msg = "Input should be a valid UUID";
			return parsing ? "uuid_parsing" : "uuid_type";
		case INT2OID:
		case INT4OID:
		case INT8OID:
			*msg = parsing ? "Input should be a valid integer, unable to "
							 "parse string as an integer"
						   : "Input should be a valid integer";
			return parsing ? "int_parsing" : "int_type";
		case BOOLOID:
			*msg = parsing ? "Input should be a valid boolean, unable to "
							 "interpret input"
						   : "Input should be a valid boolean";
			return parsing ? "bool_parsing" : "bool_type";
		case TEXTOID:
		case VARCHAROID:
			*msg = "Input should be a valid string";
			return "string_type";
		default:
			*msg = "Value error, invalid input";
			return "value_error";
	}
}

/* Checks for the common types, so no subtransaction is needed */
static bool
DispatchInputValid(Oid type, const char *s)
{
	switch (type)
	{
		case UUIDOID:
		{
			/* uuid_in's accepted forms: hex digits, optional braces and
			 * hyphens after groups of four */
			int			digits = 0;
			const char *p = s;
			bool		brace = (*p == '{');

			if (brace)
				p++;
			for (; *p && !(brace && *p == '}'); p++)
			{
				if (isxdigit((unsigned char) *p))
					digits++;
				else if (*p != '-' || digits == 0 || digits % 4 != 0 ||
						 digits >= 32 || p[1] == '-' || p[1] == '\0')
					return false; /* uuid_in: no '-' after the last group */
			}
			if (brace && (*p != '}' || p[1] != '\0'))
				return false;
			return digits == 32;
		}
		case INT2OID:
		case INT4OID:
		case INT8OID:
		{
			char *end;
			long  v;

			errno = 0;
			while (*s == ' ')
				s++;
			if (*s == '\0')
				return false;
			v = strtol(s, &end, 10);
			while (*end == ' ')
				end++;
			if (errno != 0 || *end != '\0')
				return false;
			if (type == INT2OID)
				return v >= PG_INT16_MIN && v <= PG_INT16_MAX;
			if (type == INT4OID)
				return v >= PG_INT32_MIN && v <= PG_INT32_MAX;
			return true;
		}
		case BOOLOID:
		{
			bool b;

			return parse_bool(s, &b);
		}
		case TEXTOID:
		case VARCHAROID:
			return true;
		default:
			/* unknown, or jsonb/json, which can fail: the caller tries the
			 * input function in a subtransaction */
			return false;
	}
}

typedef struct InputStep
{
	RouteParam *param;
	const char *text;
	Datum		result;
} InputStep;

static void
DispatchInputStep(void *arg)
{
	InputStep *i = arg;

	i->result = OidInputFunctionCall(i->param->typinput, (char *) i->text,
									 i->param->typioparam, -1);
}

/* Call a type's input function, catching its error */
static bool
DispatchInput(RouteParam *param, const char *s, Datum *out)
{
	InputStep  step = {param, s, (Datum) 0};
	ErrorData *edata;

	if (DispatchInputValid(param->type, s))
	{
		*out = OidInputFunctionCall(param->typinput, (char *) s,
									param->typioparam, -1);
		return true;
	}
	if (param->type == UUIDOID || param->type == INT2OID ||
		param->type == INT4OID || param->type == INT8OID ||
		param->type == BOOLOID)
		return false;

	edata = DispatchTry(DispatchInputStep, &step);
	if (edata != NULL && DispatchIsInterrupt(edata))
		ReThrowError(edata);
	*out = step.result;
	return edata == NULL;
}

/* FastAPI's first loc element: body fields, forms and JSON are "body" */
static const char *
DispatchLoc(ParamSource source)
{
	if (source == SRC_BODY || source == SRC_JSON || source == SRC_FORM)
		return "body";
	return source_names[source];
}

static char *
DispatchJsonbText(Jsonb *jb)
{
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * Bind one argument.  Returns false after recording a validation error.
 */
static bool
DispatchBind(Route *route, RouteParam *param, Request *req, Invalid *inv,
			 Datum *value, bool *isnull)
{
	const char *raw = NULL;
	bool		present = false;
	const char *type;
	const char *msg;

	*isnull = false;
	switch (param->source)
	{
		case SRC_PATH:
			raw = DispatchPathValue(route, req, param->name);
			present = raw != NULL;
			break;
		case SRC_QUERY:
			raw = DispatchPairValue(req->query, req->nquery, param->name);
			present = raw != NULL;
			break;
		case SRC_FORM:
			/* an empty form field is one not sent, as FastAPI reads forms
			 * (_get_multidict_value); a query parameter's is a value */
			raw = DispatchPairValue(req->form, req->nform, param->name);
			present = raw != NULL && raw[0] != '\0';
			break;
		case SRC_CLIENT:
		case SRC_AUTHORIZATION:
		{
			text *t =
				param->source == SRC_CLIENT ? req->client : req->authorization;

			/* absent: null whatever the default, as before */
			if (t == NULL)
			{
				*isnull = true;
				return true;
			}
			/* cast like any other source: the argument may be inet, say */
			raw = text_to_cstring(t);
			present = true;
			break;
		}
		case SRC_JSON:
			if (req->body == NULL)
				break;
			if (param->type != JSONBOID)
				elog(ERROR, "a \"json\" argument must be of type jsonb");
			*value = JsonbPGetDatum(req->body);
			return true;
		case SRC_BODY:
		{
			JsonbValue *v = NULL;

			if (req->body != NULL && JB_ROOT_IS_OBJECT(req->body))
				v = getKeyJsonValueFromContainer(&req->body->root, param->name,
												 strlen(param->name), NULL);
			if (v == NULL)
				break;
			present = true;
			if (v->type == jbvNull)
			{
				if (param->has_default)
				{
					*isnull = true;
					return true;
				}
				type = DispatchTypeError(param->type, false, &msg);
				DispatchInvalid(inv, type, "body", param->name, msg, "null");
				return false;
			}
			if (param->type == JSONBOID)
			{
				*value = JsonbPGetDatum(JsonbValueToJsonb(v));
				return true;
			}
			if (v->type == jbvString)
				raw = pnstrdup(v->val.string.val, v->val.string.len);
			else if ((param->type == TEXTOID || param->type == VARCHAROID) ||
					 v->type == jbvBinary ||
					 (v->type == jbvBool && param->type != BOOLOID) ||
					 (v->type == jbvNumeric && param->type == BOOLOID) ||
					 (v->type == jbvNumeric && param->type == UUIDOID))
			{
				type = DispatchTypeError(param->type, false, &msg);
				DispatchInvalid(inv, type, "body", param->name, msg,
								DispatchJsonbText(JsonbValueToJsonb(v)));
				return false;
			}
			else if (v->type == jbvBool)
				raw = v->val.boolean ? "true" : "false";
			else
				raw = DatumGetCString(DirectFunctionCall1(
					numeric_out, NumericGetDatum(v->val.numeric)));
			break;
		}
	}

	if (!present)
		raw = NULL;
	if (raw == NULL)
	{
		if (param->has_default)
		{
			if (param->default_text == NULL)
			{
				*isnull = true;
				return true;
			}
			raw = param->default_text;
		}
		else
		{
			const char *input = "null";

			if (param->source == SRC_BODY && req->body != NULL)
				input = DispatchJsonbText(req->body);
			DispatchInvalid(inv, "missing", DispatchLoc(param->source),
							param->source == SRC_JSON ? NULL : param->name,
							"Field required", input);
			return false;
		}
	}

	if (!DispatchInput(param, raw, value))
	{
		type = DispatchTypeError(param->type, true, &msg);
		/* a credential is not echoed, even to the client that sent it */
		DispatchInvalid(
			inv, type, DispatchLoc(param->source), param->name, msg,
			param->source == SRC_AUTHORIZATION ? NULL
											   : DispatchJsonString(raw));
		return false;
	}
	return true;
}

/* ---------- the error map ---------- */

static bool
DispatchIsClass(int sqlerrcode, int class)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == class;
}

/*
 * The one map from an error to an HTTP response.  Returns false for an
 * unexpected error, which the caller re-raises (the transaction rolls back
 * and the gateway answers a generic 500).  A data exception or a violated
 * constraint is a 422 only when the handler raised it (in_handler): in
 * the authentication step it is no fault of the request's arguments, and
 * is unexpected (every fault of the token itself is class PJ, a 401).
 */
static bool
DispatchMapError(ErrorData *e, Response *res, bool in_handler)
{
	if (DispatchIsClass(e->sqlerrcode, ERRCODE_PGAPP_CLASS))
	{
		const char *code = unpack_sql_state(e->sqlerrcode);
		int			status = atoi(code + 2);

		if (status < 400 || status > 599)
			return false;
		if (status == 422 && e->detail != NULL)
		{
			res->status = 422;
			res->body = psprintf("{\"detail\": %s}", e->detail);
			return true;
		}
		DispatchRespond(res, status, e->message);
		if (status == 429 && e->detail != NULL)
			DispatchAddHeader(res, "Retry-After", e->detail);
		return true;
	}
	if (DispatchIsClass(e->sqlerrcode, ERRCODE_JWT_CLASS))
	{
		res->status = 401;
		res->body = DispatchDetail("Could not validate credentials");
		DispatchAddHeader(res, "WWW-Authenticate",
						  "Bearer error=\"invalid_token\"");
		return true;
	}
	if (in_handler &&
		(DispatchIsClass(e->sqlerrcode, ERRCODE_DATA_EXCEPTION) ||
		 e->sqlerrcode == ERRCODE_CHECK_VIOLATION ||
		 e->sqlerrcode == ERRCODE_NOT_NULL_VIOLATION))
	{
		Invalid inv;

		DispatchInvalidInit(&inv);
		DispatchInvalid(&inv, "value_error", "body", NULL, e->message, NULL);
		DispatchRespondInvalid(res, &inv);
		return true;
	}
	if (e->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
	{
		DispatchRespond(res, 409, "Conflict");
		return true;
	}
	return false;
}

/*
 * Run a step of the request in a subtransaction.  An expected error
 * becomes the response (returns false); an unexpected one is re-raised.
 */
static bool
DispatchGuarded(DispatchStep fn, void *arg, Response *res, bool in_handler)
{
	ErrorData *edata = DispatchTry(fn, arg);

	if (edata != NULL && !DispatchMapError(edata, res, in_handler))
		ReThrowError(edata);
	return edata == NULL;
}

typedef struct AuthStep
{
	text *token;
} AuthStep;

static void
DispatchAuthStep(void *arg)
{
	AuthStep *a = arg;

	IdentityAuthenticate(VARDATA_ANY(a->token), VARSIZE_ANY_EXHDR(a->token),
						 false);
}

typedef struct CallStep
{
	Route *route;
	Datum *values;
	bool  *nulls;
	Datum  result;
	bool   isnull;
} CallStep;

static void
DispatchCallStep(void *arg)
{
	CallStep *c = arg;
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
	int i;

	InitFunctionCallInfoData(*fcinfo, &c->route->flinfo, c->route->nparams,
							 InvalidOid, NULL, NULL);
	for (i = 0; i < c->route->nparams; i++)
	{
		/* a strict function is not called with a null: its result is null,
		 * as the executor has it */
		if (c->nulls[i] && c->route->flinfo.fn_strict)
		{
			c->result = (Datum) 0;
			c->isnull = true;
			return;
		}
		fcinfo->args[i].value = c->values[i];
		fcinfo->args[i].isnull = c->nulls[i];
	}
	handler_depth++; /* DispatchGuarded restores it on error */
	c->result = FunctionCallInvoke(fcinfo);
	handler_depth--;
	c->isnull = fcinfo->isnull;
}

/*
 * The bearer token of an Authorization header, or NULL.  Whitespace around
 * the token is not part of it (RFC 9110 5.5: libmicrohttpd 0.9.75 keeps a
 * value's trailing spaces and tabs).
 */
static text *
DispatchBearer(text *authorization)
{
	char *s;
	int	  len;

	if (authorization == NULL)
		return NULL;
	s = text_to_cstring(authorization);
	if (pg_strncasecmp(s, "bearer ", 7) != 0)
		return NULL;
	s += 7;
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return NULL;
	return cstring_to_text_with_len(s, len);
}

static void
DispatchAuthenticate(Route *route, Request *req, Response *res)
{
	text	*token;
	AuthStep step;

	if (route->auth == AUTH_NONE)
		return;
	token = DispatchBearer(req->authorization);
	if (token == NULL)
	{
		DispatchRespond(res, 401, "Not authenticated");
		return;
	}
	step.token = token;
	if (!DispatchGuarded(DispatchAuthStep, &step, res, false))
		return;
	if (route->auth == AUTH_SUPERUSER && !IdentityIsSuperuser())
		DispatchRespond(res, 403, "The user doesn't have enough privileges");
}

/* Decode the query string and the body the route needs */
static void
DispatchDecode(Route *route, Request *req, text *query, text *body,
			   text *ctype, Response *res)
{
	if (query != NULL &&
		!DispatchParsePairs(text_to_cstring(query), &req->query, &req->nquery))
	{
		DispatchRespond(res, 400, "Invalid query string");
		return;
	}
	if (route->wants_form && body != NULL && VARSIZE_ANY_EXHDR(body) > 0)
	{
		/* browsers post a FormData object as multipart; FastAPI takes both */
		if (DispatchMediaType(ctype, "multipart/form-data"))
		{
			if (!DispatchParseMultipart(body, ctype, &req->form, &req->nform))
			{
				DispatchRespond(res, 400,
								"There was an error parsing the body");
				return;
			}
		}
		else if (!DispatchMediaType(ctype,
									"application/x-www-form-urlencoded"))
		{
			DispatchRespond(res, 415, "Unsupported Media Type");
			return;
		}
		else if (!DispatchParsePairs(text_to_cstring(body), &req->form,
									 &req->nform))
		{
			DispatchRespond(res, 400, "Invalid form body");
			return;
		}
	}
	if (route->wants_json && body != NULL && VARSIZE_ANY_EXHDR(body) > 0)
	{
		/* no Content-Type, or an empty one, is JSON too, as in FastAPI */
		if (ctype != NULL && VARSIZE_ANY_EXHDR(ctype) > 0 &&
			!DispatchJsonMediaType(ctype))
		{
			DispatchRespond(res, 415, "Unsupported Media Type");
			return;
		}
		if (!DispatchParseJson(text_to_cstring(body), &req->body))
		{
			Invalid inv;

			DispatchInvalidInit(&inv);
			DispatchInvalid(&inv, "json_invalid", "body", NULL,
							"JSON decode error", "{}");
			DispatchRespondInvalid(res, &inv);
			return;
		}
	}
}

static void
DispatchCall(Route *route, Request *req, Response *res)
{
	CallStep call = {.route = route};
	Invalid	 inv;
	int		 i;

	DispatchInvalidInit(&inv);

	/* a model body: FastAPI checks the body as a whole first */
	if (route->wants_fields && req->body == NULL)
		DispatchInvalid(&inv, "missing", "body", NULL, "Field required", NULL);
	else if (route->wants_fields && !JB_ROOT_IS_OBJECT(req->body))
		DispatchInvalid(&inv, "model_attributes_type", "body", NULL,
						"Input should be a valid dictionary or object to "
						"extract fields from",
						DispatchJsonbText(req->body));
	if (inv.count > 0)
	{
		DispatchRespondInvalid(res, &inv);
		return;
	}

	call.values = palloc0(sizeof(Datum) * Max(route->nparams, 1));
	call.nulls = palloc0(sizeof(bool) * Max(route->nparams, 1));
	for (i = 0; i < route->nparams; i++)
		DispatchBind(route, &route->params[i], req, &inv, &call.values[i],
					 &call.nulls[i]);
	if (inv.count > 0)
	{
		DispatchRespondInvalid(res, &inv);
		return;
	}

	if (!DispatchGuarded(DispatchCallStep, &call, res, true))
		return;

	res->status = 200;
	if (call.isnull)
		res->body = "null";
	else if (route->rettype == JSONBOID)
		res->body = DispatchJsonbText(DatumGetJsonbP(call.result));
	else if (route->rettype == TEXTOID)
	{
		res->body = TextDatumGetCString(call.result);
		DispatchAddHeader(res, "Content-Type", "text/html; charset=utf-8");
	}
	else
	{
		Oid	 out;
		bool isvarlena;

		getTypeOutputInfo(route->rettype, &out, &isvarlena);
		res->body = OidOutputFunctionCall(out, call.result);
	}
}

static text *
DispatchArgText(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n);
}

/*
 * api.dispatch(route int, path text, query text, body text, ctype text,
 *              authorization text, client text)
 *   returns table (status int, headers text, body text)
 */
PG_FUNCTION_INFO_V1(dispatch);
Datum
dispatch(PG_FUNCTION_ARGS)
{
	Route	 *route = NULL;
	Request	  req;
	Response  res;
	TupleDesc desc;
	Datum	  values[3];
	bool	  nulls[3] = {false, false, false};

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	initStringInfo(&res.headers);
	req.nsegments = DispatchSplitPath(
		PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1)),
		&req.segments);
	req.authorization = DispatchArgText(fcinfo, 5);
	req.client = DispatchArgText(fcinfo, 6);

	if (!PG_ARGISNULL(0))
		route = DispatchFindRoute(PG_GETARG_INT32(0));
	if (route == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_PGAPP_UNKNOWN_ROUTE), errmsg("unknown route"),
			 errhint("The route catalog changed; the gateway reloads it.")));
	if (route->broken != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("route %d is misconfigured", route->id),
						errdetail("In api.routes: %s.", route->broken)));
	/*
	 * Before authentication, as the executor checks before it evaluates an
	 * argument: a handler the caller may not execute is a misconfiguration
	 * (a 500 over HTTP) whatever the request holds.
	 */
	DispatchCheckInvoker(fcinfo->flinfo->fn_oid);
	DispatchCheckPrivilege(route);
	if (!DispatchPathMatches(route, &req))
		DispatchRespond(&res, 404, "Not Found");
	if (res.status == 0)
		DispatchAuthenticate(route, &req, &res);
	if (res.status == 0)
		DispatchDecode(route, &req, DispatchArgText(fcinfo, 2),
					   DispatchArgText(fcinfo, 3), DispatchArgText(fcinfo, 4),
					   &res);
	if (res.status == 0)
		DispatchCall(route, &req, &res);

	/* traces of a failed request (throttling, token reuse) are kept */
	TracesApply();

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "api.dispatch must return a record");
	desc = BlessTupleDesc(desc);
	values[0] = Int32GetDatum(res.status);
	if (res.headers.len > 0)
		values[1] = CStringGetTextDatum(res.headers.data);
	else
		nulls[1] = true;
	values[2] = CStringGetTextDatum(res.body);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
