/*
 * libFuzzer target: multipart/form-data bodies (extension/src/multipart.c,
 * compiled standalone), as the dispatcher reads a browser's login form.
 * Build: tests/fuzz/build.sh multipart
 *
 * Input: a Content-Type line, then the body.  Besides ASan and UBSan:
 * - every part the parser reports lies inside the body, and its content
 *   never holds the delimiter;
 * - a body built from fields (names and values cut from the input, each
 *   value free of the delimiter) parses back to exactly those fields, in
 *   order, with and without a preamble and an epilogue.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

#define MAX_FIELDS 8

struct seen
{
	const char	 *body;
	size_t		  len;
	const char	 *delim; /* CRLF "--" boundary */
	size_t		  dlen;
	int			  n;
	MultipartPart parts[MAX_FIELDS];
};

static bool
contains(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return true;
	return false;
}

static bool
inside(const struct seen *s, const char *p, size_t n)
{
	return p >= s->body && n <= s->len && p + n <= s->body + s->len;
}

static bool
collect(const MultipartPart *part, void *arg)
{
	struct seen *s = arg;

	if (!inside(s, part->name, part->name_len) ||
		!inside(s, part->value, part->value_len) ||
		contains(part->value, part->value_len, s->delim, s->dlen))
		abort();
	if (s->n < MAX_FIELDS)
		s->parts[s->n] = *part;
	s->n++;
	return true;
}

static void
set_delim(struct seen *s, char *buf, const char *boundary)
{
	s->dlen = (size_t) snprintf(buf, MULTIPART_MAX_BOUNDARY + 5, "\r\n--%s",
								boundary);
	s->delim = buf;
}

/* Arbitrary bodies: no crash, and the parts found are sound */
static void
check_raw(const char *input, size_t size)
{
	const char *nl = memchr(input, '\n', size);
	char		ctype[256], boundary[MULTIPART_MAX_BOUNDARY + 1];
	char		delim[MULTIPART_MAX_BOUNDARY + 5];
	struct seen s = {0};
	size_t		clen;

	if (nl == NULL || (clen = (size_t) (nl - input)) >= sizeof(ctype))
		return;
	memcpy(ctype, input, clen);
	ctype[clen] = '\0';
	if (!MultipartBoundary(ctype, boundary))
		return;
	if (strlen(boundary) == 0 || strlen(boundary) > MULTIPART_MAX_BOUNDARY)
		abort();
	s.body = nl + 1;
	s.len = size - clen - 1;
	set_delim(&s, delim, boundary);
	(void) MultipartParse(s.body, s.len, boundary, collect, &s);
}

/* Fields cut from the input, written as a browser would, read back */
static void
check_round_trip(const char *input, size_t size)
{
	static const char bchars[] =
		"0123456789abcdefghijklmnopqrstuvwxyz'()+_,-./:=?";
	char		boundary[17], delim[MULTIPART_MAX_BOUNDARY + 5];
	const char *names[MAX_FIELDS], *values[MAX_FIELDS];
	size_t		name_lens[MAX_FIELDS], value_lens[MAX_FIELDS];
	int			n = 0;
	size_t		len = 0;
	char	   *body;
	struct seen s = {0};
	const char *p = input, *end = input + size;

	if (size < 1)
		return;
	for (int i = 0; i < 16; i++)
		boundary[i] =
			bchars[(unsigned char) input[i % size] % (sizeof(bchars) - 1)];
	boundary[16] = '\0';
	set_delim(&s, delim, boundary);
	/* fields "name\x01value\x02", a name without quote, NUL, CR or LF */
	while (p < end && n < MAX_FIELDS)
	{
		const char *sep = memchr(p, '\x01', (size_t) (end - p)), *stop;

		if (sep == NULL)
			break;
		stop = memchr(sep + 1, '\x02', (size_t) (end - sep - 1));
		if (stop == NULL)
			stop = end;
		names[n] = p;
		name_lens[n] = (size_t) (sep - p);
		values[n] = sep + 1;
		value_lens[n] = (size_t) (stop - sep - 1);
		if (memchr(names[n], '"', name_lens[n]) ||
			memchr(names[n], '\0', name_lens[n]) ||
			memchr(names[n], '\r', name_lens[n]) ||
			memchr(names[n], '\n', name_lens[n]) ||
			contains(values[n], value_lens[n], delim, s.dlen) ||
			contains(values[n], value_lens[n], delim + 2, s.dlen - 2))
			return;
		n++;
		p = stop < end ? stop + 1 : end;
	}
	/* the input, 65 bytes of framing per field, preamble and close */
	body = malloc(size + (size_t) n * 65 + 64);
	if (input[0] & 1)
		len += (size_t) sprintf(body, "preamble\r\n");
	for (int i = 0; i < n; i++)
	{
		len += (size_t) sprintf(body + len,
								"--%s\r\nContent-Disposition: form-data; "
								"name=\"%.*s\"\r\n\r\n",
								boundary, (int) name_lens[i], names[i]);
		memcpy(body + len, values[i], value_lens[i]);
		len += value_lens[i];
		len += (size_t) sprintf(body + len, "\r\n");
	}
	len += (size_t) sprintf(body + len, "--%s--\r\n%s", boundary,
							input[0] & 2 ? "epilogue" : "");
	s.body = body;
	s.len = len;
	if (!MultipartParse(body, len, boundary, collect, &s) || s.n != n)
		abort();
	for (int i = 0; i < n; i++)
		if (s.parts[i].is_file || s.parts[i].name_len != name_lens[i] ||
			memcmp(s.parts[i].name, names[i], name_lens[i]) != 0 ||
			s.parts[i].value_len != value_lens[i] ||
			memcmp(s.parts[i].value, values[i], value_lens[i]) != 0)
			abort();
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_raw((const char *) data, size);
	check_round_trip((const char *) data, size);
	return 0;
}
