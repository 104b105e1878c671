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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "routes.h"

#define DISPATCH_STMT "pgapp_dispatch"
#define DISPATCH_SQL                                                         \
	"SELECT status, headers, body FROM api.dispatch($1::int4, $2, $3, $4, " \
	"$5, $6, $7)"
#define ROLE_CHECK_SQL                                                       \
	"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = "        \
	"current_user"
#define LISTEN_SQL "LISTEN pgapp_routes"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/*
 * A slot's state is guarded by the lock.  The reconnector fills DOWN
 * slots (CONNECTING, then NEW: connected, handed to the slot's home
 * loop); the loops share the rest: any loop may claim an IDLE connection
 * (BUSY, or CHECKING while its home reads what an idle connection was
 * sent).  A claimed slot belongs to the claiming thread alone until it
 * publishes the slot's new home under the lock.  The socket sits in the
 * epoll set of its home loop (reg), which is where its result is read.
 */
enum slot_state
{
	SLOT_DOWN,
	SLOT_CONNECTING,
	SLOT_NEW,
	SLOT_IDLE,
	SLOT_BUSY,
	SLOT_CHECKING
};

struct slot
{
	enum slot_state state;		/* under the lock */
	struct pool_part *home;		/* under the lock: the loop that uses it */
	PGconn *conn;
	/* the thread that has the slot claimed, or its home while BUSY */
	struct pool_part *reg;		/* whose epoll set holds the socket */
	bool flushing;				/* the request is not all sent: wait for POLLOUT */
	struct dispatch_job *job;	/* running on this connection, or NULL */
	PGresult *res;				/* the job's first result */
};

struct pool
{
	const char *url;
	int size;
	struct slot *slots;
	atomic_int n_up;			/* slots connected, for /ready */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* a slot went down, or stop */
	pthread_t reconnector, listener;
	bool threads_started;
	atomic_bool stopping;
	atomic_bool reload;
	atomic_bool fatal_claimed;	/* one writer of fatal[] */
	atomic_bool fatal_set;		/* fatal[] is complete */
	char fatal[256];
	/* under the lock: requests waiting for a connection, oldest first */
	struct dispatch_job *queue_head, *queue_tail;
	int nparts;
	struct pool_part *parts;
};

/* One event loop's side of the pool. */
struct pool_part
{
	struct pool *pool;
	int epfd;					/* its slots' sockets and notify_fd */
	int notify_fd;				/* eventfd: a slot handed over, or all down */
	atomic_int waiting;			/* its jobs in the queue */
	bool abandoned;
};

#define NOTIFY_TAG UINT32_MAX

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
 * Connect with the URL expanded by libpq (never a conninfo assembled
 * here).  The defaults come first so that the URL can override them.
 */
static PGconn *
db_connect(struct pool *p, char *err, size_t errlen)
{
	const char *const keys[] = {"connect_timeout", "application_name",
								"client_encoding", "dbname", NULL};
	const char *const values[] = {"2", "pgapp-gateway", "UTF8", p->url, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	PGresult *res;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		first_line(err, errlen, conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, notice_to_log, NULL);
	res = PQexec(conn, ROLE_CHECK_SQL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		first_line(err, errlen, PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "f") != 0)
	{
		char msg[200];

		snprintf(msg, sizeof(msg),
				 "database role \"%.64s\" is a superuser or has BYPASSRLS: "
				 "the gateway refuses to use it",
				 PQuser(conn));
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
	PGconn *conn = db_connect(p, err, errlen);
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

/* Called with the lock held. */
static int
find_down(struct pool *p)
{
	for (int i = 0; i < p->size; i++)
		if (p->slots[i].state == SLOT_DOWN)
			return i;
	return -1;
}

/*
 * Fill DOWN slots, one at a time, with connections made here (blocking,
 * off the loop) and hand each over: NEW, then a word on the loop's
 * eventfd.  The loop makes it UP.
 */
static void *
reconnector_main(void *arg)
{
	struct pool *p = arg;
	int backoff = BACKOFF_MIN_MS;
	bool was_failing = false;

	while (!atomic_load(&p->stopping))
	{
		char err[256];
		PGconn *conn;
		int down;
		uint64_t one = 1;

		pthread_mutex_lock(&p->lock);
		down = find_down(p);
		if (down < 0)
		{
			/* re-checked under the lock, or pool_stop's wake-up is lost */
			if (!atomic_load(&p->stopping))
				pthread_cond_wait(&p->wake, &p->lock);
			pthread_mutex_unlock(&p->lock);
			continue;
		}
		p->slots[down].state = SLOT_CONNECTING;
		pthread_mutex_unlock(&p->lock);

		conn = pool_connect(p, err, sizeof(err));
		if (conn != NULL && PQsetnonblocking(conn, 1) != 0)
		{
			first_line(err, sizeof(err), PQerrorMessage(conn));
			PQfinish(conn);
			conn = NULL;
		}
		pthread_mutex_lock(&p->lock);
		p->slots[down].conn = conn;
		p->slots[down].state = conn != NULL ? SLOT_NEW : SLOT_DOWN;
		pthread_mutex_unlock(&p->lock);
		if (conn == NULL)
		{
			if (atomic_load(&p->fatal_set))
				break;			/* main reports it and exits */
			if (!was_failing)
				log_msg(LOG_WARN, "database: cannot connect: %s", err);
			was_failing = true;
			sleep_ms(p, backoff);
			backoff = next_backoff(backoff);
			continue;
		}
		if (write(p->slots[down].home->notify_fd, &one, sizeof(one)) < 0)
			log_msg(LOG_ERROR, "database: cannot wake the event loop");
		if (was_failing)
			log_msg(LOG_INFO, "database: connected again");
		was_failing = false;
		backoff = BACKOFF_MIN_MS;
	}
	return NULL;
}

/* Reload the catalog on conn and publish it; -1 when it failed. */
static int
reload_catalog(PGconn *conn)
{
	struct catalog *c;
	char err[256];

	if (routes_load(conn, &c, err, sizeof(err)) != 0)
	{
		log_msg(LOG_WARN, "%s", err);
		return -1;
	}
	log_msg(LOG_INFO, "catalog: %d routes loaded", catalog_size(c));
	routes_publish(c);
	return 0;
}

/* Wait for notifications; returns when the connection fails or on stop. */
static void
listen_loop(struct pool *p, PGconn *conn)
{
	while (!atomic_load(&p->stopping))
	{
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		bool reload = false;
		PGnotify *note;

		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			return;
		if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK)
		{
			log_msg(LOG_WARN, "listener: connection lost");
			return;
		}
		while ((note = PQnotifies(conn)) != NULL)
		{
			reload = true;
			PQfreemem(note);
		}
		if (atomic_exchange(&p->reload, false))
			reload = true;
		if (reload && reload_catalog(conn) != 0)
			return;
	}
}

static void *
listener_main(void *arg)
{
	struct pool *p = arg;
	int backoff = BACKOFF_MIN_MS;

	while (!atomic_load(&p->stopping))
	{
		char err[256];
		PGconn *conn = db_connect(p, err, sizeof(err));
		PGresult *res;

		if (conn == NULL)
		{
			if (atomic_load(&p->fatal_set))
				break;
			sleep_ms(p, backoff);
			backoff = next_backoff(backoff);
			continue;
		}
		/* LISTEN first, so no change between load and LISTEN is missed */
		res = PQexec(conn, LISTEN_SQL);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
		{
			atomic_store(&p->reload, false);
			if (reload_catalog(conn) == 0)
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

static int
part_init(struct pool *p, int k)
{
	struct pool_part *pp = &p->parts[k];

	pp->pool = p;
	pp->epfd = epoll_create1(EPOLL_CLOEXEC);
	pp->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pp->epfd < 0 || pp->notify_fd < 0)
		return -1;
	return epoll_ctl(pp->epfd, EPOLL_CTL_ADD, pp->notify_fd,
					 &(struct epoll_event){.events = EPOLLIN,
										   .data.u32 = NOTIFY_TAG});
}

static void
pool_free(struct pool *p)
{
	for (int k = 0; p->parts != NULL && k < p->nparts; k++)
	{
		if (p->parts[k].epfd >= 0)
			close(p->parts[k].epfd);
		if (p->parts[k].notify_fd >= 0)
			close(p->parts[k].notify_fd);
	}
	free(p->parts);
	free(p->slots);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

struct pool *
pool_create(const char *database_url, int size, int nparts)
{
	struct pool *p = calloc(1, sizeof(*p));
	bool ok;

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->url = database_url;
	p->size = size;
	p->nparts = nparts < size ? nparts : size;
	p->slots = calloc((size_t) size, sizeof(*p->slots));
	p->parts = calloc((size_t) p->nparts, sizeof(*p->parts));
	ok = p->slots != NULL && p->parts != NULL;
	for (int k = 0; ok && k < p->nparts; k++)
		p->parts[k].epfd = p->parts[k].notify_fd = -1;
	for (int k = 0; ok && k < p->nparts; k++)
		ok = part_init(p, k) == 0;
	if (!ok)
	{
		pool_free(p);
		return NULL;
	}
	for (int i = 0; i < size; i++)
		p->slots[i].home = &p->parts[i % p->nparts];
	return p;
}

int
pool_parts(const struct pool *p)
{
	return p->nparts;
}

struct pool_part *
pool_part(struct pool *p, int k)
{
	return &p->parts[k];
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

/* After the event loops have stopped: no job is left (pool_abandon). */
void
pool_stop(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (p->threads_started)
	{
		pthread_join(p->reconnector, NULL);
		pthread_join(p->listener, NULL);
	}
	for (int i = 0; i < p->size; i++)
	{
		PQclear(p->slots[i].res);
		PQfinish(p->slots[i].conn);
	}
	pool_free(p);
}

bool
pool_ready(const struct pool *p)
{
	/* a racy read is fine for a health probe */
	return atomic_load(&p->n_up) > 0;
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

/* ---- the event loops' side ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wake_part(struct pool_part *pp)
{
	uint64_t one = 1;

	if (write(pp->notify_fd, &one, sizeof(one)) < 0)
		log_msg(LOG_ERROR, "database: cannot wake an event loop");
}

/*
 * Move slot i's socket into pp's epoll set (or out of every set: pp NULL).
 * The caller has the slot claimed.
 */
static void
register_with(struct pool *p, int i, struct pool_part *pp, uint32_t events)
{
	struct slot *s = &p->slots[i];
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t) i};

	if (s->reg == pp)
	{
		if (pp != NULL)
			epoll_ctl(pp->epfd, EPOLL_CTL_MOD, PQsocket(s->conn), &ev);
		return;
	}
	if (s->reg != NULL)
		epoll_ctl(s->reg->epfd, EPOLL_CTL_DEL, PQsocket(s->conn), NULL);
	s->reg = pp;
	if (pp != NULL &&
		epoll_ctl(pp->epfd, EPOLL_CTL_ADD, PQsocket(s->conn), &ev) != 0)
		log_msg(LOG_ERROR, "database: epoll_ctl: %s", strerror(errno));
}

/* The claimed slot i lost its connection: back to the reconnector. */
static void
slot_lost(struct pool *p, int i)
{
	struct slot *s = &p->slots[i];

	register_with(p, i, NULL, 0);
	PQclear(s->res);
	PQfinish(s->conn);
	s->res = NULL;
	s->conn = NULL;
	s->job = NULL;
	s->flushing = false;
	pthread_mutex_lock(&p->lock);
	s->state = SLOT_DOWN;
	/* the listener also sleeps on wake: a signal could miss the reconnector */
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (atomic_fetch_sub(&p->n_up, 1) == 1)
		for (int k = 0; k < p->nparts; k++)
			wake_part(&p->parts[k]);	/* nothing is up: waiters get 503 */
}

/* Called with the lock held: an idle slot, pp's own first; claimed. */
static int
claim_idle(struct pool_part *pp)
{
	struct pool *p = pp->pool;
	int other = -1;

	for (int i = 0; i < p->size; i++)
	{
		if (p->slots[i].state != SLOT_IDLE)
			continue;
		if (p->slots[i].home != pp)
		{
			if (other < 0)
				other = i;
			continue;
		}
		other = i;
		break;
	}
	if (other >= 0)
	{
		p->slots[other].state = SLOT_BUSY;
		p->slots[other].home = pp;
	}
	return other;
}

/* Called with the lock held. */
static void
enqueue(struct pool *p, struct dispatch_job *job, bool at_head)
{
	if (at_head)
	{
		job->next = p->queue_head;
		p->queue_head = job;
		if (p->queue_tail == NULL)
			p->queue_tail = job;
	}
	else
	{
		job->next = NULL;
		if (p->queue_tail != NULL)
			p->queue_tail->next = job;
		else
			p->queue_head = job;
		p->queue_tail = job;
	}
	atomic_fetch_add(&job->part->waiting, 1);
}

/* Called with the lock held: the oldest waiter, or NULL. */
static struct dispatch_job *
dequeue(struct pool *p)
{
	struct dispatch_job *job = p->queue_head;

	if (job == NULL)
		return NULL;
	p->queue_head = job->next;
	if (p->queue_head == NULL)
		p->queue_tail = NULL;
	job->next = NULL;
	atomic_fetch_sub(&job->part->waiting, 1);
	return job;
}

/*
 * pp's own waiters that must give up (expired, or all of them), in queue
 * order, unlinked; called with the lock held.
 */
static struct dispatch_job *
take_own(struct pool_part *pp, long long expired_before, bool all)
{
	struct pool *p = pp->pool;
	struct dispatch_job *out = NULL, **out_tail = &out;
	struct dispatch_job **link = &p->queue_head, *prev = NULL;

	while (*link != NULL)
	{
		struct dispatch_job *job = *link;

		if (job->part != pp || (!all && job->deadline_ms > expired_before))
		{
			prev = job;
			link = &job->next;
			continue;
		}
		*link = job->next;
		if (p->queue_tail == job)
			p->queue_tail = prev;
		job->next = NULL;
		*out_tail = job;
		out_tail = &job->next;
		atomic_fetch_sub(&pp->waiting, 1);
	}
	return out;
}

static void
finish_all(struct dispatch_job *list, const char *message)
{
	while (list != NULL)
	{
		struct dispatch_job *job = list;

		list = job->next;
		if (message != NULL)
			first_line(job->result.message, sizeof(job->result.message),
					   message);
		job->done(job);
	}
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

/*
 * Send job on slot i, claimed by the calling loop, and hand the slot to
 * the job's loop, which reads the result.  false: the connection is
 * broken and the slot lost; the job was not sent and can go elsewhere.
 */
static bool
start_job(struct pool *p, int i, struct dispatch_job *job)
{
	struct slot *s = &p->slots[i];
	int flushed;

	if (s->reg != job->part)
		register_with(p, i, NULL, 0);	/* nobody reads it while it moves */
	if (!slot_alive(s->conn) ||
		!PQsendQueryPrepared(s->conn, DISPATCH_STMT, DISPATCH_NPARAMS,
							 job->params, NULL, NULL, 0) ||
		(flushed = PQflush(s->conn)) < 0)
	{
		log_msg(LOG_WARN, "database: pooled connection lost");
		slot_lost(p, i);
		return false;
	}
	s->job = job;
	s->flushing = flushed > 0;
	pthread_mutex_lock(&p->lock);
	s->home = job->part;		/* publishes job and flushing to it */
	pthread_mutex_unlock(&p->lock);
	register_with(p, i, job->part, EPOLLIN | (s->flushing ? EPOLLOUT : 0));
	return true;
}

/* Idle connections go to the oldest waiters, whichever loop they are of. */
static void
serve_waiters(struct pool_part *pp)
{
	struct pool *p = pp->pool;

	for (;;)
	{
		struct dispatch_job *job;
		int i;

		pthread_mutex_lock(&p->lock);
		if (p->queue_head == NULL || (i = claim_idle(pp)) < 0)
		{
			pthread_mutex_unlock(&p->lock);
			return;
		}
		job = dequeue(p);
		pthread_mutex_unlock(&p->lock);
		if (!start_job(p, i, job))
		{
			pthread_mutex_lock(&p->lock);
			enqueue(p, job, true);
			pthread_mutex_unlock(&p->lock);
		}
	}
}

/* pp's BUSY slot i is free again: the oldest waiter gets it, or it idles. */
static void
release(struct pool_part *pp, int i)
{
	struct pool *p = pp->pool;
	struct dispatch_job *job;

	pthread_mutex_lock(&p->lock);
	if ((job = dequeue(p)) == NULL)
		p->slots[i].state = SLOT_IDLE;	/* still in pp's epoll set */
	pthread_mutex_unlock(&p->lock);
	if (job != NULL && !start_job(p, i, job))
	{
		pthread_mutex_lock(&p->lock);
		enqueue(p, job, true);
		pthread_mutex_unlock(&p->lock);
	}
}

/* Slots the reconnector handed to pp become idle connections. */
static void
collect_new(struct pool_part *pp)
{
	struct pool *p = pp->pool;
	uint64_t n;

	if (read(pp->notify_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_msg(LOG_ERROR, "database: eventfd: %s", strerror(errno));
	for (int i = 0; i < p->size; i++)
	{
		struct slot *s = &p->slots[i];
		bool fresh;

		pthread_mutex_lock(&p->lock);
		fresh = s->state == SLOT_NEW && s->home == pp;
		if (fresh)
			s->state = SLOT_BUSY;	/* claimed while it joins pp's set */
		pthread_mutex_unlock(&p->lock);
		if (!fresh)
			continue;
		atomic_fetch_add(&p->n_up, 1);
		register_with(p, i, pp, EPOLLIN);
		release(pp, i);
	}
}

static char *
copy_value(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

/* Errors that say the connection, not the request, is at fault. */
static bool
connection_sqlstate(const char *state)
{
	return state == NULL || strncmp(state, "08", 2) == 0 ||
		   strncmp(state, "57P0", 4) == 0 || strcmp(state, "26000") == 0;
}

/* The job's result into out; true when the connection is not reusable. */
static bool
read_result(struct pool *p, PGconn *conn, PGresult *res,
			struct dispatch_result *out)
{
	const char *state;

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
				return true;
			}
			if (strcmp(state, SQLSTATE_UNKNOWN_ROUTE) == 0)
			{
				out->outcome = DISPATCH_UNKNOWN_ROUTE;
				pool_request_reload(p);
			}
			else
				out->outcome = DISPATCH_ERROR;
			break;
	}
	/* never hand out a connection mid-transaction */
	return PQtransactionStatus(conn) != PQTRANS_IDLE;
}

/* The job on pp's slot i has its whole answer (or its connection failed). */
static void
complete(struct pool_part *pp, int i)
{
	struct pool *p = pp->pool;
	struct slot *s = &p->slots[i];
	struct dispatch_job *job = s->job;
	bool broken = read_result(p, s->conn, s->res, &job->result);

	PQclear(s->res);
	s->res = NULL;
	s->job = NULL;
	if (broken)
		slot_lost(p, i);
	else
		release(pp, i);
	job->done(job);
}

/* An idle connection of pp's set is readable: a notice, or its end. */
static void
check_idle(struct pool_part *pp, int i)
{
	struct pool *p = pp->pool;
	struct slot *s = &p->slots[i];
	bool claimed;

	pthread_mutex_lock(&p->lock);
	claimed = s->state == SLOT_IDLE && s->home == pp;
	if (claimed)
		s->state = SLOT_CHECKING;
	pthread_mutex_unlock(&p->lock);
	if (!claimed)
		return;					/* another loop took it meanwhile */
	if (PQconsumeInput(s->conn) != 0 && PQstatus(s->conn) == CONNECTION_OK)
	{
		pthread_mutex_lock(&p->lock);
		s->state = SLOT_IDLE;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	log_msg(LOG_WARN, "database: pooled connection lost");
	slot_lost(p, i);
}

/* Socket events of slot i in pp's set. */
static void
slot_event(struct pool_part *pp, int i, uint32_t events)
{
	struct pool *p = pp->pool;
	struct slot *s = &p->slots[i];
	enum slot_state state;
	PGresult *res;
	bool ok;

	pthread_mutex_lock(&p->lock);
	state = s->home == pp ? s->state : SLOT_DOWN;
	pthread_mutex_unlock(&p->lock);
	if (state == SLOT_IDLE)
	{
		check_idle(pp, i);
		return;
	}
	if (state != SLOT_BUSY || s->job == NULL)
		return;					/* not pp's, or an event from before a move */
	if (s->flushing && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
	{
		int flushed = PQflush(s->conn);

		if (flushed == 0)
		{
			s->flushing = false;
			register_with(p, i, pp, EPOLLIN);
		}
		else if (flushed < 0)
			events |= EPOLLERR;	/* PQconsumeInput reports it below */
	}
	if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	ok = PQconsumeInput(s->conn) != 0 && PQstatus(s->conn) == CONNECTION_OK;

	/*
	 * A broken connection stays "busy" forever, but PQgetResult() returns
	 * its error at once: its socket is gone, nothing can block.
	 */
	while (!ok || !PQisBusy(s->conn))
	{
		if ((res = PQgetResult(s->conn)) == NULL)
		{
			complete(pp, i);
			return;
		}
		if (s->res == NULL)
			s->res = res;
		else
			PQclear(res);
	}
}

int
pool_fd(const struct pool_part *pp)
{
	return pp->epfd;
}

int
pool_timeout_ms(struct pool_part *pp)
{
	struct pool *p = pp->pool;
	long long deadline = -1, left;

	if (atomic_load(&pp->waiting) == 0)
		return -1;
	pthread_mutex_lock(&p->lock);
	/* all wait equally long: pp's first in the queue expires first */
	for (struct dispatch_job *job = p->queue_head; job; job = job->next)
		if (job->part == pp)
		{
			deadline = job->deadline_ms;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	return left < 0 ? 0 : (int) (left > INT32_MAX ? INT32_MAX : left);
}

void
pool_run(struct pool_part *pp, bool readable)
{
	struct pool *p = pp->pool;
	struct epoll_event ev[64];
	int n = readable ? epoll_wait(pp->epfd, ev, 64, 0) : 0;
	struct dispatch_job *gone;

	for (int k = 0; k < n; k++)
	{
		if (ev[k].data.u32 == NOTIFY_TAG)
		{
			collect_new(pp);
			serve_waiters(pp);
		}
		else
			slot_event(pp, (int) ev[k].data.u32, ev[k].events);
	}
	if (atomic_load(&pp->waiting) == 0)
		return;
	pthread_mutex_lock(&p->lock);
	/* with no connection up, nothing will be freed: answer 503 now */
	gone = take_own(pp, now_ms(), atomic_load(&p->n_up) == 0);
	pthread_mutex_unlock(&p->lock);
	finish_all(gone, NULL);
}

void
pool_submit(struct pool_part *pp, struct dispatch_job *job, int wait_ms)
{
	struct pool *p = pp->pool;

	memset(&job->result, 0, sizeof(job->result));
	job->result.outcome = DISPATCH_UNAVAILABLE;
	job->part = pp;
	job->next = NULL;
	for (;;)
	{
		int i = -1;

		pthread_mutex_lock(&p->lock);
		/* queue-jumping is only allowed when nobody is queued */
		if (!pp->abandoned && p->queue_head == NULL)
			i = claim_idle(pp);
		if (i < 0)
		{
			bool refuse = pp->abandoned || atomic_load(&p->n_up) == 0;

			if (!refuse)
			{
				job->deadline_ms = now_ms() + wait_ms;
				enqueue(p, job, false);
			}
			pthread_mutex_unlock(&p->lock);
			if (refuse)
				job->done(job);
			return;
		}
		pthread_mutex_unlock(&p->lock);
		if (start_job(p, i, job))
			return;
	}
}

void
pool_abandon(struct pool_part *pp)
{
	struct pool *p = pp->pool;
	struct dispatch_job *gone;

	pthread_mutex_lock(&p->lock);
	pp->abandoned = true;
	gone = take_own(pp, 0, true);
	pthread_mutex_unlock(&p->lock);
	finish_all(gone, NULL);
	for (int i = 0; i < p->size; i++)
	{
		struct slot *s = &p->slots[i];
		struct dispatch_job *job;
		bool mine;

		pthread_mutex_lock(&p->lock);
		mine = s->state == SLOT_BUSY && s->home == pp && s->job != NULL;
		pthread_mutex_unlock(&p->lock);
		if (!mine)
			continue;
		/* mid-query: the connection cannot be reused */
		job = s->job;
		slot_lost(p, i);
		job->next = NULL;
		finish_all(job, "gateway stopping");
	}
}

void
dispatch_result_free(struct dispatch_result *r)
{
	free(r->headers);
	free(r->body);
	r->headers = r->body = NULL;
}
