/*
 * config.c — read and validate the environment.  Every problem is one
 * line naming the variable; main.c prints it and exits 2.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpcheck.h"

static int
parse_int(config_getter get, const char *name, long def, long min, long max,
		  int *out, char *err, size_t errlen)
{
	const char *text = get(name);
	char	   *end;
	long		v;

	if (text == NULL || *text == '\0')
	{
		*out = (int) def;
		return 0;
	}
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' ||
		!isdigit((unsigned char) *text))
	{
		snprintf(err, errlen, "%s: not an integer: \"%.32s\"", name, text);
		return -1;
	}
	if (v < min || v > max)
	{
		snprintf(err, errlen, "%s: %ld is out of range %ld..%ld", name, v, min,
				 max);
		return -1;
	}
	*out = (int) v;
	return 0;
}

static int
default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (n > 64 ? 64 : (int) n);
}

int
config_load(struct config *cfg, config_getter get, char *err, size_t errlen)
{
	char sub[160];
	int	 max_body;

	memset(cfg, 0, sizeof(*cfg));
	if (get("SECRET_KEY") != NULL)
	{
		snprintf(err, errlen,
				 "SECRET_KEY is set: the signing key belongs to the database "
				 "only, remove it from the gateway's environment");
		return -1;
	}
	cfg->database_url = get("DATABASE_URL");
	if (cfg->database_url == NULL || *cfg->database_url == '\0')
	{
		snprintf(err, errlen, "DATABASE_URL: required (a libpq URI)");
		return -1;
	}
	cfg->listen_addr = get("GATEWAY_LISTEN");
	if (cfg->listen_addr == NULL || *cfg->listen_addr == '\0')
		cfg->listen_addr = "0.0.0.0";
	{
		struct ipaddr tmp;

		if (!ipaddr_parse(cfg->listen_addr, &tmp))
		{
			snprintf(err, errlen,
					 "GATEWAY_LISTEN: not an IP address: \"%.64s\"",
					 cfg->listen_addr);
			return -1;
		}
	}
	cfg->environment = get("ENVIRONMENT");
	if (cfg->environment == NULL || *cfg->environment == '\0')
		cfg->environment = "local";
	if (parse_int(get, "PORT", 8000, 1, 65535, &cfg->port, err, errlen) ||
		parse_int(get, "GATEWAY_WORKERS", default_workers(), 1, 1024,
				  &cfg->workers, err, errlen) ||
		parse_int(get, "MAX_BODY_BYTES", 1048576, 1, 1 << 30, &max_body, err,
				  errlen) ||
		parse_int(get, "GATEWAY_CONN_TIMEOUT", 30, 1, 3600, &cfg->conn_timeout,
				  err, errlen) ||
		parse_int(get, "GATEWAY_MAX_CONNS", 1000, 1, 100000, &cfg->max_conns,
				  err, errlen) ||
		parse_int(get, "GATEWAY_MAX_CONNS_PER_IP", 100, 0, 100000,
				  &cfg->max_conns_per_ip, err, errlen) ||
		parse_int(get, "GATEWAY_POOL_WAIT_MS", 2000, 0, 600000,
				  &cfg->pool_wait_ms, err, errlen) ||
		parse_int(get, "GATEWAY_DRAIN_SECONDS", 10, 0, 3600,
				  &cfg->drain_seconds, err, errlen) ||
		parse_int(get, "GATEWAY_LOG_FLUSH_MS", 100, 0, 10000,
				  &cfg->log_flush_ms, err, errlen))
		return -1;
	if (parse_int(get, "GATEWAY_REQUEST_DEADLINE", 2L * cfg->conn_timeout, 1,
				  7200, &cfg->request_deadline, err, errlen))
		return -1;
	cfg->max_body = (unsigned long long) max_body;
	cfg->n_cors_origins = cors_parse(get("BACKEND_CORS_ORIGINS"),
									 &cfg->cors_origins, sub, sizeof(sub));
	if (cfg->n_cors_origins < 0)
	{
		snprintf(err, errlen, "BACKEND_CORS_ORIGINS: %s", sub);
		return -1;
	}
	cfg->n_trusted_proxies = cidr_list_parse(
		get("TRUSTED_PROXIES"), &cfg->trusted_proxies, sub, sizeof(sub));
	if (cfg->n_trusted_proxies < 0)
	{
		snprintf(err, errlen, "TRUSTED_PROXIES: %s", sub);
		config_free(cfg);
		return -1;
	}
	return 0;
}

void
config_free(struct config *cfg)
{
	if (cfg->n_cors_origins > 0)
		cors_free(cfg->cors_origins, cfg->n_cors_origins);
	free(cfg->trusted_proxies);
	cfg->cors_origins = NULL;
	cfg->trusted_proxies = NULL;
	cfg->n_cors_origins = cfg->n_trusted_proxies = 0;
}
