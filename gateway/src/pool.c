/*
 * pool.c — database connections: the request pool, the reconnector and
 * the catalog listener.  Only fixed SQL text is ever sent; request data
 * travels as bound parameters of the one prepared statement.
 */
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"
#include "routes.h"

#define DISPATCH_STMT "pgapp_dispatch"
#define DISPATCH_SQL                                                        \
	"SELECT status, headers, body FROM api.dispatch($1::int4, $2, $3, $4, " \
	"$5, $6, $7)"
/*
 * The role must not bypass row-level security, nor read a signing key
 * (SPEC §1: the gateway never sees one).  The table is looked up in the
 * catalog, not with to_regclass, which fails for a role without USAGE on
 * schema pgapp; a database without pgapp yet passes, and is checked again
 * on the next connect.
 */
#define ROLE_CHECK_SQL                                                       \
	"SELECT r.rolsuper OR r.rolbypassrls, "                                  \
	"COALESCE((SELECT pg_catalog.has_any_column_privilege(c.oid, 'SELECT') " \
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "             \
	"ON n.oid = c.relnamespace "                                             \
	"WHERE n.nspname = 'pgapp' AND c.relname = 'signing_keys'), false) "     \
	"FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"
#define LISTEN_SQL "LISTEN pgapp_routes"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

enum slot_state
{
	SLOT_DOWN,
	SLOT_IDLE,
	SLOT_BUSY
};

struct slot
{
	PGconn		   *conn;
	PGcancel	   *cancel; /* made when connected: PQcancel is thread-safe */
	enum slot_state state;
};

/*
 * A request waiting for a connection.  Waiters queue in arrival order and
 * a released connection is handed to the oldest one directly, so under
 * load no request starves past its wait while later ones are served.
 */
struct waiter
{
	pthread_cond_t cond;
	int			   slot;	/* handed over: >= 0 */
	bool		   gave_up; /* the pool died: stop waiting */
	struct waiter *next;
};

struct pool
{
	const char	   *url;
	int				size;
	struct slot	   *slots;
	int				n_up; /* idle + busy */
	pthread_mutex_t lock;
	struct waiter  *queue_head, *queue_tail;
	pthread_cond_t	wake; /* a slot went down, or stop */
	pthread_t		reconnector, listener;
	bool			threads_started;
	atomic_bool		stopping;
	atomic_bool		cancelling; /* the drain is over: queries are cancelled */
	atomic_bool		reload;
	atomic_bool		schema_missing; /* dispatch found no api schema: 503 */
	atomic_bool		fatal_claimed;	/* one writer of fatal[] */
	atomic_bool		fatal_set;		/* fatal[] is complete */
	char			fatal[256];
};

static void
sleep_ms(struct pool *p, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	if (!atomic_load(&p->stopping))
		pthread_cond_timedwait(&p->wake, &p->lock, &ts);
	pthread_mutex_unlock(&p->lock);
}

static int
next_backoff(int ms)
{
	ms *= 2;
	return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static void
first_line(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
	dst[strcspn(dst, "\n")] = '\0';
}

static void
set_fatal(struct pool *p, const char *msg)
{
	/* both database threads can get here: the first one writes */
	if (atomic_exchange(&p->fatal_claimed, true))
		return;
	snprintf(p->fatal, sizeof(p->fatal), "%s", msg);
	atomic_store(&p->fatal_set, true);
}

/* libpq's notices (a backend's goodbye, say) go to the log, one line. */
static void
notice_to_log(void *arg, const char *message)
{
	char line[512];

	(void) arg;
	first_line(line, sizeof(line), message);
	log_msg(LOG_WARN, "database notice: %s", line);
}

/*
 * The defaults of every connection, then the URL expanded by libpq (never
 * a conninfo assembled here): the URL comes last so that it can override
 * them.  statement_timeout (set on the role) cannot fire when the
 * database host vanishes, so the client bounds a round trip itself: an
 * unanswered send is dropped after tcp_user_timeout (20 s), and a wait
 * for a result on a silent connection after about 10 + 5 × 3 s of
 * keepalive probes; both are below the role's 30 s statement_timeout.
 */
void
pool_conn_params(const char *url, const char *keys[POOL_CONN_NPARAMS + 1],
				 const char *values[POOL_CONN_NPARAMS + 1])
{
	static const char *const k[POOL_CONN_NPARAMS] = {
		"connect_timeout",	"application_name", "client_encoding",
		"keepalives",		"keepalives_idle",	"keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "dbname"};
	static const char *const v[POOL_CONN_NPARAMS - 1] = {
		"2", "pgapp-gateway", "UTF8", "1", "10", "5", "3", "20000"};

	for (int i = 0; i < POOL_CONN_NPARAMS; i++)
	{
		keys[i] = k[i];
		values[i] = i < POOL_CONN_NPARAMS - 1 ? v[i] : url;
	}
	keys[POOL_CONN_NPARAMS] = values[POOL_CONN_NPARAMS] = NULL;
}

static PGconn *
db_connect(struct pool *p, char *err, size_t errlen)
{
	const char *keys[POOL_CONN_NPARAMS + 1], *values[POOL_CONN_NPARAMS + 1];
	PGconn	   *conn;
	PGresult   *res;

	pool_conn_params(p->url, keys, values);
	conn = PQconnectdbParams(keys, values, 1);

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		first_line(err, errlen, conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, notice_to_log, NULL);
	res = PQexec(conn, ROLE_CHECK_SQL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQnfields(res) != 2)
	{
		first_line(err, errlen, PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "f") != 0 ||
		strcmp(PQgetvalue(res, 0, 1), "f") != 0)
	{
		char msg[200];

		snprintf(msg, sizeof(msg),
				 "database role \"%.64s\" %s: the gateway refuses to use it",
				 PQuser(conn),
				 strcmp(PQgetvalue(res, 0, 0), "f") != 0
					 ? "is a superuser or has BYPASSRLS"
					 : "can read pgapp.signing_keys");
		set_fatal(p, msg);
		snprintf(err, errlen, "%s", msg);
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static PGconn *
pool_connect(struct pool *p, char *err, size_t errlen)
{
	PGconn	 *conn = db_connect(p, err, errlen);
	PGresult *res;

	if (conn == NULL)
		return NULL;
	res = PQprepare(conn, DISPATCH_STMT, DISPATCH_SQL, DISPATCH_NPARAMS, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		first_line(err, errlen, PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static int
find_slot(struct pool *p, enum slot_state state)
{
	for (int i = 0; i < p->size; i++)
		if (p->slots[i].state == state)
			return i;
	return -1;
}

/* Called with the lock held: give slot i to the oldest waiter, if any. */
static bool
hand_to_waiter(struct pool *p, int i)
{
	struct waiter *w = p->queue_head;

	if (w == NULL)
		return false;
	p->queue_head = w->next;
	if (p->queue_head == NULL)
		p->queue_tail = NULL;
	w->next = NULL;
	w->slot = i;
	p->slots[i].state = SLOT_BUSY;
	pthread_cond_signal(&w->cond);
	return true;
}

/* Called with the lock held: every waiter gives up (no connection). */
static void
fail_waiters(struct pool *p)
{
	for (struct waiter *w = p->queue_head, *next; w != NULL; w = next)
	{
		next = w->next;
		w->next = NULL;
		w->gave_up = true;
		pthread_cond_signal(&w->cond);
	}
	p->queue_head = p->queue_tail = NULL;
}

static void
dequeue(struct pool *p, struct waiter *me)
{
	struct waiter **link = &p->queue_head, *prev = NULL;

	while (*link != NULL && *link != me)
	{
		prev = *link;
		link = &(*link)->next;
	}
	if (*link == NULL)
		return;
	*link = me->next;
	if (p->queue_tail == me)
		p->queue_tail = prev;
	me->next = NULL;
}

static void *
reconnector_main(void *arg)
{
	struct pool *p = arg;
	int			 backoff = BACKOFF_MIN_MS;
	bool		 was_failing = false;

	while (!atomic_load(&p->stopping))
	{
		char	err[256];
		PGconn *conn;
		int		down;

		pthread_mutex_lock(&p->lock);
		down = find_slot(p, SLOT_DOWN);
		if (down < 0)
		{
			/* re-checked under the lock, or pool_stop's wake-up is lost */
			if (!atomic_load(&p->stopping))
				pthread_cond_wait(&p->wake, &p->lock);
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);

		conn = pool_connect(p, err, sizeof(err));
		if (conn == NULL)
		{
			if (atomic_load(&p->fatal_set))
				break; /* main reports it and exits */
			if (!was_failing)
				log_msg(LOG_WARN, "database: cannot connect: %s", err);
			was_failing = true;
			sleep_ms(p, backoff);
			backoff = next_backoff(backoff);
			continue;
		}
		pthread_mutex_lock(&p->lock);
		p->slots[down].conn = conn;
		p->slots[down].cancel = PQgetCancel(conn);
		p->slots[down].state = SLOT_IDLE;
		p->n_up++;
		hand_to_waiter(p, down);
		pthread_mutex_unlock(&p->lock);
		if (was_failing)
			log_msg(LOG_INFO, "database: connected again");
		was_failing = false;
		backoff = BACKOFF_MIN_MS;
	}
	return NULL;
}

static void pool_sweep(struct pool *p);

/*
 * Reload the catalog on conn and publish it; -1 when it failed.  A
 * catalog read again also means the api schema is back.
 */
static int
reload_catalog(struct pool *p, PGconn *conn)
{
	struct catalog *c;
	char			err[256];

	if (routes_load(conn, &c, err, sizeof(err)) != 0)
	{
		log_msg(LOG_WARN, "%s", err);
		return -1;
	}
	log_msg(LOG_INFO, "catalog: %d routes loaded", catalog_size(c));
	routes_publish(c);
	atomic_store(&p->schema_missing, false);
	return 0;
}

/* Wait for notifications; returns when the connection fails or on stop. */
static void
listen_loop(struct pool *p, PGconn *conn)
{
	while (!atomic_load(&p->stopping))
	{
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		bool		  reload = false;
		PGnotify	 *note;

		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			return;
		if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK)
		{
			log_msg(LOG_WARN, "listener: connection lost");
			pool_sweep(p);
			return;
		}
		while ((note = PQnotifies(conn)) != NULL)
		{
			reload = true;
			PQfreemem(note);
		}
		if (atomic_exchange(&p->reload, false))
			reload = true;
		if (reload && reload_catalog(p, conn) != 0)
			return;
	}
}

static void *
listener_main(void *arg)
{
	struct pool *p = arg;
	int			 backoff = BACKOFF_MIN_MS;

	while (!atomic_load(&p->stopping))
	{
		char	  err[256];
		PGconn	 *conn = db_connect(p, err, sizeof(err));
		PGresult *res;

		if (conn == NULL)
		{
			if (atomic_load(&p->fatal_set))
				break;
			/* the server is away: the pool's goodbyes may arrive late */
			pool_sweep(p);
			sleep_ms(p, backoff);
			backoff = next_backoff(backoff);
			continue;
		}
		/* LISTEN first, so no change between load and LISTEN is missed */
		res = PQexec(conn, LISTEN_SQL);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			atomic_store(&p->reload, false);
			if (reload_catalog(p, conn) == 0)
			{
				backoff = BACKOFF_MIN_MS;
				listen_loop(p, conn);
			}
		}
		else
			log_msg(LOG_WARN, "listener: %s", PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		sleep_ms(p, backoff);
		backoff = next_backoff(backoff);
	}
	return NULL;
}

struct pool *
pool_create(const char *database_url, int size)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->slots = calloc((size_t) size, sizeof(*p->slots));
	if (p->slots == NULL)
	{
		free(p);
		return NULL;
	}
	p->url = database_url;
	p->size = size;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	return p;
}

int
pool_start(struct pool *p, char *err, size_t errlen)
{
	if (pthread_create(&p->reconnector, NULL, reconnector_main, p) != 0 ||
		pthread_create(&p->listener, NULL, listener_main, p) != 0)
	{
		snprintf(err, errlen, "cannot start database threads");
		return -1;
	}
	p->threads_started = true;
	return 0;
}

void
pool_stop(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->wake);
	fail_waiters(p);
	pthread_mutex_unlock(&p->lock);
	if (p->threads_started)
	{
		pthread_join(p->reconnector, NULL);
		pthread_join(p->listener, NULL);
	}
	for (int i = 0; i < p->size; i++)
	{
		PQfreeCancel(p->slots[i].cancel);
		PQfinish(p->slots[i].conn);
	}
	free(p->slots);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

bool
pool_ready(const struct pool *p)
{
	/* a racy read is fine for a health probe */
	return __atomic_load_n(&p->n_up, __ATOMIC_RELAXED) > 0 &&
		   !atomic_load(&p->schema_missing);
}

int
pool_cancel_busy(struct pool *p)
{
	PGcancel **todo = calloc((size_t) p->size, sizeof(*todo));
	int		   n = 0;

	if (todo == NULL)
		return 0;
	atomic_store(&p->cancelling, true);
	/* taken out of their slots: slot_down cannot free them meanwhile */
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->size; i++)
		if (p->slots[i].state == SLOT_BUSY && p->slots[i].cancel != NULL)
		{
			todo[n++] = p->slots[i].cancel;
			p->slots[i].cancel = NULL;
		}
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < n; i++)
	{
		char err[256];

		if (!PQcancel(todo[i], err, sizeof(err)))
			log_msg(LOG_WARN, "database: cannot cancel a query: %s", err);
		PQfreeCancel(todo[i]);
	}
	free(todo);
	return n;
}

void
pool_request_reload(struct pool *p)
{
	atomic_store(&p->reload, true);
}

const char *
pool_fatal(struct pool *p)
{
	return atomic_load(&p->fatal_set) ? p->fatal : NULL;
}

/* Called with the lock held. */
static void
slot_down(struct pool *p, int i)
{
	PQfreeCancel(p->slots[i].cancel);
	PQfinish(p->slots[i].conn);
	p->slots[i].cancel = NULL;
	p->slots[i].conn = NULL;
	p->slots[i].state = SLOT_DOWN;
	p->n_up--;
	/* the listener also sleeps on wake: a signal could miss the reconnector */
	pthread_cond_broadcast(&p->wake);
	if (p->n_up == 0)
		fail_waiters(p); /* nothing will be freed: answer 503 now */
}

static int
deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L)
	{
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
	return 0;
}

/*
 * A connection whose backend was terminated while idle has the server's
 * goodbye (or EOF) waiting on its socket: read it without blocking so a
 * dead connection is noticed before a request is sent on it.
 */
static bool
slot_alive(PGconn *conn)
{
	return PQconsumeInput(conn) != 0 && PQstatus(conn) == CONNECTION_OK &&
		   PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static int
pool_acquire(struct pool *p, int wait_ms)
{
	struct timespec deadline;
	struct waiter	me;
	PGconn		   *conn;
	int				i = -1;

	deadline_after(&deadline, wait_ms);
	pthread_cond_init(&me.cond, NULL);
	pthread_mutex_lock(&p->lock);
	while (!atomic_load(&p->stopping) && p->n_up > 0)
	{
		/* queue-jumping is only allowed when nobody is queued */
		i = p->queue_head == NULL ? find_slot(p, SLOT_IDLE) : -1;
		if (i >= 0)
			p->slots[i].state = SLOT_BUSY;
		else
		{
			int rc = 0;

			me.slot = -1;
			me.gave_up = false;
			me.next = NULL;
			/* every way out of the wait below takes me off the queue */
			if (p->queue_tail != NULL)
				p->queue_tail->next = &me;
			else
				p->queue_head = &me; /* cppcheck-suppress autoVariables */
			p->queue_tail = &me;	 /* cppcheck-suppress autoVariables */
			while (me.slot < 0 && !me.gave_up && rc != ETIMEDOUT)
				rc = pthread_cond_timedwait(&me.cond, &p->lock, &deadline);
			if (me.slot < 0)
			{
				dequeue(p, &me);
				break;
			}
			i = me.slot;
		}

		/*
		 * Slot i is BUSY now and belongs to this thread alone (the
		 * reconnector only takes DOWN slots, find_slot here only IDLE
		 * ones, hand_to_waiter only the caller's own slot), so it is
		 * checked without the lock; the lock is taken again only to mark
		 * it down.  me is off the queue by now: whoever handed the slot
		 * over unlinked it and signalled under the lock.
		 */
		conn = p->slots[i].conn;
		pthread_mutex_unlock(&p->lock);
		if (slot_alive(conn))
		{
			pthread_cond_destroy(&me.cond);
			return i;
		}
		log_msg(LOG_WARN, "database: pooled connection lost");
		pthread_mutex_lock(&p->lock);
		slot_down(p, i);
		i = -1;
	}
	pthread_mutex_unlock(&p->lock);
	pthread_cond_destroy(&me.cond);
	return i;
}

static void
pool_release(struct pool *p, int i, bool broken)
{
	pthread_mutex_lock(&p->lock);
	if (broken)
		slot_down(p, i);
	else if (!hand_to_waiter(p, i))
		p->slots[i].state = SLOT_IDLE;
	pthread_mutex_unlock(&p->lock);
}

/*
 * The listener lost its connection or cannot connect, most often because
 * the server went away: check the idle connections now (and at each of
 * the listener's retries) rather than on the next request,
 * so that /ready answers 503 on a quiet gateway too and the reconnector
 * starts at once.  Each is claimed like a request would claim it.
 */
static void
pool_sweep(struct pool *p)
{
	for (int i = 0; i < p->size; i++)
	{
		PGconn *conn;

		pthread_mutex_lock(&p->lock);
		if (p->slots[i].state != SLOT_IDLE)
		{
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		p->slots[i].state = SLOT_BUSY;
		conn = p->slots[i].conn;
		pthread_mutex_unlock(&p->lock);
		pool_release(p, i, !slot_alive(conn));
	}
}

static char *
copy_value(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

/*
 * The dispatch statement itself names what is missing: the extension was
 * dropped (or is being reinstalled).  Every request would fail alike, so
 * the database is not ready until a statement succeeds again.
 */
static bool
schema_sqlstate(const char *state)
{
	return strcmp(state, "3F000") == 0 || strcmp(state, "42883") == 0 ||
		   strcmp(state, "42P01") == 0;
}

/* Errors that say the connection, not the request, is at fault. */
static bool
connection_sqlstate(const char *state)
{
	return state == NULL || strncmp(state, "08", 2) == 0 ||
		   strncmp(state, "57P0", 4) == 0 || strcmp(state, "26000") == 0;
}

void
pool_dispatch(struct pool *p, const char *const params[DISPATCH_NPARAMS],
			  int wait_ms, struct dispatch_result *out)
{
	PGresult   *res;
	PGconn	   *conn;
	const char *state;
	bool		broken = false;
	int			i;

	memset(out, 0, sizeof(*out));
	out->outcome = DISPATCH_UNAVAILABLE;
	i = pool_acquire(p, wait_ms);
	if (i < 0)
		return;
	conn = p->slots[i].conn;
	res = PQexecPrepared(conn, DISPATCH_STMT, DISPATCH_NPARAMS, params, NULL,
						 NULL, 0);
	switch (PQresultStatus(res))
	{
		case PGRES_TUPLES_OK:
			if (PQntuples(res) != 1 || PQnfields(res) != 3 ||
				PQgetisnull(res, 0, 0))
			{
				out->outcome = DISPATCH_ERROR;
				snprintf(out->message, sizeof(out->message),
						 "dispatch returned %d rows of %d columns",
						 PQntuples(res), PQnfields(res));
				break;
			}
			out->outcome = DISPATCH_OK;
			/* read first: a store on every answer would bounce the line
			 * between the connection threads */
			if (atomic_load(&p->schema_missing))
				atomic_store(&p->schema_missing, false);
			out->status = atoi(PQgetvalue(res, 0, 0));
			out->headers = copy_value(res, 1);
			out->body = copy_value(res, 2);
			break;
		default:
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			first_line(out->message, sizeof(out->message),
					   res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
			snprintf(out->sqlstate, sizeof(out->sqlstate), "%s",
					 state ? state : "");
			if (PQstatus(conn) != CONNECTION_OK || connection_sqlstate(state))
			{
				out->outcome = DISPATCH_UNAVAILABLE;
				broken = true;
			}
			else if (strcmp(state, SQLSTATE_UNKNOWN_ROUTE) == 0)
			{
				out->outcome = DISPATCH_UNKNOWN_ROUTE;
				pool_request_reload(p);
			}
			else if (schema_sqlstate(state))
			{
				/* the listener's reload finds out when it is back */
				out->outcome = DISPATCH_UNAVAILABLE;
				atomic_store(&p->schema_missing, true);
				pool_request_reload(p);
			}
			else if (strcmp(state, "57014") == 0 &&
					 atomic_load(&p->cancelling))
				out->outcome = DISPATCH_UNAVAILABLE; /* cut by the stop */
			else
				out->outcome = DISPATCH_ERROR;
			break;
	}
	PQclear(res);
	if (!broken && PQtransactionStatus(conn) != PQTRANS_IDLE)
		broken = true; /* never hand out a connection mid-transaction */
	pool_release(p, i, broken);
}

void
dispatch_result_free(struct dispatch_result *r)
{
	free(r->headers);
	free(r->body);
	r->headers = r->body = NULL;
}
