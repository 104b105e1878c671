/*
 * libFuzzer target: the gateway's parsers of request headers and of the
 * settings they are checked against (gateway/src/client.c, httpcheck.c).
 * Build: tests/fuzz/build.sh headers   (binary in .pgapp/build/fuzz_headers)
 *
 * Input: lines, each a field in this order (missing lines are absent):
 *   TRUSTED_PROXIES, peer address, X-Forwarded-For, BACKEND_CORS_ORIGINS,
 *   Origin, one "Name: value" line of the dispatcher's headers column,
 *   then any number of "L<Content-Length value>" / "T<Transfer-Encoding
 *   value>" lines.
 *
 * Invariants checked (abort() on a violation, beside ASan and UBSan):
 * - a parsed CIDR has no host bits set and contains its own network;
 * - an address formats and parses back to the same bytes;
 * - the resolved client is a valid address, the one a second, simpler
 *   implementation of the X-Forwarded-For walk picks;
 * - an allowed Origin is an http(s) origin listed, or allowed by "*";
 * - a split header line has a token name and a value without control
 *   bytes or surrounding whitespace;
 * - framing: a length only from exactly one Content-Length of digits and
 *   no Transfer-Encoding, chunked only from exactly one Transfer-Encoding
 *   and no Content-Length, no body only when neither came.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "httpcheck.h"

#define MAX_FRAMING 4

static bool
same_addr(const struct ipaddr *a, const struct ipaddr *b)
{
	return memcmp(a->bytes, b->bytes, 16) == 0;
}

static void
check_cidrs(const struct cidr *list, int n)
{
	for (int i = 0; i < n; i++)
	{
		const struct cidr *c = &list[i];

		if (c->prefix < 0 || c->prefix > 128)
			abort();
		for (int bit = c->prefix; bit < 128; bit++)
			if (c->net.bytes[bit / 8] & (0x80u >> (bit % 8)))
				abort();
		if (!cidr_contains(c, &c->net))
			abort();
	}
}

static void
check_round_trip(const struct ipaddr *a)
{
	char		  text[CLIENT_ADDR_LEN];
	struct ipaddr back;

	ipaddr_format(a, text, sizeof(text));
	if (!ipaddr_parse(text, &back) || !same_addr(a, &back) ||
		back.is_v4 != a->is_v4)
		abort();
}

/*
 * The client X-Forwarded-For names, by a second implementation of the
 * walk: split into hops first, then from the right, taking each valid hop
 * and stopping after the first untrusted one or at an invalid one.
 */
static bool
reference_client(const struct ipaddr *peer, const char *xff,
				 const struct cidr *trusted, int n, struct ipaddr *chosen)
{
	struct ipaddr hop;
	char		 *copy, *save = NULL, *tok, *hops[64];
	int			  nhops = 0;

	*chosen = *peer;
	if (xff == NULL || n == 0 || !cidr_list_contains(trusted, n, peer))
		return true;
	copy = strdup(xff);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && nhops < 64;
		 tok = strtok_r(NULL, ",", &save))
	{
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok != '\0')
			hops[nhops++] = tok;
	}
	if (tok != NULL)
	{
		free(copy);
		return false; /* more hops than this oracle keeps: not checked */
	}
	for (int i = nhops - 1; i >= 0; i--)
	{
		if (!ipaddr_parse(hops[i], &hop))
			break;
		*chosen = hop;
		if (!cidr_list_contains(trusted, n, &hop))
			break;
	}
	free(copy);
	return true;
}

static void
check_client(const char *trusted_text, const char *peer_text, const char *xff)
{
	struct cidr	 *trusted;
	struct ipaddr peer, client, want;
	char		  err[128] = "", out[CLIENT_ADDR_LEN];
	int n = cidr_list_parse(trusted_text, &trusted, err, sizeof(err));

	if (n < 0)
	{
		if (trusted != NULL || err[0] == '\0')
			abort();
		return;
	}
	check_cidrs(trusted, n);
	if (ipaddr_parse(peer_text, &peer))
	{
		check_round_trip(&peer);
		client_resolve(&peer, xff, trusted, n, out, sizeof(out));
		if (!ipaddr_parse(out, &client))
			abort();
		if (reference_client(&peer, xff, trusted, n, &want) &&
			!same_addr(&client, &want))
			abort();
	}
	free(trusted);
}

static void
check_cors(const char *config, const char *origin)
{
	char **origins;
	char   err[128] = "";
	int	   n = cors_parse(config, &origins, err, sizeof(err));
	bool   listed = false, star = false;

	if (n < 0)
	{
		if (origins != NULL || err[0] == '\0')
			abort();
		return;
	}
	for (int i = 0; i < n; i++)
	{
		if (origins[i][0] == '\0')
			abort();
		star |= strcmp(origins[i], "*") == 0;
		listed |= origin != NULL && strcmp(origins[i], origin) == 0;
	}
	if (cors_allowed(origins, n, origin) &&
		((strncmp(origin, "http://", 7) != 0 &&
		  strncmp(origin, "https://", 8) != 0) ||
		 !(listed || star)))
		abort();
	cors_free(origins, n);
}

static void
check_header_line(const char *line)
{
	char *copy = strdup(line), *name, *value;
	char  last;

	if (header_line_split(copy, &name, &value))
	{
		if (!http_token(name))
			abort();
		for (const char *p = value; *p; p++)
			if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
				abort();
		last = *value ? value[strlen(value) - 1] : 'x';
		if (*value == ' ' || *value == '\t' || last == ' ' || last == '\t')
			abort();
	}
	free(copy);
}

static void
check_framing(const char *const *cl, int ncl, const char *const *te, int nte)
{
	unsigned long long length;
	enum framing	   f = framing_check(cl, ncl, te, nte, &length);

	switch (f)
	{
		case FRAMING_NONE:
			if (ncl != 0 || nte != 0)
				abort();
			break;
		case FRAMING_LENGTH:
		{
			const char *p = cl[0];

			if (ncl != 1 || nte != 0)
				abort();
			while (*p == ' ' || *p == '\t')
				p++;
			if (!isdigit((unsigned char) *p) ||
				strtoull(p, NULL, 10) != length)
				abort();
			break;
		}
		case FRAMING_CHUNKED:
			if (nte != 1 || ncl != 0)
				abort();
			break;
		case FRAMING_BAD:
			if (length != 0 || (ncl == 0 && nte == 0))
				abort();
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *input = malloc(size + 1), *save = NULL, *line;
	const char *field[6] = {NULL};
	const char *cl[MAX_FRAMING], *te[MAX_FRAMING];
	int			nfield = 0, ncl = 0, nte = 0;

	memcpy(input, data, size);
	input[size] = '\0';
	/* strtok_r would merge empty lines: split by hand */
	for (line = input; line != NULL; line = save)
	{
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		if (nfield < 6)
			field[nfield++] = line;
		else if (line[0] == 'L' && ncl < MAX_FRAMING)
			cl[ncl++] = line + 1;
		else if (line[0] == 'T' && nte < MAX_FRAMING)
			te[nte++] = line + 1;
	}
	if (field[1] != NULL)
		check_client(field[0], field[1], field[2]);
	if (field[3] != NULL)
		check_cors(field[3], field[4]);
	if (field[5] != NULL)
		check_header_line(field[5]);
	check_framing(cl, ncl, te, nte);
	free(input);
	return 0;
}
