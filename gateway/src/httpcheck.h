/*
 * httpcheck.h — the pure parts of HTTP hardening: strict percent-decoding,
 * message framing (Content-Length / Transfer-Encoding), CORS origins and
 * the header lines the dispatcher returns.  No libmicrohttpd, no I/O, so
 * the unit tests and the fuzzer can drive them directly.
 */
#ifndef GW_HTTPCHECK_H
#define GW_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_URI 8192	   /* request target: 414 beyond */
#define HTTP_MAX_HEADERS 32768 /* all header lines: 431 beyond */

bool utf8_valid(const char *s, size_t n);

/*
 * Decode %XX escapes of in[0..len) into out (which may alias in; the
 * result is never longer).  Refuses a '%' without two hex digits, any
 * decoded or raw control byte (< 0x20, including NUL, and 0x7f) and
 * invalid UTF-8.  Returns the decoded length, or -1.  out is
 * NUL-terminated, so it needs len + 1 bytes.
 */
long unescape_strict(const char *in, size_t len, char *out);

/*
 * A request target in absolute form ("http://host:8000/p?q", which RFC
 * 9112 3.2.2 asks origin servers to accept): where its path begins, at the
 * first '/' or '?' after the authority, or at the end.  NULL when the
 * target is not in absolute form (no "http://" or "https://", any case, or
 * an empty authority).  The authority is not used: the gateway routes on
 * the path alone, as it ignores Host.
 */
const char *absolute_form_path(const char *target);

enum framing
{
	FRAMING_NONE,	 /* no body */
	FRAMING_LENGTH,	 /* Content-Length: n */
	FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
	FRAMING_BAD		 /* refuse with 400 and close */
};

/*
 * Decide the framing from every Content-Length and Transfer-Encoding
 * header value received (in order).  Any duplicate or non-decimal
 * Content-Length, any coding but a single plain "chunked", and both
 * headers together are FRAMING_BAD.
 */
enum framing framing_check(const char *const *cl, int ncl,
						   const char *const *te, int nte,
						   unsigned long long *length);

/*
 * Parse BACKEND_CORS_ORIGINS: "http://a,http://b", or the template's
 * JSON-ish ["http://a","http://b"], or "*".  Trailing slashes are dropped
 * (as the template does).  Returns the count (0 for empty) or -1 with a
 * message; *out is a malloc'd array of malloc'd strings.
 */
int	 cors_parse(const char *text, char ***out, char *err, size_t errlen);
bool cors_allowed(char *const *origins, int n, const char *origin);
void cors_free(char **origins, int n);

/*
 * Split one "Name: value" line from the dispatcher's headers column in
 * place.  The name must be an HTTP token, the value free of control
 * bytes; false otherwise (the line is then skipped and logged).
 */
bool header_line_split(char *line, char **name, char **value);

/* A token per RFC 9110 (method names, header names). */
bool http_token(const char *s);

/*
 * A non-empty comma-separated list of tokens with optional whitespace, as
 * in Access-Control-Request-Headers (every element non-empty).
 */
bool field_name_list_ok(const char *s);

#endif
