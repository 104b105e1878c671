#include "unit.h"

#include <stdlib.h>

#include <libpq-fe.h>

#include "pool.h"

/*
 * The options a connection made from pool_conn_params really has: libpq
 * builds the connection (here to a socket directory that does not exist,
 * so nothing is reached) and PQconninfo reports what it took.
 */
static char *
option_of(const char *url, const char *keyword)
{
	const char		 *keys[POOL_CONN_NPARAMS + 1];
	const char		 *values[POOL_CONN_NPARAMS + 1];
	PGconn			 *conn;
	PQconninfoOption *opts;
	char			 *found = NULL;

	pool_conn_params(url, keys, values);
	conn = PQconnectStartParams(keys, values, 1);
	if (conn == NULL)
		return NULL;
	opts = PQconninfo(conn);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
			found = strdup(o->val);
	PQconninfoFree(opts);
	PQfinish(conn);
	return found;
}

static void
expect_option(const char *url, const char *keyword, const char *value)
{
	char *v = option_of(url, keyword);

	CHECK_STR(v, value);
	free(v);
}

void
test_pool(void)
{
	const char *url = "postgresql://u@/pgapp?host=/nonexistent/pgapp-unit";
	const char *overriding =
		"postgresql://u@/pgapp?host=/nonexistent/pgapp-unit"
		"&keepalives_idle=60&tcp_user_timeout=0&application_name=mine";

	/* a vanished database host is noticed without the kernel's timeout */
	expect_option(url, "keepalives", "1");
	expect_option(url, "keepalives_idle", "10");
	expect_option(url, "keepalives_interval", "5");
	expect_option(url, "keepalives_count", "3");
	expect_option(url, "tcp_user_timeout", "20000");
	expect_option(url, "connect_timeout", "2");
	expect_option(url, "application_name", "pgapp-gateway");
	expect_option(url, "dbname", "pgapp");
	expect_option(url, "user", "u");
	/* the URL comes last: what it says wins */
	expect_option(overriding, "keepalives_idle", "60");
	expect_option(overriding, "tcp_user_timeout", "0");
	expect_option(overriding, "application_name", "mine");
	expect_option(overriding, "keepalives_count", "3");
}
