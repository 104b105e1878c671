/*
 * deadline.c — the slow-sender watchdog (see deadline.h).
 *
 * The socket is only shut down, never closed, and only while the tracker
 * lock is held: libmicrohttpd reports a connection closed before it
 * closes the descriptor, so the descriptor cannot have been reused.
 */
#include <stddef.h>

#include "deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct conn_track
{
	struct conn_track *prev, *next;
	int				   fd;
	bool			   receiving;
	struct timespec	   since;
};

/* One watchdog per process: the list mirrors libmicrohttpd's own. */
static pthread_mutex_t	  tracks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	  tracks_stop_cond = PTHREAD_COND_INITIALIZER;
static struct conn_track *tracks;
static int				  deadline_seconds;
static bool				  running;
static pthread_t		  watchdog;

static double
elapsed_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - t->tv_sec) +
		   (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void *
watchdog_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&tracks_lock);
	while (running)
	{
		struct timespec wake;

		for (struct conn_track *t = tracks; t != NULL; t = t->next)
		{
			if (!t->receiving || elapsed_since(&t->since) < deadline_seconds)
				continue;
			t->receiving = false;
			shutdown(t->fd, SHUT_RDWR);
			log_msg(LOG_WARN,
					"connection cut: no complete request within %d s",
					deadline_seconds);
		}
		clock_gettime(CLOCK_REALTIME, &wake);
		wake.tv_nsec += 250000000L;
		if (wake.tv_nsec >= 1000000000L)
		{
			wake.tv_sec++;
			wake.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tracks_stop_cond, &tracks_lock, &wake);
	}
	pthread_mutex_unlock(&tracks_lock);
	return NULL;
}

int
deadline_start(int seconds, char *err, size_t errlen)
{
	deadline_seconds = seconds;
	running = true;
	if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0)
	{
		running = false;
		snprintf(err, errlen, "cannot start the request watchdog");
		return -1;
	}
	return 0;
}

void
deadline_stop(void)
{
	pthread_mutex_lock(&tracks_lock);
	if (!running)
	{
		pthread_mutex_unlock(&tracks_lock);
		return;
	}
	running = false;
	pthread_cond_signal(&tracks_stop_cond);
	pthread_mutex_unlock(&tracks_lock);
	pthread_join(watchdog, NULL);
}

struct conn_track *
deadline_conn_open(int fd)
{
	struct conn_track *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->fd = fd;
	t->receiving = true;
	clock_gettime(CLOCK_MONOTONIC, &t->since);
	pthread_mutex_lock(&tracks_lock);
	t->next = tracks;
	if (tracks != NULL)
		tracks->prev = t;
	tracks = t;
	pthread_mutex_unlock(&tracks_lock);
	return t;
}

void
deadline_conn_close(struct conn_track *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&tracks_lock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		tracks = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&tracks_lock);
	free(t);
}

void
deadline_request_received(struct conn_track *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&tracks_lock);
	t->receiving = false;
	pthread_mutex_unlock(&tracks_lock);
}

void
deadline_request_done(struct conn_track *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&tracks_lock);
	t->receiving = true;
	clock_gettime(CLOCK_MONOTONIC, &t->since);
	pthread_mutex_unlock(&tracks_lock);
}
