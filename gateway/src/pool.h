/*
 * pool.h — the database side: a fixed pool of connections, each with the
 * dispatch statement prepared; a background reconnector; and a listener
 * connection that LISTENs for catalog changes and (re)loads the catalog.
 * Requests never wait for a connect attempt: while no connection works
 * they get POOL_UNAVAILABLE at once.
 */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool;

enum dispatch_outcome
{
	DISPATCH_OK,			/* status/headers/body are set */
	DISPATCH_UNAVAILABLE,	/* no connection (down or all busy): 503 */
	DISPATCH_UNKNOWN_ROUTE, /* route id not in the catalog: 404 */
	DISPATCH_ERROR			/* unexpected SQL error: 500, log message */
};

#define DISPATCH_NPARAMS 7

/* SQLSTATE the dispatcher raises for a route id it does not know. */
#define SQLSTATE_UNKNOWN_ROUTE "PR404"

struct dispatch_result
{
	enum dispatch_outcome outcome;
	int					  status;
	char				 *headers; /* malloc'd or NULL */
	char				 *body;	   /* malloc'd or NULL */
	char				  sqlstate[6];
	char				  message[512]; /* server message, for the log only */
};

/*
 * The libpq keyword/value pairs of every connection (NULL-terminated):
 * the gateway's defaults, then "dbname" = url, expanded, which overrides
 * them.
 */
#define POOL_CONN_NPARAMS 9
void pool_conn_params(const char *url, const char *keys[POOL_CONN_NPARAMS + 1],
					  const char *values[POOL_CONN_NPARAMS + 1]);

struct pool *pool_create(const char *database_url, int size);
int			 pool_start(struct pool *p, char *err, size_t errlen);
void		 pool_stop(struct pool *p);

/*
 * One round trip: acquire a connection (waiting up to wait_ms for a free
 * one), run the dispatch statement with params (text, NULL allowed),
 * release.  Fills *out; free it with dispatch_result_free().
 */
void pool_dispatch(struct pool *p, const char *const params[DISPATCH_NPARAMS],
				   int wait_ms, struct dispatch_result *out);
void dispatch_result_free(struct dispatch_result *r);

/* At least one pooled connection is up. */
bool pool_ready(const struct pool *p);
/* Ask the listener to reload the catalog now. */
void pool_request_reload(struct pool *p);
/*
 * Cancel the queries running on busy connections (the drain time is up);
 * their requests are answered 503.  Returns how many were cancelled.
 */
int pool_cancel_busy(struct pool *p);
/* Non-NULL when the database role must not be used: main exits 2. */
const char *pool_fatal(struct pool *p);

#endif
