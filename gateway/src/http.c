/*
 * http.c — requests in, responses out: limits, framing, path decoding,
 * CORS, /live and /ready, the route match and the one database round
 * trip.  Everything from the client is validated here before it becomes
 * a bound parameter; every answer, errors included, is JSON with CORS and
 * X-Request-Id.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "deadline.h"
#include "httpcheck.h"
#include "log.h"
#include "routes.h"

/*
 * libmicrohttpd's per-connection memory pool: above our limits, so that we
 * answer first and in JSON up to 64 KiB (SPEC §8), and no larger, because
 * 0.9.75 zeroes all of it between keep-alive requests (bench/README.md:
 * 128 KiB cost ~11 % more gateway CPU per request).  96 KiB is the least
 * that still holds 1,000 small headers (test_http_limits.py pins both).
 */
#define MHD_MEMORY_LIMIT (96 * 1024)
#define MAX_REPEATED_HEADERS 8
/* Past this much ignored body, a request that is already refused is cut. */
#define DISCARD_FACTOR 4

#define BODY_NOT_FOUND "{\"detail\":\"Not Found\"}"
#define BODY_METHOD "{\"detail\":\"Method Not Allowed\"}"
#define BODY_UNAVAILABLE "{\"detail\":\"Service Unavailable\"}"
#define BODY_INTERNAL "{\"detail\":\"Internal Server Error\"}"
#define BODY_TOO_LARGE "{\"detail\":\"Request Entity Too Large\"}"
#define BODY_URI_TOO_LONG "{\"detail\":\"URI Too Long\"}"
#define BODY_HEADERS_TOO_LARGE \
	"{\"detail\":\"Request Header Fields Too Large\"}"
#define BODY_BAD_FRAMING "{\"detail\":\"Bad Request\"}"
#define BODY_BAD_PATH "{\"detail\":\"Invalid path\"}"
#define BODY_BAD_QUERY "{\"detail\":\"Invalid query string\"}"
#define BODY_BAD_HEADER "{\"detail\":\"Invalid header value\"}"
#define BODY_BAD_BODY "{\"detail\":\"There was an error parsing the body\"}"
#define BODY_BAD_ORIGIN "{\"detail\":\"Disallowed CORS origin\"}"
#define BODY_BAD_HOST "{\"detail\":\"Missing or repeated Host header\"}"

struct server
{
	const struct config *cfg;
	struct pool			*pool;
	struct MHD_Daemon	*daemon;
	atomic_int			 in_flight;
	atomic_int			 open_conns;
	atomic_bool			 draining; /* every answer closes its connection */
	atomic_llong		 last_activity; /* ms: a request started or ended */
};

static long long
monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * Only a drain reads the time of the last activity: the steady state pays
 * neither the clock nor a store to a line every connection thread shares.
 */
static void
note_activity(struct server *srv)
{
	if (atomic_load(&srv->draining))
		atomic_store(&srv->last_activity, monotonic_ms());
}

struct request
{
	struct server	  *srv;
	char			  *raw_uri; /* path?query as received (origin form) */
	size_t			   raw_len;
	size_t			   target_len; /* the request target as sent */
	struct timespec	   start;
	char			   id[17];
	char			   method[16];
	char			   client[CLIENT_ADDR_LEN];
	bool			   started, counted, too_large, answered;
	enum framing	   framing;
	unsigned long long content_length;
	char			  *body;
	size_t			   body_len, body_cap;
	unsigned long long discarded;
	char			  *path; /* decoded */
	int				   route_id;
	int				   status;
	struct conn_track *track;
};

/* ---- responses ---- */

static const char *
cors_origin(struct request *r, struct MHD_Connection *c)
{
	const struct config *cfg = r->srv->cfg;
	const char			*origin =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");

	if (cfg->n_cors_origins == 0 ||
		!cors_allowed(cfg->cors_origins, cfg->n_cors_origins, origin))
		return NULL;
	return origin;
}

/* Add the dispatcher's header lines; true when they set Content-Type. */
static bool
add_db_headers(struct MHD_Response *resp, struct request *r,
			   const char *headers)
{
	static const char *const reserved[] = {"Content-Length",
										   "Connection",
										   "Transfer-Encoding",
										   "Date",
										   "X-Request-Id",
										   "Access-Control-Allow-Origin",
										   NULL};
	bool					 has_type = false;
	char					*copy, *save = NULL, *line;

	if (headers == NULL || (copy = strdup(headers)) == NULL)
		return false;
	for (line = strtok_r(copy, "\n", &save); line != NULL;
		 line = strtok_r(NULL, "\n", &save))
	{
		char *name, *value;
		bool  skip = false;

		if (!header_line_split(line, &name, &value))
		{
			log_msg(LOG_WARN, "rid=%s dispatcher sent a bad header line",
					r->id);
			continue;
		}
		for (int i = 0; reserved[i] != NULL && !skip; i++)
			skip = strcasecmp(name, reserved[i]) == 0;
		if (skip)
			continue;
		if (strcasecmp(name, "Content-Type") == 0)
			has_type = true;
		MHD_add_response_header(resp, name, value);
	}
	free(copy);
	return has_type;
}

static enum MHD_Result
respond_full(struct MHD_Connection *c, struct request *r, int status,
			 const char *body, const char *db_headers, const char *allow,
			 bool close_after, int retry_after)
{
	size_t				 len = body ? strlen(body) : 0;
	struct MHD_Response *resp;
	const char			*origin = cors_origin(r, c);
	enum MHD_Result		 ret;
	char				 num[16];

	resp = MHD_create_response_from_buffer(len, (void *) (body ? body : ""),
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (!add_db_headers(resp, r, db_headers))
		MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	if (origin != NULL)
	{
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(resp, "Access-Control-Allow-Credentials",
								"true");
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	if (allow != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	if (retry_after > 0)
	{
		snprintf(num, sizeof(num), "%d", retry_after);
		MHD_add_response_header(resp, "Retry-After", num);
	}
	/* while draining, a keep-alive client must not send another request */
	if (close_after || atomic_load(&r->srv->draining))
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(c, (unsigned int) status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->answered = true;
	return ret;
}

static enum MHD_Result
respond(struct MHD_Connection *c, struct request *r, int status,
		const char *body)
{
	return respond_full(c, r, status, body, NULL, NULL, false, 0);
}

static enum MHD_Result
respond_close(struct MHD_Connection *c, struct request *r, int status,
			  const char *body)
{
	return respond_full(c, r, status, body, NULL, NULL, true, 0);
}

static enum MHD_Result
respond_unavailable(struct MHD_Connection *c, struct request *r)
{
	return respond_full(c, r, 503, BODY_UNAVAILABLE, NULL, NULL, false, 1);
}

/*
 * The template allows every request header (Starlette's allow_headers
 * ["*"] echoes the list the browser asks for), so a client that adds a
 * tracing header still passes.  Only a well-formed list of field names is
 * echoed; anything else gets the two headers the template's client needs.
 */
static const char *
preflight_allow_headers(struct MHD_Connection *c)
{
	const char *asked = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, "Access-Control-Request-Headers");

	if (asked == NULL || !field_name_list_ok(asked))
		return "authorization, content-type";
	return asked;
}

static enum MHD_Result
respond_preflight(struct MHD_Connection *c, struct request *r)
{
	const char			*origin = cors_origin(r, c);
	struct MHD_Response *resp;
	enum MHD_Result		 ret;

	if (origin == NULL)
		return respond(c, r, 400, BODY_BAD_ORIGIN);
	resp = MHD_create_response_from_buffer(2, (void *) "OK",
										   MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(resp, "Vary", "Origin");
	MHD_add_response_header(resp, "Access-Control-Allow-Methods",
							"DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
	MHD_add_response_header(resp, "Access-Control-Allow-Headers",
							preflight_allow_headers(c));
	MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	if (atomic_load(&r->srv->draining))
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	r->status = 200;
	r->answered = true;
	return ret;
}

/* ---- request inspection ---- */

struct header_scan
{
	size_t		bytes;
	const char *cl[MAX_REPEATED_HEADERS];
	int			ncl;
	const char *te[MAX_REPEATED_HEADERS];
	int			nte;
	int			nhost;
};

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
			const char *value)
{
	struct header_scan *s = cls;

	(void) kind;
	s->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	if (strcasecmp(key, "Host") == 0)
		s->nhost++;
	if (value == NULL)
		return MHD_YES;
	if (strcasecmp(key, "Content-Length") == 0)
	{
		if (s->ncl < MAX_REPEATED_HEADERS)
			s->cl[s->ncl] = value;
		s->ncl++;
	}
	else if (strcasecmp(key, "Transfer-Encoding") == 0)
	{
		if (s->nte < MAX_REPEATED_HEADERS)
			s->te[s->nte] = value;
		s->nte++;
	}
	return MHD_YES;
}

struct xff_join
{
	char   buf[2048];
	size_t used;
	bool   overflow;
};

/* Several X-Forwarded-For headers read as one comma-separated list. */
static enum MHD_Result
join_xff(void *cls, enum MHD_ValueKind kind, const char *key,
		 const char *value)
{
	struct xff_join *j = cls;
	int				 w;

	(void) kind;
	if (value == NULL || strcasecmp(key, "X-Forwarded-For") != 0)
		return MHD_YES;
	w = snprintf(j->buf + j->used, sizeof(j->buf) - j->used, "%s%s",
				 j->used ? "," : "", value);
	if (w < 0 || (size_t) w >= sizeof(j->buf) - j->used)
	{
		j->overflow = true;
		return MHD_NO;
	}
	j->used += (size_t) w;
	return MHD_YES;
}

static void
resolve_client(struct request *r, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct config *cfg = r->srv->cfg;
	struct ipaddr		 peer;
	struct xff_join		 xff = {.used = 0};

	if (info == NULL || !ipaddr_from_sockaddr(info->client_addr, &peer))
	{
		snprintf(r->client, sizeof(r->client), "unknown");
		return;
	}
	if (cfg->n_trusted_proxies > 0)
		MHD_get_connection_values(c, MHD_HEADER_KIND, join_xff, &xff);
	/* an oversized list is ignored: the proxy itself is the client then */
	client_resolve(&peer, xff.used && !xff.overflow ? xff.buf : NULL,
				   cfg->trusted_proxies, cfg->n_trusted_proxies, r->client,
				   sizeof(r->client));
}

/*
 * Request ids: splitmix64 over a per-thread state seeded once from
 * getrandom() (threads are per connection: one call per connection, not
 * per request).  The output is a bijection of the state and the state steps
 * by an odd constant, so one thread repeats only after 2^64 ids; two
 * threads collide only if their runs of states overlap.  For M ids over T
 * threads that is about M * T / 2^64, never worse than M^2 / 2^65 for
 * independent random 64-bit ids.
 */
#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL

static __thread uint64_t rid_state;
static __thread bool	 rid_seeded;

static uint64_t
splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
rid_seed(void)
{
	static atomic_uint_fast64_t counter;
	uint64_t					seed;

	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t) sizeof(seed))
	{
		struct timespec ts;

		/* distinct per thread and per call even at the same instant */
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec) ^
			   ((uint64_t) (uintptr_t) pthread_self() << 1) ^
			   (atomic_fetch_add(&counter, 1) * SPLITMIX_GAMMA);
		seed = splitmix64_mix(seed);
	}
	rid_state = seed;
	rid_seeded = true;
}

static void
make_request_id(char out[17])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t		  v;

	if (!rid_seeded)
		rid_seed();
	rid_state += SPLITMIX_GAMMA;
	v = splitmix64_mix(rid_state);
	for (int i = 15; i >= 0; i--)
	{
		out[i] = hex[v & 15];
		v >>= 4;
	}
	out[16] = '\0';
}

/* ---- the handler ---- */

static enum MHD_Result
serve_health(struct MHD_Connection *c, struct request *r, bool ready_probe)
{
	struct server *srv = r->srv;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return respond_full(c, r, 405, BODY_METHOD, NULL, "GET", false, 0);
	if (!ready_probe)
		return respond(c, r, 200, "{\"status\":\"ok\"}");
	if (pool_ready(srv->pool) && routes_loaded())
		return respond(c, r, 200, "{\"status\":\"ready\"}");
	return respond_unavailable(c, r);
}

/*
 * First call, headers in, body not yet read: the checks that must refuse
 * before any body is read.  A response queued now makes libmicrohttpd
 * close the connection afterwards, which is what these cases want.
 * Returns true when a response was queued.
 */
static bool
check_framing(struct MHD_Connection *c, struct request *r, const char *version,
			  enum MHD_Result *ret)
{
	struct header_scan scan = {0};

	*ret = MHD_YES;
	if (r->raw_uri == NULL)
		return (*ret = respond_close(c, r, 400, BODY_BAD_PATH)), true;
	if (r->target_len > HTTP_MAX_URI)
		return (*ret = respond_close(c, r, 414, BODY_URI_TOO_LONG)), true;
	MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &scan);
	if (scan.bytes > HTTP_MAX_HEADERS)
		return (*ret = respond_close(c, r, 431, BODY_HEADERS_TOO_LARGE)), true;
	/* RFC 9112 3.2: one Host in HTTP/1.1 (1.0 may go without) */
	if (scan.nhost > 1 ||
		(scan.nhost == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0))
		return (*ret = respond_close(c, r, 400, BODY_BAD_HOST)), true;
	r->framing =
		(scan.ncl > MAX_REPEATED_HEADERS || scan.nte > MAX_REPEATED_HEADERS)
			? FRAMING_BAD
			: framing_check(scan.cl, scan.ncl, scan.te, scan.nte,
							&r->content_length);
	if (r->framing == FRAMING_BAD)
		return (*ret = respond_close(c, r, 400, BODY_BAD_FRAMING)), true;
	if (r->framing == FRAMING_LENGTH &&
		r->content_length > r->srv->cfg->max_body)
		return (*ret = respond_close(c, r, 413, BODY_TOO_LARGE)), true;
	return false;
}

/*
 * Final call, whole request in: path and query, the gateway's own
 * endpoints, preflight, the route match.  Returns true when a response
 * was queued; otherwise r->route_id is set.
 */
static bool
route_request(struct MHD_Connection *c, struct request *r,
			  enum MHD_Result *ret)
{
	struct catalog *cat;
	const char	   *query, *match_method;
	char			allow[128];
	size_t			path_len;

	*ret = MHD_YES;
	query = memchr(r->raw_uri, '?', r->raw_len);
	path_len = query ? (size_t) (query - r->raw_uri) : r->raw_len;
	r->path = malloc(path_len + 1);
	if (r->path == NULL)
		return (*ret = MHD_NO), true;
	if (path_len == 0 || r->raw_uri[0] != '/' ||
		unescape_strict(r->raw_uri, path_len, r->path) < 0)
	{
		free(r->path);
		r->path = NULL; /* the log shows the raw URI instead */
		return (*ret = respond(c, r, 400, BODY_BAD_PATH)), true;
	}
	if (query != NULL)
	{
		size_t qlen = r->raw_len - path_len - 1;

		for (size_t i = 0; i < qlen; i++)
			if ((unsigned char) query[1 + i] < 0x20 ||
				(unsigned char) query[1 + i] == 0x7f)
				return (*ret = respond(c, r, 400, BODY_BAD_QUERY)), true;
		if (!utf8_valid(query + 1, qlen))
			return (*ret = respond(c, r, 400, BODY_BAD_QUERY)), true;
	}

	if (strcmp(r->path, "/live") == 0 || strcmp(r->path, "/live/") == 0)
		return (*ret = serve_health(c, r, false)), true;
	if (strcmp(r->path, "/ready") == 0 || strcmp(r->path, "/ready/") == 0)
		return (*ret = serve_health(c, r, true)), true;
	if (strcmp(r->method, "OPTIONS") == 0 &&
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") != NULL &&
		MHD_lookup_connection_value(c, MHD_HEADER_KIND,
									"Access-Control-Request-Method") != NULL)
		return (*ret = respond_preflight(c, r)), true;

	cat = routes_acquire();
	if (cat == NULL)
		return (*ret = respond_unavailable(c, r)), true;
	/* HEAD is GET without the body, as every framework does it */
	match_method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	switch (catalog_match(cat, match_method, r->path, &r->route_id, allow,
						  sizeof(allow)))
	{
		case ROUTE_FOUND:
			routes_release(cat);
			return false;
		case ROUTE_NO_PATH:
			*ret = respond(c, r, 404, BODY_NOT_FOUND);
			break;
		case ROUTE_NO_METHOD:
			*ret = respond_full(c, r, 405, BODY_METHOD, NULL, allow, false, 0);
			break;
	}
	routes_release(cat);
	return true;
}

static enum MHD_Result
receive_body(struct request *r, const char *data, size_t size)
{
	unsigned long long max = r->srv->cfg->max_body;

	if (r->too_large || r->body_len + size > max)
	{
		r->too_large = true;
		free(r->body);
		r->body = NULL;
		r->discarded += size;
		/* an endless refused body is cut rather than read forever */
		return r->discarded > DISCARD_FACTOR * max ? MHD_NO : MHD_YES;
	}
	if (r->body_len + size + 1 > r->body_cap)
	{
		size_t cap = r->body_cap ? r->body_cap : 4096;
		char  *grown;

		if (r->framing == FRAMING_LENGTH && r->content_length + 1 > cap)
			cap = (size_t) r->content_length + 1;
		while (cap < r->body_len + size + 1)
			cap *= 2;
		grown = realloc(r->body, cap);
		if (grown == NULL)
			return MHD_NO;
		r->body = grown;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, size);
	r->body_len += size;
	r->body[r->body_len] = '\0';
	return MHD_YES;
}

static bool
header_ok(const char *v)
{
	return v == NULL || utf8_valid(v, strlen(v));
}

static enum MHD_Result
dispatch_request(struct MHD_Connection *c, struct request *r)
{
	struct server *srv = r->srv;
	const char	  *ctype =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *authz =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char			  *query = memchr(r->raw_uri, '?', r->raw_len);
	const char			  *params[DISPATCH_NPARAMS];
	struct dispatch_result res;
	char				   route[16];
	enum MHD_Result		   ret;

	if (r->too_large)
		return respond_close(c, r, 413, BODY_TOO_LARGE);
	if (route_request(c, r, &ret))
		return ret;
	if (r->body != NULL && (memchr(r->body, '\0', r->body_len) != NULL ||
							!utf8_valid(r->body, r->body_len)))
		return respond(c, r, 400, BODY_BAD_BODY);
	if (!header_ok(ctype) || !header_ok(authz))
		return respond(c, r, 400, BODY_BAD_HEADER);

	snprintf(route, sizeof(route), "%d", r->route_id);
	params[0] = route;
	params[1] = r->path;
	params[2] = query ? query + 1 : NULL;
	params[3] = r->body_len > 0 ? r->body : NULL;
	params[4] = ctype;
	params[5] = authz;
	params[6] = r->client;
	pool_dispatch(srv->pool, params, srv->cfg->pool_wait_ms, &res);
	switch (res.outcome)
	{
		case DISPATCH_OK:
			if (res.status < 100 || res.status > 599)
			{
				log_msg(LOG_ERROR, "rid=%s dispatcher returned status %d",
						r->id, res.status);
				ret = respond(c, r, 500, BODY_INTERNAL);
			}
			else
				ret = respond_full(c, r, res.status, res.body, res.headers,
								   NULL, false, 0);
			break;
		case DISPATCH_UNKNOWN_ROUTE:
			log_msg(LOG_WARN,
					"rid=%s route %d unknown to the database: "
					"reloading the catalog",
					r->id, r->route_id);
			ret = respond(c, r, 404, BODY_NOT_FOUND);
			break;
		case DISPATCH_ERROR:
			log_msg(LOG_ERROR, "rid=%s database error %s: %s", r->id,
					res.sqlstate, res.message);
			ret = respond(c, r, 500, BODY_INTERNAL);
			break;
		case DISPATCH_UNAVAILABLE:
		default:
			if (res.message[0] != '\0')
				log_msg(LOG_WARN, "rid=%s database unavailable: %s", r->id,
						res.message);
			ret = respond_unavailable(c, r);
			break;
	}
	dispatch_result_free(&res);
	return ret;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *c, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	struct request *r = *con_cls;
	enum MHD_Result ret;

	(void) cls;
	(void) url; /* decoded by the library: we use the raw URI */
	if (r == NULL)
		return MHD_NO;
	if (!r->started)
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		r->started = true;
		r->track = info ? info->socket_context : NULL;
		snprintf(r->method, sizeof(r->method), "%s", method);
		atomic_fetch_add(&r->srv->in_flight, 1);
		note_activity(r->srv);
		r->counted = true;
		resolve_client(r, c);
		if (check_framing(c, r, version, &ret))
		{
			deadline_request_received(r->track);
			return ret;
		}
		return MHD_YES;
	}
	if (r->answered)
	{
		*upload_data_size = 0; /* refused early: ignore the rest */
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		ret = receive_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	deadline_request_received(r->track);
	return dispatch_request(c, r);
}

/* ---- libmicrohttpd callbacks ---- */

/* A copy of the request target in origin form ("/path?query"): a target
 * in absolute form loses its scheme and authority ("http://h?q" is "/?q") */
static char *
origin_form(const char *target)
{
	const char *path = absolute_form_path(target);
	char	   *copy;

	if (path == NULL || *path == '/')
		return strdup(path ? path : target);
	copy = malloc(strlen(path) + 2);
	if (copy != NULL)
	{
		copy[0] = '/';
		strcpy(copy + 1, path);
	}
	return copy;
}

static void *
uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *r = calloc(1, sizeof(*r));

	(void) c;
	if (r == NULL)
		return NULL;
	r->srv = cls;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	make_request_id(r->id);
	r->target_len = strlen(uri);
	r->raw_uri = origin_form(uri);
	r->raw_len = r->raw_uri ? strlen(r->raw_uri) : 0;
	r->status = 0;
	return r;
}

/*
 * libmicrohttpd decodes the path and the query arguments with this.  The
 * gateway decodes the raw URI itself (and refuses bad escapes there), so
 * here an invalid escape only leaves the text as it was.
 */
static size_t
unescaper(void *cls, struct MHD_Connection *c, char *s)
{
	size_t len = strlen(s);
	char  *tmp = malloc(len + 1);
	long   n;

	(void) cls;
	(void) c;
	if (tmp == NULL)
		return len;
	n = unescape_strict(s, len, tmp);
	if (n >= 0)
		memcpy(s, tmp, (size_t) n + 1);
	free(tmp);
	return n >= 0 ? (size_t) n : len;
}

/* Tenths of a millisecond since start (integer: no floating-point printf). */
static long
elapsed_tenths_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 10000L +
		   (now.tv_nsec - start->tv_nsec) / 100000L;
}

static void
request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	struct server  *srv = cls;
	char			path[256], method[32];

	(void) c;
	if (r == NULL)
		return;
	if (r->started)
	{
		long tenths = elapsed_tenths_ms(&r->start);

		log_sanitize(path, sizeof(path), r->path ? r->path : r->raw_uri);
		log_sanitize(method, sizeof(method), r->method);
		log_access("access method=%s path=\"%s\" status=%d ms=%ld.%ld "
				   "rid=%s client=%s%s",
				   method, path, r->status, tenths / 10, tenths % 10, r->id,
				   r->client,
				   toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
															  : " aborted=1");
		deadline_request_done(r->track);
	}
	if (r->counted)
	{
		note_activity(srv);
		atomic_fetch_sub(&srv->in_flight, 1);
	}
	free(r->raw_uri);
	free(r->path);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

static void
connection_notify(void *cls, struct MHD_Connection *c, void **socket_context,
				  enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		atomic_fetch_add(&srv->open_conns, 1);
		*socket_context = info ? deadline_conn_open(info->connect_fd) : NULL;
	}
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
	{
		atomic_fetch_sub(&srv->open_conns, 1);
		deadline_conn_close(*socket_context);
		*socket_context = NULL;
	}
}

static void __attribute__((format(printf, 2, 0)))
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char   line[512];
	size_t len;

	(void) cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", line);
}

struct server *
server_start(const struct config *cfg, struct pool *pool, char *err,
			 size_t errlen)
{
	struct server		  *s = calloc(1, sizeof(*s));
	struct sockaddr_in6	   sa6 = {0};
	struct sockaddr_in	   sa4 = {0};
	const struct sockaddr *sa;
	unsigned int		   flags = MHD_USE_THREAD_PER_CONNECTION |
						 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
						 MHD_USE_ERROR_LOG;

	if (s == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->pool = pool;
	if (inet_pton(AF_INET, cfg->listen_addr, &sa4.sin_addr) == 1)
	{
		sa4.sin_family = AF_INET;
		sa4.sin_port = htons((uint16_t) cfg->port);
		sa = (const struct sockaddr *) &sa4;
	}
	else if (inet_pton(AF_INET6, cfg->listen_addr, &sa6.sin6_addr) == 1)
	{
		sa6.sin6_family = AF_INET6;
		sa6.sin6_port = htons((uint16_t) cfg->port);
		sa = (const struct sockaddr *) &sa6;
		/* "::" serves IPv4 clients too */
		flags |= IN6_IS_ADDR_UNSPECIFIED(&sa6.sin6_addr) ? MHD_USE_DUAL_STACK
														 : MHD_USE_IPv6;
	}
	else
	{
		snprintf(err, errlen, "GATEWAY_LISTEN: not an IP address");
		free(s);
		return NULL;
	}
	/* one option and its values per line */
	/* clang-format off */
	s->daemon = MHD_start_daemon(
		flags, (uint16_t) cfg->port, NULL, NULL, access_handler, s,
		MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->conn_timeout,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int) cfg->max_conns_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) MHD_MEMORY_LIMIT,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logger, s,
		MHD_OPTION_UNESCAPE_CALLBACK, unescaper, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, connection_notify, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_END);
	/* clang-format on */
	if (s->daemon == NULL)
	{
		snprintf(err, errlen, "cannot listen on %s port %d", cfg->listen_addr,
				 cfg->port);
		free(s);
		return NULL;
	}
	return s;
}

void
server_quiesce(struct server *s)
{
	MHD_socket fd;

	atomic_store(&s->last_activity, monotonic_ms());
	atomic_store(&s->draining, true);
	fd = MHD_quiesce_daemon(s->daemon);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

int
server_in_flight(struct server *s)
{
	return atomic_load(&s->in_flight);
}

bool
server_drained(struct server *s, int quiet_ms)
{
	if (atomic_load(&s->in_flight) > 0)
		return false;
	/* connections left are idle: server_stop closes them unless one was
	 * active a moment ago (its client may be sending the next request) */
	return atomic_load(&s->open_conns) == 0 ||
		   monotonic_ms() - atomic_load(&s->last_activity) >= quiet_ms;
}

void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}
