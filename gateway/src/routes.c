/*
 * routes.c — route patterns and the published catalog.
 */
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"
#include "log.h"

#define MAX_SEGMENTS 64

struct route
{
	int	   id;
	char   method[16];
	char  *pattern;
	char **segs; /* NULL entry = parameter */
	int	   nsegs;
};

struct catalog
{
	int			  refs; /* guarded by published_lock */
	int			  n, cap;
	struct route *routes;
};

/*
 * The published catalog.  Global because every request thread reads it
 * and the listener thread replaces it; the mutex only guards the pointer
 * swap and the reference counts, never a match.
 */
static pthread_mutex_t published_lock = PTHREAD_MUTEX_INITIALIZER;
static struct catalog *published;

struct catalog *
catalog_new(void)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->refs = 1;
	return c;
}

int
catalog_size(const struct catalog *c)
{
	return c->n;
}

static void
route_free(struct route *r)
{
	for (int i = 0; r->segs != NULL && i < r->nsegs; i++)
		free(r->segs[i]);
	free(r->segs);
	free(r->pattern);
}

void
catalog_free(struct catalog *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->n; i++)
		route_free(&c->routes[i]);
	free(c->routes);
	free(c);
}

static bool
is_param(const char *seg, size_t len)
{
	return len >= 3 && seg[0] == '{' && seg[len - 1] == '}';
}

/*
 * Split a path into segments (pointers into a scratch copy).  The leading
 * '/' is required; one trailing '/' is ignored, so /a/ and /a are one path.
 */
static int
split_path(char *path, char **segs, int max)
{
	size_t len = strlen(path);
	int	   n = 0;
	char  *p;

	if (path[0] != '/')
		return -1;
	if (len > 1 && path[len - 1] == '/')
		path[len - 1] = '\0';
	if (path[1] == '\0')
		return 0;
	p = path + 1;
	for (;;)
	{
		char *slash = strchr(p, '/');

		if (n == max)
			return -1;
		segs[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return n;
}

int
catalog_add(struct catalog *c, int id, const char *method, const char *pattern,
			char *err, size_t errlen)
{
	char		*scratch, *segs[MAX_SEGMENTS];
	struct route r = {0};
	int			 n;

	if (!http_token(method) || strlen(method) >= sizeof(r.method))
	{
		snprintf(err, errlen, "route %d: bad method", id);
		return -1;
	}
	scratch = strdup(pattern);
	if (scratch == NULL)
		goto oom;
	n = split_path(scratch, segs, MAX_SEGMENTS);
	if (n < 0)
	{
		free(scratch);
		snprintf(err, errlen, "route %d: bad path pattern", id);
		return -1;
	}
	r.id = id;
	strcpy(r.method, method);
	r.pattern = strdup(pattern);
	r.segs = calloc((size_t) (n ? n : 1), sizeof(char *));
	if (r.pattern == NULL || r.segs == NULL)
		goto oom_route;
	for (int i = 0; i < n; i++, r.nsegs++)
	{
		if (is_param(segs[i], strlen(segs[i])))
			continue; /* NULL marks a parameter */
		r.segs[i] = strdup(segs[i]);
		if (r.segs[i] == NULL)
			goto oom_route;
	}
	if (c->n == c->cap)
	{
		int			  cap = c->cap ? c->cap * 2 : 32;
		struct route *grown = realloc(c->routes, (size_t) cap * sizeof(r));

		if (grown == NULL)
			goto oom_route;
		c->routes = grown;
		c->cap = cap;
	}
	c->routes[c->n++] = r;
	free(scratch);
	return 0;
oom_route:
	route_free(&r);
	free(scratch);
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static bool
route_matches_path(const struct route *r, char **segs, int n)
{
	if (r->nsegs != n)
		return false;
	for (int i = 0; i < n; i++)
	{
		if (r->segs[i] == NULL)
		{
			if (segs[i][0] == '\0')
				return false;
		}
		else if (strcmp(r->segs[i], segs[i]) != 0)
			return false;
	}
	return true;
}

/* a is more specific than b: a literal where b has a parameter, first. */
static bool
more_specific(const struct route *a, const struct route *b)
{
	for (int i = 0; i < a->nsegs; i++)
	{
		bool a_lit = a->segs[i] != NULL, b_lit = b->segs[i] != NULL;

		if (a_lit != b_lit)
			return a_lit;
	}
	return false;
}

static int
method_rank(const char *m)
{
	static const char *const order[] = {"GET",	   "HEAD",	"POST",
										"PUT",	   "PATCH", "DELETE",
										"OPTIONS", "TRACE", "CONNECT"};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (strcmp(order[i], m) == 0)
			return (int) i;
	return 100;
}

static void
build_allow(const struct route **hits, int nhits, char *allow, size_t len)
{
	const char *methods[64];
	int			n = 0;
	size_t		used = 0;

	for (int i = 0; i < nhits && n < 64; i++)
	{
		bool seen = false;

		for (int k = 0; k < n && !seen; k++)
			seen = strcmp(methods[k], hits[i]->method) == 0;
		if (!seen)
			methods[n++] = hits[i]->method;
	}
	/* insertion sort by the conventional order */
	for (int i = 1; i < n; i++)
		for (int k = i;
			 k > 0 && method_rank(methods[k]) < method_rank(methods[k - 1]);
			 k--)
		{
			const char *t = methods[k];

			methods[k] = methods[k - 1];
			methods[k - 1] = t;
		}
	allow[0] = '\0';
	for (int i = 0; i < n; i++)
	{
		int w = snprintf(allow + used, len - used, "%s%s", i ? ", " : "",
						 methods[i]);

		if (w < 0 || (size_t) w >= len - used)
			break;
		used += (size_t) w;
	}
}

enum route_match
catalog_match(const struct catalog *c, const char *method, const char *path,
			  int *route_id, char *allow, size_t allowlen)
{
	char			   *scratch, *segs[MAX_SEGMENTS];
	const struct route *best = NULL, *hits[64];
	int					n, nhits = 0;

	if (allowlen > 0)
		allow[0] = '\0';
	scratch = strdup(path);
	if (scratch == NULL)
		return ROUTE_NO_PATH;
	n = split_path(scratch, segs, MAX_SEGMENTS);
	for (int i = 0; n >= 0 && i < c->n; i++)
	{
		const struct route *r = &c->routes[i];

		if (!route_matches_path(r, segs, n))
			continue;
		if (nhits < 64)
			hits[nhits++] = r;
		if (strcmp(r->method, method) == 0 &&
			(best == NULL || more_specific(r, best)))
			best = r;
	}
	free(scratch);
	if (best != NULL)
	{
		*route_id = best->id;
		return ROUTE_FOUND;
	}
	if (nhits == 0)
		return ROUTE_NO_PATH;
	build_allow(hits, nhits, allow, allowlen);
	return ROUTE_NO_METHOD;
}

struct catalog *
routes_acquire(void)
{
	struct catalog *c;

	pthread_mutex_lock(&published_lock);
	c = published;
	if (c != NULL)
		c->refs++;
	pthread_mutex_unlock(&published_lock);
	return c;
}

void
routes_release(struct catalog *c)
{
	bool last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&published_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&published_lock);
	if (last)
		catalog_free(c);
}

void
routes_publish(struct catalog *c)
{
	struct catalog *old;

	pthread_mutex_lock(&published_lock);
	old = published;
	published = c; /* takes over the creator's reference */
	pthread_mutex_unlock(&published_lock);
	routes_release(old);
}

bool
routes_loaded(void)
{
	bool loaded;

	pthread_mutex_lock(&published_lock);
	loaded = published != NULL;
	pthread_mutex_unlock(&published_lock);
	return loaded;
}

void
routes_shutdown(void)
{
	routes_publish(NULL);
}

/* ---- loading from the database ---- */

#include <libpq-fe.h>

#define ROUTE_LIST_SQL "SELECT id, method, path FROM api.route_list()"

int
routes_load(PGconn *conn, struct catalog **out, char *err, size_t errlen)
{
	PGresult	   *res = PQexec(conn, ROUTE_LIST_SQL);
	struct catalog *c;

	*out = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3)
	{
		snprintf(err, errlen, "catalog: %s", PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	c = catalog_new();
	if (c == NULL)
	{
		PQclear(res);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		char sub[128] = "null column";

		if (PQgetisnull(res, i, 0) || PQgetisnull(res, i, 1) ||
			PQgetisnull(res, i, 2) ||
			catalog_add(c, atoi(PQgetvalue(res, i, 0)), PQgetvalue(res, i, 1),
						PQgetvalue(res, i, 2), sub, sizeof(sub)) != 0)
		{
			/* one bad row must not take every other route down */
			log_msg(LOG_WARN, "catalog: skipping route row %d: %s", i, sub);
			continue;
		}
	}
	PQclear(res);
	*out = c;
	return 0;
}
