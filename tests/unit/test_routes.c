#include "unit.h"

#include "routes.h"

static struct catalog *
sample(void)
{
	static const struct
	{
		int			id;
		const char *method, *path;
	} rows[] = {
		{1, "GET", "/api/v1/users"},
		{2, "POST", "/api/v1/users"},
		{3, "GET", "/api/v1/users/me"},
		{4, "PATCH", "/api/v1/users/me"},
		{5, "DELETE", "/api/v1/users/me"},
		{6, "GET", "/api/v1/users/{id}"},
		{7, "PATCH", "/api/v1/users/{id}"},
		{8, "DELETE", "/api/v1/users/{id}"},
		{9, "POST", "/api/v1/users/signup"},
		{10, "PATCH", "/api/v1/users/me/password"},
		{11, "GET", "/api/v1/items/{id}"},
		{12, "PUT", "/api/v1/items/{id}"},
		{13, "GET", "/api/v1/utils/health-check"},
		{14, "POST", "/api/v1/password-recovery/{email}"},
		{15, "GET", "/"},
	};
	struct catalog *c = catalog_new();
	char			err[128];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(catalog_add(c, rows[i].id, rows[i].method, rows[i].path, err,
						  sizeof(err)) == 0);
	return c;
}

static int
match(struct catalog *c, const char *method, const char *path, char *allow)
{
	int				 id = -1;
	char			 buf[128];
	enum route_match m =
		catalog_match(c, method, path, &id, allow ? allow : buf, sizeof(buf));

	if (m == ROUTE_NO_PATH)
		return -404;
	if (m == ROUTE_NO_METHOD)
		return -405;
	return id;
}

void
test_routes(void)
{
	struct catalog *c = sample();
	char			allow[128], err[128];

	/* literal and parameter segments */
	CHECK(match(c, "GET", "/api/v1/users", NULL) == 1);
	CHECK(match(c, "POST", "/api/v1/users", NULL) == 2);
	CHECK(match(c, "GET", "/api/v1/users/me", NULL) == 3);
	CHECK(match(c, "GET", "/api/v1/users/1234", NULL) == 6);
	CHECK(match(c, "PATCH", "/api/v1/users/abc", NULL) == 7);
	/* literals win over parameters */
	CHECK(match(c, "PATCH", "/api/v1/users/me", NULL) == 4);
	CHECK(match(c, "DELETE", "/api/v1/users/me", NULL) == 5);
	CHECK(match(c, "POST", "/api/v1/users/signup", NULL) == 9);
	/* ... but a parameter route with the method still answers */
	CHECK(match(c, "GET", "/api/v1/users/signup", NULL) == 6);
	CHECK(match(c, "PATCH", "/api/v1/users/me/password", NULL) == 10);
	/* trailing slash: both forms, no redirect */
	CHECK(match(c, "GET", "/api/v1/users/", NULL) == 1);
	CHECK(match(c, "GET", "/api/v1/utils/health-check/", NULL) == 13);
	CHECK(match(c, "GET", "/api/v1/items/42/", NULL) == 11);
	CHECK(match(c, "GET", "/", NULL) == 15);
	/* only one trailing slash is forgiven; empty segments never match */
	CHECK(match(c, "GET", "/api/v1/users//", NULL) == -404);
	CHECK(match(c, "GET", "/api/v1/items//", NULL) == -404);
	CHECK(match(c, "GET", "/api/v1//items/1", NULL) == -404);
	/* a parameter is exactly one segment */
	CHECK(match(c, "GET", "/api/v1/items/1/2", NULL) == -404);
	CHECK(match(c, "GET", "/api/v1/items", NULL) == -404);
	CHECK(match(c, "GET", "/nope", NULL) == -404);
	CHECK(match(c, "GET", "", NULL) == -404);
	CHECK(match(c, "GET", "relative", NULL) == -404);
	/* methods are case-sensitive */
	CHECK(match(c, "get", "/api/v1/users", NULL) == -405);
	/* 405 lists the methods of every pattern matching the path */
	CHECK(match(c, "PUT", "/api/v1/users/me", allow) == -405);
	CHECK_STR(allow, "GET, PATCH, DELETE");
	CHECK(match(c, "DELETE", "/api/v1/users", allow) == -405);
	CHECK_STR(allow, "GET, POST");
	CHECK(match(c, "PUT", "/api/v1/users/signup", allow) == -405);
	CHECK_STR(allow, "GET, POST, PATCH, DELETE");
	CHECK(match(c, "POST", "/api/v1/utils/health-check/", allow) == -405);
	CHECK_STR(allow, "GET");
	/* bad rows are refused */
	CHECK(catalog_add(c, 99, "G ET", "/x", err, sizeof(err)) != 0);
	CHECK(catalog_add(c, 99, "GET", "x", err, sizeof(err)) != 0);
	CHECK(catalog_size(c) == 15);
	catalog_free(c);

	/* publish and swap: a held reference outlives the swap */
	CHECK(!routes_loaded());
	routes_publish(sample());
	CHECK(routes_loaded());
	{
		struct catalog *held = routes_acquire();
		struct catalog *next = catalog_new();

		CHECK(catalog_add(next, 1, "GET", "/only", err, sizeof(err)) == 0);
		routes_publish(next);
		CHECK(match(held, "GET", "/api/v1/users", NULL) == 1);
		routes_release(held);
		held = routes_acquire();
		CHECK(match(held, "GET", "/only", NULL) == 1);
		CHECK(match(held, "GET", "/api/v1/users", NULL) == -404);
		routes_release(held);
	}
	routes_shutdown();
	CHECK(!routes_loaded());
}
