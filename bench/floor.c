/*
 * bench/floor.c: the floor of a separate-process HTTP -> PostgreSQL proxy,
 * for bench/floor.sh (bench/README.md, finding 12).
 *
 * A thread per client connection, each with its own database connection:
 * a blocking recv() until the end of the request head, one
 * PQexecPrepared() of the gateway's own statement with the parameters fixed
 * at start, one sendmsg() of status line, two headers and the body.  No
 * parsing, routing, checking, logging or pooling: whatever the real
 * gateway spends beyond this is the price of being a real gateway.  GET
 * requests only (a body would be read as the next request).
 *
 * Two costs of libmicrohttpd 0.9.75 can be switched on to measure their
 * share: FLOOR_CLEAR=BYTES clears that much memory per request, as the
 * library clears its connection pool (1.5 times MHD_OPTION_CONNECTION_
 * MEMORY_LIMIT), and FLOOR_SELECT=1 waits in select() before each recv(),
 * as the library's connection threads do.  FLOOR_SHARED=1 takes the
 * database connection from a shared pool of FLOOR_CONNS for each request
 * instead, as the gateway does.
 *
 *   floor PORT   with FLOOR_CONNINFO, FLOOR_ROUTE, FLOOR_PATH and, when the
 *                route has them, FLOOR_QUERY and FLOOR_AUTHZ (the dispatch
 *                parameters; no body, and the client address is 127.0.0.1)
 *
 * Listens on 127.0.0.1 only; stopped by its caller with SIGTERM.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libpq-fe.h>

#define DISPATCH_SQL                                                        \
	"SELECT status, headers, body FROM api.dispatch($1::int4, $2, $3, $4, " \
	"$5, $6, $7)"
#define HEAD_MAX 16384

static const char *conninfo;
static const char *params[7];
static size_t	   clear_bytes;
static int		   use_select;

/* FLOOR_SHARED: a pool handed out first-idle-first, as the gateway's is */
static PGconn		 **shared;
static int			  *shared_busy;
static int			   shared_size;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  shared_free = PTHREAD_COND_INITIALIZER;

static PGconn *
connect_prepared(void)
{
	PGconn	 *conn = PQconnectdb(conninfo);
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "floor: %s", PQerrorMessage(conn));
		exit(1);
	}
	res = PQprepare(conn, "dispatch", DISPATCH_SQL, 7, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "floor: %s", PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
	return conn;
}

static int
shared_take(void)
{
	pthread_mutex_lock(&shared_lock);
	for (;;)
	{
		for (int i = 0; i < shared_size; i++)
			if (!shared_busy[i])
			{
				shared_busy[i] = 1;
				pthread_mutex_unlock(&shared_lock);
				return i;
			}
		pthread_cond_wait(&shared_free, &shared_lock);
	}
}

static void
shared_give(int i)
{
	pthread_mutex_lock(&shared_lock);
	shared_busy[i] = 0;
	pthread_cond_signal(&shared_free);
	pthread_mutex_unlock(&shared_lock);
}

/* Read until the end of a request head; false on EOF or error. */
static bool
read_head(int fd, char *buf, size_t *have, char **end)
{
	while ((*end = memmem(buf, *have, "\r\n\r\n", 4)) == NULL)
	{
		ssize_t n;

		if (*have == HEAD_MAX)
			return false;
		if (use_select)
		{
			fd_set rs;

			FD_ZERO(&rs);
			FD_SET(fd, &rs);
			if (select(fd + 1, &rs, NULL, NULL, NULL) < 0)
				return false;
		}
		n = recv(fd, buf + *have, HEAD_MAX - *have, 0);
		if (n <= 0)
			return false;
		*have += (size_t) n;
	}
	return true;
}

static bool
answer(int fd, PGconn *conn)
{
	PGresult *res = PQexecPrepared(conn, "dispatch", 7, params, NULL, NULL, 0);
	char	  head[128];
	const char *body;
	int			head_len;
	bool		ok;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		fprintf(stderr, "floor: %s", PQresultErrorMessage(res));
		PQclear(res);
		return false;
	}
	body = PQgetvalue(res, 0, 2);
	head_len = snprintf(head, sizeof(head),
						"HTTP/1.1 %s OK\r\nContent-Type: application/json\r\n"
						"Content-Length: %zu\r\n\r\n",
						PQgetvalue(res, 0, 0), strlen(body));
	{
		struct iovec  iov[2] = {{head, (size_t) head_len},
								{(void *) body, strlen(body)}};
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

		ok = sendmsg(fd, &msg, MSG_NOSIGNAL) > 0;
	}
	PQclear(res);
	return ok;
}

static void *
serve(void *arg)
{
	int		fd = (int) (long) arg;
	char	buf[HEAD_MAX];
	size_t	have = 0;
	char   *end;
	char   *scratch = clear_bytes ? malloc(clear_bytes) : NULL;
	PGconn *own = shared ? NULL : connect_prepared();

	while (read_head(fd, buf, &have, &end))
	{
		size_t used = (size_t) (end + 4 - buf);
		int	   slot = shared ? shared_take() : -1;
		bool   ok = answer(fd, shared ? shared[slot] : own);

		if (shared)
			shared_give(slot);
		if (!ok)
			break;
		if (scratch)
		{
			memset(scratch, 0, clear_bytes);
			/* keep the compiler from dropping a store nobody reads */
			__asm__ volatile("" : : "r"(scratch) : "memory");
		}
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (own)
		PQfinish(own);
	free(scratch);
	close(fd);
	return NULL;
}

/* An optional setting: unset and empty are NULL (SQL NULL). */
static const char *
maybe(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static const char *
need(const char *name)
{
	const char *v = maybe(name);

	if (v == NULL)
	{
		fprintf(stderr, "floor: %s is not set\n", name);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	int				   one = 1;
	int				   listener;
	const char		  *clear;

	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535)
	{
		fprintf(stderr, "usage: floor PORT (see bench/floor.c)\n");
		return 2;
	}
	conninfo = need("FLOOR_CONNINFO");
	params[0] = need("FLOOR_ROUTE");
	params[1] = need("FLOOR_PATH");
	params[2] = maybe("FLOOR_QUERY");
	params[5] = maybe("FLOOR_AUTHZ");
	params[6] = "127.0.0.1";
	clear = maybe("FLOOR_CLEAR");
	clear_bytes = clear ? strtoul(clear, NULL, 10) : 0;
	use_select = maybe("FLOOR_SELECT") != NULL;
	if (maybe("FLOOR_SHARED"))
	{
		shared_size = atoi(need("FLOOR_CONNS"));
		if (shared_size <= 0)
		{
			fprintf(stderr, "floor: FLOOR_CONNS must be a positive number\n");
			return 2;
		}
		shared = calloc(shared_size, sizeof(*shared));
		shared_busy = calloc(shared_size, sizeof(*shared_busy));
		for (int i = 0; i < shared_size; i++)
			shared[i] = connect_prepared();
	}

	listener = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_port = htons((uint16_t) atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(listener, 128) != 0)
	{
		perror("floor: listen");
		return 1;
	}
	for (;;)
	{
		int		  fd = accept(listener, NULL, NULL);
		pthread_t thread;

		if (fd < 0)
			continue;
		/* small answers leave at once, as libpq's statements do */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&thread, NULL, serve, (void *) (long) fd) != 0)
		{
			close(fd);
			continue;
		}
		pthread_detach(thread);
	}
}
