/*
 * deadline.h — a watchdog for slow senders.  libmicrohttpd's connection
 * timeout is an idle timeout: a client trickling one byte every few
 * seconds never trips it.  Every connection is tracked from the moment it
 * starts waiting for a request; one that has not delivered the whole
 * request (headers and body) within the deadline is shut down.
 */
#ifndef GW_DEADLINE_H
#define GW_DEADLINE_H

struct conn_track;

int	 deadline_start(int seconds, char *err, size_t errlen);
void deadline_stop(void);

struct conn_track *deadline_conn_open(int fd);
void			   deadline_conn_close(struct conn_track *t);
/* The request is in: the handler's work does not count. */
void deadline_request_received(struct conn_track *t);
/* The response went out: the clock restarts for the next request. */
void deadline_request_done(struct conn_track *t);

#endif
