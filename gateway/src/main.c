/*
 * pgapp-gateway — HTTP in front of PostgreSQL (see docs/ARCHITECTURE.md).
 *
 * main() is the table of contents: config → listen → pool → routes →
 * signals → serve, then drain and stop.  Only this file logs fatal
 * errors and decides the exit code (2: refusing to start).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "deadline.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "routes.h"

#define EXIT_REFUSED 2
/* Idle keep-alive connections are closed after this much quiet. */
#define DRAIN_QUIET_MS 500
/* After cancelling, how long the cancelled requests may take to answer. */
#define CANCEL_GRACE_MS 2000

/* Set by the signal handler, read by the main loop. */
static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static const char *
env_get(const char *name)
{
	return getenv(name);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Wait until srv is drained, at most ms; true when it is. */
static bool
wait_drained(struct server *srv, long ms)
{
	for (long waited = 0; !server_drained(srv, DRAIN_QUIET_MS); waited += 50)
	{
		if (waited >= ms)
			return false;
		sleep_ms(50);
	}
	return true;
}

/*
 * Wait for answers in progress, at most drain_seconds; then cancel the
 * queries still running, so that the process exits promptly and nothing
 * unacknowledged commits.  False when requests are still stuck after
 * that (a database that does not answer the cancel).
 */
static bool
drain(struct server *srv, struct pool *pool, int drain_seconds)
{
	int cancelled;

	if (wait_drained(srv, drain_seconds * 1000L))
		return true;
	log_msg(LOG_WARN,
			"drain: %d requests still running after %d s: cancelling their "
			"queries",
			server_in_flight(srv), drain_seconds);
	cancelled = pool_cancel_busy(pool);
	if (wait_drained(srv, CANCEL_GRACE_MS))
		return true;
	log_msg(LOG_WARN,
			"drain: %d requests still running (%d queries cancelled)",
			server_in_flight(srv), cancelled);
	return false;
}

int
main(void)
{
	struct config  cfg;
	struct server *srv;
	struct pool	  *pool;
	char		   err[512];
	const char	  *fatal = NULL;

	if (config_load(&cfg, env_get, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "pgapp-gateway: %s\n", err);
		return EXIT_REFUSED;
	}
	install_signals();
	if (log_start_batching(cfg.log_flush_ms) != 0)
	{
		fprintf(stderr, "pgapp-gateway: cannot start the log flusher\n");
		return EXIT_FAILURE;
	}

	pool = pool_create(cfg.database_url, cfg.workers);
	if (pool == NULL || pool_start(pool, err, sizeof(err)) != 0 ||
		deadline_start(cfg.request_deadline, err, sizeof(err)) != 0)
	{
		fprintf(stderr, "pgapp-gateway: %s\n", pool ? err : "out of memory");
		return EXIT_FAILURE;
	}
	srv = server_start(&cfg, pool, err, sizeof(err));
	if (srv == NULL)
	{
		fprintf(stderr, "pgapp-gateway: %s\n", err);
		return EXIT_FAILURE;
	}
	log_msg(LOG_INFO,
			"listening on %s:%d (pool %d, environment %s); routes load "
			"when the database answers",
			cfg.listen_addr, cfg.port, cfg.workers, cfg.environment);

	while (!stop_requested && (fatal = pool_fatal(pool)) == NULL)
		sleep_ms(100);

	if (fatal != NULL)
	{
		log_flush();
		fprintf(stderr, "pgapp-gateway: %s\n", fatal);
		server_stop(srv);
		log_flush();
		_exit(EXIT_REFUSED); /* database threads may be mid-connect */
	}
	log_msg(LOG_INFO, "stopping: no new connections, draining");
	server_quiesce(srv);
	if (!drain(srv, pool, cfg.drain_seconds))
	{
		/* their threads are stuck in libpq: server_stop would wait */
		log_msg(LOG_WARN, "stopped without waiting for them");
		log_flush();
		_exit(EXIT_SUCCESS);
	}
	server_stop(srv);
	deadline_stop();
	pool_stop(pool);
	routes_shutdown();
	config_free(&cfg);
	log_msg(LOG_INFO, "stopped");
	log_stop_batching();
	return EXIT_SUCCESS;
}
