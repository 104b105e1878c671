/*
 * log.c — timestamped lines on stderr.  Each line is built in a local
 * buffer and handed to the kernel with one write(2) on fd 2, bypassing
 * stdio: no thread waits on the FILE lock of stderr.  A line is shorter
 * than LOG_BUF <= PIPE_BUF bytes, so it is written atomically to a pipe
 * and whole to an O_APPEND file: lines from concurrent threads never mix.
 */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF 2048			/* a line and its NUL */

/* POSIX only promises PIPE_BUF >= 512; Linux has 4096 */
_Static_assert(LOG_BUF <= PIPE_BUF, "a log line must fit in PIPE_BUF");

/* Set once at start-up, read by every thread afterwards. */
static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	min_level = level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_BUF];
	const char *p;
	int saved_errno;
	struct timespec ts;
	struct tm tm;
	size_t len;
	va_list ap;

	if (level < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	len += (size_t) snprintf(line + len, sizeof(line) - len, ".%03ldZ %s ",
							 ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	len = strlen(line);
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	line[len] = '\0';
	/* one write; the loop only finishes an interrupted or short one */
	saved_errno = errno;
	for (p = line; len > 0;)
	{
		ssize_t n = write(STDERR_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;				/* nowhere to report it */
		p += n;
		len -= (size_t) n;
	}
	errno = saved_errno;
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
		dst[i++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?'
																	: (char) c;
	}
	dst[i] = '\0';
	return dst;
}
