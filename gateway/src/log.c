/*
 * log.c — timestamped lines on stderr, bypassing stdio: each line is built
 * in a local buffer and reaches fd 2 through write(2) under one mutex, so
 * lines from concurrent threads never mix and no thread waits on the FILE
 * lock of stderr.  (A line is at most LOG_BUF bytes; a batch is one
 * write of up to LOG_BATCH bytes, whole to a file, and to a pipe it may be
 * split only against writers outside this process.)
 *
 * Access lines (log_access) are batched: they collect in a buffer that a
 * flusher thread writes at most GATEWAY_LOG_FLUSH_MS after its first line,
 * with one write(2) for the batch.  Under load that turns a system call per
 * request into one per batch (bench/README.md, finding 7).  Any other
 * line writes the batch first, then itself: the log stays in order.  What
 * a crash can lose is the last flush interval of access lines; a clean
 * stop (log_stop_batching, or exit) writes everything.  With batching off
 * (flush interval 0, or not started) an access line is written at once.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF 2048		  /* a line and its NUL */
#define LOG_BATCH (64 * 1024) /* access lines waiting for the flusher */

/* Set once at start-up, read by every thread afterwards. */
static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The batch and the right to write to fd 2. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  out_cond; /* on CLOCK_MONOTONIC, once batching starts */
static char			   batch[LOG_BATCH];
static size_t		   batch_len;
static int			   flush_ms; /* 0: no flusher, write at once */
static bool			   flusher_stop;
static pthread_t	   flusher;

void
log_set_level(enum log_level level)
{
	min_level = level;
}

/* All of len bytes to fd 2; an interrupted or short write is finished. */
static void
write_all(const char *p, size_t len)
{
	int saved_errno = errno;

	while (len > 0)
	{
		ssize_t n = write(STDERR_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere to report it */
		p += n;
		len -= (size_t) n;
	}
	errno = saved_errno;
}

/* Caller holds out_lock. */
static void
flush_locked(void)
{
	write_all(batch, batch_len);
	batch_len = 0;
}

/* "<time> <level> <message>\n" into line (LOG_BUF bytes); its length. */
static size_t
format_line(char *line, enum log_level level, const char *fmt, va_list ap)
{
	/* the date and time to the second, formatted once a second per thread */
	static __thread time_t stamp_sec = -1;
	static __thread char   stamp[32];
	static __thread size_t stamp_len;
	struct timespec		   ts;
	size_t				   len;
	int					   n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != stamp_sec)
	{
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		stamp_len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		stamp_sec = ts.tv_sec;
	}
	memcpy(line, stamp, stamp_len);
	len = stamp_len;
	len += (size_t) snprintf(line + len, LOG_BUF - len, ".%03ldZ %s ",
							 ts.tv_nsec / 1000000, level_names[level]);
	n = vsnprintf(line + len, LOG_BUF - len, fmt, ap);
	len = n < 0 ? strlen(line) : len + (size_t) n; /* n: untruncated */
	if (len >= LOG_BUF - 1)
		len = LOG_BUF - 2;
	line[len++] = '\n';
	line[len] = '\0';
	return len;
}

/* One line: into the batch when batched and batching is on, else now. */
static void
log_line(enum log_level level, bool batched, const char *fmt, va_list ap)
{
	char   line[LOG_BUF];
	size_t len;

	if (level < min_level)
		return;
	len = format_line(line, level, fmt, ap);
	pthread_mutex_lock(&out_lock);
	if (batched && flush_ms > 0)
	{
		if (batch_len + len > sizeof(batch))
			flush_locked();
		memcpy(batch + batch_len, line, len);
		if (batch_len == 0)
			pthread_cond_signal(&out_cond);
		batch_len += len;
	}
	else
	{
		flush_locked(); /* what waits goes first: the log stays in order */
		write_all(line, len);
	}
	pthread_mutex_unlock(&out_lock);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, false, fmt, ap);
	va_end(ap);
}

void
log_access(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_INFO, true, fmt, ap);
	va_end(ap);
}

/*
 * The flusher sleeps until a batch starts, lets it gather for flush_ms
 * and writes it; an idle gateway never wakes it.
 */
static void *
flusher_main(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&out_lock);
	while (!flusher_stop)
	{
		struct timespec until;

		if (batch_len == 0)
		{
			pthread_cond_wait(&out_cond, &out_lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long) flush_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!flusher_stop &&
			   pthread_cond_timedwait(&out_cond, &out_lock, &until) == 0)
			; /* woken early: keep gathering */
		flush_locked();
	}
	flush_locked();
	pthread_mutex_unlock(&out_lock);
	return NULL;
}

void
log_flush(void)
{
	pthread_mutex_lock(&out_lock);
	flush_locked();
	pthread_mutex_unlock(&out_lock);
}

int
log_start_batching(int interval_ms)
{
	pthread_condattr_t attr;

	if (interval_ms <= 0)
		return 0;
	/* a wall-clock step must not hold a batch back */
	if (pthread_condattr_init(&attr) != 0 ||
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
		pthread_cond_init(&out_cond, &attr) != 0)
		return -1;
	pthread_condattr_destroy(&attr);
	atexit(log_flush);
	flush_ms = interval_ms;
	if (pthread_create(&flusher, NULL, flusher_main, NULL) != 0)
	{
		flush_ms = 0;
		return -1;
	}
	return 0;
}

void
log_stop_batching(void)
{
	if (flush_ms == 0)
		return;
	pthread_mutex_lock(&out_lock);
	flusher_stop = true;
	pthread_cond_signal(&out_cond);
	pthread_mutex_unlock(&out_lock);
	pthread_join(flusher, NULL);
	flush_ms = 0;
}

char *
log_sanitize(char *dst, size_t n, const char *src)
{
	size_t i = 0;

	if (n < 4)
	{
		/* too small for the "..." mark below */
		if (n > 0)
			dst[0] = '\0';
		return dst;
	}
	if (src == NULL)
		src = "-";
	for (; *src != '\0' && i + 1 < n; src++)
	{
		unsigned char c = (unsigned char) *src;

		if (i + 4 >= n && src[1] != '\0')
		{
			/* no room for the rest: mark the cut */
			while (i + 4 > n && i > 0)
				i--;
			memcpy(dst + i, "...", 3);
			i += 3;
			break;
		}
		dst[i++] =
			(c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char) c;
	}
	dst[i] = '\0';
	return dst;
}
