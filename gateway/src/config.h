/*
 * config.h — the gateway's settings, from the environment only (SPEC §4).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "client.h"

struct config
{
	const char		  *database_url; /* never logged: it may hold a password */
	const char		  *listen_addr;
	int				   port;
	int				   workers; /* database pool size */
	unsigned long long max_body;
	char			 **cors_origins;
	int				   n_cors_origins;
	struct cidr		  *trusted_proxies;
	int				   n_trusted_proxies;
	const char		  *environment;
	int				   conn_timeout; /* seconds of idleness before a close */
	int request_deadline;			 /* seconds to receive a whole request */
	int max_conns;
	int max_conns_per_ip;
	int pool_wait_ms;
	int drain_seconds;
	int log_flush_ms; /* access-log batching; 0: line by line */
};

/* Where settings come from: getenv in production, a table in tests. */
typedef const char *(*config_getter)(const char *name);

/*
 * Fill cfg from get().  Returns 0, or -1 with one line in err naming the
 * variable and what is wrong with it.
 */
int	 config_load(struct config *cfg, config_getter get, char *err,
				 size_t errlen);
void config_free(struct config *cfg);

#endif
