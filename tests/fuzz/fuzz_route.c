/*
 * libFuzzer target: request target → strict unescape → route match.
 * Build: make -C gateway fuzz   (binary in .pgapp/build/fuzz_route)
 * Run:   mkdir -p .pgapp/build/corpus-route &&
 *        .pgapp/build/fuzz_route -max_total_time=60 .pgapp/build/corpus-route
 * \ tests/fuzz/corpus/route (new inputs go to the first, scratch directory:
 * never the seeds)
 *
 * Input: "METHOD path?query".  Invariants checked: a decoded path has no
 * control byte and is valid UTF-8, is never longer than its input, and a
 * match result is consistent (found → a catalog id; 405 → a non-empty
 * Allow list).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"
#include "routes.h"

static struct catalog *cat;

static void
build_catalog(void)
{
	static const char *const rows[][2] = {
		{"GET", "/api/v1/users"},
		{"POST", "/api/v1/users"},
		{"GET", "/api/v1/users/me"},
		{"PATCH", "/api/v1/users/me"},
		{"GET", "/api/v1/users/{id}"},
		{"POST", "/api/v1/users/signup"},
		{"GET", "/api/v1/items/{id}"},
		{"PUT", "/api/v1/items/{id}"},
		{"DELETE", "/api/v1/items/{id}"},
		{"GET", "/"},
		{"POST", "/api/v1/password-recovery/{email}"},
	};
	char err[128];

	cat = catalog_new();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (catalog_add(cat, (int) i + 1, rows[i][0], rows[i][1], err,
						sizeof(err)) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*input, *space, *path, *query, allow[128];
	size_t			 path_len;
	long			 n;
	int				 id = 0;
	enum route_match m;

	if (cat == NULL)
		build_catalog();
	input = malloc(size + 1);
	memcpy(input, data, size);
	input[size] = '\0';
	space = memchr(input, ' ', size);
	if (space == NULL)
	{
		free(input);
		return 0;
	}
	*space = '\0';
	query = memchr(space + 1, '?', size - (size_t) (space + 1 - input));
	path_len = query ? (size_t) (query - space - 1)
					 : size - (size_t) (space + 1 - input);
	path = malloc(path_len + 1);
	n = unescape_strict(space + 1, path_len, path);
	if (n >= 0)
	{
		if ((size_t) n > path_len || strlen(path) != (size_t) n)
			abort();
		for (long i = 0; i < n; i++)
			if ((unsigned char) path[i] < 0x20 || path[i] == 0x7f)
				abort();
		if (!utf8_valid(path, (size_t) n))
			abort();
		m = catalog_match(cat, input, path, &id, allow, sizeof(allow));
		if (m == ROUTE_FOUND && (id < 1 || id > catalog_size(cat)))
			abort();
		if (m == ROUTE_NO_METHOD && allow[0] == '\0')
			abort();
	}
	free(path);
	free(input);
	return 0;
}
