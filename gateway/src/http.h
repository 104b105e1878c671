/*
 * http.h — the HTTP front: libmicrohttpd in thread-per-connection mode,
 * so a request waiting for the database blocks only its own thread.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "pool.h"

struct server;

struct server *server_start(const struct config *cfg, struct pool *pool,
							char *err, size_t errlen);
/*
 * Stop accepting new connections; requests in flight go on, and every
 * answer from now on carries Connection: close.
 */
void server_quiesce(struct server *s);
/* Requests received and not yet answered. */
int server_in_flight(struct server *s);
/*
 * Nothing in flight, and no connection open, or none active (a request
 * started or ended) in the last quiet_ms.
 */
bool server_drained(struct server *s, int quiet_ms);
/* Close every connection and free the server. */
void server_stop(struct server *s);

#endif
