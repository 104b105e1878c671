/*
 * config.c — read and validate the environment.  Every problem is one
 * line naming the variable; main.c prints it and exits 2.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

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
	if (end == text || *end != '\0' ||
		!isdigit((unsigned char) text[*text == '-']))
	{
		snprintf(err, errlen, "%s: not an integer: \"%.32s\"", name, text);
		return -1;
	}
	/* beyond what a long holds: out of range as much as 70000 is */
	if (errno == ERANGE)
	{
		snprintf(err, errlen, "%s: \"%.32s\" is out of range %ld..%ld", name,
				 text, min, max);
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

/*
 * libpq's parse errors quote the text they stumbled on, which may be the
 * whole URI with its password: keep the message, drop what it quotes
 * (beyond one character, such as "=" or "]").
 */
static void
copy_unquoted(char *dst, size_t n, const char *src)
{
	size_t used = 0;

	while (*src != '\0' && *src != '\n' && used + 6 < n)
	{
		const char *close;

		if (*src != '"' || (close = strchr(src + 1, '"')) == NULL)
		{
			dst[used++] = *src++;
			continue;
		}
		if (close - src == 2) /* "=": one character, kept */
		{
			memcpy(dst + used, src, 3);
			used += 3;
		}
		else
		{
			memcpy(dst + used, "\"...\"", 5);
			used += 5;
		}
		src = close + 1;
	}
	dst[used] = '\0';
}

/* A port list as libpq takes it: "5432", or "5432,,5433" for several hosts. */
static bool
port_list_valid(const char *ports)
{
	for (;;)
	{
		size_t len = strcspn(ports, ",");
		long   v = 0;

		for (size_t i = 0; i < len; i++)
		{
			if (!isdigit((unsigned char) ports[i]) || v > 65535)
				return false;
			v = v * 10 + (ports[i] - '0');
		}
		if (len > 0 && (v < 1 || v > 65535))
			return false;
		if (ports[len] == '\0')
			return true;
		ports += len + 1;
	}
}

/* The connection options whose values libpq checks only when connecting. */
static const struct
{
	const char *keyword;
	const char *values[7];
} enumerated_options[] = {
	{"sslmode",
	 {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
	{"gssencmode", {"disable", "prefer", "require"}},
	{"channel_binding", {"disable", "prefer", "require"}},
	{"target_session_attrs",
	 {"any", "read-write", "read-only", "primary", "standby",
	  "prefer-standby"}},
};

/* False, with the accepted values listed in choices, for a bad value. */
static bool
option_value_valid(const char *keyword, const char *value, char *choices,
				   size_t n)
{
	for (size_t i = 0;
		 i < sizeof(enumerated_options) / sizeof(enumerated_options[0]); i++)
	{
		const char *const *values = enumerated_options[i].values;
		size_t			   used = 0;

		if (strcmp(enumerated_options[i].keyword, keyword) != 0)
			continue;
		for (int j = 0; values[j] != NULL; j++)
			if (strcmp(values[j], value) == 0)
				return true;
		choices[0] = '\0';
		for (int j = 0; values[j] != NULL && used < n; j++)
			used += (size_t) snprintf(choices + used, n - used, "%s%s",
									  j == 0 ? "" : ", ", values[j]);
		return false;
	}
	return true;
}

/*
 * DATABASE_URL must parse, and the options libpq would only refuse when
 * connecting (a port, an sslmode) must be valid: otherwise the gateway
 * would retry a connection that can never work.  A server that does not
 * answer yet is not checked here (SPEC §9: the gateway waits for it).
 * No message shows the URL: it may hold a password.
 */
static int
check_database_url(const char *url, char *err, size_t errlen)
{
	PQconninfoOption *opts;
	char			 *perr = NULL;
	char			  why[200];
	int				  rc = 0;

	opts = PQconninfoParse(url, &perr);
	if (opts == NULL)
	{
		copy_unquoted(why, sizeof(why), perr ? perr : "out of memory");
		snprintf(err, errlen,
				 "DATABASE_URL: not a valid libpq URI or connection string: "
				 "%s",
				 why);
		PQfreemem(perr);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL && rc == 0; o++)
	{
		if (o->val == NULL || strcmp(o->keyword, "password") == 0)
			continue;
		if (strcmp(o->keyword, "port") == 0 && !port_list_valid(o->val))
		{
			snprintf(err, errlen,
					 "DATABASE_URL: invalid port \"%.32s\" (1..65535)",
					 o->val);
			rc = -1;
		}
		else if (!option_value_valid(o->keyword, o->val, why, sizeof(why)))
		{
			snprintf(err, errlen, "DATABASE_URL: invalid %s \"%.32s\" (%s)",
					 o->keyword, o->val, why);
			rc = -1;
		}
	}
	PQconninfoFree(opts);
	return rc;
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
	if (check_database_url(cfg->database_url, err, errlen) != 0)
		return -1;
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
	/* the values pgapp.setup accepts (sql/pgapp/80_setup.sql) */
	if (strcmp(cfg->environment, "local") != 0 &&
		strcmp(cfg->environment, "staging") != 0 &&
		strcmp(cfg->environment, "production") != 0)
	{
		snprintf(err, errlen,
				 "ENVIRONMENT: must be local, staging or production, not "
				 "\"%.32s\"",
				 cfg->environment);
		return -1;
	}
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
