/*
 * multipart.c — multipart/form-data bodies (see multipart.h).
 *
 * Strict where it costs a browser nothing: lines end with CRLF, every
 * part has headers, a blank line and a Content-Disposition of form-data
 * with a name, and the body ends with the close delimiter.  A quoted
 * parameter is taken literally up to the next quote, as the HTML standard
 * has browsers write it (they send a quote in a name as %22).
 */
#ifdef PGAPP_STANDALONE
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#define pg_strncasecmp strncasecmp
#else
#include "postgres.h"
#endif

#include "multipart.h"

/* First occurrence of needle in hay, or NULL */
static const char *
MultipartFind(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	const char *end = hay + hlen;

	while ((size_t) (end - hay) >= nlen)
	{
		const char *p =
			memchr(hay, needle[0], (size_t) (end - hay) - nlen + 1);

		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, nlen) == 0)
			return p;
		hay = p + 1;
	}
	return NULL;
}

/* p moved past spaces and tabs, not beyond end */
static const char *
MultipartSkipSpace(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* A token character of RFC 9110 §5.6.2 */
static bool
MultipartIsToken(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		   (c >= 'A' && c <= 'Z') ||
		   (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* A character RFC 2046 §5.1.1 allows in a boundary */
static bool
MultipartIsBoundaryChar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		   (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("'()+_,-./:=? ", c));
}

/*
 * One parameter "; name=value" starting at *p (before the ';'), value a
 * token or a quoted string.  Advances *p past it.  False when malformed.
 */
static bool
MultipartParam(const char **p, const char *end, const char **name,
			   size_t *name_len, const char **value, size_t *value_len)
{
	const char *s = *p;

	s = MultipartSkipSpace(s, end);
	if (s == end || *s != ';')
		return false;
	s++;
	s = MultipartSkipSpace(s, end);
	*name = s;
	while (s < end && MultipartIsToken(*s))
		s++;
	*name_len = (size_t) (s - *name);
	if (*name_len == 0 || s == end || *s != '=')
		return false;
	s++;
	if (s < end && *s == '"')
	{
		const char *close = memchr(s + 1, '"', (size_t) (end - s - 1));

		if (close == NULL)
			return false;
		*value = s + 1;
		*value_len = (size_t) (close - s - 1);
		s = close + 1;
	}
	else
	{
		*value = s;
		while (s < end && MultipartIsToken(*s))
			s++;
		*value_len = (size_t) (s - *value);
		if (*value_len == 0)
			return false;
	}
	*p = s;
	return true;
}

/* Is [s, s + len) the word, ignoring case? */
static bool
MultipartIs(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && pg_strncasecmp(s, word, len) == 0;
}

bool
MultipartBoundary(const char *content_type, char *out)
{
	const char *p = content_type, *end = p + strlen(p);
	const char *type = "multipart/form-data";
	size_t		tlen = strlen(type);

	p = MultipartSkipSpace(p, end);
	if ((size_t) (end - p) < tlen || pg_strncasecmp(p, type, tlen) != 0)
		return false;
	p += tlen;
	while (p < end)
	{
		const char *name, *value;
		size_t		name_len, value_len;

		if (!MultipartParam(&p, end, &name, &name_len, &value, &value_len))
			return false;
		if (!MultipartIs(name, name_len, "boundary"))
			continue;
		if (value_len == 0 || value_len > MULTIPART_MAX_BOUNDARY ||
			value[value_len - 1] == ' ')
			return false;
		for (size_t i = 0; i < value_len; i++)
			if (!MultipartIsBoundaryChar(value[i]))
				return false;
		memcpy(out, value, value_len);
		out[value_len] = '\0';
		return true;
	}
	return false;
}

/*
 * The header lines of one part, [h, end), each ending with CRLF: fills
 * the part's name and is_file from Content-Disposition.  False when a
 * line is not a header, or the disposition is missing, repeated, not
 * form-data or without exactly one name.
 */
static bool
MultipartHeaders(const char *h, const char *end, MultipartPart *part)
{
	bool seen = false;

	while (h < end)
	{
		const char *eol = MultipartFind(h, (size_t) (end - h), "\r\n", 2);
		const char *colon, *p, *type;
		bool		named = false;

		if (eol == NULL)
			return false;
		colon = memchr(h, ':', (size_t) (eol - h));
		if (colon == NULL || colon == h)
			return false;
		if (!MultipartIs(h, (size_t) (colon - h), "Content-Disposition"))
		{
			h = eol + 2;
			continue; /* Content-Type and the like: not needed */
		}
		if (seen)
			return false;
		seen = true;
		p = colon + 1;
		p = MultipartSkipSpace(p, eol);
		type = p;
		while (p < eol && MultipartIsToken(*p))
			p++;
		if (!MultipartIs(type, (size_t) (p - type), "form-data"))
			return false;
		p = MultipartSkipSpace(p, eol);
		while (p < eol)
		{
			const char *name, *value;
			size_t		name_len, value_len;

			if (!MultipartParam(&p, eol, &name, &name_len, &value, &value_len))
				return false;
			if (MultipartIs(name, name_len, "name"))
			{
				if (named)
					return false;
				named = true;
				part->name = value;
				part->name_len = value_len;
			}
			else if (MultipartIs(name, name_len, "filename") ||
					 MultipartIs(name, name_len, "filename*"))
				part->is_file = true;
			p = MultipartSkipSpace(p, eol);
		}
		if (!named)
			return false;
		h = eol + 2;
	}
	return seen;
}

bool
MultipartParse(const char *body, size_t len, const char *boundary,
			   MultipartPartFn fn, void *arg)
{
	char		delim[MULTIPART_MAX_BOUNDARY + 5]; /* CRLF "--" boundary */
	size_t		blen = strlen(boundary), dlen = blen + 4;
	const char *p, *end = body + len;
	int			nparts = 0;

	if (blen == 0 || blen > MULTIPART_MAX_BOUNDARY)
		return false;
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, boundary, blen);
	/* the first delimiter opens the body or ends a preamble's last line */
	if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
		p = body + dlen - 2;
	else if ((p = MultipartFind(body, len, delim, dlen)) != NULL)
		p += dlen;
	else
		return false;
	for (;;)
	{
		MultipartPart part = {0};
		const char	 *next, *blank;

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return true; /* the close delimiter; an epilogue is ignored */
		p = MultipartSkipSpace(p, end);
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return false;
		p += 2;
		/* the part runs to the next delimiter; none means a cut body */
		next = MultipartFind(p, (size_t) (end - p), delim, dlen);
		if (next == NULL)
			return false;
		/* its headers end with a blank line, its content follows */
		blank = MultipartFind(p, (size_t) (next - p), "\r\n\r\n", 4);
		if (blank == NULL || !MultipartHeaders(p, blank + 2, &part))
			return false;
		part.value = blank + 4;
		part.value_len = (size_t) (next - part.value);
		if (++nparts > MULTIPART_MAX_PARTS || !fn(&part, arg))
			return false;
		p = next + dlen;
	}
}
