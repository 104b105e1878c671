/*
 * pool.h — the database side: a fixed pool of connections, each with the
 * dispatch statement prepared; a background reconnector; and a listener
 * connection that LISTENs for catalog changes and (re)loads the catalog.
 *
 * Requests use the pool from one event loop (http.c): a job is sent on an
 * idle connection without blocking, or queued in arrival order until one
 * is free; its result arrives through pool_run() when the connection's
 * socket is readable, and the job's done callback is called.  Requests
 * never wait for a connect attempt: while no connection works they get
 * DISPATCH_UNAVAILABLE at once.
 */
#ifndef GW_POOL_H
#define GW_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool;
struct pool_part;

enum dispatch_outcome
{
	DISPATCH_OK,				/* status/headers/body are set */
	DISPATCH_UNAVAILABLE,		/* no connection (down or all busy): 503 */
	DISPATCH_UNKNOWN_ROUTE,		/* route id not in the catalog: 404 */
	DISPATCH_ERROR				/* unexpected SQL error: 500, log message */
};

#define DISPATCH_NPARAMS 7

/* SQLSTATE the dispatcher raises for a route id it does not know. */
#define SQLSTATE_UNKNOWN_ROUTE "PR404"

struct dispatch_result
{
	enum dispatch_outcome outcome;
	int status;
	char *headers;				/* malloc'd or NULL */
	char *body;					/* malloc'd or NULL */
	char sqlstate[6];
	char message[512];			/* server message, for the log only */
};

/*
 * One round trip of the dispatch statement.  The caller owns the job and
 * keeps it and its params (text, NULL allowed) valid until done(job) has
 * been called; done is called exactly once, from pool_submit() itself or
 * from a later pool_run() on the submitting loop's thread, or from
 * pool_abandon().  Any loop may send a queued job on a connection it
 * frees; the result is read by the loop that submitted it.
 */
struct dispatch_job
{
	const char *params[DISPATCH_NPARAMS];
	void		(*done) (struct dispatch_job *job);
	struct dispatch_result result;	/* free with dispatch_result_free() */
	/* the pool's own */
	struct pool_part *part;		/* the loop that submitted it */
	long long	deadline_ms;
	struct dispatch_job *next;
};

/* size connections, split among nparts event loops (at most size). */
struct pool *pool_create(const char *database_url, int size, int nparts);
int pool_parts(const struct pool *p);
struct pool_part *pool_part(struct pool *p, int k);
int pool_start(struct pool *p, char *err, size_t errlen);
void pool_stop(struct pool *p);

/* ---- an event loop's side: each part is used by one loop thread only ---- */

/* Readable when pool_run() has work: results, new connections. */
int pool_fd(const struct pool_part *pp);
/* Milliseconds until the oldest queued job gives up; -1 when none waits. */
int pool_timeout_ms(struct pool_part *pp);
/* Read what arrived (readable: pool_fd was ready) and expire waits. */
void pool_run(struct pool_part *pp, bool readable);
/* Send the job now, queue it for up to wait_ms, or fail it at once. */
void pool_submit(struct pool_part *pp, struct dispatch_job *job, int wait_ms);
/*
 * Stop: every job of pp queued or running is done with
 * DISPATCH_UNAVAILABLE.  Only once no loop runs any more.
 */
void pool_abandon(struct pool_part *pp);

void dispatch_result_free(struct dispatch_result *r);

/* ---- any thread ---- */

/* At least one pooled connection is up. */
bool pool_ready(const struct pool *p);
/* Ask the listener to reload the catalog now. */
void pool_request_reload(struct pool *p);
/* Non-NULL when the database role must not be used: main exits 2. */
const char *pool_fatal(struct pool *p);

#endif
