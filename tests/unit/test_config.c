#include "unit.h"

#include <unistd.h>

#include "config.h"

/* The fake environment: NULL-terminated name/value pairs. */
static const char *const *fake_env;

static const char *
fake_get(const char *name)
{
	for (int i = 0; fake_env[i] != NULL; i += 2)
		if (strcmp(fake_env[i], name) == 0)
			return fake_env[i + 1];
	return NULL;
}

/* 0 when accepted; else -1 and err names the variable. */
static int
load(const char *const *env, struct config *cfg, char *err, size_t n)
{
	int rc;

	fake_env = env;
	err[0] = '\0';
	rc = config_load(cfg, fake_get, err, n);
	return rc;
}

#define URL "DATABASE_URL", "postgresql://u:p@127.0.0.1/db"

static void
expect_refused(const char *const *env, const char *needle)
{
	struct config cfg;
	char		  err[512];

	CHECK(load(env, &cfg, err, sizeof(err)) == -1);
	if (strstr(err, needle) == NULL)
	{
		unit_failed++;
		fprintf(stderr, "FAIL config: \"%s\" lacks \"%s\"\n", err, needle);
	}
	else
		unit_passed++;
	CHECK(strchr(err, '\n') == NULL); /* one line */
}

void
test_config(void)
{
	struct config cfg;
	char		  err[512];

	{
		const char *const env[] = {URL, NULL};
		const int		  cpus = (int) sysconf(_SC_NPROCESSORS_ONLN);

		CHECK(load(env, &cfg, err, sizeof(err)) == 0);
		CHECK(cfg.port == 8000);
		CHECK(cfg.max_body == 1048576);
		CHECK(cfg.conn_timeout == 30);
		CHECK(cfg.request_deadline == 60);
		CHECK(cfg.pool_wait_ms == 2000);
		CHECK(cfg.drain_seconds == 10);
		CHECK(cfg.log_flush_ms == 100);
		CHECK(cfg.max_conns == 1000 && cfg.max_conns_per_ip == 100);
		/* SPEC §4: the number of CPUs (at most 64) */
		CHECK(cfg.workers == (cpus > 64 ? 64 : cpus));
		CHECK(cfg.n_cors_origins == 0 && cfg.n_trusted_proxies == 0);
		CHECK_STR(cfg.listen_addr, "0.0.0.0");
		config_free(&cfg);
	}
	{
		const char *const env[] = {
			URL,
			"PORT",
			"9001",
			"GATEWAY_WORKERS",
			"3",
			"GATEWAY_LISTEN",
			"::",
			"BACKEND_CORS_ORIGINS",
			"[\"http://localhost\",\"https://x.example\"]",
			"TRUSTED_PROXIES",
			"10.0.0.0/8,::1",
			"GATEWAY_CONN_TIMEOUT",
			"5",
			"GATEWAY_LOG_FLUSH_MS",
			"0",
			NULL};

		CHECK(load(env, &cfg, err, sizeof(err)) == 0);
		CHECK(cfg.port == 9001 && cfg.workers == 3);
		CHECK(cfg.n_cors_origins == 2 && cfg.n_trusted_proxies == 2);
		CHECK(cfg.request_deadline == 10);
		CHECK(cfg.log_flush_ms == 0);
		config_free(&cfg);
	}
	{
		const char *const env[] = {NULL};

		expect_refused(env, "DATABASE_URL");
	}
	{
		const char *const env[] = {URL, "SECRET_KEY", "x", NULL};

		expect_refused(env, "SECRET_KEY");
	}
	{
		const char *const env[] = {URL, "SECRET_KEY", "", NULL};

		expect_refused(env, "SECRET_KEY");
	}
	{
		const char *const env[] = {URL, "PORT", "80a", NULL};

		expect_refused(env, "PORT");
	}
	{
		const char *const env[] = {URL, "PORT", "70000", NULL};

		expect_refused(env, "PORT");
	}
	{
		const char *const env[] = {URL, "PORT", "-1", NULL};

		expect_refused(env, "PORT");
	}
	{
		const char *const env[] = {URL, "GATEWAY_WORKERS", "0", NULL};

		expect_refused(env, "GATEWAY_WORKERS");
	}
	{
		const char *const env[] = {URL, "MAX_BODY_BYTES", "lots", NULL};

		expect_refused(env, "MAX_BODY_BYTES");
	}
	{
		const char *const env[] = {URL, "GATEWAY_LISTEN", "localhost", NULL};

		expect_refused(env, "GATEWAY_LISTEN");
	}
	{
		const char *const env[] = {URL, "TRUSTED_PROXIES", "10.0.0.0/99",
								   NULL};

		expect_refused(env, "TRUSTED_PROXIES");
	}
	{
		const char *const env[] = {URL, "BACKEND_CORS_ORIGINS",
								   "not-an-origin", NULL};

		expect_refused(env, "BACKEND_CORS_ORIGINS");
	}
	{
		const char *const env[] = {URL, "GATEWAY_POOL_WAIT_MS", "1e3", NULL};

		expect_refused(env, "GATEWAY_POOL_WAIT_MS");
	}
	{
		/* compose passes an unset knob as an empty value: the default */
		const char *const env[] = {
			URL, "GATEWAY_LISTEN",	"", "GATEWAY_LOG_FLUSH_MS",
			"",	 "GATEWAY_WORKERS", "", NULL};

		CHECK(load(env, &cfg, err, sizeof(err)) == 0);
		CHECK_STR(cfg.listen_addr, "0.0.0.0");
		CHECK(cfg.log_flush_ms == 100 && cfg.workers >= 1);
		config_free(&cfg);
	}
	{
		/* a value beyond the type is out of range, not "not an integer" */
		const char *const cases[][2] = {
			{"PORT", "-1"},
			{"GATEWAY_LOG_FLUSH_MS", "-1"},
			{"MAX_BODY_BYTES", "99999999999999999999"},
			{"GATEWAY_WORKERS", "-99999999999999999999"},
			{"PORT", "4294967297"},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			const char *const env[] = {URL, cases[i][0], cases[i][1], NULL};

			expect_refused(env, "out of range");
			expect_refused(env, cases[i][0]);
		}
	}
	{
		const char *const env[] = {URL, "PORT", "-", NULL};

		expect_refused(env, "PORT: not an integer");
	}
	{
		const char *const ok[] = {"local", "staging", "production"};

		for (size_t i = 0; i < 3; i++)
		{
			const char *const env[] = {URL, "ENVIRONMENT", ok[i], NULL};

			CHECK(load(env, &cfg, err, sizeof(err)) == 0);
			CHECK_STR(cfg.environment, ok[i]);
			config_free(&cfg);
		}
	}
	{
		/* what pgapp.setup refuses (sql/pgapp/80_setup.sql) */
		const char *const bad[] = {"bogus", "Production", "local ", "dev"};

		for (size_t i = 0; i < 4; i++)
		{
			const char *const env[] = {URL, "ENVIRONMENT", bad[i], NULL};

			expect_refused(env, "ENVIRONMENT: must be local, staging or "
								"production");
		}
	}
	{
		const char *const env[] = {URL, "BACKEND_CORS_ORIGINS",
								   "http://a.com?x", NULL};

		expect_refused(env, "BACKEND_CORS_ORIGINS: not an origin");
	}
	{
		const char *const env[] = {URL, "BACKEND_CORS_ORIGINS",
								   "http://a.com:abc", NULL};

		expect_refused(env, "BACKEND_CORS_ORIGINS: not an origin");
	}
	{
		const char *const env[] = {"DATABASE_URL", "", NULL};

		expect_refused(env, "DATABASE_URL: required");
	}
	{
		/* bad URLs stop start-up; none of them retries forever */
		const char *const cases[][2] = {
			{"garbage", "DATABASE_URL: not a valid libpq URI"},
			{"postgresql://x@127.0.0.1:notaport/pgapp",
			 "DATABASE_URL: invalid port \"notaport\""},
			{"postgresql://x@127.0.0.1:70000/pgapp",
			 "DATABASE_URL: invalid port \"70000\""},
			{"postgresql://h1:5432,h2:x/pgapp", "DATABASE_URL: invalid port"},
			{"postgresql://x@127.0.0.1/pgapp?sslmode=bogus",
			 "DATABASE_URL: invalid sslmode \"bogus\" (disable, allow, "
			 "prefer, require, verify-ca, verify-full)"},
			{"host=127.0.0.1 gssencmode=maybe", "DATABASE_URL: invalid "
												"gssencmode"},
			{"postgresql://x@127.0.0.1/pgapp?nosuchoption=1",
			 "DATABASE_URL: not a valid libpq URI"},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			const char *const env[] = {"DATABASE_URL", cases[i][0], NULL};

			expect_refused(env, cases[i][1]);
		}
	}
	{
		/* libpq quotes what it cannot parse: the password stays out */
		const char *const urls[] = {
			"postgresql://u:s3cr3t-pw@[::1/db",
			"postgresql://u:s3cr3t-pw%zz@127.0.0.1/db",
			"postgresql://u:s3cr3t-pw@127.0.0.1:bad/db",
			"postgresql://u:s3cr3t-pw@127.0.0.1/db?sslmode=no",
			"host=127.0.0.1 password=s3cr3t-pw sslmode",
		};

		for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		{
			const char *const env[] = {"DATABASE_URL", urls[i], NULL};

			expect_refused(env, "DATABASE_URL");
			if (load(env, &cfg, err, sizeof(err)) == 0 ||
				strstr(err, "s3cr3t") != NULL)
			{
				unit_failed++;
				fprintf(stderr, "FAIL config: \"%s\" shows the password\n",
						err);
			}
			else
				unit_passed++;
		}
	}
	{
		/* it parses; whether the server answers is found out later */
		const char *const urls[] = {
			"postgresql://u:p@db.invalid:5432/pgapp?sslmode=require",
			"postgresql://h1:5432,h2/pgapp?target_session_attrs=read-write",
			"host=/run/postgresql dbname=pgapp",
			"postgresql:///pgapp",
		};

		for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		{
			const char *const env[] = {"DATABASE_URL", urls[i], NULL};

			CHECK(load(env, &cfg, err, sizeof(err)) == 0);
			config_free(&cfg);
		}
	}
	{
		const char *const env[] = {URL, "GATEWAY_LOG_FLUSH_MS", "fast", NULL};

		expect_refused(env, "GATEWAY_LOG_FLUSH_MS");
	}
	{
		const char *const env[] = {URL, "GATEWAY_LOG_FLUSH_MS", "10001", NULL};

		expect_refused(env, "GATEWAY_LOG_FLUSH_MS");
	}
}
