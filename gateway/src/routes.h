/*
 * routes.h — the route catalog (loaded from api.route_list()) and the
 * match of a request to a route id.
 *
 * A catalog is immutable once published.  Requests take a reference for
 * their lifetime; a reload publishes a new catalog and drops the old one
 * when its last request ends.
 */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

struct catalog;

enum route_match
{
	ROUTE_FOUND,
	ROUTE_NO_PATH,	/* 404 */
	ROUTE_NO_METHOD /* 405 + Allow */
};

struct catalog *catalog_new(void);
/* Add a route; -1 with err on a bad method or pattern. */
int	 catalog_add(struct catalog *c, int id, const char *method,
				 const char *pattern, char *err, size_t errlen);
int	 catalog_size(const struct catalog *c);
void catalog_free(struct catalog *c);

/*
 * Match a decoded path (with or without a trailing slash) and a method.
 * Among the patterns that match the path and have the method, literal
 * segments beat parameters, compared from the left.  With no such route
 * but some pattern matching the path, allow receives the methods of all
 * those patterns ("GET, POST").
 */
enum route_match catalog_match(const struct catalog *c, const char *method,
							   const char *path, int *route_id, char *allow,
							   size_t allowlen);

/* The published catalog: a counted reference, or NULL before the first
 * load.  Thread-safe. */
struct catalog *routes_acquire(void);
void			routes_release(struct catalog *c);
void			routes_publish(struct catalog *c);
bool			routes_loaded(void);
void			routes_shutdown(void);

/* Load api.route_list() on conn into a new (unpublished) catalog. */
typedef struct pg_conn PGconn;
int routes_load(PGconn *conn, struct catalog **out, char *err, size_t errlen);

#endif
