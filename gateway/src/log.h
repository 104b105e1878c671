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

/* A line now (after any batched access lines, so the log stays in order). */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An info line that may wait in the batch (see log.c). */
void log_access(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Batch access lines, written at most interval_ms after the first one
 * (0: no batching).  Returns -1 if the flusher thread cannot start.
 * log_stop_batching() writes what is waiting and stops the flusher;
 * log_flush() only writes it (also run at exit).
 */
int	 log_start_batching(int interval_ms);
void log_stop_batching(void);
void log_flush(void);

/*
 * Copy src into dst (size n), replacing control bytes, DEL, quotes and
 * backslashes with '?' and truncating long input with "...".  Returns dst.
 */
char *log_sanitize(char *dst, size_t n, const char *src);

#endif
