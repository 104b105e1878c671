/*
 * log.c — timestamped lines on stderr.  A single fputs of a line built in
 * a local buffer keeps lines from concurrent threads whole.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
	char line[2048];
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
	fputs(line, stderr);
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
