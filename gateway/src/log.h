/*
 * log.h — the gateway's one logger: stderr, one line per event.
 *
 * Request data is only ever an argument, never the format string; use
 * log_sanitize() on anything that came from a client before logging it.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

enum log_level
{
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR
};

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Copy src into dst (size n), replacing control bytes, DEL, quotes and
 * backslashes with '?' and truncating long input with "...".  Returns dst.
 */
char *log_sanitize(char *dst, size_t n, const char *src);

#endif
