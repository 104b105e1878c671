/*
 * httpcheck.c — strict HTTP input rules that libmicrohttpd 0.9.75 leaves
 * to us (SPEC §8).
 */
#include "httpcheck.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t				 i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		int			  extra;
		unsigned int  cp, min;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
		{
			extra = 1;
			cp = c & 0x1f;
			min = 0x80;
		}
		else if (c >= 0xe0 && c <= 0xef)
		{
			extra = 2;
			cp = c & 0x0f;
			min = 0x800;
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			extra = 3;
			cp = c & 0x07;
			min = 0x10000;
		}
		else
			return false;
		if (n - i <= (size_t) extra)
			return false;
		for (int k = 1; k <= extra; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += (size_t) extra + 1;
	}
	return true;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
unescape_strict(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) in[i];

		if (c == '%')
		{
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = hex_value(in[i + 1]);
			lo = hex_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char) (hi * 16 + lo);
			i += 3;
		}
		else
			i++;
		if (c < 0x20 || c == 0x7f)
			return -1;
		out[o++] = (char) c;
	}
	out[o] = '\0';
	if (!utf8_valid(out, o))
		return -1;
	return (long) o;
}

static const char *
skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The value without surrounding whitespace equals word, ignoring case. */
static bool
value_is(const char *value, const char *word)
{
	size_t wl = strlen(word);

	value = skip_ows(value);
	if (strncasecmp(value, word, wl) != 0)
		return false;
	return *skip_ows(value + wl) == '\0';
}

static bool
parse_length(const char *value, unsigned long long *length)
{
	const char		  *p = skip_ows(value);
	unsigned long long v = 0;
	int				   digits = 0;

	for (; isdigit((unsigned char) *p); p++)
	{
		if (++digits > 18)
			return false;
		v = v * 10 + (unsigned long long) (*p - '0');
	}
	if (digits == 0 || *skip_ows(p) != '\0')
		return false;
	*length = v;
	return true;
}

enum framing
framing_check(const char *const *cl, int ncl, const char *const *te, int nte,
			  unsigned long long *length)
{
	*length = 0;
	if (ncl > 1 || nte > 1 || (ncl == 1 && nte == 1))
		return FRAMING_BAD;
	if (nte == 1)
		return value_is(te[0], "chunked") ? FRAMING_CHUNKED : FRAMING_BAD;
	if (ncl == 1)
		return parse_length(cl[0], length) ? FRAMING_LENGTH : FRAMING_BAD;
	return FRAMING_NONE;
}

void
cors_free(char **origins, int n)
{
	for (int i = 0; i < n; i++)
		free(origins[i]);
	free(origins);
}

/*
 * An origin is scheme://host[:port] and nothing else (RFC 6454): no
 * path, query, fragment or user info; the host a name or an IP literal
 * in brackets; the port, when given, 1..65535.
 */
static bool
origin_valid(const char *o)
{
	const char *host, *p;

	if (strcmp(o, "*") == 0)
		return true;
	if (strncmp(o, "http://", 7) == 0)
		host = o + 7;
	else if (strncmp(o, "https://", 8) == 0)
		host = o + 8;
	else
		return false;
	p = host;
	if (*p == '[')
	{
		for (p++; isxdigit((unsigned char) *p) || *p == ':' || *p == '.'; p++)
			;
		if (*p != ']' || p == host + 1)
			return false;
		p++;
	}
	else
	{
		while (isalnum((unsigned char) *p) || *p == '-' || *p == '.' ||
			   *p == '_')
			p++;
		if (p == host)
			return false;
	}
	if (*p == ':')
	{
		long port = 0;

		if (!isdigit((unsigned char) p[1]))
			return false;
		for (p++; isdigit((unsigned char) *p) && port <= 65535; p++)
			port = port * 10 + (*p - '0');
		if (port < 1 || port > 65535)
			return false;
	}
	return *p == '\0';
}

int
cors_parse(const char *text, char ***out, char *err, size_t errlen)
{
	char  *copy, *p, *save = NULL, *tok;
	char **list = NULL;
	int	   n = 0;

	*out = NULL;
	if (text == NULL)
		return 0;
	copy = strdup(text);
	if (copy == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p = (char *) skip_ows(copy);
	if (*p == '[')
	{
		char *close = strrchr(p, ']');

		if (close == NULL || *skip_ows(close + 1) != '\0')
		{
			snprintf(err, errlen, "unterminated list");
			goto fail;
		}
		*close = '\0';
		p++;
	}
	for (tok = strtok_r(p, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		char  *item = (char *) skip_ows(tok), *end = item + strlen(item);
		char **grown;

		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (end > item + 1 && (*item == '"' || *item == '\'') &&
			end[-1] == *item)
		{
			*--end = '\0';
			item++;
		}
		while (end > item && end[-1] == '/')
			*--end = '\0';
		if (*item == '\0')
			continue;
		if (!origin_valid(item))
		{
			snprintf(err, errlen,
					 "not an origin (scheme://host[:port]): \"%.64s\"", item);
			goto fail;
		}
		grown = realloc(list, (size_t) (n + 1) * sizeof(*list));
		if (grown == NULL || (grown[n] = strdup(item)) == NULL)
		{
			list = grown ? grown : list;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		list = grown;
		n++;
	}
	free(copy);
	*out = list;
	return n;
fail:
	free(copy);
	cors_free(list, n);
	return -1;
}

bool
cors_allowed(char *const *origins, int n, const char *origin)
{
	if (origin == NULL || *origin == '\0' || !origin_valid(origin) ||
		strcmp(origin, "*") == 0)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(origins[i], "*") == 0 || strcmp(origins[i], origin) == 0)
			return true;
	return false;
}

const char *
absolute_form_path(const char *target)
{
	size_t scheme;

	if (strncasecmp(target, "http://", 7) == 0)
		scheme = 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		scheme = 8;
	else
		return NULL;
	target += scheme;
	if (*target == '\0' || *target == '/' || *target == '?')
		return NULL; /* no authority */
	return target + strcspn(target, "/?");
}

/* RFC 9110's tchar; c is never NUL here */
static bool
tchar(char c)
{
	return isalnum((unsigned char) c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool
http_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!tchar(*s))
			return false;
	return true;
}

bool
field_name_list_ok(const char *s)
{
	for (;;)
	{
		const char *start;

		s = skip_ows(s);
		start = s;
		while (*s != '\0' && *s != ',' && *s != ' ' && *s != '\t')
		{
			if (!tchar(*s))
				return false;
			s++;
		}
		if (s == start)
			return false;
		s = skip_ows(s);
		if (*s == '\0')
			return true;
		if (*s++ != ',')
			return false;
	}
}

bool
header_line_split(char *line, char **name, char **value)
{
	char *colon = strchr(line, ':'), *v, *end;

	if (colon == NULL)
		return false;
	*colon = '\0';
	if (!http_token(line))
		return false;
	v = (char *) skip_ows(colon + 1);
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	for (const char *p = v; *p; p++)
		if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	*name = line;
	*value = v;
	return true;
}
